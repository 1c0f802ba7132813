"""`git-data filter-process`: the entry point git starts once per command."""

from __future__ import annotations

import os

from .. import written
from ..cache import Cache
from ..config import Config
from ..direct import DEFAULT_MIN_SIZE, DirectCheckout
from ..filter.pktline import PktReader, PktWriter
from ..filter.process import FilterProcess, open_protocol_streams, summarize
from ..gitrepo import Repo


def filter_process() -> int:
    stdin, stdout = open_protocol_streams()
    repo = Repo(".")
    config = Config(repo)
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
    if outcome.smudged and repo.workdir is not None:
        written.record(repo.git_dir, repo.workdir, outcome.smudged.items())
    if outcome.missing:
        from ..hooks import record_missing

        record_missing(str(repo.git_dir), outcome.missing)
    _report_rss()
    return 0


def _report_rss() -> None:
    """Peak memory of this process, for benchmarks and the constant-memory test."""
    target = os.environ.get("GIT_DATA_REPORT_RSS")
    if target:
        import resource

        with open(target, "a") as stream:
            stream.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KB\n")
