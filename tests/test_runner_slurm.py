"""`git data run` on a Slurm cluster: a real one-node cluster (munged, slurmctld, slurmd from
Debian's slurm-wlm, started by the slurm_cluster fixture) with one CPU, a login node that is
this machine (slurm://localhost), a local-folder store."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from test_runner_local import make_project, record, store_dir, wait_final, wait_for

from git_data.errors import FatalError
from git_data.runner import slurm
from git_data.runner.host import slurm as batch
from git_data.runner.hosts import Host
from git_data.runner.transport import LocalTransport, SshTransport

SLOW = "import time, sys; print('started', flush=True); time.sleep(float(sys.argv[1]))"


@pytest.fixture
def cluster_project(team: tuple[Repo, Path], slurm_env: Any, tmp_path: Path) -> Repo:
    repo = make_project(team)
    repo.write("slow.py", SLOW.encode())
    repo.commit_all("slow")
    repo.data("host", "add", "cluster", "slurm://localhost", "--workdir",
              str(tmp_path / "shared"), "--partition", "debug", "--time", "0:10:00",
              "--default")
    return repo


def job_of(repo: Repo, run_id: int) -> str:
    def job() -> str | None:
        proc = repo.data("show-run", str(run_id), "--json", check=False)
        return (json.loads(proc.stdout).get("slurm") or {}).get("job") \
            if proc.returncode == 0 else None  # not claimed yet
    return str(wait_for(job, what=f"the job id of run {run_id}"))


def scontrol_job(cluster: Any, job: str) -> str:
    return str(cluster.scontrol("-o", "show", "job", job))


# ----- units -----------------------------------------------------------------------------
def test_every_slurm_state_maps_to_a_run_state() -> None:
    expected = {"PENDING": "queued", "RUNNING": "running", "COMPLETED": "succeeded",
                "FAILED": "failed", "TIMEOUT": "failed", "CANCELLED": "stopped",
                "PREEMPTED": "lost", "NODE_FAIL": "lost", "CONFIGURING": "queued",
                "COMPLETING": "running", "OUT_OF_MEMORY": "failed", "BOOT_FAIL": "failed"}
    for state, status in expected.items():
        assert slurm.run_state(state, 7)[0] == status, state
    assert slurm.run_state("CANCELLED by 0")[0] == "stopped"
    assert "time limit" in str(slurm.run_state("TIMEOUT")[1])
    for state in ("PREEMPTED", "NODE_FAIL"):
        assert "git data run --resume 7" in str(slurm.run_state(state, 7)[1])
    assert slurm.run_state("SOMETHING_NEW")[0] == "lost"
    assert set(slurm.STATES) >= set(expected)


def test_sbatch_options_are_checked_and_one_word_each(tmp_path: Path) -> None:
    argv = batch.sbatch_argv({"partition": "gpu", "account": "lab-1", "time": "4:00:00",
                              "gpus": 2}, tmp_path, "git-data-3")
    assert "--gres=gpu:2" in argv and "--partition=gpu" in argv and "--account=lab-1" in argv
    assert "--time=4:00:00" in argv and argv[-1] == str(tmp_path / batch.JOB_FILE)
    for bad in ({"partition": "gpu --wrap=rm"}, {"account": "a;b"}, {"time": "1h; rm"}):
        with pytest.raises(FatalError):
            batch.sbatch_argv(bad, tmp_path, "x")


def test_slurm_host_stays_in_git_config(team: tuple[Repo, Path]) -> None:
    project = make_project(team)
    project.data("host", "add", "cluster", "slurm://me@login1:2222", "--partition", "gpu",
                 "--account", "lab")
    assert project.git("config", "data.host.cluster.partition").stdout.strip() == "gpu"
    assert not (project.path / ".gitdata").exists() or "cluster" not in (
        project.path / ".gitdata").read_text()
    rows = json.loads(project.data("host", "list", "--json").stdout)
    assert any(r["name"] == "cluster" and r["account"] == "lab" for r in rows)
    # a committed file can never name a cluster (nor its partition or account)
    (project.path / ".gitdata").write_text('[host "evil"]\n\turl = slurm://login\n')
    rows = json.loads(project.data("host", "list", "--json").stdout)
    assert not any(r["name"] == "evil" for r in rows)
    refused = project.data("host", "add", "gpu1", "ssh://gpu1", "--partition", "p", check=False)
    assert refused.returncode != 0 and "only for a slurm:// host" in refused.stderr


def test_commands_reach_a_remote_login_node_quoted(tmp_path: Path) -> None:
    host = Host("cluster", "slurm://me@login1:2222")
    assert host.slurm and not host.slurm_local and Host("c", "slurm://localhost").slurm_local
    transport = SshTransport(host, ["ssh"], "v")
    try:
        argv = slurm.host_argv(transport, ["scancel", "12_3", "a b"])
    finally:
        transport.close()
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "me"
    assert argv[-2:] == ["--", "scancel 12_3 'a b'"]
    assert slurm.host_argv(LocalTransport(host), ["squeue"]) == ["squeue"]


# ----- a real cluster --------------------------------------------------------------------
def test_run_on_slurm_completes_with_logs_outputs_and_gres(cluster_project: Repo,
                                                          team: tuple[Repo, Path],
                                                          slurm_env: Any) -> None:
    proc = cluster_project.data("run", "--gpus", "1", "--", "python3", "train.py", "--lr",
                                "0.1")
    assert "data: hello data" in proc.stdout and "args: ['--lr', '0.1']" in proc.stdout
    rec = record(cluster_project, 1)
    assert rec["status"] == "succeeded" and rec["exit_code"] == 0
    job = rec["slurm"]["job"]
    info = scontrol_job(slurm_env, job)
    assert re.search(r"TresPerNode=\S*gpu:1", info), info
    assert "Partition=debug" in info and "TimeLimit=00:10:00" in info
    run1 = store_dir(team) / "runs" / "1"
    assert "data: hello data" in (run1 / "logs" / "output.log").read_text()
    assert (run1 / "outputs" / "model.txt").read_text() == "weights v1\n"


def test_a_second_run_queues_behind_the_first_then_completes(cluster_project: Repo,
                                                             slurm_env: Any) -> None:
    first = cluster_project.data("run", "--detach", "--", "python3", "slow.py", "4")
    second = cluster_project.data("run", "--detach", "--", "python3", "slow.py", "0")
    assert first.stdout.split() == ["1"] and second.stdout.split() == ["2"]
    job = job_of(cluster_project, 2)
    assert "JobState=PENDING" in scontrol_job(slurm_env, job)
    listing = cluster_project.data("runs").stdout
    assert re.search(r"^\s*2\s+queued\b", listing, re.M), listing
    assert wait_final(cluster_project, 1)["status"] == "succeeded"
    assert wait_final(cluster_project, 2)["status"] == "succeeded"


def test_stop_is_scancel_and_a_failure_is_failed(cluster_project: Repo,
                                                 slurm_env: Any) -> None:
    cluster_project.data("run", "--detach", "--", "python3", "slow.py", "60")
    cluster_project.data("run", "--detach", "--", "python3", "slow.py", "60")
    job2 = job_of(cluster_project, 2)
    follower = subprocess.Popen(["git-data", "logs", "2", "--follow"], cwd=cluster_project.path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cluster_project.data("stop", "2")  # pending: cancelled before it started
    assert record(cluster_project, 2)["status"] == "stopped"
    assert "JobState=CANCELLED" in scontrol_job(slurm_env, job2)
    follower.communicate(timeout=60)  # `logs --follow` ends with the record
    attached = subprocess.Popen(["git-data", "run", "--", "python3", "slow.py", "1"],
                                cwd=cluster_project.path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    job_of(cluster_project, 3)
    cluster_project.data("stop", "3")
    _, err = attached.communicate(timeout=60)  # the host side sees the job end unstarted
    assert "run 3 stopped" in err, err
    wait_for(lambda: record(cluster_project, 1)["status"] == "running", what="run 1 running")
    cluster_project.data("stop", "1")  # running: the supervisor gets SIGTERM and ends it
    assert record(cluster_project, 1)["status"] == "stopped"
    failed = cluster_project.data("run", "--env", "CODE=3", "--", "python3", "train.py",
                                  check=False)
    assert failed.returncode == 3
    assert record(cluster_project, 4)["status"] == "failed"
    assert record(cluster_project, 4)["exit_code"] == 3


def test_a_grid_is_one_job_array(cluster_project: Repo, slurm_env: Any,
                                 team: tuple[Repo, Path]) -> None:
    proc = cluster_project.data("run", "--detach", "--grid", "n=0,1,2", "--", "python3",
                                "slow.py", "{n}")
    assert proc.stdout.split() == ["1", "2", "3"]
    jobs = [job_of(cluster_project, i) for i in (1, 2, 3)]
    array = {job.split("_")[0] for job in jobs}
    assert len(array) == 1 and [job.split("_")[1] for job in jobs] == ["0", "1", "2"], jobs
    info = scontrol_job(slurm_env, jobs[0])
    assert f"ArrayJobId={array.pop()}" in info and "ArrayTaskId=0" in info, info
    for i in (1, 2, 3):
        rec = wait_final(cluster_project, i)
        assert rec["status"] == "succeeded" and rec["params"] == {"n": str(i - 1)}
        assert "started" in (store_dir(team) / f"runs/{i}/logs/output.log").read_text()
    assert [record(cluster_project, i)["slurm"]["job"] for i in (1, 2, 3)] == jobs
