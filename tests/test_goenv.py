"""`canonfs run` adds the mount's canonical Go environment to the caller's:
a GODEBUG or cgo flags the caller brings (`docker run -e GODEBUG=...
-e CGO_CPPFLAGS=-I...`) still reach the build.

- GODEBUG: the caller's settings, then the mount's, each key once; on a
  clash the mount's setting wins (it keeps builds in the mount correct);
- CGO_CPPFLAGS, CGO_CFLAGS, CGO_CXXFLAGS: the mount's flags, then the
  caller's (the mirrored system headers are searched first, a later -O or
  -D still overrides);
- GOFLAGS: the mount's -buildvcs=false (mtime=zero) before the caller's
  flags, unless those set -buildvcs;
- what an earlier `eval "$(canonfs env MNT)"` left in the environment is
  not repeated.
"""

import json
import os
import subprocess

import pytest

from conftest import CANONFS, finish_run, is_mounted, unmount

FLAG_VARS = ("CGO_CPPFLAGS", "CGO_CFLAGS", "CGO_CXXFLAGS")
SHOWN_VARS = ("GODEBUG", "GOFLAGS") + FLAG_VARS
STALE_DIGEST = "-DCANONFS_SYSHEADERS=" + "0" * 64


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "README").write_text("a tree to build in\n")
    return src


@pytest.fixture(params=["build", "my build"])
def mnt(request, tmp_path):
    """Where canonfs run mounts; a blank in it makes canonfs quote the
    -isystem paths."""
    path = tmp_path / request.param
    yield path
    unmount(path)
    assert not is_mounted(path), "canonfs run left %s mounted" % path


def clean_env(**values):
    """The test's environment without any Go or cgo variable, plus values."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GO", "CGO_")) and k not in ("CC", "CXX")}
    env.update(values)
    return env


def canonfs_run(mnt, src, script, env, *options, timeout=300):
    """`canonfs run -m MNT [-o OPT]... SRC -- sh -c SCRIPT`; the script gets
    the canonfs binary as $1 and the mountpoint as $2."""
    args = [str(CANONFS), "run", "-m", str(mnt)]
    for opt in options:
        args += ["-o", opt]
    args += [str(src), "--", "sh", "-c", script, "sh", str(CANONFS), str(mnt)]
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    result = finish_run(proc, timeout)
    assert not is_mounted(mnt), "canonfs run left %s mounted" % mnt
    return result


def seen_inside(mnt, src, tmp_path, env, *options):
    """(what the command sees of SHOWN_VARS, what `canonfs env` says the
    mount's values are, canonfs run's stderr)."""
    seen, canonical = tmp_path / "seen", tmp_path / "canonical.json"
    # `canonfs env` keeps a GODEBUG it finds: unset, it says the mount's.
    script = ('printf "%%s\\0" "$GODEBUG" "$GOFLAGS" "$CGO_CPPFLAGS" '
              '"$CGO_CFLAGS" '
              '"$CGO_CXXFLAGS" > "%s" && '
              'env -u GODEBUG -u GOFLAGS "$1" env "$2" --json > "%s"'
              % (seen, canonical))
    status, out, err = canonfs_run(mnt, src, script, env, *options)
    assert status == 0, "canonfs run failed: " + out + err
    values = seen.read_text().split("\0")[:len(SHOWN_VARS)]
    return (dict(zip(SHOWN_VARS, values)), json.loads(canonical.read_text()),
            err)


def test_the_callers_godebug_is_kept_beside_the_mounts(tree, mnt, tmp_path):
    seen, canonical, err = seen_inside(
        mnt, tree, tmp_path, clean_env(GODEBUG="x509sha1=1,http2client=0"),
        "mtime=zero")
    assert canonical["GODEBUG"] == "goindex=0", \
        "a mount with constant mtimes sets goindex=0"
    assert seen["GODEBUG"] == "x509sha1=1,http2client=0,goindex=0", (
        "canonfs run should add the mount's GODEBUG to the caller's, not "
        "replace it; the command saw GODEBUG=%r" % seen["GODEBUG"])
    assert "warning" not in err, err


def test_on_a_godebug_clash_the_mounts_setting_wins_once(tree, mnt, tmp_path):
    seen, _, err = seen_inside(
        mnt, tree, tmp_path,
        clean_env(GODEBUG="goindex=1,x509sha1=1,goindex=1,,"), "mtime=zero")
    assert seen["GODEBUG"] == "x509sha1=1,goindex=0", (
        "goindex must appear once, with the mount's value (Go 1.19 reads "
        "the first goindex=, Go 1.21 the last); the command saw %r"
        % seen["GODEBUG"])
    assert "GODEBUG setting 'goindex=1' overridden by the mount's " \
        "'goindex=0'" in err, "the override is said on stderr: " + err


def test_a_mount_without_constant_mtimes_leaves_godebug_alone(tree, mnt,
                                                              tmp_path):
    seen, canonical, _ = seen_inside(mnt, tree, tmp_path,
                                     clean_env(GODEBUG="goindex=1"),
                                     "mtime=content")
    assert "GODEBUG" not in canonical
    assert seen["GODEBUG"] == "goindex=1"


def test_the_callers_goflags_are_kept_after_the_mounts(tree, mnt, tmp_path):
    seen, canonical, _ = seen_inside(mnt, tree, tmp_path,
                                     clean_env(GOFLAGS="-mod=vendor -v"),
                                     "mtime=zero")
    assert canonical["GOFLAGS"] == "-buildvcs=false"
    assert seen["GOFLAGS"] == "-buildvcs=false -mod=vendor -v"


def test_a_callers_own_buildvcs_setting_is_theirs(tree, mnt, tmp_path):
    seen, _, _ = seen_inside(mnt, tree, tmp_path,
                             clean_env(GOFLAGS="-mod=mod -buildvcs=true"),
                             "mtime=zero")
    assert seen["GOFLAGS"] == "-mod=mod -buildvcs=true"


def test_canonfs_env_keeps_the_shells_goflags_and_godebug(tree, tmp_path):
    """Printed for eval: what the shell had stays, once, however often
    it is eval'd."""
    mnt = tmp_path / "m"
    mnt.mkdir()
    start = subprocess.run([str(CANONFS), "-o", "mtime=zero", str(tree),
                            str(mnt)],
                           env=clean_env(HOME=str(tmp_path)),
                           capture_output=True, text=True, timeout=60)
    assert start.returncode == 0, start.stderr
    try:
        script = ('export GOFLAGS=-mod=vendor GODEBUG=x509sha1=1; '
                  'eval "$("$1" env "$2")"; eval "$("$1" env "$2")"; '
                  'printf "%s|%s" "$GOFLAGS" "$GODEBUG"')
        out = subprocess.run(["sh", "-c", script, "sh", str(CANONFS),
                              str(mnt)], env=clean_env(), capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "-buildvcs=false -mod=vendor|x509sha1=1,goindex=0"
    finally:
        unmount(mnt)


def test_the_callers_cgo_flags_come_after_the_mounts(tree, mnt, tmp_path):
    user = {"CGO_CPPFLAGS": "-I/opt/dep/include -DWITH_DEP=1",
            "CGO_CFLAGS": "-O0 -DFOO=1",
            "CGO_CXXFLAGS": "-std=c++17 '-DNAME=a b'"}
    seen, canonical, _ = seen_inside(mnt, tree, tmp_path, clean_env(**user))
    for name in FLAG_VARS:
        assert seen[name] == canonical[name] + " " + user[name], (
            "%s inside canonfs run should be the mount's flags, then the "
            "caller's %r; it was %r" % (name, user[name], seen[name]))


def test_go_env_w_settings_are_the_callers_too(tree, mnt, tmp_path):
    """`go env -w` keeps settings in Go's env file, which Go reads under
    the environment: the mount's exports would hide them. canonfs run
    merges the file's cgo flags as the caller's, and says which of its
    settings the mount's values replace (CC); so does canonfs env."""
    home = tmp_path / "home"
    (home / ".config" / "go").mkdir(parents=True)
    (home / ".config" / "go" / "env").write_text(
        "CC=clang\nCGO_CFLAGS=-O0 -DMODE=2\n")
    env = clean_env(HOME=str(home), CGO_CFLAGS="")  # empty: unset, to Go
    env.pop("XDG_CONFIG_HOME", None)
    seen, canonical, err = seen_inside(mnt, tree, tmp_path, env)
    assert seen["CGO_CFLAGS"] == canonical["CGO_CFLAGS"] + " -O0 -DMODE=2", \
        "go env -w's CGO_CFLAGS should follow the mount's: %r" % seen
    assert "CC replaces what `go env -w` set" in err, err
    assert "CGO_CFLAGS" not in err, "a merged value is not replaced: " + err

    mnt.mkdir(exist_ok=True)
    start = subprocess.run([str(CANONFS), str(tree), str(mnt)], env=env,
                           capture_output=True, text=True, timeout=60)
    assert start.returncode == 0, start.stderr
    try:
        out = subprocess.run([str(CANONFS), "env", str(mnt)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "the mount's CC, CGO_CFLAGS replace what `go env -w` set" in \
            out.stderr, out.stderr
    finally:
        unmount(mnt)


def test_without_user_values_the_mounts_values_are_used(tree, mnt, tmp_path):
    seen, canonical, _ = seen_inside(mnt, tree, tmp_path, clean_env(),
                                     "mtime=zero")
    for name in SHOWN_VARS:
        assert seen[name] == canonical[name], name


def test_the_default_times_need_no_go_guards(tree, mnt, tmp_path):
    """Under the default (baseline) times every change shows a new mtime,
    so Go's module index and VCS stamps stay on: the mount sets neither
    GODEBUG nor GOFLAGS, and the caller's pass through as they are."""
    seen, canonical, err = seen_inside(
        mnt, tree, tmp_path,
        clean_env(GODEBUG="x509sha1=1", GOFLAGS="-mod=vendor"))
    assert canonical["CANONFS_MTIME"] == "baseline"
    assert "GODEBUG" not in canonical and "GOFLAGS" not in canonical, \
        canonical
    assert (seen["GODEBUG"], seen["GOFLAGS"]) == ("x509sha1=1",
                                                  "-mod=vendor")
    assert "warning" not in err, err


def test_an_evaled_canonfs_env_is_not_repeated(tree, mnt, tmp_path):
    """A shell that did eval "$(canonfs env MNT)" for an earlier mount at
    the same place, then added its own flags after (as canonfs(1) says),
    gets the same flags as one that did not."""
    _, canonical, _ = seen_inside(mnt, tree, tmp_path, clean_env(),
                                  "mtime=zero")
    evaled = {name: canonical[name] for name in SHOWN_VARS}
    evaled["CGO_CPPFLAGS"] += " -I/opt/dep/include"
    evaled["CGO_CFLAGS"] += " -DFOO=1"
    seen, again, _ = seen_inside(mnt, tree, tmp_path, clean_env(**evaled),
                                 "mtime=zero")
    assert again == canonical, "the same tree gives the same environment"
    for name in SHOWN_VARS:
        assert seen[name] == evaled[name], (
            "%s: the mount's part of %r should not be repeated; the command "
            "saw %r" % (name, evaled[name], seen[name]))


def test_a_stale_canonfs_env_is_replaced_not_added_to(tree, mnt, tmp_path):
    """An earlier mount's header digest and -isystem list (other headers,
    another -o sys=) give way to this mount's; the caller's own flags
    stay."""
    sys_dir = str(mnt / "sys" / "gone")
    if " " in sys_dir:
        sys_dir = "'%s'" % sys_dir
    stale = {"CGO_CPPFLAGS": STALE_DIGEST + " -I/opt/dep/include",
             "CGO_CFLAGS": "-g -O2 -nostdinc -isystem %s -DFOO=1" % sys_dir,
             "CGO_CXXFLAGS": "-g -O2 -nostdinc -nostdinc++ -isystem %s"
                             % sys_dir}
    seen, canonical, _ = seen_inside(mnt, tree, tmp_path, clean_env(**stale))
    assert seen["CGO_CPPFLAGS"] == \
        canonical["CGO_CPPFLAGS"] + " -I/opt/dep/include"
    assert seen["CGO_CFLAGS"] == canonical["CGO_CFLAGS"] + " -DFOO=1"
    assert seen["CGO_CXXFLAGS"] == canonical["CGO_CXXFLAGS"]


CGO_MAIN = """package main

/*
#include <stdio.h>
#include <dep.h>

static int answer(void) { return DEP_ANSWER; }
*/
import "C"

import "fmt"

func main() {
	fmt.Println("answer", int(C.answer()))
}
"""


@pytest.mark.gobuild
def test_a_user_include_path_reaches_cgo_in_a_real_build(tree, mnt,
                                                         tmp_path):
    """`docker run -e CGO_CPPFLAGS=-I/opt/dep/include`: a header outside
    the tree is found by cgo, while the system headers still come from the
    mount."""
    include = tmp_path / "dep" / "include"
    include.mkdir(parents=True)
    (include / "dep.h").write_text(
        "#include <stdint.h>\n#define DEP_ANSWER ((int32_t)42)\n")
    (tree / "go.mod").write_text("module example.com/cgouser\n\ngo 1.19\n")
    (tree / "main.go").write_text(CGO_MAIN)
    out_bin = tmp_path / "out" / "cgouser"
    env = clean_env(
        GOCACHE=str(tmp_path / "gocache"), GOFLAGS="-mod=mod -buildvcs=false",
        GOPROXY="off", GOSUMDB="off", GOTOOLCHAIN="local", GOWORK="off",
        GO111MODULE="on", CGO_ENABLED="1", LC_ALL="C",
        CGO_CPPFLAGS="-I" + str(include))
    script = ('go build -x -o "%s" . 2> "%s" && "%s"'
              % (out_bin, tmp_path / "build.log", out_bin))
    status, out, err = canonfs_run(mnt, tree, script, env)
    log = (tmp_path / "build.log").read_text() \
        if (tmp_path / "build.log").exists() else ""
    assert status == 0, (
        "go build with CGO_CPPFLAGS=-I%s inside canonfs run failed; the "
        "caller's include path should reach cgo:\n%s%s"
        % (include, err, log[-3000:]))
    assert out == "answer 42\n"
    compiles = [line for line in log.splitlines()
                if "-nostdinc" in line and "-I" + str(include) in line]
    assert compiles, (
        "gcc should get the mount's -nostdinc flags and the caller's "
        "-I%s:\n%s" % (include, log[-3000:]))
    for line in compiles:
        assert line.index("-DCANONFS_SYSHEADERS=") < \
            line.index("-I" + str(include)), (
            "the caller's CGO_CPPFLAGS come after the mount's: " + line)
