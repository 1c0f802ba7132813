"""The one error type that reaches the user as a clean one-line message."""

from __future__ import annotations


class FatalError(Exception):
    """A failure the user can act on: the message names the file, commit or store involved
    and says what to do. The CLI prints it as ``git-data: <message>`` and exits with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
