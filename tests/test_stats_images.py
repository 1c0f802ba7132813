"""Image headers and folders of images, with images written here byte by byte (and by
Pillow, where it is installed, for JPEG, WebP and TIFF)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from conftest import OneWay as _OneWay

from git_data.stats import StatsError, profile, profile_folder, render_text
from git_data.stats.images import image_info


def png(width: int, height: int, color_type: int = 2) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    channels = {0: 1, 2: 3, 6: 4}[color_type]
    raw = b"".join(b"\x00" + bytes(width * channels) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def gif(width: int, height: int) -> bytes:
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
            + b",\x00\x00\x00\x00" + struct.pack("<HH", width, height) + b"\x00\x02\x02D\x01\x00;")


def bmp(width: int, height: int) -> bytes:
    row = (width * 3 + 3) // 4 * 4
    pixels = bytes(row * height)
    header = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, 0, len(pixels), 2835, 2835,
                         0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + header + pixels



def OneWay(data: bytes) -> io.RawIOBase:  # noqa: N802  (reads of 100 bytes)
    return _OneWay(data, chunk=100)


@pytest.mark.parametrize("data, fmt, size", [
    (png(37, 21), "png", (37, 21)), (png(5, 300, 6), "png", (5, 300)),
    (gif(640, 480), "gif", (640, 480)), (bmp(13, 7), "bmp", (13, 7)),
])
def test_header_sizes_without_pillow(data: bytes, fmt: str, size: tuple[int, int]) -> None:
    p = profile(io.BytesIO(data), f"img/pic.{fmt}")
    assert (p.kind, p.format, p.size) == ("image", fmt, len(data))
    assert (p.image["width"], p.image["height"]) == size
    assert f"{size[0]} × {size[1]}" in render_text(p)


def test_png_details_and_content_beats_extension() -> None:
    p = profile(io.BytesIO(png(8, 4, 6)), "mislabelled.csv")
    assert p.format == "png" and p.image["mode"] == "RGBA" and p.image["bit_depth"] == 8


def test_image_from_a_non_seekable_stream_gets_its_full_size() -> None:
    data = png(64, 48)
    p = profile(io.BufferedReader(OneWay(data)), "pic.png")
    assert p.size == len(data) and p.image["width"] == 64


def test_truncated_image_header_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match="cut.png: cannot read the image: png header is "
                                         "truncated"):
        profile(io.BytesIO(png(10, 10)[:20]), "cut.png")
    with pytest.raises(StatsError, match="cut.jpg: cannot read the image"):
        profile(io.BytesIO(b"\xff\xd8\xff\xe0\x00\x10JFIF"), "cut.jpg")


def pillow_image(fmt: str, size: tuple[int, int], mode: str = "RGB", **options) -> bytes:
    image_module = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image_module.new(mode, size, "teal").save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize("fmt, mode, options", [
    ("JPEG", "RGB", {"quality": 80}), ("JPEG", "L", {"progressive": True}),
    ("WEBP", "RGB", {"lossless": False}), ("WEBP", "RGBA", {"lossless": True}),
    ("WEBP", "RGBA", {"lossless": False}), ("PNG", "P", {}), ("GIF", "P", {}),
    ("BMP", "RGB", {}),
])
def test_parsed_sizes_agree_with_pillow(fmt: str, mode: str, options: dict) -> None:
    data = pillow_image(fmt, (123, 45), mode, **options)
    info = image_info(io.BytesIO(data), {"JPEG": "jpeg", "WEBP": "webp"}.get(fmt, fmt.lower()))
    assert (info["width"], info["height"]) == (123, 45)


def test_jpeg_with_a_large_exif_segment_before_the_frame() -> None:
    data = pillow_image("JPEG", (300, 200))
    app1 = b"\xff\xe1" + struct.pack(">H", 60_002) + b"Exif\x00\x00" + bytes(59_994)
    padded = data[:2] + app1 * 3 + data[2:]
    p = profile(io.BufferedReader(OneWay(padded)), "big.jpg")
    assert (p.image["width"], p.image["height"], p.size) == (300, 200, len(padded))


def test_other_formats_through_pillow() -> None:
    data = pillow_image("TIFF", (17, 19))
    p = profile(io.BytesIO(data), "scan.tiff")
    assert p.format == "tiff" and (p.image["width"], p.image["height"]) == (17, 19)


def test_folder_of_images_as_a_table(tmp_path) -> None:
    sizes = [(10 * i, 5 * i) for i in range(1, 41)]
    files = {f"cats/{i:03d}.png": png(w, h) for i, (w, h) in enumerate(sizes)}
    files.update({"dogs/a.gif": gif(100, 80), "dogs/b.bmp": bmp(3, 3), "README.txt": b"hi\n",
                  "labels.csv": b"name,label\nx,1\n"})
    entries = [(name, (lambda d=data: io.BytesIO(d))) for name, data in sorted(files.items())]
    p = profile_folder(entries, name="train")
    assert (p.kind, p.rows, p.name) == ("images", 42, "train")
    assert p.column_names == ["format", "bytes", "width", "height"]
    assert dict(map(tuple, p.column("format").top)) == {"png": 40, "gif": 1, "bmp": 1}
    widths = [w for w, _ in sizes] + [100, 3]
    width = p.column("width")
    assert (width.min, width.max, width.count) == (3, 400, 42)
    assert width.mean == pytest.approx(sum(widths) / 42)
    assert p.column("bytes").max == max(len(d) for d in files.values() if d[:2] != b"hi"
                                        and not d.startswith(b"name"))
    assert "train: 2 files are not images and were skipped" in p.warnings
    assert p.sample["header"] == ["name", "format", "bytes", "width", "height"]
    assert "42 images" in render_text(p)
    # the same folder from a directory on disk, with sizes from the file system
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    on_disk = profile_folder(tmp_path, name="train")
    assert on_disk.to_json() == p.to_json()


def test_folder_reports_unreadable_images_and_keeps_counting() -> None:
    entries = [("ok.png", lambda: io.BytesIO(png(4, 4))),
               ("broken.png", lambda: io.BytesIO(png(4, 4)[:18])),
               ("stream.gif", lambda: io.BufferedReader(OneWay(gif(9, 9))))]
    p = profile_folder(entries)
    assert p.rows == 3
    assert any(w.startswith("broken.png: cannot read the image") for w in p.warnings)
    assert p.column("width").count == 2 and p.column("width").missing == 1
    assert p.column("bytes").count == 3
