"""`git data import lfs`: a git-lfs repository becomes a git-data one.

By default HEAD's git-lfs pointers become git-data pointers in one new commit on the current
branch (older commits keep theirs: git-lfs still reads them). With ``--rewrite`` the history
of the current branch (or of REV..., or of every branch and tag with ``--everything``) is
rewritten as `git lfs migrate import` does: `git fast-export --no-data` names every blob by
its id, each filemodify line naming a git-lfs pointer blob (or a ``.gitattributes``) is
pointed at its replacement, and `git fast-import` writes the new commits and moves the refs.
Objects come from git-lfs's storage (``lfs.storage``, default ``.git/lfs``), fetched with
`git lfs fetch` when missing there, and are checked against their sha256 and size as they
are copied into the cache (see importing/__init__.py).
"""

from __future__ import annotations

import codecs
import subprocess
from pathlib import Path
from typing import BinaryIO

from .. import pointer
from ..errors import FatalError
from ..gitrepo import Repo
from ..progress import Progress, human_bytes, note, warn
from . import (
    Importer,
    Plan,
    apply,
    build_tree,
    clear_marker,
    finish_commit,
    open_object,
    read_blobs,
    rewrite_lfs_attributes,
    run_tool,
    start,
    tool,
    tree_blobs,
    write_blob,
    write_marker,
)

KIND = "git-lfs"
ATTRIBUTES = ".gitattributes"
MAX_ATTRIBUTES = 8 << 20
MESSAGE = "Import git-lfs files into git-data\n\nPointers and .gitattributes rewritten by " \
          "`git data import lfs`."


def import_lfs(repo: Repo, revs: list[str], everything: bool, rewrite: bool,
               keep_sha256: bool) -> int:
    if (revs or everything) and not rewrite:
        raise FatalError("REV... and --everything choose what --rewrite rewrites; add "
                         "--rewrite (or leave them out for one new commit)")
    head, marker = start(repo, KIND if not rewrite else KIND + " rewrite")
    importer = Importer(repo, "sha256" if keep_sha256 else None)
    if not rewrite:
        return finish_commit(repo, importer, KIND, head, marker,
                             lambda: _plan_head(repo, importer, head), MESSAGE)
    return _rewrite(repo, importer, head, marker, revs, everything)


# ----- the objects --------------------------------------------------------------------------
def _storage(repo: Repo) -> Path:
    """git-lfs's local storage: ``lfs.storage`` from git config (relative to the git folder),
    else ``$GIT_COMMON_DIR/lfs``. Never from .lfsconfig, which the repository carries."""
    raw = repo.git("config", "--get", "lfs.storage", check=False).decode().strip()
    if not raw:
        return repo.common_dir / "lfs"
    return Path(raw) if Path(raw).is_absolute() else repo.common_dir / raw


def _object_path(storage: Path, oid: str) -> Path:
    hexdigest = oid.split(":", 1)[1]
    return storage / "objects" / hexdigest[:2] / hexdigest[2:4] / hexdigest


def convert(repo: Repo, importer: Importer, found: dict[str, tuple[pointer.Pointer, str]],
            fetch: list[str]) -> dict[str, str]:
    """git-lfs pointer blob -> git-data pointer blob, each object in the cache first.
    ``found``: blob sha -> (its git-lfs pointer, a path it has, for messages); ``fetch``:
    the `git lfs fetch` arguments that bring what is missing locally."""
    storage = _storage(repo)
    wanted: dict[str, tuple[pointer.Pointer, str]] = {}
    for parsed, path in found.values():
        if importer.cached(parsed.oid) is None:
            wanted.setdefault(parsed.oid, (parsed, path))
    missing = [oid for oid in wanted if not _object_path(storage, oid).is_file()]
    if missing:
        _fetch(repo, fetch, len(missing))
        missing = [oid for oid in missing if not _object_path(storage, oid).is_file()]
        if missing:
            parsed, path = wanted[missing[0]]
            raise FatalError(f"git-lfs object {parsed.oid} ({path}) is in no local storage "
                             f"and `git lfs fetch` did not bring it ({len(missing)} object(s) "
                             "missing); fetch them (`git lfs fetch --all`) and rerun")
    _ingest_all(importer, storage, wanted)
    out = {}
    for sha, (parsed, _) in found.items():
        data_pointer = importer.cached(parsed.oid)
        assert data_pointer is not None
        out[sha] = write_blob(repo, data_pointer.render())
    return out


def _ingest_all(importer: Importer, storage: Path,
                wanted: dict[str, tuple[pointer.Pointer, str]]) -> None:
    progress = Progress("importing git-lfs objects", len(wanted),
                        sum(p.size for p, _ in wanted.values()))
    for oid, (parsed, path) in sorted(wanted.items()):
        where = _object_path(storage, oid)
        stream, size = _open(where, parsed, path)
        with stream:
            what = f"git-lfs object {oid} ({where}, for {path})"
            if size != parsed.size:
                raise FatalError(f"{what} is {size} bytes, its pointer says {parsed.size}; "
                                 "the object is corrupt or truncated: fetch it again")
            importer.ingest(stream, parsed.size, oid, what)
        progress.advance(parsed.size, 1)
    progress.done()


def _open(where: Path, parsed: pointer.Pointer, path: str) -> tuple[BinaryIO, int]:
    try:
        return open_object(where)
    except OSError as exc:
        raise FatalError(f"cannot read git-lfs object {parsed.oid} at {where} (for {path}): "
                         f"{exc.strerror or exc}") from None


def _fetch(repo: Repo, args: list[str], count: int) -> None:
    exe = tool("git-lfs")
    if exe is None:
        return  # the caller names the first missing object
    note(f"{count} git-lfs object(s) are not stored locally: git lfs fetch {' '.join(args)}")
    proc = run_tool([exe, "fetch", *args], repo.root)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        note(f"git lfs fetch failed: {lines[-1] if lines else f'exit {proc.returncode}'}")


def _lfs_pointers(repo: Repo, entries: dict[str, tuple[str, int]]
                  ) -> dict[str, tuple[pointer.Pointer, str]]:
    """blob sha -> (git-lfs pointer, a path) among ``entries`` (blob sha -> (path, size))."""
    small = {sha: path for sha, (path, size) in entries.items()
             if size <= pointer.MAX_POINTER_SIZE}
    found = {}
    for sha, data in read_blobs(repo, small).items():
        try:
            parsed = pointer.parse_lfs(data)
        except pointer.PointerError as exc:
            raise FatalError(f"{small[sha]}: {exc}") from None
        if parsed is not None:
            found[sha] = (parsed, small[sha])
    return found


# ----- one new commit -----------------------------------------------------------------------
def _plan_head(repo: Repo, importer: Importer, head: str) -> tuple[str, int]:
    blobs = tree_blobs(repo, head)
    found = _lfs_pointers(repo, {sha: (path, size) for path, (_, sha, size) in blobs.items()})
    routed = _routed_to_lfs(repo, [p for p, (_, sha, _) in blobs.items() if sha in found])
    found = {sha: entry for sha, entry in found.items()
             if any(blobs[p][1] == sha for p in routed)}
    new_blobs = convert(repo, importer, found, [])
    plan = Plan()
    for path in routed:
        mode, sha, _ = blobs[path]
        plan.writes[path] = (mode, new_blobs[sha])
    attributes = {path: (mode, sha) for path, (mode, sha, size) in blobs.items()
                  if path.rsplit("/", 1)[-1] == ATTRIBUTES and size <= MAX_ATTRIBUTES}
    texts = read_blobs(repo, [sha for _, sha in attributes.values()])
    for path, (mode, sha) in attributes.items():
        rewritten = rewrite_lfs_attributes(texts.get(sha, b""))
        if rewritten != texts.get(sha, b""):
            plan.writes[path] = (mode, write_blob(repo, rewritten))
    return build_tree(repo, head, plan), len(found)


def _routed_to_lfs(repo: Repo, paths: list[str]) -> list[str]:
    """The paths among these that .gitattributes sends through git-lfs's filter (so through
    git-data's once the lines are rewritten); a pointer committed elsewhere stays as it is
    (the work tree is HEAD's, so its attributes are HEAD's)."""
    if not paths:
        return []
    out = repo.git("check-attr", "-z", "--stdin", "filter",
                   input=b"".join(p.encode(errors="surrogateescape") + b"\0" for p in paths))
    fields = out.split(b"\0")
    routed = [fields[i].decode(errors="surrogateescape") for i in range(0, len(fields) - 2, 3)
              if fields[i + 2] == b"lfs"]
    if len(routed) < len(paths):
        left = sorted(set(paths) - set(routed))
        warn(f"{left[0]} (and {len(left) - 1} more) holds a git-lfs pointer but no "
             "filter=lfs line covers it; left as it is")
    return routed


# ----- history ------------------------------------------------------------------------------
def _refs(repo: Repo, revs: list[str], everything: bool) -> list[str]:
    if everything:
        return ["--branches", "--tags"]
    if not revs:
        branch = repo.current_branch()
        if branch is None:
            raise FatalError("HEAD is detached; name the branches to rewrite, or check one out")
        return [f"refs/heads/{branch}"]
    refs = []
    for rev in revs:
        full = repo.git("rev-parse", "--symbolic-full-name", rev, check=False).decode().strip()
        if not full.startswith(("refs/heads/", "refs/tags/")):
            raise FatalError(f"'{rev}' is not a branch or tag here; --rewrite rewrites refs "
                             "(see `git branch` and `git tag`)")
        refs.append(full)
    return refs


def _history_pointers(repo: Repo, refs: list[str]) -> dict[str, tuple[pointer.Pointer, str]]:
    """Every git-lfs pointer blob reachable from ``refs``."""
    listed = repo.git("rev-list", "--objects", *refs).decode(errors="surrogateescape")
    paths = {}
    for line in listed.splitlines():
        sha, _, path = line.partition(" ")
        if path:
            paths.setdefault(sha, path)
    check = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                     input="".join(f"{sha}\n" for sha in paths).encode()).decode()
    entries = {}
    for line in check.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            entries[parts[0]] = (paths[parts[0]], int(parts[2]))
    return _lfs_pointers(repo, entries)


def _rewrite(repo: Repo, importer: Importer, head: str, marker: dict[str, str] | None,
             revs: list[str], everything: bool) -> int:
    kind = KIND + " rewrite"
    old = marker["old"] if marker is not None else head
    if marker is None or head == old:
        refs = _refs(repo, revs, everything)
        found = _history_pointers(repo, refs)
        routed, needed = _routed_history(repo, refs, set(found))
        found = {sha: entry for sha, entry in found.items() if sha in needed}
        fetch = ["--all"] if everything else ([_remote(repo), *refs] if _remote(repo) else [])
        new_blobs = convert(repo, importer, found, fetch)
        write_marker(repo, kind, old, "")
        before = _ref_values(repo, refs)
        _fast_rewrite(repo, refs, _Filter(repo, new_blobs, routed))
        after = _ref_values(repo, refs)
        for ref, sha in before.items():
            if after.get(ref) != sha:
                note(f"rewrote {ref}: was {sha[:12]}, now {after.get(ref, '?')[:12]}")
        note(f"{len(found)} git-lfs pointer(s) in history, "
             f"{human_bytes(sum(p.size for p, _ in found.values()))}")
    new = repo.git_text("rev-parse", "HEAD")
    files = size = 0
    if new != old:
        files, size = apply(repo, importer, old, new)
    clear_marker(repo)
    note(f"imported {files} file(s) in the work tree, {human_bytes(size)} ({size} bytes)")
    if everything:
        note("no branch or tag needs git-lfs now: `git lfs uninstall --local` removes its "
             "hooks and filter, `rm -rf .git/lfs` its objects (remote refs still hold the "
             "old history until you push with --force)")
    return 0


def _remote(repo: Repo) -> str | None:
    remotes = repo.git("remote").decode().split()
    branch = repo.current_branch()
    upstream = repo.git("config", "--get", f"branch.{branch}.remote", check=False
                        ).decode().strip() if branch else ""
    if upstream in remotes:
        return upstream
    return "origin" if "origin" in remotes else (remotes[0] if len(remotes) == 1 else None)


def _ref_values(repo: Repo, refs: list[str]) -> dict[str, str]:
    patterns = ["refs/heads", "refs/tags"] if refs[0].startswith("--") else refs
    out = repo.git("for-each-ref", "--format=%(refname) %(objectname)", *patterns).decode()
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


EXPORT = ["git", "fast-export", "--no-data", "--signed-tags=strip",
          "--tag-of-filtered-object=rewrite", "--use-done-feature", "--reencode=no"]


class _Filter:
    """What happens to each ``M <mode> <blob> <path>`` line of the stream: a git-lfs pointer
    blob at a path routed to git-lfs becomes its git-data pointer blob, a .gitattributes
    blob its rewritten text; ``collect`` instead only notes (path, blob) of pointer blobs."""

    def __init__(self, repo: Repo, new_blobs: dict[str, str], routed: set[bytes]) -> None:
        self.repo = repo
        self.new_blobs = new_blobs
        self.routed = routed
        self.attributes: dict[str, str] = {}
        self.collect: set[str] | None = None  # pointer blobs whose paths are gathered
        self.seen: dict[bytes, set[str]] = {}

    def filemodify(self, line: bytes) -> bytes:
        _, mode, sha, path = line.rstrip(b"\n").split(b" ", 3)
        blob = sha.decode()
        if self.collect is not None:
            if blob in self.collect:
                self.seen.setdefault(path, set()).add(blob)
            return line
        if blob in self.new_blobs and path in self.routed:
            return b"M %s %s %s\n" % (mode, self.new_blobs[blob].encode(), path)
        if path.rsplit(b"/", 1)[-1].strip(b'"') == ATTRIBUTES.encode() and mode != b"160000":
            if blob not in self.attributes:
                self.attributes[blob] = _attributes_blob(self.repo, blob)
            return b"M %s %s %s\n" % (mode, self.attributes[blob].encode(), path)
        return line


def _routed_history(repo: Repo, refs: list[str], pointers: set[str]
                    ) -> tuple[set[bytes], set[str]]:
    """A first pass over the stream: the (quoted) paths at which git-lfs pointer blobs are
    committed that this work tree's .gitattributes routes to git-lfs, and those blobs."""
    collector = _Filter(repo, {}, set())
    collector.collect = pointers
    export = subprocess.Popen([*EXPORT, *refs], cwd=repo.root, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    assert export.stdout is not None
    with export.stdout:
        _rewrite_stream(export.stdout, _Discard(), collector)
    if export.wait() != 0:
        raise FatalError("git fast-export failed; check the refs with `git fsck`")
    by_path = {_unquote(p): p for p in collector.seen}
    routed = {by_path[p] for p in _routed_to_lfs(repo, sorted(by_path))}
    return routed, {blob for p in routed for blob in collector.seen[p]}


def _unquote(path: bytes) -> str:
    """A path as fast-export writes it: C-quoted (octal bytes) when it needs quoting."""
    if path.startswith(b'"') and path.endswith(b'"'):
        path = codecs.escape_decode(path[1:-1])[0]  # type: ignore[attr-defined]
    return path.decode(errors="surrogateescape")


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _fast_rewrite(repo: Repo, refs: list[str], rewriter: _Filter) -> None:
    """fast-export | point filemodify lines at the new blobs | fast-import."""
    export = subprocess.Popen([*EXPORT, *refs], cwd=repo.root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    imp = subprocess.Popen(["git", "fast-import", "--quiet", "--force"], cwd=repo.root,
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    assert export.stdout is not None and imp.stdin is not None
    try:
        _rewrite_stream(export.stdout, imp.stdin, rewriter)
    finally:
        imp.stdin.close()
        export.stdout.close()
    export_err = export.stderr.read() if export.stderr else b""
    import_err = imp.stderr.read() if imp.stderr else b""
    if export.wait() != 0 or imp.wait() != 0:
        detail = (export_err or import_err).decode(errors="replace").strip().splitlines()
        raise FatalError(f"rewriting history failed: {detail[-1] if detail else 'git failed'}"
                         "; no ref was changed unless git says so, run the import again")


def _rewrite_stream(source: BinaryIO, sink: BinaryIO | _Discard, rewriter: _Filter) -> None:
    """Copy a fast-export stream, passing ``M`` lines through the filter. ``data``
    payloads (messages) are copied by their length, never parsed as commands."""
    while line := source.readline():
        if line.startswith(b"data "):
            sink.write(line)
            size = int(line[5:].strip())
            while size:
                chunk = source.read(min(size, 1 << 20))
                if not chunk:
                    raise FatalError("git fast-export stopped in the middle of a message")
                sink.write(chunk)
                size -= len(chunk)
            continue
        if line.startswith(b"M "):
            line = rewriter.filemodify(line)
        sink.write(line)


def _attributes_blob(repo: Repo, sha: str) -> str:
    import pygit2

    obj = repo.pygit.get(sha)
    if not isinstance(obj, pygit2.Blob) or obj.size > MAX_ATTRIBUTES:
        return sha
    rewritten = rewrite_lfs_attributes(obj.data)
    return sha if rewritten == obj.data else write_blob(repo, rewritten)


__all__ = ["import_lfs", "clear_marker"]
