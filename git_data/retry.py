"""The one retry policy: how many tries, how long to wait between them, which errors are
worth another try. Standard library only (the host side of ``git data run`` uses it).

    action -> fails -> transient? (the caller's test, or :func:`is_transient`)
           -> wait backoff(attempt): exponential from ``base_s``, capped at ``cap_s``, times a
              uniform jitter in [0.5, 1.5] so that many clients do not retry in step
           -> try again, up to ``attempts`` tries in all -> the last error is raised

Users: the transfer queue (whole objects, and rounds of small ones), the S3 store's
metadata calls, and the run host's cache downloads.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

TRANSIENT_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.ECONNREFUSED,
                              errno.EPIPE, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                              errno.ENETUNREACH, errno.ENETRESET})


class TransientError(Exception):
    """Marks an error as worth a retry (network, throttling, a server's 5xx); errors of the
    layers above inherit it (``store.errors.TransientStoreError``)."""


def chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc`` and its causes (s3fs translates botocore errors and keeps them as cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def network_error(exc: BaseException) -> bool:
    """A failure of the connection itself, as the standard library reports it."""
    import http.client  # here, not at start-up: its imports cost every hook
    import socket

    if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout,
                        http.client.IncompleteRead)):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def is_transient(exc: BaseException) -> bool:
    """The default test: marked transient, or a network failure (in ``exc`` or its causes);
    a missing file never is."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, FileNotFoundError):
        return False
    return any(network_error(item) for item in chain(exc))


def backoff(attempt: int, base_s: float = 0.2, cap_s: float = 8.0) -> float:
    """Seconds to wait before try ``attempt + 2`` (``attempt`` counts from 0): exponential
    from ``base_s``, capped at ``cap_s``, times a uniform jitter in [0.5, 1.5] (from
    os.urandom: random's import is kept off the start-up of every hook)."""
    jitter = int.from_bytes(os.urandom(2), "big") / 65535
    return min(cap_s, base_s * 2**attempt) * (0.5 + jitter)


@dataclass(frozen=True)
class Policy:
    """``attempts`` tries in all (1: no retry), waiting :func:`backoff` between them."""

    attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 8.0

    def tries(self) -> Iterator[int]:
        """0, 1, ... ``attempts - 1``, sleeping the backoff before each try after the first;
        for callers that decide per error (``last`` says when no try is left)."""
        for attempt in range(max(1, self.attempts)):
            if attempt:
                time.sleep(backoff(attempt - 1, self.base_s, self.cap_s))
            yield attempt

    def last(self, attempt: int) -> bool:
        return attempt + 1 >= self.attempts

    def run(self, action: Callable[[], T],
            transient: Callable[[BaseException], bool] = is_transient) -> T:
        """``action()``, tried again after each failure that ``transient`` accepts."""
        for attempt in self.tries():
            try:
                return action()
            except Exception as exc:
                if self.last(attempt) or not transient(exc):
                    raise
        raise AssertionError("unreachable")
