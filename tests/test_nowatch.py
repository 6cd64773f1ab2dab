"""-o nowatch: for host trees inotify cannot watch (network filesystems).
canonfs then keeps file handles (OPEN/OPENDIR round trips) and short cache
timeouts; the view, the writes and freshness must be as correct."""

import os
import time


def wait_for(predicate, timeout=1.5):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def test_nowatch_reads_writes_and_lists(tmp_path, canonfs):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for name in ("b", "a", "C"):
        (src / "d" / name).write_text(name * 3)
    m = canonfs(src, "nowatch")
    assert os.listdir(m.root / "d") == ["C", "a", "b"]
    assert (m.root / "d" / "a").read_text() == "aaa"

    path = m.root / "d" / "new"
    with open(path, "wb") as f:
        f.write(b"0123456789")
    with open(path, "ab") as f:
        f.write(b"tail")
    with open(path, "r+b") as f:
        f.truncate(4)
        f.seek(2)
        f.write(b"XY")
    assert (src / "d" / "new").read_bytes() == b"01XY"
    with open(path, "wb") as f:  # O_TRUNC
        f.write(b"z")
    assert (src / "d" / "new").read_bytes() == b"z"
    stats = m.counters()
    assert stats["watches"] == 0, "nowatch must not use inotify"
    assert stats["open"] > 0 and stats["release"] > 0, "handles are used"


def test_nowatch_host_changes_visible_within_a_second(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("one")
    m = canonfs(src, "nowatch")
    assert (m.root / "f").read_text() == "one"
    assert not (m.root / "g").exists()

    (src / "f").write_text("two")  # same size
    (src / "g").write_text("new")
    seen = wait_for(lambda: (m.root / "f").read_text() == "two"
                    and (m.root / "g").exists())
    assert seen is not None and seen < 1.2, "host edits not seen in time without inotify"


def test_directories_whose_watch_failed_fall_back_to_half_a_second(
        tmp_path, canonfs):
    """Out of inotify watches (max_user_watches), a directory goes without
    one. The kernel still keeps pages and listings until told, since the
    mount sends no OPEN: canonfs compares what no watch covers with the
    host twice a second and makes the kernel forget what changed, where it
    used to serve the old bytes (or the old page with NULs after it) and
    the old listing for good."""
    src = tmp_path / "src"
    for d in range(5):
        (src / ("d%d" % d)).mkdir(parents=True)
        (src / ("d%d" % d) / "same").write_text("aaaa\n")
        (src / ("d%d" % d) / "grows").write_text("aaaa\n")
    m = canonfs(src)
    limit = "/proc/sys/fs/inotify/max_user_watches"
    with open(limit) as f:
        saved = f.read()
    try:
        with open(limit, "w") as f:
            f.write("1\n")
        for d in range(5):
            for name in ("same", "grows"):
                assert (m.root / ("d%d" % d) / name).read_text() == "aaaa\n"
            assert sorted(os.listdir(m.root / ("d%d" % d))) == [
                "grows", "same"]
    finally:
        with open(limit, "w") as f:
            f.write(saved)
    assert m.counters()["watches-failed"] > 0, "every watch was added"
    for d in range(5):
        (src / ("d%d" % d) / "same").write_text("bbbb\n")
        (src / ("d%d" % d) / "grows").write_text("bbbbbbbbb\n")
        (src / ("d%d" % d) / "new").write_text("new\n")

    def fresh():
        return all(
            (m.root / ("d%d" % d) / "same").read_text() == "bbbb\n" and
            (m.root / ("d%d" % d) / "grows").read_text() == "bbbbbbbbb\n" and
            sorted(os.listdir(m.root / ("d%d" % d))) == [
                "grows", "new", "same"]
            for d in range(5))
    assert wait_for(fresh, timeout=3) is not None, (
        "still stale: %r" % [((m.root / ("d%d" % d) / "grows").read_bytes(),
                              sorted(os.listdir(m.root / ("d%d" % d))))
                             for d in range(5)])


def test_a_tree_on_fuse_is_not_watched_and_says_so(tmp_path, canonfs):
    """inotify never sees what changes under another FUSE daemon (sshfs,
    virtiofs, here another canonfs) or on a network file system: a tree
    there is served as under -o nowatch, with one warning, and a host
    edit behind the inner mount shows within a second."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("one")
    inner = canonfs(src, mnt=tmp_path / "inner")
    outer = canonfs(inner.root, mnt=tmp_path / "outer")
    try:  # the outer mount first, whatever happens: it holds the inner
        assert "is on FUSE" in outer.stderr(), outer.stderr()
        assert "nowatch" in outer.stderr(), outer.stderr()
        assert "is on FUSE" not in inner.stderr(), inner.stderr()
        assert (outer.root / "f").read_text() == "one"

        (src / "f").write_text("two")  # same size, on the host
        seen = wait_for(lambda: (outer.root / "f").read_text() == "two")
        assert seen is not None and seen < 1.2, \
            "a host edit under the inner mount was not seen in time"
    finally:
        assert outer.stop() == 0, outer.stderr()
