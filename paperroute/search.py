"""The search index: JSON files under search/ that a browser queries a few kilobytes at a time.

One index of 100,000 papers is tens of megabytes; a reader must never download it. So the
index is cut along the lines a query follows, and `templates/assets/search.js` fetches only
the pieces its query touches:

    search/meta.json          what every query needs first: paper count, tokenizer stop words,
                              the first term of every shard, topics, the date span, link pattern
    search/t/<n>.json         one shard of the dictionary: a run of consecutive terms (cut by
                              size, so every shard is about SHARD_BYTES), each with its document
                              frequency and its best-scoring postings (the "head")
    search/p/<term>-<k>.json  segment k of a common term's remaining postings, best first;
                              segment sizes grow fourfold, so a query stops early most of the time
    search/d/<n>.json         display data of DOC_BLOCK papers: slug, title, date, topics, authors
    search/topic/<n>.json     every paper id of topic n (only fetched when that filter is on)
    search/dates.json         papers per listing day (only fetched when a date filter is on)

Ranking is BM25F: the title counts TITLE_WEIGHT times and authors AUTHORS_WEIGHT times a word
of the abstract, each field length-normalised on its own. What depends on the paper and the
term is precomputed here, quantised to an integer "impact" (the saturated, length-normalised
term frequency); the client multiplies it by the term's idf, which it computes from the
document frequency in the shard. Postings are stored impact-first, so the best papers for a
term come first and a query can prove its top results correct (the threshold algorithm)
without reading a common term's whole list.

Paper ids count from the oldest paper, so a new day adds ids instead of renumbering every
posting, and a date range is an id range. Ties rank the newer paper first.

The tokenizer, written twice (here and in search.js) and compared by tests, is:
NFKD-decompose, lower-case, drop combining marks, split on anything that is not a Unicode
letter or digit, drop words shorter than two characters and STOP_WORDS, then fold plurals
(`stem`). While a reader types, the last word also matches every term it begins, once it
has PREFIX_MIN characters and as long as those terms fit in PREFIX_SHARDS shards.

Encoding: numbers are base-32 varints written with a 64-character alphabet (low five bits
first; a character from the upper half of the alphabet means "more digits follow"), which
is JSON-safe, needs no escaping and is decoded with a table lookup. A postings list is a run
of groups, best impact first: impact (absolute in a list's first group, then the drop from
the previous group), count, the first paper id, then gaps to the next ids.
"""

from __future__ import annotations

import array
import datetime as dt
import hashlib
import json
import marshal
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Container, Iterator, Mapping, Sequence

import numpy as np

from paperroute.arrayfile import read_parts, write_parts
from paperroute.corpus import OTHER, Corpus
from paperroute.model import Paper, Topic
from paperroute.output import SiteWriter
from paperroute.packed import PackedPaper, texts_kept
from paperroute.parallel import release_freed_memory
from paperroute.text import clean_line
from paperroute.urls import paper_path, relative, search_path

FORMAT_VERSION = 1

# BM25F. k1 saturates repeated words; b is how much a long field is discounted.
K1 = 1.2
TITLE_WEIGHT, TITLE_B = 5.0, 0.5
AUTHORS_WEIGHT, AUTHORS_B = 3.0, 0.0
ABSTRACT_WEIGHT, ABSTRACT_B = 1.0, 0.75
# Impacts are integers 1..IMPACT_LEVELS: two varint characters, precise to 0.1%.
IMPACT_LEVELS = 1023

# Postings kept inline in the shard; the rest follow in segments growing by SEGMENT_GROWTH.
HEAD_POSTINGS = 128
SEGMENT_GROWTH = 4
# Target size of one dictionary shard, in bytes of JSON.
SHARD_BYTES = 12_000
# Papers per display block: a result costs one block, so small blocks mean few wasted bytes.
DOC_BLOCK = 8
# Authors shown on a result; the rest are counted.
AUTHORS_SHOWN = 4
# The last word of a query matches terms it begins once it has this many characters, and
# while those terms fit in this many shards (a short prefix like "con" may begin thousands).
PREFIX_MIN = 3
PREFIX_SHARDS = 2

# Words too common to mean anything in a paper's title or abstract. search.js reads this
# list from meta.json, so the two tokenizers cannot drift apart.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how however i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through thus to too under until up upon very via was we were what when
where which while who whom why will with within without would you your yours yourself
""".split())

# A posting key keeps the paper id in its low bits.
_DOC_BITS = 32
_DOC_MASK = (1 << _DOC_BITS) - 1

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"

_WORD = re.compile(r"[^\W_]+")
_SAFE_FILE_TERM = re.compile(r"^[a-z0-9]{1,64}$")
# What JSON and a browser's text nodes carry badly: control characters and lone surrogates.
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


# ---------------------------------------------------------------- the tokenizer


def normalise(text: str) -> str:
    """Fold case and accents the way search.js does: NFKD, lower-case, combining marks out."""
    folded = unicodedata.normalize("NFKD", text).lower()
    if folded.isascii():
        return folded
    return "".join(ch for ch in folded if not unicodedata.category(ch).startswith("M"))


def stem(word: str) -> str:
    """Fold plurals: "models" and "model" are one term; "studies" is "study".

    Deliberately tiny (an S-stemmer) so the JavaScript copy is obviously the same; words in
    -ss, -us and -is ("loss", "corpus", "analysis") are not plurals and are left alone.
    """
    if len(word) < 4 or word[-1] != "s":
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def words(text: str) -> list[str]:
    """The words of `text` (normalised, before stop words and stemming)."""
    return _WORD.findall(normalise(text))


def is_indexed(word: str) -> bool:
    return len(word) >= 2 and word not in STOP_WORDS


def terms(text: str) -> list[str]:
    """The index terms of `text`, in order, repeats kept: what a field contributes."""
    return [stem(word) for word in words(text) if is_indexed(word)]


# ---------------------------------------------------------------- encoding


def _varint(number: int) -> str:
    if number < 32:
        return ALPHABET[number]
    digits = []
    while number >= 32:
        digits.append(ALPHABET[32 + (number & 31)])
        number >>= 5
    digits.append(ALPHABET[number])
    return "".join(digits)


# Every number below 32**3 as its varint, so encoding is one list lookup per number: digits
# lowest first, each but the last from the upper half of the alphabet. Made from the digits
# (3 ms) rather than by `_varint` for each number (14 ms of every command that imports this).
_LAST, _MORE = ALPHABET[:32], ALPHABET[32:]
_VARINT = [*_LAST,
           *(low + high for high in _LAST[1:] for low in _MORE),
           *(low + middle + high for high in _LAST[1:] for middle in _MORE for low in _MORE)]


def varint(number: int) -> str:
    return _VARINT[number] if number < 32 ** 3 else _varint(number)


def decode_varints(text: str) -> list[int]:
    """The inverse of a run of `varint`s; the tests use it to read the index back."""
    numbers: list[int] = []
    value = shift = 0
    for char in text:
        digit = ALPHABET.index(char)
        if digit >= 32:
            value |= (digit - 32) << shift
            shift += 5
        else:
            numbers.append(value | (digit << shift))
            value = shift = 0
    return numbers


def encode_ids(ids: Sequence[int]) -> str:
    """Descending ids (newest first) as the first id, then the drop to each next one."""
    if not ids:
        return ""
    drops = [ids[0], *(earlier - later for earlier, later in zip(ids, ids[1:]))]
    return "".join([_VARINT[drop] if drop < 32 ** 3 else _varint(drop) for drop in drops])


def decode_ids(numbers: Sequence[int]) -> list[int]:
    ids: list[int] = []
    for position, number in enumerate(numbers):
        ids.append(number if position == 0 else ids[-1] - number)
    return ids


def posting_key(impact: int, doc: int) -> int:
    """One posting as one integer, so sorting keys descending puts the best, then newest, first."""
    return impact << _DOC_BITS | doc


def encode_postings(keys: Sequence[int]) -> str:
    """Postings (`posting_key`s sorted descending) in the group format."""
    return encode_runs(np.array(keys, dtype=np.uint64), [0])[0]


_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)


def encode_runs(keys: np.ndarray, starts: Sequence[int]) -> list[str]:
    """Many postings lists at once: run i is keys[starts[i]:starts[i + 1]] (the last runs to
    the end), each sorted descending; one string per run, as `encode_postings` defines them.

    In numpy over the whole index: one Python call per posting took a fifth of a build's index.
    Each group (a run of equal impacts) is written as impact (absolute first in a run, then
    the drop), count and first id; each later posting of a group as the drop in id.
    """
    total = keys.size
    run_starts = np.asarray(starts, dtype=np.int64)
    impacts = (keys >> np.uint64(_DOC_BITS)).astype(np.int64)
    ids = (keys & np.uint64(_DOC_MASK)).astype(np.int64)
    opens_run = np.zeros(total, dtype=bool)
    opens_run[run_starts[run_starts < total]] = True
    opens_group = opens_run.copy()
    opens_group[1:] |= impacts[1:] != impacts[:-1]
    if total:
        opens_group[0] = True
    heads = np.flatnonzero(opens_group)
    # Where each posting's numbers go: three for a group's first posting, one for the others.
    slots = np.where(opens_group, 3, 1)
    offsets = np.cumsum(slots) - slots
    numbers = np.empty(int(slots.sum()), dtype=np.int64)
    previous = np.maximum(heads - 1, 0)
    numbers[offsets[heads]] = np.where(opens_run[heads], impacts[heads], impacts[previous] - impacts[heads])
    numbers[offsets[heads] + 1] = np.diff(np.append(heads, total))
    numbers[offsets[heads] + 2] = ids[heads]
    rest = np.flatnonzero(~opens_group)
    numbers[offsets[rest]] = ids[rest - 1] - ids[rest]
    # Base-32 varints: low five bits first, the upper half of the alphabet while more follow.
    digits = np.ones(numbers.size, dtype=np.int64)
    power = 32
    while numbers.size and int(numbers.max()) >= power:
        digits += numbers >= power
        power *= 32
    char_offsets = np.cumsum(digits) - digits
    chars = np.empty(int(digits.sum()), dtype=np.uint8)
    for place in range(int(digits.max()) if digits.size else 0):
        here = digits > place
        value = (numbers[here] >> (5 * place)) & 31
        value += 32 * (digits[here] > place + 1)
        chars[char_offsets[here] + place] = _ALPHABET_BYTES[value]
    text = chars.tobytes().decode("ascii")
    row_chars = np.append(char_offsets[offsets] if total else np.zeros(0, dtype=np.int64), len(text))
    bounds = row_chars[np.minimum(run_starts, total)].tolist() + [len(text)]
    return [text[start:end] for start, end in zip(bounds, bounds[1:])]


# Postings encoded per numpy pass: bounds its temporaries (about 60 bytes a posting, so 15 MB).
_ENCODE_BATCH = 1 << 18


def encode_runs_in_batches(keys: np.ndarray, starts: Sequence[int]) -> list[str]:
    """`encode_runs` a batch of whole runs at a time, so 8 million postings do not need half
    a gigabyte of temporaries at once."""
    runs: list[str] = []
    first = 0
    while first < len(starts):
        last = first + 1
        while last < len(starts) and starts[last] - starts[first] < _ENCODE_BATCH:
            last += 1
        end = starts[last] if last < len(starts) else keys.size
        runs += encode_runs(keys[starts[first]:end], [start - starts[first] for start in starts[first:last]])
        first = last
    return runs


def decode_postings(text: str) -> list[tuple[int, int]]:
    """(impact, id) pairs back from the group format, for tests and for reading an index by hand."""
    numbers = decode_varints(text)
    postings: list[tuple[int, int]] = []
    position = 0
    impact = None
    while position < len(numbers):
        impact = numbers[position] if impact is None else impact - numbers[position]
        count = numbers[position + 1]
        postings.extend((impact, doc) for doc in decode_ids(numbers[position + 2:position + 2 + count]))
        position += 2 + count
    return postings


# Compact, UTF-8, keys in a fixed order: two builds of the same content give the same bytes.
# One encoder for all: json.dumps with options makes a new one per call, 300,000 calls a build.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def _json(value: object) -> str:
    return _ENCODER.encode(value) + "\n"


def js_order(term: str) -> bytes:
    """Sort key matching JavaScript's `<` on strings (UTF-16 code units), which the client's
    binary search over shard boundaries relies on."""
    return term.encode("utf-16-be")


# Characters beyond U+FFFF, which UTF-16 writes as two code units that sort below U+E000.
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def _js_order_of(vocabulary: Sequence[str]) -> Callable[[int], object]:
    """The sort key of a term number, in `js_order`: the term itself when no term has a
    character beyond U+FFFF, where code points and UTF-16 code units sort alike (sorting
    146,000 terms that way took 0.04 s, by their UTF-16 0.11 s)."""
    if _ASTRAL.search("".join(vocabulary)) is None:
        return vocabulary.__getitem__
    return lambda number: js_order(vocabulary[number])


def segment_file_stem(term: str) -> str:
    """The file name of a term's segments: the term itself when it is plain ASCII, else a hash."""
    if _SAFE_FILE_TERM.match(term):
        return term
    return "x" + hashlib.sha1(term.encode("utf-8")).hexdigest()[:20]


def display_text(text: str) -> str:
    """A title or name as one clean line that JSON and a DOM text node carry unchanged."""
    return clean_line(_UNSAFE_TEXT.sub("", text))


# ---------------------------------------------------------------- building


def segment_bounds(df: int) -> list[tuple[int, int]]:
    """Where a term's postings (best first) are cut: the head, then fourfold growing segments."""
    bounds = [(0, min(df, HEAD_POSTINGS))]
    size = HEAD_POSTINGS * SEGMENT_GROWTH
    while bounds[-1][1] < df:
        start = bounds[-1][1]
        bounds.append((start, min(df, start + size)))
        size *= SEGMENT_GROWTH
    return bounds


def term_entry(term: str, df: int, runs: Sequence[str], segment_impacts: Sequence[int], stem_name: str) -> list:
    """A term's shard entry: [df, head], then the best impact of each later segment and, for a
    term that cannot be a file name, the name of its segment files (`segment_file_stem`)."""
    entry: list = [df, runs[0]]
    if len(runs) > 1:
        entry.append(list(segment_impacts))
        if stem_name != term:
            entry.append(stem_name)
    return entry


# A pair's counts packed in one integer: title << 48 | authors << 32 | abstract.
_TITLE_SHIFT, _AUTHORS_SHIFT = 48, 32
_SMALL_COUNT_MAX = (1 << 16) - 1
_ABSTRACT_MASK = (1 << 32) - 1
# ASCII text's fast path: letters lower-cased, digits kept, everything else a space. On ASCII
# this is exactly what `normalise` and `_WORD` do, at a tenth of the cost.
_ASCII_FOLD = bytes(ord(chr(code).lower()) if chr(code).isalnum() else 32 for code in range(128)) + b" " * 128


class _Vocabulary:
    """Word → term id (-1 for a word that is not indexed), each distinct word stemmed once."""

    def __init__(self, terms: Sequence[str] = ()) -> None:
        """Start from `terms` (term by id), a cached vocabulary whose ids stay as they were."""
        self.ids: dict[str, int] = {term: number for number, term in enumerate(terms)}
        self._word_ids: dict[str | bytes, int] = {}

    def _learn(self, word: str | bytes) -> None:
        text = word.decode("ascii") if isinstance(word, bytes) else word
        self._word_ids[word] = self.ids.setdefault(stem(text), len(self.ids)) if is_indexed(text) else -1

    def term_ids(self, text: str) -> list[int]:
        """The term id of every word of one field, in order; -1 for a word that is not indexed.

        Written so the per-word work runs in C (bytes.translate, split, map): Python only sees
        words the build has not met before.
        """
        tokens = (text.encode("ascii").translate(_ASCII_FOLD).split() if text.isascii()
                  else _WORD.findall(normalise(text)))
        ids = list(map(self._word_ids.get, tokens))
        if None in ids:
            for word in set(tokens).difference(self._word_ids):
                self._learn(word)
            ids = list(map(self._word_ids.__getitem__, tokens))
        return ids


# What the index reads of a paper (slug, date, topics, title, authors, abstract): a `Paper`,
# or in the search index's own process a `PackedPaper`, which does not touch the parent's.
IndexedPaper = Paper | PackedPaper


def doc_ids(corpus: Corpus) -> list[Paper]:
    """Papers in id order: oldest first, so a new day appends ids and old ids never move."""
    return list(reversed(corpus.papers))


# Papers tokenised per round of counting: bounds the token arrays (about 170 words a paper).
_COUNT_CHUNK = 8192


# A pair's paper id: 31 bits hold any corpus, and 7.8 million pairs are 31 MB less than as int64.
_DOC_ID = np.int32


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values begins, in a sorted array."""
    return np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else np.zeros(0, dtype=np.int64)


def _field_counts(vocabulary: _Vocabulary, papers: Sequence[IndexedPaper], doc_numbers: np.ndarray) -> tuple[PairCounts, np.ndarray]:
    """The (paper, term) pairs of `papers` (ids `doc_numbers`) with counts packed per field,
    and each paper's field lengths (rows in the order of `papers`).

    Python only splits the text; counting is one sort of the chunk's (doc, term, field) keys.
    """
    ids = array.array("i")
    sizes = array.array("I")
    for paper in papers:
        for text in (paper.title, " ".join(paper.authors), paper.abstract):
            field_ids = vocabulary.term_ids(text)
            ids.extend(field_ids)
            sizes.append(len(field_ids))
    term_ids = np.array(ids, dtype=np.int64)
    slots = np.repeat(np.arange(len(sizes), dtype=np.int64), np.array(sizes, dtype=np.int64))  # paper × 3 + field
    indexed = term_ids >= 0
    term_ids, slots = term_ids[indexed], slots[indexed]
    lengths = np.bincount(slots, minlength=3 * len(papers)).reshape(len(papers), 3).astype(np.uint32)
    # A paper's keys come together, so a stable sort (a merge of those runs) orders them in
    # 40% of the time `np.unique`'s quicksort took (90 → 39 ms for 8,192 papers).
    keys = np.sort(((slots // 3) << 34) | (term_ids << 2) | (slots % 3), kind="stable")
    distinct = _run_starts(keys)
    keys, counts = keys[distinct], np.diff(np.r_[distinct, keys.size])
    field = keys & 3
    counts = np.minimum(counts, np.where(field < 2, _SMALL_COUNT_MAX, _ABSTRACT_MASK)).astype(np.uint64)
    packed = counts << np.array([_TITLE_SHIFT, _AUTHORS_SHIFT, 0], dtype=np.uint64)[field]
    pairs = keys >> 2
    starts = _run_starts(pairs)
    if pairs.size:
        packed = np.bitwise_or.reduceat(packed, starts)
    pairs = pairs[starts]
    docs = np.asarray(doc_numbers, dtype=_DOC_ID)
    return PairCounts(docs[pairs >> 32], (pairs & 0xFFFFFFFF).astype(np.uint32), packed), lengths


@dataclass
class PairCounts:
    """Every (paper, term) pair's counts, packed per field: with the papers' field lengths,
    the index's raw material, from which BM25F impacts are computed. 16 bytes a pair."""

    docs: np.ndarray     # the pair's paper id
    terms: np.ndarray    # the pair's term id
    packed: np.ndarray   # title << 48 | authors << 32 | abstract

    @staticmethod
    def join(parts: list["PairCounts"]) -> "PairCounts":
        """The parts as one, emptying them as it goes: a column is joined, then the parts'
        copies of it are dropped, so the parts and the whole are never both in memory (with
        int32 paper ids, the most a 100,000-paper index held at once went from 333 to 227 MB)."""
        if not parts:
            return PairCounts(np.zeros(0, dtype=_DOC_ID), np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint64))
        if len(parts) == 1:  # no copy of 8 million pairs for a build that tokenised nothing
            return parts.pop()
        columns = []
        for name in ("docs", "terms", "packed"):
            columns.append(np.concatenate([getattr(part, name) for part in parts]))
            for part in parts:
                setattr(part, name, columns[-1][:0])
        parts.clear()
        return PairCounts(*columns)


@dataclass
class Postings:
    """Every term's postings as `posting_key`s, best first, and what their impacts came from."""

    vocabulary: list[str]   # term by id
    keys: np.ndarray        # grouped by term id, each term's best first
    bounds: np.ndarray      # where each term's keys start, with the end appended
    lengths: np.ndarray     # each paper's field lengths, rows by paper id
    averages: tuple[float, ...]  # `field_averages(lengths)`


# What reading a cache file that is missing or damaged raises (`arrayfile.read_parts`).
_CACHE_ERRORS = (OSError, EOFError, ValueError, TypeError)


def _write_cache(path: Path, fields: tuple, arrays: Sequence[np.ndarray]) -> None:
    write_parts(path, [marshal.dumps(fields)], arrays)


def _read_cache(path: Path) -> tuple[list, list[np.ndarray]]:
    """A cache file's fields and arrays, the arrays read in place from the mapped file, not
    copied (160 MB at 100k). Raises one of _CACHE_ERRORS for a missing or damaged file."""
    _, (fields,), arrays = read_parts(path, 1)
    return list(marshal.loads(fields)), arrays


class IndexCache:
    """What the last index was made of, so the next one redoes only what changed.

    Two files beside the build state, each written atomically; one that is missing, from
    other code or unreadable is ignored, and the index is built as in a cold build:
    - the pair counts of every paper the last whole index saw, by paper digest: the next
      whole index tokenises only papers it has not seen (tokenising was 14 s of 27 at
      100,000 papers). Term ids are arbitrary (the output is ordered by term), so the
      cached vocabulary is carried over as it is;
    - the last index's postings and encoded terms, by paper id: when the papers only gained
      newer ones (a new day), the next index merges theirs in and encodes again only the
      terms they hold (`extend_postings`); the counts file is then left as it is.
    """

    def __init__(self, paths: tuple[Path, Path], code: bytes, digests: Mapping[str, bytes]) -> None:
        self.counts_path, self.postings_path = paths
        self.code, self.digests = code, digests

    def load_counts(self) -> tuple[list[str], list[bytes], PairCounts, np.ndarray] | None:
        """The vocabulary, the digest of each paper by its old id, its pairs and its lengths."""
        try:
            (code, vocabulary, digests), (docs, terms, packed, lengths) = _read_cache(self.counts_path)
            lengths = lengths.reshape(-1, 3)
        except _CACHE_ERRORS:
            return None
        if code != self.code or not (docs.size == terms.size == packed.size and len(lengths) == len(digests)
                                     and (terms.size == 0 or int(terms.max()) < len(vocabulary))):
            return None
        return vocabulary, digests, PairCounts(docs, terms, packed), lengths

    def save_counts(self, vocabulary: list[str], papers: Sequence[IndexedPaper], counts: PairCounts, lengths: np.ndarray) -> None:
        _write_cache(self.counts_path, (self.code, vocabulary, [self.digests[paper.slug] for paper in papers]),
                     (counts.docs, counts.terms, counts.packed, lengths))

    def load_postings(self) -> tuple[Postings, list[bytes], list[tuple[str, ...] | None]] | None:
        """The last index's postings, the digest of each of its papers by id, and its encoded
        terms (`encode_terms`)."""
        try:
            (code, vocabulary, digests, averages, encoded), (keys, bounds, lengths) = _read_cache(self.postings_path)
            lengths = lengths.reshape(-1, 3)
        except _CACHE_ERRORS:
            return None
        if code != self.code or not (len(bounds) == len(vocabulary) + 1 == len(encoded) + 1
                                     and int(bounds[-1]) == keys.size and len(lengths) == len(digests)):
            return None
        return Postings(vocabulary, keys, bounds, lengths, tuple(averages)), digests, encoded

    def save_postings(self, postings: Postings, papers: Sequence[IndexedPaper], encoded: list[tuple[str, ...] | None]) -> None:
        _write_cache(self.postings_path, (self.code, postings.vocabulary, [self.digests[paper.slug] for paper in papers],
                                          list(postings.averages), encoded),
                     (postings.keys, postings.bounds, postings.lengths))


def _count_papers(vocabulary: _Vocabulary, papers: Sequence[IndexedPaper], todo: Sequence[int],
                  lengths: np.ndarray, texts_done: Callable[[int], None] = texts_kept) -> list[PairCounts]:
    """Tokenise the papers numbered `todo` (their ids, ascending), a chunk at a time to bound
    the token arrays; their field lengths go into `lengths`. After each chunk, `texts_done`
    is told the ids below which no paper is left to read."""
    parts = []
    for start in range(0, len(todo), _COUNT_CHUNK):
        chunk = todo[start:start + _COUNT_CHUNK]
        counts, chunk_lengths = _field_counts(vocabulary, [papers[doc] for doc in chunk], np.array(chunk, dtype=np.int64))
        parts.append(counts)
        lengths[chunk] = chunk_lengths
        texts_done(chunk[-1] + 1)
        release_freed_memory()  # the chunk's token arrays, and its texts when let go
    return parts


def pair_counts(papers: Sequence[IndexedPaper], cache: IndexCache | None = None,
                texts_done: Callable[[int], None] = texts_kept) -> tuple[list[str], PairCounts, np.ndarray]:
    """The vocabulary (term by id), the pair counts of `papers` (ids in list order) and each
    paper's field lengths (rows by id). `texts_done(n)` is called as soon as no text of a
    paper numbered below n will be read again: the packed texts of 100,000 papers (100 MB)
    go as the parts of the counts come, instead of both being held at the end.

    Papers the cache holds (by digest) are taken from it, whatever their id was then; only
    the others are tokenised.
    """
    vocabulary = _Vocabulary()
    parts: list[PairCounts] = []
    lengths = np.zeros((len(papers), 3), dtype=np.uint32)
    todo = list(range(len(papers)))
    if cache is not None and (cached := cache.load_counts()) is not None:
        terms, digests, old, old_lengths = cached
        vocabulary = _Vocabulary(terms)
        old_doc = {digest: number for number, digest in enumerate(digests)}
        new_id = np.full(len(digests), -1, dtype=np.int64)
        todo = []
        for doc, paper in enumerate(papers):
            number = old_doc.get(cache.digests[paper.slug], -1)
            if number < 0:
                todo.append(doc)
            else:
                new_id[number] = doc
        kept = new_id[old.docs] >= 0
        parts.append(PairCounts(new_id[old.docs[kept]].astype(_DOC_ID), old.terms[kept], old.packed[kept]))
        lengths[new_id[new_id >= 0]] = old_lengths[new_id >= 0]
        del cached, terms, old, old_lengths  # the cache file's bytes (160 MB at 100k) go now
    parts += _count_papers(vocabulary, papers, todo, lengths, texts_done)
    texts_done(len(papers))
    counts = PairCounts.join(parts)
    release_freed_memory()  # the chunks' arrays, now joined
    terms_by_id = list(vocabulary.ids)
    if cache is not None:
        cache.save_counts(terms_by_id, papers, counts, lengths)
    return terms_by_id, counts, lengths


def field_averages(lengths: np.ndarray) -> tuple[float, ...]:
    """Each field's average length, rounded to whole terms: so a new day seldom moves them,
    and with them every impact (`extend_postings` relies on it)."""
    return tuple(max(1.0, float(round(int(column.sum()) / len(column)))) if len(column) else 1.0
                 for column in lengths.T)


# Pairs whose impacts are computed per numpy pass: bounds the float temporaries.
_IMPACT_BATCH = 1 << 20


def impact_keys(counts: PairCounts, lengths: np.ndarray, averages: Sequence[float]) -> np.ndarray:
    """Each pair's `posting_key`: BM25F's term-frequency part, quantised, with the paper id.

    Length normalisation needs every field's average length, so impacts are computed once
    all pairs are counted; in numpy, with the float64 arithmetic of the formula in its order.
    """
    fields = ((TITLE_WEIGHT, TITLE_B), (AUTHORS_WEIGHT, AUTHORS_B), (ABSTRACT_WEIGHT, ABSTRACT_B))
    # weight / (1 - b + b * length / average): what one occurrence in that field is worth.
    title_factor, authors_factor, abstract_factor = (
        weight / (1 - b + b * column.astype(np.float64) / average)
        for (weight, b), column, average in zip(fields, lengths.T, averages))
    keys = np.empty(counts.docs.size, dtype=np.uint64)
    for start in range(0, keys.size, _IMPACT_BATCH):
        docs, packed = counts.docs[start:start + _IMPACT_BATCH], counts.packed[start:start + _IMPACT_BATCH]
        tf = (packed >> np.uint64(_TITLE_SHIFT)).astype(np.float64) * title_factor[docs]
        tf += ((packed >> np.uint64(_AUTHORS_SHIFT)) & np.uint64(_SMALL_COUNT_MAX)).astype(np.float64) * authors_factor[docs]
        tf += (packed & np.uint64(_ABSTRACT_MASK)).astype(np.float64) * abstract_factor[docs]
        scaled = tf * (K1 + 1)
        tf += K1
        scaled /= tf
        scaled *= IMPACT_LEVELS / (K1 + 1)
        keys[start:start + _IMPACT_BATCH] = (np.maximum(1, np.rint(scaled)).astype(np.uint64) << np.uint64(_DOC_BITS)
                                             | docs.astype(np.uint64))
    return keys


# A posting in term order: the term id above the posting key's bits (impact, then paper id),
# inverted, so that ascending integers run by term, then best first.
_POSTING_BITS = _DOC_BITS + IMPACT_LEVELS.bit_length()
_LAST_POSTING = np.uint64((1 << _POSTING_BITS) - 1)
_MAX_TERMS = 1 << (64 - _POSTING_BITS)


def term_ordered(terms: np.ndarray, keys: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """Postings (term ids and `posting_key`s) as integers whose ascending order is the index's:
    term << _POSTING_BITS | (_LAST_POSTING - key), made in one array (the bits do not overlap,
    so the | is a +), `terms` itself if `in_place` (then uint64)."""
    ordered = terms if in_place else terms.astype(np.uint64)
    ordered <<= np.uint64(_POSTING_BITS)
    ordered += _LAST_POSTING
    ordered -= keys
    return ordered


def postings_by_term(papers: Sequence[IndexedPaper], cache: IndexCache | None = None,
                     texts_done: Callable[[int], None] = texts_kept) -> Postings:
    """Every term's postings, computed from every pair's counts (`pair_counts`); a term the
    counts cache remembers from a paper that is gone has none. For `texts_done`, see
    `pair_counts`."""
    vocabulary, counts, lengths = pair_counts(papers, cache, texts_done)
    averages = field_averages(lengths)
    keys = impact_keys(counts, lengths, averages)
    terms = counts.terms
    del counts  # the pairs' paper ids and counts (128 MB at 100k) go before the sort
    # Every term's keys, best first: by term, then by key descending.
    if len(vocabulary) <= _MAX_TERMS:
        # As one integer each (`term_ordered`), sorted in place: a lexsort of 7.8 million took
        # 4.1 s and an index array, this 0.9 s. Made and taken apart in place: the arrays
        # around the sort of 100,000 papers' postings went from about 220 MB to 155 MB.
        ordered = term_ordered(terms, keys)
        del terms, keys
        ordered.sort()
        bounds = np.searchsorted(ordered, np.arange(len(vocabulary) + 1, dtype=np.uint64) << np.uint64(_POSTING_BITS))
        np.bitwise_and(ordered, _LAST_POSTING, out=ordered)
        keys = np.subtract(_LAST_POSTING, ordered, out=ordered)
    else:
        order = np.lexsort((~keys, terms))
        keys, terms = keys[order], terms[order]
        bounds = np.searchsorted(terms, np.arange(len(vocabulary) + 1))
        del order, terms
    return Postings(vocabulary, keys, bounds, lengths, averages)


def merge_postings(keys: np.ndarray, bounds: np.ndarray, new_terms: np.ndarray, new_keys: np.ndarray,
                   term_count: int) -> tuple[np.ndarray, np.ndarray]:
    """`keys` (grouped by term, `bounds`) with new postings merged in, each at its place in its
    term's order (`term_ordered`), and the new bounds over `term_count` terms."""
    sizes = np.zeros(term_count, dtype=np.int64)
    sizes[:len(bounds) - 1] = np.diff(bounds)
    new_bounds = np.zeros(term_count + 1, dtype=np.int64)
    np.cumsum(sizes + np.bincount(new_terms, minlength=term_count), out=new_bounds[1:])
    if not new_keys.size:
        return keys, new_bounds
    new = term_ordered(new_terms, new_keys)
    order = np.argsort(new)
    old = term_ordered(np.repeat(np.arange(term_count, dtype=np.uint64), sizes), keys, in_place=True)
    places = np.searchsorted(old, new[order])
    del old
    return np.insert(keys, places, new_keys[order]), new_bounds


def extend_postings(previous: Postings, previous_digests: Sequence[bytes], papers: Sequence[IndexedPaper],
                    digests: Mapping[str, bytes], texts_done: Callable[[int], None] = texts_kept,
                    ) -> tuple[Postings, np.ndarray] | None:
    """The postings of `papers` from the last index's, and the terms whose postings moved;
    None unless `papers` are the last index's papers (same digests, same ids) followed by
    new ones, and the fields' average lengths stayed.

    A new day is that: ids count from the oldest paper, and an old pair's impact depends
    only on its counts, its paper's lengths and the averages. So every old posting stands,
    and only the new papers are tokenised: at 100,000 papers, where computing every
    posting again took 4-5 s of a new day's build.
    """
    old = len(previous_digests)
    if old > len(papers) or [digests[paper.slug] for paper in papers[:old]] != previous_digests:
        return None
    vocabulary = _Vocabulary(previous.vocabulary)
    lengths = np.zeros((len(papers), 3), dtype=np.uint32)
    lengths[:old] = previous.lengths
    counts = PairCounts.join(_count_papers(vocabulary, papers, range(old, len(papers)), lengths))
    averages = field_averages(lengths)
    if averages != previous.averages or len(vocabulary.ids) > _MAX_TERMS:
        return None
    texts_done(len(papers))  # no text is read again: let them go before the merge (100 MB at 100,000 papers)
    keys, bounds = merge_postings(previous.keys, previous.bounds, counts.terms,
                                  impact_keys(counts, lengths, averages), len(vocabulary.ids))
    # The terms the new papers hold, marked rather than `np.unique`d: its first call imports numpy.ma.
    held = np.zeros(len(vocabulary.ids), dtype=bool)
    held[counts.terms] = True
    return Postings(list(vocabulary.ids), keys, bounds, lengths, averages), np.flatnonzero(held)


def index_postings(papers: Sequence[IndexedPaper], cache: IndexCache | None,
                   texts_done: Callable[[int], None] = texts_kept) -> tuple[Postings, list[tuple[str, ...] | None]]:
    """The postings of `papers`, and the encoded terms of the last index that are still right
    (by term id, None for the rest): merged into the last index's when only newer papers
    came (`extend_postings`), else computed whole (`postings_by_term`). For `texts_done`,
    see `pair_counts`."""
    if cache is not None and (last := cache.load_postings()) is not None:
        previous, digests, encoded = last
        if (extended := extend_postings(previous, digests, papers, cache.digests, texts_done)) is not None:
            postings, touched = extended
            encoded += [None] * (len(postings.vocabulary) - len(encoded))  # the new papers' new terms
            for term in touched.tolist():
                encoded[term] = None
            return postings, encoded
    return postings_by_term(papers, cache, texts_done), []


def encode_terms(postings: Postings, encoded: Sequence[tuple[str, ...] | None]) -> list[tuple[str, ...] | None]:
    """Every term's member of its shard (`"term":entry`, JSON) and the text of each of its
    segments, None for a term without postings. A term `encoded` holds is taken as it is;
    the others are encoded."""
    vocabulary, keys, bounds = postings.vocabulary, postings.keys, postings.bounds
    result = list(encoded) + [None] * (len(vocabulary) - len(encoded))
    held = np.flatnonzero(np.diff(bounds)).tolist()
    todo = [number for number in held if result[number] is None]
    # Every run of those terms, in key order: a term's head, then its segments.
    run_starts: list[int] = []
    first_run: list[int] = []
    size = 0
    for number in todo:
        first_run.append(len(run_starts))
        df = int(bounds[number + 1] - bounds[number])
        run_starts.extend(size + cut for cut, _ in segment_bounds(df))
        size += df
    first_run.append(len(run_starts))
    own_keys = keys if len(todo) == len(held) else np.concatenate(
        [keys[bounds[number]:bounds[number + 1]] for number in todo] or [keys[:0]])
    runs = encode_runs_in_batches(own_keys, run_starts)
    # Each run's best impact (a segment's is in its term's entry).
    run_impacts = (own_keys[np.minimum(run_starts, own_keys.size - 1)] >> np.uint64(_DOC_BITS)).tolist() if own_keys.size else []
    for position, number in enumerate(todo):
        term, own = vocabulary[number], range(first_run[position], first_run[position + 1])
        stem_name = segment_file_stem(term) if len(own) > 1 else term  # only a term with segments has files
        entry = term_entry(term, int(bounds[number + 1] - bounds[number]), [runs[run] for run in own],
                           [run_impacts[run] for run in own[1:]], stem_name)
        result[number] = (f"{_json(term).rstrip()}:{_json(entry).rstrip()}", *(runs[run] for run in own[1:]))
    return result


def shard_terms(members: Sequence[tuple[str, str]], target: int = SHARD_BYTES) -> list[list[tuple[str, str]]]:
    """Cut (term, shard member) pairs, in order, into runs of about `target` bytes of JSON."""
    shards: list[list[tuple[str, str]]] = [[]]
    size = 0
    for term, member in members:
        cost = (len(member) if member.isascii() else len(member.encode("utf-8"))) + 1
        if shards[-1] and size + cost > target:
            shards.append([])
            size = 0
        shards[-1].append((term, member))
        size += cost
    return shards


def topics_of(paper: IndexedPaper) -> list[str]:
    """A paper's topic slugs as its pages list it: no topic means `other`."""
    return paper.topics or [OTHER.slug]


def shard_keys(shards: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
    """The key of each shard: the shortest prefix of its first term that sorts after the last
    term of the shard before. A term lives in the last shard whose key is not above it."""
    keys = [""]
    for previous, shard in zip(shards, shards[1:]):
        last, first = previous[-1][0], shard[0][0]
        length = 1
        while js_order(first[:length]) <= js_order(last):
            length += 1
        keys.append(first[:length])
    return keys


def doc_record(paper: IndexedPaper, topic_index: dict[str, int]) -> list:
    """What a result shows: [slug, title, date, topic numbers, first authors, how many more]."""
    authors = [display_text(name) for name in paper.authors]
    return [
        paper.slug,
        display_text(paper.title),
        paper.date.isoformat(),
        [topic_index[slug] for slug in topics_of(paper) if slug in topic_index],
        authors[:AUTHORS_SHOWN],
        max(0, len(authors) - AUTHORS_SHOWN),
    ]


def dates_table(papers: Sequence[IndexedPaper]) -> str:
    """Papers per listing day, oldest first, as (days since the previous listed day, count) pairs."""
    parts = []
    previous: dt.date | None = None
    index = 0
    while index < len(papers):
        date = papers[index].date
        end = index
        while end < len(papers) and papers[end].date == date:
            end += 1
        parts.append(varint(0 if previous is None else (date - previous).days))
        parts.append(varint(end - index))
        previous = date
        index = end
    return "".join(parts)


def doc_blocks(papers: Sequence[IndexedPaper]) -> Iterator[tuple[str, Sequence[IndexedPaper]]]:
    """Each display block's path under search/ and its papers (given oldest first).

    A block's file depends on nothing but its papers, the topics and the code: ids count
    from the oldest paper, so a new day leaves every block but the last ones as it was.
    """
    for start in range(0, len(papers), DOC_BLOCK):
        yield f"d/{start // DOC_BLOCK}.json", papers[start:start + DOC_BLOCK]


def search_files(papers: Sequence[IndexedPaper], topics: Sequence[Topic], cache: IndexCache | None = None,
                 skip: Container[str] = frozenset(), texts_done: Callable[[int], None] = texts_kept,
                 ) -> Iterator[tuple[str, str]]:
    """Every file of the index as (path under search/, JSON text), papers given oldest first,
    but the display blocks in `skip` (which the caller knows to be current: `doc_blocks`).
    `texts_done(n)` is called once no paper numbered below n will have its title, authors
    or abstract read again (`packed.PackedPapers` lets them go).

    A pure function of its input: the same papers give the same files, byte for byte, with
    or without a cache.
    """
    topic_index = {topic.slug: number for number, topic in enumerate(topics)}
    blocks = [(path, _json([doc_record(paper, topic_index) for paper in block]))
              for path, block in doc_blocks(papers) if path not in skip]
    postings, encoded = index_postings(papers, cache, texts_done)
    encoded = encode_terms(postings, encoded)
    if cache is not None:
        cache.save_postings(postings, papers, encoded)
    vocabulary = postings.vocabulary
    del postings
    held = [number for number, member in enumerate(encoded) if member is not None]
    held.sort(key=_js_order_of(vocabulary))
    members: list[tuple[str, str]] = []
    for number in held:
        term, texts = vocabulary[number], encoded[number]
        if len(texts) > 1:  # unpacked (`member, *segments`), each of 146,000 terms cost 0.2 µs more
            stem_name = segment_file_stem(term)
            for segment in range(1, len(texts)):
                yield f"p/{stem_name}-{segment}.json", f'"{texts[segment]}"\n'  # the alphabet needs no escaping
        members.append((term, texts[0]))
    shards = shard_terms(members)
    for number, shard in enumerate(shards):
        yield f"t/{number}.json", "{" + ",".join(member for _, member in shard) + "}\n"

    yield from blocks

    topic_ids: dict[str, list[int]] = {topic.slug: [] for topic in topics}
    for doc in range(len(papers) - 1, -1, -1):
        for slug in dict.fromkeys(topics_of(papers[doc])):  # (hand-written front matter may repeat one)
            topic_ids.get(slug, []).append(doc)
    for number, topic in enumerate(topics):
        yield f"topic/{number}.json", _json(encode_ids(topic_ids[topic.slug]))
    yield "dates.json", _json(dates_table(papers))

    meta = {
        "version": FORMAT_VERSION,
        "docs": len(papers),
        "block": DOC_BLOCK,
        "prefix": PREFIX_MIN,
        "prefix_shards": PREFIX_SHARDS,
        "stopwords": " ".join(sorted(STOP_WORDS)),
        "shards": shard_keys(shards),
        "topics": [[topic.slug, display_text(topic.name)] for topic in topics],
        "first": papers[0].date.isoformat() if papers else None,
        "last": papers[-1].date.isoformat() if papers else None,
        "paper": relative(search_path(), paper_path("{slug}")),
    }
    yield "meta.json", _json(meta)


def write_search_index(papers: Sequence[IndexedPaper], topics: Sequence[Topic], writer: SiteWriter,
                       cache: IndexCache | None = None, current: Collection[str] = frozenset(),
                       texts_done: Callable[[int], None] = texts_kept) -> None:
    """Write search/*.json for `papers` (oldest first: `doc_ids`) through the build's writer;
    display blocks in `current` (paths under search/) are claimed as they are."""
    for path in current:
        writer.keep(f"{search_path()}{path}")
    for path, text in search_files(papers, topics, cache, skip=current, texts_done=texts_done):
        writer.write(f"{search_path()}{path}", text)
