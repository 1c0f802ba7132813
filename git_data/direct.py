"""Direct checkout: large files are written by the post-checkout hook, not piped through git.

    git checkout / switch / restore / clone
      filter, smudge of a pointer of data.directCheckoutMinSize or more (default 8 MiB)
        --> answers with the pointer text itself and appends "oid size path" to
            $GIT_DIR/data/checkout-direct
      git writes the small pointer file, records it in the index, runs post-checkout
    post-checkout hook (`git-data hook post-checkout`), see finish()
        --> fetches what the cache lacks (transfer queue, in parallel), then materialize.py
            writes each recorded file that is still that pointer from the cache (reflink or
            in-kernel copy) and puts its new stat data in the index (indexfile.py)

Why: git holds each smudged file whole in memory and receives it through a pipe. Here that
costs about 3 s per GiB against 0.35 s for a copy, and as much of git's memory as the file
is large; a direct write is a copy, in constant memory.

When: only while git runs one of the commands above (read from /proc: Linux) and the
post-checkout hook git will run is git-data's own. Anything else (reset --hard, stash, merge,
rebase, an alias, hooks turned off, no /proc) streams the data through the filter as before.
If a hook never runs after all (a checkout that failed part-way), or is killed before it is
done, the files stay pointers, `git data status` lists them, and the next post-checkout
finishes them from the record (or `git data checkout` / `pull` writes them). The record's
paths are escaped (written.escape), so any file name, a newline in it included, round-trips.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import appendlog, safeio
from .written import escape, unescape

if TYPE_CHECKING:
    from .gitrepo import Repo

FILE_NAME = "checkout-direct"
WORK_SUFFIX = ".work"  # what a hook took from the record and has not finished
DEFAULT_MIN_SIZE = 8 << 20
# in-process checkouts that run post-checkout (`worktree add` checks out through a child
# `git reset --hard`, so it streams)
COMMANDS = frozenset({"checkout", "switch", "restore", "clone"})
SHELLS = frozenset({"sh", "dash", "bash", "zsh"})
OPTIONS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace",
                                "--config-env", "--super-prefix", "--attr-source"})


def record_path(git_dir: Path | str) -> Path:
    return Path(git_dir) / "data" / FILE_NAME


class DirectCheckout:
    """The filter's side: whether to hand a smudge over to the hook, and the record of it."""

    def __init__(self, git_dir: str, min_size: int, hooks_dir: Path) -> None:
        self.git_dir = git_dir
        self.min_size = min_size
        self.hooks_dir = hooks_dir  # as git resolves it here (core.hooksPath, `git -c` too)
        self._allowed: bool | None = None

    def wants(self, size: int) -> bool:
        if size < self.min_size:
            return False
        if self._allowed is None:  # decided once, on the first large file
            self._allowed = hook_will_finish(self.hooks_dir / "post-checkout")
        return self._allowed

    def record(self, path: str, oid: str, size: int) -> None:
        appendlog.append(record_path(self.git_dir), f"{oid} {size} {escape(path)}\n")


def hook_will_finish(hook: Path) -> bool:
    """Whether the git command that started this filter runs git-data's post-checkout hook
    (``hook``, the effective one) when it is done."""
    if os.environ.get("GIT_DATA_SKIP_HOOKS"):
        return False
    if git_subcommand(_git_parent_argv()) not in COMMANDS:
        return False
    from .shims import is_shim

    try:
        with open(hook, errors="replace") as stream:
            return is_shim(stream.read(4096)) and os.access(hook, os.X_OK)
    except OSError:  # no such hook, or unreadable: stream instead
        return False


def _git_parent_argv() -> list[str]:
    """The command line of the git process that started this one (through a shell, since
    git runs a filter command with arguments via ``sh -c``); empty when unknown."""
    pid = os.getppid()
    for _ in range(2):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            return []
        args = [a.decode(errors="replace") for a in argv]
        if args and os.path.basename(args[0]) in SHELLS:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid
            except (OSError, ValueError, IndexError):
                return []
            continue
        return args
    return []


def git_subcommand(argv: list[str]) -> str | None:
    """``switch`` for ``git -C dir -c a=b switch main``; None when argv is not git's."""
    if not argv:
        return None
    program = os.path.basename(argv[0])
    if program.startswith("git-"):
        return program[4:]
    if program != "git":
        return None
    args = iter(argv[1:])
    for arg in args:
        if arg in OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def take_records(git_dir: Path) -> list[tuple[str, int, str]]:
    """The files left to write: (oid, size, path), the last per path. The filter's record is
    renamed aside first (a filter appending at that moment starts a new record instead of
    losing its line), merged with what an earlier hook left unfinished, and written whole to
    ``checkout-direct.work``, which only ``keep_records`` shrinks: a hook killed at any point
    leaves every file it did not finish recorded for the next one."""
    path = record_path(git_dir)
    work = path.with_name(FILE_NAME + WORK_SUFFIX)
    taken = path.with_name(f"{FILE_NAME}.{os.getpid()}")
    # renamed aside by hooks killed before they merged it (a pid in the name), oldest first
    aside = sorted((p for p in path.parent.glob(FILE_NAME + ".*") if p.suffix[1:].isdigit()
                    and p != taken), key=_mtime)
    try:
        os.rename(path, taken)
        aside.append(taken)  # the newest
    except FileNotFoundError:
        pass
    lines = appendlog.complete_lines(work)
    for part in aside:
        lines += appendlog.complete_lines(part)
    records: dict[str, tuple[str, int, str]] = {}
    for line in lines:
        fields = line.split(" ", 2)
        if len(fields) == 3 and fields[1].isdigit():
            name = unescape(fields[2])
            records[name] = (fields[0], int(fields[1]), name)
    if aside:
        keep_records(git_dir, list(records.values()))
        for part in aside:
            part.unlink(missing_ok=True)
    return list(records.values())


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def keep_records(git_dir: Path, records: list[tuple[str, int, str]]) -> None:
    """Replace the work record with ``records`` (the files not finished yet), atomically."""
    work = record_path(git_dir).with_name(FILE_NAME + WORK_SUFFIX)
    if not records:
        work.unlink(missing_ok=True)
        return
    safeio.write_text(work, "".join(f"{oid} {size} {escape(path)}\n"
                                    for oid, size, path in records))


def finish(repo: Repo, quiet: bool) -> int:
    """The hook's side: fetch and write the files the filter handed over. The record is
    settled only after materialize has written the files and their index entries; a file
    that stays a pointer (its data in no store reached) stays recorded, with a warning, for
    the next checkout to try again."""
    from .cache import Cache
    from .config import Config
    from .errors import FatalError
    from .fetch import download
    from .gitrepo import PointerEntry
    from .materialize import holding_pointers, materialize
    from .progress import warn

    if repo.workdir is None:
        return 0
    records = take_records(repo.git_dir)
    if not records:
        return 0
    # files already data are passed on too: a hook killed after writing them but before
    # recording their stat in the index left them looking modified; materialize settles them
    entries = [PointerEntry(path, oid, size) for oid, size, path in records]
    pending = holding_pointers(repo.workdir, entries)  # never read through a folder link
    config = Config(repo)
    cache = Cache(config.cache_dir)
    absent = [e for e in pending if not cache.has(e.oid)]
    if absent:
        try:
            download(repo, config, absent, None, quiet).raise_for_failures("download")
        except FatalError as exc:  # the checkout is done; the files left stay pointers
            warn(f"{exc}")
    materialize(repo, cache, entries)
    left = [(e.oid, e.size, e.path) for e in holding_pointers(repo.workdir, pending)]
    keep_records(repo.git_dir, left)
    if left:
        names = ", ".join(repr(path) for _, _, path in left[:3])
        warn(f"{len(left)} file(s) stay pointers ({names}{', ...' if len(left) > 3 else ''}): "
             "their data is in no store this repository reaches; `git data status` lists "
             "them, and the next checkout or `git data pull` tries again")
    return 0
