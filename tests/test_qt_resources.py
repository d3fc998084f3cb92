"""Photos inside Qt resource bundles (GCompris' .rcc files), on bundles the tests write."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blurlib.data.photos import list_file_refs, read_photo_list
from blurlib.data.qt_resources import _parse, extracted, rcc_members, read_member
from blurlib.errors import DatasetError
from blurlib.sources import load_image


def write_rcc(path: Path, files: dict[str, bytes], compress: set[str] = frozenset(), version=2):
    """A Qt resource bundle as Qt's rcc lays it out: header, names, data, then the tree (each
    directory's children contiguous, breadth first)."""
    tree: dict = {}
    for member, data in files.items():
        node = tree
        *dirs, leaf = member.strip("/").split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = data
    names, data_blob, nodes = bytearray(), bytearray(), []
    name_at: dict[str, int] = {}

    def name(n: str) -> int:
        if n not in name_at:
            name_at[n] = len(names)
            raw = n.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(n), 0) + raw)
        return name_at[n]

    nodes.append(["", tree, None])  # [name, children dict or bytes, member path]
    i = 0
    entries = []
    while i < len(nodes):
        nm, content, member = nodes[i]
        if isinstance(content, dict):
            first = len(nodes)
            for child in sorted(content):
                nodes.append([child, content[child], f"{member or ''}/{child}"])
            entries.append((name(nm) if i else 0, 2, struct.pack(">II", len(content), first)))
        else:
            payload = content
            flags = 0
            if member in compress:
                payload = struct.pack(">I", len(content)) + zlib.compress(content)
                flags = 1
            offset = len(data_blob)
            data_blob.extend(struct.pack(">I", len(payload)) + payload)
            entries.append((name(nm), flags, struct.pack(">HHI", 0, 0, offset)))
        i += 1
    head = 4 + 4 * 4
    names_at, data_at = head, head + len(names)
    tree_at = data_at + len(data_blob)
    out = bytearray(b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at))
    out += names + data_blob
    for name_offset, flags, rest in entries:
        out += struct.pack(">IH", name_offset, flags) + rest
        if version >= 2:
            out += struct.pack(">Q", 0)
    path.write_bytes(bytes(out))


def png_bytes(seed: int, shape=(40, 60, 3)) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def bundle(tmp_path):
    files = {
        "/game/resource/animals/owl.png": png_bytes(0),
        "/game/resource/penguin.png": png_bytes(1),
        "/game/Activity.qml": b"import QtQuick 2.12\n",
    }
    path = tmp_path / "erase.rcc"
    write_rcc(path, files, compress={"/game/resource/penguin.png", "/game/Activity.qml"})
    return path, files


@pytest.mark.parametrize("version", [1, 2, 3])
def test_members_and_bytes_round_trip_compressed_or_not(tmp_path, version):
    files = {"/a/b.png": png_bytes(2), "/a/c/d.txt": b"hello", "/e.bin": bytes(range(256))}
    path = tmp_path / "x.rcc"
    write_rcc(path, files, compress={"/a/c/d.txt"}, version=version)
    assert rcc_members(path) == sorted(files)
    for member, data in files.items():
        assert read_member(path, member) == data


def test_extracted_copies_once_and_photo_lists_read_it(bundle, tmp_path, monkeypatch):
    path, files = bundle
    cache = tmp_path / "cache"
    monkeypatch.setenv("BLURLIB_CACHE", str(cache))
    member = "/game/resource/penguin.png"
    copy = extracted(path, member)
    assert copy.is_file() and copy.read_bytes() == files[member]
    assert cache in copy.parents and not list(copy.parent.glob(".*.tmp-*"))
    stamp = copy.stat().st_mtime_ns
    assert extracted(path, member) == copy and copy.stat().st_mtime_ns == stamp  # reused

    listing = tmp_path / "photos.txt"
    listing.write_text(
        "# header\n"
        f"{path.with_suffix('')}.rcc:/game/resource/animals/owl.png  # absolute\n"
        "erase.rcc:/game/resource/penguin.png  # relative to the list\n"
    )
    photos = read_photo_list(listing, "all")
    assert [p.read_bytes() for p in photos] == [
        files["/game/resource/animals/owl.png"],
        files[member],
    ]
    assert [r.name for r in list_file_refs(listing, "all")] == ["owl", "penguin"]
    expected = np.asarray(Image.open(io.BytesIO(files[member])).convert("RGB"))
    np.testing.assert_array_equal(load_image(photos[1]), expected)


def test_a_changed_bundle_gets_a_fresh_copy(bundle, tmp_path):
    path, files = bundle
    member = "/game/resource/penguin.png"
    first = extracted(path, member, cache=tmp_path / "c")
    write_rcc(path, {**files, member: png_bytes(9)})
    second = extracted(path, member, cache=tmp_path / "c")
    assert second != first and second.read_bytes() == png_bytes(9)


def test_clear_errors(bundle, tmp_path):
    path, _ = bundle
    with pytest.raises(DatasetError, match=r"no member '/nope\.png'"):
        read_member(path, "/nope.png")
    with pytest.raises(DatasetError, match=r"no member '/nope\.png'"):
        extracted(path, "/nope.png", cache=tmp_path / "c")
    assert not (tmp_path / "c").exists()  # nothing written for a name not in the bundle
    blob = path.read_bytes()
    owl = "/game/resource/animals/owl.png"
    at, _ = _parse(blob, path)[owl]
    cut = tmp_path / "cut.rcc"  # the owl's length field claims more bytes than the file has
    cut.write_bytes(blob[:at] + struct.pack(">I", len(blob)) + blob[at + 4 :])
    with pytest.raises(DatasetError, match="cut short"):
        read_member(cut, owl)
    short = tmp_path / "short.rcc"  # the tree comes last: cut, it cannot be walked
    short.write_bytes(blob[:-30])
    with pytest.raises(DatasetError, match="not a readable"):
        rcc_members(short)
    loop = bytearray(blob)  # the root directory names itself as its first child
    tree_at = struct.unpack(">I", blob[8:12])[0]
    loop[tree_at + 10 : tree_at + 14] = struct.pack(">I", 0)
    (tmp_path / "loop.rcc").write_bytes(bytes(loop))
    with pytest.raises(DatasetError, match="reached twice"):
        rcc_members(tmp_path / "loop.rcc")
    bad = tmp_path / "bad.rcc"
    bad.write_bytes(b"not a bundle at all")
    with pytest.raises(DatasetError, match="not a readable Qt resource bundle"):
        rcc_members(bad)
    with pytest.raises(DatasetError, match="install the package"):
        rcc_members(tmp_path / "missing.rcc")
    listing = tmp_path / "photos.txt"
    listing.write_text("missing.rcc:/a.png\n")
    with pytest.raises(DatasetError, match=r"missing\.rcc"):
        read_photo_list(listing, "all")
