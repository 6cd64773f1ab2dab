"""-o trace=FILE: exactly which files a build read and wrote through the
mount, what it probed for, and what makes the tree host-dependent."""

import errno
import os
import stat
import shutil
import subprocess

import pytest
from pathlib import Path

from conftest import CANONFS, start_mount

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello-cgo"


def read_trace(base):
    base = Path(base)
    inputs = [l.split(" ")[4] for l in base.read_text().splitlines()[1:-1]]
    lines = lambda suffix: Path(str(base) + suffix).read_text().splitlines()
    return inputs, lines(".outputs"), lines(".probes"), lines(".warnings")


def flush(m):
    assert (m.mnt / ".canonfs" / "trace-flush").read_text().startswith("flushed")


@pytest.mark.gobuild
def test_trace_of_a_go_build_lists_exactly_its_inputs_and_outputs(tmp_path, canonfs):
    src = tmp_path / "src"
    shutil.copytree(EXAMPLE, src)
    (src / "unrelated").mkdir()
    (src / "unrelated" / "notes.txt").write_text("not part of the build\n")
    trace = tmp_path / "trace"
    m = canonfs(src, "trace=%s" % trace)
    env = dict(os.environ, HOME=str(tmp_path), GOCACHE=str(tmp_path / "gocache"),
               GOFLAGS="-buildvcs=false", GOPROXY="off", GO111MODULE="on",
               CGO_ENABLED="1")
    subprocess.run(["go", "build", "-o", "hello", "./cmd/hello"], cwd=m.root,
                   env=env, check=True, capture_output=True, timeout=300)
    flush(m)
    inputs, outputs, probes, _ = read_trace(trace)

    expected = sorted("src/" + str(p.relative_to(src)) for p in src.rglob("*")
                      if p.is_file() and p.suffix in (".go", ".c", ".h", ".mod"))
    assert sorted(inputs) == expected, "the build's inputs, nothing else from the tree"
    assert "src/README.md" not in inputs and "src/unrelated/notes.txt" not in inputs
    assert "created src/hello" in outputs and "written src/hello" in outputs
    assert all(not o.endswith(".go") for o in outputs), "sources were only read"
    assert any(p.startswith("src/greet/") and p.endswith(".h") for p in probes), \
        "gcc's header probes in the cgo package directory are recorded"
    assert not set(probes) & set(inputs), "probes are failed lookups only"

    # The inputs are a manifest of what was read: it matches the tree.
    result = subprocess.run([str(CANONFS), "diff", str(trace), str(trace)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_trace_reports_what_makes_a_tree_host_dependent(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    (src / "input.txt").write_text("version 1\n")
    os.symlink("/etc/hostname", src / "escape")
    # Relative, it depends on where the host put the tree all the same.
    os.symlink("../../../../../../../../../etc/hostname", src / "climbs")
    os.symlink("../outside", src / "just_above")
    os.symlink("sub/../inside", src / "stays")
    os.mkfifo(src / "pipe")
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace)
    assert os.listdir(m.mnt / ".canonfs") == [
        "barrier", "bin", "env", "stats", "toolchain.cmake", "trace-flush",
        "trace-start", "trace-stop"], "byte order, like every listing of the view"
    os.listdir(m.root)
    for name in ("escape", "climbs", "just_above", "stays"):
        os.readlink(m.root / name)
    assert (m.root / "input.txt").read_text() == "version 1\n"
    (src / "input.txt").write_text("version 2\n")  # on the host, mid-build
    (m.mnt / ".canonfs" / "barrier").read_text()
    flush(m)
    _, _, _, warnings = read_trace(trace)
    assert "symlink-escapes src/escape /etc/hostname" in warnings
    assert ("symlink-escapes src/climbs "
            "../../../../../../../../../etc/hostname") in warnings
    assert "symlink-escapes src/just_above ../outside" in warnings
    assert not [w for w in warnings if "src/stays" in w], warnings
    assert "hidden-devices-in src" in warnings
    assert "changed-while-read src/input.txt" in warnings


def test_trace_stop_and_start_on_a_live_mount(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b", "c"):
        (src / name).write_text(name)
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace)
    control = m.mnt / ".canonfs"
    (m.root / "a").read_text()
    assert (control / "trace-stop").read_text() == "stopped\n"
    (m.root / "b").read_text()
    flush(m)
    assert read_trace(trace)[0] == ["src/a"], "nothing is recorded while stopped"

    assert (control / "trace-start").read_text() == "started\n"
    (control / "barrier").read_text()
    (m.root / "a").read_text()  # cached before: must be seen again
    (m.root / "c").read_text()
    flush(m)
    assert read_trace(trace)[0] == ["src/a", "src/c"], "a start records afresh"


def test_trace_files_act_when_read_not_when_stat_ed(tmp_path, canonfs):
    """`ls -l MNT/.canonfs` or a stat of a trace file must not start, stop
    or flush anything; reading it does."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    (src / "b").write_text("b")
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace)
    control = m.mnt / ".canonfs"
    (m.root / "a").read_text()
    for name in ("trace-stop", "trace-start", "trace-flush"):
        os.stat(control / name)
    subprocess.run(["ls", "-l", str(control)], check=True,
                   capture_output=True)
    assert not trace.exists(), "a stat flushed the trace"
    (m.root / "b").read_text()
    flush(m)
    assert read_trace(trace)[0] == ["src/a", "src/b"], \
        "a stat stopped or restarted the recording"


def test_diff_inputs_checks_just_what_the_build_read(tmp_path, canonfs):
    """`canonfs diff --inputs TRACE MNT`: 0 while every input is as the
    build read it, whatever else the tree holds or changed; 1 with the
    input that changed or went."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for name in ("a.go", "b.go", "unread.go"):
        (src / "pkg" / name).write_text("package pkg // %s\n" % name)
    os.symlink("a.go", src / "pkg" / "link.go")
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace)
    (m.root / "pkg" / "link.go").read_text()
    (m.root / "pkg" / "b.go").read_text()
    flush(m)

    def check():
        r = subprocess.run([str(CANONFS), "diff", "--inputs", str(trace),
                            str(m.mnt)], capture_output=True, text=True,
                           timeout=60)
        return r.returncode, r.stdout.splitlines(), r.stderr

    status, out, err = check()
    assert (status, out) == (0, []), err
    (src / "pkg" / "unread.go").write_text("changed, never read\n")
    (src / "pkg" / "new.go").write_text("package pkg\n")
    m.barrier()
    assert check()[:2] == (0, []), "only the inputs count"
    (src / "pkg" / "a.go").write_text("package pkg // edited\n")
    os.unlink(src / "pkg" / "b.go")
    m.barrier()
    status, out, _ = check()
    assert status == 1
    assert out == ["changed src/pkg/a.go (content)", "removed src/pkg/b.go"]


def test_diff_inputs_refuses_a_directory_without_the_traced_layout(
        tmp_path, canonfs):
    """Pointed at the mountpoint once unmounted, or at SRCDIR instead of
    the mount, `diff --inputs` used to report every input removed (exit
    1): it says in one line that the directory is not the mount (exit 2,
    trouble), and names what is missing."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.go").write_text("package pkg\n")
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace)
    (m.root / "pkg" / "a.go").read_text()
    flush(m)

    def check(directory):
        return subprocess.run([str(CANONFS), "diff", "--inputs", str(trace),
                               str(directory)], capture_output=True,
                              text=True, timeout=60)

    assert check(m.mnt).returncode == 0, "the mount itself has the layout"
    assert m.stop() == 0
    for directory in (m.mnt, src):
        result = check(directory)
        assert (result.returncode, result.stdout) == (2, ""), result.stdout
        assert result.stderr.splitlines() == [
            "canonfs: diff --inputs: '%s' does not have the trace's layout: "
            "no src in it (give the mount the trace was recorded in, mounted "
            "again with the same options; not its SRCDIR)" % directory]


def test_a_failed_flush_fails_every_read(tmp_path, canonfs):
    """The kernel reads again after an error: the retry must not pass the
    failed flush off as done."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    where = tmp_path / "traces"
    where.mkdir()
    m = canonfs(src, "trace=%s" % (where / "t"))
    (m.root / "a").read_text()
    where.rmdir()  # the trace can no longer be written
    for _ in range(2):
        with pytest.raises(OSError) as info:
            (m.mnt / ".canonfs" / "trace-flush").read_text()
        assert info.value.errno == errno.EIO
    where.mkdir()
    flush(m)
    assert read_trace(where / "t")[0] == ["src/a"]


def test_trace_is_written_at_unmount(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace)
    (m.root / "f").read_text()
    (m.root / "out").write_text("y")
    assert m.stop() == 0
    inputs, outputs, _, _ = read_trace(trace)
    assert inputs == ["src/f"]
    assert outputs == ["created src/out", "written src/out"]
    # Written by a daemon that serves with umask 0: still not writable
    # by others.
    for part in ("", ".outputs", ".probes", ".warnings"):
        mode = stat.S_IMODE(os.stat(str(trace) + part).st_mode)
        assert mode == 0o644, "%s%s has mode %o" % (trace, part, mode)


def test_trace_controls_need_a_tracing_mount(tmp_path, canonfs):
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src)
    assert not (m.mnt / ".canonfs" / "trace-flush").exists()


def test_empty_files_symlinks_and_own_outputs(tmp_path, canonfs):
    """The kernel never asks to read an empty file, but a build that
    includes one depends on it; a symlink the build goes through decides
    what it reads; and what the build wrote and read back is its output,
    not an input from the tree."""
    src = tmp_path / "src"
    (src / "v1").mkdir(parents=True)
    (src / "v2").mkdir()
    (src / "empty.h").write_text("")
    (src / "v1" / "v.h").write_text("#define V 1\n")
    (src / "v2" / "v.h").write_text("#define V 2\n")
    os.symlink("v1", src / "cur")
    (src / "main.c").write_text('#include "empty.h"\n#include "cur/v.h"\n'
                                "int main(void) { return V; }\n")
    trace = tmp_path / "t"
    m = canonfs(src, "trace=%s" % trace)
    subprocess.run(["gcc", "-c", "main.c", "-o", "main.o"], cwd=m.root,
                   check=True, capture_output=True, timeout=120)
    subprocess.run(["gcc", "main.o", "-o", "main"], cwd=m.root,
                   check=True, capture_output=True, timeout=120)
    flush(m)
    lines = trace.read_text().splitlines()[1:-1]
    by_path = {l.split(" ")[4]: l for l in lines}
    assert "src/empty.h" in by_path, lines
    assert by_path["src/empty.h"].startswith(
        "f 0644 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ")
    assert by_path.get("src/cur") == "l 0777 2 - src/cur v1", lines
    assert "src/v1/v.h" in by_path and "src/v2/v.h" not in by_path
    for own in ("src/main.o", "src/main"):
        assert own not in by_path, "%s is the build's own output" % own
    # Nothing changed: the inputs still match.
    result = subprocess.run([str(CANONFS), "diff", "--inputs", str(trace),
                             str(m.mnt)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # A retargeted link changes what the build would read.
    os.unlink(src / "cur")
    os.symlink("v2", src / "cur")
    (m.mnt / ".canonfs" / "barrier").read_text()
    result = subprocess.run([str(CANONFS), "diff", "--inputs", str(trace),
                             str(m.mnt)], capture_output=True, text=True)
    assert result.returncode == 1 and "src/cur" in result.stdout, \
        result.stdout + result.stderr


def test_a_hard_linked_input_is_recorded_under_each_name(tmp_path, canonfs):
    """The kernel does not say through which name a read came: the file
    is recorded under every name it was looked up by. (A git checkout on
    another machine keeps no hard links: there the names are two files,
    and the one the build read must be checked.)"""
    src = tmp_path / "src"
    (src / "d1").mkdir(parents=True)
    (src / "d2").mkdir()
    (src / "d1" / "a").write_text("shared\n")
    os.link(src / "d1" / "a", src / "d2" / "b")
    trace = tmp_path / "t"
    (src / "d1" / "c").write_text("other\n")
    os.link(src / "d1" / "c", src / "d2" / "e")
    m = canonfs(src, "trace=%s" % trace)
    os.listdir(m.root / "d1")                 # the kernel meets d1/a first
    assert (m.root / "d2" / "b").read_text() == "shared\n"
    # A name met after the read (served from the page cache) counts too.
    assert (m.root / "d1" / "c").read_text() == "other\n"
    assert (m.root / "d2" / "e").read_text() == "other\n"
    flush(m)
    assert read_trace(trace)[0] == ["src/d1/a", "src/d1/c", "src/d2/b",
                                    "src/d2/e"]


def test_the_trace_is_written_under_a_name_nobody_could_plant(tmp_path,
                                                               canonfs):
    """Another user of a shared directory such as /tmp may plant a symlink
    where the trace's temporary file would go: the daemon must neither
    follow it (it would overwrite the victim with the trace) nor lose the
    trace."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("input\n")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    trace = tmp_path / "trace"
    for suffix in ("", ".outputs", ".probes", ".warnings"):
        os.symlink(victim, str(trace) + suffix + ".partial")
    m = canonfs(src, "trace=%s" % trace)
    (m.root / "f").read_text()
    flush(m)
    assert victim.read_text() == "precious\n"
    inputs, _, _, _ = read_trace(trace)
    assert inputs == ["src/f"]


def test_trace_files_follow_the_users_umask(tmp_path, canonfs):
    """They hold the paths and digests of the user's sources: a user with
    umask 077 keeps them private, as every file a build makes."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("input\n")
    trace = tmp_path / "trace"
    m = canonfs(src, "trace=%s" % trace, preexec_fn=lambda: os.umask(0o077))
    (m.root / "f").read_text()
    (m.root / "made").write_text("output\n")
    flush(m)
    for suffix in ("", ".outputs", ".probes", ".warnings"):
        mode = stat.S_IMODE(os.stat(str(trace) + suffix).st_mode)
        assert mode == 0o600, "%s%s: %o" % (trace, suffix, mode)
    assert stat.S_IMODE(os.stat(src / "made").st_mode) == 0o644, (
        "a file made through the mount takes the umask of its maker")


def a_tree_and_a_trace_directory(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    where = tmp_path / "traces"
    where.mkdir()
    return src, where


def test_a_trace_lost_at_unmount_fails_the_daemon(tmp_path):
    src, where = a_tree_and_a_trace_directory(tmp_path)
    m = start_mount(src, tmp_path / "mnt", "trace=%s" % (where / "t"))
    try:
        (m.root / "f").read_text()
        where.rmdir()
    finally:
        status = m.stop()
    assert status == 1, "a -f daemon that could not write its trace"
    assert "(the trace of this mount is lost)" in m.stderr()


def test_canonfs_run_fails_when_the_trace_is_lost(tmp_path):
    src, where = a_tree_and_a_trace_directory(tmp_path)
    mnt = tmp_path / "mnt"
    result = subprocess.run(
        [str(CANONFS), "run", "-m", str(mnt), "-o",
         "trace=%s" % (where / "t"), str(src), "--", "sh", "-c",
         'cat f >/dev/null && rmdir "$0"', str(where)], cwd=str(src),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "(the trace of this mount is lost)" in result.stderr
