"""``git data stats`` beside duckdb SUMMARIZE and polars describe() on one generated table,
as CSV and as Parquet: MB/s and peak RSS of each tool (each in its own process, so peak
RSS is its own), and git-data's ratios to the others.

    python benchmarks/stats_speed.py [--rows 3000000] [--dir /tmp/stats-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

TOOLS = ("git-data", "duckdb", "polars")


def generate(folder: str, rows: int) -> tuple[str, str]:
    """8 columns like a typical training table: an id, floats, ints, categories, a date."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    csv_path, pq_path = os.path.join(folder, "t.csv"), os.path.join(folder, "t.parquet")
    if os.path.exists(csv_path) and os.path.exists(pq_path):
        return csv_path, pq_path
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    cats = np.array(["red", "green", "blue", "cyan", "magenta", "yellow", "black"])
    table = pa.table({
        "id": np.arange(rows),
        "x": rng.normal(size=rows).round(6),
        "y": rng.uniform(0, 1000, size=rows).round(3),
        "age": rng.integers(0, 100, size=rows),
        "count": rng.poisson(3, size=rows),
        "color": cats[rng.integers(0, len(cats), size=rows)],
        "label": rng.integers(0, 2, size=rows).astype(str),
        "day": (np.datetime64("2020-01-01") + rng.integers(0, 1500, size=rows)
                .astype("timedelta64[D]")),
    })
    pacsv.write_csv(table, csv_path)
    pq.write_table(table, pq_path)
    return csv_path, pq_path


def run_tool(tool: str, path: str) -> None:
    """One measurement in this process; prints seconds and peak RSS as JSON."""
    start = time.perf_counter()
    if tool == "git-data":
        from git_data.stats import profile

        profile(path)
    elif tool == "duckdb":
        import duckdb

        reader = "read_parquet" if path.endswith(".parquet") else "read_csv_auto"
        duckdb.sql(f"SUMMARIZE SELECT * FROM {reader}('{path}')").fetchall()
    else:
        import polars as pl

        frame = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path)
        frame.describe()
    seconds = time.perf_counter() - start
    rss_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))


def peak_rss_mb() -> float:
    """VmHWM: unlike ru_maxrss it starts afresh at exec, so it is this tool's own peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(tool: str, path: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--one", tool, path], check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["mb_s"] = os.path.getsize(path) / 1e6 / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--dir", default="/tmp/stats-bench")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    if args.one:
        run_tool(*args.one)
        return
    csv_path, pq_path = generate(args.dir, args.rows)
    for path in (csv_path, pq_path):
        size = os.path.getsize(path) / 1e6
        results = {tool: measure(tool, path) for tool in args.tools.split(",")}
        print(f"{os.path.basename(path)} ({size:,.0f} MB, {args.rows:,} rows x 8 columns)")
        for tool, r in results.items():
            ratio = ("" if tool == "git-data" or "git-data" not in results else
                     f"  git-data is {results['git-data']['mb_s'] / r['mb_s']:.2f}x")
            print(f"  {tool:9} {r['mb_s']:8.1f} MB/s  {r['seconds']:7.2f} s  "
                  f"peak RSS {r['rss_mb']:7.0f} MB{ratio}")


if __name__ == "__main__":
    main()
