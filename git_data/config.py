"""Configuration: ``data.*`` keys from git config (per user and per repository) layered over
the committed ``.gitdata`` file (git-config format, shared by every clone).

git config wins over ``.gitdata`` so a user can override a shared setting for one clone.
Secrets are only ever read from git config or the environment, never from ``.gitdata``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from .errors import FatalError
from .gitrepo import Repo, run_git

GITDATA_FILE = ".gitdata"
DEFAULT_MAX_FILE_SIZE = 25 * 1000 * 1000
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "t": 1000**4,
          "tb": 1000**4, "tib": 1024**4}


def _parse_list(raw: bytes) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for item in raw.split(b"\0"):
        if not item:
            continue
        key, _, value = item.decode(errors="replace").partition("\n")
        values.setdefault(_lower_key(key), []).append(value)
    return values


def _lower_key(key: str) -> str:
    # section and variable names are case-insensitive, subsection names are not.
    parts = key.split(".")
    if len(parts) <= 2:
        return key.lower()
    return ".".join([parts[0].lower(), *parts[1:-1], parts[-1].lower()])


class Config:
    """A merged view of git config and ``.gitdata`` for one repository."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.git_values = _parse_list(repo.git("config", "-z", "--list", check=False))
        self.shared_values = _parse_list(self._read_gitdata())

    def _read_gitdata(self) -> bytes:
        path = self.gitdata_path()
        if path is not None and path.exists():
            return run_git(["config", "-z", "-f", str(path), "--list"], check=False)
        if self.repo.bare:  # a bare repository: read the committed file from HEAD.
            blob = self.repo.git("show", f"HEAD:{GITDATA_FILE}", check=False)
            if blob:
                return run_git(["config", "-z", "-f", "-", "--list"], input=blob, check=False)
        return b""

    def gitdata_path(self) -> Path | None:
        return self.repo.workdir / GITDATA_FILE if self.repo.workdir else None

    def get(self, key: str, default: str | None = None) -> str | None:
        key = _lower_key(key)
        for source in (self.git_values, self.shared_values):
            if key in source:
                return source[key][-1]
        return default

    def get_git(self, key: str) -> str | None:
        """From git config alone (e.g. a git remote's url, which .gitdata's data remotes of
        the same name must not shadow)."""
        values = self.git_values.get(_lower_key(key))
        return values[-1] if values else None

    def get_shared(self, key: str) -> str | None:
        values = self.shared_values.get(_lower_key(key))
        return values[-1] if values else None

    def get_int(self, key: str, default: int) -> int:
        raw = self.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise FatalError(f"config {key} = '{raw}' is not a whole number; fix it with "
                             f"`git config {key} N`") from exc

    def get_bool(self, key: str, default: bool) -> bool:
        return parse_bool(self.get(key), default)

    def get_size(self, key: str, default: int) -> int:
        raw = self.get(key)
        return default if raw is None else parse_size(raw, key)

    def subsections(self, section: str) -> Iterator[str]:
        """Names of ``[section "name"]`` blocks from both sources, each once, in order."""
        seen: dict[str, None] = {}
        prefix = section.lower() + "."
        for source in (self.shared_values, self.git_values):
            for key in source:
                if key.startswith(prefix) and key.count(".") >= 2:
                    seen.setdefault(key[len(prefix):key.rindex(".")], None)
        return iter(seen)

    @property
    def cache_dir(self) -> Path:
        raw = self.get("data.cacheDir") or os.environ.get("GIT_DATA_CACHE_DIR")
        if raw:
            return Path(os.path.expanduser(raw)).resolve()
        return self.repo.common_dir / "data"

    @property
    def hash_algorithm(self) -> str:
        algo = self.get("data.hashAlgorithm", "xxh128") or "xxh128"
        if algo not in ("xxh128", "sha256"):
            raise FatalError(f"data.hashAlgorithm = '{algo}' is not supported; use xxh128 or "
                             "sha256")
        return algo

    @property
    def max_file_size(self) -> int:
        return self.get_size("data.maxFileSize", DEFAULT_MAX_FILE_SIZE)


def parse_bool(raw: str | None, default: bool) -> bool:
    """A git boolean: true, yes, on, 1, or a key with no value; ``default`` when unset."""
    if raw is None:
        return default
    return raw.lower() in ("1", "true", "yes", "on", "")


def parse_size(raw: str, what: str = "size") -> int:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", raw)
    if not match or match[2].lower() not in _UNITS:
        raise FatalError(f"{what} = '{raw}' is not a size; write e.g. 25MB, 1GiB or 1048576")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def set_shared(repo: Repo, key: str, value: str) -> None:
    """Write a key to the committed ``.gitdata`` file."""
    run_git(["config", "-f", str(repo.root / GITDATA_FILE), key, value])


def unset_shared_section(repo: Repo, section: str) -> bool:
    path = repo.root / GITDATA_FILE
    if not path.exists():
        return False
    out = run_git(["config", "-f", str(path), "--remove-section", section], check=False)
    return out is not None
