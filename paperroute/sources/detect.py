"""Pick a source's format from its content, never from its name.

Users save files with whatever name their browser or script chose; a `.txt` may be JSON and a
`.html` may be a text capture. Each format module sniffs the text; the first that claims it
parses it. Empty and binary files are refused here, once, for every format.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import ModuleType

from paperroute.errors import InputError
from paperroute.model import Paper
from paperroute.sources import arxiv_feed, capture, hf_json, saved_html

# Most specific first: structured formats before the plain-text capture, which is the fallback.
PARSERS: tuple[ModuleType, ...] = (hf_json, arxiv_feed, saved_html, capture)


def read_text(path: Path) -> str:
    """A source's text: UTF-8 (a BOM allowed), refusing empty and binary files with a reason."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError("is a folder, not a source file", path) from None
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", path) from None
    if not data.strip():
        raise InputError("empty file: nothing to ingest", path)
    if b"\x00" in data[:8192]:
        raise InputError("binary file: not a paper listing", path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError("not UTF-8 text (binary or another encoding)", path, line) from None
    return text


def detect_format(text: str, path: Path) -> ModuleType:
    for module in PARSERS:
        if module.sniff(text):
            return module
    known = ", ".join(m.FORMAT for m in PARSERS)
    raise InputError(f"unknown format: not one of {known}", path, 1)


def parse_source(path: Path, *, listing_date: dt.date | None, today: dt.date) -> list[Paper]:
    """Read, detect and parse one source file into paper sightings."""
    text = read_text(path)
    return detect_format(text, path).parse(text, path, listing_date, today)
