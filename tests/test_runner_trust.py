"""Runs against untrusted content: alias targets, run records and store listings that climb
out with ``..``, links committed in the run's code, a run that writes to its input, a host
cache object changed behind its back, and ``--env`` values that must stay out of records
and host files. Real git, the real `git-data` executable, the `local` host, a local-folder
store (the team repository's embedded ``data/``)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import xxhash
from conftest import Repo
from test_runner_local import make_project, one_error_line, record, store_dir

from git_data.errors import FatalError
from git_data.runner import records
from git_data.runner.host import hostfs, paths
from git_data.store import open_store

CLIMB = "runs/1/" + "../" * 40 + "etc"  # from any store folder: /etc


@pytest.fixture
def project(team: tuple[Repo, Path]) -> Repo:
    return make_project(team)


def plant_link(team: tuple[Repo, Path], alias: str, target: str) -> None:
    links = store_dir(team) / "links"
    links.mkdir(parents=True, exist_ok=True)
    (links / f"{alias}.json").write_text(json.dumps({"target": target}))


# ----- '..' in alias targets, run paths, records, listings --------------------------------
def test_alias_climbing_out_of_the_store_is_refused(project: Repo, team: tuple[Repo, Path],
                                                    tmp_path: Path) -> None:
    project.data("run", "--", "python3", "train.py")
    plant_link(team, "evil", CLIMB)
    dest = tmp_path / "got"
    for args in (["cp", "evil/passwd", str(dest)], ["cp", "evil", str(dest)],
                 ["cp", CLIMB + "/passwd", str(dest)], ["show-run", "evil"],
                 ["logs", "evil"], ["link", "other", "evil"],
                 ["run", "--mount", "evil:prev", "--", "true"],
                 ["run", "--mount", CLIMB + ":prev", "--", "true"]):
        line = one_error_line(project.data(*args, check=False))
        assert line.startswith("git-data: refusing"), line
    assert not dest.exists()
    assert [p.name for p in (store_dir(team) / "runs").iterdir()] == ["1"]  # nothing started
    assert not (store_dir(team) / "links" / "other.json").exists()


def test_alias_to_something_else_than_a_run_is_refused(project: Repo,
                                                       team: tuple[Repo, Path]) -> None:
    project.data("run", "--", "python3", "train.py")
    for target in ("objects", "links/evil", "/etc", "runs/1/outputs/../../2"):
        plant_link(team, "evil", target)
        line = one_error_line(project.data("cp", "evil", "x", check=False))
        assert "refusing 'evil'" in line and "git data link evil" in line, line
    (store_dir(team) / "links" / "evil.json").write_text("{not json")
    assert "not valid JSON" in one_error_line(project.data("cp", "evil", "x", check=False))


def test_a_run_record_names_no_path(project: Repo, team: tuple[Repo, Path]) -> None:
    """The id written in run.json is not trusted: the folder's number is the run's."""
    project.data("run", "--", "python3", "train.py")
    path = store_dir(team) / "runs" / "1" / "run.json"
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({**rec, "id": "../../../../etc"}))
    (store_dir(team) / "runs" / "2").mkdir()
    (store_dir(team) / "runs" / "2" / "run.json").write_text("[1, 2]")
    (store_dir(team) / "runs" / "03x").mkdir()
    assert record(project, 1)["id"] == 1
    shown = project.data("show-run", "1").stdout
    assert "runs/1/outputs/" in shown and "etc" not in shown
    assert [r["id"] for r in json.loads(project.data("runs", "--json").stdout)] == [1]
    assert "not a run record" in one_error_line(project.data("show-run", "2", check=False))
    assert "data: hello data" in project.data("logs", "1").stdout


def test_store_listings_with_dotdot_are_refused(tmp_path: Path) -> None:
    """An object store (S3) may list a key such as runs/1/outputs/../../x."""
    for key in ("runs/1/outputs/../../x", "runs/1/outputs//x", "runs/1/outputsx/y",
                "runs/1/outputs/a/../../../b"):
        with pytest.raises(FatalError, match="refusing"):
            paths.below("runs/1/outputs", key, "the store")
    assert paths.below("runs/1/outputs", "runs/1/outputs/a/b.pt", "s") == "a/b.pt"
    assert paths.below("runs/1/outputs/m.pt", "runs/1/outputs/m.pt", "s") == ""
    assert paths.split_run_path("runs/1/outputs/../../../etc") is None
    assert paths.split_run_path("runs/١/x") is None  # a digit, but not 0-9
    store = open_store((tmp_path / "s").as_uri())
    with pytest.raises(FatalError, match="refusing"):
        records.resolve_path(store, "runs/3/../../objects")
    assert records.resolve_path(store, "runs/3/./outputs//a") == "runs/3/outputs/a"


# ----- links committed in the code ---------------------------------------------------------
def test_committed_links_never_lead_outside_the_checkout(project: Repo,
                                                         team: tuple[Repo, Path],
                                                         tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE KEY\n")
    (project.path / "outputs").symlink_to(secret)  # `outputs/` in .gitignore: a link is not
    (project.path / "requirements.txt").symlink_to(secret / "id_rsa")
    project.commit_all("links")
    proc = project.data("run", "--", "true", check=False)
    assert proc.returncode != 0
    rec = record(project, 1)
    assert rec["status"] == "failed" and "symlink" in rec["error"]
    run = store_dir(team) / "runs" / "1"
    assert not (run / "outputs").exists()
    assert "PRIVATE KEY" not in "".join(p.read_text() for p in run.rglob("*") if p.is_file())
    # with the output folder elsewhere, requirements.txt (a link) is not read either:
    # ignored when found, refused when named
    project.data("run", "--output", "out", "--", "true")
    assert record(project, 2)["environment"]["kind"] == "none"
    project.data("run", "--output", "out", "--pip", "requirements.txt", "--", "true",
                 check=False)
    assert "not a regular file" in record(project, 3)["error"]
    assert "PRIVATE KEY" not in "".join(p.read_text() for p in
                                        (store_dir(team) / "runs").rglob("*")
                                        if p.is_file())
    assert (secret / "id_rsa").read_text() == "PRIVATE KEY\n"


# ----- a run that writes to its input --------------------------------------------------------
def _oid_matches(path: Path) -> bool:
    """Whether an object file (named by its hex digest) still holds its bytes."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest() if len(path.name) == 64 else \
        xxhash.xxh3_128(data).hexdigest()
    return digest == path.name


WRITE_INPUT = ("import os; os.chmod('data/a.txt', 0o644); "
               "open('data/a.txt', 'w').write('corrupted by the run'); "
               "print(open('data/a.txt').read())")


def test_a_run_writing_to_its_input_leaves_cache_and_store_intact(
        project: Repo, team: tuple[Repo, Path]) -> None:
    project.git("push", "-q", "origin", "HEAD")  # the store now holds (links of) the objects
    store_objects = sorted(p for p in (store_dir(team) / "objects").rglob("*") if p.is_file())
    cached = project.cache_objects()
    assert store_objects and cached
    proc = project.data("run", "--", "python3", "-c", WRITE_INPUT)
    assert "corrupted by the run" in proc.stdout  # the run could write (root could, anyway)
    for obj in [*cached, *store_objects]:
        assert _oid_matches(obj), f"{obj} no longer holds its bytes"
    # and the next run gets the true bytes
    again = project.data("run", "--", "cat", "data/a.txt")
    assert again.stdout.strip() == "hello data"


def test_host_cache_rehashes_a_changed_object_before_reuse(tmp_path: Path) -> None:
    store = hostfs.open_store((tmp_path / "store").as_uri(), "", None)
    good = b"the true bytes"
    oid = "sha256:" + hashlib.sha256(good).hexdigest()
    store.write_bytes(hostfs.object_key(oid), good)
    cache = hostfs.HostCache(tmp_path / "cache")
    entry = [["d/x", oid, len(good)]]
    assert cache.fetch(store, entry, print) == (1, 0)
    assert cache.fetch(store, entry, print) == (0, 1)  # stat as adopted: no hash, reused
    cached = cache.path(oid)
    os.chmod(cached, 0o644)
    cached.write_bytes(b"the fake bytes")  # same size, new mtime: as a root run could
    assert cache.fetch(store, entry, print) == (1, 0)  # hashed, found bad, downloaded again
    assert cached.read_bytes() == good and stat.S_IMODE(cached.stat().st_mode) == 0o444
    # an object nobody recorded (the `local` host's repository cache) is hashed once
    (tmp_path / "cache" / "adopted").rename(tmp_path / "gone")
    assert cache.fetch(store, entry, print) == (0, 1)
    assert (tmp_path / "cache" / "adopted").exists()
    os.chmod(cached, 0o644)
    cached.write_bytes(b"short")
    assert cache.fetch(store, entry, print) == (1, 0)
    checkout = tmp_path / "code"
    checkout.mkdir()
    (checkout / "d").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FatalError, match="symlink"):
        cache.place(checkout, entry)
    assert not (tmp_path / "elsewhere").exists()


# ----- --env values -----------------------------------------------------------------------------
SECRETS = {"HF_TOK": "hf_s3cr3t", "DB_URL": "postgres://u:pw0rd@db/x", "MY_PASS": "p4ss",
           "LR": "0.25"}
PROBE_ENV = f"""\
import os, json, stat
rundir = os.path.dirname(os.getcwd())
spec = os.path.join(rundir, "spec.json")
found = {{"mode": oct(stat.S_IMODE(os.stat(spec).st_mode)),
         "secrets_file": os.path.exists(os.path.join(rundir, ".secrets.json")),
         "env": {{k: os.environ.get(k) == v for k, v in {SECRETS!r}.items()}}}}
print("PROBE", json.dumps(found))
"""


def _env_args() -> list[str]:
    return [arg for k, v in SECRETS.items() for arg in ("--env", f"{k}={v}")]


def _texts(folder: Path) -> str:
    return "".join(p.read_bytes().decode(errors="replace") for p in folder.rglob("*")
                   if p.is_file() and not p.is_symlink())


def test_env_values_reach_the_command_but_no_record_or_host_file(
        project: Repo, team: tuple[Repo, Path]) -> None:
    project.write("probe.py", PROBE_ENV.encode())
    project.commit_all("probe")
    proc = project.data("run", *_env_args(), "--", "python3", "probe.py")
    seen = json.loads(proc.stdout.split("PROBE ", 1)[1].splitlines()[0])
    assert seen["env"] == {k: True for k in SECRETS}  # the command gets every value
    assert seen["mode"] == "0o600" and seen["secrets_file"] is False  # read and removed
    rec = record(project, 1)
    assert rec["env"] == {k: None for k in SECRETS}  # names only
    rundir = Path(rec["host"]["rundir"])
    host_spec = json.loads((rundir / "spec.json").read_text())
    assert "env" not in host_spec and host_spec["record"]["env"] == rec["env"]
    assert not (rundir / ".secrets.json").exists()
    for text in (_texts(store_dir(team) / "runs"), _texts(rundir / "logs"),
                 (rundir / "spec.json").read_text(), (rundir / "state.json").read_text()):
        for value in ("hf_s3cr3t", "pw0rd", "p4ss"):
            assert value not in text


def test_env_public_records_values_except_credentials(project: Repo) -> None:
    project.data("run", "--env-public", *_env_args(), "--", "true")
    assert record(project, 1)["env"] == {"HF_TOK": "<redacted>", "MY_PASS": "<redacted>",
                                         "DB_URL": "postgres://u:<redacted>@db/x", "LR": "0.25"}


# ----- host-side writes --------------------------------------------------------------------------
def test_host_side_writes_never_go_through_a_planted_link(tmp_path: Path) -> None:
    from git_data.runner.host import gpus

    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "gpus.json").symlink_to(victim)
    gpus._save(workdir, {0: {"pid": 1, "run": "r"}})
    assert victim.read_text() == "keep me\n" and not (workdir / "gpus.json").is_symlink()
    (workdir / "gpus.lock").symlink_to(victim)
    with pytest.raises(OSError):
        gpus.release(workdir, [0])
    assert victim.read_text() == "keep me\n"
    store = hostfs.open_store((tmp_path / "store").as_uri(), "", None)
    (tmp_path / "store" / "runs").mkdir(parents=True)
    (tmp_path / "store" / "runs" / "1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FatalError, match="symlink"):
        store.write_json("runs/1/run.json", {"id": 1})
    with pytest.raises(FatalError, match="symlink"):
        store.read_json("runs/1/run.json")
    assert not (tmp_path / "elsewhere").exists() and store.find("runs/1") == []
