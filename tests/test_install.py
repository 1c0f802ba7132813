from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import Repo, make_repo

from git_data.commands.install import HOOKS, shim_text

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
