"""Statistics and schemas saved with the data, so a clone without the data can show them.

Layout (committed, plain git files, never routed through the data filter: the folder has its
own ``.gitattributes``)::

    .gitdata-stats/<key>.json                  a profile (git_data.stats.Profile JSON)
    .gitdata-stats/schema/<path>.json          the schema of one data file or folder
    .gitdata-stats/.gitattributes              "* !filter !diff !merge" (plain text)

``<key>`` is the hex of the file's oid (a folder's key hashes its files' paths and oids), so a
profile saved once describes that content in every revision and under any name. Profiles
computed locally are also remembered, uncommitted, in ``<cache>/stats/<version>/<key>.json``.
The folder is ``.gitdata-stats`` because ``.gitdata`` is the shared configuration file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__, pointer, safeio
from ..config import Config
from ..errors import FatalError
from ..gitrepo import Repo
from ..progress import warn

if TYPE_CHECKING:
    from ..stats import Profile, Schema

STATS_DIR = ".gitdata-stats"
SCHEMA_DIR = f"{STATS_DIR}/schema"
ATTRIBUTES = "# git-data statistics and schemas: small JSON, stored in git itself\n" \
             "* !filter !diff !merge\n"


def profile_path(key: str) -> str:
    return f"{STATS_DIR}/{key}.json"


def schema_path(path: str) -> str:
    if not path:
        raise FatalError("a schema belongs to one data file or folder; name one")
    return f"{SCHEMA_DIR}/{path}.json"


class SavedStats:
    """Finds saved profiles and schemas (a revision, the work tree, HEAD, the local cache)
    and saves new ones into the work tree, staged."""

    def __init__(self, repo: Repo, config: Config) -> None:
        self.repo = repo
        self.local_dir = config.cache_dir / "stats" / __version__

    # ----- reading -------------------------------------------------------------------
    def _places(self, rev: str | None) -> list[tuple[str, str | None]]:
        """(description, revision or None for the work tree), most specific first."""
        places: list[tuple[str, str | None]] = []
        if rev is not None:
            places.append((f"at {rev}", rev))
        if self.repo.workdir is not None:
            places.append(("in the work tree", None))
        if rev != "HEAD" and self.repo.head_commit() is not None:
            places.append(("at HEAD", "HEAD"))
        return places

    def read(self, rel: str, rev: str | None) -> bytes | None:
        """The bytes of ``rel`` at ``rev`` (None: the work tree), or None."""
        if rev is None:
            try:
                return (self.repo.root / rel).read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                return None
        try:
            entry = self.repo.resolve(rev).tree[rel]
        except KeyError:
            return None
        if entry.type_str != "blob":
            return None
        data: bytes = self.repo.pygit[entry.id].data
        return None if _is_pointer(data) else data

    def find(self, key: str, rev: str | None) -> tuple[Profile, str] | None:
        """The saved profile for ``key`` and where it was found, or None."""
        from ..stats import Profile, StatsError

        rel = profile_path(key)
        for where, place in self._places(rev):
            data = self.read(rel, place)
            if data is None:
                continue
            try:
                return Profile.from_json(data), f"saved in {rel} {where}"
            except StatsError as exc:
                warn(f"ignoring {rel} {where}: {exc}")
        return self._find_local(key)

    def _find_local(self, key: str) -> tuple[Profile, str] | None:
        from ..stats import Profile, StatsError

        try:
            data = (self.local_dir / f"{key}.json").read_bytes()
            return Profile.from_json(data), "computed earlier (local statistics cache)"
        except (OSError, StatsError):
            return None

    def find_schema(self, path: str, rev: str | None) -> tuple[Schema, str] | None:
        from ..stats import Schema

        rel = schema_path(path)
        for where, place in self._places(rev):
            data = self.read(rel, place)
            if data is not None:
                return Schema.from_json(data), f"{rel} {where}"
        return None

    # ----- writing -------------------------------------------------------------------
    def remember(self, key: str, profile: Profile) -> None:
        """Keep a computed profile in the local (uncommitted) statistics cache."""
        try:
            _atomic_write(self.local_dir / f"{key}.json", profile.to_json().encode())
        except OSError:
            pass  # a read-only shared cache only costs a recomputation later

    def save(self, key: str, profile: Profile) -> str:
        """Write the profile under .gitdata-stats/ in the work tree and stage it."""
        return self._save(profile_path(key), profile.to_json(indent=2) + "\n")

    def save_schema(self, path: str, schema: Schema) -> str:
        return self._save(schema_path(path), schema.to_json() + "\n")

    def _save(self, rel: str, text: str) -> str:
        if self.repo.workdir is None:
            raise FatalError(f"{self.repo.git_dir} has no work tree; --save needs a checkout")
        root = self.repo.root
        attributes = root / STATS_DIR / ".gitattributes"
        if not attributes.exists():
            _atomic_write(attributes, ATTRIBUTES.encode(), root)
        _atomic_write(root / rel, text.encode(), root)
        self.repo.git("add", "-f", "--", f"{STATS_DIR}/.gitattributes", rel)
        return rel


def _is_pointer(data: bytes) -> bool:
    if len(data) > pointer.MAX_POINTER_SIZE:
        return False
    try:
        return pointer.parse(data) is not None
    except pointer.PointerError:
        return True


def _atomic_write(path: Path, data: bytes, root: Path | None = None) -> None:
    """``root``: the work tree; no folder below it is followed if it is a link."""
    safeio.write_bytes(path, data, root=root)


def load_schema_file(path: str) -> Any:
    from ..stats import Schema

    try:
        with open(path, "rb") as stream:
            return Schema.from_json(stream.read())
    except OSError as exc:
        raise FatalError(f"{path}: cannot read the schema ({exc.strerror})") from None
