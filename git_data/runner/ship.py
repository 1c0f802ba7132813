"""Getting the agent onto a host: ``probe`` it, and where it lacks this version, ship the host
side of this client's git_data over the connection (a tar of the source of runner/host/ and
the git_data modules it imports, :func:`shipped_files`) into
``<workdir>/agent/<version>-<hash>/``; then the few third-party modules the agent needs there
(xxhash to verify xxh128 objects; fsspec and the store's driver, such as s3fs, for stores that
are not a local directory), with their dependencies, as one consistent set: whether or not the
host has its own copies, which are never mixed in (see :func:`_not_shipped`). A distribution is
shipped from this client's own installation when it is pure Python or built for the host's
Python (same extension suffix and platform), otherwise the host installs that exact version
with pip. Nothing is installed system-wide on the host.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata as md
import io
import json
import re
import sysconfig
import tarfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import FatalError
from ..progress import note
from .host import agent
from .transport import SshTransport, Transport

PROTOCOL_MODULES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
                    "abfs": "adlfs", "sftp": "sshfs", "ssh": "sshfs", "http": "aiohttp",
                    "https": "aiohttp"}
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
HOST_PACKAGE = "git_data.runner.host"


@lru_cache(maxsize=1)
def shipped_files() -> list[Path]:
    """The source files the host needs: every module of runner/host/ and, transitively, each
    git_data module one of them imports (at top level or inside a function, such as
    hostfs's ``git_data.store`` for stores that are not a local folder), with the packages
    above each. Only the top-level imports of ``git_data/__init__.py`` are followed: its
    functions (``git_data.open``, ``git_data.stats``) are the client's API."""
    host = PACKAGE_ROOT / "runner" / "host"
    queue = [f"{HOST_PACKAGE}.{p.stem}" if p.stem != "__init__" else HOST_PACKAGE
             for p in host.glob("*.py")]
    seen: dict[str, Path] = {}
    while queue:
        module = queue.pop()
        path = _module_file(module)
        if module in seen or path is None:
            continue
        seen[module] = path
        parts = module.split(".")
        queue += [".".join(parts[:i]) for i in range(1, len(parts))]
        queue += _git_data_imports(module, path)
    return sorted(seen.values())


def _module_file(module: str) -> Path | None:
    if module != "git_data" and not module.startswith("git_data."):
        return None
    base = PACKAGE_ROOT.joinpath(*module.split(".")[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


IMPORT_LINE = re.compile(r"^([ \t]*)(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]", re.M)


def _git_data_imports(module: str, path: Path) -> list[str]:
    """The modules (and, for ``from X import name``, the submodules X.name) it imports. Only
    the import statements are parsed (each line that starts one, with its continuation):
    parsing the whole of the 24 files took 0.3 s, on every run."""
    text = path.read_text(encoding="utf-8")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []
    for match in IMPORT_LINE.finditer(text):
        if module == "git_data" and match[1]:
            continue  # an import inside a function of the package's API
        end = text.find("\n", match.start())
        end = len(text) if end < 0 else end
        code = text[match.start():end].split("#", 1)[0]
        if "(" in code and ")" not in code:  # from x import (\n a,\n b)
            end = text.find(")", match.start()) + 1
        try:
            tree = ast.parse(text[match.end(1):end])
        except SyntaxError:  # "import" inside a string or a docstring's example
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                found += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return found


@lru_cache(maxsize=1)
def version_dir() -> str:
    """``<version>-<hash of the shipped source>``: a changed host side ships itself again
    (a change on the client side only does not)."""
    digest = hashlib.sha256()
    for path in shipped_files():
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"{__version__}-{digest.hexdigest()[:12]}"


def package_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in shipped_files():
            tar.add(path, arcname="git_data/" + path.relative_to(PACKAGE_ROOT).as_posix())
    return buf.getvalue()


def needed_modules(oids: list[str], store_url: str) -> list[str]:
    """Top-level import names the agent needs on the host for these objects and this store
    (their dependencies are looked at only when one of them is missing there)."""
    protocol = store_url.split("://", 1)[0] if "://" in store_url else "file"
    wanted = ["xxhash"] if protocol != "file" or any(o.startswith("xxh128:") for o in oids) \
        else []
    if protocol != "file":
        wanted.append("fsspec")
        if PROTOCOL_MODULES.get(protocol):
            wanted.append(PROTOCOL_MODULES[protocol])
    return wanted


def closure(modules: list[str]) -> list[md.Distribution]:
    """The installed distributions providing ``modules``, with their dependencies."""
    by_module = md.packages_distributions()
    queue = [d for m in modules for d in by_module.get(m, [])]
    seen: dict[str, md.Distribution] = {}
    while queue:
        name = re.sub(r"[-_.]+", "-", queue.pop()).lower()
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional dependency this client does not have either
        seen[name] = dist
        for requirement in dist.requires or []:
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
            if match and "extra ==" not in requirement.replace("extra==", "extra =="):
                queue.append(match[1])
    return list(seen.values())


def prepare(transport: Transport, need: list[str], gpus: int) -> dict[str, Any]:
    """Probe the host, installing the agent and its missing modules there first if needed."""
    info = probe(transport, need, gpus)
    if isinstance(transport, SshTransport):
        info["missing"] = _not_shipped(info, need)
        if info["missing"]:
            ship_modules(transport, info)
            info = probe(transport, need, gpus)
            info["missing"] = _not_shipped(info, need)
    if info["missing"]:
        raise FatalError(f"host {transport.host.name}: the Python module(s) "
                         f"{', '.join(info['missing'])} could not be shipped or installed "
                         f"for {info['executable']} there; see the pip output above")
    return info


def _not_shipped(info: dict[str, Any], need: list[str]) -> list[str]:
    """On an SSH host every module the agent needs comes from the set this client ships, never
    from the host's own site-packages: a host whose s3fs imports but sits on an older botocore
    fails at the first S3 call, far from any message the client sees."""
    shipped = info.get("shipped")
    if not isinstance(shipped, list):  # an agent too old to say: trust its "missing"
        return list(info["missing"])
    return [m for m in need if m not in shipped]


def prepared_marker(cache_dir: Path, transport: Transport, need: list[str]) -> Path:
    """A file in the client's cache saying this host was prepared for this agent and these
    modules; later runs then start at once, and fall back to :func:`prepare` if the host
    changed since (the agent answers 'missing')."""
    host = transport.host
    key = json.dumps([host.url, host.workdir, host.python, version_dir(), sorted(need)])
    return cache_dir / "hosts" / hashlib.sha256(key.encode()).hexdigest()[:20]


def probe(transport: Transport, need: list[str], gpus: int) -> dict[str, Any]:
    args = ["probe", "--workdir", transport.host.workdir, "--gpus", str(gpus),
            "--need", ",".join(need)]
    proc = transport.run(args)
    if isinstance(transport, SshTransport) and proc.returncode == agent.EXIT_NOT_INSTALLED:
        note(f"installing git-data {__version__} on host {transport.host.name} "
             f"({transport.host.workdir}/agent/{transport.version_dir})")
        install(transport, transport.version_dir, package_tar())
        proc = transport.run(args)
    return _parse_probe(transport, proc.returncode, proc.stdout, proc.stderr)


def _parse_probe(transport: Transport, code: int, stdout: bytes, stderr: bytes
                 ) -> dict[str, Any]:
    if code != 0:
        transport.raise_for(code, stderr)
    for line in stdout.decode(errors="replace").splitlines():
        if line.startswith(agent.PROBE_MARK):
            return dict(json.loads(line[len(agent.PROBE_MARK):]))
    raise FatalError(f"host {transport.host.name}: the agent gave no answer "
                     f"({stderr.decode(errors='replace').strip()[-200:]})")


def install(transport: SshTransport, subdir: str, tar: bytes | None,
            pip_requirement: str | None = None) -> None:
    proc = transport.run_argv(transport.install_argv(subdir, pip_requirement), tar)
    if proc.returncode != 0:
        transport.raise_for(proc.returncode, proc.stderr)


def ship_modules(transport: SshTransport, info: dict[str, Any]) -> None:
    """Ship the missing modules with every dependency this client has, whether or not the
    host has its own copy: a shipped set comes first on the host's path and must agree with
    itself (the host's older botocore beside a shipped aiobotocore that needs a newer one
    failed at import)."""
    same_abi = (info.get("ext_suffix") == sysconfig.get_config_var("EXT_SUFFIX")
                and info.get("platform") == sysconfig.get_platform())
    for dist in closure(sorted(info["missing"])):
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        subdir = f"{transport.version_dir}/deps/{name}-{dist.version}"
        if same_abi or not compiled(dist):
            note(f"shipping {name} {dist.version} to host {transport.host.name}")
            install(transport, subdir, dist_tar(dist))
        else:
            note(f"installing {name}=={dist.version} on host {transport.host.name} with pip")
            install(transport, subdir, None, f"{name}=={dist.version}")


def compiled(dist: md.Distribution) -> bool:
    return any(str(f).endswith((".so", ".pyd", ".dylib")) for f in dist.files or [])


def dist_tar(dist: md.Distribution) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                tar.add(source, arcname=file.as_posix())
    return buf.getvalue()
