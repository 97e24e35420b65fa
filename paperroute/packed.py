"""Papers packed into a few bytes objects, to be sent to the search index's process.

That process is forked at the start of a build, while the build is small
(`parallel.Background`), so the papers have to be sent to it. Forked after they were read,
it shared them with the build, but it kept every page that either process wrote afterwards,
and CPython writes to every object it reads (its reference count): 600 MB at 100,000 papers,
the largest part of a build's peak memory. Packed (0.3-0.4 s at 100,000 papers, in the
build), the papers cross as about 110 MB of bytes; the process unpacks slugs, dates and
topics into objects of its own, and the texts a chunk at a time as it reads them, letting
each chunk go once it is counted.
"""

from __future__ import annotations

import array
import datetime as dt
import functools
import marshal
import pickle
from collections.abc import Callable, Mapping, Sequence

from paperroute.model import Paper

# Papers per packed chunk of texts: unpacked one chunk at a time, about 2 MB each.
TEXT_CHUNK = 2048


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
    """The packed chunks of texts, the one last unpacked kept: papers are read in order."""

    def __init__(self, chunks: list[bytes | None], count: int) -> None:
        self._chunks, self._count = chunks, count
        self._number = -1
        self._rows: list[tuple[str, list[str], str]] = []

    def row(self, paper: int) -> tuple[str, list[str], str]:
        chunk = paper // TEXT_CHUNK
        if chunk != self._number:
            packed = self._chunks[chunk]
            if packed is None:
                raise RuntimeError(f"the texts of paper {paper} were read after they were let go")
            self._rows, self._number = marshal.loads(packed), chunk
        return self._rows[paper % TEXT_CHUNK]

    def release(self, below: int) -> None:
        """Let go of the texts of the papers numbered below `below`: none will be read again."""
        for chunk in range(len(self._chunks) if below >= self._count else below // TEXT_CHUNK):
            self._chunks[chunk] = None
            if chunk == self._number:
                self._number, self._rows = -1, []


def texts_kept(below: int) -> None:
    """What lets texts go, for papers that hold their own: there is nothing to let go."""


class PackedPapers:
    """Papers (in a given order) and their digests, packed in this process to be unpacked in
    another (`unpack`). With `pack=False` they are only held, for a search index made in
    this very process, where packing would be time and memory for nothing."""

    def __init__(self, papers: Sequence[Paper], digests: Mapping[str, bytes], *, pack: bool = True) -> None:
        self._papers: Sequence[Paper] | None = None if pack else papers
        self._digests = digests
        self._index = self._texts = None
        if pack:
            # Column by column: a list of 100,000 tuples took half as long again to pack.
            slugs = [paper.slug for paper in papers]
            self._index = pickle.dumps((slugs, array.array("i", [paper.date.toordinal() for paper in papers]),
                                        [paper.topics for paper in papers], list(map(digests.__getitem__, slugs))),
                                       pickle.HIGHEST_PROTOCOL)
            # Marshalled, as the build state is: texts are only strings and lists of them, and
            # 100,000 papers' took 0.148 s to pack and 0.064 s to unpack, against pickle's
            # 0.220 s and 0.149 s (/tmp/pr/pk.py).
            self._texts = [marshal.dumps([(paper.title, paper.authors, paper.abstract)
                                          for paper in papers[start:start + TEXT_CHUNK]])
                           for start in range(0, len(papers), TEXT_CHUNK)]
            self._digests = {}

    def unpack(self) -> tuple[Sequence[Paper | PackedPaper], Mapping[str, bytes], Callable[[int], None]]:
        """The papers, their digests by slug, and what lets their texts go as they are read
        (`_Texts.release`). Once: the packed bytes go with it."""
        if self._papers is not None:
            return self._papers, self._digests, texts_kept
        slugs, ordinals, topics, digests = pickle.loads(self._index)
        texts = _Texts(self._texts, len(slugs))
        self._index = self._texts = None
        date = functools.lru_cache(maxsize=None)(dt.date.fromordinal)  # a day's papers share one
        papers = [PackedPaper(slug, date(ordinal), paper_topics, texts, number)
                  for number, (slug, ordinal, paper_topics) in enumerate(zip(slugs, ordinals, topics))]
        return papers, dict(zip(slugs, digests)), texts.release
