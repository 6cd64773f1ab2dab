#!/usr/bin/python3
"""canonfs benchmark (`make bench`): canonfs against a plain bind mount
("native") and bindfs, on Go builds and plain file-system workloads.

Usage: scripts/bench.py PATH/TO/canonfs       (run through scripts/bench.sh)

Every variant shows the same host tree (WORK/tree) at the same path
P = /tmp/canonfs-bench/view/src, so Go sees identical package directories:

  native   a bind mount of WORK/tree at P
  canonfs  `canonfs -f WORK/tree /tmp/canonfs-bench/view`   (tree at P)
  bindfs   `bindfs -f WORK/tree P`
  floor    `floorfs WORK/tree /tmp/canonfs-bench/view` (scripts/floorfs.c,
           built next to canonfs): a FUSE server that does no work, for the
           first-after-mount rows only: what the kernel and the round trips
           cost without anything of canonfs's own

Each variant lives in its own private mount namespace, held open by a
`sleep` we start (`unshare -m --propagation private`), so the three are
mounted at once at the same path, nothing is visible in the host's
namespace, and the runs of one figure can alternate between variants
without remounting. Commands enter a namespace with setns(2) between fork
and exec; a figure is the wall time (time.monotonic) around that child.

Environment:
  BENCH_RUNS=N          timed runs per figure and variant (default 5, quick 3)
  BENCH_QUICK=1         smaller tree, 256 MiB file, 2000 small files, a C
                        project of 100 modules instead of 200, no
                        GOROOT workload, fewer runs: a few minutes
  BENCH_ONLY=a,b        only these workloads (gopath,goroot,stat,tar,bigread,
                        writes,cold,ccache,remount,clone,trace,manifest,memory)
  BENCH_WORKDIR=DIR     where the host tree and caches go (default:
                        the canonfs binary's directory /bench-work)
  BENCH_OUT=FILE        the markdown report (default: BUILD/bench.md)
  BENCH_CANONFS_OPTS=o  extra -o options for canonfs (e.g. mtime=passthrough)
  BENCH_TIMEOUT=S       per-command time limit (default 900)
  BENCH_KEEP=1          keep the work directory afterwards
"""

import ctypes
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

CLONE_NEWNS = 0x00020000
BASE = "/tmp/canonfs-bench"
VIEW = BASE + "/view"          # canonfs mountpoint; tmpfs for the others
P = VIEW + "/src"              # where every variant shows the tree
VARIANTS = ("native", "canonfs", "bindfs")
FLOOR = "floor"
# Variants that mount a FUSE daemon at VIEW and show the tree at P.
AT_VIEW = ("canonfs", FLOOR)
GOCODE = "/usr/share/gocode/src"
QUICK_SUBSET = ("golang.org/x/mod", "golang.org/x/sys", "golang.org/x/tools")
COLD_TARGET = "golang.org/x/tools/cmd/stringer"
DEVNULL = subprocess.DEVNULL

libc = ctypes.CDLL(None, use_errno=True)


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "no", "false")


def env_int(name, default):
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        sys.exit(f"bench: {name}={value!r} is not a number")


QUICK = env_flag("BENCH_QUICK")
RUNS = env_int("BENCH_RUNS", 3 if QUICK else 5)
TIMEOUT = max(1, env_int("BENCH_TIMEOUT", 900))
BIG_MIB = 256 if QUICK else 1024
# The memory workload's generated tree: directories of 1000 empty files.
MANY_DIRS = 100 if QUICK else 1000
NSMALL = 2000 if QUICK else 5000
# The C project of the ccache workload: this many generated .c files.
NCFILES = 100 if QUICK else 200
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
CANONFS_OPTS = os.environ.get("BENCH_CANONFS_OPTS", "")
KEEP = env_flag("BENCH_KEEP")

# Creates, writes and closes N files of SIZE bytes in a new directory.
WRITER = """
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = b"x" * size
os.mkdir(d)
flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
for i in range(n):
    fd = os.open("%s/f%05d" % (d, i), flags, 0o644)
    if os.write(fd, buf) != size:
        sys.exit("short write")
    os.close(fd)
"""


C_MAKEFILE = """\
# Names gcc itself, as many makefiles do: only PATH can change it.
CC= gcc
CFLAGS= -O2 -g -Wall
OBJS= $(patsubst %.c,%.o,$(sort $(wildcard *.c)))

prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)

%.o: %.c common.h
\t$(CC) $(CFLAGS) -c -o $@ $<
"""


def write_c_project(path, n):
    """A self-contained C project at PATH: N modules (each a .c file that
    includes system headers, common.h and a header of its own), a main.c
    calling them all, and a Makefile that names gcc."""
    os.makedirs(path)
    files = {"Makefile": C_MAKEFILE,
             "common.h": "#include <stddef.h>\n"
                         "struct tally { size_t letters, digits; };\n"
                         "void tally_add(struct tally *t, const char *s);\n"}
    for i in range(n):
        files[f"mod{i:03d}.h"] = f"int mod{i:03d}_run(const char *arg);\n"
        files[f"mod{i:03d}.c"] = (
            "#include <ctype.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
            f"#include <string.h>\n#include \"common.h\"\n#include \"mod{i:03d}.h\"\n"
            f"int mod{i:03d}_run(const char *arg)\n{{\n"
            "\tstruct tally t = {0, 0};\n\tchar buf[64];\n"
            f"\tsnprintf(buf, sizeof(buf), \"%s-{i}\", arg);\n"
            "\tfor (const char *p = buf; *p; p++) {\n"
            "\t\tt.letters += isalpha((unsigned char)*p) != 0;\n"
            "\t\tt.digits += isdigit((unsigned char)*p) != 0;\n\t}\n"
            f"\treturn (int)(t.letters * {i + 1} + t.digits + strlen(buf)) % 251;\n}}\n")
    decls = "".join(f"#include \"mod{i:03d}.h\"\n" for i in range(n))
    calls = "".join(f"\tsum += mod{i:03d}_run(argv[0]);\n" for i in range(n))
    files["main.c"] = ("#include <stdio.h>\n#include \"common.h\"\n" + decls
                       + "void tally_add(struct tally *t, const char *s)\n{\n"
                       "\tfor (; *s; s++)\n\t\tt->letters++;\n}\n"
                       "int main(int argc, char **argv)\n{\n\tint sum = argc;\n"
                       + calls + "\tprintf(\"%d\\n\", sum);\n\treturn 0;\n}\n")
    for name, text in files.items():
        with open(f"{path}/{name}", "w") as f:
            f.write(text)


class BenchError(Exception):
    """A command failed or timed out; the figure is reported as failed."""

    def __init__(self, msg, timeout=False):
        super().__init__(msg)
        self.timeout = timeout


def log(msg):
    print(msg, flush=True)


def tail(data, lines=15):
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return "\n".join(text.rstrip().splitlines()[-lines:])


def cmdline(args):
    """ARGS for messages; inline programs (python -c) shortened."""
    return " ".join("'<program>'" if "\n" in a else a for a in args)


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class _Alarm(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Alarm()


def wait_blocking(p, timeout):
    """p.wait() with a time limit, without polling: Popen.wait(timeout)
    sleeps in steps of up to 50 ms, which would quantize the figures."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return p.wait()
    except _Alarm:
        raise subprocess.TimeoutExpired(p.args, timeout)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def enter(ns, cwd):
    """preexec_fn: join mount namespace NS, then chdir to CWD inside it."""
    def preexec():
        fd = os.open(ns, os.O_RDONLY | os.O_CLOEXEC)
        if libc.setns(fd, CLONE_NEWNS) != 0:
            os.write(2, b"bench: setns failed\n")
            os._exit(126)
        os.close(fd)
        os.chdir(cwd)
    return preexec


class Variant:
    """One private mount namespace showing WORK/tree at P one way."""

    def __init__(self, name, bench):
        self.name = name
        self.bench = bench
        self.daemon = None
        self.mounted = False
        self.extra_opts = []  # more -o options for canonfs (trace runs)
        self.tree = None      # the host tree shown, when not bench.tree
        self.logpath = f"{bench.work}/logs/{name}.log"
        own = os.readlink("/proc/self/ns/mnt")
        self.holder = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sleep", "infinity"],
            stdin=DEVNULL, start_new_session=True)
        self.ns = f"/proc/{self.holder.pid}/ns/mnt"
        for _ in range(500):
            try:
                if os.readlink(self.ns) != own:
                    break
            except OSError:
                pass
            if self.holder.poll() is not None:
                raise BenchError(f"unshare exited with {self.holder.returncode}")
            time.sleep(0.01)
        else:
            self.holder.kill()
            self.holder.wait()
            raise BenchError("unshare did not create a mount namespace")
        self.drop_copied_fuse_mounts()

    def drop_copied_fuse_mounts(self):
        """Lazily unmount, in here only, the FUSE mounts the namespace
        copied from the host's: a copy keeps its file system alive, so the
        daemon of a mount its user unmounts meanwhile would not exit until
        the bench ends."""
        with open(f"/proc/{self.holder.pid}/mounts") as f:
            points = [line.split()[1] for line in f
                      if line.split()[2] in ("fuse", "fuseblk") or
                      line.split()[2].startswith("fuse.")]
        for point in reversed(points):  # the innermost first
            # The kernel writes a blank in a mount point as \040.
            path = re.sub(r"\\([0-7]{3})",
                          lambda m: chr(int(m.group(1), 8)), point)
            try:
                self.run(["umount", "-l", path])
            except BenchError as e:  # only a daemon's exit waits
                log(f"{self.name}: left a copied mount: {e}")

    def setup(self):
        if self.name not in AT_VIEW:
            # A small tmpfs at VIEW holds the mountpoint P, only in here.
            self.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755",
                      "canonfs-bench-view", VIEW])
            self.run(["mkdir", P])

    # -- running commands inside the namespace -------------------------
    def popen(self, args, cwd="/", env=None, **kw):
        return subprocess.Popen(args, preexec_fn=enter(self.ns, cwd),
                                env=env or self.bench.env, **kw)

    def run(self, args, cwd="/", env=None, timeout=120):
        """Run ARGS (untimed); raise BenchError with its output on failure."""
        with tempfile.TemporaryFile() as out:
            p = self.popen(args, cwd, env, stdin=DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_child(p)
                raise BenchError(f"{self.name}: timed out after {timeout} s: "
                                 f"{cmdline(args)}", timeout=True)
            out.seek(0)
            data = out.read()
        if rc != 0:
            raise BenchError(f"{self.name}: exit status {rc}: {cmdline(args)}"
                             f"\n{tail(data)}")
        return data

    def timed(self, args, cwd="/", env=None, stderr_file=None):
        """Run ARGS and return its wall time in seconds."""
        with tempfile.TemporaryFile() as err:
            t0 = time.monotonic()
            p = self.popen(args, cwd, env, stdin=DEVNULL, stdout=DEVNULL,
                           stderr=err, start_new_session=True)
            try:
                rc = wait_blocking(p, TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill_child(p)
                raise BenchError(f"{self.name}: timed out after {TIMEOUT} s: "
                                 f"{cmdline(args)}", timeout=True)
            elapsed = time.monotonic() - t0
            err.seek(0)
            data = err.read()
        if rc != 0:
            raise BenchError(f"{self.name}: exit status {rc}: "
                             f"{cmdline(args)}\n{tail(data)}")
        if stderr_file is not None:
            stderr_file.append(data)
        return elapsed

    @staticmethod
    def kill_child(p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            pass

    # -- mounting -------------------------------------------------------
    @property
    def mountpoint(self):
        return VIEW if self.name in AT_VIEW else P

    def is_mounted(self):
        try:
            with open(f"/proc/{self.holder.pid}/mounts") as f:
                return any(line.split()[1] == self.mountpoint for line in f)
        except OSError:
            return False

    def mount(self):
        tree = self.tree or self.bench.tree
        if self.name == "native":
            self.run(["mount", "--bind", tree, P])
            self.mounted = True
            return
        if self.name == "canonfs":
            args = [self.bench.canonfs, "-f"]
            if CANONFS_OPTS:
                args += ["-o", CANONFS_OPTS]
            for opt in self.extra_opts:
                args += ["-o", opt]
            args += [tree, VIEW]
        elif self.name == FLOOR:
            # Only what its rows walk: the whole tree, with the memory
            # workload's million files, would take minutes to load.
            args = [self.bench.floorfs, tree, VIEW, "gopath"]
        else:
            args = ["bindfs", "-f", tree, P]
        logf = open(self.logpath, "ab")
        logf.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(args)}\n".encode())
        logf.flush()
        self.daemon = self.popen(args, stdin=DEVNULL, stdout=logf, stderr=logf,
                                 start_new_session=True)
        logf.close()
        for _ in range(400):
            if self.is_mounted():
                self.mounted = True
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(0.025)
        rc = self.daemon.poll()
        self.stop_daemon()
        raise BenchError(f"{self.name} did not mount (daemon status {rc}):\n"
                         f"{self.log_tail()}")

    def log_tail(self):
        try:
            with open(self.logpath, "rb") as f:
                return tail(f.read())
        except OSError:
            return ""

    def unmount(self):
        if self.is_mounted():
            if self.name == "native":
                try:
                    self.run(["umount", P])
                except BenchError:
                    self.run(["umount", "-l", P])
            else:
                try:
                    self.run(["fusermount3", "-u", self.mountpoint], timeout=60)
                except BenchError as e:
                    self.bench.problem(f"{self.name}: fusermount3 -u failed "
                                       f"({e}); lazy unmount")
                    try:
                        self.run(["fusermount3", "-uz", self.mountpoint])
                    except BenchError as e2:
                        self.bench.problem(str(e2))
        self.mounted = False
        self.stop_daemon()

    def stop_daemon(self):
        """Reap our daemon after unmounting; kill it if it does not exit."""
        d, self.daemon = self.daemon, None
        if d is None:
            return
        try:
            rc = d.wait(20)
        except subprocess.TimeoutExpired:
            self.bench.problem(f"{self.name}: daemon pid {d.pid} did not exit "
                               "20 s after unmount; killed")
            d.kill()
            rc = d.wait()
        if rc != 0:
            self.bench.problem(f"{self.name}: daemon exited with status {rc}"
                               f"\n{self.log_tail()}")

    def remount(self):
        self.unmount()
        self.mount()

    def abort(self):
        """After a hang: kill our daemon (ends its pending requests), remount."""
        if self.daemon is not None:
            self.daemon.kill()
            self.daemon.wait()
            self.daemon = None
        try:
            self.run(["umount", "-l", self.mountpoint])
        except BenchError:
            pass
        self.mounted = False
        self.mount()

    def rss(self):
        if self.daemon is None:
            return None
        vals = {}
        with open(f"/proc/{self.daemon.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    vals[key] = value.strip()
        return vals

    def close(self):
        try:
            if self.mounted or self.daemon is not None:
                self.unmount()
        except Exception as e:  # keep cleaning up
            self.bench.problem(f"{self.name}: cleanup: {e}")
            if self.daemon is not None:
                self.daemon.kill()
                self.daemon.wait()
        if self.holder.poll() is None:
            self.holder.terminate()
        self.holder.wait()


class Bench:
    def __init__(self, canonfs):
        self.canonfs = os.path.abspath(canonfs)
        build = os.path.dirname(self.canonfs)
        self.work = os.path.abspath(os.environ.get("BENCH_WORKDIR")
                                    or os.path.join(build, "bench-work"))
        self.out = os.environ.get("BENCH_OUT") or os.path.join(build, "bench.md")
        self.tree = self.work + "/tree"
        self.variants = []
        floorfs = os.path.join(build, "floorfs")
        self.floorfs = floorfs if os.access(floorfs, os.X_OK) else None
        self.floor = None         # the floor's Variant, kept out of variants
        self.rows = []            # (key, label)
        self.results = {}         # key -> variant -> [seconds]
        self.failed = {}          # key -> variant -> message
        self.notes = []
        self.problems = []
        self.info = {}
        self.env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": self.work + "/home",
            "TMPDIR": self.work + "/tmp",
            "LC_ALL": "C",
            "TZ": "UTC",
        }

    def problem(self, msg):
        log(f"PROBLEM: {msg}")
        self.problems.append(msg)

    # -- setup ------------------------------------------------------------
    def prepare(self):
        marker = self.work + "/.canonfs-bench"
        if os.path.exists(self.work):
            if not os.path.exists(marker):
                sys.exit(f"bench: {self.work} exists and is not a bench work "
                         "directory; remove it or set BENCH_WORKDIR")
            shutil.rmtree(self.work)
        for d in ("tree", "caches", "logs", "home", "tmp", "out", "clones",
                  "digests"):
            os.makedirs(f"{self.work}/{d}")
        open(marker, "w").close()
        # Run a copy, so that a rebuild during the bench cannot mix versions.
        shutil.copy2(self.canonfs, self.work + "/canonfs")
        self.canonfs = self.work + "/canonfs"
        if self.floorfs:
            shutil.copy2(self.floorfs, self.work + "/floorfs")
            self.floorfs = self.work + "/floorfs"
        os.makedirs(VIEW, exist_ok=True)
        if os.listdir(VIEW):
            sys.exit(f"bench: {VIEW} is not empty")

        gopath_src = self.tree + "/gopath/src"
        log(f"copying {GOCODE} to {gopath_src}"
            + (f" (subset: {', '.join(QUICK_SUBSET)})" if QUICK else ""))
        if QUICK:
            for sub in QUICK_SUBSET:
                os.makedirs(os.path.dirname(f"{gopath_src}/{sub}"), exist_ok=True)
                subprocess.run(["cp", "-a", f"{GOCODE}/{sub}", f"{gopath_src}/{sub}"],
                               check=True)
        else:
            os.makedirs(self.tree + "/gopath")
            subprocess.run(["cp", "-a", GOCODE, gopath_src], check=True)
        nfiles = nbytes = 0
        for root, dirs, files in os.walk(gopath_src):
            for name in dirs + files:
                nfiles += 1
                nbytes += os.lstat(os.path.join(root, name)).st_size
        self.info["gopath_entries"] = nfiles
        self.info["gopath_mb"] = nbytes / 1e6

        if self.want("clone"):
            self.make_origin()

        goroot = subprocess.run(["go", "env", "GOROOT"], check=True,
                                capture_output=True, text=True).stdout.strip()
        self.info["goroot"] = goroot
        if self.want("goroot"):
            log(f"copying {goroot} to {self.tree}/goroot (symlinks followed)")
            # Debian's GOROOT is mostly symlinks into /usr/share/go-1.19.
            subprocess.run(["cp", "-aL", goroot, self.tree + "/goroot"], check=True)

        if self.want("bigread"):
            log(f"writing a {BIG_MIB} MiB file")
            chunk = os.urandom(1 << 20)
            with open(self.tree + "/big.bin", "wb") as f:
                for _ in range(BIG_MIB):
                    f.write(chunk)
                os.fsync(f.fileno())

        if self.want("memory"):
            log(f"generating {MANY_DIRS * 1000:,} empty files")
            for d in range(MANY_DIRS):
                path = f"{self.tree}/many/d{d:04d}"
                os.makedirs(path)
                for i in range(1000):
                    os.close(os.open(f"{path}/f{i:04d}",
                                     os.O_WRONLY | os.O_CREAT, 0o644))

        self.info["go"] = subprocess.run(["go", "version"], capture_output=True,
                                         text=True).stdout.strip()
        self.info["canonfs"] = subprocess.run(
            [self.canonfs, "-V"], capture_output=True, text=True).stdout.strip()
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        rev = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        if rev:
            self.info["canonfs"] += f" (tree {rev})"
        self.info["bindfs"] = subprocess.run(
            ["bindfs", "--version"], capture_output=True, text=True).stdout.strip()

    def git(self, args, **kw):
        return subprocess.run(["git", "-c", "user.name=canonfs bench", "-c",
                               "user.email=bench@localhost"] + args,
                              env=self.env, check=True, **kw)

    def make_origin(self):
        """The repository the clone workload clones: one commit of
        WORK/tree/gopath (ignored files too), so that a clone has the
        tree's layout."""
        origin = self.work + "/origin"
        log(f"committing {self.tree}/gopath to a git repository at {origin}")
        self.git(["init", "-q", origin])
        at = ["--git-dir", origin + "/.git", "--work-tree", self.tree]
        self.git(at + ["add", "-A", "-f", "gopath"])
        self.git(at + ["commit", "-q", "-m", "canonfs bench tree"])
        files = self.git(at + ["ls-files", "-z"], capture_output=True).stdout
        self.info["clone_files"] = files.count(b"\0")
        self.clones = 0

    def fresh_clone(self):
        """A new clone of the origin in a new directory (new baselines)."""
        self.clones += 1
        path = f"{self.work}/clones/{self.clones}"
        self.git(["clone", "-q", self.work + "/origin", path])
        return path

    def start_variants(self):
        for name in VARIANTS:
            v = Variant(name, self)
            self.variants.append(v)
            v.setup()
            v.mount()
            log(f"{name}: tree mounted at {P}"
                + (f" (daemon pid {v.daemon.pid})" if v.daemon else ""))
        if self.floorfs and self.want("remount"):
            self.floor = Variant(FLOOR, self)
            self.floor.setup()
            log(f"{FLOOR}: made at {self.floorfs}; mounted by the remount "
                "workload only")

    def variant(self, name):
        return next(v for v in self.variants if v.name == name)

    def want(self, workload):
        if workload == "goroot" and QUICK and "goroot" not in ONLY:
            return False
        return not ONLY or workload in ONLY

    def go_env(self, cache, **extra):
        env = dict(self.env, GO111MODULE="off", GOPATH=P + "/gopath",
                   GOCACHE=cache, GOFLAGS="-buildvcs=false", GOPROXY="off",
                   GOENV="off", GOTOOLCHAIN="local", CGO_ENABLED="1")
        env.update(extra)
        return env

    def cache(self, variant, what):
        path = f"{self.work}/caches/{variant}/{what}"
        os.makedirs(path, exist_ok=True)
        return path

    # -- measuring --------------------------------------------------------
    def row(self, key, label):
        if key not in self.results:
            self.rows.append((key, label))
            self.results[key] = {n: [] for n in VARIANTS + (FLOOR,)}
            self.failed[key] = {}

    def measure(self, rows, step, warm=None, with_floor=False):
        """ROWS: [(key, label)]. STEP(v, r) -> {key: seconds} for one run.
        WARM(v) runs once per variant first, untimed. Rounds alternate the
        order of the variants (native/canonfs/bindfs, then rotated);
        WITH_FLOOR adds the floor, when there is one."""
        for key, label in rows:
            self.row(key, label)
        keys = [k for k, _ in rows]
        broken = set()

        def attempt(v, fn):
            try:
                return fn()
            except BenchError as e:
                broken.add(v.name)
                for k in keys:
                    self.failed[k][v.name] = str(e).splitlines()[0]
                self.problem(f"[{', '.join(keys)}] {e}")
                if e.timeout and v.name != "native":
                    try:
                        v.abort()
                    except BenchError as e2:
                        self.problem(f"{v.name}: could not remount: {e2}")
                return None

        variants = self.variants + (
            [self.floor] if with_floor and self.floor else [])
        if warm is not None:
            for v in variants:
                log(f"  warm-up: {v.name}")
                attempt(v, lambda: warm(v))
        for r in range(RUNS):
            turn = r % len(variants)
            order = variants[turn:] + variants[:turn]
            for v in order:
                if v.name in broken:
                    continue
                res = attempt(v, lambda: step(v, r))
                if res is None:
                    continue
                for k, t in res.items():
                    self.results[k][v.name].append(t)
                log(f"  run {r + 1}/{RUNS} {v.name:8s} "
                    + "  ".join(f"{k} {t:.3f} s" for k, t in res.items()))

    # -- workloads ----------------------------------------------------------
    def gopath_packages(self):
        """Packages of the GOPATH tree that build natively (non-main: a
        multi-package `go build` links every main package on every run,
        which is not a no-op and does not touch the tree)."""
        native = self.variant("native")
        cwd = P + "/gopath/src"
        env = self.go_env(self.cache("native", "gopath"))
        fmt = ("{{if and (not .Error) (eq (len .DepsErrors) 0) (or .GoFiles .CgoFiles)"
               " (ne .Name \"main\")}}{{.ImportPath}} {{join .Deps \" \"}}{{end}}")
        out = native.run(["go", "list", "-e", "-f", fmt, "./..."], cwd, env,
                         timeout=300).decode()
        deps = {}
        for line in out.splitlines():
            if line.strip():
                pkg, *d = line.split()
                deps[pkg] = set(d)
        listed = len(out.splitlines())
        pkgs = sorted(deps)
        log(f"seeding the native GOCACHE: go build of {len(pkgs)} packages")
        for _ in range(5):
            try:
                native.run(["go", "build"] + pkgs, cwd, env, timeout=1800)
                break
            except BenchError as e:
                bad = {line[2:].split()[0] for line in str(e).splitlines()
                       if line.startswith("# ")}
                bad &= set(pkgs)
                if not bad:
                    raise
                pkgs = [p for p in pkgs if p not in bad and not deps[p] & bad]
                log(f"  excluded (do not build natively): {' '.join(sorted(bad))}")
        else:
            raise BenchError("could not find a set of packages that builds")
        self.info["gopath_packages"] = len(pkgs)
        self.info["gopath_listed"] = listed
        return pkgs

    def seed_caches(self):
        """Copy the native GOPATH GOCACHE to the other variants (the cache
        keys depend on the path, which is the same)."""
        seeded = self.cache("native", "gopath")
        for name in VARIANTS[1:] + ((FLOOR,) if self.floor else ()):
            dst = f"{self.work}/caches/{name}/gopath"
            shutil.rmtree(dst, ignore_errors=True)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run(["cp", "-a", seeded, dst], check=True)

    def w_gopath(self):
        pkgs = self.gopath_packages()
        self.seed_caches()
        args = ["go", "build"] + pkgs
        cwd = P + "/gopath/src"

        def warm(v):
            errs = []
            v.timed(["go", "build", "-x"] + pkgs, cwd,
                    self.go_env(self.cache(v.name, "gopath")), stderr_file=errs)
            compiles = sum(1 for line in errs[0].decode(errors="replace").splitlines()
                           if "/compile " in line)
            self.notes.append(f"warm-up `go build` through {v.name} (GOCACHE seeded "
                              f"by the native build) compiled {compiles} packages")

        def step(v, r):
            return {"gopath": v.timed(args, cwd, self.go_env(self.cache(v.name, "gopath")))}

        n = len(pkgs)
        log(f"[gopath] warm no-op go build, {n} packages")
        self.measure([("gopath", f"go build no-op, warm ({n} GOPATH pkgs)")], step, warm)
        return pkgs

    def w_remount(self, pkgs):
        cwd = P + "/gopath/src"
        if pkgs:
            args = ["go", "build"] + pkgs
            requests = []  # canonfs: {opcode: requests} of each timed run

            def step(v, r):
                v.remount()
                before = self.canonfs_stats(v) if v.name == "canonfs" else None
                t = v.timed(args, cwd, self.go_env(self.cache(v.name, "gopath")))
                if before is not None:
                    requests.append(self.requests_since(v, before))
                return {"gopath-mount": t}
            if self.floor:
                self.floor_warm_up(args, cwd)
            log("[remount] go build no-op, first run after mounting")
            self.measure([("gopath-mount", "go build no-op, first after mount")],
                         step, with_floor=True)
            if requests:
                self.notes.append("go build no-op, first after mount: canonfs "
                                  "requests per run (medians): "
                                  + self.requests_note(requests))

        def step2(v, r):
            v.remount()
            return {"stat-mount": v.timed(self.find_args(), cwd)}
        log("[remount] stat storm, first pass after mounting")
        self.measure([("stat-mount", "find -printf, first after mount")], step2,
                     with_floor=True)
        if self.floor:
            self.floor.unmount()  # its copy of the tree held in memory

    def floor_warm_up(self, args, cwd):
        """One untimed build through the floor, into its copy of the
        native GOCACHE: the timed ones must be no-ops as the others are."""
        errs = []
        self.floor.remount()
        self.floor.timed(args[:2] + ["-x"] + args[2:], cwd,
                         self.go_env(self.cache(FLOOR, "gopath")),
                         stderr_file=errs)
        compiles = sum(1 for line in errs[0].decode(errors="replace").splitlines()
                       if "/compile " in line)
        self.notes.append(f"warm-up `go build` through the floor (GOCACHE seeded "
                          f"by the native build) compiled {compiles} packages")

    def w_clone(self, pkgs):
        """The first walk and the first no-op build after mounting a fresh
        git clone, as a CI job meets them: each run clones the origin to a
        new directory (a valid index, new baselines) and mounts it anew,
        canonfs with an empty digest cache (a new file). canonfs runs as
        configured (the default time mode unless BENCH_CANONFS_OPTS says
        otherwise), with -o mtime=zero, and with a digest cache filled by
        an earlier mount of the same clone. The GOCACHE is the warm one of
        the gopath workload (same path, same sources)."""
        native, canonfs = self.variant("native"), self.variant("canonfs")
        # (column, variant, -o options, row key suffix)
        columns = [("native", native, [], ""), ("default", canonfs, [], ""),
                   ("zero", canonfs, ["mtime=zero"], "-zero"),
                   ("warm", canonfs, [], "-warm")]
        cwd = P + "/gopath/src"
        workloads = [("clone-stat", "find -printf, first walk after mounting "
                      "a fresh git clone", self.find_args(), lambda v: None)]
        if pkgs:
            workloads.append(
                ("clone-build", "go build no-op, first after mounting a fresh "
                 "git clone", ["go", "build"] + pkgs,
                 lambda v: self.go_env(self.cache(v.name, "gopath"))))
        counts = {}  # (key, column) -> [(hashed, cached, racy)]
        requests = {}  # (key, column) -> canonfs's [{opcode: requests}]
        for key, label, args, env in workloads:
            self.row(key, f"{label} ({self.info['clone_files']} files)")
            self.row(key + "-zero", f"{label}, canonfs -o mtime=zero")
            self.row(key + "-warm", f"{label}, canonfs, warm digest cache")
            log(f"[clone] {label}")
            broken = set()
            for r in range(RUNS):
                for col, v, opts, suffix in columns[r % 4:] + columns[:r % 4]:
                    if col in broken:
                        continue
                    try:
                        t, seen = self.clone_run(v, col, opts, args, cwd, env(v),
                                                 requests.setdefault((key, col), []))
                    except BenchError as e:
                        broken.add(col)
                        self.failed[key + suffix][v.name] = str(e).splitlines()[0]
                        self.problem(f"[{key}{suffix}] {e}")
                        continue
                    self.results[key + suffix][v.name].append(t)
                    counts.setdefault((key, col), []).append(seen)
                    log(f"  run {r + 1}/{RUNS} {col:8s} {key} {t:.3f} s"
                        + (" (digests hashed %d, cached %d; %d racy index "
                           "entries)" % seen if seen else ""))
            self.clone_notes(key, label, counts)
            runs = requests.get((key, "default"))
            if runs:
                self.notes.append(f"{label}, canonfs (default): requests per "
                                  "run (medians): " + self.requests_note(runs))
        for v in (native, canonfs):
            v.tree = None
            v.extra_opts = []
            v.remount()

    def clone_run(self, v, col, opts, args, cwd, env, requests):
        """One run of the clone workload: (seconds, (digests hashed,
        digests cached, racy index entries) or None for native). Appends
        canonfs's requests per opcode to REQUESTS."""
        clone = self.fresh_clone()
        cloned = time.time()
        try:
            v.tree = clone
            if v.name == "canonfs":
                digests = f"{self.work}/digests/{self.clones}"
                v.extra_opts = opts + [f"digests={digests}"]
            if col == "warm":
                # A file changed less than 2 s ago is never remembered
                # (DIGESTS_RACY_SECONDS): fill the cache after that.
                time.sleep(max(0.0, cloned + 2.1 - time.time()))
                v.remount()
                v.timed(args, cwd, env)
            v.remount()
            before = self.canonfs_stats(v) if v.name == "canonfs" else None
            t = v.timed(args, cwd, env)
            seen = None
            if v.name == "canonfs":
                requests.append(self.requests_since(v, before))
                stats = self.canonfs_stats(v)
                seen = (int(stats.get("digests-hashed", -1)),
                        int(stats.get("digests-cached", -1)),
                        self.racy_entries(clone))
        finally:
            try:
                v.unmount()
            finally:
                shutil.rmtree(clone, ignore_errors=True)
        return t, seen

    @staticmethod
    def racy_entries(clone):
        """Files of CLONE modified in the second its index was written or
        later: git's racy rule, under which the index's blob id is not
        trusted and canonfs hashes the file."""
        index_s = os.stat(clone + "/.git/index").st_mtime_ns // 10**9
        racy = 0
        for root, dirs, files in os.walk(clone + "/gopath"):
            for name in files:
                if os.lstat(f"{root}/{name}").st_mtime_ns // 10**9 >= index_s:
                    racy += 1
        return racy

    def clone_notes(self, key, label, counts):
        med = {}
        for suffix in ("", "-zero", "-warm"):
            ts = self.results[key + suffix]["canonfs"]
            med[suffix] = statistics.median(ts) if ts else None
        if med[""] and med["-zero"]:
            note = (f"{label}: canonfs {med[''] / med['-zero']:.2f}x of "
                    f"-o mtime=zero (target 1.5x)")
            if med["-warm"]:
                note += (f", {med['-warm'] / med['-zero']:.2f}x with a warm "
                         "digest cache")
            self.notes.append(note)
        for col in ("default", "zero", "warm"):
            seen = counts.get((key, col))
            if seen:
                hashed, cached, racy = (statistics.median(x) for x in zip(*seen))
                self.notes.append(
                    f"{label}, canonfs ({col}): medians of {hashed:.0f} files "
                    f"hashed, {cached:.0f} digests from the cache; "
                    f"{racy:.0f} index entries racy")

    OPCODES = ("lookup", "getattr", "readdirplus", "readdir", "read",
               "open", "release", "setattr", "create", "write", "flush")

    def requests_since(self, v, before):
        """Requests per opcode the canonfs variant served since BEFORE (its
        stats then), plus the total of them."""
        after = self.canonfs_stats(v)
        counts = {op: int(after.get(op, 0)) - int(before.get(op, 0))
                  for op in self.OPCODES}
        counts["total"] = sum(counts.values())
        return counts

    @staticmethod
    def requests_note(runs, per=1):
        """Medians per opcode of RUNS ({opcode: requests} each), divided
        by PER (the files of a run, for requests per file)."""
        digits = 0 if per == 1 else 2
        med = {op: round(statistics.median(r[op] for r in runs) / per, digits)
               for op in runs[0]}
        return ", ".join(f"{op} {n:.{digits}f}" for op, n in med.items()
                         if n or op == "total")

    def canonfs_stats(self, v):
        """MNT/.canonfs/stats of the canonfs variant, as a dict."""
        stats = v.run(["cat", VIEW + "/.canonfs/stats"]).decode()
        return dict(line.split() for line in stats.splitlines())

    def w_goroot(self):
        goroot = P + "/goroot"
        args = [goroot + "/bin/go", "install", "std", "cmd"]

        def env(v):
            return self.go_env(self.cache(v.name, "goroot"), GOROOT=goroot)

        def warm(v):
            v.timed(args, P, env(v))
            errs = []
            v.timed(args[:2] + ["-x"] + args[2:], P, env(v), stderr_file=errs)
            steps = sum(1 for line in errs[0].decode(errors="replace").splitlines()
                        if "/compile " in line or "/link " in line)
            self.notes.append(f"`go install std cmd` through {v.name}, after one "
                              f"warm-up run: {steps} compile/link steps")

        def step(v, r):
            return {"goroot": v.timed(args, P, env(v))}
        log("[goroot] warm no-op go install std cmd over a GOROOT copy")
        self.measure([("goroot", "go install std cmd no-op, warm")], step, warm)

    def w_cold(self):
        sums = {}

        def step(v, r):
            cache = f"{self.work}/caches/{v.name}/cold"
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            out = f"{self.work}/out/stringer-{v.name}-{r}"
            t = v.timed(["go", "build", "-a", "-o", out, COLD_TARGET],
                        P + "/gopath/src", self.go_env(cache))
            shutil.rmtree(cache, ignore_errors=True)
            with open(out, "rb") as f:
                sums.setdefault(hashlib.sha256(f.read()).hexdigest(), []).append(v.name)
            os.unlink(out)
            return {"cold": t}
        log(f"[cold] go build -a {COLD_TARGET}, empty GOCACHE")
        self.measure([("cold", f"go build -a stringer, empty GOCACHE")], step)
        if len(sums) == 1:
            self.notes.append("`go build -a` stringer: every run of every variant "
                              "gave the same binary (sha256 "
                              f"{next(iter(sums))[:16]}…)")
        elif sums:
            self.problem("`go build -a` stringer binaries differ: "
                         + "; ".join(f"{h[:16]}: {sorted(set(v))}"
                                     for h, v in sums.items()))

    def w_ccache(self):
        """A C project's first `make` after mounting, with a ccache
        directory restored from a build of another host copy of it: every
        compile must be a ccache hit. canonfs builds through the mount's
        compilers (`canonfs env`, untimed, as a CI job runs it before
        make, with /usr/lib/ccache in front of PATH), seeded from a copy
        at another host path; native and bindfs can only hit when the
        seed was built at the same path, so theirs is built at P too."""
        top = f"{self.work}/cproject"
        seed, job = f"{top}/seed-host/work/proj", f"{top}/ci-host/builds/1/proj"
        write_c_project(seed, NCFILES)
        shutil.copytree(seed, job)
        cwd = P + "/proj"
        hits = {}  # variant -> [(direct, preprocessed, miss)]
        requests = []  # canonfs: {opcode: requests} of each timed make

        def ccache_dir(v):
            return f"{self.work}/caches/{v.name}/ccache"

        def make_env(v):
            env = dict(self.env, CCACHE_DIR=ccache_dir(v))
            if v.name == "canonfs":
                out = v.run([self.canonfs, "env", VIEW, "--json"], timeout=300)
                env.update(json.loads(out))
            env["PATH"] = "/usr/lib/ccache:" + env["PATH"]
            return env

        def ccache_counts(v, env):
            out = v.run(["ccache", "--print-stats"], env=env).decode()
            stats = dict(line.split("\t") for line in out.splitlines()
                         if "\t" in line)
            return tuple(int(stats.get(k, 0)) for k in
                         ("direct_cache_hit", "preprocessed_cache_hit",
                          "cache_miss"))

        def clean(tree):
            for name in os.listdir(tree + "/proj"):
                if name.endswith(".o") or name == "prog":
                    os.unlink(f"{tree}/proj/{name}")

        def mount_copy(v, tree):
            clean(tree)
            v.tree = tree
            v.remount()  # the first make after mounting
            env = make_env(v)
            v.run(["ccache", "-z"], env=env)
            return env

        for v in self.variants:
            shutil.rmtree(ccache_dir(v), ignore_errors=True)
            env = mount_copy(v, os.path.dirname(seed))
            v.run(["make"], cwd, env, timeout=600)
            direct, pre, miss = ccache_counts(v, env)
            if miss != NCFILES + 1:
                raise BenchError(f"{v.name}: the seeding build had {miss} ccache "
                                 f"misses for {NCFILES + 1} compiles")

        def step(v, r):
            env = mount_copy(v, os.path.dirname(job))
            before = self.canonfs_stats(v) if v.name == "canonfs" else None
            t = v.timed(["make"], cwd, env)
            if before is not None:
                requests.append(self.requests_since(v, before))
            counts = ccache_counts(v, env)
            hits.setdefault(v.name, []).append(counts)
            if counts[0] + counts[1] != NCFILES + 1 or counts[2]:
                raise BenchError(f"{v.name}: ccache hit {counts[0]} direct, "
                                 f"{counts[1]} preprocessed, missed {counts[2]}, "
                                 f"of {NCFILES + 1} compiles")
            return {"ccache": t}

        log(f"[ccache] C project ({NCFILES + 1} files), first make after "
            "mounting, every object a ccache hit")
        try:
            self.measure([("ccache", f"make, first after mount, every object a "
                           f"ccache hit ({NCFILES + 1} C files)")], step)
        finally:
            for v in self.variants:
                v.tree = None
                v.remount()
        for name in VARIANTS:
            if hits.get(name):
                direct, pre, miss = (statistics.median(x) for x in zip(*hits[name]))
                self.notes.append(
                    f"ccache row, {name}: medians of {direct:.0f} direct hits, "
                    f"{pre:.0f} preprocessed hits, {miss:.0f} misses per `make` of "
                    f"{NCFILES + 1} compiles (ccache --print-stats)")
        if requests:
            self.notes.append("ccache row, canonfs requests per `make` "
                              "(medians): " + self.requests_note(requests))

    @staticmethod
    def find_args():
        return ["sh", "-c", "find . -printf '%s %m %p\\n' > /dev/null"]

    def w_stat(self):
        cwd = P + "/gopath/src"
        n = self.info["gopath_entries"]

        def warm(v):
            v.timed(self.find_args(), cwd)

        def step(v, r):
            return {"stat": v.timed(self.find_args(), cwd)}
        log("[stat] stat storm, warm")
        self.measure([("stat", f"find -printf, warm ({n} entries)")], step, warm)
        rss = self.variant("canonfs").rss()
        if rss:
            self.notes.append(f"canonfs daemon after the warm stat storm: "
                              f"VmRSS {rss.get('VmRSS')}, VmHWM {rss.get('VmHWM')}")

    def w_tar(self):
        cwd = P + "/gopath/src"
        args = ["sh", "-c", "tar cf - . | cat > /dev/null"]

        def warm(v):
            v.timed(args, cwd)

        def step(v, r):
            return {"tar": v.timed(args, cwd)}
        log("[tar] read the whole tree, warm")
        self.measure([("tar", f"tar of the whole tree, piped, warm "
                      f"({self.info['gopath_mb']:.0f} MB)")], step, warm)

    def w_bigread(self):
        path = P + "/big.bin"

        def step(v, r):
            drop_caches()
            cold = v.timed(["cat", path])
            cached = v.timed(["cat", path])
            return {"big-cold": cold, "big-cached": cached}
        size = f"{BIG_MIB // 1024} GiB" if BIG_MIB >= 1024 else f"{BIG_MIB} MiB"
        log(f"[bigread] cat of a {size} file, cold then cached")
        self.measure([("big-cold", f"cat {size} file, cold (drop_caches)"),
                      ("big-cached", f"cat {size} file, cached (2nd read)")], step)
        self.w_bigread_passthrough(path, size)

    def w_bigread_passthrough(self, path, size):
        """The same reads with canonfs -o passthrough (the kernel reads the
        host file itself), alternating with native in each round."""
        native, canonfs = self.variant("native"), self.variant("canonfs")
        keys = {"cold": "big-pt-cold", "cached": "big-pt-cached"}
        self.row(keys["cold"], f"cat {size} file, cold, canonfs -o passthrough")
        self.row(keys["cached"], f"cat {size} file, cached, canonfs -o passthrough")
        log(f"[bigread] the same with canonfs -o passthrough")
        paths = set()
        try:
            canonfs.extra_opts = ["passthrough"]
            canonfs.remount()
            for r in range(RUNS):
                order = (native, canonfs) if r % 2 == 0 else (canonfs, native)
                for v in order:
                    drop_caches()
                    cold = v.timed(["cat", path])
                    cached = v.timed(["cat", path])
                    self.results[keys["cold"]][v.name].append(cold)
                    self.results[keys["cached"]][v.name].append(cached)
                    log(f"  run {r + 1}/{RUNS} {v.name:8s} cold {cold:.3f} s  "
                        f"cached {cached:.3f} s")
                paths.add(self.canonfs_stats(canonfs).get("passthrough", "?"))
        except BenchError as e:
            for k in keys.values():
                self.failed[k]["canonfs"] = str(e).splitlines()[0]
            self.problem(f"[bigread passthrough] {e}")
        finally:
            canonfs.extra_opts = []
            canonfs.remount()
        self.notes.append(f"cat {size} file with canonfs -o passthrough: "
                          f"the path in use (MNT/.canonfs/stats): "
                          f"{', '.join(sorted(paths))}")

    def w_memory(self):
        """Daemon memory on a tree far larger than a build's: one walk of
        the generated tree per variant, with every cache dropped first (so
        every name is new to the kernel), then the daemon's memory, and
        again once the kernel has dropped its dentries and inodes."""
        n = MANY_DIRS * 1000
        key = "many"
        self.row(key, f"find over {n:,} generated files, cold (1 run)")
        args = ["sh", "-c", "find . -printf '%s %m %p\\n' > /dev/null"]
        log(f"[memory] walking {n:,} files")
        for v in self.variants:
            try:
                if v.name != "native":
                    v.remount()
                drop_caches()
                t = v.timed(args, P + "/many")
            except BenchError as e:
                self.failed[key][v.name] = str(e).splitlines()[0]
                self.problem(f"[{key}] {e}")
                continue
            self.results[key][v.name].append(t)
            log(f"  {v.name:8s} {t:.3f} s")
            walked = v.rss()
            if not walked:
                continue
            drop_caches()
            time.sleep(3)  # FORGETs arrive after the kernel evicts
            dropped = v.rss() or {}
            note = (f"{v.name} daemon after walking {n:,} files: VmHWM "
                    f"{walked.get('VmHWM')}, VmRSS {walked.get('VmRSS')}; "
                    f"{dropped.get('VmRSS')} after drop_caches")
            if v.name == "canonfs":
                counts = self.canonfs_stats(v)
                with open(f"/proc/{v.daemon.pid}/limits") as f:
                    limit = next((line.split()[3] for line in f
                                  if line.startswith("Max open files")), "?")
                note += (f" (descriptor limit {limit}: the kernel was made to "
                         f"forget {counts.get('prune_entry', '?')} names in "
                         f"{counts.get('prune_runs', '?')} prune runs; "
                         f"{counts.get('inodes', '?')} inodes live after "
                         "drop_caches)")
            self.notes.append(note)

    def w_writes(self):
        requests = []  # canonfs: {opcode: requests} of each create run

        def step(v, r):
            name = f"writes-{v.name}-{r}"
            subprocess.run(["sync"], check=True)
            before = self.canonfs_stats(v) if v.name == "canonfs" else None
            t_write = v.timed(["/usr/bin/python3", "-S", "-c", WRITER,
                               f"{P}/{name}", str(NSMALL), "4096"], P)
            if before is not None:
                requests.append(self.requests_since(v, before))
            host = f"{self.tree}/{name}"
            got = [e for e in os.scandir(host) if e.stat().st_size == 4096]
            if len(got) != NSMALL:
                raise BenchError(f"{v.name}: {len(got)} of {NSMALL} 4 KiB files "
                                 f"on the host after the writes")
            subprocess.run(["sync"], check=True)
            t_rm = v.timed(["rm", "-rf", name], P)
            if os.path.exists(host):
                raise BenchError(f"{v.name}: {host} still exists after rm -rf")
            return {"writes": t_write, "rm": t_rm}
        log(f"[writes] create+write+close {NSMALL} × 4 KiB files, then rm -rf")
        self.measure([("writes", f"create {NSMALL} × 4 KiB files"),
                      ("rm", f"rm -rf those {NSMALL} files")], step)
        if requests:
            self.notes.append(
                f"create {NSMALL} × 4 KiB files: canonfs round trips per file "
                "(medians): " + self.requests_note(requests, per=NSMALL))

    # -- report -------------------------------------------------------------
    def w_trace(self, pkgs):
        """The cost of -o trace on the warm no-op build: canonfs only,
        remounted with and without tracing, alternating."""
        v = self.variant("canonfs")
        args = ["go", "build"] + pkgs
        cwd = P + "/gopath/src"
        env = self.go_env(self.cache("canonfs", "gopath"))
        trace = f"{self.work}/logs/build.trace"
        self.row("trace-off", "go build no-op, warm, canonfs without trace")
        self.row("trace-on", "go build no-op, warm, canonfs with -o trace")
        log("[trace] warm no-op go build with and without -o trace")
        for r in range(RUNS):
            for key, opts in (("trace-off", []), ("trace-on", [f"trace={trace}"])):
                v.extra_opts = opts
                v.remount()
                v.timed(args, cwd, env)  # the first run after mounting fills the caches
                t = v.timed(args, cwd, env)
                self.results[key]["canonfs"].append(t)
                log(f"  run {r + 1}/{RUNS} {key} {t:.3f} s")
        v.extra_opts = []
        v.remount()
        off = statistics.median(self.results["trace-off"]["canonfs"])
        on = statistics.median(self.results["trace-on"]["canonfs"])
        self.notes.append(f"-o trace on the warm no-op build: {on:.3f} s against "
                          f"{off:.3f} s without, {100 * (on / off - 1):+.1f}%")

    def w_manifest(self):
        """canonfs manifest against find | sort | xargs sha256sum, on the
        host tree, warm."""
        tree = self.tree + "/gopath/src"
        pipeline = ["sh", "-c", "find . -type f -print0 | sort -z | "
                    "xargs -0 sha256sum > /dev/null"]
        manifest = ["sh", "-c", f"{self.canonfs} manifest . > /dev/null"]
        self.row("manifest", "manifest of the tree, warm (native column: "
                 "find, sort -z, xargs sha256sum; canonfs column: canonfs manifest)")
        log("[manifest] canonfs manifest against the sha256sum pipeline")
        v = self.variant("native")
        v.timed(pipeline, tree)
        for r in range(RUNS):
            self.results["manifest"]["native"].append(v.timed(pipeline, tree))
            self.results["manifest"]["canonfs"].append(v.timed(manifest, tree))
            log(f"  run {r + 1}/{RUNS} pipeline "
                f"{self.results['manifest']['native'][-1]:.3f} s  manifest "
                f"{self.results['manifest']['canonfs'][-1]:.3f} s")
        pipe = statistics.median(self.results["manifest"]["native"])
        ours = statistics.median(self.results["manifest"]["canonfs"])
        self.notes.append(f"canonfs manifest is {pipe / ours:.1f}x as fast as "
                          "find | sort -z | xargs -0 sha256sum on the same tree")

    def report(self, elapsed):
        def fmt(x):
            return "—" if x is None else (f"{x:.3f}" if x < 100 else f"{x:.1f}")

        # The floor's columns only when it ran (BENCH_ONLY without remount,
        # or no floorfs built: none).
        floor = any(self.results[k][FLOOR] or FLOOR in self.failed[k]
                    for k, _ in self.rows)
        names = VARIANTS + ((FLOOR,) if floor else ())
        lines = ["| workload | native s | canonfs s | bindfs s |"
                 + (" floor s |" if floor else "")
                 + " canonfs/native | bindfs/native |"
                 + (" floor/native |" if floor else ""),
                 "|---|" + "---:|" * (2 * len(names) - 1)]
        raw = []
        for key, label in self.rows:
            med = {}
            cells = []
            for n in names:
                ts = self.results[key][n]
                if n in self.failed[key] and not ts:
                    med[n] = None
                    cells.append("FAIL")
                else:
                    med[n] = statistics.median(ts) if ts else None
                    cells.append(fmt(med[n]) + ("*" if n in self.failed[key] else ""))
            ratios = []
            for n in names[1:]:
                if med[n] is not None and med["native"]:
                    ratios.append(f"{med[n] / med['native']:.2f}")
                else:
                    ratios.append("—")
            lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
            raw.append(f"- {label}: " + "; ".join(
                f"{n} " + (" ".join(f"{t:.3f}" for t in self.results[key][n])
                           or ("FAIL" if n in self.failed[key] else "—"))
                for n in names))
        table = "\n".join(lines)
        head = [
            "# canonfs benchmark",
            "",
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · "
            f"{platform.node()} · Linux {platform.release()} · "
            f"{os.cpu_count()} CPUs · {self.info.get('go', '')}",
            f"{self.info.get('canonfs', '')} · {self.info.get('bindfs', '')}"
            + (f" · canonfs -o {CANONFS_OPTS}" if CANONFS_OPTS else ""),
            f"Medians of {RUNS} runs per variant, alternating order per round"
            + (" (BENCH_QUICK: subset tree, no GOROOT workload)" if QUICK else "")
            + f"; whole bench {elapsed / 60:.1f} min. Every variant shows the tree "
            f"at {P}: native = bind mount, canonfs, bindfs (default options), "
            "each in a private mount namespace"
            + ("; floor (first-after-mount rows) = a FUSE server that does no "
               "work per request (scripts/floorfs.c), the kernel's and the "
               "round trips' cost alone" if self.floor else "") + ". Tree: "
            f"{self.info.get('gopath_entries', 0)} entries, "
            f"{self.info.get('gopath_mb', 0):.0f} MB of /usr/share/gocode/src"
            + (f", {self.info['gopath_packages']} of {self.info['gopath_listed']} "
               "importable non-main packages built" if "gopath_packages" in self.info
               else "") + ".",
            "",
        ]
        body = head + [table, ""]
        if any(self.failed[k] for k, _ in self.rows):
            body += ["FAIL: every run failed; *: some runs failed, the median is "
                     "of the runs that succeeded (see Problems). A variant that "
                     "fails is not run again for that workload.", ""]
        if self.notes:
            body += ["Notes:", ""] + [f"- {n}" for n in self.notes] + [""]
        if self.problems:
            body += ["Problems:", ""] + ["- " + p.replace("\n", "\n  ")
                                         for p in self.problems] + [""]
        body += ["Raw runs (seconds):", ""] + raw + [""]
        text = "\n".join(body)
        try:
            with open(self.out, "w") as f:
                f.write(text)
        except OSError as e:
            log(f"bench: cannot write {self.out}: {e}")
        print()
        print(text, flush=True)
        print(f"(written to {self.out})", flush=True)

    # -- main ---------------------------------------------------------------
    def main(self):
        t0 = time.monotonic()
        self.prepare()
        try:
            self.start_variants()
        except BenchError as e:
            log(f"bench: {e}")
            return 1
        pkgs = None
        steps = [
            ("gopath", lambda: self.w_gopath()),
            ("goroot", self.w_goroot),
            ("stat", self.w_stat),
            ("tar", self.w_tar),
            ("bigread", self.w_bigread),
            ("writes", self.w_writes),
            ("cold", self.w_cold),
            ("ccache", self.w_ccache),
            ("memory", self.w_memory),
        ]
        for name, fn in steps:
            if not self.want(name):
                continue
            try:
                res = fn()
                if name == "gopath":
                    pkgs = res
            except BenchError as e:
                self.problem(f"workload {name} aborted: {e}")
        if ((self.want("remount") or self.want("clone")) and pkgs is None
                and self.want("gopath") is False):
            try:
                pkgs = self.gopath_packages()
                self.seed_caches()
            except BenchError as e:
                self.problem(f"workloads remount, clone: no package list: {e}")
        if self.want("remount"):
            try:
                self.w_remount(pkgs)
            except BenchError as e:
                self.problem(f"workload remount aborted: {e}")
        if self.want("clone"):
            try:
                self.w_clone(pkgs)
            except BenchError as e:
                self.problem(f"workload clone aborted: {e}")
        if self.want("trace") and pkgs:
            try:
                self.w_trace(pkgs)
            except BenchError as e:
                self.problem(f"workload trace aborted: {e}")
        if self.want("manifest"):
            try:
                self.w_manifest()
            except BenchError as e:
                self.problem(f"workload manifest aborted: {e}")
        self.report(time.monotonic() - t0)
        return 1 if any(self.failed[k] for k, _ in self.rows) else 0

    def cleanup(self):
        for v in self.variants + ([self.floor] if self.floor else []):
            v.close()
        self.variants = []
        self.floor = None
        for d in (VIEW, BASE):
            try:
                os.rmdir(d)
            except OSError:
                pass
        if not KEEP and os.path.exists(self.work + "/.canonfs-bench"):
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench.py PATH/TO/canonfs")

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    bench = Bench(sys.argv[1])
    try:
        return bench.main()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
