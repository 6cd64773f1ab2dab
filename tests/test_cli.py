"""The command line a user meets: --help, --version, daemon mode, and
mounting through mount(8) / mount.fuse3 / an fstab entry."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CANONFS, is_mounted, read, unmount


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src"
    (path / "cmd").mkdir(parents=True)
    (path / "go.mod").write_text("module example.com/m\n")
    (path / "cmd" / "main.go").write_text("package main\n")
    return path


@pytest.fixture
def mnt(tmp_path):
    path = tmp_path / "mnt"
    path.mkdir()
    return path


# --- --help and --version ----------------------------------------------------------

@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(run_canonfs, flag):
    result = run_canonfs(flag)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"usage", out, re.I), "no usage line on stdout:\n" + out
    for option in ("mtime", "mirror", "uid", "gid", "nonempty", "xattr",
                   "ro", "SRCDIR", "MOUNTPOINT"):
        assert re.search(r"\b%s\b" % option, out), (
            "--help does not document %s:\n%s" % (option, out))


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(run_canonfs, flag):
    result = run_canonfs(flag)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0] if result.stdout else ""
    assert first.startswith("canonfs "), result.stdout
    assert re.match(r"canonfs \d+\.\d+\.\d+", first), result.stdout


# --- daemon processes ---------------------------------------------------------------

def pids_mentioning(path):
    """Pids (not ours) whose command line has path as one argument."""
    wanted = {os.fsencode(str(path)), os.fsencode(os.path.realpath(path))}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if wanted & set(args) and b"canonfs" in b" ".join(args):
            found.append(int(entry))
    return found


def alive(pid):
    """True while pid runs (a zombie nobody reaps counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def cleanup(mnt, pids):
    """Unmount and make sure the daemons we started are gone."""
    unmount(mnt)
    if not wait_gone(pids, timeout=5):
        for pid in pids:
            if alive(pid):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        unmount(mnt)


def run_to_file(args, tmp_path, env=None):
    """Run a mounting command with its output in files, not pipes: a daemon
    that inherits the pipe would otherwise keep us waiting."""
    out_path = tmp_path / "cmd.out"
    with open(out_path, "w+") as out:
        result = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, timeout=30, env=env)
        out.seek(0)
        return result.returncode, out.read()


# --- daemon mode -----------------------------------------------------------------------

def test_daemon_mode_returns_once_usable(src, mnt, tmp_path):
    pids = []
    try:
        status, output = run_to_file([str(CANONFS), str(src), str(mnt)], tmp_path)
        assert status == 0, "canonfs SRC MNT failed (%d): %s" % (status, output)
        # No waiting: the mount must be usable the moment canonfs returns.
        assert is_mounted(mnt), "canonfs returned before mounting"
        assert sorted(os.listdir(mnt / "src")) == ["cmd", "go.mod"]
        assert read(mnt / "src" / "cmd" / "main.go") == b"package main\n"

        pids = pids_mentioning(mnt)
        assert pids, "no canonfs daemon process found for %s" % mnt

        result = subprocess.run(["fusermount3", "-u", str(mnt)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert not is_mounted(mnt)
        assert wait_gone(pids), "daemon %s still running after unmount" % pids
    finally:
        cleanup(mnt, pids)


def test_max_read_option_mounts_and_serves(src, mnt, tmp_path, canonfs):
    """libfuse refuses the kernel's INIT when -o max_read is given and the
    filesystem does not ask for the same maximum; in the background the
    mount then vanished with exit status 0 and no word."""
    pids = []
    big = os.urandom(1024 * 1024 + 5)
    (src / "big").write_bytes(big)
    try:
        status, output = run_to_file(
            [str(CANONFS), "-o", "max_read=8192", str(src), str(mnt)], tmp_path)
        assert status == 0, output
        pids = pids_mentioning(mnt)
        assert read(mnt / "src" / "big") == big
    finally:
        cleanup(mnt, pids)


@pytest.mark.slow
def test_relative_digests_file_is_read_back_in_the_background(src, mnt,
                                                              tmp_path):
    """The daemon changes to / when it detaches, and reads its digest
    cache back by name later: a relative -o digests=FILE was written to,
    never read, and every mount hashed everything again."""
    for i in range(10):
        (src / ("f%d" % i)).write_text("file %d\n" % i)
    # Files changed in the last 2 s are hashed at every stat (racy rule).
    time.sleep(2.5)
    args = [str(CANONFS), "-o", "mtime=content,digests=cache", str(src),
            str(mnt)]
    counts = []
    for _ in range(2):
        pids = []
        try:
            proc = subprocess.run(args, cwd=tmp_path, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=30)
            assert proc.returncode == 0
            pids = pids_mentioning(mnt)
            for i in range(10):
                os.stat(mnt / "src" / ("f%d" % i))
            text = (mnt / ".canonfs" / "stats").read_text()
            counts.append(dict(line.split() for line in text.splitlines()))
        finally:
            cleanup(mnt, pids)
    assert (tmp_path / "cache").exists()
    assert counts[1]["digests-hashed"] == "0", counts
    assert int(counts[1]["digests-cached"]) >= 10, counts


def test_files_created_in_a_fresh_mount_cost_no_release(src, mnt):
    """A mount that is only written to (tar x, cp -r into it) costs three
    requests a new file: LOOKUP, CREATE, WRITE. The kernel sends no
    RELEASE at close once it was answered ENOSYS to an OPEN, which the
    mount command makes happen before it returns, instead of waiting for
    some process to open a file that exists."""
    pids = []
    try:
        proc = subprocess.run([str(CANONFS), str(src), str(mnt)],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=30)
        assert proc.returncode == 0, proc.stderr
        pids = pids_mentioning(mnt)
        for i in range(20):
            (mnt / "src" / ("out%02d" % i)).write_bytes(b"x" * 100)
        text = (mnt / ".canonfs" / "stats").read_text()
        counts = dict(line.split(" ", 1) for line in text.splitlines())
        assert counts["create"] == "20"
        assert counts["release"] == "0", \
            "files created after the mount must not cost a RELEASE each"
        assert all((src / ("out%02d" % i)).read_bytes() == b"x" * 100
                   for i in range(20))
    finally:
        cleanup(mnt, pids)


def test_unmount_right_after_the_mount_command_returns(src, mnt):
    """`canonfs SRC MNT && fusermount3 -u MNT` (a script, a test fixture)
    unmounts: nothing the mount started is still using it then."""
    for _ in range(10):
        pids = []
        try:
            proc = subprocess.run([str(CANONFS), str(src), str(mnt)],
                                  stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
            pids = pids_mentioning(mnt)
            done = subprocess.run(["fusermount3", "-u", str(mnt)],
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        finally:
            cleanup(mnt, pids)


def test_background_auto_unmount_returns_the_callers_stderr(src, mnt):
    """`out=$(canonfs -o auto_unmount SRC MNT 2>&1)` must return when the
    mount is up: libfuse's auto-unmount helper held a copy of the
    caller's stderr until the unmount."""
    pids = []
    try:
        proc = subprocess.Popen([str(CANONFS), "-o", "auto_unmount", str(src),
                                 str(mnt)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            proc.stdout.close()  # the helper holds the other end
            raise AssertionError("the caller's stderr stayed open")
        finally:
            pids = pids_mentioning(mnt)
        assert proc.returncode == 0, out
        assert (mnt / "src").is_dir()
    finally:
        cleanup(mnt, pids)


def test_foreground_daemon_exits_0_on_sigterm(src, tmp_path, canonfs):
    """A clean unmount by signal is success, as the manual says."""
    m = canonfs(src, mnt=tmp_path / "fg")
    m.proc.terminate()
    assert m.proc.wait(timeout=20) == 0, m.stderr()
    assert not is_mounted(tmp_path / "fg")


def test_the_same_srcdir_mounted_twice_is_warned_about(src, tmp_path, canonfs):
    """Two mounts of one SRCDIR do not share file locks (Go's module-cache
    locks among them): the second mount says so, in one line; a mount of
    another SRCDIR says nothing."""
    first = canonfs(src, mnt=tmp_path / "first")
    other_src = tmp_path / "other"
    other_src.mkdir()
    other = canonfs(other_src, mnt=tmp_path / "other-mnt")
    second = canonfs(src, mnt=tmp_path / "second")
    for m in (first, other, second):
        # Answered only once serving: after any warning at mount time.
        os.listdir(m.mnt)
    assert "mounted at" not in first.stderr() + other.stderr(), \
        first.stderr() + other.stderr()
    lines = [l for l in second.stderr().splitlines() if "mounted at" in l]
    assert lines == ["canonfs: warning: SRCDIR '%s' is mounted at '%s' too: "
                     "locks are not shared between mounts, so do not build "
                     "in both at once (Go's module cache and the tree "
                     "itself)" % (os.path.realpath(src),
                                  os.path.realpath(first.mnt))], \
        second.stderr()


@pytest.mark.parametrize("named", [True, False], ids=["MNT", "no-MNT"])
def test_env_unset_takes_back_env_after_the_unmount(src, tmp_path, canonfs,
                                                    named):
    """After fusermount3 -u the shell still holds what eval "$(canonfs env
    MNT)" exported: cgo's -nostdinc -isystem MNT/sys/... then fails with
    "stddef.h: No such file". `canonfs env --unset [MNT]` takes it back
    from the environment alone: PATH as it was, nothing naming the mount,
    the compiler and go working again."""
    m = canonfs(src, mnt=tmp_path / "m")
    (tmp_path / "t.c").write_text(
        "#include <stddef.h>\nint main(void) { return sizeof(size_t) == 0; }\n")
    script = r"""
        set -u
        orig_path="$PATH"
        eval "$("$CANONFS" env "$MNT")" || exit 10
        case "$CGO_CFLAGS" in *"$MNT/sys/"*) ;; *) exit 11 ;; esac
        fusermount3 -u "$MNT" || exit 12
        # What the issue saw: the exports outlive the mount.
        ${CC:-cc} $CGO_CFLAGS -c t.c -o t.o 2>/dev/null && exit 13
        undo="$("$CANONFS" env --unset $NAMED)" || exit 14
        eval "$undo"
        [ "$PATH" = "$orig_path" ] || { echo "PATH: $PATH" >&2; exit 15; }
        if env | grep -v -e ^MNT= -e ^NAMED= | grep -F "$MNT" >&2; then
            exit 16
        fi
        ${CC:-cc} ${CGO_CFLAGS:-} -c t.c -o t.o || exit 17
        go env GOROOT || exit 18
        # Nothing left to take back: evaluating it again is harmless.
        [ -z "$("$CANONFS" env --unset $NAMED)" ] || exit 19
    """
    env = dict(os.environ, CANONFS=str(CANONFS), MNT=str(m.mnt),
               NAMED=str(m.mnt) if named else "")
    for name in ("CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "GOROOT",
                 "TZ", "GOFLAGS", "GODEBUG", "CANONFS_MTIME"):
        env.pop(name, None)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert not result.stdout.strip().startswith(str(m.mnt)), \
        "go env GOROOT is the host's again: " + result.stdout
    assert m.proc.wait(timeout=20) == 0, m.stderr()


# --- mount(8), mount.fuse3 and fstab ------------------------------------------------
#
# mount.fuse3 starts the filesystem as `sh -c 'canonfs SRC MNT -o OPTS'`, so
# canonfs must be on PATH. mount(8) itself drops PATH from the environment
# of its helpers (util-linux sanitizes it), so `sh` then searches its default
# path: canonfs has to be installed there, e.g. /usr/local/bin. The mount(8)
# tests therefore run in a private mount namespace in which an overlay adds
# the built canonfs to /usr/local/bin (the host's /usr/local/bin is left
# alone). The FUSE mount then lives in that namespace only; the test reaches
# it through /proc/DAEMON_PID/root and unmounts it with nsenter.

def path_env():
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (CANONFS.parent, env.get("PATH", "/usr/bin:/bin"))
    return env


def mounted_in(mounts_file, path):
    path = os.path.realpath(path)
    with open(mounts_file) as mounts:
        return any(line.split()[1] == path for line in mounts)


def check_mtime_5(view):
    """view: MNT as this process can reach it."""
    assert sorted(os.listdir(view / "src")) == ["cmd", "go.mod"]
    assert read(view / "src" / "go.mod") == b"module example.com/m\n"
    st = os.stat(view / "src" / "go.mod")
    assert st.st_mtime_ns == 5 * 10**9, "mtime=5 not applied: %d" % st.st_mtime_ns


@pytest.mark.parametrize("style", ["type-option", "hash-source"])
def test_mount_fuse3_helper(src, mnt, tmp_path, style):
    """mount.fuse3 as mount(8) calls it for an fstab entry of type
    fuse.canonfs, and in the older "canonfs#SRC" fstab form."""
    if style == "type-option":
        args = ["mount.fuse3", str(src), str(mnt), "-t", "fuse.canonfs",
                "-o", "mtime=5"]
    else:
        args = ["mount.fuse3", "canonfs#%s" % src, str(mnt), "-o", "mtime=5"]
    pids = []
    try:
        status, output = run_to_file(args, tmp_path, env=path_env())
        assert status == 0, "%s failed (%d): %s" % (args, status, output)
        assert is_mounted(mnt)
        check_mtime_5(mnt)
        pids = pids_mentioning(mnt)
        assert pids, "no canonfs daemon process found for %s" % mnt

        result = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert not is_mounted(mnt)
        assert wait_gone(pids), "daemon %s still running after umount" % pids
    finally:
        cleanup(mnt, pids)


def mount8_with_canonfs_installed(args, tmp_path):
    """Run mount(8) args in a private mount namespace where canonfs is in
    /usr/local/bin; return (status, output)."""
    bindir = tmp_path / "installed-bin"
    bindir.mkdir()
    (bindir / "canonfs").symlink_to(CANONFS)
    script = ('mount -t overlay canonfs-test-bin -o lowerdir="$1":/usr/local/bin '
              '/usr/local/bin && shift && exec "$@"')
    return run_to_file(["unshare", "-m", "--propagation", "private",
                        "sh", "-c", script, "sh", str(bindir)] + args, tmp_path)


def nsenter_umount(pid, mnt, *flags):
    return subprocess.run(["nsenter", "-t", str(pid), "-m", "umount"]
                          + list(flags) + [str(mnt)],
                          capture_output=True, text=True)


def check_mount8(args, mnt, tmp_path):
    pids = []
    try:
        status, output = mount8_with_canonfs_installed(args, tmp_path)
        assert status == 0, "%s failed (%d): %s" % (args, status, output)
        pids = pids_mentioning(mnt)
        assert len(pids) == 1, "expected one canonfs daemon for %s: %s" % (mnt, pids)
        pid = pids[0]
        assert mounted_in("/proc/%d/mounts" % pid, mnt)
        check_mtime_5(Path("/proc/%d/root" % pid) / mnt.relative_to("/"))

        result = nsenter_umount(pid, mnt)
        assert result.returncode == 0, result.stderr
        assert wait_gone(pids), "daemon %s still running after umount" % pids
    finally:
        for pid in pids:
            if alive(pid):
                nsenter_umount(pid, mnt, "-l")
        if not wait_gone(pids, timeout=5):
            for pid in pids:
                if alive(pid):
                    os.kill(pid, 9)  # its namespace, and the mount, go with it


def test_mount_t_fuse_canonfs(src, mnt, tmp_path):
    check_mount8(["mount", "-t", "fuse.canonfs", str(src), str(mnt),
                  "-o", "mtime=5"], mnt, tmp_path)


def test_fstab_entry(src, mnt, tmp_path):
    """An fstab line, through `mount -T FILE MNT` (the real /etc/fstab is
    left alone). noauto and nofail are the usual fstab-only options."""
    fstab = tmp_path / "fstab"
    fstab.write_text("%s %s fuse.canonfs noauto,nofail,mtime=5 0 0\n"
                     % (src, mnt))
    check_mount8(["mount", "-T", str(fstab), str(mnt)], mnt, tmp_path)
