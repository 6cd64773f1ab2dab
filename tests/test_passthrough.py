"""Kernel passthrough (Linux 6.9+, CAP_SYS_ADMIN), asked for: with
-o passthrough=create the files the build creates are written by the kernel
straight to the host, with -o passthrough every regular file is read and
written that way. What the view shows, what the
trace records, -o ro and host-change freshness stay exactly as without it.
"""

import errno
import os
import shutil
import stat
import subprocess

import pytest

from conftest import CANONFS, content_time_ns, read

from test_trace import read_trace


def stats(m):
    text = (m.mnt / ".canonfs" / "stats").read_text()
    return dict(line.split(" ", 1) for line in text.splitlines())


def count(m, name):
    return int(stats(m)[name])


def require_passthrough(m, mode="create"):
    """The kernel must offer passthrough: skip where it has none."""
    said = stats(m)["passthrough"]
    if said == "off-kernel-lacks-it":
        pytest.skip("this kernel has no FUSE passthrough (Linux 6.9+)")
    assert said == mode, "passthrough should be in use: stats say %r" % said


def make_files(root, n, size=4096):
    for i in range(n):
        with open(root / ("out%03d" % i), "wb") as f:
            f.write(bytes([65 + i % 26]) * size)
            f.write(b"tail%d" % i)


def test_created_files_are_written_without_write_requests(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src, "passthrough=create")
    require_passthrough(m)
    writes, opens = count(m, "write"), count(m, "passthrough_opens")
    make_files(m.root, 50)
    assert count(m, "write") == writes, \
        "the kernel wrote created files itself: no WRITE reached the daemon"
    assert count(m, "passthrough_opens") == opens + 50
    for i in range(50):
        data = bytes([65 + i % 26]) * 4096 + b"tail%d" % i
        assert read(src / ("out%03d" % i)) == data, "the host has every byte"
        assert read(m.root / ("out%03d" % i)) == data
        assert os.stat(m.root / ("out%03d" % i)).st_size == len(data)


def test_by_default_they_are_write_requests(tmp_path, canonfs):
    """Not asked for: the old path, and the stats say so."""
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src)
    assert stats(m)["passthrough"] == "off-not-asked"
    writes = count(m, "write")
    make_files(m.root, 5)
    assert count(m, "write") >= writes + 5
    assert count(m, "passthrough_opens") == 0


def test_the_view_of_a_created_file_is_the_same(tmp_path, canonfs):
    """Sizes, canonical modes, host times (a created file changed after
    the baseline), owner and inode numbers: as without passthrough."""
    seen = []
    for options in (("passthrough=create",), ()):
        src = tmp_path / ("src%d" % len(seen))
        src.mkdir()
        m = canonfs(src, *options)
        with open(m.root / "tool", "wb") as f:
            f.write(b"#!/bin/sh\n")
            os.fchmod(f.fileno(), 0o4751)
            f.write(b"exit 0\n")
        with open(m.root / "data", "wb") as f:
            f.write(b"x" * 10000)
            f.truncate(6000)
            f.seek(8000)
            f.write(b"end")
        m.barrier()
        views = {}
        for name in ("tool", "data"):
            st, host = os.stat(m.root / name), os.stat(src / name)
            assert st.st_size == host.st_size
            assert st.st_mtime_ns == host.st_mtime_ns, \
                "a file the build made shows its true host time"
            views[name] = (stat.S_IMODE(st.st_mode), st.st_size, st.st_uid,
                           st.st_gid, st.st_nlink, st.st_ino,
                           read(m.root / name))
        seen.append(views)
        m.stop()
    assert seen[0] == seen[1]
    assert seen[0]["tool"][0] == 0o755 and seen[0]["data"][0] == 0o644


def test_own_writes_are_not_taken_for_host_changes(tmp_path, canonfs):
    """inotify reports the kernel's writes to the host file: they are
    recognised, not invalidated like an editor's change."""
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src, "passthrough=create")
    require_passthrough(m)
    m.barrier()
    before = stats(m)
    for i in range(20):
        with open(m.root / ("f%d" % i), "wb") as f:
            for _ in range(4):
                f.write(b"y" * 1000)
                f.flush()
    m.barrier()
    after = stats(m)
    own = int(after["passthrough_own_events"]) - int(
        before["passthrough_own_events"])
    invals = int(after["inval_inode"]) - int(before["inval_inode"])
    assert own >= 40, "each file's writes and close are seen as ours"
    assert invals <= 20, \
        "at most the attributes at each close: %d invalidations" % invals


def test_host_edit_of_a_created_file_is_seen(tmp_path, canonfs):
    """Freshness: once the build's writer is done, the host's change to
    the file is the host's, and the kernel's copy is dropped."""
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src, "passthrough=create")
    require_passthrough(m)
    (m.root / "gen.go").write_bytes(b"package a // v1\n")
    m.barrier()
    assert read(m.root / "gen.go") == b"package a // v1\n"  # cached now
    (src / "gen.go").write_bytes(b"package a // v2\n")  # same size
    m.barrier()
    assert read(m.root / "gen.go") == b"package a // v2\n", \
        "a host edit of a created file must never be served stale"
    with open(src / "gen.go", "ab") as f:
        f.write(b"// more\n")
    m.barrier()
    assert read(m.root / "gen.go") == b"package a // v2\n// more\n"


def test_a_reader_follows_a_passthrough_writer(tmp_path, canonfs):
    """-o passthrough: another open of the file being written (tail -f of
    a build log) reads what the writer wrote, every time."""
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src, "passthrough")
    require_passthrough(m, "create+read")
    expect = b""
    with open(m.root / "build.log", "wb", buffering=0) as writer, \
            open(m.root / "build.log", "rb", buffering=0) as reader:
        for i in range(200):
            line = b"line %d\n" % i
            writer.write(line)
            expect += line
            m.barrier()
            reader.seek(0)
            got = reader.read()
            assert got == expect, "after append %d the reader saw %r" % (
                i, got[-40:])


def test_trace_records_created_and_written_files(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    (src / "in.c").write_text("int x;\n")
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace, "passthrough")
    (m.root / "in.c").read_text()
    (m.root / "out.o").write_bytes(b"\x7fELF" + b"\0" * 100)
    (m.root / "empty").write_bytes(b"")
    assert count(m, "passthrough_opens") == 0, \
        "while tracing, the daemon sees every read and write"
    assert m.stop() == 0
    inputs, outputs, _, _ = read_trace(trace)
    assert inputs == ["src/in.c"]
    assert outputs == ["created src/empty", "created src/out.o",
                       "written src/out.o"]


def test_read_only_mount_never_writes(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data" * 1000)
    m = canonfs(src, "ro", "passthrough")
    require_passthrough(m, "create+read")
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_CREAT,
                  os.O_RDONLY | os.O_TRUNC):
        with pytest.raises(OSError) as refused:
            os.close(os.open(m.root / "f", flags))
        assert refused.value.errno == errno.EROFS
    with pytest.raises(OSError) as refused:
        os.close(os.open(m.root / "new", os.O_WRONLY | os.O_CREAT, 0o644))
    assert refused.value.errno == errno.EROFS
    assert read(m.root / "f") == b"data" * 1000
    assert read(src / "f") == b"data" * 1000
    assert not (src / "new").exists()


def test_reads_opt_in(tmp_path, canonfs):
    """-o passthrough: reads never reach the daemon; control files and
    the canonical view are as ever."""
    src = tmp_path / "src"
    src.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 17)
    (src / "big").write_bytes(payload)
    (src / "small").write_text("hello\n")
    os.utime(src / "small", ns=(1, 1))
    m = canonfs(src, "passthrough")
    require_passthrough(m, "create+read")
    reads = count(m, "read")
    assert read(m.root / "big") == payload
    assert read(m.root / "small") == b"hello\n"
    # Reading the stats file itself takes two READs; 3 MiB through the
    # daemon would take 24 or more.
    assert count(m, "read") - reads <= 2, \
        "the kernel read the host files itself"
    st = os.stat(m.root / "small")
    assert st.st_mtime_ns == content_time_ns(b"hello\n"), \
        "times are still the canonical ones"
    assert stat.S_IMODE(st.st_mode) == 0o644
    # A file opened for reading and writing at once, and mmap'd.
    import mmap
    with open(m.root / "small", "r+b") as f:
        with mmap.mmap(f.fileno(), 0) as mem:
            assert mem[:5] == b"hello"
            mem[:5] = b"HELLO"
    assert read(src / "small") == b"HELLO\n"
    assert (m.mnt / ".canonfs" / "stats").read_text().startswith("lookup ")


def test_without_cap_sys_admin_it_falls_back(nobody_dirs):
    """A daemon without CAP_SYS_ADMIN (an ordinary user, mounting through
    fusermount3) cannot register backing files: everything goes through
    it, and the stats say why."""
    _, src, mnt = nobody_dirs
    for path in (src, mnt):
        os.chmod(path, 0o777)
        os.chown(path, 65534, 65534)
    as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups"
    # In a mount namespace of its own, with a /dev/fuse the user may
    # open (this machine's is root's only); unmounted before it ends.
    script = (
        'mount -t tmpfs none /dev && mknod -m 0666 /dev/fuse c 10 229'
        ' && mknod -m 0666 /dev/null c 1 3'
        ' && {u} "$0" -o digests=none,gomodcache=none,passthrough=create'
        ' "$1" "$2"'
        ' && trap "{u} fusermount3 -u $2" EXIT'
        ' && {u} sh -c "echo made > $2/src/new && cat $2/.canonfs/stats"'
    ).format(u=as_user)
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script,
         str(CANONFS), src, mnt],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    said = dict(l.split(" ", 1) for l in result.stdout.splitlines())
    assert said["passthrough"] in ("off-no-cap-sys-admin",
                                   "off-kernel-lacks-it")
    assert int(said["write"]) >= 1, "the write went through the daemon"
    assert int(said["passthrough_opens"]) == 0
    with open(os.path.join(src, "new")) as f:
        assert f.read() == "made\n"