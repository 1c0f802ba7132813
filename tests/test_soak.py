"""A kill -9 soak: git-data commands SIGKILLed at random points, each followed by the same
command again, which must finish with everything intact.

    for each trial (kinds shuffled): prepare  -->  start the command in its own process group
      -->  SIGKILL the group after a random delay within the kind's measured duration (the
           filter, hooks and git children die with it, as with a terminal's kill)
      -->  run the same command again  -->  check: it succeeded; every cache and store object
           hashes to its name; the work tree is byte for byte what it should be and `git
           status` is clean; no temporary file is left in the work tree

Kinds: `git data add`, `git push` to a local folder (its embedded store) and to the S3
fixture, `git data clone`, `git data pull`, `git switch` (large files written by the
post-checkout hook, one with a newline in its name). A lock file git (or git-data's index
patch) leaves when killed is removed before the second run, as git's own message says to do;
the soak counts those. A `git switch` killed inside git's own checkout (before its hook)
leaves files git wrote but did not record, and git refuses to switch over them: that is
git's, not git-data's, so the soak counts it and finishes with `git checkout -f` (which
git's message leaves as the way on) before checking as usual. The seed is printed (set
GIT_DATA_SOAK_SEED to repeat a run) with the figures: trials, kills that landed while the
command was running, failures.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import Repo, make_repo

from git_data.hashing import hash_file

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]

MiB = 1 << 20
TRIALS_PER_KIND = int(os.environ.get("GIT_DATA_SOAK_TRIALS", "5"))
KINDS = ("add", "push-local", "push-s3", "clone", "pull", "switch")
Digests = dict[str, tuple[int, str]]  # path -> (size, sha256)


@dataclass
class Trial:
    cwd: Path
    argv: list[str]
    verify: Callable[[], list[str]]  # what is wrong after the second run
    repos: list[Path]  # git folders whose stale locks a kill may leave
    # git's own way on when a kill landed inside git itself and the same command cannot go
    # on (a checkout killed half-way leaves files git wrote that its index does not know)
    git_recovery: tuple[str, list[str]] | None = None  # (git's message, the command)


@dataclass
class Tally:
    seed: int
    trials: int = 0
    landed: int = 0
    locks_removed: list[str] = field(default_factory=list)
    inside_git: int = 0
    failures: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)


def _digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


class Soak:
    def __init__(self, tmp: Path, s3: S3, rng: random.Random) -> None:
        self.tmp, self.s3, self.rng = tmp, s3, rng
        self.bare = tmp / "team.git"
        self.s3_bare = tmp / "s3team.git"
        for bare in (self.bare, self.s3_bare):
            subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        self.src = make_repo(tmp / "src")
        self.src.git("remote", "add", "origin", str(self.bare))
        self.main: Digests = self._commit(self.src, self._files("base"))
        self.src.git("push", "-q", "origin", "main")
        self.s3src = make_repo(tmp / "s3src")
        self.s3src.git("remote", "add", "origin", str(self.s3_bare))
        self.s3src.data("remote", "add", "origin", s3.url(), "--endpoint-url", s3.endpoint,
                        "--default")
        self.adder = make_repo(tmp / "adder", track=())
        Repo(tmp).data("clone", str(self.bare), "work")
        self.work = Repo(tmp / "work")
        self.work.git("config", "data.directCheckoutMinSize", "1MiB")
        (tmp / "clones").mkdir()
        self.s3_checked: set[str] = set()

    def _files(self, tag: str, big: int = 4 * MiB) -> dict[str, bytes]:
        """Three files a checkout hook writes directly, one with a newline and a backslash
        in its name, and small ones, fresh bytes each time (sized so that each command takes
        0.3-2 s here)."""
        make = self.rng.randbytes
        files = {f"data/{tag}/big-{i}.bin": make(big) for i in range(2)}
        files[f"data/{tag}/new\nline \\ {tag}.bin"] = make(big // 2)
        files.update({f"data/{tag}/small-{i}.bin": make(30_000 + i) for i in range(3)})
        return files

    def _commit(self, repo: Repo, files: dict[str, bytes]) -> Digests:
        for name, content in files.items():
            repo.write(name, content)
        repo.commit_all("soak")
        return {name: _digest(content) for name, content in files.items()}

    # ----- the kinds -----------------------------------------------------------------
    def prepare(self, kind: str, n: int) -> Trial:
        return getattr(self, "_" + kind.replace("-", "_"))(n)

    def _add(self, n: int) -> Trial:
        files = self._files(f"a{n}")
        for name, content in files.items():
            self.adder.write(name.replace("data/", ""), content)
        expected = {name.replace("data/", ""): _digest(c) for name, c in files.items()}

        def verify() -> list[str]:
            wrong = _tree_differs(self.adder, expected, only=f"a{n}/")
            wrong += _status(self.adder, staged_ok=True)
            wrong += _objects_hash(self.adder.cache / "objects")
            wrong += _staged_pointers(self.adder, expected)
            self.adder.git("commit", "-q", "-m", f"a{n}")
            return wrong

        return Trial(self.adder.path, ["git-data", "add", f"a{n}"], verify,
                     [self.adder.path / ".git"])

    def _push_local(self, n: int) -> Trial:
        self.main.update(self._commit(self.src, self._files(f"p{n}")))

        def verify() -> list[str]:
            wrong = _same_ref(self.src, self.bare, "main")
            wrong += _objects_hash(self.bare / "data" / "objects")
            wrong += _store_has(self.src, lambda hexd: (self.bare / "data" / "objects" /
                                                        hexd[:2] / hexd[2:4] / hexd).is_file())
            return wrong + _status(self.src)

        return Trial(self.src.path, ["git", "push", "-q", "origin", "main"], verify,
                     [self.src.path / ".git", self.bare])

    def _push_s3(self, n: int) -> Trial:
        self._commit(self.s3src, self._files(f"s{n}", big=MiB))

        def verify() -> list[str]:
            wrong = _same_ref(self.s3src, self.s3_bare, "main")
            held = {k.rsplit("/", 1)[-1]: k for k in self.s3.objects()}
            wrong += _store_has(self.s3src, lambda hexd: hexd in held)
            for hexd in set(_pointer_hexes(self.s3src)) - self.s3_checked:  # read back
                self.s3_checked.add(hexd)
                if hexd in held and _hex_of(self.s3.server.read(self.s3.bucket,
                                                                f"project/{held[hexd]}")) != hexd:
                    wrong.append(f"S3 object {held[hexd]} does not hash to its name")
            return wrong + _status(self.s3src)

        return Trial(self.s3src.path, ["git", "push", "-q", "origin", "main"], verify,
                     [self.s3src.path / ".git", self.s3_bare])

    def _clone(self, n: int) -> Trial:
        target = self.tmp / "clones" / f"c{n}"
        # no lock is removed for it: git-data starts a clone killed inside git's afresh
        return Trial(target.parent, ["git-data", "clone", str(self.bare), target.name],
                     self._verify_copy(target), [])

    def _pull(self, n: int) -> Trial:
        target = self.tmp / "clones" / f"p{n}"
        Repo(target.parent).data("clone", "--no-data", str(self.bare), target.name)
        return Trial(target, ["git-data", "pull"], self._verify_copy(target), [target / ".git"])

    def _verify_copy(self, target: Path) -> Callable[[], list[str]]:
        def verify() -> list[str]:
            copy = Repo(target)
            wrong = _tree_differs(copy, self.main) + _status(copy)
            wrong += _objects_hash(copy.cache / "objects")
            shutil.rmtree(target)
            return wrong

        return verify

    def _switch(self, n: int) -> Trial:
        branch = f"sw{n}"
        self.src.git("switch", "-qc", branch)
        expected = {**self.main, **self._commit(self.src, self._files(branch))}
        self.src.git("push", "-q", "origin", branch)
        self.src.git("switch", "-q", "main")
        self.work.git("switch", "-q", "main")
        self.work.git("fetch", "-q", "origin")

        def verify() -> list[str]:
            wrong = _tree_differs(self.work, expected) + _status(self.work)
            wrong += _objects_hash(self.work.cache / "objects")
            if self.work.git("branch", "--show-current").stdout.strip() != branch:
                wrong.append(f"not on {branch} after the second run")
            return wrong

        return Trial(self.work.path, ["git", "switch", branch], verify, [self.work.path / ".git"],
                     ("would be overwritten by",
                      ["git", "checkout", "-f", branch]))


# ----- checks -----------------------------------------------------------------------------
def _hex_of(data: bytes) -> str:
    from git_data.hashing import hash_bytes

    return hash_bytes(data).split(":")[1]


def _objects_hash(objects: Path) -> list[str]:
    wrong = []
    for path in objects.rglob("*") if objects.exists() else []:
        if path.is_file() and not path.name.startswith("."):  # .obj-*: an object being written
            if hash_file(str(path))[0].split(":")[1] != path.name:
                wrong.append(f"{path} does not hash to its name")
    return wrong


def _tree_differs(repo: Repo, expected: Digests, only: str = "") -> list[str]:
    wrong = []
    for name, digest in expected.items():
        try:
            found = _digest((repo.path / name).read_bytes())
        except OSError as exc:
            found = (-1, str(exc))
        if found != digest:
            wrong.append(f"{name!r} differs (size {found[0]}, want {digest[0]})")
    for path in repo.path.rglob("*"):
        rel = path.relative_to(repo.path).as_posix()
        if rel.startswith(".git/") or rel == ".git" or not path.is_file():
            continue
        if "git-data-tmp" in path.name:
            wrong.append(f"temporary file left in the work tree: {rel!r}")
        elif rel.startswith(only) and rel not in expected and rel != ".gitattributes":
            wrong.append(f"unexpected file {rel!r}")
    return wrong


def _status(repo: Repo, staged_ok: bool = False) -> list[str]:
    out = repo.git("status", "--porcelain", "--untracked-files=all").stdout
    bad = [line for line in out.splitlines() if not (staged_ok and line[1] == " ")]
    return [f"git status: {line!r}" for line in bad]


def _pointer_hexes(repo: Repo) -> list[str]:
    """The oids (hex) of the data pointers staged in ``repo``, read in one batch."""
    staged = repo.git("ls-files", "-s", "-z").stdout.split("\0")
    blobs = [item.split()[1] for item in staged if item]
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=repo.path, capture_output=True,
                         input="".join(b + "\n" for b in blobs).encode(), check=True).stdout
    return [chunk.split(b"\n", 1)[0].decode() for chunk in out.split(b"oid xxh128:")[1:]]


def _staged_pointers(repo: Repo, expected: Digests) -> list[str]:
    hexes = set(_pointer_hexes(repo))
    missing = [name for name in expected if not (repo.path / name).is_file()]
    wanted = {_hex_of((repo.path / name).read_bytes()) for name in expected
              if name not in missing}
    return [f"{len(wanted - hexes)} added file(s) not staged as their pointer"] if (
        wanted - hexes) else []


def _store_has(repo: Repo, has: Callable[[str], bool]) -> list[str]:
    lacking = [h for h in _pointer_hexes(repo) if not has(h)]
    return [f"the store lacks {len(lacking)} object(s) of the pushed commit"] if lacking else []


def _same_ref(repo: Repo, bare: Path, branch: str) -> list[str]:
    mine = repo.git("rev-parse", branch).stdout.strip()
    theirs = subprocess.run(["git", "-C", str(bare), "rev-parse", branch], capture_output=True,
                            text=True).stdout.strip()
    return [] if mine == theirs else [f"{bare.name} has {branch} at {theirs or 'nothing'}"]


def _temporaries_outside_work_trees(root: Path) -> list[str]:
    """Partial files killed writers left in caches (.git/data) and local stores (data/tmp)."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        in_data = "/.git/data/" in f"/{rel}" or rel.startswith(("team.git/data/", "s3team.git/"))
        if in_data and path.is_file() and ("git-data-tmp" in path.name or path.name.startswith(
                ".obj-") or "/tmp/" in f"/{rel}"):
            found.append(rel)
    return found


def _remove_stale_locks(folders: list[Path]) -> list[str]:
    """What a killed git (or git-data's index patch) leaves: git refuses to go on and tells
    the user to remove it once no git process runs, which is the case here."""
    removed = []
    for folder in folders:
        for lock in list(folder.glob("*.lock")) + list(folder.glob("refs/**/*.lock")):
            lock.unlink()
            removed.append(lock.relative_to(folder).as_posix())
    return removed


# ----- the soak ---------------------------------------------------------------------------
def _run(trial: Trial, kill_after: float | None) -> tuple[int, bool, float, str]:
    """(exit status, whether the kill landed while it ran, seconds, stderr)."""
    start = time.monotonic()
    proc = subprocess.Popen(trial.argv, cwd=trial.cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    landed = False
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            landed = True
            os.killpg(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    if landed:  # the group's other members (git's children) are gone too
        _wait_group_gone(proc.pid)
    return proc.returncode, landed, time.monotonic() - start, err.decode(errors="replace")


def _wait_group_gone(pgid: int) -> None:
    for _ in range(200):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


@pytest.mark.slow
def test_kill_9_soak(tmp_path: Path, s3: S3, capsys: pytest.CaptureFixture[str]) -> None:
    seed = int(os.environ.get("GIT_DATA_SOAK_SEED") or time.time_ns() % 1_000_000)
    with capsys.disabled():
        print(f"\nsoak seed {seed} (GIT_DATA_SOAK_SEED={seed} repeats it)", file=sys.stderr)
    rng = random.Random(seed)
    soak = Soak(tmp_path, s3, rng)
    tally = Tally(seed)
    plan = [(kind, n) for kind in KINDS for n in range(TRIALS_PER_KIND)]
    rng.shuffle(plan)
    for kind in KINDS:  # one run each, not killed: the duration kills are drawn within
        trial = soak.prepare(kind, -1)
        code, _, seconds, err = _run(trial, None)
        wrong = ([f"exit {code}: {err[-600:]}"] if code else []) + trial.verify()
        assert not wrong, f"{kind} (seed {seed}), not even killed: {wrong}"
        tally.durations[kind] = seconds
    for kind, n in plan:
        trial = soak.prepare(kind, n)
        delay = rng.uniform(0, tally.durations[kind])
        code, landed, seconds, err = _run(trial, delay)
        tally.trials += 1
        tally.landed += landed
        if not landed and not code:  # a run that ended first: later kills land within it
            tally.durations[kind] = min(tally.durations[kind], seconds)
        if landed:  # else it had finished: a second clone into its folder is refused, rightly
            tally.locks_removed += [f"{kind}: {name}" for name in _remove_stale_locks(
                trial.repos)]
            code, _, _, err = _run(trial, None)
            if code and trial.git_recovery and trial.git_recovery[0] in err:
                tally.inside_git += 1
                code, _, _, err = _run(Trial(trial.cwd, trial.git_recovery[1], trial.verify,
                                             []), None)
        wrong = ([f"{'second ' if landed else ''}run exit {code}: {err[-600:]}"] if code else [])
        wrong += trial.verify()
        if wrong:
            tally.failures.append(f"{kind} #{n} killed at {delay:.3f}s"
                                  f"{'' if landed else ' (after it ended)'}: {wrong[:4]}")
    leftovers = _temporaries_outside_work_trees(tmp_path)
    with capsys.disabled():
        print(f"soak seed {seed}: {tally.trials} trials, {tally.landed} kills landed "
              f"mid-operation, {len(tally.locks_removed)} stale lock(s) removed "
              f"({', '.join(tally.locks_removed) or 'none'}), {tally.inside_git} "
              f"kill(s) inside git's checkout finished with `git checkout -f`, "
              f"{len(tally.failures)} failure(s); measured durations "
              + ", ".join(f"{k} {v:.2f}s" for k, v in tally.durations.items()),
              file=sys.stderr)
        print(f"  temporaries left in caches and stores (not seen by git; a later gc sweeps "
              f"them): {len(leftovers)}" + "".join(f"\n    {p}" for p in leftovers[:10]),
              file=sys.stderr)
        for failure in tally.failures:
            print("  " + failure, file=sys.stderr)
    assert not tally.failures, f"seed {seed}: " + "\n".join(tally.failures)
