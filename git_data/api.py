"""Python API: read any version of a data file without a checkout.

    git_data.open("data/train.csv", rev="v1")   -> binary file object
    git_data.ls("HEAD")                         -> [{"path", "oid", "size"}, ...]
    git_data.stats("data/train.csv", rev="v1")  -> git_data.stats.Profile

The engine is insight/source.py (insight/versions.py for ``stats``). Bytes come from the
local cache when it has the object, else they are streamed straight from the store and
hashed on the way (a mismatch raises at the end of the stream; a reader that stops early,
like an image header parser, cannot be verified). ``seekable=True`` (Parquet needs it)
first downloads a missing object into the cache, verified, and reads it there. A path that
is plain content in git (not a pointer) is returned as it is in git. Paths are relative to
the repository root.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, BinaryIO

from .gitrepo import Repo
from .insight.source import ObjectSource, blob_at, branch_for, normalize_path

if TYPE_CHECKING:
    from .stats import Profile


def open(path: str, rev: str = "HEAD", repo: str | os.PathLike[str] = ".",  # noqa: A001
         *, seekable: bool = False) -> BinaryIO:
    """A readable binary file with the bytes of ``path`` at ``rev``."""
    git = Repo(repo)
    path = normalize_path(path)
    ptr, blob_id = blob_at(git, path, rev)
    if ptr is None:
        return io.BytesIO(git.pygit[blob_id].data)
    source = ObjectSource(git, branch=branch_for(git, rev))
    return source.open(ptr.oid, ptr.size, f"{path}@{rev}", seekable)


def ls(rev: str = "HEAD", repo: str | os.PathLike[str] = ".") -> list[dict[str, object]]:
    """The data files (pointers) in ``rev``."""
    return [{"path": e.path, "oid": e.oid, "size": e.size} for e in Repo(repo).rev_pointers(rev)]


def stats(path: str, rev: str | None = "HEAD", repo: str | os.PathLike[str] = ".", *,
          recompute: bool = False) -> Profile:
    """The statistics of ``path`` (a file, or a folder of images) at ``rev`` (None: the work
    tree): the profile saved in the repository for that version when there is one, else
    computed in one streaming pass from the cache or the store. In a notebook the returned
    Profile displays itself as an HTML summary."""
    from .insight.versions import Insight

    insight = Insight(Repo(repo))
    target = insight.target(normalize_path(path), rev)
    return insight.profile(target, recompute=recompute).profile
