"""Go integration: the whole canonical Go environment of a mount.

Everything Go hashes into its cache keys must be the same on every machine,
and must change when (and only when) what a build reads changes:

- system headers are read through MNT/sys/NAME (cgo's gcc sees no host
  include directory), and their digest is folded into CGO_CPPFLAGS, so a
  second machine with the same headers is a full cache hit and a machine
  with a changed header recompiles its cgo packages;
- the module cache is reached at MNT/gomodcache, writable, so `go mod
  download` works through it and dependencies compile to the same keys
  from two host module caches;
- `-o mtime=content` gives each file an mtime derived from its bytes: the
  same on every host, different after any edit, so `go test`'s result cache
  (keyed on size and mtime of the files a test opens) is shared across
  checkouts and never serves a same-size edit stale;
- with constant mtimes, `canonfs env` switches Go's module index off
  (GODEBUG=goindex=0), which is keyed on size and mtime as well;
- `canonfs env MNT [--json]` and `canonfs run` give that environment.

Every go command runs in a hermetic environment (HOME, GOCACHE, GOPATH,
GOMODCACHE, XDG_CACHE_HOME, GOPROXY under the test's temporary directory),
without network: dependencies come from a file:// GOPROXY generated from
tests/fixtures/goint/modules at test time.
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import CANONFS, DEFAULT_ROOT, read, write
from test_go_cache import build_steps, describe, go_compiles

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "goint"

pytestmark = [
    pytest.mark.gobuild,
    pytest.mark.skipif(shutil.which("go") is None or shutil.which("gcc") is None,
                       reason="needs the go toolchain and gcc"),
]

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEADERS_DEFINE = re.compile(r"-DCANONFS_SYSHEADERS=([0-9a-f]+)")
DEP_MODULE = "example.com/canon/dep"
DEP_VERSION = "v1.0.0"


# --------------------------------------------------------------------------
# Helpers

def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(args, timeout=120, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kwargs)


def daemon_env(tmp_path):
    """The environment the daemon (and `canonfs env`/`run`) starts with:
    no Go variables, a HOME and XDG_CACHE_HOME of the test's own, so that
    no default ever reaches the real user's caches."""
    home = tmp_path / "daemon-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GO", "CGO_")) and k not in ("CC", "CXX")}
    env.update({"HOME": str(home),
                "XDG_CACHE_HOME": str(tmp_path / "daemon-xdg-cache")})
    return env


def go_mount(canonfs, tmp_path, src, *options, mnt=None, modcache=None):
    """Mount src with a private digest cache and module cache (unless the
    options name them) and no GOPATH mirror."""
    opts = list(options)
    if not any(o.startswith("digests=") for o in opts):
        opts.append("digests=%s" % (tmp_path / "digests"))
    if not any(o.startswith("gomodcache=") for o in opts):
        modcache = modcache or tmp_path / "modcache"
        opts.append("gomodcache=%s" % modcache)
    return canonfs(src, *opts, mnt=mnt, env=daemon_env(tmp_path))


def barrier(m):
    """Wait until every host change made so far is applied in the mount."""
    read(m.mnt / ".canonfs" / "barrier")


def canonfs_env(mnt, tmp_path, json_output=True):
    """`canonfs env MNT --json` as a dict (or the shell text)."""
    args = [CANONFS, "env", mnt] + (["--json"] if json_output else [])
    proc = run(args, timeout=120, env=daemon_env(tmp_path))
    assert proc.returncode == 0, (
        "`canonfs env %s%s` exited %d:\n%s" % (
            mnt, " --json" if json_output else "", proc.returncode,
            proc.stderr))
    if not json_output:
        return proc.stdout
    try:
        value = json.loads(proc.stdout)
    except ValueError as e:
        raise AssertionError("`canonfs env %s --json` is not JSON (%s):\n%s"
                             % (mnt, e, proc.stdout))
    assert isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()), \
        "`canonfs env --json` should print one object of strings:\n" + \
        proc.stdout
    return value


def headers_digest(helper):
    match = HEADERS_DEFINE.search(helper.get("CGO_CPPFLAGS", ""))
    assert match and HEX64.match(match.group(1)), (
        "CGO_CPPFLAGS should define CANONFS_SYSHEADERS as the 64-hex-digit "
        "SHA-256 of the mirrored system headers; the helper gave %r"
        % helper.get("CGO_CPPFLAGS"))
    return match.group(1)


def make_proxy(dst):
    """A file:// GOPROXY tree for every module under fixtures/modules:
    modules/NAME/VERSION/ holds the module's files (go.mod first line names
    the module path). Returns the GOPROXY URL."""
    dst = Path(dst)
    for moddir in sorted((FIXTURES / "modules").iterdir()):
        for verdir in sorted(moddir.iterdir()):
            gomod = (verdir / "go.mod").read_text()
            path = gomod.split("\n", 1)[0].split()[1]
            version = verdir.name
            base = dst / path / "@v"
            base.mkdir(parents=True, exist_ok=True)
            with open(base / "list", "a") as f:
                f.write(version + "\n")
            (base / (version + ".info")).write_text(json.dumps(
                {"Version": version, "Time": "2020-01-01T00:00:00Z"}))
            (base / (version + ".mod")).write_text(gomod)
            with zipfile.ZipFile(base / (version + ".zip"), "w") as z:
                for p in sorted(p for p in verdir.rglob("*") if p.is_file()):
                    info = zipfile.ZipInfo("%s@%s/%s" % (
                        path, version, p.relative_to(verdir).as_posix()),
                        (2020, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    z.writestr(info, p.read_bytes())
    return "file://" + str(dst)


def go_env(tmp_path, gocache, helper, proxy=None):
    """A hermetic Go environment (no network, no user config, one GOCACHE),
    then the helper's variables on top, as `eval "$(canonfs env MNT)"`
    would leave them."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GO", "CGO_")) and k not in ("CC", "CXX")}
    env.update({
        "HOME": str(home),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
        "GOPATH": str(home / "go"),
        "GOMODCACHE": str(tmp_path / "no-modcache-given"),
        "GOCACHE": str(gocache),
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOPROXY": proxy or "off",
        "GOSUMDB": "off",
        "GONOSUMDB": "example.com",
        "GOPRIVATE": "",
        "GO111MODULE": "on",
        "GOWORK": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "1",
        "LC_ALL": "C",
    })
    for name, value in helper.items():
        if name == "GOFLAGS":
            env[name] = (env[name] + " " + value).strip()
        else:
            env[name] = value
    return env


def go(args, cwd, env, what, check=True, timeout=600):
    env = dict(env, PWD=str(cwd))
    proc = subprocess.run(["go"] + args, cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, (
            "%s failed: `go %s` in %s exited %d\n--- stdout\n%s\n--- stderr "
            "(last 4000 chars)\n%s" % (what, " ".join(args), cwd,
                                       proc.returncode, proc.stdout,
                                       proc.stderr[-4000:]))
    return proc


def go_build(srcdir, target, out, env, what):
    """`go build -x -o OUT TARGET` in srcdir: (-x log, binary path)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = go(["build", "-x", "-o", str(out), target], srcdir, env, what)
    assert out.is_file(), "%s did not produce %s" % (what, out)
    return proc.stderr, out


def program_output(binary):
    proc = run([binary], timeout=60)
    assert proc.returncode == 0, "%s exited %d: %s" % (
        binary, proc.returncode, proc.stderr)
    return proc.stdout


def copy_fixture(name, dst, stamp):
    """A checkout of fixtures/NAME at dst, every timestamp set to stamp."""
    shutil.copytree(FIXTURES / name, dst)
    for dirpath, dirnames, filenames in os.walk(dst, topdown=False):
        for entry in filenames + [""]:
            os.utime(os.path.join(dirpath, entry), (stamp, stamp))
    return Path(dst)


def edit_same_size(path, old, new):
    """Replace old by new (same length) in the file at path, in place."""
    assert len(old) == len(new)
    data = read(path)
    assert data.count(old) == 1, "%r should occur once in %s" % (old, path)
    edited = data.replace(old, new)
    assert len(edited) == len(data)
    with open(path, "r+b") as f:
        f.write(edited)


def cgo_steps(steps):
    """The cgo and C compiler steps of a build_steps list."""
    return [s for s in steps
            if re.search(r"/pkg/tool/[^/\s]+/cgo\s", s)
            or re.search(r"(^|[\s'])(gcc|cc|g\+\+|clang)\s", s)]


def compiles_package(steps, importpath):
    return [s for s in go_compiles(steps) if "-p %s " % importpath in s]


# --------------------------------------------------------------------------
# 1. cgo's compiler sees only the mirrored system headers

def compiler_search_list(compiler, language, flags=()):
    proc = run([compiler] + list(flags) +
               ["-E", "-Wp,-v", "-x", language, "/dev/null"], timeout=60)
    lines = proc.stderr.splitlines()
    start = lines.index("#include <...> search starts here:") + 1
    end = lines.index("End of search list.")
    return [os.path.normpath(l.strip()) for l in lines[start:end]]


def isystem_dirs(flags):
    words = shlex.split(flags)
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == "-isystem"]


def dependency_paths(makerule):
    """The prerequisites of `gcc -M` output."""
    text = makerule.replace("\\\n", " ")
    _, _, deps = text.partition(":")
    return deps.split()


def header_tree(header_flag_output):
    """The headers `gcc -H` reports (lines of dots, a space, a path)."""
    return [m.group(1) for m in re.finditer(r"(?m)^\.+ (\S.*)$",
                                            header_flag_output)]


def assert_all_inside(paths, mnt, what):
    assert paths, "%s listed no header at all" % what
    prefix = str(mnt) + "/"
    outside = [p for p in paths
               if not os.path.normpath(p).startswith(prefix)
               or not os.path.realpath(p).startswith(prefix)]
    assert not outside, (
        "%s read headers from outside the mount %s (a host include "
        "directory leaks into the build): %s" % (what, mnt, outside[:10]))


DEBIAN12_C = [("/usr/lib/gcc/x86_64-linux-gnu/12/include", "cc"),
              ("/usr/local/include", "local"),
              ("/usr/include/x86_64-linux-gnu", "target"),
              ("/usr/include", "usr")]
DEBIAN12_NAMES = {
    "c": DEBIAN12_C,
    "c++": [("/usr/include/c++/12", "c++"),
            ("/usr/include/x86_64-linux-gnu/c++/12", "c++-target"),
            ("/usr/include/c++/12/backward", "c++-backward")] + DEBIAN12_C,
}

LANGUAGES = [
    ("c", "gcc", "probe.c", "CGO_CFLAGS",
     ("stdio.h", "stddef.h", "stdint.h", "stdc-predef.h"), "255"),
    ("c++", "g++", "probe.cc", "CGO_CXXFLAGS",
     ("cstdio", "vector", "stdio.h"), "3"),
]


@pytest.mark.parametrize("language,compiler,probe,flags_var,expected,prints",
                         LANGUAGES, ids=["c", "c++"])
def test_cgo_flags_take_every_system_header_from_the_mount(
        canonfs, tmp_path, language, compiler, probe, flags_var, expected,
        prints):
    if shutil.which(compiler) is None:
        pytest.skip("%s is not installed" % compiler)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "headers" / probe, src / probe)
    m = go_mount(canonfs, tmp_path, src)
    helper = canonfs_env(m.mnt, tmp_path)
    mnt = os.path.realpath(m.mnt)

    # The -isystem directories are the compiler's own search list, in its
    # order, each mirrored under MNT/sys with the host directory's entries.
    host_dirs = compiler_search_list(compiler, language)
    virtual_dirs = isystem_dirs(helper.get(flags_var, ""))
    assert len(virtual_dirs) == len(host_dirs), (
        "%s should have one -isystem per directory of %s's search list %s, "
        "in order; it is %r" % (flags_var, compiler, host_dirs,
                                helper.get(flags_var)))
    for host_dir, virtual in zip(host_dirs, virtual_dirs):
        assert virtual.startswith(mnt + "/sys/"), (
            "%s names %s, which is not under %s/sys" % (flags_var, virtual,
                                                        mnt))
        assert sorted(os.listdir(virtual)) == sorted(os.listdir(host_dir)), \
            "%s should mirror %s" % (virtual, host_dir)
    words = shlex.split(helper[flags_var])
    flags = shlex.split(helper["CGO_CPPFLAGS"]) + words
    # With the helper's flags, the compiler searches the mirrored
    # directories and nothing else: no host directory is left to fall back
    # on for a header the mirror lacks, or for #include_next.
    assert compiler_search_list(compiler, language, flags) == virtual_dirs, (
        "with $CGO_CPPFLAGS $%s, %s should search exactly %s (the host's "
        "own directories switched off with -nostdinc)" % (
            flags_var, compiler, virtual_dirs))
    documented = DEBIAN12_NAMES[language]
    if host_dirs == [d for d, _ in documented]:  # Debian 12, gcc 12
        assert virtual_dirs == [mnt + "/sys/" + n for _, n in documented], \
            "the documented names of Debian 12's search list: " + \
            helper[flags_var]
        assert sorted(os.listdir(m.mnt / "sys")) == sorted(
            n for _, n in DEBIAN12_NAMES["c++"]), \
            "MNT/sys should list the documented names"

    source = m.root / probe
    proc = run([compiler] + flags + ["-M", source], cwd=m.root, timeout=60)
    assert proc.returncode == 0, "`%s %s -M %s` failed:\n%s" % (
        compiler, " ".join(flags), source, proc.stderr)
    deps = dependency_paths(proc.stdout)
    assert_all_inside(deps, mnt, "`%s $CGO_CPPFLAGS $%s -M`" % (
        compiler, flags_var))
    names = {os.path.basename(d) for d in deps}
    missing = [h for h in expected if h not in names]
    assert not missing, "`%s -M` should list %s among %s" % (
        compiler, missing, deps)

    # -H: what the preprocessor really opened, including nested includes.
    proc = run([compiler] + flags + ["-H", "-fsyntax-only", source],
               cwd=m.root, timeout=60)
    assert proc.returncode == 0, "`%s -H` failed:\n%s" % (compiler,
                                                          proc.stderr)
    assert_all_inside(header_tree(proc.stderr), mnt,
                      "`%s $CGO_CPPFLAGS $%s -H`" % (compiler, flags_var))

    # And the program compiles and links against the mirrored headers.
    out = tmp_path / "probe"
    proc = run([compiler] + flags + ["-o", out, source], cwd=m.root,
               timeout=120)
    assert proc.returncode == 0, "compiling %s with the helper's flags " \
        "failed:\n%s" % (probe, proc.stderr)
    assert run([out], timeout=30).stdout.strip() == prints


# --------------------------------------------------------------------------
# 2. Two machines, cgo included: one GOCACHE, zero compiles, same binary

def copy_system_headers(dst):
    """A machine's system headers: gcc's own include directory, an empty
    /usr/local/include, /usr/include (whose TRIPLET subdirectory is the
    target's). Returns the -o sys= options that mirror them."""
    gcc_include = run(["gcc", "-print-file-name=include"]).stdout.strip()
    triplet = run(["gcc", "-print-multiarch"]).stdout.strip() or \
        "x86_64-linux-gnu"
    dst.mkdir(parents=True)
    subprocess.run(["cp", "-a", gcc_include, str(dst / "gcc-include")],
                   check=True, timeout=120)
    subprocess.run(["cp", "-a", "/usr/include", str(dst / "usr-include")],
                   check=True, timeout=300)
    (dst / "local-include").mkdir()
    return ["sys=none",
            "sys=cc:%s" % (dst / "gcc-include"),
            "sys=local:%s" % (dst / "local-include"),
            "sys=target:%s" % (dst / "usr-include" / triplet),
            "sys=usr:%s" % (dst / "usr-include")]


def test_two_machines_share_one_gocache_for_a_cgo_module_with_a_dependency(
        canonfs, tmp_path):
    proxy = make_proxy(tmp_path / "proxy")
    machine_a = copy_system_headers(tmp_path / "machine-a")
    machine_b = copy_system_headers(tmp_path / "machine-b")
    src_a = copy_fixture("app", tmp_path / "alice" / "src" / "app",
                         1_000_000_000)
    src_b = copy_fixture("app", tmp_path / "bob" / "w" / "x" / "app",
                         1_700_000_000)
    modcache_a = tmp_path / "alice" / "gomodcache"
    modcache_b = tmp_path / "bob" / "cache" / "mod"
    gocache = tmp_path / "gocache"
    mnt = tmp_path / "mnt"

    m = go_mount(canonfs, tmp_path, src_a, *machine_a, mnt=mnt,
                 modcache=modcache_a)
    helper_a = canonfs_env(mnt, tmp_path)
    xlog_a, bin_a = go_build(m.root, "./cmd/app", tmp_path / "out-a" / "app",
                             go_env(tmp_path, gocache, helper_a, proxy),
                             "building machine A's checkout")
    assert m.stop() == 0, "canonfs (machine A) did not exit cleanly:\n" + \
        m.stderr()

    m = go_mount(canonfs, tmp_path, src_b, *machine_b, mnt=mnt,
                 modcache=modcache_b)
    helper_b = canonfs_env(mnt, tmp_path)
    env_b = go_env(tmp_path, gocache, helper_b, proxy)
    xlog_b, bin_b = go_build(m.root, "./cmd/app", tmp_path / "out-b" / "app",
                             env_b, "building machine B's checkout")

    steps_a, steps_b = build_steps(xlog_a), build_steps(xlog_b)
    assert compiles_package(steps_a, "example.com/canon/app/cinfo") and \
        compiles_package(steps_a, DEP_MODULE + "/depname") and \
        cgo_steps(steps_a), (
            "the first build (empty cache) should compile the cgo package "
            "(cgo, gcc) and the dependency; " + describe(steps_a))
    assert helper_a == helper_b, (
        "the same headers at the same mountpoint should give the same "
        "environment on both machines:\nA: %s\nB: %s" % (helper_a, helper_b))
    assert steps_b == [], (
        "machine B (other host paths for the source, the module cache and "
        "the system headers, same bytes) should be served entirely from "
        "the shared GOCACHE, but it recompiled: " + describe(steps_b))
    assert sha256(bin_a) == sha256(bin_b), \
        "the binaries of machines A and B differ"
    assert program_output(bin_b).strip() == \
        "<canonfs:42> [dep v1.0.0 APP]"
    for host in (tmp_path / "machine-a", tmp_path / "machine-b", src_a,
                 src_b, modcache_a, modcache_b):
        assert str(host).encode() not in read(bin_b), \
            "the host path %s is embedded in the binary" % host
        assert str(host) not in xlog_b and str(host) not in xlog_a, \
            "the host path %s appears in the build commands" % host

    # One byte of a comment in machine B's stdio.h, the size unchanged:
    # Go does not hash system headers; the digest in CGO_CPPFLAGS must
    # change, and the cgo package must recompile.
    stdio = tmp_path / "machine-b" / "usr-include" / "stdio.h"
    edit_same_size(stdio, b"Define ISO C stdio", b"define ISO C stdio")
    barrier(m)
    helper_edit = canonfs_env(mnt, tmp_path)
    assert headers_digest(helper_edit) != headers_digest(helper_b), (
        "a changed byte in stdio.h must change CANONFS_SYSHEADERS (both "
        "are %s)" % headers_digest(helper_b))
    assert {k: v for k, v in helper_edit.items() if k != "CGO_CPPFLAGS"} == \
        {k: v for k, v in helper_b.items() if k != "CGO_CPPFLAGS"}, \
        "only CGO_CPPFLAGS should change with a header"
    xlog_c, bin_c = go_build(m.root, "./cmd/app", tmp_path / "out-c" / "app",
                             go_env(tmp_path, gocache, helper_edit, proxy),
                             "rebuilding after the header edit")
    steps_c = build_steps(xlog_c)
    assert compiles_package(steps_c, "example.com/canon/app/cinfo") and \
        cgo_steps(steps_c), (
            "after a system header changed, the cgo package must be "
            "recompiled, not served from the cache; " + describe(steps_c))
    assert program_output(bin_c).strip() == "<canonfs:42> [dep v1.0.0 APP]"

    # The byte back: the digest is the original one, and all is cached.
    edit_same_size(stdio, b"define ISO C stdio", b"Define ISO C stdio")
    barrier(m)
    helper_back = canonfs_env(mnt, tmp_path)
    assert helper_back == helper_b, \
        "the original headers should give the original environment back"
    xlog_d, _ = go_build(m.root, "./cmd/app", tmp_path / "out-d" / "app",
                         go_env(tmp_path, gocache, helper_back, proxy),
                         "rebuilding with the original header")
    assert build_steps(xlog_d) == [], (
        "with the original headers back, the build should be served from "
        "the cache; " + describe(build_steps(xlog_d)))


# --------------------------------------------------------------------------
# 3. Module mode: dependencies downloaded through MNT/gomodcache

def test_module_dependencies_download_through_the_mount_and_are_cache_hits(
        canonfs, tmp_path):
    proxy = make_proxy(tmp_path / "proxy")
    src_a = copy_fixture("modapp", tmp_path / "a" / "modapp", 1_100_000_000)
    src_b = copy_fixture("modapp", tmp_path / "b" / "c" / "modapp",
                         1_600_000_000)
    modcache_a = tmp_path / "a" / "pkg" / "mod"
    modcache_b = tmp_path / "b" / "modcache"
    gocache = tmp_path / "gocache"
    mnt = tmp_path / "mnt"
    extracted = Path(DEP_MODULE + "@" + DEP_VERSION) / "depname" / \
        "depname.go"
    downloaded = Path("cache/download") / DEP_MODULE / "@v" / \
        (DEP_VERSION + ".zip")

    m = go_mount(canonfs, tmp_path, src_a, mnt=mnt, modcache=modcache_a)
    helper = canonfs_env(mnt, tmp_path)
    assert helper.get("GOMODCACHE") == os.path.realpath(mnt) + "/gomodcache", \
        "GOMODCACHE should be MNT/gomodcache: %r" % helper.get("GOMODCACHE")
    env = go_env(tmp_path, gocache, helper, proxy)
    go(["mod", "download", "-x"], m.root, env,
       "`go mod download` through MNT/gomodcache")
    for path in (extracted, downloaded):
        assert (modcache_a / path).is_file(), (
            "`go mod download` through the mount should have written %s "
            "into the host module cache %s" % (path, modcache_a))
        assert read(mnt / "gomodcache" / path) == read(modcache_a / path)
    assert read(modcache_a / extracted) == read(
        FIXTURES / "modules" / "dep" / DEP_VERSION / "depname" /
        "depname.go")
    xlog_a, bin_a = go_build(m.root, "./cmd/modapp", tmp_path / "oa" / "m",
                             env, "building checkout A")
    assert m.stop() == 0, m.stderr()

    m = go_mount(canonfs, tmp_path, src_b, mnt=mnt, modcache=modcache_b)
    helper_b = canonfs_env(mnt, tmp_path)
    assert helper_b == helper
    # No explicit download: the build fetches the module itself.
    xlog_b, bin_b = go_build(m.root, "./cmd/modapp", tmp_path / "ob" / "m",
                             go_env(tmp_path, gocache, helper_b, proxy),
                             "building checkout B with an empty module cache")
    assert (modcache_b / extracted).is_file(), \
        "the build should have downloaded the dependency into %s" % modcache_b

    steps_a, steps_b = build_steps(xlog_a), build_steps(xlog_b)
    assert compiles_package(steps_a, DEP_MODULE + "/depname"), \
        "the first build should compile the dependency; " + describe(steps_a)
    assert steps_b == [], (
        "the same module with its dependency in another host module cache, "
        "at the same MNT/gomodcache, should be all cache hits; "
        + describe(steps_b))
    assert sha256(bin_a) == sha256(bin_b), "the binaries differ"
    assert program_output(bin_b).strip() == "[dep v1.0.0 MODAPP]"
    for host in (modcache_a, modcache_b, src_a, src_b):
        assert str(host).encode() not in read(bin_b), \
            "the host path %s is embedded in the binary" % host


# --------------------------------------------------------------------------
# 4. go test results: shared across checkouts, never stale (content mode)

TEST_PKG = "example.com/canon/datatest/reader"
TEST_LINE = re.compile(r"^(ok|FAIL)\s+%s\b(.*)$" % re.escape(TEST_PKG), re.M)


def go_test(m, tmp_path, gocache, what):
    """`go test -v ./...` in the mount: (output, cached?, passed?)."""
    env = go_env(tmp_path, gocache, canonfs_env(m.mnt, tmp_path))
    proc = go(["test", "-v", "./..."], m.root, env, what, check=False)
    output = proc.stdout + proc.stderr
    match = TEST_LINE.search(proc.stdout)
    assert match, "%s: no result line for %s:\n%s" % (what, TEST_PKG, output)
    passed = match.group(1) == "ok"
    assert passed == (proc.returncode == 0), output
    return output, "(cached)" in match.group(2), passed


def datatest_checkouts(tmp_path):
    return (copy_fixture("datatest", tmp_path / "a" / "datatest",
                         1_200_000_000),
            copy_fixture("datatest", tmp_path / "b" / "x" / "datatest",
                         1_650_000_000))


def test_content_mtimes_share_test_results_and_never_serve_an_edit_stale(
        canonfs, tmp_path):
    src_a, src_b = datatest_checkouts(tmp_path)
    gocache = tmp_path / "gocache"
    mnt = tmp_path / "mnt"

    m = go_mount(canonfs, tmp_path, src_a, "mtime=content", mnt=mnt)
    out, cached, passed = go_test(m, tmp_path, gocache, "go test in A")
    assert passed and not cached, "the first run should run and pass:\n" + out
    assert "input word: alpha" in out
    assert m.stop() == 0, m.stderr()

    m = go_mount(canonfs, tmp_path, src_b, "mtime=content", mnt=mnt)
    out, cached, passed = go_test(m, tmp_path, gocache, "go test in B")
    assert passed and cached, (
        "the same test reading the same data file from a second checkout "
        "should be served from the test cache \"(cached)\":\n" + out)

    # A same-size edit of the data file on the host.
    edit_same_size(src_b / "reader" / "testdata" / "input.txt",
                   b"alpha", b"omega")
    barrier(m)
    out, cached, passed = go_test(m, tmp_path, gocache,
                                  "go test after the edit")
    assert not cached, (
        "with -o mtime=content, a same-size edit of a file the test reads "
        "must not be served from the test cache:\n" + out)
    assert not passed and "input word: omega" in out, \
        "the test should run on the new contents and fail:\n" + out


def test_constant_mtime_documented_limitation_test_cache_serves_same_size_edit(
        canonfs, tmp_path):
    """The documented caveat of the constant modes (why `content` exists):
    Go keys the test result cache on the size and mtime of the files a test
    opens, so under mtime=zero a same-size edit is served "(cached)" with
    the old result. If this starts failing, canonfs(1)'s caveat and the
    GODEBUG/`-count=1` advice need revisiting."""
    src, _ = datatest_checkouts(tmp_path)
    gocache = tmp_path / "gocache"
    m = go_mount(canonfs, tmp_path, src, "mtime=zero")
    out, cached, passed = go_test(m, tmp_path, gocache, "go test")
    assert passed and not cached, out
    edit_same_size(src / "reader" / "testdata" / "input.txt",
                   b"alpha", b"omega")
    barrier(m)
    assert read(m.root / "reader" / "testdata" / "input.txt") == b"omega\n"
    out, cached, passed = go_test(m, tmp_path, gocache, "go test after edit")
    assert cached and passed and "input word: alpha" in out, (
        "under mtime=zero, Go cannot see a same-size edit of test data "
        "(the documented limitation); expected a stale \"(cached)\" PASS:\n"
        + out)


# --------------------------------------------------------------------------
# 5. A same-size edit of an import list is seen (module index)

IMPORT_OLD = (b'"strings"', b'strings.Repeat("ab", 2)')
IMPORT_NEW = (b'"strconv"', b'strconv.Quote("abcdef")')


def swap_import(path):
    edit_same_size(path, IMPORT_OLD[0], IMPORT_NEW[0])
    edit_same_size(path, IMPORT_OLD[1], IMPORT_NEW[1])


def import_edit_build(canonfs, tmp_path, mode, drop_godebug=False):
    """Build fixtures/imports, swap its import for one of the same length
    on the host, rebuild: (helper, output before, rebuild process, binary)."""
    src = copy_fixture("imports", tmp_path / "imports", 1_300_000_000)
    m = go_mount(canonfs, tmp_path, src, "mtime=%s" % mode)
    helper = canonfs_env(m.mnt, tmp_path)
    env = go_env(tmp_path, tmp_path / "gocache", helper)
    if drop_godebug:
        env.pop("GODEBUG", None)
    out = tmp_path / "out" / "imports"
    go_build(m.root, "./cmd/imports", out, env, "the first build")
    before = program_output(out)
    main_go = src / "cmd" / "imports" / "main.go"
    size = main_go.stat().st_size
    swap_import(main_go)
    assert main_go.stat().st_size == size
    barrier(m)
    os.unlink(out)
    proc = go(["build", "-o", str(out), "./cmd/imports"], m.root, env,
              "the build after the import edit", check=False)
    return helper, before, proc, out


@pytest.mark.parametrize("mode", ["zero", "content", "baseline"])
def test_same_size_import_edit_rebuilds_correctly_with_the_helper_env(
        canonfs, tmp_path, mode):
    helper, before, proc, out = import_edit_build(canonfs, tmp_path, mode)
    if mode == "zero":
        assert "goindex=0" in helper.get("GODEBUG", "").split(","), (
            "with constant mtimes the helper must switch Go's module index "
            "off (GODEBUG=goindex=0); it gave %r" % helper)
    else:
        assert "GODEBUG" not in helper, (
            "with content or baseline mtimes the module index is safe: the "
            "helper should not set GODEBUG; it gave %r" % helper["GODEBUG"])
    assert before.strip() == "abab"
    assert proc.returncode == 0 and "could not import" not in proc.stderr, (
        "after a same-size edit of the import list, the build under "
        "mtime=%s with the helper's environment failed (a stale import "
        "list?):\n%s" % (mode, proc.stderr))
    assert program_output(out).strip() == '"abcdef"', \
        "the rebuilt program does not reflect the edit"


def test_constant_mtime_documented_limitation_module_index_needs_goindex_off(
        canonfs, tmp_path):
    """Why the helper sets GODEBUG=goindex=0 under constant mtimes: Go's
    module index keys a package's import list on its files' names, sizes
    and mtimes, so without it a same-size import edit gives a stale import
    list ("could not import strconv"). This makes the test above meaningful:
    there, the edit really hits the index."""
    helper, before, proc, out = import_edit_build(canonfs, tmp_path, "zero",
                                                  drop_godebug=True)
    assert before.strip() == "abab"
    assert proc.returncode != 0 and "could not import strconv" in \
        proc.stderr, (
            "expected Go's module index to keep the stale import list "
            "under mtime=zero without GODEBUG=goindex=0; the build gave "
            "(exit %d):\n%s" % (proc.returncode, proc.stderr))


# --------------------------------------------------------------------------
# 6. mtime=content: the same bytes give the same mtime, anywhere

CONTENT_FILES = {
    "a.txt": b"one\n",
    "b.txt": b"two\n",
    "same-as-a.txt": b"one\n",
    "dir/c.go": b"package dir\n",
    "dir/d.bin": bytes(range(256)) * 4,
    "e": b"",
    "f.txt": b"x" * 100,
}


def content_tree(root, stamp):
    for name, data in CONTENT_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (stamp, stamp + 0.123456789))
    return root


def times(path):
    st = os.stat(path)
    return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def test_content_mtimes_are_a_function_of_the_bytes(canonfs, tmp_path):
    a = content_tree(tmp_path / "host-a" / "tree", 1_000_000_000)
    b = content_tree(tmp_path / "elsewhere" / "b" / "tree", 1_690_000_000)
    ma = go_mount(canonfs, tmp_path, a, "mtime=content")
    mb = go_mount(canonfs, tmp_path, b, "mtime=content")

    shown_a = {n: times(ma.root / n) for n in CONTENT_FILES}
    shown_b = {n: times(mb.root / n) for n in CONTENT_FILES}
    assert shown_a == shown_b, (
        "identical bytes at two host paths with different host mtimes must "
        "show identical timestamps:\n%s\n%s" % (shown_a, shown_b))
    for name, (atime, mtime, ctime) in shown_a.items():
        assert atime == mtime == ctime, \
            "%s: atime, mtime and ctime should be the same: %s" % (
                name, shown_a[name])
        assert 315_532_800 * 10**9 < mtime < 946_684_800 * 10**9, (
            "%s: the content mtime %d should be a date in 1980-1999"
            % (name, mtime))
    assert shown_a["a.txt"] == shown_a["same-as-a.txt"], \
        "two files with the same bytes should show the same mtime"
    distinct = {n: t[1] for n, t in shown_a.items() if n != "same-as-a.txt"}
    assert len(set(distinct.values())) == len(distinct), (
        "files with different bytes should show different mtimes: %s"
        % distinct)
    assert any(mtime % 10**9 for mtime in distinct.values()), \
        "the nanoseconds should carry hash bits too: %s" % distinct

    # A same-size edit on the host changes the mtime shown; the bytes back
    # give the old mtime back.
    edit_same_size(b / "b.txt", b"two", b"TWO")
    barrier(mb)
    edited = times(mb.root / "b.txt")
    assert edited[1] != shown_b["b.txt"][1], \
        "a same-size edit must change the content mtime"
    assert 315_532_800 * 10**9 < edited[1] < 946_684_800 * 10**9
    write(b / "b.txt", b"two\n")
    barrier(mb)
    assert times(mb.root / "b.txt") == shown_b["b.txt"], \
        "the original bytes should give the original mtime back"
    assert times(ma.root / "b.txt") == shown_a["b.txt"]


# --------------------------------------------------------------------------
# 7. `canonfs env`: errors, shell and JSON

@pytest.mark.skipif(not shutil.which("clang++"), reason="needs clang")
def test_cgo_cplusplus_builds_with_the_chosen_compilers_partner(canonfs,
                                                               tmp_path):
    """MNT/sys mirrors the C++ headers of the -o cc compiler, so Go must
    compile .cc files with its C++ partner: with only CC=clang exported,
    Go's default g++ met clang's headers and failed."""
    src = tmp_path / "src"
    (src / "p").mkdir(parents=True)
    (src / "go.mod").write_text("module example.com/x\n\ngo 1.19\n")
    (src / "p" / "p.go").write_text(
        'package p\n\n// int f(void);\nimport "C"\n\n'
        "func F() int { return int(C.f()) }\n")
    (src / "p" / "p.cc").write_text(
        "#include <cstddef>\n#include <string>\n"
        'extern "C" int f(void) { return (int)std::string("abc").size(); }\n')
    m = go_mount(canonfs, tmp_path, src, "cc=clang")
    helper = canonfs_env(m.mnt, tmp_path)
    assert helper.get("CXX") == str(m.mnt / ".canonfs/bin/c++"), helper
    assert "clang++'" in read(m.mnt / ".canonfs/bin/c++").decode()
    env = go_env(tmp_path, tmp_path / "gocache", helper)
    go(["build", "./p"], m.root, env, "a cgo C++ package under -o cc=clang")


@pytest.mark.parametrize("name", ["build dir", "it's a build dir"])
def test_cgo_builds_in_a_mountpoint_with_blanks_and_quotes(canonfs, tmp_path,
                                                          name):
    """Go splits CGO_CFLAGS at blanks, and a field that starts with a quote
    runs to the same quote with no escapes: a mountpoint holding a blank
    and an apostrophe needs the other quote."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module example.com/q\n\ngo 1.19\n")
    (src / "main.go").write_text(
        'package main\n\n// #include <stddef.h>\n'
        '// static size_t width(void) { return sizeof(size_t); }\n'
        'import "C"\n\nimport "fmt"\n\n'
        'func main() { fmt.Println(C.width()) }\n')
    m = go_mount(canonfs, tmp_path, src, mnt=tmp_path / name)
    env = go_env(tmp_path, tmp_path / "gocache", canonfs_env(m.mnt, tmp_path))
    go(["build", "-o", str(tmp_path / "q"), "."], m.root, env,
       "a cgo build under %r" % name)
    assert run([str(tmp_path / "q")], timeout=30).stdout.strip() == "8"


def test_env_warns_of_a_gocache_inside_the_mount(canonfs, tmp_path):
    """Go trims its build cache by the entries' mtimes, which the mount
    shows as constant: a GOCACHE reached through the mount would be
    emptied by the first build. `canonfs env` says so on stderr, and
    still prints the exports."""
    src = tmp_path / "src"
    src.mkdir()
    m = go_mount(canonfs, tmp_path, src)
    for gocache, warned in ((m.root / ".gocache", True),
                            (tmp_path / "gocache", False)):
        proc = run([CANONFS, "env", m.mnt], timeout=60,
                   env=dict(daemon_env(tmp_path), GOCACHE=str(gocache)))
        assert proc.returncode == 0, proc.stderr
        assert "export GOMODCACHE=" in proc.stdout
        lines = proc.stderr.splitlines()
        if warned:
            assert len(lines) == 1 and "GOCACHE" in lines[0] and \
                "inside the mount" in lines[0], proc.stderr
        else:
            assert lines == [], proc.stderr


def test_env_of_a_path_that_is_not_a_mount_is_one_line_and_fails(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for path in (plain, tmp_path / "missing"):
        for extra in ([], ["--json"]):
            proc = run([CANONFS, "env", path] + extra, timeout=30,
                       env=daemon_env(tmp_path))
            assert proc.returncode != 0, \
                "`canonfs env %s` should fail: %s" % (path, proc.stdout)
            assert proc.stdout == "", \
                "nothing should be printed on stdout: %r" % proc.stdout
            lines = proc.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("canonfs"), \
                "expected one line on stderr, got %r" % proc.stderr


EXPORT_LINE = re.compile(r"^export ([A-Z_][A-Z0-9_]*)='((?:[^']|'\\'')*)'$")


def test_env_shell_exports_and_json_agree(canonfs, tmp_path):
    src = copy_fixture("imports", tmp_path / "src", 1_300_000_000)
    m = go_mount(canonfs, tmp_path, src)
    helper = canonfs_env(m.mnt, tmp_path)
    shell = canonfs_env(m.mnt, tmp_path, json_output=False)
    mnt = os.path.realpath(m.mnt)

    names = []
    for line in shell.splitlines():
        match = EXPORT_LINE.match(line)
        assert match, "not an `export NAME='VALUE'` line: %r" % line
        names.append(match.group(1))
    assert sorted(names) == sorted(helper), \
        "shell %s vs JSON %s" % (names, sorted(helper))

    # What a shell really gets from `eval "$(canonfs env MNT)"`.
    script = shell + "\nexec /usr/bin/env -0\n"
    proc = run(["/usr/bin/env", "-i", "/bin/sh", "-c", script], timeout=30)
    assert proc.returncode == 0, proc.stderr
    got = dict(item.split("=", 1) for item in proc.stdout.split("\0")
               if "=" in item)
    assert {n: got.get(n) for n in helper} == helper, \
        "the shell exports and the JSON disagree:\n%s\n%s" % (shell, helper)

    # The documented values of a default mount.
    assert helper["GOMODCACHE"] == mnt + "/gomodcache"
    assert helper["TZ"] == "UTC"
    assert "GOPATH" not in helper, "no GOPATH is mirrored here: %r" % helper
    # The mount's compilers: the discovered one, its headers only.
    assert helper["CC"] == mnt + "/.canonfs/bin/cc", helper
    assert helper["CXX"] == mnt + "/.canonfs/bin/c++", helper
    # The default times show every change: no guard against Go's index.
    assert helper["CANONFS_MTIME"] == "baseline", helper
    assert "GODEBUG" not in helper and "GOFLAGS" not in helper, helper
    headers_digest(helper)
    assert helper["CGO_CFLAGS"].startswith("-g -O2 -nostdinc "), \
        helper["CGO_CFLAGS"]


def test_env_names_cc_and_gopath_only_when_given(canonfs, tmp_path):
    src = copy_fixture("imports", tmp_path / "src", 1_300_000_000)
    gopath = tmp_path / "gopath"
    (gopath / "src").mkdir(parents=True)
    m = go_mount(canonfs, tmp_path, src, "cc=gcc", "gopath=%s" % gopath,
                 "mtime=content")
    helper = canonfs_env(m.mnt, tmp_path)
    mnt = os.path.realpath(m.mnt)
    # The mount's compilers run -o cc= and its C++ partner.
    assert helper.get("CC") == mnt + "/.canonfs/bin/cc", helper
    assert "exec '%s'" % shutil.which("gcc") in \
        read(m.mnt / ".canonfs/bin/cc").decode()
    assert "exec '%s'" % shutil.which("g++") in \
        read(m.mnt / ".canonfs/bin/c++").decode(), "the C++ partner of -o cc"
    assert helper.get("GOPATH") == mnt + "/gopath", helper
    assert sorted(os.listdir(m.mnt / "gopath")) == ["src"]
    assert "GODEBUG" not in helper, \
        "content mtimes keep the module index safe: no GODEBUG: %r" % helper


def test_a_gopath_of_several_entries_keeps_the_later_ones(canonfs, tmp_path):
    """Only $GOPATH's first entry is mirrored (MNT/gopath); the exported
    GOPATH keeps the others at their host paths, so that a package found
    only there still builds."""
    gp1, gp2 = tmp_path / "gp1", tmp_path / "gp2"
    (gp1 / "src" / "a").mkdir(parents=True)
    (gp2 / "src" / "b").mkdir(parents=True)
    (gp1 / "src" / "a" / "a.go").write_text(
        'package main\n\nimport "b"\n\nfunc main() { println(b.N) }\n')
    (gp2 / "src" / "b" / "b.go").write_text("package b\n\nconst N = 7\n")
    src = tmp_path / "src"
    src.mkdir()
    env = dict(daemon_env(tmp_path), GOPATH="%s:%s" % (gp1, gp2))
    m = canonfs(src, "digests=%s" % (tmp_path / "digests"),
                "gomodcache=none", env=env)
    helper = canonfs_env(m.mnt, tmp_path)
    mnt = os.path.realpath(m.mnt)
    assert helper.get("GOPATH") == "%s/gopath:%s" % (mnt, gp2), helper
    build_env = dict(go_env(tmp_path, tmp_path / "gocache", helper),
                     GO111MODULE="off", GOFLAGS="")
    go(["build", "-o", str(tmp_path / "a.bin"), "a"],
       m.mnt / "gopath" / "src" / "a", build_env, "a GOPATH-mode build")


@pytest.mark.parametrize("spelling", ["as mounted", "through a symlink"])
def test_remount_from_a_shell_that_took_the_mounts_env(canonfs, tmp_path,
                                                       spelling):
    """A shell that ran `eval "$(canonfs env MNT)"` holds
    GOMODCACHE=MNT/gomodcache (and GOPATH=MNT/gopath when one was
    mirrored). Mounting the same place again from that shell works: those
    values name the mount itself, so canonfs passes over them to the next
    of Go's rules ($HOME/go/pkg/mod), and creates nothing in the
    mountpoint, which a refused mount would leave non-empty. The same
    holds when the values reach the mountpoint through a symlink (a home
    directory that is a link, a mountpoint given by another name)."""
    src = tmp_path / "src"
    src.mkdir()
    home = tmp_path / "home"
    (home / "go" / "pkg" / "mod" / "example.com@v1").mkdir(parents=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    named = mnt
    if spelling == "through a symlink":
        named = tmp_path / "link"
        named.symlink_to(mnt)
    env = dict(os.environ, HOME=str(home),
               GOMODCACHE=str(named / "gomodcache"),
               GOPATH=str(named / "gopath"))
    m = canonfs(src, mnt=mnt, env=env)
    assert sorted(os.listdir(m.mnt)) == DEFAULT_ROOT, \
        "no MNT/gopath from a GOPATH inside the mount: %r" % os.listdir(m.mnt)
    assert os.listdir(m.mnt / "gomodcache") == ["example.com@v1"], \
        "MNT/gomodcache should show $HOME/go/pkg/mod"
    assert m.stop() == 0
    assert os.listdir(mnt) == [], "the mountpoint was written to"


# --------------------------------------------------------------------------
# 8. `canonfs run` applies the same environment

def test_run_gives_the_command_the_canonical_environment(tmp_path):
    src = copy_fixture("app", tmp_path / "src", 1_300_000_000)
    mnt = tmp_path / "build"
    out = tmp_path / "out"
    out.mkdir()
    script = ('echo "$GOMODCACHE"; echo "$CGO_CPPFLAGS"; echo "$TZ"; '
              '/usr/bin/env -0 > "$1/run.env"; '
              '"$2" env "$3" --json > "$1/env.json"')
    proc = run([CANONFS, "run", "-m", mnt,
                "-o", "digests=%s" % (tmp_path / "digests"),
                "-o", "gomodcache=%s" % (tmp_path / "modcache"),
                src, "--", "sh", "-c", script, "sh", out, CANONFS, mnt],
               timeout=300, env=daemon_env(tmp_path))
    assert proc.returncode == 0, "canonfs run failed (%d):\n%s\n%s" % (
        proc.returncode, proc.stdout, proc.stderr)
    resolved = os.path.realpath(mnt)
    lines = proc.stdout.splitlines()
    assert len(lines) == 3, proc.stdout
    assert lines[0] == resolved + "/gomodcache"
    assert re.search(r"-DCANONFS_SYSHEADERS=[0-9a-f]{64}\b", lines[1]), \
        lines[1]
    assert lines[2] == "UTC"

    helper = json.loads((out / "env.json").read_text())
    got = dict(item.split("=", 1) for item in
               (out / "run.env").read_text().split("\0") if "=" in item)
    assert {n: got.get(n) for n in helper} == helper, (
        "canonfs run should give the command exactly what `canonfs env` "
        "prints:\nrun: %s\nenv: %s" % (
            {n: got.get(n) for n in helper}, helper))


def vcs_build(canonfs, tmp_path, mtime):
    """A git checkout built inside the mount with the environment
    `canonfs env` gives (over a GOFLAGS of the caller's own), then a
    same-size edit on the host and a second build. Returns (the edited
    build's output, `go version -m` of it, the GOFLAGS canonfs env gave)."""
    if shutil.which("git") is None:
        pytest.fail("git is missing: scripts/install-deps.sh installs it")
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module example.com/calc\n\ngo 1.19\n")
    (src / "main.go").write_text(
        'package main\n\nimport "fmt"\n\n'
        'func main() { a, b := 5, 3; fmt.Println(a + b) }\n')
    git = ["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
        assert run(git + args).returncode == 0
    options = ["mtime=%s" % mtime] if mtime else []
    m = go_mount(canonfs, tmp_path, src, *options)
    helper = canonfs_env(m.mnt, tmp_path)
    env = dict(daemon_env(tmp_path), HOME=str(tmp_path / "home"),
               GOCACHE=str(tmp_path / "gocache"), GOPROXY="off",
               GO111MODULE="on", GOWORK="off", GOTOOLCHAIN="local")
    env.update(helper)
    env["GOFLAGS"] = " ".join(filter(None, [helper.get("GOFLAGS"),
                                            "-trimpath"]))
    go(["build", "-o", str(tmp_path / "one"), "."], m.root, env, "build")
    main = src / "main.go"
    main.write_text(main.read_text().replace("a + b", "a - b"))
    barrier(m)
    go(["build", "-o", str(tmp_path / "two"), "."], m.root, env,
       "build after the edit")
    out = run([tmp_path / "two"]).stdout
    info = run(["go", "version", "-m", tmp_path / "two"], env=env).stdout
    return out, info, helper.get("GOFLAGS")


def test_a_vcs_stamp_never_calls_an_edited_checkout_clean(canonfs, tmp_path):
    """Under mtime=zero, git inside the mount trusts its index for a
    same-size edit (the index's own mtime is 0, so git's racy-entry check
    never runs), and Go would stamp vcs.modified=false into a binary built
    from edited sources. canonfs env switches the stamp off there."""
    out, info, goflags = vcs_build(canonfs, tmp_path, "zero")
    assert out == "2\n", "the second build should run the edited code"
    assert "vcs.modified=false" not in info, (
        "a binary built from an edited checkout claims a clean one:\n" + info)
    assert goflags == "-buildvcs=false"


def test_the_default_times_keep_a_true_vcs_stamp(canonfs, tmp_path):
    """Under the default, the edited file shows its true host time, so git
    inside the mount sees the edit and Go stamps vcs.modified=true, with
    no flag from canonfs env."""
    out, info, goflags = vcs_build(canonfs, tmp_path, None)
    assert out == "2\n"
    assert goflags is None
    assert "vcs.modified=true" in info, info


def test_mtime_content_keeps_a_true_vcs_stamp(canonfs, tmp_path):
    out, info, goflags = vcs_build(canonfs, tmp_path, "content")
    assert out == "2\n"
    assert goflags is None
    assert "vcs.modified=true" in info, info
