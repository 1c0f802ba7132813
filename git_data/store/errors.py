"""Store failures as the user sees them, and which of them are worth retrying.

Every error that leaves a store is either a missing object (``FileNotFoundError``, so the
caller can try the next store) or a :class:`StoreError`: one line naming the remote, its URL
and endpoint, and what to do, with any secret of that remote redacted. A
:class:`TransientStoreError` (connection reset or refused, timeout, HTTP 500/502/503/504,
SlowDown/throttling) is retried by the caller under the one policy of
:mod:`git_data.retry`; anything else is permanent.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import FatalError
from ..retry import TransientError, chain, network_error

TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
    "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
    "ServerBusy", "ConditionalRequestConflict", "OperationAborted", "500", "502", "503", "504",
})
CREDENTIAL_CODES = frozenset({
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
    "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem",
    "InvalidSecurity", "AuthorizationHeaderMalformed", "403",
})
EXISTS_CODES = frozenset({"PreconditionFailed", "412"})


class StoreError(FatalError):
    """A store-level failure (credentials, bucket, endpoint): retrying will not help."""


class TransientStoreError(StoreError, TransientError):
    """A failure that may well pass on a retry (network, throttling, server 5xx)."""


class BadObjectError(StoreError):
    """Bytes read for an object do not hash to its oid: never published, never cached."""


class WrongSize(BadObjectError):
    """A store's copy of an object is not the size its pointer gives (a pointer's size is
    untrusted input): refused before or while it is read, never cached."""

    def __init__(self, where: str, oid: str, actual: int | str, expected: int) -> None:
        super().__init__(f"{where} holds {actual} bytes for {oid}, not the {expected} its "
                         "pointer says; refused (the pointer or the store's copy is wrong)")


def service_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchBucket``) or HTTP status of a botocore ClientError in the
    chain of ``exc``, if any."""
    for item in chain(exc):
        response = getattr(item, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            return str(code or status or "") or None
    return None


def _network_error(exc: BaseException) -> bool:
    try:
        import botocore.exceptions as boto
        from botocore.parsers import ResponseParserError
        network: tuple[type[BaseException], ...] = (
            boto.HTTPClientError, boto.ConnectionError, boto.IncompleteReadError,
            ResponseParserError)
    except ImportError:  # pragma: no cover - botocore comes with s3fs
        network = ()
    try:
        import aiohttp
        network += (aiohttp.ClientError,)
    except ImportError:  # pragma: no cover
        pass
    from fsspec.exceptions import FSTimeoutError

    network += (_asyncio_timeout(), FSTimeoutError)
    return isinstance(exc, network) or network_error(exc)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: a network failure, a timeout, throttling or a server error."""
    if isinstance(exc, TransientStoreError):
        return True
    if isinstance(exc, (FatalError, FileNotFoundError)):
        return False
    code = service_code(exc)
    if code is not None:
        return code in TRANSIENT_CODES
    return any(_network_error(item) for item in chain(exc))


def already_exists(exc: BaseException) -> bool:
    """A conditional write (If-None-Match: *) refused because the key exists."""
    return isinstance(exc, FileExistsError) or service_code(exc) in EXISTS_CODES


def missing_bucket(exc: BaseException) -> bool:
    return service_code(exc) == "NoSuchBucket"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _asyncio_timeout() -> type[BaseException]:
    import asyncio  # only when an error is classified: its import costs 50 ms at start-up

    return asyncio.TimeoutError
