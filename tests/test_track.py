from __future__ import annotations

from conftest import Repo, random_bytes

from git_data import pointer


def test_track_writes_attributes_and_lists(repo: Repo) -> None:
    repo.data("track", "*.csv", "models/**")
    lines = (repo.path / ".gitattributes").read_text().splitlines()
    assert "*.csv filter=data diff=data merge=data -text" in lines
    assert "models/** filter=data diff=data merge=data -text" in lines
    listed = repo.data("track").stdout.split()
    assert "*.csv" in listed and "models/**" in listed and "*.bin" in listed
    repo.data("track", "*.csv")  # twice: no duplicate line
    assert (repo.path / ".gitattributes").read_text().count("*.csv ") == 1


def test_untrack_then_add_stores_plain_again(repo: Repo) -> None:
    repo.write("x.bin", b"abc" * 1000)
    repo.commit_all()
    assert pointer.parse(repo.git("show", "HEAD:x.bin").stdout.encode()) is not None
    repo.data("untrack", "*.bin")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "plain")
    assert repo.git("show", "HEAD:x.bin").stdout == "abc" * 1000


def test_untrack_unknown_pattern_errors(repo: Repo) -> None:
    proc = repo.data("untrack", "*.nothing", check=False)
    assert proc.returncode == 1 and "*.nothing" in proc.stderr


def test_track_existing_plain_file_converts_on_next_add(repo: Repo) -> None:
    repo.write("old.dat", b"q" * 5000)
    repo.commit_all()
    assert repo.git("show", "HEAD:old.dat").stdout == "q" * 5000
    repo.data("track", "*.dat")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "track")
    assert pointer.parse(repo.git("show", "HEAD:old.dat").stdout.encode()) is not None


def test_add_tracks_exact_paths_with_special_characters(repo: Repo) -> None:
    content = random_bytes(4000, seed=1)
    repo.write("odd [1] *star.txt", content)
    repo.write("other [1] Xstar.txt", b"plain")
    repo.data("add", "odd [1] *star.txt")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "x")
    staged = repo.git("show", "HEAD:odd [1] *star.txt").stdout.encode()
    assert pointer.parse(staged) is not None
    assert repo.git("show", "HEAD:other [1] Xstar.txt").stdout == "plain"


def test_add_folder(repo: Repo) -> None:
    repo.write("images/a.png", b"\x89PNG" + b"0" * 100)
    repo.write("images/sub/b.png", b"\x89PNG" + b"1" * 100)
    repo.data("add", "images")
    staged = repo.git("diff", "--cached", "--name-only").stdout.split()
    assert {"images/a.png", "images/sub/b.png", ".gitattributes"} <= set(staged)
    assert pointer.parse(repo.git("show", ":images/sub/b.png").stdout.encode()) is not None


def test_diff_shows_object_change(repo: Repo) -> None:
    repo.write("data/a.bin", b"one" * 1000)
    repo.commit_all()
    repo.write("data/a.bin", b"two" * 1001)
    diff = repo.git("diff").stdout
    assert "-size 3000" in diff and "+size 3003" in diff


def test_merge_of_data_files(repo: Repo) -> None:
    repo.write("data/a.bin", b"base" * 100)
    repo.commit_all("base")
    repo.git("switch", "-qc", "side")
    repo.write("data/a.bin", b"side" * 100)
    repo.commit_all("side")
    repo.git("switch", "-q", "main")
    repo.write("data/b.bin", b"main" * 100)
    repo.commit_all("main")
    repo.git("merge", "-q", "--no-edit", "side")  # one side changed: clean merge
    assert repo.read("data/a.bin") == b"side" * 100
    repo.write("data/a.bin", b"ours" * 100)
    repo.commit_all("ours")
    repo.git("switch", "-q", "side")
    repo.write("data/a.bin", b"theirs" * 100)
    repo.commit_all("theirs")
    repo.git("switch", "-q", "main")
    proc = repo.git("merge", "--no-edit", "side", check=False)
    assert proc.returncode != 0 and "data/a.bin" in proc.stdout + proc.stderr
    assert repo.read("data/a.bin") == b"ours" * 100  # ours kept, never conflict markers


def test_track_stages_attributes_and_warns_until_committed(repo: Repo) -> None:
    proc = repo.data("track", "*.csv")
    staged = repo.git("diff", "--cached", "--name-only").stdout.split()
    assert ".gitattributes" in staged
    warning = [line for line in proc.stderr.splitlines() if "not committed" in line]
    assert len(warning) == 1 and "staged but not committed" in warning[0], proc.stderr
    assert "not committed" in repo.data("track").stderr  # the listing says so too
    repo.git("commit", "-q", "-m", "attributes")
    assert repo.git("status", "--porcelain").stdout == ""
    listed = repo.data("track")
    assert "*.csv" in listed.stdout and "not committed" not in listed.stderr
    untracked = repo.data("untrack", "*.csv")
    assert "staged but not committed" in untracked.stderr
    assert ".gitattributes" in repo.git("diff", "--cached", "--name-only").stdout
