"""What usually causes each kind of divergence and how reproducible builds avoid it: one sentence
per (category, field), with a fallback per category."""

from __future__ import annotations

_BY_FIELD: dict[tuple[str, str], str] = {
    ("timestamp", "mtime"): (
        "Build steps stamp files with the build clock; clamp every mtime before archiving "
        "(SOURCE_DATE_EPOCH with `touch -d @0`, or BuildKit's `rewrite-timestamp=true`)."),
    ("timestamp", "BuildTime"): (
        "nitro-cli writes the current time into the unmeasured metadata; pin it with "
        "`--build-time` (eif_build, eifdiff build) or accept it with `--fail-on pcr`."),
    ("timestamp", "pyc source mtime"): (
        "A timestamp-based .pyc records its source file's mtime; set SOURCE_DATE_EPOCH so "
        "py_compile writes hash-based (checked) .pyc files, or clamp source mtimes first."),
    ("timestamp", "gzip mtime"): (
        "gzip stores the input file's mtime in its header; compress with `gzip -n`."),
    ("timestamp", "build date"): (
        "The kernel embeds its build date; set KBUILD_BUILD_TIMESTAMP (from SOURCE_DATE_EPOCH)."),
    ("timestamp", "DockerInfo.Created"): (
        "The image creation time comes from the build clock; set SOURCE_DATE_EPOCH for the "
        "image build (unmeasured metadata)."),
    ("build-path", "gzip name"): (
        "gzip stores the input file name in its header; compress with `gzip -n` or from stdin."),
    ("build-path", "section bytes"): (
        "The build directory is embedded in this ELF section; build with "
        "`-ffile-prefix-map=$PWD=.` (or in a fixed directory)."),
    ("build-host", "build host"): (
        "The kernel embeds user@host of its build; set KBUILD_BUILD_USER and KBUILD_BUILD_HOST."),
    ("build-host", "build number"): (
        "The kernel embeds a build counter (#N); set KBUILD_BUILD_VERSION."),
    ("ordering", "order"): (
        "The archiver walked the directory in filesystem order; feed cpio a C-locale sorted "
        "list (`find . | LC_ALL=C sort | cpio -o -H newc --reproducible`)."),
    ("ordering", "hard-link data"): (
        "newc archives store a hard-linked file's data on the link written last, so it moves "
        "with the archive order; sort the file list in the C locale (GNU cpio then writes each "
        "group where its last link sorts)."),
    ("timestamp", "timestamps in text"): (
        "The file differs only in the dates and times written into it (logs, generated "
        "files); delete build logs such as /var/log/*.log in the image build, or set "
        "SOURCE_DATE_EPOCH for the tool that writes it."),
    ("inode", "ldconfig aux-cache"): (
        "ldconfig's aux-cache records each library's inode number and ctime, so it differs on "
        "every build; delete /var/cache/ldconfig/aux-cache in the image build."),
    ("content", "log"): (
        "A build log differs (times, paths, order of output); logs are not part of the "
        "application: delete /var/log/* (dpkg.log, alternatives.log, apt) in the image build."),
    ("ownership", "uid"): (
        "Files kept the building user's ids; archive with GNU cpio `--owner=0:0` (or chown "
        "in the image)."),
    ("ownership", "gid"): (
        "Files kept the building user's group; archive with GNU cpio `--owner=0:0`."),
    ("permissions", "mode"): (
        "Permission bits follow the builder's umask or checkout; set `umask 022` and explicit "
        "modes before archiving."),
    ("inode", "ino"): (
        "Inode numbers come from the build filesystem; GNU cpio `--reproducible` renumbers "
        "them in archive order."),
    ("inode", "nlink"): (
        "Link counts come from the build filesystem; GNU cpio `--reproducible` writes them "
        "consistently."),
    ("signature", "certificate"): (
        "A different signing certificate moves PCR8; sign with the certificate the policy "
        "pins."),
    ("signature", "signature"): (
        "ECDSA signatures are randomised, so signing twice never gives the same bytes; "
        "compare PCR8 and the signature check instead of file hashes."),
    ("compression", "format"): (
        "The ramdisks were compressed with different tools; pin the compressor and its version."),
    ("compression", "gzip level"): (
        "The compression level differs; pin `gzip -9 -n` (or the compressor's level)."),
    ("compression", "compressed bytes"): (
        "Same content compressed differently (tool version, level or threads); pin the "
        "compressor, its version and its options."),
    ("cmdline", "token"): (
        "The kernel command line differs; it comes from the nitro-cli blobs (or --cmdline), "
        "so pin the blob version."),
    ("header", "flags"): (
        "The architecture flag comes from the Docker image's platform; build for one "
        "platform (`--platform linux/amd64`)."),
}

_BY_CATEGORY: dict[str, str] = {
    "timestamp": "A build clock leaked into the bytes; pin it with SOURCE_DATE_EPOCH.",
    "ordering": "Entries come in another order; sort the file list in the C locale.",
    "ownership": "Owner ids differ; archive with `--owner=0:0`.",
    "permissions": "Permission bits differ; set `umask 022` before building.",
    "inode": (
        "Inode, link or device numbers come from the build filesystem; use GNU cpio "
        "`--reproducible`."),
    "build-path": (
        "The build directory is embedded; build with `-ffile-prefix-map=$PWD=.` or in a "
        "fixed directory."),
    "build-id": (
        "The GNU build-id hashes the whole link output, so it changes with any other "
        "difference in the binary (often the build path); fix that cause and it follows."),
    "build-host": (
        "The build machine's identity is embedded; set KBUILD_BUILD_USER/KBUILD_BUILD_HOST "
        "(kernels) or build in a fixed container."),
    "content": (
        "The file's content differs for a reason no rule explains: a different source, "
        "dependency version or tool; compare the inputs (unpinned base image or packages)."),
    "added": "Only the second image has this; an unpinned package or build step added it.",
    "removed": "Only the first image has this; an unpinned package or build step dropped it.",
    "metadata": (
        "EIF metadata is not measured (no PCR moves); it comes from the build tool, its "
        "version and the Docker image."),
    "signature": "The signature section differs; it moves PCR8 only through the certificate.",
    "cmdline": "The kernel command line differs; pin the blob or --cmdline.",
    "header": "An EIF header field differs; it comes from the build tool's options.",
    "compression": "The ramdisk compression differs; pin the compressor and its options.",
    "derived": "Follows from the other differences (sizes, offsets, checksums); not a cause.",
}


def hint_for(category: str, field: str) -> str:
    """The hint for a divergence of this category and field."""
    base = field.split("[", 1)[0]
    return _BY_FIELD.get((category, field)) or _BY_FIELD.get((category, base)) or \
        _BY_CATEGORY[category]
