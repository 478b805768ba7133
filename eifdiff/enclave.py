"""The enclave's own layer (PCR1): the kernel read down to its vmlinux, the cmdline, and the
`init` and kernel modules of the ramdisks, each identified against nitro-cli's known blobs and
checked for consistency.

`read_layer` takes what `eifdiff.load` opened (the image, the kernel and cmdline bytes, the
ramdisks to look in) and returns one `EnclaveLayer`; `describe` passes only the first ramdisk
(the bootstrap ramdisk nitro-cli builds from its blobs), the differ may pass them all.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, replace

from eifdiff.blobs import KnownBlob, blob_set_change, identify, identify_cmdline
from eifdiff.consistency import ConsistencyWarning, Part, check
from eifdiff.errors import Anomaly, FormatError, display_path
from eifdiff.formats.bzimage import KernelImage, parse_setup_header, read_kernel
from eifdiff.formats.eif import SectionType
from eifdiff.formats.elf import ElfFacts, elf_facts, is_elf
from eifdiff.image import start_image
from eifdiff.load import Limits, LoadedImage, Ramdisk, load_ramdisk
from eifdiff.mapped import MappedFile
from eifdiff.records import Divergence

MAX_PART_SIZE = 64 << 20  # an init or a module larger than this is not read


@dataclass(frozen=True, slots=True)
class BootPart:
    """An `init` or a kernel module (`*.ko`) in a ramdisk: where (`section`, `entry`), what,
    and which blob it is."""

    section: str
    entry: str
    role: str
    sha256: str
    elf: ElfFacts | None
    blob: KnownBlob | None
    error: str | None = None  # why a file with the ELF magic could not be read

    @property
    def path(self) -> str:
        """For display only."""
        return display_path(self.section, self.entry)

    @property
    def arch(self) -> str | None:
        return self.elf.arch if self.elf is not None else None

    @property
    def vermagic(self) -> str | None:
        m = self.elf.module if self.elf is not None else None
        return m.vermagic if m is not None else None


@dataclass(frozen=True)
class EnclaveLayer:
    """What PCR1 covers, read and explained. `kernel` is None when it could not be read, and
    `kernel_error` says why (a test kernel that is only a header, a payload compressed with
    lzo); `anomalies` are parts of a read kernel that could not be (a damaged embedded
    config, a vmlinux pyelftools refuses)."""

    kernel: KernelImage | None
    kernel_error: str | None
    kernel_sha256: str
    kernel_blob: KnownBlob | None
    cmdline_blob: KnownBlob | None
    parts: tuple[BootPart, ...]
    warnings: tuple[ConsistencyWarning, ...]
    anomalies: tuple[Anomaly, ...]

    @property
    def kernel_release(self) -> str | None:
        k = self.kernel
        return k.banner.release if k is not None and k.banner is not None else None

    def blobs(self) -> tuple[tuple[str, str, KnownBlob | None], ...]:
        """(role, sha256, match) for the kernel and each boot part (role: its name), for
        `blobs.blob_set_change`."""
        return (("kernel", self.kernel_sha256, self.kernel_blob),
                *((p.entry, p.sha256, p.blob) for p in self.parts))


def _role(name: str) -> str | None:
    base = posixpath.basename(name)
    if name.lstrip("./") == "init":
        return "init"
    if base.endswith(".ko"):
        return "module"
    return None


def boot_parts(ramdisks: Iterable[tuple[int, Ramdisk]]) -> list[BootPart]:
    """The top-level `init` and every `*.ko` regular file of the given (index, ramdisk)s; an
    ELF that cannot be read keeps its error (a comparison reports it as an anomaly)."""
    parts = []
    for index, rd in ramdisks:
        for m in rd.members():
            e = m.entry
            role = _role(e.name)
            if role is None or e.kind != "file" or e.filesize > MAX_PART_SIZE:
                continue
            data = m.data
            digest = hashlib.sha256(data).hexdigest()
            facts = error = None
            if is_elf(data):
                try:
                    facts = elf_facts(data)
                except FormatError as exc:
                    error = exc.detail
            parts.append(BootPart(f"ramdisk[{index}]", e.name, role, digest, facts,
                                  identify(data, sha256=digest), error))
    return parts


def _kernel_arch(kernel: KernelImage | None, kernel_format: str,
                 data: memoryview) -> str | None:
    """The kernel's architecture; from its setup header or its format alone when the vmlinux
    was not read (`x86`: a bzImage whose header does not say it is 64-bit)."""
    if kernel is not None:
        return kernel.arch if kernel.arch != "unknown" else None
    if kernel_format == "bzImage":
        try:
            return parse_setup_header(data).arch
        except FormatError:
            return "x86"
    return {"arm64-image": "aarch64"}.get(kernel_format)


def read_layer(eif_arch: str, kernel_format: str, kernel_data: memoryview, kernel_offset: int,
               cmdline: str | None, ramdisks: Iterable[tuple[int, Ramdisk]],
               header_release: str | None = None, *, read_vmlinux: bool = True) -> EnclaveLayer:
    """Read the kernel section (at file offset `kernel_offset`), identify the blobs, find the
    boot parts in `ramdisks` and check that they fit together. `header_release` is the release
    the setup header's version string names, used when the vmlinux is not read (without
    `read_vmlinux`, or when it cannot be)."""
    anomalies: list[Anomaly] = []
    kernel = error = None
    try:
        kernel = read_kernel(kernel_data) if read_vmlinux else None
    except FormatError as exc:
        error = exc.detail
    if kernel is not None:
        anomalies += [Anomaly("kernel", p, kernel_offset) for p in kernel.problems]
    digest = hashlib.sha256(kernel_data).hexdigest()
    parts = boot_parts(ramdisks)
    release = kernel.banner.release if kernel is not None and kernel.banner else None
    release = release or header_release or None
    checked = [Part("kernel", "kernel", _kernel_arch(kernel, kernel_format, kernel_data),
                    release)]
    for p in parts:
        vm = p.vermagic
        checked.append(Part(p.path, p.role, p.arch, vm.split()[0] if vm and vm.split() else None,
                            vm))
    return EnclaveLayer(
        kernel=kernel, kernel_error=error, kernel_sha256=digest,
        kernel_blob=identify(kernel_data, sha256=digest),
        cmdline_blob=identify_cmdline(cmdline) if cmdline is not None else None,
        parts=tuple(parts), warnings=check(eif_arch, checked), anomalies=tuple(anomalies),
    )


def open_bootstrap(path: str | os.PathLike[str], *, limits: Limits | None = None) -> LoadedImage:
    """Open and measure an EIF and read only its first ramdisk (nitro-cli's bootstrap ramdisk
    with `init` and `nsm.ko`): what `describe` needs, without reading the user's ramdisks."""
    mapped = MappedFile.open(path)
    try:
        pending = start_image(mapped)
    except BaseException:
        mapped.close()
        raise
    loaded = LoadedImage(pending, mapped, ())
    try:
        loaded.ramdisks = tuple(
            load_ramdisk(mapped.view[s.data_offset : s.end], s, limits or Limits(),
                         loaded._temps)
            for s in pending.layout.of_type(SectionType.RAMDISK)[:1])
    except BaseException:
        loaded.close()
        raise
    return loaded


def layer_of(loaded: LoadedImage, *, read_vmlinux: bool = True) -> EnclaveLayer:
    """The enclave layer of an opened image, looking in its first ramdisk (nitro-cli's
    bootstrap ramdisk; a root filesystem's own modules are not checked against the kernel).
    Without `read_vmlinux` the kernel is known only by its version string and format."""
    image = loaded.image
    lay = image.layout
    kernel = lay.one(SectionType.KERNEL)
    assert kernel is not None  # parse_layout guarantees exactly one
    cmd = lay.one(SectionType.CMDLINE)
    cmdline = (bytes(loaded.section_data(cmd)).decode("utf-8", "replace")
               if cmd is not None else None)
    return read_layer(lay.header.arch, image.kernel_format, loaded.section_data(kernel),
                      kernel.data_offset, cmdline, enumerate(loaded.ramdisks[:1]),
                      image.kernel_version.release if image.kernel_version else None,
                      read_vmlinux=read_vmlinux)


def pcr1_findings(a: LoadedImage, b: LoadedImage, divergences: tuple[Divergence, ...]
                  ) -> tuple[list[tuple[str, ConsistencyWarning]], tuple[Divergence, ...]]:
    """For a comparison: each side's consistency warnings, and the rows about PCR1's parts
    (the kernel, the cmdline, the boot parts) with a hint naming the nitro-cli blob sets when
    both sides are known blobs and they differ."""
    la, lb = layer_of(a, read_vmlinux=False), layer_of(b, read_vmlinux=False)
    warned = [(side, w) for side, layer in (("a", la), ("b", lb)) for w in layer.warnings]
    change = blob_set_change(la.blobs(), lb.blobs())
    if change is None:
        return warned, divergences
    parts = {(p.section, p.entry) for p in (*la.parts, *lb.parts)}
    out = tuple(replace(d, hint=f"{change.summary}. {d.hint}")
                if (d.section, d.entry) in parts or d.section in ("kernel", "cmdline") else d
                for d in divergences)
    return warned, out
