"""`git data install` / `git data uninstall`: filter configuration and hook shims.

The filter configuration is written here; the shims (their text, the marker that
recognises them, chaining a user's own hook) are shims.py's, which the filter also uses
when it finds no hooks (hooks.ensure_hooks). Uninstall puts a kept hook back byte for byte.
"""

from __future__ import annotations

import os

from ..errors import FatalError
from ..gitrepo import Repo, run_git
from ..progress import note, warn
from ..shims import HOOKS, SAVED_SUFFIX, install_hooks, is_shim

FILTER_CONFIG = {
    "filter.data.process": "git-data filter-process",
    "filter.data.required": "true",
    "diff.data.textconv": "git-data textconv",
    "diff.data.binary": "true",
    "merge.data.name": "git-data pointer merge",
    "merge.data.driver": "git-data merge-driver %O %A %B %P",
}


def warn_unless_filter(repo: Repo) -> bool:
    """One line when git would not run the data filter here (``filter.data.process`` unset
    in every scope git reads: a clone made with plain `git clone`, say), for commands whose
    result depends on it (pull, status). True when it is configured."""
    if repo.git("config", "--get", "filter.data.process", check=False).strip():
        return True
    warn("the data filter is not configured in this repository (filter.data.process is "
         "unset), so git stores and checks out data files as they are: run `git data install`")
    return False


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
            if path.is_file() and is_shim(path.read_text(errors="replace")):
                path.unlink()
                if saved.exists():
                    os.rename(saved, path)
    note(f"git-data filter and hooks removed ({scope})")
    return 0


def _maybe_repo() -> Repo | None:
    try:
        return Repo(".")
    except FatalError:
        return None
