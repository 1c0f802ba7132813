"""The run's heartbeat: ``runs/<id>/heartbeat.json`` in the store (standard library only).

A thread of the supervisor rewrites that small file every ``heartbeat`` seconds from the
moment the supervisor starts (data, environment, a wait for GPUs) until the final record is
written, independently of the main loop, which may sit in a long environment build. The
client (runner/records.py ``liveness``) calls a run whose newest heartbeat is older than
``data.run.lostAfter`` lost. A beat that fails (the store unreachable) is retried at the next
one; the first failure of a streak is noted in the set-up log.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

DEFAULT_S = 15.0
MIN_S = 0.2


def interval(intervals: dict[str, float]) -> float:
    """Seconds between beats: the configured one, else 15 s or a sixth of lostAfter, so a
    test that sets lostAfter low gets beats often enough to stay alive."""
    every = intervals.get("heartbeat")
    if not every:
        every = min(DEFAULT_S, float(intervals.get("lost") or 90.0) / 6)
    return max(MIN_S, float(every))


class Heartbeat:
    def __init__(self, store: Any, run_key: str, every: float,
                 note: Callable[[str], None]) -> None:
        self.store = store
        self.key = f"{run_key}/heartbeat.json"
        self.every = every
        self.note = note
        self.seq = 0
        self.status = "preparing"
        self.failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def beat(self) -> None:
        self.seq += 1
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            self.store.write_json(self.key, {
                "at": stamp, "seq": self.seq, "every_s": self.every, "status": self.status,
                "hostname": socket.gethostname(), "pid": os.getpid()})
            self.failing = False
        except Exception as exc:  # the store away for a while: the next beat tries again
            if not self.failing:
                self.note(f"heartbeat to {self.store.describe()} failed, trying again: {exc}")
            self.failing = True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.every)
