"""S3 stores (AWS S3, MinIO, SeaweedFS, R2, Ceph) over s3fs, tuned for git-data.

- Memory stays bounded whatever the object size: uploads are multipart in ``PART_SIZE``
  parts with at most ``PART_CONCURRENCY`` in flight (s3fs's defaults read 50 MiB x 10 parts,
  or a whole file under 100 MiB, into memory); downloads stream one GET body in chunks.
- Objects are written with ``If-None-Match: *``, so one already present is never overwritten.
- Bulk existence checks list key prefixes concurrently instead of one HEAD per object.
- Many small objects move as concurrent requests on s3fs's event loop (``put_many``,
  ``get_many``), which the transfer queue uses instead of a thread per object.
- Retry policy is git-data's (:mod:`git_data.retry`): botocore and s3fs retries are off,
  every error is mapped to a one-line :class:`StoreError` (naming the remote, URL and
  endpoint, never a secret), and the transient ones (:class:`TransientStoreError`) are
  retried under that policy here for metadata calls, and by the transfer queue for object
  transfers.
- What it can do beyond a plain store is declared in ``capabilities`` (bulk rounds, ranged
  GETs, server-side copies within one endpoint); the transfer queue decides from those.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import io
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from fsspec.asyn import sync

from .. import pointer
from ..config import parse_bool
from ..hashing import new_hasher
from ..layout import object_key
from ..retry import Policy
from . import CHUNK, Capabilities, Store
from .errors import (
    CREDENTIAL_CODES,
    BadObjectError,
    StoreError,
    TransientStoreError,
    WrongSize,
    already_exists,
    chain,
    is_transient,
    missing_bucket,
    redact,
    service_code,
)

if TYPE_CHECKING:
    from .s3fast import FastS3

T = TypeVar("T")

PART_SIZE = 8 * 2**20
PART_CONCURRENCY = 4
RANGE_SIZE = 16 * 2**20  # large downloads: ranged GETs of this size, this many at a time
RANGE_CONCURRENCY = 4
MAX_PARTS = 10_000
COPY_OBJECT_LIMIT = 5 * 2**30
FEW_OIDS = 24  # up to this many: one HEAD each (concurrently); more: list key prefixes
LIST_CONCURRENCY = 16
METADATA_RETRIES = 4
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
CONTENT_TYPE = "application/octet-stream"
# multipart uploads of objects begun this long ago are a killed push's: aborted (a day: a
# live upload of even a terabyte at 100 MB/s takes three hours)
STALE_UPLOAD_AGE_S = 24 * 3600.0
STALE_UPLOAD_PAGES = 10  # of up to 1,000 uploads each, per push
STALE_PROBE_OID = "xxh128:" + "0" * 32  # any oid: its key's folders name objects/
ENV_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")  # redacted from messages too
# git-data's own option, not s3fs's: bulk PUTs and GETs signed here (s3fast.py); set from
# data.s3.directRequests / data.remote.NAME.directRequests (default true)
DIRECT_OPTION = "git_data_direct_requests"


def _memoize_user_agent(client: Any) -> None:
    """botocore rebuilds its User-Agent string twice per request (about a fifth of the
    client's CPU time for small PUTs here); the string only names versions and features, so
    one is computed and reused."""
    creator = getattr(client, "_user_agent_creator", None)
    if creator is None or not callable(getattr(creator, "to_string", None)):
        return
    text = creator.to_string()
    creator.to_string = lambda: text


def storage_options(options: dict[str, str], secrets: dict[str, str],
                    tuning: dict[str, str] | None = None) -> dict[str, Any]:
    """s3fs options for a remote: endpoint, region, profile, secrets from git config (when
    given; otherwise botocore's usual chain: env vars, profiles, ~/.aws, instance roles)."""
    tuning = tuning or {}
    client: dict[str, Any] = {}
    config: dict[str, Any] = {
        "connect_timeout": float(tuning.get("connecttimeout") or CONNECT_TIMEOUT_S),
        "read_timeout": float(tuning.get("readtimeout") or READ_TIMEOUT_S),
        "retries": {"total_max_attempts": 1},  # git-data retries, with backoff
        "max_pool_connections": 64,
        # No SHA-256 of every body for the signature (botocore skips it by default only over
        # https) and no CRC of every body either: each costs CPU per request, and git-data
        # hashes every download against its oid anyway. Requests stay signed.
        "s3": {"payload_signing_enabled": False},
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    result: dict[str, Any] = {"use_listings_cache": False,
                              "max_concurrency": PART_CONCURRENCY, "config_kwargs": config,
                              DIRECT_OPTION: parse_bool(tuning.get("directrequests"), True)}
    if options.get("endpointurl"):
        result["endpoint_url"] = options["endpointurl"]
    if options.get("region"):
        client["region_name"] = options["region"]
    if options.get("profile"):
        result["profile"] = options["profile"]
    if secrets.get("accesskeyid"):
        result["key"] = secrets["accesskeyid"]
        result["secret"] = secrets.get("secretaccesskey", "")
        if secrets.get("sessiontoken"):
            result["token"] = secrets["sessiontoken"]
    if client:
        result["client_kwargs"] = client
    return result


class _GuardedFS:
    """The s3fs filesystem with every public call mapped to StoreErrors and, for transient
    failures, retried (the base Store's manifest and listing calls go through this)."""

    def __init__(self, fs: Any, store: S3Store) -> None:
        self._fs = fs
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if name.startswith("_") or not callable(attr):
            return attr
        return functools.partial(self._store.call, attr)


class S3Store(Store):
    # Requests wait on the network, not on this machine: with 8 at a time, 2,000 objects of
    # 100 KB spend most of their time in round trips (connections: max_pool_connections).
    capabilities = Capabilities(transfers=32, bulk=True, ranged_get=True)

    def __init__(self, url: str, name: str = "", storage_options: dict[str, Any] | None = None,
                 secrets: tuple[str, ...] = ()) -> None:
        self.options = dict(storage_options or {})
        self.direct = bool(self.options.pop(DIRECT_OPTION, True))
        super().__init__(url, name, self.options)
        self.secrets = tuple(s for s in secrets if s)
        self.raw = self.fs
        self.raw.retries = 1  # one try per s3fs call: the retry policy is git-data's
        self.fs = _GuardedFS(self.raw, self)
        self.bucket = self.root.split("/", 1)[0]
        self.endpoint = self.options.get("endpoint_url") or ""
        self._checked = False
        self._prepared = False
        self.fast: FastS3 | None = None
        self._fast_tried = False
        self._fast_lock = threading.Lock()
        self._signature = ""
        # same endpoint and client options (region): the same service, which copies
        # server-side between its buckets, nothing passing through here
        self.capabilities = replace(self.capabilities, copy_service=(
            f"s3 {self.endpoint} {sorted((self.options.get('client_kwargs') or {}).items())}"))

    def describe(self) -> str:
        """``origin (s3://bucket/prefix at http://host:port)``: the endpoint is part of
        which store is meant."""
        base = super().describe()
        if not self.endpoint:
            return base
        return f"{base[:-1]} at {self.endpoint})" if base.endswith(")") else (
            f"{base} (at {self.endpoint})")

    # ----- errors --------------------------------------------------------------------------
    def error(self, exc: BaseException) -> StoreError:
        """One line for the user: the store, what went wrong, what to do; no secrets."""
        code = service_code(exc)
        kind = TransientStoreError if is_transient(exc) else StoreError
        where = f"store {self.describe()}"
        if missing_bucket(exc):
            text = (f"{where}: bucket '{self.bucket}' does not exist; create it or fix the URL "
                    f"with `git data remote add {self.name} s3://BUCKET/PREFIX`")
        elif code in CREDENTIAL_CODES or _no_credentials(exc) or isinstance(exc, PermissionError):
            what = ("no credentials were found" if _no_credentials(exc) else
                    f"the credentials were refused ({code or _short(exc)})")
            text = (f"{where}: {what}; set valid ones in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
                    f" an AWS profile (--profile), or `git config data.remote.{self.name}."
                    "accesskeyid` / .secretaccesskey")
        elif kind is TransientStoreError and code is None:
            text = f"{where}: cannot reach the endpoint ({_short(exc)})"
        else:
            text = f"{where}: {code + ': ' if code else ''}{_short(exc)}"
        return kind(redact(text, (*self.secrets, *(os.environ.get(v, "") for v in ENV_SECRETS))))

    def call(self, func: Callable[..., T], *args: Any, retries: int = METADATA_RETRIES,
             **kwargs: Any) -> T:
        """Run one s3fs call: missing keys and refused conditional writes pass through as
        they are, transient failures are retried (``retries`` times), everything else becomes
        a StoreError. An error that is a StoreError already (a nested call's, which had its
        own retries) is not retried again."""
        policy = Policy(retries + 1)
        for attempt in policy.tries():
            try:
                if not self._prepared:
                    self._prepare()
                return func(*args, **kwargs)
            except Exception as exc:
                mapped = exc if already_exists(exc) else self._mapped(exc)
                if mapped is exc:  # a store error already, a missing key, a refused write
                    raise
                if not isinstance(mapped, TransientStoreError) or policy.last(attempt):
                    raise mapped from exc
        raise AssertionError("unreachable")

    def _prepare(self) -> None:
        """Create the client and drop botocore's ``Expect: 100-continue`` on uploads: it
        costs a round trip per PUT, and a server that never answers the headers would hang
        the upload forever (aiohttp's read timeout does not cover that wait)."""
        from botocore.handlers import add_expect_header

        client = sync(self.raw.loop, self.raw.set_session)
        client.meta.events.unregister("before-call.s3", add_expect_header)
        _memoize_user_agent(client)
        if self.direct:
            client.meta.events.register("before-send.s3", self._observe_signature)
        gc.freeze()  # botocore's models are long-lived: keep them out of every collection
        self._prepared = True

    def _observe_signature(self, request: Any, **_: Any) -> None:
        """Keep the Authorization header of botocore's latest request (for s3fast)."""
        value = request.headers.get("Authorization")
        if value:
            self._signature = value.decode() if isinstance(value, bytes) else str(value)

    def _start_fast(self) -> None:
        """Signed requests of git-data's own for put_many/get_many, where botocore's
        addressing and signature allow them (see s3fast.py); closed at exit, on the loop it
        runs on. Needs one request botocore signed for this bucket: check() makes it."""
        if not self.direct or self._fast_tried:
            return
        self.check()
        from .s3fast import FastS3

        with self._fast_lock:  # one session, whichever thread asks first
            if self._fast_tried:
                return
            config = self.options.get("config_kwargs", {})
            self.fast = self.run(FastS3.create(
                self.raw.s3, self.bucket, self._signature,
                float(config.get("connect_timeout", CONNECT_TIMEOUT_S)),
                float(config.get("read_timeout", READ_TIMEOUT_S)),
                int(config.get("max_pool_connections", 64))))
            self._fast_tried = True
            if self.fast is not None:
                atexit.register(self._close_fast, self.fast)

    def _close_fast(self, fast: FastS3) -> None:
        """Close the fast path's connections (also once a redirect has retired it)."""
        self.fast = None
        try:
            self.run(fast.close())
        except Exception:  # the loop is gone at exit: so are its connections
            pass

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on s3fs's event loop (its async API) from this thread."""
        return sync(self.raw.loop, lambda: coro)  # type: ignore[no-any-return]

    # ----- whole store -------------------------------------------------------------------
    def check(self) -> None:
        """One listing call: proves the endpoint answers, the bucket exists and the
        credentials are accepted (few retries: an unreachable endpoint fails in seconds)."""
        if self._checked:
            return
        prefix = self.root.split("/", 1)[1] + "/" if "/" in self.root else ""
        self.call(lambda: self.run(self.raw._call_s3(
            "list_objects_v2", Bucket=self.bucket, Prefix=prefix, MaxKeys=1)), retries=2)
        self._checked = True

    def create_bucket(self) -> bool:
        """Create the bucket when it does not exist; True when this call created it."""
        try:
            self.check()
            return False
        except StoreError as exc:
            if "does not exist" not in str(exc):
                raise
        self.call(self.raw.mkdir, self.bucket, retries=2)
        self.check()
        return True

    # ----- existence, in bulk ------------------------------------------------------------
    def has(self, oid: str) -> bool:
        return oid in self.has_many([oid])

    def has_many(self, oids: Iterable[str]) -> set[str]:
        """Few oids: concurrent HEADs. Many: concurrent listings of the ``objects/xx/``
        prefixes they fall in (one request per 1,000 keys instead of one per object)."""
        wanted = {self._key(oid): oid for oid in oids}
        if not wanted:
            return set()
        return set(self.object_sizes(wanted.values()))

    def object_sizes(self, oids: Iterable[str]) -> dict[str, int]:
        """Size of each of ``oids`` that the store holds."""
        wanted = {self._key(oid): oid for oid in oids}
        if not wanted:
            return {}
        if len(wanted) <= FEW_OIDS:
            found = self.call(lambda: self.run(self._head_many(list(wanted))))
        else:
            found = self.call(lambda: self.run(self._list_objects(wanted)))
        return {wanted[key]: size for key, size in found.items() if key in wanted}

    def _key(self, oid: str) -> str:
        return self.path(object_key(oid)).split("/", 1)[1]

    async def _head_many(self, keys: list[str]) -> dict[str, int]:
        async def head(key: str) -> tuple[str, int] | None:
            try:
                info = await self.raw._call_s3("head_object", Bucket=self.bucket, Key=key)
            except FileNotFoundError as exc:
                if missing_bucket(exc):
                    raise
                return None
            return key, int(info.get("ContentLength", 0))

        found = await _gather_limited([head(k) for k in keys], LIST_CONCURRENCY)
        return dict(item for item in found if item is not None)

    async def _list_objects(self, wanted: dict[str, str]) -> dict[str, int]:
        """Keys and sizes under the ``objects/xx/`` prefixes of ``wanted``: one page of the
        whole ``objects/`` folder when the store is small, else the prefixes concurrently."""
        first = next(iter(wanted)).rsplit("/", 3)[0] + "/"
        found, complete = await self._list_prefix(first, pages=1)
        if complete:
            return found
        prefixes = sorted({key.rsplit("/", 2)[0] + "/" for key in wanted})
        merged: dict[str, int] = {}
        parts = await _gather_limited([self._list_prefix(p) for p in prefixes], LIST_CONCURRENCY)
        for part, _ in parts:
            merged.update(part)
        return merged

    async def _list_prefix(self, prefix: str, pages: int = 1 << 30) -> tuple[dict[str, int], bool]:
        keys: dict[str, int] = {}
        token: dict[str, str] = {}
        for _ in range(pages):
            page = await self.raw._call_s3("list_objects_v2", Bucket=self.bucket, Prefix=prefix,
                                           **token)
            keys.update((c["Key"], int(c.get("Size", 0))) for c in page.get("Contents", []))
            if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
                return keys, True
            token = {"ContinuationToken": page["NextContinuationToken"]}
        return keys, False

    # ----- objects -----------------------------------------------------------------------
    def put_object(self, oid: str, local_path: str, link: bool = False) -> None:
        """Multipart upload in bounded memory, only if absent (If-None-Match: *); one try
        (the transfer queue owns retries of whole objects). ``link`` has no meaning here."""
        self._upload(local_path, self.path(object_key(oid)), create=True)

    def put_file(self, local_path: str, key: str, overwrite: bool = True) -> None:
        self._upload(local_path, self.path(key), create=not overwrite)

    def _upload(self, local_path: str, target: str, create: bool) -> None:
        size = os.path.getsize(local_path)
        part = max(PART_SIZE, math.ceil(size / MAX_PARTS))
        try:
            self.call(self.raw.put_file, local_path, target, mode="create" if create else
                      "overwrite", chunksize=part, max_concurrency=PART_CONCURRENCY, retries=0,
                      ContentType=CONTENT_TYPE)  # (s3fs would load the mimetypes database)
        except Exception as exc:
            if create and already_exists(exc):
                return  # present already: never overwritten
            raise

    # ----- uploads a killed push left behind ---------------------------------------------
    def abort_stale_uploads(self, max_age_s: float | None = None) -> int:
        """Abort the multipart uploads of objects that pushes started and never finished (a
        killed push leaves its parts stored, and billed, until aborted). An upload counts as
        git-data's own only when its key is exactly an object key under this store's
        ``objects/`` (``objects/<h[:2]>/<h[2:4]>/<h>``, ``h`` an xxh128 or sha256 digest:
        content addresses nothing else writes) and it began more than ``max_age_s``
        (default ``STALE_UPLOAD_AGE_S``) ago, far longer than any live upload takes. Returns
        how many were aborted; at most ``STALE_UPLOAD_PAGES`` pages are listed per call."""
        prefix = self._key(STALE_PROBE_OID).rsplit("/", 3)[0] + "/"
        cutoff = time.time() - (STALE_UPLOAD_AGE_S if max_age_s is None else max_age_s)

        async def sweep() -> int:
            stale: list[tuple[str, str]] = []
            marker: dict[str, str] = {}
            for _ in range(STALE_UPLOAD_PAGES):
                page = await self.raw._call_s3("list_multipart_uploads", Bucket=self.bucket,
                                               Prefix=prefix, **marker)
                stale += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])
                          if _stale_object_upload(u, prefix, cutoff)]
                if not page.get("IsTruncated"):
                    break
                marker = {"KeyMarker": page.get("NextKeyMarker", ""),
                          "UploadIdMarker": page.get("NextUploadIdMarker", "")}
            await _gather_limited([self.raw._call_s3(
                "abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload)
                for key, upload in stale], LIST_CONCURRENCY)
            return len(stale)

        return self.call(lambda: self.run(sweep()), retries=1)

    # ----- many small objects at once ----------------------------------------------------
    def put_many(self, objects: list[tuple[str, str]]) -> dict[str, BaseException | None]:
        """Upload small cache objects ((oid, local path) pairs, each read whole) as
        concurrent PUTs on s3fs's event loop: no thread per object. Returns each oid's
        error (a StoreError, transient or not), or None when it is stored (or was there)."""
        headers = {"If-None-Match": "*", "Content-Type": CONTENT_TYPE}

        async def one(oid: str, path: str, creds: Any) -> tuple[str, BaseException | None]:
            try:
                with open(path, "rb") as stream:
                    body = stream.read()
                key = self._key(oid)
                done, _ = await self._fast(lambda fast: fast.put(creds, key, body, headers))
                if not done:
                    await self.raw._call_s3("put_object", Bucket=self.bucket, Key=key,
                                            Body=body, IfNoneMatch="*",
                                            ContentType=CONTENT_TYPE)
            except Exception as exc:
                return oid, None if already_exists(exc) else self._mapped(exc)
            return oid, None

        return self._gather([oid for oid, _ in objects],
                            lambda creds: [one(oid, path, creds) for oid, path in objects])

    def get_many(self, oids: list[str], sizes: dict[str, int] | None = None
                 ) -> dict[str, bytes | BaseException]:
        """Download small objects as concurrent GETs; each oid maps to its bytes (unverified:
        the caller checks them against the oid) or its error (FileNotFoundError when the
        store lacks it). With ``sizes`` (from pointers), a body of another length is refused
        from its headers (:class:`WrongSize`), before it is read into memory."""
        sizes = sizes or {}

        def check(oid: str, length: int | None) -> None:
            if oid in sizes and length is not None and length != sizes[oid]:
                raise WrongSize(self.describe(), oid, length, sizes[oid])

        async def one(oid: str, creds: Any) -> tuple[str, bytes | BaseException]:
            try:
                done, data = await self._fast(lambda fast: fast.get(
                    creds, self._key(oid), lambda length: check(oid, length)))
                if done:
                    return oid, data  # type: ignore[return-value]
                response = await self.raw._call_s3("get_object", Bucket=self.bucket,
                                                   Key=self._key(oid))
                async with response["Body"] as body:
                    check(oid, response.get("ContentLength"))
                    return oid, await body.read()
            except Exception as exc:
                return oid, self._mapped(exc)

        return self._gather(oids, lambda creds: [one(oid, creds) for oid in oids])

    async def _fast(self, request: Callable[[FastS3], Awaitable[T]]) -> tuple[bool, T | None]:
        """``(True, answer)`` when the fast path made ``request``; ``(False, None)`` when
        botocore must: there is no fast path, or the bucket redirected the request, after
        which botocore carries every request."""
        from .s3fast import Redirected

        if self.fast is None:
            return False, None
        try:
            return True, await request(self.fast)
        except Redirected:
            self.fast = None
            return False, None

    def _gather(self, oids: list[str],
                requests: Callable[[Any], list[Awaitable[tuple[str, T]]]]
                ) -> dict[str, T | BaseException]:
        """Run ``requests(credentials)`` (the fast path's current credentials, or None) on
        the loop, ``transfers`` at a time. Each request reports its own outcome; a failure
        before any request (client set-up, credentials) is every object's outcome."""
        async def run_all() -> list[tuple[str, T]]:
            creds = await self.fast.credentials() if self.fast is not None else None
            return await _gather_limited(requests(creds), self.capabilities.transfers)

        try:
            self.call(self._start_fast)  # the client and the fast path, with retries
            return dict(self.call(lambda: self.run(run_all()), retries=0))
        except StoreError as exc:
            return {oid: exc for oid in oids}

    def _mapped(self, exc: BaseException) -> BaseException:
        """A missing key and a StoreError stay as they are; anything else becomes the
        StoreError (transient or not) that names this store."""
        if isinstance(exc, FileNotFoundError) and not missing_bucket(exc):
            return exc
        return exc if isinstance(exc, StoreError) else self.error(exc)

    def download_to(self, oid: str, size: int, fd: int,
                    on_bytes: Callable[[int], None] | None = None) -> None:
        """Fetch a large object of ``size`` bytes (the caller has checked that size against
        the store's) into the open, empty file ``fd`` (which this call owns from then on and
        closes) as concurrent ranged GETs written at their offsets: one stream alone does not
        fill the link. Memory stays bounded (``RANGE_CONCURRENCY`` bodies in flight, read a
        MiB at a time, ranges handed out one by one); the caller hashes the file before it
        becomes an object.

        The first failing range cancels the others and waits until every one has stopped
        before the file is closed, and all writes go through a :class:`_RangeFile`, which owns
        its descriptor: a late write raises instead of landing in whichever file has reused
        the number (another download's object, say). ``on_bytes`` hears each chunk's length
        once written (from the event loop's thread: progress, see transfer.py)."""
        target = _RangeFile(fd, size)  # first: whatever fails below, the file is closed

        async def part(start: int) -> None:
            end = min(size, start + RANGE_SIZE)
            response = await self.raw._call_s3("get_object", Bucket=self.bucket, Key=key,
                                               Range=f"bytes={start}-{end - 1}")
            async with response["Body"] as body:
                length = int(response.get("ContentLength", -1))
                if length != end - start:  # a server that ignored the range, say
                    raise BadObjectError(f"{self.describe()} answered bytes {start}-{end - 1} "
                                         f"of {key} with {length} bytes")
                offset = start
                while chunk := await body.read(CHUNK):
                    if offset + len(chunk) > end:
                        raise BadObjectError(f"{self.describe()} sent more than bytes "
                                             f"{start}-{end - 1} of {key}")
                    target.write_at(chunk, offset)
                    offset += len(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
            if offset != end:
                raise ConnectionError(f"short read of {key} bytes {start}-{end - 1}")

        try:
            key = self._key(oid)
            self.call(lambda: self.run(_all_or_none(part, range(0, size, RANGE_SIZE),
                                                    RANGE_CONCURRENCY)), retries=0)
        finally:
            target.close()

    def open_object(self, oid: str) -> BinaryIO:
        """One streaming GET (no HEAD first), read in chunks: constant memory."""
        key = self._key(oid)
        reader = _BodyReader(self)
        try:
            self.call(lambda: self.run(reader.start(key)), retries=0)
        except BaseException:
            reader.close()
            raise
        return reader  # type: ignore[return-value]

    def put_stream(self, oid: str, source: BinaryIO) -> None:
        """Copy from another store's stream, multipart in bounded memory, hashing on the way;
        the upload is committed only when the bytes match ``oid`` (else aborted)."""
        algo = pointer.split_oid(oid)[0]
        hasher = new_hasher(algo)
        target = self.path(object_key(oid))
        out = self.call(self.raw.open, target, "xb", block_size=PART_SIZE, retries=0)
        try:
            while chunk := source.read(CHUNK):
                hasher.update(chunk)
                self.call(out.write, chunk, retries=0)
            if f"{algo}:{hasher.hexdigest()}" != oid:
                raise BadObjectError(f"the bytes read for {oid} hash to {algo}:"
                                     f"{hasher.hexdigest()}; not copied to {self.describe()}")
            self.call(out.close, retries=0)
        except BaseException as exc:
            _discard(out)
            if not already_exists(exc):
                raise

    def copy_object(self, source: Store, oid: str, size: int) -> None:
        src = source.path(object_key(oid))
        dst = self.path(object_key(oid))
        if size > COPY_OBJECT_LIMIT:
            block = max(PART_SIZE * 64, math.ceil(size / MAX_PARTS))
            coro = self.raw._copy_managed(src, dst, size, block=block)
        else:
            coro = self.raw._copy_basic(src, dst)
        self.call(lambda: self.run(coro), retries=0)


class _RangeFile:
    """The file a ranged download writes into. It owns its descriptor: once closed, a write
    raises instead of reaching whatever file the number belongs to by then, and no write
    reaches past the object's size. Writes come from the event loop's thread, the close
    from the caller's: the lock orders them."""

    def __init__(self, fd: int, size: int) -> None:
        self.size = size
        self._fd = fd
        self._lock = threading.Lock()

    def write_at(self, data: bytes, offset: int) -> None:
        if offset < 0 or offset + len(data) > self.size:
            raise ValueError(f"write of {len(data)} bytes at {offset} is outside the object "
                             f"({self.size} bytes)")
        with self._lock:
            if self._fd < 0:
                raise ValueError("write to a ranged download after it was closed")
            view = memoryview(data)
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class _BodyReader(io.RawIOBase):
    """A GET response body read from another thread through s3fs's event loop, in as few
    trips to the loop as possible: the request and the first chunk in one, so an object of
    up to a chunk costs one."""

    def __init__(self, store: S3Store) -> None:
        self.store = store
        self.body: Any = None
        self.pending = b""
        self.left = -1  # bytes not yet read from the body; -1: unknown
        self.size = -1  # the object's size (Content-Length), like fsspec files' ``size``
        self.eof = False

    async def start(self, key: str) -> None:
        response = await self.store.raw._call_s3("get_object", Bucket=self.store.bucket,
                                                 Key=key)
        self.body = response["Body"]
        self.size = self.left = int(response.get("ContentLength", -1))
        self.pending = await self._read(CHUNK)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending and not self.eof:
            want = len(buffer)
            self.pending = self.store.call(lambda: self.store.run(self._read(want)), retries=0)
        data, self.pending = self.pending[:len(buffer)], self.pending[len(buffer):]
        buffer[:len(data)] = data
        return len(data)

    async def _read(self, want: int) -> bytes:
        """Up to ``want`` bytes (aiohttp hands out what has arrived, often 64 KiB)."""
        parts, got = [], 0
        while got < want and self.left != 0:
            chunk = await self.body.read(want - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
            self.left -= len(chunk) if self.left > 0 else 0
        if got < want or self.left == 0:
            self.eof = True
        return b"".join(parts)

    def close(self) -> None:
        """Release the connection of a body not read to its end. Never waits for the loop:
        this may run in a garbage collection at exit, after the loop's thread is gone."""
        if not self.closed and self.body is not None and not (self.eof and self.left == 0):
            try:
                self.store.raw.loop.call_soon_threadsafe(self.body.close)
            except RuntimeError:  # the loop is closed: so is the connection
                pass
        super().close()


async def _all_or_none(work: Callable[[int], Awaitable[None]], jobs: Iterable[int],
                       limit: int) -> None:
    """``work(job)`` for each of ``jobs``, ``limit`` at a time (jobs are taken one by one, so
    there are never more than ``limit`` coroutines whatever their number). The first failure
    cancels the others and is raised only once every one of them has stopped."""
    pending = iter(jobs)

    async def worker() -> None:
        for job in pending:  # shared: each job goes to one worker
            await work(job)

    tasks = [asyncio.ensure_future(worker()) for _ in range(limit)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _gather_limited(coros: list[Awaitable[T]], limit: int) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[T]) -> T:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


def _stale_object_upload(upload: dict[str, Any], prefix: str, cutoff: float) -> bool:
    """An upload of exactly an object key under ``prefix`` (``objects/``) begun before
    ``cutoff`` (see S3Store.abort_stale_uploads)."""
    key = str(upload.get("Key", ""))
    if not key.startswith(prefix):
        return False
    first, _, tail = key[len(prefix):].partition("/")
    second, _, digest = tail.partition("/")
    algo = {32: "xxh128", 64: "sha256"}.get(len(digest))
    if algo is None or not pointer.is_oid(f"{algo}:{digest}") or (
            first, second) != (digest[:2], digest[2:4]):
        return False
    started = upload.get("Initiated")
    return started is not None and hasattr(started, "timestamp") and (
        started.timestamp() < cutoff)


def _discard(out: Any) -> None:
    """Abort a multipart write: nothing becomes visible (fsspec would commit on close)."""
    try:
        out.discard()
    except Exception:
        pass
    out.closed = True


def _no_credentials(exc: BaseException) -> bool:
    return any(type(e).__name__ in ("NoCredentialsError", "PartialCredentialsError",
                                    "CredentialRetrievalError") for e in chain(exc))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
