#!/usr/bin/env python3
"""eifdiff on real root filesystems: two `debootstrap --variant=minbase` roots built a minute
apart, archived the way real builds archive them, wrapped in EIFs and compared.

Steps (each skipped when its output exists, so the script is idempotent; see bench/REALROOT.md):

1. tools: debootstrap, cpio, GNU time (apt-get, only when missing);
2. roots: `debootstrap --variant=minbase SUITE WORKDIR/{A,B}/stage/rootfs MIRROR`, B started at
   least `--gap` seconds after A finished (`--method debs` or a failing debootstrap: the roots
   are assembled from `apt-get download` + `dpkg-deb -x` instead);
3. customer ramdisks per root, entries prefixed `rootfs/` as nitro-cli does:
   naive.cpio  `cd stage && find rootfs | cpio -o -H newc` (filesystem order, real inodes/mtimes)
   repro.cpio  a copy of stage, `find . -exec touch -h -d @0 {} +`, then
               `find rootfs | LC_ALL=C sort | cpio -o -H newc --reproducible --owner=0:0`
   repro-clean.cpio  the same after `rm -f rootfs/var/log/*.log
               rootfs/var/cache/ldconfig/aux-cache` (what reproducible Debian images delete)
   naive.gz    `gzip -9 -c naive.cpio` (a file argument: the header keeps name and mtime)
   naive.gzn   `gzip -9 -n -c naive.cpio`
   and for B only naive-tmpfs.cpio: the same naive command on a copy of the root in /dev/shm
   (another filesystem, so another readdir order and other inode numbers);
4. a bootstrap ramdisk (`init`, `dev/`, reproducible cpio) and a kernel (Debian's
   linux-image-cloud-amd64 vmlinuz; a placeholder file when it cannot be downloaded);
5. one EIF per customer ramdisk with `eifdiff build ... --build-time 2024-01-01T00:00:00+00:00`;
6. each pair compared with `eifdiff A B` (text, `--runs` times), `--json`,
   `--html`/`--markdown` and `--remedies`, each under `/usr/bin/time -v` (wall time, max RSS);
7. an independent check: the customer CPIO archives are parsed here (not with eifdiff) and every
   header field, the entry order and every payload compared, and eifdiff's rows are checked
   against that; each `content` row is classified by what really explains it;
8. `eifdiff unpack` of naive A and repro A, its tree compared with the root (`diff -r`);
9. `eifdiff normalize`: naive A with mtime,order,owner,inode against the real repro A, and the
   tmpfs pair normalized with mtime,order,inode (which rows remain).

Results: WORKDIR/results/ (per-pair outputs, summary.json, summary.md). Run as root (debootstrap,
apt-get); Python 3.11+ standard library only, eifdiff is called as a command.

    python3 bench/realroot.py --workdir /tmp/realroot
    python3 bench/realroot.py --workdir /tmp/realroot --rerun   # redo steps 6-9 only
    python3 bench/realroot.py --workdir /tmp/realroot --clean   # then drop the big files
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import mmap
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD_TIME = "2024-01-01T00:00:00+00:00"
CMDLINE = "console=ttyS0"
# Fallback root when debootstrap cannot run: these packages and their dependency closure.
DEB_PACKAGES = ("busybox", "libc6", "python3-minimal", "dpkg", "base-files")
# What docker-library's reproducible Debian images delete (docker-library/official-images#16044):
# logs hold timestamps, ldconfig's aux-cache holds inode numbers and ctimes.
CLEANUP = "rm -f rootfs/var/log/*.log rootfs/var/cache/ldconfig/aux-cache"
HEADER_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
                 "devminor", "rdevmajor", "rdevminor", "namesize", "check")
COMPARED = ("ino", "mode", "uid", "gid", "nlink", "mtime", "devmajor", "devminor", "rdevmajor",
            "rdevminor")
PAIRS = (
    # name, a, b, what it shows
    ("naiveA-vs-naiveB", "A/naive", "B/naive",
     "two debootstrap runs, naive cpio on the same ext4 filesystem"),
    ("reproA-vs-reproB", "A/repro", "B/repro",
     "the same two roots, sorted, mtimes clamped, --reproducible --owner=0:0"),
    ("naiveA-vs-reproA", "A/naive", "A/repro", "one root, naive vs reproducible archiving"),
    ("gzname-vs-gzn", "A/naive.gz", "A/naive.gzn", "gzip -9 vs gzip -9 -n of the same cpio"),
    ("gznA-vs-gznB", "A/naive.gzn", "B/naive.gzn",
     "gzip -9 -n of naive A vs of naive B (differences behind compression)"),
    ("reprocleanA-vs-reprocleanB", "A/repro-clean", "B/repro-clean",
     "reproducible archiving after deleting var/log/*.log and ldconfig's aux-cache"),
    ("naiveA-vs-naiveBtmpfs", "A/naive", "B/naive-tmpfs",
     "naive A vs naive B archived from a tmpfs copy (another readdir order)"),
)
TIMESTAMP_RES = (
    re.compile(rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"),
    re.compile(rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
               rb"|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d(?: [A-Z]{3,4})? \d{4}"),
)


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd: str, *, cwd: Path | None = None, check: bool = True,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a bash command line (pipefail on), output captured."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, env=full_env,
                          capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {cmd}\n{proc.stderr[-2000:]}")
    return proc


def timed(cmd: str, *, cwd: Path | None = None) -> float:
    start = time.monotonic()
    sh(cmd, cwd=cwd)
    return round(time.monotonic() - start, 2)


# --- 1. tools ----------------------------------------------------------------------------------

def ensure_tools() -> None:
    missing = [pkg for tool, pkg in (("debootstrap", "debootstrap"), ("cpio", "cpio"),
                                     ("/usr/bin/time", "time"), ("gzip", "gzip"))
               if shutil.which(tool) is None]
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    if sh(f"apt-get install -y -q {' '.join(missing)}", check=False).returncode != 0:
        sh("apt-get update -q")
        sh(f"apt-get install -y -q {' '.join(missing)}")


def default_mirror() -> str:
    """The first Debian mirror configured for apt (deb822 or one-line format)."""
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not p.is_file() or p.suffix not in ("", ".list", ".sources"):
            continue
        text = p.read_text(errors="replace")
        for m in re.finditer(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text):
            if re.search(r"/debian/?$", m.group(1)):
                return m.group(1)
    return "http://deb.debian.org/debian"


# --- 2. roots ----------------------------------------------------------------------------------

def assemble_from_debs(root: Path, cache: Path) -> None:
    """A root from .deb files: the dependency closure of DEB_PACKAGES, each `dpkg-deb -x`-ed."""
    cache.mkdir(parents=True, exist_ok=True)
    out = sh("apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts "
             "--no-breaks --no-replaces --no-enhances " + " ".join(DEB_PACKAGES)).stdout
    names = sorted({ln for ln in out.splitlines() if ln and not ln[0].isspace()
                    and not ln.startswith("<")})
    sh("apt-get download " + " ".join(names), cwd=cache)
    root.mkdir(parents=True)
    for deb in sorted(cache.glob("*.deb")):
        sh(f"dpkg-deb -x {deb} {root}")


def make_root(side: Path, *, method: str, suite: str, mirror: str, not_before: float) -> dict:
    marker = side / "root.json"
    if marker.exists():
        return json.loads(marker.read_text())
    wait = not_before - time.time()
    if wait > 0:
        log(f"waiting {wait:.0f} s before building {side.name}")
        time.sleep(wait)
    root = side / "stage" / "rootfs"
    if root.exists():
        shutil.rmtree(side / "stage")
    side.mkdir(parents=True, exist_ok=True)
    start = time.time()
    used = method
    if method in ("debootstrap", "auto"):
        log(f"debootstrap {suite} into {root}")
        proc = sh(f"/usr/bin/time -v -o {side}/debootstrap.time debootstrap --variant=minbase "
                  f"{suite} {root} {mirror} > {side}/debootstrap.log 2>&1", check=False)
        if proc.returncode == 0:
            used = "debootstrap"
        elif method == "debootstrap":
            sys.exit(f"debootstrap failed, see {side}/debootstrap.log")
        else:
            log("debootstrap failed; assembling the root from .deb packages")
            shutil.rmtree(side / "stage", ignore_errors=True)
            used = "debs"
    if used == "debs":
        assemble_from_debs(root, side.parent / "debs")
    end = time.time()
    info = {"method": used, "target": str(root), "started": start, "finished": end,
            "seconds": round(end - start, 1)}
    if (side / "debootstrap.time").exists():
        info.update(parse_time(side / "debootstrap.time"))
    marker.write_text(json.dumps(info, indent=2))
    return info


# --- 3. ramdisks -------------------------------------------------------------------------------

def make_ramdisks(side: Path, *, tmpfs: bool) -> dict[str, float]:
    """Build the customer ramdisks of one side; return the seconds each build took."""
    record = side / "ramdisks.json"
    took: dict[str, float] = json.loads(record.read_text()) if record.exists() else {}
    stage = side / "stage"

    def build(name: str, cmd: str, cwd: Path) -> None:
        out = side / name
        if not out.exists():
            log(f"{side.name}: {name}")
            took[name] = timed(f"{cmd} > {out}.tmp && mv {out}.tmp {out}", cwd=cwd)

    build("naive.cpio", "find rootfs | cpio -o -H newc 2>/dev/null", stage)
    sorted_cpio = "find rootfs | LC_ALL=C sort | cpio -o -H newc --reproducible --owner=0:0"
    for name, cleanup in (("repro.cpio", ""), ("repro-clean.cpio", CLEANUP)):
        repro = side / "stage.repro"
        if not (side / name).exists():
            shutil.rmtree(repro, ignore_errors=True)
            sh(f"cp -a {stage} {repro} && cd {repro} && {cleanup or 'true'} && "
               f"find . -exec touch -h -d @0 {{}} +")
        build(name, f"{sorted_cpio} 2>/dev/null", repro)
        shutil.rmtree(repro, ignore_errors=True)
    # gzip -9 keeps the input's name and mtime in its header; -n drops both
    build("naive.gz", "gzip -9 -c naive.cpio", side)  # a file argument: name stored
    build("naive.gzn", "gzip -9 -n -c naive.cpio", side)
    if tmpfs:
        shm = Path("/dev/shm") / f"realroot-{side.name}"
        if not (side / "naive-tmpfs.cpio").exists():
            shutil.rmtree(shm, ignore_errors=True)
            sh(f"mkdir -p {shm} && cp -a {stage}/rootfs {shm}/rootfs")
            build("naive-tmpfs.cpio", "find rootfs | cpio -o -H newc 2>/dev/null", shm)
            shutil.rmtree(shm, ignore_errors=True)
    record.write_text(json.dumps(took, indent=2))
    return took


def make_bootstrap(work: Path) -> Path:
    out = work / "boot" / "bootstrap.cpio"
    if out.exists():
        return out
    tree = work / "boot" / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "dev").mkdir(parents=True)
    (tree / "init").write_text("#!/bin/sh\nexec /rootfs/bin/sh\n")
    (tree / "init").chmod(0o755)
    sh(f"find . -exec touch -h -d @0 {{}} + && find . ! -name . | LC_ALL=C sort | "
       f"cpio -o -H newc --reproducible --owner=0:0 2>/dev/null > {out}", cwd=tree)
    return out


def get_kernel(work: Path) -> Path:
    kdir = work / "kernel"
    found = sorted(kdir.glob("x/boot/vmlinuz-*"))
    if found:
        return found[0]
    kdir.mkdir(parents=True, exist_ok=True)
    dep = sh("apt-cache depends linux-image-cloud-amd64 | "
             "sed -n 's/^ *Depends: \\(linux-image-[^ ]*\\)$/\\1/p' | head -1", check=False)
    pkg = dep.stdout.strip() or "linux-image-cloud-amd64"
    if sh(f"apt-get download {pkg}", cwd=kdir, check=False).returncode == 0:
        for deb in kdir.glob("*.deb"):
            sh(f"dpkg-deb -x {deb} {kdir}/x")
        found = sorted(kdir.glob("x/boot/vmlinuz-*"))
        if found:
            return found[0]
    log("no Debian kernel; using a placeholder file")
    placeholder = kdir / "placeholder-kernel"
    placeholder.write_bytes(hashlib.sha512(b"placeholder").digest() * 1024)
    return placeholder


# --- 5. EIFs -----------------------------------------------------------------------------------

def make_eif(eifdiff: str, kernel: Path, boot: Path, ramdisk: Path) -> Path:
    out = ramdisk.with_name(ramdisk.name.replace(".", "-") + ".eif")
    if not out.exists():
        sh(f"{eifdiff} build --kernel {kernel} --cmdline '{CMDLINE}' --ramdisk {boot} "
           f"--ramdisk {ramdisk} --build-time {BUILD_TIME} --output {out}.tmp.eif "
           f"> {out}.build.json && mv {out}.tmp.eif {out}")
    return out


def ramdisk_of(work: Path, stem: str) -> Path:
    side, name = stem.split("/")
    suffix = "" if name.endswith((".gz", ".gzn")) else ".cpio"
    return work / side / (name + suffix)


# --- 6. comparisons ----------------------------------------------------------------------------

def parse_time(path: Path) -> dict[str, float]:
    text = path.read_text(errors="replace")
    out: dict[str, float] = {}
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    if m:
        secs = 0.0
        for part in m.group(1).split(":"):
            secs = secs * 60 + float(part)
        out["wall_s"] = round(secs, 2)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["max_rss_mib"] = round(int(m.group(1)) / 1024, 1)
    m = re.search(r"User time \(seconds\): (\S+)", text)
    if m:
        out["user_s"] = float(m.group(1))
    return out


def run_eifdiff(eifdiff: str, a: Path, b: Path, res: Path, name: str, repeat: int) -> dict:
    """Time the text report `repeat` times, then --json, --html/--markdown and --remedies once."""
    runs: dict[str, dict] = {}
    variants = [(f"text#{i}", "", f"{name}.txt") for i in range(1, repeat + 1)] + [
        ("json", "--json", f"{name}.json"),
        ("html+markdown", f"--html {res}/{name}.html --markdown {res}/{name}.md",
         f"{name}.html-md.txt"),
        ("remedies", "--remedies", f"{name}.remedies.txt"),
    ]
    for kind, flags, out in variants:
        tfile = res / f"{name}.{kind}.time"
        load = os.getloadavg()[0]
        proc = sh(f"/usr/bin/time -v -o {tfile} {eifdiff} {a} {b} {flags} > {res}/{out} "
                  f"2> {res}/{name}.{kind}.stderr", check=False)
        runs[kind] = {"exit": proc.returncode, "load1": round(load, 1), **parse_time(tfile)}
        err = (res / f"{name}.{kind}.stderr").read_text(errors="replace").strip()
        if err:
            runs[kind]["stderr"] = err[-500:]
    walls = sorted(r["wall_s"] for k, r in runs.items() if k.startswith("text#"))
    runs["text"] = {"exit": runs["text#1"]["exit"], "wall_s": walls[0],
                    "wall_median_s": walls[len(walls) // 2],
                    "max_rss_mib": max(r.get("max_rss_mib", 0) for k, r in runs.items()
                                       if k.startswith("text#"))}
    for ext in ("html", "md"):
        p = res / f"{name}.{ext}"
        if p.exists():
            runs["html+markdown"][f"{ext}_bytes"] = p.stat().st_size
    return runs


def remedies_lines(path: Path) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    _, _, tail = text.partition("what would fix it")
    return [ln.strip() for ln in tail.splitlines()[1:] if ln.strip()][:12]


def unpack_check(eifdiff: str, eif: Path, root: Path, res: Path) -> dict:
    """`eifdiff unpack` the EIF and compare its customer tree with the root it came from."""
    out = res.parent / "unpack" / eif.stem
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(exist_ok=True)
    tfile = res / f"unpack-{eif.stem}.time"
    proc = sh(f"/usr/bin/time -v -o {tfile} {eifdiff} unpack {eif} {out}", check=False)
    diff = sh(f"diff -rq --no-dereference {out}/ramdisk-1/rootfs {root}", check=False).stdout
    lines = [ln for ln in diff.splitlines() if not ln.startswith(f"Only in {root}/dev")]
    sizes = {}
    for ln in lines:
        m = re.match(r"Files (\S+) and (\S+) differ", ln)
        if m:
            rel = os.path.relpath(m.group(2), root)
            sizes[rel] = [Path(m.group(1)).stat().st_size, Path(m.group(2)).stat().st_size]
    shutil.rmtree(out, ignore_errors=True)
    return {"eif": str(eif), "exit": proc.returncode, "summary": proc.stdout.splitlines()[:1],
            "differs_from_root": lines[:20], "sizes_unpacked_vs_root": sizes,
            **parse_time(tfile)}


def normalize_check(eifdiff: str, work: Path, res: Path, tmpfs: bool) -> list[dict]:
    """Does `eifdiff normalize` predict the real reproducible build? Normalize naive A with what
    the reproducible command changes and compare with repro A; normalize the tmpfs pair and see
    which rows remain."""
    out = []
    cases = [("mtime,order,owner,inode", ["A/naive-cpio"], "A/repro-cpio")]
    if tmpfs:
        cases.append(("mtime,order,inode", ["A/naive-cpio", "B/naive-tmpfs-cpio"], None))
    for fixes, inputs, real in cases:
        made = []
        for stem in inputs:
            src, dst = work / f"{stem}.eif", work / f"{stem}.norm.eif"
            tfile = res / f"normalize-{src.stem}.time"
            sh(f"/usr/bin/time -v -o {tfile} {eifdiff} normalize --fix {fixes} {src} {dst} "
               "> /dev/null")
            made.append((dst, parse_time(tfile)))
        other = work / f"{real}.eif" if real else made[1][0]
        proc = sh(f"{eifdiff} {made[0][0]} {other} --json", check=False)
        rep = json.loads(proc.stdout) if proc.stdout.strip() else {}
        rows = [f"{r['category']}/{r['field']} {r['path']}: {str(r['a'])[:70]}"
                for r in rep.get("divergences", []) if r["category"] != "derived"]
        out.append({"fixes": fixes, "inputs": inputs, "against": real or "normalized B",
                    "verdict": rep.get("verdict"), "rows": rows[:10],
                    "normalize_runs": [t for _, t in made]})
        for dst, _ in made:
            dst.unlink()
    return out


# --- 7. the independent check ------------------------------------------------------------------

def cpio_bytes(path: Path) -> bytes | mmap.mmap:
    if path.suffix in (".gz", ".gzn"):
        with gzip.open(path) as f:
            return f.read()
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def newc_entries(data: bytes | mmap.mmap) -> Iterator[dict]:
    """Every entry of a newc archive, without eifdiff's reader."""
    pos = 0
    while pos + 110 <= len(data):
        head = bytes(data[pos : pos + 110])
        if head[:6] not in (b"070701", b"070702"):
            break
        vals = {f: int(head[6 + 8 * i : 14 + 8 * i], 16) for i, f in enumerate(HEADER_FIELDS)}
        name_end = pos + 110 + vals["namesize"]
        name = bytes(data[pos + 110 : name_end - 1]).decode("utf-8", "surrogateescape")
        data_start = (name_end + 3) & ~3
        if name == "TRAILER!!!":
            break
        vals["name"] = name
        vals["payload"] = (data_start, vals["filesize"])
        yield vals
        pos = (data_start + vals["filesize"] + 3) & ~3


def mask(data: bytes, roots: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """(timestamps masked, timestamps and the two build roots masked)."""
    for rx in TIMESTAMP_RES:
        data = rx.sub(b"<TS>", data)
    pathless = data
    for r in roots:
        pathless = pathless.replace(r, b"<ROOT>")
    return data, pathless


def classify(name: str, ea: dict, eb: dict, pa: bytes, pb: bytes,
             roots: tuple[bytes, bytes]) -> str:
    """What really explains a payload difference, judged by hand-written rules."""
    if (ea["filesize"] == 0 or eb["filesize"] == 0) and max(ea["nlink"], eb["nlink"]) > 1:
        return "hard-link payload placement (archive order)"
    if name.endswith("var/cache/ldconfig/aux-cache"):
        return "ldconfig aux-cache: records each library's inode, ctime (and order by them)"
    ma, pla = mask(pa, roots)
    mb, plb = mask(pb, roots)
    if ma == mb:
        return "timestamps only (text)"
    if pla == plb:
        return "timestamps and the build root path (text)"
    return "genuine content"


def truth(ra: Path, rb: Path, targets: tuple[str, str]) -> dict:
    da, db = cpio_bytes(ra), cpio_bytes(rb)
    la, lb = list(newc_entries(da)), list(newc_entries(db))
    ka = {e["name"]: e for e in la}
    kb = {e["name"]: e for e in lb}
    common = [n for n in ka if n in kb]
    fields = collections.Counter()
    for n in common:
        for f in COMPARED:
            if ka[n][f] != kb[n][f]:
                fields[f] += 1
    payload = {}
    roots = (targets[0].encode(), targets[1].encode())
    for n in common:
        (sa, za), (sb, zb) = ka[n]["payload"], kb[n]["payload"]
        pa, pb = bytes(da[sa : sa + za]), bytes(db[sb : sb + zb])
        if pa != pb:
            payload[n] = classify(n, ka[n], kb[n], pa, pb, roots)
    order_b = [n for n in (e["name"] for e in lb) if n in ka]
    out = {
        "entries": [len(la), len(lb)],
        "only_a": sorted(set(ka) - set(kb)), "only_b": sorted(set(kb) - set(ka)),
        "order_differs": common != order_b,
        "same_position": sum(x == y for x, y in zip(common, order_b, strict=False)),
        "fields": dict(sorted(fields.items())),
        "payload": dict(sorted(payload.items())),
    }
    for d in (da, db):
        if isinstance(d, mmap.mmap):
            d.close()
    return out


def check(report: dict, tr: dict) -> dict:
    """eifdiff's rows against the independent truth: per field counts, payload rows."""
    rows = [r for r in report["divergences"] if r["path"].startswith("ramdisk[1]")]
    by_field = collections.Counter()
    payload_rows: dict[str, list[str]] = collections.defaultdict(list)
    for r in rows:
        if r["layer"] == "cpio-entry" and r["field"] in COMPARED and ":" in r["path"]:
            by_field[r["field"]] += 1
        elif r["layer"] in ("cpio-entry", "elf") and ":" in r["path"] and \
                r["field"] not in ("filesize", "check", "entry", "order", "type", "magic"):
            entry = r["path"].split(":", 1)[1].split(":", 1)[0]
            payload_rows[entry].append(f"{r['category']}/{r['field']}")
    mismatch = {f: {"eifdiff": by_field[f], "truth": tr["fields"].get(f, 0)}
                for f in COMPARED if by_field[f] != tr["fields"].get(f, 0)}
    judged = {}
    for entry, cats in sorted(payload_rows.items()):
        judged[entry] = {"eifdiff": cats, "truth": tr["payload"].get(entry, "(no difference)")}
    missed = sorted(set(tr["payload"]) - set(payload_rows))
    order_rows = [r for r in rows if r["field"] == "order"]
    return {"field_mismatch": mismatch, "payload_rows": judged, "payload_missed": missed,
            "order_row": order_rows[0]["a"] if order_rows else None,
            "order_truth": tr["order_differs"]}


# --- main --------------------------------------------------------------------------------------

def source_digest() -> str:
    h = hashlib.sha256()
    for p in sorted((REPO / "eifdiff").rglob("*.py")):
        h.update(p.relative_to(REPO).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def summarise(name: str, what: str, a: Path, b: Path, res: Path, runs: dict, tr: dict) -> dict:
    report = json.loads((res / f"{name}.json").read_text())
    s = report["summary"]
    causes = collections.Counter((r["category"], r["field"]) for r in report["divergences"])
    return {
        "pair": name, "what": what, "a": str(a), "b": str(b),
        "sizes": [a.stat().st_size, b.stat().st_size],
        "verdict": report["verdict"], "pcr_equal": report["pcr_equal"],
        "by_category": s["by_category"], "by_layer": s["by_layer"],
        "divergences": s["divergences"], "anomalies": report["anomalies"],
        "top_causes": [f"{c}/{f}: {n}" for (c, f), n in causes.most_common(12)],
        "text_top40_categories": top40_categories(res / f"{name}.txt"),
        "runs": runs, "remedies": remedies_lines(res / f"{name}.remedies.txt"),
        "truth": {k: v for k, v in tr.items() if k != "payload"},
        "check": check(report, tr),
    }


def top40_categories(path: Path) -> dict[str, int]:
    text = path.read_text(errors="replace")
    return dict(collections.Counter(re.findall(r"(?m)^  \[([a-z-]+)\] ", text)))


def markdown(summary: dict) -> str:
    lines = [f"eifdiff source digest {summary['eifdiff_source']}, kernel "
             f"`{summary['kernel']}`", "",
             "| pair | EIF sizes | verdict | by category | text s (min/median) | json s | "
             "html+md s | remedies s | max RSS MiB text / remedies |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in summary["pairs"]:
        r = p["runs"]
        cats = ", ".join(f"{k} {v}" for k, v in p["by_category"].items())
        lines.append(
            f"| {p['pair']} | {p['sizes'][0]:,} / {p['sizes'][1]:,} | {p['verdict']} | {cats} | "
            f"{r['text'].get('wall_s')} / {r['text'].get('wall_median_s')} | "
            f"{r['json'].get('wall_s')} | {r['html+markdown'].get('wall_s')} | "
            f"{r['remedies'].get('wall_s')} | "
            f"{r['text'].get('max_rss_mib')} / {r['remedies'].get('max_rss_mib')} |")
    for p in summary["pairs"]:
        c = p["check"]
        lines += ["", f"### {p['pair']}", "", p["what"], "",
                  f"- entries {p['truth']['entries']}, order differs: "
                  f"{p['truth']['order_differs']} (eifdiff: {c['order_row']!r})",
                  f"- truth header-field differences: {p['truth']['fields']}",
                  f"- eifdiff vs truth per-field count mismatches: {c['field_mismatch'] or 'none'}",
                  f"- text report top 40 by category: {p['text_top40_categories']}",
                  f"- payload differences missed by eifdiff: {c['payload_missed'] or 'none'}"]
        for entry, j in c["payload_rows"].items():
            lines.append(f"- `{entry}`: eifdiff {', '.join(j['eifdiff'])}; really: {j['truth']}")
        lines.append("- remedies (`--remedies`): " + " / ".join(p["remedies"]))
        for kind, r in p["runs"].items():
            if r.get("exit") not in (0, 1) or r.get("stderr"):
                lines.append(f"- run {kind}: exit {r.get('exit')} {r.get('stderr', '')!r}")
    lines += ["", "### eifdiff unpack vs the root it came from", ""]
    for u in summary["unpack"]:
        lines.append(f"- `{u['eif']}`: {u['summary']}, {u.get('wall_s')} s, "
                     f"{u.get('max_rss_mib')} MiB; differs from the root: "
                     f"{u['sizes_unpacked_vs_root'] or 'nothing'}")
    lines += ["", "### eifdiff normalize vs the real reproducible build", ""]
    for n in summary["normalize"]:
        lines.append(f"- `--fix {n['fixes']}` on {n['inputs']} vs {n['against']}: "
                     f"{n['verdict']}; rows: {n['rows'] or 'none'}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/realroot"))
    ap.add_argument("--suite", default="bookworm")
    ap.add_argument("--mirror", default=None, help="default: the Debian mirror apt uses")
    ap.add_argument("--method", choices=("auto", "debootstrap", "debs"), default="auto")
    ap.add_argument("--gap", type=int, default=70,
                    help="seconds between the end of root A and the start of root B")
    ap.add_argument("--eifdiff", default=str(REPO / ".venv" / "bin" / "eifdiff"))
    ap.add_argument("--no-tmpfs", action="store_true", help="skip the tmpfs-ordered variant")
    ap.add_argument("--pairs", nargs="*", help="only these comparisons (names as in PAIRS)")
    ap.add_argument("--rerun", action="store_true", help="redo the comparisons")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of the text report per pair")
    ap.add_argument("--clean", action="store_true",
                    help="at the end, delete roots, archives and EIFs (keep results/)")
    args = ap.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    res = work / "results"
    res.mkdir(exist_ok=True)
    ensure_tools()
    mirror = args.mirror or default_mirror()

    roots = {}
    roots["A"] = make_root(work / "A", method=args.method, suite=args.suite, mirror=mirror,
                           not_before=0)
    roots["B"] = make_root(work / "B", method=args.method, suite=args.suite, mirror=mirror,
                           not_before=roots["A"]["finished"] + args.gap)
    steps = {s: make_ramdisks(work / s, tmpfs=(s == "B" and not args.no_tmpfs)) for s in "AB"}
    boot, kernel = make_bootstrap(work), get_kernel(work)
    pairs = [p for p in PAIRS if (not args.pairs or p[0] in args.pairs)
             and not (args.no_tmpfs and "tmpfs" in p[0])]
    summaries = []
    for name, sa, sb, what in pairs:
        ra, rb = ramdisk_of(work, sa), ramdisk_of(work, sb)
        ea = make_eif(args.eifdiff, kernel, boot, ra)
        eb = make_eif(args.eifdiff, kernel, boot, rb)
        cached = res / f"{name}.summary.json"
        if cached.exists() and not args.rerun:
            summaries.append(json.loads(cached.read_text()))
            continue
        log(f"comparing {name}")
        digest = source_digest()
        runs = run_eifdiff(args.eifdiff, ea, eb, res, name, args.runs)
        tr = truth(ra, rb, (roots[ra.parent.name]["target"], roots[rb.parent.name]["target"]))
        s = summarise(name, what, ea, eb, res, runs, tr)
        s["eifdiff_source"] = digest
        cached.write_text(json.dumps(s, indent=2))
        summaries.append(s)
    sizes = {f"{s}/{p.name}": p.stat().st_size for s in "AB"
             for p in sorted((work / s).glob("*")) if p.suffix in (".cpio", ".gz", ".gzn", ".eif")}
    for stem in ("A/naive", "A/repro", *(() if args.no_tmpfs else ("B/naive-tmpfs",))):
        make_eif(args.eifdiff, kernel, boot, ramdisk_of(work, stem))
    unpacked = res / "unpack.json"
    if not unpacked.exists() or args.rerun:
        checks = [unpack_check(args.eifdiff, work / s / f"{v}-cpio.eif", work / s / "stage" /
                               "rootfs", res) for s, v in (("A", "naive"), ("A", "repro"))]
        unpacked.write_text(json.dumps(checks, indent=2))
    normalized = res / "normalize.json"
    if not normalized.exists() or args.rerun:
        normalized.write_text(json.dumps(normalize_check(args.eifdiff, work, res,
                                                           not args.no_tmpfs), indent=2))
    summary = {"eifdiff_source": source_digest(), "kernel": str(kernel), "mirror": mirror,
               "roots": roots, "ramdisk_seconds": steps, "file_sizes": sizes,
               "entries": summaries[0]["truth"]["entries"] if summaries else None,
               "pairs": summaries, "unpack": json.loads(unpacked.read_text()),
               "normalize": json.loads(normalized.read_text())}
    (res / "summary.json").write_text(json.dumps(summary, indent=2))
    (res / "summary.md").write_text(markdown(summary))
    log(f"wrote {res}/summary.md")
    print(markdown(summary))
    if args.clean:  # a later run rebuilds everything; results/ and the logs stay
        for s in "AB":
            shutil.rmtree(work / s / "stage", ignore_errors=True)
            for p in (work / s).glob("*"):
                if p.suffix in (".cpio", ".gz", ".gzn", ".eif") or p.name == "root.json" \
                        or p.name == "ramdisks.json" or p.name.endswith(".build.json"):
                    p.unlink()
        for p in res.glob("*.summary.json"):
            p.unlink()
        log("removed roots, archives and EIFs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
