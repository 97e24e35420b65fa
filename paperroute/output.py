"""Atomic, write-only-if-changed file output, used for the content store and the site alike.

A reader (a web server, a person's editor, a crashed build's successor) never sees a
half-written file: bytes go to a temporary file beside the target, then `os.replace`.
A file whose bytes did not change is left alone, so its mtime tells what a build touched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step, creating parent folders as needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def write_if_changed(path: Path, data: bytes | str) -> bool:
    """Write `data` atomically unless the file already holds exactly these bytes.

    Returns True when the file was written.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True


class SiteWriter:
    """Writes a build's files under one folder and knows what the build touched.

    After the build, `prune()` deletes files a previous build wrote that this one did not
    (a topic that lost its last page, a renamed paper), so site/ always equals the content.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.paths: set[str] = set()
        self.written = 0
        self.unchanged = 0

    def write(self, rel_path: str, data: bytes | str) -> bool:
        if rel_path in self.paths:
            raise ValueError(f"two outputs claim {rel_path}")
        self.paths.add(rel_path)
        if write_if_changed(self.root / rel_path, data):
            self.written += 1
            return True
        self.unchanged += 1
        return False

    def keep(self, rel_path: str) -> None:
        """Claim a file this build did not rewrite but still owns (an incremental build)."""
        self.paths.add(rel_path)

    def prune(self) -> int:
        """Remove files under root that this build did not claim; returns how many."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for path in sorted(self.root.rglob("*"), reverse=True):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and rel not in self.paths:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return removed
