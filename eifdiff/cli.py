"""The `eifdiff` command: compare two EIFs, describe one, build one.

Exit codes: 0 identical, 1 different, 2 trouble (bad input, bad usage); `attest` and `check`
add 3, verification failed. Errors are one line on stderr, never a traceback (set
EIFDIFF_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from eifdiff import __version__
from eifdiff.errors import EifdiffError
from eifdiff.escape import json_dumps, terminal
from eifdiff.formats.cpio import MAX_ENTRIES

EXIT_SAME, EXIT_DIFFERENT, EXIT_TROUBLE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(EXIT_TROUBLE, f"{self.prog}: {message}\n")


def _compare_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="eifdiff",
        description="Compare two EIF files: PCRs, sections and why they differ. "
        "Other commands: `eifdiff describe FILE`, `eifdiff build ...`, `eifdiff unpack FILE DIR`, "
        "`eifdiff normalize --fix NAMES IN OUT`, `eifdiff inventory FILE`, `eifdiff attest DOC "
        "[FILE]`, `eifdiff check FILE --expect PCRS`, `eifdiff notebook A B [--out DIR]` (see "
        "--help of each).",
    )
    p.add_argument("a", help="first EIF")
    p.add_argument("b", help="second EIF")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--fail-on", choices=("bytes", "pcr"), default="bytes",
                   help="what makes the exit code 1: any byte difference (default), or only a "
                   "PCR difference")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown report (CI summary)")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    p.add_argument("--deep", action="store_true",
                   help="attach diffoscope's view of each divergent file pair")
    p.add_argument("--deep-max-files", type=int, default=10, metavar="N",
                   help="compare at most N file pairs with diffoscope (default 10)")
    p.add_argument("--deep-timeout", type=float, default=60.0, metavar="S",
                   help="seconds per diffoscope run (default 60; 5x that for all runs)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--remedies", dest="remedies", action="store_true", default=None,
                   help="compute what would fix it even for large images (by default only when "
                   "the ramdisks hold at most 1 GiB together)")
    g.add_argument("--no-remedies", dest="remedies", action="store_false",
                   help="skip the counterfactual PCRs of each normalization")
    p.add_argument("--top", type=int, default=40, metavar="N",
                   help="divergences listed in the text report (default 40)")
    _limit_args(p)
    p.add_argument("--version", action="version", version=f"eifdiff {__version__}")
    return p


def _limit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-decompressed", type=int, default=8 << 30, metavar="BYTES",
                   help="bound on the decompressed bytes of all compressed ramdisks of an image, "
                   "and of both images compared (default 8 GiB)")
    p.add_argument("--max-ratio", type=int, default=1000, metavar="N",
                   help="bound on a compressed ramdisk's expansion ratio (default 1000)")
    p.add_argument("--max-entries", type=int, default=MAX_ENTRIES, metavar="N",
                   help=f"CPIO entries read per image; more is an anomaly (default {MAX_ENTRIES})")


def _normalize_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff normalize",
                description="Rewrite an EIF as a reproducible build would have written it and "
                "print its PCRs. Normalizations: mtime[=T], order, owner, inode, mode[=UMASK], "
                "gzip, build-time[=T] (see the README).")
    p.add_argument("--fix", required=True, metavar="NAME[,NAME...]",
                   help="normalizations to apply, e.g. mtime,order,inode")
    p.add_argument("input", help="EIF to read")
    p.add_argument("output", help="EIF to write (written beside it, then renamed into place)")
    _limit_args(p)
    return p


def _inventory_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff inventory",
                description="Every package the image's root filesystems record (dpkg, apk, rpm, "
                "Python distributions, Go modules), without unpacking, and known-bad versions.")
    p.add_argument("file", help="EIF file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--files", action="store_true", help="include each package's file list")
    _limit_args(p)
    return p


def _unpack_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff unpack",
                description="Write each section to DIR/sections and each ramdisk's tree to "
                "DIR/ramdisk-N, refusing unsafe entries (absolute, '..', through links, devices).")
    p.add_argument("file", help="EIF file")
    p.add_argument("dir", help="target folder (new or empty)")
    _limit_args(p)
    return p


def _describe_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff describe",
                description="Measurements, metadata, signature and section table of one EIF.")
    p.add_argument("file", help="EIF file")
    p.add_argument("--json", action="store_true",
                   help="print nitro-cli describe-eif's JSON shape plus an `eifdiff` key")
    return p


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff build",
                description="Write an EIF from a kernel, a cmdline and ramdisks (the reference "
                "builder's flags; its defaults fill the metadata unless given).")
    p.add_argument("--kernel", required=True, help="kernel image (bzImage or Image)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--cmdline", help="kernel command line (the string itself)")
    g.add_argument("--cmdline-file", help="file holding the command line (surrounding "
                   "whitespace is trimmed, as nitro-cli trims its blob)")
    p.add_argument("--ramdisk", action="append", required=True,
                   help="ramdisk file; repeat for several, in order")
    p.add_argument("--output", required=True, help="EIF to write")
    p.add_argument("--build-time", help="metadata BuildTime (default: SOURCE_DATE_EPOCH, else now)")
    p.add_argument("--name", help="ImageName (default: the kernel file's name)")
    p.add_argument("--version", help="ImageVersion (default: 1.0)")
    p.add_argument("--arch", choices=("x86_64", "aarch64"), default="x86_64")
    p.add_argument("--metadata", help="JSON file of custom metadata (at most 4096 bytes)")
    p.add_argument("--img-os", help="metadata OperatingSystem (default: OS)")
    p.add_argument("--img-kernel", help="metadata KernelVersion (default: kernel)")
    p.add_argument("--build-tool", help="metadata BuildTool (default: eif_build)")
    p.add_argument("--build-tool-version", help="metadata BuildToolVersion (default: 0.3.1)")
    p.add_argument("--signing-certificate", help="PEM certificate to sign with")
    p.add_argument("--private-key", help="PEM EC private key matching the certificate")
    return p


def _attest_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff attest",
                description="Verify a Nitro attestation document (raw CBOR, base64 or hex) at its "
                "own time against the pinned AWS root; with an EIF, compare its PCRs and say "
                "which sections differ. Exit 0 verified (and matching), 1 a PCR differs or "
                "debug mode, 2 unreadable input, 3 verification failed.")
    p.add_argument("document", help="attestation document")
    p.add_argument("image", nargs="?", help="EIF to compare with")
    _attest_args(p)
    return p


def _attest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", metavar="PEM",
                   help="root certificate to trust instead of the bundled AWS Nitro root")
    p.add_argument("--json", action="store_true", help="print JSON (schema eifdiff-attest/1)")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary (CI)")


def _check_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff check",
                description="CI gate: does the EIF measure what is expected? FILE is nitro-cli "
                "build-enclave or describe-eif JSON, a PCR map, or an attestation document. "
                "Exit 0 match, 1 a PCR differs or debug mode, 2 unreadable input, 3 the "
                "document does not verify.")
    p.add_argument("image", help="EIF to check")
    p.add_argument("--expect", metavar="FILE", help="expected PCRs")
    for n in (0, 1, 2, 8):
        p.add_argument(f"--pcr{n}", metavar="HEX", help=f"expected PCR{n} (96 hex digits)")
    _attest_args(p)
    return p


def _attest_output(outcome, args: argparse.Namespace) -> int:
    from eifdiff.attest.render import outcome_json_text, outcome_markdown, outcome_text

    if args.json:
        sys.stdout.write(outcome_json_text(outcome))
    else:
        print(outcome_text(outcome))
    if args.markdown:
        _write(args.markdown, outcome_markdown(outcome))
    if outcome.verification is not None and outcome.verification.reason:
        sys.stderr.write(_one_line(f"{outcome.expectation.source}: verification "
                                   f"failed: {outcome.verification.reason}"))
    return outcome.exit_code


def cmd_attest(argv: Sequence[str]) -> int:
    from eifdiff.attest.outcome import attest
    from eifdiff.attest.verify import load_root

    args = _attest_parser().parse_args(argv)
    root = load_root(args.root) if args.root else None
    return _attest_output(attest(args.document, args.image, root), args)


def cmd_check(argv: Sequence[str]) -> int:
    from eifdiff.attest.check import expectation_from_flags, read_expectation
    from eifdiff.attest.outcome import check
    from eifdiff.attest.verify import load_root

    args = _check_parser().parse_args(argv)
    flags = {f"PCR{n}": getattr(args, f"pcr{n}") for n in (0, 1, 2, 8)}
    if args.expect and any(flags.values()):
        raise EifdiffError("eifdiff check: --expect and --pcrN go apart")
    expectation = read_expectation(args.expect) if args.expect else expectation_from_flags(flags)
    root = load_root(args.root) if args.root else None
    return _attest_output(check(args.image, expectation, root), args)


def _print_json(doc: object) -> None:
    """Standard JSON, valid UTF-8 whatever the locale (see `eifdiff.escape`)."""
    text = json_dumps(doc) + "\n"
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    out.write(text.encode("utf-8"))
    out.flush()


def _print_lines(lines: Sequence[str]) -> None:
    """Each line with its untrusted text made visible (one printed line per line)."""
    for line in lines:
        print(terminal(line))


def cmd_describe(argv: Sequence[str]) -> int:
    from eifdiff.describe import describe_json, describe_text
    from eifdiff.enclave import layer_of, open_bootstrap

    args = _describe_parser().parse_args(argv)
    with open_bootstrap(args.file) as loaded:
        image, layer = loaded.image, layer_of(loaded)
    if args.json:
        _print_json(describe_json(image, layer))
    else:
        print(describe_text(image, layer))
    return EXIT_SAME


def cmd_build(argv: Sequence[str]) -> int:
    from eifdiff.build import Signer, build_eif, default_metadata, read_custom_metadata

    args = _build_parser().parse_args(argv)
    if bool(args.signing_certificate) != bool(args.private_key):
        raise EifdiffError("--signing-certificate and --private-key go together")
    if args.cmdline is not None:
        cmdline = args.cmdline.encode()
    else:
        try:
            cmdline = Path(args.cmdline_file).read_bytes().strip()
        except OSError as exc:
            raise EifdiffError(f"{args.cmdline_file}: cannot read: {exc.strerror}") from None
    for p in [args.kernel, *args.ramdisk]:
        if not Path(p).is_file():
            raise EifdiffError(f"{p}: no such file")
    metadata = default_metadata(
        args.kernel, name=args.name, version=args.version, build_time=args.build_time,
        build_tool=args.build_tool, build_tool_version=args.build_tool_version,
        img_os=args.img_os, img_kernel=args.img_kernel,
        custom=read_custom_metadata(args.metadata) if args.metadata else None,
    )
    signer = (Signer.from_files(args.signing_certificate, args.private_key)
              if args.signing_certificate else None)
    result = build_eif(
        args.output, kernel=Path(args.kernel), cmdline=cmdline,
        ramdisks=[Path(r) for r in args.ramdisk], metadata=metadata, arch=args.arch,
        signer=signer,
    )
    _print_json({"Output": result.path, "Size": result.size,
                 "Measurements": {"HashAlgorithm": "Sha384 { ... }", **result.pcrs}})
    return EXIT_SAME


def _limits(args: argparse.Namespace):
    from eifdiff.load import Limits

    return Limits(max_size=args.max_decompressed, max_ratio=args.max_ratio,
                  max_entries=args.max_entries)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EifdiffError(f"{path}: cannot write: {exc.strerror}") from None


def cmd_compare(argv: Sequence[str]) -> int:
    args = _compare_parser().parse_args(argv)
    from eifdiff.compare import compare_files, exit_code
    from eifdiff.deep import DeepOptions
    from eifdiff.progress import Progress

    deep = (DeepOptions(max_files=args.deep_max_files, timeout=args.deep_timeout,
                        total_timeout=5 * args.deep_timeout) if args.deep else None)
    with Progress.for_files(args.a, args.b) as progress:
        report = compare_files(args.a, args.b, deep=deep, limits=_limits(args),
                               progress=progress, remedies=args.remedies)
    if args.json:
        from eifdiff.report.model import write_json

        write_json(report, sys.stdout)
    else:
        from eifdiff.report.text import report_text

        print(report_text(report, top=args.top))
    if args.markdown:
        from eifdiff.report.markdown import report_markdown

        _write(args.markdown, report_markdown(report))
    if args.html:
        from eifdiff.report.html import report_html

        _write(args.html, report_html(report))
    return exit_code(report, fail_on=args.fail_on)


def cmd_normalize(argv: Sequence[str]) -> int:
    from eifdiff.normalize import fixes_name, normalize_file, parse_fixes

    args = _normalize_parser().parse_args(argv)
    fixes = parse_fixes(args.fix)
    pcrs = normalize_file(args.input, args.output, fixes, limits=_limits(args))
    _print_json({"Output": args.output, "Fixes": fixes_name(fixes),
                 "Measurements": {"HashAlgorithm": "Sha384 { ... }", **pcrs}})
    return EXIT_SAME


def cmd_inventory(argv: Sequence[str]) -> int:
    from eifdiff.load import load
    from eifdiff.packages.inventory import inventory
    from eifdiff.packages.known_bad import warnings

    args = _inventory_parser().parse_args(argv)
    with load(args.file, limits=_limits(args)) as img:
        packages = inventory(img)
        anomalies = [str(x) for r in img.ramdisks for x in r.anomalies]
    warned = warnings(packages)
    if args.json:
        _print_json({"path": args.file,
                     "packages": [p.to_dict(files=args.files) for p in packages],
                     "warnings": [w.to_dict() for w in warned], "anomalies": anomalies})
        return EXIT_SAME
    lines = [f"WARNING: {w.ecosystem} {w.name} {w.version} in {w.ramdisk} ({w.advisory}): "
             f"{w.message}" for w in warned]
    names = [terminal(p.name) for p in packages]
    width = max((len(n) for n in names), default=4)
    lines += [f"{p.ramdisk:<11} {p.ecosystem:<7} {n:<{width}}  {p.version}"
              for p, n in zip(packages, names, strict=True)]
    counts: dict[str, int] = {}
    for p in packages:
        counts[p.ecosystem] = counts.get(p.ecosystem, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none found"
    lines.append(f"{len(packages)} packages ({summary}); {len(warned)} warnings")
    lines += [f"anomaly: {a}" for a in anomalies]
    _print_lines(lines)
    return EXIT_SAME


def cmd_unpack(argv: Sequence[str]) -> int:
    from eifdiff.unpack import unpack

    args = _unpack_parser().parse_args(argv)
    result = unpack(args.file, args.dir, limits=_limits(args))
    _print_lines([f"{result.directory}: {len(result.sections)} sections, {result.files} files, "
                  f"{result.directories} directories, {result.symlinks} symlinks, "
                  f"{len(result.refused)} refused",
                  *(f"  refused {r.path}: {r.reason}" for r in result.refused),
                  *(f"anomaly: {a}" for a in result.anomalies)])
    return EXIT_SAME


def _notebook_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eifdiff notebook",
                description="Run the notebooks (01-overview ... 05-packages) on two EIFs with "
                "papermill into DIR, mark the outputs trusted, and print the `jupyter lab` line "
                "that opens them.")
    p.add_argument("a", help="first EIF")
    p.add_argument("b", help="second EIF")
    p.add_argument("--out", default="eifdiff-notebooks", metavar="DIR",
                   help="folder for the executed notebooks (default eifdiff-notebooks)")
    p.add_argument("--notebooks", metavar="DIR",
                   help="folder of the notebooks to run (default: notebooks/ of this checkout)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="seconds a cell may take (default 600)")
    return p


def cmd_notebook(argv: Sequence[str]) -> int:
    from eifdiff.notebooks import lab_command, run_notebooks

    args = _notebook_parser().parse_args(argv)
    for ran in run_notebooks(args.a, args.b, args.out, folder=args.notebooks,
                             timeout=args.timeout):
        print(f"{ran.path}  {ran.seconds:.1f} s, {ran.size:,} bytes (trusted)")
    print(f"open them with:\n  {lab_command(args.out)}")
    return EXIT_SAME


def _one_line(message: str) -> str:
    """The message on one line, its control characters and undecodable bytes made visible
    (`eifdiff.escape.terminal`), newline-terminated."""
    return terminal(message) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # text output never fails on an odd character
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    handlers = {"describe": cmd_describe, "build": cmd_build, "unpack": cmd_unpack,
                "normalize": cmd_normalize, "inventory": cmd_inventory,
                "attest": cmd_attest, "check": cmd_check, "notebook": cmd_notebook}
    try:
        if argv and argv[0] in handlers:
            return handlers[argv[0]](argv[1:])
        return cmd_compare(argv)
    except EifdiffError as exc:
        sys.stderr.write(_one_line(str(exc)))
        return EXIT_TROUBLE
    except KeyboardInterrupt:
        sys.stderr.write("eifdiff: interrupted\n")
        return EXIT_TROUBLE
    except BrokenPipeError:
        return EXIT_TROUBLE
    except MemoryError:
        sys.stderr.write("eifdiff: out of memory\n")
        return EXIT_TROUBLE
    except Exception as exc:  # a bug: still one line, unless debugging
        if os.environ.get("EIFDIFF_DEBUG"):
            raise
        sys.stderr.write(_one_line(f"eifdiff: internal error: {type(exc).__name__}: {exc}"))
        return EXIT_TROUBLE


if __name__ == "__main__":
    sys.exit(main())
