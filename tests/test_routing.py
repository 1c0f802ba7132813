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
from conftest import Repo, make_repo, populate, random_bytes, store_objects

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

    # By hand, main.bin is found in origin (one bulk check there), not copied to scratch,
    # unless the push is asked to make scratch self-contained.
    proc = clone.data("push")
    assert "1 object(s) are read from origin" in proc.stderr and "uploaded" not in proc.stderr
    assert len(s3.objects(bucket=scratch)) == 1
    assert "uploaded 1 object(s)" in clone.data("push", "--self-contained").stderr
    assert len(s3.objects(bucket=scratch)) == 2


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


MAIN_FILES = {f"data/main/f{i:02}.bin": random_bytes(2_000 + i, seed=100 + i) for i in range(50)}


def local_team(tmp_path: Path) -> tuple[Repo, Path, Path, Path]:
    """Local-folder stores: origin (the default) holds main's 50 objects, pushed by the hook;
    scratch is the store of exp/*. The work repository is on exp/a, made from main, with one
    new file committed and nothing of exp/a pushed yet."""
    origin, scratch = tmp_path / "origin-store", tmp_path / "scratch-store"
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", str(origin), "--default")
    repo.data("remote", "add", "scratch", str(scratch), "--branch", "exp/*")
    populate(repo, MAIN_FILES)
    repo.git("push", "-q", "origin", "main")
    assert len(store_objects(origin)) == 50
    repo.git("checkout", "-q", "-b", "exp/a")
    repo.write("data/exp.bin", EXPERIMENT_FILE)
    repo.commit_all("experiment")
    return repo, bare, origin, scratch


def totals(repo: Repo) -> dict[str, int]:
    return json.loads(repo.data("status", "--json").stdout)["totals"]


def test_routed_branch_counts_the_default_stores_data_as_pushed(tmp_path: Path) -> None:
    """A branch made from main and routed to scratch: main's 50 objects are in the default
    store, which its readers fall back to, so 1 of 51 is not pushed, `git data push` uploads
    that one, and a clone of the branch still gets every file. An object no store holds
    still stops the push."""
    repo, bare, origin, scratch = local_team(tmp_path)
    counts = totals(repo)
    assert (counts["files"], counts["not_pushed"]) == (51, 1)
    proc = repo.data("push")
    assert "uploaded 1 object(s)" in proc.stderr
    assert "50 object(s) are read from" in proc.stderr and "--self-contained" in proc.stderr
    assert list(store_objects(scratch)) == [hash_name(EXPERIMENT_FILE)]
    assert len(store_objects(origin)) == 50
    assert totals(repo)["not_pushed"] == 0
    repo.git("push", "-q", "origin", "exp/a")  # the hook: nothing more to upload
    assert len(store_objects(scratch)) == 1

    trust_folders(tmp_path)
    clone = Repo(tmp_path / "clone")
    Repo(tmp_path).data("clone", "-b", "exp/a", str(bare), str(clone.path))
    assert clone.read("data/exp.bin") == EXPERIMENT_FILE
    assert clone.read("data/main/f07.bin") == MAIN_FILES["data/main/f07.bin"]
    upstream = json.loads(clone.data("status", "--json").stdout)["pushed"]
    assert upstream["upstream"] == "origin/exp/a" and upstream["missing"] == []

    lost = random_bytes(5_000, seed=7)  # committed, then gone from the cache: no store has it
    repo.write("data/lost.bin", lost)
    repo.commit_all("lost")
    name = hash_name(lost)
    (repo.cache / "objects" / name[:2] / name[2:4] / name).unlink()
    proc = repo.data("push", check=False)
    assert proc.returncode == 1 and "1 data file(s)" in proc.stderr
    assert "neither in the local cache nor in any store (data/lost.bin" in proc.stderr


def hash_name(data: bytes) -> str:
    from git_data import hashing

    return hashing.hash_bytes(data).split(":")[1]


def test_self_contained_push_copies_what_the_default_holds(tmp_path: Path) -> None:
    """In a clone whose cache lacks main's data, main's objects are neither missing (the
    push goes through) nor copied; `git data push --self-contained` then copies them to the
    routed store, store to store and hashed on the way; run again, it copies nothing."""
    repo, bare, origin, scratch = local_team(tmp_path)
    repo.git("push", "-q", "origin", "exp/a")
    assert len(store_objects(scratch)) == 1
    trust_folders(tmp_path)
    clone = Repo(tmp_path / "clone")
    Repo(tmp_path).data("clone", "-b", "exp/a", "--no-data", str(bare), str(clone.path))
    clone.write("data/exp2.bin", b"second" * 3000)
    clone.commit_all("more")
    proc = clone.data("push")
    assert "uploaded 1 object(s)" in proc.stderr and "cache lacks" not in proc.stderr
    assert len(store_objects(scratch)) == 2

    proc = clone.data("push", "--self-contained")
    assert "copied 50 object(s) the local cache lacks" in proc.stderr
    assert "0 server-side, 50 streamed" in proc.stderr
    assert set(store_objects(scratch)) == set(store_objects(origin)) | {
        hash_name(EXPERIMENT_FILE), hash_name(b"second" * 3000)}
    again = clone.data("push", "--self-contained").stderr
    assert "cache lacks" not in again and "uploaded" not in again


def test_clone_copy_data_to_names_the_routes_that_still_point_elsewhere(tmp_path: Path
                                                                       ) -> None:
    """`clone --copy-data-to` moves the default; the exp/* route still names scratch. The
    clone says so, one line per route with the settings that move it, and those settings
    do: the next push of an exp/ branch lands in the new store. Before them, a push to
    scratch counts what the committed default holds, not this clone's own store."""
    repo, bare, origin, scratch = local_team(tmp_path)
    repo.git("push", "-q", "origin", "exp/a")
    trust_folders(tmp_path)
    mine = tmp_path / "mine"
    clone = Repo(tmp_path / "clone")
    proc = Repo(tmp_path).data("clone", str(bare), str(clone.path), "--copy-data-to", str(mine))
    assert "copied 51 object(s)" in proc.stderr
    assert "except for the routes below" in proc.stderr
    assert f"git data remote add mine {mine.as_uri()} --branch 'exp/*' --default" in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "still push to" in x]
    assert f"branches matching exp/* still push to scratch ({scratch.as_uri()})" in line
    command = line.split("in this clone: ", 1)[1]
    assert command == f"git config data.remote.scratch.url {mine.as_uri()}"

    # Until then, exp/ branches push to scratch, which others read with the committed
    # default (origin) behind it: main's data is found there, not in this clone's own store.
    clone.git("switch", "-q", "-c", "exp/b")
    clone.write("data/b.bin", b"bee" * 3000)
    clone.commit_all("b")
    proc = clone.data("push")
    assert "50 object(s) are read from origin" in proc.stderr
    assert "uploaded 1 object(s) to scratch" in proc.stderr
    assert len(store_objects(scratch)) == 2

    subprocess.run(command, shell=True, cwd=clone.path, check=True)
    clone.git("switch", "-q", "exp/a")
    clone.write("data/exp3.bin", b"third" * 4000)
    clone.commit_all("into mine")
    clone.git("push", "-q", "origin", "exp/a")
    assert hash_name(b"third" * 4000) in store_objects(mine)
    assert len(store_objects(scratch)) == 2 and len(store_objects(mine)) == 52


def test_copy_data_to_a_bucket_says_how_to_move_an_s3_route(tmp_path: Path, s3: S3) -> None:
    """On S3 the settings that move a route carry the new store's endpoint too; after them,
    an experiment's push goes to the new bucket and main's data is not copied there again."""
    scratch = s3.new_bucket()
    _, bare = routed_repo(tmp_path, s3, f"s3://{scratch}/project", True)
    new = f"cp-{s3.bucket}"
    clone = Repo(tmp_path / "clone")
    proc = Repo(tmp_path).data("clone", str(bare), str(clone.path), "--copy-data-to",
                               f"s3://{new}/mine")
    (line,) = [x for x in proc.stderr.splitlines() if "still push to" in x]
    assert f"experiments/* still push to scratch (s3://{scratch}/project)" in line
    command = line.split("in this clone: ", 1)[1]
    assert command == (f"git config data.remote.scratch.url s3://{new}/mine && git config "
                       f"data.remote.scratch.endpointurl {s3.endpoint}")
    subprocess.run(command, shell=True, cwd=clone.path, check=True)
    clone.git("switch", "-q", "-c", "experiments/y")
    clone.write("data/y.bin", random_bytes(5_000, seed=5))
    clone.commit_all("y")
    clone.git("push", "-q", "origin", "experiments/y")
    assert len(s3.objects("mine", bucket=new)) == 3  # main.bin, exp.bin, y.bin
    assert len(s3.objects(bucket=scratch)) == 1


def test_push_to_a_store_named_by_hand_copies_everything(tmp_path: Path) -> None:
    """`git data pull scratch` reads scratch alone, so `git data push scratch` leaves it
    holding all the branch needs, also what the default store has."""
    repo, _, _, scratch = local_team(tmp_path)
    proc = repo.data("push", "scratch")
    assert "uploaded 51 object(s)" in proc.stderr and "read from" not in proc.stderr
    assert len(store_objects(scratch)) == 51
