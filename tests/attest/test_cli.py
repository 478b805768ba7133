"""`eifdiff attest` and `eifdiff check`: exit codes 0/1/2/3, one-line errors, text, JSON and
Markdown output, and escaping of what the document's maker controls."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cbor2
import pytest

from eifdiff.image import open_image
from tests.attest.chain import (
    DEBUG,
    REAL,
    SAMPLES,
    SELF_SIGNED,
    DocumentSpec,
    image_pcrs,
    sample_document,
    shared,
    write_root,
)
from tests.helpers import run_cli
from tests.test_cli import run_main


def _doc(tmp_path: Path, raw: bytes, name: str = "doc.cbor") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def _eif(pair: str, side: str) -> Path:
    return SAMPLES / pair / f"{side}.eif"


def _one_line_error(err: str) -> None:
    assert "Traceback" not in err and len(err.splitlines()) == 1, err


# --- the "done when", as real processes ---------------------------------------------------
@pytest.mark.parametrize("name", REAL)
def test_real_documents_exit_0(name: str) -> None:
    proc = run_cli("attest", shared(name))
    assert proc.returncode == 0, proc.stderr
    assert "verdict verified (exit 0)" in proc.stdout
    assert "the pinned AWS Nitro root (SHA-256 641a0321a3e244ef…)" in proc.stdout
    assert "after the document was made (documents are checked at their own time)" in proc.stdout
    assert proc.stderr == ""


def test_debug_document_exits_1() -> None:
    proc = run_cli("attest", shared(DEBUG))
    assert proc.returncode == 1, proc.stderr
    assert "verdict debug-mode (exit 1)" in proc.stdout
    assert "DEBUG MODE: PCR0, PCR1 and PCR2 are zero" in proc.stdout


def test_self_signed_and_flipped_exit_3(tmp_path: Path) -> None:
    proc = run_cli("attest", shared(SELF_SIGNED))
    assert proc.returncode == 3
    _one_line_error(proc.stderr)
    assert "verification failed: the document has no cabundle" in proc.stderr
    raw = bytearray(base64.b64decode(shared("doc-2024-09-07.b64").read_bytes()))
    at = raw.index(bytes.fromhex("d5dcbdea0aa39c80"))  # inside PCR2's value, in the payload
    raw[at] ^= 0x80
    proc = run_cli("attest", _doc(tmp_path, bytes(raw)))
    assert proc.returncode == 3
    _one_line_error(proc.stderr)
    assert "COSE_Sign1 signature does not verify" in proc.stderr


def test_test_chain_document_matches_its_image_and_not_the_other(tmp_path: Path) -> None:
    doc = _doc(tmp_path, sample_document("cpio-mtime", "a"))
    root = write_root(tmp_path)
    proc = run_cli("attest", doc, _eif("cpio-mtime", "a"), "--root", root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict match (exit 0)" in proc.stdout
    proc = run_cli("attest", doc, _eif("cpio-mtime", "b"), "--root", root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "verdict mismatch (exit 1)" in proc.stdout
    assert ("PCR1 equal: same kernel, cmdline and bootstrap ramdisk (kernel, cmdline, "
            "ramdisk[0])") in proc.stdout
    assert "PCR2 differs: the application ramdisk differs (ramdisk[1])" in proc.stdout
    # without --root the test chain is not AWS's: exit 3 even though the PCRs match
    proc = run_cli("attest", doc, _eif("cpio-mtime", "a"))
    assert proc.returncode == 3 and "not the pinned AWS Nitro root" in proc.stderr


# --- in-process: every other path -----------------------------------------------------------
def test_attest_json_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _doc(tmp_path, sample_document("kernel-host", "a"))
    code, out, _ = run_main(["attest", doc, _eif("kernel-host", "b"), "--root",
                             write_root(tmp_path), "--json"], capsys)
    assert code == 1
    j = json.loads(out)
    assert list(j) == ["schema", "command", "verdict", "exit_code", "expected", "document",
                       "verification", "image", "comparison"]
    assert (j["schema"], j["command"], j["verdict"], j["exit_code"]) == (
        "eifdiff-attest/1", "attest", "mismatch", 1)
    assert j["expected"]["kind"] == "attestation" and len(j["expected"]["pcrs"]) == 16
    d = j["document"]
    assert d["encoding"] == "cbor" and d["algorithm"] == -35 and d["digest"] == "SHA384"
    assert d["time"] == "2024-01-01T01:00:00.000Z" and d["timestamp_ms"] == 1704070800000
    assert d["user_data"] == {"size": 5, "sha256": d["user_data"]["sha256"],
                              "hex_preview": b"hello".hex(), "text_preview": "hello"}
    assert d["public_key"] is None and d["nonce"]["size"] == 16
    v = j["verification"]
    assert v["verified"] and v["reason"] is None and v["failures"] == []
    assert v["root"]["pinned"] is False and v["leaf_expired_now"] is True
    assert [c["role"] for c in v["chain"]] == ["root", "intermediate", "leaf"]
    img = open_image(_eif("kernel-host", "b")).pcrs
    assert j["image"]["pcrs"]["PCR1"] == img["PCR1"] and j["image"]["signed"] is False
    c = j["comparison"]
    assert c["differing"] == ["PCR0", "PCR1"] and not c["matches"]
    assert [r["pcr"] for r in c["rows"]] == ["PCR0", "PCR1", "PCR2", "PCR8", "PCR3", "PCR4"]
    assert c["rows"][1]["sections"] == ["kernel", "cmdline", "ramdisk[0]"]


def test_attest_unverified_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["attest", shared(SELF_SIGNED), "--json"], capsys)
    assert code == 3
    j = json.loads(out)
    assert j["verdict"] == "unverified" and j["verification"]["verified"] is False
    assert j["verification"]["reason"].startswith("the document has no cabundle")
    _one_line_error(err)


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x84\x44\xa1\x01\x38", "truncated"),
    (cbor2.dumps(cbor2.CBORTag(61, [b"", {}, b"", b""])), "unexpected CBOR tag 61"),
    (cbor2.dumps([b"", {}, b""]), "array of 3 items, expected 4"),
    (b"\x81" * 5000 + b"\x00", "nested deeper than"),
    (b"\x00" * 64, "bytes after the CBOR item"),
])
def test_unreadable_documents_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     raw: bytes, message: str) -> None:
    code, out, err = run_main(["attest", _doc(tmp_path, raw)], capsys)
    assert code == 2 and out == ""
    _one_line_error(err)
    assert message in err and err.startswith(str(tmp_path))


def test_hostile_verdicts_are_one_line_exit_3(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from tests.attest.chain import chain, der, other_chain

    c, o = chain(), other_chain()
    root = write_root(tmp_path)
    cases = {
        "es256": DocumentSpec(algorithm=-7).build(),
        "unrelated": DocumentSpec(cabundle=[der(c.root), der(o.inter), der(c.inter)]).build(),
        "reordered": DocumentSpec(cabundle=[der(c.inter), der(c.root)]).build(),
        "other-root": DocumentSpec().build(o),
        "late": DocumentSpec(timestamp=1904070800000).build(),
    }
    for name, raw in cases.items():
        code, out, err = run_main(["attest", _doc(tmp_path, raw, name), "--root", root], capsys)
        assert code == 3, (name, out, err)
        _one_line_error(err)
        assert "verification failed: " in err and "VERIFICATION FAILED" in out


def test_missing_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["attest", tmp_path / "none"],
                 ["attest", shared(REAL[0]), tmp_path / "none.eif"],
                 ["attest", shared(REAL[0]), "--root", tmp_path / "none.pem"],
                 ["check", _eif("identical", "a")],
                 ["check", _eif("identical", "a"), "--expect", tmp_path / "none.json"],
                 ["check", _eif("identical", "a"), "--pcr0", "xyz"],
                 ["attest"]):
        code, _, err = run_main(argv, capsys)
        assert code == 2, argv
        _one_line_error(err)


def test_escaping_of_attacker_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "i-\x1b[31mred\x1b[0m\u202eevil\nnext|`*"
    title = b"\x1b]0;title\x07 set the window title|"
    raw = DocumentSpec(module_id=evil, user_data=title).build()
    doc, root = _doc(tmp_path, raw), write_root(tmp_path)
    md = tmp_path / "summary.md"
    code, out, _ = run_main(["attest", doc, _eif("identical", "a"), "--root", root,
                             "--markdown", md], capsys)
    assert code == 1  # the document's PCRs are zeros: debug mode
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "module     i-\\x1b[31mred\\x1b[0m\\u202eevil\\nnext|`*" in out
    assert 'text "\\x1b]0;title\\a set the window title|"' in out
    text = md.read_text()
    assert "\x1b" not in text and "\u202e" not in text
    assert "i-\\\\x1b[31mred\\\\x1b[0m\\\\u202eevil\\\\nnext\\|\\`\\*" in text
    code, out, _ = run_main(["attest", doc, "--root", root, "--json"], capsys)
    assert out.isascii() and json.loads(out)["document"]["module_id"] == evil


# --- check ----------------------------------------------------------------------------------------
def test_check_with_build_enclave_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcrs = open_image(_eif("cpio-mtime", "a")).pcrs
    expect = tmp_path / "pcr.json"
    expect.write_text(json.dumps({"Measurements": {"HashAlgorithm": "Sha384 { ... }", **pcrs}}))
    md = tmp_path / "summary.md"
    code, out, err = run_main(["check", _eif("cpio-mtime", "a"), "--expect", expect,
                               "--markdown", md], capsys)
    assert (code, err) == (0, "")
    assert "expected PCRs (build-enclave); verdict match (exit 0)" in out
    assert md.read_text().startswith("## ✅ eifdiff check: match")
    code, out, _ = run_main(["check", _eif("cpio-mtime", "b"), "--expect", expect,
                             "--markdown", md], capsys)
    assert code == 1 and "PCR2 differs: the application ramdisk differs" in out
    text = md.read_text()
    assert text.startswith("## ❌ eifdiff check: mismatch")
    assert "| PCR2 | `" in text and "| **no** | the application ramdisk differs" in text


def test_check_with_flags(capsys: pytest.CaptureFixture[str]) -> None:
    pcrs = open_image(_eif("kernel-host", "a")).pcrs
    code, out, _ = run_main(["check", _eif("kernel-host", "a"), "--pcr1", pcrs["PCR1"],
                             "--pcr2", pcrs["PCR2"], "--json"], capsys)
    j = json.loads(out)
    assert code == 0 and j["verdict"] == "match" and j["verification"] is None
    assert j["expected"] == {"kind": "flags", "source": "command line",
                             "pcrs": {"PCR1": pcrs["PCR1"], "PCR2": pcrs["PCR2"]}}
    code, out, _ = run_main(["check", _eif("kernel-host", "b"), "--pcr1", pcrs["PCR1"]], capsys)
    assert code == 1 and "PCR1 differs: the kernel, the cmdline or the bootstrap ramdisk" in out
    code, _, err = run_main(["check", _eif("kernel-host", "b"), "--pcr1", pcrs["PCR1"],
                             "--expect", "x.json"], capsys)
    assert code == 2 and "go apart" in err


def test_check_with_attestation_documents(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = write_root(tmp_path)
    doc = tmp_path / "doc.hex"
    doc.write_text(sample_document("signature", "a").hex())
    code, out, _ = run_main(["check", _eif("signature", "a"), "--expect", doc, "--root", root],
                            capsys)
    assert code == 0 and "verdict match" in out
    code, out, _ = run_main(["check", _eif("signature", "b"), "--expect", doc, "--root", root],
                            capsys)
    assert code == 1 and "PCR8 differs: signed with another certificate" in out
    code, _, err = run_main(["check", _eif("signature", "a"), "--expect", doc], capsys)
    assert code == 3 and "not the pinned AWS Nitro root" in err
    code, out, _ = run_main(["check", _eif("identical", "a"), "--expect", shared(DEBUG)], capsys)
    assert code == 1 and "verdict debug-mode" in out
    code, out, _ = run_main(["check", _eif("identical", "a"), "--expect", shared(REAL[0])], capsys)
    assert code == 1 and "verdict mismatch" in out


def test_check_needs_an_image_pcr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect = tmp_path / "pcr3.json"
    expect.write_text(json.dumps({"PCR3": "00" * 48}))
    code, _, err = run_main(["check", _eif("identical", "a"), "--expect", expect], capsys)
    assert code == 2 and "none of PCR0, PCR1, PCR2, PCR8 is given" in err


def test_image_pcrs_fixture_matches_image() -> None:
    pcrs = image_pcrs(_eif("signature", "a"))
    assert pcrs[8].hex() == open_image(_eif("signature", "a")).pcrs["PCR8"]


def test_certificate_names_are_escaped_in_the_one_line_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import timedelta

    from tests.attest.chain import T0, chain, der, make_cert

    c = chain()
    leaf = make_cert("evil\x1b[31m\nname", c.leaf_key, c.inter.subject, c.inter_key, ca=False,
                     not_before=T0 + timedelta(days=1), not_after=T0 + timedelta(days=2))
    raw = DocumentSpec(certificate=der(leaf)).build()
    code, out, err = run_main(["attest", _doc(tmp_path, raw), "--root", write_root(tmp_path)],
                              capsys)
    assert code == 3
    _one_line_error(err)
    assert "\x1b" not in err + out and "evil\\x1b[31m\\nname" in err
    assert "is not valid (valid from" in err
