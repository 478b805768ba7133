#!/usr/bin/env python3
"""A trial on two real kernels: Debian's cloud kernels, fetched with `apt-get download`.

Downloads `linux-image-<ABI>-cloud-amd64` for two ABIs (default 6.1.0-47 and 6.1.0-50; list
what the archive has with `apt-cache search linux-image-6.1.0 | grep cloud-amd64`), extracts
`/boot/vmlinuz-*` with `dpkg-deb -x`, and prints what eifdiff reads from each: setup header,
payload compression, the vmlinux's build-id, the banner's parts, the embedded config and
built-in initramfs, then which of these differ. With `--eif`, it also wraps each kernel in an
EIF with nitro-cli's `init` and `nsm.ko`, runs `eifdiff describe` on each (the 4.14 module
beside a 6.1 kernel is warned about) and `eifdiff` on the pair. The published `init` and
`nsm.ko` of nitro-cli v1.2.0 are read at run time from `--blobs-git`, a git directory of
aws-nitro-enclaves-cli (nothing of it is kept in this repository); without it, the stand-ins of
scripts/make_boot_blobs.py are compiled (gcc) and used, which describe cannot name as nitro-cli
blobs.

    .venv/bin/python bench/kernel_trial.py [--work DIR] [--abi 6.1.0-47 --abi 6.1.0-50] [--eif]
        [--blobs-git GIT_DIR]

Needs network access and Debian's apt (or a `--work` folder where the .deb files already are).
Output recorded in bench/kernel_trial.md.
"""

from __future__ import annotations

import argparse
import glob
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eifdiff.formats.bzimage import KernelImage, read_kernel  # noqa: E402

FIELDS = ("release", "build_host", "compiler", "linker", "build_number", "flags",
          "distro_version", "build_date")


def fetch(work: Path, abi: str) -> Path:
    """The vmlinuz of linux-image-<abi>-cloud-amd64, downloaded and extracted under `work`."""
    package = f"linux-image-{abi}-cloud-amd64"
    debs = glob.glob(str(work / f"{package}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", package], cwd=work, check=True)
        debs = glob.glob(str(work / f"{package}_*.deb"))
    tree = work / f"x-{abi}"
    if not tree.exists():
        subprocess.run(["dpkg-deb", "-x", debs[0], str(tree)], check=True)
    return next(tree.glob("boot/vmlinuz-*"))


def facts(k: KernelImage) -> dict[str, object]:
    out: dict[str, object] = {
        "format": k.format, "arch": k.arch, "boot protocol": k.setup.protocol if k.setup else None,
        "payload": f"{k.compression} at offset {k.payload_offset}, {k.payload_size} bytes",
        "vmlinux": f"{len(k.vmlinux)} bytes, ELF {k.elf.machine if k.elf else '-'}",
        "vmlinux build-id": k.build_id,
    }
    b = k.banner
    if b is not None:
        out["banner"] = b.text
        out.update({f"banner {f}": getattr(b, f) for f in FIELDS})
    if k.elf is not None:
        out["notes"] = ", ".join(sorted({f"{n.owner}/{n.kind}" for n in k.elf.notes}))
        salt = [n.value for n in k.elf.notes if n.owner == "Linux" and n.type == 0x100]
        out["Linux build salt note"] = salt[0] if salt else None
        out[".comment"] = [t.text for t in k.elf.toolchain] or "(stripped from the payload)"
    out["embedded config"] = (f"{len(k.config.options)} options" if k.config else
                              "none (CONFIG_IKCONFIG not built in)")
    out["built-in initramfs"] = (f"{len(k.initramfs.data)} bytes at vmlinux offset "
                                 f"{k.initramfs.offset}: {', '.join(k.initramfs.names)}"
                                 if k.initramfs else None)
    out["problems"] = list(k.problems)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/eifdiff-kernel-trial")
    ap.add_argument("--abi", action="append")
    ap.add_argument("--eif", action="store_true", help="also describe EIFs built around them")
    ap.add_argument("--blobs-git", type=Path, help="git directory of aws-nitro-enclaves-cli "
                    "to take init and nsm.ko from (default: compiled stand-ins)")
    args = ap.parse_args(argv)
    abis = args.abi or ["6.1.0-47", "6.1.0-50"]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    read = []
    for abi in abis:
        path = fetch(work, abi)
        data = path.read_bytes()
        t = time.perf_counter()
        k = read_kernel(data)
        took = time.perf_counter() - t
        read.append((path, data, k))
        print(f"## {path.name} ({len(data)} bytes, read in {took:.2f} s)\n")
        for key, value in facts(k).items():
            print(f"- {key}: {value}")
        print()
    if len(read) == 2:
        fa, fb = facts(read[0][2]), facts(read[1][2])
        print("## What differs\n")
        for key in fa:
            if fa[key] != fb.get(key):
                print(f"- {key}: {fa[key]!r} -> {fb.get(key)!r}")
        print()
    if args.eif:
        describe_eifs(work, read, boot_blobs(work, args.blobs_git))
    return 0


# the commit of aws-nitro-enclaves-cli that added the init and nsm.ko shipped from v1.2.0 on
BLOBS_COMMIT = "147f2cb8327a937043b322fc7a52404caf08e8f1"


def boot_blobs(work: Path, git_dir: Path | None) -> tuple[bytes, bytes]:
    """(init, nsm.ko): nitro-cli's, read from `git_dir` at BLOBS_COMMIT, else the stand-ins."""
    if git_dir is not None:
        def show(path: str) -> bytes:
            return subprocess.run(["git", "--git-dir", str(git_dir), "show",
                                   f"{BLOBS_COMMIT}:{path}"], check=True,
                                  capture_output=True).stdout
        return show("blobs/x86_64/init"), show("blobs/x86_64/nsm.ko")
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_boot_blobs import make_boot_blobs

    made = make_boot_blobs(work / "boot-blobs")
    return made["init-2022-02"].read_bytes(), made["nsm-2022-02.ko"].read_bytes()


def describe_eifs(work: Path, read: list[tuple[Path, bytes, KernelImage]],
                  blobs: tuple[bytes, bytes]) -> None:
    from eifdiff.formats.cpio import CpioMember, write_archive
    from eifdiff.formats.eif import SectionType, write_eif
    from eifdiff.formats.metadata import Metadata, encode_metadata

    init, module = blobs
    boot = write_archive([CpioMember("dev", mode=0o040755),
                          CpioMember("init", init, mode=0o100755),
                          CpioMember("nsm.ko", module)])
    user = write_archive([CpioMember("rootfs/hello", b"hello\n")])
    md = encode_metadata(Metadata(
        image_name="trial", image_version="1.0", build_time="2024-01-01T00:00:00+00:00",
        build_tool="eifdiff", build_tool_version="trial", operating_system="Linux",
        kernel_version="6.1", docker_info={}, custom_metadata=None))
    cmdline = b"reboot=k panic=30 pci=off nomodules console=ttyS0"
    built = []
    for path, data, _ in read:
        out = work / f"{path.name}.eif"
        out.write_bytes(write_eif([
            (SectionType.KERNEL, data), (SectionType.CMDLINE, cmdline), (SectionType.METADATA, md),
            (SectionType.RAMDISK, boot), (SectionType.RAMDISK, user)]))
        print(f"## eifdiff describe {out.name}\n")
        print("```")
        proc = subprocess.run([sys.executable, "-m", "eifdiff", "describe", str(out)],
                              capture_output=True, text=True, cwd=ROOT)
        print(proc.stdout.rstrip() + proc.stderr.rstrip())
        print("```\n")
        built.append(out)
    if len(built) == 2:
        print(f"## eifdiff {built[0].name} {built[1].name} --top 12\n")
        print("```")
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "eifdiff", str(built[0]), str(built[1]),
                               "--top", "12"], capture_output=True, text=True, cwd=ROOT)
        took = time.perf_counter() - t
        print(proc.stdout.rstrip() + proc.stderr.rstrip())
        print(f"```\n\n(exit {proc.returncode}, {took:.1f} s)\n")


if __name__ == "__main__":
    raise SystemExit(main())
