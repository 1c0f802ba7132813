"""`git data log [PATH]` (the versions of a data file or folder) and `git data diff [REV1
[REV2]] [PATH...]` (data files added, removed and changed, with a summary of each changed
table). Row and column counts come from saved statistics; `diff` computes what is missing,
streaming from the cache or the store, unless ``--no-stats``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import FatalError
from ..gitrepo import Repo
from ..insight.versions import FileVersion, Insight, Target, is_table, repo_path, under
from ..progress import human_bytes, warn


@dataclass
class LogEntry:
    commit: str
    date: str
    author: str
    subject: str
    status: str  # added | modified | deleted (a file); changed (a folder)
    size: int | None = None
    oid: str | None = None
    rows: int | None = None
    columns: int | None = None
    rows_change: int | None = None
    columns_change: int | None = None
    files: int | None = None  # folders: how many data files, and what changed
    added: int | None = None
    removed: int | None = None
    modified: int | None = None


def log(repo: Repo, path: str | None, rev: str, max_count: int | None, as_json: bool) -> int:
    insight = Insight(repo)
    rel = repo_path(repo, path) if path else ""
    repo.resolve(rev)  # a clear error for a revision that does not exist
    entries = []
    for commit, when, author, subject in _commits(repo, rel, rev):
        entry = _log_entry(insight, rel, commit, when, author, subject)
        if entry is not None:
            entries.append(entry)
            if max_count and len(entries) >= max_count:
                break
    if not entries:
        raise FatalError(f"{rel or 'the repository'} has no data versions in the history of "
                         f"{rev}")
    if as_json:
        print(json.dumps([{k: v for k, v in asdict(e).items() if v is not None}
                          for e in entries], indent=2))
    else:
        for entry in entries:
            print(_log_line(entry))
    return 0


def _commits(repo: Repo, path: str, rev: str) -> list[tuple[str, str, str, str]]:
    spec = ["--", path] if path else []
    out = repo.git("log", "-z", "--format=%H%x1f%aI%x1f%an%x1f%s", rev, *spec).decode(
        errors="replace")
    return [tuple(record.split("\x1f", 3)) for record in out.split("\0")  # type: ignore[misc]
            if record.count("\x1f") == 3]


def _state(insight: Insight, path: str, commit: str) -> dict[str, FileVersion]:
    """The data files at ``path`` in ``commit`` (a file gives one entry, or none)."""
    try:
        return insight.listing(commit, path, missing_ok=True)
    except FatalError:
        return {}


def _log_entry(insight: Insight, path: str, commit: str, when: str, author: str,
               subject: str) -> LogEntry | None:
    now = _state(insight, path, commit)
    parents = insight.repo.pygit[commit].parents
    before = _state(insight, path, str(parents[0].id)) if parents else {}
    if now == before or {k: v.oid for k, v in now.items()} == {k: v.oid
                                                               for k, v in before.items()}:
        return None
    entry = LogEntry(commit, when, author, subject, "changed")
    is_file = path in now or path in before
    if not is_file:
        entry.files, entry.size = len(now), sum(v.size for v in now.values())
        entry.added = len(now.keys() - before.keys())
        entry.removed = len(before.keys() - now.keys())
        entry.modified = sum(1 for k in now.keys() & before.keys()
                             if now[k].oid != before[k].oid)
        return entry
    current, previous = now.get(path), before.get(path)
    if current is None:
        entry.status = "deleted"
        return entry
    entry.status = "added" if previous is None else "modified"
    entry.size, entry.oid = current.size, current.oid
    _add_shape(insight, entry, current, previous)
    return entry


def _add_shape(insight: Insight, entry: LogEntry, current: FileVersion,
               previous: FileVersion | None) -> None:
    """Rows and columns (and their change) when statistics are saved for the versions."""
    profile = insight.known_profile(current)
    if profile is None or profile.rows is None:
        return
    entry.rows, entry.columns = profile.rows, len(profile.columns)
    old = insight.known_profile(previous) if previous is not None else None
    if old is not None and old.rows is not None:
        entry.rows_change = profile.rows - old.rows
        entry.columns_change = len(profile.columns) - len(old.columns)


def _log_line(e: LogEntry) -> str:
    head = f"{e.commit[:8]}  {e.date[:16].replace('T', ' ')}  {e.author}"
    if e.files is not None:
        body = (f"{e.files} data files, {human_bytes(e.size or 0)}  "
                f"+{e.added} -{e.removed} ~{e.modified}")
    elif e.status == "deleted":
        body = "deleted"
    else:
        body = f"{human_bytes(e.size or 0):>9}  {e.oid.split(':', 1)[1][:12] if e.oid else ''}"
        if e.rows is not None:
            body += f"  {e.rows:,} rows{_change(e.rows_change)} × {e.columns} columns" \
                    f"{_change(e.columns_change)}"
        if e.status == "added":
            body += "  (added)"
    return f"{head}  {body}  {e.subject}"


def _change(delta: int | None) -> str:
    return "" if delta is None else f" ({delta:+,})"


# ----- diff ----------------------------------------------------------------------------
def split_args(repo: Repo, args: list[str]) -> tuple[list[str], list[str]]:
    """Leading arguments that name revisions (at most two, and not a path in the work
    tree), then paths."""
    revs: list[str] = []
    for i, arg in enumerate(args):
        if len(revs) == 2 or (repo.workdir is not None and os.path.lexists(arg)):
            return revs, args[i:]
        try:
            repo.resolve(arg)
        except FatalError:
            return revs, args[i:]
        revs.append(arg)
    return revs, []


def diff(repo: Repo, args: list[str], summaries: bool = True) -> int:
    revs, raw_paths = split_args(repo, args)
    old_rev = revs[0] if revs else "HEAD"
    new_rev = revs[1] if len(revs) > 1 else None  # None: the work tree
    insight = Insight(repo)
    if new_rev is None and repo.workdir is None:
        new_rev = "HEAD"
    paths = [repo_path(repo, p) for p in raw_paths] or [""]
    old, new = _listing(insight, old_rev, paths), _listing(insight, new_rev, paths)
    for path, raw in zip(paths, raw_paths):
        if not any(under(name, path) for name in old.keys() | new.keys()):
            raise FatalError(f"{raw}: neither a revision nor a data path in "
                             f"{old_rev} or {new_rev or 'the work tree'}")
    failed = 0
    counts = {"A": 0, "D": 0, "M": 0}
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is not None and after is not None and before.oid == after.oid:
            continue
        code = "A" if before is None else "D" if after is None else "M"
        counts[code] += 1
        print(_diff_line(code, name, before, after))
        if summaries and is_table(name):
            failed += _summary(insight, before, after)
    total = sum(counts.values())
    if total:
        print(f"{total} data file{'s' if total != 1 else ''} changed: {counts['A']} added, "
              f"{counts['D']} removed, {counts['M']} modified")
    return 1 if failed else 0


def _listing(insight: Insight, rev: str | None, paths: list[str]) -> dict[str, FileVersion]:
    found: dict[str, FileVersion] = {}
    for path in paths:
        found.update(insight.listing(rev, path, missing_ok=True))
    return found


def _diff_line(code: str, name: str, before: FileVersion | None,
               after: FileVersion | None) -> str:
    if before is None or after is None:
        version = before or after
        return f"{code}  {name}  {human_bytes(version.size)}"  # type: ignore[union-attr]
    delta = after.size - before.size
    change = f" ({'+' if delta >= 0 else '-'}{human_bytes(abs(delta))})" if delta else ""
    return f"{code}  {name}  {human_bytes(before.size)} -> {human_bytes(after.size)}{change}"


def _summary(insight: Insight, before: FileVersion | None, after: FileVersion | None) -> int:
    """Print the table summary under a diff line; 1 when a profile could not be made."""
    from ..stats import diff_profiles

    try:
        if before is None or after is None:
            known = insight.known_profile(before or after)  # type: ignore[arg-type]
            if known is not None and known.rows is not None:
                print(f"    {known.rows:,} rows × {len(known.columns)} columns")
            return 0
        old = _profile(insight, before)
        new = _profile(insight, after)
    except FatalError as exc:
        warn(str(exc))
        return 1
    for line in diff_profiles(old, new).render().splitlines():
        print(f"    {line}")
    return 0


def _profile(insight: Insight, version: FileVersion) -> Any:
    target = Target(version.path, version.rev, [version], folder=False)
    return insight.profile(target).profile
