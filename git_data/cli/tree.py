"""The click command tree. Every command's docstring is its help text and its manual page
(``manpages.py``): a summary line, a description, and an ``Examples:`` block kept as written
(``\b``). ``-q`` works before and after the command's name (``Command``)."""

from __future__ import annotations

import functools
from typing import Any

import click

from .. import __version__, progress
from ..gitrepo import Repo

QUIET_HELP = "No progress or notes on stderr."


def _repo() -> Repo:
    return Repo(".")


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:  # never unset: `git data -q clone URL` stays quiet
        progress.set_quiet(True)


def _add_quiet(cmd: click.Command) -> None:
    if not cmd.hidden and not any("-q" in p.opts for p in cmd.params):
        cmd.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False,
                                       callback=_set_quiet, help=QUIET_HELP))


class Command(click.Command):
    """A command that takes ``-q/--quiet`` itself, as git's do (``git data clone -q URL``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_quiet(self)


class DashDashCommand(Command):
    """Keeps how many words came after ``--`` (``fetch [REMOTE] [--] [REV...]``): click
    hands the command one list and forgets where the ``--`` was."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["after_dashdash"] = len(args) - args.index("--") - 1 if "--" in args else 0
        return super().parse_args(ctx, args)


class Group(click.Group):
    command_class = Command
    group_class = type  # subgroups (remote, host) are Groups too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_quiet(self)

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if parent is None:  # each run starts loud (tests call main() in one process)
            progress.set_quiet(False)
        return super().make_context(info_name, args, parent, **extra)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_quiet,
              help=QUIET_HELP + " Every command also takes -q after its name.")
@click.version_option(__version__, prog_name="git-data", help="Print the version and exit.")
def cli() -> None:
    """Large files as pointers in git, their bytes in an object store.

    git-data stores the files that match the patterns of `git data track` as small pointer
    files in git (a clean/smudge filter), and their bytes in a data store: an S3 bucket, a
    folder, or the data/ folder of a git remote that is a local path. `git push` uploads
    what the pushed commits need; `git checkout` and `git data pull` download it. `git data
    run` starts a command on a host from the exact commit, with its data.

    `git data help COMMAND` (or `git data COMMAND -h`) shows a command's page.

    \b
    Examples:
      git data install
      git data track '*.parquet' 'images/**'
      git add . && git commit -m data && git push
      git clone URL repo && cd repo && git data pull
    """


@cli.command("help")
@click.argument("command", nargs=-1, metavar="[COMMAND]")
def help_cmd(command: tuple[str, ...]) -> int:
    """Show the manual page of git-data or of COMMAND.

    The page is made from the running code and shown through man; without man, the
    COMMAND's help text is printed.

    \b
    Examples:
      git data help
      git data help clone
    """
    from .manpages import show

    return show(cli, list(command))


def quiet() -> bool:
    return progress.QUIET


# ----- set-up ----------------------------------------------------------------------------
@cli.command()
@click.option("--global", "scope", flag_value="global", help="Filter config for every repo.")
@click.option("--local", "scope", flag_value="local", help="This repository only (default).")
def install(scope: str | None) -> int:
    """Configure the filter and install the hook shims (chaining existing hooks).

    Sets the clean/smudge filter and the textconv and merge drivers in git config, and
    installs pre-commit, pre-push and post-checkout shims in this repository's hooks (a hook
    that was there runs first). Run it once per clone; with --global, once per user.

    \b
    Examples:
      git data install
      git data install --global
    """
    from ..commands.install import install as run

    return run(scope)


@cli.command()
@click.option("--global", "scope", flag_value="global", help="The filter config of every repo.")
@click.option("--local", "scope", flag_value="local", help="This repository only (default).")
def uninstall(scope: str | None) -> int:
    """Remove the filter config and hooks, restoring hooks that were chained."""
    from ..commands.install import uninstall as run

    return run(scope)


@cli.command()
@click.argument("patterns", nargs=-1)
def track(patterns: tuple[str, ...]) -> int:
    """Store files matching PATTERNS as data (no argument: list the patterns).

    Writes each of PATTERNS (gitattributes syntax) to .gitattributes with the data filter;
    `git add` then stores matching files as pointers.

    \b
    Examples:
      git data track '*.parquet' 'models/**'
      git data track
    """
    from ..commands.track import track as run

    return run(_repo(), list(patterns))


@cli.command()
@click.argument("patterns", nargs=-1, required=True)
def untrack(patterns: tuple[str, ...]) -> int:
    """Stop storing files matching PATTERNS as data.

    Removes each of PATTERNS from .gitattributes; files already committed stay pointers
    until they are added again.

    \b
    Examples:
      git data untrack '*.csv'
    """
    from ..commands.track import untrack as run

    return run(_repo(), list(patterns))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--stats", "with_stats", is_flag=True,
              help="Also save statistics in .gitdata-stats/ (staged).")
def add(paths: tuple[str, ...], with_stats: bool) -> int:
    """Stage PATHS (files or folders), data files as pointers, in bulk.

    Stages what `git add PATHS` would, with the same result, but hashes the data files
    in parallel and writes the index once instead of running the clean filter per file.
    Only files whose filter attribute is git-data's become pointers; other files,
    symlinks (never followed) and deletions are staged by `git add`. A path nothing under
    which is tracked yet first gets its own line in .gitattributes (`folder/**` for a
    folder). A file that keeps changing while it is read is refused.

    \b
    Examples:
      git data add weights/model.bin
      git data add .
      git data add --stats data/train.parquet
    """
    from ..commands.track import add as run

    code = run(_repo(), list(paths))
    if with_stats and code == 0:
        from ..commands.stats import save_stats

        code = save_stats(_repo(), list(paths))
    return code


# ----- looking -----------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def status(as_json: bool) -> int:
    """Every data file with its state, sizes and totals.

    A file is cached or not, modified or not, pushed to its branch's store or not.

    \b
    Examples:
      git data status
      git data status --json
    """
    from ..commands.status import status as run

    return run(_repo(), as_json)


@cli.command("ls-files")
@click.argument("rev", default="HEAD")
@click.option("--json", "as_json", is_flag=True, help="A JSON list on stdout.")
def ls_files(rev: str, as_json: bool) -> int:
    """Pointers in a revision (path, oid, size), without a checkout.

    REV is a commit, branch or tag (default HEAD).

    \b
    Examples:
      git data ls-files
      git data ls-files v1.0 --json
    """
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
    """Re-hash cache objects and check pointers; with --remote, what a store holds.

    With --remote, the store is checked for every object that REVS (default HEAD) need.

    \b
    Examples:
      git data fsck
      git data fsck --remote origin --sizes main
    """
    from ..commands import fsck as command

    if remote is None:
        if revs or sizes:
            raise click.UsageError("REVS and --sizes go with --remote")
        return command.fsck(_repo(), repair)
    return command.fsck_remote(_repo(), remote or None, list(revs), sizes, repair)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--keep-days", type=int, metavar="DAYS", default=14, show_default=True,
              help="Keep objects used within this many days.")
def gc(dry_run: bool, keep_days: int) -> int:
    """Remove cache objects nothing references and a store holds.

    \b
    Examples:
      git data gc --dry-run
      git data gc --keep-days 0
    """
    from ..commands.gc import gc as run

    return run(_repo(), dry_run, keep_days)


# ----- stores ----------------------------------------------------------------------------
@cli.group()
def remote() -> None:
    """Data stores (written to the committed .gitdata file).

    A data remote is a store URL with a name; the default one holds every branch's data
    unless a [branch "PATTERN"] route sends it elsewhere. With none, a git remote that is a
    folder on this machine keeps data in its data/ folder, named embedded:REMOTE.

    \b
    Examples:
      git data remote add origin s3://bucket/project --default
      git data remote add scratch s3://scratch/project --branch 'exp/*'
      git data remote list
      git data remote remove scratch
    """


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--default", "default", is_flag=True, help="Make it the default data remote.")
@click.option("--endpoint-url", metavar="URL",
              help="S3-compatible endpoint (MinIO, SeaweedFS, R2, Ceph).")
@click.option("--region", metavar="REGION", help="S3 region of the bucket.")
@click.option("--profile", metavar="NAME", help="AWS profile to read credentials from.")
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
@click.option("--json", "as_json", is_flag=True, help="A JSON list of name, url, default.")
def remote_list(as_json: bool) -> int:
    """List data remotes (or the embedded store used when there is none)."""
    from ..commands.remote import remote_list as run

    return run(_repo(), as_json)


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> int:
    """Remove the data remote NAME."""
    from ..commands.remote import remote_remove as run

    return run(_repo(), name)


@cli.command("ls-remote")
@click.argument("remote", required=False)
@click.option("--json", "as_json", is_flag=True, help="A JSON list on stdout.")
def ls_remote(remote: str | None, as_json: bool) -> int:
    """Branches known to the store, with commit, object count and size.

    REMOTE names one data remote (default: every store this clone reads from).

    \b
    Examples:
      git data ls-remote
      git data ls-remote origin --json
    """
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
    """Upload the data that REFS (default: the current branch) need.

    `git push` does this itself (the pre-push hook); this is for data alone. REMOTE is a
    data remote or a git remote (default: each branch's own store).

    \b
    Examples:
      git data push
      git data push origin main v1.0
      git data push --all
      git data push --self-contained
    """
    from ..config import Config
    from ..push import push_refs
    from ..store.remotes import check_name

    repo = _repo()
    config = Config(repo)
    check_name(repo, config, remote, embedded_ok=False)
    return push_refs(repo, config, remote, list(refs), all_refs, quiet(), self_contained)


def _selection(func):  # type: ignore[no-untyped-def]
    func = click.option("--exclude", "-X", multiple=True, metavar="GLOB",
                        help="Glob of paths to skip.")(func)
    return click.option("--include", "-I", multiple=True, metavar="GLOB",
                        help="Glob of paths to get.")(func)


@cli.command(cls=DashDashCommand)
@click.argument("words", nargs=-1, metavar="[REMOTE] [--] [REV]...")
@_selection
def fetch(words: tuple[str, ...], include: tuple[str, ...], exclude: tuple[str, ...]) -> int:
    """Download objects REV (default HEAD) needs into the cache.

    The first word is the REMOTE when it names a data remote or a git remote, else a
    revision (a remote wins over a branch of the same name, as in git); words after `--`
    are always revisions. Without REMOTE, every store the branch reads from is tried.

    \b
    Examples:
      git data fetch
      git data fetch origin main v1.0
      git data fetch -- origin
      git data fetch -I 'images/**' main
    """
    from ..commands.fetch import fetch as run
    from ..config import Config
    from ..store.remotes import split_remote

    repo = _repo()
    after = click.get_current_context().meta.get("after_dashdash", 0)
    remote, revs = split_remote(repo, Config(repo), list(words[:len(words) - after]))
    return run(repo, remote, list(include) or None, list(exclude) or None,
               revs + list(words[len(words) - after:]), quiet())


@cli.command()
@click.argument("remote", required=False)
@_selection
def pull(remote: str | None, include: tuple[str, ...], exclude: tuple[str, ...]) -> int:
    """Fetch and write the data files of the checked-out commit.

    REMOTE is a data remote or a git remote (default: every store the branch reads from).

    \b
    Examples:
      git data pull
      git data pull -I 'data/train/**'
      git data pull origin
    """
    from ..commands.pull import pull as run
    from ..config import Config
    from ..store.remotes import check_name

    repo = _repo()
    check_name(repo, Config(repo), remote)
    return run(repo, remote, list(include) or None, list(exclude) or None, [], quiet())


@cli.command()
@_selection
def checkout(include: tuple[str, ...], exclude: tuple[str, ...]) -> int:
    """Write data files from the cache (no download).

    \b
    Examples:
      git data checkout
      git data checkout -X '*.tmp'
    """
    from ..commands.pull import checkout as run

    return run(_repo(), list(include) or None, list(exclude) or None, quiet())


@cli.command()
@click.argument("url")
@click.argument("directory", required=False)
@click.option("--no-data", is_flag=True, help="Pointers only; fetch nothing.")
@click.option("--branch", "-b", metavar="BRANCH", help="Branch to check out.")
@click.option("--copy-data-to", "copy_to", metavar="STORE_URL",
              help="Copy the data the branches reach (or --include) to this new store and "
                   "make it this clone's default data remote.")
@click.option("--copy-endpoint-url", metavar="URL",
              help="S3 endpoint of the new store (default: the source store's).")
@click.option("--copy-region", metavar="REGION", help="Region of the new store.")
@click.option("--copy-profile", metavar="NAME", help="AWS profile for the new store.")
@click.option("--sample", type=click.FloatRange(0, 1), metavar="FRACTION",
              help="Download a deterministic sample of the data files (chosen by oid).")
@_selection
def clone(url: str, directory: str | None, no_data: bool, branch: str | None,
          copy_to: str | None, copy_endpoint_url: str | None, copy_region: str | None,
          copy_profile: str | None, sample: float | None, include: tuple[str, ...],
          exclude: tuple[str, ...]) -> int:
    """Clone a repository, then download its data in parallel.

    Runs `git clone URL [DIRECTORY]` with the data filter installed but its downloads held
    back, then fetches every data file of the checkout at once and writes it.

    \b
    Examples:
      git data clone /srv/team.git
      git data clone -q git@host:team/repo.git repo --no-data
      git data clone URL -I 'data/small/**'
      git data clone URL --copy-data-to s3://mine/repo
    """
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
@click.option("--host", "-H", "host", metavar="NAME",
              help="Host to run on (default: data.host, else local).")
@click.option("--remote", metavar="NAME", help="Data store for the run's data, logs and outputs.")
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
@click.option("--system-site-packages", is_flag=True,
              help="Let the run's venv see the host python's packages (default: isolated).")
@click.option("--env", "env", multiple=True, metavar="K=V", help="Environment variable.")
@click.option("--env-public", is_flag=True,
              help="Record --env values in run.json (default: names only).")
@click.option("--gpus", type=click.IntRange(min=0), default=0, metavar="N",
              help="Free GPUs to use.")
@click.option("--grid", multiple=True, metavar="NAME=V1,V2",
              help="One run per combination; {NAME} in COMMAND takes each value.")
@click.option("--detach", "-d", is_flag=True, help="Start and return at once.")
@click.option("--output", default="outputs", show_default=True, metavar="DIR",
              help="Folder (in the checkout) uploaded as the run's outputs.")
@click.option("--resume", metavar="ID",
              help="Start from run ID's commit, with its outputs copied where they were.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(host: str | None, remote: str | None, allow_dirty: bool, data: tuple[str, ...],
        no_data: bool, mounts: tuple[str, ...], pip: str | None, conda_file: str | None,
        apt: tuple[str, ...], env: tuple[str, ...], env_public: bool, gpus: int,
        grid: tuple[str, ...], detach: bool, output: str, command: tuple[str, ...],
        resume: str | None = None, system_site_packages: bool = False) -> int:
    """Run COMMAND (after --) on a host from the current commit, with its data.

    The host gets the commit and the data files it needs (from the store), runs COMMAND
    in its own process group, and uploads the logs and the --output folder; the record
    (refs/data/runs) says what ran, where, and how it ended.

    \b
    Examples:
      git data run -- python train.py
      git data run -H gpu1 --gpus 2 -d -- python train.py --epochs 10
      git data run --grid lr=0.1,0.01 -- python train.py --lr {lr}
      git data run --resume 7          (run 7's command again, from its checkpoints)
    """
    from ..commands.runs import run as start
    from ..runner.launch import RunOptions

    return start(_repo(), RunOptions(
        command=list(command), host=host, remote=remote, allow_dirty=allow_dirty,
        data=list(data), no_data=no_data, mounts=list(mounts), pip=pip, conda_file=conda_file,
        apt=list(apt), env=list(env), env_public=env_public, gpus=gpus, grid=list(grid),
        detach=detach,
        output=output, quiet=quiet(), resume=resume,
        system_site_packages=system_site_packages))


@cli.command("runs")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON list of run records, with params and metrics.")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="NAME",
              help="Show the last value of this metric (repeatable).")
@click.option("--sort", metavar="[-]NAME",
              help="Order by a metric's last value, a param or a column (id, status, "
                   "created, time, exit, commit); -NAME descending.")
def runs_list(as_json: bool, metrics: tuple[str, ...], sort: str | None) -> int:
    """Runs of this repository with their params, newest last.

    Params are those of the run (--grid) and those the command logged to MLflow; metrics
    come from the run's outputs (metrics.jsonl or .csv, MLflow, TensorBoard event files).

    \b
    Examples:
      git data runs
      git data runs --metric loss --metric acc --sort loss
      git data runs --sort=-acc --json
    """
    from ..commands.runs import runs as show

    return show(_repo(), as_json, list(metrics), sort)


@cli.command("show-run")
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The record as JSON.")
def show_run(run_id: str, as_json: bool) -> int:
    """A run's record: commit, command, host, GPUs, environment, times, exit status.

    ID is a run id as `git data runs` lists it."""
    from ..commands.runs import show_run as show

    return show(_repo(), run_id, as_json)


@cli.command()
@click.argument("run_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
def logs(run_id: str, follow: bool) -> int:
    """A run's output (set-up notes on stderr), from the store.

    ID is a run id as `git data runs` lists it.

    \b
    Examples:
      git data logs -f 20240101-120000-ab12
    """
    from ..commands.runs import logs as show

    return show(_repo(), run_id, follow, quiet())


@cli.command()
@click.argument("run_id", metavar="ID")
def stop(run_id: str) -> int:
    """End the run ID: its whole process group, on its host."""
    from ..commands.runs import stop as end

    return end(_repo(), run_id)


@cli.command()
@click.argument("source", metavar="runs/ID/outputs/PATH")
@click.argument("dest", type=click.Path())
def cp(source: str, dest: str) -> int:
    """Copy a run's file or folder (or an alias) out of the store.

    runs/ID/outputs/PATH (or ALIAS/PATH) is copied to DEST.

    \b
    Examples:
      git data cp runs/ID/outputs/model.pt .
      git data cp best/model.pt model.pt
    """
    from ..commands.runs import cp as copy

    return copy(_repo(), source, dest)


@cli.command()
@click.argument("alias")
@click.argument("target", metavar="runs/ID/outputs/PATH")
def link(alias: str, target: str) -> int:
    """Name a run path: ALIAS/... then works wherever runs/ID/... does.

    ALIAS is the new name, runs/ID/outputs/PATH what it points to.

    \b
    Examples:
      git data link best runs/ID/outputs
    """
    from ..commands.runs import link as make

    return make(_repo(), alias, target)


@cli.command()
@click.argument("path", metavar="runs/ID/outputs/PATH")
@click.option("--expires", default="7d", show_default=True, metavar="DURATION",
              help="e.g. 30m, 12h, 7d.")
def share(path: str, expires: str) -> int:
    """A presigned URL to download one file of a run (S3 stores).

    runs/ID/outputs/PATH (or ALIAS/PATH) names the file.

    \b
    Examples:
      git data share best/model.pt --expires 12h
    """
    from ..commands.runs import share as make

    return make(_repo(), path, expires)


@cli.group()
def host() -> None:
    """Hosts that runs go to (`local` is built in).

    \b
    Examples:
      git data host add gpu1 ssh://me@gpu1.example --workdir /scratch/me --default
      git data host add cluster slurm://me@login1 --partition gpu --time 4:00:00 \\
          --workdir /shared/me/git-data
      git data host list
      git data host remove gpu1
    """


@host.command("add")
@click.argument("name")
@click.argument("url", metavar="ssh://[USER@]HOST[:PORT]|slurm://[USER@]LOGIN[:PORT]")
@click.option("--workdir", metavar="DIR", help="Folder on the host for runs, caches, environments "
              "(on Slurm: on the cluster's shared file system).")
@click.option("--python", metavar="PATH",
              help="Python 3 on the host (default: python3 on its PATH).")
@click.option("--personal", is_flag=True, help="Only this clone (.git/config), not .gitdata.")
@click.option("--default", "default", is_flag=True, help="Run there unless told otherwise.")
@click.option("--partition", metavar="P", help="Slurm: the partition jobs go to.")
@click.option("--account", metavar="A", help="Slurm: the account jobs are charged to.")
@click.option("--time", "time_limit", metavar="[D-]HH:MM:SS", help="Slurm: each job's time limit.")
def host_add(name: str, url: str, workdir: str | None, python: str | None, personal: bool,
             default: bool, partition: str | None, account: str | None,
             time_limit: str | None) -> int:
    """Add (or change) host NAME, reached at ssh://[USER@]HOST[:PORT], or Slurm cluster NAME
    whose login node is slurm://[USER@]LOGIN[:PORT] (slurm://localhost: this machine).

    Runs on a Slurm cluster go through sbatch (--gpus N becomes --gres=gpu:N); `runs` shows
    a pending job as queued and `stop` is scancel. A Slurm host and its options are kept in
    this clone's git config only, never in .gitdata.
    """
    from ..commands.run_hosts import host_add as add

    return add(_repo(), name, url, workdir, python, personal, default,
               {"partition": partition, "account": account, "time": time_limit})


@host.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of hosts.")
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


def _reading_options(command: Any) -> Any:
    """--delimiter, --no-header, --na-values and --no-default-na, handed to the command
    as one ``options`` argument (None when none is given)."""

    @functools.wraps(command)
    def wrapper(*args: Any, delimiter: str | None, no_header: bool, na_values: str | None,
                no_default_na: bool, **kwargs: Any) -> Any:
        from ..commands.stats import text_options

        options = text_options(delimiter, no_header, na_values, no_default_na)
        return command(*args, options=options, **kwargs)

    for option in reversed((
        click.option("--delimiter", metavar="CHAR",
                     help="CSV field delimiter ('tab' for tabs; default: guessed from line 1)."),
        click.option("--no-header", is_flag=True,
                     help="Line 1 is data, not a header (sklearn-style CSV): column_1..."),
        click.option("--na-values", metavar="LIST",
                     help="More comma-separated tokens meaning missing (added to pandas')."),
        click.option("--no-default-na", is_flag=True,
                     help="Only empty cells and --na-values are missing."),
    )):
        wrapper = option(wrapper)
    return wrapper


@cli.command("stats")
@click.argument("paths", nargs=-1, required=True)
@click.option("--rev", metavar="REV", help=_REV_HELP)
@click.option("--save", is_flag=True,
              help="Store each profile in .gitdata-stats/ and stage it, for clones without data.")
@click.option("--recompute", is_flag=True, help="Read the data even when stats are saved.")
@click.option("--json", "as_json", is_flag=True, help="One JSON profile per line.")
@_reading_options
def stats_cmd(paths: tuple[str, ...], rev: str | None, save: bool, recompute: bool,
              as_json: bool, options: object | None) -> int:
    """Statistics of data files (or folders of images), in one streaming pass.

    PATHS are tables (Parquet, CSV, JSON lines), images or folders of them. Missing values
    in CSV/TSV are those pandas.read_csv finds by default ('', NA, N/A, NaN, nan, null,
    NULL, None, #N/A, <NA>, ...).

    \b
    Examples:
      git data stats data/train.parquet
      git data stats --rev v1.0 --json data/
      git data stats --save data/train.parquet
      git data stats --no-header --delimiter ';' --na-values '?,-' data/raw.csv
    """
    from ..commands.stats import stats as run

    return run(_repo(), list(paths), rev, save, as_json, recompute, options)


@cli.command("show")
@click.argument("path")
@click.option("--rev", metavar="REV", help=_REV_HELP)
@click.option("--html", metavar="FILE", help="Write one self-contained HTML page ('-': stdout).")
@click.option("--compare", metavar="REV", help="Show this version beside it (the baseline).")
@click.option("--json", "as_json", is_flag=True, help="The profile as JSON.")
@_reading_options
def show_cmd(path: str, rev: str | None, html: str | None, compare: str | None,
             as_json: bool, options: object | None) -> int:
    """A data file's statistics: saved ones when there are, else computed.

    PATH is one data file.

    \b
    Examples:
      git data show data/train.parquet --compare v1.0
      git data show data/train.parquet --html report.html
    """
    from ..commands.stats import show as run

    return run(_repo(), path, rev, html, compare, as_json, options)


@cli.command("schema")
@click.argument("path")
@click.option("--rev", metavar="REV", help=_REV_HELP)
@click.option("--save", is_flag=True, help="Write .gitdata-stats/schema/PATH.json and stage it.")
@_reading_options
def schema_cmd(path: str, rev: str | None, save: bool, options: object | None) -> int:
    """Infer the schema (types, ranges, allowed values) of a table.

    PATH is one table; --save keeps it for `git data validate`.

    \b
    Examples:
      git data schema --save data/train.parquet
    """
    from ..commands.stats import schema as run

    return run(_repo(), path, rev, save, options)


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True)
@click.option("--rev", metavar="REV", help=_REV_HELP)
@click.option("--schema", "schema_file", metavar="FILE", help="A schema file to check against.")
@_reading_options
def validate_cmd(paths: tuple[str, ...], rev: str | None, schema_file: str | None,
                 options: object | None) -> int:
    """Check data against its saved schema; list anomalies, exit 1 on any.

    Each of PATHS is checked against its saved schema (or --schema FILE).

    \b
    Examples:
      git data validate data/*.parquet
    """
    from ..commands.stats import validate as run

    return run(_repo(), list(paths), rev, schema_file, options)


@cli.command("sample")
@click.argument("path")
@click.option("-n", "rows", type=int, metavar="ROWS", default=1000, show_default=True,
              help="Rows to keep.")
@click.option("--seed", type=int, metavar="N", default=0, show_default=True,
              help="The same seed picks the same rows.")
@click.option("-o", "--output", metavar="FILE", help="Write here (default: stdout).")
@click.option("--rev", metavar="REV", help=_REV_HELP)
@_reading_options
def sample_cmd(path: str, rows: int, seed: int, output: str | None, rev: str | None,
               options: object | None) -> int:
    """A uniform random sample of rows, in one streaming pass.

    PATH is one table; the sample has its format, or Parquet when FILE ends in .parquet.

    \b
    Examples:
      git data sample -n 100 data/train.parquet -o small.parquet
    """
    from ..commands.stats import sample as run

    return run(_repo(), path, rows, seed, output, rev, options)


@cli.command("log")
@click.argument("path", required=False)
@click.option("--rev", default="HEAD", show_default=True, metavar="REV",
              help="Start from this revision.")
@click.option("-n", "max_count", type=click.IntRange(min=1), metavar="N",
              help="At most this many versions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
def log_cmd(path: str | None, rev: str, max_count: int | None, as_json: bool) -> int:
    """Versions of a data file or folder: commit, date, author, size, oid, rows/columns.

    PATH is a data file or folder (default: every data file).

    \b
    Examples:
      git data log data/train.parquet
      git data log -n 5 --rev main data/
    """
    from ..commands.data_history import log as run

    return run(_repo(), path, rev, max_count, as_json)


@cli.command("diff")
@click.argument("args", nargs=-1, metavar="[REV1 [REV2]] [PATH]...")
@click.option("--no-stats", is_flag=True, help="Only names and sizes; no table summaries.")
def diff_cmd(args: tuple[str, ...], no_stats: bool) -> int:
    """Data files added, removed and changed (REV1 default HEAD, REV2 default the work
    tree), with a summary of each changed table.

    \b
    Examples:
      git data diff
      git data diff v1.0 main data/train.parquet
    """
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
    """git-lfs pointers and .gitattributes become git-data's, objects checked on the way.

    Without --rewrite, HEAD's pointers change in one new commit; with it, REV... (default:
    the current branch) or --everything are rewritten through history.

    \b
    Examples:
      git data import lfs
      git data import lfs --rewrite --everything
      git data import lfs --keep-sha256
    """
    from ..importing.lfs import import_lfs

    return import_lfs(_repo(), list(revs), everything, rewrite, keep_sha256)


@import_group.command("dvc")
def import_dvc_cmd() -> int:
    """DVC outputs (.dvc files, dvc.lock) become files tracked by git-data.

    Objects come from the DVC cache (`dvc fetch` when missing), each checked against its
    md5; the .dvc files and their .gitignore lines go, in one new commit.

    \b
    Examples:
      git data import dvc
    """
    from ..importing.dvc import import_dvc

    return import_dvc(_repo())


# ----- experiments: metrics, compare, MLflow, TensorBoard (git_data.experiments) -----
@cli.command("compare")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="NAME",
              help="Only this metric (repeatable; default: all).")
@click.option("--html", "html_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also write a page with the curves (offline, inline SVG).")
def compare_cmd(runs: tuple[str, ...], metrics: tuple[str, ...], html_file: str | None) -> int:
    """Runs side by side: the params that differ, last/min/max of each metric.

    RUN is a run id (or an alias into a run); without any, all runs. Metrics come from
    the runs' outputs in the store (metrics.jsonl or .csv, MLflow, TensorBoard event
    files), so a clone without data compares as well.

    \b
    Examples:
      git data compare 3 4 5
      git data compare 3 4 --metric loss --html runs.html
    """
    from ..commands.experiments import compare

    return compare(_repo(), list(runs), list(metrics), html_file)


@cli.command("mlflow")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--tracking-uri", default="sqlite:///mlflow.db", show_default=True,
              metavar="URI", help="MLflow tracking store to write into.")
@click.option("--experiment", metavar="NAME",
              help="MLflow experiment (default: the repository's folder name).")
def mlflow_cmd(runs: tuple[str, ...], tracking_uri: str, experiment: str | None) -> int:
    """Write runs (default: all) into an MLflow tracking store, for `mlflow ui`.

    RUN is a run id (or an alias into a run). Each run becomes an MLflow run with its
    params, metrics by step, and tags (commit, host, data oids, where its outputs are).
    A run already there is updated, never duplicated.

    \b
    Examples:
      git data mlflow
      git data mlflow 3 4 --tracking-uri sqlite:///mlflow.db && mlflow ui
    """
    from ..commands.experiments import mlflow_export

    return mlflow_export(_repo(), list(runs), tracking_uri, experiment)


@cli.command("tensorboard")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--logdir", metavar="DIR", type=click.Path(file_okay=False),
              help="Folder for the event files, one subfolder per run (default: in the "
                   "cache).")
@click.option("--print", "print_only", is_flag=True,
              help="Fetch, then print the TensorBoard command instead of starting it.")
@click.option("--port", type=click.IntRange(1, 65535), default=6006, show_default=True,
              metavar="PORT", help="Port on 127.0.0.1.")
def tensorboard_cmd(runs: tuple[str, ...], logdir: str | None, print_only: bool,
                    port: int) -> int:
    """TensorBoard on runs, finished or not: their event files fetched from the store.

    RUN is a run id (or an alias into a run). Only files named events.out.tfevents.* are
    fetched (into DIR/ID/...), and TensorBoard listens on 127.0.0.1 only.

    \b
    Examples:
      git data tensorboard 3 4
      git data tensorboard 3 --print --logdir tb
    """
    from ..commands.experiments import tensorboard

    return tensorboard(_repo(), list(runs), logdir, print_only, port)
