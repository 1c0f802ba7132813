"""Faults of the machine, not of the input: a full disk, a read-only cache, a file-size
limit, out of memory. Each gives one line naming what failed and what to do, a non-zero
exit, nothing partial, and the same command finishes once the fault is gone.

The disk faults are real: a small tmpfs (ENOSPC) and a tmpfs remounted read-only (EROFS),
mounted by the test when it may (root, mount permitted; skipped otherwise), since chmod
does not stop root from writing. The file-size limit (RLIMIT_FSIZE, EFBIG) needs no
privilege and runs everywhere. Out of memory cannot be caused reliably, so the CLI's
handling of MemoryError is exercised by raising it from the command it runs.
"""

from __future__ import annotations

import errno
import io
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Repo, random_bytes

from git_data import hashing, pointer
from git_data.cli import main as cli_main
from git_data.filter.pktline import PktReader

Mount = Callable[[Path, str], Path]


@pytest.fixture
def tmpfs() -> Iterator[Mount]:
    """mount(dir, options): a tmpfs at ``dir``; the test is skipped where it may not mount."""
    mounted: list[Path] = []

    def mount(where: Path, options: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def leftovers(folder: Path) -> list[Path]:
    """Files under ``folder``: objects, temporaries, anything half-written."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def one_git_data_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("git-data:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_clean_on_a_full_disk_fails_that_file_and_finishes_later(repo: Repo, tmp_path: Path,
                                                                  tmpfs: Mount) -> None:
    cache = tmpfs(tmp_path / "cache", "size=1m")
    repo.git("config", "data.cacheDir", str(cache))
    content = random_bytes(3 << 20, seed=1)
    repo.write("data/big.bin", content)
    proc = repo.git("add", "data/big.bin", check=False)
    assert proc.returncode != 0
    line = one_git_data_line(proc.stderr)
    assert "data/big.bin" in line and "no space left" in line and "again" in line
    assert "data/big.bin" in proc.stderr.split(line)[-1]  # git names the path too
    assert leftovers(cache) == []  # no partial object, no temporary
    assert repo.git("ls-files", "data/big.bin").stdout == ""
    remount(cache, "size=16m")
    repo.git("add", "data/big.bin")
    staged = pointer.parse(repo.git("show", ":data/big.bin").stdout.encode())
    assert staged == pointer.Pointer(hashing.hash_bytes(content), len(content))
    assert [p.name for p in leftovers(cache)] == [staged.hex]


def test_clean_with_a_read_only_cache_says_so(repo: Repo, tmp_path: Path,
                                              tmpfs: Mount) -> None:
    cache = tmpfs(tmp_path / "cache", "size=8m")
    repo.git("config", "data.cacheDir", str(cache))
    remount(cache, "ro")
    with pytest.raises(OSError) as refused:  # what this proves: even root cannot write here
        (cache / "probe").write_bytes(b"x")
    assert refused.value.errno == errno.EROFS
    repo.write("data/a.bin", random_bytes(10_000, seed=2))
    proc = repo.git("add", "data/a.bin", check=False)
    assert proc.returncode != 0
    line = one_git_data_line(proc.stderr)
    assert "data/a.bin" in line and "read-only file system" in line and "data.cacheDir" in line
    status = repo.git("status", "--porcelain", check=False)  # git itself goes on
    assert status.returncode == 0 and "data/" in status.stdout
    remount(cache, "rw")
    repo.git("add", "data/a.bin")
    assert len(leftovers(cache / "objects")) == 1


def _fsize_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def pkt(text: bytes) -> bytes:
    return b"%04x" % (len(text) + 4) + text


def clean_request(path: str, content: bytes) -> bytes:
    body = b"".join(pkt(content[i:i + 65516]) for i in range(0, len(content), 65516))
    return (pkt(b"command=clean\n") + pkt(f"pathname={path}\n".encode()) + b"0000"
            + body + b"0000")


def test_filter_answers_error_for_one_file_and_serves_the_next(repo: Repo) -> None:
    """Over the file-size limit (EFBIG, no privilege needed): status=error for that file,
    one line, and the same process cleans the next file."""
    small = b"small content\n" * 100
    request = (pkt(b"git-filter-client\n") + pkt(b"version=2\n") + b"0000"
               + pkt(b"capability=clean\n") + b"0000"
               + clean_request("data/big.bin", random_bytes(3 << 20, seed=3))
               + clean_request("data/small.bin", small))
    proc = subprocess.run(["git-data", "filter-process"], cwd=repo.path, input=request,
                          capture_output=True, preexec_fn=_fsize_limit(1 << 20))
    assert proc.returncode == 0, proc.stderr
    line = one_git_data_line(proc.stderr.decode())
    assert "data/big.bin" in line and "too large" in line
    reader = PktReader(io.BytesIO(proc.stdout))
    assert reader.read_text_list() == ["git-filter-server", "version=2"]
    assert reader.read_text_list() == ["capability=clean"]
    assert reader.read_text_list() == ["status=error"]
    assert reader.read_text_list() == ["status=success"]
    assert pointer.parse(b"".join(reader.iter_content())) == pointer.Pointer(
        hashing.hash_bytes(small), len(small))
    assert reader.read_text_list() == []
    assert [p.name for p in repo.cache_objects()] == [hashing.hash_bytes(small).split(":")[1]]


def test_git_add_over_the_file_size_limit_is_one_line(repo: Repo) -> None:
    repo.write("data/big.bin", random_bytes(3 << 20, seed=4))
    proc = subprocess.run(["git", "add", "data/big.bin"], cwd=repo.path, capture_output=True,
                          text=True, preexec_fn=_fsize_limit(1 << 20))
    assert proc.returncode != 0
    line = one_git_data_line(proc.stderr)
    assert "data/big.bin" in line and "ulimit" in line
    assert repo.cache_objects() == [] and leftovers(repo.cache) == []


def test_clone_on_a_full_disk_is_one_line_and_pull_finishes(team: tuple[Repo, Path],
                                                           tmp_path: Path,
                                                           tmpfs: Mount) -> None:
    repo, bare = team
    files = {"data/big.bin": random_bytes(3 << 20, seed=5), "data/small.bin": b"s" * 5000}
    for name, content in files.items():
        repo.write(name, content)
    repo.commit_all()
    repo.git("push", "-q", "origin", "main")
    disk = tmpfs(tmp_path / "disk", "size=4m")
    clone = Repo(disk / "clone")
    proc = repo.data("clone", str(bare), str(clone.path), check=False)
    assert proc.returncode != 0
    line = one_git_data_line(proc.stderr)
    assert "no space left" in line and "git data pull" in line
    assert not [p for p in disk.rglob("*") if p.name.endswith(".git-data-tmp")]
    for name, content in files.items():  # each file whole or still its pointer, never half
        data = clone.read(name)
        assert data == content or pointer.parse(data) is not None, name
    remount(disk, "size=32m")
    clone.data("pull")
    assert all(clone.read(n) == c for n, c in files.items())
    assert clone.git("status", "--porcelain").stdout == ""


def test_memory_error_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], repo: Repo) -> None:
    from git_data import cli
    from git_data.commands import status

    def exhausted(*_: object, **__: object) -> int:
        raise MemoryError

    monkeypatch.setattr(cli, "_plumbing", lambda args: exhausted)
    assert cli_main(["filter-process"]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "git-data: git data filter-process failed")
    monkeypatch.undo()
    monkeypatch.setattr(status, "status", exhausted)
    monkeypatch.chdir(repo.path)
    assert cli_main(["status"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "git data status failed" in err[0] and "out of memory" in err[0]


@pytest.mark.parametrize("code,words", [
    (errno.ENOSPC, "no space left"), (errno.EDQUOT, "quota"), (errno.EROFS, "read-only"),
    (errno.EACCES, "permission denied"), (errno.EFBIG, "too large")])
def test_fault_message_names_the_path_and_what_to_do(code: int, words: str) -> None:
    from git_data.cli import fault_message

    text = fault_message(OSError(code, os.strerror(code), "/some/file"))
    assert words in text and "/some/file" in text and "again" in text
    assert "\n" not in text


def test_other_os_errors_are_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError that is no fault of the machine (a bug) is not turned into advice."""
    from git_data import cli

    def broken() -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(cli, "_plumbing", lambda args: broken)
    with pytest.raises(OSError):
        cli_main(["filter-process"])
