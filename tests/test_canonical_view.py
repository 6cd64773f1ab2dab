"""The canonical view: what a build sees inside MNT/src is a function of the
tree's names, contents, symlink targets and "is it executable" alone.

The headline test builds one tree twice on the host, differing in everything
the host leaks (mtimes, modes, owners, creation order, filesystem type, host
path, hard links), mounts each at the same mountpoint and checks that a full
recursive view and a `tar` archive of it are identical. The other tests pin
each rule of the contract (notes/CONTRACT.md, "Canonical view") separately so
that a failure names the rule that broke.
"""

import ctypes
import errno
import hashlib
import os
import random
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import CONTENT_EPOCH, DEFAULT_ROOT, content_time_ns

EPOCH = 1700000000

# Names whose byte order differs from a locale collation: bytewise
# "B" < "Z9" < "_x" < "a" < "b" < "ä" (0xc3 0xa4).
ORDER_NAMES = ["B", "a", "b", "_x", "Z9", "\u00e4"]

LARGE = random.Random(7).randbytes(300000)


# --------------------------------------------------------------------------
# helpers


def sha(data):
    return hashlib.sha256(data).hexdigest()


def _set_times(path, sec, nsec):
    ns = sec * 10**9 + nsec
    os.utime(path, ns=(ns, ns), follow_symlinks=False)


def build_tree(root, variant):
    """Create the headline tree at `root` (must not exist).

    variant "A": creation order as listed, modes 0600/0700/04755/0750 dir,
                 owner root, mtimes around 2009.
    variant "B": creation order reversed, modes 0664/0751/0755/0700 dir,
                 owner 4321:8765, mtimes around 2020 with ns.
    Both have one hard link (large2 of large).
    Both show the same canonical tree.
    """
    root = Path(root)
    a = variant == "A"
    # (relative path, kind, payload, host mode)
    entries = [
        ("dir", "dir", None, 0o750 if a else 0o700),
        ("dir/file", "file", b"hello canonical world\n", 0o600 if a else 0o664),
        ("dir/sub", "dir", None, 0o755 if a else 0o711),
        ("dir/sub/deep", "dir", None, 0o700 if a else 0o755),
        ("dir/sub/deep/leaf.txt", "file", b"leaf\n" * 100, 0o644 if a else 0o400),
        ("dir/sub/deep/up", "symlink", "../../file", None),
        ("B", "file", b"upper B\n", 0o600 if a else 0o644),
        ("a", "dir", None, 0o750 if a else 0o775),
        ("a/\u00e4", "file", b"umlaut\n", 0o640 if a else 0o600),
        ("a/B", "file", b"a/B\n", 0o644),
        ("a/b", "file", b"a/b\n", 0o644),
        ("a/abs_up", "symlink", str(root / "dir" / "file"), None),
        ("b", "file", b"lower b\n", 0o644 if a else 0o666),
        ("_x", "file", b"underscore\n", 0o600),
        ("Z9", "dir", None, 0o750 if a else 0o755),
        ("Z9/inner", "file", b"z\n", 0o644),
        ("\u00e4", "file", b"a umlaut at the top\n", 0o644),
        ("empty", "file", b"", 0o600 if a else 0o644),
        ("large", "file", LARGE, 0o644 if a else 0o664),
        ("run.sh", "file", b"#!/bin/sh\necho hi\n", 0o700 if a else 0o751),
        ("suid", "file", b"\x7fELF-ish\n", 0o4755 if a else 0o755),
        ("abs_link", "symlink", str(root / "dir" / "file"), None),
        ("messy", "symlink", "./dir//../dir/file", None),
        ("outside", "symlink", "/etc/hostname", None),
        ("dangling", "symlink", "nowhere/missing", None),
    ]
    # Both copies have "large2" as a hard link of "large": the names of a
    # hard-linked file are one inode (writes through one show through the
    # other), numbered after the name looked up first, in listing order.
    entries.append(("large2", "hardlink", "large", None))

    order = entries if a else list(reversed(entries))
    root.mkdir(parents=True)
    for rel, kind, payload, _ in order:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            p.mkdir(exist_ok=True)
        elif kind == "file":
            p.write_bytes(payload)
        elif kind == "symlink":
            os.symlink(payload, p)
        elif kind == "hardlink":
            if not (root / payload).exists():
                (root / payload).write_bytes(LARGE)
            os.link(root / payload, p)
    # Modes, owners, then times deepest first so that nothing touches a
    # directory's mtime afterwards.
    for rel, kind, _, mode in entries:
        p = root / rel
        if mode is not None:
            os.chmod(p, mode)
        if not a:
            os.lchown(p, 4321, 8765)
    if not a:
        os.lchown(root, 4321, 8765)
    os.chmod(root, 0o750 if a else 0o700)
    for i, (rel, _, _, _) in enumerate(sorted(entries, key=lambda e: -e[0].count("/"))):
        if a:
            _set_times(root / rel, 1111111111 + i, 0)
        else:
            _set_times(root / rel, 1600000000 + 7 * i, 123456789)
    _set_times(root, 1234567890 if a else 1650000000, 0 if a else 999)
    return root


HEADLINE_PATHS = {
    "dir", "dir/file", "dir/sub", "dir/sub/deep", "dir/sub/deep/leaf.txt",
    "dir/sub/deep/up", "B", "a", "a/\u00e4", "a/B", "a/b", "a/abs_up", "b",
    "_x", "Z9", "Z9/inner", "\u00e4", "empty", "large", "large2", "run.sh",
    "suid", "abs_link", "messy", "outside", "dangling",
}


def lstat_fields(path):
    st = os.lstat(path)
    return {
        "st_mode": oct(st.st_mode), "st_ino": st.st_ino,
        "st_nlink": st.st_nlink, "st_uid": st.st_uid, "st_gid": st.st_gid,
        "st_size": st.st_size, "st_blocks": st.st_blocks,
        "st_atime_ns": st.st_atime_ns, "st_mtime_ns": st.st_mtime_ns,
        "st_ctime_ns": st.st_ctime_ns,
    }


def full_view(top):
    """Recursive walk in readdir order (os.listdir order, never sorted here).

    Returns a list of (relative path, lstat fields, readlink target or None,
    sha256 of the content for regular files or None)."""
    top = Path(top)
    view = []

    def entry(path, rel):
        fields = lstat_fields(path)
        mode = os.lstat(path).st_mode
        target = os.readlink(path) if stat.S_ISLNK(mode) else None
        digest = sha(Path(path).read_bytes()) if stat.S_ISREG(mode) else None
        view.append((rel, fields, target, digest))
        return mode

    def walk(dirpath, rel):
        for name in os.listdir(dirpath):
            child_rel = name if rel == "" else rel + "/" + name
            mode = entry(dirpath / name, child_rel)
            if stat.S_ISDIR(mode):
                walk(dirpath / name, child_rel)

    entry(top, "")
    walk(top, "")
    return view


def view_diff(va, vb):
    """Human-readable description of the first differences of two views."""
    lines = []
    if [e[0] for e in va] != [e[0] for e in vb]:
        lines.append("walk order differs:\n  A: %r\n  B: %r"
                     % ([e[0] for e in va], [e[0] for e in vb]))
    db = {e[0]: e for e in vb}
    for rel, fields, target, digest in va:
        other = db.get(rel)
        if other is None:
            lines.append("%r only in A" % rel)
            continue
        for k, v in fields.items():
            if other[1][k] != v:
                lines.append("%r %s: A=%r B=%r" % (rel, k, v, other[1][k]))
        if other[2] != target:
            lines.append("%r readlink: A=%r B=%r" % (rel, target, other[2]))
        if other[3] != digest:
            lines.append("%r content differs" % rel)
    for rel in db.keys() - {e[0] for e in va}:
        lines.append("%r only in B" % rel)
    return "\n".join(lines[:60])


def first_difference(x, y):
    for i, (p, q) in enumerate(zip(x, y)):
        if p != q:
            return i
    return min(len(x), len(y))


def walk_paths(top):
    """All paths below top (top included), following no symlinks."""
    top = Path(top)
    out = [top]
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            out.append(Path(dirpath) / n)
    return out


def tar_of(directory):
    """A fixed tar invocation, no --sort: the archive follows readdir order."""
    proc = subprocess.run(["tar", "--format=gnu", "-cf", "-", "."],
                          cwd=str(directory), capture_output=True,
                          env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                               "TZ": "UTC"})
    assert proc.returncode == 0, "tar failed in %s: %s" % (
        directory, proc.stderr.decode(errors="replace"))
    return proc.stdout


# ctypes access to opendir/readdir/telldir/seekdir -------------------------

class Dirent(ctypes.Structure):
    # glibc struct dirent on 64-bit Linux (x86_64, aarch64): the same layout.
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.opendir.argtypes = [ctypes.c_char_p]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.argtypes = [ctypes.c_void_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.telldir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.seekdir.restype = None
libc.rewinddir.argtypes = [ctypes.c_void_p]
libc.rewinddir.restype = None
libc.closedir.argtypes = [ctypes.c_void_p]
libc.closedir.restype = ctypes.c_int

DT_DIR, DT_REG, DT_LNK = 4, 8, 10


class CDir:
    def __init__(self, path):
        self.d = libc.opendir(os.fsencode(str(path)))
        if not self.d:
            e = ctypes.get_errno()
            raise OSError(e, "opendir: " + os.strerror(e), str(path))

    def next(self):
        """(name bytes, d_type) or None at the end."""
        ctypes.set_errno(0)
        ent = libc.readdir(self.d)
        if not ent:
            e = ctypes.get_errno()
            if e:
                raise OSError(e, "readdir: " + os.strerror(e))
            return None
        return ent.contents.d_name, ent.contents.d_type

    def read(self, n):
        out = []
        for _ in range(n):
            ent = self.next()
            if ent is None:
                break
            out.append(ent[0])
        return out

    def read_all(self):
        return self.read(10**9)

    def tell(self):
        return libc.telldir(self.d)

    def seek(self, pos):
        libc.seekdir(self.d, pos)

    def close(self):
        if self.d:
            libc.closedir(self.d)
            self.d = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_listing(path):
    """Every name readdir(3) returns, "." and ".." included, in order."""
    with CDir(path) as d:
        return d.read_all()


def make_big_dir(path, n=2000, seed=1234):
    """n files created in a shuffled order; names of varied length."""
    path.mkdir(parents=True)
    names = ["f%04d" % i + ("_" + "x" * (i % 37) if i % 3 == 0 else "")
             for i in range(n)]
    random.Random(seed).shuffle(names)
    for name in names:
        (path / name).write_bytes(b"")
    return sorted(os.fsencode(n) for n in names)


def expect_errno(expected, func, *args, what=""):
    with pytest.raises(OSError) as info:
        func(*args)
    assert info.value.errno in expected, "%s: expected %s, got %s" % (
        what or func.__name__, "/".join(errno.errorcode[e] for e in expected),
        errno.errorcode.get(info.value.errno, info.value.errno))


# --------------------------------------------------------------------------
# 1. the headline comparison


def test_two_host_copies_look_identical(canonfs, tmp_path, tmpfs_dir):
    copy_a = build_tree(tmp_path / "hostA" / "checkout", "A")          # ext4
    copy_b = build_tree(tmpfs_dir / "elsewhere" / "deeper" / "tree", "B")  # tmpfs

    # Preconditions: the host copies really do differ in what leaks.
    host_a, host_b = os.lstat(copy_a / "dir" / "file"), os.lstat(copy_b / "dir" / "file")
    assert host_a.st_mtime_ns != host_b.st_mtime_ns
    assert stat.S_IMODE(host_a.st_mode) != stat.S_IMODE(host_b.st_mode)
    assert os.lstat(copy_a / "large").st_nlink == 2
    assert os.readlink(copy_a / "abs_link") != os.readlink(copy_b / "abs_link")
    assert os.listdir(copy_a) != os.listdir(copy_b), \
        "precondition: host readdir orders of the two copies should differ"

    mnt = tmp_path / "mnt"
    views, tars = [], []
    for copy in (copy_a, copy_b):
        m = canonfs(copy, mnt=mnt)
        view = full_view(m.root)
        views.append(view)
        tars.append(tar_of(m.root))
        # Also the mount root, which must not depend on the host either.
        views[-1] = [("<MNT>", lstat_fields(m.mnt), None, None)] + view
        assert m.stop() == 0

    va, vb = views
    seen = {e[0] for e in va}
    assert seen == HEADLINE_PATHS | {"", "<MNT>"}, \
        "the view of copy A does not list exactly the tree: missing %r, extra %r" % (
            sorted(HEADLINE_PATHS | {"", "<MNT>"} - seen),
            sorted(seen - HEADLINE_PATHS - {"", "<MNT>"}))
    assert va == vb, "the two host copies look different through canonfs:\n" + view_diff(va, vb)

    assert len(tars[0]) > len(LARGE), "tar output suspiciously small"
    assert tars[0] == tars[1], (
        "`tar cf - .` inside MNT/src differs between the two host copies "
        "(sizes %d and %d, first difference at byte %d)"
        % (len(tars[0]), len(tars[1]), first_difference(tars[0], tars[1])))


# --------------------------------------------------------------------------
# 2. one test per canonical rule


def small_tree(root):
    """A small tree with a file, an executable, a dir and a symlink."""
    root.mkdir(parents=True)
    (root / "file").write_bytes(b"data\n")
    (root / "exe").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "exe", 0o700)
    (root / "d").mkdir()
    (root / "d" / "inner").write_bytes(b"inner\n")
    os.symlink("file", root / "link")
    for p in walk_paths(root):
        _set_times(p, 1500000000, 250000000)
    return root


def test_timestamps_are_zero_under_mtime_zero(canonfs, tmp_path):
    src = small_tree(tmp_path / "src")
    m = canonfs(src, "mtime=zero")
    (m.root / "file").read_bytes()          # an access must not show up either
    for p in [m.mnt] + walk_paths(m.root):
        st = os.lstat(p)
        for field in ("st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            assert getattr(st, field) == 0, "%s of %s is %d, expected 0 (mtime=zero)" % (
                field, p, getattr(st, field))


def test_mtime_fixed_epoch(canonfs, tmp_path):
    src = small_tree(tmp_path / "src")
    m = canonfs(src, "mtime=%d" % EPOCH)
    for p in [m.mnt] + walk_paths(m.root):
        st = os.lstat(p)
        for field in ("st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            assert getattr(st, field) == EPOCH * 10**9, \
                "%s of %s is %d, expected %d with -o mtime=%d" % (
                    field, p, getattr(st, field), EPOCH * 10**9, EPOCH)


def test_mtime_passthrough_shows_host_times(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    f = src / "file"
    f.write_bytes(b"x" * 10)
    (src / "d").mkdir()
    os.symlink("file", src / "link")
    # atime in the future (2100), later than mtime and ctime: relatime never
    # rewrites it behind our back, even if the daemon reads the host entry.
    for rel, mt in (("file", 1500000000123456789), ("d", 1400000000000000001),
                    ("link", 1300000000987654321)):
        os.utime(src / rel, ns=(4102444800500000000, mt), follow_symlinks=False)
    m = canonfs(src, "mtime=passthrough")
    for rel in ("file", "d", "link"):
        seen = os.lstat(m.root / rel)
        host = os.lstat(src / rel)
        assert seen.st_mtime_ns == host.st_mtime_ns, \
            "mtime=passthrough: %s mtime %d, host has %d" % (rel, seen.st_mtime_ns, host.st_mtime_ns)
        assert seen.st_atime_ns == host.st_atime_ns, \
            "mtime=passthrough: %s atime %d, host has %d" % (rel, seen.st_atime_ns, host.st_atime_ns)
        assert seen.st_ctime_ns == host.st_ctime_ns, \
            "mtime=passthrough: %s ctime %d, host has %d" % (rel, seen.st_ctime_ns, host.st_ctime_ns)


def test_permissions_are_normalized(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = {  # host mode -> expected st_mode
        "m0600": (0o600, 0o100644), "m0700": (0o700, 0o100755),
        "m4755": (0o4755, 0o100755), "m2711": (0o2711, 0o100755),
        "m0444": (0o444, 0o100644), "m0640": (0o640, 0o100644),
        "m0001": (0o001, 0o100755), "m0100": (0o100, 0o100755),
        "m0000": (0o000, 0o100644), "m6777": (0o6777, 0o100755),
    }
    for name, (mode, _) in files.items():
        (src / name).write_bytes(b"x")
        os.chmod(src / name, mode)
    dirs = {"d0750": 0o750, "d0700": 0o700, "d1777": 0o1777, "d2775": 0o2775, "d0555": 0o555}
    for name, mode in dirs.items():
        (src / name).mkdir()
        os.chmod(src / name, mode)
    os.symlink("m0600", src / "link")
    os.chmod(src, 0o700)

    m = canonfs(src)
    for name, (mode, expected) in files.items():
        got = os.lstat(m.root / name).st_mode
        assert got == expected, "host file mode %04o shows as %o, expected %o" % (mode, got, expected)
    for name, mode in dirs.items():
        got = os.lstat(m.root / name).st_mode
        assert got == 0o40755, "host dir mode %04o shows as %o, expected 40755" % (mode, got)
    got = os.lstat(m.root / "link").st_mode
    assert got == 0o120777, "symlink shows as %o, expected 120777" % got
    assert os.lstat(m.root).st_mode == 0o40755, "MNT/src (host 0700) must show 40755"
    assert os.lstat(m.mnt).st_mode == 0o40755, "the mount root must show 40755"


def test_owner_defaults_to_mounting_user(canonfs, tmp_path):
    src = small_tree(tmp_path / "src")
    for p in walk_paths(src):
        os.lchown(p, 4321, 8765)    # host owner differs from ours
    m = canonfs(src)
    want = (os.getuid(), os.getgid())
    for p in [m.mnt] + walk_paths(m.root):
        st = os.lstat(p)
        assert (st.st_uid, st.st_gid) == want, \
            "%s owned by %d:%d, expected the mounting user's %d:%d" % (
                p, st.st_uid, st.st_gid, *want)


def test_owner_options(canonfs, tmp_path):
    src = small_tree(tmp_path / "src")
    os.lchown(src / "file", 99, 98)
    m = canonfs(src, "uid=1234,gid=5678")
    for p in [m.mnt] + walk_paths(m.root):
        st = os.lstat(p)
        assert (st.st_uid, st.st_gid) == (1234, 5678), \
            "%s owned by %d:%d, expected 1234:5678 from -o uid=1234,gid=5678" % (
                p, st.st_uid, st.st_gid)


def test_link_count_is_one(canonfs, tmp_path):
    src = tmp_path / "src"
    (src / "d" / "s1").mkdir(parents=True)
    (src / "d" / "s2").mkdir()
    (src / "f").write_bytes(b"hard")
    os.link(src / "f", src / "g")
    os.symlink("f", src / "l")
    assert os.lstat(src / "f").st_nlink == 2 and os.lstat(src / "d").st_nlink == 4
    m = canonfs(src)
    for p in [m.mnt, m.root] + walk_paths(m.root)[1:]:
        assert os.lstat(p).st_nlink == 1, "%s has st_nlink %d, expected 1" % (
            p, os.lstat(p).st_nlink)
    # The names of a hard-linked file are one inode, numbered after the
    # name looked up first: two would cache two copies of its pages.
    assert os.lstat(m.root / "f").st_ino == os.lstat(m.root / "g").st_ino, \
        "the two names of a host hard link must be one inode"
    assert (m.root / "g").read_bytes() == b"hard"


def test_sizes_and_blocks(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    sizes = {"s0": 0, "s1": 1, "s4096": 4096, "s4097": 4097, "s100000": 100000}
    for name, n in sizes.items():
        (src / name).write_bytes(b"y" * n)
    with open(src / "sparse", "wb") as fh:   # 1 MiB hole: few host blocks
        fh.truncate(1 << 20)
    sizes["sparse"] = 1 << 20
    big = src / "bigdir"
    big.mkdir()
    for i in range(300):   # ext4 grows the directory beyond 4096 bytes
        (big / ("entry-with-a-long-name-%04d" % i)).write_bytes(b"")
    os.symlink("s4097", src / "link")
    os.symlink("/a/much/longer/absolute/target/outside", src / "longlink")
    m = canonfs(src)
    for name, n in sizes.items():
        st = os.lstat(m.root / name)
        assert st.st_size == n, "%s: st_size %d, host size %d" % (name, st.st_size, n)
        want_blocks = (n + 4095) // 4096 * 8
        assert st.st_blocks == want_blocks, "%s (size %d): st_blocks %d, expected ceil(size/4096)*8 = %d" % (
            name, n, st.st_blocks, want_blocks)
        assert st.st_blksize == 4096, "%s: st_blksize %d, expected 4096" % (name, st.st_blksize)
    for p in (m.mnt, m.root, m.root / "bigdir"):
        st = os.lstat(p)
        assert st.st_size == 0, "directory %s: st_size %d, expected 0" % (p, st.st_size)
        assert st.st_blocks == 0, "directory %s: st_blocks %d, expected 0" % (p, st.st_blocks)
    for name in ("link", "longlink"):
        st = os.lstat(m.root / name)
        target = os.fsencode(os.readlink(m.root / name))
        assert st.st_size == len(target), "symlink %s: st_size %d but readlink gives %d bytes" % (
            name, st.st_size, len(target))
        assert st.st_blocks == 0, "symlink %s: st_blocks %d, expected 0" % (name, st.st_blocks)


def test_inode_numbers_from_virtual_path(canonfs, tmp_path, tmpfs_dir):
    copy_a = build_tree(tmp_path / "hostA", "A")
    copy_b = build_tree(tmpfs_dir / "b" / "tree", "B")
    for copy in (copy_a, copy_b):
        (copy / "many").mkdir()
        for i in range(500):
            (copy / "many" / ("n%d" % i)).write_bytes(b"")
    # Both mounted at once, at different mountpoints.
    ma = canonfs(copy_a, mnt=tmp_path / "mA")
    mb = canonfs(copy_b, mnt=tmp_path / "deeper" / "mB")

    def inos(m):
        out = {"<MNT>": os.lstat(m.mnt).st_ino}
        for p in walk_paths(m.root):
            out[str(p.relative_to(m.root))] = os.lstat(p).st_ino
        return out

    ia, ib = inos(ma), inos(mb)
    assert ia.keys() == ib.keys()
    differing = {k: (ia[k], ib[k]) for k in ia if ia[k] != ib[k]}
    assert not differing, "same virtual path, different st_ino across mounts: %r" % (
        dict(list(differing.items())[:10]))
    by_ino = {}
    for k, v in ia.items():
        by_ino.setdefault(v, []).append(k)
    dups = {v: ks for v, ks in by_ino.items() if len(ks) > 1}
    # Only the names of the one hard-linked file may share a number.
    assert list(dups.values()) in ([], [["large", "large2"]]), \
        "different virtual paths share an inode number: %r" % dups
    # Stable within a mount, too.
    assert os.lstat(ma.root / "dir" / "file").st_ino == ia["dir/file"]


ORDER_TEST_NAMES = ORDER_NAMES + [
    "A", "\u00c4", "a.b", "a-b", "a_b", "aa", "ab", "~", "0", "10", "9",
    ".hidden", "..x", "a b", "\u00e9t\u00e9", "Zz", "z",
]


def test_readdir_is_bytewise_sorted_with_dot_entries(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    sub = src / "sub"
    sub.mkdir()
    names = list(ORDER_TEST_NAMES)
    random.Random(5).shuffle(names)
    for d in (src, sub):
        for n in names:
            (d / n).write_bytes(b"")
        names.reverse()
    (src / "zdir").mkdir()
    expected_src = sorted(os.fsencode(n) for n in ORDER_TEST_NAMES + ["sub", "zdir"])
    expected_sub = sorted(os.fsencode(n) for n in ORDER_TEST_NAMES)
    assert os.listdir(os.fsencode(src)) != expected_src, "precondition: host order unsorted"

    m = canonfs(src)
    for d, expected in ((m.root, expected_src), (m.root / "sub", expected_sub)):
        got = os.listdir(os.fsencode(d))
        assert got == expected, "os.listdir(%s) not in byte order:\n got %r\nwant %r" % (
            d, got, expected)
        raw = raw_listing(d)
        assert raw[:2] == [b".", b".."], "readdir(3) of %s must start with . and .., got %r" % (
            d, raw[:4])
        assert raw[2:] == expected, "readdir(3) of %s after . and ..:\n got %r\nwant %r" % (
            d, raw[2:], expected)
        ls = subprocess.run(["ls", "-a", "-f", str(d)], capture_output=True,
                            env={"LC_ALL": "C"}, check=True).stdout.split(b"\n")[:-1]
        assert ls == [b".", b".."] + expected, "`ls -af %s` gives %r" % (d, ls)
    # The listing is the host's names in full, byte-identical (ä stays UTF-8).
    assert "\u00e4" in os.listdir(m.root)


def test_empty_directory_lists_only_dots(canonfs, tmp_path):
    src = tmp_path / "src"
    (src / "empty").mkdir(parents=True)
    m = canonfs(src)
    assert os.listdir(m.root / "empty") == []
    assert raw_listing(m.root / "empty") == [b".", b".."], \
        "readdir(3) of an empty directory: %r" % raw_listing(m.root / "empty")
    assert os.listdir(m.root) == ["empty"]


def test_readdir_types(canonfs, tmp_path):
    src = small_tree(tmp_path / "src")
    m = canonfs(src)
    with CDir(m.root) as d:
        types = {}
        while (ent := d.next()) is not None:
            types[ent[0]] = ent[1]
    want = {b"file": DT_REG, b"exe": DT_REG, b"d": DT_DIR, b"link": DT_LNK}
    for name, t in want.items():
        # DT_UNKNOWN (0) is legal; a wrong type is not.
        assert types.get(name) in (t, 0), "d_type of %r is %r, expected %d" % (name, types.get(name), t)


def test_big_directory_lists_completely(canonfs, tmp_path):
    src = tmp_path / "src"
    expected = make_big_dir(src / "big", 2000)
    m = canonfs(src)
    got = os.listdir(os.fsencode(m.root / "big"))
    assert len(got) == len(set(got)), "duplicate names in a 2000-entry listing: %r" % (
        sorted({n for n in got if got.count(n) > 1})[:10])
    assert len(got) == 2000, "2000-entry directory lists %d names; missing e.g. %r" % (
        len(got), sorted(set(expected) - set(got))[:10])
    assert got == expected, "2000-entry listing not in byte order"
    raw = raw_listing(m.root / "big")
    assert raw == [b".", b".."] + expected, "readdir(3) listing of 2000 entries is wrong (%d names)" % len(raw)
    ls = subprocess.run(["ls", "-1", "-f", "-a", str(m.root / "big")],
                        capture_output=True, check=True).stdout.split(b"\n")[:-1]
    assert ls == [b".", b".."] + expected, "`ls -1fa` of the 2000-entry directory is wrong"


def test_special_files_are_hidden(canonfs, tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "regular").write_bytes(b"r")
    cwd = os.getcwd()
    for d in (src, src / "sub"):
        os.mknod(d / "chardev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        os.mknod(d / "blockdev", stat.S_IFBLK | 0o600, os.makedev(7, 0))
        os.mkfifo(d / "fifo")
        monkeypatch.chdir(d)            # short relative path for bind()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind("sock")
        finally:
            s.close()
    monkeypatch.chdir(cwd)       # CANONFS_BIN may be a relative path
    assert stat.S_ISSOCK(os.lstat(src / "sock").st_mode)

    m = canonfs(src)
    assert sorted(os.listdir(m.root)) == ["regular", "sub"], \
        "device nodes, FIFOs and sockets must not be listed: %r" % os.listdir(m.root)
    assert os.listdir(m.root / "sub") == [], \
        "special files in a subdirectory must not be listed: %r" % os.listdir(m.root / "sub")
    assert raw_listing(m.root / "sub") == [b".", b".."]
    for d in (m.root, m.root / "sub"):
        for name in ("chardev", "blockdev", "fifo", "sock"):
            expect_errno((errno.ENOENT,), os.lstat, d / name,
                         what="lstat of hidden %s" % (d / name))
            expect_errno((errno.ENOENT,), os.open, d / name, os.O_RDONLY | os.O_NONBLOCK,
                         what="open of hidden %s" % (d / name))


def test_xattrs_hidden_by_default(canonfs, tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "f").write_bytes(b"x")
    for p in (src / "f", src / "d"):
        os.setxattr(p, "user.test", b"secret")
    m = canonfs(src)
    for p in (m.root / "f", m.root / "d"):
        # Hidden means nothing leaks: an empty list (the contract's wording)
        # or "not supported", as on a filesystem without xattrs (what the
        # kernel reports once the daemon answers ENOSYS).
        try:
            names = os.listxattr(p)
        except OSError as e:
            assert e.errno == errno.ENOTSUP, "listxattr(%s) fails with %s, expected [] or ENOTSUP" % (
                p, errno.errorcode.get(e.errno, e.errno))
            names = []
        assert names == [], "listxattr(%s) leaks %r" % (p, names)
        expect_errno((errno.ENODATA, errno.ENOTSUP), os.getxattr, p, "user.test",
                     what="getxattr(%s, user.test)" % p)


def test_xattr_option_passes_them_through(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    os.setxattr(src / "f", "user.test", b"secret")
    m = canonfs(src, "xattr")
    assert "user.test" in os.listxattr(m.root / "f"), \
        "with -o xattr, listxattr must show user.test: %r" % os.listxattr(m.root / "f")
    assert os.getxattr(m.root / "f", "user.test") == b"secret"
    os.setxattr(m.root / "f", "user.more", b"written")
    assert os.getxattr(src / "f", "user.more") == b"written"
    os.removexattr(m.root / "f", "user.more")
    assert "user.more" not in os.listxattr(src / "f")


def test_xattr_writes_refused_where_writes_are(canonfs, tmp_path):
    """System headers (MNT/sys) are read-only, and so is a -o ro mount:
    extended attributes there are not written either."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "h.h").write_bytes(b"int x;\n")
    os.setxattr(inc / "h.h", "user.keep", b"1")
    m = canonfs(src, "xattr", "sys=mine:%s" % inc)
    header = m.mnt / "sys" / "mine" / "h.h"
    assert os.getxattr(header, "user.keep") == b"1"
    expect_errno((errno.EROFS,), os.setxattr, header, "user.new", b"2",
                 what="setxattr on a system header")
    expect_errno((errno.EROFS,), os.removexattr, header, "user.keep",
                 what="removexattr on a system header")
    assert os.listxattr(inc / "h.h") == ["user.keep"]
    ro = canonfs(src, "xattr", "ro")
    expect_errno((errno.EROFS,), os.setxattr, ro.root / "f", "user.new",
                 b"2", what="setxattr on a read-only mount")
    assert "user.new" not in os.listxattr(src / "f")


def test_symlink_targets(canonfs, tmp_path):
    src = tmp_path / "src"
    (src / "dir" / "deep").mkdir(parents=True)
    (src / "a").mkdir()
    (src / "dir" / "file").write_bytes(b"target content\n")
    mirror = tmp_path / "mirrorhost"
    mirror.mkdir()
    (mirror / "m1").write_bytes(b"mirrored\n")
    sibling = tmp_path / (src.name + "2")      # shares a string prefix with src
    sibling.mkdir()
    (sibling / "f").write_bytes(b"sibling\n")
    links = {  # name: (host target, expected readlink inside the mount)
        "abs_top": (str(src / "dir" / "file"), "dir/file"),
        "a/abs_up": (str(src / "dir" / "file"), "../dir/file"),
        "dir/deep/abs_same": (str(src / "dir" / "file"), "../file"),
        "abs_dir": (str(src / "dir"), "dir"),
        # "." and repeated slashes go; ".." stays: what it undoes may be
        # a symlink (below), and taking it away would lead elsewhere.
        "messy": ("./dir//../dir/file", "dir/../dir/file"),
        "a/messy_up": ("../a/./../dir/./file", "../a/../dir/file"),
        "a/through_link": ("sl/../file", "sl/../file"),
        "a/leading_dots": ("../../x/./y//z/", "../../x/y/z/"),
        # A trailing slash asks for a directory ("file/" fails): it stays.
        "trailing": ("dir/", "dir/"),
        "file_as_dir": ("dir/file/", "dir/file/"),
        "outside": ("/etc/hostname", "/etc/hostname"),
        "outside_messy": ("/etc//hostname", "/etc//hostname"),
        "prefix_trap": (str(sibling / "f"), str(sibling / "f")),
        "dangling": ("nowhere/missing", "nowhere/missing"),
        "to_mirror": (str(mirror / "m1"), "../extra/one/m1"),
        # Absolute targets keep their ".." too: a/sl/.. is dir, not a.
        "a/abs_through_link": (str(src / "a" / "sl") + "/../file",
                               "sl/../file"),
        "abs_through_link_top": (str(src / "a" / "sl") + "/../file",
                                 "a/sl/../file"),
        # ... and their trailing slash.
        "abs_trailing": (str(src / "dir") + "/", "dir/"),
        "abs_file_as_dir": (str(src / "dir" / "file") + "/", "dir/file/"),
        # A name the kernel gives unlinked files is an ordinary name.
        "abs (deleted)": (str(src / "dir" / "file"), "dir/file"),
    }
    # a/sl leads to dir/deep, so a/sl/.. is dir: a/through_link is
    # dir/file on the host, and must stay so (lexically it would be
    # a/file, which does not exist).
    os.symlink("../dir/deep", src / "a" / "sl")
    for name, (target, _) in links.items():
        os.symlink(target, src / name)

    m = canonfs(src, "mirror=extra/one:%s" % mirror)
    for name, (target, want) in links.items():
        got = os.readlink(m.root / name)
        if name == "outside_messy":
            # "unchanged" for an outside absolute target; lexical cleaning
            # to /etc/hostname is also acceptable.
            assert got in (want, "/etc/hostname"), "%s -> %r shows as %r" % (name, target, got)
        else:
            assert got == want, "symlink %s -> %r shows as %r, expected %r" % (
                name, target, got, want)
        st = os.lstat(m.root / name)
        assert st.st_size == len(os.fsencode(got)), \
            "symlink %s: st_size %d != len(readlink) %d" % (name, st.st_size, len(os.fsencode(got)))
    # The rewritten links resolve inside the mount.
    for name in ("abs_top", "a/abs_up", "dir/deep/abs_same", "messy",
                 "a/messy_up", "a/through_link", "a/abs_through_link",
                 "abs_through_link_top", "abs (deleted)"):
        assert (m.root / name).read_bytes() == b"target content\n", \
            "following %s inside the mount does not reach dir/file" % name
    assert (m.root / "to_mirror").read_bytes() == b"mirrored\n"
    assert (m.root / "abs_dir").is_dir()
    assert not (m.root / "dangling").exists()
    for name in ("file_as_dir", "abs_file_as_dir"):
        with pytest.raises(NotADirectoryError):
            (m.root / name).read_bytes()  # as on the host
    # Where the host leads, the mount leads.
    for name in links:
        assert os.path.exists(src / name) == os.path.exists(m.root / name), name
        if (src / name).is_file():
            assert (src / name).read_bytes() == (m.root / name).read_bytes(), name


def test_names_like_the_kernels_deleted_suffix(canonfs, tmp_path):
    """The kernel's name of an unlinked file ends in " (deleted)"; a real
    name may too, and must not be taken for one: links in such a directory
    are rewritten and can be made through the mount."""
    src = tmp_path / "src"
    odd = src / "d (deleted)"
    odd.mkdir(parents=True)
    (src / "f").write_bytes(b"f\n")
    os.symlink(str(src / "f"), odd / "abs")
    m = canonfs(src)
    assert os.readlink(m.root / "d (deleted)" / "abs") == "../f"
    os.symlink("../f", m.root / "d (deleted)" / "made")
    assert os.readlink(odd / "made") == "../f"
    assert (m.root / "d (deleted)" / "made").read_bytes() == b"f\n"


def test_one_entry_that_cannot_be_shown_leaves_the_listing_whole(canonfs,
                                                                tmp_path):
    """An absolute link deep down whose relative form is longer than
    PATH_MAX cannot be shown: its own lstat fails, but the listing of its
    directory must still give every name."""
    src = tmp_path / "src"
    src.mkdir()
    deep = str(src) + "/d" * 1400
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1400):  # os.makedirs recurses once per component
        os.mkdir("d", dir_fd=fd)
        fd, old = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)
    (src / "top").write_bytes(b"top\n")
    Path(deep, "a_before").write_bytes(b"a\n")
    Path(deep, "z_after").write_bytes(b"z\n")
    os.symlink(str(src / "top"), deep + "/m_link")
    try:
        m = canonfs(src)
        inside = str(m.root) + "/d" * 1400
        fd = os.open(inside, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert sorted(os.listdir(fd)) == ["a_before", "m_link",
                                              "z_after"]
            with pytest.raises(OSError) as info:
                os.stat("m_link", dir_fd=fd, follow_symlinks=False)
            assert info.value.errno == errno.ENAMETOOLONG
            with open(os.open("z_after", os.O_RDONLY, dir_fd=fd),
                      "rb") as f:
                assert f.read() == b"z\n"
        finally:
            os.close(fd)
    finally:
        # pytest's own cleanup (shutil.rmtree) recurses per level.
        subprocess.run(["rm", "-rf", str(src / "d")], check=True)


def test_mount_root_is_synthetic(canonfs, tmp_path):
    src = small_tree(tmp_path / "src")
    m = canonfs(src)
    assert os.listdir(m.mnt) == DEFAULT_ROOT, "mount root lists %r, expected %r" % (
        os.listdir(m.mnt), DEFAULT_ROOT)
    assert raw_listing(m.mnt) == [b".", b".."] + [n.encode() for n in DEFAULT_ROOT]


def test_mirror_and_read_only_synthetic_dirs(canonfs, tmp_path):
    src = small_tree(tmp_path / "src")
    mirror = tmp_path / "mirrorhost"
    (mirror / "sub").mkdir(parents=True)
    (mirror / "m1").write_bytes(b"mirror one\n")
    os.chmod(mirror / "m1", 0o600)
    (mirror / "sub" / "m2").write_bytes(b"two\n")
    os.utime(mirror / "m1", (1234, 5678))

    m = canonfs(src, "mirror=extra/one:%s" % mirror)
    assert os.listdir(m.mnt) == sorted(DEFAULT_ROOT + ["extra"]), "mount root lists %r" % os.listdir(m.mnt)
    st = os.lstat(m.mnt / "extra")
    assert (st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns) == \
        (0o40755, 1, os.getuid(), os.getgid(), 0, CONTENT_EPOCH * 10**9), \
        "synthetic MNT/extra has mode %o nlink %d owner %d:%d size %d mtime %d" % (
            st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)
    assert os.listdir(m.mnt / "extra") == ["one"]
    one = m.mnt / "extra" / "one"
    assert os.listdir(one) == ["m1", "sub"]
    assert (one / "m1").read_bytes() == b"mirror one\n"
    assert (one / "sub" / "m2").read_bytes() == b"two\n"
    st = os.lstat(one / "m1")
    assert (st.st_mode, st.st_mtime_ns, st.st_nlink) == \
        (0o100644, content_time_ns(b"mirror one\n"), 1), \
        "mirrored files get the canonical view too: mode %o mtime %d" % (st.st_mode, st.st_mtime_ns)

    for d in (m.mnt, m.mnt / "extra"):
        expect_errno((errno.EROFS,), open, d / "newfile", "w",
                     what="creating a file in synthetic %s" % d)
        expect_errno((errno.EROFS,), os.mkdir, d / "newdir",
                     what="mkdir in synthetic %s" % d)
        expect_errno((errno.EROFS,), os.symlink, "src", d / "newlink",
                     what="symlink in synthetic %s" % d)
    assert os.listdir(m.mnt) == sorted(DEFAULT_ROOT + ["extra"])
    assert sorted(os.listdir(mirror)) == ["m1", "sub"]
    # The mirrors themselves are writable (default rw): EROFS above is about
    # the synthetic directories, not a read-only mount.
    (m.root / "written").write_bytes(b"ok")
    assert (src / "written").read_bytes() == b"ok"


def test_file_contents_byte_identical(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    blobs = {
        "empty": b"",
        "nul": b"\0" * 5000 + b"x" + b"\0" * 3,
        "random": random.Random(99).randbytes(3 * 1024 * 1024 + 17),
        "text": "h\u00e9llo w\u00f6rld\n".encode() * 1000,
    }
    for name, data in blobs.items():
        (src / name).write_bytes(data)
    m = canonfs(src)
    for name, data in blobs.items():
        got = (m.root / name).read_bytes()
        assert got == data, "content of %s differs (len %d vs host %d)" % (name, len(got), len(data))
    fd = os.open(m.root / "random", os.O_RDONLY)
    try:
        for off, n in ((0, 1), (4095, 2), (131071, 70000), (len(blobs["random"]) - 5, 100)):
            assert os.pread(fd, n, off) == blobs["random"][off:off + n], \
                "pread(%d, %d) differs from the host bytes" % (n, off)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# 3. telldir / seekdir


def test_telldir_seekdir_are_stable(canonfs, tmp_path):
    src = tmp_path / "src"
    expected = make_big_dir(src / "big", 1500, seed=42)
    m = canonfs(src)
    with CDir(m.root / "big") as d:
        first = d.read(752)             # ".", "..", 750 names
        pos = d.tell()
        after = d.read(100)
        rest = d.read_all()
        assert first + after + rest == [b".", b".."] + expected, \
            "a straight readdir(3) pass is not the sorted listing"
        d.seek(pos)
        again = d.read(100)
        assert again == after, "after seekdir(telldir()) the names differ:\n got %r\nwant %r" % (
            again[:5], after[:5])
        # Many positions, visited out of order.
        libc.rewinddir(d.d)
        positions = []
        for i in range(0, 1502, 97):
            positions.append((d.tell(), i))
            d.read(97)
        all_names = [b".", b".."] + expected
        random.Random(3).shuffle(positions)
        for p, i in positions:
            d.seek(p)
            got = d.read(5)
            assert got == all_names[i:i + 5], \
                "seekdir to the position before entry %d gives %r, expected %r" % (
                    i, got, all_names[i:i + 5])
        libc.rewinddir(d.d)
        assert d.read(3) == [b".", b"..", expected[0]], "rewinddir does not restart the listing"


def test_directory_offsets_valid_across_opens(canonfs, tmp_path):
    """Offsets are stable: one taken from one open works in another."""
    src = tmp_path / "src"
    expected = make_big_dir(src / "big", 800, seed=8)
    m = canonfs(src)
    with CDir(m.root / "big") as d1:
        d1.read(402)
        pos = d1.tell()
        after = d1.read(20)
    assert after == expected[400:420]
    with CDir(m.root / "big") as d2:
        d2.seek(pos)
        got = d2.read(20)
    assert got == after, "offset from one opendir gives %r in another, expected %r" % (
        got[:3], after[:3])
