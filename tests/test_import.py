"""`git data import lfs` and `git data import dvc` against real git-lfs and DVC repositories
made here (git-lfs from the system, `apt-get install git-lfs`; DVC from the test extra)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo, random_bytes


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    beside = Path(sys.executable).parent / name
    return found or (str(beside) if beside.is_file() else None)


LFS = _tool("git-lfs")
DVC = _tool("dvc")
needs_lfs = pytest.mark.skipif(LFS is None, reason="git-lfs is not installed (make apt)")
HAS_YAML = importlib.util.find_spec("yaml") is not None
needs_yaml = pytest.mark.skipif(not HAS_YAML, reason="PyYAML (a dependency) is not installed")
needs_dvc = pytest.mark.skipif(DVC is None or not HAS_YAML,
                               reason="dvc or PyYAML is not installed (pip install .[test])")

FILES = {"a.bin": random_bytes(3 << 20, 1), "data/b.bin": random_bytes(5000, 2),
         "data/deep/c.bin": b"small\n", "readme.txt": b"plain text, not lfs\n"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lfs_repo(path: Path, files: dict[str, bytes] = FILES) -> Repo:
    path.mkdir(parents=True)
    repo = Repo(path)
    repo.git("init", "-q")
    repo.git("lfs", "install", "--local")
    repo.git("lfs", "track", "*.bin")
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all("lfs data")
    assert "version https://git-lfs" in repo.git("show", "HEAD:a.bin").stdout
    return repo


def _tree_blobs(repo: Repo, rev: str = "HEAD") -> dict[str, str]:
    out = repo.git("ls-tree", "-r", "-z", "--name-only", rev).stdout.split("\0")
    return {p: repo.git("show", f"{rev}:{p}").stdout for p in out if p}


def _assert_files(repo: Repo, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        assert repo.read(name) == content, name


def _clone_and_check(tmp_path: Path, repo: Repo, files: dict[str, bytes]) -> Repo:
    bare = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "team", str(bare))
    repo.git("push", "-q", "team", "HEAD:refs/heads/main", env={"GIT_LFS_SKIP_PUSH": "1"})
    Repo(tmp_path).data("clone", str(bare), "fresh")
    clone = Repo(tmp_path / "fresh")
    _assert_files(clone, files)
    assert clone.git("status", "--porcelain").stdout == ""
    return clone


@needs_lfs
def test_lfs_import_makes_one_commit_with_git_data_pointers(tmp_path: Path) -> None:
    repo = _lfs_repo(tmp_path / "repo")
    before = repo.git("rev-parse", "HEAD").stdout.strip()
    repo.data("install")
    proc = repo.data("import", "lfs")
    assert "imported 3 file(s)" in proc.stderr and f"{(3 << 20) + 5006} bytes" in proc.stderr
    assert repo.git("rev-parse", "HEAD~1").stdout.strip() == before
    _assert_files(repo, FILES)
    assert repo.git("status", "--porcelain").stdout == ""
    blobs = _tree_blobs(repo)
    assert blobs[".gitattributes"] == "*.bin filter=data diff=data merge=data -text\n"
    for name in ("a.bin", "data/b.bin", "data/deep/c.bin"):
        assert blobs[name].startswith("version git-data/1\noid xxh128:"), name
        assert blobs[name].endswith(f"size {len(FILES[name])}\n")
    assert blobs["readme.txt"] == FILES["readme.txt"].decode()
    # the old commit keeps its git-lfs pointers; a second run has nothing left to do
    assert "git-lfs" in repo.git("show", f"{before}:a.bin").stdout
    again = repo.data("import", "lfs")
    assert "nothing to import" in again.stderr
    assert repo.git("rev-parse", "HEAD~1").stdout.strip() == before
    _clone_and_check(tmp_path, repo, FILES)


@needs_lfs
def test_lfs_rewrite_everything_keeps_sha256_oids(tmp_path: Path) -> None:
    repo = _lfs_repo(tmp_path / "repo")
    repo.git("tag", "v1")
    repo.git("checkout", "-q", "-b", "side")
    side = {"side.bin": random_bytes(70_000, 3), 'data/ünï "code".bin': b"quoted\n"}
    for name, content in side.items():
        repo.write(name, content)
    repo.commit_all("side data\n\nwith a body")
    repo.git("checkout", "-q", "main")
    count = repo.git("rev-list", "--count", "--all").stdout
    repo.data("install")
    repo.data("import", "lfs", "--rewrite", "--everything", "--keep-sha256")
    assert repo.git("rev-list", "--count", "--all").stdout == count
    assert repo.git("log", "-1", "--format=%B", "side").stdout == "side data\n\nwith a body\n\n"
    _assert_files(repo, FILES)
    assert repo.git("status", "--porcelain").stdout == ""
    for rev in ("main", "v1", "side", "side~1"):
        blobs = _tree_blobs(repo, rev)
        assert "filter=lfs" not in blobs[".gitattributes"]
        for name, content in {**FILES, **side}.items():
            if name.endswith(".bin") and name in blobs:
                assert blobs[name] == (f"version git-data/1\noid sha256:{_sha256(content)}\n"
                                       f"size {len(content)}\n"), (rev, name)
    head = repo.git("rev-parse", "HEAD").stdout
    repo.data("import", "lfs", "--rewrite", "--everything", "--keep-sha256")
    assert repo.git("rev-parse", "HEAD").stdout == head  # nothing left: the same commits
    repo.git("checkout", "-q", "side")
    _assert_files(repo, side)


@needs_lfs
def test_lfs_objects_missing_locally_are_fetched(tmp_path: Path) -> None:
    origin = _lfs_repo(tmp_path / "origin")
    bare = tmp_path / "lfs.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    origin.git("push", "-q", bare.as_uri(), "main")
    assert list((bare / "lfs" / "objects").rglob("*"))  # git-lfs pushed its objects there
    Repo(tmp_path).git("clone", "-q", bare.as_uri(), "copy", env={"GIT_LFS_SKIP_SMUDGE": "1"})
    copy = Repo(tmp_path / "copy")
    assert not [p for p in (copy.path / ".git" / "lfs").rglob("*") if p.is_file()
                and "objects" in p.parts]
    copy.git("lfs", "install", "--local")
    copy.data("install")
    proc = copy.data("import", "lfs")
    assert "git lfs fetch" in proc.stderr
    _assert_files(copy, FILES)


@needs_lfs
def test_lfs_corrupt_object_is_refused_by_name_then_rerun_finishes(tmp_path: Path) -> None:
    repo = _lfs_repo(tmp_path / "repo")
    repo.data("install")
    oid = _sha256(FILES["data/b.bin"])
    obj = repo.path / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    good = obj.read_bytes()
    os.chmod(obj, 0o644)
    obj.write_bytes(b"X" + good[1:])
    head = repo.git("rev-parse", "HEAD").stdout
    proc = repo.data("import", "lfs", check=False)
    assert proc.returncode == 1
    assert oid in proc.stderr and "corrupt" in proc.stderr and "data/b.bin" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert repo.git("rev-parse", "HEAD").stdout == head
    obj.write_bytes(good)
    repo.data("import", "lfs")
    _assert_files(repo, FILES)
    assert repo.git("status", "--porcelain").stdout == ""


@needs_lfs
def test_import_refuses_a_dirty_work_tree(tmp_path: Path) -> None:
    repo = _lfs_repo(tmp_path / "repo")
    repo.data("install")
    repo.write("readme.txt", b"edited\n")
    proc = repo.data("import", "lfs", check=False)
    assert proc.returncode == 1 and "readme.txt" in proc.stderr and "commit or stash" in (
        proc.stderr)
    assert repo.read("readme.txt") == b"edited\n"
    proc = repo.data("import", "lfs", "main", check=False)
    assert proc.returncode != 0 and "--rewrite" in proc.stderr


# ----- DVC ----------------------------------------------------------------------------------
def _dvc(repo: Repo, *args: str) -> None:
    assert DVC is not None
    repo.run(DVC, *args, env={"DVC_NO_ANALYTICS": "1"})


def _dvc_repo(path: Path) -> tuple[Repo, dict[str, bytes]]:
    path.mkdir(parents=True)
    repo = Repo(path)
    repo.git("init", "-q")
    _dvc(repo, "init", "-q")
    files = {"table.csv": b"a,b\r\n1,2\r\n" * 1000, "images/1.png": random_bytes(40_000, 4),
             "images/sub/2.png": random_bytes(9_000, 5), "images/empty": b""}
    for name, content in files.items():
        repo.write(name, content)
    _dvc(repo, "add", "-q", "table.csv", "images")
    repo.write("dvc.yaml", b"stages:\n  copy:\n    cmd: cp table.csv out.csv\n    deps:\n"
               b"    - table.csv\n    outs:\n    - out.csv\n")
    _dvc(repo, "repro", "-q")
    files["out.csv"] = files["table.csv"]
    repo.commit_all("dvc data")
    return repo, files


@needs_dvc
def test_dvc_import_tracks_outputs_as_git_data_files(tmp_path: Path) -> None:
    repo, files = _dvc_repo(tmp_path / "repo")
    repo.data("install")
    proc = repo.data("import", "dvc")
    assert "imported 5 file(s)" in proc.stderr
    _assert_files(repo, files)
    assert repo.git("status", "--porcelain").stdout == ""
    blobs = _tree_blobs(repo)
    assert "table.csv.dvc" not in blobs and "images.dvc" not in blobs
    assert ".gitignore" not in blobs  # it held only DVC's lines
    assert sorted(blobs[".gitattributes"].splitlines()) == [
        f"/{p} filter=data diff=data merge=data -text"
        for p in ("images/**", "out.csv", "table.csv")]
    for name in ("table.csv", "images/1.png", "images/sub/2.png", "out.csv"):
        assert blobs[name].startswith("version git-data/1\n"), name
    assert blobs["images/empty"] == ""
    assert "nothing to import" in repo.data("import", "dvc").stderr
    _clone_and_check(tmp_path, repo, files)


@needs_dvc
def test_dvc_objects_missing_from_the_cache_are_fetched(tmp_path: Path) -> None:
    repo, files = _dvc_repo(tmp_path / "repo")
    _dvc(repo, "remote", "add", "-d", "store", str(tmp_path / "dvcstore"))
    repo.commit_all("remote")
    _dvc(repo, "push", "-q")
    shutil.rmtree(repo.path / ".dvc" / "cache")
    repo.data("install")
    proc = repo.data("import", "dvc")
    assert "dvc fetch" in proc.stderr
    _assert_files(repo, files)


@needs_dvc
def test_dvc_corrupt_object_is_refused_by_name(tmp_path: Path) -> None:
    repo, files = _dvc_repo(tmp_path / "repo")
    repo.data("install")
    md5 = hashlib.md5(files["images/1.png"]).hexdigest()
    obj = repo.path / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"Y" + obj.read_bytes()[1:])
    proc = repo.data("import", "dvc", check=False)
    assert proc.returncode == 1 and md5 in proc.stderr and "corrupt" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (repo.path / "images.dvc").exists()


@needs_yaml
def test_dvc2_layout_and_crlf_md5_are_read(tmp_path: Path) -> None:
    """A DVC 2 repository, made by hand as DVC 2 leaves it: objects at .dvc/cache/ab/cdef…,
    no ``hash: md5`` field, and a text file's md5 taken with CR LF read as LF."""
    repo = Repo(tmp_path / "repo")
    repo.path.mkdir()
    repo.git("init", "-q")
    text = b"x,y\r\n" * 500
    md5 = hashlib.md5(text.replace(b"\r\n", b"\n")).hexdigest()
    repo.write(".dvc/config", b"")
    repo.write(f".dvc/cache/{md5[:2]}/{md5[2:]}", text)
    repo.write("t.csv.dvc", f"outs:\n- md5: {md5}\n  size: {len(text)}\n  path: t.csv\n".encode())
    repo.write(".gitignore", b"/t.csv\n/other\n")
    repo.commit_all("dvc 2")
    repo.data("install")
    repo.data("import", "dvc")
    assert repo.read("t.csv") == text
    assert repo.read(".gitignore") == b"/other\n"
    assert not (repo.path / "t.csv.dvc").exists()


@needs_yaml
@pytest.mark.parametrize("path", ["../outside", "/etc/passwd", "a/../../b"])
def test_dvc_paths_that_leave_the_repository_are_refused(tmp_path: Path, path: str) -> None:
    repo = Repo(tmp_path / "repo")
    repo.path.mkdir()
    repo.git("init", "-q")
    repo.write("x.dvc", f"outs:\n- md5: {'ab' * 16}\n  size: 1\n  hash: md5\n  path: {path}\n"
               .encode())
    repo.commit_all("evil")
    repo.data("install")
    proc = repo.data("import", "dvc", check=False)
    assert proc.returncode == 1 and "refusing path" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "outside").exists()


def test_lfs_attribute_lines_become_git_data_lines() -> None:
    from git_data.importing import rewrite_lfs_attributes

    text = (b"# comment filter=lfs\r\n*.bin filter=lfs diff=lfs merge=lfs -text\r\n"
            b'"my data/*.psd" filter=lfs diff=lfs merge=lfs lockable\n*.txt text\n')
    assert rewrite_lfs_attributes(text) == (
        b"# comment filter=lfs\r\n*.bin filter=data diff=data merge=data -text\r\n"
        b'"my data/*.psd" filter=data diff=data merge=data -text\n*.txt text\n')
    assert rewrite_lfs_attributes(rewrite_lfs_attributes(text)) == rewrite_lfs_attributes(text)


def test_dvc2_md5_ignores_cr_before_lf_across_chunks() -> None:
    from git_data.importing.dvc import _LegacyMd5

    data = b"a\r\nb\r\n\r"
    want = hashlib.md5(data.replace(b"\r\n", b"\n")).hexdigest()
    hasher = _LegacyMd5(want)
    for piece in (b"a\r", b"\nb\r", b"\n\r"):  # every CR LF split across two chunks
        hasher.update(piece)
    assert hasher.hexdigest() == want
    raw = _LegacyMd5(hashlib.md5(data).hexdigest())
    raw.update(data)
    assert raw.hexdigest() == hashlib.md5(data).hexdigest()


@needs_lfs
def test_lfs_import_killed_after_its_commit_is_finished_by_a_rerun(tmp_path: Path) -> None:
    """The state a run killed right after moving the branch leaves: HEAD is the new commit,
    the index and the work tree are still the old one's, and the marker says so."""
    repo = _lfs_repo(tmp_path / "repo")
    repo.data("install")
    old = repo.git("rev-parse", "HEAD").stdout.strip()
    old_attributes = repo.read(".gitattributes")
    repo.data("import", "lfs")
    new = repo.git("rev-parse", "HEAD").stdout.strip()
    repo.write(".gitattributes", old_attributes)
    repo.git("read-tree", old)
    marker = repo.path / ".git" / "data" / "import-pending"
    marker.write_text(f'{{"kind": "git-lfs", "old": "{old}", "new": "{new}"}}')
    assert repo.git("status", "--porcelain").stdout != ""
    proc = repo.data("import", "lfs")
    assert "finishing the import" in proc.stderr and "imported 3 file(s)" in proc.stderr
    assert repo.git("rev-parse", "HEAD").stdout.strip() == new
    assert repo.git("status", "--porcelain").stdout == ""
    assert not marker.exists()
    _assert_files(repo, FILES)


@needs_yaml
def test_dvc_output_under_a_committed_symlink_is_never_written_through(tmp_path: Path) -> None:
    """A .dvc file whose output lies under a committed symlink to a folder outside, and a
    committed DVC cache that is a symlink: nothing is read or written through either (the
    output's folder replaces the link, as in a checkout of the new tree)."""
    outside = tmp_path / "outside"
    (outside / "cache" / "ab").mkdir(parents=True)
    content = b"planted\n"
    md5 = hashlib.md5(content).hexdigest()
    (outside / "cache" / md5[:2]).mkdir(exist_ok=True)
    (outside / "cache" / md5[:2] / md5[2:]).write_bytes(content)
    repo = Repo(tmp_path / "repo")
    repo.path.mkdir()
    repo.git("init", "-q")
    (repo.path / "link").symlink_to(outside)
    (repo.path / ".dvc").mkdir()
    (repo.path / ".dvc" / "cache").symlink_to(outside / "cache")
    repo.write("x.dvc", f"outs:\n- md5: {md5}\n  size: {len(content)}\n  hash: md5\n"
               "  path: link/file\n".encode())
    repo.commit_all("evil")
    repo.data("install")
    proc = repo.data("import", "dvc", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"md5 {md5} (link/file, from x.dvc) is not in .dvc/cache" in proc.stderr
    assert not (outside / "file").exists()
    (repo.path / ".dvc" / "cache").unlink()  # now a real cache: the symlinked folder stays
    repo.write(f".dvc/cache/{md5[:2]}/{md5[2:]}", content)
    repo.write(".dvc/.gitignore", b"/cache\n")
    repo.commit_all("a real cache")
    repo.data("import", "dvc")  # the output replaces the link, as a checkout would
    assert not (repo.path / "link").is_symlink() and repo.read("link/file") == content
    assert not (outside / "file").exists()
    assert repo.git("status", "--porcelain").stdout == ""


@needs_lfs
def test_lfs_rewrite_of_the_current_branch_leaves_other_branches(tmp_path: Path) -> None:
    repo = _lfs_repo(tmp_path / "repo")
    repo.git("checkout", "-q", "-b", "side")
    repo.write("side.bin", b"side\n")
    repo.commit_all("side")
    repo.git("checkout", "-q", "main")
    # a pointer committed under a path no filter=lfs line covers stays as it is
    stray = repo.git("show", "HEAD:data/b.bin").stdout.encode()
    repo.write("notes/pointer.txt", stray)
    repo.commit_all("a pointer as plain text")
    repo.data("install")
    proc = repo.data("import", "lfs", "--rewrite", "nosuchbranch", check=False)
    assert proc.returncode == 1 and "nosuchbranch" in proc.stderr
    repo.data("import", "lfs", "--rewrite")
    assert "git-data/1" in repo.git("show", "main~1:a.bin").stdout
    assert "git-lfs" in repo.git("show", "side:a.bin").stdout
    assert repo.read("notes/pointer.txt") == stray
    assert repo.git("show", "HEAD:notes/pointer.txt").stdout.encode() == stray
    _assert_files(repo, FILES)
    assert repo.git("status", "--porcelain").stdout == ""


@needs_lfs
def test_lfs_pointer_outside_lfs_patterns_is_left_alone(tmp_path: Path) -> None:
    repo = _lfs_repo(tmp_path / "repo")
    stray = repo.git("show", "HEAD:data/b.bin").stdout.encode()
    repo.write("notes/pointer.txt", stray)
    repo.commit_all("a pointer as plain text")
    repo.data("install")
    proc = repo.data("import", "lfs")
    assert "notes/pointer.txt" in proc.stderr and "left as it is" in proc.stderr
    assert repo.read("notes/pointer.txt") == stray
    assert repo.git("show", "HEAD:notes/pointer.txt").stdout.encode() == stray
    assert repo.git("status", "--porcelain").stdout == ""
