"""The default times (-o mtime=baseline) in the tools people run inside
the mount: make, ninja, go build (with Go's module index), go test's result
cache, git and python's .pyc files each rebuild, re-run or report exactly
when they should.

What the checkout brought and has not changed since the tree's baseline
shows times made of its git blob id (the same on every machine); whatever
changed since, on the host or through the mount, and whatever the build
made, shows its true host times. The matrix below drives each tool through
each event a user meets: an edit on the host while mounted, an edit
through the mount, an edit while unmounted, a revert to the committed
content, a branch switch, `cp -p` of an older file over a source, and the
files the build itself creates. The cross-machine events (two clean
checkouts with one shared GOCACHE) come after it.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CONTENT_EPOCH, content_time_ns, read, unmount
from test_go_integration import canonfs_env, daemon_env, go, go_env, go_mount

pytestmark = pytest.mark.skipif(
    not (shutil.which("go") and shutil.which("ninja") and shutil.which("cc")
         and shutil.which("git")),
    reason="needs go, ninja-build, gcc and git (the tools under test)")

OLD, NEW = b"alpha", b"omega"  # the same size: no tool can go by size

READER_TEST = b"""package reader

import (
	"os"
	"testing"
)

func TestInput(t *testing.T) {
	data, err := os.ReadFile("testdata/input.txt")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("input word: %s", data)
}
"""

PROJECT = {
    "Makefile": b"hello: hello.c msg.h\n\tcc -o hello hello.c\n",
    "build.ninja": b"rule cc\n  command = cc -o $out $in\n"
                   b"build hello-ninja: cc hello.c | msg.h\n",
    "hello.c": b'#include <stdio.h>\n#include "msg.h"\n'
               b"int main(void) { puts(MSG); return 0; }\n",
    "msg.h": b'#define MSG "alpha"\n',
    "go.mod": b"module example.com/proj\n\ngo 1.19\n",
    "cmd/word/main.go": b'package main\n\nimport "fmt"\n\n'
                        b'func main() { fmt.Println("alpha") }\n',
    "reader/reader.go": b"package reader\n",
    "reader/reader_test.go": READER_TEST,
    "reader/testdata/input.txt": b"alpha\n",
    "word.py": b'WORD = "alpha"\n',
    ".gitignore": b"/hello\n/hello-ninja\n.ninja_*\n__pycache__/\n",
}
# The files whose word the tools show.
WORD_FILES = ["msg.h", "cmd/word/main.go", "reader/testdata/input.txt",
              "word.py"]


def run(args, cwd, env=None, check=True, timeout=300):
    proc = subprocess.run([str(a) for a in args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, "%s in %s exited %d:\n%s%s" % (
            " ".join(map(str, args)), cwd, proc.returncode, proc.stdout,
            proc.stderr)
    return proc


def git(repo, *args):
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@t",
                "-c", "advice.detachedHead=false"] + list(args), repo)


def make_project(root, word=OLD):
    for rel, data in PROJECT.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.replace(OLD, word))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "alpha")
    return root


def edit_in_place(path, old, new):
    """A same-size edit that keeps the inode (an editor writing in place,
    or `sed -i`'s result seen by stat: same size, new content)."""
    data = read(path)
    assert old in data, (path, data)
    with open(path, "r+b") as f:
        f.write(data.replace(old, new))


def run_make(root):
    """(rebuilt?, what the program prints)"""
    out = run(["make"], root).stdout
    return "cc -o hello" in out, run(["./hello"], root).stdout


def run_ninja(root):
    """(rebuilt?, what the program prints)"""
    out = run(["ninja"], root).stdout
    return "no work to do" not in out, run(["./hello-ninja"], root).stdout


class Tools:
    """Every tool under test, run inside one mount."""

    def __init__(self, m, tmp_path):
        self.m = m
        self.env = go_env(tmp_path, tmp_path / "gocache",
                          canonfs_env(m.mnt, tmp_path))
        self.bin = tmp_path / "bin"
        self.bin.mkdir(exist_ok=True)

    def make(self):
        return run_make(self.m.root)

    def ninja(self):
        return run_ninja(self.m.root)

    def go_build(self):
        """What the freshly built program prints: Go's module index and its
        build cache both key on what canonfs shows."""
        out = self.bin / "word"
        if out.exists():
            out.unlink()
        go(["build", "-o", str(out), "./cmd/word"], self.m.root, self.env,
           "go build")
        return run([out], self.m.root).stdout

    def go_test(self):
        """(served from the result cache?, the word the test read)"""
        out = go(["test", "-v", "./reader"], self.m.root, self.env,
                 "go test").stdout
        word = out.split("input word: ", 1)[1].split()[0] \
            if "input word: " in out else None
        return "(cached)" in out, word

    def git_modified(self):
        out = run(["git", "status", "--porcelain"], self.m.root).stdout
        return sorted(line[3:] for line in out.splitlines())

    def python(self):
        """The module's word: python3 trusts a .pyc whose recorded source
        mtime and size match what it stats."""
        return run(["/usr/bin/python3", "-c",
                    "import word; print(word.WORD)"], self.m.root).stdout

    def words(self):
        """What every tool's output says now."""
        _, made = self.make()
        _, ninja = self.ninja()
        _, tested = self.go_test()
        return {"make": made.strip(), "ninja": ninja.strip(),
                "go build": self.go_build().strip(), "go test": tested,
                "python": self.python().strip()}


def assert_words(tools, word, when):
    want = word.decode()
    got = tools.words()
    wrong = {tool: seen for tool, seen in got.items() if seen != want}
    assert not wrong, (
        "%s, every tool should show %r; these showed old results: %r"
        % (when, want, wrong))


def assert_nothing_to_do(tools, when, edited=True):
    """A second run right after a build does nothing: no tool sees a
    change that was not made. Go saves no test result while a file the
    test read is under two seconds old (as outside the mount): after an
    edit, one run past that saves it."""
    if edited:
        time.sleep(2.1)
        tools.go_test()
    made, _ = tools.make()
    ninja, _ = tools.ninja()
    cached, _ = tools.go_test()
    assert (made, ninja, cached) == (False, False, True), (
        "%s, a second run should do nothing: make rebuilt %s, ninja "
        "rebuilt %s, go test served from its cache %s"
        % (when, made, ninja, cached))


def built(canonfs, tmp_path, repo, *options):
    """repo mounted, everything built once and checked quiet."""
    m = go_mount(canonfs, tmp_path, repo, *options)
    tools = Tools(m, tmp_path)
    assert_words(tools, OLD, "after the first build")
    assert_nothing_to_do(tools, "after the first build", edited=False)
    assert tools.git_modified() == [], "a fresh checkout is clean in git"
    return m, tools


def edit_words(root):
    for rel in WORD_FILES:
        edit_in_place(root / rel, OLD, NEW)


@pytest.mark.gobuild
def test_a_same_size_edit_on_the_host_while_mounted(canonfs, tmp_path):
    repo = make_project(tmp_path / "repo")
    m, tools = built(canonfs, tmp_path, repo)
    edit_words(repo)
    m.barrier()
    assert tools.git_modified() == sorted(WORD_FILES), \
        "git inside the mount must see every same-size edit"
    assert_words(tools, NEW, "after a same-size edit on the host")
    assert_nothing_to_do(tools, "after rebuilding the edit")


@pytest.mark.gobuild
def test_a_same_size_edit_through_the_mount(canonfs, tmp_path):
    repo = make_project(tmp_path / "repo")
    m, tools = built(canonfs, tmp_path, repo)
    edit_words(m.root)
    assert tools.git_modified() == sorted(WORD_FILES)
    assert_words(tools, NEW, "after a same-size edit through the mount")
    assert_nothing_to_do(tools, "after rebuilding the edit")
    # git commit -a takes the edit (it trusted nothing stale).
    git(m.root, "commit", "-qam", "omega")
    assert tools.git_modified() == []
    assert read(repo / "msg.h") == PROJECT["msg.h"].replace(OLD, NEW)
    assert run(["git", "show", "HEAD:msg.h"], repo).stdout.encode() == \
        PROJECT["msg.h"].replace(OLD, NEW)


@pytest.mark.gobuild
def test_an_edit_made_while_unmounted_is_seen_at_the_next_mount(canonfs,
                                                                 tmp_path):
    repo = make_project(tmp_path / "repo")
    m, tools = built(canonfs, tmp_path, repo)
    mnt = m.mnt
    assert m.stop() == 0
    edit_words(repo)
    m = go_mount(canonfs, tmp_path, repo, mnt=mnt)
    tools = Tools(m, tmp_path)
    assert tools.git_modified() == sorted(WORD_FILES)
    assert_words(tools, NEW, "after an edit made while unmounted")
    assert_nothing_to_do(tools, "after rebuilding the edit")


@pytest.mark.gobuild
def test_a_revert_to_the_committed_content_rebuilds(canonfs, tmp_path):
    """Built from an edit, then `git checkout -- .`: the sources are the
    committed bytes again, but newer than what was built from the edit."""
    repo = make_project(tmp_path / "repo")
    m, tools = built(canonfs, tmp_path, repo)
    edit_words(repo)
    m.barrier()
    assert_words(tools, NEW, "after the edit")
    git(repo, "checkout", "--", ".")
    m.barrier()
    assert tools.git_modified() == []
    assert_words(tools, OLD, "after `git checkout -- .` back to the commit")
    assert_nothing_to_do(tools, "after rebuilding the revert")


@pytest.mark.gobuild
def test_a_branch_switch_rebuilds(canonfs, tmp_path):
    repo = make_project(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "other")
    edit_words(repo)
    git(repo, "commit", "-qam", "omega")
    git(repo, "checkout", "-q", "main")
    m, tools = built(canonfs, tmp_path, repo)
    git(m.root, "checkout", "-q", "other")
    assert tools.git_modified() == []
    assert_words(tools, NEW, "after `git checkout other`")
    assert_nothing_to_do(tools, "after rebuilding the branch")
    git(m.root, "checkout", "-q", "main")
    assert_words(tools, OLD, "after `git checkout main` again")


@pytest.mark.gobuild
def test_an_older_file_copied_over_a_source(canonfs, tmp_path):
    """`cp -p` (or `rsync -a`, `tar x`) brings an mtime from the past. The
    ctime still says it changed, so its true times are shown: what keys on
    content or on (size, mtime) sees it; make and ninja, which only ask
    "newer than the output?", decide as they do outside the mount."""
    repo = make_project(tmp_path / "repo")
    m, tools = built(canonfs, tmp_path, repo)
    elsewhere = tmp_path / "elsewhere"
    for rel in WORD_FILES:
        old_copy = elsewhere / rel
        old_copy.parent.mkdir(parents=True, exist_ok=True)
        old_copy.write_bytes(read(repo / rel).replace(OLD, NEW))
        os.utime(old_copy, (1_000_000_000, 1_000_000_000))
        run(["cp", "-p", old_copy, repo / rel], tmp_path)
    m.barrier()
    for rel in WORD_FILES:
        assert os.stat(m.root / rel).st_mtime == 1_000_000_000, \
            "the copy's true mtime is shown"
    assert tools.git_modified() == sorted(WORD_FILES)
    native_make = run(["make", "-q"], repo, check=False).returncode
    native_ninja = "no work to do" in run(["ninja", "-n"], repo).stdout
    assert (run(["make", "-q"], m.root, check=False).returncode,
            "no work to do" in run(["ninja", "-n"], m.root).stdout) == \
        (native_make, native_ninja), \
        "make and ninja decide inside the mount as on the host"
    _, tested = tools.go_test()
    assert (tools.go_build().strip(), tested, tools.python().strip()) == \
        ("omega",) * 3, "go build, go test and python see the copied file"


@pytest.mark.gobuild
def test_outputs_of_a_build_from_before_a_new_baseline_stay_newer(canonfs,
                                                                 tmp_path):
    """A first mount of a worktree that was built before (natively, or in
    an earlier container whose baseline is gone): the outputs git does not
    track keep their true times, so make and ninja find them up to date,
    and a source edited before the mount shows its true time too."""
    repo = make_project(tmp_path / "repo")
    run(["make"], repo)
    run(["ninja"], repo)
    edit_in_place(repo / "msg.h", OLD, NEW)  # edited, never rebuilt
    m = go_mount(canonfs, tmp_path, repo)
    shown = os.stat(m.root / "msg.h")
    assert shown.st_mtime_ns == os.stat(repo / "msg.h").st_mtime_ns, \
        "a tracked file edited before the first mount shows its true time"
    assert os.stat(m.root / "hello").st_mtime_ns == \
        os.stat(repo / "hello").st_mtime_ns, \
        "an untracked output shows its true time"
    assert os.stat(m.root / "hello.c").st_mtime_ns == \
        content_time_ns(PROJECT["hello.c"]), \
        "a clean tracked file shows its content time"
    tools = Tools(m, tmp_path)
    made, out = tools.make()
    assert made and out.strip() == "omega", \
        "make must rebuild from the source edited before the mount"
    made, out = tools.make()
    assert not made


def fresh_container(tmp_path, name):
    """The daemon's environment in a new container: a cache directory of
    its own, so every tree's baseline is new."""
    return dict(daemon_env(tmp_path),
                XDG_CACHE_HOME=str(tmp_path / ("%s-cache" % name)))


def make_and_ninja(root):
    """(make rebuilt?, ninja rebuilt?, what each program prints)"""
    made, made_out = run_make(root)
    ninja, ninja_out = run_ninja(root)
    return made, ninja, made_out.strip(), ninja_out.strip()


def test_a_kept_workspace_checked_out_between_jobs_in_fresh_containers(
        canonfs, tmp_path):
    """A CI workspace kept between jobs, each job in a fresh container (a
    new $HOME, so a new baseline every time). The second job's checkout
    changed a header after the first job's outputs were made: make and
    ninja rebuild, as outside the mount. What the checkout did not change
    still shows its content time."""
    repo = make_project(tmp_path / "repo")
    edit_in_place(repo / "msg.h", OLD, NEW)
    git(repo, "commit", "-qam", "omega")
    git(repo, "checkout", "-q", "HEAD~1")
    m = canonfs(repo, env=fresh_container(tmp_path, "job1"))
    assert make_and_ninja(m.root) == (True, True, "alpha", "alpha")
    assert m.stop() == 0
    git(repo, "checkout", "-q", "main")  # the next job's commit
    m = canonfs(repo, mnt=m.mnt, env=fresh_container(tmp_path, "job2"))
    assert make_and_ninja(m.root) == (True, True, "omega", "omega"), \
        "the second job must build the header its checkout brought"
    assert os.stat(m.root / "hello.c").st_mtime_ns == \
        content_time_ns(PROJECT["hello.c"]), \
        "a source unchanged since the outputs keeps its content time"
    assert make_and_ninja(m.root)[:2] == (False, False)


OUT_OF_TREE_MAKEFILE = b"""\
hello: $(SRC)/hello.c $(SRC)/msg.h
\tcc -o hello $(SRC)/hello.c
"""


def make_out_of_tree(out, src):
    """(make rebuilt?, what the program prints) for a build directory out
    of the tree, at one fixed path, that reads its sources from src."""
    out.mkdir(exist_ok=True)
    (out / "Makefile").write_bytes(OUT_OF_TREE_MAKEFILE)
    made = "cc -o hello" in run(["make", "SRC=%s" % src], out).stdout
    return made, run(["./hello"], out).stdout.strip()


def test_a_build_directory_outside_the_mount_sees_a_fresh_checkouts_changes(
        canonfs, tmp_path):
    """A build directory kept outside the mount at one fixed path (as
    canonfs(1) allows for CMake), named with -o outputs=. A fresh clone of
    the next commit, mounted in a fresh container, brings a changed
    header: make there rebuilds, as it does outside canonfs. The same
    checkout edited while unmounted, under a new baseline: make rebuilds
    from the edit, and what did not change keeps its content time."""
    origin = make_project(tmp_path / "origin")
    edit_in_place(origin / "msg.h", OLD, NEW)
    git(origin, "commit", "-qam", "omega")
    out = tmp_path / "build"
    first = tmp_path / "first"
    git(tmp_path, "clone", "-q", str(origin), str(first))
    git(first, "checkout", "-q", "HEAD~1")
    m = canonfs(first, "outputs=%s" % out,
                env=fresh_container(tmp_path, "job1"))
    assert make_out_of_tree(out, m.root) == (True, "alpha")
    assert make_out_of_tree(out, m.root) == (False, "alpha")
    assert m.stop() == 0

    second = tmp_path / "second"  # a fresh clone of the next commit
    git(tmp_path, "clone", "-q", str(origin), str(second))
    m = canonfs(second, "outputs=%s" % out, mnt=m.mnt,
                env=fresh_container(tmp_path, "job2"))
    assert make_out_of_tree(out, m.root) == (True, "omega"), \
        "the fresh checkout's header must be rebuilt from"
    assert make_out_of_tree(out, m.root) == (False, "omega")
    assert m.stop() == 0

    edit_in_place(second / "msg.h", NEW, OLD)  # while unmounted
    git(second, "commit", "-qam", "alpha again")
    m = canonfs(second, "outputs=%s" % out, mnt=m.mnt,
                env=fresh_container(tmp_path, "job3"))
    assert make_out_of_tree(out, m.root) == (True, "alpha"), \
        "an edit made while unmounted must be rebuilt from"
    assert os.stat(m.root / "hello.c").st_mtime_ns == \
        content_time_ns(PROJECT["hello.c"]), \
        "a source older than the outputs keeps its content time"
    assert m.stop() == 0


SYS_MAKEFILE = b"""\
hello: hello.c $(SYS)/demo.h
\tcc -o hello hello.c
"""


def test_a_new_baseline_elsewhere_never_hides_a_system_header_change(
        canonfs, tmp_path):
    """The system include directories are every project's. A header there
    reinstalled after project one was built, then project two mounted with
    -o baseline=now (as after its clean build): project one must still see
    the new header as newer than its outputs."""
    machine = fresh_container(tmp_path, "machine")  # one cache for all
    sys_dir = tmp_path / "sysinc"
    sys_dir.mkdir()
    (sys_dir / "demo.h").write_bytes(b"#define DEMO 1\n")
    one, two = tmp_path / "one", tmp_path / "two"
    for repo in (one, two):
        make_project(repo)
        (repo / "Makefile").write_bytes(SYS_MAKEFILE)
        git(repo, "commit", "-qam", "a system header")
    sys_opt = "sys=demo:%s" % sys_dir
    m = canonfs(one, sys_opt, env=machine)
    demo = "SYS=%s" % (m.mnt / "sys" / "demo")
    assert "cc -o hello" in run(["make", demo], m.root).stdout
    assert "cc -o hello" not in run(["make", demo], m.root).stdout
    assert m.stop() == 0

    new = sys_dir / ".demo.h.new"  # reinstalled, as dpkg or make install
    new.write_bytes(b"#define DEMO 2\n")
    os.rename(new, sys_dir / "demo.h")
    m = canonfs(two, sys_opt, "baseline=now", mnt=m.mnt, env=machine)
    assert m.stop() == 0

    m = canonfs(one, sys_opt, mnt=m.mnt, env=machine)
    assert "cc -o hello" in run(["make", demo], m.root).stdout, \
        "project one must rebuild against the reinstalled header"
    assert m.stop() == 0


def test_an_edit_from_before_the_first_mount_stays_a_change_after_git_add(
        canonfs, tmp_path):
    """A header edited after the last build and before the first mount
    (shown with its true time then), then staged with `git add`, which
    makes the index match it without touching it: at the next mount it is
    still a change, and make rebuilds."""
    repo = make_project(tmp_path / "repo")
    run(["make"], repo)
    edit_in_place(repo / "msg.h", OLD, NEW)
    env = fresh_container(tmp_path, "machine")
    m = canonfs(repo, env=env)
    assert os.stat(m.root / "msg.h").st_mtime_ns == \
        os.stat(repo / "msg.h").st_mtime_ns
    assert m.stop() == 0
    git(repo, "add", "msg.h")
    m = canonfs(repo, mnt=m.mnt, env=env)
    assert os.stat(m.root / "msg.h").st_mtime_ns == \
        os.stat(repo / "msg.h").st_mtime_ns, \
        "staged since, it is still newer than the build's outputs"
    made, out = run_make(m.root)
    assert (made, out.strip()) == (True, "omega")


def test_an_untracked_file_older_than_content_times_keeps_them(canonfs,
                                                                tmp_path):
    """npm writes its packages' files with a 1985 mtime: one in an ignored
    directory of a fresh clone leaves every tracked file its content time
    (any source is newer than it for make anyway), and keeps its own."""
    repo = make_project(tmp_path / "repo")
    old = repo / "node_modules" / "x" / "index.js"
    old.parent.mkdir(parents=True)
    old.write_text("module.exports = 1;\n")
    os.utime(old, (499162500, 499162500))  # 1985-10-26, as npm sets
    m = canonfs(repo, env=fresh_container(tmp_path, "npm"))
    assert os.stat(m.root / "hello.c").st_mtime_ns == \
        content_time_ns(PROJECT["hello.c"])
    assert os.stat(m.root / "node_modules" / "x" / "index.js").st_mtime \
        == 499162500


def test_an_output_dated_0_stays_older_than_a_source_the_checkout_changed(
        canonfs, tmp_path):
    """A build that dates its output 0 (as reproducible archives do),
    then a checkout that changes the source, then a first mount: the
    output keeps its time, older than the source's, and make rebuilds."""
    repo = make_project(tmp_path / "repo")
    (repo / "Makefile").write_bytes(
        b"out: hello.c\n\tcp hello.c out && touch -d @0 out\n")
    git(repo, "commit", "-qam", "an output dated 0")
    # A change whose content time is older than the output's bytes'
    # (the old source's): only the output's own time keeps it older.
    old = read(repo / "hello.c")
    word = next(w for w in (b"PUTS", b"Puts", b"pUts", b"puTs", b"putS")
                if content_time_ns(old.replace(b"puts", w))
                < content_time_ns(old))
    edit_in_place(repo / "hello.c", b"puts", word)
    git(repo, "commit", "-qam", "changed")
    git(repo, "checkout", "-q", "HEAD~1")
    run(["make", "out"], repo)
    git(repo, "checkout", "-q", "main")
    m = canonfs(repo, env=fresh_container(tmp_path, "dated0"))
    out = run(["make", "out"], m.root).stdout
    assert "cp hello.c out" in out, "make kept an output older than hello.c"
    assert word in (m.root / "out").read_bytes()


def test_a_checkout_whose_index_cannot_be_read_shows_host_times(canonfs,
                                                                tmp_path):
    """A split index (core.splitIndex) is not read: the tree cannot tell
    its outputs from its sources, so it shows host times, says so in one
    line, and make rebuilds after an edit made before the mount."""
    repo = make_project(tmp_path / "repo")
    git(repo, "update-index", "--split-index")
    run(["make"], repo)
    edit_in_place(repo / "msg.h", OLD, NEW)
    m = canonfs(repo, env=fresh_container(tmp_path, "split"))
    for name in ("hello.c", "msg.h", "hello"):
        assert os.stat(m.root / name).st_mtime_ns == \
            os.stat(repo / name).st_mtime_ns, name
    assert "git index of %s cannot be read" % repo in m.stderr()
    made, out = run_make(m.root)
    assert (made, out.strip()) == (True, "omega")


# --------------------------------------------------------------------------
# Two machines: the same checkout gives the same view; another commit's
# same-size file gives another time, so a shared cache never serves it.

def find_view(root):
    out = run(["find", ".", "-printf", "%p %s %T@ %C@ %A@ %m %i\\n"], root)
    return sorted(out.stdout.splitlines())


def tmpfs_dir(tmp_path, name):
    """A tmpfs of the test's own, in a directory it removes: two hosts'
    checkouts on two filesystem types."""
    path = tmp_path / name
    path.mkdir()
    if run(["mount", "-t", "tmpfs", "-o", "size=64m", "none", path],
           tmp_path, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    return path


@pytest.fixture
def tmpfs(tmp_path):
    made = []

    def make(name):
        made.append(tmpfs_dir(tmp_path, name))
        return made[-1]

    yield make
    for path in made:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_two_clean_checkouts_show_identical_views(canonfs, tmp_path, tmpfs):
    """One commit cloned on two "machines": different host paths, one on
    the test's filesystem and one on tmpfs, different host times. Through
    the mount every entry shows the same size, times, mode and inode."""
    origin = make_project(tmp_path / "origin")
    a = tmp_path / "host-a" / "checkout"
    b = tmpfs("host-b") / "work" / "checkout"
    run(["git", "clone", "-q", origin, a], tmp_path)
    run(["sleep", "1.1"], tmp_path)  # other host times for B
    run(["git", "clone", "-q", origin, b], tmp_path)
    shutil.rmtree(a / ".git")  # the view of what the checkout brought
    shutil.rmtree(b / ".git")
    views = []
    for src in (a, b):
        m = canonfs(src, mnt=tmp_path / "mnt", env=daemon_env(tmp_path))
        views.append(find_view(m.root))
        assert m.stop() == 0
    assert os.stat(a / "msg.h").st_mtime_ns != os.stat(b / "msg.h").st_mtime_ns
    assert views[0] == views[1], "\n".join(
        "A: %s\nB: %s" % pair for pair in zip(*views) if pair[0] != pair[1])
    line = next(v for v in views[0] if v.startswith("./msg.h "))
    assert line.split()[2] == "%d.%09d0" % divmod(
        content_time_ns(PROJECT["msg.h"]), 10**9), line
    root = next(v for v in views[0] if v.startswith(". "))
    assert root.split()[2] == "%d.0000000000" % CONTENT_EPOCH


def test_two_commits_differ_in_a_same_size_files_times_only(canonfs, tmp_path):
    a = make_project(tmp_path / "a")
    b = make_project(tmp_path / "b", word=NEW)
    views = []
    for src in (a, b):
        m = canonfs(src, mnt=tmp_path / "mnt", env=daemon_env(tmp_path))
        views.append(dict((line.split()[0], line) for line in
                          find_view(m.root) if "/.git" not in line
                          and not line.startswith(". ")))
        assert m.stop() == 0
    differ = sorted(p for p in views[0] if views[0][p] != views[1][p])
    assert differ == sorted("./" + rel for rel in WORD_FILES), differ
    for rel in WORD_FILES:
        fa, fb = views[0]["./" + rel].split(), views[1]["./" + rel].split()
        assert fa[1] == fb[1] and fa[2] != fb[2] and fa[5:] == fb[5:], \
            "only the times of %s differ: %s / %s" % (rel, fa, fb)


@pytest.mark.gobuild
def go_test_on_a_new_machine(canonfs, host, src, gocache, mnt, *options):
    """`go test -v ./reader` in src mounted at mnt, as on a new machine
    (its own digest cache and baselines) with the shared gocache:
    (served from the cache?, the word the test read)."""
    m = go_mount(canonfs, host, src, "digests=%s" % (host / "digests"),
                 *options, mnt=mnt)
    env = go_env(host, gocache, canonfs_env(m.mnt, host))
    out = go(["test", "-v", "./reader"], m.root, env, "go test").stdout
    assert m.stop() == 0
    return "(cached)" in out, out.split("input word: ", 1)[1].split()[0]


def test_a_shared_gocache_serves_a_clean_checkout_and_never_another_commit(
        canonfs, tmp_path):
    """The CI case: host A passes commit X and saves GOCACHE; host B
    restores it. A clean checkout of X on B is served from the cache; a
    checkout of Y, whose test input differs from X's at the same size, is
    not."""
    x = make_project(tmp_path / "x")
    gocache = tmp_path / "shared-gocache"
    mnt = tmp_path / "mnt"
    results = {}
    for name, word in (("A:x", OLD), ("B:x", OLD), ("B:y", NEW)):
        host = tmp_path / name.replace(":", "-")
        src = host / "checkout"
        run(["git", "clone", "-q", x, src], tmp_path)
        if word == NEW:
            edit_in_place(src / "reader" / "testdata" / "input.txt", OLD, NEW)
            git(src, "commit", "-qam", "y")
        results[name] = go_test_on_a_new_machine(canonfs, host, src,
                                                 gocache, mnt)
    assert results == {"A:x": (False, "alpha"), "B:x": (True, "alpha"),
                       "B:y": (False, "omega")}, (
        "B must reuse A's result for the same commit and re-run another "
        "commit's changed test input: %r" % results)


@pytest.mark.gobuild
def test_a_tool_set_mtime_never_serves_another_checkouts_cached_pass(
        canonfs, tmp_path):
    """Archives often date files 0. Two checkouts whose tracked test input
    was edited to the same size but other bytes and given such a time,
    taken in by -o baseline=now, mounted in turn with one GOCACHE: go test
    keys on size and mtime, so the second must not be served the first's
    result."""
    x = make_project(tmp_path / "x")
    gocache = tmp_path / "shared-gocache"
    mnt = tmp_path / "mnt"
    first = b"gamma"
    results = {}
    for name, word in (("A", first), ("B", NEW)):
        host = tmp_path / name
        src = host / "checkout"
        run(["git", "clone", "-q", x, src], tmp_path)
        data = src / "reader" / "testdata" / "input.txt"
        data.write_bytes(word + b"\n")
        os.utime(data, (0, 0))
        results[name] = go_test_on_a_new_machine(canonfs, host, src,
                                                 gocache, mnt,
                                                 "baseline=now")
    assert results == {"A": (False, first.decode()),
                       "B": (False, "omega")}, (
        "B's test input differs from A's: it must run again, not be "
        "served A's result: %r" % results)


@pytest.mark.gobuild
def test_a_smudge_filter_never_serves_another_checkouts_cached_pass(
        canonfs, tmp_path):
    """A git filter whose smudge writes a file differently on each
    machine, at the same size (per-region templating): git status is
    clean on both, but the bytes differ, so the index's blob id cannot
    stand for them. Two such checkouts mounted in turn with one GOCACHE:
    the second runs its test again."""
    x = make_project(tmp_path / "x")
    (x / ".gitattributes").write_text("reader/testdata/input.txt filter=word\n")
    git(x, "add", ".gitattributes")
    git(x, "commit", "-qm", "a filter")
    gocache = tmp_path / "shared-gocache"
    mnt = tmp_path / "mnt"
    results = {}
    for name, word in (("A", "alpha"), ("B", "omega")):
        host = tmp_path / name
        src = host / "checkout"
        smudge = "filter.word.smudge=sed s/alpha/%s/" % word
        clean = "filter.word.clean=sed s/%s/alpha/" % word
        run(["git", "-c", smudge, "-c", clean, "clone", "-q", x, src],
            tmp_path)
        git(src, "config", "filter.word.smudge", "sed s/alpha/%s/" % word)
        git(src, "config", "filter.word.clean", "sed s/%s/alpha/" % word)
        assert run(["git", "status", "--porcelain"], src).stdout == ""
        results[name] = go_test_on_a_new_machine(canonfs, host, src,
                                                 gocache, mnt)
    assert results == {"A": (False, "alpha"), "B": (False, "omega")}, (
        "B's smudged test input differs from A's: it must run again, not "
        "be served A's result: %r" % results)


@pytest.mark.parametrize("attribute,hashed", [("filter=lfs", False),
                                               ("filter=word", True),
                                               ("-filter", False)])
def test_only_a_filter_other_than_lfs_makes_files_read(canonfs, tmp_path,
                                                       attribute, hashed):
    """A clean checkout's content times come from its index, without
    reading a file, also under Git LFS (its pointer blob names the
    content). Any other filter may have written other bytes than the
    blob's: then each file is read, and still shows its content time."""
    repo = make_project(tmp_path / "repo")
    (repo / ".gitattributes").write_text("*.txt %s\n" % attribute)
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    m = canonfs(repo, env=fresh_container(tmp_path, "filters"))
    for rel in PROJECT:
        assert os.stat(m.root / rel).st_mtime_ns == \
            content_time_ns(PROJECT[rel]), rel
    assert (m.counters()["digests-hashed"] > 0) == hashed, m.counters()
    assert m.stop() == 0


@pytest.mark.parametrize("where", ["worktree", "above", "user"])
def test_a_filter_set_outside_the_mounted_tree_makes_files_read(
        canonfs, tmp_path, where):
    """A filter counts wherever git takes it from: the common info/
    attributes of a linked worktree, a .gitattributes above a mounted
    subdirectory, the user's attributes file."""
    repo = make_project(tmp_path / "repo")
    src, env = repo, fresh_container(tmp_path, "filters")
    if where == "worktree":
        (repo / ".git" / "info").mkdir(exist_ok=True)
        (repo / ".git" / "info" / "attributes").write_text(
            "*.txt filter=word\n")
        src = tmp_path / "wt"
        git(repo, "worktree", "add", "-q", str(src))
    elif where == "above":
        (repo / "reader" / ".gitattributes").write_text(
            "*.txt filter=word\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "attributes")
        src = repo / "reader" / "testdata"
    else:
        (tmp_path / "config" / "git").mkdir(parents=True)
        (tmp_path / "config" / "git" / "attributes").write_text(
            "*.txt filter=word\n")
        env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    # An index written in the second its files were: none is racy.
    time.sleep(1.1)
    git(src, "update-index", "--force-write-index")
    m = canonfs(src, env=env)
    rel = "reader/testdata/input.txt"
    shown = m.root / ("input.txt" if where == "above" else rel)
    assert os.stat(shown).st_mtime_ns == content_time_ns(PROJECT[rel])
    assert m.counters()["digests-hashed"] > 0, m.counters()
    assert m.stop() == 0


# --------------------------------------------------------------------------
# The baseline itself: kept, reset, and safe when the clock lies.

def baseline_files(tmp_path):
    d = Path(daemon_env(tmp_path)["XDG_CACHE_HOME"]) / "canonfs" / "baselines"
    return sorted(d.iterdir()) if d.exists() else []


def test_the_baseline_is_kept_and_reset_on_request(canonfs, tmp_path):
    repo = make_project(tmp_path / "repo")
    m = canonfs(repo, env=daemon_env(tmp_path))
    clean = content_time_ns(PROJECT["hello.c"])
    assert os.stat(m.root / "hello.c").st_mtime_ns == clean
    states = [p for p in baseline_files(tmp_path)
              if str(repo) in p.read_text()]
    assert len(states) == 1, "one baseline file names the tree"
    assert m.stop() == 0
    edit_in_place(repo / "hello.c", b"puts", b"PUTS")
    edit_in_place(repo / "hello.c", b"PUTS", b"puts")  # the same bytes
    m = canonfs(repo, mnt=m.mnt, env=daemon_env(tmp_path))
    assert os.stat(m.root / "hello.c").st_mtime_ns == \
        os.stat(repo / "hello.c").st_mtime_ns, \
        "touched while unmounted: a change, whatever its bytes"
    assert m.stop() == 0
    # A documented reset (on a tree the user knows is clean).
    m = canonfs(repo, "baseline=now", mnt=m.mnt, env=daemon_env(tmp_path))
    assert os.stat(m.root / "hello.c").st_mtime_ns == clean
    assert m.stop() == 0
    m = canonfs(repo, mnt=m.mnt, env=daemon_env(tmp_path))
    assert os.stat(m.root / "hello.c").st_mtime_ns == clean, \
        "the reset baseline is kept"


def test_a_baseline_in_the_future_shows_host_times_and_says_so(canonfs,
                                                                tmp_path):
    """The clock went back since the baseline was taken: ctimes cannot
    tell a change from the checkout any more, so nothing is shown as
    unchanged until the baseline is reset."""
    repo = make_project(tmp_path / "repo")
    m = canonfs(repo, env=daemon_env(tmp_path))
    assert m.stop() == 0
    state = next(p for p in baseline_files(tmp_path)
                 if str(repo) in p.read_text())
    lines = state.read_text().splitlines()
    future = int(lines[1].split(".")[0]) + 7 * 86400
    state.write_text("%s\n%d.000000000\n%s\n" % (lines[0], future, lines[2]))
    m = canonfs(repo, mnt=m.mnt, env=daemon_env(tmp_path))
    host = os.stat(repo / "hello.c")
    assert os.stat(m.root / "hello.c").st_mtime_ns == host.st_mtime_ns
    warning = [line for line in m.stderr().splitlines() if "future" in line]
    assert len(warning) == 1 and "baseline=now" in warning[0], m.stderr()
    assert m.stop() == 0
    m = canonfs(repo, mnt=m.mnt, env=daemon_env(tmp_path))
    assert os.stat(m.root / "hello.c").st_mtime_ns == host.st_mtime_ns, \
        "still untrusted at the next mount"


def test_a_baseline_that_cannot_be_kept_still_mounts_with_one_warning(
        canonfs, tmp_path):
    repo = make_project(tmp_path / "repo")
    (tmp_path / "not-a-dir").write_text("")
    env = dict(daemon_env(tmp_path),
               XDG_CACHE_HOME=str(tmp_path / "not-a-dir" / "cache"))
    m = canonfs(repo, env=env)
    assert os.stat(m.root / "hello.c").st_mtime_ns == \
        content_time_ns(PROJECT["hello.c"])
    warnings = [line for line in m.stderr().splitlines() if "warning" in line]
    assert len(warnings) == 1 and "while unmounted" in warnings[0], \
        m.stderr()


def test_a_baseline_in_the_future_is_refused_when_given(run_canonfs,
                                                        tmp_path):
    repo = make_project(tmp_path / "repo")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = run_canonfs("-o", "baseline=%d" % (int(os.path.getmtime(repo))
                                              + 86400), repo, mnt)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "future" in proc.stderr, \
        proc.stderr
    unmount(mnt)


@pytest.fixture
def seconds_fs(tmp_path):
    """An ext4 with 128-byte inodes: whole-second timestamps, as old
    filesystems and some network ones keep them."""
    image, mnt = tmp_path / "ext4.img", tmp_path / "seconds"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    if shutil.which("mkfs.ext4") is None or run(
            ["mkfs.ext4", "-q", "-I", "128", "-F", image], tmp_path,
            check=False).returncode or run(
            ["mount", "-o", "loop", image, mnt], tmp_path,
            check=False).returncode:
        pytest.skip("cannot make a loop-mounted ext4 here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_whole_second_timestamps_never_hide_a_change(canonfs, tmp_path,
                                                    seconds_fs):
    """On a filesystem that keeps seconds, an edit in the same second as
    the mount has the same ctime as the checkout: it must count as
    changed."""
    repo = make_project(seconds_fs / "repo")
    assert os.stat(repo / "msg.h").st_ctime_ns % 10**9 == 0, \
        "the test filesystem should keep whole seconds"
    m = canonfs(repo, env=daemon_env(tmp_path))
    edit_in_place(repo / "msg.h", OLD, NEW)
    m.barrier()
    assert os.stat(m.root / "msg.h").st_mtime_ns == \
        os.stat(repo / "msg.h").st_mtime_ns, \
        "an edit right after mounting shows its true time"
