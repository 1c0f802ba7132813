"""`git data install` / `git data uninstall`: filter configuration and hook shims.

A hook the user already has is moved to ``<hook>.pre-git-data`` and run by our shim first;
uninstall puts it back byte for byte. Our own shims (any version) are recognised by a marker
line and replaced in place, so running install twice changes nothing.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .. import safeio
from ..errors import FatalError
from ..gitrepo import Repo, run_git
from ..hooks import SAVED_SUFFIX
from ..materialize import exclude_temporary_files
from ..progress import note

HOOKS = ("pre-commit", "pre-push", "post-checkout", "post-merge")
MARKER = "# git-data hook shim"
FILTER_CONFIG = {
    "filter.data.process": "git-data filter-process",
    "filter.data.required": "true",
    "diff.data.textconv": "git-data textconv",
    "diff.data.binary": "true",
    "merge.data.name": "git-data pointer merge",
    "merge.data.driver": "git-data merge-driver %O %A %B %P",
}


def shim_text(hook: str) -> str:
    template = resources.files("git_data").joinpath("templates/hook.sh").read_text()
    return template.replace("@HOOK@", hook)


def _scope_args(scope: str, repo: Repo | None) -> list[str]:
    if scope == "global":
        return ["--global"]
    assert repo is not None
    return ["--file", str(repo.common_dir / "config")]


def install(scope: str | None) -> int:
    repo = _maybe_repo()
    scope = scope or "local"
    if scope == "local" and repo is None:
        raise FatalError("not inside a git repository; run `git data install` inside one, or "
                         "`git data install --global` to set up the filter for every repository")
    args = _scope_args(scope, repo)
    changed = 0
    for key, value in FILTER_CONFIG.items():
        current = run_git(["config", *args, "--get", key], check=False).decode().strip()
        if current != value:
            run_git(["config", *args, key, value])
            changed += 1
    note(f"git-data filter {'configured' if changed else 'already configured'} ({scope})")
    if repo is not None and not repo.bare:
        install_hooks(repo)
    return 0


def install_here(repo: Repo) -> None:
    """Filter config and hooks for one repository, quietly (used by clone)."""
    args = _scope_args("local", repo)
    for key, value in FILTER_CONFIG.items():
        run_git(["config", *args, key, value])
    install_hooks(repo)


def install_hooks(repo: Repo) -> None:
    hooks_dir = repo.hooks_dir()
    if _hooks_path_set(repo):
        note(f"core.hooksPath is set: installing hooks in {hooks_dir}")
    try:
        hooks_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FatalError(f"cannot create hooks folder {hooks_dir} ({exc.strerror}); fix "
                         "core.hooksPath or its permissions, then run `git data install`"
                         ) from exc
    for hook in HOOKS:
        _install_hook(hooks_dir / hook, shim_text(hook))
    exclude_temporary_files(repo)


def _install_hook(path: Path, text: str) -> None:
    if path.exists() or path.is_symlink():
        current = path.read_text(errors="replace") if path.is_file() else ""
        if current == text:
            return
        if MARKER not in current:  # the user's own hook: keep it, chain it
            saved = path.with_name(path.name + SAVED_SUFFIX)
            if saved.exists():
                raise FatalError(f"{path} is not git-data's and {saved} already exists; move "
                                 "one of them away and run `git data install` again")
            os.rename(path, saved)
            note(f"kept your {path.name} hook as {saved.name}; git-data runs it first")
    try:
        safeio.write_text(path, text, mode=0o755)
    except OSError as exc:
        raise FatalError(f"cannot write hook {path} ({exc.strerror}); check the permissions of "
                         f"{path.parent}") from exc


def uninstall(scope: str | None) -> int:
    repo = _maybe_repo()
    if scope is None:
        scope = "local" if repo else "global"
    args = _scope_args(scope, repo) if (scope == "global" or repo) else []
    for section in ("filter.data", "diff.data", "merge.data"):
        run_git(["config", *args, "--remove-section", section], check=False)
    if repo is not None and not repo.bare:
        hooks_dir = repo.hooks_dir()
        for hook in HOOKS:
            path = hooks_dir / hook
            saved = path.with_name(hook + SAVED_SUFFIX)
            if path.is_file() and MARKER in path.read_text(errors="replace"):
                path.unlink()
                if saved.exists():
                    os.rename(saved, path)
    note(f"git-data filter and hooks removed ({scope})")
    return 0


def _hooks_path_set(repo: Repo) -> bool:
    return bool(repo.git("config", "--get", "core.hooksPath", check=False).strip())


def _maybe_repo() -> Repo | None:
    try:
        return Repo(".")
    except FatalError:
        return None
