"""`canonfs manifest` and `canonfs diff`: is what machine A compiled the
same as what machine B compiled?"""

import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import CANONFS


def make_tree(root, mtime, file_mode, reverse=False):
    names = ["main.go", "lib/a.go", "lib/b.go", "data/x.bin", "run.sh"]
    for name in reversed(names) if reverse else names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(("content of %s\n" % name).encode())
        path.chmod(file_mode)
        os.utime(path, (mtime, mtime))
    (root / "run.sh").chmod(0o700 if file_mode == 0o600 else 0o755)
    os.symlink(str(root / "lib" / "a.go"), root / "abs-link")  # into the tree
    os.symlink("./lib//../lib/b.go", root / "rel-link")
    os.symlink("/etc/hostname", root / "outside")
    (root / "odd name\n\\x").write_text("odd\n")
    return root


def manifest(path, *extra):
    result = subprocess.run([str(CANONFS), "manifest", str(path)] + list(extra),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def diff(a, b):
    result = subprocess.run([str(CANONFS), "diff", str(a), str(b)],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def copies(tmp_path, tmpfs_dir):
    a = make_tree(tmp_path / "alice" / "src", 1000000000, 0o600)
    b = make_tree(tmpfs_dir / "bob" / "deep" / "src", 1700000000, 0o664,
                  reverse=True)
    return a, b


def test_two_host_copies_have_identical_manifests(copies):
    a, b = copies
    text_a, text_b = manifest(a), manifest(b)
    assert text_a == text_b, "the same content must give the same manifest"
    lines = text_a.splitlines()
    assert lines[0] == "canonfs-manifest 1"
    assert lines[-1].startswith("root ") and len(lines[-1]) == 5 + 64
    paths = [line.split(" ")[4] for line in lines[1:-1]]
    assert paths == sorted(paths, key=lambda p: p.encode()), "sorted by path bytes"
    assert "l 0777 8 - abs-link lib/a.go" in lines, "absolute link into the tree shown relative"
    assert "l 0777 15 - rel-link lib/../lib/b.go" in lines, "only . and // go"
    assert "l 0777 13 - outside /etc/hostname" in lines
    assert any(line.endswith(" odd\\x20name\\x0a\\x5cx") for line in lines)
    assert diff(a, b)[0] == 0


def test_manifest_of_the_mount_equals_the_host_tree(copies, canonfs):
    a, _ = copies
    m = canonfs(a)
    assert manifest(m.root) == manifest(a)


def read_until_closed(fd, proc, stop_when=None, timeout=30):
    """What a pty's master reads until the child has closed its side (or,
    with stop_when, until it holds what stop_when looks for)."""
    import select
    data = b""
    deadline = time.monotonic() + timeout
    while not (stop_when and stop_when(data)):
        assert time.monotonic() < deadline, "stderr so far: %r" % data
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child's side is closed
            chunk = b""
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("stderr_is", ["terminal", "pipe"])
def test_a_long_manifest_shows_progress_on_a_terminal_only(tmp_path, canonfs,
                                                           stderr_is):
    """A manifest of a big tree (4.7 GB took 51 s) says how far it got on
    a terminal: a line redrawn in place, at most a few times a second,
    wiped at the end; stderr that is not a terminal stays empty. The
    manifest is made slow for sure: its tree holds a mount whose daemon
    is stopped until the line is up (a pipe: for a second)."""
    import signal
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "big.bin").write_bytes(os.urandom(4 << 20))
    (src / "main.go").write_text("package main\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a\n")
    m = canonfs(src, "sys=none,goroot=none,gomodcache=none", mnt=tree / "mnt")
    out_path = tmp_path / "manifest.out"
    master = slave = None
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        with open(out_path, "wb") as out:
            if stderr_is == "terminal":
                master, slave = os.openpty()
                err = slave
            else:
                err = subprocess.PIPE
            started = time.monotonic()
            proc = subprocess.Popen([str(CANONFS), "manifest", str(tree)],
                                    stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL)
        if stderr_is == "terminal":
            os.close(slave)
            shown = read_until_closed(master, proc,
                                      stop_when=lambda d: b"canonfs: " in d)
        else:
            while time.monotonic() - started < 1.0:
                assert proc.poll() is None, "the manifest did not wait"
                time.sleep(0.05)
        os.kill(m.proc.pid, signal.SIGCONT)
        if stderr_is == "terminal":
            shown += read_until_closed(master, proc)
        else:
            shown = proc.communicate(timeout=60)[1]
        assert proc.wait(timeout=60) == 0, shown
        elapsed = time.monotonic() - started
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
        if master is not None:
            os.close(master)
    assert out_path.read_text() == manifest(tree), "the manifest itself"
    if stderr_is == "pipe":
        assert shown == b"", "stderr that is not a terminal stays empty"
        return
    assert shown.startswith(b"\rcanonfs: "), shown
    assert b"\n" not in shown, "one line, redrawn in place: %r" % shown
    draws = shown.split(b"\r")[1:]
    assert draws[-1] == b"" and draws[-2].strip() == b"" and draws[-2], \
        "the line is wiped at the end: %r" % shown[-200:]
    assert all(d.startswith(b"canonfs: ") for d in draws[:-2]), shown
    assert len(draws) - 2 <= 4 * elapsed + 2, \
        "at most 4 redraws a second: %d in %.1f s" % (len(draws) - 2, elapsed)


def test_json_form(copies):
    a, _ = copies
    doc = json.loads(manifest(a, "--json"))
    assert doc["format"] == "canonfs-manifest" and doc["version"] == 1
    root_line = manifest(a).splitlines()[-1]
    assert doc["root"] == root_line.split()[1]
    by_path = {e["path"]: e for e in doc["entries"]}
    assert by_path["run.sh"]["mode"] == "0755"
    assert by_path["abs-link"]["target"] == "lib/a.go"
    assert by_path["main.go"]["size"] == len("content of main.go\n")


def test_json_names_are_utf8_and_other_bytes_come_back(tmp_path):
    """JSON strings are Unicode: a UTF-8 name is that name; a byte that is
    not UTF-8 is the lone surrogate U+DC80+byte (Python's surrogateescape),
    so the name's bytes can be had back."""
    tree = tmp_path / "names"
    tree.mkdir()
    names = ["\u00ff-\u00e9t\u00e9", "\u65e5\u672c", "emoji-\U0001f600",
             "tab\tquote\"back\\slash"]
    for name in names:
        (tree / name).write_text("x")
    latin1 = b"caf\xe9"                       # not UTF-8
    with open(os.path.join(os.fsencode(str(tree)), latin1), "w") as f:
        f.write("x")
    doc = json.loads(manifest(tree, "--json"))
    paths = [e["path"] for e in doc["entries"] if e["path"] != "."]
    assert sorted(paths) == sorted(names + ["caf\udce9"])
    assert "caf\udce9".encode("utf-8", "surrogateescape") == latin1


def test_diff_reports_each_kind_of_change(copies, tmp_path):
    a, b = copies
    saved = tmp_path / "a.manifest"
    saved.write_text(manifest(a))

    data = bytearray((b / "lib" / "a.go").read_bytes())
    data[0] ^= 1  # one byte
    (b / "lib" / "a.go").write_bytes(bytes(data))
    (b / "main.go").chmod(0o775)  # the x bit
    os.unlink(b / "rel-link")
    os.symlink("lib/a.go", b / "rel-link")  # retargeted
    (b / "new.go").write_text("package x\n")
    os.unlink(b / "data" / "x.bin")

    status, out, err = diff(saved, b)
    assert status == 1, err
    assert out.splitlines() == [
        "removed data/x.bin",
        "changed lib/a.go (content)",
        "changed main.go (mode)",
        "added new.go",
        "changed rel-link (target)",
    ]


def test_type_change(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "x").mkdir(parents=True)
    b.mkdir()
    (b / "x").write_text("now a file")
    status, out, _ = diff(a, b)
    assert status == 1
    assert out.splitlines() == ["changed x (type)"]


def test_bad_manifests_are_refused(copies, tmp_path):
    a, _ = copies
    text = manifest(a)
    cases = {
        "not-a-manifest": "hello\n",
        "future-version": text.replace("canonfs-manifest 1", "canonfs-manifest 9", 1),
        "truncated": text[: len(text) // 2],
        "no-root": "\n".join(text.splitlines()[:-1]) + "\n",
        "tampered": text.replace("content", "kontent", 1).replace(" 0644 ", " 0755 ", 1),
        "malformed": "canonfs-manifest 1\nq 0644 x - a\nroot " + "0" * 64 + "\n",
    }
    expected = {
        "not-a-manifest": "not a canonfs manifest",
        "future-version": "version 9 is not known",
        "truncated": "truncated",
        "no-root": "truncated",
        "tampered": "root digest does not match",
        "malformed": "malformed entry",
    }
    for name, body in cases.items():
        path = tmp_path / name
        path.write_text(body)
        status, out, err = diff(path, a)
        assert status == 2, name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and expected[name] in lines[0], (name, err)


def signed_manifest(path, lines):
    """A manifest of these entry lines with the root digest that matches
    them, as anyone can write one: only its entries can make it wrong."""
    body = "".join(line + "\n" for line in lines)
    root = hashlib.sha256(body.encode()).hexdigest()
    path.write_text("canonfs-manifest 1\n" + body + "root " + root + "\n")
    return path


def test_unsorted_repeated_or_escaping_paths_are_refused(tmp_path):
    """diff merges two manifests in path order, and --inputs opens each
    path in DIR: an unsorted manifest would give "added a" and "removed a",
    and a path like /etc/hostname or ../../x would be read outside DIR."""
    empty = hashlib.sha256(b"").hexdigest()
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "b").write_bytes(b"")
    (tree / "a" / "x").write_bytes(b"")

    def entry(path):
        return "f 0644 0 %s %s" % (empty, path)

    cases = {
        "unsorted": ["d 0755 0 - .", entry("b"), entry("a")],
        "repeated": ["d 0755 0 - .", entry("a"), entry("a")],
        "absolute": [entry("/etc/hostname")],
        "climbing": [entry("../../../../../../../etc/hostname")],
        "dot-dot-inside": [entry("a/../b")],
        "dot": [entry("./b")],
        "empty-component": [entry("a//x")],
        "trailing-slash": [entry("a/")],
    }
    for name, lines in cases.items():
        saved = signed_manifest(tmp_path / name, lines)
        for args in ([str(saved), str(tree)], ["--inputs", str(saved), str(tree)]):
            result = subprocess.run([str(CANONFS), "diff"] + args,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 2, (name, args, result.stdout)
            assert result.stdout == "", (name, "nothing compared or read")
            lines_err = result.stderr.strip().splitlines()
            assert len(lines_err) == 1, (name, result.stderr)
            why = ("out of order or repeated"
                   if name in ("unsorted", "repeated") else
                   "is not a path inside the tree")
            assert why in lines_err[0], (name, result.stderr)

    # The same entries in order are fine.
    good = signed_manifest(tmp_path / "good", ["d 0755 0 - .", entry("a/x"),
                                               entry("b")])
    status, out, err = diff(good, tree)
    assert (status, out) == (1, "added a\n"), err


def alternate(path, aside, versions, stop):
    """Replace path by each version in turn (write aside, then rename over
    it, as editors and build tools do) until stop is set."""
    i = 0
    while not stop.is_set():
        aside.write_bytes(versions[i % len(versions)])
        os.rename(aside, path)
        i += 1


@pytest.mark.slow
def test_a_file_replaced_meanwhile_is_described_as_one_real_version(tmpfs_dir):
    """The size and the digest of an entry come from one version of the
    file, never the size of one and the digest of the next."""
    tree = tmpfs_dir / "tree"
    tree.mkdir()
    for i in range(2000):
        (tree / ("x%d" % i)).write_text(str(i))
    versions = [b"A" * 10, b"B" * 20]
    real = {(len(v), hashlib.sha256(v).hexdigest()) for v in versions}
    (tree / "zz").write_bytes(versions[0])
    stop = threading.Event()
    writer = threading.Thread(target=alternate,
                              args=(tree / "zz", tmpfs_dir / "aside",
                                    versions, stop))
    writer.start()
    try:
        deadline = time.monotonic() + 8
        runs = 0
        while runs < 150 and time.monotonic() < deadline:
            runs += 1
            result = subprocess.run([str(CANONFS), "manifest", str(tree)],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            zz = [line.split(" ") for line in result.stdout.splitlines()
                  if line.endswith(" zz")]
            assert len(zz) == 1, result.stdout[-300:]
            assert (int(zz[0][2]), zz[0][3]) in real, (
                "entry of a version the file never had: %s" % " ".join(zz[0]))
    finally:
        stop.set()
        writer.join()


@pytest.mark.slow
def test_files_removed_meanwhile_are_left_out_with_a_warning(tmpfs_dir):
    """A file removed between the walk and the hashing is left out of the
    manifest (a warning on stderr names it); the manifest still succeeds
    and every entry in it is a file as it really was."""
    tree = tmpfs_dir / "tree"
    warned = 0
    for round_ in range(20):
        if tree.exists():
            for name in os.listdir(tree):
                os.unlink(tree / name)
        else:
            tree.mkdir()
        names = ["f%04d" % i for i in range(3000)]
        for name in names:
            (tree / name).write_text(name)
        proc = subprocess.Popen([str(CANONFS), "manifest", str(tree)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(0.002 * round_)  # start removing at various points
        for name in reversed(names):
            os.unlink(tree / name)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        for line in out.splitlines()[1:-1]:
            fields = line.split(" ")
            if fields[0] == "f":
                assert fields[3] == hashlib.sha256(fields[4].encode()).hexdigest(), line
        if err:
            assert len(err.splitlines()) == 1, err
            assert "vanished while the tree was described: left out" in err, err
            warned += 1
    assert warned > 0, "no file was ever removed between the walk and the hashing"


def test_unreadable_file_is_an_error():
    # pytest's own temporary directories are closed to other users.
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        os.chmod(top, 0o755)
        tree = os.path.join(top, "tree")
        os.mkdir(tree)
        with open(os.path.join(tree, "secret"), "w") as f:
            f.write("x")
        os.chmod(os.path.join(tree, "secret"), 0o600)
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                 "--clear-groups", str(CANONFS), "manifest",
                                 tree],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "canonfs: '%s/secret': Permission denied\n" % tree, (
        "one line naming the file as the user can find it")
    assert result.stdout == "", "no partial manifest on failure"


def test_unreadable_manifest_file_says_what_it_was_read_as():
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        os.chmod(top, 0o755)
        saved = os.path.join(top, "saved.manifest")
        with open(saved, "w") as f:
            f.write("x")
        os.chmod(saved, 0o600)
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                 "--clear-groups", str(CANONFS), "diff",
                                 saved, top],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("canonfs: '%s': Permission denied (cannot read it "
                             "as a manifest)\n" % saved), result.stderr


def test_bad_arguments(run_canonfs, tmp_path):
    for args, needle in ((["manifest"], "missing PATH"),
                         (["manifest", str(tmp_path / "nope")], "No such file"),
                         (["diff", str(tmp_path)], "expected two arguments"),
                         (["diff", "--inputs", str(tmp_path)],
                          "expected two arguments after --inputs"),
                         (["diff", "--inputs"], "expected two arguments after --inputs"),
                         (["diff", "--json", str(tmp_path), str(tmp_path)],
                          "unexpected option '--json'")):
        result = run_canonfs(*args)
        assert result.returncode == 2, args
        assert needle in result.stderr, (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1, (args, result.stderr)
        assert "usage: canonfs diff" in result.stderr or args[0] != "diff", args


def listing(path):
    return os.listdir(path)  # readdir order, not sorted by the test


def test_order_modes_reverse_and_shuffle_reproducibly(tmp_path, canonfs):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    names = ["n%02d" % i for i in range(30)]
    for name in names:
        (src / name).write_text(name)
        (src / "sub" / name).write_text(name)
    names_all = sorted(names + ["sub"])

    rev = canonfs(src, "order=reverse")
    assert listing(rev.root) == list(reversed(names_all))
    s1 = canonfs(src, "order=shuffle:7")
    s1_again = canonfs(src, "order=shuffle:7")
    s2 = canonfs(src, "order=shuffle:8")
    order1 = listing(s1.root)
    assert sorted(order1) == names_all, "a shuffle lists everything once"
    assert order1 != names_all, "shuffle:7 happened to sort: pick another seed"
    assert listing(s1_again.root) == order1, "the same seed gives the same order"
    assert listing(s2.root) != order1, "another seed, another order"
    assert listing(s1.root / "sub") != order1[:30], "each directory shuffles on its own"
    # Only the order changes: the manifest of the view is the same.
    assert manifest(s1.root) == manifest(src)


def test_bad_order_option(tmp_path, run_canonfs):
    (tmp_path / "src").mkdir()
    (tmp_path / "mnt").mkdir()
    result = run_canonfs("-o", "order=sideways", tmp_path / "src", tmp_path / "mnt")
    assert result.returncode != 0
    assert "order=sideways" in result.stderr
