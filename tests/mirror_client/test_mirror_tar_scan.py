"""The fast tar walk gives the same members and byte ranges as tarfile, or leaves the archive to tarfile."""

import io
import tarfile

import pytest

from mirror_client.apply import _walk_tar, apply_blocklist, rewrite_tar, tar_members, tarfile_members
from mirror_client.errors import ApplyError


def assert_reads_like_tarfile(path, note=""):
    """The fast walk answers what tarfile answers, or fails the same way."""
    try:
        expected = tarfile_members(path)
    except tarfile.ReadError as exc:
        with pytest.raises(tarfile.ReadError, match=str(exc)):
            tar_members(path)
    else:
        assert tar_members(path) == expected, note


def add_file(archive, name, data=b"x" * 700, **attrs):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    archive.addfile(info, io.BytesIO(data))


def add_other(archive, name, kind, **attrs):
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    archive.addfile(info)


def write(path, fmt, fill, **kw):
    with tarfile.open(path, "w", format=fmt, **kw) as archive:
        fill(archive)
    return path


def webdataset(archive):
    for i in range(5):
        for ext, size in (("jpg", 1500 + i), ("txt", 12), ("json", 0)):
            add_file(archive, f"{i:06d}.{ext}", b"a" * size, mtime=1_700_000_000.5)


def long_and_odd_names(archive):
    add_file(archive, "d/" * 60 + "000001.jpg")  # longer than 100: a ustar prefix, a GNU long name or a PAX path
    add_file(archive, "ünïcode/000002.txt", b"caption")
    add_other(archive, "sub", tarfile.DIRTYPE)
    add_other(archive, "sub/000003.lnk", tarfile.SYMTYPE, linkname="../000001.jpg")
    add_other(archive, "sub/000004.hard", tarfile.LNKTYPE, linkname="000002.txt")
    add_other(archive, "fifo", tarfile.FIFOTYPE)
    add_file(archive, "x" * 150 + ".json", b"{}", linkname="y" * 150)
    add_file(archive, "000005.jpg", b"")


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("fill", [webdataset, long_and_odd_names])
def test_it_reads_what_tarfile_reads(tmp_path, fmt, fill):
    if fmt == tarfile.USTAR_FORMAT and fill is long_and_odd_names:
        fill = _ustar_safe
    path = write(tmp_path / "a.tar", fmt, fill)

    with open(path, "rb") as f:
        fast = _walk_tar(f, path.stat().st_size)

    assert fast is not None, "an ordinary archive takes the fast walk"
    assert fast == tarfile_members(path)


def _ustar_safe(archive):
    add_file(archive, "d/" * 60 + "000001.jpg")  # splits into prefix and name
    add_other(archive, "sub", tarfile.DIRTYPE)
    add_file(archive, "sub/000002.txt", b"caption")


def test_a_pax_size_overrides_the_header(tmp_path):
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("000001.jpg")
        info.size = 1000
        info.pax_headers = {"size": "1000", "comment": "pax record kept as it is"}
        archive.addfile(info, io.BytesIO(b"z" * 1000))
        add_file(archive, "000002.jpg")
    with open(path, "rb") as f:
        assert _walk_tar(f, path.stat().st_size) == tarfile_members(path)


def test_an_archive_without_end_blocks_and_one_cut_short(tmp_path):
    path = write(tmp_path / "a.tar", tarfile.PAX_FORMAT, webdataset)
    members = tarfile_members(path)
    end = members[-1][2]
    no_trailer = tmp_path / "b.tar"
    no_trailer.write_bytes(path.read_bytes()[:end])
    assert tar_members(no_trailer) == tarfile_members(no_trailer) == members

    # Cut at every 100th byte: the walk answers what tarfile answers, or fails the same way.
    whole = path.read_bytes()
    for size in range(0, len(whole), 100):
        cut = tmp_path / "c.tar"
        cut.write_bytes(whole[:size])
        assert_reads_like_tarfile(cut, size)


def test_a_last_member_cut_short_is_named(tmp_path):
    path = write(tmp_path / "a.tar", tarfile.USTAR_FORMAT, lambda a: [add_file(a, "000000.jpg"),
                                                                     add_file(a, "000001.jpg", b"y" * 3000)])
    last_end = tarfile_members(path)[-1][2]
    cut = tmp_path / "shards" / "00000.tar"
    cut.parent.mkdir()
    cut.write_bytes(path.read_bytes()[:last_end - 1000])  # inside the last member's data
    with open(cut, "rb") as f:
        assert _walk_tar(f, cut.stat().st_size) is None
    with pytest.raises(ApplyError, match=r"cannot rewrite .*00000.tar: unexpected end of data"):
        apply_blocklist(cut.parent, {"00000": {"000000"}})
    assert cut.read_bytes() == path.read_bytes()[:last_end - 1000]


def test_unusual_archives_are_left_to_tarfile(tmp_path):
    # A global PAX header, and a corrupted header in the middle (tarfile stops there).
    path = tmp_path / "g.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "global"}) as archive:
        webdataset(archive)
    with open(path, "rb") as f:
        assert _walk_tar(f, path.stat().st_size) is None
    assert tar_members(path) == tarfile_members(path)

    plain = write(tmp_path / "p.tar", tarfile.USTAR_FORMAT, webdataset)
    data = bytearray(plain.read_bytes())
    third = tarfile_members(plain)[2][1]
    data[third + 10] ^= 0xFF  # breaks that header's checksum
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    with open(bad, "rb") as f:
        assert _walk_tar(f, bad.stat().st_size) is None
    assert tar_members(bad) == tarfile_members(bad) == tarfile_members(plain)[:2]


def test_empty_and_not_tar_files_are_read_as_tarfile_reads_them(tmp_path):
    path = tmp_path / "x.tar"
    path.write_bytes(b"\0" * 1024)
    assert tar_members(path) == tarfile_members(path) == []
    path.write_bytes(b"")
    with pytest.raises(tarfile.ReadError, match="empty file"):
        tar_members(path)
    path.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(tarfile.ReadError, match="invalid header"):
        tar_members(path)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_a_rewrite_keeps_every_other_member_byte_for_byte(tmp_path, fmt):
    path = write(tmp_path / "a.tar", fmt, long_and_odd_names)
    before = {m.name: m for m in tarfile.open(path).getmembers()}

    removed, found = rewrite_tar(path, {"000001", "000003"})

    assert (removed, found) == (2, {"000001", "000003"})
    with tarfile.open(path) as archive:
        after = archive.getmembers()
        names = [m.name for m in after]
        assert names == [n for n in before if not n.endswith(("000001.jpg", "000003.lnk"))]
        for member in after:
            assert member.get_info() == before[member.name].get_info()
            if member.isreg():
                assert archive.extractfile(member).read() == (b"caption" if member.name.endswith("txt")
                                                              else b"{}" if member.name.endswith("json")
                                                              else b"" if member.name == "000005.jpg"
                                                              else b"x" * 700)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_damaged_archives_read_the_same_as_with_tarfile(tmp_path, fmt):
    import random

    rng = random.Random(fmt)
    whole = bytearray(write(tmp_path / "a.tar", fmt, long_and_odd_names).read_bytes())
    headers = [start for _, start, _ in tarfile_members(tmp_path / "a.tar")]
    path = tmp_path / "d.tar"
    for _ in range(600):
        data = bytearray(whole)
        at = min(rng.choice(headers) + rng.randrange(1536), len(data) - 1)  # in or near header blocks
        data[at] = rng.randrange(256)
        path.write_bytes(bytes(data))
        assert_reads_like_tarfile(path, at)
