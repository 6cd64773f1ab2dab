"""Plain C and C++ builds inside the mount: the compilers it serves at
MNT/.canonfs/bin (the host's, with the mount's system headers only), a
makefile that names gcc itself, CMake through MNT/.canonfs/toolchain.cmake,
and ccache in front, from two host checkouts whose system headers live at
different host paths.

Each "host" is a checkout at its own path, mounted in turn at one
mountpoint, with one ccache directory shared, as a CI cache restores it.
A system include directory of the test's own (`-o sys=demo:DIR`, DIR
elsewhere on each host) stands for headers that machines keep at
different places, and one byte changed in it must never be a stale hit.
"""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from conftest import CANONFS, have, read, write
from test_go_integration import canonfs_env, daemon_env

pytestmark = pytest.mark.gobuild  # real compiles: kept out of `make check`

MAKEFILE = """\
# The compiler named here, as lua's makefile does: only PATH can change it.
CC= gcc -std=gnu99
CFLAGS= -O2 -g -Wall
OBJS= main.o util.o shout.o

hello: $(OBJS)
\t$(CC) -o $@ $(OBJS)

%.o: %.c util.h
\t$(CC) $(CFLAGS) -c -o $@ $<
"""

CMAKELISTS = """\
cmake_minimum_required(VERSION 3.13)
project(hello C CXX)
add_executable(hello main.c util.c shout.c tally.cc)
target_compile_definitions(hello PRIVATE WITH_TALLY)
"""

SOURCES = {
    "util.h": "#include <stddef.h>\nsize_t count_letters(const char *s);\n"
              "void shout(const char *s);\nint tally(void);\n",
    "util.c": "#include <ctype.h>\n#include \"util.h\"\n"
              "size_t count_letters(const char *s)\n{\n\tsize_t n = 0;\n"
              "\tfor (; *s; s++)\n\t\tn += isalpha((unsigned char)*s) != 0;\n"
              "\treturn n;\n}\n",
    "shout.c": "#include <stdio.h>\n#include <canonfs_demo.h>\n"
               "#include \"util.h\"\nvoid shout(const char *s)\n{\n"
               "\tprintf(\"%s, %s: %zu letters\\n\", GREETING, s,\n"
               "\t       count_letters(s));\n}\n",
    "main.c": "#include <string.h>\n#include \"util.h\"\n"
              "int main(void)\n{\n\tshout(\"canonfs\");\n#ifdef WITH_TALLY\n"
              "\treturn tally() == 3 ? 0 : 1;\n#else\n\treturn 0;\n#endif\n}\n",
    "tally.cc": "#include <vector>\n#include <numeric>\nextern \"C\" int tally(void)\n"
                "{\n\tstd::vector<int> v{1, 1, 1};\n"
                "\treturn std::accumulate(v.begin(), v.end(), 0);\n}\n",
}


def sha256(path):
    return hashlib.sha256(read(path)).hexdigest()


def make_host(tmp_path, name, checkout, sysdir, greeting):
    """One machine: a checkout of the project at its own path, and the
    demo system header at another path of its own."""
    src = tmp_path / name / checkout
    src.mkdir(parents=True)
    for file, text in SOURCES.items():
        write(src / file, text.encode())
    write(src / "Makefile", MAKEFILE.encode())
    write(src / "CMakeLists.txt", CMAKELISTS.encode())
    sys_dir = tmp_path / name / sysdir
    sys_dir.mkdir(parents=True)
    write(sys_dir / "canonfs_demo.h",
          b"#define GREETING \"%s\"\n" % greeting.encode())
    return src, sys_dir


def ccache_stats(env):
    out = subprocess.run(["ccache", "--print-stats"], env=env, check=True,
                         capture_output=True, text=True).stdout
    stats = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    return {key: int(stats.get(key, 0)) for key in
            ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss")}


def build_env(tmp_path, mnt, ccache_dir):
    """What `eval "$(canonfs env MNT)"` leaves, with ccache's masquerade
    directory put first afterwards, as its users do."""
    helper = canonfs_env(mnt, tmp_path)
    env = daemon_env(tmp_path)
    env.update(helper)
    env["PATH"] = "/usr/lib/ccache:" + helper["PATH"]
    env["CCACHE_DIR"] = str(ccache_dir)
    return helper, env


def run(args, cwd, env, what):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (
        what, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def make_on_host(canonfs, tmp_path, mnt, src, sys_dir, ccache_dir):
    """`make` in the mount; returns (ccache's counts, digests of the
    objects and the program, what it printed)."""
    m = canonfs(src, "sys=demo:%s" % sys_dir, mnt=mnt,
                env=daemon_env(tmp_path))
    helper, env = build_env(tmp_path, mnt, ccache_dir)
    subprocess.run(["ccache", "-z"], env=env, check=True, capture_output=True)
    run(["make"], m.root, env, "make")
    counts = ccache_stats(env)
    digests = {name: sha256(m.root / name)
               for name in ("main.o", "util.o", "shout.o", "hello")}
    printed = run([str(m.root / "hello")], m.root, env, "hello").stdout
    assert m.stop() == 0, m.stderr()
    return helper, counts, digests, printed


needs_ccache = pytest.mark.skipif(
    not (have("ccache") and os.path.exists("/usr/lib/ccache/gcc")),
    reason="ccache (with its /usr/lib/ccache masquerade) is not installed")


def test_the_served_compilers_use_the_mounts_headers_only(canonfs, tmp_path):
    src, sys_dir = make_host(tmp_path, "host", "work/proj", "sysinc", "hi")
    mnt = tmp_path / "mnt"
    m = canonfs(src, "sys=demo:%s" % sys_dir, mnt=mnt,
                env=daemon_env(tmp_path))
    helper = canonfs_env(mnt, tmp_path)
    bin_dir = mnt / ".canonfs" / "bin"
    assert helper["CC"] == str(bin_dir / "cc")
    assert helper["CXX"] == str(bin_dir / "c++")
    assert str(bin_dir) in helper["PATH"].split(":")
    assert sorted(os.listdir(bin_dir)) == ["c++", "cc", "g++", "gcc"]
    for name in os.listdir(bin_dir):
        assert os.access(bin_dir / name, os.X_OK)
    # The header digest is Go's (cgo keys), never in plain C flags.
    assert "CANONFS_SYSHEADERS" not in read(bin_dir / "cc").decode()
    env = daemon_env(tmp_path)
    env.update(helper)
    searched = subprocess.run(
        ["gcc", "-E", "-Wp,-v", "-x", "c", "/dev/null"], env=env,
        capture_output=True, text=True, timeout=60).stderr
    start = searched.index("#include <...> search starts here:")
    listed = searched[start:searched.index("End of search list.")]
    dirs = [line.strip() for line in listed.splitlines()[1:]]
    assert dirs and all(d.startswith(str(mnt / "sys") + "/") for d in dirs), \
        "gcc on PATH searched outside the mount: %r" % dirs
    assert str(mnt / "sys" / "demo") in dirs
    # A project's own flags are its own: nothing but headers is added.
    script = read(bin_dir / "cc").decode()
    assert "-O" not in script and " -g" not in script
    # CMake is told the same compilers.
    toolchain = read(mnt / ".canonfs" / "toolchain.cmake").decode()
    assert 'CMAKE_C_COMPILER "%s"' % (bin_dir / "cc") in toolchain
    assert 'CMAKE_CXX_COMPILER "%s"' % (bin_dir / "c++") in toolchain
    assert m.stop() == 0, m.stderr()


@needs_ccache
def test_a_makefile_naming_gcc_builds_alike_on_two_hosts_through_ccache(
        canonfs, tmp_path):
    """Host B (another checkout path, its system header elsewhere) gets a
    direct-mode hit for every compile and the same objects and program."""
    mnt, ccache_dir = tmp_path / "mnt", tmp_path / "ccache"
    src_a, sys_a = make_host(tmp_path, "a", "work/proj", "sysinc", "hello")
    src_b, sys_b = make_host(tmp_path, "b", "ci/builds/x/proj",
                             "opt/headers/include", "hello")
    _, counts_a, digests_a, printed_a = make_on_host(
        canonfs, tmp_path, mnt, src_a, sys_a, ccache_dir)
    _, counts_b, digests_b, printed_b = make_on_host(
        canonfs, tmp_path, mnt, src_b, sys_b, ccache_dir)
    assert counts_a["cache_miss"] == 3, counts_a
    assert counts_b == {"direct_cache_hit": 3, "preprocessed_cache_hit": 0,
                        "cache_miss": 0}, counts_b
    assert digests_a == digests_b
    assert printed_a == printed_b == "hello, canonfs: 7 letters\n"
    for name in ("main.o", "hello"):
        for host_path in (str(src_b), str(sys_b)):
            assert host_path.encode() not in read(src_b / name)


@needs_ccache
def test_one_changed_byte_in_a_system_header_is_never_a_stale_hit(
        canonfs, tmp_path):
    """Host B's copy of the demo header differs in one byte: the object
    that includes it misses and is rebuilt, the others still hit."""
    mnt, ccache_dir = tmp_path / "mnt", tmp_path / "ccache"
    src_a, sys_a = make_host(tmp_path, "a", "work/proj", "sysinc", "hello")
    src_b, sys_b = make_host(tmp_path, "b", "ci/proj", "opt/inc", "jello")
    _, _, digests_a, printed_a = make_on_host(
        canonfs, tmp_path, mnt, src_a, sys_a, ccache_dir)
    _, counts_b, digests_b, printed_b = make_on_host(
        canonfs, tmp_path, mnt, src_b, sys_b, ccache_dir)
    assert counts_b["direct_cache_hit"] == 2, counts_b
    assert counts_b["cache_miss"] == 1, counts_b
    assert digests_a["shout.o"] != digests_b["shout.o"]
    assert digests_a["main.o"] == digests_b["main.o"]
    assert printed_b == "jello, canonfs: 7 letters\n" != printed_a


def fake_compiler(path, flag):
    """A host compiler of the test's own at path: gcc with -DVARIANT=flag,
    so that two of them make different objects. Put in place by rename, as
    dpkg installs a new one."""
    text = '#!/bin/sh\nexec /usr/bin/gcc -DVARIANT=%d "$@"\n' % flag
    tmp = path.parent / (".new-" + path.name)
    write(tmp, text.encode())
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


def fake_cxx(path, flag):
    """fake_compiler's C++ partner: g++ with -DVARIANT=flag."""
    text = '#!/bin/sh\nexec /usr/bin/g++ -DVARIANT=%d "$@"\n' % flag
    write(path, text.encode())
    os.chmod(path, 0o755)


def compiler_mount(canonfs, tmp_path, path_dirs, *options):
    """A mount whose daemon finds gcc on PATH in path_dirs first."""
    src = tmp_path / "src"
    src.mkdir()
    write(src / "variant.c", b"#include <stdio.h>\n#ifndef VARIANT\n"
          b"#define VARIANT 0\n#endif\n"
          b"int main(void)\n{\n\tprintf(\"%d\\n\", VARIANT);\n"
          b"\treturn 0;\n}\n")
    env = daemon_env(tmp_path)
    env["PATH"] = ":".join([str(d) for d in path_dirs] + [env["PATH"]])
    return canonfs(src, *options, mnt=tmp_path / "mnt", env=env)


def uses_of(gcc, times):
    """What ccache does with a compiler, `times` times: its PATH search's
    access, a realpath, a stat and a read."""
    for _ in range(times):
        assert os.access(gcc, os.X_OK)
        os.path.realpath(gcc)
        os.stat(gcc)
        read(gcc)


def test_the_compilers_are_cached_until_the_host_compiler_changes(
        canonfs, tmp_path):
    """Each compile looks the served compiler up several times; the kernel
    keeps it, so that costs no request, until the host compiler is
    replaced: then the script names the new one at once (its size and
    time, which ccache's compiler check compares, change)."""
    host_bin = tmp_path / "hostbin"
    host_bin.mkdir()
    fake_compiler(host_bin / "gcc", 1)
    m = compiler_mount(canonfs, tmp_path, [host_bin])
    gcc = m.mnt / ".canonfs" / "bin" / "gcc"
    first = read(gcc).decode()
    assert "'%s'" % (host_bin / "gcc") in first
    shown = os.stat(gcc)

    def requests():
        counts = m.counters()
        return sum(counts.get(k, 0) for k in ("lookup", "getattr", "read"))

    start = requests()
    own = requests() - start  # what reading the counters costs
    before = requests()
    uses_of(gcc, 20)
    asked = requests() - before - own
    assert asked <= 1, "20 uses of the compiler cost %d requests" % asked

    fake_compiler(host_bin / "gcc", 22)  # a longer script: another size
    m.barrier()
    second = read(gcc).decode()
    assert second != first
    assert "%s: %d bytes" % (host_bin / "gcc",
                             os.stat(host_bin / "gcc").st_size) in second
    assert os.stat(gcc).st_size == len(second.encode())
    assert os.stat(gcc).st_mtime != shown.st_mtime
    assert m.stop() == 0, m.stderr()


@needs_ccache
def test_a_compiler_replaced_on_the_host_is_never_a_stale_ccache_hit(
        canonfs, tmp_path):
    """ccache keys a compile on the served compiler's size and time: after
    the host's compiler is replaced, the next compile misses and runs the
    new one, and the program says so."""
    host_bin = tmp_path / "hostbin"
    host_bin.mkdir()
    fake_compiler(host_bin / "gcc", 1)
    m = compiler_mount(canonfs, tmp_path, [host_bin])
    helper, env = build_env(tmp_path, m.mnt, tmp_path / "ccache")
    compile_ = ["gcc", "-c", "-o", "variant.o", "variant.c"]
    link = ["gcc", "-o", "variant", "variant.o"]
    for expect_miss in (True, False):
        subprocess.run(["ccache", "-z"], env=env, check=True,
                       capture_output=True)
        run(compile_, m.root, env, "the compile")
        assert ccache_stats(env)["cache_miss"] == int(expect_miss)
    run(link, m.root, env, "the link")
    assert run([str(m.root / "variant")], m.root, env,
               "variant").stdout == "1\n"

    fake_compiler(host_bin / "gcc", 22)
    m.barrier()
    subprocess.run(["ccache", "-z"], env=env, check=True, capture_output=True)
    run(compile_, m.root, env, "the compile after the upgrade")
    assert ccache_stats(env)["cache_miss"] == 1
    run(link, m.root, env, "the link")
    assert run([str(m.root / "variant")], m.root, env,
               "variant").stdout == "22\n"
    assert m.stop() == 0, m.stderr()


def test_a_switched_alternative_or_a_compiler_earlier_on_path_shows(
        canonfs, tmp_path):
    """update-alternatives switches a symlink outside the PATH directory
    (gcc -> alternatives/gcc -> a compiler), and a compiler can appear in
    a PATH directory that did not exist at mount: both change the script
    as soon as the host's changes are applied."""
    host_bin, alternatives = tmp_path / "hostbin", tmp_path / "alternatives"
    early = tmp_path / "early" / "bin"  # first on PATH, not there yet
    for d in (host_bin, alternatives):
        d.mkdir()
    fake_compiler(tmp_path / "gcc-a", 1)
    fake_compiler(tmp_path / "gcc-b", 333)
    os.symlink(tmp_path / "gcc-a", alternatives / "gcc")
    os.symlink(alternatives / "gcc", host_bin / "gcc")
    m = compiler_mount(canonfs, tmp_path, [early, host_bin])
    gcc = m.mnt / ".canonfs" / "bin" / "gcc"

    def size_line():
        line = [ln for ln in read(gcc).decode().splitlines()
                if " bytes, modified " in ln]
        assert len(line) == 1, read(gcc).decode()
        return line[0]

    uses_of(gcc, 2)
    assert size_line().startswith("# %s: %d bytes" % (
        host_bin / "gcc", os.stat(tmp_path / "gcc-a").st_size))
    os.symlink(tmp_path / "gcc-b", alternatives / ".gcc.new")
    os.rename(alternatives / ".gcc.new", alternatives / "gcc")
    m.barrier()
    assert size_line().startswith("# %s: %d bytes" % (
        host_bin / "gcc", os.stat(tmp_path / "gcc-b").st_size))

    uses_of(gcc, 2)
    early.mkdir(parents=True)
    fake_compiler(early / "gcc", 4444)
    m.barrier()
    assert size_line().startswith("# %s: %d bytes" % (
        early / "gcc", os.stat(early / "gcc").st_size))
    assert m.stop() == 0, m.stderr()


@needs_ccache
def test_ccache_first_on_the_daemons_path_is_not_the_served_compiler(
        canonfs, tmp_path):
    """Debian's README for ccache puts /usr/lib/ccache first on PATH in
    the shell, so the daemon finds its gcc first: a link to ccache, which
    runs the next gcc on PATH. From inside the mount that is the mount's
    own, which must then not be ccache again (an endless loop): the
    served compiler is the real one behind it, and a compile through
    ccache in front of the mount's gcc works."""
    masquerade, host_bin = tmp_path / "masquerade", tmp_path / "hostbin"
    for d in (masquerade, host_bin):
        d.mkdir()
    os.symlink(os.path.realpath("/usr/lib/ccache/gcc"), masquerade / "gcc")
    fake_compiler(host_bin / "gcc", 7)
    m = compiler_mount(canonfs, tmp_path, [masquerade, host_bin])
    gcc = m.mnt / ".canonfs" / "bin" / "gcc"
    assert script_names(gcc, host_bin / "gcc"), read(gcc).decode()
    helper, env = build_env(tmp_path, m.mnt, tmp_path / "ccache")
    env["PATH"] = "%s:%s:%s" % (masquerade, m.mnt / ".canonfs" / "bin",
                                env["PATH"])
    run(["gcc", "-o", "variant", "variant.c"], m.root, env, "the compile")
    assert run([str(m.root / "variant")], m.root, env,
               "variant").stdout == "7\n"
    assert m.stop() == 0, m.stderr()

    # CC naming the masquerade link itself: the compiler of its name.
    daemon = daemon_env(tmp_path)
    daemon.update(CC=str(masquerade / "gcc"), PATH="%s:%s:%s" % (
        masquerade, host_bin, daemon["PATH"]))
    m = canonfs(m.src, mnt=m.mnt, env=daemon)
    assert script_names(gcc, host_bin / "gcc"), read(gcc).decode()
    assert m.stop() == 0, m.stderr()


def test_a_cc_exported_by_canonfs_env_does_not_leave_the_next_mount_bare(
        canonfs, tmp_path):
    """`eval "$(canonfs env MNT)"` sets CC to the mount's own compiler;
    mounting again from that shell must still discover the host
    compiler's headers and serve its compilers, not take a CC that
    cannot run before the mount is up."""
    mnt = tmp_path / "mnt"
    src = tmp_path / "src"
    src.mkdir()
    write(src / "hello.c", b"#include <stdio.h>\nint main(void)\n"
          b"{\n\tputs(\"hi\");\n\treturn 0;\n}\n")
    env = daemon_env(tmp_path)
    env["CC"] = str(mnt / ".canonfs" / "bin" / "cc")
    m = canonfs(src, mnt=mnt, env=env)
    assert os.listdir(mnt / "sys"), "no system headers were discovered"
    gcc = mnt / ".canonfs" / "bin" / "gcc"
    assert os.access(gcc, os.X_OK), "no compiler is served"
    run([str(gcc), "-o", "hello", "hello.c"], m.root, daemon_env(tmp_path),
        "a compile with the served gcc")
    assert m.stop() == 0, m.stderr()


def test_cc_compiles_cxx_sources_with_the_mounts_cxx_headers(canonfs,
                                                               tmp_path):
    """gcc and cc compile C++ by suffix or -x c++, as makefiles that say
    "$(CC) -c x.cpp" use them: the served cc then searches the C++
    headers, from the mount only. A C compile keeps the C list, whatever
    the caller's environment holds."""
    src = tmp_path / "src"
    src.mkdir()
    write(src / "hi.cpp", b"#include <iostream>\n#include <cstdlib>\n"
          b"int main()\n{\n\tstd::cout << \"hi\" << std::endl;\n"
          b"\treturn EXIT_SUCCESS;\n}\n")
    write(src / "c.c", b"#include <stdlib.h>\nint main(void)\n"
          b"{\n\treturn EXIT_SUCCESS;\n}\n")
    m = canonfs(src, env=daemon_env(tmp_path))
    cc = str(m.mnt / ".canonfs" / "bin" / "cc")
    env = dict(daemon_env(tmp_path), cxx="1")  # must not pick C++ for C
    run([cc, "-c", "-o", "hi.o", "hi.cpp"], m.root, env, "cc -c hi.cpp")
    run([cc, "-o", "hi", "hi.o", "-lstdc++"], m.root, env, "the link")
    assert run([str(m.root / "hi")], m.root, env, "hi").stdout == "hi\n"
    write(src / "plain.cc", read(src / "c.c"))  # C, named as C++
    for args, cxx in ((["hi.cpp"], True), (["-x", "c++", "hi.cpp"], True),
                      (["-xc++", "hi.cpp"], True), (["c.c"], False),
                      (["-x", "c", "plain.cc"], False)):
        deps = run([cc, "-M"] + args, m.root, env, "cc -M").stdout
        headers = [w for w in deps.replace("\\\n", " ").split()
                   if w.startswith("/")]
        assert headers and all(h.startswith(str(m.mnt)) for h in headers), \
            (args, [h for h in headers if not h.startswith(str(m.mnt))])
        cxx_dirs = [h for h in headers if "/sys/c++" in h]
        assert bool(cxx_dirs) == cxx, (args, cxx_dirs)
    # An output named like C++ source is no input.
    built = run([cc, "-c", "-o", "gen.cc", "c.c"], m.root, env, "cc -o gen.cc")
    assert "nostdinc++" not in built.stderr, built.stderr
    assert m.stop() == 0, m.stderr()


@needs_ccache
def test_a_cc_with_a_launcher_and_flags_is_served_with_its_flags(canonfs,
                                                                 tmp_path):
    """CC="ccache gcc -DVARIANT=5": the headers are discovered with the
    flags, so the served compilers run gcc itself (the launcher goes in
    front of them, never behind) with those flags."""
    src = tmp_path / "src"
    src.mkdir()
    write(src / "variant.c", b"#include <stdio.h>\nint main(void)\n"
          b"{\n\tprintf(\"%d\\n\", VARIANT);\n\treturn 0;\n}\n")
    env = dict(daemon_env(tmp_path), CC="ccache gcc -DVARIANT=5")
    m = canonfs(src, env=env)
    gcc = m.mnt / ".canonfs" / "bin" / "gcc"
    assert os.access(gcc, os.X_OK), "no compiler is served"
    assert "'-DVARIANT=5'" in read(gcc).decode()
    run([str(gcc), "-o", "variant", "variant.c"], m.root,
        daemon_env(tmp_path), "a compile with the served gcc")
    assert run([str(m.root / "variant")], m.root, env,
               "variant").stdout == "5\n"
    assert m.stop() == 0, m.stderr()


def script_names(gcc, compiler):
    """Whether the served script gcc runs host compiler `compiler`, as it
    is now (path and size)."""
    text = read(gcc).decode()
    return "# %s: %d bytes" % (compiler, os.stat(compiler).st_size) in text


def test_a_swapped_toolchain_directory_shows(canonfs, tmp_path):
    """The compiler's own directory is not all that can change: a toolchain
    directory swapped by two renames, or a symlink to it switched (PATH
    naming tc/bin, tc -> tc-1 made tc -> tc-2), changes which compiler
    runs under the same path."""
    for name, flag in (("tc-1", 1), ("tc-2", 22), ("tc-3", 333)):
        (tmp_path / name / "bin").mkdir(parents=True)
        fake_compiler(tmp_path / name / "bin" / "gcc", flag)
    os.symlink("tc-1", tmp_path / "tc")
    swapped = tmp_path / "swapped"
    os.rename(tmp_path / "tc-3", swapped)
    m = compiler_mount(canonfs, tmp_path, [tmp_path / "tc" / "bin"])
    gcc = m.mnt / ".canonfs" / "bin" / "gcc"
    compiler = tmp_path / "tc" / "bin" / "gcc"
    uses_of(gcc, 2)
    assert script_names(gcc, compiler)

    os.symlink("tc-2", tmp_path / ".tc.new")
    os.rename(tmp_path / ".tc.new", tmp_path / "tc")
    m.barrier()
    assert script_names(gcc, compiler), "a switched directory symlink"

    uses_of(gcc, 2)
    os.rename(tmp_path / "tc-2", tmp_path / "tc-2.old")
    os.rename(swapped, tmp_path / "tc-2")
    m.barrier()
    assert script_names(gcc, compiler), "a directory swapped by renames"
    assert m.stop() == 0, m.stderr()


def test_the_cxx_partner_is_watched_while_it_is_missing(canonfs, tmp_path):
    """g++ removed from the first PATH directory and installed in a later
    one: c++ goes, then comes back running the new one."""
    first, later = tmp_path / "first", tmp_path / "later"
    for d in (first, later):
        d.mkdir()
    # Names of their own: the host's g++ must not stand in.
    fake_compiler(first / "tgcc", 1)
    fake_cxx(first / "tg++", 1)
    m = compiler_mount(canonfs, tmp_path, [first, later], "cc=tgcc")
    cxx = m.mnt / ".canonfs" / "bin" / "c++"
    assert script_names(cxx, first / "tg++")
    os.unlink(first / "tg++")
    m.barrier()
    assert not cxx.exists()
    assert "c++" not in os.listdir(cxx.parent)
    fake_cxx(later / "tg++", 22)
    m.barrier()
    assert script_names(cxx, later / "tg++")
    assert "c++" in os.listdir(cxx.parent)
    assert m.stop() == 0, m.stderr()


def test_the_barrier_returns_while_a_watched_directory_is_busy(
        canonfs, tmp_path):
    """A PATH directory that does not exist has its parent watched (for its
    coming); a log appended to there all the time is nothing to the
    compilers, and a barrier returns."""
    home = tmp_path / "home"
    home.mkdir()
    host_bin = tmp_path / "hostbin"
    host_bin.mkdir()
    fake_compiler(host_bin / "gcc", 1)
    m = compiler_mount(canonfs, tmp_path,
                       [home / ".local" / "bin", host_bin])
    gcc = m.mnt / ".canonfs" / "bin" / "gcc"
    uses_of(gcc, 1)
    # Bounded: a barrier stuck behind it (as it once was) ends with it,
    # and the test fails instead of hanging.
    writer = subprocess.Popen(
        ["sh", "-c", "for i in $(seq 1500); do echo x >> %s; sleep 0.02; "
         "done" % (home / "log")])
    try:
        before = m.counters()
        for _ in range(5):
            done = subprocess.run(["cat", str(m.mnt / ".canonfs" / "barrier")],
                                  capture_output=True, timeout=20)
            assert done.returncode == 0
            uses_of(gcc, 1)
        after = m.counters()
    finally:
        writer.kill()
        writer.wait()
    # The compilers were not made again: the log's events did not count.
    assert after["lookup"] - before["lookup"] <= 12
    assert m.stop() == 0, m.stderr()


def test_without_watching_the_compilers_are_made_at_each_use(
        canonfs, tmp_path):
    """-o nowatch: nothing reports a host change, so the kernel keeps no
    compiler, no name and no listing of bin, and a change shows with no
    barrier at all."""
    host_bin = tmp_path / "hostbin"
    host_bin.mkdir()
    fake_compiler(host_bin / "tgcc", 1)
    fake_cxx(host_bin / "tg++", 1)
    m = compiler_mount(canonfs, tmp_path, [host_bin], "nowatch", "cc=tgcc")
    gcc = m.mnt / ".canonfs" / "bin" / "gcc"
    cxx = m.mnt / ".canonfs" / "bin" / "c++"
    first = read(gcc)
    fake_compiler(host_bin / "tgcc", 55)
    assert read(gcc) != first
    before = m.counters()
    uses_of(gcc, 5)
    after = m.counters()
    assert after["lookup"] - before["lookup"] >= 5
    assert "c++" in os.listdir(cxx.parent) and cxx.exists()
    os.rename(host_bin / "tg++", tmp_path / "tg++")
    assert "c++" not in os.listdir(cxx.parent) and not cxx.exists()
    os.rename(tmp_path / "tg++", host_bin / "tg++")
    assert "c++" in os.listdir(cxx.parent) and cxx.exists()
    assert m.stop() == 0, m.stderr()


@needs_ccache
@pytest.mark.skipif(not have("cmake"), reason="cmake is not installed")
def test_cmake_through_the_toolchain_file_builds_alike_on_two_hosts(
        canonfs, tmp_path):
    """C and C++ through MNT/.canonfs/toolchain.cmake, ccache as the
    launcher, the build directory inside the mount: host B's every compile
    is a direct-mode hit, and the program is the same."""
    mnt, ccache_dir = tmp_path / "mnt", tmp_path / "ccache"
    results = []
    for name, checkout, sysdir in (("a", "work/proj", "sysinc"),
                                   ("b", "ci/builds/proj", "opt/inc")):
        src, sys_dir = make_host(tmp_path, name, checkout, sysdir, "hello")
        m = canonfs(src, "sys=demo:%s" % sys_dir, mnt=mnt,
                    env=daemon_env(tmp_path))
        _, env = build_env(tmp_path, mnt, ccache_dir)
        subprocess.run(["ccache", "-z"], env=env, check=True,
                       capture_output=True)
        build = m.root / "build"
        run(["cmake", "-S", str(m.root), "-B", str(build),
             "-DCMAKE_TOOLCHAIN_FILE=%s" % (mnt / ".canonfs" /
                                            "toolchain.cmake"),
             "-DCMAKE_C_COMPILER_LAUNCHER=ccache",
             "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
             "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], m.root, env, "cmake")
        run(["cmake", "--build", str(build)], m.root, env, "cmake --build")
        counts = ccache_stats(env)
        cache = read(build / "CMakeCache.txt").decode()
        printed = run([str(build / "hello")], m.root, env, "hello").stdout
        results.append((counts, sha256(build / "hello"), printed, cache))
        assert m.stop() == 0, m.stderr()
    (counts_a, hello_a, printed_a, _), (counts_b, hello_b, printed_b,
                                        cache_b) = results
    assert counts_a["cache_miss"] == 4, counts_a
    assert counts_b == {"direct_cache_hit": 4, "preprocessed_cache_hit": 0,
                        "cache_miss": 0}, counts_b
    assert hello_a == hello_b
    assert printed_a == printed_b == "hello, canonfs: 7 letters\n"
    assert str(tmp_path / "b") not in cache_b, \
        "CMakeCache.txt names host B's own paths"


def search_list(lang):
    """The host compiler's include search list for lang ("c", "c++")."""
    out = subprocess.run(["gcc", "-E", "-Wp,-v", "-x", lang, "/dev/null"],
                         capture_output=True, text=True, timeout=60).stderr
    start = out.index("#include <...> search starts here:")
    block = out[start:out.index("End of search list.")]
    return [os.path.normpath(line.strip())
            for line in block.splitlines()[1:]]


def copy_of_the_headers(root):
    """Another machine's copy of the compiler's include directories, all
    below root at their native paths (hard links where the filesystem
    allows, so that it costs nothing)."""
    copied = []
    for d in sorted(set(search_list("c") + search_list("c++")), key=len):
        if any(d == c or d.startswith(c + "/") for c in copied):
            continue
        target = root / d.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["cp", "-al", d, str(target)],
                          capture_output=True).returncode != 0:
            subprocess.run(["rm", "-rf", str(target)], check=True)
            subprocess.run(["cp", "-a", d, str(target)], check=True)
        copied.append(d)
    return root


@needs_ccache
def test_sysroot_moves_the_whole_header_layout(canonfs, tmp_path):
    """Host B keeps its copy of the compiler's headers under another root
    (`-o sysroot=ROOT`, one option for every discovered directory): the
    mount shows the same names, MNT/sys/usr is B's copy, and every compile
    on B is a direct-mode hit with the same objects."""
    mnt, ccache_dir = tmp_path / "mnt", tmp_path / "ccache"
    src_a, sys_a = make_host(tmp_path, "a", "work/proj", "sysinc", "hello")
    src_b, sys_b = make_host(tmp_path, "b", "ci/proj", "opt/inc", "hello")
    root = copy_of_the_headers(tmp_path / "b" / "headers")
    _, counts_a, digests_a, _ = make_on_host(
        canonfs, tmp_path, mnt, src_a, sys_a, ccache_dir)
    m = canonfs(src_b, "sys=demo:%s" % sys_b, "sysroot=%s" % root, mnt=mnt,
                env=daemon_env(tmp_path))
    listed = sorted(os.listdir(mnt / "sys"))
    probe = root / "usr" / "include" / "canonfs_probe.h"
    write(probe, b"/* only in B's copy */\n")
    assert (mnt / "sys" / "usr" / "canonfs_probe.h").exists(), \
        "MNT/sys/usr is not mirrored from the sysroot"
    probe.unlink()
    assert m.stop() == 0, m.stderr()
    _, counts_b, digests_b, _ = make_on_host(
        canonfs, tmp_path, mnt, src_b, sys_b, ccache_dir)
    assert "usr" in listed and "demo" in listed, listed
    assert counts_a["cache_miss"] == 3, counts_a
    # Without the sysroot (the plain helper above): the same hits.
    assert counts_b["direct_cache_hit"] == 3, counts_b
    m = canonfs(src_b, "sys=demo:%s" % sys_b, "sysroot=%s" % root, mnt=mnt,
                env=daemon_env(tmp_path))
    _, env = build_env(tmp_path, mnt, ccache_dir)
    subprocess.run(["ccache", "-z"], env=env, check=True, capture_output=True)
    run(["make", "-B"], m.root, env, "make -B")
    assert ccache_stats(env) == {"direct_cache_hit": 3,
                                 "preprocessed_cache_hit": 0,
                                 "cache_miss": 0}
    assert {n: sha256(m.root / n) for n in digests_a} == digests_a
    assert m.stop() == 0, m.stderr()


def test_a_sysroot_without_a_discovered_directory_is_refused(tmp_path):
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    mnt.mkdir()
    proc = subprocess.run(
        [str(CANONFS), "-f", "-o", "sysroot=%s" % (tmp_path / "empty"),
         str(src), str(mnt)],
        capture_output=True, text=True, timeout=60, env=daemon_env(tmp_path))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "sysroot=" in lines[0] and \
        "no directory" in lines[0], proc.stderr
    assert not os.path.ismount(mnt)
