"""What run metrics cost: (a) the metrics.jsonl of a run that logs 100 metrics per second
for a minute (6,000 lines x 100 metrics, the lines git_data.log writes): file size, bytes to
the store, client parse time; (b) compare's reading of 50 runs from a local-folder store,
cold (nothing cached) and warm (the per-run parse cache), through
git_data.experiments.runmetrics.load_many, as `git data compare` calls it.

    python benchmarks/experiments.py [--runs 50] [--lines 6000] [--metrics 100] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from git_data.experiments import sources  # noqa: E402
from git_data.experiments.runmetrics import load_many  # noqa: E402
from git_data.runner.host.paths import run_key  # noqa: E402
from git_data.store import open_store  # noqa: E402


def metrics_file(lines: int, metrics: int) -> bytes:
    """The lines git_data.log appends: {"step", "time", name: value...}, one per call."""
    out = []
    for step in range(lines):
        row = {"step": step, "time": round(1.7e9 + step / 100, 3),
               **{f"m{i}": 1.0 / (step + i + 1) for i in range(metrics)}}
        out.append(json.dumps(row) + "\n")
    return "".join(out).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--lines", type=int, default=6000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    body = metrics_file(args.lines, args.metrics)
    into = sources.Collector()
    start = time.perf_counter()
    sources.read_jsonl(io.BytesIO(body), into)
    parse = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "store"))
        small = metrics_file(100, 5)  # compare: 50 runs, 100 steps x 5 metrics each
        found = []
        for run_id in range(1, args.runs + 1):
            record = {"id": run_id, "status": "succeeded", "ended": "2026-01-01T00:00:00Z",
                      "params": {"lr": str(run_id / 1000)}}
            store.write_json(f"{run_key(run_id)}/run.json", record)
            store.write_bytes(f"{run_key(run_id)}/outputs/metrics.jsonl", small)
            found.append(record)
        cache = Path(tmp) / "cache"
        start = time.perf_counter()
        load_many(store, found, cache)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        load_many(store, found, cache)
        warm = time.perf_counter() - start
    figures = {"metrics_jsonl_bytes": len(body), "bytes_to_store": len(body),
               "parse_s": round(parse, 3), "compare_runs": args.runs,
               "compare_cold_s": round(cold, 3), "compare_warm_s": round(warm, 3)}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"metrics.jsonl of {args.lines} x {args.metrics}: {len(body) / 1e6:.1f} MB "
          f"(uploaded once with the outputs), parsed in {parse:.2f} s")
    print(f"compare of {args.runs} runs: cold {cold:.2f} s, warm {warm:.3f} s (goal < 2 s)")



if __name__ == "__main__":
    main()
