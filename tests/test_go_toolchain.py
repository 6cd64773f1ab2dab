"""The Go toolchain at a fixed path: MNT/goroot.

Go 1.20+ writes GOROOT into every link key (unless -trimpath) and into the
binaries (runtime.defaultGOROOT, file paths of the standard library), and
CI machines install Go where they like: setup-go's tool cache on one,
Debian's /usr/lib/go-1.23 (whose src, api, misc and test are links into
/usr/share/go-1.23) on another. A default mount mirrors the toolchain of
the go on PATH at MNT/goroot, read-only, with the directory Debian's links
lead into at MNT/goroot-links; `canonfs env` puts MNT/goroot/bin first on
PATH, sets GOROOT and pins GOTOOLCHAIN=local. Two hosts that differ in
every host path then compile nothing on the second, run no C compiler,
make byte-identical binaries and test binaries, and serve `go test` from
the shared cache.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import read
from test_go_cache import build_steps, describe, sha256
from test_go_integration import (canonfs_env, copy_fixture, daemon_env, go,
                                 go_env, make_proxy)

pytestmark = pytest.mark.gobuild

APP_TEST = """package cinfo

import "testing"

func TestFormat(t *testing.T) {
	if Format("canonfs", 42) == "" {
		t.Fatal("nothing formatted")
	}
}
"""


def debian_goroot(version):
    root = Path("/usr/lib/go-%s" % version)
    if not (root / "bin" / "go").exists():
        pytest.skip("Debian's golang-%s-go is not installed (.ci/run "
                    "installs it)" % version)
    return root


def host_env(tmp_path, goroot):
    """The daemon's environment on a host whose go is goroot's."""
    env = daemon_env(tmp_path)
    env["PATH"] = "%s/bin:%s" % (goroot, env["PATH"])
    return env


def build_on_host(canonfs, tmp_path, name, goroot, mnt, gocache, proxy):
    """One CI host: its own checkout, module cache and toolchain paths."""
    host = tmp_path / name
    src = copy_fixture("app", host / "work" / "app", 1_500_000_000)
    (src / "cinfo" / "name_test.go").write_text(APP_TEST)
    m = canonfs(src, "digests=%s" % (host / "digests"),
                "gomodcache=%s" % (host / "modcache"), mnt=mnt,
                env=host_env(host, goroot))
    helper = canonfs_env(mnt, host)
    env = go_env(host, gocache, helper, proxy)
    env["PATH"] = helper["PATH"]  # what `eval "$(canonfs env)"` leaves
    out = host / "out"
    out.mkdir()
    build = go(["build", "-x", "-o", str(out / "app"), "./cmd/app"], m.root,
               env, "go build on " + name)
    go(["test", "-c", "-o", str(out / "cinfo.test"), "./cinfo"], m.root, env,
       "go test -c on " + name)
    tested = go(["test", "./..."], m.root, env, "go test on " + name).stdout
    ran = subprocess.run([str(out / "app")], capture_output=True, text=True,
                         timeout=60).stdout
    assert m.stop() == 0, m.stderr()
    return helper, build.stderr, out, tested, ran


@pytest.mark.parametrize("version", ["1.19", "1.23"])
def test_two_hosts_with_their_own_go_install_share_one_gocache(
        canonfs, tmp_path, version):
    debian = debian_goroot(version)
    # Host A: a tool-cache install (real directories, setup-go's layout).
    tool_cache = tmp_path / "opt" / "hostedtoolcache" / "go" / version / "x64"
    tool_cache.parent.mkdir(parents=True)
    subprocess.run(["cp", "-rL", str(debian), str(tool_cache)], check=True)
    proxy = make_proxy(tmp_path / "proxy")
    gocache, mnt = tmp_path / "gocache", tmp_path / "mnt"
    try:
        helper_a, xlog_a, out_a, tested_a, ran_a = build_on_host(
            canonfs, tmp_path, "host-a", tool_cache, mnt, gocache, proxy)
        # Host B: Debian's own layout, links into /usr/share included.
        helper_b, xlog_b, out_b, tested_b, ran_b = build_on_host(
            canonfs, tmp_path, "host-b", debian, mnt, gocache, proxy)
    finally:
        shutil.rmtree(tool_cache, ignore_errors=True)

    assert helper_a["GOROOT"] == helper_b["GOROOT"] == str(mnt / "goroot")
    assert helper_b["PATH"].split(":")[0] == str(mnt / "goroot" / "bin")
    assert helper_b["GOTOOLCHAIN"] == "local"
    assert build_steps(xlog_a), "host A compiles (an empty cache)"
    steps_b = build_steps(xlog_b)
    assert steps_b == [], (
        "host B (another GOROOT, checkout and module cache path) should "
        "compile nothing and run no C compiler: " + describe(steps_b))
    for name in ("app", "cinfo.test"):
        assert sha256(out_a / name) == sha256(out_b / name), \
            "%s differs between the two hosts (Go %s)" % (name, version)
        for goroot in (str(tool_cache), str(debian), "/usr/share/go-"):
            assert goroot.encode() not in read(out_b / name), \
                "%s names the host toolchain %s" % (name, goroot)
    assert "(cached)" not in tested_a and "(cached)" in tested_b, (
        "go test on host B should be served from A's results:\n" + tested_b)
    assert ran_a == ran_b and "canonfs" in ran_b


def test_the_toolchain_is_read_only_and_can_be_left_out(canonfs, tmp_path):
    goroot = os.path.realpath(shutil.which("go"))
    src = tmp_path / "src"
    src.mkdir()
    m = canonfs(src, env=daemon_env(tmp_path))
    go_bin = m.mnt / "goroot" / "bin" / "go"
    assert go_bin.exists(), "the toolchain of the go on PATH is mirrored"
    assert read(go_bin) == read(goroot)
    with pytest.raises(OSError) as e:
        (m.mnt / "goroot" / "new").write_text("x")
    assert e.value.errno == 30, "MNT/goroot is read-only (EROFS)"
    assert m.stop() == 0
    m = canonfs(src, "goroot=none", mnt=m.mnt, env=daemon_env(tmp_path))
    assert not (m.mnt / "goroot").exists()
    helper = canonfs_env(m.mnt, tmp_path)
    assert "GOROOT" not in helper
    assert helper["PATH"].split(":")[0] == str(m.mnt / ".canonfs" / "bin"), \
        "only the mount's compilers come first: %r" % helper["PATH"]
