#!/usr/bin/env python3
"""Write stand-ins for nitro-cli's bootstrap blobs (`init`, `nsm.ko`), compiled here with gcc.

Two pairs, each differing the way two published nitro-cli builds differ:

- `init-2021-12` and `init-2022-02`: static x86-64 executables, byte-identical except their
  20-byte GNU build-id (`-Wl,--build-id=0x...`); both carry SystemTap `stapsdt` notes, whose
  type number (3) is the build-id's, so a note reader that ignores the owner takes the wrong
  bytes; `.comment` names GCC 7.3.1 (Red Hat 7.3.1-13).
- `nsm-2021-10.ko` and `nsm-2022-02.ko`: relocatable objects (`gcc -c`) laid out like a kernel
  module: `.modinfo` (the same srcversion, vermagic for kernel 4.14.246 vs 4.14.256),
  `__versions` (35 imported symbols, 11 CRCs differing), a GNU build-id note and
  `__UNIQUE_ID_*` symbols numbered differently: the same source rebuilt for another kernel.

Every run writes the same bytes with the same gcc and binutils.

    python scripts/make_boot_blobs.py OUT_DIR
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

INIT_BUILD_IDS = {
    "init-2021-12": "bc037dbce97236ca52748950b98a767188a39332",
    "init-2022-02": "aa942fa284918fdd64ea861537c9198839256693",
}
INIT_COMPILER = "GCC: (GNU) 7.3.1 20180712 (Red Hat 7.3.1-13)"
SRCVERSION = "D3B5E8FDCD94DD8FF56025B"
MODVERSIONS = " SMP mod_unload modversions "
SYMBOLS = (
    "module_layout", "kmalloc_caches", "__check_object_size", "cdev_del", "kfree", "cdev_init",
    "__pci_register_driver", "pci_iounmap", "_copy_from_user", "pci_enable_device",
    "mutex_lock", "device_create", "__init_waitqueue_head", "pci_request_regions",
    "pci_read_config_dword", "pci_set_master", "cdev_add", "class_destroy",
    "pci_unregister_driver", "kmem_cache_alloc_trace", "pci_iomap", "_copy_to_user",
    "mutex_unlock", "printk", "pci_release_regions", "register_chrdev_region",
    "unregister_chrdev_region", "device_destroy", "__class_create", "msleep",
    "pci_disable_device", "memset", "__x86_indirect_thunk_rax", "mutex_lock_interruptible",
    "_cond_resched",
)
# imported symbols whose CRC moved between the two kernels (module_layout always does)
CHANGED = frozenset({0, 1, 4, 6, 9, 12, 16, 19, 23, 27, 31})


@dataclass(frozen=True, slots=True)
class Module:
    """One build of the module: the kernel it was built for, its build-id, a label counter."""

    name: str
    kernel: str
    build_id: str
    counter: int

    @property
    def vermagic(self) -> str:
        return self.kernel + MODVERSIONS


MODULES = (
    Module("nsm-2021-10.ko", "4.14.246-198.474.amzn2.x86_64",
           hashlib.sha1(b"nsm.ko 4.14.246", usedforsecurity=False).hexdigest(), 17),
    Module("nsm-2022-02.ko", "4.14.256-209.484.amzn2.x86_64",
           hashlib.sha1(b"nsm.ko 4.14.256", usedforsecurity=False).hexdigest(), 23),
)
NAMES = (*INIT_BUILD_IDS, *(m.name for m in MODULES))


def _stapsdt(provider: str, name: str) -> str:
    """One SystemTap probe note: owner `stapsdt`, type 3, three address words then strings."""
    return (
        '.pushsection .note.stapsdt,"",@note\n'
        ".balign 4\n"
        ".4byte 992f-991f, 994f-993f, 3\n"
        '991: .asciz "stapsdt"\n'
        "992: .balign 4\n"
        "993: .8byte _start, 0, 0\n"
        f'.asciz "{provider}"\n.asciz "{name}"\n.asciz "-4@%edi"\n'
        "994: .balign 4\n"
        ".popsection\n")


INIT_SOURCE = (
    "/* A stand-in for nitro-cli's init: exits at once. */\n"
    "__asm__(\n"
    '    ".text\\n.globl _start\\n.type _start, @function\\n"\n'
    '    "_start:\\n  mov $60, %eax\\n  xor %edi, %edi\\n  syscall\\n"\n'
    + "".join(f'    "{line}\\n"\n' for probe in (("libc", "setjmp"), ("libc", "longjmp"))
              for line in _stapsdt(*probe).replace('"', '\\"').splitlines())
    + f'    ".ident \\"{INIT_COMPILER}\\"\\n");\n'
    'static const char banner[] __attribute__((used)) = "nitro-cli init stand-in";\n')


def _crc(symbol: str, kernel: str, index: int) -> int:
    key = f"{symbol}@{kernel}" if index in CHANGED else symbol
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")


def module_source(m: Module) -> str:
    """C for one module build: `.modinfo` strings, `__versions` entries, a build-id note."""
    modinfo = (("license", "GPL"), ("srcversion", SRCVERSION), ("depends", ""),
               ("name", "nsm"), ("vermagic", m.vermagic))
    lines = ["/* A stand-in for nitro-cli's nsm.ko. */",
             "struct modversion_info { unsigned long crc; char name[56]; };"]
    for i, (key, value) in enumerate(modinfo):
        lines.append(f"static const char __UNIQUE_ID_{key}{m.counter + i}[] "
                     f'__attribute__((used, section(".modinfo"), aligned(1))) = '
                     f'"{key}={value}";')
    lines.append('static const struct modversion_info ____versions[] '
                 '__attribute__((used, section("__versions"), aligned(8))) = {')
    lines += [f'    {{ 0x{_crc(s, m.kernel, i):08x}UL, "{s}" }},' for i, s in enumerate(SYMBOLS)]
    lines.append("};")
    desc = ", ".join(f"0x{b:02x}" for b in bytes.fromhex(m.build_id))
    lines.append(
        '__asm__(".pushsection .note.gnu.build-id,\\"a\\",@note\\n.balign 4\\n'
        f'.4byte 4, 20, 3\\n.asciz \\"GNU\\"\\n.byte {desc}\\n.popsection\\n");')
    lines.append("int nsm_init(void) { return 0; }")
    return "\n".join(lines) + "\n"


def _gcc(args: list[str], cwd: Path) -> None:
    if shutil.which("gcc") is None:
        raise RuntimeError("gcc is not installed")
    env = {**os.environ, "LC_ALL": "C", "SOURCE_DATE_EPOCH": "0"}
    subprocess.run(["gcc", *args], cwd=cwd, env=env, check=True, capture_output=True)


def make_boot_blobs(out: Path) -> dict[str, Path]:
    """Compile the four files into `out` (created if missing): name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    with tempfile.TemporaryDirectory(prefix="eifdiff-blobs-") as tmp:
        work = Path(tmp)
        (work / "init.c").write_text(INIT_SOURCE)
        for name, build_id in INIT_BUILD_IDS.items():
            _gcc(["-O1", "-fno-ident", "-static", "-no-pie", "-nostdlib",
                  f"-Wl,--build-id=0x{build_id}", "-o", name, "init.c"], work)
            written[name] = out / name
            shutil.copyfile(work / name, written[name])
        for m in MODULES:
            (work / "nsm.c").write_text(module_source(m))
            _gcc(["-O2", "-fno-ident", "-fno-pic", "-mcmodel=kernel", "-c", "-o", "nsm.o",
                  "nsm.c"], work)
            written[m.name] = out / m.name
            shutil.copyfile(work / "nsm.o", written[m.name])
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    for name, path in make_boot_blobs(args.out).items():
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
