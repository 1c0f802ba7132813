"""`git data install` / `git data uninstall`: filter configuration and hook shims.

A hook the user already has is moved to ``<hook>.pre-git-data`` and run by our shim first;
uninstall puts it back byte for byte. Our own shims (any version) are recognised by a marker
line and replaced in place, so running install twice changes nothing. The hooks folder is
opened without following links under the repository's git folder or work tree (where
core.hooksPath may lead), and each shim is written through safeio (atomic, no-follow).
The filter runs the same installation when it finds no hooks (hooks.ensure_hooks).
"""

from __future__ import annotations

import fcntl
import os
from importlib import resources
from pathlib import Path

from .. import safeio
from ..errors import FatalError
from ..gitrepo import Repo, run_git
from ..hooks import SAVED_SUFFIX, SHIM_MARKER
from ..materialize import exclude_temporary_files
from ..progress import note, warn

HOOKS = ("pre-commit", "pre-push", "post-checkout", "post-merge")
MARKER = SHIM_MARKER
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


def install_hooks(repo: Repo, quiet: bool = False) -> None:
    hooks_dir = repo.hooks_dir()
    if _hooks_path_set(repo) and not quiet:
        note(f"core.hooksPath is set: installing hooks in {hooks_dir}")
    try:
        dir_fd = _open_hooks_dir(repo, hooks_dir)
    except OSError as exc:
        raise FatalError(f"cannot create hooks folder {hooks_dir} ({exc.strerror}); fix "
                         "core.hooksPath or its permissions, then run `git data install`"
                         ) from exc
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)  # two filters starting at once: one chains a
        for hook in HOOKS:  # user's hook, the other then finds the shim and leaves it be
            _install_hook(dir_fd, hooks_dir / hook, shim_text(hook))
    finally:
        os.close(dir_fd)
    exclude_temporary_files(repo)


def _open_hooks_dir(repo: Repo, hooks_dir: Path) -> int:
    """The hooks folder, made when missing, opened without following a link below the git
    folder or the work tree (whose content a clone controls); a folder elsewhere is the
    user's own choice of core.hooksPath, trusted as far as its parent."""
    for root in (repo.common_dir, repo.git_dir, repo.workdir):
        if root is not None and hooks_dir.is_relative_to(root):
            return safeio.open_dir(root, hooks_dir.relative_to(root), create=True)
    hooks_dir.parent.mkdir(parents=True, exist_ok=True)
    return safeio.open_dir(hooks_dir.parent, hooks_dir.name, create=True)


def _install_hook(dir_fd: int, path: Path, text: str) -> None:
    name = path.name
    current = _read_hook(dir_fd, name)
    if current == text:
        return
    try:
        if current is not None and MARKER not in current:  # the user's own hook: chain it
            saved = name + SAVED_SUFFIX
            if _exists(dir_fd, saved):
                raise FatalError(f"{path} is not git-data's and {path.parent / saved} already "
                                 "exists; move one of them away and run `git data install` "
                                 "again")
            os.rename(name, saved, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            note(f"kept your {name} hook as {saved}; git-data runs it first")
        with safeio.AtomicFile(dir_fd, name, 0o755) as out:
            out.write(text.encode())
            out.commit()
    except OSError as exc:
        raise FatalError(f"cannot write hook {path} ({exc.strerror}); check the permissions of "
                         f"{path.parent}") from exc


def _read_hook(dir_fd: int, name: str) -> str | None:
    """A hook's text; None when there is none, "" for a link or anything not a file."""
    try:
        with safeio.open_nofollow(dir_fd, name) as stream:
            return stream.read(1 << 20).decode(errors="replace")
    except FileNotFoundError:
        return None
    except (OSError, safeio.UnsafePath):
        return ""


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


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
