"""The one error type a user can cause.

Every stage raises `InputError` for bad input so that the command line can print one line
naming the file (and line) and exit 1, instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: a file that cannot be parsed, a setting that is wrong, a server that refuses."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    def __reduce__(self):
        # Raised in a build's worker process, it must reach the parent with its file and line.
        return (type(self), (self.message, self.path, self.line))

    def __str__(self) -> str:
        where = self.path or ""
        if self.path and self.line is not None:
            where = f"{self.path}:{self.line}"
        return f"{where}: {self.message}" if where else self.message
