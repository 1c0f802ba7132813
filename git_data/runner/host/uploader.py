"""Continuous checkpoints: the run's logs and outputs reach the store while it runs
(standard library only).

The supervisor calls :meth:`Uploader.logs` every ``log`` seconds, :meth:`Uploader.outputs`
every ``scan`` seconds, and :meth:`Uploader.final` once the command has ended.

- **Logs** (``setup.log``, ``output.log``) and outputs whose name matches ``append``
  (``data.run.appendOnly``: ``*.log``, ``*.jsonl``, ...) grow by appending: each round sends
  only the bytes added since the last as one new part (see parts.py for the layout), at most
  every ``log`` (logs) or ``upload`` (outputs) seconds, without waiting for the file to settle;
  an output's part ends at its last newline, so a reader never sees half a JSON line. Before
  each part the file is checked to be the same file grown by appending (same inode, the
  bytes sent first and last unchanged); one rewritten otherwise is treated as below.
- **Other outputs** (checkpoints) are sent whole once their size and mtime have stayed the
  same for ``stable`` seconds, each at most every ``upload`` seconds.
- **The final sync** sends what is left: the last part and then each grown file whole at its
  own key (its manifest then says ``whole``), every changed output whole.

Only regular files inside the output folder are read, each opened without following a link
(a folder that is a link is not entered; a file swapped for a link between the scan and the
upload is refused by O_NOFOLLOW), and read through that descriptor only.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ... import safeio
from . import parts
from .paths import inside_checkout

LOGS = ("setup.log", "output.log")
DEFAULT_APPEND = ("*.log", "*.jsonl", "*.csv", "*.tsv", "events.out.tfevents.*")
EDGE = 4096  # bytes at the start and end of what was sent, compared before each part
CHUNK = 1 << 20


@dataclass
class FileState:
    """What the uploader knows of one file (``rel``: its path in the run)."""

    seen: tuple[int, int] = (-1, -1)  # (size, mtime_ns) at the last scan
    changed: float = 0.0  # when ``seen`` last changed (monotonic)
    sent: tuple[int, int] | None = None  # (size, mtime_ns) of the last whole upload
    sent_at: float = -1e18  # when it was last sent (monotonic)
    grown: bool = False  # being sent in parts
    rewritten: bool = False  # was sent in parts, then rewritten: sent whole from then on
    generation: int = 0
    offset: int = 0  # bytes sent in parts
    count: int = 0  # parts sent in this generation
    manifest_at: float = -1e18  # when the manifest was last written (monotonic)
    inode: int = -1
    head: bytes = b""
    tail: bytes = b""


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Uploader:
    def __init__(self, store: Any, run_key: str, logs: Path, checkout: Path,
                 spec: dict[str, Any], note: Callable[[str], None]) -> None:
        self.store = store
        self.key = run_key
        self.logs_dir = logs
        self.checkout = checkout
        self.output_rel = inside_checkout(spec["output"], "--output")
        every = spec.get("intervals") or {}
        self.log_every = float(every.get("log", 2.0))
        self.upload_every = float(every.get("upload", 30.0))
        self.stable = float(every.get("stable", 2.0))
        self.append = tuple(spec.get("append_only") or DEFAULT_APPEND)
        self.note = note
        self.files: dict[str, FileState] = {}
        self.bytes_sent = 0

    # ----- the three entry points --------------------------------------------------------
    def logs(self, final: bool = False) -> None:
        folder = os.open(self.logs_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name in LOGS:
                self._one(folder, name, f"logs/{name}", grows=True, final=final,
                          every=self.log_every, lines=False)
        finally:
            os.close(folder)

    def outputs(self, final: bool = False) -> None:
        output = self.checkout / self.output_rel
        if output.is_symlink() or not output.is_dir():
            return  # a link (from the commit, or made by the command) is never followed
        for folder, _dirs, files in os.walk(output):  # does not descend into linked folders
            sub = Path(folder).relative_to(output).as_posix()
            sub = "" if sub == "." else sub
            try:  # each folder opened from the checkout without following a link, so one
                # swapped for a link after the walk listed it leads nowhere outside
                dir_fd = safeio.open_dir(self.checkout, f"{self.output_rel}/{sub}".rstrip("/"))
            except (OSError, safeio.UnsafePath):
                continue
            try:
                for name in sorted(files):
                    rel = f"{sub}/{name}" if sub else name
                    grows = any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p)
                                for p in self.append)
                    self._one(dir_fd, name, f"outputs/{rel}", grows=grows, final=final,
                              every=self.upload_every, lines=True)
            finally:
                os.close(dir_fd)

    def final(self) -> None:
        self.outputs(final=True)
        self.logs(final=True)

    def output_files(self) -> int:
        return sum(1 for rel, s in self.files.items()
                   if rel.startswith("outputs/") and (s.sent or s.count))

    # ----- one file ----------------------------------------------------------------------
    def _one(self, dir_fd: int, name: str, rel: str, grows: bool, final: bool, every: float,
             lines: bool) -> None:
        try:  # O_NONBLOCK: a named pipe in the outputs must not hang the supervisor
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dir_fd)
        except OSError:
            return  # gone, or a link: a link's target may be anything on the host
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                self._round(fd, st, rel, grows, final, every, lines)
        except Exception as exc:  # the store away for a while: the next round tries again
            self.note(f"could not upload {self.key}/{rel} to {self.store.describe()}: {exc}")
        finally:
            os.close(fd)

    def _round(self, fd: int, st: os.stat_result, rel: str, grows: bool, final: bool,
               every: float, lines: bool) -> None:
        state = self.files.setdefault(rel, FileState())
        now = time.monotonic()
        signature = (st.st_size, st.st_mtime_ns)
        if signature != state.seen:
            state.seen, state.changed = signature, now
        # a growing file goes in parts; at the end, one never sent in parts goes whole
        if grows and not state.rewritten and (state.grown or not final) \
                and self._appended(fd, st, state):
            if final or now - state.sent_at >= every:
                self._send_part(fd, st, rel, state, cut=lines and not final)
            if final:
                self._send_whole(fd, st, rel, state)
            return
        if state.sent == signature:
            return
        settled = now - state.changed >= self.stable
        if final or (settled and now - state.sent_at >= every):
            self._send_whole(fd, st, rel, state)

    def _appended(self, fd: int, st: os.stat_result, state: FileState) -> bool:
        """Whether the file is the one sent in parts so far, grown by appending (or new)."""
        if not state.grown:
            return True
        state.rewritten = not (
            st.st_ino == state.inode and st.st_size >= state.offset
            and os.pread(fd, len(state.head), 0) == state.head
            and os.pread(fd, len(state.tail), state.offset - len(state.tail)) == state.tail)
        return not state.rewritten

    def _send_part(self, fd: int, st: os.stat_result, rel: str, state: FileState,
                   cut: bool) -> None:
        if not state.grown:  # a new generation (the first, or after a rewrite)
            state.grown, state.generation = True, state.generation + 1
            state.offset, state.count, state.inode = 0, 0, st.st_ino
            state.head = state.tail = b""
        end = st.st_size
        if cut and end > state.offset:
            end = self._line_end(fd, state.offset, end)
        state.sent_at = time.monotonic()
        if end <= state.offset:
            return
        start = state.offset
        folder = f"{parts.base(f'{self.key}/{rel}')}/{state.generation}"
        put_range(self.store, fd, start, end - start, f"{folder}/{parts.part_name(start)}")
        self.bytes_sent += end - start
        state.offset, state.count = end, state.count + 1
        if not state.head or len(state.head) < EDGE:
            state.head = os.pread(fd, min(EDGE, end), 0)
        state.tail = os.pread(fd, min(EDGE, end), end - min(EDGE, end))
        if state.count == 1 or state.manifest_at + self.upload_every <= state.sent_at:
            self._manifest(rel, state, "parts")  # readers read on past it: see parts.py

    @staticmethod
    def _line_end(fd: int, start: int, end: int) -> int:
        """Where the last whole line of bytes start..end ends (``end`` when no newline is
        found in the last MiB: a file of long lines, or not of lines, still moves on)."""
        back = max(start, end - CHUNK)
        found = os.pread(fd, end - back, back).rfind(b"\n")
        return back + found + 1 if found >= 0 else end

    def _send_whole(self, fd: int, st: os.stat_result, rel: str, state: FileState) -> None:
        put_range(self.store, fd, 0, st.st_size, f"{self.key}/{rel}")
        self.bytes_sent += st.st_size
        state.sent, state.sent_at = (st.st_size, st.st_mtime_ns), time.monotonic()
        if state.generation:  # readers go back to the whole file, which now has it all
            self._manifest(rel, state, "whole")
            state.grown = False

    def _manifest(self, rel: str, state: FileState, mode: str) -> None:
        value = parts.manifest_value(rel, mode, state.generation, state.offset, state.count,
                                     now_iso())
        self.store.write_bytes(f"{parts.base(f'{self.key}/{rel}')}/manifest.json",
                               json.dumps(value, separators=(",", ":")).encode())
        state.manifest_at = time.monotonic()


def put_range(store: Any, fd: int, start: int, length: int, key: str) -> None:
    """Bytes ``start`` .. ``start + length`` of the open file ``fd`` to ``key``, published
    whole or not at all: a store folder's temporary file renamed into place, an S3 upload
    completed only at the end (aborted on an error)."""
    def copy(write: Callable[[bytes], Any]) -> None:
        done = 0
        while done < length:
            chunk = os.pread(fd, min(CHUNK, length - done), start + done)
            if not chunk:
                raise OSError(f"the file shrank while {key} was being sent")
            write(chunk)
            done += len(chunk)

    if hasattr(store, "atomic"):  # git_data.folderstore.FolderStore
        store.atomic(key, lambda out: copy(lambda chunk: safeio.write_all(out, chunk)))
        return
    out = store.fs.open(store.path(key), "wb")
    try:
        copy(out.write)
    except BaseException:
        discard = getattr(out, "discard", None)
        if discard is not None:
            discard()
        raise
    out.close()
