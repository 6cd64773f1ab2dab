"""scripts/pjdfstest-table on a hand-written excerpt of a `prove -v` log
over pjdfstest: the counts per group and the design rule each failure is
put down to. Needs neither pjdfstest nor a mount."""

import importlib.machinery
import importlib.util
import subprocess
import sys

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "pjdfstest-table"

# The real format: a header per .t file, the plan, ok/not ok lines (the
# command only on failures from `expect`, none from `test_check`), prove's
# summary. mkfifo/00.t stops after 3 of its 5 subtests (a timeout).
LOG = """\
/work/pjdfstest/tests/chmod/00.t .. 
1..12
ok 1
ok 2
ok 3
not ok 4 - tried 'stat pjdfstest_aa mode', expected 0111, got 0755
not ok 5 - tried 'mkfifo pjdfstest_aa 0644', expected 0, got EPERM
not ok 6 - tried 'chmod pjdfstest_aa 0111', expected 0, got ENOENT
not ok 7
not ok 8 - tried 'unlink pjdfstest_aa', expected 0, got ENOENT
not ok 9 - tried '-u 65534 chmod pjdfstest_aa 0111', expected EPERM, got EACCES
not ok 10 - tried 'stat pjdfstest_aa uid,gid', expected 65534,65533, got 0,0
not ok 11 - tried 'stat pjdfstest_aa nlink', expected 2, got 1
not ok 12 - tried 'rename pjdfstest_aa pjdfstest_bb', expected 0, got ENOENT
Failed 9/12 subtests
/work/pjdfstest/tests/mkfifo/00.t .. 
1..5
ok 1
not ok 2 - tried 'mknod pjdfstest_cc f 0644 0 0', expected 0, got EPERM
not ok 3
/work/pjdfstest/tests/mkdir/10.t .. 
1..7
not ok 1 - tried 'mkfifo pjdfstest_dd 0644', expected 0, got EPERM
not ok 2 - tried 'mkdir pjdfstest_dd 0755', expected EEXIST, got 0
not ok 3 - tried 'unlink pjdfstest_dd', expected 0, got EISDIR
not ok 4 - tried 'symlink test pjdfstest_dd', expected 0, got EEXIST
not ok 5 - tried 'lstat pjdfstest_ee type,mode,nlink,uid', expected regular,0201,2,65534, got regular,0755,1,0
not ok 6 - tried 'lstat pjdfstest_ee type,size', expected regular,0, got regular,1
not ok 7 - tried '-u 65534 -g 65534 open pjdfstest_ff O_CREAT,O_RDWR 0 : ftruncate 0 0', expected 0, got EACCES
/work/pjdfstest/tests/chown/00.t .. 
1..5
ok 1
not ok 2 - tried 'stat pjdfstest_gg uid,gid', expected 65534,65533, got 0,0
not ok 3
not ok 4 - tried '-u 65534 -g 65534 unlink pjdfstest_hh', expected 0, got EACCES
not ok 5 - tried 'lstat pjdfstest_hh type', expected ENOENT, got regular
"""


def load_script():
    loader = importlib.machinery.SourceFileLoader("pjdfstest_table",
                                                  str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_counts_and_rules():
    table = load_script()
    counts, failures = table.parse(LOG.splitlines(keepends=True))

    chmod, mkfifo = counts["chmod"], counts["mkfifo"]
    assert (chmod["run"], chmod["passed"], chmod["failed"]) == (12, 3, 9)
    assert (mkfifo["run"], mkfifo["passed"], mkfifo["failed"]) == (3, 1, 2)
    assert mkfifo["not run"] == 2

    rules = {(f[0].split("/")[-2], f[1]): f[5] for f in failures}
    assert rules == {
        ("chmod", 4): table.MODE,
        ("chmod", 5): table.SPECIAL,
        ("chmod", 6): table.FOLLOWS,
        ("chmod", 7): table.FOLLOWS,      # a test_check after the refusal
        ("chmod", 8): table.FOLLOWS,      # removing it ends the round
        ("chmod", 9): table.ANOTHER_UID,
        ("chmod", 10): table.OWNER,
        ("chmod", 11): table.NLINK,
        ("chmod", 12): table.UNEXPLAINED,  # ENOENT with nothing refused
        ("mkfifo", 2): table.SPECIAL,
        ("mkfifo", 3): table.FOLLOWS,
        ("mkdir", 1): table.SPECIAL,
        # With no fifo in its way the mkdir succeeds, and what the test
        # does next to the name meets that directory instead.
        ("mkdir", 2): table.FOLLOWS,
        ("mkdir", 3): table.FOLLOWS,
        ("mkdir", 4): table.FOLLOWS,
        ("mkdir", 5): table.OWNER,        # owner, mode and nlink differ
        ("mkdir", 6): table.UNEXPLAINED,  # the size is no design rule
        ("mkdir", 7): table.ANOTHER_UID,
        ("chown", 2): table.OWNER,
        ("chown", 3): table.OWNER,  # the ctime a chown that did nothing left
        ("chown", 4): table.ANOTHER_UID,
        ("chown", 5): table.FOLLOWS,  # the file it should have removed
    }


def test_times_are_by_design_only_under_a_constant_mode():
    """A file pjdfstest creates has changed since the baseline, so the
    default mode and passthrough show its host times: a wrong one there is
    unexplained (here utimensat of a symlink that set its mtime only)."""
    table = load_script()
    log = ["/work/pjdfstest/tests/utimensat/05.t .. \n", "1..1\n",
           "not ok 1 - tried 'lstat pjdfstest_ii atime', expected "
           "1960000000, got 1796478608\n"]
    for mode, rule in (("baseline", table.UNEXPLAINED),
                       ("passthrough", table.UNEXPLAINED),
                       ("zero", table.TIMES), ("1700000000", table.TIMES)):
        _, failures = table.parse(log, mode)
        assert failures[0][5] == rule, mode


def test_command_line(tmp_path):
    log = tmp_path / "log"
    log.write_text(LOG)
    out = subprocess.run([sys.executable, str(SCRIPT), str(log)],
                         capture_output=True, text=True, check=True).stdout
    assert "| chmod | 1 | 12 | 3 | 9 | 0 |" in out
    assert "| mkfifo | 1 | 3 | 1 | 2 | 2 |" in out
    assert "| **all** | 4 | 27 | 5 | 22 | 2 |" in out
    assert ("| special files refused (mknod/mkfifo/bind) | 3 | chmod 1, "
            "mkdir 1, mkfifo 1 |") in out
    assert "Unexplained failures: 2" in out
    assert ("- /work/pjdfstest/tests/chmod/00.t #12: `rename pjdfstest_aa "
            "pjdfstest_bb`: expected 0, got ENOENT") in out

    usage = subprocess.run([sys.executable, str(SCRIPT), "--help"],
                           capture_output=True, text=True, check=True).stdout
    assert "prove -v" in usage


def test_no_results_is_an_error(tmp_path):
    log = tmp_path / "log"
    log.write_text("nothing here\n")
    run = subprocess.run([sys.executable, str(SCRIPT), str(log)],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "no pjdfstest results" in run.stderr
