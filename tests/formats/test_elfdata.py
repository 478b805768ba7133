"""Section contents and build IDs of ELF files (eifdiff/formats/elfdata.py): gcc output with
compressed DWARF (`-gz`), a Go binary's build ID note, and damage."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from eifdiff.errors import FormatError
from eifdiff.formats import elfdata
from eifdiff.formats.elfdata import elf_data
from tests.packages.helpers import tiny_elf


def _gcc(tmp: Path, *flags: str) -> bytes:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    funcs = "".join(f"int function_with_a_long_name_{i}(int x) {{ return x * {i}; }}\n"
                    for i in range(300))
    (tmp / "m.c").write_text(funcs + "int main(void) { return function_with_a_long_name_1(2); }\n")
    subprocess.run([gcc, "-g", *flags, "-Wl,--build-id", "-o", "m", "m.c"], cwd=tmp, check=True,
                   capture_output=True, timeout=300)
    return (tmp / "m").read_bytes()


def test_compressed_dwarf_is_inflated(tmp_path: Path) -> None:
    plain = elf_data(_gcc(tmp_path))
    packed = elf_data(_gcc(tmp_path, "-gz=zlib"))
    for name in (".debug_info", ".debug_line", ".debug_str", ".debug_abbrev"):
        p, z = plain.section(name), packed.section(name)
        assert p is not None and z is not None, name
        assert not p.inflated and z.inflated and z.size < len(z.data)
    for name in (".debug_line", ".debug_abbrev"):  # the same once inflated
        assert packed.section(name).data == plain.section(name).data  # type: ignore[union-attr]
    assert b"-gz=zlib" in packed.section(".debug_str").data  # type: ignore[union-attr]
    assert packed.section(".debug_str").strings  # type: ignore[union-attr]
    assert plain.gnu_build_id is not None and len(plain.gnu_build_id) == 20
    assert plain.go_build_id is None


def test_go_build_id_note() -> None:
    gid = b"abc/def/ghi"
    note = struct.pack("<III", 3, len(gid), 4) + b"Go\0\0" + gid + b"\0"
    got = elf_data(tiny_elf(note, section=".note.go.buildid"))
    assert got.go_build_id == gid and got.gnu_build_id is None


def _compressed(claimed: int, payload: bytes) -> bytes:
    chdr = struct.pack("<IIQQ", 1, 0, claimed, 1) + zlib.compress(payload)
    elf = bytearray(tiny_elf(chdr + bytes(-len(chdr) % 16), section=".debug_line"))
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    struct.pack_into("<Q", elf, shoff + 64 + 8, elfdata.SHF_COMPRESSED)
    return bytes(elf)


def test_inflation_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    ok = elf_data(_compressed(4096, bytes(4096))).section(".debug_line")
    assert ok is not None and ok.inflated and ok.data == bytes(4096)
    # a header that lies about the size, or a bomb past the bounds: kept compressed
    lying = elf_data(_compressed(100, bytes(4096))).section(".debug_line")
    assert lying is not None and not lying.inflated
    monkeypatch.setattr(elfdata, "MAX_INFLATED", 1000)
    capped = elf_data(_compressed(4096, bytes(4096))).section(".debug_line")
    assert capped is not None and not capped.inflated


def test_damage_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="ELF file cannot be parsed"):
        elf_data(b"\x7fELF\x02\x01\x01" + bytes(9))
