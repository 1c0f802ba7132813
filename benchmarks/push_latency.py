"""How long `git push` of one small commit takes with git-data and with git-lfs, both to a
bare repository on the same disk (git-data's embedded store, git-lfs's file:// transfer), as
the median of many pushes: a full `make bench` times each push step once, and at a tenth of
a second one sample says little.

    python benchmarks/push_latency.py [--pushes 15] [--size 1048576] [--json]

Each tool gets its own bare "team" repository and work repository, in a temporary folder with
its own HOME. Every commit adds two new files of ``--size`` bytes; the pushes go one commit at
a time, tools interleaved, so a slow spell of the machine hits both alike. Prints the medians
and git-lfs's median ÷ git-data's (above 1: git-data is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compare import bench_env

TOOLS = {"git-data": ("git", "data", "install", "--local"),
         "git-lfs": ("git", "lfs", "install", "--local")}
TRACK = {"git-data": ("git", "data", "track", "*.bin"),
         "git-lfs": ("git", "lfs", "track", "*.bin")}
STORE = {"git-data": "data/objects", "git-lfs": "lfs/objects"}  # inside the bare repository


def sh(args: tuple[str, ...] | list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def prepare(tool: str, root: Path, env: dict[str, str], pushes: int, size: int) -> Path:
    """A work repository whose first commit is pushed and whose next ``pushes`` are not."""
    team, work = root / f"{tool}-team.git", root / f"{tool}-work"
    sh(["git", "init", "-q", "--bare", str(team)], root, env)
    sh(["git", "init", "-q", str(work)], root, env)
    sh(TOOLS[tool], work, env)
    sh(TRACK[tool], work, env)
    sh(["git", "remote", "add", "origin", str(team)], work, env)
    sh(["git", "add", "-A"], work, env)
    sh(["git", "commit", "-qm", "set-up"], work, env)
    sh(["git", "push", "-q", "origin", "main"], work, env)
    for n in range(pushes):
        for k in range(2):
            (work / f"c{n}-{k}.bin").write_bytes(os.urandom(size))
        sh(["git", "add", "-A"], work, env)
        sh(["git", "commit", "-qm", f"commit {n}"], work, env)
    return work


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pushes", type=int, default=15)
    ap.add_argument("--size", type=int, default=1 << 20, help="bytes per new file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    tools = [t for t in TOOLS if shutil.which(t) or (Path(sys.executable).parent / t).exists()]
    root = Path(tempfile.mkdtemp(prefix="git-data-push-latency-"))
    try:
        env = bench_env(root, "")  # compare.py's: own HOME and git config, this venv's bin
        works = {tool: prepare(tool, root, env, args.pushes, args.size) for tool in tools}
        times: dict[str, list[float]] = {tool: [] for tool in tools}
        for n in range(args.pushes):
            for tool in tools:
                ref = f"HEAD~{args.pushes - 1 - n}:main"
                start = time.perf_counter()
                sh(["git", "push", "-q", "origin", ref], works[tool], env)
                times[tool].append(time.perf_counter() - start)
        for tool in tools:  # a push that uploaded nothing would time nothing
            stored = sum(1 for p in (root / f"{tool}-team.git" / STORE[tool]).rglob("*")
                         if p.is_file())
            if stored != 2 * args.pushes:
                raise SystemExit(f"{tool}: the store holds {stored} objects after "
                                 f"{args.pushes} pushes of 2 new files each")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    medians = {tool: statistics.median(t) for tool, t in times.items()}
    if args.json:
        print(json.dumps({"pushes": args.pushes, "size": args.size, "times": times,
                          "medians": medians}, indent=2))
        return 0
    for tool in tools:
        spread = f"{min(times[tool]):.3f}-{max(times[tool]):.3f}"
        print(f"{tool:9} median {medians[tool]:.3f} s over {args.pushes} pushes ({spread})")
    if len(medians) == 2:
        print(f"git-lfs ÷ git-data: {medians['git-lfs'] / medians['git-data']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
