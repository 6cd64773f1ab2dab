"""Writes made through MNT/src land on the host tree, byte for byte.

The mount is read-write by default: a build writes its outputs, `go mod
tidy` rewrites go.mod, generators create files. Every write operation below
is made through the mount and then checked directly on the host directory
(and, where it matters, read back through the mount). With `-o ro` every one
of them must fail with EROFS and leave the host untouched.
"""

import ctypes
import errno
import hashlib
import os
import stat
import subprocess

import pytest

from conftest import read, write

from conftest import DEFAULT_ROOT

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
SYS_renameat2 = 316  # x86_64

_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(old, new, flags):
    """renameat2(2) through the raw syscall; raises OSError on failure."""
    ret = _libc.syscall(ctypes.c_long(SYS_renameat2),
                        ctypes.c_int(AT_FDCWD), os.fsencode(str(old)),
                        ctypes.c_int(AT_FDCWD), os.fsencode(str(new)),
                        ctypes.c_uint(flags))
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(old), None, str(new))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def expect_errno(expected, func, *args):
    with pytest.raises(OSError) as info:
        func(*args)
    assert info.value.errno == expected, (
        "expected %s, got %s (%s)" % (errno.errorcode[expected],
                                      errno.errorcode.get(info.value.errno),
                                      info.value))


# --- create, write, append, overwrite, truncate -------------------------

@pytest.mark.parametrize("size", [0, 1, 4096, 1024 * 1024 + 3])
def test_create_and_write_lands_on_host_byte_exact(mnt, host, size):
    data = os.urandom(size)
    write(mnt.root / "out.bin", data)

    on_host = host / "out.bin"
    assert on_host.is_file(), "file created through the mount is not on the host"
    assert on_host.stat().st_size == size
    assert sha256(read(on_host)) == sha256(data), "host content differs"


@pytest.mark.parametrize("size", [0, 1, 4096, 1024 * 1024 + 3])
def test_written_file_reads_back_identical_through_mount(mnt, size):
    data = os.urandom(size)
    path = mnt.root / "roundtrip.bin"
    write(path, data)
    assert os.stat(path).st_size == size, "size seen inside after writing"
    assert sha256(read(path)) == sha256(data), "content read back differs"


def test_write_then_read_on_same_descriptor(mnt, host):
    data = os.urandom(3 * 4096 + 17)
    fd = os.open(mnt.root / "rw.bin", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert os.write(fd, data) == len(data)
        assert os.pread(fd, len(data) + 10, 0) == data
    finally:
        os.close(fd)
    assert read(host / "rw.bin") == data


def test_create_in_subdirectory(mnt, host):
    (host / "a" / "b").mkdir(parents=True)
    write(mnt.root / "a" / "b" / "gen.go", b"package b\n")
    assert read(host / "a" / "b" / "gen.go") == b"package b\n"


def test_append_with_o_append(mnt, host):
    write(host / "log", b"abc")
    for chunk in (b"def", b"ghi"):
        fd = os.open(mnt.root / "log", os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, chunk)
        finally:
            os.close(fd)
    assert read(host / "log") == b"abcdefghi"
    assert read(mnt.root / "log") == b"abcdefghi"


def test_append_after_a_host_append_keeps_both(mnt, host):
    """A log the host appends to and a build inside appends to: the
    kernel's idea of the end is stale after the host's append (nothing
    stat'ed the file through the mount since), and a write there would
    overwrite the host's bytes. Both appends stay, in order, and the view
    through the mount agrees with the host after the barrier."""
    write(host / "log", b"start\n")
    assert read(mnt.root / "log") == b"start\n"   # the kernel knows 6 bytes
    with open(host / "log", "ab") as f:
        f.write(b"host 1\n")
    mnt.barrier()
    for line in (b"mount 1\n", b"mount 2\n"):
        fd = os.open(mnt.root / "log", os.O_WRONLY | os.O_APPEND)
        try:
            assert os.write(fd, line) == len(line)
        finally:
            os.close(fd)
    expected = b"start\nhost 1\nmount 1\nmount 2\n"
    assert read(host / "log") == expected, "host bytes were overwritten"
    mnt.barrier()
    assert os.stat(mnt.root / "log").st_size == len(expected)
    assert read(mnt.root / "log") == expected, "stale view through the mount"


def test_append_mode_ignores_seek(mnt, host):
    write(host / "log", b"0123456789")
    with open(mnt.root / "log", "ab") as f:
        f.seek(0)
        f.write(b"END")
    assert read(host / "log") == b"0123456789END"


def test_sparse_file_holes_are_seen_and_kept(mnt, host):
    """SEEK_DATA/SEEK_HOLE reach the host file; a copy that skips zeros
    (`cp --sparse=always`: the shown st_blocks follow the size, so cp's
    own guess says dense) leaves holes in the host file."""
    import subprocess

    mib = 1024 * 1024
    with open(host / "sparse", "wb") as f:
        f.write(b"head")
        f.seek(50 * mib)
        f.write(b"tail")
    fd = os.open(mnt.root / "sparse", os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
        assert 0 < hole < 50 * mib, hole
        data = os.lseek(fd, hole, os.SEEK_DATA)
        assert hole < data <= 50 * mib, data
        expect_errno(errno.ENXIO, os.lseek, fd, 50 * mib + 4, os.SEEK_DATA)
    finally:
        os.close(fd)
    subprocess.run(["cp", "--sparse=always", str(mnt.root / "sparse"),
                    str(mnt.root / "copy")], check=True)
    assert read(host / "copy") == read(host / "sparse")
    assert os.stat(host / "copy").st_blocks * 512 < mib, (
        "the copy's holes were written out")


def test_fallocate_modes_reach_the_host(mnt, host):
    """fallocate(1)'s keep-size, punch-hole and zero-range, and a plain
    preallocation that grows the file. A host that refuses zero-range
    (tmpfs does) must be seen refusing it through the mount too."""
    import subprocess

    def fallocate(*args, path=mnt.root / "f", check=True):
        return subprocess.run(["fallocate"] + list(args) + [str(path)],
                              check=check, capture_output=True, text=True)

    write(host / "probe", b"x" * 8192)
    zero_range = fallocate("-z", "-o", "0", "-l", "4096", path=host / "probe",
                           check=False).returncode == 0
    write(host / "f", b"x" * 16384)
    fallocate("-n", "-o", "16384", "-l", "65536")    # keep size
    assert os.stat(mnt.root / "f").st_size == 16384
    assert os.stat(host / "f").st_blocks * 512 >= 65536
    fallocate("-p", "-o", "4096", "-l", "4096")      # punch a hole
    if zero_range:
        fallocate("-z", "-o", "8192", "-l", "4096")  # zero a range
    else:
        refused = fallocate("-z", "-o", "8192", "-l", "4096", check=False)
        assert refused.returncode != 0
        assert "Operation not supported" in refused.stderr, refused.stderr
        fallocate("-p", "-o", "8192", "-l", "4096")
    expected = b"x" * 4096 + b"\0" * 8192 + b"x" * 4096
    assert read(host / "f") == expected
    assert read(mnt.root / "f") == expected, "the kernel kept the old pages"
    fallocate("-l", "32768")                         # grows the file
    assert os.stat(mnt.root / "f").st_size == 32768
    assert read(host / "f") == expected + b"\0" * 16384


def test_overwrite_in_the_middle_with_pwrite(mnt, host):
    original = os.urandom(10000)
    write(host / "f", original)
    patch = os.urandom(100)
    fd = os.open(mnt.root / "f", os.O_RDWR)
    try:
        assert os.pwrite(fd, patch, 5000) == len(patch)
    finally:
        os.close(fd)
    expected = original[:5000] + patch + original[5100:]
    assert host.joinpath("f").stat().st_size == 10000
    assert sha256(read(host / "f")) == sha256(expected)
    assert sha256(read(mnt.root / "f")) == sha256(expected)


def test_open_with_o_trunc_replaces_content(mnt, host):
    write(host / "f", b"x" * 5000)
    write(mnt.root / "f", b"short")
    assert read(host / "f") == b"short"


def test_truncate_down(mnt, host):
    original = os.urandom(10000)
    write(host / "f", original)
    os.truncate(mnt.root / "f", 100)
    assert read(host / "f") == original[:100]
    assert os.stat(mnt.root / "f").st_size == 100


def test_truncate_up_fills_with_zeros(mnt, host):
    original = os.urandom(100)
    write(host / "f", original)
    os.truncate(mnt.root / "f", 20000)
    expected = original + b"\0" * 19900
    assert host.joinpath("f").stat().st_size == 20000
    assert read(host / "f") == expected
    assert read(mnt.root / "f") == expected


def test_ftruncate_on_open_descriptor(mnt, host):
    write(host / "f", b"y" * 300)
    fd = os.open(mnt.root / "f", os.O_RDWR)
    try:
        os.ftruncate(fd, 10)
        os.ftruncate(fd, 50)
    finally:
        os.close(fd)
    assert read(host / "f") == b"y" * 10 + b"\0" * 40


# --- rename ---------------------------------------------------------------

def test_rename_plain(mnt, host):
    write(host / "a", b"content of a")
    os.rename(mnt.root / "a", mnt.root / "b")
    assert not (host / "a").exists()
    assert read(host / "b") == b"content of a"
    assert not os.path.lexists(mnt.root / "a")
    assert read(mnt.root / "b") == b"content of a"


def test_rename_over_existing_file(mnt, host):
    write(host / "a", b"new")
    write(host / "b", b"old old old")
    read(mnt.root / "b")  # let the kernel cache the old target
    os.rename(mnt.root / "a", mnt.root / "b")
    assert not (host / "a").exists()
    assert read(host / "b") == b"new"
    assert read(mnt.root / "b") == b"new"


def test_rename_into_other_directory(mnt, host):
    (host / "d1").mkdir()
    (host / "d2").mkdir()
    write(host / "d1" / "f", b"moving")
    os.rename(mnt.root / "d1" / "f", mnt.root / "d2" / "g")
    assert not (host / "d1" / "f").exists()
    assert read(host / "d2" / "g") == b"moving"


def test_rename_directory(mnt, host):
    (host / "old" / "sub").mkdir(parents=True)
    write(host / "old" / "sub" / "f", b"deep")
    os.rename(mnt.root / "old", mnt.root / "new")
    assert not (host / "old").exists()
    assert read(host / "new" / "sub" / "f") == b"deep"
    assert read(mnt.root / "new" / "sub" / "f") == b"deep"
    assert not os.path.lexists(mnt.root / "old")


def test_rename_noreplace_fails_with_eexist(mnt, host):
    write(host / "a", b"aaa")
    write(host / "b", b"bbb")
    expect_errno(errno.EEXIST, renameat2,
                 mnt.root / "a", mnt.root / "b", RENAME_NOREPLACE)
    assert read(host / "a") == b"aaa"
    assert read(host / "b") == b"bbb"


def test_rename_noreplace_to_free_name_works(mnt, host):
    write(host / "a", b"aaa")
    renameat2(mnt.root / "a", mnt.root / "c", RENAME_NOREPLACE)
    assert not (host / "a").exists()
    assert read(host / "c") == b"aaa"


def test_rename_exchange_swaps(mnt, host):
    write(host / "a", b"aaa")
    (host / "b").mkdir()
    write(host / "b" / "inner", b"inside b")
    renameat2(mnt.root / "a", mnt.root / "b", RENAME_EXCHANGE)
    assert read(host / "b") == b"aaa"
    assert read(host / "a" / "inner") == b"inside b"
    assert read(mnt.root / "b") == b"aaa"
    assert read(mnt.root / "a" / "inner") == b"inside b"


def test_rename_exchange_two_files(mnt, host):
    write(host / "a", b"first")
    write(host / "b", b"second!")
    renameat2(mnt.root / "a", mnt.root / "b", RENAME_EXCHANGE)
    assert read(host / "a") == b"second!"
    assert read(host / "b") == b"first"


# --- unlink, mkdir, rmdir ------------------------------------------------

def test_unlink(mnt, host):
    write(host / "f", b"bye")
    os.unlink(mnt.root / "f")
    assert not os.path.lexists(host / "f")
    assert not os.path.lexists(mnt.root / "f")


def test_mkdir(mnt, host):
    os.mkdir(mnt.root / "newdir")
    assert (host / "newdir").is_dir()
    os.mkdir(mnt.root / "newdir" / "child")
    assert (host / "newdir" / "child").is_dir()
    assert os.listdir(mnt.root / "newdir") == ["child"]


def test_creates_take_the_callers_umask_not_the_daemons(canonfs, host):
    """The kernel masks a create's mode with the caller's umask before it
    asks; the daemon, started here under umask 077, must not mask it again
    (it would make every file anyone creates through the mount private)."""
    m = canonfs(host, preexec_fn=lambda: os.umask(0o077))
    saved = os.umask(0o002)
    try:
        write(m.root / "f", b"x")
        os.mkdir(m.root / "d")
        os.close(os.open(m.root / "g", os.O_WRONLY | os.O_CREAT, 0o640))
        os.umask(0)
        os.close(os.open(m.root / "shared", os.O_WRONLY | os.O_CREAT, 0o666))
        os.mknod(m.root / "node", 0o606 | stat.S_IFREG)
    finally:
        os.umask(saved)
    modes = {name: stat.S_IMODE(os.lstat(host / name).st_mode)
             for name in ("f", "d", "g", "shared", "node")}
    assert modes == {"f": 0o664, "d": 0o775, "g": 0o640, "shared": 0o666,
                     "node": 0o606}, {k: oct(v) for k, v in modes.items()}


def test_mkdir_existing_fails_with_eexist(mnt, host):
    (host / "d").mkdir()
    expect_errno(errno.EEXIST, os.mkdir, mnt.root / "d")


def test_rmdir_empty(mnt, host):
    (host / "d").mkdir()
    os.rmdir(mnt.root / "d")
    assert not os.path.lexists(host / "d")


def test_rmdir_non_empty_fails_with_enotempty(mnt, host):
    (host / "d").mkdir()
    write(host / "d" / "keep", b"k")
    expect_errno(errno.ENOTEMPTY, os.rmdir, mnt.root / "d")
    assert read(host / "d" / "keep") == b"k"


# --- symlinks and hard links -----------------------------------------------

@pytest.mark.parametrize("single_thread", [False, True], ids=["", "-s"])
def test_moved_symlink_shows_its_target_from_its_new_place(canonfs, host,
                                                           single_thread):
    """A host symlink to an absolute path in the tree is shown relative to
    where it sits, and the kernel keeps what it was shown: a rename through
    the mount of the link, or of a directory above it, must make it ask
    again."""
    (host / "x").mkdir()
    (host / "a").mkdir()
    (host / "b" / "c").mkdir(parents=True)
    write(host / "x" / "file", b"hi\n")
    os.symlink(host / "x" / "file", host / "a" / "link")
    m = canonfs(host, extra_args=["-s"] if single_thread else [])
    assert os.readlink(m.root / "a" / "link") == "../x/file"
    os.rename(m.root / "a", m.root / "b" / "c" / "a")
    if single_thread:
        m.barrier()  # single-threaded, the rename does not wait for it
    assert os.readlink(m.root / "b" / "c" / "a" / "link") == "../../../x/file"
    assert read(m.root / "b" / "c" / "a" / "link") == b"hi\n"
    os.rename(m.root / "b" / "c" / "a" / "link", m.root / "link2")
    if single_thread:
        m.barrier()
    assert os.readlink(m.root / "link2") == "x/file"
    assert read(m.root / "link2") == b"hi\n"

def test_symlink_absolute_target_in_mount_stored_relative(mnt, host):
    (host / "x").mkdir()
    write(host / "x" / "y", b"target data")
    (host / "a").mkdir()
    os.symlink(str(mnt.root / "x" / "y"), mnt.root / "a" / "l")

    assert os.readlink(host / "a" / "l") == "../x/y", (
        "an absolute target under MNT/src must be stored relative so it "
        "resolves on the host")
    assert read(host / "a" / "l") == b"target data", "does not resolve on the host"
    assert os.readlink(mnt.root / "a" / "l") == "../x/y"
    assert read(mnt.root / "a" / "l") == b"target data"


def test_symlink_absolute_target_through_a_symlink_keeps_its_dotdot(mnt,
                                                                    host):
    """MNT/src/a/sl/../f with a/sl -> ../deep/er is deep/f, not a/f: the
    link stored on the host must lead where the target led in the mount
    (it was cleaned to "f", beside the link: another file)."""
    (host / "deep" / "er").mkdir(parents=True)
    (host / "a").mkdir()
    write(host / "deep" / "f", b"the one")
    write(host / "a" / "f", b"the other")
    os.symlink("../deep/er", host / "a" / "sl")
    target = str(mnt.root / "a" / "sl") + "/../f"
    assert read(target) == b"the one"
    os.symlink(target, mnt.root / "a" / "l")
    assert os.readlink(host / "a" / "l") == "sl/../f"
    assert read(host / "a" / "l") == b"the one"
    assert read(mnt.root / "a" / "l") == b"the one"


def test_symlink_absolute_target_same_directory(mnt, host):
    write(host / "f", b"data")
    os.symlink(str(mnt.root / "f"), mnt.root / "l")
    assert os.readlink(host / "l") == "f"
    assert read(host / "l") == b"data"


@pytest.mark.parametrize("target", ["../x/y", "sub/./file", "does-not-exist"])
def test_symlink_relative_target_stored_as_given(mnt, host, target):
    (host / "a").mkdir()
    os.symlink(target, mnt.root / "a" / "l")
    assert os.readlink(host / "a" / "l") == target


def test_symlink_absolute_target_outside_mount_stored_as_given(mnt, host):
    os.symlink("/usr/bin/env", mnt.root / "l")
    assert os.readlink(host / "l") == "/usr/bin/env"


def test_symlink_to_other_mirror_stored_as_host_path(canonfs, host, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    write(other / "t", b"in other")
    m = canonfs(host, "mirror=other:%s" % other)
    os.symlink(str(m.mnt / "other" / "t"), m.root / "l")
    assert os.readlink(host / "l") == str(other / "t")
    assert read(host / "l") == b"in other"


def test_symlink_with_the_longest_target_linux_takes(mnt, host):
    target = "x" * 4095
    os.symlink(target, mnt.root / "long")
    assert os.readlink(host / "long") == target
    assert os.readlink(mnt.root / "long") == target


def test_hard_link(mnt, host):
    write(host / "f", b"shared bytes")
    os.link(mnt.root / "f", mnt.root / "g")
    assert read(host / "g") == b"shared bytes"
    assert os.stat(host / "f").st_nlink == 2
    assert os.path.samefile(host / "f", host / "g")
    assert read(mnt.root / "g") == b"shared bytes"


# The kernel takes a link off the inode when a name goes, and canonfs shows
# one: a file that keeps other names was left with none in the kernel, and
# link(2) refused it with ENOENT without asking the daemon.
RELINK_CASES = {
    # (the name linked from, the name removed): ln a b && rm a && ln b a
    "the-old-name-removed": ("b", "a"),
    # ln a b && rm b && ln a c
    "the-new-name-removed": ("a", "b"),
}


@pytest.mark.parametrize("other_dir", [False, True], ids=["", "other-dir"])
@pytest.mark.parametrize("case", sorted(RELINK_CASES))
def test_a_file_links_again_right_after_one_of_its_names_is_removed(
        mnt, host, case, other_dir):
    """touch a && ln a b && rm a && ln b a works, as on ext4, with no stat
    between; and the view still shows one link."""
    keep, removed = RELINK_CASES[case]
    (mnt.root / "d").mkdir()
    second = "d/b" if other_dir else "b"
    names = {"a": mnt.root / "a", "b": mnt.root / second}
    for i in range(20):
        write(names["a"], b"round %d" % i)
        os.link(names["a"], names["b"])
        os.unlink(names[removed])
        new = mnt.root / ("c%d" % i)
        os.link(names[keep], new)
        assert read(new) == b"round %d" % i
        assert os.stat(host / ("c%d" % i)).st_nlink == 2
        assert os.stat(new).st_nlink == 1, "the view shows one link"
        os.unlink(new)
        os.unlink(names[keep])


@pytest.mark.parametrize("single_thread", [False, True], ids=["", "-s"])
def test_a_file_links_again_right_after_one_of_its_names_is_renamed_over(
        canonfs, host, single_thread):
    """mv over one name of a linked file, then link through another."""
    mnt = canonfs(host, extra_args=["-s"] if single_thread else [])
    for i in range(20):
        write(mnt.root / "f", b"linked %d" % i)
        os.link(mnt.root / "f", mnt.root / "g")
        write(mnt.root / "h", b"other")
        os.rename(mnt.root / "h", mnt.root / ("f", "g")[i % 2])
        kept = mnt.root / ("g", "f")[i % 2]
        os.link(kept, mnt.root / "i")
        assert read(host / "i") == b"linked %d" % i
        assert os.stat(host / "i").st_nlink == 2
        for name in ("f", "g", "i"):
            os.unlink(mnt.root / name)


def test_link_then_unlink_of_the_temporary_name_expires_no_names(canonfs,
                                                                  host):
    """git stores every object so: write tmp_obj, link it to its name,
    unlink tmp_obj. That must not make the kernel look every name up again
    (a third more lookups for a `git add`); and the object can still be
    linked again at once (`git clone --local` links objects)."""
    m = canonfs(host)
    (m.root / "objects").mkdir()
    for i in range(50):
        tmp = m.root / "objects" / ("tmp_obj_%d" % i)
        write(tmp, b"object %d" % i)
        os.link(tmp, m.root / "objects" / ("o%d" % i))
        os.unlink(tmp)
        os.link(m.root / "objects" / ("o%d" % i), m.root / ("copy%d" % i))
    assert m.counters()["expire_names"] == 0
    assert read(m.root / "copy49") == b"object 49"


AT_EMPTY_PATH = 0x1000


def relink_open_file(fd, new):
    """Give the open file fd the name new: linkat(fd, "", AT_EMPTY_PATH) as
    root, else through /proc/self/fd. Returns 0 or the errno value."""
    if os.geteuid() == 0:
        ret = _libc.linkat(fd, b"", AT_FDCWD, os.fsencode(str(new)),
                           AT_EMPTY_PATH)
        return ctypes.get_errno() if ret != 0 else 0
    try:
        os.link("/proc/self/fd/%d" % fd, new, follow_symlinks=True)
    except OSError as e:
        return e.errno
    return 0


def test_linking_an_open_unlinked_file_fails_as_on_the_host(mnt, host):
    """A file whose last name went cannot be named again (ENOENT on ext4:
    only O_TMPFILE files are linkable with no name)."""
    outcomes = {}
    for where, root in (("host", host / "h"), ("mount", mnt.root / "m")):
        root.mkdir()
        write(root / "f", b"unlinked")
        fd = os.open(root / "f", os.O_RDONLY)
        try:
            os.unlink(root / "f")
            outcomes[where] = relink_open_file(fd, root / "again")
        finally:
            os.close(fd)
    assert outcomes["mount"] == outcomes["host"], (
        "linking an open unlinked file: %s through the mount, %s on the host"
        % tuple(errno.errorcode.get(outcomes[k], "success")
                for k in ("mount", "host")))
    assert (host / "m" / "again").exists() == (outcomes["mount"] == 0)


def test_o_tmpfile_is_refused_cleanly(mnt, host):
    """libfuse 3.14 has no TMPFILE: the kernel answers EOPNOTSUPP (what
    tools check for before falling back to a named temporary file), and
    nothing is left on the host."""
    expect_errno(errno.EOPNOTSUPP, os.open, mnt.root,
                 os.O_TMPFILE | os.O_WRONLY, 0o600)
    assert os.listdir(host) == []


# --- metadata ----------------------------------------------------------------

def test_host_exec_bit_shows_as_0755(mnt, host):
    write(host / "tool", b"#!/bin/sh\n")
    os.chmod(host / "tool", 0o744)
    assert stat.S_IMODE(os.stat(mnt.root / "tool").st_mode) == 0o755


def test_chmod_exec_through_mount_reaches_host(mnt, host):
    write(host / "tool", b"#!/bin/sh\n")
    os.chmod(host / "tool", 0o644)
    os.chmod(mnt.root / "tool", 0o755)
    assert stat.S_IMODE(os.stat(host / "tool").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(mnt.root / "tool").st_mode) == 0o755


def test_chmod_600_reaches_host_view_stays_0644(mnt, host):
    write(host / "secret", b"s")
    os.chmod(host / "secret", 0o644)
    os.chmod(mnt.root / "secret", 0o600)
    assert stat.S_IMODE(os.stat(host / "secret").st_mode) == 0o600
    st = os.stat(mnt.root / "secret")
    assert st.st_mode == stat.S_IFREG | 0o644, oct(st.st_mode)


def test_utime_changes_host_mtime_and_the_view_shows_it(mnt, host):
    """A changed file shows its true times under the default: what `touch
    -d` set is what make then compares."""
    write(host / "f", b"t")
    os.utime(mnt.root / "f", ns=(1_000_000_000_123, 2_000_000_000_456))
    assert os.stat(host / "f").st_mtime_ns == 2_000_000_000_456
    st = os.stat(mnt.root / "f")
    assert (st.st_mtime_ns, st.st_atime_ns) == (2_000_000_000_456,
                                                1_000_000_000_123)


def test_utime_changes_host_mtime_view_stays_zero_under_mtime_zero(
        canonfs, host):
    write(host / "f", b"t")
    m = canonfs(host, "mtime=zero")
    os.utime(m.root / "f", ns=(1_000_000_000_123, 2_000_000_000_456))
    assert os.stat(host / "f").st_mtime_ns == 2_000_000_000_456
    st = os.stat(m.root / "f")
    assert st.st_mtime_ns == 0 and st.st_atime_ns == 0, (
        st.st_mtime_ns, st.st_atime_ns)


def test_utime_now_touches_host(mnt, host):
    write(host / "f", b"t")
    os.utime(host / "f", (1000, 1000))
    os.utime(mnt.root / "f")  # like `touch`
    assert os.stat(host / "f").st_mtime > 1000000


def test_utime_of_a_symlink_itself_touches_the_link(mnt, host):
    """`touch -h` through the mount sets the times of the host link, and
    leaves those of its target alone."""
    write(host / "target", b"t")
    os.symlink("target", host / "link")
    os.utime(host / "target", (1000, 1000))
    os.utime(host / "link", (2000, 2000), follow_symlinks=False)
    os.utime(mnt.root / "link", (3000, 4000), follow_symlinks=False)
    assert os.lstat(host / "link").st_mtime == 4000
    assert os.stat(host / "target").st_mtime == 1000
    # And without -h, the target's.
    os.utime(mnt.root / "link", (5000, 6000))
    assert os.stat(host / "target").st_mtime == 6000
    assert os.lstat(host / "link").st_mtime == 4000


needs_clone = pytest.mark.skipif(
    os.geteuid() != 0, reason="reading a link with its atime left alone "
    "takes CAP_SYS_ADMIN (a read-only clone of its mount)")


@needs_clone
def test_reading_a_symlink_through_the_mount_leaves_its_host_atime(mnt, host):
    """lstat shows the length of the target, which the daemon reads: that
    read must not be an access of the host link (relatime updates an atime
    older than the ctime on every readlink)."""
    os.symlink("target", host / "link")
    os.utime(host / "link", ns=(1_000_000_000_000, 2_000_000_000_000),
             follow_symlinks=False)
    assert os.lstat(mnt.root / "link").st_size == len("target")
    assert os.readlink(mnt.root / "link") == "target"
    assert sorted(os.listdir(mnt.root)) == ["link"]
    assert os.lstat(host / "link").st_atime_ns == 1_000_000_000_000, \
        "reading the link through the mount changed its atime on the host"


@needs_clone
def test_touch_h_sets_both_times_of_a_symlink_under_passthrough(canonfs,
                                                                 host):
    """pjdfstest utimensat/05: the times `touch -h` gives a link are what
    lstat then shows, its atime included (the attribute reply after the
    change read the link, and that read set the atime to now)."""
    os.symlink("target", host / "link")
    m = canonfs(host, "mtime=passthrough")
    os.lstat(m.root / "link")
    subprocess.run(["touch", "-h", "-d", "@1000000000", str(m.root / "link")],
                   check=True)
    st = os.lstat(m.root / "link")
    assert (st.st_atime, st.st_mtime) == (1_000_000_000, 1_000_000_000), \
        (st.st_atime, st.st_mtime)
    assert os.lstat(host / "link").st_atime == 1_000_000_000


def test_fsync_succeeds(mnt, host):
    fd = os.open(mnt.root / "f", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"durable")
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    dfd = os.open(mnt.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    assert read(host / "f") == b"durable"


def test_chown_accepted_and_ignored(mnt, host):
    write(host / "f", b"o")
    before_host = os.stat(host / "f")
    before_view = os.stat(mnt.root / "f")
    os.chown(mnt.root / "f", 12345, 23456)
    after_host = os.stat(host / "f")
    after_view = os.stat(mnt.root / "f")
    assert (after_host.st_uid, after_host.st_gid) == (
        before_host.st_uid, before_host.st_gid), "chown must not reach the host"
    assert (after_view.st_uid, after_view.st_gid) == (
        before_view.st_uid, before_view.st_gid), "ownership is canonical"


def test_mknod_fifo_is_eperm(mnt, host):
    expect_errno(errno.EPERM, os.mkfifo, mnt.root / "pipe")
    assert not os.path.lexists(host / "pipe")


def test_mknod_regular_file_works(mnt, host):
    os.mknod(mnt.root / "plain", stat.S_IFREG | 0o644)
    assert (host / "plain").is_file()


# --- the synthetic root and mirror boundaries --------------------------------

@pytest.mark.parametrize("op", ["create", "mkdir", "symlink"])
def test_creating_in_synthetic_root_is_erofs(mnt, host, op):
    target = mnt.mnt / "new"
    actions = {
        "create": lambda: open(target, "wb").close(),
        "mkdir": lambda: os.mkdir(target),
        "symlink": lambda: os.symlink("src", target),
    }
    expect_errno(errno.EROFS, actions[op])
    assert sorted(os.listdir(mnt.mnt)) == DEFAULT_ROOT


def test_rename_across_mirrors_is_exdev(canonfs, host, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    write(host / "a", b"stays")
    m = canonfs(host, "mirror=other:%s" % other)
    expect_errno(errno.EXDEV, os.rename, m.root / "a", m.mnt / "other" / "a")
    expect_errno(errno.EXDEV, os.link, m.root / "a", m.mnt / "other" / "a")
    assert read(host / "a") == b"stays"
    assert os.listdir(other) == []


def test_writes_into_extra_mirror_land_in_its_host_dir(canonfs, host, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    m = canonfs(host, "mirror=other:%s" % other)
    write(m.mnt / "other" / "f", b"mirrored")
    assert read(other / "f") == b"mirrored"
    assert not (host / "f").exists()


# --- -o ro -------------------------------------------------------------------

def snapshot(root):
    """Everything a write could change on the host (atime excluded)."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames + ["."]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            entry = (st.st_mode, st.st_uid, st.st_gid, st.st_nlink,
                     st.st_size, st.st_mtime_ns)
            if stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(path),)
            elif stat.S_ISREG(st.st_mode):
                entry += (sha256(read(path)),)
            result[os.path.relpath(path, root)] = entry
    return result


def _open(path, flags):
    os.close(os.open(path, flags, 0o644))


RO_OPS = {
    "create": lambda r: _open(r / "new", os.O_WRONLY | os.O_CREAT),
    "open-wronly": lambda r: _open(r / "f", os.O_WRONLY),
    "open-rdwr": lambda r: _open(r / "f", os.O_RDWR),
    "open-append": lambda r: _open(r / "f", os.O_WRONLY | os.O_APPEND),
    "open-trunc": lambda r: _open(r / "f", os.O_WRONLY | os.O_TRUNC),
    "truncate": lambda r: os.truncate(r / "f", 1),
    "rename": lambda r: os.rename(r / "f", r / "h"),
    "rename-over": lambda r: os.rename(r / "f", r / "g"),
    "rename-dir": lambda r: os.rename(r / "d", r / "e"),
    "rename-noreplace": lambda r: renameat2(r / "f", r / "h", RENAME_NOREPLACE),
    "rename-exchange": lambda r: renameat2(r / "f", r / "g", RENAME_EXCHANGE),
    "unlink": lambda r: os.unlink(r / "f"),
    "mkdir": lambda r: os.mkdir(r / "newdir"),
    "rmdir": lambda r: os.rmdir(r / "d"),
    "symlink": lambda r: os.symlink("f", r / "l"),
    "link": lambda r: os.link(r / "f", r / "hard"),
    "chmod": lambda r: os.chmod(r / "f", 0o755),
    "utime": lambda r: os.utime(r / "f", (5, 5)),
    "chown": lambda r: os.chown(r / "f", 1, 1),
    "mkfifo": lambda r: os.mkfifo(r / "pipe"),
    "mknod-regular": lambda r: os.mknod(r / "node", stat.S_IFREG | 0o644),
}


@pytest.mark.parametrize("op", sorted(RO_OPS))
def test_read_only_mount_refuses_writes(canonfs, host, op):
    write(host / "f", b"original f")
    write(host / "g", b"original g")
    (host / "d").mkdir()
    before = snapshot(host)

    m = canonfs(host, "ro")
    assert read(m.root / "f") == b"original f", "reads must work with -o ro"
    expect_errno(errno.EROFS, RO_OPS[op], m.root)

    assert snapshot(host) == before, "-o ro changed the host tree"

