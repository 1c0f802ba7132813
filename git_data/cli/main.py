"""The click command tree."""

from __future__ import annotations

import click

from .. import __version__, progress
from ..gitrepo import Repo


def _repo() -> Repo:
    return Repo(".")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr.")
@click.version_option(__version__, prog_name="git-data")
def cli(quiet: bool) -> None:
    """git-data: large files as pointers in git, their bytes in an object store."""
    progress.set_quiet(quiet)


def quiet() -> bool:
    return progress.QUIET


# ----- set-up ----------------------------------------------------------------------------
@cli.command()
@click.option("--global", "scope", flag_value="global", help="Filter config for every repo.")
@click.option("--local", "scope", flag_value="local", help="This repository only (default).")
def install(scope: str | None) -> int:
    """Configure the filter and install the hook shims (chaining existing hooks)."""
    from ..commands.install import install as run

    return run(scope)


@cli.command()
@click.option("--global", "scope", flag_value="global")
@click.option("--local", "scope", flag_value="local")
def uninstall(scope: str | None) -> int:
    """Remove the filter config and hooks, restoring hooks that were chained."""
    from ..commands.install import uninstall as run

    return run(scope)


@cli.command()
@click.argument("patterns", nargs=-1)
def track(patterns: tuple[str, ...]) -> int:
    """Store files matching PATTERNS as data (no argument: list the patterns)."""
    from ..commands.track import track as run

    return run(_repo(), list(patterns))


@cli.command()
@click.argument("patterns", nargs=-1, required=True)
def untrack(patterns: tuple[str, ...]) -> int:
    """Stop storing files matching PATTERNS as data."""
    from ..commands.track import untrack as run

    return run(_repo(), list(patterns))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def add(paths: tuple[str, ...]) -> int:
    """Track exactly these paths as data and stage them."""
    from ..commands.track import add as run

    return run(_repo(), list(paths))


# ----- looking -----------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> int:
    """Every data file with its state, sizes and totals."""
    from ..commands.status import status as run

    return run(_repo(), as_json)


@cli.command("ls-files")
@click.argument("rev", default="HEAD")
@click.option("--json", "as_json", is_flag=True)
def ls_files(rev: str, as_json: bool) -> int:
    """Pointers in a revision (path, oid, size), without a checkout."""
    from ..commands.ls_files import ls_files as run

    return run(_repo(), rev, as_json)


@cli.command()
@click.option("--repair", is_flag=True, help="Quarantine corrupt objects, fetch good copies.")
def fsck(repair: bool) -> int:
    """Re-hash cache objects and check pointers."""
    from ..commands.fsck import fsck as run

    return run(_repo(), repair)


@cli.command()
@click.option("--dry-run", is_flag=True)
@click.option("--keep-days", type=int, default=14, show_default=True)
def gc(dry_run: bool, keep_days: int) -> int:
    """Remove cache objects nothing references and a store holds."""
    from ..commands.gc import gc as run

    return run(_repo(), dry_run, keep_days)


# ----- stores ----------------------------------------------------------------------------
@cli.group()
def remote() -> None:
    """Data stores (written to the committed .gitdata file)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--default", "default", is_flag=True, help="Make it the default data remote.")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, SeaweedFS, R2, Ceph).")
@click.option("--region")
@click.option("--profile", help="AWS profile to read credentials from.")
@click.option("--personal", is_flag=True, help="Only this clone (.git/config), not .gitdata.")
def remote_add(name: str, url: str, default: bool, endpoint_url: str | None,
               region: str | None, profile: str | None, personal: bool) -> int:
    """Add a data remote NAME at URL."""
    from ..commands.remote import remote_add as run

    return run(_repo(), name, url, default, {"endpointurl": endpoint_url, "region": region,
                                             "profile": profile}, personal)


@remote.command("list")
@click.option("--json", "as_json", is_flag=True)
def remote_list(as_json: bool) -> int:
    """List data remotes."""
    from ..commands.remote import remote_list as run

    return run(_repo(), as_json)


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> int:
    """Remove a data remote."""
    from ..commands.remote import remote_remove as run

    return run(_repo(), name)


@cli.command("ls-remote")
@click.argument("remote", required=False)
@click.option("--json", "as_json", is_flag=True)
def ls_remote(remote: str | None, as_json: bool) -> int:
    """Branches known to the store, with commit, object count and size."""
    from ..commands.remote import ls_remote as run

    return run(_repo(), remote, as_json)


@cli.command()
@click.argument("remote", required=False)
@click.argument("refs", nargs=-1)
@click.option("--all", "all_refs", is_flag=True, help="Every branch and tag.")
def push(remote: str | None, refs: tuple[str, ...], all_refs: bool) -> int:
    """Upload the data that REFS (default: the current branch) need."""
    from ..config import Config
    from ..push import push_refs

    repo = _repo()
    return push_refs(repo, Config(repo), remote, list(refs), all_refs, quiet())


def _selection(func):  # type: ignore[no-untyped-def]
    func = click.option("--exclude", "-X", multiple=True, help="Glob of paths to skip.")(func)
    return click.option("--include", "-I", multiple=True, help="Glob of paths to get.")(func)


@cli.command()
@click.argument("remote", required=False)
@click.argument("revs", nargs=-1)
@_selection
def fetch(remote: str | None, revs: tuple[str, ...], include: tuple[str, ...],
          exclude: tuple[str, ...]) -> int:
    """Download objects REVS (default HEAD) need into the cache."""
    from ..commands.fetch import fetch as run

    return run(_repo(), remote, list(include) or None, list(exclude) or None, list(revs),
               quiet())


@cli.command()
@click.argument("remote", required=False)
@_selection
def pull(remote: str | None, include: tuple[str, ...], exclude: tuple[str, ...]) -> int:
    """Fetch and write the data files of the checked-out commit."""
    from ..commands.pull import pull as run

    return run(_repo(), remote, list(include) or None, list(exclude) or None, [], quiet())


@cli.command()
@_selection
def checkout(include: tuple[str, ...], exclude: tuple[str, ...]) -> int:
    """Write data files from the cache (no download)."""
    from ..commands.pull import checkout as run

    return run(_repo(), list(include) or None, list(exclude) or None, quiet())


@cli.command()
@click.argument("url")
@click.argument("directory", required=False)
@click.option("--no-data", is_flag=True, help="Pointers only; fetch nothing.")
@click.option("--branch", "-b", help="Branch to check out.")
@click.option("--copy-data-to", "copy_to", metavar="STORE_URL",
              help="Copy the data the branches reach (or --include) to this new store and "
                   "make it this clone's default data remote.")
@click.option("--copy-endpoint-url", help="S3 endpoint of the new store (default: the "
                                          "source store's).")
@click.option("--copy-region", help="Region of the new store.")
@click.option("--copy-profile", help="AWS profile for the new store.")
@_selection
def clone(url: str, directory: str | None, no_data: bool, branch: str | None,
          copy_to: str | None, copy_endpoint_url: str | None, copy_region: str | None,
          copy_profile: str | None, include: tuple[str, ...], exclude: tuple[str, ...]) -> int:
    """Clone a repository, then download its data in parallel."""
    from ..commands.clone import CopyTarget
    from ..commands.clone import clone as run

    target = CopyTarget(copy_to, {"endpointurl": copy_endpoint_url or "", "region": copy_region
                                  or "", "profile": copy_profile or ""}) if copy_to else None
    return run(url, directory, no_data, list(include) or None, list(exclude) or None, quiet(),
               ("-b", branch) if branch else (), target)


# ----- plumbing called by git ----------------------------------------------------------
@cli.command("filter-process", hidden=True)
def filter_process() -> int:
    from ..commands.filter_process import filter_process as run

    return run()


@cli.command(hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> int:
    from ..hooks import run_hook

    return run_hook(name, list(args))


@cli.command(hidden=True)
@click.argument("path")
def textconv(path: str) -> int:
    from ..commands.textconv import textconv as run

    return run(path)


@cli.command("merge-driver", hidden=True)
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("path")
def merge_driver(base: str, ours: str, theirs: str, path: str) -> int:
    from ..commands.textconv import merge_driver as run

    return run(base, ours, theirs, path)
