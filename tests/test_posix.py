"""POSIX behaviour of the write path through MNT/src.

Every test drives the mount with plain system calls (rename, open flags,
links, unlink of open files, truncate, fsync, mkdir, rmdir) and checks the
result twice: through the mount and directly on the host tree, so that
nothing a program was told succeeded is lost or torn. Where the canonical
view intentionally differs from POSIX (timestamps 0, one owner, link count
1, chown accepted and ignored, modes 0644/0755) the documented canonical
behaviour is asserted instead.
"""

import ctypes
import errno
import mmap
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import read, write

CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
PR_CAPBSET_DROP = 24

_libc = ctypes.CDLL(None, use_errno=True)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        assert n > 0
        view = view[n:]


def expect_errno(expected, func, *args, **kwargs):
    """func(*args) must fail with one of the errno values in expected."""
    if isinstance(expected, int):
        expected = (expected,)
    with pytest.raises(OSError) as info:
        func(*args, **kwargs)
    assert info.value.errno in expected, (
        "expected %s, got %s (%s)" % (
            "/".join(errno.errorcode[e] for e in expected),
            errno.errorcode.get(info.value.errno), info.value))


# --- rename -------------------------------------------------------------

def test_rename_over_existing_file_replaces_it(mnt, host):
    new, old = os.urandom(10000), os.urandom(7000)
    write(mnt.root / "new", new)
    write(mnt.root / "target", old)
    # Both cached by the kernel before the rename.
    assert read(mnt.root / "new") == new
    assert read(mnt.root / "target") == old
    keep = os.open(mnt.root / "target", os.O_RDWR)
    try:
        os.rename(mnt.root / "new", mnt.root / "target")

        assert read(mnt.root / "target") == new
        assert os.stat(mnt.root / "target").st_size == len(new)
        assert not os.path.exists(mnt.root / "new")
        assert os.listdir(mnt.root) == ["target"]
        assert read(host / "target") == new
        assert not (host / "new").exists()
        # The replaced file lives on for whoever holds it open, and writes
        # to it do not reach the file now named target.
        assert os.pread(keep, len(old) + 10, 0) == old
        assert os.pwrite(keep, b"orphan", 0) == 6
        assert os.pread(keep, 6, 0) == b"orphan"
    finally:
        os.close(keep)
    assert read(mnt.root / "target") == new
    assert read(host / "target") == new


def test_rename_over_existing_empty_directory(mnt, host):
    os.mkdir(mnt.root / "from")
    write(mnt.root / "from" / "f", b"payload")
    os.mkdir(mnt.root / "to")
    assert os.listdir(mnt.root / "to") == []

    os.rename(mnt.root / "from", mnt.root / "to")

    assert not os.path.exists(mnt.root / "from")
    assert os.listdir(mnt.root / "to") == ["f"]
    assert read(mnt.root / "to" / "f") == b"payload"
    assert read(host / "to" / "f") == b"payload"
    assert not (host / "from").exists()
    # The moved directory still takes writes under its new name.
    write(mnt.root / "to" / "g", b"more")
    assert read(host / "to" / "g") == b"more"


def test_rename_onto_non_empty_directory_fails_and_keeps_both(mnt, host):
    os.mkdir(mnt.root / "a")
    write(mnt.root / "a" / "fa", b"A")
    os.mkdir(mnt.root / "b")
    write(mnt.root / "b" / "fb", b"B")

    expect_errno((errno.ENOTEMPTY, errno.EEXIST), os.rename,
                 mnt.root / "a", mnt.root / "b")

    assert sorted(os.listdir(mnt.root)) == ["a", "b"]
    assert read(mnt.root / "a" / "fa") == b"A"
    assert read(mnt.root / "b" / "fb") == b"B"
    assert read(host / "a" / "fa") == b"A"
    assert read(host / "b" / "fb") == b"B"


def test_rename_file_and_directory_onto_each_other_fails(mnt, host):
    write(mnt.root / "file", b"F")
    os.mkdir(mnt.root / "dir")
    expect_errno(errno.EISDIR, os.rename, mnt.root / "file", mnt.root / "dir")
    expect_errno(errno.ENOTDIR, os.rename, mnt.root / "dir", mnt.root / "file")
    assert read(host / "file") == b"F"
    assert (host / "dir").is_dir()


def test_rename_into_subdirectory_and_back(mnt, host):
    data = os.urandom(5000)
    write(mnt.root / "f", data)
    os.mkdir(mnt.root / "sub")
    os.rename(mnt.root / "f", mnt.root / "sub" / "f2")
    assert read(mnt.root / "sub" / "f2") == data
    assert read(host / "sub" / "f2") == data
    os.rename(mnt.root / "sub" / "f2", mnt.root / "f")
    assert read(mnt.root / "f") == data
    assert read(host / "f") == data
    assert os.listdir(mnt.root / "sub") == []


def test_o_excl_on_existing_file_is_eexist_and_leaves_it(mnt, host):
    write(mnt.root / "f", b"precious")
    expect_errno(errno.EEXIST, os.open, mnt.root / "f",
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_TRUNC, 0o644)
    assert read(mnt.root / "f") == b"precious"
    assert read(host / "f") == b"precious"


def test_o_excl_on_name_created_on_host_behind_a_cached_miss(mnt, host):
    # The kernel caches the miss (a negative entry) ...
    assert not os.path.exists(mnt.root / "late")
    # ... then the name appears on the host: O_EXCL must still refuse.
    write(host / "late", b"from the host")
    expect_errno(errno.EEXIST, os.open, mnt.root / "late",
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    assert read(host / "late") == b"from the host"
    # O_CREAT without O_EXCL opens the existing file, it does not clobber it.
    assert not os.path.exists(mnt.root / "late2")
    write(host / "late2", b"host data 2")
    fd = os.open(mnt.root / "late2", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert os.pread(fd, 100, 0) == b"host data 2"
    finally:
        os.close(fd)
    assert read(host / "late2") == b"host data 2"


def test_o_trunc_empties_an_existing_file(mnt, host):
    long = os.urandom(100000)
    write(mnt.root / "f", long)
    assert read(mnt.root / "f") == long  # pages cached
    fd = os.open(mnt.root / "f", os.O_WRONLY | os.O_TRUNC)
    try:
        assert os.fstat(fd).st_size == 0
        write_all(fd, b"short")
    finally:
        os.close(fd)
    assert read(mnt.root / "f") == b"short"
    assert os.stat(mnt.root / "f").st_size == 5
    assert read(host / "f") == b"short"


def test_o_trunc_of_a_file_another_descriptor_holds(mnt, host):
    write(mnt.root / "f", b"0123456789" * 1000)
    reader = os.open(mnt.root / "f", os.O_RDONLY)
    try:
        assert os.pread(reader, 10, 0) == b"0123456789"
        os.close(os.open(mnt.root / "f", os.O_WRONLY | os.O_TRUNC))
        assert os.pread(reader, 10, 0) == b""
        assert os.fstat(reader).st_size == 0
    finally:
        os.close(reader)
    assert read(host / "f") == b""


def test_o_append_from_two_descriptors_interleaved(mnt, host):
    write(mnt.root / "log", b"start\n")
    a = os.open(mnt.root / "log", os.O_WRONLY | os.O_APPEND)
    b = os.open(mnt.root / "log", os.O_RDWR | os.O_APPEND)
    expected = b"start\n"
    try:
        for i in range(50):
            for fd, tag in ((a, b"A"), (b, b"B")):
                line = b"%s%03d %s\n" % (tag, i, tag * (i % 7))
                assert os.write(fd, line) == len(line)
                expected += line
            # Appends ignore the position, even after a seek.
            os.lseek(b, 0, os.SEEK_SET)
        assert os.pread(b, len(expected) + 100, 0) == expected
    finally:
        os.close(a)
        os.close(b)
    assert read(mnt.root / "log") == expected
    assert read(host / "log") == expected


def test_o_append_after_a_write_through_another_descriptor(mnt, host):
    appender = os.open(mnt.root / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                       0o644)
    other = os.open(mnt.root / "f", os.O_WRONLY)
    try:
        os.write(appender, b"aa")
        os.pwrite(other, b"XXXXXXXX", 0)   # grows the file to 8
        os.write(appender, b"bb")          # must land at 8, not at 2
    finally:
        os.close(appender)
        os.close(other)
    assert read(mnt.root / "f") == b"XXXXXXXXbb"
    assert read(host / "f") == b"XXXXXXXXbb"


def aligned(data):
    """A page-aligned buffer, as O_DIRECT wants."""
    buf = mmap.mmap(-1, len(data))
    buf.write(data)
    return buf


def test_o_direct_on_an_existing_file(mnt, host):
    write(mnt.root / "f", bytes(8192))
    fd = os.open(mnt.root / "f", os.O_RDWR | os.O_DIRECT)
    try:
        assert os.pwrite(fd, aligned(b"D" * 4096), 4096) == 4096
    finally:
        os.close(fd)
    assert read(host / "f") == bytes(4096) + b"D" * 4096
    with open(mnt.root / "f", "r+b") as f:
        f.write(b"plain")
    assert read(host / "f")[:5] == b"plain"


def test_o_direct_create_then_plain_writes(mnt, host):
    """A file created with O_DIRECT takes its creator's aligned writes, and
    later writes through ordinary descriptors (Linux open(2): O_DIRECT is a
    property of the open file description, not of the file)."""
    fd = os.open(mnt.root / "f", os.O_WRONLY | os.O_CREAT | os.O_DIRECT,
                 0o644)
    try:
        assert os.write(fd, aligned(b"D" * 4096)) == 4096
    finally:
        os.close(fd)
    fd = os.open(mnt.root / "f", os.O_WRONLY)
    try:
        assert os.pwrite(fd, b"hello", 3) == 5
    finally:
        os.close(fd)
    assert read(host / "f") == b"DDDhello" + b"D" * 4088
    assert read(mnt.root / "f") == b"DDDhello" + b"D" * 4088


# --- hard links ---------------------------------------------------------

def test_hard_link_shares_contents_on_the_host(mnt, host):
    write(mnt.root / "a", b"first")
    os.link(mnt.root / "a", mnt.root / "b")
    assert os.stat(host / "a").st_ino == os.stat(host / "b").st_ino
    assert os.stat(host / "a").st_nlink == 2
    assert read(mnt.root / "b") == b"first"


def test_hard_link_write_through_one_name_read_through_the_other(mnt, host):
    write(mnt.root / "a", b"old-data")
    os.link(mnt.root / "a", mnt.root / "b")
    # Both names read (and cached) before the write.
    assert read(mnt.root / "a") == b"old-data"
    assert read(mnt.root / "b") == b"old-data"

    with open(mnt.root / "a", "r+b") as f:
        f.write(b"NEW-DATA, longer")
    assert read(host / "b") == b"NEW-DATA, longer"
    assert read(mnt.root / "b") == b"NEW-DATA, longer", (
        "a write through one name of a hard-linked file is not seen "
        "through the other")
    assert os.stat(mnt.root / "b").st_size == 16

    with open(mnt.root / "b", "r+b") as f:
        f.truncate(3)
    assert read(mnt.root / "a") == b"NEW"


def test_hard_link_appends_through_both_names_lose_nothing(mnt, host):
    """Two writers appending to one file through two of its names: O_APPEND
    puts every write at the end of the file, whichever name opened it."""
    write(mnt.root / "log", b"")
    os.link(mnt.root / "log", mnt.root / "alias")
    a = os.open(mnt.root / "log", os.O_WRONLY | os.O_APPEND)
    b = os.open(mnt.root / "alias", os.O_WRONLY | os.O_APPEND)
    try:
        for i in range(3):
            os.write(a, b"A%d\n" % i)
            os.write(b, b"B%d\n" % i)
    finally:
        os.close(a)
        os.close(b)
    assert read(host / "log") == b"A0\nB0\nA1\nB1\nA2\nB2\n"


def test_hard_link_unlink_one_name_the_other_stays(mnt, host):
    data = os.urandom(20000)
    write(mnt.root / "a", data)
    os.mkdir(mnt.root / "d")
    os.link(mnt.root / "a", mnt.root / "d" / "b")
    os.unlink(mnt.root / "a")
    assert not os.path.exists(mnt.root / "a")
    assert os.listdir(mnt.root / "d") == ["b"]
    assert read(mnt.root / "d" / "b") == data
    assert read(host / "d" / "b") == data
    assert not (host / "a").exists()
    # Writable under the name that is left.
    with open(mnt.root / "d" / "b", "ab") as f:
        f.write(b"tail")
    assert read(host / "d" / "b") == data + b"tail"


def test_hard_links_show_link_count_one(mnt, host):
    write(mnt.root / "a", b"x")
    os.link(mnt.root / "a", mnt.root / "b")
    assert os.stat(host / "a").st_nlink == 2
    # Canonical: link counts are 1 (canonfs(1), THE CANONICAL VIEW).
    assert os.stat(mnt.root / "a").st_nlink == 1
    assert os.stat(mnt.root / "b").st_nlink == 1


def test_hard_link_keeps_the_inode_number_of_the_first_name(mnt, host):
    """canonfs(1): the names of a hard-linked file are one inode, "with the
    inode number of the name looked up first"."""
    write(mnt.root / "a", b"x")
    first = os.stat(mnt.root / "a").st_ino
    os.link(mnt.root / "a", mnt.root / "b")
    assert os.stat(mnt.root / "b").st_ino == first
    assert os.stat(mnt.root / "a").st_ino == first


def test_a_new_file_at_a_renamed_files_old_path_is_another_inode(mnt, host):
    """A renamed file keeps the number of its old path while the kernel
    holds it; a new file made at that path must not show the same number:
    `write tmp; mv tmp out; write tmp; mv tmp out` (make, editors) then
    failed with "are the same file", and du counted one directory for two."""
    write(mnt.root / "out.tmp", b"v1")
    os.rename(mnt.root / "out.tmp", mnt.root / "out")
    write(mnt.root / "out.tmp", b"v2")
    assert os.stat(mnt.root / "out").st_ino != \
        os.stat(mnt.root / "out.tmp").st_ino
    result = subprocess.run(["mv", str(mnt.root / "out.tmp"),
                             str(mnt.root / "out")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert read(mnt.root / "out") == b"v2"
    assert read(host / "out") == b"v2"
    (mnt.root / "d.tmp").mkdir()
    os.rename(mnt.root / "d.tmp", mnt.root / "d")
    (mnt.root / "d.tmp").mkdir()
    numbers = {os.stat(mnt.root / n).st_ino for n in ("d", "d.tmp", "out")}
    assert len(numbers) == 3


def test_hard_link_onto_existing_name_is_eexist(mnt, host):
    write(mnt.root / "a", b"A")
    write(mnt.root / "b", b"B")
    expect_errno(errno.EEXIST, os.link, mnt.root / "a", mnt.root / "b")
    assert read(mnt.root / "b") == b"B"
    assert read(host / "b") == b"B"


# --- unlink of an open file ---------------------------------------------

def test_unlink_of_open_file_keeps_the_descriptor_working(mnt, host):
    data = os.urandom(64 * 1024)
    write(mnt.root / "f", data)
    fd = os.open(mnt.root / "f", os.O_RDWR)
    try:
        assert os.pread(fd, 100, 0) == data[:100]
        os.unlink(mnt.root / "f")
        assert not (host / "f").exists(), "the host file should be gone"
        assert not os.path.exists(mnt.root / "f")
        assert os.listdir(mnt.root) == []

        assert os.pread(fd, len(data) + 1, 0) == data
        assert os.pwrite(fd, b"written after unlink", 1000) == 20
        assert os.pread(fd, 20, 1000) == b"written after unlink"
        os.lseek(fd, 0, os.SEEK_END)
        write_all(fd, b"appended")
        assert os.fstat(fd).st_size == len(data) + 8
        os.fsync(fd)
        expected = data[:1000] + b"written after unlink" + data[1020:] + \
            b"appended"
        assert os.pread(fd, len(expected) + 1, 0) == expected
    finally:
        os.close(fd)
    assert os.listdir(host) == []
    # The name is free again.
    write(mnt.root / "f", b"new")
    assert read(host / "f") == b"new"


def test_unlink_of_open_file_before_its_first_read_or_write(mnt, host):
    """The daemon has not opened the host file for I/O yet when the name
    goes: the first read and write must still reach the unlinked file."""
    data = os.urandom(10000)
    write(host / "f", data)
    fd = os.open(mnt.root / "f", os.O_RDWR)
    try:
        os.unlink(mnt.root / "f")
        assert not (host / "f").exists()
        assert os.pread(fd, len(data) + 1, 0) == data
        assert os.pwrite(fd, b"zz", 0) == 2
        assert os.pread(fd, 4, 0) == b"zz" + data[2:4]
    finally:
        os.close(fd)


def test_unlink_of_open_file_then_truncate_it(mnt, host):
    data = os.urandom(30000)
    write(mnt.root / "f", data)
    fd = os.open(mnt.root / "f", os.O_RDWR)
    try:
        os.unlink(mnt.root / "f")
        os.ftruncate(fd, 100)
        assert os.fstat(fd).st_size == 100
        assert os.pread(fd, 1000, 0) == data[:100]
        os.ftruncate(fd, 200)
        assert os.pread(fd, 1000, 0) == data[:100] + bytes(100)
    finally:
        os.close(fd)


def test_unlink_of_a_file_another_process_holds_open(mnt, host):
    data = os.urandom(5000)
    write(mnt.root / "f", data)
    code = ("import os,sys;fd=os.open(sys.argv[1],os.O_RDONLY);"
            "print('open',flush=True);sys.stdin.readline();"
            "sys.stdout.buffer.write(os.pread(fd,100000,0))")
    child = subprocess.Popen([sys.executable, "-c", code,
                              str(mnt.root / "f")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"open\n"
        os.unlink(mnt.root / "f")
        out, _ = child.communicate(b"go\n", timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    assert out == data


# --- truncate -----------------------------------------------------------

def test_truncate_down_and_up_on_an_open_descriptor(mnt, host):
    data = os.urandom(3 * 4096 + 100)
    fd = os.open(mnt.root / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        write_all(fd, data)
        os.ftruncate(fd, 5000)
        assert os.fstat(fd).st_size == 5000
        assert os.pread(fd, len(data), 0) == data[:5000]
        assert read(host / "f") == data[:5000]

        os.ftruncate(fd, 20000)
        assert os.fstat(fd).st_size == 20000
        expected = data[:5000] + bytes(15000)
        assert os.pread(fd, 30000, 0) == expected
        assert read(host / "f") == expected
        assert read(mnt.root / "f") == expected

        os.ftruncate(fd, 0)
        assert os.pread(fd, 10, 0) == b""
        # The file position is past the end: a write leaves a hole.
        assert os.lseek(fd, 0, os.SEEK_CUR) == len(data)
        write_all(fd, b"end")
        assert os.fstat(fd).st_size == len(data) + 3
        assert os.pread(fd, len(data) + 10, 0) == bytes(len(data)) + b"end"
    finally:
        os.close(fd)
    assert read(host / "f") == bytes(len(data)) + b"end"


def test_truncate_by_path(mnt, host):
    write(mnt.root / "f", b"abcdef")
    os.truncate(mnt.root / "f", 2)
    assert read(mnt.root / "f") == b"ab"
    os.truncate(mnt.root / "f", 4)
    assert read(mnt.root / "f") == b"ab\0\0"
    assert read(host / "f") == b"ab\0\0"


# --- fsync --------------------------------------------------------------

def test_fsync_and_fdatasync(mnt, host):
    data = os.urandom(50000)
    fd = os.open(mnt.root / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
        os.fdatasync(fd)
        assert read(host / "f") == data
    finally:
        os.close(fd)
    ro = os.open(mnt.root / "f", os.O_RDONLY)
    try:
        os.fsync(ro)
        os.fdatasync(ro)
    finally:
        os.close(ro)
    dfd = os.open(mnt.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    assert read(mnt.root / "f") == data


# --- a read-only file written by its creator ----------------------------

def check_created_read_only_then_written(mnt, host):
    fd = os.open(mnt.root / "ro", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        write_all(fd, b"hello ")
        assert os.pwrite(fd, b"world", 6) == 5
        assert os.pread(fd, 100, 0) == b"hello world"
        os.fsync(fd)
    finally:
        os.close(fd)
    assert read(host / "ro") == b"hello world"
    assert read(mnt.root / "ro") == b"hello world"
    assert stat.S_IMODE(os.stat(host / "ro").st_mode) == 0o444
    # Canonical: shown 0644 whatever the host says.
    assert stat.S_IMODE(os.stat(mnt.root / "ro").st_mode) == 0o644

    fd = os.open(mnt.root / "wo", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        write_all(fd, b"write-only")
    finally:
        os.close(fd)
    assert read(host / "wo") == b"write-only"


def test_file_created_0444_is_written_by_its_creator(mnt, host):
    check_created_read_only_then_written(mnt, host)


def drop_dac_capabilities():
    """preexec_fn: the daemon (still uid 0, so it can mount) runs without
    the capabilities that override file permissions, as an unprivileged
    user's daemon would."""
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def mnt_nodac(canonfs, host):
    m = canonfs(host, preexec_fn=drop_dac_capabilities)
    status = open("/proc/%d/status" % m.proc.pid).read()
    eff = int(next(line.split()[1] for line in status.splitlines()
                   if line.startswith("CapEff:")), 16)
    assert not eff & (1 << CAP_DAC_OVERRIDE), "daemon still overrides DAC"
    return m


def test_file_created_0444_is_written_by_its_creator_without_dac_override(
        mnt_nodac, host):
    check_created_read_only_then_written(mnt_nodac, host)


def test_file_created_0444_truncated_by_its_creator_without_dac_override(
        mnt_nodac, host):
    """ftruncate needs a descriptor open for writing, not write permission
    on the file (POSIX): the creator may truncate what it writes."""
    mnt = mnt_nodac
    fd = os.open(mnt.root / "ro", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        write_all(fd, b"0123456789")
        os.ftruncate(fd, 4)
        assert os.pread(fd, 100, 0) == b"0123"
    finally:
        os.close(fd)
    assert read(host / "ro") == b"0123"


def test_file_created_0444_appended_by_its_creator_without_dac_override(
        mnt_nodac, host):
    mnt = mnt_nodac
    fd = os.open(mnt.root / "ro",
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o444)
    try:
        write_all(fd, b"one ")
        write_all(fd, b"two")
    finally:
        os.close(fd)
    assert read(host / "ro") == b"one two"


# --- directories --------------------------------------------------------

def test_mkdir_p_deep_tree(mnt, host):
    parts = ["d%02d" % i for i in range(60)]
    deep = mnt.root.joinpath(*parts)
    os.makedirs(deep)
    write(deep / "leaf.txt", b"leaf")
    os.makedirs(deep, exist_ok=True)        # mkdir -p again: no error
    expect_errno(errno.EEXIST, os.mkdir, deep)
    assert read(host.joinpath(*parts) / "leaf.txt") == b"leaf"
    assert read(deep / "leaf.txt") == b"leaf"
    seen = [root for root, dirs, files in os.walk(mnt.root)]
    assert len(seen) == 61
    # Canonical: directories 0755, size 0, link count 1.
    st = os.stat(deep)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755
    assert st.st_size == 0 and st.st_nlink == 1


def test_tree_deeper_than_path_max(mnt, host):
    """Through directory descriptors a tree may be deeper than PATH_MAX:
    the daemon works on descriptors, so it must not care."""
    name = "n" * 200
    depth = 25   # 25 * 201 bytes > PATH_MAX (4096)
    fds = [os.open(mnt.root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fds[-1])
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY,
                               dir_fd=fds[-1]))
        fd = os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644,
                     dir_fd=fds[-1])
        write_all(fd, b"deep")
        os.close(fd)
        fd = os.open("bottom", os.O_RDONLY, dir_fd=fds[-1])
        assert os.read(fd, 10) == b"deep"
        os.close(fd)
        assert os.listdir(fds[-1]) == ["bottom"]
    finally:
        for fd in fds:
            os.close(fd)
    # On the host, walking by descriptors too.
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    leaf = os.open("bottom", os.O_RDONLY, dir_fd=fd)
    assert os.read(leaf, 10) == b"deep"
    os.close(leaf)
    os.close(fd)


def test_rmdir_of_non_empty_directory_fails(mnt, host):
    os.makedirs(mnt.root / "d" / "sub")
    write(mnt.root / "d" / "f", b"keep")
    expect_errno((errno.ENOTEMPTY, errno.EEXIST), os.rmdir, mnt.root / "d")
    expect_errno((errno.ENOTEMPTY, errno.EEXIST), os.rmdir,
                 mnt.root / "d")   # twice: nothing cached wrongly
    assert sorted(os.listdir(mnt.root / "d")) == ["f", "sub"]
    assert read(host / "d" / "f") == b"keep"
    expect_errno(errno.ENOTDIR, os.rmdir, mnt.root / "d" / "f")
    expect_errno(errno.EISDIR, os.unlink, mnt.root / "d" / "sub")
    # Emptied, it goes.
    os.rmdir(mnt.root / "d" / "sub")
    os.unlink(mnt.root / "d" / "f")
    os.rmdir(mnt.root / "d")
    assert os.listdir(mnt.root) == []
    assert os.listdir(host) == []


def test_rmdir_of_directory_made_non_empty_on_the_host(mnt, host):
    os.mkdir(mnt.root / "d")
    assert os.listdir(mnt.root / "d") == []
    write(host / "d" / "late", b"x")
    expect_errno((errno.ENOTEMPTY, errno.EEXIST), os.rmdir, mnt.root / "d")
    assert read(host / "d" / "late") == b"x"


# --- where the canonical view differs from POSIX ------------------------

def test_chown_is_accepted_and_changes_nothing(mnt, host):
    write(mnt.root / "f", b"x")
    before = os.stat(mnt.root / "f")
    host_before = os.stat(host / "f")
    os.chown(mnt.root / "f", 12345, 54321)
    after = os.stat(mnt.root / "f")
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    host_after = os.stat(host / "f")
    assert (host_after.st_uid, host_after.st_gid) == \
        (host_before.st_uid, host_before.st_gid)


def test_written_files_show_true_times_and_canonical_owner(mnt, host):
    """What a build writes is newer than anything it read: under the
    default it shows its true host times (make and ninja compare them)."""
    fd = os.open(mnt.root / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        write_all(fd, b"data")
        st = os.fstat(fd)
        hs = os.stat(host / "f")
        assert (st.st_mtime_ns, st.st_ctime_ns) == (hs.st_mtime_ns,
                                                    hs.st_ctime_ns)
    finally:
        os.close(fd)
    os.utime(mnt.root / "f", (1000000, 2000000))
    st = os.stat(mnt.root / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (1000000 * 10**9,
                                                2000000 * 10**9)
    assert os.stat(host / "f").st_mtime == 2000000   # applied on the host
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert stat.S_IMODE(os.stat(host / "f").st_mode) == 0o600
    os.mkdir(mnt.root / "d", 0o700)
    st = os.stat(mnt.root / "d")
    assert (st.st_mtime_ns, st.st_nlink, stat.S_IMODE(st.st_mode)) == \
        (os.stat(host / "d").st_mtime_ns, 1, 0o755)
    assert (st.st_uid, st.st_gid) == (os.stat(mnt.root / "f").st_uid,
                                      os.stat(mnt.root / "f").st_gid)


def test_written_files_show_zero_times_under_mtime_zero(canonfs, host):
    m = canonfs(host, "mtime=zero")
    fd = os.open(m.root / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        write_all(fd, b"data")
        st = os.fstat(fd)
        assert (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns) == (0, 0, 0)
    finally:
        os.close(fd)
    os.utime(m.root / "f", (1000000, 2000000))
    st = os.stat(m.root / "f")
    assert (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns) == (0, 0, 0)
    assert os.stat(host / "f").st_mtime == 2000000   # applied on the host
    os.mkdir(m.root / "d", 0o700)
    assert os.stat(m.root / "d").st_mtime_ns == 0


# --- permissions ----------------------------------------------------------
#
# A mount without allow_other or allow_root is its mounting user's alone:
# the host's checks on each call are the ones that count, access(2) asks
# the host, and the kernel does not check the shown modes again. With
# allow_other the kernel checks every other user against the shown modes.

def mount_options(mnt):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == str(mnt.mnt):
                return set(fields[5].split(",")) | set(
                    line.split(" - ")[1].split()[2].split(","))
    raise AssertionError("%s is not in mountinfo" % mnt.mnt)


def test_access_and_exec_follow_the_executable_bit(mnt, host):
    write(host / "tool.sh", b"#!/bin/sh\necho ran\n")
    os.chmod(host / "tool.sh", 0o755)
    write(host / "data.sh", b"#!/bin/sh\necho ran\n")
    os.chmod(host / "data.sh", 0o644)
    os.mkdir(host / "d")
    root = mnt.root
    assert os.access(root / "tool.sh", os.R_OK | os.W_OK | os.X_OK)
    assert os.access(root / "data.sh", os.R_OK | os.W_OK)
    assert not os.access(root / "data.sh", os.X_OK)
    assert os.access(root / "d", os.R_OK | os.W_OK | os.X_OK)
    assert not os.access(root / "missing", os.F_OK)
    # What shells and make ask, and what exec does.
    test_x = "test -x %s && echo yes || echo no"
    assert subprocess.run(["sh", "-c", test_x % (root / "data.sh")],
                          capture_output=True, text=True).stdout == "no\n"
    assert subprocess.run([root / "tool.sh"], capture_output=True,
                          text=True).stdout == "ran\n"
    expect_errno(errno.EACCES, subprocess.run, [root / "data.sh"])
    # chmod through the mount changes the answer at once.
    os.chmod(root / "data.sh", 0o755)
    assert os.access(root / "data.sh", os.X_OK)
    os.chdir(root / "d")
    try:
        assert os.getcwd() == str(root / "d")
    finally:
        os.chdir("/")


def test_access_refuses_writes_where_writes_fail(canonfs, host, tmp_path):
    write(host / "f", b"x")
    inc = tmp_path / "inc"
    inc.mkdir()
    write(inc / "hdr.h", b"int x;\n")
    m = canonfs(host, "sys=mine:%s" % inc)
    assert os.access(m.root / "f", os.W_OK)
    sys_file = m.mnt / "sys" / "mine" / "hdr.h"
    assert os.access(sys_file, os.R_OK)
    assert not os.access(sys_file, os.W_OK)
    with pytest.raises(OSError) as refused:
        with open(sys_file, "ab") as f:
            f.write(b"x")
    assert refused.value.errno == errno.EROFS
    control = m.mnt / ".canonfs" / "stats"
    assert os.access(control, os.R_OK) and not os.access(control, os.W_OK)
    assert not os.access(m.mnt / ".canonfs", os.W_OK)
    ro = canonfs(host, "ro")
    assert not os.access(ro.root / "f", os.W_OK)
    assert os.access(ro.root / "f", os.R_OK)


def test_access_answers_as_the_host_would_for_the_daemon(mnt_nodac, host):
    """A daemon without DAC override (an ordinary user's): a host file it
    may not write is not writable through the mount either, and access
    says so."""
    write(host / "locked", b"x")
    os.chmod(host / "locked", 0o444)
    path = mnt_nodac.root / "locked"
    assert os.access(path, os.R_OK)
    assert not os.access(path, os.W_OK)
    # Files are opened lazily (no OPEN requests): the write is refused.
    with pytest.raises(PermissionError):
        with open(path, "ab") as f:
            f.write(b"y")
    assert read(path) == b"x"


@pytest.fixture
def public_dir():
    """A directory every user may enter (pytest's own are 0700); removed
    after the mounts in it, which are made later and torn down first."""
    path = tempfile.mkdtemp(prefix="canonfs-public-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_kernel_checks_the_shown_modes_only_on_shared_mounts(public_dir,
                                                               canonfs, host):
    write(host / "f", b"shared")
    private = canonfs(host)
    assert "default_permissions" not in mount_options(private)
    shared = canonfs(host, "allow_other", mnt=public_dir / "mnt")
    assert "default_permissions" in mount_options(shared)

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    probe = ("import os, sys\n"
             "p = sys.argv[1]\n"
             "print(open(p).read(), os.access(p, os.W_OK))\n"
             "try:\n"
             "    open(p, 'a')\n"
             "except PermissionError:\n"
             "    print('refused')\n")
    out = subprocess.run([sys.executable, "-c", probe,
                          str(shared.root / "f")], preexec_fn=as_nobody,
                         capture_output=True, text=True, timeout=30)
    assert out.stdout == "shared False\nrefused\n", out.stderr
    assert read(host / "f") == b"shared"


def test_a_user_shown_as_owner_cannot_write_with_the_daemons_rights(
        public_dir, canonfs, host):
    """allow_other with uid=U shows U as the owner, so the kernel lets U
    write; the daemon (root) then wrote host files U may not touch, a
    root-only 0600 file among them. Only the mounting user, and root,
    write through a shared mount."""
    write(host / "root-only", b"secret")
    os.chmod(host / "root-only", 0o600)
    shared = canonfs(host, "allow_other", "uid=65534", "gid=65534",
                     mnt=public_dir / "mnt")

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    probe = ("import os, sys\n"
             "d = sys.argv[1]\n"
             "for what in ('write', 'create', 'mkdir', 'unlink'):\n"
             "    try:\n"
             "        if what == 'write':\n"
             "            open(d + '/root-only', 'w').write('overwritten')\n"
             "        elif what == 'create':\n"
             "            open(d + '/new', 'w').close()\n"
             "        elif what == 'mkdir':\n"
             "            os.mkdir(d + '/newdir')\n"
             "        else:\n"
             "            os.unlink(d + '/root-only')\n"
             "        print(what, 'done')\n"
             "    except PermissionError:\n"
             "        print(what, 'refused')\n")
    out = subprocess.run([sys.executable, "-c", probe, str(shared.root)],
                         preexec_fn=as_nobody, capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.split("\n")[:4] == [
        "write refused", "create refused", "mkdir refused",
        "unlink refused"], out.stdout + out.stderr
    assert read(host / "root-only") == b"secret"
    assert sorted(os.listdir(host)) == ["root-only"]
    # The mounting user still writes.
    write(shared.root / "by-root", b"ok")
    assert read(host / "by-root") == b"ok"
