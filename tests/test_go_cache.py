"""The headline test: one Go build cache shared by two checkouts.

The same module (examples/hello-cgo: a cgo package, a pure-Go package and a
command) is copied to two different host directories, as if checked out on
two machines or by two users, with different timestamps and permissions.

Through canonfs, mounted at one fixed mountpoint, the second build must be
served entirely from the shared GOCACHE (no Go compile, no cgo, no gcc) and
produce a bit-identical binary; `go test` results must be cached too.

The control builds the same two copies at their host paths without canonfs:
there Go recompiles every package and the binaries differ. That is the
problem canonfs exists to fix.
"""

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hello-cgo"

pytestmark = [
    pytest.mark.gobuild,
    pytest.mark.skipif(shutil.which("go") is None or shutil.which("gcc") is None,
                       reason="needs the go toolchain and gcc"),
]

# Build steps as `go build -x` (Go 1.19) prints them, one command per line,
# possibly after VAR='value' assignments, e.g.
#   /usr/lib/go-1.19/pkg/tool/linux_amd64/compile -o $WORK/b002/_pkg_.a ...
#   TERM='dumb' CGO_LDFLAGS='"-g" "-O2"' /usr/lib/go-1.19/pkg/tool/linux_amd64/cgo -objdir ...
#   TERM='dumb' gcc -I . -fPIC -m64 ... -c greet.c
# Lines ending in "|| true" are gcc feature probes ("does gcc accept this
# flag?"), not compilations of the module's code.
_ASSIGNMENTS = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|\S*)\s+)*")
GO_TOOLS = {"compile", "cgo", "asm"}
C_COMPILERS = {"gcc", "cc", "clang", "g++", "c++", "clang++"}


def build_steps(xlog):
    """The compile steps (Go compile, cgo, asm, C compiler) in a -x log."""
    steps = []
    for line in xlog.splitlines():
        command = _ASSIGNMENTS.sub("", line.strip())
        if not command:
            continue
        tool = os.path.basename(command.split()[0])
        if tool in GO_TOOLS and "/pkg/tool/" in command.split()[0]:
            steps.append(line)
        elif tool in C_COMPILERS and not command.rstrip().endswith("|| true"):
            steps.append(line)
    return steps


def go_compiles(steps):
    return [s for s in steps if re.search(r"/pkg/tool/[^/\s]+/compile\s", s)]


def describe(steps):
    shown = "\n  ".join(s[:160] for s in steps[:8])
    more = "\n  ... and %d more" % (len(steps) - 8) if len(steps) > 8 else ""
    return "%d compile step(s):\n  %s%s" % (len(steps), shown, more)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def checkout(dst, stamp, file_mode, dir_mode):
    """Copy the example to dst with every timestamp set to `stamp` and the
    given permissions, as a different checkout on another machine would."""
    shutil.copytree(EXAMPLE, dst)
    for dirpath, dirnames, filenames in os.walk(dst):
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, file_mode)
            os.utime(path, (stamp, stamp))
    for dirpath, dirnames, filenames in os.walk(dst, topdown=False):
        os.chmod(dirpath, dir_mode)
        os.utime(dirpath, (stamp, stamp))
    return Path(dst)


def two_checkouts(tmp_path):
    """Alice's checkout (old, umask 022) and Bob's (recent, umask 002,
    setgid directories as on a shared group directory)."""
    alice = checkout(tmp_path / "alice" / "work" / "hello",
                     stamp=1_000_000_000, file_mode=0o644, dir_mode=0o755)
    bob = checkout(tmp_path / "bob" / "x" / "y" / "hello",
                   stamp=1_700_000_000, file_mode=0o664, dir_mode=0o2775)
    return alice, bob


def go_env(tmp_path, gocache):
    """A hermetic Go environment: no network, no user config, one GOCACHE."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GO", "CGO_"))}
    env.update({
        "HOME": str(home),
        "GOPATH": str(home / "go"),
        "GOCACHE": str(gocache),
        "GOFLAGS": "-buildvcs=false",
        "GOPROXY": "off",
        "GO111MODULE": "on",
        "GOWORK": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "1",
        "TZ": "UTC",
        "LC_ALL": "C",
    })
    return env


def go(args, cwd, env, what):
    env = dict(env, PWD=str(cwd))
    proc = subprocess.run(["go"] + args, cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (
        "%s failed: `go %s` in %s exited %d\n--- stdout\n%s\n--- stderr (last 4000 chars)\n%s"
        % (what, " ".join(args), cwd, proc.returncode, proc.stdout,
           proc.stderr[-4000:]))
    return proc


def go_build(srcdir, outdir, env, what):
    """`go build -x -o OUTDIR/ ./...` run inside srcdir; returns (-x log,
    path of the hello binary)."""
    outdir.mkdir(parents=True, exist_ok=True)
    proc = go(["build", "-x", "-o", str(outdir) + "/", "./..."],
              srcdir, env, what)
    binary = outdir / "hello"
    assert binary.is_file(), "%s did not produce %s" % (what, binary)
    return proc.stderr, binary


def check_binary_runs(binary):
    out = subprocess.run([str(binary), "canonfs"], capture_output=True,
                         text=True, timeout=60).stdout
    assert "* Hello, canonfs! *" in out, \
        "the built program does not print its greeting:\n%s" % out


def test_second_checkout_is_served_from_cache_with_identical_binary(
        canonfs, tmp_path):
    alice, bob = two_checkouts(tmp_path)
    env = go_env(tmp_path, tmp_path / "gocache")
    mnt = tmp_path / "mnt"

    m = canonfs(alice, mnt=mnt)
    xlog_a, bin_a = go_build(m.root, tmp_path / "out-alice", env,
                             "building Alice's checkout through canonfs")
    assert m.stop() == 0, "canonfs did not exit cleanly after unmounting " \
        "Alice's checkout:\n" + m.stderr()

    m = canonfs(bob, mnt=mnt)
    xlog_b, bin_b = go_build(m.root, tmp_path / "out-bob", env,
                             "building Bob's checkout through canonfs")

    steps_a, steps_b = build_steps(xlog_a), build_steps(xlog_b)
    # Sanity: the first build really compiled Go and C code, so the parser
    # of the -x output works and a 0 below means something.
    assert len(go_compiles(steps_a)) >= 3, (
        "the first build (empty cache) should compile 3 Go packages; -x "
        "output parsed as %s\n--- full -x output\n%s"
        % (describe(steps_a), xlog_a[-4000:]))
    assert any(os.path.basename(_ASSIGNMENTS.sub("", s).split()[0])
               in C_COMPILERS for s in steps_a), \
        "the first build should run gcc for the cgo package; " + \
        describe(steps_a)

    assert steps_b == [], (
        "the same sources at the same canonfs mountpoint, from a second "
        "checkout in another host directory, should be served entirely "
        "from the shared GOCACHE, but the second build recompiled: "
        + describe(steps_b))
    assert sha256(bin_a) == sha256(bin_b), (
        "the binaries built through canonfs from Alice's and Bob's "
        "checkouts differ (sha256 %s vs %s): the build is not reproducible "
        "across checkouts" % (sha256(bin_a), sha256(bin_b)))

    # The builds saw only the canonical path: no host directory leaks into
    # the build commands or the binary.
    for name, path in (("Alice's", alice), ("Bob's", bob)):
        for log in (xlog_a, xlog_b):
            assert str(path) not in log, \
                "%s host path %s appears in the build commands" % (name, path)
        for binary in (bin_a, bin_b):
            assert str(path).encode() not in binary.read_bytes(), \
                "%s host path %s is embedded in the binary %s" % (
                    name, path, binary)
    assert str(mnt / "src").encode() in bin_a.read_bytes(), \
        "the binary should record the canonical source path %s" % (mnt / "src")

    check_binary_runs(bin_b)


def test_control_without_canonfs_recompiles_and_binaries_differ(tmp_path):
    """What canonfs fixes: at the two host paths, one shared GOCACHE is
    useless and the binaries differ."""
    alice, bob = two_checkouts(tmp_path)
    env = go_env(tmp_path, tmp_path / "gocache-control")

    xlog_a, bin_a = go_build(alice, tmp_path / "out-alice", env,
                             "building Alice's checkout at its host path")
    xlog_b, bin_b = go_build(bob, tmp_path / "out-bob", env,
                             "building Bob's checkout at its host path")

    assert len(go_compiles(build_steps(xlog_a))) >= 3, \
        "the first build (empty cache) should compile 3 Go packages; " + \
        describe(build_steps(xlog_a))
    compiled_b = go_compiles(build_steps(xlog_b))
    assert len(compiled_b) >= 3, (
        "control: without canonfs, the second checkout in another host "
        "directory was expected to recompile every package (Go hashes the "
        "package directory into its cache keys), but it compiled only "
        + describe(compiled_b))
    assert sha256(bin_a) != sha256(bin_b), (
        "control: without canonfs, binaries built from two host "
        "directories were expected to differ (they embed the paths), but "
        "both are sha256 %s" % sha256(bin_a))
    check_binary_runs(bin_a)
    check_binary_runs(bin_b)


TEST_RESULT = re.compile(r"^(ok|FAIL|\?)\s+(\S+)\s*(.*)$")


def parse_test_results(output):
    """{package: rest of its line} for the `ok` lines of `go test`."""
    results = {}
    for line in output.splitlines():
        match = TEST_RESULT.match(line)
        if match and match.group(1) == "ok":
            results[match.group(2)] = match.group(3)
    return results


def test_go_test_results_are_cached_across_checkouts(canonfs, tmp_path):
    alice, bob = two_checkouts(tmp_path)
    env = go_env(tmp_path, tmp_path / "gocache")
    mnt = tmp_path / "mnt"
    packages = {"example.com/hello/greet", "example.com/hello/textutil"}

    m = canonfs(alice, mnt=mnt)
    first = go(["test", "./..."], m.root, env,
               "`go test ./...` in Alice's checkout through canonfs").stdout
    assert m.stop() == 0, "canonfs did not exit cleanly after unmounting " \
        "Alice's checkout:\n" + m.stderr()

    m = canonfs(bob, mnt=mnt)
    second = go(["test", "./..."], m.root, env,
                "`go test ./...` in Bob's checkout through canonfs").stdout

    ran = parse_test_results(first)
    assert set(ran) == packages, \
        "the first `go test ./...` should pass greet and textutil:\n" + first
    assert not any("(cached)" in rest for rest in ran.values()), \
        "the first `go test` ran with an empty cache, nothing can be " \
        "cached yet:\n" + first

    cached = parse_test_results(second)
    assert set(cached) == packages, \
        "the second `go test ./...` should pass greet and textutil:\n" + second
    not_cached = sorted(p for p, rest in cached.items()
                        if "(cached)" not in rest)
    assert not not_cached, (
        "the same tests from a second checkout at the same canonfs "
        "mountpoint should be reported \"(cached)\", but these ran again: "
        "%s\n--- go test output\n%s" % (", ".join(not_cached), second))
