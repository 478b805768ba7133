"""The fix for an application-level cause, worded for the toolchain that made the file.

`hint(cause, toolchain, builder)` picks the most specific text: (cause, toolchain, builder),
then (cause, toolchain), then the cause alone. Causes: `build-path` (a build directory recorded
in the output), `vcs-stamp` (Go's `vcs.revision`/`vcs.time`), `pyc-mtime` (a `.pyc` records its
source's mtime), `pyc-path` (a `.pyc` compiled in a temporary folder), `archive-time` (member
timestamps of a zip, jar, wheel or tar), `archive-order`, `archive-mode`, `derived` (hashes,
offsets and sizes following from a build path)."""

from __future__ import annotations

HINTS: dict[tuple[str, ...], str] = {
    ("build-path", "go"): "Go records the build directory in .gopclntab, DWARF and the build "
                          "ID: build with `go build -trimpath`",
    ("build-path", "rust"): "rustc records the build directory and ~/.cargo paths: build with "
                            "RUSTFLAGS=\"--remap-path-prefix=$PWD=/build "
                            "--remap-path-prefix=$CARGO_HOME=/cargo\"",
    ("build-path", "c"): "the compiler records the build directory (DWARF, __FILE__): build "
                         "with -ffile-prefix-map=$PWD=. (GCC 8+, clang 10+)",
    ("build-path", "c++"): "the compiler records the build directory (DWARF, __FILE__): build "
                           "with -ffile-prefix-map=$PWD=. (GCC 8+, clang 10+)",
    ("build-path", "python"): "compiled in another folder: compile in the final location "
                              "(`python -m compileall -d /final/dir`), or install with pip "
                              "into the final path rather than with --target and a copy",
    ("build-path", "java"): "the build directory is recorded: build in a fixed directory "
                            "(e.g. /build) or strip debug paths",
    ("build-path",): "a build directory is recorded in the file: build in a fixed directory "
                     "or map it away (-trimpath, -ffile-prefix-map, --remap-path-prefix)",
    ("vcs-stamp", "go"): "Go stamped another commit or commit time (vcs.revision, vcs.time): "
                         "build from the same commit, or with -buildvcs=false",
    ("pyc-mtime", "python"): "the .pyc records its source's mtime: set SOURCE_DATE_EPOCH "
                             "(pip and compileall then write hash-based .pyc), or compile with "
                             "--invalidation-mode checked-hash",
    ("pyc-path", "python"): "compiled in a temporary folder (pip --target builds in "
                            "/tmp/pip-target-*): compile in the final location "
                            "(`python -m compileall -d /final/dir`) or install into the "
                            "final path",
    ("archive-time", "java", "maven"): "set project.build.outputTimestamp (Maven 3.2.2+ "
                                       "plugins) for reproducible jar entries",
    ("archive-time", "java", "gradle"): "set preserveFileTimestamps = false and "
                                        "reproducibleFileOrder = true on archive tasks",
    ("archive-time", "java"): "jar records file mtimes: `jar --date=$SOURCE_DATE_EPOCH` (JDK "
                              "17.0.4+/19+), Maven project.build.outputTimestamp, or Gradle "
                              "preserveFileTimestamps = false",
    ("archive-time", "python"): "the wheel records file mtimes: set SOURCE_DATE_EPOCH when "
                                "building it",
    ("archive-time",): "the archive records file mtimes: set SOURCE_DATE_EPOCH, `tar "
                       "--mtime=@$SOURCE_DATE_EPOCH`, `zip -X` after `touch -d`, or "
                       "strip-nondeterminism",
    ("archive-order", "java", "gradle"): "set reproducibleFileOrder = true",
    ("archive-order",): "members were added in another order: sort them (`tar --sort=name`, "
                        "Gradle reproducibleFileOrder)",
    ("archive-mode",): "member permissions differ: fix the umask or `tar --mode=go-w`, "
                       "`--owner=0 --group=0 --numeric-owner`",
    ("derived",): "follows from the build-path rows of this file: fix those",
}


def hint(cause: str, toolchain: str | None = None, builder: str | None = None) -> str:
    """The most specific fix known for `cause` made by `toolchain` (and `builder`)."""
    for key in ((cause, toolchain, builder), (cause, toolchain), (cause,)):
        if None not in key and key in HINTS:
            return HINTS[key]  # type: ignore[index]
    return ""
