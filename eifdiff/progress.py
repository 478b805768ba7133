"""A progress line on stderr while large files are compared, only when stderr is a terminal."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

LARGE = 64 << 20
WIDTH = 24


@dataclass
class Progress:
    """Stages with a bar; silent unless enabled (a terminal and a large input)."""

    enabled: bool = False
    total: int = 1
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def for_files(cls, *paths: str) -> Progress:
        try:
            size = sum(os.path.getsize(p) for p in paths)
        except OSError:
            size = 0
        return cls(enabled=sys.stderr.isatty() and size >= LARGE)

    def stage(self, text: str, steps: int = 1) -> None:
        """Announce the next stage; `steps` is how many stages remain in all, the first time."""
        if self.total == 1 and steps > 1:
            self.total = steps
        if not self.enabled:
            return
        filled = WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (WIDTH - filled)
        sys.stderr.write(f"\r\x1b[Keifdiff [{bar}] {time.monotonic() - self.started:5.1f}s "
                         f"{text}")
        sys.stderr.flush()
        self.done += 1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
