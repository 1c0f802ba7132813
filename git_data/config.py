"""Configuration: ``data.*`` keys from git config (per user and per repository) layered over
the committed ``.gitdata`` file (git-config format, shared by every clone).

git config wins over ``.gitdata`` so a user can override a shared setting for one clone.

``.gitdata`` is repository content, so it is untrusted: it is read once (never through a
symlink), parsed by git, and every key passes :data:`SHARED_KEYS`, the one allowlist of
what a committed file may set. Anything else (a command, a local path outside the
repository, a credential, tuning of this machine) comes only from the user's own git
config; a refused key is ignored with one warning. Values that would send data somewhere
new are checked against the user's config too: an S3 ``endpointurl`` must be listed in
``data.trustedEndpoint``, a local store folder must lie under ``data.trustedPath`` (or be
the embedded store of one of the user's own git remotes). A mistake (a syntax error, an
empty or relative store URL) is a :class:`FatalError` naming ``.gitdata`` and its line.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import FatalError
from .gitrepo import PointerEntry, Repo, run_git
from .progress import warn

GITDATA_FILE = ".gitdata"
GITDATA_MAX_BYTES = 1 << 20  # a configuration file, not data: larger is a mistake or an attack
# What a committed .gitdata may set ('*' is one subsection name); docs/formats.md lists why.
SHARED_KEYS = frozenset({
    "data.remote", "data.host", "data.maxfilesize", "data.hashalgorithm",
    "data.directcheckout", "data.directcheckoutminsize",
    "remote.*.url", "remote.*.endpointurl", "remote.*.region", "remote.*.profile",
    "branch.*.remote", "host.*.url", "host.*.workdir",
})
# Store URL schemes a committed .gitdata may name: object stores whose endpoint is the
# provider's (or one the user trusts), and local folders the user trusts.
SHARED_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "file")
_WARNED: set[str] = set()  # refused keys already reported by this process
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
        self._shared: dict[str, list[str]] | None = None
        self._gitdata_text = b""

    @property
    def shared_values(self) -> dict[str, list[str]]:
        """The keys of ``.gitdata`` that pass :data:`SHARED_KEYS`, read on first use (a
        command that needs only git config never reads the file)."""
        if self._shared is None:
            text = self._read_gitdata()
            self._gitdata_text = text
            self._shared = self._vet(_parse_list(_git_parse(text))) if text else {}
        return self._shared

    def _read_gitdata(self) -> bytes:
        if self.repo.workdir is not None:
            return read_gitdata(self.repo.workdir)
        if self.repo.bare:  # a bare repository: read the committed file from HEAD.
            return self.repo.git("cat-file", "blob", f"HEAD:{GITDATA_FILE}", check=False)
        return b""

    def where(self, key: str) -> str:
        """``.gitdata line N`` for a key read from the file, for one-line errors."""
        line = _line_of(self._gitdata_text, _lower_key(key))
        return f"{GITDATA_FILE} line {line}" if line else GITDATA_FILE

    # ----- the allowlist -----------------------------------------------------------------
    def _vet(self, values: dict[str, list[str]]) -> dict[str, list[str]]:
        kept: dict[str, list[str]] = {}
        for key, found in values.items():
            why = self._refusal(key, found[-1])
            if why is None:
                kept[key] = found
            elif why:
                _warn_once(f"{self.where(key)}: {key} {why}; ignored")
        return kept

    def _refusal(self, key: str, value: str) -> str | None:
        """Why ``.gitdata`` may not set ``key`` to ``value`` (None: it may; '': ignored
        without a word, the user's own config sets it); a mistake raises."""
        shape = _shape(key)
        if shape not in SHARED_KEYS:
            own = f"data.{key}" if shape.startswith(("remote.", "host.")) else key
            return (f"may be set only in your own git config (`git config {own} VALUE`), "
                    f"never by a committed {GITDATA_FILE}")
        name = key[key.index(".") + 1:key.rindex(".")] if shape.count(".") == 2 else ""
        if shape == "remote.*.url":
            return self._store_url_refusal(key, name, value)
        if shape == "remote.*.endpointurl":
            return self._endpoint_refusal(name, value)
        if shape.startswith("host.") and name == "local":
            return "changes the built-in local host, which only your own git config may do"
        if shape == "host.*.url" and not value.startswith("ssh://"):
            return (f"= '{value}' is not an ssh:// URL, the only kind of host "
                    f"{GITDATA_FILE} may name")
        return None

    def _store_url_refusal(self, key: str, name: str, url: str) -> str | None:
        where = self.where(key)
        if not url.strip():
            raise FatalError(f"{where}: {key} is empty; write the store's URL (s3://bucket/"
                             "prefix, file:///absolute/folder) or remove the line")
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if "::" in url or (scheme and scheme not in SHARED_SCHEMES) or (
                not scheme and re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url)):
            return (f"= '{url}' is a kind of store a committed file may not name (only "
                    f"{', '.join(s + '://' for s in SHARED_SCHEMES)}); set it in your own "
                    f"git config: `git config data.remote.{name}.url URL`")
        if scheme and scheme != "file":
            if not urllib.parse.urlsplit(url).netloc:
                raise FatalError(f"{where}: {key} = '{url}' names no bucket; write "
                                 f"{scheme}://BUCKET/PREFIX")
            return None
        folder = url[len("file://"):] if scheme else url
        if not folder.startswith("/"):
            raise FatalError(f"{where}: {key} = '{url}' is not an absolute path (it would "
                             "depend on the current folder); write file:///absolute/folder")
        folder = os.path.normpath(folder)
        if self.get_git(f"data.remote.{name}.url") or self.trusted_folder(folder):
            return None
        return (f"= '{url}' is a folder outside this repository that your own git config "
                f"does not trust; to use it: `git config --global --add data.trustedPath "
                f"{folder}`")

    def _endpoint_refusal(self, name: str, value: str) -> str | None:
        if self.get_git(f"data.remote.{name}.endpointurl"):
            return ""  # the user's own endpoint for this remote wins anyway
        if self.trusted_endpoint(value):
            return None
        return (f"= '{value}' is an endpoint your own git config does not trust (your "
                f"requests, signed with your access key, would go there); to use it: "
                f"`git config --global --add data.trustedEndpoint {value}`")

    def trusted_endpoint(self, url: str) -> bool:
        """Whether the user's own ``data.trustedEndpoint`` list holds ``url``."""
        wanted = endpoint_key(url)
        return wanted is not None and any(
            endpoint_key(t) == wanted for t in self.git_values.get("data.trustedendpoint", []))

    def trusted_folder(self, folder: str) -> bool:
        """Whether a local store folder lies under the user's own ``data.trustedPath`` or
        under a git remote of theirs that is a local path (its embedded store)."""
        roots = [os.path.expanduser(p) for p in self.git_values.get("data.trustedpath", [])]
        base = self.repo.workdir or self.repo.git_dir
        for key, urls in self.git_values.items():
            if key.startswith("remote.") and key.endswith(".url"):
                path = local_url_path(urls[-1], base)
                roots.extend([path] if path else [])
        for root in roots:
            root = os.path.normpath(root) if root else ""
            if root and (folder == root or folder.startswith(root.rstrip("/") + "/")):
                return True
        return False

    # ----- reading -----------------------------------------------------------------------
    def gitdata_path(self) -> Path | None:
        return self.repo.workdir / GITDATA_FILE if self.repo.workdir else None

    def get(self, key: str, default: str | None = None) -> str | None:
        key = _lower_key(key)
        if key in self.git_values:
            return self.git_values[key][-1]
        if _shape(key) not in SHARED_KEYS:  # .gitdata may not set it: the file is not read
            return default
        found = self.shared_values.get(key)
        return found[-1] if found else default

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
        raw = self.get_git("data.cacheDir") or os.environ.get("GIT_DATA_CACHE_DIR")
        if raw:
            return Path(os.path.expanduser(raw)).resolve()
        return self.repo.common_dir / "data"

    @property
    def hash_algorithm(self) -> str:
        algo = self.get("data.hashAlgorithm", "xxh128") or "xxh128"
        if algo not in ("xxh128", "sha256"):
            where = "git config" if self.get_git("data.hashAlgorithm") else self.where(
                "data.hashAlgorithm")
            raise FatalError(f"{where}: data.hashAlgorithm = '{algo}' is not supported; use "
                             "xxh128 or sha256")
        return algo

    @property
    def require_hash(self) -> str | None:
        """``data.requireHash`` from the user's own git config only: the one algorithm a
        pointer must use to be read (a committed file cannot lower the bar it sets)."""
        raw = self.get_git("data.requireHash")
        if not raw:
            return None
        if raw.lower() != "sha256":
            raise FatalError(f"data.requireHash = '{raw}' is not supported; set it to sha256 "
                             "(`git config data.requireHash sha256`) or unset it")
        return "sha256"

    @property
    def max_file_size(self) -> int:
        return self.get_size("data.maxFileSize", DEFAULT_MAX_FILE_SIZE)


def refuse_weak_pointers(entries: Iterable[PointerEntry], required: str | None
                         ) -> None:
    """Raise one line naming the first file whose pointer does not use ``required``
    (``data.requireHash``); nothing has been read or written for any of them yet."""
    if required is None:
        return
    weak = [e for e in entries if not e.oid.startswith(required + ":")]
    if weak:
        more = f" (and {len(weak) - 1} more file(s))" if len(weak) > 1 else ""
        raise FatalError(f"{weak[0].path}{more}: pointer {weak[0].oid.split(':')[0]} is not "
                         f"{required}, which data.requireHash demands; nothing was read. "
                         "Ask the repository's owner to re-add it with data.hashAlgorithm = "
                         f"{required}, or unset data.requireHash to accept it")


def read_gitdata(workdir: Path) -> bytes:
    """The bytes of ``workdir/.gitdata`` (b"" when there is none), never through a link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(workdir / GITDATA_FILE, flags)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FatalError(f"{GITDATA_FILE} is a symbolic link; git-data reads only a "
                             "regular file there (replace the link with the file)") from None
        raise FatalError(f"cannot read {GITDATA_FILE}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise FatalError(f"{GITDATA_FILE} is not a regular file; git-data reads only a "
                             "regular file there")
        data = stream.read(GITDATA_MAX_BYTES + 1)
    if len(data) > GITDATA_MAX_BYTES:
        raise FatalError(f"{GITDATA_FILE} is over {GITDATA_MAX_BYTES} bytes; it is a small "
                         "configuration file: check what was committed there")
    return data


def _git_parse(text: bytes) -> bytes:
    """``git config --list`` of ``text``; a syntax error is one line naming the line."""
    # --no-includes: an [include] path in a committed file must not read the user's files
    proc = subprocess.run(["git", "config", "--no-includes", "-z", "-f", "-", "--list"],
                          input=text, capture_output=True)
    if proc.returncode != 0:
        found = re.search(rb"line (\d+)", proc.stderr)
        where = f"{GITDATA_FILE} line {found[1].decode()}" if found else GITDATA_FILE
        raise FatalError(f"{where} is not valid git-config syntax; fix that line (`git config "
                         f"-f {GITDATA_FILE} --list` shows git's reading); nothing was done")
    return proc.stdout


_SECTION = re.compile(r'\s*\[\s*([A-Za-z0-9.-]+)\s*(?:"((?:[^"\\]|\\.)*)")?\s*\](.*)')
_VARIABLE = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:[=#;]|$)")


def _line_of(text: bytes, key: str) -> int | None:
    """The line of ``text`` (git-config syntax) that sets ``key`` last, for messages."""
    found, section = None, ""
    for number, line in enumerate(text.decode(errors="replace").splitlines(), 1):
        header = _SECTION.match(line)
        if header:
            sub = header[2]
            section = header[1].lower()
            if sub is not None:
                section += "." + re.sub(r"\\(.)", r"\1", sub)
            line = header[3]
        variable = _VARIABLE.match(line)
        if variable and section and _lower_key(f"{section}.{variable[1]}") == key:
            found = number
    return found


def _shape(key: str) -> str:
    """``remote.origin.url`` -> ``remote.*.url``: how :data:`SHARED_KEYS` names it."""
    if key.count(".") < 2:
        return key
    return f"{key[:key.index('.')]}.*.{key[key.rindex('.') + 1:]}"


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warn(message)


def endpoint_key(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) endpoint, to compare two spellings of one; None
    for anything else (credentials in it included: never trusted)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username or (
            parts.password) or parts.path.strip("/") or parts.query:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def local_url_path(url: str, base: Path) -> str | None:
    """The folder a local URL or path names (relative ones against ``base``); None for a
    URL of any other kind (ssh://, https://, host:path)."""
    if not url:
        return None
    if url.startswith("file://"):
        return url[len("file://"):]
    if "://" in url or re.match(r"^[^/]+:", url):
        return None
    return os.path.normpath(base / os.path.expanduser(url))


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


def shared_file(repo: Repo) -> Path:
    """The work tree's ``.gitdata``, to be written by `git config -f` (which would write
    through a link to wherever it points: refused)."""
    path = repo.root / GITDATA_FILE
    if path.is_symlink():
        raise FatalError(f"{GITDATA_FILE} is a symbolic link; git-data writes only a regular "
                         "file there (replace the link with the file)")
    return path


def set_shared(repo: Repo, key: str, value: str) -> None:
    """Write a key to the committed ``.gitdata`` file (never through a link there)."""
    run_git(["config", "-f", str(shared_file(repo)), key, value])


def unset_shared_section(repo: Repo, section: str) -> bool:
    path = shared_file(repo)
    if not path.exists():
        return False
    out = run_git(["config", "-f", str(path), "--remove-section", section], check=False)
    return out is not None
