"""Runs you can trust for days: the heartbeat (a host killed with kill -9 shows as lost),
continuous checkpoints (outputs in the store while the run goes on, append-only files in
parts), and `git data run --resume`. Real processes killed for real, on the `local` host and
over a real OpenSSH server (tests/sshd.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from sshd import SshServer, sshd_host_fixture, sshd_server_fixture
from test_runner_local import make_project, record, store_dir, wait_final, wait_for

FIXTURES = (sshd_host_fixture, sshd_server_fixture)  # sshd_host and sshd_server, used below
LOST_AFTER = 3.0
LIVE = {"data.run.lostAfter": str(LOST_AFTER), "data.run.uploadInterval": "1",
        "data.run.recordInterval": "30",  # the heartbeat alone keeps a run alive
        "data.run.stableFor": "0.5", "data.run.scanInterval": "0.2"}

# Prints a line and appends a metrics line every 0.2 s; writes a checkpoint at steps 1-3
# (then never again), and says on stdout when each checkpoint was complete.
TRAIN = """\
import json, os, pathlib, sys, time
out = pathlib.Path(os.environ["GIT_DATA_RUN_OUTPUT"])
start = int(sys.argv[1]) if len(sys.argv) > 1 else 0
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10**6
prev = out / "last.ckpt"
if prev.exists():
    print("resumed from", prev.read_text().strip(), flush=True)
for step in range(start, start + steps):
    with open(out / "metrics.jsonl", "a") as metrics:
        metrics.write(json.dumps({"step": step, "loss": 1 / (step + 1)}) + "\\n")
    if step - start < 3:
        (out / "last.ckpt").write_text(f"step {step}\\n")
        print("checkpoint", step, flush=True)
    print("step", step, flush=True)
    time.sleep(0.2)
"""


@pytest.fixture
def project(team: tuple[Repo, Path]) -> Repo:
    repo = make_project(team)
    for key, value in LIVE.items():
        repo.git("config", key, value)
    repo.write("loop.py", TRAIN.encode())
    repo.commit_all("loop")
    return repo


def store(team: tuple[Repo, Path]) -> Path:
    return store_dir(team)


def host_state(repo: Repo, run_id: int) -> dict[str, Any]:
    """The run's state.json on the host, once its command runs (supervisor pid, pgid)."""
    def running() -> dict[str, Any] | None:
        shown = repo.data("show-run", str(run_id), "--json", check=False)
        rundir = shown.returncode == 0 and (json.loads(shown.stdout).get("host") or {}).get(
            "rundir")
        if not rundir:
            return None
        try:
            state = json.loads((Path(rundir) / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return {**state, "rundir": rundir} if state.get("pgid") else None

    return dict(wait_for(running, 60, f"run {run_id}'s command to start"))


def kill_host_side(state: dict[str, Any]) -> None:
    """kill -9 the supervisor and every process of the command's group."""
    os.kill(int(state["pid"]), signal.SIGKILL)
    try:
        os.killpg(int(state["pgid"]), signal.SIGKILL)
    except ProcessLookupError:
        pass


def status_in_list(repo: Repo, run_id: int) -> str:
    for line in repo.data("runs").stdout.splitlines()[1:]:
        if line.split()[0] == str(run_id):
            return line.split()[1]
    return ""


def manifest(root: Path, run_id: int, rel: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads((root / f"runs/{run_id}/parts/{rel}/manifest.json").read_text()))
    except FileNotFoundError:
        return None


def part_files(root: Path, run_id: int, rel: str, generation: int = 1) -> list[Path]:
    return sorted((root / f"runs/{run_id}/parts/{rel}/{generation}").glob("[0-9]" * 20))


# ----- heartbeat -------------------------------------------------------------------------
def test_killed_host_side_is_lost_in_runs_show_run_logs_and_stop(
        project: Repo, team: tuple[Repo, Path]) -> None:
    ids = [int(project.data("run", "-d", "--", "python3", "loop.py").stdout)
           for _ in range(2)]
    states = [host_state(project, run_id) for run_id in ids]
    beat = store(team) / f"runs/{ids[0]}/heartbeat.json"
    first = json.loads(wait_for(lambda: beat.exists() and beat.read_text(), 10, "a beat"))
    wait_for(lambda: json.loads(beat.read_text())["seq"] > first["seq"], 10, "a second beat")
    assert status_in_list(project, ids[0]) == "running"
    for state in states:
        kill_host_side(state)
    killed = time.monotonic()
    wait_for(lambda: status_in_list(project, ids[0]) == "lost", LOST_AFTER + 15, "lost")
    assert time.monotonic() - killed <= LOST_AFTER + 15
    shown = record(project, ids[0])
    assert shown["status"] == "lost" and "no heartbeat from host local" in shown["error"]
    assert "lostAfter" in project.data("show-run", str(ids[0])).stdout
    in_store = json.loads((store(team) / f"runs/{ids[0]}/run.json").read_text())
    assert in_store["status"] == "running"  # shown lost, not written by a look

    follow = project.data("logs", "--follow", str(ids[0]), check=False)
    assert follow.returncode != 0
    assert "step 0" in follow.stdout  # the log the host sent before it died
    lost_lines = [ln for ln in follow.stderr.splitlines() if "lost" in ln]
    assert lost_lines == [follow.stderr.splitlines()[-1]]
    assert lost_lines[0].startswith(f"git-data: run {ids[0]} is lost: no heartbeat")
    assert json.loads((store(team) / f"runs/{ids[0]}/run.json").read_text())["status"] == "lost"

    began = time.monotonic()
    stopped = project.data("stop", str(ids[1]))
    assert time.monotonic() - began < 10  # at once, not after the stop timeout
    assert f"run {ids[1]} lost" in stopped.stderr
    after = json.loads((store(team) / f"runs/{ids[1]}/run.json").read_text())
    assert after["status"] == "lost" and "no heartbeat" in after["error"] and after["lost"]
    assert (store(team) / f"runs/{ids[1]}/stop").exists()  # for a host that comes back


def test_attached_client_records_a_supervisor_that_died(project: Repo,
                                                        team: tuple[Repo, Path]) -> None:
    client = subprocess.Popen(["git-data", "run", "--", "python3", "loop.py"],
                              cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    kill_host_side(host_state(project, 1))
    _out, err = client.communicate(timeout=60)
    assert client.returncode != 0
    assert "run 1 lost" in err
    saved = json.loads((store(team) / "runs/1/run.json").read_text())
    assert saved["status"] == "lost" and "supervisor died" in saved["error"]


def test_a_live_run_is_not_lost(project: Repo) -> None:
    run_id = int(project.data("run", "-d", "--", "python3", "loop.py", "0", "40").stdout)
    host_state(project, run_id)
    time.sleep(LOST_AFTER * 1.5)  # longer than lostAfter: only the beats keep it alive
    assert status_in_list(project, run_id) == "running"
    assert wait_final(project, run_id)["status"] == "succeeded"


# ----- continuous checkpoints ------------------------------------------------------------
def test_checkpoint_and_metrics_in_the_store_after_kill_9(project: Repo,
                                                          team: tuple[Repo, Path]) -> None:
    run_id = int(project.data("run", "-d", "--", "python3", "loop.py").stdout)
    state = host_state(project, run_id)
    log = Path(state["rundir"]) / "logs" / "output.log"
    wait_for(lambda: "checkpoint 2" in log.read_text(), 30, "the last checkpoint")
    time.sleep(1 + 0.5 + 0.2 + 2)  # one upload interval, stableFor, a scan, and a margin
    kill_host_side(state)
    root = store(team) / f"runs/{run_id}"
    assert (root / "outputs/last.ckpt").read_text() == "step 2\n"
    # the metrics went in parts: whole lines, each part only the new bytes
    pieces = part_files(store(team), run_id, "outputs/metrics.jsonl")
    assert len(pieces) >= 2
    offsets = [int(p.name) for p in pieces]
    sizes = [p.stat().st_size for p in pieces]
    assert offsets == [sum(sizes[:i]) for i in range(len(pieces))]
    joined = b"".join(p.read_bytes() for p in pieces)
    assert joined.endswith(b"\n") and all(p.read_bytes().endswith(b"\n") for p in pieces)
    host_file = Path(state["rundir"]) / "code/outputs/metrics.jsonl"
    assert host_file.read_bytes().startswith(joined)
    steps = [json.loads(line)["step"] for line in joined.splitlines()]
    assert steps == list(range(len(steps))) and len(steps) >= 10
    # readers see the file whole through the parts: cp, and the run's folder
    got = project.data("cp", f"runs/{run_id}/outputs/metrics.jsonl", "-").stdout
    assert got.encode() == joined
    assert "step 3" in project.data("logs", str(run_id)).stdout


def test_appended_file_reaches_the_store_while_the_run_goes_on(
        project: Repo, team: tuple[Repo, Path]) -> None:
    run_id = int(project.data("run", "-d", "--", "python3", "loop.py", "0", "30").stdout)
    host_state(project, run_id)
    rel = "outputs/metrics.jsonl"
    first = wait_for(lambda: (m := manifest(store(team), run_id, rel)) and m["parts"] >= 2
                     and m, 30, "two parts of metrics.jsonl")
    assert first["mode"] == "parts" and first["format"] == "git-data-parts"
    assert record(project, run_id)["status"] == "running"
    assert not (store(team) / f"runs/{run_id}/{rel}").exists()  # not re-sent whole
    later = wait_for(lambda: (m := manifest(store(team), run_id, rel)) and m["size"] >
                     first["size"] and m, 30, "the file to grow in the store")
    pieces = part_files(store(team), run_id, rel)
    assert sum(p.stat().st_size for p in pieces) >= later["size"]  # only new bytes each time
    assert len(pieces) >= later["parts"] >= 3
    logs_parts = part_files(store(team), run_id, "logs/output.log")
    assert logs_parts  # the log goes in parts too
    final = wait_final(project, run_id)
    assert final["status"] == "succeeded"
    whole = (store(team) / f"runs/{run_id}/{rel}").read_text().splitlines()
    assert [json.loads(line)["step"] for line in whole] == list(range(30))
    assert manifest(store(team), run_id, rel)["mode"] == "whole"
    assert manifest(store(team), run_id, "logs/output.log")["mode"] == "whole"
    assert "step 29" in (store(team) / f"runs/{run_id}/logs/output.log").read_text()


def test_a_symlink_or_a_pipe_in_the_outputs_is_never_read(project: Repo, team: tuple[Repo, Path],
                                                    tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    script = (f"ln -s {secret} outputs/link.txt; ln -s {tmp_path} outputs/linked-dir; "
              "mkfifo outputs/pipe; echo real > outputs/real.txt; sleep 2")
    project.data("run", "--", "sh", "-c", script)
    outputs = store(team) / "runs/1/outputs"
    assert (outputs / "real.txt").read_text() == "real\n"
    assert not (outputs / "link.txt").exists() and not (outputs / "linked-dir").exists()
    assert not (outputs / "pipe").exists()  # and the supervisor did not hang on it
    assert "host secret" not in "".join(p.read_text(errors="replace")
                                       for p in (store(team) / "runs/1").rglob("*")
                                       if p.is_file())


# ----- resume ----------------------------------------------------------------------------
def test_resume_starts_from_the_commit_with_the_outputs_copied(
        project: Repo, team: tuple[Repo, Path]) -> None:
    commit = project.git("rev-parse", "HEAD").stdout.strip()
    project.data("run", "--", "python3", "loop.py", "0", "4")
    project.write("loop.py", b"print('the new code')\n")
    project.commit_all("new code")  # HEAD moves on; the resumed run keeps run 1's code
    resumed = project.data("run", "--resume", "1", "--", "python3", "loop.py", "4", "2")
    assert "resumed from step 2" in resumed.stdout and "step 5" in resumed.stdout
    assert "the new code" not in resumed.stdout
    rec = record(project, 2)
    assert rec["commit"] == commit and rec["resumed_from"] == 1
    checkout = Path(rec["host"]["rundir"]) / "code"
    ckpt = checkout / "outputs" / "last.ckpt"
    assert not ckpt.is_symlink() and ckpt.stat().st_nlink == 1  # a copy of its own
    steps = [json.loads(line)["step"] for line in
             (store(team) / "runs/2/outputs/metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(6))  # run 1's lines, then run 2's appended to them
    assert (store(team) / "runs/1/outputs/last.ckpt").read_text() == "step 2\n"  # untouched
    again = project.data("run", "--resume", "2")  # no command: run 2's own
    assert "resumed from step 5" in again.stdout and record(project, 3)["commit"] == commit
    missing = project.data("run", "--resume", "9", check=False)
    assert missing.returncode != 0 and "no run 9" in missing.stderr


# ----- over SSH --------------------------------------------------------------------------
def test_ssh_host_killed_is_lost_and_its_checkpoint_stays(
        project: Repo, team: tuple[Repo, Path], sshd_host: SshServer, tmp_path: Path) -> None:
    project.data("host", "add", "gpu", sshd_host.url(), "--workdir", str(tmp_path / "hw"),
                 "--personal")
    run_id = int(project.data("run", "-H", "gpu", "-d", "--", "python3", "loop.py").stdout)
    state = host_state(project, run_id)
    log = Path(state["rundir"]) / "logs" / "output.log"
    wait_for(lambda: "checkpoint 2" in log.read_text(), 30, "the last checkpoint")
    time.sleep(1 + 0.5 + 0.2 + 2)
    kill_host_side(state)
    killed = time.monotonic()
    assert (store(team) / f"runs/{run_id}/outputs/last.ckpt").read_text() == "step 2\n"
    assert part_files(store(team), run_id, "outputs/metrics.jsonl")
    wait_for(lambda: status_in_list(project, run_id) == "lost", LOST_AFTER + 15, "lost")
    assert time.monotonic() - killed <= LOST_AFTER + 15
    follow = project.data("logs", "-f", str(run_id), check=False)
    assert follow.returncode != 0 and follow.stderr.splitlines()[-1].startswith(
        f"git-data: run {run_id} is lost")


# ----- the parts reader, on hostile store content ------------------------------------------
def test_parts_reader_checks_names_gaps_and_manifests(tmp_path: Path) -> None:
    from git_data.folderstore import FolderStore
    from git_data.runner.host import parts

    root = tmp_path / "store"
    store = FolderStore(str(root), root.as_uri(), "t")
    key = "runs/5/outputs/m.jsonl"
    base = root / "runs/5/parts/outputs/m.jsonl"
    (base / "2").mkdir(parents=True)
    store.write_bytes(key, b"whole\n")
    assert parts.read_from(store, key, 0) is None  # no manifest: the whole file
    for offset, data in ((0, b"ab"), (2, b"cd\n"), (9, b"after a gap")):
        (base / "2" / parts.part_name(offset)).write_bytes(data)
    (base / "2" / "..evil").write_bytes(b"x")
    (base / "2" / "123").write_bytes(b"short name")
    value = parts.manifest_value("outputs/m.jsonl", "parts", 2, 2, 1, "t")
    store.write_json("runs/5/parts/outputs/m.jsonl/manifest.json", value)
    assert parts.read_from(store, key, 0) == b"abcd\n"  # read on past size, stop at the gap
    assert parts.read_from(store, key, 3) == b"d\n"  # inside a part: found by the listing
    assert parts.open_file(store, key).read() == b"abcd\n"
    assert parts.listing(store, "runs/5/outputs") == [key]
    assert parts.files_under(store, "runs/5/outputs") == [key]
    for bad in ({**value, "generation": "../../x"}, {**value, "generation": 0},
                {**value, "format": "other"}, {**value, "size": -1}, [1, 2]):
        store.write_json("runs/5/parts/outputs/m.jsonl/manifest.json", bad)
        assert parts.read_from(store, key, 0) is None, bad
    assert parts.base("runs/5/parts/x") is None and parts.base("links/x") is None
