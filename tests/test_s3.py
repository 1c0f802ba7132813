"""S3 stores against a real SeaweedFS server (tests/seaweed.py): round trips through git's
own push/clone/pull, multipart uploads in bounded memory, credentials from every usual
place, and one clear line for each way a store can be unusable."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import xxhash
from conftest import Repo, make_repo, random_bytes

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]  # fixtures: s3_server (one per session), s3 (a bucket per test)

MiB = 1 << 20


def s3_repo(tmp_path: Path, s3: S3, prefix: str = "project") -> tuple[Repo, Path]:
    """A work repository with a bare git origin and the test bucket as its data remote."""
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = make_repo(tmp_path / "work")
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", s3.url(prefix), "--endpoint-url", s3.endpoint,
              "--default")
    return repo, bare


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_push_clone_pull_round_trip(tmp_path: Path, s3: S3) -> None:
    repo, bare = s3_repo(tmp_path, s3)
    files = {f"data/part-{i}.bin": random_bytes(50_000 + i, seed=i) for i in range(6)}
    for path, content in files.items():
        repo.write(path, content)
    repo.commit_all("data")
    repo.git("push", "-q", "origin", "main")

    objects = s3.objects()
    assert len(objects) == len(files)
    manifest = json.loads(s3.server.read(s3.bucket, "project/branches/main.json"))
    assert manifest["files"] == len(files) and manifest["remote"] == "origin"

    clone = Repo(tmp_path / "clone")
    Repo(tmp_path).data("clone", str(bare), str(clone.path))
    for path, content in files.items():
        assert clone.read(path) == content

    repo.write("data/part-0.bin", b"changed" * 1000)
    repo.write("data/new.bin", random_bytes(70_000, seed=99))
    repo.commit_all("more")
    repo.git("push", "-q", "origin", "main")
    assert len(s3.objects()) == len(files) + 2
    clone.git("pull", "-q", "origin", "main")
    assert clone.read("data/part-0.bin") == b"changed" * 1000
    assert clone.read("data/new.bin") == random_bytes(70_000, seed=99)
    assert "data/new.bin" not in clone.git("status", "--porcelain").stdout


def git_data_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("git-data:")]


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode != 0, proc.stderr
    lines = git_data_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_multipart_upload_and_download_in_bounded_memory(tmp_path: Path, s3: S3) -> None:
    """110 MiB goes up as a multipart upload and comes down in ranged GETs: the peak memory of
    the git-data processes grows by far less than the file (s3fs's defaults would read it
    all: one 50 MiB part x 10 at a time)."""
    repo, bare = s3_repo(tmp_path, s3)
    repo.write("small.bin", b"s" * 1000)
    repo.commit_all("small")
    small_rss = peak_rss(repo, "git", "push", "-q", "origin", "main")
    big = repo.path / "big.bin"
    with open(big, "wb") as out:
        for i in range(110):
            out.write(random_bytes(MiB, seed=i))
    repo.commit_all("big")
    push_rss = peak_rss(repo, "git", "push", "-q", "origin", "main")
    assert push_rss - small_rss < 80 * MiB, (small_rss, push_rss)

    fs = s3.server.filesystem()
    [key] = [k for k in s3.objects() if fs.info(f"{s3.bucket}/project/{k}")["size"] > MiB]
    info = fs.info(f"{s3.bucket}/project/{key}")
    assert info["size"] == 110 * MiB
    assert "-" in info["ETag"]  # a multipart upload's ETag: md5-of-parts "-" part count

    clone = Repo(tmp_path / "clone")
    clone_rss = peak_rss(Repo(tmp_path), "git-data", "clone", str(bare), str(clone.path))
    assert clone_rss - small_rss < 40 * MiB, (small_rss, clone_rss)
    assert file_digest(clone.path / "big.bin") == file_digest(big)


RSS_PROBE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def peak_rss(repo: Repo, *command: str) -> int:
    """Run ``command`` in a fresh process tree; the largest peak RSS among its processes."""
    proc = repo.run(sys.executable, "-c", RSS_PROBE, *command)
    return int(proc.stdout.split()[-1]) * 1024


def file_digest(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def test_wrong_credentials_fail_in_one_line_and_push_nothing(tmp_path: Path, s3: S3,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    repo, bare = s3_repo(tmp_path, s3)
    repo.write("data/a.bin", random_bytes(30_000))
    repo.commit_all()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-right-secret")
    proc = repo.git("push", "origin", "main", check=False)
    line = assert_one_line_failure(proc, "store origin", s3.url(), s3.endpoint,
                                   "credentials were refused")
    assert "not-the-right-secret" not in proc.stderr + proc.stdout
    assert s3.objects() == []
    assert Repo(bare).git("branch", "--list").stdout == ""  # git's push was stopped too
    assert "SignatureDoesNotMatch" in line

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nosuchkey")
    proc = repo.data("push", check=False)
    assert_one_line_failure(proc, "credentials were refused", "InvalidAccessKeyId")


def test_missing_bucket_fails_in_one_line(tmp_path: Path, s3: S3) -> None:
    repo = make_repo(tmp_path / "work")
    repo.data("remote", "add", "origin", "s3://no-such-bucket-here/p", "--endpoint-url",
              s3.endpoint, "--default")
    repo.write("data/a.bin", random_bytes(30_000))
    repo.commit_all()
    proc = repo.data("push", check=False)
    assert_one_line_failure(proc, "store origin (s3://no-such-bucket-here/p at",
                            "bucket 'no-such-bucket-here' does not exist")
    shutil.rmtree(repo.cache / "objects")  # reading needs the store too
    proc = repo.data("fetch", check=False)
    assert_one_line_failure(proc, "bucket 'no-such-bucket-here' does not exist")


def test_unreachable_endpoint_fails_in_one_line(tmp_path: Path, s3: S3) -> None:
    from seaweed import free_ports

    [port] = free_ports(1)
    repo = make_repo(tmp_path / "work")
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", f"http://127.0.0.1:{port}",
              "--default")
    repo.write("data/a.bin", random_bytes(30_000))
    repo.commit_all()
    started = time.monotonic()
    proc = repo.data("push", check=False)
    assert_one_line_failure(proc, "store origin", f"127.0.0.1:{port}", "cannot reach")
    assert time.monotonic() - started < 20


def test_credentials_from_git_config_and_aws_profiles(tmp_path: Path, s3: S3,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS_* variables: per-user `git config data.remote.NAME.*` secrets (in .git/config,
    never in .gitdata), then a named profile in ~/.aws/credentials."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    repo, _ = s3_repo(tmp_path, s3)
    repo.write("data/a.bin", random_bytes(30_000))
    repo.commit_all()
    proc = repo.data("push", check=False)
    assert_one_line_failure(proc, "store origin", "credentials")
    repo.git("config", "data.remote.origin.accesskeyid", s3.server.access_key)
    repo.git("config", "data.remote.origin.secretaccesskey", s3.server.secret_key)
    repo.data("push")
    assert len(s3.objects()) == 1
    assert s3.server.secret_key not in repo.read(".gitdata").decode()

    (s3.home / ".aws").mkdir()
    (s3.home / ".aws" / "credentials").write_text(
        f"[team]\naws_access_key_id = {s3.server.access_key}\n"
        f"aws_secret_access_key = {s3.server.secret_key}\n")
    repo.data("remote", "add", "shared", s3.url("via-profile"), "--endpoint-url", s3.endpoint,
              "--profile", "team")
    repo.data("push", "shared")
    assert len(s3.objects("via-profile")) == 1
    assert "profile = team" in repo.read(".gitdata").decode()


def test_other_fsspec_protocols_name_the_package_to_install(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed")
    repo = make_repo(tmp_path / "work")
    added = repo.data("remote", "add", "origin", "gs://bucket/prefix", "--default")
    assert "pip install gcsfs" in added.stderr
    repo.write("data/a.bin", b"x" * 1000)
    repo.commit_all()
    proc = repo.data("push", check=False)
    assert_one_line_failure(proc, "store origin (gs://bucket/prefix)", "pip install gcsfs")
    proc = repo.data("remote", "add", "bad", "s3://KEY:SECRET@bucket/p", check=False)
    assert_one_line_failure(proc, "carries credentials")
    assert "SECRET" not in repo.read(".gitdata").decode()


class Recorded(Repo):
    """A test repository that keeps everything its commands print, for the secret scan."""

    outputs: list[str] = []

    def run(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        proc = super().run(*args, **kw)  # type: ignore[arg-type]
        self.outputs.extend([proc.stdout, proc.stderr])
        return proc


def files_containing(secret: str, *roots: Path, skip: tuple[Path, ...] = ()) -> list[Path]:
    needle = secret.encode()
    return [path for root in roots for path in root.rglob("*")
            if path.is_file() and path not in skip and needle in path.read_bytes()]


def test_no_secret_in_any_file_output_or_store(tmp_path: Path, s3: S3,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials from AWS_* variables: after push, clone, listings (--json), failures and
    a clone whose secrets are in its .git/config, the secret key is in no file of the
    repositories (.git included, except that one .git/config), no key or object of the
    store, and nothing printed."""
    secret = s3.server.secret_key
    Recorded.outputs = []
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = Recorded(make_repo(tmp_path / "work").path)
    repo.git("remote", "add", "origin", str(bare))
    repo.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint, "--default")
    repo.write("data/a.bin", random_bytes(40_000))
    repo.commit_all()
    repo.git("push", "origin", "main")
    for command in (("ls-remote", "--json"), ("remote", "list", "--json"), ("status", "--json"),
                    ("ls-remote",), ("remote", "list")):
        repo.data(*command)
    repo.data("push", env={"AWS_ACCESS_KEY_ID": "wrong"}, check=False)
    repo.data("push", env={"AWS_SECRET_ACCESS_KEY": secret[::-1]}, check=False)

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    clone = Recorded(tmp_path / "clone")
    Recorded(tmp_path).data("clone", "--no-data", str(bare), str(clone.path))
    clone.git("config", "data.remote.origin.accesskeyid", s3.server.access_key)
    clone.git("config", "data.remote.origin.secretaccesskey", secret)
    clone.data("pull")
    assert clone.read("data/a.bin") == random_bytes(40_000)

    assert files_containing(secret, tmp_path, skip=(clone.path / ".git" / "config",)) == []
    assert not [o for o in Recorded.outputs if secret in o]
    keys = s3.server.keys(s3.bucket)
    assert keys and not [k for k in keys if secret in k or
                         secret.encode() in s3.server.read(s3.bucket, k)]


def test_objects_are_never_overwritten_and_bad_copies_never_published(tmp_path: Path,
                                                                      s3: S3) -> None:
    """Through the Store API: a put of a present object leaves it as it is (If-None-Match),
    and a streamed copy whose bytes do not match the oid is aborted, leaving no key."""
    import io

    from git_data.hashing import hash_bytes
    from git_data.store import BadObjectError, object_key
    from git_data.store.remotes import Remote

    store = Remote("origin", s3.url(), {"endpointurl": s3.endpoint}).open()
    content = random_bytes(20_000)
    oid = hash_bytes(content)
    key = f"project/{object_key(oid)}"
    s3.server.filesystem().pipe_file(f"{s3.bucket}/{key}", b"already here")
    other = tmp_path / "other"
    other.write_bytes(content)
    store.put_object(oid, str(other))
    store.put_stream(oid, io.BytesIO(content))
    assert s3.server.read(s3.bucket, key) == b"already here"

    wrong = hash_bytes(b"something else")
    big = random_bytes(9 * MiB)  # over one part: a multipart upload that must be aborted
    for data in (content, big):
        with pytest.raises(BadObjectError):
            store.put_stream(wrong, io.BytesIO(data))
    assert s3.keys() == [object_key(oid)]
    uploads = s3.server.filesystem().list_multipart_uploads(s3.bucket)
    assert not [u for u in uploads if u.get("Key", "").endswith(wrong.split(":")[1])]


def test_a_clone_with_refused_credentials_fails_in_one_line(tmp_path: Path, s3: S3,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """The configured store refuses the credentials: clone and pull say so once, with no
    "not in" line per file from the embedded store of the (local) git remote, which does not
    exist."""
    repo, bare = s3_repo(tmp_path, s3)
    for i in range(5):
        repo.write(f"data/f{i}.bin", random_bytes(20_000, seed=i))
    repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-right-secret")
    proc = Repo(tmp_path).data("clone", str(bare), str(tmp_path / "clone"), check=False)
    assert_one_line_failure(proc, "store origin", "credentials were refused")
    assert "not in" not in proc.stderr
    proc = Repo(tmp_path / "clone").data("pull", check=False)
    assert_one_line_failure(proc, "store origin", "credentials were refused")


def pointer_text(oid: str, size: int) -> bytes:
    return f"version git-data/1\noid {oid}\nsize {size}\n".encode()


def stage_blob(repo: Repo, path: str, data: bytes) -> None:
    """Commit ``data`` at ``path`` as it is, past the clean filter (which refuses a corrupt
    pointer), as a hostile or broken commit would carry it."""
    sha = repo.run("git", "hash-object", "-w", "--no-filters", "--stdin", input=data
                   ).stdout.strip()
    repo.git("update-index", "--add", "--cacheinfo", f"100644,{sha},{path}")


@pytest.mark.timeout(120)
def test_pointer_sizes_are_checked_against_the_store(tmp_path: Path, s3: S3) -> None:
    """Pointers naming a 5,000-byte object with a size of 2**63-1 (the ranged download would
    plan ranges without bound from it), of 7 (the bulk GET path) and of 10**20 - 1 (beyond
    any file): each pull is refused quickly, in one line naming the file, in bounded memory,
    and nothing lands in the cache or the work tree."""
    repo, bare = s3_repo(tmp_path, s3)
    content = random_bytes(5_000, seed=5)
    oid = "xxh128:" + xxhash.xxh3_128_hexdigest(content)
    repo.write("data/real.bin", content)
    repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    repo.git("rm", "-q", "data/real.bin")
    stage_blob(repo, "data/huge.bin", pointer_text(oid, 2**63 - 1))
    stage_blob(repo, "data/seven.bin", pointer_text(oid, 7))
    repo.git("commit", "-q", "-m", "pointers that lie about their size")
    repo.git("push", "-q", "origin", "main")
    Repo(tmp_path).data("clone", str(bare), str(tmp_path / "clone"), "--no-data")
    clone = Repo(tmp_path / "clone")

    baseline = peak_rss(clone, "git-data", "pull", "--include", "data/none*")
    for name, size in (("huge", 2**63 - 1), ("seven", 7)):
        started = time.monotonic()
        proc = clone.run(sys.executable, "-c", RSS_PROBE, "git-data", "pull", "--include",
                         f"data/{name}.bin", check=False)
        assert time.monotonic() - started < 30
        assert int(proc.stdout.split()[-1]) * 1024 - baseline < 30 * MiB, name
        assert_one_line_failure(proc, f"data/{name}.bin", "5000 bytes", f"not the {size}")
    # a pointer beyond any file is named by every command that reads the tree: alone here
    stage_blob(repo, "data/absurd.bin", pointer_text(oid, 10**20 - 1))
    repo.git("commit", "-q", "-m", "a pointer beyond any file")
    repo.git("push", "-q", "origin", "main")
    clone.git("pull", "-q")
    proc = clone.data("pull", "--include", "data/absurd.bin")  # not a pointer git-data reads
    assert "data/absurd.bin" in proc.stderr and "beyond the largest possible file" in proc.stderr
    assert clone.cache_objects() == []
    for name, size in (("huge", 2**63 - 1), ("seven", 7), ("absurd", 10**20 - 1)):
        assert clone.read(f"data/{name}.bin") == pointer_text(oid, size)


def test_stale_multipart_uploads_of_objects_are_aborted_on_the_next_push(
        tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploads a killed push left (a part stored, never completed) are aborted before the
    next upload, but only those of exact object keys under this store's objects/ and only
    once they are older than the safe age; anyone else's uploads are left alone."""
    from git_data.cache import Cache
    from git_data.store import s3 as s3store
    from git_data.transfer import Item, TransferQueue

    store = s3store.S3Store(s3.url(), "origin",
                            s3store.storage_options({"endpointurl": s3.endpoint}, {}))
    digest = "ab" + "cd" + "0" * 28
    ours = f"project/objects/ab/cd/{digest}"
    others = [f"project/objects/ab/cd/{digest}.part",  # not an oid
              f"project/objects/ff/ff/{digest}",  # folders that do not match the digest
              f"project/runs/{digest}",  # outside objects/
              f"other/objects/ab/cd/{digest}"]  # another store's prefix

    def start(key: str) -> None:
        upload = store.run(store.raw._call_s3("create_multipart_upload", Bucket=s3.bucket,
                                              Key=key))
        store.run(store.raw._call_s3("upload_part", Bucket=s3.bucket, Key=key, PartNumber=1,
                                     UploadId=upload["UploadId"], Body=b"x" * 1000))

    def pending() -> set[str]:
        page = store.run(store.raw._call_s3("list_multipart_uploads", Bucket=s3.bucket))
        return {u["Key"] for u in page.get("Uploads", [])}

    for key in [ours, *others]:
        start(key)
    assert pending() == {ours, *others}
    assert store.abort_stale_uploads() == 0  # begun just now: a push may still be under way
    time.sleep(1.1)

    monkeypatch.setattr(s3store, "STALE_UPLOAD_AGE_S", 0.5)
    cache = Cache(tmp_path / "cache")
    content = random_bytes(2_000)
    source = tmp_path / "f"
    source.write_bytes(content)
    oid = cache.insert_file(source)
    result = TransferQueue(cache, quiet=True).upload([Item(oid, len(content), "f")], store)
    assert result.ok and len(s3.objects()) == 1
    assert pending() == set(others)


def test_a_failing_range_stops_its_siblings_before_it_is_raised() -> None:
    """The ranges in flight beside a failing one are cancelled and have stopped when the
    error is raised (so the file can be closed); the ranges not yet started never start."""
    import asyncio

    from git_data.store.s3 import _all_or_none

    stopped: list[int] = []

    async def work(job: int) -> None:
        if job == 1:
            await asyncio.sleep(0.01)
            raise ConnectionResetError("reset")
        try:
            await asyncio.sleep(30)
        finally:
            stopped.append(job)

    started = time.monotonic()
    with pytest.raises(ConnectionResetError):
        asyncio.run(_all_or_none(work, range(10**18), 4))  # never a list of the jobs
    assert sorted(stopped) == [0, 2, 3]
    assert time.monotonic() - started < 5


def test_a_closed_range_file_never_writes_into_a_reused_descriptor(tmp_path: Path) -> None:
    import os

    from git_data.store.s3 import _RangeFile

    target = _RangeFile(os.open(tmp_path / "a", os.O_WRONLY | os.O_CREAT), 100)
    target.write_at(b"x" * 10, 90)
    with pytest.raises(ValueError, match="outside the object"):
        target.write_at(b"x" * 11, 90)
    target.close()
    other = os.open(tmp_path / "b", os.O_WRONLY | os.O_CREAT)  # most likely the same number
    try:
        with pytest.raises(ValueError, match="after it was closed"):
            target.write_at(b"late", 0)
    finally:
        os.close(other)
    assert (tmp_path / "b").read_bytes() == b""
    assert (tmp_path / "a").read_bytes() == b"\0" * 90 + b"x" * 10
