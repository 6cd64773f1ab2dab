"""The hidden control directory MNT/.canonfs: request counters that explain
speed, and a barrier that scripts use between a host-side change (a git
checkout) and a build."""

import errno
import os
import resource
import sys

import pytest

from conftest import DEFAULT_ROOT


def test_control_directory_is_hidden_but_reachable(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src)
    assert os.listdir(m.mnt) == DEFAULT_ROOT, "the mount root must look the same everywhere"
    # In byte order, like every listing of the view.
    assert os.listdir(m.mnt / ".canonfs") == [
        "barrier", "bin", "env", "stats", "toolchain.cmake"]
    with open(m.mnt / ".canonfs" / "stats", "rb") as f:
        assert f.read(), "stats must not be empty"
    inos = {os.stat(m.mnt / ".canonfs" / "stats").st_ino for _ in range(3)}
    assert len(inos) == 1 and 0 not in inos, "control files keep one path-derived inode number"
    for name in ("stats", "barrier"):
        with pytest.raises(OSError) as refused:
            with open(m.mnt / ".canonfs" / name, "wb") as f:
                f.write(b"x")
        assert refused.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM), \
            "control file %s must be read-only" % name
    with pytest.raises(OSError):
        (m.mnt / ".canonfs" / "new").write_text("x")


def test_stats_count_requests(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / ("f%02d" % i)).write_bytes(b"x" * 100)
    m = canonfs(src)
    before = m.counters()
    names = sorted(os.listdir(m.root))
    for name in names:
        (m.root / name).read_bytes()
    (m.root / "new").write_bytes(b"y")
    after = m.counters()
    assert after["readdirplus"] > before["readdirplus"]
    assert after["read"] >= before["read"] + 20, "each first read reaches the daemon"
    assert after["create"] == before["create"] + 1
    assert after["write"] >= before["write"] + 1
    assert after["inodes"] >= 20, "the inode table holds what the kernel looked up"


def test_barrier_makes_host_changes_visible_at_once(tmp_path, canonfs):
    """After `cat MNT/.canonfs/barrier`, every host change made before it is
    visible through the mount, with no waiting and no polling."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    m = canonfs(src)
    barrier = m.mnt / ".canonfs" / "barrier"
    for i in range(60):
        # Same size each time: only invalidation can make it show.
        (src / "pkg" / "gen.go").write_text("package pkg // %04d\n" % i)
        (src / "pkg" / ("new%02d.go" % i)).write_text("x")
        if i:
            os.unlink(src / "pkg" / ("new%02d.go" % (i - 1)))
        assert barrier.read_text() == "applied\n"
        assert (m.root / "pkg" / "gen.go").read_text() == "package pkg // %04d\n" % i
        assert sorted(os.listdir(m.root / "pkg")) == ["gen.go", "new%02d.go" % i]
    assert m.counters()["inval_entry"] > 0


def dirs_of_files(tmp_path, ndirs, nfiles):
    """A tree of ndirs directories of nfiles small files each."""
    src = tmp_path / "src"
    for d in range(ndirs):
        (src / ("d%02d" % d)).mkdir(parents=True)
        for f in range(nfiles):
            (src / ("d%02d" % d) / ("f%03d" % f)).write_text(
                "%d/%d\n" % (d, f))
    return src


def ten_dirs_of_500_files(tmp_path):
    """A tree far larger than 2000 descriptors allow: 5000 small files."""
    return dirs_of_files(tmp_path, 10, 500)


def limit_to_2000_descriptors():
    """preexec_fn: the daemon's descriptor limit, soft and hard."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (2000, 2000))


@pytest.mark.parametrize("options", [(), ("nowatch",)])
def test_low_descriptor_limit_prunes_instead_of_failing(tmp_path, canonfs, options):
    """Every inode the kernel holds keeps a host descriptor. With a limit
    far below the tree's size, canonfs makes the kernel forget the least
    recently used files instead of failing with EMFILE."""
    import subprocess

    src = ten_dirs_of_500_files(tmp_path)
    m = canonfs(src, *options, preexec_fn=limit_to_2000_descriptors)
    walk = subprocess.run(["find", str(m.root), "-type", "f", "-printf", "%s %p\n"],
                          capture_output=True, text=True, timeout=120)
    assert walk.returncode == 0, "walking the tree failed: " + walk.stderr[-500:]
    assert len(walk.stdout.splitlines()) == 5000
    # Everything is still readable, in order, after the churn.
    for d in range(10):
        assert (m.root / ("d%02d" % d) / "f499").read_text() == "%d/499\n" % d
    stats = m.counters()
    assert stats["prune_runs"] > 0, "the table never filled up"
    assert stats["forget"] > 0, "the kernel never forgot a pruned file"


def test_a_pruned_hard_link_can_still_be_linked_through_its_other_name(
        tmp_path, canonfs):
    """The pruner has the kernel forget cached files. Told a name of a file
    with two names is deleted, the kernel takes its link count to 0 and
    refuses link(2) through the other name it still holds (ENOENT, without
    asking the daemon): such names are only forgotten."""
    import subprocess

    src = ten_dirs_of_500_files(tmp_path)
    os.link(src / "d00" / "f000", src / "d00" / "twin")
    m = canonfs(src, preexec_fn=limit_to_2000_descriptors)
    twin = m.root / "d00" / "twin"
    os.stat(m.root / "d00" / "f000")
    os.stat(twin)
    walk = subprocess.run(["find", str(m.root), "-type", "f"],
                          capture_output=True, text=True, timeout=120)
    assert walk.returncode == 0, walk.stderr[-500:]
    assert m.counters()["prune_runs"] > 0, "the table never filled up"
    os.link(twin, m.root / "d00" / "third")
    assert (m.root / "d00" / "third").read_text() == "0/0\n"


def daemon_descriptor_table(m):
    """(slots in the daemon's descriptor table, its soft descriptor limit)."""
    with open("/proc/%d/status" % m.proc.pid) as f:
        slots = int(f.read().split("FDSize:")[1].split()[0])
    with open("/proc/%d/limits" % m.proc.pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return slots, int(line.split()[3])
    raise AssertionError("no descriptor limit in /proc/PID/limits")


@pytest.mark.parametrize("limited", [False, True])
def test_descriptor_table_is_grown_before_the_first_walk(tmp_path, canonfs, limited):
    """Each inode the kernel holds keeps a descriptor, so a first walk
    grows the daemon's descriptor table many times over. Once threads
    share the table, every growth waits for an RCU grace period (several
    milliseconds): canonfs grows it up front, up to 65,536 slots or its
    limit, while it is still single-threaded."""
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src, preexec_fn=limit_to_2000_descriptors if limited else None)
    # The mount shows in /proc/self/mounts before the daemon's start-up is
    # over; the first request's answer comes after it, as a walk's would.
    os.stat(m.root)
    slots, limit = daemon_descriptor_table(m)
    assert slots >= min(65536, limit), \
        "the table has %d slots under a limit of %d" % (slots, limit)
    if limited:
        assert limit == 2000 and slots < 65536, "the limit must bound the growth"
    (src / "f").write_text("x")
    assert (m.root / "f").read_text() == "x"


@pytest.mark.slow
def test_concurrent_walks_under_a_low_descriptor_limit(tmp_path, canonfs):
    """Six walks at once of a tree of 5000 files need more inodes than a
    2000-descriptor limit allows. Requests that wait for room hold their
    directory's lock, which the pruner needs to make the kernel forget
    names there: neither may wait for the other, and no walk may see
    EMFILE. Walkers that stat every file and walkers that only read names
    (d_type) run together, with two CPU hogs as load. The directories are
    of 200 files, so that the ones being walked at once always fit in the
    limit: the pruner cannot make room inside a directory a request waits
    in (doc/descriptors.md says so)."""
    import subprocess

    src = dirs_of_files(tmp_path, 25, 200)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(2)]
    try:
        for _ in range(3):
            m = canonfs(src, preexec_fn=limit_to_2000_descriptors)
            walks = [subprocess.Popen(
                ["find", str(m.root), "-type", "f"] +
                (["-printf", "%s %p\n"] if i % 2 else []),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(6)]
            try:
                for w in walks:
                    out, err = w.communicate(timeout=120)
                    assert w.returncode == 0 and not err, err[-500:]
                    assert len(out.splitlines()) == 5000
            finally:
                for w in walks:  # a failed walk leaves the others busy
                    w.kill()
                    w.wait()
            m.stop()
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def test_one_directory_larger_than_the_descriptor_limit(tmp_path, canonfs):
    """`ls -l` of one directory of 6000 files under a 2000-descriptor
    limit: every name is listed and stat'ed. The pruner can only make room
    in that very directory, between the lookups."""
    import subprocess

    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(6000):
        (src / "d" / ("f%05d" % i)).write_bytes(b"x" * (i % 7))
    m = canonfs(src, preexec_fn=limit_to_2000_descriptors)
    for _ in range(2):
        out = subprocess.run(["ls", "-ln", str(m.root / "d")],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and not out.stderr, out.stderr[-500:]
        sizes = [int(line.split()[4]) for line in out.stdout.splitlines()[1:]]
        assert sizes == [i % 7 for i in range(6000)]
    assert m.counters()["prune_runs"] > 0


def test_creating_files_keeps_no_descriptor_behind(tmp_path, canonfs):
    """Created files must not pin a host descriptor each: once OPEN is
    answered ENOSYS, the kernel never sends RELEASE, not even for files it
    got from CREATE."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "seed").write_text("x")
    m = canonfs(src)
    (m.root / "seed").read_text()  # an OPEN: the kernel stops sending them

    def daemon_fds():
        return len(os.listdir("/proc/%d/fd" % m.proc.pid))

    before = daemon_fds()
    for i in range(300):
        with open(m.root / ("f%03d" % i), "wb") as f:
            f.write(b"y" * 100)
    for i in range(300):
        os.unlink(m.root / ("f%03d" % i))
    (m.mnt / ".canonfs" / "barrier").read_text()
    grown = daemon_fds() - before
    assert grown < 50, "the daemon kept %d descriptors for 300 created files" % grown
    assert sorted(os.listdir(src)) == ["seed"]


def test_own_writes_are_not_invalidated_host_writes_are(tmp_path, canonfs):
    """Entries created, renamed and removed through the mount are known to
    the kernel already: the watcher skips their events. The same changes
    made on the host are invalidated."""
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src)
    barrier = m.mnt / ".canonfs" / "barrier"
    before = m.counters()
    for i in range(100):
        (m.root / ("own%03d" % i)).write_text("x")
        os.rename(m.root / ("own%03d" % i), m.root / ("moved%03d" % i))
    for i in range(100):
        os.unlink(m.root / ("moved%03d" % i))
    barrier.read_text()
    own = m.counters()
    assert own["host_events"] - before["host_events"] >= 400
    assert own["inval_entry"] - before["inval_entry"] < 20, \
        "the daemon's own creates, renames and unlinks were invalidated again"

    assert not (m.root / "host000").exists()
    for i in range(20):
        (src / ("host%03d" % i)).write_text("y")
    barrier.read_text()
    assert m.counters()["inval_entry"] - own["inval_entry"] >= 20
    assert (m.root / "host000").read_text() == "y"


def test_host_chmod_refreshes_mode_and_keeps_cached_contents(tmp_path, canonfs):
    """An attribute change on the host (chmod, utimes) is seen at once, and
    the cached contents stay: a 4 MiB file is not read again."""
    data = os.urandom(4 << 20)
    src = tmp_path / "src"
    src.mkdir()
    (src / "tool").write_bytes(data)
    m = canonfs(src)
    before = m.counters()["read"]
    assert (m.root / "tool").read_bytes() == data
    first_pass = m.counters()["read"] - before
    assert os.stat(m.root / "tool").st_mode & 0o777 == 0o644

    os.chmod(src / "tool", 0o700)
    (m.mnt / ".canonfs" / "barrier").read_text()
    assert os.stat(m.root / "tool").st_mode & 0o777 == 0o755, "host chmod +x not seen"
    before = m.counters()["read"]
    assert (m.root / "tool").read_bytes() == data
    second_pass = m.counters()["read"] - before
    assert second_pass * 4 < first_pass, \
        "a mode change dropped the cached contents (%d reads, first %d)" % (
            second_pass, first_pass)


def test_own_attribute_changes_skip_invalidation_host_ones_do_not(tmp_path, canonfs):
    """utimes through the mount (go install touches every archive it keeps)
    is not invalidated again where times are constant; a host chmod right
    behind one of ours, whose inotify event can merge with ours, still
    shows. (Where host times are shown, every event counts.)"""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(50):
        (src / ("a%02d" % i)).write_text("x")
    m = canonfs(src, "mtime=zero")
    barrier = m.mnt / ".canonfs" / "barrier"
    for i in range(50):
        os.stat(m.root / ("a%02d" % i))
    before = m.counters()
    for i in range(50):
        os.utime(m.root / ("a%02d" % i), (1, 1))
    barrier.read_text()
    assert m.counters()["inval_inode"] - before["inval_inode"] < 25, \
        "the daemon's own utimes were invalidated again"
    assert os.stat(src / "a00").st_mtime == 1, "utime reached the host"

    for i in range(20):
        name = "a%02d" % i
        os.utime(m.root / name, (2, 2))
        os.chmod(src / name, 0o755)
    barrier.read_text()
    for i in range(20):
        assert os.stat(m.root / ("a%02d" % i)).st_mode & 0o777 == 0o755, \
            "a host chmod +x behind our own utime was lost"


def test_own_utimes_under_host_times_never_hide_a_host_change(tmp_path,
                                                              canonfs):
    """Where host times are shown (the default), our own utimes is skipped
    by the watcher only while the file keeps exactly the times it left: a
    host utime or chmod right behind it still shows."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / ("a%02d" % i)).write_text("x")
    m = canonfs(src)
    barrier = m.mnt / ".canonfs" / "barrier"
    for i in range(40):
        os.stat(m.root / ("a%02d" % i))
    for i in range(40):
        name = "a%02d" % i
        os.utime(m.root / name, (1000 + i, 2000 + i))
        if i % 2:
            os.utime(src / name, (5000 + i, 6000 + i))
        else:
            os.chmod(src / name, 0o755)
    barrier.read_text()
    for i in range(40):
        st = os.stat(m.root / ("a%02d" % i))
        if i % 2:
            assert st.st_mtime == 6000 + i, \
                "a host utime behind our own was lost"
        else:
            assert (st.st_mtime, st.st_mode & 0o777) == (2000 + i, 0o755), \
                "a host chmod behind our own utime was lost"
        assert st.st_ctime == os.stat(src / ("a%02d" % i)).st_ctime


def test_walked_tree_leaves_no_listing_and_forgotten_inodes_go(tmp_path,
                                                               canonfs):
    """Memory follows what the kernel holds: a finished listing pass keeps
    no snapshot of the directory's names, and when the kernel drops its
    cache (drop_caches, or memory pressure) it forgets the inodes and the
    daemon frees them."""
    import subprocess
    import time

    src = tmp_path / "src"
    for d in range(40):
        (src / ("d%02d" % d)).mkdir(parents=True)
        for f in range(250):
            (src / ("d%02d" % d) / ("f%03d" % f)).touch()
    m = canonfs(src)
    walk = subprocess.run(["find", str(m.root), "-printf", "%s %m %p\n"],
                          capture_output=True, text=True, timeout=120)
    assert walk.returncode == 0, walk.stderr[-500:]
    assert len(walk.stdout.splitlines()) == 1 + 40 + 40 * 250
    stats = m.counters()
    assert stats["inodes"] >= 40 * 250
    assert stats["listings"] == 0, "finished passes kept their snapshots"

    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    deadline = time.monotonic() + 10
    while m.counters()["inodes"] > 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert m.counters()["inodes"] <= 100, "the daemon kept forgotten inodes"
    # The tree is whole again on the next walk.
    again = subprocess.run(["find", str(m.root), "-type", "f"],
                           capture_output=True, text=True, timeout=120)
    assert len(again.stdout.splitlines()) == 40 * 250


@pytest.mark.slow
def test_host_edits_apply_while_the_pruner_works(tmp_path, canonfs):
    """Near the descriptor limit the pruner makes the kernel forget names,
    waiting at each for the directory's lock, which listings of a large
    directory keep taking. Host edits elsewhere must still be applied at
    once: the barrier used to wait for the pruner (27 s here, minutes with
    larger trees) while an open file read the old bytes."""
    import signal
    import subprocess
    import time

    src = tmp_path / "src"
    (src / "big").mkdir(parents=True)
    (src / "other").mkdir()
    for i in range(2500):
        (src / "big" / str(i)).write_text("")
    (src / "other" / "f").write_text("v1\n")
    m = canonfs(src, preexec_fn=limit_to_2000_descriptors)
    fd = os.open(m.root / "other" / "f", os.O_RDONLY)
    listers = []
    try:
        assert os.pread(fd, 10, 0) == b"v1\n"
        for _ in range(3):
            listers.append(subprocess.Popen(
                ["sh", "-c", 'while :; do ls -l "$0" >/dev/null 2>&1; done',
                 str(m.root / "big")], start_new_session=True))
        time.sleep(3)
        assert m.counters()["prune_runs"] > 0, "the pruner never ran"
        (src / "other" / "f").write_text("v2\n")
        started = time.monotonic()
        m.barrier()
        waited = time.monotonic() - started
        assert os.pread(fd, 10, 0) == b"v2\n", "stale after the barrier"
        assert waited < 10, "the barrier waited %.1f s for the pruner" % waited
    finally:
        for p in listers:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        os.close(fd)
