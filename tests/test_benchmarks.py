"""Smoke test of benchmarks/compare.py: a quick git-data-only run reports every figure.

No timing thresholds: it checks that every step of every workload is in the JSON, and that
git-data's results passed the benchmark's own correctness checks (bytes after clone, folder
pull and branch switch hash to what was generated).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = {"add_commit", "push", "clone", "pull_folder", "switch", "status_git", "status_tool"}
WORKLOADS = {"W1", "W2", "W3", "W4", "W5"}


@pytest.mark.slow
def test_quick_benchmark_reports_every_step(tmp_path: Path) -> None:
    out = tmp_path / "results" / "bench.json"
    argv = [sys.executable, str(ROOT / "benchmarks" / "compare.py"), "--quick",
            "--tools", "gitdata", "--reps", "1", "--out", str(out), "--workdir", str(tmp_path)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    doc = json.loads(out.read_text())
    assert set(doc["steps"]) == STEPS
    assert set(doc["workloads"]) == WORKLOADS
    assert doc["floor"]["bytes"] > 0 and doc["floor"]["read_cached_s"] > 0
    failed = []
    for wk in WORKLOADS:
        entries = doc["results"]["local"][wk]["gitdata"]
        assert set(entries) == STEPS, wk
        for step, entry in entries.items():
            if entry["status"] != "ok":
                failed.append(f"{wk}/{step}: {entry['error']}")
                continue
            assert entry["median_s"] > 0 and entry["rss_mib"] > 0, (wk, step)
    assert not failed, "\n".join(failed)

    table = out.with_suffix(".md").read_text()
    assert "W5" in table and "git-data" in table


@pytest.mark.slow
def test_food101_tiny_run_reports_every_tool(tmp_path: Path) -> None:
    """benchmarks/food101.py at a tiny N through the real SeaweedFS: git-data, DVC and the
    s5cmd floor each report every step, and the clones passed the byte check."""
    out = tmp_path / "food.json"
    argv = [sys.executable, str(ROOT / "benchmarks" / "food101.py"), "--files", "60",
            "--classes", "6", "--size", "2000", "--out", str(out), "--workdir", str(tmp_path)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["files"] == 60
    expected = {"gitdata": {"add_commit", "push", "clone"}, "dvc": {"add_commit", "push", "clone"},
                "s5cmd": {"upload", "download"}}
    assert {k: set(v) for k, v in doc["results"].items()} == expected
    failed = [f"{tool}/{step}: {e['error']}" for tool, steps in doc["results"].items()
              for step, e in steps.items() if e["status"] != "ok"]
    assert not failed, "\n".join(failed)
    assert all(doc["totals"][tool] > 0 for tool in expected)
    assert "DVC / git-data" in proc.stdout and "git-data / s5cmd" in proc.stdout
