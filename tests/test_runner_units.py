"""The runner's small parts on their own: path rules, grids, frames, the host cache's
verification, environment hashes, host URLs. Fast; no host, no ssh."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from git_data import hashing, layout
from git_data.cache import Cache
from git_data.errors import FatalError
from git_data.folderstore import FolderStore
from git_data.pointer import PointerError
from git_data.runner.host import envs, frames, hostfs, paths
from git_data.runner.hosts import parse_ssh
from git_data.runner.launch import parse_env, parse_grid, substitute
from git_data.runner.transport import ssh_problem
from git_data.store import LocalStore, open_store


@pytest.mark.parametrize("bad", ["", "/abs", "~/x", "..", "../x", "a/../../b", "a/..", ".",
                                 "./", "C:\\x"])
def test_paths_that_leave_the_checkout_are_refused(bad: str) -> None:
    with pytest.raises(FatalError):
        paths.inside_checkout(bad, "--output")


def test_paths_inside_are_normalised() -> None:
    assert paths.inside_checkout("./outputs//ckpt/", "--output") == "outputs/ckpt"
    assert paths.inside_checkout("a..b/c", "--output") == "a..b/c"


def test_run_paths_and_aliases() -> None:
    assert paths.split_run_path("runs/12/outputs/a.pt") == (12, "outputs/a.pt")
    assert paths.split_run_path("/runs/3/") == (3, "")
    assert paths.split_run_path("runs/x/outputs") is None
    assert paths.split_run_path("links/best") is None
    assert paths.check_alias("best-model_1.0") == "best-model_1.0"
    for bad in ("runs", "a/b", "-x", "", "x" * 200):
        with pytest.raises(FatalError):
            paths.check_alias(bad)


def test_grid_is_every_combination_and_values_stay_one_argument() -> None:
    combos = parse_grid(["lr=0.1,0.01", "bs=32,64"], ["train", "--lr={lr}", "{bs}"])
    assert combos == [{"lr": "0.1", "bs": "32"}, {"lr": "0.1", "bs": "64"},
                      {"lr": "0.01", "bs": "32"}, {"lr": "0.01", "bs": "64"}]
    value = "a b; $(rm -rf /) `x` | 'q'"
    assert substitute(["run", "{p}", "--p={p}", "{other}"], {"p": value}) == \
        ["run", value, f"--p={value}", "{other}"]
    with pytest.raises(FatalError, match="has no {q}"):
        parse_grid(["q=1"], ["train"])
    with pytest.raises(FatalError, match="NAME=VALUE"):
        parse_grid(["novalues="], ["{novalues}"])


def test_env_and_redaction() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(FatalError):
        parse_env(["1A=x"])
    assert paths.redact_env({"WANDB_API_KEY": "k", "HF_TOKEN": "t", "LR": "0.1"}) == \
        {"WANDB_API_KEY": "<redacted>", "HF_TOKEN": "<redacted>", "LR": "0.1"}
    assert paths.strip_password("ssh://me:pw@host:22") == "ssh://me@host:22"
    assert paths.strip_password("s3://bucket/x") == "s3://bucket/x"


def test_frames_skip_shell_noise_and_survive_a_cut() -> None:
    out = io.BytesIO()
    out.write(b"welcome banner from .bashrc\n")
    out.write(frames.MAGIC)
    frames.write(out, frames.OUTPUT, b"line\n")
    frames.write_json(out, frames.EXIT, {"exit_code": 3})
    data = out.getvalue()
    assert list(frames.read(io.BytesIO(data))) == [(b"o", b"line\n"), (b"x", b'{"exit_code": 3}')]
    assert list(frames.read(io.BytesIO(data[:-3]))) == [(b"o", b"line\n")]
    assert list(frames.read(io.BytesIO(b"no magic at all"))) == []


def test_host_cache_accepts_only_verified_bytes(tmp_path: Path) -> None:
    store = hostfs.open_store((tmp_path / "store").as_uri(), "", None)
    good = b"good bytes"
    oid = "sha256:" + hashlib.sha256(good).hexdigest()
    store.write_bytes(hostfs.object_key(oid), good)
    cache = hostfs.HostCache(tmp_path / "cache")
    notes: list[str] = []
    assert cache.fetch(store, [["d/good", oid, len(good)]], notes.append) == (1, 0)
    assert cache.path(oid).read_bytes() == good
    assert cache.fetch(store, [["d/good", oid, len(good)]], notes.append) == (0, 1)
    bad_oid = "sha256:" + hashlib.sha256(b"other").hexdigest()
    store.write_bytes(hostfs.object_key(bad_oid), b"tampered")
    with pytest.raises(FatalError, match="corrupt"):
        cache.fetch(store, [["d/bad", bad_oid, 5]], notes.append)
    assert not cache.path(bad_oid).exists()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".git-data-tmp")]
    missing = "sha256:" + "0" * 64
    with pytest.raises(FatalError, match="d/missing .* is not in"):
        cache.fetch(store, [["d/missing", missing, 1]], notes.append)
    checkout = tmp_path / "code"
    (checkout / "d").mkdir(parents=True)
    (checkout / "d" / "good").write_text("version git-data/1\n")
    cache.place(checkout, [["d/good", oid, len(good)]])
    assert (checkout / "d" / "good").read_bytes() == good
    # the run's own copy, never a name of the cached object
    assert (checkout / "d" / "good").stat().st_ino != cache.path(oid).stat().st_ino


def test_environment_hash_follows_its_files(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy==1.26\n")
    plan = envs.plan(tmp_path, None, None, [], print)
    assert plan.kind == "venv" and plan.source == "requirements.txt"
    same = envs.plan(tmp_path, None, None, [], print)
    assert plan.digest() == same.digest()
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    assert envs.plan(tmp_path, None, None, [], print).digest() != plan.digest()
    assert envs.plan(tmp_path, None, None, ["curl"], print).digest() != \
        envs.plan(tmp_path, None, None, [], print).digest()
    (tmp_path / "requirements.txt").unlink()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["rich"]\n')
    from_pyproject = envs.plan(tmp_path, None, None, [], print)
    assert from_pyproject.kind == "venv" and from_pyproject.text == b"rich\n"
    with pytest.raises(FatalError, match="no such file"):
        envs.plan(tmp_path, "nope.txt", None, [], print)
    with pytest.raises(FatalError):
        envs.plan(tmp_path, "../etc/passwd", None, [], print)


def test_ssh_urls_and_messages() -> None:
    assert parse_ssh("ssh://me@gpu1:2222") == ("me", "gpu1", 2222)
    assert parse_ssh("ssh://gpu1") == (None, "gpu1", None)
    for bad in ("gpu1", "http://gpu1", "ssh://"):
        with pytest.raises(FatalError):
            parse_ssh(bad)
    where = "host gpu (ssh://me@gpu)"
    assert "permission denied" in ssh_problem(where, "me@gpu", None,
                                              "me@gpu: Permission denied (publickey).")
    assert "not known" in ssh_problem(where, "me@gpu", 22, "Host key verification failed.")
    assert "cannot resolve" in ssh_problem(where, "me@gpu", None,
                                           "ssh: Could not resolve hostname gpu: Name")


def test_one_object_layout_and_one_folder_store_for_client_and_host(tmp_path: Path) -> None:
    oid = hashing.hash_bytes(b"layout")
    digest = oid.split(":", 1)[1]
    assert layout.object_key(oid) == f"objects/{digest[:2]}/{digest[2:4]}/{digest}"
    with pytest.raises(PointerError):
        layout.object_key("xxh128:../../../etc/passwd")
    cache = Cache(tmp_path / "cache")
    assert cache.path(oid) == tmp_path / "cache" / layout.object_key(oid)
    url = (tmp_path / "store").as_uri()
    client, host = open_store(url), hostfs.open_store(url, "", None)
    assert isinstance(client, LocalStore) and isinstance(host, FolderStore)
    assert isinstance(client.folder, FolderStore)
    source = tmp_path / "object"
    source.write_bytes(b"layout")
    client.put_object(oid, str(source))
    assert host.has(oid) and host.object_sizes([oid]) == {oid: 6}
    assert (tmp_path / "store" / layout.object_key(oid)).read_bytes() == b"layout"
    with host.open_object(oid) as stream:
        assert stream.read() == b"layout"


def test_a_supervisor_that_fails_hands_its_reason_to_the_client(tmp_path: Path) -> None:
    from git_data.runner.host import supervisor

    rundir = tmp_path / "run"
    rundir.mkdir()
    (rundir / "spec.json").write_text("{not json")  # what a broken host-side start leaves
    assert supervisor.supervise(rundir) == 1
    state = supervisor.read_state(rundir)
    assert state["run_status"] == "failed" and state["status"] == "done"
    assert "Error" in state["error"] and "supervisor.log" in state["error"]
    assert "the supervisor failed (" in state["error"]
