"""Path rules shared by client and host (standard library only): destinations inside a run's
checkout, and store paths of runs (``runs/<id>/...``) and aliases (``links/<alias>.json``)."""

from __future__ import annotations

import re

from ...errors import FatalError
from ...safeio import UnsafePath, relative_parts

ALIAS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def inside_checkout(path: str, what: str) -> str:
    """``path`` normalised, refused when absolute or when it climbs out with ``..``."""
    if not path or path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", path):
        raise FatalError(f"{what} '{path}' must be a relative path inside the run's checkout")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FatalError(f"{what} '{path}' must not contain '..'; it has to stay inside the "
                         "run's checkout")
    if not parts:
        raise FatalError(f"{what} '{path}' names the checkout itself; give a folder inside it")
    return "/".join(parts)


def run_key(run_id: int) -> str:
    return f"runs/{run_id}"


def split_run_path(path: str) -> tuple[int, str] | None:
    """``runs/12/outputs/a.pt`` -> (12, 'outputs/a.pt'); None for anything else, ``..`` and
    empty components included (a path read from a link or a record may be an attacker's)."""
    match = re.fullmatch(r"runs/([0-9]{1,18})(?:/(.*))?", path.strip("/"))
    if not match:
        return None
    rest = match[2] or ""
    if rest:
        try:
            rest = "/".join(relative_parts(rest))
        except UnsafePath:
            return None
    return int(match[1]), rest


def below(prefix: str, key: str, where: str) -> str:
    """The part of the listed store key ``key`` below ``prefix``, checked to stay inside it
    (a store listing, like a link, may hold ``..``): '' when ``key`` is ``prefix`` itself."""
    if key == prefix:
        return ""
    if not key.startswith(prefix.rstrip("/") + "/"):
        raise FatalError(f"refusing {key!r} listed under {prefix} in {where}: it is not inside "
                         "that folder")
    try:
        return "/".join(relative_parts(key[len(prefix.rstrip("/")) + 1:]))
    except UnsafePath:
        raise FatalError(f"refusing {key!r} listed under {prefix} in {where}: it leaves that "
                         "folder ('..' or an empty name); the store holds a bad name") from None


def check_alias(alias: str) -> str:
    if not ALIAS_RE.fullmatch(alias) or alias in ("runs", "links"):
        raise FatalError(f"alias '{alias}' must be letters, digits, '.', '_' or '-' (and not "
                         "'runs' or 'links')")
    return alias


SECRET_NAME = re.compile(r"KEY|SECRET|TOK|PASS|PWD|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE|"
                         r"CERT|SIGN", re.IGNORECASE)


def redact_env(env: dict[str, str]) -> dict[str, str]:
    """For `--env-public`: values of variables whose names look like credentials are never
    recorded, and a password in a URL value (``postgres://u:pw@db``) is cut out."""
    return {k: ("<redacted>" if SECRET_NAME.search(k) else
                re.sub(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*):[^/@\s]*@", r"\1:<redacted>@", v))
            for k, v in env.items()}


def strip_password(url: str) -> str:
    """A URL with any ``user:password@`` reduced to ``user@``."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@]*):[^/@]*@", r"\1@", url)
