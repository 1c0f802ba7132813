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
@click.option("--stats", "with_stats", is_flag=True,
              help="Also save statistics in .gitdata-stats/ (staged).")
def add(paths: tuple[str, ...], with_stats: bool) -> int:
    """Track exactly these paths as data and stage them."""
    from ..commands.track import add as run

    code = run(_repo(), list(paths))
    if with_stats and code == 0:
        from ..commands.stats import save_stats

        code = save_stats(_repo(), list(paths))
    return code


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
@click.argument("revs", nargs=-1)
@click.option("--remote", "remote", is_flag=False, flag_value="", default=None,
              metavar="[NAME]", help="Check the store (default: the current branch's) for "
              "REVS (default HEAD) instead of the cache.")
@click.option("--sizes", is_flag=True, help="With --remote: compare sizes from one listing "
              "instead of re-hashing every object.")
@click.option("--repair", is_flag=True, help="Cache: quarantine corrupt objects, fetch good "
              "copies. With --remote: replace corrupt store objects and fill missing ones "
              "from verified cache copies.")
def fsck(revs: tuple[str, ...], remote: str | None, sizes: bool, repair: bool) -> int:
    """Re-hash cache objects and check pointers; with --remote, what a store holds."""
    from ..commands import fsck as command

    if remote is None:
        if revs or sizes:
            raise click.UsageError("REVS and --sizes go with --remote")
        return command.fsck(_repo(), repair)
    return command.fsck_remote(_repo(), remote or None, list(revs), sizes, repair)


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
@click.option("--branch", "routes", multiple=True, metavar="PATTERN",
              help="Branches matching PATTERN (e.g. 'experiments/*') push their data here.")
def remote_add(name: str, url: str, default: bool, endpoint_url: str | None,
               region: str | None, profile: str | None, personal: bool,
               routes: tuple[str, ...]) -> int:
    """Add a data remote NAME at URL (credentials: AWS_* variables, --profile, or
    `git config data.remote.NAME.accesskeyid` / `.secretaccesskey`; never in .gitdata)."""
    from ..commands.remote import remote_add as run

    return run(_repo(), name, url, default, {"endpointurl": endpoint_url, "region": region,
                                             "profile": profile}, personal, routes)


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
@click.option("--self-contained", is_flag=True,
              help="Copy into the branch's own store also the data the default store holds "
                   "(a routed branch otherwise reads it from there).")
def push(remote: str | None, refs: tuple[str, ...], all_refs: bool,
         self_contained: bool) -> int:
    """Upload the data that REFS (default: the current branch) need."""
    from ..config import Config
    from ..push import push_refs

    repo = _repo()
    return push_refs(repo, Config(repo), remote, list(refs), all_refs, quiet(),
                     self_contained)


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
@click.option("--sample", type=click.FloatRange(0, 1), metavar="FRACTION",
              help="Download a deterministic sample of the data files (chosen by oid).")
@_selection
def clone(url: str, directory: str | None, no_data: bool, branch: str | None,
          copy_to: str | None, copy_endpoint_url: str | None, copy_region: str | None,
          copy_profile: str | None, sample: float | None, include: tuple[str, ...],
          exclude: tuple[str, ...]) -> int:
    """Clone a repository, then download its data in parallel."""
    from ..commands.clone import CopyTarget
    from ..commands.clone import clone as run

    target = CopyTarget(copy_to, {"endpointurl": copy_endpoint_url or "", "region": copy_region
                                  or "", "profile": copy_profile or ""}) if copy_to else None
    return run(url, directory, no_data, list(include) or None, list(exclude) or None, quiet(),
               ("-b", branch) if branch else (), target, sample)


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


# ----- runs (git_data.runner) -----------------------------------------------------------
@cli.command(context_settings={"ignore_unknown_options": True,
                               "allow_interspersed_args": False})
@click.option("--host", "-H", "host", help="Host to run on (default: data.host, else local).")
@click.option("--remote", help="Data store for the run's data, logs and outputs.")
@click.option("--allow-dirty", is_flag=True,
              help="Run a snapshot of the working tree (kept as refs/data/runs/<id>).")
@click.option("--data", "data", multiple=True, metavar="GLOB",
              help="Only these data files (default: all of the commit's).")
@click.option("--no-data", is_flag=True, help="No data files at all.")
@click.option("--mount", "mounts", multiple=True, metavar="SRC:DEST",
              help="Put runs/ID/outputs/..., an alias or a host path at DEST.")
@click.option("--pip", metavar="FILE", help="pip requirements file for the environment.")
@click.option("--conda-file", metavar="FILE", help="conda environment file.")
@click.option("--apt", multiple=True, metavar="PKG", help="apt package the run needs.")
@click.option("--env", "env", multiple=True, metavar="K=V", help="Environment variable.")
@click.option("--env-public", is_flag=True,
              help="Record --env values in run.json (default: names only).")
@click.option("--gpus", type=click.IntRange(min=0), default=0, help="Free GPUs to use.")
@click.option("--grid", multiple=True, metavar="NAME=V1,V2",
              help="One run per combination; {NAME} in COMMAND takes each value.")
@click.option("--detach", "-d", is_flag=True, help="Start and return at once.")
@click.option("--output", default="outputs", show_default=True,
              help="Folder (in the checkout) uploaded as the run's outputs.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(host: str | None, remote: str | None, allow_dirty: bool, data: tuple[str, ...],
        no_data: bool, mounts: tuple[str, ...], pip: str | None, conda_file: str | None,
        apt: tuple[str, ...], env: tuple[str, ...], env_public: bool, gpus: int,
        grid: tuple[str, ...], detach: bool, output: str, command: tuple[str, ...]) -> int:
    """Run COMMAND (after --) on a host from the current commit, with its data."""
    from ..commands.runs import run as start
    from ..runner.launch import RunOptions

    return start(_repo(), RunOptions(
        command=list(command), host=host, remote=remote, allow_dirty=allow_dirty,
        data=list(data), no_data=no_data, mounts=list(mounts), pip=pip, conda_file=conda_file,
        apt=list(apt), env=list(env), env_public=env_public, gpus=gpus, grid=list(grid),
        detach=detach,
        output=output, quiet=quiet()))


@cli.command("runs")
@click.option("--json", "as_json", is_flag=True)
def runs_list(as_json: bool) -> int:
    """Runs of this repository, newest last."""
    from ..commands.runs import runs as show

    return show(_repo(), as_json)


@cli.command("show-run")
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True)
def show_run(run_id: str, as_json: bool) -> int:
    """A run's record: commit, command, host, GPUs, environment, times, exit status."""
    from ..commands.runs import show_run as show

    return show(_repo(), run_id, as_json)


@cli.command()
@click.argument("run_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
def logs(run_id: str, follow: bool) -> int:
    """A run's output (set-up notes on stderr), from the store."""
    from ..commands.runs import logs as show

    return show(_repo(), run_id, follow, quiet())


@cli.command()
@click.argument("run_id", metavar="ID")
def stop(run_id: str) -> int:
    """End a run: its whole process group, on its host."""
    from ..commands.runs import stop as end

    return end(_repo(), run_id)


@cli.command()
@click.argument("source", metavar="runs/ID/outputs/PATH")
@click.argument("dest", type=click.Path())
def cp(source: str, dest: str) -> int:
    """Copy a run's file or folder (or an alias) out of the store."""
    from ..commands.runs import cp as copy

    return copy(_repo(), source, dest)


@cli.command()
@click.argument("alias")
@click.argument("target", metavar="runs/ID/outputs/PATH")
def link(alias: str, target: str) -> int:
    """Name a run path: ALIAS/... then works wherever runs/ID/... does."""
    from ..commands.runs import link as make

    return make(_repo(), alias, target)


@cli.command()
@click.argument("path", metavar="runs/ID/outputs/PATH")
@click.option("--expires", default="7d", show_default=True, help="e.g. 30m, 12h, 7d.")
def share(path: str, expires: str) -> int:
    """A presigned URL to download one file of a run (S3 stores)."""
    from ..commands.runs import share as make

    return make(_repo(), path, expires)


@cli.group()
def host() -> None:
    """Hosts that runs go to (`local` is built in)."""


@host.command("add")
@click.argument("name")
@click.argument("url", metavar="ssh://[USER@]HOST[:PORT]")
@click.option("--workdir", help="Folder on the host for runs, caches, environments.")
@click.option("--python", help="Python 3 on the host (default: python3 on its PATH).")
@click.option("--personal", is_flag=True, help="Only this clone (.git/config), not .gitdata.")
@click.option("--default", "default", is_flag=True, help="Run there unless told otherwise.")
def host_add(name: str, url: str, workdir: str | None, python: str | None, personal: bool,
             default: bool) -> int:
    """Add (or change) host NAME."""
    from ..commands.run_hosts import host_add as add

    return add(_repo(), name, url, workdir, python, personal, default)


@host.command("list")
@click.option("--json", "as_json", is_flag=True)
def host_list(as_json: bool) -> int:
    """List hosts."""
    from ..commands.run_hosts import host_list as show

    return show(_repo(), as_json)


@host.command("remove")
@click.argument("name")
def host_remove(name: str) -> int:
    """Remove host NAME."""
    from ..commands.run_hosts import host_remove as remove

    return remove(_repo(), name)


# ----- data insight (git_data.commands.stats) -----
_REV_HELP = "A committed version (default: the work tree; pointer-only files come from the " \
            "cache or the store)."


@cli.command("stats")
@click.argument("paths", nargs=-1, required=True)
@click.option("--rev", help=_REV_HELP)
@click.option("--save", is_flag=True,
              help="Store each profile in .gitdata-stats/ and stage it, for clones without data.")
@click.option("--recompute", is_flag=True, help="Read the data even when stats are saved.")
@click.option("--json", "as_json", is_flag=True, help="One JSON profile per line.")
def stats_cmd(paths: tuple[str, ...], rev: str | None, save: bool, recompute: bool,
              as_json: bool) -> int:
    """Statistics of data files (or folders of images), in one streaming pass."""
    from ..commands.stats import stats as run

    return run(_repo(), list(paths), rev, save, as_json, recompute)


@cli.command("show")
@click.argument("path")
@click.option("--rev", help=_REV_HELP)
@click.option("--html", metavar="FILE", help="Write one self-contained HTML page ('-': stdout).")
@click.option("--compare", metavar="REV", help="Show this version beside it (the baseline).")
@click.option("--json", "as_json", is_flag=True)
def show_cmd(path: str, rev: str | None, html: str | None, compare: str | None,
             as_json: bool) -> int:
    """A data file's statistics: saved ones when there are, else computed."""
    from ..commands.stats import show as run

    return run(_repo(), path, rev, html, compare, as_json)


@cli.command("schema")
@click.argument("path")
@click.option("--rev", help=_REV_HELP)
@click.option("--save", is_flag=True, help="Write .gitdata-stats/schema/PATH.json and stage it.")
def schema_cmd(path: str, rev: str | None, save: bool) -> int:
    """Infer the schema (types, ranges, allowed values) of a table."""
    from ..commands.stats import schema as run

    return run(_repo(), path, rev, save)


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True)
@click.option("--rev", help=_REV_HELP)
@click.option("--schema", "schema_file", metavar="FILE", help="A schema file to check against.")
def validate_cmd(paths: tuple[str, ...], rev: str | None, schema_file: str | None) -> int:
    """Check data against its saved schema; list anomalies, exit 1 on any."""
    from ..commands.stats import validate as run

    return run(_repo(), list(paths), rev, schema_file)


@cli.command("sample")
@click.argument("path")
@click.option("-n", "rows", type=int, default=1000, show_default=True, help="Rows to keep.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write here (default: stdout).")
@click.option("--rev", help=_REV_HELP)
def sample_cmd(path: str, rows: int, seed: int, output: str | None, rev: str | None) -> int:
    """A uniform random sample of rows, in one streaming pass."""
    from ..commands.stats import sample as run

    return run(_repo(), path, rows, seed, output, rev)


@cli.command("log")
@click.argument("path", required=False)
@click.option("--rev", default="HEAD", show_default=True, help="Start from this revision.")
@click.option("-n", "max_count", type=click.IntRange(min=1), help="At most this many versions.")
@click.option("--json", "as_json", is_flag=True)
def log_cmd(path: str | None, rev: str, max_count: int | None, as_json: bool) -> int:
    """Versions of a data file or folder: commit, date, author, size, oid, rows/columns."""
    from ..commands.data_history import log as run

    return run(_repo(), path, rev, max_count, as_json)


@cli.command("diff")
@click.argument("args", nargs=-1, metavar="[REV1 [REV2]] [PATH]...")
@click.option("--no-stats", is_flag=True, help="Only names and sizes; no table summaries.")
def diff_cmd(args: tuple[str, ...], no_stats: bool) -> int:
    """Data files added, removed and changed (REV1 default HEAD, REV2 default the work
    tree), with a summary of each changed table."""
    from ..commands.data_history import diff as run

    return run(_repo(), list(args), not no_stats)


# ----- import from git-lfs and DVC (git_data.importing) -----
@cli.group("import")
def import_group() -> None:
    """Turn a git-lfs or DVC repository into a git-data one."""


@import_group.command("lfs")
@click.argument("revs", nargs=-1, metavar="[REV]...")
@click.option("--rewrite", is_flag=True,
              help="Rewrite history (the current branch, REV..., or --everything) like "
                   "`git lfs migrate import`, instead of adding one commit.")
@click.option("--everything", is_flag=True, help="With --rewrite: every branch and tag.")
@click.option("--keep-sha256", is_flag=True,
              help="Keep git-lfs's sha256 oids (git-data pointers `oid sha256:`).")
def import_lfs_cmd(revs: tuple[str, ...], rewrite: bool, everything: bool,
                   keep_sha256: bool) -> int:
    """git-lfs pointers and .gitattributes become git-data's, objects checked on the way."""
    from ..importing.lfs import import_lfs

    return import_lfs(_repo(), list(revs), everything, rewrite, keep_sha256)


@import_group.command("dvc")
def import_dvc_cmd() -> int:
    """DVC outputs (.dvc files, dvc.lock) become files tracked by git-data."""
    from ..importing.dvc import import_dvc

    return import_dvc(_repo())
