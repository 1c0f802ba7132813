"""`git data track` / `untrack` / `add`: ``.gitattributes`` lines that route paths through
the data filter, written so plain `git add` does the rest. The file is staged at once, and
left uncommitted it is named: until it is committed, a clone (or a teammate's pull) stores
the matching files in git as they are."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .. import safeio
from ..attributes import escape_glob, quote_pattern
from ..cache import Cache
from ..config import Config
from ..errors import FatalError
from ..gitrepo import Repo
from ..progress import note, warn
from ..stage import stage

ATTRS = "filter=data diff=data merge=data -text"
ATTRIBUTES_FILE = ".gitattributes"


def _attributes_path(repo: Repo) -> Path:
    return repo.root / ATTRIBUTES_FILE


def _read_attributes(repo: Repo) -> str | None:
    """The work tree's .gitattributes, None when there is none; a symlink there (committed
    content) is refused, never read through."""
    dir_fd = os.open(repo.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with safeio.open_nofollow(dir_fd, ATTRIBUTES_FILE) as stream:
            return stream.read().decode()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FatalError(f"{_attributes_path(repo)} cannot be read ({exc.strerror}); a "
                         "symlink there is refused: replace it with a plain file") from None
    finally:
        os.close(dir_fd)


def tracked_patterns(repo: Repo) -> list[str]:
    text = _read_attributes(repo)
    if text is None:
        return []
    patterns = []
    for line in text.splitlines():
        if line.rstrip().endswith(ATTRS) or " filter=data" in line:
            patterns.append(line.split(" filter=data")[0].strip())
    return patterns


def track(repo: Repo, patterns: list[str]) -> int:
    if not patterns:
        current = tracked_patterns(repo)
        if not current:
            note("no patterns are tracked; add one with `git data track \"*.csv\"`")
        for pattern in current:
            print(pattern)
        if current:
            _warn_uncommitted(repo)
        return 0
    added = _add_patterns(repo, [quote_pattern(p) for p in patterns])
    for pattern in added:
        note(f"tracking {pattern}")
    _touch_mismatched_files(repo)
    _stage_attributes(repo)
    return 0


def _stage_attributes(repo: Repo) -> None:
    """`git add .gitattributes` (as `git lfs track` leaves it for the user to, and then they
    forget), then name it while it is uncommitted."""
    try:
        repo.git("add", "--", ATTRIBUTES_FILE)
    except FatalError as exc:  # ignored by a .gitignore, say: the file itself is written
        warn(f"could not stage {ATTRIBUTES_FILE} ({exc}); `git add` it yourself")
        return
    _warn_uncommitted(repo)


def _warn_uncommitted(repo: Repo) -> None:
    state = repo.git("status", "--porcelain", "-z", "--", ATTRIBUTES_FILE,
                     check=False).decode(errors="replace")
    if not state:
        return
    staged = state[:1] not in (" ", "?")
    warn(f"{ATTRIBUTES_FILE} is {'staged but ' if staged else ''}not committed: commit it "
         f"(`git commit {ATTRIBUTES_FILE}` or with the data) so clones store these files as "
         "data too")


def _add_patterns(repo: Repo, quoted: list[str]) -> list[str]:
    path = _attributes_path(repo)
    existing = set(tracked_patterns(repo))
    new = [q for q in dict.fromkeys(quoted) if q not in existing]
    if new:
        text = _read_attributes(repo) or ""
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{q} {ATTRS}\n" for q in new)
        _atomic_write(path, text)
    return new


def untrack(repo: Repo, patterns: list[str]) -> int:
    path = _attributes_path(repo)
    text = _read_attributes(repo)
    if text is None:
        raise FatalError(f"{path} does not exist; nothing is tracked")
    wanted = set(patterns) | {quote_pattern(p) for p in patterns}
    kept, removed = [], []
    for line in text.splitlines(keepends=True):
        head = line.split(" filter=data")[0].strip()
        if " filter=data" in line and head in wanted:
            removed.append(head)
        else:
            kept.append(line)
    if not removed:
        raise FatalError(f"none of {', '.join(patterns)} is tracked in {path}; "
                         "`git data track` lists the tracked patterns")
    _atomic_write(path, "".join(kept))
    for pattern in removed:
        note(f"untracked {pattern}; `git add` stores matching files in git again")
    _touch_mismatched_files(repo)
    _stage_attributes(repo)
    return 0


def add(repo: Repo, paths: list[str]) -> int:
    """Stage PATHS (files or folders), data files as pointers without a clean filter per
    file (git_data.stage). A path nothing under which is data yet is tracked first: its own
    line in .gitattributes (``folder/**`` for a folder)."""
    root = repo.root.resolve()
    rel = [_relative(root, raw) for raw in paths]
    untracked = _not_data_yet(repo, root, rel)
    patterns = [quote_pattern(escape_glob(r) + ("/**" if (root / r).is_dir() else ""))
                for r in untracked]
    if patterns:
        _add_patterns(repo, patterns)
        _touch_mismatched_files(repo)
    config = Config(repo)
    data, other = stage(repo, Cache(config.cache_dir), config.hash_algorithm,
                        [ATTRIBUTES_FILE, *rel] if _attributes_path(repo).exists() else rel)
    note(f"staged {data} file{'s' if data != 1 else ''} as data"
         + (f", {other} other path{'s' if other != 1 else ''}" if other else ""))
    return 0


def _relative(root: Path, raw: str) -> str:
    """``raw`` relative to the work tree; its last part is never followed (a symlink is
    staged as one), and a path outside the work tree is refused."""
    absolute = Path(os.path.abspath(raw))
    full = absolute.parent.resolve() / absolute.name if absolute.name else absolute.resolve()
    if not os.path.lexists(full):
        raise FatalError(f"{raw}: no such file; check the path")
    try:
        rel = full.relative_to(root).as_posix()
    except ValueError:
        raise FatalError(f"{raw} is outside the repository {root}; only paths inside it can "
                         "be added") from None
    if rel == ".git" or rel.startswith(".git/"):
        raise FatalError(f"{raw} is inside .git; add work-tree files only")
    return rel


def _not_data_yet(repo: Repo, root: Path, rel: list[str]) -> list[str]:
    """Those of ``rel`` that are neither data nor hold any data file (one check-attr call)."""
    probes: dict[str, str] = {}
    for r in rel:
        if r == ".":  # the whole work tree is never tracked by one pattern
            continue
        if (root / r).is_dir() and not (root / r).is_symlink():
            for dirpath, _, names in os.walk(root / r):
                if names:  # one file stands for the folder: does a data pattern reach it?
                    probes[r] = os.path.relpath(os.path.join(dirpath, names[0]), root)
                    break
        elif not (root / r).is_symlink():
            probes[r] = r
    if not probes:
        return []
    out = repo.git("check-attr", "--stdin", "-z", "filter",
                   input=b"".join(os.fsencode(p) + b"\0" for p in probes.values()))
    fields = out.split(b"\0")
    data = {os.fsdecode(fields[i]) for i in range(0, len(fields) - 2, 3)
            if fields[i + 2] == b"data"}
    return [r for r, probe in probes.items() if probe not in data]


def _touch_mismatched_files(repo: Repo) -> None:
    """Files whose index blob disagrees with their attributes (a plain blob that now matches a
    data pattern, or a pointer that no longer does): make their stat info stale so the next
    `git add` runs them through the right conversion (as git-lfs does)."""
    listed = repo.git("ls-files", "-z", "-s").split(b"\0")
    candidates = {}
    for item in listed:
        if not item:
            continue
        meta, _, path = item.partition(b"\t")
        candidates[path.decode(errors="surrogateescape")] = meta.split()[1].decode()
    if not candidates:
        return
    out = repo.git("check-attr", "-z", "--stdin", "filter",
                   input=b"\0".join(p.encode(errors="surrogateescape") for p in candidates)
                   + b"\0")
    fields = out.split(b"\0")
    now = time.time()
    for i in range(0, len(fields) - 2, 3):
        path, value = fields[i].decode(errors="surrogateescape"), fields[i + 2]
        blob = repo.pygit.get(candidates[path])
        if blob is None:
            continue
        is_pointer = repo.blob_pointer(blob.id) is not None
        if is_pointer != (value == b"data"):
            full = repo.root / path
            if full.exists():
                os.utime(full, (now, now))


def _atomic_write(path: Path, text: str) -> None:
    safeio.write_text(path, text, root=path.parent)
