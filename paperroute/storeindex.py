"""Who is in the content store, without reading it: each paper file's identity, date and topics.

An ingest must find which stored paper a sighting is (by arXiv id, else by normalised
title) and give a new paper a slug no other file has; a digest needs one day's papers and
every topic slug in use. At 100,000 papers, parsing every file for that took 5.7 s of a
one-day ingest and 9 s of a digest, for a few short strings a file. So the store keeps,
beside itself (`.content.storeindex` for `content/`), each file's slug, arXiv id, normalised
title, date and topics, keyed by its size and mtime like the build state: a file written or
edited since is parsed again, a file gone is forgotten, and an index that is unreadable or
from other code is ignored and rebuilt. A cache can make a command faster, never wrong.
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Callable, NamedTuple

from paperroute.model import Paper
from paperroute.output import write_atomic
from paperroute.parallel import parse_each
from paperroute.text import normalise_title

# Bump when an entry's layout changes; a change to the package is caught by `code_digest`.
INDEX_VERSION = 2


class Identity(NamedTuple):
    """What the index knows of one stored paper, by its file (relative to papers/). A tuple,
    not a dataclass: 100,000 frozen dataclasses took 0.25 s to make."""

    file: str
    slug: str
    arxiv_id: str | None
    title_key: str  # `normalise_title` of its title
    date: int  # its listing date's ordinal (the front matter's, whatever folder the file is in)
    topics: list[str]


def identity_keys(paper: Paper) -> tuple[str, str | None, str, int, list[str]]:
    """An `Identity` but its file: what the index holds for a paper, after the file's stamp."""
    return paper.slug, paper.arxiv_id, normalise_title(paper.title), paper.date.toordinal(), list(paper.topics)


def index_path(content_dir: Path) -> Path:
    content_dir = Path(content_dir).resolve()
    return content_dir.parent / f".{content_dir.name}.storeindex"


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


class StoreIndex:
    """The identities of the files under `papers_dir`, read from the index where their stamps
    match and parsed (`parse(path) -> Paper`, which raises `InputError`) where they do not."""

    def __init__(self, content_dir: Path, papers_dir: Path, parse: Callable[[Path], Paper]):
        self.path = index_path(content_dir)
        self.papers_dir = papers_dir
        self._parse = parse
        # file → (size, mtime_ns, *identity_keys), as the index file holds them
        self._entries: dict[str, tuple] = {}
        self._changed = False

    def identities(self, files: list[str]) -> list[Identity]:
        """Every file's identity, in the order given (paths under `papers_dir`)."""
        known = self._read()
        stamps = [(path, self._file(path), _stamp(path)) for path in files]
        todo = [(path, file, stamp) for path, file, stamp in stamps if known.get(file, ())[:2] != stamp]
        # Identities, not papers, come back from a worker: a tenth of the bytes to pickle.
        parsed = parse_each(lambda item: identity_keys(self._parse(Path(item[0]))), todo, label="reading the store",
                            quiet=True)
        for (_, file, stamp), keys in zip(todo, parsed, strict=True):
            known[file] = (*stamp, *keys)
        self._changed = bool(todo) or len(known) != len(stamps)
        self._entries = {file: known[file] for _, file, _ in stamps}
        return [Identity(file, *self._entries[file][2:]) for _, file, _ in stamps]

    def written(self, path: Path, paper: Paper) -> None:
        """Record a file this process has just written, so the next ingest need not parse it."""
        self._entries[self._file(path)] = (*_stamp(str(path)), *identity_keys(paper))
        self._changed = True

    def removed(self, path: Path) -> None:
        self._changed |= self._entries.pop(self._file(path), None) is not None

    def _file(self, path: str | Path) -> str:
        """A paper file's name in the index: its path under papers/."""
        return str(path)[len(str(self.papers_dir)) + 1:]

    def save(self) -> None:
        """Write the index if it changed; a folder that cannot be written only costs speed."""
        if not self._changed:
            return
        try:
            write_atomic(self.path, marshal.dumps((INDEX_VERSION, _code(), self._entries)))
        except OSError:
            return
        self._changed = False

    def _read(self) -> dict[str, tuple]:
        try:
            version, code, entries = marshal.loads(self.path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return {}
        return entries if version == INDEX_VERSION and code == _code() and isinstance(entries, dict) else {}


def _code() -> bytes:
    """The package's digest: the title keys and parsing depend on it."""
    from paperroute.buildstate import code_digest  # here: buildstate brings numpy, which ingest does not need

    return code_digest()
