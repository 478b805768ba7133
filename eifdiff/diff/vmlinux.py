"""Two kernels read down to their vmlinux: what the banner, the config, the built-in initramfs and
the vmlinux ELF say differs, and which image bytes only follow from that.

Offsets of rows about the vmlinux are in its decompressed bytes (stream `vmlinux`); rows about
the image itself are file offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from eifdiff import rules as R
from eifdiff.diff.content import ElfComparison
from eifdiff.diff.rows import Where
from eifdiff.errors import Anomaly, FormatError
from eifdiff.formats.bzimage import (
    BuiltinInitramfs,
    KernelImage,
    UnsupportedCompression,
    read_kernel,
)
from eifdiff.formats.cpio import read_archive
from eifdiff.formats.eif import Section
from eifdiff.formats.kernel import KernelVersion
from eifdiff.records import Divergence

STREAM = "vmlinux"
# setup header fields that follow from the payload's size: syssize, payload_length, init_size
SIZE_FIELDS = ((0x1F4, 4), (0x24C, 4), (0x260, 4))


def open_kernel(section: Section, data: memoryview) -> tuple[KernelImage | None, Anomaly | None]:
    """The kernel read down to its vmlinux; an anomaly only for a payload Python cannot
    decompress (a kernel that is only a header, as in tests, is silently not read)."""
    try:
        return read_kernel(data), None
    except UnsupportedCompression as exc:
        return None, Anomaly("kernel", exc.detail, section.data_offset + 0x248)
    except FormatError:
        return None, None


def _banner_rows(here: Where, ba: KernelVersion | None, bb: KernelVersion | None,
                 with_version: bool) -> Iterator[Divergence]:
    """Compiler and linker from the vmlinux banner; release, builder, number, date, flags and
    distribution version too when the image has no version string of its own (`with_version`)."""
    if ba is None or bb is None or ba.text == bb.text:
        return
    fields = [("compiler", R.COMPILER), ("linker", R.LINKER)]
    if with_version:
        fields = [("release", R.RELEASE), ("build_host", R.BUILD_HOST),
                  ("build_number", R.BUILD_NUMBER), ("build_date", R.BUILD_DATE),
                  ("distro_version", R.DISTRO_VERSION), ("flags", R.BUILD_FLAGS), *fields]
    for attr, field in fields:
        x, y = getattr(ba, attr), getattr(bb, attr)
        if x != y:
            yield here.row(R.KERNEL, field, x, y, part="banner",
                           offset_a=ba.offset + max(ba.text.find(x), 0) if x else ba.offset,
                           offset_b=bb.offset + max(bb.text.find(y), 0) if y else bb.offset,
                           length=len(x) if x else None)


def same_compiler(row: Divergence, ka: KernelImage | None,
                  kb: KernelImage | None) -> Divergence:
    """A `release` row that also names the compiler when both kernels' banners name the same
    one (a different compiler has its own row)."""
    ba, bb = (ka.banner if ka else None), (kb.banner if kb else None)
    if ba is None or bb is None or not ba.compiler or ba.compiler != bb.compiler:
        return row
    return replace(row, hint=f"Both built by {ba.compiler}. {row.hint}")


def vmlinux_rows(here: Where, ka: KernelImage, kb: KernelImage,
                 with_version: bool) -> Iterator[Divergence]:
    """Rows for what differs inside two kernels (both read)."""
    inside = Where(here.section, here.pcrs, stream_a=STREAM, stream_b=STREAM)
    if ka.compression != kb.compression:
        yield here.row(R.KERNEL, R.PAYLOAD_COMPRESSION, ka.compression, kb.compression,
                       offset_a=ka.payload_offset, offset_b=kb.payload_offset)
    if ka.vmlinux == kb.vmlinux:
        return
    yield from _banner_rows(inside, ka.banner, kb.banner, with_version)
    ca, cb = ka.config, kb.config
    if ca is not None and cb is not None and ca.options != cb.options:
        da, db = ca.as_dict(), cb.as_dict()
        for key in dict.fromkeys([*da, *db]):
            if da.get(key) != db.get(key):
                yield inside.row(R.KERNEL, R.CONFIG_OPTION, da.get(key), db.get(key), part=key,
                                 offset_a=ca.offset, offset_b=cb.offset)
    elif (ca is None) != (cb is None):
        yield inside.row(R.KERNEL, R.CONFIG_OPTION, ca and f"{len(ca.options)} options",
                         cb and f"{len(cb.options)} options", part="IKCONFIG")
    ia, ib = ka.initramfs, kb.initramfs
    if (ia.data if ia else None) != (ib.data if ib else None):
        yield from _initramfs_rows(inside, ia, ib)
    if ka.elf is not None and kb.elf is not None:
        yield from ElfComparison(inside, ka.elf, kb.elf, memoryview(ka.vmlinux),
                                 memoryview(kb.vmlinux), 0, 0).rows()


def _initramfs_rows(inside: Where, ia: BuiltinInitramfs | None,
                    ib: BuiltinInitramfs | None) -> Iterator[Divergence]:
    """A built-in initramfs diffed like a ramdisk, entry by entry: each differing header field
    under the rules for CPIO entries, `content` for differing data, added and removed entries;
    one `built-in initramfs` row when either side has none or cannot be read."""
    archives = []
    for x in (ia, ib):
        ar = read_archive(memoryview(x.data), base=x.offset, path="kernel",
                          stream=STREAM) if x is not None else None
        archives.append(ar if ar is not None and not ar.anomalies else None)
    aa, ab = archives
    if ia is None or ib is None or aa is None or ab is None:
        yield inside.row(R.KERNEL, R.INITRAMFS,
                         ia and f"{len(ia.names)} entries, {len(ia.data)} bytes",
                         ib and f"{len(ib.names)} entries, {len(ib.data)} bytes",
                         offset_a=ia.offset if ia else None, offset_b=ib.offset if ib else None,
                         length=len(ia.data) if ia else None)
        return
    da, db = ({e.name: e for e in ar.members} for ar in (aa, ab))
    for name in dict.fromkeys([*da, *db]):
        ea, eb = da.get(name), db.get(name)
        at = inside.inside(name, 0, STREAM, STREAM)
        if ea is None or eb is None:
            e = ea or eb
            assert e is not None
            yield at.row(R.CPIO, R.REMOVED if eb is None else R.ADDED,
                         ea and f"{ea.filesize} bytes", eb and f"{eb.filesize} bytes",
                         offset_a=ea.header_offset if ea else None,
                         offset_b=eb.header_offset if eb else None)
            continue
        for field, pos in _NEWC_FIELDS:
            x, y = getattr(ea, field), getattr(eb, field)
            if x != y:
                yield at.row(R.CPIO, field, x, y, offset_a=ea.header_offset + pos,
                             offset_b=eb.header_offset + pos, length=8)
        xa = ia.data[ea.data_offset - ia.offset : ea.data_offset - ia.offset + ea.filesize]
        xb = ib.data[eb.data_offset - ib.offset : eb.data_offset - ib.offset + eb.filesize]
        if xa != xb:
            yield at.row(R.CPIO, R.CONTENT, f"{len(xa)} bytes", f"{len(xb)} bytes",
                         offset_a=ea.data_offset, offset_b=eb.data_offset, length=len(xa))


# newc header fields compared per entry, with their offset in the 110-byte header
_NEWC_FIELDS = (("ino", 6), ("mode", 14), ("uid", 22), ("gid", 30), ("nlink", 38),
                ("mtime", 46), ("filesize", 54), ("devmajor", 62), ("devminor", 70),
                ("rdevmajor", 78), ("rdevminor", 86))


def _masked_prefix(data: memoryview, k: KernelImage, version: tuple[int, int] | None) -> bytes:
    """The image before its payload with the version string and the size fields blanked."""
    end = k.payload_offset if k.payload_offset is not None else 0
    head = bytearray(data[:end])
    spans = [*SIZE_FIELDS, *([] if version is None else [(version[0], version[1] - version[0])])]
    for at, n in spans:
        head[at : at + n] = bytes(len(head[at : at + n]))
    return bytes(head)


def image_rows(here: Where, sa: Section, data_a: memoryview, ka: KernelImage,
               sb: Section, data_b: memoryview, kb: KernelImage,
               version: tuple[int, int] | None) -> Iterator[Divergence] | None:
    """For two bzImages read to the vmlinux: the payload and the setup sizes as `derived` rows,
    and an `image bytes` row only for other bytes (the setup code, the decompressor). None when
    the images are not both bzImages, so the caller keeps its byte-level check."""
    if ka.setup is None or kb.setup is None or ka.payload_offset is None \
            or kb.payload_offset is None or ka.payload_size is None or kb.payload_size is None:
        return None
    if ka.vmlinux != kb.vmlinux and (ka.elf is None or kb.elf is None):
        return None  # a vmlinux that is no readable ELF explains nothing: bytes compared
    rows = []
    pa = data_a[ka.payload_offset : ka.payload_offset + ka.payload_size]
    pb = data_b[kb.payload_offset : kb.payload_offset + kb.payload_size]
    if bytes(pa) != bytes(pb):
        field = R.PAYLOAD
        if ka.vmlinux == kb.vmlinux and ka.compression == kb.compression:
            field = R.PAYLOAD_RECOMPRESSED  # the same kernel, compressed differently: a cause
        rows.append(here.row(R.KERNEL, field, f"{len(pa)} bytes", f"{len(pb)} bytes",
                             offset_a=sa.data_offset + ka.payload_offset,
                             offset_b=sb.data_offset + kb.payload_offset, length=len(pa)))
    head_a, head_b = _masked_prefix(data_a, ka, version), _masked_prefix(data_b, kb, version)
    tail_a = bytes(data_a[ka.payload_offset + ka.payload_size :])
    tail_b = bytes(data_b[kb.payload_offset + kb.payload_size :])
    sizes_differ = any(bytes(data_a[at : at + n]) != bytes(data_b[at : at + n])
                       for at, n in SIZE_FIELDS)
    rest_differs = head_a != head_b or tail_a != tail_b
    first = next((i for i, (x, y) in enumerate(zip(head_a, head_b, strict=False)) if x != y),
                 min(len(head_a), len(head_b)))
    if rest_differs and len(pa) == len(pb):
        # a payload of the same size moves nothing around it: other bytes differ for a reason
        rows.insert(0, here.row(R.KERNEL, R.IMAGE_BYTES, f"{len(data_a)} bytes",
                                f"{len(data_b)} bytes", offset_a=sa.data_offset + first,
                                offset_b=sb.data_offset + first, length=len(data_a)))
    elif rest_differs or sizes_differ:
        rows.append(here.row(R.KERNEL, R.SETUP_FIELDS, f"payload of {len(pa)} bytes",
                             f"payload of {len(pb)} bytes",
                             offset_a=sa.data_offset + min(first, 0x1F4),
                             offset_b=sb.data_offset + min(first, 0x1F4)))
    return iter(rows)
