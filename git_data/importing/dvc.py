"""`git data import dvc`: DVC's outputs become files tracked by git-data, in one new commit.

Every ``*.dvc`` file and every ``dvc.lock`` in HEAD is read (YAML, at most a MiB, with
``yaml.safe_load``); each cached output (``md5``, ``size``, ``path``) becomes a pointer at its
path, a directory output (``<md5>.dir``) becomes one pointer per file of its manifest. The
objects come from the DVC cache, in DVC 3's layout (``.dvc/cache/files/md5/ab/cdef…``) or
DVC 2's (``.dvc/cache/ab/cdef…``), after `dvc fetch` when some are missing; each is checked
against its md5 (DVC 2's for text files ignores CR before LF: both are computed in the same
pass) and size as it is cached. The ``.dvc`` files are removed, their outputs' lines
(``/name``) dropped from the ``.gitignore`` beside them, and one ``.gitattributes`` line per
output routes it through git-data. ``dvc.yaml``, ``dvc.lock`` and ``.dvc/`` stay: they are
the pipeline and DVC's own configuration.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .. import safeio
from ..attributes import escape_glob, quote_pattern
from ..errors import FatalError
from ..gitrepo import Repo
from ..progress import Progress, note, warn
from . import (
    DATA_ATTRS,
    Importer,
    Plan,
    build_tree,
    finish_commit,
    read_blobs,
    run_tool,
    start,
    tool,
    tree_blobs,
    write_blob,
)

KIND = "DVC"
MAX_METADATA = 1 << 20
MAX_MANIFEST = 64 << 20
MESSAGE = "Import DVC outputs into git-data\n\nOutputs of .dvc files and dvc.lock tracked " \
          "as git-data pointers by `git data import dvc`."
_MD5 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Output:
    """One cached file (or, ``is_dir``, a manifest) and where it goes in the work tree."""

    path: str
    md5: str
    size: int | None
    legacy: bool  # DVC 2: no ``hash: md5`` field, text files hashed without CRs
    is_dir: bool
    source: str  # the .dvc or dvc.lock file that named it


def import_dvc(repo: Repo) -> int:
    head, marker = start(repo, KIND)
    importer = Importer(repo)
    return finish_commit(repo, importer, KIND, head, marker,
                         lambda: _plan(repo, importer, head), MESSAGE)


def _plan(repo: Repo, importer: Importer, head: str) -> tuple[str, int]:
    blobs = tree_blobs(repo, head)
    metadata = {p: v for p, v in blobs.items() if _is_dvc_file(p) or
                posixpath.basename(p) == "dvc.lock"}
    outputs = _outputs(repo, metadata)
    plan = Plan()
    if not outputs:
        return build_tree(repo, head, plan), 0
    files = _expand(repo, outputs)
    _ingest_all(repo, importer, files)
    for out in files:
        found = importer.cached(f"md5:{out.md5}")
        assert found is not None
        plan.writes[out.path] = ("100644", write_blob(repo, found.render() if found.size
                                                      else b""))
    plan.remove.update(p for p in metadata if _is_dvc_file(p))
    _unignore(repo, blobs, outputs, plan)
    _track(repo, blobs, outputs, plan)
    note(f"{len(files)} file(s) in {len(outputs)} DVC output(s)")
    if any(posixpath.basename(o.source) == "dvc.lock" for o in outputs):
        note("dvc.yaml still lists the stage outputs now tracked by git-data: DVC refuses "
             "outputs git tracks, so mark them `cache: false` there")
    return build_tree(repo, head, plan), len(files)


def _is_dvc_file(path: str) -> bool:
    name = posixpath.basename(path)
    return name.endswith(".dvc") and name != ".dvc" and not path.startswith(".dvc/")


# ----- reading .dvc and dvc.lock ------------------------------------------------------------
def _outputs(repo: Repo, metadata: dict[str, tuple[str, str, int]]) -> list[Output]:
    try:
        import yaml
    except ImportError:
        raise FatalError("reading .dvc files needs PyYAML: pip install PyYAML") from None
    for path, (_, _, size) in metadata.items():
        if size > MAX_METADATA:
            raise FatalError(f"{path} is {size} bytes, over {MAX_METADATA}; not a DVC file "
                             "this import reads")
    texts = read_blobs(repo, [sha for _, sha, _ in metadata.values()])
    outputs: list[Output] = []
    for path, (_, sha, _) in sorted(metadata.items()):
        try:
            doc = yaml.safe_load(texts.get(sha, b""))
        except yaml.YAMLError as exc:
            raise FatalError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}); fix or "
                             "remove it") from None
        if not isinstance(doc, dict):
            continue
        if posixpath.basename(path) == "dvc.lock":
            stages = doc.get("stages")
            for stage in (stages.values() if isinstance(stages, dict) else []):
                if isinstance(stage, dict):
                    outputs += _read_outs(path, stage.get("outs"), "")
        else:
            wdir = doc.get("wdir", "")
            outputs += _read_outs(path, doc.get("outs"), wdir if isinstance(wdir, str) else "")
    return outputs


def _read_outs(source: str, outs: Any, wdir: str) -> list[Output]:
    """The cached outputs a list names, each checked: a relative path that stays in the
    repository, an md5 of 32 hex digits, a whole size."""
    found = []
    for out in outs if isinstance(outs, list) else []:
        if not isinstance(out, dict) or out.get("cache", True) is False:
            continue  # an uncached output (metrics, plots) is in git already
        rel, md5, size = out.get("path"), out.get("md5"), out.get("size")
        if not isinstance(rel, str) or not isinstance(md5, str):
            warn(f"{source}: an output without a path or an md5 (cloud-versioned?) is skipped")
            continue
        joined = posixpath.join(posixpath.dirname(source), wdir, rel)
        path = "/".join(safeio.relative_parts(posixpath.normpath(joined)))
        is_dir = md5.endswith(".dir")
        digest = md5[:-4] if is_dir else md5
        if _MD5.fullmatch(digest) is None:
            raise FatalError(f"{source}: output {rel!r} has md5 {md5!r}, not 32 hex digits; "
                             "the file is corrupt")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)
                                 or size < 0):
            raise FatalError(f"{source}: output {rel!r} has size {size!r}; the file is corrupt")
        legacy = out.get("hash") != "md5"
        found.append(Output(path, digest, None if is_dir else size, legacy, is_dir, source))
    return found


# ----- the DVC cache ------------------------------------------------------------------------
def _open_cached(root: Path, md5: str, is_dir: bool) -> BinaryIO | None:
    """The cached object (DVC 3's layout, then DVC 2's), opened without following a link,
    or None. The cache folder lies in the work tree: no folder on the way may be a link."""
    name = md5[2:] + (".dir" if is_dir else "")
    for folder in (f".dvc/cache/files/md5/{md5[:2]}", f".dvc/cache/{md5[:2]}"):
        try:
            dir_fd = safeio.open_dir(root, folder)
        except (FileNotFoundError, NotADirectoryError, safeio.UnsafePath):
            continue
        try:
            return safeio.open_nofollow(dir_fd, name)
        except (FileNotFoundError, safeio.UnsafePath, OSError):
            continue
        finally:
            os.close(dir_fd)
    return None


def _expand(repo: Repo, outputs: list[Output]) -> list[Output]:
    """Directory outputs as their files; `dvc fetch` once when objects are missing."""
    for attempt in (0, 1):
        files, missing = _expand_once(repo.root, outputs)
        if not missing:
            return files
        if attempt == 0 and not _fetch(repo, len(missing)):
            break
    first = missing[0]
    raise FatalError(f"DVC object md5 {first.md5} ({first.path}, from {first.source}) is not "
                     f"in .dvc/cache ({len(missing)} object(s) missing); fetch them (`dvc "
                     "fetch`, or `dvc pull`) and rerun")


def _expand_once(root: Path, outputs: list[Output]) -> tuple[list[Output], list[Output]]:
    files: list[Output] = []
    missing: list[Output] = []
    for out in outputs:
        if not out.is_dir:
            (files if _has(root, out) else missing).append(out)
            continue
        stream = _open_cached(root, out.md5, True)
        if stream is None:
            missing.append(out)
            continue
        with stream:
            entries = _manifest(stream, out)
        for entry in entries:
            (files if _has(root, entry) else missing).append(entry)
    return files, missing


def _has(root: Path, out: Output) -> bool:
    stream = _open_cached(root, out.md5, False)
    if stream is None:
        return False
    stream.close()
    return True


def _manifest(stream: BinaryIO, out: Output) -> list[Output]:
    """A ``.dir`` object's files, its md5 checked, every path checked."""
    data = stream.read(MAX_MANIFEST + 1)
    what = f"DVC directory manifest {out.md5}.dir (for {out.path}, from {out.source})"
    if len(data) > MAX_MANIFEST:
        raise FatalError(f"{what} is over {MAX_MANIFEST} bytes; refused")
    if hashlib.md5(data).hexdigest() != out.md5:
        raise FatalError(f"{what} is corrupt: its bytes do not hash to md5 {out.md5}; fetch "
                         "it again (`dvc fetch`) and rerun")
    try:
        listed = json.loads(data)
    except ValueError:
        raise FatalError(f"{what} is not JSON; the cache is corrupt") from None
    entries = []
    for item in listed if isinstance(listed, list) else []:
        rel, md5 = (item.get("relpath"), item.get("md5")) if isinstance(item, dict) else (
            None, None)
        if not isinstance(rel, str) or not isinstance(md5, str) or not _MD5.fullmatch(md5):
            raise FatalError(f"{what} lists an entry without a path or a valid md5; refused")
        path = "/".join([out.path, *safeio.relative_parts(rel)])
        entries.append(Output(path, md5, None, out.legacy, False, out.source))
    return entries


def _fetch(repo: Repo, count: int) -> bool:
    exe = tool("dvc")
    if exe is None:
        return False
    note(f"{count} DVC object(s) are not in the cache: dvc fetch")
    proc = run_tool([exe, "fetch", "-q"], repo.root)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        note(f"dvc fetch failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return True


def _ingest_all(repo: Repo, importer: Importer, files: list[Output]) -> None:
    unique = {out.md5: out for out in files if importer.cached(f"md5:{out.md5}") is None}
    progress = Progress("importing DVC objects", len(unique), 0)
    for md5, out in sorted(unique.items()):
        stream = _open_cached(repo.root, md5, False)
        if stream is None:
            raise FatalError(f"DVC object md5 {md5} ({out.path}) vanished from the cache; rerun")
        with stream:
            size = os.fstat(stream.fileno()).st_size
            what = f"DVC object md5 {md5} (for {out.path}, from {out.source})"
            if out.size is not None and size != out.size:
                raise FatalError(f"{what} is {size} bytes, {out.source} says {out.size}; the "
                                 "object is corrupt or truncated: fetch it again")
            importer.ingest(stream, size, f"md5:{md5}", what,
                            functools.partial(_LegacyMd5, md5) if out.legacy else None)
        progress.advance(size, 1)
    progress.done()


class _LegacyMd5:
    """DVC 2's md5: of the bytes, or for a text file of the bytes with CR LF read as LF.
    Both are computed as the bytes pass; either matching ``expected`` is a match."""

    def __init__(self, expected: str) -> None:
        self.expected = expected
        self.raw = hashlib.md5()
        self.unix = hashlib.md5()
        self.cr = False  # the last chunk ended in CR: it belongs to the next one

    def update(self, data: bytes, /) -> None:
        self.raw.update(data)
        chunk = (b"\r" if self.cr else b"") + bytes(data)
        self.cr = chunk.endswith(b"\r")
        if self.cr:
            chunk = chunk[:-1]
        self.unix.update(chunk.replace(b"\r\n", b"\n"))

    def hexdigest(self) -> str:
        raw = self.raw.hexdigest()
        if raw == self.expected:
            return raw
        unix = self.unix.copy()
        if self.cr:
            unix.update(b"\r")
        return unix.hexdigest()


# ----- .gitignore and .gitattributes --------------------------------------------------------
def _unignore(repo: Repo, blobs: dict[str, tuple[str, str, int]], outputs: list[Output],
              plan: Plan) -> None:
    """Drop the ``/name`` lines DVC wrote beside each output."""
    by_file: dict[str, set[str]] = {}
    for out in outputs:
        folder, name = posixpath.split(out.path)
        by_file.setdefault(posixpath.join(folder, ".gitignore"), set()).update(
            {f"/{name}", f"/{name}/"})
    present = {p: blobs[p] for p in by_file if p in blobs and blobs[p][2] <= MAX_METADATA}
    texts = read_blobs(repo, [sha for _, sha, _ in present.values()])
    for path, (mode, sha, _) in present.items():
        lines = texts.get(sha, b"").decode(errors="surrogateescape").splitlines(keepends=True)
        kept = [line for line in lines if line.strip() not in by_file[path]]
        if len(kept) == len(lines):
            continue
        if not "".join(kept).strip():
            plan.remove.add(path)
        else:
            plan.writes[path] = (mode, write_blob(repo, "".join(kept).encode(
                errors="surrogateescape")))


def _track(repo: Repo, blobs: dict[str, tuple[str, str, int]], outputs: list[Output],
           plan: Plan) -> None:
    """One root .gitattributes line per output (``/dir/**`` for a folder)."""
    mode, sha, _ = blobs.get(".gitattributes", ("100644", "", 0))
    text = read_blobs(repo, [sha]).get(sha, b"").decode(errors="surrogateescape") if sha else ""
    lines = text.splitlines()
    new = []
    for out in outputs:
        pattern = escape_glob(out.path) + ("/**" if out.is_dir else "")
        line = f"{quote_pattern(pattern)} {DATA_ATTRS}"
        if line not in lines and line not in new:
            new.append(line)
    if new:
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{line}\n" for line in new)
        plan.writes[".gitattributes"] = (mode, write_blob(repo, text.encode(
            errors="surrogateescape")))
