"""Bad input gets one clear line on stderr, a non-zero exit, and nothing
mounted.

Every case runs canonfs the way a user would (no -f: it would daemonize on
success) and checks: the exit status is non-zero; stderr is exactly one
non-empty line starting with "canonfs: " that names what is wrong (the path
or the option); the mountpoint is not left mounted.
"""

import os
import re
import subprocess
import time

import pytest

from conftest import CANONFS, is_mounted, start_mount, unmount


def mount_count(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as mounts:
        return sum(1 for line in mounts if line.split()[1] == path)


def names(thing):
    """The spellings of a path a message may use."""
    return {str(thing), os.path.realpath(str(thing))}


def check_error(result, *mentions, mnt=None):
    """Assert the one-line error contract; mentions: any one must appear
    (strings, or sets of alternative spellings of one thing)."""
    try:
        assert result.returncode != 0, (
            "exit status 0 on bad input; stderr: %r" % result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (
            "expected exactly one line on stderr, got %d: %r"
            % (len(lines), result.stderr))
        line = lines[0]
        assert line.startswith("canonfs: ") and line[len("canonfs: "):].strip(), (
            "the line must start with 'canonfs: ' and say something: %r" % line)
        alternatives = set()
        for mention in mentions:
            alternatives |= mention if isinstance(mention, set) else {mention}
        if alternatives:
            assert any(alt in line for alt in alternatives), (
                "the message should mention one of %s: %r"
                % (sorted(alternatives), line))
        if mnt is not None:
            assert not is_mounted(mnt), "bad input left %s mounted" % mnt
    finally:
        # If canonfs wrongly accepted the input it daemonized and mounted.
        if mnt is not None and os.path.isdir(mnt):
            unmount(mnt)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src"
    path.mkdir()
    (path / "main.go").write_text("package main\n")
    return path


@pytest.fixture
def mnt(tmp_path):
    path = tmp_path / "mnt"
    path.mkdir()
    return path


# --- arguments and paths -------------------------------------------------------

def test_no_arguments(run_canonfs):
    result = run_canonfs()
    check_error(result)
    assert re.search(r"SRCDIR|MOUNTPOINT|argument|usage|missing",
                     result.stderr, re.I), result.stderr


def test_only_one_argument(run_canonfs, src):
    result = run_canonfs(src)
    check_error(result)
    assert re.search(r"MOUNTPOINT|mount ?point|argument|usage|missing",
                     result.stderr, re.I), result.stderr


def test_missing_srcdir(run_canonfs, tmp_path, mnt):
    missing = tmp_path / "no-such-src"
    check_error(run_canonfs(missing, mnt), str(missing), mnt=mnt)


def test_srcdir_is_a_file(run_canonfs, tmp_path, mnt):
    afile = tmp_path / "plain-file"
    afile.write_text("x")
    check_error(run_canonfs(afile, mnt), names(afile), mnt=mnt)


def test_missing_mountpoint(run_canonfs, src, tmp_path):
    missing = tmp_path / "no-such-mnt"
    check_error(run_canonfs(src, missing), str(missing))
    assert not os.path.exists(missing), "canonfs must not create the mountpoint"


def test_mountpoint_is_a_file(run_canonfs, src, tmp_path):
    afile = tmp_path / "mnt-file"
    afile.write_text("x")
    check_error(run_canonfs(src, afile), names(afile))
    assert not is_mounted(afile)


def test_mountpoint_not_empty(run_canonfs, src, mnt):
    (mnt / "leftover").write_text("x")
    check_error(run_canonfs(src, mnt), names(mnt), mnt=mnt)
    assert os.listdir(mnt) == ["leftover"]


def test_mountpoint_not_empty_allowed_with_nonempty(canonfs, src, mnt):
    (mnt / "leftover").write_text("x")
    m = canonfs(src, "nonempty", mnt=mnt)
    assert os.listdir(m.root) == ["main.go"]
    assert (m.root / "main.go").read_text() == "package main\n"


def test_mountpoint_already_mounted(canonfs, run_canonfs, src, tmp_path, mnt):
    other_src = tmp_path / "other-src"
    other_src.mkdir()
    first = canonfs(src, mnt=mnt)
    try:
        result = run_canonfs(other_src, mnt)
        check_error(result, names(mnt))
        assert mount_count(mnt) == 1, "a second mount was stacked on the first"
        assert os.listdir(first.root) == ["main.go"], "the first mount broke"
    finally:
        while mount_count(mnt) > 1:
            unmount(mnt)


def test_mountpoint_inside_srcdir(run_canonfs, src):
    inner = src / "mnt"
    inner.mkdir()
    check_error(run_canonfs(src, inner), names(inner), names(src), mnt=inner)


def test_missing_mountpoint_inside_srcdir_is_not_told_to_mkdir(run_canonfs,
                                                               src):
    """The advice for a missing mountpoint (mkdir -p) must not lead into
    the refusal of a mountpoint inside SRCDIR: that is said at once."""
    inner = src / "build" / "mnt"
    result = run_canonfs(src, inner)
    check_error(result, "inside SRCDIR")
    assert "mkdir" not in result.stderr, result.stderr
    assert not os.path.exists(src / "build")


def test_mountpoint_inside_mirrored_dir(run_canonfs, src, tmp_path):
    mirrored = tmp_path / "mirrored"
    inner = mirrored / "mnt"
    inner.mkdir(parents=True)
    check_error(run_canonfs("-o", "mirror=extra:%s" % mirrored, src, inner),
                names(inner), names(mirrored), mnt=inner)


# --- options -----------------------------------------------------------------

def test_unknown_option(run_canonfs, src, mnt):
    check_error(run_canonfs("-o", "frobnicate", src, mnt), "frobnicate", mnt=mnt)


@pytest.mark.parametrize("value", ["12", "abc", ""])
def test_bad_max_read(run_canonfs, src, mnt, value):
    check_error(run_canonfs("-o", "max_read=" + value, src, mnt), "max_read",
                mnt=mnt)


@pytest.mark.parametrize("option", ["fsname=", "subtype="])
def test_empty_value_of_a_kernel_option(run_canonfs, src, mnt, option):
    """The kernel refuses these with a bare EINVAL naming nothing."""
    result = run_canonfs("-o", option, src, mnt)
    check_error(result, option, mnt=mnt)
    assert result.returncode == 2


@pytest.mark.parametrize("args", [["--help"], ["--version"],
                                  ["env", "--help"], ["run", "--help"],
                                  ["manifest", "SRC"]])
def test_output_that_cannot_be_written_fails(src, args):
    """`canonfs --help >/dev/full` or a manifest to a full disk: a script
    must not take a cut-off output for the whole."""
    (src / "f").write_text("x\n")
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [str(CANONFS)] + [str(src) if a == "SRC" else a for a in args],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=30,
            stdin=subprocess.DEVNULL)
    check_error(result, "cannot write the output")


def test_ro_and_rw_conflict(run_canonfs, src, mnt):
    result = run_canonfs("-o", "ro,rw", src, mnt)
    check_error(result, mnt=mnt)
    assert re.search(r"\bro\b", result.stderr) and re.search(r"\brw\b", result.stderr), (
        "the message should name both ro and rw: %r" % result.stderr)


def test_mirror_named_src(run_canonfs, src, mnt, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    check_error(run_canonfs("-o", "mirror=src:%s" % other, src, mnt),
                "mirror", "src", mnt=mnt)


@pytest.mark.parametrize("virt", [".canonfs", ".canonfs/sub"])
def test_mirror_over_the_control_directory(run_canonfs, src, mnt, tmp_path,
                                           virt):
    """The control directory would hide it, and appear in the root's
    listing."""
    other = tmp_path / "other"
    other.mkdir()
    check_error(run_canonfs("-o", "mirror=%s:%s" % (virt, other), src, mnt),
                "control directory", mnt=mnt)


def test_named_digest_file_in_a_missing_directory(run_canonfs, src, mnt,
                                                  tmp_path):
    """Refused, and nothing made: the directory is not created for it."""
    missing = tmp_path / "missing" / "deeper"
    check_error(run_canonfs("-o", "digests=%s/d" % missing, src, mnt),
                "digest", mnt=mnt)
    assert not (tmp_path / "missing").exists()


def test_trace_file_inside_the_mountpoint(run_canonfs, src, mnt):
    """The daemon would write it through its own mount and wait on itself
    for ever, with the mount hung."""
    check_error(run_canonfs("-o", "trace=%s" % (mnt / "t"), src,
                            mnt), "trace", mnt=mnt)


def test_a_refused_mount_makes_no_module_cache(run_canonfs, src, mnt,
                                               tmp_path):
    """The module cache directory is made when missing, as Go would; a
    mount refused (here: MOUNTPOINT not empty) must not have made it."""
    (mnt / "occupied").write_text("x")
    cache = tmp_path / "new" / "mod"
    check_error(run_canonfs("-o", "gomodcache=%s" % cache, src, mnt),
                "not empty", mnt=mnt)
    assert not (tmp_path / "new").exists(), "the refused mount made it"


def test_a_default_module_cache_that_cannot_be_made_is_said(canonfs, src,
                                                            tmp_path):
    """Builds in the mount would use a cache at a host path instead, and
    miss across machines: the mount goes on, with a warning."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "go").write_text("a file where Go's directory would be\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMODCACHE", "GOPATH")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    m = canonfs(src, env=env)
    assert not (m.mnt / "gomodcache").exists()
    assert ("warning: the module cache '%s/go/pkg/mod' cannot be made"
            % home) in m.stderr(), m.stderr()


def test_digests_file_inside_the_mountpoint(run_canonfs, src, mnt):
    """It was created in the mountpoint before the emptiness check (every
    later mount there was refused), or read through the daemon's own mount
    (a hang)."""
    check_error(run_canonfs("-o", "digests=%s" % (mnt / "dg"), src, mnt),
                "digests", mnt=mnt)
    assert os.listdir(mnt) == [], "the refused mount left a file behind"


@pytest.mark.parametrize("trace", ["", "DIR", "MISSING/t", "/proc/t"])
def test_bad_trace_file(run_canonfs, src, mnt, tmp_path, trace):
    """The trace is written at unmount, when no one may be listening: a
    file that cannot be written there is refused at mount. /proc passes
    a check of the access bits for root, and refuses the write."""
    value = trace.replace("DIR", str(tmp_path)).replace(
        "MISSING", str(tmp_path / "missing"))
    check_error(run_canonfs("-o", "trace=" + value, src, mnt), "trace",
                mnt=mnt)


def test_duplicate_mirror_name(run_canonfs, src, mnt, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    check_error(run_canonfs("-o", "mirror=dupname:%s" % one,
                            "-o", "mirror=dupname:%s" % two, src, mnt),
                "dupname", mnt=mnt)


def test_nested_mirror_names(run_canonfs, src, mnt, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    check_error(run_canonfs("-o", "mirror=nest:%s" % one,
                            "-o", "mirror=nest/inner:%s" % two, src, mnt),
                "nest", mnt=mnt)


def test_mirror_hostdir_missing(run_canonfs, src, mnt, tmp_path):
    missing = tmp_path / "nonexistent"
    check_error(run_canonfs("-o", "mirror=x:%s" % missing, src, mnt),
                str(missing), mnt=mnt)


def test_mirror_hostdir_nonexistent_absolute(run_canonfs, src, mnt):
    assert not os.path.exists("/nonexistent")
    check_error(run_canonfs("-o", "mirror=x:/nonexistent", src, mnt),
                "/nonexistent", mnt=mnt)


def test_bad_mtime_value(run_canonfs, src, mnt):
    check_error(run_canonfs("-o", "mtime=yesterday", src, mnt),
                "mtime", "yesterday", mnt=mnt)


def test_bad_uid_value(run_canonfs, src, mnt):
    check_error(run_canonfs("-o", "uid=abc", src, mnt), "uid", "abc", mnt=mnt)


# --- environment -----------------------------------------------------------------

NO_DEV_FUSE = ["unshare", "-m", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs none /dev && exec "$@"', "sh"]


def test_no_dev_fuse(src, mnt):
    probe = subprocess.run(NO_DEV_FUSE + ["test", "!", "-e", "/dev/fuse"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("cannot hide /dev/fuse here: %s" % probe.stderr.strip())

    result = subprocess.run(NO_DEV_FUSE + [str(CANONFS), str(src), str(mnt)],
                            capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    check_error(result, "/dev/fuse", mnt=mnt)


def test_dev_fuse_not_open_to_this_user_says_so(nobody_dirs):
    """A /dev/fuse the user may not open (mode 0600, as on this project's
    machines): the line says so, not "load the fuse module"."""
    _, src, mnt = nobody_dirs
    script = ('mount -t tmpfs none /dev && mknod -m 0600 /dev/fuse c 10 229'
              ' && exec setpriv --reuid=65534 --regid=65534 --clear-groups'
              ' "$@"')
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script,
         "sh", str(CANONFS), src, mnt],
        capture_output=True, text=True, timeout=30)
    check_error(result, "/dev/fuse")
    assert "Permission denied" in result.stderr
    assert "modprobe" not in result.stderr, result.stderr


@pytest.mark.parametrize("case", ["allow_other", "mountpoint", "mirror"])
def test_a_user_refused_is_told_what_to_do(case, nobody_dirs):
    """As an ordinary user, fusermount3 mounts; its refusals get their own
    remedy, not the container hint meant for a missing privilege. A mirror
    the user may not read is refused before (it used to mount, and fail at
    every look inside)."""
    base, src, mnt = nobody_dirs
    for path in (src, mnt):
        # The mountpoint of the second case is root's: not the user's.
        os.chmod(path, 0o555 if path == mnt and case == "mountpoint"
                 else 0o777)
    os.chown(mnt, 0 if case == "mountpoint" else 65534, -1)
    private = os.path.join(base, "private")
    os.mkdir(private, 0o700)
    conf = os.path.join(base, "fuse.conf")
    with open(conf, "w") as f:
        f.write("# no user_allow_other\n")
    script = ('mount -t tmpfs none /dev && mknod -m 0666 /dev/fuse c 10 229'
              ' && mknod -m 0666 /dev/null c 1 3'
              ' && mount --bind "$0" /etc/fuse.conf'
              ' && exec setpriv --reuid=65534 --regid=65534 --clear-groups'
              ' "$@"')
    options = ["-o", "digests=none,gomodcache=none"]
    if case == "allow_other":
        options += ["-o", "allow_other"]
    if case == "mirror":
        options += ["-o", "mirror=x:%s" % private]
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script,
         conf, str(CANONFS)] + options + [src, mnt],
        capture_output=True, text=True, timeout=30)
    check_error(result, {
        "allow_other": "add user_allow_other to /etc/fuse.conf",
        "mountpoint": "mount on a directory you own",
        "mirror": "Permission denied (give a directory you may read)",
    }[case], mnt=mnt)
    assert "container" not in result.stderr, result.stderr


# In a private mount namespace: /etc/mtab hidden (a tmpfs over /etc holding
# links to everything else in it), a /dev/fuse the user may open, then the
# user nobody. The real /etc/mtab is never touched.
HIDE_MTAB_AS_NOBODY = (
    'mkdir "$0/etc" && mount --bind /etc "$0/etc" && mount -t tmpfs none /etc'
    ' && for f in "$0"/etc/*; do [ "${f##*/}" = mtab ] || ln -s "$f" /etc/;'
    ' done && test ! -e /etc/mtab'
    ' && mount -t tmpfs none /dev && mknod -m 0666 /dev/fuse c 10 229'
    ' && mknod -m 0666 /dev/null c 1 3'
    ' && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"')


@pytest.mark.parametrize("case", ["refused", "mounted"])
def test_a_missing_etc_mtab_is_named_with_its_remedy(case, nobody_dirs):
    """fusermount3 cannot unmount a user's mount without /etc/mtab, and
    complains about it before any other refusal: the remedy is the link,
    not the container hint. A mount that works is warned about, since
    fusermount3 -u will fail on it."""
    base, src, mnt = nobody_dirs
    for path in (src, mnt):
        os.chown(path, 65534, 65534)
    args = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            HIDE_MTAB_AS_NOBODY, base, str(CANONFS),
            "-o", "digests=none,gomodcache=none"]
    remedy = "as root, ln -s /proc/self/mounts /etc/mtab"
    if case == "refused":
        # No user_allow_other in this machine's /etc/fuse.conf.
        result = subprocess.run(args + ["-o", "allow_other", src, mnt],
                                capture_output=True, text=True, timeout=30)
        check_error(result, "user_allow_other")
        assert remedy in result.stderr, result.stderr
        assert "container" not in result.stderr, result.stderr
        return
    proc = None
    try:
        err_path = os.path.join(base, "stderr")
        with open(err_path, "w") as err:
            proc = subprocess.Popen(args + ["-f", src, mnt], stderr=err,
                                    stdin=subprocess.DEVNULL)
        # The mount is in the daemon's namespace, seen through its root
        # by its user alone; a lookup is answered once it serves, after
        # the warning.
        lookup = ["setpriv", "--reuid=65534", "--regid=65534",
                  "--clear-groups", "test", "-d",
                  "/proc/%d/root%s/src" % (proc.pid, mnt)]
        deadline = time.monotonic() + 15
        while subprocess.run(lookup).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, \
                "no mount: %s" % open(err_path).read()
            time.sleep(0.02)
        warning = ("canonfs: warning: /etc/mtab is missing: fusermount3 -u "
                   "cannot unmount '%s' (as root: ln -s /proc/self/mounts "
                   "/etc/mtab)" % mnt)
        assert warning in open(err_path).read().splitlines(), \
            open(err_path).read()
    finally:
        if proc is not None:
            # The mount lives in the namespace, which goes with the daemon.
            proc.terminate()
            proc.wait(timeout=20)


def test_mount_not_permitted_says_what_a_container_needs(tmp_path, run_canonfs):
    """Without CAP_SYS_ADMIN (an unprivileged container) the mount is
    refused: one line saying what to grant, and nothing mounted."""
    src = tmp_path / "src"
    src.mkdir()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    result = subprocess.run(["setpriv", "--bounding-set=-sys_admin",
                             str(CANONFS), str(src), str(mnt)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, "expected one line, got: %r" % result.stderr
    assert lines[0].startswith("canonfs: ")
    assert "not permitted" in lines[0]
    assert "--device /dev/fuse --cap-add SYS_ADMIN" in lines[0]
    assert not is_mounted(mnt)


# --- the Go/C integration options ---------------------------------------------

def test_sys_dir_missing(run_canonfs, src, mnt, tmp_path):
    missing = tmp_path / "no-such-include"
    check_error(run_canonfs("-o", "sys=usr:%s" % missing, src, mnt),
                names(missing), mnt=mnt)


def test_sys_bad_name(run_canonfs, src, mnt, tmp_path):
    check_error(run_canonfs("-o", "sys=a/b:%s" % tmp_path, src, mnt),
                "a/b", mnt=mnt)


def test_named_compiler_that_cannot_run(run_canonfs, src, mnt):
    check_error(run_canonfs("-o", "cc=/nonexistent/bin/gcc", src, mnt),
                "cc=/nonexistent/bin/gcc", mnt=mnt)


def test_digest_cache_that_is_not_one_is_left_alone(run_canonfs, src, mnt,
                                                    tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n")
    check_error(run_canonfs("-o", "mtime=content,digests=%s" % notes, src, mnt),
                names(notes), mnt=mnt)
    assert notes.read_text() == "precious\n"


def test_env_of_a_plain_directory(run_canonfs, tmp_path):
    check_error(run_canonfs("env", tmp_path), names(tmp_path))


def test_a_mountpoint_the_user_may_not_read_says_what_to_do(nobody_dirs):
    _, src, mnt = nobody_dirs
    os.chmod(mnt, 0)
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         str(CANONFS), "-o", "digests=none,gomodcache=none", src, mnt],
        capture_output=True, text=True, timeout=30)
    check_error(result, "Permission denied (mount on a directory you own")


def test_env_of_a_stale_mount_says_how_to_clear_it(run_canonfs, src,
                                                   tmp_path):
    m = start_mount(src, tmp_path / "stale")
    try:
        m.proc.kill()
        m.proc.wait()
        result = run_canonfs("env", m.mnt)
        check_error(result, "a stale mount")
        assert "fusermount3 -u %s" % m.mnt in result.stderr
    finally:
        unmount(m.mnt)


@pytest.mark.parametrize("case", ["mounted", "stale"])
def test_unmount_advice_names_what_keeps_the_mount_busy(run_canonfs, src,
                                                        tmp_path, case):
    """Where canonfs tells the user to run fusermount3 -u, and a process
    sits in the mount (fusermount3 would only say "Device or resource
    busy"), the advice names the process and fuser -vm."""
    m = start_mount(src, tmp_path / "busy")
    holder = subprocess.Popen(["sleep", "60"], cwd=m.root)
    try:
        if case == "stale":
            m.proc.kill()
            m.proc.wait()
            result = run_canonfs("env", m.mnt)
        else:
            result = run_canonfs(src, m.mnt)
        check_error(result, "fusermount3 -u %s, once nothing uses it: cd out "
                    "of it or end pid %d (sleep); fuser -vm %s lists every "
                    "user" % (m.mnt, holder.pid, m.mnt))
        busy = subprocess.run(["fusermount3", "-u", str(m.mnt)],
                              capture_output=True, text=True)
        assert "Device or resource busy" in busy.stderr, \
            "the advice is about a mount that really is busy"
        holder.kill()
        holder.wait()
        result = run_canonfs(src, m.mnt) if case == "mounted" else \
            run_canonfs("env", m.mnt)
        check_error(result, "fusermount3 -u %s" % m.mnt)
        assert "nothing uses it" not in result.stderr, result.stderr
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if case == "mounted":
            assert m.stop() == 0, m.stderr()
        unmount(m.mnt)


def test_env_without_mountpoint(run_canonfs):
    check_error(run_canonfs("env"), "MOUNTPOINT")


@pytest.mark.parametrize("spelling", ["as mounted", "through a symlink"])
def test_named_module_cache_inside_the_mountpoint(run_canonfs, src, mnt,
                                                  tmp_path, spelling):
    """Refused before anything is created: the mountpoint stays empty, so
    the next mount of it works. Also when the named directory reaches the
    mountpoint only through a symlink."""
    inside = mnt / "modcache"
    if spelling == "through a symlink":
        (tmp_path / "link").symlink_to(mnt)
        inside = tmp_path / "link" / "modcache"
    check_error(run_canonfs("-o", "gomodcache=%s" % inside, src, mnt),
                names(inside), mnt=mnt)
    assert os.listdir(mnt) == [], "the refused mount left %r" % os.listdir(mnt)


def test_named_gopath_missing(run_canonfs, src, mnt, tmp_path):
    missing = tmp_path / "no-gopath"
    check_error(run_canonfs("-o", "gopath=%s" % missing, src, mnt),
                names(missing), mnt=mnt)
