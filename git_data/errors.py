"""The one error type that reaches the user as a clean one-line message, and the words for
the faults of the machine (a full disk, a read-only file system, out of memory) that the
CLI and the filter turn into one line too."""

from __future__ import annotations

import errno


class FatalError(Exception):
    """A failure the user can act on: the message names the file, commit or store involved
    and says what to do. The CLI prints it as ``git-data: <message>`` and exits with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


_FAULTS = {  # errno -> (what happened, what to do)
    errno.ENOSPC: ("no space left on the device", "free some space"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or raise the quota"),
    errno.EFBIG: ("file too large for this file system or process limit",
                  "raise the limit (ulimit -f) or use another file system"),
    errno.EROFS: ("read-only file system", "make it writable, or point data.cacheDir at a "
                  "writable folder"),
    errno.EACCES: ("permission denied", "fix the permissions (or owner) of that path"),
    errno.EPERM: ("operation not permitted", "fix the permissions (or owner) of that path"),
}


def fault_message(exc: BaseException, again: str = "run the same command again") -> str:
    """One line for a fault of the machine (or any other error): what failed, what to do."""
    if isinstance(exc, MemoryError):
        return f"out of memory; close other programs (or use a bigger machine), then {again}"
    if isinstance(exc, OSError) and exc.errno in _FAULTS:
        what, todo = _FAULTS[exc.errno]
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{what}{where}; {todo}, then {again}"
    return str(exc) or type(exc).__name__


def is_fault(exc: BaseException) -> bool:
    """A fault of the machine rather than of the input: full disk or quota, a read-only file
    system, a permission denied, out of memory."""
    return isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno in _FAULTS)
