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
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from bisect import bisect_right
from operator import neg
from typing import Iterator, Sequence

from paperroute.config import SiteConfig
from paperroute.corpus import OTHER, Corpus
from paperroute.model import Paper, Topic
from paperroute.output import SiteWriter
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


# Every number below 32**3 as its varint, so encoding is one list lookup per number.
_VARINT = [_varint(n) for n in range(32 ** 3)]


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
    parts: list[str] = []
    previous_impact = None
    start, count = 0, len(keys)
    while start < count:
        impact = keys[start] >> _DOC_BITS
        end = bisect_right(keys, -(impact << _DOC_BITS), start, count, key=neg)
        parts.append(varint(impact if previous_impact is None else previous_impact - impact))
        parts.append(varint(end - start))
        parts.append(encode_ids([key & _DOC_MASK for key in keys[start:end]]))
        previous_impact = impact
        start = end
    return "".join(parts)


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


def _json(value: object) -> str:
    # Compact, UTF-8, keys in a fixed order: two builds of the same content give the same bytes.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"


def js_order(term: str) -> bytes:
    """Sort key matching JavaScript's `<` on strings (UTF-16 code units), which the client's
    binary search over shard boundaries relies on."""
    return term.encode("utf-16-be")


def segment_file_stem(term: str) -> str:
    """The file name of a term's segments: the term itself when it is plain ASCII, else a hash."""
    if _SAFE_FILE_TERM.match(term):
        return term
    return "x" + hashlib.sha1(term.encode("utf-8")).hexdigest()[:20]


def display_text(text: str) -> str:
    """A title or name as one clean line that JSON and a DOM text node carry unchanged."""
    return clean_line(_UNSAFE_TEXT.sub("", text))


# ---------------------------------------------------------------- building


@dataclass(frozen=True)
class IndexedTerm:
    """One term's postings, ready to write: the shard entry and its segment files."""

    term: str
    entry: list  # [df, head] or [df, head, [segment max impacts...]] (+ file stem if hashed)
    segments: list[str]  # encoded postings of segments 1..n


def segment_bounds(df: int) -> list[tuple[int, int]]:
    """Where a term's postings (best first) are cut: the head, then fourfold growing segments."""
    bounds = [(0, min(df, HEAD_POSTINGS))]
    size = HEAD_POSTINGS * SEGMENT_GROWTH
    while bounds[-1][1] < df:
        start = bounds[-1][1]
        bounds.append((start, min(df, start + size)))
        size *= SEGMENT_GROWTH
    return bounds


def index_term(term: str, keys: Sequence[int]) -> IndexedTerm:
    """Sort one term's postings best first (newest first within an impact) and cut them."""
    ordered = sorted(keys, reverse=True)
    cuts = segment_bounds(len(ordered))
    encoded = [encode_postings(ordered[start:end]) for start, end in cuts]
    entry: list = [len(ordered), encoded[0]]
    if len(cuts) > 1:
        entry.append([ordered[start] >> _DOC_BITS for start, _ in cuts[1:]])
        stem_name = segment_file_stem(term)
        if stem_name != term:
            entry.append(stem_name)
    return IndexedTerm(term, entry, encoded[1:])


# A pair's counts packed in one integer: title << 48 | authors << 32 | abstract.
_TITLE_SHIFT, _AUTHORS_SHIFT = 48, 32
_SMALL_COUNT_MAX = (1 << 16) - 1
_ABSTRACT_MASK = (1 << 32) - 1
# ASCII text's fast path: letters lower-cased, digits kept, everything else a space. On ASCII
# this is exactly what `normalise` and `_WORD` do, at a tenth of the cost.
_ASCII_FOLD = bytes(ord(chr(code).lower()) if chr(code).isalnum() else 32 for code in range(128)) + b" " * 128


class _Vocabulary:
    """Word → term id (-1 for a word that is not indexed), each distinct word stemmed once."""

    def __init__(self) -> None:
        self.term_ids: dict[str, int] = {}
        self._word_ids: dict[str | bytes, int] = {}

    def _learn(self, word: str | bytes) -> None:
        text = word.decode("ascii") if isinstance(word, bytes) else word
        self._word_ids[word] = self.term_ids.setdefault(stem(text), len(self.term_ids)) if is_indexed(text) else -1

    def field_counts(self, text: str) -> dict[int, int]:
        """Term id → count in one field.

        Written so the per-word work runs in C (bytes.translate, map, Counter): Python only
        sees words the build has not met before.
        """
        tokens = (text.encode("ascii").translate(_ASCII_FOLD).split() if text.isascii()
                  else _WORD.findall(normalise(text)))
        for word in set(tokens).difference(self._word_ids):
            self._learn(word)
        counts = Counter(map(self._word_ids.__getitem__, tokens))
        counts.pop(-1, None)
        return counts


def doc_ids(corpus: Corpus) -> list[Paper]:
    """Papers in id order: oldest first, so a new day appends ids and old ids never move."""
    return list(reversed(corpus.papers))


def postings_by_term(papers: Sequence[Paper]) -> dict[str, array.array]:
    """term → its postings as `posting_key`s: BM25F's term-frequency part of every pair.

    Two passes, because length normalisation needs every field's average length first.
    Between them the counts live in flat arrays (12 bytes a pair, not a dict per paper),
    which keeps 100,000 papers within a couple of hundred megabytes.
    """
    vocabulary = _Vocabulary()
    lengths = [array.array("I") for _ in range(3)]  # title, authors, abstract
    pair_terms = array.array("I")
    pair_counts = array.array("Q")
    pair_ends = array.array("Q")
    for paper in papers:
        title = vocabulary.field_counts(paper.title)
        authors = vocabulary.field_counts(" ".join(paper.authors))
        counts = vocabulary.field_counts(paper.abstract)
        for field_lengths, field in zip(lengths, (title, authors, counts)):
            field_lengths.append(sum(field.values()))
        for field, shift in ((title, _TITLE_SHIFT), (authors, _AUTHORS_SHIFT)):
            for term_id, count in field.items():
                counts[term_id] = counts.get(term_id, 0) + (min(count, _SMALL_COUNT_MAX) << shift)
        pair_terms.extend(counts)
        pair_counts.extend(counts.values())
        pair_ends.append(len(pair_terms))

    # Averages are rounded to whole terms, so that a new day seldom moves every impact.
    averages = [max(1.0, float(round(sum(column) / len(column)))) if column else 1.0 for column in lengths]
    term_count = len(vocabulary.term_ids)
    key_lists = [array.array("Q") for _ in range(term_count)]
    scale = IMPACT_LEVELS / (K1 + 1)
    fields = ((TITLE_WEIGHT, TITLE_B), (AUTHORS_WEIGHT, AUTHORS_B), (ABSTRACT_WEIGHT, ABSTRACT_B))
    start = 0
    for doc, end in enumerate(pair_ends):
        # weight / (1 - b + b * length / average): what one occurrence in that field is worth.
        title_factor, authors_factor, abstract_factor = (
            weight / (1 - b + b * column[doc] / average) for (weight, b), column, average in zip(fields, lengths, averages))
        packed_counts = pair_counts[start:end]
        impact_of = {}
        for packed in set(packed_counts):
            tf = ((packed >> _TITLE_SHIFT) * title_factor
                  + ((packed >> _AUTHORS_SHIFT) & _SMALL_COUNT_MAX) * authors_factor
                  + (packed & _ABSTRACT_MASK) * abstract_factor)
            impact_of[packed] = posting_key(max(1, round(tf * (K1 + 1) / (tf + K1) * scale)), doc)
        for term_id, packed in zip(pair_terms[start:end], packed_counts):
            key_lists[term_id].append(impact_of[packed])
        start = end
    return {term: key_lists[term_id] for term, term_id in vocabulary.term_ids.items()}


def shard_terms(entries: Sequence[tuple[str, str]], target: int = SHARD_BYTES) -> list[list[tuple[str, str]]]:
    """Cut (term, entry JSON) pairs, in order, into runs of about `target` bytes."""
    shards: list[list[tuple[str, str]]] = [[]]
    size = 0
    for term, entry_json in entries:
        cost = len(term.encode("utf-8")) + len(entry_json.encode("utf-8")) + 4
        if shards[-1] and size + cost > target:
            shards.append([])
            size = 0
        shards[-1].append((term, entry_json))
        size += cost
    return shards


def topics_of(paper: Paper) -> list[str]:
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


def doc_record(paper: Paper, topic_index: dict[str, int]) -> list:
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


def dates_table(papers: Sequence[Paper]) -> str:
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


def search_files(papers: Sequence[Paper], topics: Sequence[Topic]) -> Iterator[tuple[str, str]]:
    """Every file of the index as (path under search/, JSON text), papers given oldest first.

    A pure function of its input: the same papers give the same files, byte for byte.
    """
    topic_index = {topic.slug: number for number, topic in enumerate(topics)}
    postings = postings_by_term(papers)
    shard_entries: list[tuple[str, str]] = []
    for term in sorted(postings, key=js_order):
        indexed = index_term(term, postings.pop(term))
        shard_entries.append((term, _json(indexed.entry).rstrip("\n")))
        stem_name = segment_file_stem(term)
        for number, segment in enumerate(indexed.segments, start=1):
            yield f"p/{stem_name}-{number}.json", _json(segment)
    shards = shard_terms(shard_entries)
    for number, shard in enumerate(shards):
        body = ",".join(f"{_json(term).rstrip()}:{entry}" for term, entry in shard)
        yield f"t/{number}.json", "{" + body + "}\n"

    for start in range(0, len(papers), DOC_BLOCK):
        block = [doc_record(paper, topic_index) for paper in papers[start:start + DOC_BLOCK]]
        yield f"d/{start // DOC_BLOCK}.json", _json(block)

    for number, topic in enumerate(topics):
        ids = [doc for doc in range(len(papers) - 1, -1, -1) if topic.slug in topics_of(papers[doc])]
        yield f"topic/{number}.json", _json(encode_ids(ids))
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


def write_search_index(corpus: Corpus, site: SiteConfig, writer: SiteWriter) -> None:
    """Write search/*.json for every paper of `corpus` through the build's writer.

    `site` is unused today: every link in the index is relative to the search page, so the
    index does not depend on the base URL. It is taken so a build calls every output alike.
    """
    for path, text in search_files(doc_ids(corpus), corpus.topics):
        writer.write(f"{search_path()}{path}", text)
