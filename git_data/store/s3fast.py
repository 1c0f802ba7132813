"""Signed S3 requests for many small objects, without botocore in each request.

For a PUT or GET of a 100 KB object, botocore spends about 2 ms of CPU: endpoint rules,
event hooks, signing and response parsing, all in Python. With 2,000 objects that is seconds
of client CPU on a machine that also runs the server. So for the transfer queue's bulk calls
(``S3Store.put_many`` / ``get_many``) git-data signs each request itself (AWS Signature
Version 4; HMAC and SHA-256 run in C) and sends it with aiohttp on s3fs's event loop.

botocore still decides everything that takes judgement, once per store:

- the credentials: botocore's usual chain (environment, profiles, ``~/.aws``, git config),
  read again for every batch so refreshed ones are picked up;
- the URL of a key: learned from one presigned URL that botocore builds for a probe key
  (path-style or virtual-hosted, custom endpoint or AWS region);
- the signing region: read from the Authorization header of a request botocore sent to the
  bucket (after any region redirect it followed).

When that header is anything but plain SigV4 for service ``s3``, or the presigned URL does
not end in the quoted probe key (anonymous access, another signature version, an access
point), :meth:`FastS3.create` returns None and botocore keeps carrying every request.

Errors come back as s3fs would raise them: an S3 error response is parsed into botocore's
``ClientError`` and translated by s3fs (``FileNotFoundError`` for a missing key, and so on);
network failures stay aiohttp's, which the store classifies as transient.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

PROBE_KEY = "git-data probe/a+b~c=d"  # characters botocore quotes, and ones it keeps
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ALGORITHM = "AWS4-HMAC-SHA256"
_ERROR_FIELD = re.compile(rb"<(Code|Message)>([^<]*)</\1>")
# the bucket is served from another region or host: botocore's redirect handling knows how
# to follow these; the fast path does not try
REDIRECT_CODES = frozenset({"PermanentRedirect", "TemporaryRedirect",
                            "AuthorizationHeaderMalformed"})


class Redirected(Exception):
    """The request was sent to the wrong place: send it, and the rest, through botocore."""


def signing_region(authorization: str) -> str | None:
    """The region of a plain SigV4 header for service s3 (``AWS4-HMAC-SHA256
    Credential=KEY/DAY/REGION/s3/aws4_request, ...``); None for anything else."""
    head, _, rest = authorization.partition(" ")
    if head != ALGORITHM or not rest.startswith("Credential="):
        return None
    scope = rest[len("Credential="):].split(",", 1)[0].split("/")
    if len(scope) != 5 or scope[3] != "s3" or scope[4] != "aws4_request" or not scope[2]:
        return None
    return scope[2]


def quote_key(key: str) -> str:
    """A key in a URL path, quoted as botocore quotes it."""
    return quote(key, safe="/~")


class FastS3:
    """Signs and sends PUT and GET requests for one bucket (see the module docstring)."""

    def __init__(self, client: Any, prefix: str, region: str, session: Any,
                 timeout: Any) -> None:
        self.client = client
        self.prefix = prefix  # scheme://host[:port]/path/ that a quoted key follows
        self.region = region
        self.session = session
        self.timeout = timeout
        parts = urlsplit(prefix)
        self.host = parts.netloc
        self.path = parts.path
        # botocore signs every body over plain http and none over https (payload signing off)
        self.sign_body = parts.scheme == "http"
        self._key: tuple[str, str, bytes] | None = None  # (day, secret, signing key)

    @classmethod
    async def create(cls, client: Any, bucket: str, authorization: str,
                     connect_timeout: float, read_timeout: float,
                     connections: int) -> FastS3 | None:
        """The fast path for ``bucket``, or None where botocore must keep every request.
        ``authorization`` is the header botocore signed a request to this bucket with."""
        if getattr(client._request_signer, "_credentials", None) is None:
            return None  # anonymous: no signature to make
        region = signing_region(authorization)
        url = await client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": PROBE_KEY}, ExpiresIn=60)
        parts = urlsplit(url)
        tail = "/" + quote_key(PROBE_KEY)
        if region is None or not parts.path.endswith(tail) or parts.scheme not in (
                "http", "https"):
            return None
        import aiohttp

        prefix = f"{parts.scheme}://{parts.netloc}{parts.path[:-len(tail) + 1]}"
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ttl_dns_cache=300),
            auto_decompress=False, skip_auto_headers=("User-Agent",))
        timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        return cls(client, prefix, region, session, timeout)

    async def credentials(self) -> Any:
        """botocore's current credentials (refreshable ones refresh here when due)."""
        return await self.client._request_signer._credentials.get_frozen_credentials()

    async def put(self, creds: Any, key: str, body: bytes, headers: dict[str, str]) -> None:
        """PUT ``body`` at ``key``; an error response raises as s3fs would raise it."""
        payload = hashlib.sha256(body).hexdigest() if self.sign_body else UNSIGNED_PAYLOAD
        quoted = quote_key(key)
        signed = self.sign(creds, "PUT", quoted, payload)
        async with self.session.put(self.prefix + quoted, data=body, timeout=self.timeout,
                                    headers={**headers, **signed},
                                    allow_redirects=False) as response:
            if response.status >= 300:
                self.raise_error(response.status, await response.read(), "PutObject", key)
            await response.read()

    async def get(self, creds: Any, key: str,
                  check: Callable[[int | None], None] | None = None) -> bytes:
        """The bytes at ``key`` (the caller checks them against the oid). ``check`` sees the
        Content-Length of a successful answer before its body is read, and may raise."""
        quoted = quote_key(key)
        signed = self.sign(creds, "GET", quoted, EMPTY_SHA256 if self.sign_body
                           else UNSIGNED_PAYLOAD)
        async with self.session.get(self.prefix + quoted, timeout=self.timeout,
                                    headers=signed, allow_redirects=False) as response:
            if response.status < 300 and check is not None:
                check(response.content_length)
            body = await response.read()
            if response.status >= 300:
                self.raise_error(response.status, body, "GetObject", key)
            return body

    def sign(self, creds: Any, method: str, quoted_key: str, payload: str,
             stamp: str | None = None) -> dict[str, str]:
        """SigV4 headers for a request with no query string (S3 paths are not normalised
        or quoted twice); ``stamp`` (``YYYYMMDDTHHMMSSZ``) is now unless given."""
        stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        headers = {"host": self.host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        if creds.token:
            headers["x-amz-security-token"] = creds.token
        names = ";".join(headers)  # inserted in sorted order
        canonical = "\n".join([method, self.path + quoted_key, "",
                               "".join(f"{k}:{v}\n" for k, v in headers.items()), names,
                               payload])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join([ALGORITHM, stamp, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        signature = hmac.new(self._signing_key(creds.secret_key, day), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        headers["Authorization"] = (f"{ALGORITHM} Credential={creds.access_key}/{scope}, "
                                    f"SignedHeaders={names}, Signature={signature}")
        return headers

    def _signing_key(self, secret: str, day: str) -> bytes:
        """Derived once per day and secret (four HMACs), not per request."""
        if self._key is None or self._key[:2] != (day, secret):
            key = ("AWS4" + secret).encode()
            for part in (day, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key = (day, secret, key)
        return self._key[2]

    def raise_error(self, status: int, body: bytes, operation: str, key: str) -> None:
        """Raise what s3fs raises for this S3 error response (via botocore's ClientError);
        :class:`Redirected` where the bucket answers elsewhere."""
        from botocore.exceptions import ClientError
        from s3fs.errors import translate_boto_error

        fields = {name.decode(): value.decode(errors="replace")
                  for name, value in _ERROR_FIELD.findall(body[:4096])}
        if status in (301, 302, 307, 308) or fields.get("Code") in REDIRECT_CODES:
            raise Redirected(f"{operation} {key}: HTTP {status} {fields.get('Code', '')}")
        error = ClientError({"Error": {"Code": fields.get("Code") or str(status),
                                       "Message": fields.get("Message", "")},
                             "ResponseMetadata": {"HTTPStatusCode": status}}, operation)
        raise translate_boto_error(error) from error

    async def close(self) -> None:
        await self.session.close()
