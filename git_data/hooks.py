"""Git hook handlers, called by the shims as `git-data hook NAME ARGS...`.

Each also runs the user's own hook that `git data install` kept aside (``NAME.pre-git-data``)
with the same arguments and standard input: a pre-* hook runs it first, and stops there when
it fails; a post-* hook runs it last, so it sees the work tree with its data in place.

- pre-commit: refuses a staged file over ``data.maxFileSize`` that is not a pointer.
- pre-push: uploads what the pushed commits need (see :mod:`git_data.push`).
- post-checkout / post-merge: writes the large files the filter handed over (direct.py),
  then fetches and writes files the filter left as pointers.

The shims themselves (their text, the marker, installing them) are shims.py's. The filter
calls ``ensure_hooks`` at start-up, so a plain `git clone` under a global filter
(`git data install --global`) gets the hooks too: one open of the pre-push hook per filter
start when they are in place, the installation of `git data install` (chaining the user's
own hooks) the first time they are not.
"""

from __future__ import annotations

import os
import subprocess
import sys

from . import safeio
from .config import Config, parse_bool
from .errors import FatalError
from .gitrepo import Repo
from .progress import human_bytes, is_quiet, set_quiet, warn
from .shims import SAVED_SUFFIX, SHIM_MARKER, install_hooks

MISSING_FILE = "missing-after-checkout"
HOOKS_PATH_WARNED = "hooks-path-warned"  # in $GIT_COMMON_DIR/data: warned about this path


def run_hook(name: str, args: list[str]) -> int:
    stdin = sys.stdin.buffer.read() if name == "pre-push" else b""
    repo = Repo(".")
    skip = bool(os.environ.get("GIT_DATA_SKIP_HOOKS"))
    if name.startswith("pre-"):
        code = _run_chained(repo, name, args, stdin)
        if code != 0 or skip:
            return code
        if name == "pre-commit":
            return pre_commit(repo)
        if name == "pre-push":
            return pre_push(repo, args, stdin)
    elif name in ("post-checkout", "post-merge"):
        code = 0 if skip else post_checkout(repo, name, args)
        return _run_chained(repo, name, args, stdin) or code  # it sees the finished work tree
    raise FatalError(f"unknown hook '{name}'")


def _run_chained(repo: Repo, name: str, args: list[str], stdin: bytes) -> int:
    """The user's own hook that `git data install` kept aside, if any."""
    chained = repo.hooks_dir() / (name + SAVED_SUFFIX)
    if chained.is_file() and os.access(chained, os.X_OK):
        return subprocess.run([str(chained), *args], input=stdin).returncode
    return 0


def pre_commit(repo: Repo) -> int:
    config = Config(repo)
    limit = config.max_file_size
    raw = repo.git("diff", "--cached", "--raw", "-z", "--no-renames", "--diff-filter=AM")
    fields = raw.split(b"\0")
    staged = []
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].decode().split()
        if len(meta) >= 4:
            staged.append((meta[3], fields[i + 1].decode(errors="surrogateescape")))
    if not staged:
        return 0
    sizes = repo.git("cat-file", "--batch-check=%(objectsize)",
                     input="".join(f"{sha}\n" for sha, _ in staged).encode()).split()
    too_big = [(path, int(size)) for (_, path), size in zip(staged, sizes) if int(size) > limit]
    if not too_big:
        return 0
    for path, size in too_big:
        warn(f"{path} is {human_bytes(size)}, over the {human_bytes(limit)} limit for files "
             "stored in git")
    example = too_big[0][0]
    warn(f"store large files as data: `git data add {example}` (or `git data track PATTERN` "
         "and `git add` again); raise the limit with `git config data.maxFileSize 100MB`; "
         "or commit anyway with `git commit --no-verify`")
    return 1


def pre_push(repo: Repo, args: list[str], stdin: bytes) -> int:
    from .push import parse_pre_push, push_updates

    updates = parse_pre_push(stdin)
    if not updates:
        return 0
    remote_name = args[0] if args else "origin"
    url = args[1] if len(args) > 1 else None
    # a push git runs without a terminal (an IDE, a script) says nothing but warnings
    set_quiet(is_quiet() or not sys.stderr.isatty())
    return push_updates(repo, Config(repo), updates, remote_name, url)


def post_checkout(repo: Repo, name: str, args: list[str]) -> int:
    """Write the large files the filter handed over (direct.py), then, after a branch
    switch, fetch and write files the filter had to leave as pointers."""
    from .direct import finish
    from .materialize import settle_racy

    repo.unreadable_reported = True  # the filter of this git command has named such files
    try:  # the checkout itself is done: a failure here leaves pointers, never stops git
        finish(repo, quiet=is_quiet())  # (progress shows only on a terminal in any case)
        settle_racy(repo)  # so the next git command does not read the new files again
    except FatalError as exc:
        warn(f"{exc}")
    if name == "post-checkout" and len(args) >= 3 and args[2] == "0":
        return 0  # a file checkout, not a branch switch
    marker = repo.git_dir / "data" / MISSING_FILE
    if not marker.exists() or repo.workdir is None:
        return 0
    marker.unlink()
    from .fetch import pull_files
    from .materialize import holding_pointers

    set_quiet(True)  # a hook's pull of what the filter left: warnings only
    try:  # only the files the filter left as pointers: nothing else is downloaded
        entries = holding_pointers(repo.root, repo.index_pointers())
        pull_files(repo, Config(repo), entries, None, quiet=True)[0].raise_for_failures(
            "download")
    except FatalError as exc:
        warn(f"{exc}")
    return 0


def ensure_hooks(repo: Repo, config: Config) -> None:
    """Install the hook shims when this repository lacks them (the filter runs here through
    a global filter config): cheap when they are in place, silent on stdout, never fatal."""
    hooks_dir = repo.hooks_dir()
    head = safeio.read_head(str(hooks_dir / "pre-push"))
    if head is not None and SHIM_MARKER.encode() in head:
        return
    if repo.bare or repo.workdir is None:
        return
    if not parse_bool(config.get_git("data.installHooks"), True):  # git config only: a
        return  # committed .gitdata must not keep the data of a push from its store
    if not _inside(hooks_dir, repo.common_dir) and not _inside(hooks_dir, repo.workdir):
        _warn_hooks_path_once(repo, hooks_dir)
        return
    try:
        install_hooks(repo, quiet=True)
    except (FatalError, OSError) as exc:
        warn(f"cannot install git-data's hooks in {hooks_dir} ({_reason(exc)}), so `git push` "
             "will not upload data; fix that and run `git data install`")
        return
    warn(f"installed git-data's hooks in {hooks_dir}, so `git push` uploads data "
         "(`git config data.installHooks false` keeps them out)")


def _inside(path: os.PathLike[str], folder: os.PathLike[str]) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == (
        os.path.abspath(folder))


def _warn_hooks_path_once(repo: Repo, hooks_dir: os.PathLike[str]) -> None:
    """core.hooksPath leads outside this repository: never write there from a filter; say
    so once per repository and path (a stamp in the cache folder), not on every command."""
    stamp = repo.common_dir / "data" / HOOKS_PATH_WARNED
    want = f"{os.fspath(hooks_dir)}\n"
    if safeio.read_head(str(stamp)) == want.encode():
        return
    warn(f"core.hooksPath points outside this repository ({os.fspath(hooks_dir)}) and its "
         "pre-push hook is not git-data's, so `git push` will not upload data; run "
         "`git data install` to put the hooks there, or `git data push` after each push")
    try:
        safeio.write_text(stamp, want, root=repo.common_dir)
    except (FatalError, OSError):
        pass  # a read-only repository: warned again next time, which is all it costs


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def record_missing(git_dir: str, paths: list[str]) -> None:
    """Called by the filter at exit: tells the post-checkout hook there is work left."""
    folder = os.path.join(git_dir, "data")
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, MISSING_FILE),  # appended, never through a link
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "a", errors="surrogateescape") as stream:
        stream.write("".join(p + "\n" for p in paths))
