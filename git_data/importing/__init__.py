"""`git data import lfs` / `git data import dvc`: another tool's large files become git-data's.

Data flows the same way for both tools (``lfs.py``, ``dvc.py`` find what to import):

1. the tool's objects (``.git/lfs/objects``, the DVC cache; fetched by the tool itself when
   missing) are streamed once each into the git-data cache (``ingest``): one read computes
   git-data's oid and the tool's own digest (sha256, md5), and a size or digest that
   disagrees with the committed pointer refuses the object, naming it, before it is adopted;
   each (tool digest -> git-data oid) is recorded in ``$GIT_COMMON_DIR/data/imported``, so a
   rerun hashes nothing twice;
2. a new tree is built in a temporary index (``build_tree``): pointer blobs replace the
   tool's pointers, and the tool's metadata files are rewritten or removed;
3. the work tree follows (``apply``): the changed entries are set in the index (the others
   keep their stat data), every changed path is written through safeio (a data file as its
   pointer text first), and ``materialize`` fills the data files from the cache and records
   their stat data in the index.

All repository content (pointers, .dvc files, manifests, .gitattributes) is untrusted:
digests and sizes are checked against the pattern they must have, every path goes through
``safeio.relative_parts``, and no link is followed. A marker
(``$GIT_DIR/data/import-pending``: the commit before and the one being made) lets a run
killed anywhere be finished by running the same command again, although the work tree it
left is no longer clean.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .. import appendlog, hashing, pointer, safeio
from ..cache import Cache
from ..config import Config
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo, run_git
from ..materialize import materialize
from ..progress import human_bytes, note

MARKER = "import-pending"
RECORD = "imported"
DATA_ATTRS = "filter=data diff=data merge=data -text"
ZERO = "0" * 40


@dataclass
class Plan:
    """What one import changes in a tree: path -> (mode, blob sha) to write, and paths to
    remove."""

    writes: dict[str, tuple[str, str]] = field(default_factory=dict)
    remove: set[str] = field(default_factory=set)


class Importer:
    """The git-data side of an import: the cache, the hash algorithm and the record."""

    def __init__(self, repo: Repo, algo: str | None = None) -> None:
        self.repo = repo
        config = Config(repo)
        self.cache = Cache(config.cache_dir)
        self.algo = algo or config.hash_algorithm
        self.record_path = repo.common_dir / "data" / RECORD
        self.known: dict[str, pointer.Pointer] = {}
        for line in appendlog.complete_lines(self.record_path):
            key, _, rest = line.partition("\t")
            oid, _, size = rest.partition("\t")
            if size.isdigit() and pointer.is_oid(oid):
                self.known[key] = pointer.Pointer(oid, int(size))

    def cached(self, digest: str) -> pointer.Pointer | None:
        """The git-data pointer of an object imported before (and still cached)."""
        found = self.known.get(f"{digest}>{self.algo}")
        return found if found is not None and self.cache.has(found.oid) else None

    def ingest(self, stream: BinaryIO, size: int, digest: str, what: str,
               check: Callable[[], hashing.Hasher] | None = None) -> pointer.Pointer:
        """Stream one object into the cache, checking its size and ``digest``
        (``algo:hex``) in the same pass; ``check`` makes the hasher (default: the digest's
        algorithm). Refuses, naming ``what``, an object whose bytes disagree."""
        algo, expected = digest.split(":", 1)
        with self.cache.writer(self.algo) as writer:
            checker = writer.hasher if algo == self.algo and check is None else (
                check() if check else hashlib.new(algo))
            total = _copy_into(stream, writer, checker, writer.hasher is checker)
            if total != size:
                writer.abort()
                raise FatalError(f"{what} is {total} bytes, its pointer says {size}; the "
                                 "object is corrupt or truncated: fetch it again")
            if checker.hexdigest() != expected:
                writer.abort()
                raise FatalError(f"{what} is corrupt: its bytes do not hash to {digest}; "
                                 "fetch it again (or remove it) and rerun the import")
            oid = writer.commit()
        found = pointer.Pointer(oid, size)
        self.known[f"{digest}>{self.algo}"] = found
        appendlog.append(self.record_path, f"{digest}>{self.algo}\t{oid}\t{size}\n")
        return found


def _copy_into(stream: BinaryIO, writer: object, checker: hashing.Hasher,
               shared: bool) -> int:
    """Copy to the end: the writer hashes, the checker too unless it is the same hasher."""
    buf = bytearray(hashing.CHUNK)
    view = memoryview(buf)
    total = 0
    while n := stream.readinto(view):  # type: ignore[attr-defined]
        writer.write(view[:n])  # type: ignore[attr-defined]
        if not shared:
            checker.update(view[:n])
        total += n
    return total


def open_object(path: Path) -> tuple[BinaryIO, int]:
    """A tool's object file for reading, never through a link: (stream, size)."""
    stream = safeio.open_nofollow(None, path)
    return stream, os.fstat(stream.fileno()).st_size


def tool(name: str) -> str | None:
    """The tool's executable: on PATH, else beside this interpreter (a venv's bin)."""
    import sys

    found = shutil.which(name)
    if found is None:
        beside = Path(sys.executable).parent / name
        found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None
    return found


# ----- the repository before and after ------------------------------------------------------
def start(repo: Repo, kind: str) -> tuple[str, dict[str, str] | None]:
    """HEAD, and the marker of a run killed before it finished (None when there is none).
    Refuses a repository without commits, without git-data's filter, or with changes."""
    repo.root  # noqa: B018 (a work tree is needed: refused in one line without)
    head = repo.git("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    if not head.strip():
        raise FatalError(f"{repo.root} has no commit yet; nothing to import")
    if not repo.git("config", "--get", "filter.data.process", check=False).strip():
        raise FatalError("git-data's filter is not configured here; run `git data install` "
                         "first, then the import again")
    marker = _read_marker(repo)
    if marker is not None and marker.get("kind") == kind and (head.decode().strip() in (
            marker.get("old"), marker.get("new")) or marker.get("new") == ""):
        note(f"finishing the import that stopped at {marker['old'][:12]}")
        return head.decode().strip(), marker
    dirty = repo.git("status", "--porcelain", "--untracked-files=no", "-z")
    if dirty.strip(b"\0"):
        first = dirty.split(b"\0")[0][3:].decode(errors="replace")
        raise FatalError(f"the work tree has changes ({first} and maybe more); commit or "
                         "stash them first, then import")
    return head.decode().strip(), None


def _read_marker(repo: Repo) -> dict[str, str] | None:
    head = safeio.read_head(repo.git_dir / "data" / MARKER, 4096)
    try:
        data = json.loads(head or b"null")
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str)
                                             for k in ("kind", "old", "new")):
        return None  # torn or foreign: ignored, and the work tree must be clean
    return data


def write_marker(repo: Repo, kind: str, old: str, new: str) -> None:
    safeio.write_text(repo.git_dir / "data" / MARKER,
                      json.dumps({"kind": kind, "old": old, "new": new}), root=repo.git_dir)


def clear_marker(repo: Repo) -> None:
    (repo.git_dir / "data" / MARKER).unlink(missing_ok=True)


def tree_blobs(repo: Repo, rev: str) -> dict[str, tuple[str, str, int]]:
    """path -> (mode, blob sha, size) of every file in ``rev``'s tree."""
    found = {}
    for item in repo.git("ls-tree", "-r", "-z", "--long", "--full-tree", rev).split(b"\0"):
        if not item:
            continue
        meta, _, path = item.partition(b"\t")
        mode, kind, sha, size = meta.decode().split()
        if kind == "blob":
            found[path.decode(errors="surrogateescape")] = (mode, sha,
                                                            int(size) if size != "-" else 0)
    return found


def read_blobs(repo: Repo, shas: Iterable[str]) -> dict[str, bytes]:
    """The contents of these (small) blobs, in one `cat-file --batch`."""
    unique = list(dict.fromkeys(shas))
    if not unique:
        return {}
    out = repo.git("cat-file", "--batch", input="".join(f"{s}\n" for s in unique).encode())
    found, pos = {}, 0
    for sha in unique:
        eol = out.index(b"\n", pos)
        header = out[pos:eol].split()
        if len(header) != 3:
            pos = eol + 1
            continue
        size = int(header[2])
        found[sha] = out[eol + 1:eol + 1 + size]
        pos = eol + 1 + size + 1
    return found


def write_blob(repo: Repo, data: bytes) -> str:
    return str(repo.pygit.create_blob(data))


def build_tree(repo: Repo, base: str, plan: Plan) -> str:
    """``base``'s tree with the plan applied, built in a temporary index: the tree's id."""
    index = repo.git_dir / "data" / "import-index"
    index.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    cwd = repo.root
    try:
        run_git(["read-tree", base], cwd=cwd, env=env)
        lines = [f"0 {ZERO}\t{p}" for p in sorted(plan.remove)]
        lines += [f"{mode} {sha}\t{p}" for p, (mode, sha) in sorted(plan.writes.items())]
        info = b"".join(line.encode(errors="surrogateescape") + b"\0" for line in lines)
        run_git(["update-index", "-z", "--index-info"], cwd=cwd, input=info, env=env)
        return run_git(["write-tree"], cwd=cwd, env=env).decode().strip()
    finally:
        index.unlink(missing_ok=True)


def commit(repo: Repo, tree: str, parent: str, message: str) -> str:
    return repo.git("commit-tree", tree, "-p", parent, "-m", message).decode().strip()


def apply(repo: Repo, importer: Importer, old: str, new: str) -> tuple[int, int]:
    """Move the index and the work tree from commit ``old`` to ``new`` (HEAD is already
    ``new``): changed entries set in the index, changed files written through safeio, data
    files from the cache. Returns the data files written (empty ones included) and their
    bytes."""
    changes = _changes(repo, old, new)
    blobs = read_blobs(repo, [sha for mode, sha, _ in changes.values() if mode != "-"])
    data: list[PointerEntry] = []
    plain: list[str] = []
    empty = 0
    _set_index(repo, changes)
    for path, (mode, sha, _) in sorted(changes.items()):
        parts = safeio.relative_parts(path)
        if mode == "-":
            _remove(repo.root, parts)
            continue
        content = blobs.get(sha)
        if content is None:
            raise FatalError(f"{path}: its new content ({sha}) is missing from the repository")
        parsed = pointer.parse(content)
        if parsed is not None:
            data.append(PointerEntry(path, parsed.oid, parsed.size))
        else:
            plain.append(path)
            empty += not content  # an imported empty file stays an empty file
        _write(repo.root, parts, content, 0o755 if mode == "100755" else 0o644)
    if plain:  # their stat data: small files, hashed by git
        repo.git("update-index", "-q", "-z", "--stdin",
                 input=b"".join(p.encode(errors="surrogateescape") + b"\0" for p in plain))
    written, missing = materialize(repo, importer.cache, data)
    if missing:
        raise FatalError(f"{missing} imported file(s) are not in the cache; run the import "
                         "again")
    return len(data) + empty, sum(e.size for e in data)


def _set_index(repo: Repo, changes: dict[str, tuple[str, str, int]]) -> None:
    """The changed entries as in the new commit; every other entry keeps its stat data.
    (`read-tree -m` would refuse a work tree a killed run left half-written.)"""
    lines = [f"0 {ZERO}\t{p}" if mode == "-" else f"{mode} {sha}\t{p}"
             for p, (mode, sha, _) in sorted(changes.items())]
    if lines:
        repo.git("update-index", "-z", "--index-info",
                 input=b"".join(x.encode(errors="surrogateescape") + b"\0" for x in lines))


def _changes(repo: Repo, old: str, new: str) -> dict[str, tuple[str, str, int]]:
    """path -> (new mode or '-', new blob sha, size or -1) for each file that differs."""
    out = repo.git("diff-tree", "-r", "-z", "--no-renames", "--raw", old, new)
    fields = out.split(b"\0")
    found: dict[str, tuple[str, str, int]] = {}
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].decode().lstrip(":").split()
        if len(meta) < 5:
            continue
        path = fields[i + 1].decode(errors="surrogateescape")
        new_mode, new_sha, status = meta[1], meta[3], meta[4]
        if status == "D" or new_mode == "000000":
            found[path] = ("-", "", -1)
        elif new_mode in ("100644", "100755"):
            found[path] = (new_mode, new_sha, 0)
    return found


def _write(root: Path, parts: list[str], content: bytes, mode: int) -> None:
    dir_fd = safeio.open_dir(root, "/".join(parts[:-1]), create=True)
    try:
        existing = _lstat(dir_fd, parts[-1])
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise FatalError(f"{'/'.join(parts)} is a folder in the work tree, a file in the "
                             "import; move it aside and rerun")
        with safeio.AtomicFile(dir_fd, parts[-1], mode) as out:
            out.write(content)
            out.commit(exchange=existing is not None)
    finally:
        os.close(dir_fd)


def _remove(root: Path, parts: list[str]) -> None:
    try:
        dir_fd = safeio.open_dir(root, "/".join(parts[:-1]))
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        os.unlink(parts[-1], dir_fd=dir_fd)  # a link itself, never its target
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        pass
    finally:
        os.close(dir_fd)


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def finish_commit(repo: Repo, importer: Importer, kind: str, head: str,
                  marker: dict[str, str] | None, plan_tree: Callable[[], tuple[str, int]],
                  message: str) -> int:
    """The default import: one new commit on the current branch, then the work tree. A run
    that finds the marker of an earlier one picks up where it stopped."""
    if marker is not None and head == marker["new"]:
        old, new = marker["old"], head
    else:
        tree, _ = plan_tree()
        if tree == repo.git_text("rev-parse", f"{head}^{{tree}}"):
            clear_marker(repo)
            note(f"nothing to import from {kind}: HEAD has nothing left to convert")
            return 0
        new = commit(repo, tree, head, message)
        write_marker(repo, kind, head, new)
        repo.git("update-ref", "-m", f"git data import {kind}", "HEAD", new, head)
        old = head
    files, size = apply(repo, importer, old, new)
    clear_marker(repo)
    note(f"imported {files} file(s), {human_bytes(size)} ({size} bytes) from {kind} in "
         f"commit {new[:12]}")
    return 0


# ----- .gitattributes and .gitignore --------------------------------------------------------
_ATTR_RENAME = {"filter=lfs": "filter=data", "diff=lfs": "diff=data", "merge=lfs": "merge=data"}


def rewrite_lfs_attributes(text: bytes) -> bytes:
    """git-lfs's attribute lines as git-data's: ``filter=lfs`` (and ``diff``/``merge``)
    become ``=data`` with ``-text``; other lines, comments and line ends stay as they are."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        end = line[len(body):]
        pattern, attrs = _split_attr_line(body.decode(errors="surrogateescape"))
        if pattern is None or "filter=lfs" not in attrs:
            out.append(line)
            continue
        new = [_ATTR_RENAME.get(a, a) for a in attrs if a != "lockable"]
        if "-text" not in new:
            new.append("-text")
        out.append(f"{pattern} {' '.join(new)}".encode(errors="surrogateescape") + end)
    return b"".join(out)


def _split_attr_line(line: str) -> tuple[str | None, list[str]]:
    """(pattern, attributes) of a gitattributes line; (None, []) for blanks and comments."""
    stripped = line.lstrip()
    if not stripped or stripped.startswith("#"):
        return None, []
    if stripped.startswith('"'):
        match = re.match(r'"(?:[^"\\]|\\.)*"', stripped)
        if match is None:
            return None, []
        return match.group(0), stripped[match.end():].split()
    pattern, *attrs = stripped.split()
    return pattern, attrs


def run_tool(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run another tool (git-lfs, dvc) in the work tree; its output stays on stderr."""
    return subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
