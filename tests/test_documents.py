"""The documents a user reads: canonfs(1) names every option and subcommand
--help names, renders without warnings, and the README's commands and links
lead somewhere. Needs no mount."""

import re
import shutil
import subprocess

import pytest

from conftest import ROOT

MAN = ROOT / "doc" / "canonfs.1"
README = ROOT / "README.md"


def man_text():
    """The man page source with roff font and dash escapes taken out, so
    that `\\-o \\fBmtime=\\fR` reads `-o mtime=`."""
    text = MAN.read_text()
    text = re.sub(r"\\f[BIRP]", "", text)
    text = text.replace("\\-", "-").replace("\\e", "\\")
    # .BI "-o mtime=" MODE and .BR -h ", " --help: drop the quotes.
    return text.replace('"', "")


def help_options(run_canonfs):
    result = run_canonfs("--help")
    assert result.returncode == 0, result.stderr
    options = set(re.findall(r"-o ([a-z_]+)", result.stdout))
    assert {"mtime", "sysroot", "trace", "nowatch"} <= options, (
        "--help no longer lists its -o options the way this test reads "
        "them:\n" + result.stdout)
    return options


def test_man_page_documents_every_option_of_help(run_canonfs):
    text = man_text()
    missing = [name for name in sorted(help_options(run_canonfs))
               if not re.search(r"-o %s\b" % re.escape(name), text)]
    assert not missing, (
        "canonfs --help lists options canonfs(1) does not document: %s"
        % ", ".join("-o " + name for name in missing))


def test_man_page_documents_every_subcommand(run_canonfs):
    out = run_canonfs("--help").stdout
    subcommands = set(re.findall(r"^\s+canonfs (\w+) ", out, re.M))
    assert subcommands >= {"env", "run", "manifest", "diff"}, out
    text = man_text()
    for name in sorted(subcommands):
        assert re.search(r"^\.SH CANONFS %s\b" % name.upper(), text, re.M), (
            "canonfs(1) has no section for canonfs %s" % name)


def test_man_page_has_caveats_that_name_the_tools():
    text = man_text()
    caveats = text[text.index(".SH CAVEATS"):]
    for word in ("make", "git", "go test", "ccache", "getcwd"):
        assert word in caveats, "canonfs(1) CAVEATS never mentions " + word


@pytest.mark.skipif(shutil.which("groff") is None,
                    reason="groff is not installed (apt-get install groff)")
def test_man_page_renders_without_warnings():
    result = subprocess.run(
        ["groff", "-man", "-t", "-Tutf8", "-ww", str(MAN)],
        capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", (
        "groff warns about canonfs(1):\n" + result.stderr)
    assert "CAVEATS" in re.sub(".\b", "", result.stdout)


def test_readme_make_commands_are_makefile_targets():
    """Each `make TARGET` the README shows exists, so the set-up a user
    copies runs."""
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile")
                             .read_text(), re.M))
    text = README.read_text()
    code = re.findall(r"^    (.*)$", text, re.M) + re.findall(r"`([^`]+)`",
                                                               text)
    shown = set(re.findall(r"\bmake ([a-z][a-z-]*)", "\n".join(code)))
    assert {"demo", "test"} <= shown, "the README no longer shows make demo "\
        "and make test"
    assert shown <= targets, ("the README shows make targets the Makefile "
                              "lacks: %s" % sorted(shown - targets))


def test_readme_links_lead_to_files():
    links = re.findall(r"\]\(([^)#:]+)\)", README.read_text())
    assert links, "no relative links found in README.md"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, "README.md links to missing files: %s" % missing
