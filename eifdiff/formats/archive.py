"""Archives nested in an image: zip (jar, wheel, apk), tar, tar.gz and single gzip members.

Each member becomes a `Member` record with what two rebuilds commonly change: its order, its
timestamps (zip DOS time and the extended-timestamp extra field, tar mtime), mode or external
attributes, owners, extra fields, CRC, compression method and sizes, and a SHA-256 of its
content. Reading is bounded (member count, total inflated size, per-member ratio); damage is an
`Anomaly` and the members read so far are kept. The zip directory is read by hand (central
directory, zip64 records, local headers) so that every field and offset is kept; tar headers
are read with the standard library's `tarfile`, one header at a time.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zlib
from calendar import timegm
from dataclasses import dataclass

from eifdiff.errors import Anomaly, FormatError
from eifdiff.formats.compression import GzipHeader, decompress_to, parse_gzip_header
from eifdiff.mapped import sha256_of, touched

MAX_MEMBERS = 100_000
MAX_TOTAL = 512 << 20  # inflated bytes read from one archive (zip members are streamed)
MAX_GZIP = 64 << 20  # a gzip or tar.gz is inflated in memory up to this size
MAX_RATIO = 1000  # inflated / compressed for one member (past 1 MiB)
MAX_INPUT = 1 << 30
CHUNK = 1 << 20
ZIP_LOCAL = b"PK\x03\x04"
ZIP_CENTRAL = b"PK\x01\x02"
ZIP_END = b"PK\x05\x06"
ZIP64_END = b"PK\x06\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
EXTENDED_TIMESTAMP = 0x5455  # "UT": unix mtime (and atime, ctime in local headers)
ZIP64_EXTRA = 0x0001


@dataclass(frozen=True, slots=True)
class Member:
    """One archive member. `index` is its place in the archive; `mtime` the modification
    time in seconds (zip: the UT extra field when present, else the DOS time read as UTC);
    `dos_time` the raw zip DOS date and time; `mode` the permission and type bits (tar mode,
    or zip external attributes >> 16 when made on Unix); `extra` the zip extra fields as
    (id, bytes) pairs, central then local, or tar PAX records; `digest` the SHA-256 of the
    content (None when it could not be read); `offset` the header offset in the archive and
    `data_offset` where its stored bytes start."""

    name: str
    index: int
    kind: str  # file, dir, symlink, other
    size: int
    mtime: int | None
    mode: int | None
    digest: str | None
    offset: int
    data_offset: int
    compressed_size: int
    dos_time: tuple[int, int] | None = None
    external_attr: int | None = None
    creator: int | None = None  # zip "version made by" (system << 8 | version)
    method: int | None = None
    crc: int | None = None
    flags: int | None = None
    extra: tuple[tuple[int | str, bytes], ...] = ()
    local_extra: tuple[tuple[int, bytes], ...] = ()
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    linkname: str | None = None
    compressed_digest: str | None = None


@dataclass(frozen=True)
class Archive:
    """The members of one archive; `kind` is zip, tar or gzip; `wrapper` the gzip header of a
    tar.gz or gzip file; `comment` the zip comment; `anomalies` what could not be read (their
    `section` is the name given to the reader, their `part` the member)."""

    kind: str
    members: tuple[Member, ...]
    anomalies: tuple[Anomaly, ...] = ()
    wrapper: GzipHeader | None = None
    comment: bytes = b""

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


def detect(head: bytes | memoryview) -> str | None:
    """`zip`, `gzip` or `tar` from the first bytes (a tar needs 262 of them)."""
    head = bytes(head[:262])
    if head[:4] in (ZIP_LOCAL, ZIP_END):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def dos_epoch(date: int, time: int) -> int | None:
    """A DOS date and time as seconds since the epoch (read as UTC), None when invalid."""
    year, month, day = 1980 + (date >> 9), (date >> 5) & 15, date & 31
    hour, minute, second = time >> 11, (time >> 5) & 63, (time & 31) * 2
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        return None
    return timegm((year, month, day, hour, minute, second, 0, 0, 0))


def extra_fields(raw: bytes) -> tuple[tuple[int, bytes], ...]:
    """Zip extra fields as (header id, data) pairs; a damaged tail is one (-1, bytes) pair."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(raw):
        hid, size = struct.unpack_from("<HH", raw, pos)
        if pos + 4 + size > len(raw):
            break
        out.append((hid, raw[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    if pos < len(raw):
        out.append((-1, raw[pos:]))
    return tuple(out)


def _ut_mtime(fields: tuple[tuple[int | str, bytes], ...]) -> int | None:
    for hid, data in fields:
        if hid == EXTENDED_TIMESTAMP and len(data) >= 5 and data[0] & 1:
            return int(struct.unpack_from("<i", data, 1)[0])
    return None


class _Budget:
    """The inflated bytes an archive may still produce."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise FormatError(f"members inflate past {MAX_TOTAL} bytes in total")


def _inflate(raw: memoryview, method: int, budget: _Budget) -> tuple[str, int, int]:
    """(SHA-256, size, CRC-32) of a stored or deflated member, bounded."""
    digest, size, crc = hashlib.sha256(), 0, 0
    limit = MAX_RATIO * len(raw) + (1 << 20)
    if method == 0:
        budget.take(len(raw))
        for pos in range(0, len(raw), CHUNK):
            chunk = raw[pos : pos + CHUNK]
            digest.update(chunk)
            crc = zlib.crc32(chunk, crc)
            touched(len(chunk))
        return digest.hexdigest(), len(raw), crc
    d = zlib.decompressobj(-15)
    pending = b""
    pos = 0
    while True:
        if not pending:
            if pos >= len(raw):
                break
            pending, pos = bytes(raw[pos : pos + CHUNK]), pos + CHUNK
            touched(len(pending))
        try:
            out = d.decompress(pending, CHUNK)
        except zlib.error as exc:
            raise FormatError(f"corrupt deflate data after {size} bytes: {exc}") from None
        pending = d.unconsumed_tail
        size += len(out)
        budget.take(len(out))
        if size > limit:
            raise FormatError(f"inflates past {MAX_RATIO}x its compressed size")
        digest.update(out)
        crc = zlib.crc32(out, crc)
        if d.eof:
            break
    if not d.eof:
        raise FormatError(f"deflate data cut short after {size} bytes")
    return digest.hexdigest(), size, crc


def _zip_end(view: memoryview) -> tuple[int, int, int, bytes, int]:
    """(entry count, central directory size, its offset, comment, bytes prepended to the
    archive) from the end records."""
    tail_at = max(0, len(view) - (22 + 0xFFFF))
    tail = bytes(view[tail_at:])
    at = tail.rfind(ZIP_END)
    while at >= 0 and (at + 22 > len(tail)):
        at = tail.rfind(ZIP_END, 0, at)
    if at < 0:
        raise FormatError("no zip end-of-central-directory record")
    _, _, _, count, cd_size, cd_off, clen = struct.unpack_from("<HHHHIIH", tail, at + 4)
    comment = tail[at + 22 : at + 22 + clen]
    end = tail_at + at
    if count == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_off):
        loc = end - 20
        if loc < 0 or bytes(view[loc : loc + 4]) != ZIP64_LOCATOR:
            raise FormatError("zip64 sizes without a zip64 locator")
        (z64,) = struct.unpack_from("<Q", view, loc + 8)
        if z64 + 56 > len(view) or bytes(view[z64 : z64 + 4]) != ZIP64_END:
            raise FormatError(f"zip64 end record expected at offset {z64}")
        count, cd_size, cd_off = struct.unpack_from("<QQQ", view, z64 + 32)
        end = z64
    base = end - cd_size - cd_off  # bytes prepended to the archive (self-extracting stubs)
    if base < 0 or cd_off + base + cd_size > len(view):
        raise FormatError(f"central directory at offset {cd_off} ({cd_size} bytes) lies "
                          f"outside the {len(view)}-byte archive")
    return count, cd_size, cd_off + base, comment, base


def read_zip(data: bytes | memoryview, path: str = "") -> Archive:
    """The members of a zip (jar, wheel) in central-directory order. FormatError when the end
    records are unusable; damage in a member is an anomaly."""
    view = memoryview(data).cast("B")
    count, cd_size, cd_at, comment, base = _zip_end(view)
    members: list[Member] = []
    anomalies: list[Anomaly] = []
    budget = _Budget()
    pos, end = cd_at, cd_at + cd_size
    for index in range(min(count, MAX_MEMBERS + 1)):
        if index == MAX_MEMBERS:
            anomalies.append(Anomaly(path, f"more than {MAX_MEMBERS} members: the rest is "
                                           "not read", pos))
            break
        if pos + 46 > end or bytes(view[pos : pos + 4]) != ZIP_CENTRAL:
            anomalies.append(Anomaly(path, f"central directory entry {index} expected", pos))
            break
        (made, _, flags, method, time, date, crc, csize, usize, nlen, xlen, clen, _, _,
         eattr, lho) = struct.unpack_from("<HHHHHHIIIHHHHHII", view, pos + 4)
        name_raw = bytes(view[pos + 46 : pos + 46 + nlen])
        extra = extra_fields(bytes(view[pos + 46 + nlen : pos + 46 + nlen + xlen]))
        at = pos
        pos += 46 + nlen + xlen + clen
        if pos > end:
            anomalies.append(Anomaly(path, f"central directory entry {index} runs past the "
                                           "directory", at))
            break
        name = name_raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        for hid, d in extra:  # zip64: the real sizes and offset, in this order
            if hid == ZIP64_EXTRA:
                vals = list(struct.unpack_from(f"<{len(d) // 8}Q", d))
                if usize == 0xFFFFFFFF and vals:
                    usize = vals.pop(0)
                if csize == 0xFFFFFFFF and vals:
                    csize = vals.pop(0)
                if lho == 0xFFFFFFFF and vals:
                    lho = vals.pop(0)
        local = lho + base
        problem = None
        digest = cdigest = None
        local_extra: tuple[tuple[int, bytes], ...] = ()
        data_at = local + 30
        if local + 30 > len(view) or bytes(view[local : local + 4]) != ZIP_LOCAL:
            problem = f"local header expected at offset {local}"
        else:
            lnlen, lxlen = struct.unpack_from("<HH", view, local + 26)
            local_extra = extra_fields(bytes(view[local + 30 + lnlen : local + 30 + lnlen +
                                                  lxlen]))
            data_at = local + 30 + lnlen + lxlen
            if data_at + csize > len(view):
                problem = f"{csize} compressed bytes claimed past the archive's end"
        if problem is None:
            raw = view[data_at : data_at + csize]
            cdigest = sha256_of(raw)
            if method in (0, 8) and not flags & 1:
                try:
                    digest, size, got_crc = _inflate(raw, method, budget)
                    if size != usize or got_crc != crc:
                        problem = (f"content is {size} bytes with CRC {got_crc:08x}; the "
                                   f"directory says {usize} bytes, CRC {crc:08x}")
                except FormatError as exc:
                    problem = exc.detail
                    if "in total" in exc.detail:
                        anomalies.append(Anomaly(path, problem, data_at, part=name))
                        break
        if problem is not None:
            anomalies.append(Anomaly(path, problem, data_at, part=name))
        system = made >> 8
        mode = (eattr >> 16) or None if system == 3 else None
        kind = "dir" if name.endswith("/") else (
            "symlink" if mode is not None and (mode & 0o170000) == 0o120000 else "file")
        mtime = _ut_mtime(local_extra + extra) or dos_epoch(date, time)
        members.append(Member(
            name=name, index=index, kind=kind, size=usize, mtime=mtime, mode=mode,
            digest=digest, offset=local, data_offset=data_at, compressed_size=csize,
            dos_time=(date, time), external_attr=eattr, creator=made, method=method, crc=crc,
            flags=flags, extra=extra, local_extra=local_extra, compressed_digest=cdigest))
    return Archive("zip", tuple(members), tuple(anomalies), comment=comment)


_TAR_KIND = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
             tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}


def read_tar(data: bytes | memoryview, path: str = "", *,
             wrapper: GzipHeader | None = None) -> Archive:
    """The members of a tar, in archive order; damage after the first header is an anomaly
    (the members before it are kept)."""
    raw = bytes(data)
    members: list[Member] = []
    anomalies: list[Anomaly] = []
    try:
        tf = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")  # noqa: SIM115 - in memory
    except (tarfile.TarError, EOFError, ValueError, OverflowError) as exc:
        raise FormatError(f"not a tar archive: {exc}", offset=0) from None
    budget = _Budget()
    index = 0
    while True:
        at = tf.offset
        try:
            info = tf.next()
        except (tarfile.TarError, EOFError, ValueError, OverflowError, UnicodeError) as exc:
            anomalies.append(Anomaly(path, f"tar header: {exc}", at))
            break
        if info is None:
            rest = memoryview(raw)[tf.offset : tf.offset + 1024]
            if any(rest):
                anomalies.append(Anomaly(path, f"{len(raw) - tf.offset} bytes after the last "
                                               "member are not a tar header", tf.offset))
            break
        if index == MAX_MEMBERS:
            anomalies.append(Anomaly(path, f"more than {MAX_MEMBERS} members: the rest is "
                                           "not read", info.offset))
            break
        digest = None
        if info.isreg():
            end = info.offset_data + info.size
            if end > len(raw):
                anomalies.append(Anomaly(path, f"{info.size} bytes claimed past the archive's "
                                               "end", info.offset_data, part=info.name))
            else:
                try:
                    budget.take(info.size)
                except FormatError as exc:
                    anomalies.append(Anomaly(path, exc.detail, info.offset_data))
                    break
                digest = sha256_of(memoryview(raw)[info.offset_data : end])
        pax = tuple(sorted((k, v.encode("utf-8", "surrogateescape"))
                           for k, v in info.pax_headers.items()))
        members.append(Member(
            name=info.name, index=index, kind=_TAR_KIND.get(info.type, "other"),
            size=info.size, mtime=int(info.mtime), mode=info.mode, digest=digest,
            offset=info.offset, data_offset=info.offset_data, compressed_size=info.size,
            extra=pax, uid=info.uid, gid=info.gid, owner=info.uname, group=info.gname,
            linkname=info.linkname or None))
        index += 1
    return Archive("tar", tuple(members), tuple(anomalies), wrapper=wrapper)


def read_gzip(data: bytes | memoryview, path: str = "") -> Archive:
    """A gzip file: a tar inside becomes a tar archive with the gzip header as `wrapper`;
    anything else is one member named after the header's file name (or `path` less `.gz`)."""
    view = memoryview(data).cast("B")
    header = parse_gzip_header(view)
    out = io.BytesIO()
    decompress_to(view, "gzip", out, max_size=MAX_GZIP, max_ratio=MAX_RATIO)
    inner = out.getvalue()
    if detect(inner) == "tar":
        return read_tar(inner, path, wrapper=header)
    name = header.name or (path.rsplit("/", 1)[-1].removesuffix(".gz") if path else "")
    member = Member(name=name, index=0, kind="file", size=len(inner), mtime=header.mtime,
                    mode=None, digest=hashlib.sha256(inner).hexdigest(), offset=0,
                    data_offset=header.header_size, compressed_size=len(view) -
                    header.header_size, compressed_digest=hashlib.sha256(
                        view[header.header_size :]).hexdigest())
    return Archive("gzip", (member,), wrapper=header)


def read_archive(data: bytes | memoryview, path: str = "") -> Archive | None:
    """The archive in `data` (zip, tar, gzip or tar.gz), None when it is none of these.
    FormatError when it starts like one but cannot be read at all."""
    if len(data) > MAX_INPUT:
        raise FormatError(f"archive larger than {MAX_INPUT >> 20} MiB is not read")
    kind = detect(data)
    if kind == "zip":
        return read_zip(data, path)
    if kind == "gzip":
        return read_gzip(data, path)
    if kind == "tar":
        return read_tar(data, path)
    return None


def read_member(data: bytes | memoryview, archive: Archive, member: Member,
                limit: int = 16 << 20) -> bytes | None:
    """The content of one member (at most `limit` bytes inflated), None when it cannot be read
    (another compression method, damage, too large). Zip and tar members only."""
    view = memoryview(data).cast("B")
    if member.size > limit or member.data_offset + member.compressed_size > len(view):
        return None
    raw = view[member.data_offset : member.data_offset + member.compressed_size]
    if archive.kind == "tar" and archive.wrapper is None:
        return bytes(raw)
    if archive.kind != "zip" or member.method not in (0, 8):
        return None
    if member.method == 0:
        return bytes(raw)
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(bytes(raw), limit + 1)
    except zlib.error:
        return None
    return out if len(out) <= limit and d.eof else None
