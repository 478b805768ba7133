"""Regenerate `eifdiff/data/aws_blobs.json`: every blob aws-nitro-enclaves-cli has shipped.

Reads a bare or normal git directory of https://github.com/aws/aws-nitro-enclaves-cli and, for
each version of each file under `blobs/` (the enclave kernel, its config, the cmdline, `init`
and `nsm.ko`; not the `linuxkit` build tool), records the commit that first added it, the
commit date, the releases (tags) whose tree holds it, and its SHA-256 (null when the git
directory lacks the object, as shallow or partial copies lack the large kernel images).

    python scripts/make_blob_catalog.py GIT_DIR [-o eifdiff/data/aws_blobs.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

REPOSITORY = "https://github.com/aws/aws-nitro-enclaves-cli"
KINDS = {"init": "init", "nsm.ko": "nsm.ko", "cmdline": "cmdline", "bzImage": "kernel",
         "Image": "kernel", "bzImage.config": "kernel-config", "Image.config": "kernel-config",
         ".config": "kernel-config"}
_CONFIG_RELEASE = re.compile(rb"^# Linux/\S+ (\S+) Kernel Configuration", re.M)


def git(gitdir: str, *args: str, binary: bool = False) -> str | bytes:
    out = subprocess.run(["git", "--git-dir", gitdir, *args], check=True,
                         capture_output=True).stdout
    return out if binary else out.decode()


def _arch(path: str) -> str:
    parts = path.split("/")
    return parts[1] if len(parts) == 3 else "x86_64"  # before 2021-02 the blobs were x86 only


def _facts(kind: str, data: bytes) -> dict[str, object]:
    """What identifies a version beyond its digest: build-id, vermagic, kernel release."""
    if kind in ("init", "nsm.ko"):
        from eifdiff.formats.elf import elf_facts

        f = elf_facts(data)
        out: dict[str, object] = {"build_id": f.build_id, "machine": f.arch,
                                  "compiler": [t.release for t in f.compilers][:1]}
        if f.module is not None:
            out["vermagic"] = f.module.vermagic
            out["srcversion"] = f.module.get("srcversion")
        return out
    if kind == "kernel-config":
        m = _CONFIG_RELEASE.search(data[:4096])
        return {"kernel_release": m.group(1).decode() if m else None}
    if kind == "cmdline":
        return {"text": data.decode("utf-8", "replace").strip()}
    return {}


def catalog(gitdir: str) -> dict[str, object]:
    tags = git(gitdir, "tag", "--sort=version:refname").split()
    tag_trees = {}
    for t in tags:
        rows = git(gitdir, "ls-tree", "-r", t, "--", "blobs/").splitlines()
        tag_trees[t] = {tuple(r.split("\t", 1)[1::-1]): None for r in rows}
    seen: dict[tuple[str, str], dict[str, object]] = {}
    log = git(gitdir, "log", "--all", "--reverse", "--date-order", "--format=%H %cI %s",
              "--", "blobs/")
    for line in log.splitlines():
        commit, date, subject = line.split(" ", 2)
        for row in git(gitdir, "ls-tree", "-r", commit, "--", "blobs/").splitlines():
            meta, path = row.split("\t", 1)
            name = path.rsplit("/", 1)[-1]
            blob = meta.split()[2]
            if name not in KINDS or (path, blob) in seen:
                continue
            seen[(path, blob)] = {"commit": commit, "date": date, "subject": subject}
    entries = []
    for (path, blob), first in seen.items():
        kind = KINDS[path.rsplit("/", 1)[-1]]
        try:
            data = git(gitdir, "cat-file", "blob", blob, binary=True)
        except subprocess.CalledProcessError:
            data = None
        assert data is None or isinstance(data, bytes)
        releases = [t for t in tags if (path, f"blob {blob}") in _tag_rows(tag_trees[t])]
        entry = {
            "kind": kind, "arch": _arch(path), "path": path, "git_blob": blob,
            "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
            "size": len(data) if data is not None else None,
            "commit": first["commit"], "date": first["date"], "subject": first["subject"],
            "releases": releases,
        }
        if data is not None:
            entry.update(_facts(kind, data))
        entries.append(entry)
    entries.sort(key=lambda e: (e["kind"], e["arch"], e["date"], e["path"]))
    return {"repository": REPOSITORY, "generated_from": "git history of blobs/",
            "head": git(gitdir, "rev-parse", "HEAD").strip(), "blobs": entries}


def _tag_rows(rows: dict[tuple[str, ...], None]) -> set[tuple[str, str]]:
    # rows are keyed (path, "<mode> blob <id>"); reduce to (path, "blob <id>")
    return {(p, " ".join(m.split()[1:3])) for p, m in rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gitdir")
    ap.add_argument("-o", "--output",
                    default=str(Path(__file__).resolve().parents[1] / "eifdiff" / "data"
                                / "aws_blobs.json"))
    args = ap.parse_args(argv)
    doc = catalog(args.gitdir)
    Path(args.output).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{args.output}: {len(doc['blobs'])} blobs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
