"""Versions of data files and folders for the insight commands (stats, show, schema,
validate, sample, log, diff), and their profiles.

A version is either committed (``rev``: read from git's object database, no checkout) or the
work tree (``rev`` None: the files git tracks, as they are on disk). Its bytes come from the
work tree, the local cache, or are streamed straight from a store; its oid keys its saved
statistics. A profile is looked up before it is computed: the one saved in the repository
for that oid, then the local statistics cache, then one streaming pass over the bytes.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import pointer
from ..config import Config
from ..errors import FatalError
from ..gitrepo import Repo
from ..hashing import hash_bytes, hash_file, new_hasher
from .saved import SavedStats
from .source import ObjectSource, blob_at, normalize_path, tree_entry

if TYPE_CHECKING:
    from ..stats import Profile

SEEKABLE_EXTENSIONS = (".parquet", ".pq")  # read through their footer: need a seekable file
TABLE_EXTENSIONS = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".parquet", ".pq",
                    ".csv.gz", ".tsv.gz", ".jsonl.gz", ".ndjson.gz")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class FileVersion:
    """One file at one revision (``rev`` None: the work tree)."""

    path: str
    rev: str | None
    oid: str  # the data oid; for plain content in git, the hash of its bytes
    size: int
    on_disk: bool = False  # its real bytes are in the work tree
    plain_blob: Any = None  # the blob id when it is plain content in git, not a pointer

    @property
    def label(self) -> str:
        return self.path if self.rev is None else f"{self.path}@{self.rev}"

    @property
    def key(self) -> str:
        return pointer.split_oid(self.oid)[1]


@dataclass
class Target:
    """What one PATH argument names: a file, or a folder (its data files)."""

    path: str  # repository-relative; '' is the whole repository
    rev: str | None
    files: list[FileVersion]
    folder: bool

    @property
    def name(self) -> str:
        return self.path or "."

    @property
    def label(self) -> str:
        return self.name if self.rev is None else f"{self.name}@{self.rev}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def key(self) -> str:
        if not self.folder:
            return self.files[0].key
        return folder_key(self.path, self.files)


def folder_key(path: str, files: list[FileVersion]) -> str:
    """A key for a folder's contents: its files' paths (relative to it) and oids."""
    hasher = new_hasher("xxh128")
    hasher.update(b"git-data folder\n")
    prefix = len(path) + 1 if path else 0
    for f in sorted(files, key=lambda f: f.path):
        hasher.update(f"{f.path[prefix:]}\0{f.oid}\n".encode(errors="surrogateescape"))
    return hasher.hexdigest()


def parse_pointer(data: bytes) -> pointer.Pointer | None:
    try:
        return pointer.parse(data)
    except pointer.PointerError:
        return None


def is_table(path: str) -> bool:
    return path.lower().endswith(TABLE_EXTENSIONS)


def under(path: str, folder: str) -> bool:
    return not folder or path == folder or path.startswith(folder + "/")


def repo_path(repo: Repo, raw: str) -> str:
    """A command-line path (relative to the current directory) as a repository path."""
    if repo.workdir is None:
        return normalize_path(raw)
    full = os.path.normpath(os.path.join(os.path.realpath(os.getcwd()), raw))
    rel = os.path.relpath(full, os.path.realpath(repo.workdir))
    if rel == ".." or rel.startswith(".." + os.sep):
        raise FatalError(f"{raw} is outside the repository {repo.workdir}")
    return normalize_path(rel)


@dataclass
class Found:
    profile: Profile
    source: str  # where it came from, for a note to the user


@dataclass
class Insight:
    """Versions, bytes and profiles of one repository's data files."""

    repo: Repo
    config: Config = field(init=False)
    objects: ObjectSource = field(init=False)
    saved: SavedStats = field(init=False)
    sources: set[str] = field(default_factory=set, init=False)
    _modified: dict[str, set[str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.config = Config(self.repo)
        self.objects = ObjectSource(self.repo, self.config)
        self.saved = SavedStats(self.repo, self.config)

    # ----- which files -----------------------------------------------------------------
    def target(self, path: str, rev: str | None) -> Target:
        """The file or folder ``path`` (repository-relative) at ``rev`` (None: work tree)."""
        if rev is not None:
            return self._rev_target(path, rev)
        if self.repo.workdir is None:  # a bare repository has only committed versions
            return self._rev_target(path, "HEAD")
        return self._worktree_target(path)

    def _rev_target(self, path: str, rev: str) -> Target:
        entry = tree_entry(self.repo, path, rev)
        if path and entry.type_str == "blob":
            return Target(path, rev, [self.rev_file(path, rev)], folder=False)
        files = self.listing(rev, path)
        if not files:
            raise FatalError(f"{path or 'the repository'} has no data files in {rev}; "
                             f"`git data ls-files {rev}` lists them")
        return Target(path, rev, list(files.values()), folder=True)

    def rev_file(self, path: str, rev: str) -> FileVersion:
        ptr, blob_id = blob_at(self.repo, path, rev)
        if ptr is not None:
            return FileVersion(path, rev, ptr.oid, ptr.size)
        data = self.repo.pygit[blob_id].data
        return FileVersion(path, rev, hash_bytes(data, self.config.hash_algorithm), len(data),
                           plain_blob=blob_id)

    def _worktree_target(self, path: str) -> Target:
        index = self.repo.pygit.index
        index.read()
        if path and path in index:
            entry = index[path]
            ptr = self.repo.blob_pointer(entry.id)
            version = self._worktree_file(path, ptr, path)
            return Target(path, None, [version], folder=False)  # type: ignore[list-item]
        files = self.listing(None, path)
        if files:
            return Target(path, None, list(files.values()), folder=True)
        if path and (self.repo.root / path).exists():
            raise FatalError(f"{path} is not tracked; `git data add {path}` and commit it "
                             "first")
        raise FatalError(f"{path or 'the repository'}: no such tracked file or folder in the "
                         "work tree; pass --rev REV for a committed version")

    def listing(self, rev: str | None, folder: str = "",
                missing_ok: bool = False) -> dict[str, FileVersion]:
        """The data files (pointers) under ``folder`` at ``rev`` (None: the work tree)."""
        if rev is None:
            return self._worktree_listing(folder)
        if missing_ok and folder:
            try:
                self.repo.resolve(rev).tree[folder]
            except KeyError:
                return {}
        entry = tree_entry(self.repo, folder, rev)
        if folder and entry.type_str == "blob":
            found = self.rev_file(folder, rev)
            return {} if found.plain_blob is not None else {folder: found}
        tree = self.repo.pygit[entry.id] if folder else entry
        prefix = folder + "/" if folder else ""
        return {e.path: FileVersion(e.path, rev, e.oid, e.size)
                for e in self.repo.tree_pointers(tree, prefix)}

    def _worktree_listing(self, folder: str) -> dict[str, FileVersion]:
        files: dict[str, FileVersion] = {}
        for entry in self.repo.index_pointers():
            if under(entry.path, folder):
                ptr = pointer.Pointer(entry.oid, entry.size)
                version = self._worktree_file(entry.path, ptr, folder, missing_ok=True)
                if version is not None:
                    files[entry.path] = version
        return files

    def modified(self, folder: str = "") -> set[str]:
        """Paths whose work-tree file git sees as changed since it was staged."""
        if folder not in self._modified:
            spec = ["--", folder] if folder else []
            out = self.repo.git("diff-files", "--name-only", "-z", *spec, check=False)
            self._modified[folder] = {p.decode(errors="surrogateescape")
                                      for p in out.split(b"\0") if p}
        return self._modified[folder]

    def _worktree_file(self, path: str, ptr: pointer.Pointer | None, scope: str,
                       missing_ok: bool = False) -> FileVersion | None:
        """The work-tree version of ``path`` (``ptr``: its staged pointer, if any); git's
        stat cache over ``scope`` says which files changed and need hashing."""
        full = self.repo.root / path
        try:
            size = os.stat(full).st_size
        except (FileNotFoundError, NotADirectoryError):
            if missing_ok:
                return None
            raise FatalError(f"{path} is deleted in the work tree; pass --rev HEAD for the "
                             "committed version") from None
        if size <= pointer.MAX_POINTER_SIZE:
            on_disk = parse_pointer(full.read_bytes())
            if on_disk is not None:  # only the pointer is checked out
                return FileVersion(path, None, on_disk.oid, on_disk.size)
        if ptr is not None and path not in self.modified(scope):
            return FileVersion(path, None, ptr.oid, ptr.size, on_disk=True)
        algo = ptr.algo if ptr is not None else self.config.hash_algorithm
        oid, size = hash_file(str(full), algo)
        return FileVersion(path, None, oid, size, on_disk=True)

    # ----- bytes -----------------------------------------------------------------------
    def open(self, version: FileVersion, seekable: bool = False) -> BinaryIO:
        if version.on_disk:
            self.sources.add("the work tree")
            try:
                return open(self.repo.root / version.path, "rb")
            except OSError as exc:
                raise FatalError(f"{version.path}: cannot open ({exc.strerror})") from None
        if version.plain_blob is not None:
            self.sources.add("git")
            return io.BytesIO(self.repo.pygit[version.plain_blob].data)
        stream = self.objects.open(version.oid, version.size, version.label, seekable)
        self.sources.add(self.objects.last)
        return stream

    def open_table(self, version: FileVersion) -> BinaryIO:
        return self.open(version, seekable=version.path.lower().endswith(SEEKABLE_EXTENSIONS))

    # ----- profiles --------------------------------------------------------------------
    def profile(self, target: Target, recompute: bool = False, options: Any = None) -> Found:
        """The saved profile of the target's content when there is one, else computed.
        With reading ``options`` (stats.TextOptions) it is always computed and not
        remembered: saved profiles are of the content read the default way."""
        key = target.key
        if options is not None:
            self.sources = set()
            result = self.compute(target, options)
            return Found(result, "computed from " + " and ".join(sorted(self.sources) or
                                                                 ["git"]) + " (with options)")
        if not recompute:
            found = self.saved.find(key, target.rev)
            if found is not None:
                return Found(replace(found[0], name=target.name), f"statistics {found[1]}")
        self.sources = set()
        result = self.compute(target)
        self.saved.remember(key, result)
        return Found(result, "computed from " + " and ".join(sorted(self.sources) or ["git"]))

    def known_profile(self, version: FileVersion) -> Profile | None:
        """A profile saved or remembered for this version, never computed."""
        found = self.saved.find(version.key, version.rev)
        return found[0] if found is not None else None

    def compute(self, target: Target, options: Any = None) -> Profile:
        from ..stats import profile, profile_folder

        if not target.folder:
            version = target.files[0]
            with self.open_table(version) as stream:
                return profile(stream, version.path, version.size, options=options)
        skip = len(target.path) + 1 if target.path else 0
        entries = [(v.path[skip:], partial(self.open, v), v.size) for v in target.files]
        result = profile_folder(entries, name=target.name)
        if not result.rows:
            raise FatalError(f"{target.label}: none of its {len(entries)} data files is an "
                             "image; profile a folder of images, or each table file by name")
        return result
