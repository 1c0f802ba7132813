"""Showing a run's logs on the client: live from the agent's frame stream, or polled back from
the store (``git data logs --follow``, which works from any clone while the run goes on)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..errors import FatalError
from ..store import Store
from .host import frames, parts
from .host.paths import run_key
from .records import FINAL, liveness

_LOCK = threading.Lock()


class Printer:
    """Writes output to stdout and set-up notes to stderr; with a prefix (a grid of runs),
    whole lines only, each starting with it."""

    def __init__(self, prefix: str = "", quiet: bool = False) -> None:
        self.prefix = prefix.encode()
        self.quiet = quiet
        self.partial = {1: b"", 2: b""}

    def write(self, fd: int, data: bytes) -> None:
        if fd == 2 and self.quiet:
            return
        stream = sys.stdout.buffer if fd == 1 else sys.stderr.buffer
        if self.prefix:
            lines = (self.partial[fd] + data).split(b"\n")
            self.partial[fd] = lines.pop()
            data = b"".join(self.prefix + line + b"\n" for line in lines)
        with _LOCK:
            stream.write(data)
            stream.flush()

    def close(self) -> None:
        for fd, rest in self.partial.items():
            if rest:
                self.partial[fd] = b""
                self.write(fd, rest + b"\n")


def pump(stream: Iterator[tuple[bytes, bytes]], printer: Printer) -> dict[str, Any] | None:
    """Print frames until the run ends; its end state, or None when the stream broke off."""
    try:
        for kind, payload in stream:
            if kind == frames.OUTPUT:
                printer.write(1, payload)
            elif kind == frames.SETUP:
                printer.write(2, payload)
            elif kind == frames.EXIT:
                return dict(json.loads(payload))
            elif kind == frames.ERROR:
                raise FatalError(payload.decode(errors="replace"))
        return None
    finally:
        printer.close()


def exit_status(end: dict[str, Any]) -> int:
    code = end.get("exit_code")
    return int(code) if isinstance(code, int) else 1


class StoreLog:
    """One log file of a run in the store, read from an offset as it grows."""

    def __init__(self, store: Store, key: str) -> None:
        self.store = store
        self.key = key
        self.offset = 0

    def read_new(self) -> bytes:
        """What the log gained since the last call: from its parts while the host sends it
        in parts (runner/host/parts.py), else from the whole file."""
        try:
            data = parts.read_from(self.store, self.key, self.offset)
            if data is None:
                data = self._whole()
        except (FileNotFoundError, OSError):
            return b""
        self.offset += len(data)
        return data

    def _whole(self) -> bytes:
        size = self.store.size(self.key)
        if size < self.offset:  # rewritten shorter (should not happen): start over
            self.offset = 0
        if size == self.offset:
            return b""
        return self.store.read_range(self.key, self.offset, size)


def follow_store(store: Store, run_id: int, printer: Printer, follow: bool,
                 poll_s: float = 0.5, lost_after: float | None = None) -> dict[str, Any]:
    """Print the run's logs from the store; with ``follow``, until its record is final (the
    record is read before the logs, and the host uploads the logs before the final record,
    so nothing written at the end is missed) or, with ``lost_after``, until its host has
    been silent that long (the record returned then says ``lost``)."""
    key = run_key(run_id)
    logs = [(2, StoreLog(store, f"{key}/logs/setup.log")),
            (1, StoreLog(store, f"{key}/logs/output.log"))]
    while True:
        record = {**(store.read_json(f"{key}/run.json") or {}), "id": run_id}
        if follow and lost_after is not None:
            record = liveness(store, record, lost_after)
        for fd, log in logs:
            data = log.read_new()
            if data:
                printer.write(fd, data)
        if not follow or record.get("status") in FINAL:
            printer.close()
            return dict(record)
        time.sleep(poll_s)
