"""The supervisor: one per run, on the host, detached from the client (standard library only).

It prepares the checkout (GPUs, data, mounts, environment), runs the command in its own
process group with its output in ``logs/output.log``, and keeps the store up to date: logs and
the stop request every ``log`` seconds, GPU samples every ``sample`` seconds, outputs as they
settle or grow (uploader.py) and at the end, then the final record; a heartbeat beside it all
(heartbeat.py, wired in by liveness.py). ``state.json`` in the run folder is
the host-local view that `agent tail` follows; it says ``done`` only after the last upload.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ... import safeio
from ...errors import FatalError
from . import envs, gpus, liveness, parts
from .hostfs import HostCache, open_store
from .paths import below, inside_checkout, run_key, split_run_path

SECRETS = ".secrets.json"  # 0600, written by the agent, removed by the supervisor on start
MAX_SAMPLES = 2000


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_state(rundir: Path, state: dict[str, Any]) -> None:
    safeio.write_text(rundir / "state.json", json.dumps(state))


def read_private(rundir: Path) -> dict[str, Any]:
    """The run's private values (store credentials, ``--env`` values): read once and removed,
    so they live on in this process's memory only."""
    path = rundir / SECRETS
    try:
        with safeio.open_nofollow(None, path) as source:
            value = json.loads(source.read())
    except FileNotFoundError:
        return {}
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return dict(value) if isinstance(value, dict) else {}


class Supervisor:
    def __init__(self, rundir: Path) -> None:
        self.rundir = rundir
        self.spec: dict[str, Any] = json.loads((rundir / "spec.json").read_text())
        private = read_private(rundir)
        self.env: dict[str, str] = dict(private.get("env") or {})
        self.store = open_store(self.spec["store"]["url"], self.spec["store"]["name"],
                                private.get("store"))
        self.key = run_key(self.spec["id"])
        self.checkout = rundir / "code"
        self.logs = rundir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.workdir = Path(self.spec["workdir"])
        self.record: dict[str, Any] = dict(self.spec["record"])
        self.setup = open(self.logs / "setup.log", "ab")  # open as long as the supervisor lives
        self.intervals: dict[str, float] = self.spec["intervals"]
        self.gpus: list[int] = []
        self.samples: list[dict[str, Any]] = []
        self.sync, self.beat = liveness.attach(self)
        self.stopping: float | None = None  # when the stop began (monotonic)
        self.pgid: int | None = None
        self.start = time.monotonic()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self.sigterm = False

    # ----- bookkeeping -------------------------------------------------------------------
    def note(self, message: str) -> None:
        self.setup.write(f"git-data: {message}\n".encode())
        self.setup.flush()

    def save_record(self, **fields: Any) -> None:
        self.record.update(fields, heartbeat=now_iso())
        self.beat.status = str(self.record.get("status"))
        self.store.write_json(f"{self.key}/run.json", self.record)

    def _on_sigterm(self, *_: Any) -> None:
        self.sigterm = True

    # ----- the run -----------------------------------------------------------------------
    def main(self) -> int:
        self.beat.start()
        write_state(self.rundir, {"status": "preparing", "pid": os.getpid()})
        if os.environ.get("SLURM_JOB_ID"):  # started by sbatch (see slurm.py)
            array = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
            self.record["slurm"] = {**self.record.get("slurm", {}), "job": "_".join(array)
                                    if all(array) else os.environ["SLURM_JOB_ID"]}
        self.save_record(status="preparing", host={
            **self.record.get("host", {}), "rundir": str(self.rundir),
            "hostname": socket.gethostname(), "python": platform.python_version()})
        try:
            proc = self.spawn(self.prepare())
        except Exception as exc:  # reported in the record and the set-up log
            error = str(exc) if isinstance(exc, FatalError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, FatalError):
                traceback.print_exc()
            return self.finish(None, "failed", error)
        code = self.watch(proc)
        if self.stopping is not None:
            return self.finish(code, "stopped")
        return self.finish(code, "succeeded" if code == 0 else "failed")

    def prepare(self) -> dict[str, str]:
        spec = self.spec
        if spec.get("gpus"):
            self.gpus = gpus.claim(int(spec["gpus"]), self.workdir, f"{self.rundir}")
            self.note(f"GPUs {','.join(map(str, self.gpus))}")
        cache = HostCache(spec["cache_dir"])
        downloaded, cached = cache.fetch(self.store, spec["data"], self.note)
        cache.place(self.checkout, spec["data"])
        self.record["data"] = {**self.record.get("data", {}), "downloaded": downloaded,
                               "cached": cached}
        self.mount()
        output = self.checkout / inside_checkout(spec["output"], "--output")
        os.close(safeio.open_dir(self.checkout, inside_checkout(spec["output"], "--output"),
                                 create=True))  # refused if the commit made it a link
        wanted = spec.get("environment", {})
        plan = envs.plan(self.checkout, wanted.get("pip"), wanted.get("conda"),
                         list(wanted.get("apt") or []), self.note)
        plan.system_site_packages = wanted.get("system_site_packages") is True
        info = envs.ensure(plan, self.workdir / "envs", self.checkout, self.setup, self.note)
        self.record["environment"] = {k: v for k, v in info.items() if k != "path"}
        environ = dict(os.environ)
        envs.activate(info, environ)
        environ.update(self.env)
        environ.setdefault("PYTHONUNBUFFERED", "1")
        environ.update(GIT_DATA_RUN_ID=str(spec["id"]), GIT_DATA_RUN_OUTPUT=str(output),
                       GIT_DATA_RUN_COMMIT=str(self.record.get("commit", "")))
        if "MLFLOW_TRACKING_URI" not in self.env:  # MLflow's runs land in the outputs
            environ.update(MLFLOW_TRACKING_URI=(output / "mlruns").as_uri(),
                           MLFLOW_ALLOW_FILE_STORE="true")  # MLflow 3 asks for this opt-in
        if self.gpus:
            environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, self.gpus))
        return environ

    def mount(self) -> None:
        for mount in self.spec.get("mounts") or []:
            rel_dest = inside_checkout(mount["dest"], "--mount destination")
            parent = rel_dest.rpartition("/")[0]
            os.close(safeio.open_dir(self.checkout, parent, create=True))  # no link on the way
            dest = self.checkout / rel_dest
            if dest.is_symlink() or dest.is_file():
                dest.unlink()
            elif dest.is_dir():
                shutil.rmtree(dest)
            if mount["kind"] == "host":
                if not os.path.exists(mount["src"]):
                    raise FatalError(f"--mount {mount['src']}: no such path on this host")
                os.symlink(mount["src"], dest)
                continue
            src = mount["src"].rstrip("/")
            if split_run_path(src) is None:
                raise FatalError(f"--mount {src!r}: not a path inside a run (runs/ID/...)")
            keys = parts.listing(self.store, src)  # with files the host sent only in parts
            if not keys and mount.get("optional"):
                self.note(f"nothing to mount from {src}")
                continue
            if not keys:
                raise FatalError(f"--mount {src}: nothing there in {self.store.describe()}")
            rels = [below(src, key, self.store.describe()) for key in keys]
            self.note(f"mounting {src} at {mount['dest']} ({len(keys)} file(s))")
            for key, rel in zip(keys, rels):
                with parts.open_file(self.store, key) as source, safeio.atomic_path(
                        dest / rel if rel else dest, root=self.checkout) as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)

    def spawn(self, environ: dict[str, str]) -> subprocess.Popen[bytes]:
        argv = list(self.spec["argv"])
        cwd = self.checkout
        try:  # the folder it was typed in, unless the commit made it (or one above) a link
            os.close(safeio.open_dir(self.checkout, self.spec.get("cwd") or ""))
            cwd = self.checkout / (self.spec.get("cwd") or "")
        except (OSError, FatalError):
            pass
        with open(self.logs / "output.log", "ab") as out:
            try:
                proc = subprocess.Popen(argv, cwd=cwd, env=environ, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            except FileNotFoundError as exc:
                raise FatalError(f"command not found on this host: {argv[0]}") from exc
            except PermissionError as exc:
                raise FatalError(f"{argv[0]}: permission denied on this host") from exc
        self.pgid = proc.pid
        write_state(self.rundir, {"status": "running", "pid": os.getpid(), "pgid": proc.pid})
        self.save_record(status="running", started=now_iso(), gpus=self.gpus)
        return proc

    # ----- while it runs -----------------------------------------------------------------
    def watch(self, proc: subprocess.Popen[bytes]) -> int:
        """Wait for the command, doing each periodic job when it is due. A failing job (the
        store unreachable for a while) is noted and retried next time: the run goes on."""
        now = time.monotonic()
        jobs = {"sample": (self.add_sample, now), "log": (self.check_in, now),
                "record": (lambda: self.save_record(gpu_samples=self.samples),
                           now + self.intervals["record"]),
                "scan": (lambda: self.upload_outputs(final=False),
                         now + self.intervals["scan"])}
        if not self.gpus:
            del jobs["sample"]
        while True:
            try:
                return self._exit_code(proc.wait(timeout=0.1))
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if self.sigterm and self.stopping is None:
                self.stop("the supervisor was asked to end (SIGTERM)")
            if self.stopping is not None and now - self.stopping > self.intervals["grace"]:
                _signal_group(proc.pid, signal.SIGKILL)
            for name, (job, due) in list(jobs.items()):
                if now >= due:
                    try:
                        job()
                    except Exception as exc:
                        self.note(f"{name} failed, trying again later: {exc}")
                    jobs[name] = (job, now + self.intervals[name])

    def check_in(self) -> None:
        self.upload_logs()
        if self.stopping is None and self.store.exists(f"{self.key}/stop"):
            self.stop("stop requested (git data stop)")

    @staticmethod
    def _exit_code(code: int) -> int:
        return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells do

    def stop(self, why: str) -> None:
        self.note(f"{why}; ending the command's process group")
        self.stopping = time.monotonic()
        if self.pgid:
            _signal_group(self.pgid, signal.SIGTERM)

    def add_sample(self) -> None:
        self.samples.append({"t": round(time.monotonic() - self.start, 1),
                             "gpus": gpus.sample(self.gpus)})
        if len(self.samples) > MAX_SAMPLES:
            self.samples = self.samples[::2]

    def upload_logs(self, final: bool = False) -> None:
        self.sync.logs(final)

    def upload_outputs(self, final: bool) -> None:
        self.sync.outputs(final)  # continuous checkpoints: see uploader.py

    # ----- the end -----------------------------------------------------------------------
    def finish(self, code: int | None, status: str, error: str | None = None) -> int:
        if self.pgid and self.stopping is not None:
            _end_group(self.pgid, self.intervals["grace"])
        try:
            self.upload_outputs(final=True)
        except OSError as exc:
            self.note(f"could not upload the outputs: {exc}")
        if self.gpus:
            gpus.release(self.workdir, self.gpus)
        if self.gpus and not self.samples:
            self.add_sample()
        self.upload_logs(final=True)
        self.save_record(status=status, exit_code=code, error=error, ended=now_iso(),
                         duration_s=round(time.monotonic() - self.start, 3),
                         gpu_samples=self.samples, gpu_summary=summary(self.samples),
                         outputs={"files": self.sync.output_files()})
        write_state(self.rundir, {"status": "done", "run_status": status, "exit_code": code,
                                  "error": error, "pid": os.getpid()})
        self.beat.stop()
        return 0


def read_state(rundir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((rundir / "state.json").read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _end_group(pgid: int, grace: float) -> None:
    """What is left of the command's process group after its leader ended: TERM, then KILL."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies, which a container's init may
    never reap, do not count); without /proc, whether the group can be signalled."""
    if not os.path.isdir("/proc/self"):
        return _signal_group(pgid, 0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        for gpu in sample["gpus"]:
            per.setdefault(str(gpu["index"]), []).append(gpu)
    return {index: {"util_avg": round(sum(g["util"] for g in got) / len(got), 1),
                    "util_max": max(g["util"] for g in got),
                    "memory_max": max(g["memory_used"] for g in got)}
            for index, got in per.items()}


def supervise(rundir: Path) -> int:
    try:
        return Supervisor(rundir).main()
    except Exception as exc:
        traceback.print_exc()
        with contextlib.suppress(FileNotFoundError):
            (rundir / SECRETS).unlink()  # never left behind, even by a supervisor that failed
        # the reason itself travels to the client and the record: the log is on the host
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        write_state(rundir, {"status": "done", "run_status": "failed", "exit_code": None,
                             "error": f"the supervisor failed ({reason}); the traceback is "
                                      f"in {rundir}/supervisor.log on the host"})
        sys.stderr.flush()
        return 1
