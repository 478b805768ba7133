"""eifdiff.blobs and scripts/make_blob_catalog.py: nitro-cli's blobs identified with provenance
(on compiled stand-ins matched through a test catalog, tests/boot_blobs.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eifdiff.blobs import (
    Catalog,
    blob_set_change,
    catalog,
    git_blob_id,
    identify,
    identify_cmdline,
)
from eifdiff.formats.elf import elf_facts
from tests.boot_blobs import PUBLISHED, BootBlobs

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_blob_catalog.py"


def test_stand_ins_identified_with_provenance(boot_blobs: BootBlobs,
                                              blob_catalog: Catalog) -> None:
    a = identify(boot_blobs["init-2022-02"])
    assert a is not None
    assert a.label == "init: nitro-cli x86_64 blob of 2022-02 (v1.2.0 to v1.3.0)"
    assert (a.kind, a.arch, a.path, a.commit) == (
        "init", "x86_64", "blobs/x86_64/init", "147f2cb8327a937043b322fc7a52404caf08e8f1")
    assert a.releases == ("v1.2.0", "v1.2.1", "v1.2.2", "v1.2.3", "v1.3.0")
    assert a.build_id == "aa942fa284918fdd64ea861537c9198839256693"
    assert a.build_id == elf_facts(boot_blobs["init-2022-02"]).build_id
    assert a.sha256 == boot_blobs.sha256("init-2022-02")
    b = identify(boot_blobs["init-2021-12"])
    assert b is not None and b.label == "init: nitro-cli x86_64 blob of 2021-12 (unreleased)"
    ko = identify(boot_blobs["nsm-2021-10.ko"])
    assert ko is not None and ko.label == "nsm.ko: nitro-cli x86_64 blob of 2021-10 (v1.1.0)"
    assert ko.vermagic == "4.14.246-198.474.amzn2.x86_64 SMP mod_unload modversions "
    module = elf_facts(boot_blobs["nsm-2021-10.ko"]).module
    assert module is not None and ko.vermagic == module.vermagic
    assert identify(b"not a blob") is None
    # the packaged catalog (imported here before the test one replaced it) knows only the
    # published files, not the stand-ins
    assert catalog().by_sha256(boot_blobs.sha256("init-2022-02")) is None


def test_published_digests_in_the_catalog() -> None:
    """The published files the stand-ins imitate, with their provenance, are catalogued."""
    for path, commit, digest in PUBLISHED.values():
        known = catalog().by_sha256(digest)
        assert known is not None and (known.path, known.commit) == (path, commit)
    assert len({digest for _, _, digest in PUBLISHED.values()}) == 4


def test_catalog_entries_carry_provenance() -> None:
    cat = catalog()
    assert cat.repository == "https://github.com/aws/aws-nitro-enclaves-cli"
    kinds = {b.kind for b in cat.blobs}
    assert kinds == {"init", "nsm.ko", "kernel", "kernel-config", "cmdline"}
    for b in cat.blobs:
        assert re.fullmatch(r"[0-9a-f]{40}", b.commit) and re.fullmatch(r"[0-9a-f]{40}",
                                                                       b.git_blob)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", b.date)
        assert b.arch in ("x86_64", "aarch64")
        assert b.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", b.sha256)
    # kernel images are too large for the stored history: known by git blob id only
    assert all(b.sha256 is None for b in cat.blobs if b.kind == "kernel")
    assert len({b.git_blob for b in cat.blobs}) == len(cat.blobs)
    configs = {b.kernel_release for b in cat.blobs if b.kind == "kernel-config"}
    assert "4.14.256-209.484.amzn2.x86_64" in configs


def test_kernel_found_by_git_blob_id() -> None:
    data = b"a kernel"
    assert git_blob_id(data) == hashlib.sha1(b"blob 8\0a kernel").hexdigest()
    if shutil.which("git"):
        out = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True,
                             check=True).stdout.decode().strip()
        assert git_blob_id(data) == out
    kernel = next(b for b in catalog().blobs if b.kind == "kernel")
    assert catalog().by_git_blob(kernel.git_blob) is kernel


def test_cmdline_moved_between_paths_keeps_every_release() -> None:
    """`blobs/cmdline` (v0.1.0) moved to `blobs/x86_64/cmdline` (v1.0.10 on): one entry."""
    x86 = [b for b in catalog().blobs if b.kind == "cmdline" and b.arch == "x86_64"]
    assert len(x86) == 1 and x86[0].path == "blobs/cmdline" and x86[0].text
    found = identify_cmdline(x86[0].text + "\n")
    assert found is x86[0]
    assert found.releases[0] == "v0.1.0" and found.releases[-1] == "v1.5.0"
    assert "v1.0.10" in found.releases
    assert identify_cmdline("console=ttyS0") is None


def test_blob_set_change(boot_blobs: BootBlobs, blob_catalog: Catalog) -> None:
    def side(*names: str) -> list[tuple[str, str, object]]:
        out = []
        for name in names:
            data = boot_blobs[name]
            role = "init" if name.startswith("init") else "nsm.ko"
            out.append((role, hashlib.sha256(data).hexdigest(), identify(data)))
        return out

    a = [("kernel", "k1", None), *side("init-2021-12", "nsm-2021-10.ko")]
    b = [("kernel", "k1", None), *side("init-2022-02", "nsm-2022-02.ko")]
    change = blob_set_change(a, b)  # type: ignore[arg-type]
    assert change is not None
    assert [r for r, _, _ in change.changed] == ["init", "nsm.ko"]
    assert change.summary == (
        "different nitro-cli blob sets: init: 2021-12 (unreleased) vs 2022-02 (v1.2.0 to "
        "v1.3.0); nsm.ko: 2021-10 (v1.1.0) vs 2022-02 (v1.2.0 to v1.5.0)")
    assert blob_set_change(a, a) is None  # type: ignore[arg-type]
    # a differing part that is no known blob: not (only) a blob-set difference
    other_kernel = [("kernel", "k2", None), *side("init-2022-02", "nsm-2022-02.ko")]
    assert blob_set_change(a, other_kernel) is None  # type: ignore[arg-type]


def _load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("_eifdiff_make_blob_catalog", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalog_script_on_a_small_history(tmp_path: Path, boot_blobs: BootBlobs) -> None:
    """Two commits and two tags: each version once, with its first commit and its releases."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "blobs" / "x86_64").mkdir(parents=True)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                               "user.email=t@t", *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    init_a = boot_blobs["init-2021-12"]
    (repo / "blobs" / "x86_64" / "init").write_bytes(init_a)
    (repo / "blobs" / "x86_64" / "cmdline").write_text("console=ttyS0\n")
    (repo / "blobs" / "x86_64" / "linuxkit").write_bytes(b"tool")
    git("add", "-A")
    git("commit", "-qm", "first", "--date=2021-12-17T12:00:00+00:00")
    first = git("rev-parse", "HEAD")
    git("tag", "v1.0.0")
    (repo / "blobs" / "x86_64" / "init").write_bytes(init_a + b"x")
    git("commit", "-qam", "second")
    git("tag", "v1.1.0")
    doc = _load_script().catalog(str(repo / ".git"))
    entries = {(e["kind"], e["releases"][0]): e for e in doc["blobs"]}
    assert set(entries) == {("init", "v1.0.0"), ("init", "v1.1.0"), ("cmdline", "v1.0.0")}
    e = entries[("init", "v1.0.0")]
    assert e["commit"] == first and e["subject"] == "first" and e["releases"] == ["v1.0.0"]
    assert e["sha256"] == hashlib.sha256(init_a).hexdigest() and e["size"] == len(init_a)
    assert e["build_id"] == "bc037dbce97236ca52748950b98a767188a39332"
    assert e["git_blob"] == git_blob_id(init_a)
    assert entries[("cmdline", "v1.0.0")]["releases"] == ["v1.0.0", "v1.1.0"]
    assert entries[("cmdline", "v1.0.0")]["text"] == "console=ttyS0"
    out = tmp_path / "c.json"
    assert subprocess.run([sys.executable, str(SCRIPT), str(repo / ".git"), "-o", str(out)],
                          capture_output=True).returncode == 0
    assert json.loads(out.read_text())["blobs"] == doc["blobs"]
