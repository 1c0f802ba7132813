"""Look at data without downloading it: `git data stats`, `show`, `schema`, `validate` and
`sample`, plus the helpers other commands use (`select_sample` for `clone --sample`,
`save_stats` for `add --stats`).

Each PATH is a tracked file or folder; without ``--rev`` it is read from the work tree (a file
that is only a pointer there is read from the cache or streamed from the store), with
``--rev`` from that commit, without a checkout. Statistics saved with ``--save`` (in
``.gitdata-stats/``, see insight/saved.py) are used instead of reading the data whenever they
exist for that content.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .. import safeio
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo
from ..insight.saved import load_schema_file
from ..insight.versions import IMAGE_EXTENSIONS, Found, Insight, Target, is_table, repo_path
from ..progress import note, warn

if TYPE_CHECKING:
    from ..stats import Profile


def shown(found: Found, target: Target) -> Profile:
    """The profile as displayed: named ``path@rev`` for a committed version."""
    return dataclasses.replace(found.profile, name=target.label)


def text_options(delimiter: str | None, no_header: bool,
                 na_values: str | None, no_default_na: bool) -> object | None:
    """The reading options given on the command line, or None for the defaults."""
    if delimiter is None and not no_header and na_values is None and not no_default_na:
        return None
    from ..stats import MISSING_TOKENS, TextOptions

    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise FatalError(f"--delimiter must be one character (or 'tab'), not {delimiter!r}")
    extra = frozenset(na_values.split(",")) if na_values is not None else frozenset()
    base = frozenset({""}) if no_default_na else MISSING_TOKENS
    return TextOptions(delimiter, False if no_header else None, base | extra)


def stats(repo: Repo, paths: list[str], rev: str | None, save: bool, as_json: bool,
          recompute: bool = False, options: object | None = None) -> int:
    """Profile each path; one that fails is reported and the others still are. Reading
    ``options`` (delimiter, header, missing tokens) make it compute, and --save refuse."""
    from ..stats import render_text

    if options is not None and save:
        raise FatalError("--save keeps profiles read the default way; drop --delimiter, "
                         "--no-header and --na-values, or --save")
    insight = Insight(repo)
    failed = 0
    for i, raw in enumerate(paths):
        try:
            target = insight.target(repo_path(repo, raw), rev)
            found = insight.profile(target, recompute, options)
            if save:
                rel = insight.saved.save(target.key, found.profile)
                note(f"{target.label}: saved {rel} (staged; commit it with the data)")
        except FatalError as exc:
            warn(str(exc))
            failed += 1
            continue
        note(f"{target.label}: {found.source}")
        if as_json:
            print(shown(found, target).to_json(), flush=True)
        else:
            print(("\n" if i else "") + render_text(shown(found, target)), end="", flush=True)
    if failed and len(paths) > 1:
        warn(f"{failed} of {len(paths)} paths could not be profiled")
    return 1 if failed else 0


def save_stats(repo: Repo, paths: list[str]) -> int:
    """For `git data add --stats PATH...`: save the profile of each staged table file, and
    of each folder holding images (one profile for the folder), without printing them."""
    insight = Insight(repo)
    failed = 0
    for raw in paths:
        try:
            target = insight.target(repo_path(repo, raw), None)
            for each in _saveable(insight, target):
                rel = insight.saved.save(each.key, insight.profile(each).profile)
                note(f"{each.label}: statistics saved to {rel}")
        except FatalError as exc:
            warn(str(exc))
            failed += 1
    return 1 if failed else 0


def _saveable(insight: Insight, target: Target) -> list[Target]:
    if not target.folder:
        return [target]
    found = [Target(f.path, None, [f], folder=False) for f in target.files if is_table(f.path)]
    if any(f.path.lower().endswith(IMAGE_EXTENSIONS) for f in target.files):
        found.append(target)
    return found


def show(repo: Repo, path: str, rev: str | None, html: str | None, compare: str | None,
         as_json: bool = False, options: object | None = None) -> int:
    """One version as text, JSON or a self-contained HTML page; ``compare`` adds the other
    version as the baseline (side by side in HTML, a list of changes in text)."""
    from ..stats import diff_profiles, render_html, render_text

    insight = Insight(repo)
    rel = repo_path(repo, path)
    target = insight.target(rel, rev)
    found = insight.profile(target, options=options)
    note(f"{target.label}: {found.source}")
    old = None
    if compare is not None:
        old_target = insight.target(rel, compare)
        old_found = insight.profile(old_target, options=options)
        note(f"{old_target.label}: {old_found.source}")
        old = shown(old_found, old_target)
    new = shown(found, target)
    if html is not None:
        write_output(html, render_html(new, compare=old).encode())
        if html != "-":
            note(f"wrote {html}")
    elif as_json:
        print(new.to_json(indent=2))
    else:
        print(render_text(new), end="")
        if old is not None:
            print(f"\nchanges from {old.name} to {new.name}:")
            print(diff_profiles(old, new).render(), end="")
    return 0


def write_output(dest: str, data: bytes) -> None:
    """To a file (written whole, then renamed into place) or stdout for ``-``."""
    if dest == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        safeio.write_bytes(os.path.abspath(dest), data)
    except OSError as exc:
        raise FatalError(f"{dest}: cannot write ({exc.strerror})") from None


def schema(repo: Repo, path: str, rev: str | None, save: bool,
           options: object | None = None) -> int:
    """Infer a schema from a version's profile; print it, or save and stage it."""
    from ..stats import infer_schema

    insight = Insight(repo)
    target = insight.target(repo_path(repo, path), rev)
    found = insight.profile(target, options=options)
    note(f"{target.label}: {found.source}")
    inferred = infer_schema(found.profile)
    if not inferred.columns:
        raise FatalError(f"{target.label} is a {found.profile.format} file, not a table; "
                         "schemas describe the columns of tables and image folders")
    if save:
        rel = insight.saved.save_schema(target.path, inferred)
        note(f"{target.label}: schema of {len(inferred.columns)} columns saved to {rel} "
             "(staged; commit it)")
    else:
        print(inferred.to_json())
    return 0


def validate(repo: Repo, paths: list[str], rev: str | None, schema_file: str | None,
             options: object | None = None) -> int:
    """Check each version against its schema; print one line per anomaly; exit 1 on any."""
    from ..stats import validate as check

    insight = Insight(repo)
    given = (load_schema_file(schema_file), schema_file) if schema_file else None
    bad = 0
    for raw in paths:
        try:
            target = insight.target(repo_path(repo, raw), rev)
            expected = given or insight.saved.find_schema(target.path, rev)
            if expected is None:
                raise FatalError(f"{target.name} has no schema; create one with "
                                 f"`git data schema {target.name} --save`")
            anomalies = check(insight.profile(target, options=options).profile, expected[0])
        except FatalError as exc:
            warn(str(exc))
            bad += 1
            continue
        for anomaly in anomalies:
            print(f"{target.label}: {anomaly}")
        if anomalies:
            bad += 1
            note(f"{target.label}: {len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}"
                 f" against {expected[1]}")
        else:
            note(f"{target.label}: OK, matches {expected[1]}")
    return 1 if bad else 0


def sample(repo: Repo, path: str, n: int, seed: int, out: str | None, rev: str | None,
           options: object | None = None) -> int:
    """A uniform random sample of ``n`` rows, in one streaming pass, to ``out`` or stdout
    (Parquet when ``out`` ends in .parquet or .pq)."""
    from ..stats import write_sample

    if n < 0:
        raise FatalError(f"-n {n}: the number of rows must be 0 or more")
    insight = Insight(repo)
    target = insight.target(repo_path(repo, path), rev)
    if target.folder:
        raise FatalError(f"{target.label} is a folder; sample rows of one table file")
    version = target.files[0]
    with insight.open_table(version) as stream:
        if out is None or out == "-":
            sys.stdout.flush()
            count = write_sample(stream, version.path, sys.stdout.buffer, n, seed,
                                 options=options)
            sys.stdout.buffer.flush()
        else:
            count = _sample_to_file(stream, version.path, out, n, seed, options)
    note(f"{target.label}: sampled {count:,} rows (seed {seed})"
         + (f" into {out}" if out and out != "-" else ""))
    return 0


def _sample_to_file(stream: object, name: str, out: str, n: int, seed: int,
                    options: object | None) -> int:
    from ..stats import write_sample
    from ..stats.sample import is_parquet_name

    try:
        with safeio.atomic_path(os.path.abspath(out)) as file, \
                open(file.fd, "wb", closefd=False) as target:
            return write_sample(stream, name, target, n, seed,  # type: ignore[arg-type]
                                parquet=is_parquet_name(out), options=options)
    except OSError as exc:
        raise FatalError(f"{out}: cannot write ({exc.strerror})") from None


# ----- file samples (clone --sample) ---------------------------------------------------
def select_sample(entries: Iterable[PointerEntry], fraction: float) -> list[PointerEntry]:
    """The entries whose oid falls in a deterministic ``fraction`` of the hash range: the
    same files on every machine and every run, every path of a chosen oid, and a larger
    fraction keeps everything a smaller one kept."""
    from ..stats import choose_sample

    if not 0.0 <= fraction <= 1.0:
        raise FatalError(f"--sample {fraction}: the fraction must be between 0 and 1")
    entries = list(entries)
    chosen = set(choose_sample((e.oid for e in entries), fraction))
    return [e for e in entries if e.oid in chosen]


def pull_sample(repo: Repo, fraction: float, include: list[str] | None,
                exclude: list[str] | None, quiet: bool = False) -> int:
    """`git data pull` restricted to a deterministic sample of the checked-out data files.
    ``quiet`` is ignored (progress.is_quiet is the one source)."""
    from ..config import Config
    from ..fetch import pull_files
    from ..progress import is_quiet
    from ..selection import select

    config = Config(repo)
    everything = select(repo.index_pointers(), include, exclude)
    entries = select_sample(everything, fraction)
    result, written, _ = pull_files(repo, config, entries, None, is_quiet())
    note(f"sampled {len(entries)} of {len(everything)} data files ({fraction:.0%}); pulled "
         f"{len(result.done)} object(s), wrote {written} file(s); `git data pull` gets the rest")
    result.raise_for_failures("download")
    return 0
