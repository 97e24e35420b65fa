"""Papers packed into a few bytes objects, to be sent to the search index's process.

That process is forked at the start of a build, while the build is small
(`parallel.Background`), so the papers have to be sent to it. Forked after they were read,
it shared them with the build, but it kept every page that either process wrote afterwards,
and CPython writes to every object it reads (its reference count): 600 MB at 100,000 papers,
the largest part of a build's peak memory. Packed (0.3-0.4 s at 100,000 papers, in the
build), the papers cross as about 110 MB of bytes; the process unpacks slugs, dates and
topics into objects of its own, and the texts a chunk at a time as it reads them, letting
each chunk go once it is counted. The texts of papers the build did not parse again are not
packed at all: the process reads those it needs from the paper cache's files
(`buildstate.StoredTexts`), and after a new day it needs few.
"""

from __future__ import annotations

import array
import bisect
import datetime as dt
import functools
import marshal
from collections.abc import Callable, Mapping, Sequence

from paperroute.buildstate import StoredTexts, Texts, dumps_unshared
from paperroute.model import Paper

# Papers per packed chunk of texts: unpacked one chunk at a time, about 2 MB each.
TEXT_CHUNK = 2048
# No paper's texts left to be read from the paper cache: all are packed.
NOTHING_STORED = StoredTexts([], {})


class PackedPaper:
    """A paper as the search index reads it. The texts (title, authors, abstract) are
    unpacked, a chunk of papers at a time, when first read."""

    __slots__ = ("slug", "date", "topics", "_texts", "_number")

    def __init__(self, slug: str, date: dt.date, topics: list[str], texts: _Texts, number: int) -> None:
        self.slug, self.date, self.topics = slug, date, topics
        self._texts, self._number = texts, number

    @property
    def title(self) -> str:
        return self._texts.row(self._number)[0]

    @property
    def authors(self) -> list[str]:
        return self._texts.row(self._number)[1]

    @property
    def abstract(self) -> str:
        return self._texts.row(self._number)[2]


class _Texts:
    """The texts: packed chunks, the one last unpacked kept (papers are read in order), and
    for papers whose record the build did not change, the paper cache's files they are in
    (`buildstate.StoredTexts`), the one last read kept."""

    def __init__(self, chunks: list[bytes | None], rows: array.array, slugs: list[str], stored: StoredTexts) -> None:
        # rows[paper]: its row in the packed chunks, or -1 - the number of its stored file
        self._chunks, self._rows, self._slugs, self._stored = chunks, rows, slugs, stored
        self._packed = [paper for paper, row in enumerate(rows) if row >= 0]  # papers with a row, in order
        self._number = self._folder = -1
        self._chunk: list[Texts] = []
        self._folder_texts: dict[str, Texts] = {}

    def row(self, paper: int) -> Texts:
        row = self._rows[paper]
        if row < 0:
            if -1 - row != self._folder:
                self._folder = -1 - row
                self._folder_texts = self._stored.texts(self._folder)
            return self._folder_texts[self._slugs[paper]]
        chunk = row // TEXT_CHUNK
        if chunk != self._number:
            packed = self._chunks[chunk]
            if packed is None:
                raise RuntimeError(f"the texts of paper {paper} were read after they were let go")
            self._chunk, self._number = marshal.loads(packed), chunk
        return self._chunk[row % TEXT_CHUNK]

    def release(self, below: int) -> None:
        """Let go of the texts of the papers numbered below `below`: none will be read again."""
        rows = bisect.bisect_left(self._packed, below)  # the packed rows of those papers
        for chunk in range(len(self._chunks) if rows >= len(self._packed) else rows // TEXT_CHUNK):
            self._chunks[chunk] = None
            if chunk == self._number:
                self._number, self._chunk = -1, []
        if below >= len(self._rows):
            self._folder, self._folder_texts = -1, {}


def texts_kept(below: int) -> None:
    """What lets texts go, for papers that hold their own: there is nothing to let go."""


class PackedPapers:
    """Papers (in a given order) and their digests, packed in this process to be unpacked in
    another (`unpack`). With `pack=False` they are only held, for a search index made in
    this very process, where packing would be time and memory for nothing."""

    def __init__(self, papers: Sequence[Paper], digests: Mapping[str, bytes], *, pack: bool = True,
                 stored: StoredTexts = NOTHING_STORED) -> None:
        """`stored`: papers whose texts the other process is to read from the paper cache, not
        from what is packed here."""
        self._papers: Sequence[Paper] | None = None if pack else papers
        self._digests = digests
        self._index = self._texts = None
        self._stored = StoredTexts(stored.folders, {})  # the other process finds a paper's file by its row
        if pack:
            # Column by column: a list of 100,000 tuples took half as long again to pack.
            slugs = [paper.slug for paper in papers]
            # Each paper's row among those packed, or -1 - the number of its stored file.
            rows, packed = array.array("i"), []
            for paper, slug in zip(papers, slugs):
                folder = stored.folder_of.get(slug)
                if folder is None:
                    rows.append(len(packed))
                    packed.append(paper)
                else:
                    rows.append(-1 - folder)
            # Marshalled, as the build state is: the columns and texts are only strings, bytes
            # and lists of them. 100,000 papers' texts took 0.148 s to pack and 0.064 s to
            # unpack, against pickle's 0.220 s and 0.149 s (/tmp/pr/pk.py); their columns pack
            # in 0.05 s in format 2 (`dumps_unshared`; 0.09 s in format 4 and pickle).
            self._index = dumps_unshared((slugs, array.array("i", [paper.date.toordinal() for paper in papers]).tobytes(),
                                          [paper.topics for paper in papers], list(map(digests.__getitem__, slugs)),
                                          rows.tobytes()))
            self._texts = [marshal.dumps([(paper.title, paper.authors, paper.abstract)
                                          for paper in packed[start:start + TEXT_CHUNK]])
                           for start in range(0, len(packed), TEXT_CHUNK)]
            self._digests = {}

    def unpack(self) -> tuple[Sequence[Paper | PackedPaper], Mapping[str, bytes], Callable[[int], None]]:
        """The papers, their digests by slug, and what lets their texts go as they are read
        (`_Texts.release`). Once: the packed bytes go with it."""
        if self._papers is not None:
            return self._papers, self._digests, texts_kept
        slugs, ordinals, topics, digests, rows = marshal.loads(self._index)
        ordinals, rows = array.array("i", ordinals), array.array("i", rows)
        texts = _Texts(self._texts, rows, slugs, self._stored)
        self._index = self._texts = None
        date = functools.lru_cache(maxsize=None)(dt.date.fromordinal)  # a day's papers share one
        papers = [PackedPaper(slug, date(ordinal), paper_topics, texts, number)
                  for number, (slug, ordinal, paper_topics) in enumerate(zip(slugs, ordinals, topics))]
        return papers, dict(zip(slugs, digests)), texts.release
