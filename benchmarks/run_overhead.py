"""What keeping a run visible costs: bytes the host side sends to the store per minute and
the supervisor's CPU time, for a run that prints a line and appends a line to
``outputs/metrics.jsonl`` every second (heartbeat, logs, continuous checkpoints).

    python benchmarks/run_overhead.py [--seconds 60] [--code DIR] [--json]

``--code DIR`` runs the git_data of another tree (e.g. a checkout of an older version) the
same way, for a ratio. The run goes on the built-in ``local`` host with default intervals and
a local-folder store; every file the store publishes is a new inode (written in ``tmp/``,
renamed into place), so polling the run's folder every 20 ms and adding the size of each new
inode counts the bytes sent (an in-kernel copy would escape /proc/PID/io). CPU is the
supervisor's user + system time from /proc, read until it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOOP = """\
import json, os, pathlib, sys, time
out = pathlib.Path(os.environ["GIT_DATA_RUN_OUTPUT"])
for step in range(int(sys.argv[1])):
    with open(out / "metrics.jsonl", "a") as metrics:
        metrics.write(json.dumps({"step": step, "loss": 1 / (step + 1), "lr": 0.001}) + "\\n")
    print(f"step {step} loss {1 / (step + 1):.6f}", flush=True)
    time.sleep(1)
"""


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True,
                          env=env).stdout


def make_repo(base: Path, env: dict[str, str]) -> Path:
    sh(["git", "init", "-q", "--bare", str(base / "team.git")], base, env)
    repo = base / "repo"
    repo.mkdir()
    for args in (["git", "init", "-q"], ["git-data", "install"],
                 ["git", "remote", "add", "origin", str(base / "team.git")]):
        sh(args, repo, env)
    (repo / "loop.py").write_text(LOOP)
    (repo / ".gitignore").write_text("outputs/\n")
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-q", "-m", "bench"], repo, env)
    return repo


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(seconds: int, code: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="git-data-overhead-") as tmp:
        base = Path(tmp)
        home = base / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = B\n\temail = b@example.com\n"
                                         "[init]\n\tdefaultBranch = main\n")
        env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
               "PYTHONPATH": str(code), "GIT_DATA_NO_PROGRESS": "1",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        repo = make_repo(base, env)
        run_id = sh(["git-data", "run", "-d", "--", "python3", "loop.py", str(seconds)],
                    repo, env).strip()
        folder = base / "team.git" / "data" / "runs" / run_id
        seen: set[tuple[int, int]] = set()
        sent = 0
        cpu = 0.0
        pid = None
        start = time.monotonic()
        while True:
            for path in folder.rglob("*"):
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue
                if path.is_file() and (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    sent += st.st_size
            if pid is None:
                pid = _supervisor_pid(folder)
            used = cpu_seconds(pid) if pid else None
            if used is not None:
                cpu = used
            record = json.loads((folder / "run.json").read_text())
            if record.get("status") in ("succeeded", "failed", "stopped") or \
                    time.monotonic() - start > seconds + 120:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - start
        return {"seconds": round(elapsed, 1), "bytes": sent,
                "bytes_per_min": round(sent * 60 / elapsed), "store_files": len(seen),
                "supervisor_cpu_s": round(cpu, 3),
                "cpu_percent": round(100 * cpu / elapsed, 2)}


def _supervisor_pid(folder: Path) -> int | None:
    try:
        rundir = json.loads((folder / "run.json").read_text())["host"]["rundir"]
        return int(json.loads((Path(rundir) / "state.json").read_text())["pid"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="the tree whose git_data runs (default: this one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"code": str(args.code), **measure(args.seconds, args.code.resolve())}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.code}: {result['bytes_per_min']} bytes/min to the store "
              f"({result['store_files']} files in {result['seconds']} s), supervisor CPU "
              f"{result['supervisor_cpu_s']} s ({result['cpu_percent']}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
