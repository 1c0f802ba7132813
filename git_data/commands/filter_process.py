"""`git-data filter-process`: the entry point git starts once per command."""

from __future__ import annotations

import os

from .. import safeio, written
from ..cache import Cache
from ..config import Config
from ..direct import DEFAULT_MIN_SIZE, DirectCheckout
from ..filter.pktline import PktReader, PktWriter
from ..filter.process import FilterProcess, Outcome, open_protocol_streams, summarize, warn
from ..gitrepo import Repo
from ..shims import SHIM_MARKER


def filter_process() -> int:
    stdin, stdout = open_protocol_streams()
    repo = Repo(".")
    config = Config(repo)
    if not _hooks_in_place(repo):  # before direct checkout asks whether post-checkout is ours
        from ..hooks import ensure_hooks

        ensure_hooks(repo, config)
    fetcher = None
    try:
        from ..transfer import filter_fetcher  # stores are optional for the filter

        fetcher = filter_fetcher(repo, config)
    except ImportError:
        pass
    direct = None
    if repo.workdir is not None and config.get_bool("data.directCheckout", True):
        direct = DirectCheckout(str(repo.git_dir), config.get_size(
            "data.directCheckoutMinSize", DEFAULT_MIN_SIZE), repo.hooks_dir())
    process = FilterProcess(Cache(config.cache_dir), config.hash_algorithm, PktReader(stdin),
                            PktWriter(stdout), fetcher, str(repo.git_dir),
                            str(repo.workdir or "."), direct)
    process.require = config.require_hash
    outcome = process.serve()
    summarize(outcome)
    try:
        _record(repo, outcome)
    except (OSError, MemoryError) as exc:  # every file is in place: only the notes are lost
        from ..errors import fault_message

        warn(f"could not record what this checkout wrote ({fault_message(exc, 'carry on')}); "
             "the next `git status` reads those files again")
    _report_rss()
    return 0


def _record(repo: Repo, outcome: Outcome) -> None:
    """Notes for the next git command and the post-checkout hook (see written.py)."""
    if outcome.smudged and repo.workdir is not None:
        written.record(repo.git_dir, repo.workdir, outcome.smudged.items())
    if outcome.missing:
        from ..hooks import record_missing

        record_missing(str(repo.git_dir), outcome.missing)


def _hooks_in_place(repo: Repo) -> bool:
    """Whether pre-push is git-data's shim: one open and one read per filter start, which
    is all the hooks cost the filter once installed (hooks.ensure_hooks does the rest)."""
    return SHIM_MARKER.encode() in (safeio.read_head(repo.hooks_dir() / "pre-push") or b"")


def _report_rss() -> None:
    """Peak memory of this process, for benchmarks and the constant-memory test."""
    target = os.environ.get("GIT_DATA_REPORT_RSS")
    if target:
        import resource

        with open(target, "a") as stream:
            stream.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KB\n")
