from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from conftest import Repo, make_repo, random_bytes

from git_data.shims import HOOKS, is_shim, shim_text

ROOT = Path(__file__).resolve().parent.parent


def snapshot(repo: Repo) -> dict[str, str]:
    files = [repo.path / ".git" / "config", *sorted((repo.path / ".git" / "hooks").iterdir())]
    return {str(p): hashlib.sha1(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def test_install_writes_filter_config_and_hooks(repo: Repo) -> None:
    assert repo.git("config", "filter.data.process").stdout.strip() == "git-data filter-process"
    assert repo.git("config", "filter.data.required").stdout.strip() == "true"
    assert repo.git("config", "diff.data.textconv").stdout.strip() == "git-data textconv"
    for hook in HOOKS:
        assert (repo.path / ".git" / "hooks" / hook).read_text() == shim_text(hook)


def test_install_twice_changes_nothing(repo: Repo) -> None:
    before = snapshot(repo)
    repo.data("install")
    assert snapshot(repo) == before


def test_existing_hook_is_chained_and_restored(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    (tmp_path / "r").mkdir()
    repo.git("init", "-q")
    mine = repo.path / ".git" / "hooks" / "pre-commit"
    text = "#!/bin/sh\necho my-own-hook-ran >&2\nexit 0\n"
    mine.write_text(text)
    mine.chmod(0o755)
    repo.data("install")
    assert "git-data hook shim" in mine.read_text()
    repo.write("a.txt", b"x")
    repo.git("add", "a.txt")
    assert "my-own-hook-ran" in repo.git("commit", "-qm", "x").stderr
    repo.data("install")  # again: still chained once, not saved twice
    repo.data("uninstall")
    assert mine.read_text() == text
    assert not (repo.path / ".git" / "hooks" / "pre-commit.pre-git-data").exists()
    assert repo.git("config", "filter.data.process", check=False).returncode != 0


def test_failing_chained_pre_commit_stops_commit(repo: Repo) -> None:
    saved = repo.path / ".git" / "hooks" / "pre-commit.pre-git-data"
    saved.write_text("#!/bin/sh\necho refused-by-user-hook >&2\nexit 3\n")
    saved.chmod(0o755)
    repo.write("a.txt", b"x")
    repo.git("add", "a.txt")
    proc = repo.git("commit", "-qm", "x", check=False)
    assert proc.returncode != 0 and "refused-by-user-hook" in proc.stderr


def test_hooks_path_is_respected(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    (tmp_path / "r").mkdir()
    repo.git("init", "-q")
    repo.git("config", "core.hooksPath", "shared-hooks")
    proc = repo.data("install")
    assert "core.hooksPath" in proc.stderr
    for hook in HOOKS:
        assert (repo.path / "shared-hooks" / hook).read_text() == shim_text(hook)


def test_checked_in_shims_match_template() -> None:
    for hook in HOOKS:
        assert (ROOT / "hooks" / hook).read_text() == shim_text(hook), (
            f"hooks/{hook} is stale: run `make hooks`")


def test_install_hooks_script(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    (tmp_path / "r").mkdir()
    repo.git("init", "-q")
    repo.run("sh", str(ROOT / "scripts" / "install-hooks.sh"))
    assert (repo.path / ".git" / "hooks" / "pre-push").read_text() == shim_text("pre-push")
    assert repo.git("config", "filter.data.process").stdout.strip() == "git-data filter-process"


def test_install_outside_repo_needs_global(tmp_path: Path) -> None:
    outside = Repo(tmp_path)
    proc = outside.data("install", check=False)
    assert proc.returncode == 1 and "--global" in proc.stderr
    outside.data("install", "--global")
    assert "git-data filter-process" in (Path.home() / ".gitconfig").read_text()


def test_pre_commit_stops_large_untracked_file(repo: Repo) -> None:
    repo.git("config", "data.maxFileSize", "1MB")
    repo.write("big.csv", b"x" * 1_500_000)
    repo.git("add", "big.csv")
    proc = repo.git("commit", "-qm", "big", check=False)
    assert proc.returncode != 0
    assert "big.csv" in proc.stderr and "git data add big.csv" in proc.stderr
    repo.git("commit", "-qm", "big", "--no-verify")
    assert repo.git("ls-files").stdout.splitlines() == [".gitattributes", "big.csv"] or \
        "big.csv" in repo.git("ls-files").stdout


def test_pre_commit_threshold_from_gitdata_file(repo: Repo) -> None:
    repo.write(".gitdata", b"[data]\n\tmaxFileSize = 100KB\n")
    repo.write("medium.txt", b"y" * 200_000)
    repo.git("add", "-A")
    proc = repo.git("commit", "-qm", "m", check=False)
    assert proc.returncode != 0 and "medium.txt" in proc.stderr
    repo.data("add", "medium.txt")
    repo.git("commit", "-qm", "m")
    assert repo.git("cat-file", "-s", "HEAD:medium.txt").stdout.strip() != "200000"


def test_repo_without_hooks_dir_clone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "x", track=())
    assert (repo.path / ".git" / "hooks" / "post-checkout").exists()


# ----- hooks installed by the filter (a plain clone under a global filter) ---------------
def plain_repo(path: Path) -> Repo:
    """A repository made by plain git under `git data install --global`: no hooks yet."""
    path.mkdir(parents=True)
    repo = Repo(path)
    repo.git("init", "-q")
    repo.data("track", "*.bin")
    return repo


def git_data_hooks(hooks_dir: Path) -> list[str]:
    return sorted(h for h in HOOKS if (hooks_dir / h).is_file()
                  and (hooks_dir / h).read_text() == shim_text(h))


def test_filter_installs_hooks_so_a_plain_clone_pushes_data(tmp_path: Path) -> None:
    Repo(tmp_path).data("install", "--global")
    bare = tmp_path / "team.git"
    Repo(tmp_path).git("init", "-q", "--bare", str(bare))
    first = plain_repo(tmp_path / "first")
    first.git("remote", "add", "origin", str(bare))
    first.write("a.bin", random_bytes(30_000, seed=1))
    add = first.git("add", "-A")
    assert git_data_hooks(first.path / ".git" / "hooks") == sorted(HOOKS)
    assert [x for x in add.stderr.splitlines() if "installed" in x], add.stderr
    first.git("commit", "-qm", "data")
    first.git("push", "-q", "origin", "main")
    assert [p for p in (bare / "data" / "objects").rglob("*") if p.is_file()]
    # a plain clone: hooks come with its checkout, and its own push uploads too
    second = Repo(tmp_path / "second")
    first.git("clone", "-q", str(bare), str(second.path))
    assert second.read("a.bin") == random_bytes(30_000, seed=1)
    assert git_data_hooks(second.path / ".git" / "hooks") == sorted(HOOKS)
    second.write("b.bin", random_bytes(40_000, seed=2))
    second.commit_all("more")
    second.git("push", "-q", "origin", "main")
    assert "not in the store" not in second.data("status").stdout
    third = Repo(tmp_path / "third")
    first.git("clone", "-q", str(bare), str(third.path))
    assert third.read("b.bin") == random_bytes(40_000, seed=2)


def test_filter_chains_a_users_hook_and_says_nothing_once_installed(tmp_path: Path) -> None:
    Repo(tmp_path).data("install", "--global")
    repo = plain_repo(tmp_path / "r")
    mine = repo.path / ".git" / "hooks" / "pre-push"
    text = "#!/bin/sh\necho my-pre-push-ran >&2\nexit 0\n"
    mine.write_text(text)
    mine.chmod(0o755)
    repo.write("a.bin", b"x" * 1000)
    repo.git("add", "a.bin")
    assert mine.read_text() == shim_text("pre-push")
    assert (mine.parent / "pre-push.pre-git-data").read_text() == text
    repo.write("b.bin", b"y" * 1000)
    again = repo.git("add", "b.bin")
    assert "git-data" not in again.stderr  # installed: no note, nothing rewritten
    repo.git("commit", "-qm", "x")
    bare = tmp_path / "team.git"
    repo.git("init", "-q", "--bare", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    assert "my-pre-push-ran" in repo.git("push", "origin", "main").stderr


def test_filter_respects_install_hooks_false(tmp_path: Path) -> None:
    Repo(tmp_path).data("install", "--global")
    repo = plain_repo(tmp_path / "r")
    repo.git("config", "data.installHooks", "false")
    repo.write("a.bin", b"x" * 1000)
    repo.git("add", "a.bin")
    assert git_data_hooks(repo.path / ".git" / "hooks") == []


def test_filter_never_writes_hooks_outside_the_repository(tmp_path: Path) -> None:
    Repo(tmp_path).data("install", "--global")
    outside = tmp_path / "outside-hooks"
    repo = plain_repo(tmp_path / "r")
    repo.git("config", "core.hooksPath", str(outside))
    repo.write("a.bin", b"x" * 1000)
    first = repo.git("add", "a.bin")
    assert not outside.exists()
    warned = [x for x in first.stderr.splitlines() if "core.hooksPath" in x]
    assert len(warned) == 1 and str(outside) in warned[0] and "git data install" in warned[0]
    repo.write("b.bin", b"y" * 1000)
    assert "core.hooksPath" not in repo.git("add", "b.bin").stderr  # warned once
    assert not outside.exists()
    repo.data("install")  # asked for by hand: it goes there
    assert git_data_hooks(outside) == sorted(HOOKS)


def test_filter_refuses_hooks_path_through_a_symlink(tmp_path: Path) -> None:
    """core.hooksPath inside the work tree, where a clone could plant a link: the filter
    writes nothing through it (git resolves the link, so the folder is outside the
    repository: one warning instead)."""
    Repo(tmp_path).data("install", "--global")
    target = tmp_path / "elsewhere"
    target.mkdir()
    repo = plain_repo(tmp_path / "r")
    (repo.path / "tools").symlink_to(target)
    repo.git("config", "core.hooksPath", "tools/hooks")
    repo.write("a.bin", b"x" * 1000)
    proc = repo.git("add", "a.bin")
    assert list(target.iterdir()) == []
    lines = [x for x in proc.stderr.splitlines() if x.startswith("git-data:")]
    assert len(lines) == 1 and "git data install" in lines[0], proc.stderr
    assert repo.git("show", ":a.bin").stdout.startswith("version git-data/1")


def test_filter_installing_hooks_writes_only_protocol_on_stdout(tmp_path: Path) -> None:
    import io

    from git_data.filter.pktline import PktReader

    Repo(tmp_path).data("install", "--global")
    repo = plain_repo(tmp_path / "r")

    def pkt(text: bytes) -> bytes:
        return b"%04x" % (len(text) + 4) + text

    request = (pkt(b"git-filter-client\n") + pkt(b"version=2\n") + b"0000"
               + pkt(b"capability=clean\n") + b"0000")
    proc = subprocess.run(["git-data", "filter-process"], cwd=repo.path, input=request,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr
    reader = PktReader(io.BytesIO(proc.stdout))
    assert reader.read_text_list() == ["git-filter-server", "version=2"]
    assert reader.read_text_list() == ["capability=clean"]
    with pytest.raises(EOFError):
        reader.read()
    assert b"installed" in proc.stderr
    assert git_data_hooks(repo.path / ".git" / "hooks") == sorted(HOOKS)


def test_every_shim_carries_the_marker() -> None:
    """The filter, direct checkout and uninstall all recognise a shim by shims.SHIM_MARKER."""
    assert all(is_shim(shim_text(h)) for h in HOOKS)
    assert not is_shim("#!/bin/sh\nexec git lfs pre-push \"$@\"\n")


def test_filters_starting_together_chain_a_users_hook_once(tmp_path: Path) -> None:
    Repo(tmp_path).data("install", "--global")
    repo = plain_repo(tmp_path / "r")
    mine = repo.path / ".git" / "hooks" / "pre-push"
    text = "#!/bin/sh\nexit 0\n"
    mine.write_text(text)
    mine.chmod(0o755)
    hello = b"0016git-filter-client\n000eversion=2\n0000" + b"0015capability=clean\n0000"
    procs = [subprocess.Popen(["git-data", "filter-process"], cwd=repo.path,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(6)]
    for proc in procs:
        proc.communicate(hello)
    assert mine.read_text() == shim_text("pre-push")
    assert (mine.parent / "pre-push.pre-git-data").read_text() == text
    assert git_data_hooks(mine.parent) == sorted(HOOKS)


def test_filter_installs_hooks_where_core_hooks_path_says_inside_the_repository(
        tmp_path: Path) -> None:
    Repo(tmp_path).data("install", "--global")
    repo = plain_repo(tmp_path / "r")
    repo.git("config", "core.hooksPath", "shared-hooks")
    repo.write("a.bin", b"x" * 1000)
    repo.git("add", "a.bin")
    assert git_data_hooks(repo.path / "shared-hooks") == sorted(HOOKS)
    assert git_data_hooks(repo.path / ".git" / "hooks") == []
