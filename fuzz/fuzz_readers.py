#!/usr/bin/env python3
"""Coverage-guided fuzzing of eifdiff's byte readers (atheris), or a plain mutation loop.

Targets (each takes one byte string and says what a reader may do with it):

  eif          eifdiff.formats.eif.parse_layout: returns a layout whose sections are contiguous
               from offset 548 and inside the file, or raises FormatError
  cpio         eifdiff.formats.cpio.read_archive: never raises; every entry, anomaly offset and
               the end lie inside [base, base + len]
  signature    eifdiff.formats.signature.decode_signature_section, decode_cose, decode_payload
               (and, when they decode, the certificate, the COSE check): FormatError or nothing
  compression  eifdiff.formats.compression.decompress_to, the first byte picks the format
               (gzip, xz, zstd, lz4, lz4-legacy, bzip2): FormatError or nothing, bounded output
  metadata     eifdiff.formats.metadata.decode_metadata: FormatError or a Metadata
  image        eifdiff.image.open_image on the bytes written to a tmpfs file: FormatError or an
               image (measure, metadata, signature, kernel version: everything `describe` does)

Anything else (another exception, a broken invariant) is a crash. By default the first crash
stops the run (libFuzzer writes the input to crash-<sha1>); with --keep-going every crash is
logged to WORKDIR/crashes.jsonl (with the input, hex) and the run goes on, so that the number of
executions is exactly --runs.

  python fuzz/fuzz_readers.py --target eif --runs 400000
  python fuzz/fuzz_readers.py --target all --runs 10000 --engine mutate
  python fuzz/fuzz_readers.py --target cpio --runs 0 -- -max_total_time=600   # libFuzzer flags

The seed corpus is written to WORKDIR/corpus-TARGET from the conformance vectors in
../shared/vectors and from archives built here (see fuzz/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / ".." / "shared" / "vectors"
TARGETS = ("eif", "cpio", "signature", "compression", "metadata", "image")
FORMATS = ("gzip", "xz", "zstd", "lz4", "lz4-legacy", "bzip2")
MAX_LEN = {"eif": 8192, "cpio": 24576, "signature": 4096, "compression": 8192,
           "metadata": 4096, "image": 8192}
CPIO_BASE = 0x1234


def _instrumented_imports(use_atheris: bool) -> None:
    """Import the readers (instrumented for coverage when atheris runs them)."""
    ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
    if use_atheris:
        import atheris

        ctx = atheris.instrument_imports(include=["eifdiff"])
    with ctx:
        import eifdiff.formats.compression
        import eifdiff.formats.cpio
        import eifdiff.formats.eif
        import eifdiff.formats.metadata
        import eifdiff.formats.signature
        import eifdiff.image  # noqa: F401


# --------------------------------------------------------------------------------------------
# targets


class Broken(AssertionError):
    """An invariant of a reader's result does not hold."""


def target_eif(data: bytes) -> None:
    from eifdiff.errors import FormatError
    from eifdiff.formats.eif import HEADER_SIZE, parse_layout

    try:
        layout = parse_layout(data, "fuzz.eif")
    except FormatError as exc:
        if not str(exc).startswith("fuzz.eif: ") or exc.offset is None or "\n" in str(exc):
            raise Broken(f"FormatError without file, offset or on two lines: {exc}") from None
        return
    pos = HEADER_SIZE
    for s in layout.sections:
        if s.offset != pos or s.end > len(data):
            raise Broken(f"section {s.index} at {s.offset}..{s.end} (expected {pos}, "
                         f"file {len(data)})")
        pos = s.end
    if layout.trailing != len(data) - pos or layout.trailing < 0:
        raise Broken(f"trailing {layout.trailing} but the last section ends at {pos}")


def target_cpio(data: bytes) -> None:
    from eifdiff.formats.cpio import iter_payloads, read_archive

    stop = bool(data[:1]) and data[0] & 1 == 0
    base = CPIO_BASE
    arc = read_archive(data, base=base, path="rd", stop_at_foreign=stop)
    lo, hi = base, base + len(data)
    if not lo <= arc.end <= hi:
        raise Broken(f"end {arc.end} outside [{lo}, {hi}]")
    for e in arc.entries:
        if not (lo <= e.header_offset < e.data_offset <= e.data_offset + e.filesize <= hi):
            raise Broken(f"entry {e.name!r} header {e.header_offset} data {e.data_offset}+"
                         f"{e.filesize} outside [{lo}, {hi}]")
    for a in arc.anomalies:
        if a.offset is None or not lo <= a.offset <= hi:
            raise Broken(f"anomaly offset {a.offset} outside [{lo}, {hi}]: {a.message}")
    for s, e in arc.segments:
        if not lo <= s <= e <= hi:
            raise Broken(f"segment {s}..{e} outside [{lo}, {hi}]")
    for entry, view in iter_payloads(data, arc, base=base):
        if len(view) != entry.filesize:
            raise Broken(f"payload of {entry.name!r} is {len(view)} bytes, not {entry.filesize}")


def target_signature(data: bytes) -> None:
    from eifdiff.errors import FormatError
    from eifdiff.formats import signature as sig

    with contextlib.suppress(FormatError):
        entries = sig.decode_signature_section(data, where="fuzz")
        for e in entries[:2]:
            with contextlib.suppress(FormatError):
                cert = sig.load_certificate(e.certificate_pem, where="fuzz")
                sig.certificate_info(cert)
                sig.certificate_der(cert)
                with contextlib.suppress(FormatError):
                    sig.verify_cose(sig.decode_cose(e.cose_bytes, where="fuzz"), cert)
    cose = None
    with contextlib.suppress(FormatError):
        cose = sig.decode_cose(data, where="fuzz")
        _ = cose.algorithm, cose.algorithm_name
        sig.decode_payload(cose, where="fuzz")
    with contextlib.suppress(FormatError):
        sig.decode_payload(sig.CoseSign1(b"", {}, data, b"", False), where="fuzz")


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.n += len(b)
        return len(b)


def target_compression(data: bytes) -> None:
    from eifdiff.errors import FormatError
    from eifdiff.formats.compression import decompress_to

    if not data:
        return
    fmt = FORMATS[data[0] % len(FORMATS)]
    body = memoryview(data[1:])
    sink = _Sink()
    limit = 16 << 20
    try:
        written, consumed = decompress_to(body, fmt, sink, max_size=limit, max_ratio=1000)
    except FormatError:
        if sink.n > limit:
            raise Broken(f"{fmt}: {sink.n} bytes written past the {limit}-byte bound") from None
        return
    if written != sink.n or written > limit or not 0 <= consumed <= len(body):
        raise Broken(f"{fmt}: written {written} (sink {sink.n}), consumed {consumed} of "
                     f"{len(body)}")


def target_metadata(data: bytes) -> None:
    from eifdiff.errors import FormatError
    from eifdiff.formats.metadata import decode_metadata, encode_metadata

    try:
        md = decode_metadata(data, offset=7)
    except FormatError:
        return
    raw = encode_metadata(md)  # what the reader accepts, the writer writes, and reads back
    again = decode_metadata(raw)
    # a float may come back one bit off (so does the reference's), nothing else may change
    if _floats_masked(again) != _floats_masked(md):
        raise Broken(f"metadata does not round-trip: {raw[:200]!r}")


def _floats_masked(md: object) -> object:
    """The metadata with every float inside its JSON values replaced by the type's name."""
    import dataclasses

    def mask(v: object) -> object:
        if isinstance(v, float):
            return "float"
        if isinstance(v, dict):
            return {k: mask(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mask(x) for x in v]
        return v

    return dataclasses.replace(md, docker_info=mask(md.docker_info),  # type: ignore[type-var]
                               custom_metadata=mask(md.custom_metadata))


_IMAGE_FILE: list[int] = []


def target_image(data: bytes) -> None:
    from eifdiff.errors import FormatError
    from eifdiff.image import open_image

    if not _IMAGE_FILE:
        # an unlinked file in tmpfs, reopened by its /proc path: nothing is left behind however
        # the process ends (libFuzzer exits from C, without Python's clean-up)
        shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
        fd, name = tempfile.mkstemp(prefix="eifdiff-fuzz-", suffix=".eif", dir=shm)
        os.unlink(name)
        _IMAGE_FILE.append(fd)
    fd = _IMAGE_FILE[0]
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    path = Path(f"/proc/self/fd/{fd}")
    try:
        img = open_image(path)
    except FormatError as exc:
        if not str(exc).startswith(str(path)) or exc.offset is None:
            raise Broken(f"FormatError without file or offset: {exc}") from None
        return
    _ = img.pcrs, img.crc_ok, img.anomalies


TARGET_FUNCS: dict[str, Callable[[bytes], None]] = {
    "eif": target_eif, "cpio": target_cpio, "signature": target_signature,
    "compression": target_compression, "metadata": target_metadata, "image": target_image,
}


# --------------------------------------------------------------------------------------------
# seeds


def _small_eif_parts() -> list[list[tuple[object, bytes]]]:
    """Section lists: the vectors' sections with their data cut to 48 bytes (metadata and the
    signature kept whole), so the real headers fit in a few KB."""
    from eifdiff.formats.eif import SectionType, parse_layout

    out = []
    for path in sorted((VECTORS / "eif").glob("*.eif")):
        data = path.read_bytes()
        layout = parse_layout(data, str(path))
        parts = []
        for s in layout.sections:
            body = data[s.data_offset : s.end]
            if s.type not in (SectionType.METADATA, SectionType.SIGNATURE):
                body = body[:48]
            parts.append((s.type, body))
        out.append(parts)
    return out


def _archives() -> list[bytes]:
    from eifdiff.formats.cpio import S_IFDIR, S_IFLNK, S_IFREG, CpioMember, write_archive

    ms = [CpioMember("dev", mode=S_IFDIR | 0o755, nlink=2),
          CpioMember("init", b"\x7fELF\x02\x01\x01" + bytes(57), mode=S_IFREG | 0o755, ino=2),
          CpioMember("sh", b"init", mode=S_IFLNK | 0o777, ino=3)]
    a = write_archive(ms)
    b = write_archive(ms, crc=True, block_size=0)
    return [a, b, a + b, write_archive([], block_size=0), a[:200], b + b"JUNK",
            a + b"\x1f\x8b\x08\x00" + bytes(16)]


def seeds(target: str) -> list[bytes]:
    from eifdiff.formats.eif import SectionType, write_eif

    inputs = VECTORS / "inputs"
    if target in ("eif", "image"):
        out = [write_eif(parts) for parts in _small_eif_parts()]
        out.append(write_eif([(SectionType.KERNEL, b"K"), (SectionType.CMDLINE, b"c"),
                              (SectionType.RAMDISK, _archives()[0])]))
        out.append(out[0] + b"\xa5" * 12)
        if target == "image":
            bz = (inputs / "bzImage").read_bytes()[:0x800]
            out.append(write_eif([(SectionType.KERNEL, bz), (SectionType.CMDLINE, b"c"),
                                  (SectionType.RAMDISK, b"r")]))
        return out
    if target == "cpio":
        out = _archives()
        out += [(inputs / n).read_bytes() for n in ("extra.cpio", "customer.cpio")]
        out.append((inputs / "bootstrap.cpio").read_bytes()[:4096])
        return out
    if target == "signature":
        from eifdiff.formats import signature as sig

        signed = next(p for p in _small_eif_parts() if p[-1][0] is SectionType.SIGNATURE)
        section = signed[-1][1]
        entry = sig.decode_signature_section(section)[0]
        cose = sig.decode_cose(entry.cose_bytes)
        tagged = sig.CoseSign1(cose.protected, {}, cose.payload, cose.signature, True).encode()
        import cbor2

        as_bytes = cbor2.dumps([{"signing_certificate": entry.certificate_pem,
                                 "signature": entry.cose_bytes}])
        return [section, entry.cose_bytes, cose.payload, tagged, as_bytes, cose.protected]
    if target == "compression":
        import bz2
        import gzip
        import lzma

        import lz4.block
        import lz4.frame
        import zstandard

        raw = (inputs / "extra.cpio").read_bytes() + _archives()[0]
        block = lz4.block.compress(raw, store_size=False)
        packed = {
            "gzip": gzip.compress(raw, mtime=0), "xz": lzma.compress(raw),
            "zstd": zstandard.ZstdCompressor().compress(raw), "lz4": lz4.frame.compress(raw),
            "lz4-legacy": struct.pack("<II", 0x184C2102, len(block)) + block,
            "bzip2": bz2.compress(raw),
        }
        return [bytes([FORMATS.index(f)]) + packed[f] for f in FORMATS]
    if target == "metadata":
        return [p[2][1] for p in _small_eif_parts()[:3]] + [b"{}", b'{"a":[1,2,{"b":null}]}']
    raise ValueError(target)


def write_corpus(target: str, folder: Path) -> list[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    found = seeds(target)
    for s in found:
        (folder / hashlib.sha1(s).hexdigest()).write_bytes(s)
    return found


# --------------------------------------------------------------------------------------------
# running


class Runner:
    """Wraps a target: counts executions, and in keep-going mode logs crashes and goes on."""

    def __init__(self, target: str, workdir: Path, keep_going: bool, total: int = 0) -> None:
        self.target = target
        self.total = total
        self.func = TARGET_FUNCS[target]
        self.keep_going = keep_going
        self.execs = 0
        self.crashes = 0
        self.kinds: dict[str, int] = {}
        self.log = workdir / "crashes.jsonl"
        self.stats = workdir / f"stats-{target}.json"
        self.started = time.time()

    def __call__(self, data: bytes) -> None:
        self.execs += 1
        try:
            self.func(data)
        except Exception as exc:
            if not self.keep_going:
                raise
            self.record(data, exc)
        finally:
            # libFuzzer ends the process from C (no atexit), so the stats are kept up to date
            if self.execs % 1000 == 0 or self.execs == self.total:
                self.write_stats()

    def record(self, data: bytes, exc: BaseException) -> None:
        self.crashes += 1
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                      if "eifdiff" in f.filename), tb[-1].filename if tb else "?")
        kind = f"{type(exc).__name__} at {where}"
        first = kind not in self.kinds
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if first or self.kinds[kind] <= 3:
            with self.log.open("a") as f:
                f.write(json.dumps({"target": self.target, "kind": kind,
                                    "message": str(exc)[:300], "input": data.hex()}) + "\n")
        if first:
            print(f"[{self.target}] new crash kind: {kind}: {str(exc)[:160]}", flush=True)

    def write_stats(self) -> None:
        self.stats.write_text(json.dumps({
            "target": self.target, "executions": self.execs, "crashes": self.crashes,
            "kinds": self.kinds, "seconds": round(time.time() - self.started, 1),
        }, indent=1) + "\n")


def _mutate(rng: random.Random, data: bytes, pool: list[bytes], max_len: int) -> bytes:
    """A few random edits, biased to the first 600 bytes and to integer fields."""
    b = bytearray(data)
    interesting = (0, 1, 2, 3, 4, 5, 6, 12, 32, 33, 547, 548, 0x7F, 0xFF, 0xFFFF, 0x10000,
                   0x7FFFFFFF, 0xFFFFFFFF, 1 << 32, 1 << 63, (1 << 64) - 1)
    for _ in range(rng.randint(1, 6)):
        n = len(b)
        hot = rng.random() < 0.6 and n > 0
        pos = rng.randrange(min(n, 600)) if hot else (rng.randrange(n) if n else 0)
        op = rng.randrange(9)
        if op == 0 and n:
            b[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            b[pos] = rng.randrange(256)
        elif op == 2:
            width, fmt = rng.choice(((1, "B"), (2, ">H"), (4, ">I"), (8, ">Q"), (2, "<H"),
                                     (4, "<I"), (8, "<Q")))
            v = rng.choice(interesting) % (1 << (8 * width))
            b[pos : pos + width] = struct.pack(fmt, v)
        elif op == 3:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4 and n:
            del b[pos : pos + rng.randint(1, 64)]
        elif op == 5 and n:
            del b[rng.randrange(n) :]
        elif op == 6 and n:
            start = rng.randrange(n)
            chunk = b[start : start + rng.randint(1, 256)]
            b[pos:pos] = chunk
        elif op == 7 and pool:
            other = rng.choice(pool)
            if other:
                start = rng.randrange(len(other))
                b[pos : pos + rng.randint(1, 64)] = other[start : start + rng.randint(1, 64)]
        elif op == 8:
            b[pos : pos + 8] = b"%08X" % (rng.choice(interesting) & 0xFFFFFFFF)
    return bytes(b[:max_len])


def run_mutate(runner: Runner, corpus: list[bytes], runs: int, seed: int) -> None:
    rng = random.Random(seed)
    max_len = MAX_LEN[runner.target]
    for s in corpus:
        runner(s)
    while runner.execs < runs:
        runner(_mutate(rng, rng.choice(corpus), corpus, max_len))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    p.add_argument("--runs", type=int, default=100000,
                   help="executions per target (0: unlimited, for -max_total_time)")
    p.add_argument("--engine", choices=("atheris", "mutate"), default=None,
                   help="atheris when installed (default), else a plain mutation loop")
    p.add_argument("--workdir", type=Path, default=None,
                   help="corpus, crash log and stats (default: a new temporary folder)")
    p.add_argument("--keep-going", action="store_true",
                   help="log crashes to WORKDIR/crashes.jsonl and go on")
    p.add_argument("--seed", type=int, default=1, help="random seed (mutate engine)")
    args = p.parse_args(argv)
    engine = args.engine
    if engine is None:
        try:
            import atheris

            engine = "atheris"
        except ImportError:
            engine = "mutate"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="eifdiff-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    targets = list(TARGETS) if args.target == "all" else [args.target]
    if engine == "atheris" and len(targets) > 1:
        # libFuzzer runs one target per process: run each in turn in a child
        import subprocess

        code = 0
        for t in targets:
            cmd = [sys.executable, __file__, "--target", t, "--runs", str(args.runs),
                   "--engine", "atheris", "--workdir", str(workdir)]
            cmd += ["--keep-going"] if args.keep_going else []
            code = max(code, subprocess.call([*cmd, "--", *extra]))
        return code
    _instrumented_imports(engine == "atheris")
    print(f"workdir {workdir}", flush=True)
    code = 0
    for t in targets:
        corpus_dir = workdir / f"corpus-{t}"
        corpus = write_corpus(t, corpus_dir)
        runner = Runner(t, workdir, args.keep_going, args.runs)
        if engine == "mutate":
            start = time.time()
            run_mutate(runner, corpus, args.runs, args.seed)
            runner.write_stats()
            print(f"[{t}] Done {runner.execs} runs in {time.time() - start:.0f} s, "
                  f"{runner.crashes} crashes, kinds: {runner.kinds}", flush=True)
            code = max(code, 1 if runner.crashes else 0)
            continue
        import atheris

        lib_args = [sys.argv[0], f"-max_len={MAX_LEN[t]}", "-timeout=20", "-rss_limit_mb=3072",
                    f"-artifact_prefix={workdir}/{t}-"]
        if args.runs:
            lib_args.append(f"-runs={args.runs}")
        lib_args += [*extra, str(corpus_dir)]

        atheris.Setup(lib_args, runner)
        atheris.Fuzz()
    return code


if __name__ == "__main__":
    sys.exit(main())
