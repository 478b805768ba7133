"""dpkg: `var/lib/dpkg/status`, distroless `var/lib/dpkg/status.d/*`, and the file lists in
`var/lib/dpkg/info/<pkg>[:arch].list` (or `.md5sums` when there is no list)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from eifdiff.packages.model import MAX_DB_SIZE, Buffer, Package, rooted, text

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
FIELDS = ("package", "version", "architecture", "source", "status", "multi-arch")


def stanzas(data: Buffer) -> Iterator[dict[str, str]]:
    """RFC 822 stanzas as {lower-cased field: value} (continuation lines are dropped)."""
    fields: dict[str, str] = {}
    for line in text(data).splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields = {}
        elif line[0] not in " \t" and ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in FIELDS:
                fields[key] = value.strip()
    if fields:
        yield fields


def installed(fields: Mapping[str, str], *, require_status: bool = True) -> bool:
    """Whether a stanza is an installed package: its Status ends in `ok installed`
    (`install`, `hold` or `deinstall` wanted). status.d stanzas may have no Status at all."""
    status = fields.get("status")
    if status is None:
        return not require_status
    parts = status.split()
    return len(parts) == 3 and parts[1] == "ok" and parts[2] == "installed"


def parse_status(data: Buffer, *, source: str, ramdisk: str = "",
                 status_d: bool = False) -> list[Package]:
    """The installed packages of one status (or status.d) file; files are not known yet."""
    out = []
    for f in stanzas(data):
        name, version = f.get("package"), f.get("version")
        if not name or not version or not installed(f, require_status=not status_d):
            continue
        src, _, src_version = f.get("source", "").partition(" ")
        extra = {"arch": f.get("architecture"), "source": src or name,
                 "multi_arch": f.get("multi-arch")}
        if src_version.strip("() "):
            extra["source_version"] = src_version.strip("() ")
        out.append(Package("dpkg", name, version, source, ramdisk, None, extra))
    return out


def parse_list(data: Buffer, root: str = "") -> tuple[str, ...]:
    """A `.list` file (one absolute path a line, `/.` included) as entry names under `root`."""
    out = (rooted(root, line) for line in text(data).splitlines() if line.strip())
    return tuple(p for p in out if p is not None)


def parse_md5sums(data: Buffer, root: str = "") -> tuple[str, ...]:
    """A `.md5sums` file (`<md5>  <path>` lines, paths relative to /) as entry names."""
    out = []
    for line in text(data).splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and (p := rooted(root, parts[1])) is not None:
            out.append(p)
    return tuple(out)


def info_names(pkg: Package) -> tuple[str, ...]:
    """The info file stems dpkg may use: `pkg:arch` (Multi-Arch: same) before `pkg`."""
    arch = (pkg.extra or {}).get("arch")
    return (f"{pkg.name}:{arch}", pkg.name) if arch else (pkg.name,)


def _files(pkg: Package, files: Mapping[str, Buffer], root: str) -> tuple[str, ...] | None:
    status_dir = STATUS_D if pkg.source.startswith(root + STATUS_D) else None
    for stem in info_names(pkg):
        if (data := files.get(f"{INFO}{stem}.list")) is not None:
            return parse_list(data, root)
    candidates = [f"{INFO}{s}.md5sums" for s in info_names(pkg)]
    if status_dir:
        own = pkg.source[len(root):]
        candidates = [f"{own}.md5sums", *(f"{STATUS_D}{s}.md5sums" for s in info_names(pkg)),
                      *candidates]
    for path in candidates:
        if (data := files.get(path)) is not None:
            return parse_md5sums(data, root)
    return None


def read(files: Mapping[str, Buffer], *, root: str = "", ramdisk: str = "") -> list[Package]:
    """Every installed package from the dpkg files of one root (keys relative to the root).

    Oversized files are skipped; garbage gives fewer packages, never an exception.
    """
    found: list[Package] = []
    for rel in sorted(files):
        data = files[rel]
        if len(data) > MAX_DB_SIZE:
            continue
        if rel == STATUS:
            found += parse_status(data, source=root + rel, ramdisk=ramdisk)
        elif rel.startswith(STATUS_D) and "/" not in rel[len(STATUS_D):] \
                and not rel.endswith(".md5sums"):
            found += parse_status(data, source=root + rel, ramdisk=ramdisk, status_d=True)
    out = []
    for pkg in found:
        owned = _files(pkg, files, root)
        out.append(Package(pkg.ecosystem, pkg.name, pkg.version, pkg.source, ramdisk, owned,
                           pkg.extra))
    return out


def wanted(rel: str) -> bool:
    """Whether a path relative to the root is one `read` uses."""
    return rel == STATUS or rel.startswith(STATUS_D) or (
        rel.startswith(INFO) and rel.endswith((".list", ".md5sums")))
