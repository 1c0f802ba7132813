"""`git data ls-files [REV]`: the pointers in a revision, read from the object database."""

from __future__ import annotations

import json

from ..gitrepo import Repo


def ls_files(repo: Repo, rev: str, as_json: bool) -> int:
    entries = repo.rev_pointers(rev)
    if as_json:
        print(json.dumps([{"path": e.path, "oid": e.oid, "size": e.size} for e in entries],
                         indent=2))
        return 0
    for e in entries:
        print(f"{e.oid.split(':', 1)[1][:12]}  {e.size:>12}  {e.path}")
    return 0
