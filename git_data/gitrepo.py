"""Repository access: the git CLI for porcelain and configuration, pygit2 for reading objects
(trees, commits, pointer blobs) without a checkout.

Everything that asks git a question goes through here, so the rest of the package never builds
a git command line by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from . import appendlog, pointer
from .errors import FatalError

if TYPE_CHECKING:  # pygit2 costs ~150 ms to import: only the commands that read objects pay
    import pygit2


# index stages by preference when a path is listed more than once (a merge conflict):
# merged, then ours, theirs, the common base
STAGE_RANK = {b"0": 0, b"2": 1, b"3": 2, b"1": 3}


@dataclass(frozen=True)
class PointerEntry:
    """A pointer found in a tree or the index."""

    path: str
    oid: str
    size: int


def run_git(args: Sequence[str], cwd: str | os.PathLike[str] | None = None, *,
            input: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> bytes:
    """Run git, return stdout. A failure becomes a FatalError quoting git's own message."""
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True,
                          env=env)
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit {proc.returncode}"
        raise FatalError(f"git {args[0]} failed: {detail}")
    return proc.stdout


class Repo:
    """One git repository (work tree optional)."""

    def __init__(self, path: str | os.PathLike[str] = ".") -> None:
        asked = ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
                 "--is-bare-repository", "--git-path", "hooks", "--git-path", "index",
                 "--show-object-format"]
        try:  # one git call where there is a work tree (every hook and filter start pays it)
            out = run_git([*asked, "--show-toplevel"], cwd=path, check=False).decode()
            lines = out.splitlines()
            if len(lines) != 7:  # bare, or inside .git: no top level to show
                lines = run_git(asked, cwd=path).decode().splitlines() + [""]
        except (FatalError, FileNotFoundError, NotADirectoryError) as exc:
            raise FatalError(f"{os.path.abspath(path)} is not inside a git repository; "
                             "run this inside one (or `git init` first)") from exc
        self.git_dir = Path(lines[0])
        self.common_dir = Path(lines[1])
        self.bare = lines[2] == "true"
        self._hooks_dir = Path(lines[3])
        self.index_path = Path(lines[4])  # $GIT_INDEX_FILE when set
        self.object_format = lines[5]  # sha1 or sha256
        self.workdir: Path | None = Path(lines[6]) if lines[6] and not self.bare else None
        self.unreadable: dict[str, str] = {}  # blob sha -> why its pointer cannot be read
        self.unreadable_reported = False

    # ----- running git -------------------------------------------------------------------
    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        return run_git(args, cwd=self.workdir or self.git_dir, input=input, check=check)

    def git_text(self, *args: str) -> str:
        return self.git(*args).decode().strip()

    @property
    def root(self) -> Path:
        """The work tree; commands that need one call this and get a clear error without it."""
        if self.workdir is None:
            raise FatalError(f"{self.git_dir} has no work tree; run this in a checkout")
        return self.workdir

    @cached_property
    def pygit(self) -> pygit2.Repository:
        import pygit2

        return pygit2.Repository(str(self.git_dir))

    def hooks_dir(self) -> Path:
        """Where git looks for hooks (core.hooksPath, else $GIT_DIR/hooks)."""
        return self._hooks_dir

    # ----- revisions and pointers --------------------------------------------------------
    def resolve(self, rev: str) -> pygit2.Commit:
        import pygit2

        try:
            obj = self.pygit.revparse_single(rev)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
            raise FatalError(f"revision '{rev}' does not exist in {self.git_dir}; "
                             "check `git log` for a valid one") from exc
        return commit

    def head_commit(self) -> pygit2.Commit | None:
        import pygit2

        try:
            return self.pygit.head.peel(pygit2.Commit)
        except (pygit2.GitError, KeyError):
            return None

    def tree_pointers(self, tree: pygit2.Tree | str, prefix: str = "") -> Iterator[PointerEntry]:
        """Every pointer blob in ``tree`` (a tree, commit or rev), recursively.

        git lists the tree with blob sizes in C (`ls-tree -r --long`) and only blobs small
        enough to be pointers are read, in one `cat-file --batch`: a 20,000-file tree costs
        two processes instead of 40,000 Python-level object reads.
        """
        treeish = tree if isinstance(tree, str) else str(tree.id)
        out = self.git("ls-tree", "-r", "-z", "--long", "--full-tree", treeish)
        candidates = []
        for item in out.split(b"\0"):
            if not item:
                continue
            meta, _, path = item.partition(b"\t")
            mode, kind, sha, size = meta.split()
            if kind == b"blob" and size != b"-" and int(size) <= pointer.MAX_POINTER_SIZE:
                candidates.append((prefix + path.decode(errors="surrogateescape"), sha.decode()))
        yield from self.read_pointers(candidates)

    def read_pointers(self, candidates: list[tuple[str, str]]) -> list[PointerEntry]:
        """Parse (path, blob sha) pairs of small blobs into pointers, in one git process
        at most: blobs seen before are answered by the memo."""
        memo, unknown = self._memo_and_unknown(sha for _, sha in candidates)
        return self._read_pointers(candidates, memo, unknown)

    def _read_pointers(self, candidates: list[tuple[str, str]], memo: BlobMemo,
                       unknown: list[str]) -> list[PointerEntry]:
        if unknown:
            memo.update(self._parse_blobs(unknown))
        if self.unreadable:
            self._report_unreadable(candidates)
        known = memo.known  # every sha here is looked up by now: read it without a call each
        return [PointerEntry(path, p[0], p[1]) for path, sha in candidates
                if (p := known.get(sha)) is not None]

    def _report_unreadable(self, candidates: list[tuple[str, str]]) -> None:
        """Pointers this version cannot read are skipped, with one line per process."""
        paths = [path for path, sha in candidates if sha in self.unreadable]
        if paths and not self.unreadable_reported:
            from .progress import warn

            self.unreadable_reported = True
            more = f" (and {len(paths) - 1} more like it)" if len(paths) > 1 else ""
            warn(f"{paths[0]}: {self.unreadable[dict(candidates)[paths[0]]]}; skipped{more}")

    def _parse_blobs(self, shas: list[str]) -> dict[str, pointer.Pointer | None]:
        out = self.git("cat-file", "--batch", input="".join(f"{s}\n" for s in shas).encode())
        parsed: dict[str, pointer.Pointer | None] = {}
        pos = 0
        for sha in shas:
            eol = out.index(b"\n", pos)
            header = out[pos:eol].split()
            if len(header) != 3:  # "<sha> missing" (a partial clone, say): no content follows
                pos = eol + 1
                continue
            size = int(header[2])
            data = out[eol + 1:eol + 1 + size]
            pos = eol + 1 + size + 1
            try:
                parsed[sha] = pointer.parse(data)
            except pointer.PointerError as exc:  # not remembered: a newer git-data may read it
                self.unreadable[sha] = str(exc)
        return parsed

    @cached_property
    def blob_memo(self) -> BlobMemo:
        return BlobMemo(self.common_dir / "data" / BlobMemo.FILE_NAME)

    def _memo_and_unknown(self, shas: Iterable[str]) -> tuple[BlobMemo, list[str]]:
        """The memo for these blobs and those of them it does not know. The shared memo
        serves big reads; a few blobs get a throw-away one, as git reads them faster than
        the memo file loads (a push of one commit, say)."""
        unique = list(dict.fromkeys(shas))
        memo = self.blob_memo if len(unique) >= BlobMemo.WORTH_IT else BlobMemo(None)
        return memo, memo.unknown(unique)

    def blob_pointer(self, blob_id: pygit2.Oid, odb: pygit2.Odb | None = None
                     ) -> pointer.Pointer | None:
        odb = odb or self.pygit.odb
        _, size = odb.read_header(blob_id)
        if size > pointer.MAX_POINTER_SIZE:
            return None
        data = odb.read(blob_id)[1]
        try:
            return pointer.parse(data)
        except pointer.PointerError:
            return None

    def rev_pointers(self, rev: str = "HEAD") -> list[PointerEntry]:
        return list(self.tree_pointers(str(self.resolve(rev).id)))

    def index_pointers(self, each_path_once: bool = False) -> list[PointerEntry]:
        """Pointers staged in the index. During a merge conflict a path is there at stages
        1-3 (base, ours, theirs), each listed; ``each_path_once`` keeps one per path (stage
        0, else ours, else theirs, else the base): what the work tree stands for. What must
        keep every object alive (gc, fsck) asks for all."""
        best: dict[str, tuple[int, str]] = {}
        entries = []
        for item in self.git("ls-files", "-s", "-z").split(b"\0"):
            if item:
                meta, _, raw = item.partition(b"\t")
                fields = meta.split()
                path, sha = raw.decode(errors="surrogateescape"), fields[1].decode()
                rank = STAGE_RANK.get(fields[2], 4) if len(fields) > 2 else 0
                if not each_path_once:
                    entries.append((path, sha))
                elif path not in best or rank < best[path][0]:
                    best[path] = (rank, sha)
        if each_path_once:
            entries = [(path, sha) for path, (_, sha) in best.items()]
        return self.blob_pointers(entries)

    def blob_pointers(self, entries: list[tuple[str, str]]) -> list[PointerEntry]:
        """Pointers among (path, blob sha) pairs of any size: sizes of blobs not in the memo
        are asked in one batch, and only blobs small enough to be pointers are read."""
        memo, unknown = self._memo_and_unknown(sha for _, sha in entries)
        if unknown:
            sizes = self.git("cat-file", "--batch-check=%(objectname) %(objectsize)",
                             input="".join(f"{s}\n" for s in unknown).encode()).split(b"\n")
            large = {}
            for line in sizes:
                parts = line.split()
                if len(parts) == 2 and int(parts[1]) > pointer.MAX_POINTER_SIZE:
                    large[parts[0].decode()] = None
            memo.update(large)
        # the same memo reads the small ones, so what it learns is kept whatever their number;
        # a sha not known yet is a small blob still to read (the lookups above found the rest)
        known, small = memo.known, _UNREAD
        candidates = [(p, s) for p, s in entries if known.get(s, small) is not None]
        return self._read_pointers(candidates, memo,
                                   [s for s in unknown if s not in memo])

    def current_branch(self) -> str | None:
        ref = self.git("symbolic-ref", "-q", "HEAD", check=False).decode().strip()
        if ref.startswith("refs/heads/"):
            return ref[len("refs/heads/"):]
        return None


# pointer.is_oid in one match: a memo line is checked when first used, 100,000 at a time
_OID_RE = re.compile("|".join(f"{algo}:[0-9a-f]{{{length}}}"
                              for algo, length in pointer.ALGORITHMS.items()))
_UNREAD = ("", 0)  # a marker: not a value the memo holds


class BlobMemo:
    """git blob sha -> the pointer it holds, or None for any other blob. Blobs never change,
    so an entry never goes stale; remembering them lets `status`, `pull` and `fsck` skip
    reading thousands of pointer blobs on every run.

    ``$GIT_COMMON_DIR/data/blob-pointers``: ``sha<TAB>oid<TAB>size`` or ``sha<TAB>-`` lines,
    appended (see appendlog.py); started afresh past ``MAX_BYTES``. A missing, torn or
    garbled line only costs a read: lines are checked when first used, not when the file
    loads.
    """

    FILE_NAME = "blob-pointers"
    MAX_BYTES = 32 << 20
    WORTH_IT = 200  # blobs to look up before loading the file pays

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._raw: dict[str, str] = {}
        # the lines looked up so far: sha -> (oid, size), None for a blob that is no pointer
        # (tuples, not Pointers: status makes 100,000 of them)
        self.known: dict[str, tuple[str, int] | None] = {}
        for line in appendlog.complete_lines(path) if path is not None else []:
            sha, sep, rest = line.partition("\t")
            if sep:
                self._raw[sha] = rest

    def _lookup(self, sha: str) -> bool:
        rest = self._raw.pop(sha, None)
        if rest is None:
            return False
        if rest == "-":
            self.known[sha] = None
            return True
        oid, _, size = rest.partition("\t")
        if size.isdigit() and _OID_RE.fullmatch(oid):
            self.known[sha] = (oid, int(size))
            return True
        return False

    def __contains__(self, sha: str) -> bool:
        return sha in self.known or self._lookup(sha)

    def unknown(self, shas: Iterable[str]) -> list[str]:
        """Those of ``shas`` the memo cannot answer, each looked up (once) on the way."""
        known, lookup = self.known, self._lookup
        return [sha for sha in shas if sha not in known and not lookup(sha)]

    def get(self, sha: str) -> pointer.Pointer | None:
        found = self.known.get(sha) if sha in self else None
        return pointer.Pointer(*found) if found else None

    def update(self, parsed: dict[str, pointer.Pointer | None]) -> None:
        self.known.update((sha, (p.oid, p.size) if p else None) for sha, p in parsed.items())
        if self.path is None or not parsed:
            return
        lines = "".join(f"{sha}\t{p.oid}\t{p.size}\n" if p else f"{sha}\t-\n"
                        for sha, p in parsed.items())
        try:
            appendlog.append(self.path, lines, start_over_past=self.MAX_BYTES)
        except OSError:
            pass  # a read-only repository still works, only slower
