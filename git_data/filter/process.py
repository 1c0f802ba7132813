"""The filter process itself: handshake, then one request after another until git closes
stdin. See the package docstring for the data flow."""

from __future__ import annotations

import concurrent.futures as cf
import fcntl
import itertools
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from .. import pointer, written
from ..cache import Cache
from ..direct import DirectCheckout
from ..errors import FatalError
from ..hashing import new_hasher
from .pktline import PktReader, PktWriter, ProtocolError

HEAD_LIMIT = 1024  # a pointer is under 200 bytes; anything longer is content
SPOOL_LIMIT = 8 << 20
PIPE_SIZE = 1 << 20
COMPARE_BUFFER = 1 << 20  # reads of the cached object while it is compared


class Fetcher(Protocol):
    """Supplies objects missing from the cache (a store behind the transfer queue)."""

    def submit(self, oid: str, size: int, path: str, ref: str | None = None
               ) -> cf.Future[bool]: ...
    def close(self) -> None: ...


@dataclass
class Outcome:
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    smudged: dict[str, str] = field(default_factory=dict)  # path -> oid sent to git


def warn(message: str) -> None:
    sys.stderr.write(f"git-data: {message}\n")
    sys.stderr.flush()


class FilterProcess:
    def __init__(self, cache: Cache, algo: str, reader: PktReader, writer: PktWriter,
                 fetcher: Fetcher | None = None, git_dir: str | None = None,
                 worktree: str = ".", direct: DirectCheckout | None = None) -> None:
        self.cache = cache
        self.algo = algo
        self.reader = reader
        self.writer = writer
        self.fetcher = fetcher
        self.delayed: dict[str, tuple[pointer.Pointer, cf.Future[bool]]] = {}
        self.reported: set[str] = set()
        self.unreadable: set[str] = set()  # paths whose pointer this version cannot read
        self.outcome = Outcome()
        self.git_dir = git_dir  # where the record of written files lives (see written.py)
        self.worktree = worktree  # pathnames from git are relative to its top
        self._written: dict[str, written.Written] | None = None
        self.direct = direct  # large files the post-checkout hook writes (see direct.py)
        self.require: str | None = None  # data.requireHash: the only algorithm smudged

    # ----- protocol ----------------------------------------------------------------------
    def handshake(self) -> None:
        hello = self.reader.read_text_list()
        if "git-filter-client" not in hello or "version=2" not in hello:
            raise ProtocolError(f"unexpected handshake {hello!r}")
        self.writer.text_list("git-filter-server", "version=2")
        offered = self.reader.read_text_list()
        wanted = [c for c in ("capability=clean", "capability=smudge", "capability=delay")
                  if c in offered]
        self.writer.text_list(*wanted)

    def serve(self) -> Outcome:
        self.handshake()
        try:
            while True:
                try:
                    request = self.reader.read_keyvals()
                except EOFError:
                    break
                command = request.get("command")
                if command in ("clean", "smudge"):
                    self.guarded(command, request)
                elif command == "list_available_blobs":
                    self.list_available()
                else:
                    for _ in self.reader.iter_content():
                        pass
                    self.writer.text_list("status=error")
        finally:
            if self.fetcher is not None:
                self.fetcher.close()
        return self.outcome

    def guarded(self, command: str, request: dict[str, str]) -> None:
        """One clean or smudge. A fault on this side (disk full, a read-only or unreadable
        cache, out of memory, an unsafe path) answers ``status=error`` for this file, after
        the rest of its content, so git names the path and the process serves the next one;
        a broken pipe to git (reading or writing) still ends the process."""
        packets = self.reader.iter_content()
        sent = self.writer.sent
        path = request.get("pathname", "?")
        try:
            if command == "clean":
                self.clean(path, packets)
            else:
                self.smudge(request, packets)
        except (OSError, MemoryError, FatalError) as exc:
            if isinstance(exc, (BrokenPipeError, ConnectionError)):
                raise
            for _ in packets:  # what git still sends of this file (nothing if all was read)
                pass
            if self.writer.sent != sent and not isinstance(exc, _Answered):
                raise  # a response was under way: the stream cannot be repaired
            warn(f"{path}: {command} failed: {fault_text(exc)}")  # before git's own line
            if self.writer.sent == sent:
                self.writer.text_list("status=error")

    def respond(self, content: bytes | BinaryIO, oid: str | None = None) -> None:
        """status=success, the content, then keep the status (or error if verification of
        ``oid`` failed after streaming: git then discards what it received)."""
        if isinstance(content, bytes):  # a pointer: status, content and status in one write
            self.writer.text("status=success")
            self.writer.flush(send=False)
            self.writer.write(content)
            self.writer.flush(send=False)
            self.writer.flush()
            return
        self.writer.text_list("status=success")
        hasher = new_hasher(pointer.split_oid(oid)[0]) if oid else None
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while True:
            try:
                n = content.readinto(view)  # type: ignore[attr-defined]
            except OSError as exc:  # the object, not git: git discards what it received
                self.writer.flush()
                self.writer.text_list("status=error")
                raise _Answered(exc) from exc
            if not n:
                break
            if hasher is not None:
                hasher.update(view[:n])
            self.writer.write(view[:n])
        self.writer.flush()
        if hasher is not None and f"{pointer.split_oid(oid)[0]}:{hasher.hexdigest()}" != oid:
            self.writer.text_list("status=error")
            raise _Corrupt(oid)  # type: ignore[arg-type]
        self.writer.flush()

    # ----- clean -------------------------------------------------------------------------
    def clean(self, path: str, packets: Iterator[memoryview]) -> None:
        head = bytearray()
        for packet in packets:
            head += packet
            if len(head) > HEAD_LIMIT:
                break
        else:
            if len(head) <= pointer.MAX_POINTER_SIZE and pointer.looks_like_pointer(head):
                try:
                    if pointer.parse(bytes(head)) or pointer.parse_lfs(bytes(head)):
                        self.respond(bytes(head))  # already a pointer: unchanged
                        return
                except pointer.PointerError as exc:
                    self.report_unreadable(path, exc)
                    self.respond(bytes(head))  # plain content: what git holds stays as is
                    return
            if not head:
                self.respond(b"")  # empty files stay empty files
                return
        hinted = self.written_from(path)
        if hinted is not None and self.cache.has(hinted):
            self.verify_hint(path, hinted, head, packets)
            return
        self.respond(self.store(path, head, packets).render())

    def written_from(self, path: str) -> str | None:
        """The object ``path`` was written from, when it looks untouched since (its stat is
        the one recorded after writing); None means: treat it as new content."""
        if path in self.outcome.smudged:  # written by git from this very process
            return self.outcome.smudged[path]
        if self.git_dir is None:
            return None
        if self._written is None:
            self._written = written.load(self.git_dir)
        entry = self._written.get(path)
        if entry is None:
            return None
        try:
            return entry.oid if entry.matches(os.stat(os.path.join(self.worktree, path))) else None
        except OSError:
            return None

    def verify_hint(self, path: str, oid: str, head: bytearray, rest: Iterator[bytes]) -> None:
        """``path`` was written from cached ``oid``: compare the stream with that object
        instead of storing a copy. Where the two part (the file was edited without its stat
        changing, or git sends other bytes for the path, as `git hash-object --stdin --path`
        does), the stream is stored after all: the agreeing prefix comes from the object."""
        algo = pointer.split_oid(oid)[0]
        hasher = new_hasher(algo)
        agreed = 0
        packets = itertools.chain([head], rest)
        with open(self.cache.path(oid), "rb", buffering=COMPARE_BUFFER) as known:
            for packet in packets:
                if known.read(len(packet)) != bytes(packet):  # bytes: memcmp, not per item
                    self.respond(self.store_diverged(oid, agreed, packet, packets).render())
                    return
                hasher.update(packet)
                agreed += len(packet)
            if known.read(1):  # the stream is a prefix of the object
                self.respond(self.store_diverged(oid, agreed, b"", iter(())).render())
                return
        sent = f"{algo}:{hasher.hexdigest()}"
        if sent != oid:  # the object rotted since it was written: keep its bytes as they are
            self.cache.insert_file(self.cache.path(oid), algo)
        self.respond(pointer.Pointer(sent, agreed).render())

    def store_diverged(self, oid: str, agreed: int, packet: bytes | memoryview,
                       rest: Iterator[bytes | memoryview]) -> pointer.Pointer:
        """Store a stream whose first ``agreed`` bytes equal cached ``oid``'s, then
        ``packet`` and the rest."""
        return self._store(itertools.chain(self._cached_prefix(oid, agreed), [packet], rest))

    def _cached_prefix(self, oid: str, length: int) -> Iterator[bytes]:
        with self.cache.open(oid) as known:
            while length:
                chunk = known.read(min(length, 1 << 20))
                if not chunk:  # read-only objects do not shrink; never loop on one that did
                    raise OSError(f"cache object {oid} shrank while it was read")
                yield chunk
                length -= len(chunk)

    def store(self, path: str, head: bytearray, rest: Iterator[bytes]) -> pointer.Pointer:
        return self._store(itertools.chain([head], rest))

    def _store(self, chunks: Iterator[bytes | bytearray | memoryview]) -> pointer.Pointer:
        """Write ``chunks`` as one cache object; nothing is left behind when it fails."""
        writer = self.cache.writer(self.algo)
        try:
            for chunk in chunks:
                writer.write(chunk)
            oid = writer.commit()
        except BaseException:
            writer.abort()
            raise
        return pointer.Pointer(oid, writer.size)

    # ----- smudge ------------------------------------------------------------------------
    def report_unreadable(self, path: str, exc: pointer.PointerError) -> None:
        """A pointer this version cannot read (a newer format, an unknown algorithm): said
        once per path and process; the file is kept as plain content (clean and smudge)."""
        if path not in self.unreadable:
            self.unreadable.add(path)
            warn(f"{path}: {exc}; kept as plain content")

    def smudge(self, request: dict[str, str], packets: Iterator[memoryview]) -> None:
        path = request["pathname"]
        if path in self.delayed and request.get("can-delay") != "1":
            for _ in packets:
                pass
            ptr, future = self.delayed.pop(path)
            self.send_object(path, ptr, fetched_ok=_result(future))
            return
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)
        head = b""
        for packet in packets:
            if len(head) <= HEAD_LIMIT:
                head += bytes(packet)
            spool.write(packet)
        try:
            ptr = pointer.parse(head) if len(head) <= pointer.MAX_POINTER_SIZE else None
        except pointer.PointerError as exc:
            self.report_unreadable(path, exc)
            ptr = None
        if ptr is None:  # not a pointer: ordinary content passes through untouched
            spool.seek(0)
            self.respond(spool)  # type: ignore[arg-type]
            return
        if self.require is not None and ptr.algo != self.require:
            warn(f"{path}: pointer {ptr.algo} is not {self.require}, which data.requireHash "
                 "demands; left as a pointer, nothing read")
            self.respond(head)
            return
        if self.direct is not None and self.direct.wants(ptr.size):
            self.direct.record(path, ptr.oid, ptr.size)
            self.respond(head)  # the pointer, as git has it, until the hook writes the data
            return
        if self.cache.has(ptr.oid) or self.fetcher is None:
            self.send_object(path, ptr, fetched_ok=self.cache.has(ptr.oid))
            return
        future = self.fetcher.submit(ptr.oid, ptr.size, path, request.get("ref"))
        if request.get("can-delay") == "1":
            self.delayed[path] = (ptr, future)
            self.writer.text_list("status=delayed")
            return
        self.send_object(path, ptr, fetched_ok=_result(future))

    def send_object(self, path: str, ptr: pointer.Pointer, fetched_ok: bool) -> None:
        if not fetched_ok or not self.cache.has(ptr.oid):
            self.outcome.missing.append(path)
            self.respond(ptr.render())  # checkout goes on; the file stays a pointer
            return
        try:
            with self.cache.open(ptr.oid) as stream:
                self.respond(stream, oid=ptr.oid)
            self.outcome.smudged[path] = ptr.oid
        except _Corrupt:
            self.outcome.corrupt.append(path)
            warn(f"{path}: cache object {ptr.oid} is corrupt and was not checked out; "
                 "run `git data fsck --repair`")

    def list_available(self) -> None:
        pending = [f for p, (_, f) in self.delayed.items() if p not in self.reported]
        if pending:
            cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        ready = [p for p, (_, f) in self.delayed.items() if f.done() and p not in self.reported]
        self.reported.update(ready)
        self.writer.text(*(f"pathname={p}" for p in ready))
        self.writer.flush()
        self.writer.text_list("status=success")


class _Corrupt(Exception):
    pass


class _Answered(OSError):
    """A fault while an object streamed to git, already answered with ``status=error``."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror, cause.filename)


def fault_text(exc: BaseException) -> str:
    from ..errors import fault_message

    return fault_message(exc)


def _result(future: cf.Future[bool]) -> bool:
    try:
        return bool(future.result())
    except Exception as exc:  # the fetcher reports its own errors; the file stays a pointer
        warn(str(exc))
        return False


def open_protocol_streams() -> tuple[BinaryIO, BinaryIO]:
    """Take fd 1 for the protocol and point fd 1 (and sys.stdout) at stderr, so no stray
    print or child process can corrupt git's data channel."""
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    for fd in (0, proto_fd):
        _widen_pipe(fd)
    sys.stdout = sys.stderr
    stdin = open(0, "rb", buffering=0, closefd=False)
    stdout = open(proto_fd, "wb", buffering=0)
    return stdin, stdout  # type: ignore[return-value]


def _widen_pipe(fd: int) -> None:
    """Grow a pipe from git's 64 KiB default to 1 MiB: each 64 KiB packet otherwise fills
    the pipe, so git and this process take turns per packet and spin on the pipe's lock."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    except OSError:  # not a pipe, or above /proc/sys/fs/pipe-max-size: keep the default
        pass


def summarize(outcome: Outcome) -> None:
    if outcome.missing:
        n = len(outcome.missing)
        stays = "file is not in the local cache and stays a pointer" if n == 1 else (
            "files are not in the local cache and stay pointers")
        warn(f"{n} {stays} (e.g. {outcome.missing[0]}); run `git data pull` to fetch "
             f"{'it' if n == 1 else 'them'}")
    if outcome.corrupt:
        warn(f"{len(outcome.corrupt)} file(s) had corrupt cache objects and were not checked "
             "out; run `git data fsck --repair`")
