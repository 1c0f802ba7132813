#!/usr/bin/env python3
"""`git data status` against `git lfs status` on one repository of many small tracked files.

How a run flows:

1. Write N small random files (``--files``, default 20,000, ``--size`` bytes each) in ~100
   folders under ``data/`` once.
2. For git-data and git-lfs, each in its own run directory with its own $HOME (compare.py's
   ``bench_env`` and ``repo_init``): track ``data/**``, add, commit and (unless
   ``--no-push``) push to a bare local remote, so git-data's pushed accounting and upstream
   check have a store to answer from. Untimed.
3. One untimed `git status` in each (it refreshes the index, as a user's would), then
   ``--reps`` runs of each tool's status, tools interleaved, stdout to /dev/null. Prints the
   best and median of each and git-data's best divided by git-lfs's (< 1: git-data faster).

    python benchmarks/status_many.py                     # 20,000 files
    python benchmarks/status_many.py --files 100000 --size 1024
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adapters import Ctx, GitData, GitLfs, Tool
from compare import Runner, bench_env, compile_git_data, copy_tree, repo_init


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000, help="tracked files (20,000)")
    ap.add_argument("--size", type=int, default=1024, help="bytes per file (1024)")
    ap.add_argument("--reps", type=int, default=3, help="timed runs of each status (3)")
    ap.add_argument("--no-push", action="store_true", help="commit only, no remote to check")
    ap.add_argument("--workdir", type=Path, default=None, help="where run directories go")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    return ap.parse_args(argv)


def write_files(dest: Path, count: int, size: int) -> None:
    folders = max(1, min(100, count // 100))
    for i in range(count):
        folder = dest / "data" / f"class-{i % folders:03d}"
        if i < folders:
            folder.mkdir(parents=True)
        (folder / f"item-{i:06d}.bin").write_bytes(os.urandom(size))


def prepare(tool: Tool, root: Path, src: Path, push: bool) -> tuple[Path, Runner]:
    """A committed (and pushed) repository of ``src``'s files, tracked by ``tool``."""
    ctx = Ctx(root / tool.key)
    (ctx.root / "logs").mkdir(parents=True)
    run = Runner(bench_env(ctx.root, ""), ctx.root / "logs", 3600.0)
    run.setup("init", repo_init(tool, ctx))
    copy_tree(src, ctx.work)
    start = time.perf_counter()
    run.setup("add-commit", tool.add_commit(ctx, True, "data"))
    if push:
        run.setup("push", tool.push(ctx, "main"))
    print(f"{tool.label}: committed{' and pushed' if push else ''} in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return ctx.work, run


def timed(argv: list[str], repo: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=repo, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_git_data()  # bytecode, as an installed package has it
    root = Path(tempfile.mkdtemp(prefix="git-data-status-", dir=args.workdir))
    try:
        start = time.perf_counter()
        write_files(root / "src", args.files, args.size)
        print(f"wrote {args.files} files of {args.size} bytes in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        repos = {}
        for tool in (GitData(), GitLfs()):
            tool.ensure()
            repo, run = prepare(tool, root, root / "src", not args.no_push)
            subprocess.run(["git", "status", "-s"], cwd=repo, env=run.env, check=True,
                           stdout=subprocess.DEVNULL)
            dirty = run.output(repo, "git", "status", "--porcelain").strip()
            if dirty:
                raise SystemExit(f"{tool.label}: tree not clean: {dirty.splitlines()[0]}")
            repos[tool.label] = (repo, run.env, tool.status_tool(repo)[0]["argv"])
        times: dict[str, list[float]] = {label: [] for label in repos}
        for _ in range(args.reps):
            for label, (repo, env, status) in repos.items():
                times[label].append(timed(status, repo, env))
        for label, values in times.items():
            print(f"{label:9} status: best {min(values):.3f} s, median "
                  f"{statistics.median(values):.3f} s over {len(values)} runs")
        ratio = min(times["git-data"]) / min(times["git-lfs"])
        print(f"git-data / git-lfs (best of {args.reps}): {ratio:.2f}x on {args.files} files")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
