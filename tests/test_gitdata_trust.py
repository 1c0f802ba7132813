"""A committed ``.gitdata`` is untrusted input (part of the malicious-repository tests).

Every key it may not set is ignored with one warning naming the key and its line, and the
test shows it had no effect: no command run, no cache or store moved, no endpoint or folder
used that the user's own git config does not trust. Every ``.gitdata`` mistake (a syntax
error, an empty or relative store URL, a missing store folder, a default naming nothing, a
link) is one line naming ``.gitdata`` and nothing moves. ``data.requireHash`` (the user's
own config only) refuses pointers that are not sha256 on every read path.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import Repo, make_repo, random_bytes

from git_data import config as config_module
from git_data import pointer
from git_data.config import Config, endpoint_key
from git_data.errors import FatalError
from git_data.gitrepo import Repo as GitRepo
from git_data.store.remotes import configured

DATA = random_bytes(5_000, seed=14)


def gitdata_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("git-data: .gitdata")]


def one_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The command failed with exactly one line on stderr, holding every fragment."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def remotes_json(repo: Repo) -> tuple[dict[str, dict[str, object]], list[str]]:
    proc = repo.data("remote", "list", "--json")
    return {r["name"]: r for r in json.loads(proc.stdout)}, gitdata_warnings(proc.stderr)


def store_objects(folder: Path) -> list[Path]:
    objects = folder / "objects"
    return [p for p in objects.rglob("*") if p.is_file()] if objects.exists() else []


def committed(team: tuple[Repo, Path]) -> tuple[Repo, Path]:
    """``team`` with data/a.bin committed (not pushed) and the git remote as its store."""
    repo, bare = team
    repo.write("data/a.bin", DATA)
    repo.commit_all("data")
    return repo, bare


# ----- refused keys: one warning each, and provably no effect ----------------------------
REFUSED = [
    ("[data]\n\tcacheDir = /tmp/elsewhere\n", "data.cachedir", 2),
    ("[data]\n\tsshCommand = /tmp/evil.sh\n", "data.sshcommand", 2),
    ("[core]\n\tsshCommand = /tmp/evil.sh\n", "core.sshcommand", 2),
    ('[host "gpu"]\n\turl = ssh://me@gpu.example\n\tpython = /tmp/evil.sh\n',
     "host.gpu.python", 3),
    ('[host "local"]\n\tworkdir = /tmp/elsewhere\n', "host.local.workdir", 2),
    ('[host "box"]\n\turl = local\n', "host.box.url", 2),
    ('[remote "origin"]\n\turl = s3://b/p\n\taccessKeyId = AKIAEXAMPLE\n',
     "remote.origin.accesskeyid", 3),
    ('[remote "origin"]\n\turl = s3://b/p\n\tendpointUrl = http://127.0.0.1:9\n',
     "remote.origin.endpointurl", 3),
    ('[data "remote.origin"]\n\turl = file:///tmp/elsewhere\n', "data.remote.origin.url", 2),
    ('[data "s3"]\n\tdirectRequests = false\n', "data.s3.directrequests", 2),
    ("[data]\n\ttrustedEndpoint = http://127.0.0.1:9\n", "data.trustedendpoint", 2),
    ("[data]\n\ttrustedPath = /\n", "data.trustedpath", 2),
    ("[data]\n\trequireHash = sha256\n", "data.requirehash", 2),
    ("[data]\n\ttransfers = 100000\n", "data.transfers", 2),
    ("[include]\n\tpath = /etc/gitconfig\n", "include.path", 2),
    ('[remote "origin"]\n\turl = memory://x\n', "remote.origin.url", 2),
    ('[remote "origin"]\n\turl = sftp://evil.example/x\n', "remote.origin.url", 2),
    ('[remote "origin"]\n\turl = http://evil.example/x\n', "remote.origin.url", 2),
    ('[remote "origin"]\n\turl = simplecache::s3://b/p\n', "remote.origin.url", 2),
    ('[remote "origin"]\n\turl = evil.example:/srv/x\n', "remote.origin.url", 2),
    ('[remote "origin"]\n\turl = file:///tmp\n', "remote.origin.url", 2),
]


@pytest.mark.parametrize("text,key,line", REFUSED, ids=[f"{k}-{n}" for n, (_, k, _) in
                                                       enumerate(REFUSED)])
def test_refused_key_is_one_warning_naming_it(repo: Repo, text: str, key: str,
                                               line: int, tmp_path: Path) -> None:
    (tmp_path / "included").write_text('[remote "origin"]\n\turl = s3://evil/p\n')
    repo.write(".gitdata", text.replace("/etc/gitconfig", str(tmp_path / "included")).encode())
    proc = repo.data("remote", "list")
    assert proc.returncode == 0
    warned = gitdata_warnings(proc.stderr)
    assert len(warned) == 1, proc.stderr
    assert warned[0].startswith(f"git-data: .gitdata line {line}: {key} ")
    assert warned[0].endswith("; ignored")
    assert proc.stdout.strip() in ("", "origin\ts3://b/p  (default)")  # nothing redirected


def test_warning_is_once_per_process(repo: Repo, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "_WARNED", set())
    repo.write(".gitdata", b"[data]\n\tcacheDir = /tmp/elsewhere\n\tremote = origin\n")
    for _ in range(3):
        assert Config(GitRepo(repo.path)).get("data.remote") == "origin"
    captured = capsys.readouterr()
    assert captured.out == ""  # never stdout: the filter's stdout is git's data channel
    assert len(gitdata_warnings(captured.err)) == 1


def test_cache_dir_from_gitdata_is_ignored(repo: Repo, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    repo.write(".gitdata", f"[data]\n\tcacheDir = {elsewhere}\n".encode())
    repo.write("data/a.bin", DATA)
    proc = repo.git("add", "data/a.bin")
    assert len(gitdata_warnings(proc.stderr)) == 1 and "data.cachedir" in proc.stderr
    assert not elsewhere.exists()
    assert len(repo.cache_objects()) == 1  # in .git/data, where the user's config says


@pytest.mark.parametrize("section", ["data", "core"])
def test_ssh_command_from_gitdata_never_runs(team: tuple[Repo, Path], tmp_path: Path,
                                             section: str) -> None:
    repo, _ = team
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    with socket.socket() as sock:  # a port nothing listens on: the real ssh fails at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    repo.write(".gitdata", (f'[host "gpu"]\n\turl = ssh://nobody@127.0.0.1:{port}\n'
                            f"[{section}]\n\tsshCommand = {script}\n").encode())
    repo.commit_all("hosts")
    proc = repo.data("run", "--host", "gpu", "--", "true", check=False)
    assert proc.returncode != 0
    assert not marker.exists(), proc.stderr
    warned = gitdata_warnings(proc.stderr)
    assert len(warned) == 1 and f"{section}.sshcommand" in warned[0], proc.stderr


def test_host_python_and_local_host_from_gitdata_are_ignored(repo: Repo) -> None:
    repo.write(".gitdata", b'[host "gpu"]\n\turl = ssh://me@gpu.example\n\tpython = /tmp/x\n'
                           b"\tworkdir = /srv/gd\n"
                           b'[host "local"]\n\tworkdir = /tmp/elsewhere\n'
                           b'[host "box"]\n\turl = local\n\tworkdir = /tmp/elsewhere\n')
    proc = repo.data("host", "list", "--json")
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"local", "gpu"}
    assert rows["gpu"]["python"] == "python3" and rows["gpu"]["workdir"] == "/srv/gd"
    assert rows["local"]["workdir"] == "~/.git-data"
    assert len(gitdata_warnings(proc.stderr)) == 3, proc.stderr  # box's workdir: moot


def test_host_add_keeps_python_out_of_gitdata(repo: Repo) -> None:
    repo.data("host", "add", "gpu", "ssh://me@gpu.example", "--python", "/opt/py")
    assert "python" not in (repo.path / ".gitdata").read_text()
    assert repo.git("config", "data.host.gpu.python").stdout.strip() == "/opt/py"


def test_endpoint_from_gitdata_needs_the_users_trust(repo: Repo) -> None:
    repo.write(".gitdata", b'[remote "origin"]\n\turl = s3://bucket/p\n'
                           b"\tendpointurl = http://127.0.0.1:9\n"
                           b"[data]\n\ttrustedEndpoint = http://127.0.0.1:9\n")
    rows, warned = remotes_json(repo)
    assert "endpointurl" not in rows["origin"]
    assert len(warned) == 2 and "git config --global --add data.trustedEndpoint" in warned[0]
    # Trust given for one command with `git -c` is the user's own too.
    proc = repo.git("-c", "data.trustedEndpoint=http://127.0.0.1:9", "data", "remote", "list",
                    "--json")
    assert json.loads(proc.stdout)[0]["endpointurl"] == "http://127.0.0.1:9"
    # The user's own trust, spelled another way, lets it through, with no warning.
    repo.git("config", "--global", "--add", "data.trustedEndpoint", "HTTP://127.0.0.1:9/")
    rows, warned = remotes_json(repo)
    assert rows["origin"]["endpointurl"] == "http://127.0.0.1:9" and len(warned) == 1
    # The user's own endpoint for the remote wins, and the committed one is not mentioned.
    repo.git("config", "data.remote.origin.endpointurl", "http://127.0.0.1:10")
    rows, warned = remotes_json(repo)
    assert rows["origin"]["endpointurl"] == "http://127.0.0.1:10"


@pytest.mark.parametrize("trusted,other,same", [
    ("http://127.0.0.1:9", "http://127.0.0.1:9/", True),
    ("http://Minio.Example", "http://minio.example:80", True),
    ("http://127.0.0.1:9", "http://127.0.0.1:90", False),
    ("http://127.0.0.1:9", "https://127.0.0.1:9", False),
    ("http://minio.example", "http://minio.example.evil.com", False),
])
def test_endpoints_compare_by_scheme_host_and_port(trusted: str, other: str,
                                                   same: bool) -> None:
    assert (endpoint_key(trusted) == endpoint_key(other)) is same
    assert endpoint_key("http://user:pw@minio.example") is None
    assert endpoint_key("file:///tmp") is None


def test_secrets_and_the_users_namespace_from_gitdata_are_ignored(repo: Repo) -> None:
    repo.write(".gitdata", b'[remote "origin"]\n\turl = s3://bucket/p\n'
                           b"\taccesskeyid = AKIAEXAMPLE\n\tsecretaccesskey = s3cret\n"
                           b'[data "remote.origin"]\n\turl = file:///tmp/elsewhere\n'
                           b"\tendpointurl = http://127.0.0.1:9\n")
    found = configured(Config(GitRepo(repo.path)))
    assert found["origin"].url == "s3://bucket/p"
    assert found["origin"].secrets == {} and found["origin"].options == {}
    rows, warned = remotes_json(repo)
    assert rows["origin"]["url"] == "s3://bucket/p" and len(warned) == 4


def test_user_only_keys_in_gitdata_keep_their_defaults(repo: Repo) -> None:
    repo.write(".gitdata", b"[data]\n\trequireHash = sha256\n\ttransfers = 100000\n"
                           b"\ttrustedPath = /\n\tmaxFileSize = 1KB\n")
    config = Config(GitRepo(repo.path))
    assert config.require_hash is None and config.get_int("data.transfers", 0) == 0
    assert not config.trusted_folder("/srv/anything")
    assert config.max_file_size == 1000  # a shared default .gitdata may set


def test_local_store_folder_needs_the_users_trust(team: tuple[Repo, Path],
                                                  tmp_path: Path) -> None:
    repo, bare = committed(team)
    store = tmp_path / "team-store"
    store.mkdir()
    repo.write(".gitdata", f'[remote "origin"]\n\turl = {store.as_uri()}\n'.encode())
    rows, warned = remotes_json(repo)
    assert "origin" not in rows or rows["origin"]["url"] != store.as_uri()
    assert len(warned) == 1 and "data.trustedPath" in warned[0]
    repo.data("push")
    assert store_objects(store) == []  # the embedded store of the user's own git remote
    repo.git("config", "--global", "--add", "data.trustedPath", str(tmp_path))
    proc = repo.data("push")
    assert gitdata_warnings(proc.stderr) == [] and len(store_objects(store)) == 1


def test_trusted_folder_cannot_be_left_with_dots(repo: Repo, tmp_path: Path) -> None:
    (tmp_path / "trusted").mkdir()
    repo.git("config", "--global", "--add", "data.trustedPath", str(tmp_path / "trusted"))
    escape = f"file://{tmp_path}/trusted/../elsewhere"
    repo.write(".gitdata", f'[remote "origin"]\n\turl = {escape}\n'.encode())
    rows, warned = remotes_json(repo)
    assert rows == {} and len(warned) == 1 and str(tmp_path / "elsewhere") in warned[0]


def test_store_under_the_users_git_remote_is_trusted(team: tuple[Repo, Path]) -> None:
    repo, bare = committed(team)
    (bare / "data").mkdir()
    repo.write(".gitdata", f'[remote "origin"]\n\turl = {(bare / "data").as_uri()}\n'.encode())
    proc = repo.data("push")
    assert gitdata_warnings(proc.stderr) == [] and len(store_objects(bare / "data")) == 1


def test_remote_add_trusts_what_its_user_typed(repo: Repo, tmp_path: Path) -> None:
    store = tmp_path / "new-store"
    repo.data("remote", "add", "origin", store.as_uri(), "--default")
    assert store.is_dir()  # made here, one level deep, by the user's own command
    rows, warned = remotes_json(repo)
    assert rows["origin"]["url"] == store.as_uri() and warned == []
    assert repo.git("config", "data.trustedPath").stdout.strip() == str(store)


# ----- .gitdata mistakes: one line naming the file and line, nothing moves ---------------
MISTAKES = [
    ("[remote\n\turl = x\n", ".gitdata line 1 is not valid git-config syntax"),
    ('[remote "origin"]\n\turl = "x\n', ".gitdata line 2 is not valid git-config syntax"),
    ("[data]\n\tremote = origin\n\tbad key = 1\n", ".gitdata line 3 is not valid"),
    ('[remote "origin"]\n\turl = team-data\n', ".gitdata line 2: remote.origin.url = "
     "'team-data' is not an absolute path"),
    ('[remote "origin"]\n\turl = ./team-data\n', ".gitdata line 2: remote.origin.url"),
    ('[remote "origin"]\n\turl = ~/team-data\n', ".gitdata line 2: remote.origin.url"),
    ('[remote "origin"]\n\turl = file://team-data\n', ".gitdata line 2: remote.origin.url"),
    ('[remote "origin"]\n\turl =\n', ".gitdata line 2: remote.origin.url is empty"),
    ('[remote "origin"]\n\turl\n', ".gitdata line 2: remote.origin.url is empty"),
    ('[remote "origin"]\n\turl = s3:///p\n', ".gitdata line 2: remote.origin.url"),
    ("[data]\n\tremote = orign\n", ".gitdata line 2: data.remote = 'orign' names no data"),
]


@pytest.mark.parametrize("text,message", MISTAKES)
def test_gitdata_mistake_is_one_line_and_nothing_moves(team: tuple[Repo, Path], text: str,
                                                       message: str) -> None:
    repo, bare = committed(team)
    repo.write(".gitdata", text.encode())  # in the work tree only: commit runs the filter
    (repo.path / "sub").mkdir()
    proc = subprocess.run(["git-data", "push"], cwd=repo.path / "sub", capture_output=True,
                          text=True)
    one_line(proc, message)
    assert store_objects(bare / "data") == []  # no detour to the embedded store
    assert not (repo.path / "sub" / "team-data").exists()
    assert not (repo.path / "team-data").exists()


def test_unsupported_hash_algorithm_names_its_line(repo: Repo) -> None:
    repo.write(".gitdata", b"[data]\n\tremote = origin\n\thashAlgorithm = md5\n")
    with pytest.raises(FatalError, match=r"^\.gitdata line 3: data\.hashAlgorithm = 'md5'"):
        _ = Config(GitRepo(repo.path)).hash_algorithm


def test_missing_store_folder_is_not_created(team: tuple[Repo, Path], tmp_path: Path) -> None:
    repo, bare = committed(team)
    repo.git("config", "--global", "--add", "data.trustedPath", str(tmp_path))
    missing = tmp_path / "typo" / "team-store"
    repo.write(".gitdata", f'[data]\n\tremote = origin\n[remote "origin"]\n\turl = '
                           f"{missing.as_uri()}\n".encode())
    one_line(repo.data("push", check=False), ".gitdata line 4: data remote origin is the "
             f"folder {missing}, which does not exist")
    assert not (tmp_path / "typo").exists() and store_objects(bare / "data") == []


def test_gitdata_link_is_refused(repo: Repo, tmp_path: Path) -> None:
    target = tmp_path / "target-config"
    target.write_text('[remote "origin"]\n\turl = s3://b/p\n')
    os.symlink(target, repo.path / ".gitdata")
    one_line(repo.data("remote", "list", check=False), ".gitdata is a symbolic link")
    for command in (["remote", "add", "x", "s3://b/q"], ["remote", "remove", "origin"],
                    ["host", "add", "gpu", "ssh://me@gpu.example"], ["host", "remove", "x"]):
        one_line(repo.data(*command, check=False), ".gitdata is a symbolic link")
    assert target.read_text() == '[remote "origin"]\n\turl = s3://b/p\n'


# ----- data.requireHash ------------------------------------------------------------------
def pushed_clone(team: tuple[Repo, Path], tmp_path: Path, algo: str = "xxh128") -> Repo:
    repo, bare = team
    repo.git("config", "data.hashAlgorithm", algo)
    repo.write("data/a.bin", DATA)
    repo.commit_all("data")
    repo.git("push", "-q", "origin", "HEAD:main")
    Repo(tmp_path).data("clone", "--no-data", str(bare), str(tmp_path / "clone"))
    return Repo(tmp_path / "clone")


def test_require_hash_refuses_xxh128_pointers_everywhere(team: tuple[Repo, Path],
                                                         tmp_path: Path) -> None:
    clone = pushed_clone(team, tmp_path)
    clone.git("config", "data.requireHash", "sha256")
    for command in (["pull"], ["fetch"]):
        one_line(clone.data(*command, check=False), "data/a.bin: pointer xxh128 is not "
                 "sha256, which data.requireHash demands")
        assert clone.cache_objects() == []
    assert pointer.parse(clone.read("data/a.bin")) is not None
    clone.git("config", "--unset", "data.requireHash")
    clone.data("fetch")  # the object is now in the cache, the file still a pointer
    clone.git("config", "data.requireHash", "sha256")
    one_line(clone.data("checkout", check=False), "data/a.bin: pointer xxh128")
    assert pointer.parse(clone.read("data/a.bin")) is not None
    (clone.path / "data/a.bin").unlink()
    proc = clone.git("checkout", "--", "data/a.bin")  # the smudge filter
    assert "data/a.bin: pointer xxh128 is not sha256" in proc.stderr
    assert pointer.parse(clone.read("data/a.bin")) is not None
    clone.git("config", "--unset", "data.requireHash")
    clone.data("checkout")
    assert clone.read("data/a.bin") == DATA


def test_require_hash_reads_sha256_pointers(team: tuple[Repo, Path], tmp_path: Path) -> None:
    clone = pushed_clone(team, tmp_path, "sha256")
    clone.git("config", "data.requireHash", "sha256")
    clone.data("pull")
    assert clone.read("data/a.bin") == DATA


def test_require_hash_of_another_algorithm_is_one_line(team: tuple[Repo, Path],
                                                       tmp_path: Path) -> None:
    clone = pushed_clone(team, tmp_path)
    clone.git("config", "data.requireHash", "md5")
    one_line(clone.data("pull", check=False), "data.requireHash = 'md5' is not supported")


def test_pre_existing_team_setup_still_works(tmp_path: Path) -> None:
    """What `git data remote add` writes for a team folder is read back without a word."""
    repo = make_repo(tmp_path / "work")
    store = tmp_path / "srv" / "team-data"
    store.parent.mkdir()
    repo.data("remote", "add", "origin", str(store), "--default")
    repo.write("data/a.bin", DATA)
    repo.commit_all("data")
    proc = repo.data("push")
    assert gitdata_warnings(proc.stderr) == [] and len(store_objects(store)) == 1
