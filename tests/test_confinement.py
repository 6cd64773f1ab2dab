"""Nothing outside the mirrored directories is reachable through the mount:
no "..", no symlink and no race on the host leads canonfs out of a mirror.

A symlink is shown to the kernel as a symlink, so a process that follows
one leaves the mount on its own (its st_dev says so); what must never
happen is canonfs itself serving a file from outside as a file of the tree.
"""

import os
import threading
import time

import pytest

from conftest import DEFAULT_ROOT


def mount_dev(m):
    return os.stat(m.mnt).st_dev


def make_tree(tmp_path):
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "hostname").write_text("not the host's\n")
    (src / "dir" / "inner").mkdir()
    return src


def test_dotdot_stays_inside_the_mount(tmp_path, canonfs):
    src = make_tree(tmp_path)
    (tmp_path / "secret").write_text("outside\n")
    m = canonfs(src)
    # ".." of the mirror root is the synthetic root, never the host parent.
    assert sorted(os.listdir(m.root / "..")) == DEFAULT_ROOT
    assert not os.path.exists(m.root / ".." / "secret")
    assert not os.path.exists(m.root / "dir" / ".." / ".." / "secret")
    assert os.path.realpath(m.root / ".." / "..") == os.path.realpath(m.mnt / "..")


def test_directory_swapped_for_symlink_to_etc(tmp_path, canonfs):
    src = make_tree(tmp_path)
    m = canonfs(src)
    dev = mount_dev(m)
    inner = m.root / "dir"
    assert (inner / "hostname").read_text() == "not the host's\n"

    # A process sits inside the directory while the host swaps it for a
    # symlink to /etc.
    dir_fd = os.open(inner, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.rename(src / "dir", src / "dir.old")
        os.symlink("/etc", src / "dir")
        time.sleep(0.2)

        # The held directory is still the old one: /etc is not behind it.
        with pytest.raises(FileNotFoundError):
            os.open("passwd", os.O_RDONLY, dir_fd=dir_fd)
        fd = os.open("hostname", os.O_RDONLY, dir_fd=dir_fd)
        try:
            assert os.read(fd, 100) == b"not the host's\n"
        finally:
            os.close(fd)

        # By name, the mount shows what the host has: a symlink that
        # leaves the mirror, reported as it is.
        st = os.lstat(inner)
        assert st.st_dev == dev
        assert os.path.islink(inner), "the swapped directory must be shown as a symlink"
        assert os.readlink(inner) == "/etc"
        # Following it leaves the mount: /etc is never served by canonfs.
        assert os.stat(inner / "passwd").st_dev != dev
    finally:
        os.close(dir_fd)


@pytest.mark.slow
def test_racing_swaps_never_serve_outside_files(tmp_path, canonfs):
    """While the host flips a directory and a symlink to /etc, every file
    canonfs serves (st_dev of the mount) has the tree's content."""
    src = make_tree(tmp_path)
    os.rename(src / "dir", src / "real")
    m = canonfs(src)
    dev = mount_dev(m)
    stop = threading.Event()

    def flip():
        while not stop.is_set():
            for target in ("real", "/etc"):
                tmp = src / "flip.tmp"
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
                os.symlink(target, tmp)
                os.rename(tmp, src / "dir")

    flipper = threading.Thread(target=flip)
    flipper.start()
    served = 0
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for name in ("hostname", "passwd"):
                path = m.root / "dir" / name
                try:
                    fd = os.open(path, os.O_RDONLY)
                except OSError:
                    continue
                try:
                    st = os.fstat(fd)
                    data = os.read(fd, 200)
                finally:
                    os.close(fd)
                if st.st_dev == dev:
                    served += 1
                    assert data == b"not the host's\n", \
                        "canonfs served %r from outside the tree" % data[:40]
    finally:
        stop.set()
        flipper.join()
    assert served > 0, "no read went through canonfs at all"
