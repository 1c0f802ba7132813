"""`git data run` on the built-in `local` host, end to end: real git, the real `git-data`
executable, a local-directory store (the team repository's embedded `data/`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo

TRAIN = """\
import os, sys, pathlib
print("data:", open("data/a.txt").read().strip())
print("args:", sys.argv[1:])
out = pathlib.Path(os.environ["GIT_DATA_RUN_OUTPUT"])
(out / "model.txt").write_text("weights v1\\n")
(out / "sub").mkdir(exist_ok=True)
(out / "sub" / "metrics.json").write_text('{"acc": 0.9}\\n')
print("to stderr", file=sys.stderr)
sys.exit(int(os.environ.get("CODE", "0")))
"""

FAST = {"data.run.logInterval": "0.2", "data.run.uploadInterval": "0.5",
        "data.run.sampleInterval": "0.2", "data.run.stopGrace": "2",
        "data.run.recordInterval": "0.5"}


def make_project(team: tuple[Repo, Path]) -> Repo:
    """A repository with code, two data files and a team store; committed, not pushed."""
    repo, _ = team
    with open(repo.path / ".git" / "config", "a") as config:  # short intervals for tests
        config.write('[data "run"]\n' + "".join(f"\t{k.split('.')[-1]} = {v}\n"
                                               for k, v in FAST.items()))
    repo.write("train.py", TRAIN.encode())
    repo.write("data/a.txt", b"hello data\n")
    repo.write("data/b.txt", b"other data\n")
    repo.write(".gitignore", b"outputs/\n")
    repo.commit_all("project")
    return repo


@pytest.fixture
def project(team: tuple[Repo, Path]) -> Repo:
    return make_project(team)


def store_dir(team: tuple[Repo, Path]) -> Path:
    return team[1] / "data"


def record(repo: Repo, run_id: int) -> dict[str, Any]:
    return dict(json.loads(repo.data("show-run", str(run_id), "--json").stdout))


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_final(repo: Repo, run_id: int, timeout: float = 60.0) -> dict[str, Any]:
    return dict(wait_for(lambda: (r := record(repo, run_id))["status"] in
                         ("succeeded", "failed", "stopped") and r, timeout, f"run {run_id}"))


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("git-data: ")
    return lines[0]


# ----- running, exit codes, logs and outputs in the store --------------------------------
def test_run_streams_output_records_and_propagates_exit_code(project: Repo,
                                                             team: tuple[Repo, Path]) -> None:
    head = project.git("rev-parse", "HEAD").stdout.strip()
    proc = project.data("run", "--env", "CODE=3", "--env", "API_TOKEN=hunter2", "--",
                        "python3", "train.py", "--lr", "0.1", check=False)
    assert proc.returncode == 3
    assert "data: hello data" in proc.stdout
    assert "args: ['--lr', '0.1']" in proc.stdout
    assert "to stderr" in proc.stdout  # the command's stderr is part of its log
    rec = record(project, 1)
    assert rec["status"] == "failed" and rec["exit_code"] == 3
    assert rec["commit"] == head and rec["command"] == ["python3", "train.py", "--lr", "0.1"]
    assert rec["host"]["name"] == "local"
    assert rec["env"] == {"CODE": None, "API_TOKEN": None}  # names only (no --env-public)
    assert "hunter2" not in json.dumps(rec) + (store_dir(team) / "runs/1/logs/setup.log"
                                              ).read_text()
    assert rec["started"] and rec["ended"] and rec["duration_s"] >= 0
    run1 = store_dir(team) / "runs" / "1"
    assert "data: hello data" in (run1 / "logs" / "output.log").read_text()
    assert (run1 / "outputs" / "model.txt").read_text() == "weights v1\n"
    assert (run1 / "outputs" / "sub" / "metrics.json").exists()
    ok = project.data("run", "--", "python3", "train.py")
    assert ok.returncode == 0 and record(project, 2)["status"] == "succeeded"
    listing = project.data("runs").stdout
    assert "failed" in listing and "succeeded" in listing and "train.py --lr 0.1" in listing
    missing = project.data("run", "--", "no-such-program-xyz", check=False)
    assert missing.returncode == 1
    assert "command not found on this host: no-such-program-xyz" in missing.stderr
    assert record(project, 3)["status"] == "failed"


# ----- the code is exactly the commit ----------------------------------------------------
def test_code_is_the_commit_while_the_tree_changes(project: Repo) -> None:
    project.write("show.py", b"import time\ntime.sleep(1.5)\nprint(open('show.py').read())\n"
                  b"# version one\n")
    project.commit_all("show")
    run = subprocess.Popen(["git-data", "run", "--", "python3", "show.py"], cwd=project.path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: _status(project, 1) in ("preparing", "running"), what="run 1 to start")
    project.write("show.py", b"print('the working tree changed')\n# version two\n")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "# version one" in out and "version two" not in out


def _status(repo: Repo, run_id: int) -> str | None:
    proc = repo.data("show-run", str(run_id), "--json", check=False)
    return json.loads(proc.stdout)["status"] if proc.returncode == 0 else None


def test_dirty_tree_refused_and_allow_dirty_runs_a_snapshot(project: Repo) -> None:
    head = project.git("rev-parse", "HEAD").stdout.strip()
    project.write("train.py", TRAIN.replace("data:", "dirty data:").encode())
    project.write("data/a.txt", b"edited data\n")
    refused = project.data("run", "--", "python3", "train.py", check=False)
    line = one_error_line(refused)
    assert "uncommitted changes" in line and "--allow-dirty" in line and "train.py" in line
    assert project.data("runs", "--json").stdout.strip() == "[]"
    proc = project.data("run", "--allow-dirty", "--", "python3", "train.py")
    assert "dirty data: edited data" in proc.stdout
    rec = record(project, 1)
    assert rec["snapshot_of"] == head and rec["commit"] != head
    assert rec["ref"] == "refs/data/runs/1"
    assert project.git("rev-parse", "refs/data/runs/1").stdout.strip() == rec["commit"]
    assert project.git("rev-parse", "refs/data/runs/1^").stdout.strip() == head
    assert project.git("rev-parse", "HEAD").stdout.strip() == head  # HEAD and index untouched
    assert "train.py" in project.git("status", "--porcelain").stdout
    assert project.git("diff", "--cached", "--name-only").stdout == ""


# ----- data ------------------------------------------------------------------------------
def test_data_files_at_their_paths_and_selected_by_glob(project: Repo) -> None:
    script = ("import os; print(open('data/a.txt').read().strip()); "
              "print(open('data/b.txt').read().splitlines()[0])")
    everything = project.data("run", "--", "python3", "-c", script)
    assert "hello data" in everything.stdout and "other data" in everything.stdout
    only_a = project.data("run", "--data", "data/a.txt", "--apt", "coreutils", "--",
                          "python3", "-c", script)
    assert "hello data" in only_a.stdout
    assert "version git-data/1" in only_a.stdout  # b.txt stays a pointer
    assert record(project, 2)["data"]["files"] == 1
    assert record(project, 2)["environment"]["apt"] == ["coreutils"]  # installed: nothing to do
    nothing = project.data("run", "--data", "nomatch/*", "--", "true", check=False)
    assert "matches no data file" in one_error_line(nothing)


# ----- environments ----------------------------------------------------------------------
def test_environment_built_once_and_reused(project: Repo, isolated_env: Path) -> None:
    project.write("requirements.txt", b"--no-index\npip\n")
    project.commit_all("requirements")
    show = ["python3", "-c", "import sys; print('prefix', sys.prefix)"]
    first = project.data("run", *show)
    env1 = record(project, 1)["environment"]
    assert env1["kind"] == "venv" and env1["reused"] is False and env1["source"] == \
        "requirements.txt"
    env_dir = isolated_env / ".git-data" / "envs" / env1["hash"]
    assert f"prefix {env_dir}" in first.stdout
    ready = (env_dir / ".ready").stat().st_mtime_ns
    second = project.data("run", *show)
    env2 = record(project, 2)["environment"]
    assert env2["hash"] == env1["hash"] and env2["reused"] is True
    assert "building" not in second.stderr and "building" in first.stderr
    assert (env_dir / ".ready").stat().st_mtime_ns == ready


def test_environment_isolated_unless_system_site_packages(project: Repo) -> None:
    """The run's venv does not see the host python's packages (pytest is one of them here)
    unless --system-site-packages asks, and the two are separate cached environments."""
    project.write("requirements.txt", b"# only the interpreter\n")
    project.commit_all("requirements")
    probe = ["python3", "-c", "import importlib.util as u; print('pytest', bool(u.find_spec("
             "'pytest')))"]
    isolated = project.data("run", *probe)
    shared = project.data("run", "--system-site-packages", *probe)
    assert "pytest False" in isolated.stdout and "pytest True" in shared.stdout
    assert record(project, 1)["environment"]["hash"] != record(project, 2)["environment"]["hash"]



def test_failed_environment_is_one_line_with_the_reason(project: Repo) -> None:
    """A requirement that cannot be installed: one `git-data:` line naming the host and the
    installer's reason, a non-zero exit, and the reason in the run record."""
    project.write("requirements.txt", b"--no-index\nnonexistent-package-xyz\n")
    project.commit_all("requirements")
    proc = project.data("run", "--", "python3", "-c", "print('never')", check=False)
    assert proc.returncode != 0 and "never" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if "run 1 failed" in line]
    assert "failed before its command started" not in proc.stderr
    assert len(lines) == 1, proc.stderr + proc.stdout
    assert "run 1 failed on host local: environment: " in lines[0]
    assert "nonexistent-package-xyz" in lines[0]
    rec = record(project, 1)
    assert rec["status"] == "failed" and "nonexistent-package-xyz" in rec["error"]

# ----- grids and literal arguments -------------------------------------------------------
def test_grid_runs_every_combination_with_literal_values(project: Repo) -> None:
    nasty = "$(touch pwned); `touch pwned2` | * ; 'q' \"dq\""
    proc = project.data("run", "--grid", "lr=0.1,0.01", "--grid", "bs=32,64", "--",
                        "python3", "-c", "import sys; print(sys.argv[1:])", "--lr={lr}",
                        "{bs}", nasty)
    runs = json.loads(project.data("runs", "--json").stdout)
    assert len(runs) == 4
    combos = {(r["params"]["lr"], r["params"]["bs"]) for r in runs}
    assert combos == {("0.1", "32"), ("0.1", "64"), ("0.01", "32"), ("0.01", "64")}
    for r in runs:
        assert r["status"] == "succeeded"
        expected = repr(["--lr=" + r["params"]["lr"], r["params"]["bs"], nasty])
        assert f"[run {r['id']}] {expected}" in proc.stdout
    assert not list(project.path.rglob("pwned*"))
    unused = project.data("run", "--grid", "x=1,2", "--", "true", check=False)
    assert "has no {x}" in one_error_line(unused)


# ----- paths that would leave the checkout -----------------------------------------------
def test_paths_outside_the_checkout_are_refused(project: Repo) -> None:
    for args in (["--output", "../outside"], ["--output", "/tmp/abs"], ["--output", "a/../../b"],
                 ["--mount", "/etc:../x"], ["--mount", "/etc:/abs/dest"], ["--mount", "/etc:."],
                 ["--mount", "/etc:~/x"]):
        line = one_error_line(project.data("run", *args, "--", "true", check=False))
        assert "relative path inside" in line or "must not contain '..'" in line \
            or "names the checkout itself" in line, args
    assert project.data("runs", "--json").stdout.strip() == "[]"


# ----- outputs as inputs, cp, link, share ------------------------------------------------
def test_mount_cp_link_and_share(project: Repo, tmp_path: Path) -> None:
    project.data("run", "--", "python3", "train.py")
    show = ["python3", "-c", "print(open('prev/model.txt').read())"]
    mounted = project.data("run", "--mount", "runs/1/outputs:prev", "--", *show)
    assert "weights v1" in mounted.stdout
    project.data("link", "best", "runs/1/outputs")
    assert json.loads((project.path.parent / "team.git" / "data" / "links" / "best.json")
                      .read_text())["target"] == "runs/1/outputs"
    by_alias = project.data("run", "--mount", "best/model.txt:m.txt", "--", "cat", "m.txt")
    assert "weights v1" in by_alias.stdout
    project.data("cp", "runs/1/outputs/model.txt", str(tmp_path / "got.txt"))
    assert (tmp_path / "got.txt").read_text() == "weights v1\n"
    project.data("cp", "best", str(tmp_path / "all"))
    assert (tmp_path / "all" / "sub" / "metrics.json").read_text() == '{"acc": 0.9}\n'
    assert "nothing there" in one_error_line(project.data("cp", "runs/1/outputs/nope", "x",
                                                          check=False))
    assert "nor a known alias" in one_error_line(project.data("cp", "nosuch/x", "x",
                                                              check=False))
    shared = project.data("share", "best/model.txt", "--expires", "1d", check=False)
    assert "cannot make links" in one_error_line(shared)
    assert "nothing there" in one_error_line(project.data("run", "--mount", "runs/9:x", "--",
                                                          "true", check=False))



def test_cp_to_stdout_with_the_umask_and_a_quoted_runs_list(project: Repo,
                                                            tmp_path: Path) -> None:
    project.data("run", "--", "python3", "train.py", "--name", "a b")
    assert project.data("cp", "runs/1/outputs/model.txt", "-").stdout == "weights v1\n"
    assert "is a folder" in one_error_line(project.data("cp", "runs/1/outputs", "-",
                                                        check=False))
    for umask, mode in (("077", 0o600), ("002", 0o664)):
        got = tmp_path / f"model-{umask}.txt"
        project.run("sh", "-c", f"umask {umask} && git-data cp runs/1/outputs/model.txt {got}")
        assert got.stat().st_mode & 0o777 == mode, umask
    project.run("sh", "-c", f"umask 027 && git-data cp runs/1/outputs {tmp_path / 'all'}")
    assert (tmp_path / "all" / "sub" / "metrics.json").stat().st_mode & 0o777 == 0o640
    assert "train.py --name 'a b'" in project.data("runs").stdout

    assert project.data("run", "--detach", "--", "sleep", "30").stdout.strip() == "2"
    wait_for(lambda: _status(project, 2) == "running", what="run 2 to start")
    running = next(line for line in project.data("runs").stdout.splitlines()
                   if line.split()[0] == "2")
    assert running.split()[1:3] == ["running", "-"] and "None" not in running
    stopped = project.data("stop", "2")
    assert "None" not in stopped.stderr, stopped.stderr
    assert "(exit " in stopped.stderr or "no exit code" in stopped.stderr, stopped.stderr

# ----- GPUs (fake nvidia-smi) ------------------------------------------------------------
FAKE_NVIDIA_SMI = """#!/bin/sh
# A stand-in for nvidia-smi (this machine has no GPU): three GPUs, the middle one busy.
echo "0, 120, 16000, 0"
echo "1, 15000, 16000, 97"
echo "2, 0, 16000, 3"
"""


def test_gpus_chosen_free_recorded_and_sampled(project: Repo, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The one stand-in of this suite: a fake `nvidia-smi` script, since there is no GPU here.
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bindir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    proc = project.data("run", "--gpus", "2", "--", "sh", "-c",
                        "echo visible=$CUDA_VISIBLE_DEVICES; sleep 1")
    assert "visible=0,2" in proc.stdout
    rec = record(project, 1)
    assert rec["gpus"] == [0, 2]
    assert len(rec["gpu_samples"]) >= 2
    assert {g["index"] for s in rec["gpu_samples"] for g in s["gpus"]} == {0, 2}
    assert rec["gpu_summary"]["2"]["util_max"] == 3.0
    too_many = project.data("run", "--gpus", "4", "--", "true", check=False)
    assert "has 3 GPU(s)" in one_error_line(too_many)
    busy = project.data("run", "--gpus", "3", "--", "true", check=False)
    assert "only 2 of the host's 3 GPUs are free" in one_error_line(busy)
    assert len(json.loads(project.data("runs", "--json").stdout)) == 1  # nothing else started


# ----- numbering under concurrency -------------------------------------------------------
def test_eight_clients_at_once_get_distinct_numbers(project: Repo) -> None:
    procs = [subprocess.Popen(["git-data", "run", "--detach", "--", "true"], cwd=project.path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.append(int(out.strip()))
    assert sorted(ids) == list(range(1, 9))
    for run_id in ids:
        assert wait_final(project, run_id)["status"] == "succeeded"


# ----- stop ------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def stop_and_check(repo: Repo, host_args: list[str], tmp_path: Path) -> None:
    """A run that writes a checkpoint and waits on a background child: the checkpoint reaches
    the store while it runs (periodic upload); `stop` ends the child too."""
    out = repo.data("run", *host_args, "--detach", "--", "sh", "-c",
                    "echo ckpt > outputs/ckpt.txt; sleep 300 & echo child $!; wait").stdout
    run_id = int(out.strip())
    log = wait_for(lambda: "child" in (text := repo.data("logs", str(run_id)).stdout) and text,
                   what="the child's pid in the log")
    child = int(log.split("child", 1)[1].split()[0])
    assert _alive(child)
    got = tmp_path / "ckpt.txt"
    wait_for(lambda: repo.data("cp", f"runs/{run_id}/outputs/ckpt.txt", str(got),
                               check=False).returncode == 0, what="the periodic upload")
    assert got.read_text() == "ckpt\n" and record(repo, run_id)["status"] == "running"
    assert repo.data("stop", str(run_id)).returncode == 0
    rec = record(repo, run_id)
    assert rec["status"] == "stopped" and rec["exit_code"] == 128 + signal.SIGTERM
    wait_for(lambda: not _alive(child), 10, "the background child to end")


def test_outputs_upload_while_running_and_stop_ends_the_group(project: Repo,
                                                              tmp_path: Path) -> None:
    stop_and_check(project, [], tmp_path)


# ----- hosts -----------------------------------------------------------------------------
def test_hosts_shared_personal_and_unknown(project: Repo) -> None:
    project.data("host", "add", "gpu1", "ssh://me@gpu1.example:2222", "--workdir", "/srv/gd")
    gitdata = (project.path / ".gitdata").read_text()
    assert '[host "gpu1"]' in gitdata and "url = ssh://me@gpu1.example:2222" in gitdata
    assert "workdir = /srv/gd" in gitdata
    project.data("host", "add", "mine", "ssh://box", "--personal", "--python", "/opt/py3")
    assert project.git("config", "data.host.mine.url").stdout.strip() == "ssh://box"
    rows = {r["name"]: r for r in json.loads(project.data("host", "list", "--json").stdout)}
    assert set(rows) == {"local", "gpu1", "mine"} and rows["local"]["default"]
    assert rows["mine"]["python"] == "/opt/py3" and rows["gpu1"]["where"] == ".gitdata"
    project.data("host", "remove", "gpu1")
    assert "gpu1" not in project.data("host", "list").stdout
    bad = project.data("host", "add", "x", "http://nope", check=False)
    assert "is not ssh://" in one_error_line(bad)
    project.commit_all("hosts")
    unknown = project.data("run", "--host", "nosuch", "--", "true", check=False)
    assert "no host named 'nosuch'" in one_error_line(unknown)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
