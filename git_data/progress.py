"""The one place below the CLI that talks to the user: progress lines and notes on stderr.

Quiet has one source: the entry point (the CLI for ``-q``, a hook for a push git runs
without a terminal) calls :func:`set_quiet` once, and everything below reads
:func:`is_quiet` (``note`` and :class:`Progress` do so themselves, so callers need no
``quiet`` of their own). Progress shows only when stderr is a terminal, ``-q`` was not given
and ``GIT_DATA_NO_PROGRESS`` is unset; warnings always go to stderr. Nothing here ever
writes to stdout (the filter's data channel).

Bytes are counted as they move, chunk by chunk inside an object (:class:`Meter`), so a
single large transfer shows motion at once. Only bytes that really moved make the rate: an
object that arrives as a hard link or a reflink counts as done without adding to it (a
link "moves" a GiB in a millisecond). The rate is taken over the last few seconds and shown,
with the ETA, only after the first second.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections import deque

QUIET = False  # set once by the entry point (see set_quiet); read through is_quiet
DRAW_EVERY_S = 0.1  # at most 10 redraws a second
RATE_AFTER_S = 1.0  # no rate nor ETA before this: the first chunks say nothing of the rate
RATE_WINDOW_S = 5.0  # the rate is what moved over this much of the recent past


def set_quiet(quiet: bool) -> None:
    global QUIET
    QUIET = quiet


def is_quiet() -> bool:
    return QUIET


def note(message: str) -> None:
    if not QUIET:
        sys.stderr.write(f"{message}\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"git-data: {message}\n")
    sys.stderr.flush()


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_seconds(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02}m"


def show_progress() -> bool:
    """Whether a progress line may be drawn now."""
    return not QUIET and sys.stderr.isatty() and not os.environ.get("GIT_DATA_NO_PROGRESS")


class Progress:
    """Thread-safe counter of files and bytes that redraws one stderr line at most 10×/s.

    ``bytes`` is what is done or under way (shown); ``moved`` only grows, with the bytes
    that really went through (the rate's)."""

    def __init__(self, label: str, total_files: int, total_bytes: int,
                 enabled: bool | None = None) -> None:
        self.label = label
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.enabled = show_progress() if enabled is None else enabled
        self.files = 0
        self.bytes = 0
        self.moved = 0
        self.start = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque([(self.start, 0)])
        self._last_draw = 0.0
        self._stale = False  # counted since the last draw
        self._lock = threading.Lock()

    def advance(self, nbytes: int = 0, files: int = 0) -> None:
        """``nbytes`` that moved (rated) and ``files`` now complete."""
        self._add(nbytes, nbytes, files)

    def meter(self) -> Meter:
        return Meter(self)

    def _add(self, shown: int, moved: int, files: int = 0) -> None:
        with self._lock:
            self.bytes += shown
            self.moved += moved
            self.files += files
            now = time.monotonic()
            if moved:
                self._samples.append((now, self.moved))
                while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_S:
                    self._samples.popleft()
            self._stale = True
            if self.enabled and (now - self._last_draw >= DRAW_EVERY_S or
                                 self.files == self.total_files):
                self._last_draw = now
                self._draw(now)

    def rate(self, now: float) -> float | None:
        """Bytes per second over the recent window; None in the first second or when
        nothing has moved (everything was linked)."""
        if now - self.start < RATE_AFTER_S or not self.moved:
            return None
        since, moved = self._samples[0]
        span = now - since
        return (self.moved - moved) / span if span > 0 else None

    def line(self, now: float) -> str:
        text = (f"{self.label}: {self.files}/{self.total_files} files, "
                f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}")
        rate = self.rate(now)
        if rate is not None:
            text += f", {human_bytes(rate)}/s"
            left = self.total_bytes - self.bytes
            if rate > 0 and left > 0:
                text += f", ETA {human_seconds(left / rate)}"
        return text

    def _draw(self, now: float) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        sys.stderr.write(f"\r{self.line(now)[:max(width - 1, 20)]}\x1b[K")
        sys.stderr.flush()
        self._stale = False

    def done(self) -> None:
        if self.enabled:
            with self._lock:
                if self._stale or not self._last_draw:
                    self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()


class Meter:
    """The bytes of one object in flight: call it with each chunk's length as it moves;
    ``restart`` before a retry (what the failed try showed is taken back; the rate keeps
    it, those bytes did move); ``finish`` once the object is complete: what was not
    metered (a hard link, a reflink, a copy made elsewhere) counts as done, not as moved."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.counted = 0

    def __call__(self, nbytes: int) -> None:
        self.counted += nbytes
        self.progress._add(nbytes, nbytes)

    def restart(self) -> None:
        if self.counted:
            self.progress._add(-self.counted, 0)
            self.counted = 0

    def finish(self, size: int) -> None:
        self.progress._add(max(size - self.counted, 0), 0, 1)
        self.counted = size
