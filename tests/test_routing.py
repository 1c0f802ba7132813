"""Per-branch stores against a real S3 server: `[branch "experiments/*"] remote = scratch`
pushes there, reads try the branch's own store and then the default (so a branch made from
main reads main's data without a copy), `git switch` fetches from the right store, a merge
into a branch routed elsewhere copies what its store lacks, and ls-remote shows who holds
what."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import Repo, make_repo, random_bytes

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]  # fixtures: s3_server (one per session), s3 (a bucket per test)

MAIN_FILE = random_bytes(40_000, seed=1)
EXPERIMENT_FILE = random_bytes(60_000, seed=2)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def routed_repo(tmp_path: Path, s3: S3, scratch_url: str, scratch_endpoint: bool
                ) -> tuple[Repo, Path]:
    """main's data in the test bucket (origin, default); experiments/* in ``scratch_url``;
    main has pushed data/main.bin, experiments/x has pushed data/exp.bin on top of it."""
    extra = ["--endpoint-url", s3.endpoint] if scratch_endpoint else []
    return pushed_branches(tmp_path, [s3.url(), "--endpoint-url", s3.endpoint],
                           [scratch_url, *extra], MAIN_FILE)


def trust_folders(root: Path) -> None:
    """The user's own trust in the team's store folders, which a clone's .gitdata names."""
    subprocess.run(["git", "config", "--global", "--add", "data.trustedPath", str(root)],
                   check=True)


def pushed_branches(tmp_path: Path, origin: list[str], scratch: list[str],
                    main_file: bytes | None) -> tuple[Repo, Path]:
    """A team repository whose data remote ``origin`` (the default) and ``scratch`` (for
    experiments/*) are given as `git data remote add` arguments; main (with ``main_file``
    as data/main.bin) and experiments/x (adding data/exp.bin) are pushed."""
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", *origin, "--default")
    repo.data("remote", "add", "scratch", *scratch, "--branch", "experiments/*")
    if main_file is not None:
        repo.write("data/main.bin", main_file)
    repo.commit_all("main data")
    repo.git("push", "-q", "origin", "main")
    repo.git("checkout", "-q", "-b", "experiments/x")
    repo.write("data/exp.bin", EXPERIMENT_FILE)
    repo.commit_all("experiment")
    repo.git("push", "-q", "origin", "experiments/x")
    return repo, bare


def test_branches_push_to_their_store_and_read_through(tmp_path: Path, s3: S3) -> None:
    scratch = s3.new_bucket()
    repo, bare = routed_repo(tmp_path, s3, f"s3://{scratch}/project", True)
    assert len(s3.objects()) == 1  # main.bin only
    assert len(s3.objects(bucket=scratch)) == 1  # exp.bin only: main's data was not copied

    rows = json.loads(repo.data("ls-remote", "--json").stdout)
    where = {row["branch"]: row["store"] for row in rows}
    assert where == {"main": "origin", "experiments/x": "scratch"}
    assert all(row["routed"] for row in rows)

    # A clone of the experiment reads main's file from origin and its own from scratch.
    exp = Repo(tmp_path / "exp")
    Repo(tmp_path).data("clone", "-b", "experiments/x", str(bare), str(exp.path))
    assert exp.read("data/main.bin") == MAIN_FILE
    assert exp.read("data/exp.bin") == EXPERIMENT_FILE

    # `git switch` in a clone of main: the filter fetches the experiment's file on the way.
    clone = Repo(tmp_path / "clone")
    Repo(tmp_path).data("clone", str(bare), str(clone.path))
    assert not (clone.path / "data/exp.bin").exists()
    clone.git("switch", "-q", "experiments/x")
    assert clone.read("data/exp.bin") == EXPERIMENT_FILE
    assert clone.git("status", "--porcelain").stdout == ""


@pytest.mark.parametrize("scratch_kind", ["s3", "local"])
def test_merge_copies_what_the_target_store_lacks(tmp_path: Path, s3: S3,
                                                  scratch_kind: str) -> None:
    """experiments/x (scratch) merged into main (origin), its data never fetched here: the
    push copies it store to store. Same S3 endpoint: a server-side copy, by the pre-push
    hook, which scans the merged commits although origin/experiments/x exists (its data went
    elsewhere). A local-folder scratch store: a streamed copy, by `git data push`."""
    scratch = s3.new_bucket()
    scratch_url = f"s3://{scratch}/project" if scratch_kind == "s3" else (
        tmp_path / "scratch-store").as_uri()
    _, bare = routed_repo(tmp_path, s3, scratch_url, scratch_kind == "s3")
    trust_folders(tmp_path)
    clone = Repo(tmp_path / "clone")
    Repo(tmp_path).data("clone", str(bare), str(clone.path))
    clone.git("merge", "-q", "--no-edit", "origin/experiments/x",
              env={"GIT_DATA_SKIP_SMUDGE": "1"})
    assert len(clone.cache_objects()) == 1  # exp.bin is not in the local cache

    if scratch_kind == "local":
        out = clone.data("push", "origin", "main").stderr
        assert "copied 1 object(s) the local cache lacks" in out
        assert "0 server-side, 1 streamed" in out
    clone.git("push", "-q", "origin", "main")

    objects = s3.objects()
    assert len(objects) == 2
    copied = [k for k in objects if digest(s3.server.read(s3.bucket, f"project/{k}"))
              == digest(EXPERIMENT_FILE)]
    assert len(copied) == 1
    manifest = json.loads(s3.server.read(s3.bucket, "project/branches/main.json"))
    assert manifest["files"] == 2
    if scratch_kind == "s3":
        assert len(s3.objects(bucket=scratch)) == 1  # a copy, not a move


def test_unknown_route_is_one_clear_error(tmp_path: Path, s3: S3) -> None:
    repo = make_repo(tmp_path / "work")
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    repo.git("config", "-f", ".gitdata", "branch.wip/*.remote", "nowhere")
    repo.git("checkout", "-q", "-b", "wip/a")
    repo.write("data/a.bin", b"a" * 1000)
    repo.commit_all()
    proc = repo.data("push", check=False)
    assert proc.returncode != 0
    assert "routes branch 'wip/a' to data remote 'nowhere'" in proc.stderr


def test_switch_reads_the_target_branchs_store_first(tmp_path: Path) -> None:
    """During `git switch B` HEAD still names the old branch; the filter takes B's routing
    from the smudge request's ref. Both local stores hold the object, but the default's copy
    is corrupt: reading the default first would leave a pointer (hooks are off here)."""
    origin, scratch = tmp_path / "origin-store", tmp_path / "scratch-store"
    _, bare = pushed_branches(tmp_path, [origin.as_uri()], [scratch.as_uri()], None)
    (stored,) = [p for p in (scratch / "objects").rglob("*") if p.is_file()]
    copy = origin / stored.relative_to(scratch)
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"rotten" + EXPERIMENT_FILE[6:])

    trust_folders(tmp_path)
    clone = Repo(tmp_path / "clone")
    Repo(tmp_path).data("clone", str(bare), str(clone.path))
    clone.git("-c", f"core.hooksPath={tmp_path / 'no-hooks'}", "switch", "-q", "experiments/x")
    assert clone.read("data/exp.bin") == EXPERIMENT_FILE
