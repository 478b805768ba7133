"""Enclave measurements (PCR0, PCR1, PCR2, PCR8) and the EIF CRC-32, computed as AWS computes them.

PCRn = SHA-384(48 zero bytes || SHA-384(data)), where the data of PCR0 is every kernel, cmdline and
ramdisk section in file order, PCR1 the kernel, cmdline and first ramdisk, PCR2 the later ramdisks
and PCR8 the DER of the signing certificate. The CRC covers header bytes 0..544 and then every
section header and data. Large files are hashed by forked worker processes (one per chain,
and one for the CRC with the file's SHA-256 when asked), each streaming its own map of the file,
so two cores share the work; while the caller parses and compares entries meanwhile they run at
a lower priority. Threads are the fallback where fork is not available or another thread runs.
`in_parallel` runs other work (the remedies) the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar, cast

from eifdiff.errors import EifdiffError
from eifdiff.formats.eif import CRC_OFFSET, HEADER_SIZE, EifLayout, Section, SectionType
from eifdiff.mapped import MappedFile

ZERO_PCR = bytes(48)
THREADED_FROM = 16 << 20  # files smaller than this are measured in the calling process
MEASURED = (SectionType.KERNEL, SectionType.CMDLINE, SectionType.RAMDISK)


def extend(digest: bytes) -> bytes:
    """One TPM-style extend of an all-zero register with a SHA-384 digest."""
    return hashlib.sha384(ZERO_PCR + digest).digest()


def measure_chunks(chunks: Iterable[bytes | memoryview]) -> bytes:
    """The measurement of the concatenated chunks (`nitro-cli pcr --input` on one file)."""
    h = hashlib.sha384()
    for c in chunks:
        h.update(c)
    return extend(h.digest())


def pcr8(certificate_der: bytes) -> bytes:
    """PCR8 of a signed image: the measurement of the signing certificate's DER bytes."""
    return measure_chunks([certificate_der])


@dataclass(frozen=True, slots=True)
class Digests:
    """Raw PCR values and the recomputed CRC of one file."""

    pcr0: bytes
    pcr1: bytes
    pcr2: bytes
    crc32: int
    sha256: str | None = None

    def hex(self) -> dict[str, str]:
        return {"PCR0": self.pcr0.hex(), "PCR1": self.pcr1.hex(), "PCR2": self.pcr2.hex()}


@dataclass(frozen=True, slots=True)
class PcrPlan:
    """Which sections feed which PCR, in file order."""

    image: tuple[Section, ...]
    boot: tuple[Section, ...]
    app: tuple[Section, ...]

    @property
    def boot_is_prefix(self) -> bool:
        """True when PCR1's input is a prefix of PCR0's (then one hasher copy gives PCR1)."""
        return self.image[: len(self.boot)] == self.boot

    @classmethod
    def of(cls, layout: EifLayout) -> PcrPlan:
        image = tuple(s for s in layout.sections if s.type in MEASURED)
        rds = layout.ramdisks
        first = rds[0] if rds else None
        boot = tuple(s for s in image if s.type is not SectionType.RAMDISK or s is first)
        return cls(image, boot, rds[1:])


def sections_feeding(layout: EifLayout) -> dict[str, tuple[str, ...]]:
    """For each PCR, the names of the sections whose data it measures."""
    plan = PcrPlan.of(layout)
    out = {
        "PCR0": tuple(s.name for s in plan.image),
        "PCR1": tuple(s.name for s in plan.boot),
        "PCR2": tuple(s.name for s in plan.app),
    }
    if layout.one(SectionType.SIGNATURE):
        out["PCR8"] = ("signature",)
    return out


GATHER_BELOW, GATHER_UP_TO = 4 << 10, 64 << 10


def _gathered(chunks: Iterable[bytes | memoryview]
              ) -> Iterator[bytes | bytearray | memoryview]:
    """The same bytes in fewer pieces: runs of chunks under `GATHER_BELOW` bytes (CPIO headers,
    small payloads) are copied together up to `GATHER_UP_TO`, so each hasher is called once per
    run, not once per chunk; larger chunks pass uncopied."""
    buf = bytearray()
    for c in chunks:
        if len(c) >= GATHER_BELOW:
            if buf:
                yield buf
                buf = bytearray()
            yield c
            continue
        buf += c
        if len(buf) >= GATHER_UP_TO:
            yield buf
            buf = bytearray()
    if buf:
        yield buf


def measure_sections(sections: Sequence[tuple[SectionType, Iterable[bytes | memoryview]]]
                     ) -> dict[str, str]:
    """PCR0/1/2 (hex) of sections given in file order as (type, chunks), each chunk read once:
    PCR0's chain takes every measured section, PCR2's the ramdisks after the first, and PCR1's
    is a copy of PCR0's at the end of the first ramdisk (its own chain when a kernel or cmdline
    section comes after that ramdisk)."""
    kinds = [k for k, _ in sections if k in MEASURED]
    if SectionType.RAMDISK not in kinds:
        raise EifdiffError("an EIF needs at least one ramdisk")
    first = kinds.index(SectionType.RAMDISK)
    own_boot = any(k is not SectionType.RAMDISK for k in kinds[first + 1 :])
    image, later = hashlib.sha384(), hashlib.sha384()
    boot = hashlib.sha384() if own_boot else None
    i = -1
    for kind, chunks in sections:
        if kind not in MEASURED:
            continue
        i += 1
        to_later = i > first and kind is SectionType.RAMDISK
        to_boot = boot is not None and (kind is not SectionType.RAMDISK or i == first)
        for c in _gathered(chunks):
            image.update(c)
            if to_later:
                later.update(c)
            if to_boot:
                boot.update(c)  # type: ignore[union-attr]
        if i == first and boot is None:
            boot = image.copy()
    assert boot is not None
    return {"PCR0": extend(image.digest()).hex(), "PCR1": extend(boot.digest()).hex(),
            "PCR2": extend(later.digest()).hex()}


Stream = Callable[[int, int], Iterator[memoryview]]


def _image_job(stream: Stream, plan: PcrPlan) -> tuple[bytes, bytes | None]:
    h = hashlib.sha384()
    boot_digest = None
    for i, s in enumerate(plan.image):
        for chunk in stream(s.data_offset, s.end):
            h.update(chunk)
        if plan.boot_is_prefix and i == len(plan.boot) - 1:
            boot_digest = h.copy().digest()
    return extend(h.digest()), (extend(boot_digest) if boot_digest is not None else None)


def _sections_job(stream: Stream, sections: Sequence[Section]) -> bytes:
    h = hashlib.sha384()
    for s in sections:
        for chunk in stream(s.data_offset, s.end):
            h.update(chunk)
    return extend(h.digest())


def _crc_job(stream: Stream, end: int) -> int:
    crc = 0
    for chunk in stream(0, CRC_OFFSET):
        crc = zlib.crc32(chunk, crc)
    for chunk in stream(HEADER_SIZE, end):
        crc = zlib.crc32(chunk, crc)
    return crc


def _whole_job(stream: Stream, end: int, size: int) -> tuple[int, str]:
    """The CRC (header bytes 0..544, then `HEADER_SIZE..end`) and the SHA-256 of the whole
    file, in one pass: each window is read once for both."""
    crc, h = 0, hashlib.sha256()
    pos = 0
    for chunk in stream(0, size):
        h.update(chunk)
        n = len(chunk)
        for lo, hi in ((0, CRC_OFFSET), (HEADER_SIZE, end)):
            a, b = max(lo, pos), min(hi, pos + n)
            if a < b:
                crc = zlib.crc32(chunk[a - pos : b - pos], crc)
        pos += n
    return crc, h.hexdigest()


def _sha256_job(stream: Stream, size: int) -> str:
    h = hashlib.sha256()
    for chunk in stream(0, size):
        h.update(chunk)
    return h.hexdigest()


HASHING_NICE = 10
T = TypeVar("T")


class Spawn(Protocol):
    """Starts `job(*args)` in the background; the returned function waits for its result."""

    def __call__(self, job: Callable[..., T], /, *args: object) -> Callable[[], T]: ...


def cached(get: Callable[[], T]) -> Callable[[], T]:
    """`get`, called at most once."""
    box: list[T] = []

    def once() -> T:
        if not box:
            box.append(get())
        return box[0]

    return once


def _forked(job: Callable[..., T], *args: object, nice: int = HASHING_NICE) -> Callable[[], T]:
    """Run `job` in a forked child (at a lower priority when `nice`) and return a function that
    waits for its result. The child reads the page cache through its own map; separate
    processes keep the hashing off the interpreter lock, so entry parsing and comparing in this
    process run at full speed meanwhile. An `EifdiffError` in the child is raised again here
    with its message."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: work, send the pickled result, leave without cleanup
        code = 0
        try:
            os.close(read_end)
            if nice:
                with contextlib.suppress(OSError):
                    os.nice(nice)
            payload = pickle.dumps((True, job(*args)))
        except EifdiffError as exc:
            payload, code = pickle.dumps((False, ("eifdiff", str(exc)))), 1
        except BaseException as exc:
            payload, code = pickle.dumps((False, f"{type(exc).__name__}: {exc}")), 1
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
        os._exit(code)
    os.close(write_end)

    def result() -> T:
        with os.fdopen(read_end, "rb") as src:
            payload = src.read()
        os.waitpid(pid, 0)
        ok, value = pickle.loads(payload) if payload else (False, "no result")
        if not ok:
            if isinstance(value, tuple):
                raise EifdiffError(value[1])
            raise EifdiffError(f"measuring failed in a worker process: {value}")
        return cast(T, value)

    return cached(result)


def _background_nice() -> int:
    """The workers' priority beside a working caller: lower while the machine has a core to
    spare (the caller's serial work then never waits for them), the caller's own when it is
    busy (a lower priority would then hand the hashing, the longer part, to other programs)."""
    try:
        busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:
        busy = False
    return 0 if busy else HASHING_NICE


def may_fork() -> bool:
    """Whether workers may be forked now: fork exists and this process runs no other thread
    (a fork while another thread holds a lock, OpenSSL's for one, may deadlock the child, and
    Python 3.12 warns). Forking callers therefore start their workers before any thread."""
    return hasattr(os, "fork") and threading.active_count() == 1


def in_parallel(calls: Sequence[Callable[[], T]], *, workers: int = 0) -> list[T]:
    """The result of each call, in order, computed at most `workers` (default: one per CPU) at
    a time in forked processes, so that pure-Python work runs on every core too. Threads stand
    in where fork is not available or another thread runs (forking a threaded process may
    deadlock, and Python 3.12 warns)."""
    workers = max(1, workers or os.cpu_count() or 1)
    if len(calls) <= 1:
        return [c() for c in calls]
    if not may_fork():
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eifdiff-work") as pool:
            return list(pool.map(lambda c: c(), calls))
    running: deque[Callable[[], T]] = deque()
    out: list[T] = []
    try:
        for call in calls:
            if len(running) >= workers:
                out.append(running.popleft()())
            running.append(_forked(call, nice=0))
        while running:
            out.append(running.popleft()())
    except BaseException:
        for waiting in running:  # reap the others before raising
            with contextlib.suppress(Exception):
                waiting()
        raise
    return out


def _threaded() -> Spawn:
    """The same as `_forked`, with one thread per job (where fork is not available or another
    thread runs); each thread ends with its job, so none is left to stop a later fork."""

    def spawn(job: Callable[..., T], *args: object) -> Callable[[], T]:
        box: list[tuple[bool, object]] = []

        def run() -> None:
            try:
                box.append((True, job(*args)))
            except BaseException as exc:  # raised again in the waiting thread
                box.append((False, exc))

        thread = threading.Thread(target=run, name="eifdiff-measure", daemon=True)
        thread.start()

        def result() -> T:
            thread.join()
            ok, value = box[0]
            if not ok:
                raise value  # type: ignore[misc]
            return value  # type: ignore[return-value]

        return cached(result)

    return spawn


def start_measure(
    mapped: MappedFile, layout: EifLayout, *, sha256: bool = False, background: bool = True
) -> Callable[[], Digests]:
    """Start measuring in the background; call the result to wait for the digests.

    `background`: the caller parses and compares other structures meanwhile, so the workers
    run at a lower priority and leave it a core; without it (the caller only waits) they run
    at the caller's priority.
    """
    plan = PcrPlan.of(layout)
    if mapped.size < THREADED_FROM:
        view = mapped.view

        def stream(a: int, b: int) -> Iterator[memoryview]:
            yield view[a:b]

        pcr0, pcr1 = _image_job(stream, plan)
        pcr2 = _sections_job(stream, plan.app)
        crc = _crc_job(stream, layout.end)
        if pcr1 is None:
            pcr1 = _sections_job(stream, plan.boot)
        done = Digests(pcr0, pcr1, pcr2, crc,
                       _sha256_job(stream, mapped.size) if sha256 else None)
        return lambda: done
    spawn: Spawn = (partial(_forked, nice=_background_nice() if background else 0)
                    if may_fork() else _threaded())
    # one process per chain, and one for the CRC with the file's SHA-256 (the lighter two)
    image = spawn(_image_job, mapped.windows, plan)
    app = spawn(_sections_job, mapped.windows, plan.app)
    whole: Callable[[], tuple[int, str | None]]
    if sha256:
        whole = spawn(_whole_job, mapped.windows, layout.end, mapped.size)
    else:
        crc_only = spawn(_crc_job, mapped.windows, layout.end)

        def crc_alone() -> tuple[int, str | None]:
            return crc_only(), None

        whole = crc_alone
    boot = None if plan.boot_is_prefix else spawn(_sections_job, mapped.windows, plan.boot)

    def result() -> Digests:
        pcr0, pcr1 = image()
        if boot is not None:
            pcr1 = boot()
        assert pcr1 is not None
        return Digests(pcr0, pcr1, app(), *whole())

    return cached(result)


def measure(mapped: MappedFile, layout: EifLayout, *, sha256: bool = False) -> Digests:
    """PCR0/1/2 and the CRC (and, when asked, the file's SHA-256) of a checked, mapped EIF."""
    return start_measure(mapped, layout, sha256=sha256, background=False)()
