"""How long `git data run` takes from typing the command to the first line of the user's
output, with the environment and data already on the host (a second run), on the built-in
`local` host and on an SSH host (a real sshd on a loopback port, as in tests/sshd.py), for a
one-file repository and a realistic one (``--files``, default 2,000 data files of 4 KiB in 20
folders, all of which each run checks and places).

    python benchmarks/run_latency.py [--runs 5] [--files 2000] [--json]

Everything happens in a temporary folder with its own HOME; the SSH part is skipped when
/usr/sbin/sshd is missing (apt-get install openssh-server). The bar: under 3 s.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

TRAIN = "import sys\nprint('first line', open('data/input.txt').read().strip(), flush=True)\n"


def sh(args: list[str], cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(base: Path, files: int = 0) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(base / "team.git")], check=True)
    repo = base / "repo"
    repo.mkdir()
    sh(["git", "init", "-q"], repo)
    sh(["git-data", "install"], repo)
    sh(["git-data", "track", "data/**"], repo)
    sh(["git", "remote", "add", "origin", str(base / "team.git")], repo)
    (repo / "data").mkdir()
    (repo / "data" / "input.txt").write_text("hello\n")
    for i in range(files):  # distinct 4 KiB files: every one is its own object
        folder = repo / "data" / f"class{i % 20:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i:05d}.bin").write_bytes(i.to_bytes(4, "big") * 1024)
    (repo / "train.py").write_text(TRAIN)
    (repo / "requirements.txt").write_text("--no-index\npip\n")
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-q", "-m", "bench"], repo)
    return repo


def first_line_seconds(repo: Path, host: str) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(["git-data", "run", "--host", host, "--", "python3", "train.py"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    _, err = proc.communicate()
    if proc.returncode != 0 or not line.startswith(b"first line"):
        raise SystemExit(f"run on {host} failed ({proc.returncode}): {err.decode()}")
    return elapsed


def measure(repo: Path, host: str, runs: int) -> dict[str, float]:
    cold = first_line_seconds(repo, host)  # installs, downloads, builds the environment
    warm = [first_line_seconds(repo, host) for _ in range(runs)]
    return {"first_run_s": round(cold, 3), "warm_median_s": round(statistics.median(warm), 3),
            "warm_min_s": round(min(warm), 3), "warm_max_s": round(max(warm), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=2000,
                        help="data files in the realistic repository (0 leaves it out)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="git-data-run-latency-"))
    home = base / "home"
    home.mkdir()
    os.environ.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_DATA_NO_PROGRESS="1")
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    results: dict[str, dict[str, float] | str] = {}
    server = None
    try:
        import sshd

        if os.path.exists(sshd.SSHD):
            server = sshd.start_sshd(base / "sshd")
            os.environ["GIT_DATA_SSH_COMMAND"] = sshd.configure_client(server, home)
        for files in [0] + ([args.files] if args.files else []):
            label = f", {files} files" if files else ""
            work = base / f"repo{files}"
            work.mkdir()
            repo = make_repo(work, files)
            results["local" + label] = measure(repo, "local", args.runs)
            if server is None:
                results["ssh" + label] = "skipped: no sshd (apt-get install openssh-server)"
                continue
            sh(["git-data", "host", "add", "loopback", server.url(), "--workdir",
                str(work / "hostwork"), "--personal"], repo)
            results["ssh" + label] = measure(repo, "loopback", args.runs)
    finally:
        if server is not None:
            sshd.stop_sshd(server)
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"git data run: typing -> first line of output ({args.runs} warm runs, "
          f"{os.cpu_count()} CPUs)")
    for host, figures in results.items():
        if isinstance(figures, str):
            print(f"  {host:<17} {figures}")
            continue
        print(f"  {host:<17} warm median {figures['warm_median_s']:.2f}s "
              f"(min {figures['warm_min_s']:.2f}s, max {figures['warm_max_s']:.2f}s); "
              f"first run {figures['first_run_s']:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
