"""Where an object lives, the same in the local cache, every store and a run host's cache::

    objects/<hex[0:2]>/<hex[2:4]>/<hex>

Standard library only (through :mod:`git_data.pointer`): the host side of ``git data run``
imports it. Oids are validated here, so a key never holds ``/`` or ``..`` from an oid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .pointer import ALGORITHMS, split_oid

OBJECTS = "objects"
_ALGO_OF_LENGTH = {length: algo for algo, length in ALGORITHMS.items()}


def object_key(oid: str) -> str:
    """``xxh128:abcd..`` -> ``objects/ab/cd/abcd..`` (raises PointerError for a bad oid)."""
    hexdigest = split_oid(oid)[1]
    return f"{OBJECTS}/{hexdigest[:2]}/{hexdigest[2:4]}/{hexdigest}"


def object_folder(oid: str) -> str:
    """The folder of :func:`object_key`: ``objects/ab/cd``."""
    hexdigest = split_oid(oid)[1]
    return f"{OBJECTS}/{hexdigest[:2]}/{hexdigest[2:4]}"


def oid_of_name(name: str) -> str | None:
    """The oid an object's file name stands for (its algorithm from the digest's length), or
    None when the name is no object's."""
    algo = _ALGO_OF_LENGTH.get(len(name))
    return f"{algo}:{name}" if algo else None


def held(oids: Iterable[str], has: Callable[[str], bool],
         names_in: Callable[[str], set[str]]) -> set[str]:
    """Which of ``oids`` a store holds, asking per object folder rather than per object
    when several share one: ``names_in(folder)`` lists the file names there (one listing
    instead of a stat or HEAD each; FileNotFoundError or NotADirectoryError: none), and a
    folder with one wanted object asks ``has`` for it."""
    by_folder: dict[str, list[str]] = {}
    for oid in oids:
        by_folder.setdefault(object_folder(oid), []).append(oid)
    present: set[str] = set()
    for folder, group in by_folder.items():
        if len(group) == 1:
            if has(group[0]):
                present.add(group[0])
            continue
        try:
            names = names_in(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        present.update(oid for oid in group if split_oid(oid)[1] in names)
    return present
