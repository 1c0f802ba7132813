"""The hook shims: the small scripts in the hooks folder that call `git-data hook NAME`.

One template (``templates/hook.sh``) renders every shim, for `git data install`, for the
filter's own installation when it finds none (hooks.ensure_hooks) and for the checked-in
``hooks/`` folder (`make hooks`). A shim of any version is recognised by ``SHIM_MARKER``
and replaced in place, so installing twice changes nothing. A hook the user already has is
moved to ``<hook>.pre-git-data`` and run by the shim (hooks.py), and `git data uninstall`
puts it back byte for byte. The hooks folder is opened without following links under the
repository's git folder or work tree (where core.hooksPath may lead), and each shim is
written through safeio (atomic, no-follow).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from . import safeio
from .errors import FatalError
from .gitrepo import Repo
from .progress import note

HOOKS = ("pre-commit", "pre-push", "post-checkout", "post-merge")
SAVED_SUFFIX = ".pre-git-data"  # a user's own hook, kept aside by `git data install`
SHIM_MARKER = "# git-data hook shim"  # in every shim's text (templates/hook.sh)


def shim_text(hook: str) -> str:
    from importlib import resources  # only when a shim is written, not per hook run

    template = resources.files("git_data").joinpath("templates/hook.sh").read_text()
    return template.replace("@HOOK@", hook)


def is_shim(text: str) -> bool:
    return SHIM_MARKER in text


def install_hooks(repo: Repo, quiet: bool = False) -> None:
    """A shim for each of ``HOOKS`` in the repository's hooks folder, the user's own hooks
    kept aside; the folder is locked meanwhile."""
    from .materialize import exclude_temporary_files

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
        if current is not None and not is_shim(current):  # the user's own hook: chain it
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


def _hooks_path_set(repo: Repo) -> bool:
    return bool(repo.git("config", "--get", "core.hooksPath", check=False).strip())
