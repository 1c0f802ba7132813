from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from git_data import pointer

HEX = "0123456789abcdef"


@given(st.text(HEX, min_size=32, max_size=32), st.integers(0, 2**63 - 1))
def test_render_parse_round_trip(hexdigest: str, size: int) -> None:
    ptr = pointer.Pointer(f"xxh128:{hexdigest}", size)
    data = ptr.render()
    assert len(data) < pointer.MAX_POINTER_SIZE
    assert pointer.parse(data) == ptr


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        result = pointer.parse(data)
    except pointer.PointerError:
        return
    assert result is None or result.render() == data


@given(st.text(HEX, min_size=32, max_size=32), st.integers(0, 10**12),
       st.sampled_from(["\n", " ", "x", "\r\n"]))
def test_any_extra_byte_makes_it_content(hexdigest: str, size: int, extra: str) -> None:
    good = pointer.Pointer(f"xxh128:{hexdigest}", size).render()
    assert pointer.parse(good + extra.encode()) is None


@pytest.mark.parametrize("data", [
    b"version git-data/1\noid xxh128:ZZ000000000000000000000000000000\nsize 1\n",  # non-hex
    b"version git-data/1\noid xxh128:abc\nsize 1\n",  # short
    b"version git-data/1\nsize 1\noid xxh128:" + b"a" * 32 + b"\n",  # key order
    b"version git-data/1\noid xxh128:" + b"a" * 32 + b"\nsize 01\n",  # leading zero
    b"version git-data/1\noid xxh128:" + b"A" * 32 + b"\nsize 1\n",  # upper case
    b"version git-data/1\noid xxh128:" + b"a" * 32 + b"\nsize 1",  # no final newline
    b"",
])
def test_malformed_pointers_are_plain_content(data: bytes) -> None:
    assert pointer.parse(data) is None


def test_unknown_version_is_an_error() -> None:
    data = b"version git-data/9\noid xxh128:" + b"a" * 32 + b"\nsize 1\n"
    with pytest.raises(pointer.PointerError, match="git-data/9"):
        pointer.parse(data)


def test_unknown_algorithm_is_an_error() -> None:
    data = b"version git-data/1\noid md5:" + b"a" * 32 + b"\nsize 1\n"
    with pytest.raises(pointer.PointerError, match="md5"):
        pointer.parse(data)


def test_sha256_pointer() -> None:
    ptr = pointer.Pointer("sha256:" + "b" * 64, 7)
    assert pointer.parse(ptr.render()) == ptr


def test_lfs_pointer_is_recognised() -> None:
    data = (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"c" * 64
            + b"\nsize 12\n")
    assert pointer.parse_lfs(data) == pointer.Pointer("sha256:" + "c" * 64, 12)
    assert pointer.parse(data) is None


def test_split_oid_validates() -> None:
    assert pointer.split_oid("xxh128:" + "a" * 32) == ("xxh128", "a" * 32)
    for bad in ("xxh128:" + "g" * 32, "md5:" + "a" * 32, "nocolon", "xxh128:" + "a" * 31):
        with pytest.raises(pointer.PointerError):
            pointer.split_oid(bad)


def test_a_size_beyond_any_file_is_refused() -> None:
    """No file is larger than 2**63-1 bytes (off_t): such a pointer is corrupt, refused
    outright, so no download is ever sized from it."""
    hexdigest = "a" * 32
    largest = f"version git-data/1\noid xxh128:{hexdigest}\nsize {2**63 - 1}\n".encode()
    assert pointer.parse(largest) == pointer.Pointer(f"xxh128:{hexdigest}", 2**63 - 1)
    for size in (2**63, 10**20 - 1):
        data = f"version git-data/1\noid xxh128:{hexdigest}\nsize {size}\n".encode()
        with pytest.raises(pointer.PointerError, match="beyond the largest possible file"):
            pointer.parse(data)
        lfs = f"version {pointer.LFS_VERSION}\noid sha256:{'b' * 64}\nsize {size}\n".encode()
        with pytest.raises(pointer.PointerError):
            pointer.parse_lfs(lfs)
