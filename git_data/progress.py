"""The one place below the CLI that talks to the user: progress lines and notes on stderr.

Progress shows only when stderr is a terminal and ``-q`` was not given; notes and warnings
always go to stderr. Nothing here ever writes to stdout (the filter's data channel).
"""

from __future__ import annotations

import os
import sys
import threading
import time

QUIET = False  # set once by the CLI for -q


def set_quiet(quiet: bool) -> None:
    global QUIET
    QUIET = quiet


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


class Progress:
    """Thread-safe counter of files and bytes that redraws one stderr line at most 10×/s."""

    def __init__(self, label: str, total_files: int, total_bytes: int,
                 enabled: bool | None = None) -> None:
        self.label = label
        self.total_files = total_files
        self.total_bytes = total_bytes
        if enabled is None:
            enabled = (not QUIET and sys.stderr.isatty()
                       and not os.environ.get("GIT_DATA_NO_PROGRESS"))
        self.enabled = enabled
        self.files = 0
        self.bytes = 0
        self.start = time.monotonic()
        self._last_draw = 0.0
        self._lock = threading.Lock()

    def advance(self, nbytes: int = 0, files: int = 0) -> None:
        with self._lock:
            self.bytes += nbytes
            self.files += files
            now = time.monotonic()
            if self.enabled and now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-6)
        rate = self.bytes / elapsed
        eta = ""
        if rate > 0 and self.total_bytes > self.bytes:
            eta = f", ETA {int((self.total_bytes - self.bytes) / rate)}s"
        sys.stderr.write(f"\r{self.label}: {self.files}/{self.total_files} files, "
                         f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}, "
                         f"{human_bytes(rate)}/s{eta}\x1b[K")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()
