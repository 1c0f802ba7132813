"""Medians, ratios to git-data, the JSON document and its markdown table."""

from __future__ import annotations

from typing import Any

from harness import StepResult, median
from workloads import Workload, human_size

LABELS = {"gitdata": "git-data", "lfs": "git-lfs", "dvc": "DVC"}
STEP_LABELS = {
    "add_commit": "track + add + commit",
    "push": "push to the remote",
    "clone": "clone with all data (W4, W5: `git pull` of the new commit)",
    "pull_folder": "pull one folder (no-data clone first, untimed)",
    "switch": "switch to a branch whose data differ",
    "status_git": "`git status`, unchanged tree",
    "status_tool": "tool's status (git data / git lfs / dvc status)",
}
RSS_ROWS = {"add_commit": "peak RSS: add + commit", "clone": "peak RSS: clone / pull"}
BACKENDS = {"local": "local-directory store", "s3": "S3 store (SeaweedFS on 127.0.0.1)"}
NO_S3 = "no S3 backend"
TARGETS = {("W5", "push"): 1.0}  # git-data's own targets, seconds


def summarize(runs: list[StepResult]) -> dict[str, Any]:
    """Median over repetitions; any failed repetition makes the figure FAILED."""
    entry: dict[str, Any] = {
        "reps": len(runs),
        "seconds": [r.seconds for r in runs],
        "maxrss_kb": [r.maxrss_kb for r in runs],
    }
    failed = [r for r in runs if not r.ok]
    if failed or not runs:
        entry.update(status="FAILED", median_s=None, rss_mib=None,
                     error=failed[0].error if failed else "did not run")
        return entry
    rss = [r.maxrss_kb for r in runs if r.maxrss_kb is not None]
    entry.update(status="ok", error=None,
                 median_s=median([r.seconds for r in runs if r.seconds is not None]),
                 rss_mib=median(rss) / 1024 if rss else None)
    return entry


def add_ratios(per_tool: dict[str, dict[str, Any]], steps: tuple[str, ...]) -> None:
    """peer / git-data for time and peak RSS: > 1 means git-data is faster (or leaner)."""
    base = per_tool.get("gitdata")
    if not base:
        return
    for key, entries in per_tool.items():
        if key == "gitdata":
            continue
        for step in steps:
            mine, ref = entries[step], base[step]
            both = mine["status"] == ref["status"] == "ok"
            mine["ratio"] = mine["median_s"] / ref["median_s"] if both and ref["median_s"] else None
            mine["rss_ratio"] = (mine["rss_mib"] / ref["rss_mib"]
                                 if both and ref["rss_mib"] and mine["rss_mib"] else None)


def build(meta: dict, works: dict[str, Workload], steps: tuple[str, ...], tools: list[str],
          missing: dict[str, str], raw: dict, floor: dict | None) -> dict[str, Any]:
    """The whole JSON document: every figure of every backend, workload, tool and step."""
    results: dict[str, Any] = {}
    if meta.get("s3_only"):  # no local-directory runs: no table of "did not run" rows
        backends = ["s3"]
    else:
        backends = ["local", "s3"] if meta["s3"] else ["local"]
    for backend in backends:
        results[backend] = {}
        for wk in works:
            per_tool = {}
            for tool in tools:
                if backend == "s3" and tool == "lfs":
                    per_tool[tool] = {s: {"status": "n/a", "error": NO_S3} for s in steps}
                elif tool in missing:
                    per_tool[tool] = {s: summarize([StepResult(error=missing[tool])])
                                      for s in steps}
                else:
                    runs = raw.get(backend, {}).get(wk, {}).get(tool, [])
                    per_tool[tool] = {s: summarize([r[s] for r in runs]) for s in steps}
            add_ratios(per_tool, steps)
            results[backend][wk] = per_tool
    return {"meta": meta, "steps": list(steps), "step_labels": STEP_LABELS,
            "workloads": {k: workload_doc(w, meta["reps"][k]) for k, w in works.items()},
            "floor": floor, "notes": notes(meta, works), "results": results}


def workload_doc(work: Workload, reps: int) -> dict[str, Any]:
    return {"title": work.title, "files": work.files, "size": work.size, "base": work.base,
            "pull_folder": work.folder, "reps": reps}


def notes(meta: dict, works: dict[str, Workload]) -> list[str]:
    out = ["Times are medians over repetitions, each step in a fresh wrapper process; peak RSS "
           "is the largest single process the step started (getrusage RUSAGE_CHILDREN), "
           "git's filter and hook children included."]
    once = [k for k, n in meta["reps"].items() if n == 1 and k in works]
    if once and meta["reps_default"]:
        out.append(f"{', '.join(once)} ran once (not 3 times) to fit the time budget"
                   + (" of a quick run." if meta["quick"] else " of a full run (20 minutes)."))
    out.append("git-lfs pushes to the bare git remote over its native file:// transfer "
               "(objects in team.git/lfs/objects), which hard-links objects when the remote "
               "is on the same filesystem (it is here), so its local push copies no bytes; "
               "it has no S3 backend. git-data hard-links between its cache and a local "
               "store the same way (data.localLinks); DVC copies.")
    out.append("git-data's bytecode is compiled before the run, as pip does when it "
               "installs a package; tools' dependencies have theirs from their install.")
    if meta.get("editable_finder"):
        out.append("Warning: git-data is an editable install through setuptools' import finder "
                   "here, which adds ~25 ms to the start of every Python process in the venv "
                   "(git-data's hooks and filter, and DVC's commands); `make venv` installs it "
                   "as a plain path, as a regular install would be.")
    out.append("W4 and W5 get their data by `git pull` (DVC: + `dvc pull`) of the new commit "
               "into the clone their base workload made, not by a fresh clone.")
    out.append("DVC tracks data/ as one output (`dvc add data`); its branch switch is "
               "`git switch` + `dvc pull`, its status `dvc status`.")
    return out


def fmt_time(entry: dict[str, Any]) -> str:
    if entry["status"] != "ok":
        return "n/a (no S3 backend)" if entry["status"] == "n/a" else "FAILED"
    s = entry["median_s"]
    if s < 0.1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def fmt_rss(entry: dict[str, Any]) -> str:
    if entry["status"] != "ok":
        return fmt_time(entry)
    return "—" if entry["rss_mib"] is None else f"{entry['rss_mib']:.0f} MiB"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def table(per_tool: dict[str, dict[str, Any]], steps: list[str]) -> list[str]:
    tools = list(per_tool)
    ratios = "gitdata" in per_tool
    head, align = ["step"], ["---"]
    for tool in tools:
        head.append(LABELS[tool])
        align.append("---:")
        if ratios and tool != "gitdata":
            head.append(f"{LABELS[tool]} ÷ git-data")
            align.append("---:")
    rows = [(STEP_LABELS[s], s, fmt_time, "ratio") for s in steps]
    rows += [(label, s, fmt_rss, "rss_ratio") for s, label in RSS_ROWS.items() if s in steps]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for label, step, fmt, ratio_key in rows:
        cells = [label]
        for tool in tools:
            entry = per_tool[tool][step]
            cells.append(fmt(entry))
            if ratios and tool != "gitdata":
                cells.append(fmt_ratio(entry.get(ratio_key)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def failures(per_tool: dict[str, dict[str, Any]], steps: list[str]) -> list[str]:
    out = []
    for tool, entries in per_tool.items():
        for step in steps:
            if entries[step]["status"] == "FAILED":
                out.append(f"- FAILED {LABELS[tool]} / {step}: {entries[step]['error']}")
    return out


def targets(wk: str, per_tool: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for (key, step), limit in TARGETS.items():
        entry = per_tool.get("gitdata", {}).get(step)
        if key != wk or not entry:
            continue
        got = "FAILED" if entry["status"] != "ok" else f"{entry['median_s']:.2f} s"
        met = entry["status"] == "ok" and entry["median_s"] < limit
        out.append(f"- Target: git-data {step} < {limit:g} s — {got}, "
                   f"{'met' if met else 'NOT met'}.")
    return out


def throughput(wk: str, info: dict[str, Any], per_tool: dict[str, dict[str, Any]]
               ) -> list[str]:
    """W2's add + commit as bytes per second (track and commit included), for the 1 GB/s
    target of `git add` on large files."""
    if wk != "W2":
        return []
    rates = []
    for tool, entries in per_tool.items():
        entry = entries.get("add_commit")
        if entry and entry["status"] == "ok" and entry["median_s"]:
            gb_s = info["files"] * info["size"] / entry["median_s"] / 1e9
            rates.append(f"{LABELS.get(tool, tool)} {gb_s:.2f} GB/s")
    return [f"- add + commit throughput ({human_size(info['files'] * info['size'])}, "
            f"track and commit included): {', '.join(rates)}."] if rates else []


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    v = "; ".join(f"{LABELS.get(k, k)}: {val}" for k, val in meta["versions"].items())
    lines = ["# git-data vs git-lfs vs DVC", "",
             f"{'Quick' if meta['quick'] else 'Full'} run, {meta['started']}, "
             f"{meta['duration_s']:.0f} s, {meta['cpus']} CPUs, {meta['platform']}.  ",
             f"Versions: {v}.  ", f"Command: `{meta['command']}`", "",
             "Ratio columns: peer time ÷ git-data time (> 1: git-data faster; for RSS rows, "
             "> 1: git-data uses less memory).", ""]
    lines += [f"- {n}" for n in doc["notes"]] + [""]
    floor = doc.get("floor")
    if floor:
        lines += ["## Physical floor (W2's bytes on this machine)", "",
                  f"{human_size(floor['bytes'])}: read from page cache (`cat`, warmed) "
                  f"{floor['read_cached_s']:.2f} s ({floor['read_gib_per_s']:.1f} GiB/s); "
                  f"copy once (`cp`) {floor['cp_s']:.2f} s ({floor['cp_gib_per_s']:.1f} GiB/s).",
                  ""]
    for backend, per_wk in doc["results"].items():
        lines += [f"## {BACKENDS[backend]}", ""]
        for wk, per_tool in per_wk.items():
            info = doc["workloads"][wk]
            lines += [f"### {info['title']} — median of {info['reps']}", ""]
            lines += table(per_tool, doc["steps"]) + [""]
            extra = (failures(per_tool, doc["steps"]) + targets(wk, per_tool)
                     + throughput(wk, info, per_tool))
            lines += extra + [""] if extra else []
    return "\n".join(lines)


def progress_line(backend: str, wk: str, rep: int, count: int, label: str,
                  steps: dict[str, StepResult], elapsed: float) -> str:
    parts = [f"{name} {'FAILED' if not r.ok else f'{r.seconds:.2f}'}"
             for name, r in steps.items()]
    return f"[{backend} {wk} {rep + 1}/{count}] {label}: {', '.join(parts)}  ({elapsed:.0f} s)"
