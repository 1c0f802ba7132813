"""`git data clone URL DIR --copy-data-to STORE` against a real S3 server: every object the
branches reach (their history too) is copied to the new store, server-side on the same
endpoint and streamed to another store, verified, resumable; the clone's default data
remote then points at the new store (per clone) and the way to share it is printed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import Repo, make_repo, random_bytes

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]  # fixtures: s3_server (one per session), s3 (a bucket per test)

FILES = {"data/a1.bin": 1, "data/a2.bin": 2, "data/b1.bin": 3}


def team(tmp_path: Path, s3: S3) -> Path:
    """A bare repository whose data is in the test bucket: main has two commits (the first
    version of a1.bin is only in history), branch other adds data/b2.bin."""
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    repo.write("data/a1.bin", b"old version" * 1000)
    repo.commit_all("first")
    for path, seed in FILES.items():
        repo.write(path, random_bytes(30_000, seed=seed))
    repo.commit_all("second")
    repo.git("push", "-q", "origin", "main")
    repo.git("checkout", "-q", "-b", "other")
    repo.write("data/b2.bin", random_bytes(30_000, seed=4))
    repo.commit_all("other")
    repo.git("push", "-q", "origin", "other")
    assert len(s3.objects()) == 5
    return bare


def test_clone_copies_everything_to_a_new_bucket(tmp_path: Path, s3: S3) -> None:
    bare = team(tmp_path, s3)
    new = f"cp-{s3.bucket}"  # does not exist yet: the copy creates it
    clone = Repo(tmp_path / "clone")
    proc = Repo(tmp_path).data("clone", str(bare), str(clone.path), "--copy-data-to",
                               f"s3://{new}/mine")
    assert "copied 5 object(s)" in proc.stderr and "5 server-side" in proc.stderr
    assert "(new bucket)" in proc.stderr
    assert "still push to" not in proc.stderr and "routes below" not in proc.stderr  # none
    assert (f"git data remote add {new} s3://{new}/mine --endpoint-url {s3.endpoint} --default"
            in proc.stderr)
    assert sorted(s3.objects("mine", bucket=new)) == sorted(s3.objects())
    for path, seed in FILES.items():
        assert clone.read(path) == random_bytes(30_000, seed=seed)

    # Per clone: .git/config names the new store as default, .gitdata is untouched.
    assert clone.git("config", "data.remote").stdout.strip() == new
    assert clone.git("config", f"data.remote.{new}.url").stdout.strip() == f"s3://{new}/mine"
    assert clone.git("status", "--porcelain").stdout == ""
    clone.write("data/c.bin", random_bytes(20_000, seed=9))
    clone.commit_all("new data")
    clone.git("push", "-q", "origin", "main")
    assert len(s3.objects("mine", bucket=new)) == 6
    assert len(s3.objects()) == 5  # the team's store did not get it


def test_copy_with_include_streams_to_another_store_and_resumes(tmp_path: Path,
                                                                s3: S3) -> None:
    """A local folder as the new store (streamed, hashed on the way); --include selects
    paths; a copy that failed (an object missing from the source) resumes when the same
    command runs again, copying only what is still missing."""
    bare = team(tmp_path, s3)
    fs = s3.server.filesystem()
    wanted = sorted(k for k in s3.objects())
    missing = f"{s3.bucket}/project/{wanted[0]}"
    saved = bytes(fs.cat_file(missing))
    fs.rm(missing)

    target = tmp_path / "my-store"
    command = ("clone", str(bare), str(tmp_path / "clone"), "--copy-data-to", str(target),
               "--include", "data/a*")
    proc = Repo(tmp_path).data(*command, check=False)
    assert proc.returncode != 0
    assert "1 object(s) failed to copy" in proc.stderr and "run the" in proc.stderr
    assert not [p for p in target.rglob("*") if p.is_file() and "tmp" in p.parts[-2:]]

    fs.pipe_file(missing, saved)
    proc = Repo(tmp_path).data(*command)
    assert "resuming" in proc.stderr
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    # a1 (two versions) and a2; not b1, not b2; the resumed run copied just the one object
    assert len(copied) == 3, copied
    assert "copied 1 object(s)" in proc.stderr and "0 server-side, 1 streamed" in proc.stderr
    assert "2 already there" in proc.stderr
    clone = Repo(tmp_path / "clone")
    assert clone.read("data/a2.bin") == random_bytes(30_000, seed=2)
    assert not (clone.path / ".git" / "data" / "copy-data-to.json").exists()
