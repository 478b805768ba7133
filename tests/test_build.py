"""eifdiff.build and `eifdiff build`: byte-exact rebuilds of the reference vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from eifdiff.build import (
    DEFAULT_BUILD_TOOL,
    DEFAULT_BUILD_TOOL_VERSION,
    DEFAULT_VERSION,
    Signer,
    build_eif,
    default_metadata,
    now_rfc3339,
    read_custom_metadata,
)
from eifdiff.errors import EifdiffError
from eifdiff.formats.eif import SectionType
from eifdiff.image import open_image
from tests.helpers import CliBatch, Vector, run_cli, self_signed


def _build_ok(vec: Vector, out: Path, **kw: object) -> dict:
    proc = run_cli(*vec.build_args(out, **kw), cwd=vec.root)
    return _ok(proc)


def _ok(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def _pcrs(vec: Vector) -> dict[str, str]:
    return {k: v for k, v in vec.expected["Measurements"].items() if k.startswith("PCR")}


def test_cli_rebuild_byte_exact(unsigned_vec: Vector, vector_cli: CliBatch) -> None:
    out = vector_cli.out_dir / f"{unsigned_vec.name}.eif"
    report = _ok(vector_cli.result(f"build-{unsigned_vec.name}"))
    assert out.read_bytes() == unsigned_vec.data
    assert report["Output"] == str(out) and report["Size"] == unsigned_vec.entry["size"]
    assert report["Measurements"] == unsigned_vec.expected["Measurements"]


def test_cli_rebuild_with_cmdline_file(unsigned_vec: Vector, vector_cli: CliBatch) -> None:
    _ok(vector_cli.result(f"build-file-{unsigned_vec.name}"))
    assert (vector_cli.out_dir / f"{unsigned_vec.name}.file.eif").read_bytes() == \
        unsigned_vec.data


def test_cli_rebuild_signed(signed_vec: Vector, vector_cli: CliBatch) -> None:
    out = vector_cli.out_dir / f"{signed_vec.name}.eif"
    report = _ok(vector_cli.result(f"build-{signed_vec.name}"))
    assert report["Measurements"] == signed_vec.expected["Measurements"]
    img = open_image(out)
    assert img.crc_ok and img.is_signed and img.anomalies == ()
    assert img.signature is not None and img.signature.check
    assert img.pcrs == _pcrs(signed_vec)
    assert img.signature.certificate == signed_vec.expected["SigningCertificate"]
    got = [(s.index, s.type.reference_name, s.offset, s.size) for s in img.layout.sections]
    exp = [(s["index"], s["type"], s["offset"], s["section_size"])
           for s in signed_vec.expected["Sections"]]
    assert got[:-1] == exp[:-1]
    assert got[-1][:3] == exp[-1][:3] == (5, "EifSectionSignature", 140744)
    # everything before the signature section header is the vector's bytes, but for the CRC
    data, ref = out.read_bytes(), signed_vec.data
    assert data[:284] == ref[:284] and data[548:140744] == ref[548:140744]


def test_cli_version_and_name(vectors_dir: Path, tmp_path: Path) -> None:
    vec = Vector.load("02-nitro-two-ramdisks")
    out = tmp_path / "v.eif"
    _build_ok(vec, out, options=["--version", "7.5.2", "--name", "my-enclave"])
    img = open_image(out)
    assert img.metadata is not None
    assert img.metadata.image_version == "7.5.2"
    assert img.metadata.image_name == "my-enclave"
    assert img.pcrs == _pcrs(vec)
    out2 = tmp_path / "v2.eif"
    _build_ok(vec, out2, options=["--version", "2.0"])
    md2 = open_image(out2).metadata
    assert (md2.image_name, md2.image_version) == ("bzImage", "2.0")
    out3 = tmp_path / "v3.eif"
    _build_ok(vec, out3, options=["--name", "only-name"])
    md3 = open_image(out3).metadata
    assert (md3.image_name, md3.image_version) == ("only-name", "1.0")


def test_cli_build_errors(vectors_dir: Path, tmp_path: Path) -> None:
    vec = Vector.load("01-minimal-one-ramdisk")
    out = tmp_path / "x.eif"
    cases = [
        ["--signing-certificate", "inputs/cert.pem"],  # key missing
        ["--metadata", "inputs/bzImage"],  # not JSON
        ["--signing-certificate", "inputs/key.pem", "--private-key", "inputs/key.pem"],
        ["--signing-certificate", "inputs/cert.pem", "--private-key", "inputs/cert.pem"],
        ["--arch", "riscv"],
    ]
    for options in cases:
        proc = run_cli(*vec.build_args(out, options=options), cwd=vec.root)
        assert proc.returncode == 2, (options, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    missing = vec.build_args(out)
    missing[missing.index("inputs/bootstrap.cpio")] = "inputs/nope.cpio"
    proc = run_cli(*missing, cwd=vec.root)
    assert proc.returncode == 2 and "inputs/nope.cpio" in proc.stderr
    assert not out.exists()


def test_api_build_from_paths(vectors_dir: Path, tmp_path: Path) -> None:
    vec = Vector.load("05-custom-metadata")
    inputs = vectors_dir / "inputs"
    md = default_metadata(
        inputs / "bzImage", build_time=vec.entry["build_time"], build_tool="nitro-cli",
        build_tool_version="1.3.1", img_os="Amazon Linux", img_kernel="4.14.256",
        custom=read_custom_metadata(inputs / "custom-metadata.json"),
    )
    out = tmp_path / "api.eif"
    result = build_eif(out, kernel=inputs / "bzImage",
                       cmdline=(inputs / "cmdline.txt").read_bytes(),
                       ramdisks=[inputs / "bootstrap.cpio", inputs / "customer.cpio"], metadata=md)
    assert out.read_bytes() == vec.data
    assert result.size == vec.entry["size"] and result.path == str(out)
    assert result.pcrs == _pcrs(vec)


def test_api_build_from_bytes(vectors_dir: Path, tmp_path: Path) -> None:
    vec = Vector.load("06-three-ramdisks")
    inputs = vectors_dir / "inputs"
    md = default_metadata("bzImage", build_time=vec.entry["build_time"])
    out = tmp_path / "bytes.eif"
    result = build_eif(
        out, kernel=(inputs / "bzImage").read_bytes(),
        cmdline=(inputs / "cmdline.txt").read_bytes(),
        ramdisks=[(inputs / n).read_bytes() for n in vec.entry["ramdisks"]], metadata=md,
    )
    assert out.read_bytes() == vec.data and result.pcrs == _pcrs(vec)


def test_api_build_aarch64(vectors_dir: Path, tmp_path: Path) -> None:
    vec = Vector.load("03-aarch64-flag")
    inputs = vectors_dir / "inputs"
    out = tmp_path / "arm.eif"
    build_eif(out, kernel=inputs / "bzImage", cmdline=(inputs / "cmdline.txt").read_bytes(),
              ramdisks=[inputs / r for r in vec.entry["ramdisks"]], arch="aarch64",
              metadata=default_metadata(inputs / "bzImage", build_time=vec.entry["build_time"]))
    assert out.read_bytes() == vec.data


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP256R1()])
def test_api_build_signed_deterministic(signed_vec: Vector, tmp_path: Path,
                                        curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    pem = self_signed(key).public_bytes(serialization.Encoding.PEM)
    signer = Signer(pem, key, deterministic=True)
    inputs = signed_vec.root / "inputs"
    kw = dict(kernel=inputs / "bzImage", cmdline=(inputs / "cmdline.txt").read_bytes(),
              ramdisks=[inputs / r for r in signed_vec.entry["ramdisks"]],
              metadata=default_metadata(inputs / "bzImage", build_time="2024-01-01T00:00:00Z"),
              signer=signer)
    a, b = tmp_path / "a.eif", tmp_path / "b.eif"
    ra, rb = build_eif(a, **kw), build_eif(b, **kw)
    assert a.read_bytes() == b.read_bytes()
    img = open_image(a)
    assert img.crc_ok and img.signature is not None and img.signature.check
    assert img.signature.algorithm == ("ES384" if curve.name == "secp384r1" else "ES256")
    assert img.pcrs == ra.pcrs == rb.pcrs
    assert {k: img.pcrs[k] for k in ("PCR0", "PCR1", "PCR2")} == {
        k: signed_vec.expected["Measurements"][k] for k in ("PCR0", "PCR1", "PCR2")}


def test_signer_from_files(inputs_dir: Path, tmp_path: Path) -> None:
    signer = Signer.from_files(inputs_dir / "cert.pem", inputs_dir / "key.pem")
    assert signer.certificate_pem == (inputs_dir / "cert.pem").read_bytes()
    assert signer.key.curve.name == "secp384r1" and not signer.deterministic
    with pytest.raises(EifdiffError):
        Signer.from_files(inputs_dir / "cert.pem", inputs_dir / "cert.pem")
    with pytest.raises(EifdiffError):
        Signer.from_files(inputs_dir / "cert.pem", tmp_path / "missing.pem")


def test_build_refusals(tmp_path: Path) -> None:
    md = default_metadata("k", build_time="t")
    for kw in (dict(ramdisks=[]), dict(ramdisks=[b"r"], cmdline=b"a\0b"),
               dict(ramdisks=[b"r"], arch="mips")):
        args = dict(kernel=b"k", cmdline=b"c", metadata=md) | kw
        with pytest.raises(EifdiffError):
            build_eif(tmp_path / "x.eif", **args)
    with pytest.raises(EifdiffError):
        build_eif(tmp_path / "no" / "such" / "dir.eif", kernel=b"k", cmdline=b"c",
                  ramdisks=[b"r"], metadata=md)


def test_default_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    md = default_metadata("/some/where/vmlinuz", build_time="T")
    assert (md.image_name, md.image_version, md.build_tool, md.build_tool_version,
            md.operating_system, md.kernel_version) == (
        "vmlinuz", DEFAULT_VERSION, DEFAULT_BUILD_TOOL, DEFAULT_BUILD_TOOL_VERSION, "OS", "kernel")
    assert md.custom_metadata is None and md.docker_info is None
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")
    assert now_rfc3339() == "2024-01-01T00:00:00+00:00"
    assert default_metadata("k").build_time == "2024-01-01T00:00:00+00:00"


def test_read_custom_metadata(inputs_dir: Path, tmp_path: Path) -> None:
    assert read_custom_metadata(inputs_dir / "custom-metadata.json") == {
        "git": {"commit": "0123abcd", "dirty": False}, "team": "platform"}
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"x": "y" * 5000}))
    with pytest.raises(EifdiffError):
        read_custom_metadata(big)


def test_built_sections_order(tmp_path: Path) -> None:
    out = tmp_path / "o.eif"
    build_eif(out, kernel=b"k", cmdline=b"c", ramdisks=[b"r0", b"r1"],
              metadata=default_metadata("k", build_time="T"))
    assert [s.type for s in open_image(out).layout.sections] == [
        SectionType.KERNEL, SectionType.CMDLINE, SectionType.METADATA, SectionType.RAMDISK,
        SectionType.RAMDISK]


def test_cmdline_file_is_trimmed_like_nitro_cli(vectors_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A cmdline file ending in a newline (as nitro-cli's blobs do) gives the same image."""
    from eifdiff.cli import main

    vec = Vector.load("01-minimal-one-ramdisk")
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("  " + vec.cmdline_text + "\n")
    out = tmp_path / "trim.eif"
    monkeypatch.chdir(vectors_dir)
    args = vec.build_args(out, cmdline_file=True)
    args[args.index("--cmdline-file") + 1] = str(cmdline)
    assert main(args) == 0, capsys.readouterr().err
    assert out.read_bytes() == vec.data
