"""Shared fixtures: every test mounts canonfs for real under a fresh
temporary directory and always unmounts, even when the test fails.

The daemon runs in the foreground (-f) under a pid we own, so teardown can
wait for it, check that it exited cleanly and that no sanitizer report
reached its stderr (the suite also runs against an ASan/UBSan build).
"""

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CANONFS = Path(os.environ.get("CANONFS_BIN", ROOT / "build" / "canonfs"))

# Options every mount of the suite gets as well, comma-separated: e.g.
# CANONFS_EXTRA_OPTIONS=passthrough runs a suite with the kernel reading
# and writing host files itself.
EXTRA_OPTIONS = tuple(o for o in os.environ.get(
    "CANONFS_EXTRA_OPTIONS", "").split(",") if o)

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def read(path):
    """The whole contents of a file, as bytes."""
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as mounts:
        # The kernel writes a blank in a mount point as \040.
        return any(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                          line.split()[1]) == path for line in mounts)


def unmount(path):
    """fusermount3 -u, then the lazy -uz if the first one fails."""
    if not is_mounted(path):
        return
    if subprocess.run(["fusermount3", "-u", str(path)],
                      capture_output=True).returncode != 0:
        subprocess.run(["fusermount3", "-uz", str(path)], capture_output=True)


CONTENT_EPOCH = 631152000  # 1990-01-01: constant directories, base of files


def blob_id(data):
    """git's blob id of bytes (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).digest()


def content_time_ns(data):
    """The time canonfs shows for bytes that are what the checkout brought
    (-o mtime=baseline, the default) or always (-o mtime=content): the
    epoch plus 28 bits of seconds and a nanosecond part from the blob id."""
    d = blob_id(data)
    secs = CONTENT_EPOCH + (int.from_bytes(d[0:4], "big") & 0x0FFFFFFF)
    return secs * 1_000_000_000 + int.from_bytes(d[4:8], "big") % 1_000_000_000


def sanitizer_report(text):
    return next((m for m in SANITIZER_MARKERS if m in text), None)


class Mount:
    """One running canonfs daemon (foreground, our child)."""

    def __init__(self, src, mnt, options, proc, stderr_path):
        self.src = Path(src)
        self.mnt = Path(mnt)
        self.options = options
        self.proc = proc
        self.stderr_path = stderr_path

    @property
    def root(self):
        """The mirrored source tree inside the mount (MNT/src)."""
        return self.mnt / "src"

    def stderr(self):
        return Path(self.stderr_path).read_text(errors="replace")

    def counters(self):
        """MNT/.canonfs/stats as a dict of its counters."""
        out = {}
        for line in (self.mnt / ".canonfs" / "stats").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                out[parts[0]] = int(parts[1])
        return out

    def barrier(self):
        """Wait until the host changes made so far are applied."""
        (self.mnt / ".canonfs" / "barrier").read_bytes()

    def stop(self):
        """Unmount and reap the daemon; return its exit status."""
        unmount(self.mnt)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("canonfs did not exit within 20 s after "
                                 "the unmount; its stderr: %r"
                                 % self.stderr()[-2000:])


def start_mount(src, mnt, *options, extra_args=(), env=None, preexec_fn=None):
    """Start `canonfs -f [-o opt]... SRC MNT` and wait until MNT is mounted."""
    mnt = Path(mnt)
    mnt.mkdir(parents=True, exist_ok=True)
    args = [str(CANONFS), "-f"]
    for opt in tuple(options) + EXTRA_OPTIONS:
        args += ["-o", opt]
    args += list(extra_args) + [str(src), str(mnt)]
    stderr_path = str(mnt) + ".stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                stdout=err, stderr=err, env=env,
                                preexec_fn=preexec_fn)
    deadline = time.monotonic() + 15
    while not is_mounted(mnt):
        if proc.poll() is not None:
            raise AssertionError("canonfs exited with %d before mounting: %s"
                                 % (proc.returncode,
                                    Path(stderr_path).read_text()))
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            # It may have mounted where is_mounted could not see it.
            subprocess.run(["fusermount3", "-uz", str(mnt)],
                           capture_output=True)
            raise AssertionError("canonfs did not mount within 15 s")
        time.sleep(0.02)
    return Mount(src, mnt, options, proc, stderr_path)


def pytest_configure(config):
    # `make check` leaves these out to stay under two minutes; `make test`
    # runs everything.
    config.addinivalue_line(
        "markers", "gobuild: runs the go toolchain (go build, go test, ...)")
    config.addinivalue_line(
        "markers", "slow: takes seconds without go (a timeout awaited, a "
        "large tree)")


CONTAINER_TESTS = ROOT / "tests" / "container"


def pytest_ignore_collect(collection_path, config):
    """tests/container runs a container engine (`make test-container`):
    collected only when named, never by `make test`."""
    if collection_path != CONTAINER_TESTS:
        return None
    named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
    return not any(p == CONTAINER_TESTS or CONTAINER_TESTS in p.parents
                   for p in named)


@pytest.fixture(autouse=True, scope="session")
def isolated_home(tmp_path_factory):
    """A HOME of the suite's own, so that what canonfs and go default to
    (the module cache ~/go/pkg/mod, created at mount; the digest cache
    ~/.cache/canonfs) never touches the real user's."""
    saved = {k: os.environ.get(k) for k in
             ("HOME", "GOMODCACHE", "GOPATH", "XDG_CACHE_HOME", "CC")}
    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    for key in ("GOMODCACHE", "GOPATH", "XDG_CACHE_HOME", "CC"):
        os.environ.pop(key, None)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def go_toolchain_root():
    """The GOROOT a default mount mirrors: that of the go on PATH, and
    whether its top-level links lead out of it (Debian's do)."""
    go = shutil.which("go")
    if not go:
        return None, False
    root = os.path.dirname(os.path.dirname(os.path.realpath(go)))
    links = any(os.path.islink(os.path.join(root, name)) and not
                os.path.realpath(os.path.join(root, name)).startswith(
                    root + "/") for name in os.listdir(root))
    return root, links


GOROOT, GOROOT_LINKS = go_toolchain_root()

# What the root of every default mount lists: the source tree, Go's module
# cache, its toolchain (and where the toolchain's links lead) and the
# system include directories.
DEFAULT_ROOT = sorted(["gomodcache", "src", "sys"]
                      + (["goroot"] if GOROOT else [])
                      + (["goroot-links"] if GOROOT_LINKS else []))


@pytest.fixture
def canonfs(tmp_path):
    """A function mount(src, *options, mnt=None) -> Mount.

    Every mount made through it is unmounted at teardown, and the test fails
    if a daemon exited non-zero or printed a sanitizer report.
    """
    mounts = []

    def mount(src, *options, mnt=None, extra_args=(), env=None,
              preexec_fn=None):
        if mnt is None:
            mnt = tmp_path / ("mnt%d" % len(mounts))
        m = start_mount(src, mnt, *options, extra_args=extra_args, env=env,
                        preexec_fn=preexec_fn)
        mounts.append(m)
        return m

    yield mount

    problems = []
    for m in mounts:
        if m.proc.returncode is None:
            status = m.stop()
        else:
            unmount(m.mnt)
            status = m.proc.returncode
        report = sanitizer_report(m.stderr())
        if status != 0 or report:
            problems.append("canonfs %s exited %s%s:\n%s" % (
                m.mnt, status, " with a sanitizer report" if report else "",
                m.stderr()[-4000:]))
    assert not problems, "\n".join(problems)


@pytest.fixture
def host(tmp_path):
    """An empty host directory to mount."""
    path = tmp_path / "host"
    path.mkdir()
    return path


@pytest.fixture
def mnt(canonfs, host):
    """host mounted; the tree is at mnt.root."""
    return canonfs(host)


@pytest.fixture
def run_canonfs():
    """Run canonfs to completion (bad input, --help, subcommands)."""

    def run(*args, timeout=30, **kwargs):
        return subprocess.run([str(CANONFS)] + [str(a) for a in args],
                              capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL,
                              **kwargs)

    return run


@pytest.fixture
def nobody_dirs():
    """(base, src, mnt) for a test run as the user nobody (65534): base is
    open to everyone, as pytest's tmp_path, root's alone, is not; src and
    mnt are empty directories in it, each test setting their modes and
    owners. Removed afterwards."""
    base = tempfile.mkdtemp(prefix="canonfs-nobody-")
    try:
        os.chmod(base, 0o777)
        src, mnt = os.path.join(base, "src"), os.path.join(base, "mnt")
        os.mkdir(src)
        os.mkdir(mnt)
        yield base, src, mnt
    finally:
        subprocess.run(["rm", "-rf", base])


@pytest.fixture
def tmpfs_dir(tmp_path):
    """A fresh tmpfs mounted under the test's temporary directory."""
    with mounted_tmpfs(tmp_path / "tmpfs", "256m") as path:
        yield path


@contextlib.contextmanager
def mounted_tmpfs(path, size):
    """A tmpfs of `size` at path (created), always unmounted afterwards."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size,
                    "canonfs-test", str(path)], check=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)]).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def have(program):
    return shutil.which(program) is not None


def finish_run(proc, timeout=60):
    """Wait for a `canonfs run` started with pipes: (status, out, err).
    The daemon shares run's stderr: sanitizer reports land there."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("canonfs run did not finish")
    assert not sanitizer_report(err), err
    return proc.returncode, out, err
