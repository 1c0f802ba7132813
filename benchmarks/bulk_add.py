#!/usr/bin/env python3
"""`git data add .` against `git add .` (through git-data's filter), git-lfs and DVC, on many
small files.

How a run flows, for each file size (``--sizes``, default 4096 and 50,000 bytes):

1. Write ``--files`` random files (default 20,000) in ~100 folders under ``data/`` once.
2. For each way of adding, a fresh repository in its own run directory (compare.py's
   ``bench_env``: own $HOME, this interpreter's bin first on PATH): init, track ``data/**``,
   copy the files in (untimed), then time the add alone:
   - ``git add .`` with git-data's filter (one clean per file),
   - ``git data add .`` (git_data.stage: parallel hashing, one index write),
   - ``git add .`` with ``git lfs track``,
   - ``dvc add data`` (``--no-dvc`` skips it),
   and after git-data's two, check that both staged the same ``git ls-files -s``.
3. Print wall seconds of each and git data add's time divided by each other's (< 1:
   git data add is faster). One run per size; repeat the script for more.

    python benchmarks/bulk_add.py
    python benchmarks/bulk_add.py --files 100000 --sizes 4096
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from compare import bench_env, compile_git_data

Setup = Callable[[Path, dict[str, str]], None]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000, help="files per size (20,000)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 50_000],
                    help="bytes per file (4096 50000)")
    ap.add_argument("--no-dvc", action="store_true", help="leave DVC out")
    ap.add_argument("--workdir", type=Path, default=None, help="where run directories go")
    return ap.parse_args(argv)


def write_files(dest: Path, count: int, size: int) -> None:
    folders = max(1, min(100, count // 100))
    for i in range(count):
        folder = dest / "data" / f"class-{i % folders:03d}"
        if i < folders:
            folder.mkdir(parents=True)
        (folder / f"item-{i:06d}.jpg").write_bytes(os.urandom(size))


def sh(argv: list[str], cwd: Path, env: dict[str, str]) -> bytes:
    return subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout


def git_data_setup(repo: Path, env: dict[str, str]) -> None:
    sh(["git", "data", "install"], repo, env)
    sh(["git", "data", "track", "data/**"], repo, env)


def lfs_setup(repo: Path, env: dict[str, str]) -> None:
    sh(["git", "lfs", "install", "--local"], repo, env)
    sh(["git", "lfs", "track", "data/**"], repo, env)


def dvc_setup(repo: Path, env: dict[str, str]) -> None:
    sh(["dvc", "init", "-q"], repo, env)


WAYS: list[tuple[str, Setup, list[str]]] = [
    ("git add (git-data filter)", git_data_setup, ["git", "add", "."]),
    ("git data add", git_data_setup, ["git", "data", "add", "."]),
    ("git add (git-lfs)", lfs_setup, ["git", "add", "."]),
    ("dvc add", dvc_setup, ["dvc", "add", "-q", "data"]),
]


def time_way(root: Path, src: Path, setup: Setup, argv: list[str]) -> tuple[float, Path]:
    env = bench_env(root, "")
    repo = root / "work"
    repo.mkdir(parents=True)
    sh(["git", "init", "-q"], repo, env)
    setup(repo, env)
    shutil.copytree(src / "data", repo / "data")
    sh(["sync"], repo, env)  # the copy's write-back is not charged to the add
    start = time.perf_counter()
    sh(argv, repo, env)
    return time.perf_counter() - start, repo


def run_size(base: Path, count: int, size: int, dvc: bool) -> None:
    src = base / f"src-{size}"
    write_files(src, count, size)
    times: dict[str, float] = {}
    repos: dict[str, Path] = {}
    for i, (label, setup, argv) in enumerate(WAYS):
        if label == "dvc add" and not (dvc and shutil.which("dvc")):
            continue
        times[label], repos[label] = time_way(base / f"{size}-{i}", src, setup, argv)
    env = bench_env(base / "check", "")
    staged = {k: sh(["git", "ls-files", "-s"], repos[k], env) for k in WAYS_COMPARED}
    same = "same" if len(set(staged.values())) == 1 else "DIFFERENT"
    print(f"\n{count:,} files x {size:,} bytes (one run; staged index: {same})")
    ours = times["git data add"]
    for label, seconds in times.items():
        ratio = "" if label == "git data add" else f"  git data add / this = {ours / seconds:.2f}"
        print(f"  {label:28s} {seconds:7.2f} s{ratio}")
    for i in range(len(WAYS)):
        shutil.rmtree(base / f"{size}-{i}", ignore_errors=True)
    shutil.rmtree(src)


WAYS_COMPARED = ("git add (git-data filter)", "git data add")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_git_data()
    base = Path(tempfile.mkdtemp(prefix="bulk-add-", dir=args.workdir))
    try:
        for size in args.sizes:
            run_size(base, args.files, size, not args.no_dvc)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
