"""A real one-node Slurm cluster for the tests: munged, slurmctld and slurmd on this machine.

Everything lives in one temporary folder (slurm.conf, the munge key and socket, state and
spool folders, logs); clients find it through ``SLURM_CONF``. The node has the machine's CPUs
and two GPUs declared as a count-only GRES (no device files), so ``--gres=gpu:N`` is
accounted but nothing is bound. Debian's ``slurm-wlm`` and ``munge`` packages provide it
(Makefile APT_PACKAGES); without them the tests that need it are skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")


@dataclass
class Cluster:
    root: Path
    conf: Path
    node: str
    partition: str
    procs: list[subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def scontrol(self, *args: str) -> str:
        return subprocess.run(["scontrol", *args], env=self.env(), capture_output=True,
                              text=True, check=True).stdout

    def cancel_all(self) -> None:
        subprocess.run(["scancel", "--user", str(os.geteuid())], env=self.env(),
                       capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and subprocess.run(
                ["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING"], env=self.env(),
                capture_output=True, text=True).stdout.strip():
            time.sleep(0.2)

    def stop(self) -> None:
        if len(self.procs) == 3:  # no job (nor its slurmstepd) outlives the cluster
            self.cancel_all()
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def missing() -> str | None:
    absent = [d for d in DAEMONS if not shutil.which(d) and not os.path.exists(f"/usr/sbin/{d}")]
    if absent:
        return (f"Slurm is not installed ({', '.join(absent)} missing; apt-get install "
                "slurm-wlm munge)")
    if os.geteuid() != 0:
        return "the test Slurm cluster runs its daemons as root (SlurmUser=root)"
    return None


def _conf(root: Path, node: str, cpus: int) -> str:
    return f"""ClusterName=gdtest
SlurmctldHost={node}
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={root}/ctld
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=300
KillWait=5
MessageTimeout=10
InactiveLimit=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SlurmdParameters=config_overrides
LaunchParameters=use_interactive_step
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(root: Path, cpus: int = 1) -> Cluster:
    """Start the cluster in ``root`` with ``cpus`` CPUs on its node (1: a second job queues
    behind the first); back once ``sinfo`` shows the node idle."""
    node = socket.gethostname().split(".")[0]
    for sub in ("munge", "ctld", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = root / "slurm.conf"
    conf.write_text(_conf(root, node, cpus))
    # two GPUs for --gres accounting: Slurm wants a device file per GPU; with task/none
    # nothing is bound to them
    (root / "gres.conf").write_text(
        f"AutoDetect=off\nNodeName={node} Name=gpu File=/dev/null,/dev/zero\n")
    cluster = Cluster(root, conf, node, "debug", [])
    env = cluster.env()
    munged = shutil.which("munged") or "/usr/sbin/munged"
    log = open(root / "daemons.log", "ab")
    cluster.procs.append(subprocess.Popen(
        [munged, "-F", "--force", f"--socket={root}/munge/munge.socket", f"--key-file={key}",
         f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/munge/munged.log",
         f"--seed-file={root}/munge/seed"], stdout=log, stderr=log, env=env))
    try:
        _wait(lambda: (root / "munge" / "munge.socket").exists(), "munged", root)
        for daemon in ("slurmctld", "slurmd"):
            path = shutil.which(daemon) or f"/usr/sbin/{daemon}"
            cluster.procs.append(subprocess.Popen([path, "-D", *(["-i"] if daemon ==
                                                                  "slurmctld" else [])],
                                                  stdout=log, stderr=log, env=env))
        _wait(lambda: _idle(env), "the node to be idle (sinfo)", root)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _idle(env: dict[str, str]) -> bool:
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip() == "idle"


def _wait(ready: object, what: str, root: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.1)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in
                     sorted(root.glob("*.log")) + sorted((root / "munge").glob("*.log")))
    raise RuntimeError(f"timed out waiting for {what}:\n{logs}")
