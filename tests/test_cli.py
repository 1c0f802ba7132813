"""The conventions of git on the command line: help and manual pages made from the click
tree, `-q` on either side of the command's name, and remote names resolved as git's are."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from git_data.cli.manpages import install, pages
from git_data.cli.tree import cli
from tests.conftest import ROOT, Repo, make_repo, populate, random_bytes, store_objects

MAIN_COMMANDS = ("install", "track", "add", "status", "push", "fetch", "pull", "clone",
                 "remote", "ls-remote", "fsck", "gc", "run", "stats", "log", "diff", "help")


def walk(group: click.Group, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        assert cmd is not None
        if cmd.hidden:
            continue
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, (*path, name))


def test_every_option_has_help_and_every_argument_is_described() -> None:
    missing = []
    for path, cmd in [((), cli), *walk(cli)]:
        for param in cmd.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {'/'.join(param.opts)}")
            if isinstance(param, click.Argument):
                # click arguments take no help=: the docstring names each one
                words = (param.metavar or (param.name or "").upper()).replace("[", " ")
                names = [w.strip("].") for w in words.replace("]", " ").split()]
                if not any(n and n in (cmd.help or "") for n in names if n != "--"):
                    missing.append(f"{' '.join(path)} argument {param.metavar or param.name}")
    assert not missing, "without help: " + ", ".join(missing)


def test_main_commands_read_like_git_help(repo: Repo) -> None:
    for name in MAIN_COMMANDS:
        cmd = cli.get_command(click.Context(cli), name)
        assert cmd is not None and "Examples:" in (cmd.help or ""), name
    shown = repo.data("clone", "-h").stdout
    assert shown.startswith("Usage: git data clone [OPTIONS] URL [DIRECTORY]")
    assert "Examples:\n    git data clone /srv/team.git\n" in shown  # kept as written (\b)


def test_committed_man_pages_are_the_command_tree() -> None:
    committed = {p.name: p.read_text() for p in (ROOT / "man" / "man1").glob("*.1")}
    made = pages(cli)
    assert set(committed) == set(made), "run `make man` and commit man/man1"
    stale = [name for name, text in made.items() if committed[name] != text]
    assert not stale, f"out of date: {stale}; run `make man` and commit man/man1"
    assert {f"git-data-{'-'.join(p)}.1" for p, _ in walk(cli) if len(p) == 1} | {
        "git-data.1"} == set(made)


@pytest.fixture
def manpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A prefix as a venv is: bin/ on PATH, the pages in share/man/man1 (man derives its
    search path from PATH: <prefix>/bin -> <prefix>/share/man)."""
    if shutil.which("man") is None:
        pytest.skip("no man here")
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    install(cli, prefix / "share" / "man" / "man1")
    monkeypatch.setenv("PATH", f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}")
    for var in ("MANPATH", "MANOPT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MANPAGER", "cat")
    monkeypatch.setenv("PAGER", "cat")
    monkeypatch.setenv("MANWIDTH", "100")
    monkeypatch.setenv("LC_ALL", "C")
    return prefix


def test_git_data_help_and_git_help_data_open_the_page(repo: Repo, manpath: Path) -> None:
    for command in (("git", "data", "--help"), ("git", "help", "data"), ("man", "git-data")):
        proc = repo.run(*command)
        assert "git-data - Large files as pointers in git" in proc.stdout, command
        assert "SYNOPSIS" in proc.stdout and "git-data-clone(1)" in proc.stdout
    page = repo.run("man", "git-data-remote").stdout
    assert "git data remote add [--default]" in page and "Examples" not in page
    assert "EXAMPLES" in page and "git data remote list" in page
    # below `git data`, --help is the command's own (git only turns `git data --help` into man)
    assert repo.git("data", "clone", "--help").stdout.startswith("Usage: git data clone")


def test_git_data_help_command(repo: Repo, manpath: Path) -> None:
    shown = repo.data("help", "clone").stdout
    assert "git-data-clone - Clone a repository" in shown and "SYNOPSIS" in shown
    assert "NAME" in repo.data("help").stdout
    proc = repo.data("help", "nosuch", check=False)
    assert proc.returncode == 2 and "no command 'nosuch'" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Without man on PATH: the help text, as -h shows it.
    bindir = str(Path(sys.executable).parent)
    plain = repo.run(str(Path(bindir) / "git-data"), "help", "clone", env={"PATH": bindir})
    assert plain.stdout.startswith("Usage: git data clone [OPTIONS] URL [DIRECTORY]")


@pytest.fixture
def pushed(team: tuple[Repo, Path]) -> tuple[Repo, Path]:
    repo, bare = team
    populate(repo, {"a.bin": random_bytes(50_000, 1), "data/b.csv": b"x,y\n1,2\n"})
    repo.git("push", "-q", "origin", "main")
    return repo, bare


def test_quiet_before_and_after_the_command(tmp_path: Path, pushed: tuple[Repo, Path]
                                            ) -> None:
    _, bare = pushed
    outer = Repo(tmp_path)
    loud = outer.data("clone", str(bare), "loud")
    assert "pulled" in loud.stderr  # so the quiet ones below have something to leave out
    for args in (("clone", "-q", str(bare), "after"), ("-q", "clone", str(bare), "before"),
                 ("clone", str(bare), "last", "--quiet")):
        proc = outer.data(*args)
        assert proc.stderr == "", (args, proc.stderr)
        target = tmp_path / args[-1 if args[-1] != "--quiet" else -2]
        assert (target / "a.bin").read_bytes() == random_bytes(50_000, 1)
    clone = Repo(tmp_path / "after")
    assert clone.data("pull", "-q").stderr == ""
    assert clone.data("pull").stderr.startswith(("pulled", "nothing to fetch"))


def test_push_to_a_mistyped_remote_names_the_known_ones(pushed: tuple[Repo, Path]) -> None:
    repo, bare = pushed
    repo.data("remote", "add", "scratch", str(bare.parent / "scratch"))
    repo.write("c.bin", random_bytes(1000, 2))
    repo.commit_all("more")
    proc = repo.data("push", "orign", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("git-data: no data remote 'orign' (data remotes: scratch; "
                               "git remotes: origin)")
    assert len(store_objects(bare / "data")) == 2  # the new object went nowhere
    assert store_objects(bare.parent / "scratch") == {}
    proc = repo.data("pull", "orign", check=False)
    assert proc.returncode == 1 and "no data remote 'orign'" in proc.stderr
    repo.data("push", "origin")  # a git remote: main's store (scratch, the one data remote)
    assert len(store_objects(bare.parent / "scratch")) == 3


def test_fetch_tells_revisions_from_remotes(tmp_path: Path, pushed: tuple[Repo, Path]
                                            ) -> None:
    _, bare = pushed
    clone = Repo(tmp_path / "c")
    Repo(tmp_path).data("clone", "--no-data", str(bare), "c")
    clone.git("branch", "origin")  # a branch with a remote's name: the remote wins, as in git
    proc = clone.data("fetch", "nosuchrev", check=False)
    assert proc.returncode == 1 and proc.stderr.splitlines() == [
        "git-data: 'nosuchrev' is neither a remote (data remotes: none; git remotes: origin) "
        "nor a revision of this repository; fix the name"]
    assert clone.cache_objects() == []
    assert "fetched 2 object(s)" in clone.data("fetch", "main").stderr  # a revision
    shutil.rmtree(clone.cache / "objects")
    assert "fetched 2 object(s)" in clone.data("fetch", "origin", "main").stderr
    shutil.rmtree(clone.cache / "objects")
    assert "fetched 2 object(s)" in clone.data("fetch", "--", "origin").stderr  # the branch
    shutil.rmtree(clone.cache / "objects")
    assert "fetched 2 object(s)" in clone.data("fetch", "embedded:origin", "--", "main").stderr


def test_embedded_store_is_named_apart_from_a_data_remote_origin(pushed: tuple[Repo, Path]
                                                                 ) -> None:
    repo, bare = pushed
    rows = json.loads(repo.data("remote", "list", "--json").stdout)
    assert [(r["name"], r["embedded"]) for r in rows] == [("embedded:origin", True)]
    manifest = json.loads((bare / "data" / "branches" / "main.json").read_text())
    assert manifest["remote"] == "embedded:origin"
    other = bare.parent / "other"
    repo.data("remote", "add", "origin", str(other), "--default")
    rows = json.loads(repo.data("remote", "list", "--json").stdout)
    assert [(r["name"], r["embedded"]) for r in rows] == [("origin", False)]
    assert repo.data("remote", "list").stdout == f"origin\t{other.as_uri()}  (default)\n"
    repo.data("push", "origin")
    stores = {row["store"]: row["url"] for row in
              json.loads(repo.data("ls-remote", "--json").stdout)}
    assert stores == {"origin": other.as_uri(), "embedded:origin": (bare / "data").as_uri()}


def test_remote_list_says_when_there_is_none(repo: Repo) -> None:
    proc = repo.data("remote", "list")
    assert proc.stdout == "" and "no data remotes" in proc.stderr
    assert json.loads(repo.data("remote", "list", "--json").stdout) == []


def test_remote_list_json_gives_plain_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r2")
    repo.data("remote", "add", "team", str(tmp_path / "store"), "--default")
    rows = json.loads(repo.data("remote", "list", "--json").stdout)
    assert [r["name"] for r in rows] == ["team"] and rows[0]["default"] is True


def test_version_and_plumbing_still_work(repo: Repo) -> None:
    assert repo.data("--version").stdout.startswith("git-data, version ")
    proc = subprocess.run(["git-data", "textconv", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "-q, --quiet" not in proc.stdout  # hidden: no -q added


def test_the_entry_point_is_not_shadowed_by_the_command_tree() -> None:
    """The click tree lives in cli/tree.py, so loading it leaves `git_data.cli.main` the
    entry point (a submodule named main used to rebind it to a module)."""
    import git_data.cli

    assert callable(git_data.cli.main) and git_data.cli.main.__module__ == "git_data.cli"
