"""The system include mirrors and the digest cache behind mtime=content.

- MNT/sys shows the compiler's include directories at fixed names, read-only
  (a build never writes system headers), and follows -o sys= and -o cc=.
- A warm stat under mtime=content hashes nothing, and neither does the
  first stat after a remount with the same digest file: the counters in
  MNT/.canonfs/stats say how many files were read for their digest.
"""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import CANONFS, content_time_ns, read


def gcc_search_list(lang):
    err = subprocess.run(["gcc", "-E", "-Wp,-v", "-x", lang, "/dev/null",
                          "-o", "/dev/null"], capture_output=True, text=True,
                         env=dict(os.environ, LC_ALL="C"), timeout=60).stderr
    lines = err.splitlines()
    start = lines.index("#include <...> search starts here:") + 1
    end = lines.index("End of search list.")
    return [os.path.normpath(l.strip()) for l in lines[start:end]]


needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


@needs_gcc
def test_sys_mirrors_the_compilers_search_list(canonfs, host):
    m = canonfs(host)
    dirs = gcc_search_list("c")
    names = sorted(os.listdir(m.mnt / "sys"))
    assert "usr" in names and "cc" in names, names
    # Each mirrored directory shows the host directory's files, byte for byte.
    assert read(m.mnt / "sys" / "usr" / "stdio.h") == read("/usr/include/stdio.h")
    cc_dir = next(d for d in dirs if os.path.exists(os.path.join(d, "stddef.h")))
    assert read(m.mnt / "sys" / "cc" / "stddef.h") == \
        read(os.path.join(cc_dir, "stddef.h"))
    # Every directory of the C search list is there, whatever its name.
    assert len([n for n in names if not n.startswith("c++")]) == len(dirs)


@needs_gcc
def test_sys_is_read_only(canonfs, host):
    m = canonfs(host)
    usr = m.mnt / "sys" / "usr"
    for action in (lambda: open(usr / "canonfs-new.h", "w"),
                   lambda: os.mkdir(usr / "canonfs-newdir"),
                   lambda: os.truncate(usr / "stdio.h", 0),
                   lambda: os.chmod(usr / "stdio.h", 0o600),
                   lambda: os.unlink(usr / "stdio.h")):
        with pytest.raises(OSError) as e:
            action()
        assert e.value.errno in (errno.EROFS, errno.EACCES), e.value
    assert os.path.getsize("/usr/include/stdio.h") > 0
    assert not os.path.exists("/usr/include/canonfs-new.h")


def test_sys_explicit_and_none(canonfs, host, tmp_path):
    a = tmp_path / "inc-a"
    a.mkdir()
    (a / "x.h").write_text("#define X 1\n")
    m = canonfs(host, "sys=none", "sys=vendor:%s" % a)
    assert os.listdir(m.mnt / "sys") == ["vendor"]
    assert (m.mnt / "sys" / "vendor" / "x.h").read_text() == "#define X 1\n"
    m2 = canonfs(host, "sys=none")
    assert "sys" not in os.listdir(m2.mnt)


def test_sys_names_do_not_depend_on_the_host_location(canonfs, host, tmp_path):
    # A stand-in compiler whose search list lives at a machine-specific path:
    # the names under MNT/sys are the same for two such machines.
    listings = []
    for machine in ("m1", "m2/deeper"):
        root = tmp_path / machine
        gccinc = root / "usr/lib/gcc/x86_64-linux-gnu/12/include"
        usr = root / "usr/include"
        target = usr / "x86_64-linux-gnu"
        for d in (gccinc, target):
            d.mkdir(parents=True)
        (usr / "stdio.h").write_text("/* stdio */\n")
        cc = root / "fake-cc"
        cc.write_text("#!/bin/sh\n{ echo '#include <...> search starts here:'\n"
                      "  echo ' %s'\n  echo ' %s'\n  echo ' %s'\n"
                      "  echo 'End of search list.'; } >&2\n"
                      % (gccinc, target, usr))
        cc.chmod(0o755)
        m = canonfs(host, "cc=%s" % cc)
        listings.append(os.listdir(m.mnt / "sys"))
        assert (m.mnt / "sys" / "usr" / "stdio.h").read_text() == "/* stdio */\n"
        env = subprocess.run([str(CANONFS), "env", str(m.mnt)],
                             capture_output=True, text=True, timeout=60).stdout
        # CC is the mount's compiler, which runs the one chosen.
        assert "export CC='%s'" % (m.mnt / ".canonfs" / "bin" / "cc") in env
        assert "exec '%s'" % cc in (m.mnt / ".canonfs" / "bin" / "cc").read_text()
        m.stop()
    assert listings[0] == listings[1] == ["cc", "target", "usr"]


@pytest.mark.slow
def test_warm_stat_and_remount_hash_nothing(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / ("f%02d.txt" % i)).write_bytes(b"file %d\n" % i * (i + 1))
    digests = tmp_path / "digests"
    # Files changed in the last 2 s are hashed at every stat (racy rule):
    # let them age so that they can be remembered.
    time.sleep(2.5)
    m = canonfs(src, "mtime=content", "digests=%s" % digests)
    first = {p.name: os.stat(p).st_mtime_ns for p in sorted(m.root.iterdir())}
    s1 = m.counters()
    assert s1["digests-hashed"] == 20, s1
    # Warm: the kernel's cache, or our table; never a file read again.
    subprocess.run(["cat", str(m.mnt / ".canonfs" / "barrier")], check=True)
    for p in m.root.iterdir():
        os.stat(p)
    assert m.counters()["digests-hashed"] == 20
    m.stop()
    assert digests.stat().st_size > 20 * 92

    m = canonfs(src, "mtime=content", "digests=%s" % digests)
    again = {p.name: os.stat(p).st_mtime_ns for p in sorted(m.root.iterdir())}
    s2 = m.counters()
    assert again == first
    assert s2["digests-hashed"] == 0 and s2["digests-cached"] >= 20, s2

    # An edit is a new version: hashed, and a new mtime shown.
    (src / "f03.txt").write_bytes(b"FILE 3\n" * 4)
    subprocess.run(["cat", str(m.mnt / ".canonfs" / "barrier")], check=True)
    assert os.stat(m.root / "f03.txt").st_mtime_ns != first["f03.txt"]
    assert m.counters()["digests-hashed"] >= 1


def test_content_mtime_is_the_digest_of_the_bytes(canonfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    data = b"hello, content\n"
    (src / "a").write_bytes(data)
    m = canonfs(src, "mtime=content", "digests=none")
    st = os.stat(m.root / "a")
    # git's blob id: a checkout's index and an unpacked tarball agree.
    assert st.st_mtime_ns == content_time_ns(data)
    assert st.st_atime_ns == st.st_ctime_ns == st.st_mtime_ns
    assert os.stat(m.root).st_mtime_ns == 631152000 * 1_000_000_000


@needs_gcc
@pytest.mark.gobuild
@pytest.mark.skipif(shutil.which("go") is None, reason="needs go")
def test_env_flags_survive_a_mountpoint_with_a_space(canonfs, tmp_path):
    """Go splits CGO_CFLAGS at blanks unless quoted: the -isystem paths of
    a mountpoint with a space must come quoted, and a cgo build works."""
    src = tmp_path / "src"
    (src / "c").mkdir(parents=True)
    (src / "c" / "go.mod").write_text("module example.com/c\n\ngo 1.19\n")
    (src / "c" / "main.go").write_text(
        'package main\n\n// #include <stdio.h>\n'
        '// static int answer(void) { return (int)sizeof(FILE) > 0 ? 42 : 0; }\n'
        'import "C"\n\nimport "fmt"\n\nfunc main() { fmt.Println(C.answer()) }\n')
    m = canonfs(src, "digests=none", "gomodcache=none",
                mnt=tmp_path / "build root" / "mnt")
    out = subprocess.run([str(CANONFS), "env", str(m.mnt), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(os.environ, **json.loads(out.stdout))
    env.update(GOCACHE=str(tmp_path / "gocache"), GOFLAGS="-buildvcs=false",
               GOPROXY="off", GO111MODULE="on")
    assert "'%s/sys/usr'" % m.mnt in env["CGO_CFLAGS"]
    build = subprocess.run(["go", "build", "-o", str(tmp_path / "bin"), "."],
                           cwd=m.root / "c", env=env, capture_output=True,
                           text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(tmp_path / "bin")], capture_output=True,
                         text=True, timeout=60)
    assert run.stdout == "42\n"
