"""`canonfs run SRCDIR -- COMMAND`: the CI container entrypoint. Mount,
run the command inside, forward signals, always unmount, exit with the
command's status."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import (CANONFS, content_time_ns, finish_run, is_mounted,
                      unmount)


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    (src / "pkg" / "sub").mkdir(parents=True)
    (src / "pkg" / "sub" / "f.txt").write_text("hello\n")
    os.utime(src / "pkg" / "sub" / "f.txt", (1234567890, 1234567890))
    return src


@pytest.fixture
def mnt(tmp_path):
    path = tmp_path / "build"
    yield path
    unmount(path)
    assert not is_mounted(path), "canonfs run left %s mounted" % path


@pytest.fixture(params=["host", "container"])
def where(request):
    """Run canonfs run as is, or in a private mount namespace of its own,
    as a container runs it."""
    return request.param


def terminal_signal_defaults():
    """preexec_fn: SIGINT and SIGQUIT as a terminal's job has them. A suite
    started in the background by a shell without job control inherits them
    ignored, and so would the command."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def start_run(mnt, src, *command, cwd=None, options=(), where="host"):
    args = [str(CANONFS), "run", "-m", str(mnt)]
    if where == "container":  # unshare execs: signals reach canonfs run
        args = ["unshare", "-m", "--propagation", "private"] + args
    for opt in options:
        args += ["-o", opt]
    args += [str(src), "--"] + list(command)
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL,
                            preexec_fn=terminal_signal_defaults)


finish = finish_run


def assert_nothing_left(mnt):
    """No mount in our namespace, and no daemon anywhere: a daemon exits
    only once its mount is gone, in whatever namespace it was."""
    assert not is_mounted(mnt), "canonfs run left %s mounted" % mnt
    assert wait_for(lambda: not daemon_pids(mnt), timeout=10), \
        "a canonfs daemon for %s is still running" % mnt


def daemon_pids(mnt):
    """canonfs daemons serving mnt (children of canonfs run)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"-f" in args and str(mnt).encode() in args:
            pids.append(int(entry))
    return pids


def wait_for(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def sleeping(pidfile):
    """Whether the command that wrote its pid to pidfile and then exec'd
    sleep is sleeping: the file exists before the pid is in it, and a
    signal sent before the exec reaches the shell instead."""
    try:
        with open("/proc/%d/comm" % int(pidfile.read_text())) as f:
            return f.read().strip() == "sleep"
    except (OSError, ValueError):
        return False


def test_runs_inside_the_mount_and_returns_the_status(tree, mnt, where):
    script = "pwd; stat -c '%Y %a' f.txt; cat f.txt; exit 7"
    status, out, err = finish(start_run(mnt, tree, "sh", "-c", script,
                                        cwd=tree / "pkg" / "sub", where=where))
    assert status == 7, "the command's exit status is canonfs run's: " + err
    lines = out.splitlines()
    assert lines[0] == str(mnt / "src" / "pkg" / "sub"), \
        "the command starts in the same relative directory inside the mount"
    assert lines[1] == "%d 644" % (content_time_ns(b"hello\n") // 10**9), \
        "the command sees the canonical view (the checkout's content time)"
    assert lines[2] == "hello"
    assert_nothing_left(mnt)


def test_started_outside_srcdir_runs_at_the_mount_root(tree, mnt, tmp_path):
    status, out, _ = finish(start_run(mnt, tree, "pwd", cwd=tmp_path))
    assert status == 0
    assert out.strip() == str(mnt / "src")


def test_writes_land_on_the_host(tree, mnt):
    status, _, err = finish(start_run(mnt, tree, "sh", "-c",
                                      "echo built > out.bin"))
    assert status == 0, err
    assert (tree / "out.bin").read_text() == "built\n"


def test_files_the_command_creates_cost_no_release(tree, mnt):
    """The kernel sends no RELEASE for the files the command creates: run
    has the stats file opened before the command starts, which teaches the
    kernel that OPEN needs no answer."""
    script = ("for i in 1 2 3 4 5 6 7 8 9 10; do echo x > out$i; done; "
              "grep -E '^(create|release) ' %s/.canonfs/stats" % mnt)
    status, out, err = finish(start_run(mnt, tree, "sh", "-c", script))
    assert status == 0, err
    counts = dict(line.split() for line in out.splitlines())
    assert counts == {"create": "10", "release": "0"}, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_are_forwarded_to_the_command(tree, mnt, tmp_path, sig, where):
    ready = tmp_path / "ready"
    handler = ("import signal, sys, time\n"
               "signal.signal(%d, lambda *a: sys.exit(42))\n"
               "open(%r, 'w').close()\n"
               "time.sleep(60)\n" % (sig, str(ready)))
    proc = start_run(mnt, tree, sys.executable, "-c", handler, where=where)
    try:
        assert wait_for(ready.exists), "the command never started"
        proc.send_signal(sig)
        status, _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == 42, "the command's handler did not run: %s" % err
    assert_nothing_left(mnt)


def test_a_command_killed_by_a_signal_gives_128_plus_n(tree, mnt, where):
    status, _, _ = finish(start_run(mnt, tree, "sh", "-c", "kill -KILL $$",
                                    where=where))
    assert status == 128 + signal.SIGKILL
    assert_nothing_left(mnt)


@pytest.mark.slow
def test_daemon_killed_mid_build_still_unmounts(tree, mnt, tmp_path, where):
    ready = tmp_path / "ready"
    script = "touch %s; sleep 2; ls . >/dev/null 2>&1; exit 3" % ready
    proc = start_run(mnt, tree, "sh", "-c", script, where=where)
    try:
        assert wait_for(ready.exists), "the command never started"
        pids = daemon_pids(mnt)
        assert len(pids) == 1, "expected one daemon, found %r" % pids
        os.kill(pids[0], signal.SIGKILL)
        status, _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == 3, "the command's status survives the daemon"
    assert "daemon died" in err, "canonfs run said nothing: %r" % err
    assert_nothing_left(mnt)


def test_a_command_that_succeeds_after_the_daemon_died_fails_the_run(
        tree, mnt, tmp_path):
    """A CI step must fail when the mount went away under the build, even
    if the command ignored the errors and returned 0."""
    ready, gone = tmp_path / "ready", tmp_path / "gone"
    script = ("touch %s; while [ ! -e %s ]; do sleep 0.02; done; exit 0"
              % (ready, gone))
    proc = start_run(mnt, tree, "sh", "-c", script)
    try:
        assert wait_for(ready.exists), "the command never started"
        pids = daemon_pids(mnt)
        assert len(pids) == 1, "expected one daemon, found %r" % pids
        os.kill(pids[0], signal.SIGKILL)
        # Reaped by canonfs run (not a zombie any more): it has seen it.
        assert wait_for(lambda: not os.path.exists("/proc/%d" % pids[0]))
        gone.touch()
        status, _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == 1, "a run whose daemon died must fail: %r" % err
    assert "daemon died" in err and "returned 0" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert_nothing_left(mnt)


def test_a_stale_mountpoint_is_cleaned(tree, mnt, tmp_path):
    mnt.mkdir()
    daemon = subprocess.Popen([str(CANONFS), "-f", str(tree), str(mnt)],
                              stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: is_mounted(mnt)), "setup mount failed"
        daemon.kill()
        daemon.wait()
        with pytest.raises(OSError):
            os.statvfs(mnt)  # ENOTCONN: what a killed daemon leaves
        status, out, err = finish(start_run(mnt, tree, "ls"))
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert status == 0, err
    assert out.split() == ["pkg"]


def test_default_mountpoint_in_a_private_namespace(tree, tmp_path):
    """As a container runs it: its own mount namespace, /build."""
    script = ("%s run %s -- sh -c 'pwd; ls'; status=$?; "
              "grep -c ' /build ' /proc/self/mountinfo; exit $status"
              % (CANONFS, tree))
    result = subprocess.run(["unshare", "-m", "--propagation", "private",
                             "sh", "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[:2] == ["/build/src", "pkg"]
    assert lines[2] == "0", "/build still mounted after the command"


@pytest.mark.parametrize("args, needle", [
    ([], "missing SRCDIR"),
    (["SRC"], "missing -- COMMAND"),
    (["SRC", "--"], "missing -- COMMAND"),
    (["--frob", "SRC", "--", "true"], "unknown option '--frob'"),
])
def test_bad_input(tree, run_canonfs, args, needle):
    args = [str(tree) if a == "SRC" else a for a in args]
    result = run_canonfs("run", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_a_mountpoint_already_mounted_is_refused_and_left_alone(tree, tmp_path):
    """A mount already there (a tmpfs, another job's canonfs) is not ours:
    the build must not run in it, and the unmount at the end must not take
    it from its owner."""
    taken = tmp_path / "taken"
    taken.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(taken)], check=True)
    try:
        (taken / "data").write_text("precious\n")
        status, out, err = finish(start_run(taken, tree, "sh", "-c",
                                            "echo ran"))
        assert status == 1, err
        assert out == "", "the command ran in someone else's mount"
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "already a mount point" in lines[0], err
        assert (taken / "data").read_text() == "precious\n"
    finally:
        subprocess.run(["umount", str(taken)])


def test_sigkill_of_run_still_takes_the_mount_away(tree, mnt, tmp_path):
    """A CI runner that gives up kills with SIGKILL, which canonfs run
    cannot catch: the daemon, told by the kernel that its parent died,
    unmounts and exits, so the next job does not find this tree there."""
    pidfile = tmp_path / "command.pid"
    proc = start_run(mnt, tree, "sh", "-c",
                     "echo $$ > %s; exec sleep 60" % pidfile)
    try:
        assert wait_for(pidfile.exists), "the command never started"
        proc.kill()
        proc.wait()
        assert wait_for(lambda: not is_mounted(mnt), timeout=10), \
            "the mount outlived canonfs run"
        assert_nothing_left(mnt)
        command = int(pidfile.read_text())
        assert wait_for(lambda: not os.path.exists("/proc/%d" % command),
                        timeout=10), "the command outlived canonfs run"
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.mark.parametrize("bad", ["srcdir", "option"])
def test_a_failed_run_removes_the_mountpoint_it_made(tree, tmp_path, bad):
    """MOUNTPOINT is made when missing, parents too (mkdir -p); a run that
    fails before mounting takes back what it made."""
    mnt = tmp_path / "new" / "deeper" / "build"
    src = tmp_path / "no-such-src" if bad == "srcdir" else tree
    options = ["bogus"] if bad == "option" else []
    status, out, err = finish(start_run(mnt, src, "true", options=options))
    # The exit statuses of the mount itself: 2 for a usage error.
    assert status == (2 if bad == "option" else 1), err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "new").exists(), "left %s behind" % (
        sorted(str(p) for p in (tmp_path / "new").rglob("*")))
    status, _, err = finish(start_run(mnt, tree, "true"))
    assert status == 0, err
    assert mnt.is_dir(), "a missing MOUNTPOINT is made, parents too"
    assert_nothing_left(mnt)


@pytest.mark.slow
def test_a_stop_signal_during_a_slow_start_stops_everything(tree, mnt,
                                                            tmp_path):
    """`docker stop` while the mount is still coming up (here a compiler
    that is slow to tell its include paths): the daemon ends, nothing is
    left mounted, the command never runs, and the status says why."""
    slow_cc = tmp_path / "slow-cc"
    slow_cc.write_text("#!/bin/sh\nsleep 6\nexec cc \"$@\"\n")
    slow_cc.chmod(0o755)
    marker = tmp_path / "ran"
    proc = start_run(mnt, tree, "touch", str(marker),
                     options=["cc=%s" % slow_cc])
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    status, _, err = finish(proc)
    assert status == 128 + signal.SIGTERM, err
    # Not after the start it was told to give up (it waited for it).
    assert time.monotonic() - started < 3, "run waited for the mount"
    time.sleep(6)  # past the slow start: a daemon left would mount now
    assert not marker.exists(), "the command ran after the stop"
    assert_nothing_left(mnt)


def test_terminal_signals_to_the_group_leave_the_mount_to_run(tree, mnt,
                                                              tmp_path):
    """Ctrl-\\ in a terminal signals the whole foreground group: the
    command ends, the daemon must not (a stale mount was left)."""
    pidfile = tmp_path / "command.pid"
    args = [str(CANONFS), "run", "-m", str(mnt), str(tree), "--", "sh",
            "-c", "echo $$ > %s; exec sleep 30" % pidfile]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=terminal_signal_defaults)
    try:
        assert wait_for(lambda: sleeping(pidfile)), \
            "the command never started"
        os.killpg(proc.pid, signal.SIGQUIT)
        status, _, err = finish(proc)
        assert status == 128 + signal.SIGQUIT, err
        assert_nothing_left(mnt)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_ctrl_c_at_a_terminal_reaches_the_command_once(tree, mnt, tmp_path):
    """The terminal sends SIGINT to its foreground group, the command
    included: passed on again by run, a second interrupt makes many tools
    abort without cleaning up."""
    import pty
    ready, count = tmp_path / "ready", tmp_path / "count"
    script = ("import signal, time\n"
              "n = [0]\n"
              "def on_int(*_): n[0] += 1\n"
              "signal.signal(signal.SIGINT, on_int)\n"
              "open(%r, 'w').close()\n"
              "while n[0] == 0: time.sleep(0.01)\n"
              "time.sleep(1.5)\n"
              "open(%r, 'w').write(str(n[0]))\n" % (str(ready), str(count)))
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execv(str(CANONFS), [str(CANONFS), "run", "-m", str(mnt),
                                    str(tree), "--", sys.executable, "-c",
                                    script])
        finally:
            os._exit(127)
    try:
        assert wait_for(ready.exists), "the command never started"
        os.write(master, b"\x03")  # Ctrl-C: the line discipline signals
        assert wait_for(count.exists, timeout=10)
        _, status = os.waitpid(pid, 0)
        assert count.read_text() == "1", "SIGINT arrived %s times" % (
            count.read_text())
        assert_nothing_left(mnt)
    finally:
        os.close(master)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_as_pid_1_orphans_are_reaped(tree, tmp_path):
    """A container's entrypoint inherits every orphan: zombies left
    unreaped pile up for the whole job and count against its pid limit."""
    mnt = tmp_path / "build"
    command = ("for i in 1 2 3 4 5; do (sleep 0.05 &); done; sleep 1; "
               "cat /proc/[0-9]*/stat 2>/dev/null | "
               "awk '$3 == \"Z\"' | wc -l")
    result = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", str(CANONFS), "run",
         "-m", str(mnt), str(tree), "--", "sh", "-c", command],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0", "zombies: %s" % result.stdout


def test_a_process_left_in_the_mount_does_not_lose_the_trace(tree, mnt,
                                                             tmp_path):
    """The command ends, but something it started still sits in the mount:
    the unmount is lazy, and the daemon must still finish promptly and
    write the trace (it was killed after 5 s, the trace lost)."""
    trace = tmp_path / "t"
    pidfile = tmp_path / "left.pid"
    command = ("cat pkg/sub/f.txt > /dev/null; "
               "(exec sleep 30 < /dev/null > /dev/null 2>&1 & "
               "echo $! > %s)" % pidfile)
    started = time.monotonic()
    try:
        status, _, err = finish(start_run(mnt, tree, "sh", "-c", command,
                                          options=["trace=%s" % trace]))
        assert status == 0, err
        # The lazy unmount is normal here: no "failed to unmount" line.
        assert err == "", err
        assert time.monotonic() - started < 4, "run waited for the daemon"
        assert wait_for(trace.exists, timeout=5), "the trace was lost"
        assert "src/pkg/sub/f.txt" in trace.read_text()
    finally:
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    assert_nothing_left(mnt)


def test_a_mountpoint_held_by_another_run_is_refused(tree, mnt):
    """Two jobs on one mountpoint would build each other's tree and
    unmount each other: the second is refused while the first holds it."""
    import fcntl
    mnt.mkdir()
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what a first run holds
        status, out, err = finish(start_run(mnt, tree, "echo", "ran"))
        assert status == 1 and out == "", err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "in use by another canonfs run" in \
            lines[0], err
    finally:
        os.close(fd)
    status, out, err = finish(start_run(mnt, tree, "echo", "ran"))
    assert status == 0 and out == "ran\n", err
