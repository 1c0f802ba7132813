"""git-data's own signed requests for bulk PUTs and GETs (store/s3fast.py): the signature is
botocore's to the byte, the real server accepts them, and errors map as s3fs's would."""

from __future__ import annotations

import http.server
import os
import threading
from collections import namedtuple
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import random_bytes

from git_data.store import object_key
from git_data.store.errors import StoreError
from git_data.store.s3 import S3Store, storage_options
from git_data.store.s3fast import FastS3, Redirected, quote_key, signing_region

if TYPE_CHECKING:
    from seaweed import S3

pytest_plugins = ["seaweed"]

Creds = namedtuple("Creds", "access_key secret_key token")


def botocore_headers(creds: Creds, method: str, url: str, payload: str, stamp: str,
                     region: str) -> dict[str, str]:
    """What botocore's own S3 SigV4 signer makes of the same request at the same time."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, headers={
        "x-amz-content-sha256": payload, "X-Amz-Date": stamp,
        **({"X-Amz-Security-Token": creds.token} if creds.token else {})})
    request.context["timestamp"] = stamp
    auth = S3SigV4Auth(Credentials(*creds), "s3", region)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    return {"signed": auth.signed_headers(auth.headers_to_sign(request)), "signature": signature}


@pytest.mark.parametrize(("prefix", "key", "token", "region", "method"), [
    ("http://127.0.0.1:8333/bucket/", "project/objects/ab/cd/xxh128:abcd", None, "us-east-1",
     "PUT"),
    ("https://bucket.s3.eu-west-3.amazonaws.com/", "my data/ünïcode+x~y=z", "TOKEN/x+y=",
     "eu-west-3", "GET"),
    ("http://localhost:9000/b/pre%20fix/", "objects/00/11/sha256:0011", "t", "auto", "PUT"),
])
def test_signature_is_botocores(prefix: str, key: str, token: str | None, region: str,
                                method: str) -> None:
    creds = Creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    fast = FastS3(None, prefix, region, None, None)
    payload = "UNSIGNED-PAYLOAD" if prefix.startswith("https") else "e3b0" * 16
    ours = fast.sign(creds, method, quote_key(key), payload, stamp="20261123T101530Z")
    theirs = botocore_headers(creds, method, prefix + quote_key(key), payload,
                              "20261123T101530Z", region)
    assert ours["x-amz-date"] == "20261123T101530Z"
    assert f"SignedHeaders={theirs['signed']}," in ours["Authorization"]
    assert ours["Authorization"].endswith(f"Signature={theirs['signature']}")
    assert ours["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/{region}/s3/aws4_request,")


def test_signing_region_only_from_plain_sigv4_for_s3() -> None:
    good = ("AWS4-HMAC-SHA256 Credential=AK/20261123/eu-central-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00")
    assert signing_region(good) == "eu-central-1"
    assert signing_region(good.replace("/s3/", "/s3express/")) is None
    assert signing_region("AWS AK:signature") is None  # SigV2
    assert signing_region(good.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")) is None
    assert signing_region("") is None


def open_store(s3: S3, direct: bool) -> S3Store:
    options = storage_options({"endpointurl": s3.endpoint}, {},
                              {"directrequests": "true" if direct else "false"})
    return S3Store(s3.url("project"), "origin", options, (s3.server.secret_key,))


def small_objects(tmp_path: Path, count: int) -> list[tuple[str, str, bytes]]:
    objects = []
    for i in range(count):
        data = random_bytes(3_000 + i, seed=i)
        path = tmp_path / f"obj{i}"
        path.write_bytes(data)
        objects.append((f"xxh128:{i:032x}", str(path), data))
    return objects


@pytest.mark.parametrize("direct", [True, False])
def test_bulk_put_and_get_on_the_real_server(tmp_path: Path, s3: S3, direct: bool) -> None:
    store = open_store(s3, direct)
    objects = small_objects(tmp_path, 40)
    result = store.put_many([(oid, path) for oid, path, _ in objects])
    assert result == {oid: None for oid, _, _ in objects}
    assert (store.fast is not None) is direct  # the fast path, or botocore, carried them
    for oid, _, data in objects[:5]:
        assert s3.server.read(s3.bucket, f"project/{object_key(oid)}") == data

    # present already: reported stored, and never overwritten (If-None-Match: *)
    first_oid, first_path, first_data = objects[0]
    Path(first_path).write_bytes(b"other bytes")
    assert store.put_many([(first_oid, first_path)]) == {first_oid: None}
    got = store.get_many([oid for oid, _, _ in objects] + ["xxh128:" + "f" * 32])
    assert got[first_oid] == first_data
    assert all(got[oid] == data for oid, _, data in objects)
    assert isinstance(got["xxh128:" + "f" * 32], FileNotFoundError)


def test_refused_signature_is_one_store_error_without_the_secret(tmp_path: Path,
                                                                  s3: S3) -> None:
    store = open_store(s3, True)
    oid, path, _ = small_objects(tmp_path, 1)[0]
    assert store.put_many([(oid, path)]) == {oid: None}
    assert store.fast is not None
    wrong = Creds(s3.server.access_key, "not-the-secret-" + os.urandom(4).hex(), None)
    with pytest.raises(Exception) as caught:
        store.run(store.fast.put(wrong, store._key("xxh128:" + "e" * 32), b"x", {}))
    error = store.error(caught.value)
    assert isinstance(error, StoreError) and not error.__class__.__name__.startswith("Trans")
    assert "credentials were refused (SignatureDoesNotMatch)" in str(error)
    assert s3.server.secret_key not in str(error) and "not-the-secret" not in str(error)
    assert s3.objects() == [object_key(oid)]


class RedirectEverything(http.server.BaseHTTPRequestHandler):
    """A loopback endpoint that sends every request elsewhere, as S3 does for a bucket
    served from another region (307 Temporary Redirect)."""

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<Error><Code>TemporaryRedirect</Code><Message>elsewhere</Message></Error>"
        self.send_response(307)
        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_GET = answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_redirect_hands_every_request_back_to_botocore(tmp_path: Path, s3: S3) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RedirectEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = open_store(s3, True)
        objects = small_objects(tmp_path, 6)
        assert store.put_many([(oid, path) for oid, path, _ in objects[:1]]) == {
            objects[0][0]: None}
        fast = store.fast
        assert fast is not None
        # the fast path now reaches a host that redirects everything
        fast.prefix = f"http://127.0.0.1:{server.server_port}/{s3.bucket}/project/"
        fast.host = f"127.0.0.1:{server.server_port}"
        rest = [(oid, path) for oid, path, _ in objects[1:]]
        assert store.put_many(rest) == {oid: None for oid, _ in rest}
        assert store.fast is None  # retired: botocore carried them, and carries the rest
        got = store.get_many([oid for oid, _, _ in objects])
        assert all(got[oid] == data for oid, _, data in objects)
        assert sorted(s3.objects()) == sorted(object_key(oid) for oid, _, _ in objects)
    finally:
        server.shutdown()


def test_a_redirect_raises_redirected_not_a_store_error(s3: S3) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RedirectEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = open_store(s3, True)
        store.check()
        fast = store.run(FastS3.create(store.raw.s3, s3.bucket, store._signature, 3, 5, 4))
        assert fast is not None and fast.region == "us-east-1"
        fast.prefix = f"http://127.0.0.1:{server.server_port}/b/"
        fast.host = f"127.0.0.1:{server.server_port}"
        creds = Creds(s3.server.access_key, s3.server.secret_key, None)
        with pytest.raises(Redirected):
            store.run(fast.get(creds, "objects/x"))
        store.run(fast.close())
    finally:
        server.shutdown()
