"""The rule table: every kind of row (layer, field) declared once, with its category, its hint,
the normalization that removes it, whether diffoscope can say more, and whether it is a header
field. Field names are the constants below; the differ, remedies, `--deep` and the reports read
this table and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

LAYERS = (
    "eif-header", "section", "cpio-entry", "elf", "metadata", "signature", "kernel", "cmdline",
    "compression",
)
CATEGORIES = (
    "timestamp", "ordering", "ownership", "permissions", "inode", "build-path", "build-id",
    "build-host", "toolchain", "content", "added", "removed", "metadata", "signature", "cmdline",
    "header", "compression", "derived",
)


@dataclass(frozen=True, slots=True)
class Rule:
    layer: str
    field: str
    category: str
    hint: str
    normalization: str | None = None  # `eifdiff normalize --fix NAME` removes such rows
    deep: bool = False  # diffoscope can show more than the row (the file's content differs)
    header: bool = False  # a field of a header (EIF or CPIO), not content
    unit: str | None = None  # "epoch": the values are seconds since 1970 (shown with a date)


RULES: dict[tuple[str, str], Rule] = {}


def _declare(layers: str | tuple[str, ...], field: str, category: str, hint: str, *,
             normalization: str | None = None, deep: bool = False, header: bool = False,
             unit: str | None = None) -> str:
    for layer in (layers,) if isinstance(layers, str) else layers:
        assert layer in LAYERS and category in CATEGORIES and (layer, field) not in RULES
        RULES[(layer, field)] = Rule(layer, field, category, hint, normalization, deep, header,
                                     unit)
    return field


def rule(layer: str, field: str) -> Rule:
    """The rule for a kind of row; a row the table does not declare is a bug."""
    try:
        return RULES[(layer, field)]
    except KeyError:
        raise ValueError(f"no rule for layer {layer!r}, field {field!r}") from None


_DERIVED = "Follows from the other differences (sizes, offsets, checksums); not a cause."
_CONTENT = ("The file's content differs for a reason no rule explains: a different source, "
            "dependency version or tool; compare the inputs (unpinned base image or packages).")
_HEADER = "An EIF header field differs; it comes from the build tool's options."
_INODE = ("Inode, link or device numbers come from the build filesystem; GNU cpio "
          "`--reproducible` renumbers them in archive order.")
_GZIP_MTIME = "gzip stores the input file's mtime in its header; compress with `gzip -n`."
_GZIP_NAME = "gzip stores the input file name in its header; compress with `gzip -n` or from stdin."
_GZIP_OPTS = "The compression level or tool differs; pin `gzip -9 -n` (or the compressor's level)."
_RECOMPRESSED = ("Same content compressed differently (tool version, level or threads); pin the "
                 "compressor, its version and its options.")
_ADDED = "Only the second image has this; an unpinned package or build step added it."
_REMOVED = "Only the first image has this; an unpinned package or build step dropped it."
_SIGNATURE = "The signature section differs; it moves PCR8 only through the certificate."
_CMDLINE = ("The kernel command line differs; it comes from the nitro-cli blobs (or --cmdline), "
            "so pin the blob version.")
_PATHS = ("The build directory is embedded in this ELF file; build with "
          "`-ffile-prefix-map=$PWD=.` (or in a fixed directory).")
_KERNEL_HOST = ("The kernel embeds user@host of its build; set KBUILD_BUILD_USER and "
                "KBUILD_BUILD_HOST.")

EIF, SECTION, CPIO, ELF, META, SIG, KERNEL, CMDLINE, COMPRESSION = LAYERS

# --- the EIF container -----------------------------------------------------------------------
VERSION = _declare(EIF, "version", "header", _HEADER, header=True)
FLAGS = _declare(EIF, "flags", "header", (
    "The architecture flag comes from the Docker image's platform; build for one platform "
    "(`--platform linux/amd64`)."), header=True)
DEFAULT_MEM = _declare(EIF, "default_mem", "header", _HEADER, header=True)
DEFAULT_CPUS = _declare(EIF, "default_cpus", "header", _HEADER, header=True)
RESERVED = _declare(EIF, "reserved", "header", _HEADER, header=True)
UNUSED = _declare(EIF, "unused", "header", _HEADER, header=True)
NUM_SECTIONS = _declare(EIF, "num_sections", "derived", _DERIVED, header=True)
SECTION_OFFSET = _declare(EIF, "section offset", "derived", _DERIVED, header=True)
SECTION_SIZE = _declare(EIF, "section size", "derived", _DERIVED, header=True)
CRC32 = _declare(EIF, "crc32", "derived", _DERIVED, header=True)
TRAILING = _declare(EIF, "trailing bytes", "content", (
    "Bytes after the last section differ; they are not measured, but something appended them "
    "after the build (a signing or packaging step)."))
SECTION_ADDED = _declare((SECTION, ELF), "section added", "added", _ADDED)
SECTION_REMOVED = _declare((SECTION, ELF), "section removed", "removed", _REMOVED)
SIZE = _declare(SECTION, "size", "derived", _DERIVED, header=True)
BYTES = _declare(SECTION, "bytes", "content", _CONTENT, deep=False)

# --- compressed ramdisks ---------------------------------------------------------------------
FORMAT = _declare(COMPRESSION, "format", "compression", (
    "The ramdisks were compressed with different tools; pin the compressor and its version."))
GZIP_MTIME = _declare((COMPRESSION, CPIO), "gzip mtime", "timestamp", _GZIP_MTIME,
                      normalization="gzip", unit="epoch")
GZIP_NAME = _declare((COMPRESSION, CPIO), "gzip name", "build-path", _GZIP_NAME,
                     normalization="gzip")
GZIP_LEVEL = _declare((COMPRESSION, CPIO), "gzip level", "compression", _GZIP_OPTS)
GZIP_OS = _declare((COMPRESSION, CPIO), "gzip os", "compression", _GZIP_OPTS)
GZIP_COMMENT = _declare((COMPRESSION, CPIO), "gzip comment", "compression", _GZIP_OPTS)
RECOMPRESSED = _declare((COMPRESSION, CPIO), "recompressed", "compression", _RECOMPRESSED)
COMPRESSED_BYTES = _declare(COMPRESSION, "compressed bytes", "derived", _DERIVED)

# --- CPIO entries ----------------------------------------------------------------------------
ORDER = _declare(CPIO, "order", "ordering", (
    "The archiver walked the directory in filesystem order; feed cpio a C-locale sorted list "
    "(`find . | LC_ALL=C sort | cpio -o -H newc --reproducible`)."), normalization="order")
HARD_LINK_DATA = _declare(CPIO, "hard-link data", "ordering", (
    "newc archives store a hard-linked file's data on the link written last, so it moves with "
    "the archive order; sort the file list in the C locale (GNU cpio then writes each group "
    "where its last link sorts)."), normalization="order")
ADDED = _declare(CPIO, "added", "added", _ADDED)
REMOVED = _declare(CPIO, "removed", "removed", _REMOVED)
MAGIC = _declare(CPIO, "magic", "compression", (
    "One archive was written as newc (070701), the other with checksums (070702); pin the "
    "cpio format (`-H newc`)."), header=True)
TYPE = _declare(CPIO, "type", "content", (
    "The entry is another kind of file (a file on one side, a symlink or directory on the "
    "other); compare the build steps that create it."), header=True, deep=True)
MODE = _declare(CPIO, "mode", "permissions", (
    "Permission bits follow the builder's umask or checkout; set `umask 022` and explicit "
    "modes before archiving."), normalization="mode", header=True)
UID = _declare(CPIO, "uid", "ownership", (
    "Files kept the building user's ids; archive with GNU cpio `--owner=0:0` (or chown in the "
    "image)."), normalization="owner", header=True)
GID = _declare(CPIO, "gid", "ownership", (
    "Files kept the building user's group; archive with GNU cpio `--owner=0:0`."),
    normalization="owner", header=True)
MTIME = _declare(CPIO, "mtime", "timestamp", (
    "Build steps stamp files with the build clock; clamp every mtime before archiving "
    "(SOURCE_DATE_EPOCH with `touch -d @0`, or BuildKit's `rewrite-timestamp=true`)."),
    normalization="mtime", header=True, unit="epoch")
INO = _declare(CPIO, "ino", "inode", _INODE, normalization="inode", header=True)
NLINK = _declare(CPIO, "nlink", "inode", (
    "Link counts come from the build filesystem; GNU cpio `--reproducible` writes them "
    "consistently."), normalization="inode", header=True)
DEVMAJOR = _declare(CPIO, "devmajor", "inode", _INODE, normalization="inode", header=True)
DEVMINOR = _declare(CPIO, "devminor", "inode", _INODE, normalization="inode", header=True)
RDEVMAJOR = _declare(CPIO, "rdevmajor", "inode", _INODE, normalization="inode", header=True)
RDEVMINOR = _declare(CPIO, "rdevminor", "inode", _INODE, normalization="inode", header=True)
FILESIZE = _declare(CPIO, "filesize", "derived", _DERIVED, header=True)
CHECK = _declare(CPIO, "check", "derived", _DERIVED, header=True)
SYMLINK_TARGET = _declare(CPIO, "symlink target", "content", (
    "The symbolic link points elsewhere; compare the build steps (or package versions) that "
    "create it."))
PYC_HEADER = _declare(CPIO, "pyc header", "content", (
    "The .pyc files were written by different Python versions or invalidation modes; pin the "
    "interpreter and `--invalidation-mode`."), deep=True)
PYC_SOURCE_MTIME = _declare(CPIO, "pyc source mtime", "timestamp", (
    "A timestamp-based .pyc records its source file's mtime; set SOURCE_DATE_EPOCH so "
    "py_compile writes hash-based (checked) .pyc files, or clamp source mtimes first."),
    unit="epoch")
PYC_SOURCE_SIZE = _declare(CPIO, "pyc source size", "content", _CONTENT, deep=True)
PYC_SOURCE_HASH = _declare(CPIO, "pyc source hash", "content", _CONTENT, deep=True)
AUX_CACHE = _declare(CPIO, "ldconfig aux-cache", "inode", (
    "ldconfig's aux-cache records each library's inode number and ctime, so it differs on every "
    "build; delete /var/cache/ldconfig/aux-cache in the image build."))
TEXT_TIMES = _declare(CPIO, "timestamps in text", "timestamp", (
    "The file differs only in the dates and times written into it (logs, generated files); "
    "delete build logs such as /var/log/*.log in the image build, or set SOURCE_DATE_EPOCH for "
    "the tool that writes it."), deep=True)
LOG = _declare(CPIO, "log", "content", (
    "A build log differs (times, paths, order of output); logs are not part of the application: "
    "delete /var/log/* (dpkg.log, alternatives.log, apt) in the image build."), deep=True)
CONTENT = _declare(CPIO, "content", "content", _CONTENT, deep=True)

# --- ELF files inside the ramdisks -----------------------------------------------------------
COMP_DIR = _declare(ELF, "comp_dir", "build-path", _PATHS, deep=True)
DWARF_PATH = _declare(ELF, "DWARF path", "build-path", _PATHS, deep=True)
DWARF_ATTRIBUTE = _declare(ELF, "DWARF attribute", "content", _CONTENT, deep=True)
DWARF_UNITS = _declare(ELF, "DWARF units", "content", _CONTENT, deep=True)
BUILD_ID = _declare(ELF, "build-id", "build-id", (
    "The GNU build-id hashes the whole link output, so it changes with any other difference in "
    "the binary (often the build path); fix that cause and it follows."), deep=True)
COMMENT = _declare(ELF, "comment", "content", (
    "The .comment section names the compiler and linker releases; pin the toolchain (the same "
    "compiler package version on every build)."), deep=True)
MODINFO = _declare(ELF, "modinfo", "content", (
    "A kernel module's .modinfo differs (vermagic, srcversion, depends); build it against the "
    "same kernel and sources."), deep=True)
_TOOLCHAIN = ("Another compiler or linker release built this (the .comment section or the kernel "
              "banner names it); pin the toolchain: the same compiler and binutils package "
              "versions, or the same build image, on every build.")
COMPILER = _declare((ELF, KERNEL), "compiler", "toolchain", _TOOLCHAIN, deep=True)
LINKER = _declare((ELF, KERNEL), "linker", "toolchain", _TOOLCHAIN, deep=True)
VERMAGIC = _declare(ELF, "vermagic", "toolchain", (
    "The module was built against another kernel (its vermagic names the kernel release and "
    "options); a module loads only into the kernel its vermagic names. Build it against the "
    "kernel the image boots, or take init, nsm.ko and the kernel from one nitro-cli blob set."),
    deep=True)
SRCVERSION = _declare(ELF, "srcversion", "content", (
    "The module's source changed (srcversion hashes the source files it was built from); "
    "compare the driver's source versions."), deep=True)
MODINFO_KEY = _declare(ELF, "modinfo key", "content", (
    "A key of the module's .modinfo (name, version, depends, alias, license...) differs: another "
    "release of the module; build it from the same source."), deep=True)
SYMBOL_CRCS = _declare(ELF, "symbol CRCs", "derived", (
    "The CRCs of the kernel symbols the module imports (__versions) come from the kernel it was "
    "built against: they follow from the vermagic difference."))
RENUMBERED = _declare(ELF, "renumbered labels", "derived", (
    "Only numbers in generated symbol names differ (.strtab: __UNIQUE_ID_*, local labels); "
    "they follow from the other differences of the build."))
SECTION_BYTES = _declare(ELF, "section bytes", "content", _CONTENT, deep=True)
SECTION_PATHS = _declare(ELF, "section build path", "build-path", _PATHS, deep=True)
SECTION_OFFSETS = _declare(ELF, "section offsets", "derived", _DERIVED)
OUTSIDE_SECTIONS = _declare(ELF, "bytes outside sections", "content", _CONTENT, deep=True)

# --- metadata (unmeasured), signature (PCR8), kernel and cmdline (PCR1) -----------------------
_METADATA = ("EIF metadata is not measured (no PCR moves); it comes from the build tool, its "
             "version and the Docker image.")
METADATA_BYTES = _declare(META, "bytes", "metadata", _METADATA)
BUILD_TIME = _declare(META, "build time", "timestamp", (
    "nitro-cli writes the current time into the unmeasured metadata; pin it with "
    "`--build-time` (eif_build, eifdiff build) or accept it with `--fail-on pcr`."),
    normalization="build-time")
DOCKER_TIME = _declare(META, "docker time", "timestamp", (
    "The image creation time comes from the build clock; set SOURCE_DATE_EPOCH for the image "
    "build (unmeasured metadata)."))
METADATA_VALUE = _declare(META, "value", "metadata", _METADATA)
SIGNATURE_BYTES = _declare(SIG, "bytes", "signature", _SIGNATURE)
CERTIFICATE = _declare(SIG, "certificate", "signature", (
    "A different signing certificate moves PCR8; sign with the certificate the policy pins."))
ALGORITHM = _declare(SIG, "algorithm", "signature", _SIGNATURE)
SIGNED_PCR0 = _declare(SIG, "signed PCR0", "derived", _DERIVED)
SIGNATURE = _declare(SIG, "signature", "signature", (
    "ECDSA signatures are randomised, so signing twice never gives the same bytes; compare PCR8 "
    "and the signature check instead of file hashes."))
RELEASE = _declare(KERNEL, "release", "content", (
    "Another kernel release: the kernel comes from the nitro-cli blobs or your own build; pin "
    "the blob version or kernel package."), deep=True)
BUILD_HOST = _declare(KERNEL, "build host", "build-host", _KERNEL_HOST)
BUILD_NUMBER = _declare(KERNEL, "build number", "build-host", (
    "The kernel embeds a build counter (#N); set KBUILD_BUILD_VERSION."))
BUILD_DATE = _declare(KERNEL, "build date", "timestamp", (
    "The kernel embeds its build date; set KBUILD_BUILD_TIMESTAMP (from SOURCE_DATE_EPOCH)."))
VERSION_STRING = _declare(KERNEL, "version string", "content", _CONTENT, deep=True)
DISTRO_VERSION = _declare(KERNEL, "distribution version", "content", (
    "Another package of the kernel (the distribution's version in its banner): a newer kernel "
    "package was installed; pin the kernel package version."))
BUILD_FLAGS = _declare(KERNEL, "build flags", "content", (
    "The kernel was configured differently (SMP, PREEMPT...); build from the same config."))
PAYLOAD_COMPRESSION = _declare(KERNEL, "payload compression", "compression", (
    "The kernel payload was compressed with another algorithm (CONFIG_KERNEL_GZIP, _XZ, _ZSTD, "
    "_LZ4...); build from the same config."))
CONFIG_OPTION = _declare(KERNEL, "config option", "content", (
    "The kernel's embedded config (IKCONFIG) differs in this option; build from the same "
    ".config."))
INITRAMFS = _declare(KERNEL, "built-in initramfs", "content", (
    "The initramfs linked into the kernel (CONFIG_INITRAMFS_SOURCE) differs; compare the files "
    "it was built from."), deep=True)
PAYLOAD_RECOMPRESSED = _declare(KERNEL, "recompressed payload", "compression", (
    "The same vmlinux compressed differently (compressor version or level); pin the build's "
    "compressor."))
PAYLOAD = _declare(KERNEL, "payload", "derived", (
    "The compressed kernel payload follows from the differences of the vmlinux inside it."))
SETUP_FIELDS = _declare(KERNEL, "setup and decompressor", "derived", (
    "A payload of another size moves what surrounds it: the setup header's sizes (syssize, "
    "payload_length, init_size), the EFI stub's PE header and the decompressor's references "
    "past its payload follow from it."))

IMAGE_BYTES = _declare(KERNEL, "image bytes", "content", _CONTENT, deep=True)
TOKEN = _declare(CMDLINE, "token", "cmdline", _CMDLINE)
TOKEN_ORDER = _declare(CMDLINE, "order", "cmdline", _CMDLINE)
WHITESPACE = _declare(CMDLINE, "whitespace", "cmdline", _CMDLINE)

# --- application builds: build paths, Go build info, Python bytecode, nested archives --------
_FROM_PATHS = ("Follows from this file's build-path rows (offsets, sizes and addresses moved by "
               "a longer or shorter path, hashes over the paths); fix those.")
GO_BUILD_PATH = _declare(ELF, "go build path", "build-path", (
    "Go records the build directory in .gopclntab, DWARF and the build ID; build with "
    "`go build -trimpath` (or GOFLAGS=-trimpath)."), deep=True)
RUST_BUILD_PATH = _declare(ELF, "rust build path", "build-path", (
    "rustc records the build directory and ~/.cargo paths; build with RUSTFLAGS="
    "\"--remap-path-prefix=$PWD=/build --remap-path-prefix=$CARGO_HOME=/cargo\"."), deep=True)
RUST_COMP_DIR = _declare(ELF, "rust comp_dir", "build-path", (
    "rustc records the build directory as DWARF DW_AT_comp_dir; build with RUSTFLAGS="
    "\"--remap-path-prefix=$PWD=/build\"."), deep=True)
PATH_DERIVED = _declare(ELF, "moved by build path", "derived", _FROM_PATHS)
GO_BUILD_ID = _declare(ELF, "go build ID", "derived", (
    "Go's build ID hashes the build's inputs (build paths, the build info); it follows from "
    "this file's other rows."))
BUILD_ID_FROM_PATHS = _declare(ELF, "build-id from build path", "derived", (
    "The GNU build-id hashes the link output, which differs only by the build paths; it "
    "follows from this file's build-path rows."))
GO_VERSION = _declare(ELF, "go version", "content", (
    "Built by another Go release; pin the toolchain (the builder image, GOTOOLCHAIN)."))
GO_MODULE = _declare(ELF, "go module", "content", (
    "A Go module is at another version (or was added or dropped); pin it in go.mod and go.sum "
    "and build with -mod=readonly."))
GO_SETTING = _declare(ELF, "go build setting", "content", (
    "A Go build setting differs (CGO_ENABLED, GOAMD64, -ldflags, -tags, -trimpath); pin the "
    "build command and its environment."))
GO_VCS_TIME = _declare(ELF, "go vcs.time", "timestamp", (
    "Go stamped another commit time (vcs.time); build from the same commit, or with "
    "-buildvcs=false."))
GO_VCS = _declare(ELF, "go vcs stamp", "content", (
    "Go stamped another commit or a modified tree (vcs.revision, vcs.modified); build from the "
    "same clean commit, or with -buildvcs=false."))
GO_BUILD_INFO = _declare(ELF, "go build info", "derived", _DERIVED)
PYC_COMPILED_IN = _declare(CPIO, "pyc compiled in", "build-path", (
    "The .pyc records the folder it was compiled in (co_filename); pip --target compiles in a "
    "temporary /tmp/pip-target-* folder. Compile in the final location (`python -m compileall "
    "-d /final/dir`) or install straight into the final path."), deep=True)
FILE_BUILD_PATH = _declare(CPIO, "build path", "build-path", (
    "The file records a build directory (a generated script, a cache, a manifest); generate it "
    "in the final location or in a fixed directory, or map the path away."), deep=True)
_MEMBER_TIMES = ("The archive records each member's mtime; set SOURCE_DATE_EPOCH for the tool "
                 "that writes it (wheel builders, `tar --mtime=@$SOURCE_DATE_EPOCH`), or run "
                 "strip-nondeterminism on it.")
MEMBER_MTIME = _declare(CPIO, "member mtime", "timestamp", _MEMBER_TIMES)
JAR_MEMBER_MTIME = _declare(CPIO, "jar member mtime", "timestamp", (
    "jar records each class file's mtime; Maven: set project.build.outputTimestamp; Gradle: "
    "preserveFileTimestamps = false; the jar tool: `--date=$SOURCE_DATE_EPOCH`."))
MEMBER_ORDER = _declare(CPIO, "member order", "ordering", (
    "Members were added in another order; sort them (`tar --sort=name`, Gradle "
    "reproducibleFileOrder = true, `zip` from a sorted list)."))
MEMBER_MODE = _declare(CPIO, "member mode", "permissions", (
    "Member permissions follow the builder's umask; set `umask 022` or `tar --mode=go-w`."))
MEMBER_OWNER = _declare(CPIO, "member owner", "ownership", (
    "Members kept the building user's ids; `tar --owner=0 --group=0 --numeric-owner`."))
MEMBER_EXTRA = _declare(CPIO, "member extra fields", "metadata", (
    "Zip extra fields or tar PAX records differ (the archiver or its version); pin the tool."))
MEMBER_COMPRESSION = _declare(CPIO, "member compression", "compression", (
    "The same member compressed differently (method, level, zlib version); pin the archiver."))
MEMBER_CONTENT = _declare(CPIO, "member content", "content", _CONTENT, deep=True)
MEMBER_ADDED = _declare(CPIO, "member added", "added", _ADDED)
MEMBER_REMOVED = _declare(CPIO, "member removed", "removed", _REMOVED)
ARCHIVE_COMMENT = _declare(CPIO, "archive comment", "metadata", (
    "The archive comment differs; it comes from the archiver's options."))
LOCKED_VERSION = _declare(CPIO, "locked version", "content", (
    "The lockfile resolved a package to another version; commit the lockfile and install with "
    "`npm ci` (or pin the version)."))
