"""`eifdiff` command line: exit codes 0/1/2, one-line errors, describe output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eifdiff import __version__
from eifdiff.cli import main
from tests.helpers import (
    CliBatch,
    cli,
    patch_section_header,
    run_cli,
    section_offsets,
    truncation_points,
)


def _v(vectors_dir: Path, name: str) -> Path:
    return vectors_dir / "eif" / f"{name}.eif"


def assert_trouble(proc) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stdout == ""


def run_main(argv: list[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`main()` in-process (the suite's one in-process CLI helper)."""
    return cli(*argv)


def test_compare_exit_codes(vectors_dir: Path) -> None:
    a, b = _v(vectors_dir, "08-build-time-a"), _v(vectors_dir, "09-build-time-b")
    batch = CliBatch()
    try:
        batch.submit("same", a, _v(vectors_dir, "02-nitro-two-ramdisks"))
        batch.submit("pcr", a, b)
        batch.submit("pcr-ok", a, b, "--fail-on", "pcr")
        batch.submit("different", a, _v(vectors_dir, "06-three-ramdisks"), "--fail-on", "pcr")
        same, pcr, pcr_ok, diff = (batch.result(k) for k in ("same", "pcr", "pcr-ok",
                                                              "different"))
    finally:
        batch.close()
    assert same.returncode == 0 and same.stdout.startswith("verdict: identical"), same.stderr
    assert pcr.returncode == 1 and "pcr-equivalent" in pcr.stdout, pcr.stderr
    assert pcr_ok.returncode == 0 and "pcr-equivalent" in pcr_ok.stdout
    assert diff.returncode == 1 and "verdict: different" in diff.stdout


def test_compare_exit_codes_in_process(vectors_dir: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _v(vectors_dir, "08-build-time-a"), _v(vectors_dir, "09-build-time-b")
    assert run_main([a, b, "--fail-on", "bytes"], capsys)[0] == 1
    code, out, _ = run_main([a, b, "--json"], capsys)
    assert code == 1 and json.loads(out)["verdict"] == "pcr-equivalent"
    code, out, _ = run_main([a, a, "--json"], capsys)
    assert code == 0 and json.loads(out)["verdict"] == "identical"
    code, out, _ = run_main([_v(vectors_dir, "02-nitro-two-ramdisks"),
                             _v(vectors_dir, "04-signed"), "--fail-on", "pcr"], capsys)
    assert code == 1 and "verdict: different" in out


def test_trouble_exit_codes(vectors_dir: Path, tmp_path: Path) -> None:
    a = _v(vectors_dir, "01-minimal-one-ramdisk")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an eif at all" * 100)
    batch = CliBatch()
    try:
        batch.submit("missing", a, tmp_path / "missing.eif")
        batch.submit("not-eif", "describe", junk)
        batch.submit("usage", a)
        missing, not_eif, usage = (batch.result(k) for k in ("missing", "not-eif", "usage"))
    finally:
        batch.close()
    assert_trouble(missing)
    assert "missing.eif" in missing.stderr
    assert_trouble(not_eif)
    assert not_eif.stderr.startswith(str(junk)) and "offset 0" in not_eif.stderr
    assert_trouble(usage)
    assert usage.stderr.startswith("eifdiff: ")


def test_trouble_exit_codes_in_process(vectors_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    a = _v(vectors_dir, "01-minimal-one-ramdisk")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(4096))
    cases = [[a, junk], [junk, a], ["describe", tmp_path], ["describe", tmp_path / "nope"],
             [], [a], [a, a, a], [a, a, "--fail-on", "nope"], ["describe"],
             ["build", "--kernel", "k"], ["describe", a, "--bogus"], ["--bogus", a, a]]
    for argv in cases:
        code, out, err = run_main(argv, capsys)
        assert code == 2, (argv, code, err)
        assert out == "" and len(err.splitlines()) == 1, (argv, err)
        assert "internal error" not in err, (argv, err)


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and __version__ in out


def test_describe_text_and_json(vectors_dir: Path, vector_cli: CliBatch) -> None:
    text = run_cli("describe", _v(vectors_dir, "04-signed"))
    assert text.returncode == 0 and text.stderr == ""
    for pcr in ("PCR0", "PCR1", "PCR2", "PCR8"):
        assert pcr in text.stdout
    assert "CRC-32 ok" in text.stdout
    js = vector_cli.result("describe-01-minimal-one-ramdisk")
    assert js.returncode == 0
    doc = json.loads(js.stdout)
    assert set(doc["Measurements"]) == {"HashAlgorithm", "PCR0", "PCR1", "PCR2"}


def test_damaged_files_through_cli(vectors_dir: Path, tmp_path: Path) -> None:
    data = _v(vectors_dir, "02-nitro-two-ramdisks").read_bytes()
    damaged = [data[:600], data[:548], data[:-1], b"",
               patch_section_header(data, 3, size=2**64 - 1),
               patch_section_header(data, 4, stype=6)]
    batch = CliBatch()
    try:
        for i, d in enumerate(damaged):
            (tmp_path / f"d{i}.eif").write_bytes(d)
            batch.submit(str(i), "describe", tmp_path / f"d{i}.eif")
        for i in range(len(damaged)):
            proc = batch.result(str(i))
            assert_trouble(proc)
            assert proc.stderr.startswith(str(tmp_path / f"d{i}.eif"))
            assert "offset" in proc.stderr
    finally:
        batch.close()


@pytest.mark.parametrize("name", ["01-minimal-one-ramdisk", "04-signed"])
def test_truncations_in_process(vectors_dir: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str], name: str) -> None:
    """`main()` on every truncation boundary: exit 2, one line on stderr naming the offset."""
    data = _v(vectors_dir, name).read_bytes()
    path = tmp_path / "t.eif"
    for cut in truncation_points(data):
        path.write_bytes(data[:cut])
        assert main(["describe", "--json", str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1
        assert err.startswith(str(path)) and "offset" in err and "internal error" not in err


def test_bit_flips_in_process(vectors_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """Every bit of magic, version, section count and of each section header's type, flags and
    size ends through `main()`: 0 with a flagged image, or 2 with one line naming the file and an
    offset."""
    data = _v(vectors_dir, "02-nitro-two-ramdisks").read_bytes()
    path = tmp_path / "f.eif"
    bad = set()
    for off in [0, 4, 26, *section_offsets(data)]:
        for k in ((0, 1, 2, 3, 4, 11) if off >= 548 else (0, 1)):
            for bit in range(8):
                b = bytearray(data)
                b[off + k] ^= 1 << bit
                path.write_bytes(bytes(b))
                code = main(["describe", "--json", str(path)])
                out, err = capsys.readouterr()
                if code == 0:
                    doc = json.loads(out)
                    assert doc["CheckCRC"] is False or doc["eifdiff"]["Anomalies"]
                    continue
                assert code == 2 and out == "" and len(err.splitlines()) == 1
                if not (err.startswith(str(path)) and "offset" in err):
                    bad.add(err.replace(str(path), "FILE").strip())
    assert not bad, sorted(bad)


def test_build_via_main(vectors_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(vectors_dir)
    out = tmp_path / "m.eif"
    code = main(["build", "--kernel", "inputs/bzImage", "--cmdline-file", "inputs/cmdline.txt",
                 "--ramdisk", "inputs/bootstrap.cpio", "--build-time",
                 "2024-01-01T00:00:00+00:00", "--output", str(out)])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["Size"] == out.stat().st_size
    assert out.read_bytes() == _v(vectors_dir, "01-minimal-one-ramdisk").read_bytes()


def test_internal_errors_are_one_line(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import eifdiff.cli as cli

    def boom(argv: object) -> int:
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(cli, "cmd_compare", boom)
    monkeypatch.delenv("EIFDIFF_DEBUG", raising=False)
    assert cli.main(["a", "b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eifdiff: internal error: RuntimeError: kaboom")
    assert len(err.splitlines()) == 1, err


def test_error_naming_a_path_with_a_newline_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "two\nlines.eif"
    code, out, err = run_main(["describe", odd], capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
