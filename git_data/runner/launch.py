"""`git data run`: the client side of starting runs (see the package docstring for the flow)."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__, safeio
from ..cache import Cache
from ..config import Config
from ..errors import FatalError
from ..gitrepo import PointerEntry, Repo, run_git
from ..progress import note
from ..selection import select
from ..store import Store
from ..store.remotes import Remote, resolve, storage_options
from ..transfer import Item, KnownObjects, TransferQueue, dedupe
from . import hosts, records, ship, slurm
from .follow import Printer, exit_status, pump
from .host import agent, frames
from .host.paths import inside_checkout, redact_env, strip_password
from .hosts import Host
from .transport import Transport, open_transport

NO_SMUDGE = ["-c", "filter.data.process=", "-c", "filter.data.smudge=",
             "-c", "filter.data.required=false"]
INTERVALS = {"upload": ("data.run.uploadInterval", 30.0), "log": ("data.run.logInterval", 2.0),
             "sample": ("data.run.sampleInterval", 5.0), "grace": ("data.run.stopGrace", 10.0),
             "record": ("data.run.recordInterval", 30.0),
             # liveness and continuous checkpoints (runner/host/heartbeat.py, uploader.py);
             # heartbeat 0: 15 s, or lostAfter / 6 when that is shorter
             "lost": ("data.run.lostAfter", 90.0), "heartbeat": ("data.run.heartbeatInterval", 0.0),
             "stable": ("data.run.stableFor", 2.0), "scan": ("data.run.scanInterval", 1.0)}


@dataclass
class RunOptions:
    command: list[str]
    host: str | None = None
    remote: str | None = None
    allow_dirty: bool = False
    data: list[str] = field(default_factory=list)
    no_data: bool = False
    mounts: list[str] = field(default_factory=list)
    pip: str | None = None
    conda_file: str | None = None
    apt: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    env_public: bool = False
    gpus: int = 0
    grid: list[str] = field(default_factory=list)
    detach: bool = False
    output: str = "outputs"
    quiet: bool = False
    resume: str | None = None  # a run whose commit and outputs the new run starts from
    system_site_packages: bool = False  # the host's own packages visible in the run's venv


@dataclass
class Started:
    run_id: int
    record: dict[str, Any]
    proc: subprocess.Popen[bytes]
    stream: Any = None  # the frame iterator of a followed start
    rundir: str = ""


# ----- checking what was asked, before anything happens ----------------------------------
def parse_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise FatalError(f"--env '{item}' is not NAME=VALUE")
        env[key] = value
    return env


def parse_grid(items: list[str], command: list[str]) -> list[dict[str, str]]:
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        key, eq, values = item.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key) or not values:
            raise FatalError(f"--grid '{item}' is not NAME=VALUE[,VALUE...]")
        if not any("{" + key + "}" in word for word in command):
            raise FatalError(f"--grid {key}: the command has no {{{key}}} to put its values in")
        axes.append((key, values.split(",")))
    return [dict(zip([k for k, _ in axes], combo))
            for combo in itertools.product(*[v for _, v in axes])]


def substitute(command: list[str], params: dict[str, str]) -> list[str]:
    """``{name}`` in each word replaced by its value: one word stays one argument."""
    out = []
    for word in command:
        for key, value in params.items():
            word = word.replace("{" + key + "}", value)
        out.append(word)
    return out


def parse_mounts(store: Store, items: list[str]) -> list[dict[str, str]]:
    mounts = []
    for item in items:
        src, colon, dest = item.rpartition(":")
        if not colon or not src or not dest:
            raise FatalError(f"--mount '{item}' is not SRC:DEST (e.g. runs/3/outputs:prev)")
        dest = inside_checkout(dest, "--mount destination")
        if src.startswith("/"):
            mounts.append({"src": src, "dest": dest, "kind": "host"})
            continue
        key = records.resolve_path(store, src)
        if records.kind_of(store, key) is None:
            raise FatalError(f"--mount {src}: nothing there in {store.describe()}")
        mounts.append({"src": key, "dest": dest, "kind": "store"})
    return mounts


def intervals(config: Config) -> dict[str, float]:
    values = {}
    for name, (key, default) in INTERVALS.items():
        raw = config.get(key)
        try:
            values[name] = float(raw) if raw is not None else default
        except ValueError as exc:
            raise FatalError(f"config {key} = '{raw}' is not a number of seconds") from exc
    return values


def append_only(config: Config) -> list[str]:
    """Name patterns of outputs sent in parts as they grow (data.run.appendOnly, comma
    separated); the uploader's defaults when unset."""
    from .host.uploader import DEFAULT_APPEND

    raw = config.get("data.run.appendOnly")
    if raw is None:
        return list(DEFAULT_APPEND)
    return [p.strip() for p in raw.split(",") if p.strip()]


# ----- the code and its data -------------------------------------------------------------
def code_commit(repo: Repo, allow_dirty: bool) -> tuple[str, str | None]:
    """(commit to run, snapshot commit or None). A dirty tree is refused unless allowed."""
    head = repo.git("rev-parse", "--verify", "-q", "HEAD", check=False).decode().strip()
    if not head:
        raise FatalError("this repository has no commit yet; commit the code to run first")
    changes = [c for c in repo.git("status", "--porcelain=v1", "-z",
                                   "--untracked-files=normal").decode().split("\0") if c]
    if not changes:
        return head, None
    if not allow_dirty:
        shown = ", ".join(c.strip() for c in changes[:5]) + (" ..." if len(changes) > 5 else "")
        raise FatalError(f"the working tree has uncommitted changes ({shown}); a run uses "
                         "exactly a commit: commit them, or add --allow-dirty to run a "
                         "snapshot of the working tree (kept as refs/data/runs/<id>)")
    return head, snapshot(repo, head)


def snapshot(repo: Repo, head: str) -> str:
    """The working tree as a commit on no branch, through a temporary index (the real index
    and HEAD are untouched; data files go through the clean filter as in `git add`)."""
    with tempfile.TemporaryDirectory(prefix="git-data-run-") as tmp:
        index = Path(tmp) / "index"
        if (repo.git_dir / "index").exists():
            shutil.copyfile(repo.git_dir / "index", index)
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        run_git(["add", "-A"], cwd=repo.root, env=env)
        tree = run_git(["write-tree"], cwd=repo.root, env=env).decode().strip()
    return run_git(["commit-tree", tree, "-p", head, "-m", "git data run: snapshot of the "
                    "working tree"], cwd=repo.root).decode().strip()


def data_entries(repo: Repo, commit: str, opts: RunOptions) -> list[PointerEntry]:
    if opts.no_data:
        return []
    entries = repo.rev_pointers(commit)
    if not opts.data:
        return entries
    chosen = select(entries, opts.data, None)
    if not chosen:
        raise FatalError(f"--data {' '.join(opts.data)} matches no data file in {commit[:12]}; "
                         "`git data ls-files` lists them")
    return chosen


def ensure_in_store(config: Config, store: Store, entries: list[PointerEntry]) -> None:
    """Upload what the store lacks of the run's data (normally nothing: it was pushed)."""
    cache = Cache(config.cache_dir)
    known = KnownObjects(cache, store.url)
    from ..push import bind_record

    bind_record(known, store)  # a record of an emptied or re-created store is not trusted
    unknown = [i for i in dedupe(Item(e.oid, e.size, e.path) for e in entries)
               if not known.contains(i.oid)]
    if not unknown:
        return
    present = store.has_many(i.oid for i in unknown)
    known.add(present)
    missing = [i for i in unknown if i.oid not in present]
    if missing:
        note(f"uploading {len(missing)} data object(s) the run needs to {store.describe()}")
        TransferQueue.for_repo(config, quiet=True).upload(missing, store).raise_for_failures(
            "upload")


# ----- records and specs -----------------------------------------------------------------
def base_record(repo: Repo, remote: Remote, host: Host, commit: str,
                snapshot_commit: str | None, opts: RunOptions, env: dict[str, str],
                entries: list[PointerEntry], mounts: list[dict[str, str]]) -> dict[str, Any]:
    user = repo.git("config", "--get", "user.name", check=False).decode().strip()
    return {
        "id": None, "status": "queued" if host.slurm else "starting",
        "created": records.now_iso(),
        "commit": snapshot_commit or commit, "snapshot_of": commit if snapshot_commit else None,
        "branch": repo.current_branch(), "command": list(opts.command), "params": {},
        "cwd": work_prefix(repo), "output": inside_checkout(opts.output, "--output"),
        "host": {"name": host.name, "url": strip_password(host.url)},
        "data": {"files": len(entries), "bytes": sum(e.size for e in entries),
                 "patterns": opts.data or None},
        "mounts": mounts, "env": recorded_env(env, opts.env_public),
        "gpus_requested": opts.gpus,
        "environment": {"pip": opts.pip, "conda": opts.conda_file, "apt": opts.apt,
                        "system_site_packages": opts.system_site_packages},
        "store": {"name": remote.name, "url": strip_password(remote.url)},
        "user": user or None, "client": socket.gethostname(), "git_data_version": __version__,
    }


def recorded_env(env: dict[str, str], public: bool) -> dict[str, str | None]:
    """What the record keeps of --env: the names only (null values), unless --env-public;
    even then names that look like credentials keep no value."""
    return dict(redact_env(env)) if public else {name: None for name in env}


def work_prefix(repo: Repo) -> str:
    """Where in the checkout the command starts: the folder it was typed in."""
    try:
        rel = Path.cwd().resolve().relative_to(repo.root.resolve())
    except ValueError:
        return ""
    return "" if str(rel) == "." else rel.as_posix()


def build_spec(config: Config, store: Store, host: Host, record: dict[str, Any],
               opts: RunOptions, env: dict[str, str], entries: list[PointerEntry]
               ) -> dict[str, Any]:
    import hashlib

    return {
        "id": record["id"], "record": record, "argv": record["command"], "cwd": record["cwd"],
        "repo_key": hashlib.sha256(store.url.encode()).hexdigest()[:12],
        "workdir": host.workdir, "cache_dir": str(config.cache_dir) if host.local else None,
        # on Slurm the GPUs are sbatch's --gres (slurm.start_args), not claimed by the host
        "store": {"url": store.url, "name": store.name},
        "output": record["output"], "data": [[e.path, e.oid, e.size] for e in entries],
        "mounts": record["mounts"], "environment": record["environment"],
        "gpus": 0 if host.slurm else opts.gpus, "intervals": intervals(config),
        "append_only": append_only(config),
    }


def secrets_for(remote: Remote) -> dict[str, Any] | None:
    """Store options for the host, credentials included: they travel on the connection's
    stdin, never in a command line, the spec file, the record or a log."""
    options = storage_options(remote)
    if remote.url.startswith(("s3://", "s3a://")) and "key" not in options \
            and os.environ.get("AWS_ACCESS_KEY_ID"):
        options.update(key=os.environ["AWS_ACCESS_KEY_ID"],
                       secret=os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        if os.environ.get("AWS_SESSION_TOKEN"):
            options["token"] = os.environ["AWS_SESSION_TOKEN"]
    return options or None


# ----- starting on the host --------------------------------------------------------------
class AgentMissing(Exception):
    """The host lacks this agent (``missing`` empty) or modules it needs: nothing started."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(", ".join(missing) or "agent")
        self.missing = missing


@dataclass
class Launcher:
    """Starts the runs of one `git data run` on one host, over one connection."""

    transport: Transport
    repo: Repo
    store: Store
    secrets: dict[str, Any] | None
    env: dict[str, str]
    need: list[str]
    follow: bool
    snapshot_commit: str | None = None
    start_args: list[str] = field(default_factory=list)  # e.g. slurm.start_args
    array_specs: list[dict[str, Any]] = field(default_factory=list)  # a Slurm array's members

    def start_all(self, specs: list[dict[str, Any]]) -> list[Started]:
        started: list[Started] = []
        base_args = self.start_args
        for index, spec in enumerate(specs):
            if base_args and len(specs) > 1:  # a grid on Slurm: one job array (slurm.py)
                self.start_args = slurm.grid_args(base_args, index, len(specs),
                                                  [run.rundir for run in started])
            run_id = records.claim(self.store, spec["record"])
            spec["id"] = run_id
            self.array_specs.append(spec)
            if self.snapshot_commit:
                spec["record"]["ref"] = f"refs/data/runs/{run_id}"
                self.repo.git("update-ref", spec["record"]["ref"], self.snapshot_commit)
            try:
                started.append(self.start_one(spec))
            except FatalError as exc:
                records.save(self.store, {**spec["record"], "status": "failed",
                                          "error": str(exc), "ended": records.now_iso()})
                raise
            if not self.follow:
                started[-1].proc.wait()
        self.start_args = base_args
        return started

    def start_one(self, spec: dict[str, Any]) -> Started:
        """Start optimistically; a host without this agent (or a module it needs) gets them
        shipped (see ship.py), then the start is tried once more."""
        try:
            return self.start(spec)
        except AgentMissing:
            ship.prepare(self.transport, self.need, 0)
        try:
            return self.start(spec)
        except AgentMissing as exc:
            raise FatalError(f"host {self.transport.host.name}: the agent still lacks {exc} "
                             "after installing it") from None

    def start(self, spec: dict[str, Any]) -> Started:
        """Stream the spec and `git archive <commit>` into `agent start`; its first answer."""
        commit = spec["record"]["commit"]
        archive = subprocess.Popen(["git", *NO_SMUDGE, "archive", "--format=tar", commit],
                                   cwd=self.repo.root, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        args = ["start", *(["--follow"] if self.follow else []), *self.start_args,
                *(["--need", ",".join(self.need)] if self.need else [])]
        proc = self.transport.popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin and proc.stderr and archive.stdout and archive.stderr
        stderr = proc.stderr
        errors: list[bytes] = []
        drain = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
        drain.start()
        try:
            header = {"spec": spec, "secrets": self.secrets, "env": self.env}
            proc.stdin.write(json.dumps(header).encode() + b"\n")
            shutil.copyfileobj(archive.stdout, proc.stdin, 1 << 20)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the agent answered without reading it all: see below
        archive.stdout.close()
        if archive.wait() != 0 and archive.returncode != -13:  # -13: SIGPIPE, see above
            proc.kill()
            raise FatalError(f"git archive {commit[:12]} failed: "
                             f"{archive.stderr.read().decode(errors='replace').strip()}")
        archive.stderr.close()
        return self._answer(spec, proc, drain, errors)

    def _answer(self, spec: dict[str, Any], proc: subprocess.Popen[bytes],
                drain: threading.Thread, errors: list[bytes]) -> Started:
        assert proc.stdout is not None
        stream = frames.read(proc.stdout)
        for kind, payload in stream:
            if kind == frames.INFO:
                info = json.loads(payload)
                for member, job in enumerate(info.get("slurm_array") or []):
                    self._slurm_job(self.array_specs[member], str(job))
                if info.get("slurm_job") and "slurm_array" not in info:
                    self._slurm_job(spec, str(info["slurm_job"]))
                return Started(spec["id"], spec["record"], proc, stream, info["rundir"])
            if kind == frames.MISSING:
                proc.wait()
                raise AgentMissing(list(json.loads(payload)))
            if kind == frames.ERROR:
                raise FatalError(f"host {self.transport.host.name}: "
                                 f"{payload.decode(errors='replace')}")
        code = proc.wait()
        drain.join(5)
        if code == agent.EXIT_NOT_INSTALLED and not self.transport.host.local:
            raise AgentMissing([])
        self.transport.raise_for(code, b"".join(errors))
        raise FatalError(f"host {self.transport.host.name}: the agent did not start the run")


    def _slurm_job(self, spec: dict[str, Any], job: str) -> None:
        """Record the job id while the run is queued; once its supervisor has started it
        records the id itself (from SLURM_JOB_ID), so a later state is never overwritten."""
        spec["record"]["slurm"] = {"job": job}
        if records.load(self.store, spec["id"]).get("status") == "queued":
            records.save(self.store, {**spec["record"], "id": spec["id"]})


# ----- the command -----------------------------------------------------------------------
def launch(repo: Repo, opts: RunOptions) -> int:
    resumed = resume_from(repo, opts) if opts.resume else None
    if not opts.command:
        raise FatalError("no command to run; write it after --, e.g. git data run -- python "
                         "train.py")
    config = Config(repo)
    env = parse_env(opts.env)
    combos = parse_grid(opts.grid, opts.command) or [{}]
    inside_checkout(opts.output, "--output")
    host = hosts.get(config, opts.host)
    remote = resolve(repo, config, opts.remote)
    store = remote.open()
    mounts = parse_mounts(store, opts.mounts)
    if resumed:
        commit, snapshot_commit = resumed["commit"], None
        mounts.append({"src": f"runs/{resumed['id']}/outputs", "dest": opts.output,
                       "kind": "store", "optional": True})
    else:
        commit, snapshot_commit = code_commit(repo, opts.allow_dirty)
    entries = data_entries(repo, snapshot_commit or commit, opts)
    need = [] if host.local or host.slurm_local else ship.needed_modules(
        [e.oid for e in entries], remote.url)
    with open_transport(host, config, ship.version_dir()) as transport:
        prepared = ship.prepared_marker(config.cache_dir, transport, need)
        if (opts.gpus and not host.slurm) or not (host.local or host.slurm_local
                                                  or prepared.exists()):
            # a new host, or GPUs to check: before anything is started or numbered
            gpu_error = ship.prepare(transport, need, opts.gpus).get("gpu_error")
            if gpu_error:
                raise FatalError(f"host {host.name}: {gpu_error}; nothing was started")
            safeio.write_bytes(prepared, b"")
        ensure_in_store(config, store, entries)
        base = base_record(repo, remote, host, commit, snapshot_commit, opts, env, entries,
                           mounts)
        if resumed:
            base["resumed_from"] = resumed["id"]
        specs = [build_spec(config, store, host, {**base, "params": params, "command":
                                                  substitute(opts.command, params)}, opts, env,
                            entries) for params in combos]
        launcher = Launcher(transport, repo, store, secrets_for(remote), env, need,
                            not opts.detach and len(combos) == 1, snapshot_commit,
                            slurm.start_args(host, opts.gpus) if host.slurm else [])
        started = launcher.start_all(specs)
        for run in started:
            note(f"run {run.run_id} started on {host.name}: {' '.join(run.record['command'])}"
                 f" (commit {run.record['commit'][:10]})")
        if opts.detach:
            print("\n".join(str(run.run_id) for run in started))
            note("follow with `git data logs ID --follow`; end with `git data stop ID`")
            return 0
        return attach(transport, started, opts.quiet, store, intervals(config)["lost"])


def resume_from(repo: Repo, opts: RunOptions) -> dict[str, Any]:
    """`--resume N`: run N's record, its commit checked to be here; the new run takes N's
    commit, output folder and (unless one is given) command, and N's outputs are copied
    into that folder before it starts."""
    store = resolve(repo, Config(repo), opts.remote).open()
    prior = records.load(store, records.run_id_of(store, str(opts.resume)))
    commit = prior.get("commit")
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
        raise FatalError(f"run {prior['id']} in {store.describe()} records no commit to "
                         "resume from")
    if not _has_commit(repo, commit):
        ref = prior.get("ref")  # the record's word only, and only in this shape
        ref = ref if isinstance(ref, str) and re.fullmatch(r"refs/data/runs/[0-9]+", ref) \
            else None
        raise FatalError(f"commit {commit[:12]} of run {prior['id']} is not in this "
                         f"repository; fetch it first (git fetch origin {ref or commit})")
    command = prior.get("command")
    if not opts.command and isinstance(command, list) and all(isinstance(w, str)
                                                             for w in command):
        opts.command = list(command)
    if isinstance(prior.get("output"), str):
        opts.output = inside_checkout(prior["output"], f"run {prior['id']}'s output folder")
    return prior


def _has_commit(repo: Repo, commit: str) -> bool:
    found = repo.git("rev-parse", "--verify", "-q", f"{commit}^{{commit}}", check=False)
    return found.decode().strip() == commit


def attach(transport: Transport, started: list[Started], quiet: bool,
           store: Store | None = None, lost_after: float = 90.0) -> int:
    """Print the runs' logs until they end; the exit code of the first that failed, else 0.
    A run the host reports lost (its supervisor died), or whose connection broke while its
    heartbeat is stale, is recorded lost in the store: this client is the one that saw it."""
    ids = ", ".join(str(r.run_id) for r in started)
    try:
        if len(started) == 1 and started[0].stream is not None:
            ends = [pump(started[0].stream, Printer(quiet=quiet))]
        else:
            ends = tail_all(transport, started, quiet)
    except KeyboardInterrupt:
        first = started[0].run_id
        raise FatalError(f"detached; run {ids} goes on on {transport.host.name}: `git data logs "
                         f"{first} --follow` to watch again, `git data stop {first}` to end it",
                         code=130) from None
    codes = []
    for run, end in zip(started, ends):
        if store is not None:
            end = _record_loss(store, transport, run, end, lost_after)
        if end is None:
            raise FatalError(f"lost the connection to host {transport.host.name}; run "
                             f"{run.run_id} goes on there: `git data logs {run.run_id} "
                             "--follow` to watch it", code=255)
        codes.append(exit_status(end))
        if end.get("error") and end.get("exit_code") is None:  # a host-side failure
            note(f"run {run.run_id} {end.get('run_status')} on host {transport.host.name}: "
                 f"{end['error']} (`git data logs {run.run_id}` shows the set-up log)")
        else:
            note(f"run {run.run_id} {end.get('run_status')} ({records.exit_text(end)})")
    return next((c for c in codes if c != 0), 0)


def _record_loss(store: Store, transport: Transport, run: Started,
                 end: dict[str, Any] | None, lost_after: float) -> dict[str, Any] | None:
    """What the client saw of a run's end, recorded when it is a loss; None when the
    connection broke and the run may well go on (its heartbeat is fresh)."""
    if end is not None and end.get("run_status") != "lost":
        return end
    try:
        record = records.load(store, run.run_id)
        if record.get("status") in records.FINAL:
            return {"run_status": record["status"], "exit_code": record.get("exit_code"),
                    "error": record.get("error")}
        if end is None:
            seen = records.liveness(store, record, lost_after)
            if seen.get("status") != "lost":
                return None
            reason = f"lost the connection to host {transport.host.name}; {seen['error']}"
        else:
            reason = str(end.get("error") or f"host {transport.host.name} reported it lost")
        records.mark_lost(store, run.run_id, reason)
    except (FatalError, OSError) as exc:
        note(f"could not record run {run.run_id} as lost in {store.describe()}: {exc}")
        return end
    return {"run_status": "lost", "exit_code": None, "error": reason}


def tail_all(transport: Transport, started: list[Started], quiet: bool
             ) -> list[dict[str, Any] | None]:
    ends: list[dict[str, Any] | None] = [None] * len(started)

    def one(i: int) -> None:
        proc = transport.popen(["tail", started[i].rundir], stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        ends[i] = pump(frames.read(proc.stdout), Printer(f"[run {started[i].run_id}] ", quiet))
        proc.wait()

    threads = [threading.Thread(target=one, args=(i,), daemon=True)
               for i in range(len(started))]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    return ends
