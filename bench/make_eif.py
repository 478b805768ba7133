#!/usr/bin/env python3
"""Generate a large, realistic EIF deterministically, for benchmarks.

The image has an ~8 MB synthetic bzImage (seeded random bytes with a boot-protocol setup header
whose `kernel_version` pointer leads to a version string), a small bootstrap ramdisk (`dev/`,
`init`, `nsm.ko`) and a customer ramdisk: a CPIO newc archive of a directory tree with `--files`
regular files of mixed sizes (many small, a few large) whose payloads are seeded PRNG bytes, sized
so that the whole EIF is about `--size-mb` MiB.

The customer ramdisk is streamed to a temporary file (its members are never all in memory) and
the EIF is written by `eifdiff.build.build_eif`, which memory-maps it. The generator's own heap
stays at a few tens of MB whatever the size (its peak RSS is larger, about the ramdisk's size,
because `build_eif` touches every page of the mapped ramdisk; those pages are page cache). The
same arguments always give the same bytes.

`--variant b` gives the "after" image of a diff benchmark: the same tree with a tenth of the
mtimes changed, one file's content changed, one file added and one directory's members in a
different order. Every member that the variant does not touch has the same header and payload
bytes as in variant a.

    .venv/bin/python bench/make_eif.py --size-mb 200 --files 20000 --out bench/out/a.eif
    .venv/bin/python bench/make_eif.py --size-mb 200 --variant b --out bench/out/b.eif
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from eifdiff.build import build_eif, default_metadata
from eifdiff.formats.cpio import (
    HEADER_SIZE,
    MAGIC_NEWC,
    S_IFDIR,
    S_IFREG,
    TRAILER_NAME,
    CpioMember,
    write_archive,
)

MIB = 1 << 20
BUILD_TIME = "2024-01-01T00:00:00+00:00"
MTIME_BASE = 1_704_067_200  # 2024-01-01T00:00:00Z
KERNEL_VERSION = "6.1.77 (builder@eifdiff-bench) #1 SMP Mon Jan  1 00:00:00 UTC 2024"
VERSION_PTR = 0x3000  # where the version string sits, relative to 0x200 (as in real bzImages)
CMDLINE = (
    b"reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp "
    b"i8042.dumbkbd random.trust_cpu=on virtio_mmio.device=4K@0xd0000000:5 "
    b"virtio_mmio.device=4K@0xd0001000:6"
)
LARGE_FILES = 6  # files that take LARGE_SHARE of the payload budget (a runtime, a model, ...)
LARGE_SHARE = 0.35
CHUNK = 4 * MIB  # payloads are generated and written in chunks of this size
TOP_DIRS = ("bin", "etc", "lib", "opt/app", "usr/bin", "usr/lib", "usr/share", "var/lib")
ADDED_NAME = "opt/app/ADDED_IN_VARIANT_B.bin"


def _align4(n: int) -> int:
    return (n + 3) & ~3


@dataclass(frozen=True, slots=True)
class Node:
    """One member of the customer ramdisk; the payload is `size` bytes from `content_seed`."""

    name: str
    mode: int
    ino: int
    mtime: int
    size: int = 0
    content_seed: str = ""
    nlink: int = 1


def payload_chunks(seed: str, size: int) -> Iterator[bytes]:
    """The payload of a member, as chunks; the same seed and size give the same bytes."""
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def header_bytes(node: Node) -> bytes:
    """The newc header, name and padding of a member (the same bytes `write_archive` writes)."""
    name = node.name.encode("utf-8", "surrogateescape") + b"\0"
    fields = (node.ino, node.mode, 0, 0, node.nlink, node.mtime, node.size, 0, 0, 0, 0,
              len(name), 0)
    head = MAGIC_NEWC + b"".join(b"%08X" % v for v in fields) + name
    return head + b"\0" * (_align4(len(head)) - len(head))


def member_overhead(name: str) -> int:
    """Bytes a member adds besides its payload, not counting the payload's padding."""
    return _align4(HEADER_SIZE + len(name.encode()) + 1)


def _tree(rng: random.Random, files: int) -> tuple[list[str], list[str]]:
    """Directory names (parents first) and `files` file paths spread over them."""
    dirs: list[str] = []
    leaves: list[str] = []
    seen: set[str] = set()

    def add_dir(path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in seen:
                seen.add(d)
                dirs.append(d)

    for top in TOP_DIRS:
        add_dir(top)
    n_leaves = max(1, files // 40)  # about 40 files per directory, as in a Python install
    for i in range(n_leaves):
        top = TOP_DIRS[i % len(TOP_DIRS)]
        depth = rng.randint(1, 3)
        path = top + "".join(f"/{rng.choice(('pkg', 'mod', 'lib', 'data'))}{rng.randrange(100):02d}"
                             for _ in range(depth))
        if path in seen:
            path += f"/d{i}"
        add_dir(path)
        leaves.append(path)
    names: list[str] = []
    exts = (".py", ".so", ".json", ".txt", ".pyc", "", ".dat")
    for i in range(files):
        leaf = leaves[rng.randrange(len(leaves))]
        names.append(f"{leaf}/f{i:06d}{exts[rng.randrange(len(exts))]}")
    return dirs, names


def _sizes(rng: random.Random, count: int, budget: int) -> list[int]:
    """`count` file sizes summing to about `budget`: a few large ones, many small ones."""
    if count <= 0:
        return []
    large = min(LARGE_FILES, max(0, count // 1000))
    large_budget = int(budget * LARGE_SHARE) if large else 0
    weights = [rng.lognormvariate(8.0, 1.6) for _ in range(count - large)]  # median ~3 KB
    scale = (budget - large_budget) / sum(weights) if weights else 0.0
    sizes = [max(0, int(w * scale)) for w in weights]
    lw = [rng.uniform(0.5, 1.5) for _ in range(large)]
    sizes += [int(large_budget * w / sum(lw)) for w in lw]
    rng.shuffle(sizes)
    return sizes


def customer_tree(seed: int, files: int, payload_budget: int, variant: str, added: int = 1,
                  dense_inodes: bool = False) -> list[Node]:
    """The customer ramdisk's members in archive order, for variant `a` or `b` (which adds
    `added` files); `dense_inodes` numbers inodes 1, 2, 3... in archive order, as GNU cpio
    `--reproducible` does."""
    rng = random.Random(f"tree:{seed}")
    dirs, names = _tree(rng, files)
    sizes = _sizes(random.Random(f"sizes:{seed}"), len(names), payload_budget)
    nodes: list[Node] = []
    ino = 700_000
    for d in dirs:
        ino += 1
        nodes.append(Node(d, S_IFDIR | 0o755, ino, MTIME_BASE + rng.randrange(86_400), nlink=2))
    by_dir: dict[str, list[Node]] = {}
    for name, size in zip(names, sizes, strict=True):
        ino += 1
        executable = name.endswith(".so") or "." not in name.rsplit("/", 1)[1]
        mode = S_IFREG | (0o755 if executable else 0o644)
        node = Node(name, mode, ino, MTIME_BASE + rng.randrange(86_400), size, f"{seed}:{name}")
        by_dir.setdefault(name.rsplit("/", 1)[0], []).append(node)
    if variant == "b":
        vr = random.Random(f"variant-b:{seed}")
        all_files = [n for group in by_dir.values() for n in group]
        touched = set(vr.sample(range(len(all_files)), len(all_files) // 10))
        changed = vr.choice([i for i, n in enumerate(all_files) if 0 < n.size < MIB]
                            or range(len(all_files)))
        index = {id(n): i for i, n in enumerate(all_files)}
        for group in by_dir.values():
            for j, n in enumerate(group):
                i = index[id(n)]
                if i in touched:
                    n = replace(n, mtime=n.mtime + 3_600 + vr.randrange(86_400))
                if i == changed:
                    n = replace(n, content_seed=f"{n.content_seed}:changed-in-b")
                group[j] = n
        reordered = max(by_dir, key=lambda d: (len(by_dir[d]), d))
        vr.shuffle(by_dir[reordered])
        for k in range(added):
            name = ADDED_NAME if k == 0 else f"{ADDED_NAME}.{k}"
            by_dir.setdefault("opt/app", []).append(
                Node(name, S_IFREG | 0o644, ino + 1 + k, MTIME_BASE + 90_000, 12_345,
                     f"{seed}:{name}"))
    # directories first (the kernel's unpacker needs a file's parent before the file), then
    # files grouped by directory in the order the directories were created
    for d in [*dirs, *(k for k in by_dir if k not in dirs)]:
        nodes.extend(by_dir.get(d, ()))
    if dense_inodes:
        nodes = [replace(n, ino=i + 1) for i, n in enumerate(nodes)]
    return nodes


def write_customer_ramdisk(out: BinaryIO, nodes: list[Node]) -> int:
    """Stream the newc archive of `nodes` (trailer and 512-byte padding included) to `out`."""
    written = 0
    for node in nodes:
        head = header_bytes(node)
        out.write(head)
        written += len(head)
        for chunk in payload_chunks(node.content_seed, node.size):
            out.write(chunk)
        written += node.size
        pad = _align4(node.size) - node.size
        out.write(b"\0" * pad)
        written += pad
    trailer = header_bytes(Node(TRAILER_NAME, 0, 0, 0))
    out.write(trailer)
    written += len(trailer)
    pad = -written % 512
    out.write(b"\0" * pad)
    return written + pad


def kernel_image(seed: int, size: int) -> bytes:
    """A synthetic bzImage: random bytes with the setup header's magic and version pointer."""
    data = bytearray(random.Random(f"kernel:{seed}").randbytes(size))
    data[0x1FE:0x200] = b"\x55\xaa"
    data[0x202:0x206] = b"HdrS"
    data[0x206:0x208] = struct.pack("<H", 0x020F)  # boot protocol 2.15
    data[0x20E:0x210] = struct.pack("<H", VERSION_PTR)
    text = KERNEL_VERSION.encode() + b"\0"
    data[0x200 + VERSION_PTR : 0x200 + VERSION_PTR + len(text)] = text
    return bytes(data)


def bootstrap_ramdisk(seed: int) -> bytes:
    """The small first ramdisk nitro-cli ships: `dev/`, `init` and `nsm.ko`."""
    rng = random.Random(f"bootstrap:{seed}")
    return write_archive([
        CpioMember("dev", mode=S_IFDIR | 0o755, nlink=2, mtime=MTIME_BASE, ino=1),
        CpioMember("init", rng.randbytes(680_000), mode=S_IFREG | 0o755, mtime=MTIME_BASE, ino=2),
        CpioMember("nsm.ko", rng.randbytes(36_000), mode=S_IFREG | 0o644, mtime=MTIME_BASE,
                   ino=3),
    ])


def make_eif(out: Path, *, size_mb: float, files: int, seed: int, variant: str = "a",
             kernel_mb: float = 8.0, added: int = 1,
             dense_inodes: bool = False) -> dict[str, object]:
    """Write the EIF to `out` (atomically) and return a summary with its PCRs."""
    if variant not in ("a", "b"):
        raise ValueError(f"unknown variant {variant!r} (a or b)")
    started = time.perf_counter()
    kernel = kernel_image(seed, int(kernel_mb * MIB))
    boot = bootstrap_ramdisk(seed)
    # the budget is computed from variant a's names, so that a and b have the same sizes
    dirs, names = _tree(random.Random(f"tree:{seed}"), files)
    overhead = sum(member_overhead(n) for n in [*dirs, *names]) + 2 * files + 1024
    fixed = 548 + 5 * 12 + len(kernel) + len(CMDLINE) + 400 + len(boot)
    budget = max(0, int(size_mb * MIB) - fixed - overhead)
    nodes = customer_tree(seed, files, budget, variant, added, dense_inodes)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".make_eif-") as tmp:
        ramdisk = Path(tmp) / "customer.cpio"
        with open(ramdisk, "wb", buffering=CHUNK) as f:
            ramdisk_size = write_customer_ramdisk(f, nodes)
        md = default_metadata("bzImage", name="eifdiff-bench", version="1.0",
                              build_time=BUILD_TIME, img_os="Linux", img_kernel="6.1.77")
        partial = Path(tmp) / "image.eif"
        result = build_eif(partial, kernel=kernel, cmdline=CMDLINE,
                           ramdisks=[boot, ramdisk], metadata=md)
        os.replace(partial, out)
    return {
        "Output": str(out), "Size": result.size, "SizeMiB": round(result.size / MIB, 2),
        "Variant": variant, "Seed": seed, "Files": sum(1 for n in nodes if n.mode & S_IFREG),
        "Directories": sum(1 for n in nodes if n.mode & S_IFDIR == S_IFDIR),
        "CustomerRamdisk": ramdisk_size, "Kernel": len(kernel), "BootstrapRamdisk": len(boot),
        "Seconds": round(time.perf_counter() - started, 2),
        "Measurements": result.pcrs,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--size-mb", type=float, default=200, help="EIF size in MiB (default 200)")
    p.add_argument("--files", type=int, default=20_000,
                   help="regular files in the customer ramdisk (default 20000)")
    p.add_argument("--seed", type=int, default=1, help="PRNG seed (default 1)")
    p.add_argument("--variant", choices=("a", "b"), default="a",
                   help="a: the base image; b: the same tree with a tenth of the mtimes, one "
                   "file's content and part of the order changed, and one file added")
    p.add_argument("--kernel-mb", type=float, default=8.0, help="kernel size in MiB (default 8)")
    p.add_argument("--added", type=int, default=1, help="files variant b adds (default 1)")
    p.add_argument("--dense-inodes", action="store_true",
                   help="number inodes densely in archive order (GNU cpio --reproducible)")
    p.add_argument("--out", type=Path, required=True, help="EIF to write")
    args = p.parse_args(argv)
    if args.files < 1 or args.size_mb <= 0 or args.kernel_mb < 0.1:
        p.error("--files must be >= 1, --size-mb > 0 and --kernel-mb >= 0.1")
    summary = make_eif(args.out, size_mb=args.size_mb, files=args.files, seed=args.seed,
                       variant=args.variant, kernel_mb=args.kernel_mb, added=args.added,
                       dense_inodes=args.dense_inodes)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
