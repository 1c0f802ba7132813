"""Pointer files: what git stores instead of a large file's bytes.

A pointer is exactly three lines, keys in this order, each ending in ``\\n``::

    version git-data/1
    oid xxh128:<32 lowercase hex>
    size <decimal bytes>

Anything that does not match this grammar exactly is ordinary content. Two near misses are
reported instead of silently stored: a pointer of another version of git-data
(``version git-data/2``) and a well-formed pointer naming a hash algorithm we do not know.
git-lfs pointers are recognised (read-only) so repositories can be migrated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "git-data/1"
MAX_POINTER_SIZE = 200
MAX_SIZE = 2**63 - 1  # the largest file size (off_t); a pointer claiming more is corrupt
LFS_VERSION = "https://git-lfs.github.com/spec/v1"

# Algorithm name -> length of its hex digest.
ALGORITHMS = {"xxh128": 32, "sha256": 64}

_POINTER_RE = re.compile(
    rb"\Aversion (?P<version>[^\n ]+)\n"
    rb"oid (?P<algo>[a-z0-9]+):(?P<hex>[0-9a-f]+)\n"
    rb"size (?P<size>0|[1-9][0-9]{0,19})\n\Z"
)
_LFS_RE = re.compile(
    rb"\Aversion https://git-lfs\.github\.com/spec/v1\n"
    rb"oid sha256:(?P<hex>[0-9a-f]{64})\n"
    rb"size (?P<size>0|[1-9][0-9]{0,19})\n\Z"
)
_VERSION_PREFIX = b"version git-data/"
_HEX_RE = re.compile("[0-9a-f]+")


class PointerError(ValueError):
    """Content shaped like a git-data pointer that this version cannot use."""


@dataclass(frozen=True)
class Pointer:
    """A parsed pointer. ``oid`` is ``<algo>:<hex>``."""

    oid: str
    size: int

    @property
    def algo(self) -> str:
        return self.oid.split(":", 1)[0]

    @property
    def hex(self) -> str:
        return self.oid.split(":", 1)[1]

    def render(self) -> bytes:
        return f"version {VERSION}\noid {self.oid}\nsize {self.size}\n".encode()


def parse(data: bytes) -> Pointer | None:
    """Return the pointer ``data`` holds, or None when it is ordinary content.

    Raises PointerError for a pointer of an unknown git-data version or hash algorithm, or
    of a size beyond ``MAX_SIZE``, so the caller can name the file instead of storing or
    returning the wrong bytes.
    """
    if len(data) > MAX_POINTER_SIZE or not data.startswith(_VERSION_PREFIX):
        return None
    match = _POINTER_RE.match(data)
    if match is None:
        return None
    version = match["version"].decode()
    algo = match["algo"].decode()
    hexdigest = match["hex"].decode()
    if version != VERSION:
        raise PointerError(f"pointer version '{version}' is not supported (this git-data reads "
                           f"{VERSION}); upgrade git-data")
    if algo not in ALGORITHMS:
        raise PointerError(f"pointer hash algorithm '{algo}' is not supported "
                           f"(known: {', '.join(sorted(ALGORITHMS))}); upgrade git-data")
    if len(hexdigest) != ALGORITHMS[algo]:
        return None
    return Pointer(oid=f"{algo}:{hexdigest}", size=_size(match["size"]))


def parse_lfs(data: bytes) -> Pointer | None:
    """A git-lfs pointer as a Pointer with a ``sha256:`` oid, or None."""
    if len(data) > MAX_POINTER_SIZE:
        return None
    match = _LFS_RE.match(data)
    if match is None:
        return None
    return Pointer(oid=f"sha256:{match['hex'].decode()}", size=_size(match["size"]))


def _size(digits: bytes) -> int:
    """A pointer's size, refused beyond ``MAX_SIZE``: no file is that large, and a size read
    from a pointer sizes downloads (ranges, buffers) before any byte has arrived."""
    size = int(digits)
    if size > MAX_SIZE:
        raise PointerError(f"pointer size {size} is beyond the largest possible file "
                           f"({MAX_SIZE} bytes); the pointer is corrupt, fix or remove it")
    return size


def looks_like_pointer(data: bytes) -> bool:
    """Cheap pre-check on a content prefix: could this be a pointer of any version?"""
    return data.startswith(_VERSION_PREFIX) or data.startswith(b"version " + LFS_VERSION.encode())


def split_oid(oid: str) -> tuple[str, str]:
    """``'xxh128:ab..'`` -> ``('xxh128', 'ab..')``, validating both parts."""
    algo, sep, hexdigest = oid.partition(":")
    if not sep or algo not in ALGORITHMS or len(hexdigest) != ALGORITHMS[algo] or (
            _HEX_RE.fullmatch(hexdigest) is None):
        raise PointerError(f"'{oid}' is not a valid object id")
    return algo, hexdigest


def is_oid(oid: str) -> bool:
    try:
        split_oid(oid)
    except PointerError:
        return False
    return True
