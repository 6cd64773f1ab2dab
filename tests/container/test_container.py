"""examples/ci, run in a real container engine as its comments say.

The example image is built on a Debian 12 base debootstrap'd here (no
image registry needed: base-image.sh, kept between runs by its tag) and
run as a CI job would: exit status, docker stop, missing privileges, a
non-root user, the GitHub and GitLab jobs, two checkouts at different
paths sharing one Go build cache. And the README's set-up commands on
that base, which has git and nothing else, as someone who cloned has it
(started first, in the background: they take the longest).

`make test-container`: root, a running dockerd, debootstrap. Collected
only when named (tests/conftest.py), never by `make test`.
"""

import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLE = ROOT / "examples" / "hello-cgo"
CI = ROOT / "examples" / "ci"

# Debian 12 minbase and git (base-image.sh).
BASE = os.environ.get("CANONFS_TEST_BASE", "canonfs-test/debian-git:12")
IMAGE = "canonfs-test/gobuild"
# What the README tells someone who cloned to run first.
SETUP = "sh scripts/install-deps.sh && make demo"

# As examples/ci/Dockerfile says to run it.
PRIVILEGES = ["--device", "/dev/fuse", "--cap-add", "SYS_ADMIN",
              "--security-opt", "apparmor=unconfined"]
# Offline: the example has no dependencies to fetch.
GO_ENV = ["-e", "GOPROXY=off"]
BUILD_UID = 1000  # the image's user build


def docker(*args, check=True, **kwargs):
    proc = subprocess.run(["docker", *args], capture_output=True,
                          text=kwargs.pop("text", True), **kwargs)
    if check and proc.returncode:
        err = proc.stderr if isinstance(proc.stderr, str) else \
            proc.stderr.decode(errors="replace")
        raise AssertionError("docker %s failed (%d): %s"
                             % (args[0], proc.returncode, err[-3000:]))
    return proc


def timed(measured, what, func, *args, **kwargs):
    started = time.monotonic()
    result = func(*args, **kwargs)
    measured.append("%-48s %6.1f s" % (what, time.monotonic() - started))
    return result


@pytest.fixture(scope="session")
def engine():
    probe = subprocess.run(["docker", "version", "--format",
                            "{{.Server.Version}}"],
                           capture_output=True, text=True)
    if probe.returncode:
        pytest.fail("no container engine: %s (start dockerd; .ci/run "
                    "installs docker.io and starts it)"
                    % probe.stderr.strip())
    return probe.stdout.strip()


@pytest.fixture(scope="session")
def base_image(engine, measured):
    cached = docker("image", "inspect", BASE, check=False).returncode == 0
    timed(measured, "base image %s (%s)" % (
        BASE, "cached" if cached else "debootstrap + import"),
        subprocess.run, [str(HERE / "base-image.sh"), BASE], check=True)
    return BASE


@pytest.fixture(scope="session")
def fresh_setup(request, base_image, measured, tmp_path_factory):
    """The README's set-up commands in a container of the base, started
    in the background as soon as the base exists (they download and
    install every package: minutes, mostly waiting on the mirror), when
    the test that looks at them is selected. Returns a function that
    waits for them: (exit status, output)."""
    if not any(item.name.startswith("test_the_readme_setup")
               for item in request.session.items):
        yield None
        return
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others",
         "--exclude-standard"], cwd=ROOT, capture_output=True,
        check=True).stdout.decode().split("\0")
    files = [f for f in files if f and (ROOT / f).is_file()
             and not f.startswith("build/")]
    tree = tmp_path_factory.mktemp("clone") / "tree.tar"
    subprocess.run(["tar", "-c", "-f", str(tree), "--null", "-T", "-"],
                   cwd=ROOT, input="\0".join(files).encode(), check=True)
    log = tree.with_name("setup.log")
    name = "canonfs-test-" + uuid.uuid4().hex[:12]
    started = time.monotonic()
    with open(tree, "rb") as stdin, open(log, "wb") as out:
        proc = subprocess.Popen(
            ["docker", "run", "--rm", "-i", "--name", name, *PRIVILEGES,
             base_image, "sh", "-c",
             "mkdir /root/canonfs && cd /root/canonfs && tar -x && "
             + SETUP], stdin=stdin, stdout=out, stderr=subprocess.STDOUT)

    def wait():
        status = proc.wait()
        measured.append("%-48s %6.1f s" % ("fresh Debian 12: " + SETUP,
                                            time.monotonic() - started))
        return status, log.read_text(errors="replace")
    yield wait
    if proc.poll() is None:
        docker("rm", "-f", name, check=False)
        proc.wait()


@pytest.fixture(scope="session")
def image(base_image, fresh_setup, measured):
    timed(measured, "docker build examples/ci/Dockerfile", docker,
          "build", "-q", "-t", IMAGE, "--build-arg", "BASE=" + base_image,
          "-f", str(CI / "Dockerfile"), str(ROOT))
    return IMAGE


@pytest.fixture
def volume():
    """volume(): a new named volume, removed afterwards."""
    made = []

    def make():
        name = "canonfs-test-" + uuid.uuid4().hex[:12]
        docker("volume", "create", name)
        made.append(name)
        return name
    yield make
    for name in made:
        docker("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="session")
def fuse_0666(tmp_path_factory):
    """/dev/fuse as most hosts have it, mode 0666 (udev's rule), which
    docker copies into the container: a non-root user there opens it.
    Where the host's is 0600 (no udev), a node of the same device with
    mode 0666 stands in."""
    if os.stat("/dev/fuse").st_mode & 0o666 == 0o666:
        return "/dev/fuse"
    node = tmp_path_factory.mktemp("dev") / "fuse"
    dev = os.stat("/dev/fuse").st_rdev
    os.mknod(node, 0o020666, dev)
    os.chmod(node, 0o666)
    return str(node)


def checkout(dest, date, file_mode, dir_mode):
    """A copy of examples/hello-cgo as another machine would have it:
    other times, another umask (as scripts/demo.sh makes them)."""
    stamp = time.mktime(time.strptime(date, "%Y-%m-%d"))
    shutil.copytree(EXAMPLE, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(dir_mode if path.is_dir() else file_mode)
        os.utime(path, (stamp, stamp))
    return dest


def compile_steps(log):
    """Compile steps in a `go build -x` log: the Go compiler, cgo, the
    assembler, the C compiler (not gcc's `|| true` feature probes)."""
    steps = 0
    for line in log.splitlines():
        line = re.sub(r"^([A-Za-z_][A-Za-z0-9_]*=('[^']*'|[^ ]*)\s+)*", "",
                      line)
        if line.endswith("|| true"):
            continue
        if re.match(r"([^ ]*/pkg/tool/[^ ]+/(compile|cgo|asm)|"
                    r"([^ ]*/)?(gcc|cc|clang)) ", line):
            steps += 1
    return steps


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, "expected one line, got:\n" + stderr
    return lines[0]


def test_the_build_context_leaves_the_hosts_build_out(base_image, tmp_path):
    """A build/ made on the host (and .git) never reaches the image: it
    builds canonfs from the sources, not ship the host's binary."""
    context = tmp_path / "context"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others",
         "--exclude-standard"], cwd=ROOT, capture_output=True,
        check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, context / name)
    (context / "build").mkdir()
    (context / "build" / "canonfs").write_text("#!/bin/sh\necho host\n")
    (context / ".git").mkdir()
    dockerfile = "FROM %s\nCOPY . /canonfs\n" % base_image
    tag = "canonfs-test/context-" + uuid.uuid4().hex[:8]
    docker("build", "-q", "-t", tag, "-f", "-", str(context),
           input=dockerfile)
    try:
        listing = docker("run", "--rm", tag, "ls", "-A", "/canonfs").stdout
    finally:
        docker("rmi", "-f", tag, check=False)
    assert "Makefile" in listing.split()
    assert "build" not in listing.split(), "the host's build/ was copied in"
    assert ".git" not in listing.split()


@pytest.mark.parametrize("command,status", [
    ("true", 0), ("exit 7", 7), ("go build ./does/not/exist", 1)],
    ids=["success", "exit-7", "failing-go-build"])
def test_the_build_commands_status_is_the_containers(image, tmp_path,
                                                     command, status):
    src = checkout(tmp_path / "hello", "2001-09-09", 0o644, 0o755)
    run = docker("run", "--rm", *PRIVILEGES, *GO_ENV, "-v", "%s:/src" % src,
                 image, "sh", "-c", command, check=False)
    assert run.returncode == status, run.stderr


@pytest.mark.parametrize("command,status", [
    ("echo ready; exec sleep 600", 143),
    ('trap "exit 5" TERM; echo ready; sleep 600 & wait', 5)],
    ids=["killed-by-TERM", "traps-TERM"])
def test_docker_stop_ends_the_build_and_unmounts(image, tmp_path, measured,
                                                 command, status):
    """docker stop sends TERM to canonfs run (PID 1): the command gets it
    and ends, its status is the container's (143, or its own when it
    traps TERM), and the daemon unmounts and finishes: the trace it
    writes at the end is there. Not the 10 s docker waits before KILL."""
    src = checkout(tmp_path / "hello", "2001-09-09", 0o644, 0o755)
    out = tmp_path / "out"
    out.mkdir()
    name = "canonfs-test-" + uuid.uuid4().hex[:12]
    proc = subprocess.Popen(
        ["docker", "run", "--rm", "--name", name, *PRIVILEGES,
         "-v", "%s:/src" % src, "-v", "%s:/out" % out,
         "--entrypoint", "canonfs", image,
         "run", "-o", "trace=/out/trace", "/src", "--", "sh", "-c",
         command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        # The command is running inside the mount once it says so.
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        started = time.monotonic()
        docker("stop", "-t", "30", name)
        stopped = time.monotonic() - started
        rc = proc.wait(timeout=60)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            docker("rm", "-f", name, check=False)
            proc.kill()
            proc.wait()
    measured.append("docker stop (%s): exit %d after %.2f s"
                    % (command, rc, stopped))
    assert rc == status, stderr
    assert stderr == "", "canonfs said something:\n" + stderr
    assert (out / "trace").stat().st_size > 0, \
        "the daemon did not finish cleanly (no trace written at unmount)"


@pytest.fixture(scope="session")
def deny_mount_profile(tmp_path_factory):
    """A seccomp profile refusing mount(2) with EACCES, as Docker's
    default AppArmor profile does (`deny mount`): this host has no
    AppArmor to show it."""
    path = tmp_path_factory.mktemp("seccomp") / "deny-mount.json"
    path.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                    '[{"names": ["mount"], "action": "SCMP_ACT_ERRNO", '
                    '"errnoRet": 13}]}')
    return path


@pytest.mark.parametrize("missing", ["device", "capability", "apparmor"])
def test_missing_privileges_are_one_line_naming_the_option(
        image, tmp_path, deny_mount_profile, measured, missing):
    given = {
        "device": ["--cap-add", "SYS_ADMIN",
                   "--security-opt", "apparmor=unconfined"],
        "capability": ["--device", "/dev/fuse",
                       "--security-opt", "apparmor=unconfined"],
        "apparmor": ["--device", "/dev/fuse", "--cap-add", "SYS_ADMIN",
                     "--security-opt", "seccomp=%s" % deny_mount_profile],
    }[missing]
    named = {"device": "--device /dev/fuse",
             "capability": "--cap-add SYS_ADMIN",
             "apparmor": "--security-opt apparmor=unconfined"}[missing]
    src = checkout(tmp_path / "hello", "2001-09-09", 0o644, 0o755)
    run = docker("run", "--rm", *given, "-v", "%s:/src" % src, image,
                 "true", check=False)
    assert run.returncode != 0
    line = one_line(run.stderr)
    measured.append("without %s: exit %d: %s" % (missing, run.returncode,
                                                  line))
    assert line.startswith("canonfs: ") and named in line, line


def test_a_non_root_user_builds_with_caches_of_its_own(
        image, tmp_path, volume, fuse_0666):
    """--user build, as the Dockerfile's comment says: fusermount3 mounts
    for it, and the named volumes hold only entries the user owns (a
    bind-mounted ~/.cache/go-build of a host user stays theirs)."""
    src = checkout(tmp_path / "hello", "2001-09-09", 0o644, 0o755)
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, BUILD_UID, BUILD_UID)
    cache, mod = volume(), volume()
    run = docker("run", "--rm", "--user", "build",
                 "--device", "%s:/dev/fuse" % fuse_0666,
                 "--cap-add", "SYS_ADMIN",
                 "--security-opt", "apparmor=unconfined", *GO_ENV,
                 "-v", "%s:/src" % src, "-v", "%s:/out" % out,
                 "-v", "%s:/home/build/.cache/go-build" % cache,
                 "-v", "%s:/home/build/go/pkg/mod" % mod,
                 image, "go", "build", "-o", "/out/", "./...", check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert (out / "hello").stat().st_uid == BUILD_UID
    entries = docker("run", "--rm", "-v", "%s:/c" % cache,
                     "--entrypoint", "find", image, "/c",
                     "-printf", "%u %p\\n").stdout.splitlines()
    assert len(entries) > 10, "the build cache was not used"
    assert [e for e in entries if not e.startswith("build ")] == []


def test_the_github_step_builds_as_a_non_root_user(image, tmp_path,
                                                   fuse_0666):
    """The step of github-actions.yml as the runner's user runs it, in a
    workspace laid out as GitHub's: fusermount3 mounts on a directory the
    user makes under RUNNER_TEMP, and nothing stays mounted after it.
    (SYS_ADMIN is in the container's bounding set for fusermount3, as
    it is on a runner's VM.)"""
    step = re.search(r"^\s+run: (canonfs run .*)$",
                     (CI / "github-actions.yml").read_text(), re.M)
    assert step, "no canonfs run step in github-actions.yml"
    work = tmp_path / "work"
    checkout(work / "hello" / "hello", "2001-09-09", 0o644, 0o755)
    (work / "_temp").mkdir()
    for path in [work, *work.rglob("*")]:
        os.lchown(path, BUILD_UID, BUILD_UID)
    # A runner has no /build, nor may its user make one.
    script = ("rmdir /build && exec setpriv --reuid=build --regid=build "
              "--init-groups sh -c '%s && ! grep fuse.canonfs /proc/mounts'"
              % step.group(1))
    run = docker("run", "--rm", "--device", "%s:/dev/fuse" % fuse_0666,
                 "--cap-add", "SYS_ADMIN",
                 "--security-opt", "apparmor=unconfined", *GO_ENV,
                 "-v", "%s:/home/build/work" % work, "-e", "HOME=/home/build",
                 "-e", "RUNNER_TEMP=/home/build/work/_temp",
                 "-e", "GITHUB_WORKSPACE=/home/build/work/hello/hello",
                 "--entrypoint", "sh", image, "-c", script, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""


def build_twice(measured, what, run_build):
    """run_build(name, date, file_mode, dir_mode) -> (log, binary) for
    two checkouts; the second compiles nothing, the binaries match."""
    results = []
    for name, date, file_mode, dir_mode in (
            ("alice", "2001-09-09", 0o644, 0o755),
            ("bob", "2023-11-14", 0o664, 0o2775)):
        log, binary = run_build(name, date, file_mode, dir_mode)
        results.append((compile_steps(log), sha256(binary)))
        measured.append("%s, %-5s: %3d compile steps, sha256 %s"
                        % ((what, name) + results[-1]))
    (first, first_sum), (second, second_sum) = results
    assert first > 0, "the first build compiled nothing: not cold?"
    assert second == 0, "the second checkout recompiled (%d steps)" % second
    assert first_sum == second_sum, "the binaries differ"


def test_two_checkouts_at_two_paths_share_one_cache_volume(
        image, tmp_path, volume, measured):
    """As the Dockerfile's comment runs it: one checkout at /src (the
    entrypoint's), the other at another path in the container and on
    the host, one named GOCACHE volume."""
    cache = volume()

    def run_build(name, date, file_mode, dir_mode):
        src = checkout(tmp_path / name / "hello", date, file_mode, dir_mode)
        out = tmp_path / ("out-" + name)
        out.mkdir()
        inside = "/src" if name == "alice" else "/home/%s/x/hello" % name
        entry = [] if inside == "/src" else \
            ["--entrypoint", "canonfs"]
        command = [] if inside == "/src" else ["run", inside, "--"]
        run = docker("run", "--rm", *PRIVILEGES, *GO_ENV,
                     "-v", "%s:%s" % (src, inside), "-v", "%s:/out" % out,
                     "-v", "%s:/root/.cache/go-build" % cache,
                     *entry, image, *command,
                     "go", "build", "-x", "-o", "/out/", "./...",
                     check=False)
        assert run.returncode == 0, run.stderr[-3000:]
        return run.stderr, out / "hello"
    build_twice(measured, "Dockerfile, one volume", run_build)


def test_the_gitlab_job_builds_with_its_entrypoint_cleared(
        image, tmp_path, measured):
    """The job of gitlab-ci.yml as GitLab's Docker executor runs it, the
    image's ENTRYPOINT cleared as the job says: two projects at different
    /builds paths, the cache in the checkout carried from one to the
    other as GitLab's cache is."""
    job = (CI / "gitlab-ci.yml").read_text()
    assert re.search(r'^\s+entrypoint: \[""\]$', job, re.M), \
        "the job must clear the image's ENTRYPOINT"
    script = re.search(r"^\s+- (canonfs run .*)$", job, re.M)
    assert script, "no canonfs run line in gitlab-ci.yml"
    # -x to count the compile steps, -o to keep the binary.
    script = script.group(1).replace("go build", "go build -x -o /out/")
    carried = []

    def run_build(name, date, file_mode, dir_mode):
        src = checkout(tmp_path / name / "hello", date, file_mode, dir_mode)
        for cache in carried:
            shutil.copytree(cache, src / cache.name, symlinks=True)
        out = tmp_path / ("out-" + name)
        out.mkdir()
        project = "/builds/%s/hello" % name
        run = docker("run", "--rm", *PRIVILEGES, *GO_ENV,
                     "-v", "%s:%s" % (src, project), "-v", "%s:/out" % out,
                     "-e", "CI_PROJECT_DIR=" + project,
                     "-e", "GOCACHE=%s/.go-build" % project,
                     "-e", "GOMODCACHE=%s/.go-mod" % project,
                     "--entrypoint", "", image, "sh", "-c", script,
                     check=False)
        assert run.returncode == 0, run.stderr[-3000:]
        carried[:] = [src / ".go-build", src / ".go-mod"]
        return run.stderr, out / "hello"
    build_twice(measured, "GitLab job, carried cache", run_build)


def test_the_readme_setup_works_on_a_debian_with_git_alone(fresh_setup):
    """The README's set-up commands, as root on a minimal Debian 12 that
    has git and nothing else (no make): they install what is missing and
    the demo shows its result."""
    status, output = fresh_setup()
    assert status == 0, output[-4000:]
    assert "the second build compiled nothing; the binaries are " \
        "identical" in output, output[-4000:]
