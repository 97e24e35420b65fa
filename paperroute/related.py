"""Related papers by text similarity, in time that grows with the corpus, not with its square.

Comparing every paper with every other is 5·10⁹ pairs at 100,000 papers. Instead each paper
is reduced to its few most distinctive terms (TF-IDF over title and abstract, the title
counted twice because it is the author's own summary), and an inverted index maps each term
to the papers it best describes, at most `postings_per_term` of them. A paper's candidates
are the papers on its own terms' lists, so the work per paper is bounded by
`terms_per_paper × postings_per_term` whatever the corpus size. Candidates are scored by the
dot product of their normalised term weights (cosine similarity restricted to the kept
terms) and ties go to the slug, so the same content always gives the same lists.

The arithmetic runs in numpy over flat arrays (one row per paper-term), a block of papers at
a time: at 100,000 papers the same loops in Python took minutes. Papers are put in slug
order first and scores rounded before ranking, so neither the input's order nor the order
of floating-point sums can change an answer.

Document frequencies come from a basis, not from the whole corpus: the oldest papers, as many
as the last step of a geometric series the corpus has reached (see `idf_basis_size`). With
the whole corpus, every new day moved every term's weight a little, and at 10,000 papers
that alone reordered the related lists of 660 old papers a day, each a page to rewrite. The
basis stays put for a quarter's growth, so a new day changes only the lists its own papers
enter; the basis is still chosen by the content alone, so a full build and an incremental
one agree.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from collections.abc import Collection, Iterator, Mapping, Sequence

import numpy as np

from paperroute.model import Paper
from paperroute.parallel import cut_ranges, map_ranges

RELATED_COUNT = 5
# Scores are compared rounded to 9 decimals, so that the order of floating-point sums cannot
# change a ranking; as integers they fit in _SCORE_BITS bits below the paper's index.
_SCORE_SCALE = 10 ** 9
_SCORE_BITS = 31
_SCORE_LIMIT = (1 << _SCORE_BITS) - 1
# A term's weight, (1 + ln tf)·ln(n / df), stays under 2^37 / 10^9 for any corpus under 10^7 papers.
_WEIGHT_BITS = 37
_WEIGHT_LIMIT = (1 << _WEIGHT_BITS) - 1
TERMS_PER_PAPER = 12
# Below this many papers, ranking runs in this process: forking costs more than it saves.
PARALLEL_MIN = 8192
POSTINGS_PER_TERM = 32
# Up to this many papers, document frequencies count every paper; past it, the basis grows
# by a quarter at a time.
IDF_BASIS_MIN = 1000

# Hyphenated words are split: "long-context" and "long context" must meet on "context".
_TOKEN = re.compile(r"[a-z][a-z0-9]*")
# Words every abstract uses; IDF would push them down anyway, but dropping them up front
# keeps the counting cheap and stops a short abstract's top terms being filler.
_STOPWORDS = frozenset(
    """
    about above across after again against all also although among and any are around as at be
    because been before being below between both but by can could did do does doing down during
    each either few for from further had has have having here how however if in into is it its
    itself just may might more most much must no nor not now of off on once only or other our out
    over own per same several should since so some such than that the their them then there these
    they this those through thus to too under until up upon very via was we were what when where
    whether which while who whom why will with within without would yet you your
    paper propose proposed proposes present presents show shows shown demonstrate demonstrates
    method methods approach approaches result results new novel use used using based existing
    work works study studies significantly significant achieve achieves achieving state-of-the-art
    further introduce introduces experiments experimental extensive across well compared
    """.split()
)


# ASCII text's fast path: letters lower-cased, digits kept, everything else a space. Split, it
# gives `_TOKEN`'s words once a word's leading digits are dropped ("4bit" → "bit"), which
# `_fold` does: the per-word work then runs in C. With the sort below, `paper_terms` went
# from 0.054 to 0.036 ms a paper, every paper of a cold build.
_ASCII_WORDS = bytes(code if 97 <= code <= 122 or 48 <= code <= 57 else code + 32 if 65 <= code <= 90 else 32
                     for code in range(256))


def _words(text: str) -> list[str] | list[bytes]:
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).split()
    return _TOKEN.findall(text.lower())


# A corpus has far fewer distinct words than tokens: each is folded once.
@functools.lru_cache(maxsize=1 << 18)
def _fold(word: str | bytes) -> str | None:
    """A word's index term, or None for filler; cached because vocabulary repeats endlessly."""
    if isinstance(word, bytes):
        word = word.decode("ascii").lstrip("0123456789")
    if len(word) <= 2 or word in _STOPWORDS:
        return None
    return singular(word)


def singular(word: str) -> str:
    """A plural folded onto its singular ("agents" → "agent", "studies" → "study").

    The one stemming rule that pays for itself on paper abstracts; a full stemmer merges
    words that differ in meaning ("generalisation", "general").
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(paper: Paper) -> Counter[str]:
    """Term counts for one paper: title words twice, abstract words once."""
    counts: Counter[str] = Counter(filter(None, map(_fold, _words(paper.abstract))))
    title = list(filter(None, map(_fold, _words(paper.title))))
    counts.update(title)
    counts.update(title)
    return counts


# A paper's terms as one space-separated string and their counts as bytes (capped at 255, which
# no abstract reaches): what parsing a paper gives. A Counter per paper held 470 MB at 100,000
# papers, two tuples 160 MB; this is about 70 MB.
TermCounts = tuple[str, bytes]
# The same with each term replaced by its id in a `TermVocabulary`, as native int32 bytes:
# what a build keeps for every paper, about 35 MB at 100,000 papers.
TermVector = tuple[bytes, bytes]
_COUNT_MAX = 255
_ID_TYPE = np.int32


def paper_terms(paper: Paper) -> TermCounts:
    """A paper's term counts, terms in alphabetical order: `related_papers` relies on it to
    break ties between a paper's terms by name without sorting on the name."""
    counts = terms(paper)
    keys = sorted(counts)  # the terms alone: sorting (term, count) pairs took three times as long
    values = list(map(counts.__getitem__, keys))
    if values and max(values) > _COUNT_MAX:
        values = [min(count, _COUNT_MAX) for count in values]
    return " ".join(keys), bytes(values)


@dataclass
class TermVocabulary:
    """Term ↔ id, for the term vectors of every paper of a build, kept in the build state.

    A paper's terms are turned into ids once, when its file is parsed, not by every build:
    splitting and looking up 8 million words took 1.6 s of related papers' 8 at 100,000
    papers. Ids are handed out as terms are first met and decide nothing (ties between a
    paper's terms go by name, see `paper_terms`); terms of papers since deleted keep theirs,
    a string each, until the state is rebuilt.
    """

    terms: list[str] = field(default_factory=list)  # term by id
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._ids = {term: number for number, term in enumerate(self.terms)}

    def vector(self, counts: TermCounts) -> TermVector:
        keys, values = counts
        words = keys.split()
        ids = list(map(self._ids.get, words))
        if None in ids:  # words this vocabulary has not met yet: number them
            for word in words:
                if word not in self._ids:
                    self._ids[word] = len(self.terms)
                    self.terms.append(word)
            ids = list(map(self._ids.__getitem__, words))
        return np.array(ids, dtype=_ID_TYPE).tobytes(), values


def idf_basis_size(n: int) -> int:
    """How many of `n` papers (the oldest) document frequencies are counted over.

    Steps of a quarter: 1000, 1250, 1562, ... A step is crossed every few weeks at 10,000
    papers of 100 a day and twice a year at 100,000; every related list may move then, and
    only then, on old papers' account.
    """
    if n <= IDF_BASIS_MIN:
        return n
    size = IDF_BASIS_MIN
    while size + size // 4 <= n:
        size += size // 4
    return size


def _first_of_runs(values: np.ndarray) -> np.ndarray:
    """For a sorted array, which values begin a run of equal ones."""
    return np.r_[True, values[1:] != values[:-1]] if values.size else np.zeros(0, dtype=bool)


def _rank_within_groups(groups: np.ndarray) -> np.ndarray:
    """For rows sorted by group, each row's 0-based place inside its group."""
    if groups.size == 0:
        return groups
    starts = np.flatnonzero(_first_of_runs(groups))
    lengths = np.diff(np.r_[starts, groups.size])
    return np.arange(groups.size) - np.repeat(starts, lengths)


@dataclass
class RelatedPapers:
    """Every paper's related papers, and the inputs of their ranking, for the next build.

    A paper's list is a function of its own kept terms (with their weights) and of the
    postings of those terms, nothing else. So a build given the last one's ranking compares
    those inputs and ranks again only the papers whose list can have moved (see
    `_papers_to_rank`); the others keep theirs. A new day at 10,000 papers ranked all 10,100
    papers, of which about 700 got another list; now it ranks 786 (0.8 s to 0.3 s).
    """

    slugs: list[str]  # every paper, in slug order: the indices below
    settings: tuple[int, int, int]  # count, terms per paper, postings per term
    row_counts: np.ndarray  # per paper, how many kept terms it has (its rows, heaviest first)
    row_terms: np.ndarray
    row_weights: np.ndarray  # normalised: a pair's score is the sum of its shared rows' products
    row_posted: np.ndarray  # whether the row is in its term's postings
    list_counts: np.ndarray  # per paper, how many related papers it has
    partners: np.ndarray  # the related papers, best first, as indices
    scores: np.ndarray  # their scores, rounded to integers like the ranking's
    # Per term id, its IDF and whether more than one paper holds it: with a paper's vector,
    # what decides its kept terms (`_unmoved_papers`).
    term_idf: np.ndarray
    term_shared: np.ndarray
    # The papers this build ranked (indices); the rest kept their lists. Empty in a ranking read
    # back from a build state: it is what one build did, not part of the result.
    ranked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def lists(self) -> RelatedLists:
        return RelatedLists(self.slugs, self.partners, np.r_[0, np.cumsum(self.list_counts)])

    def naming(self, slugs: Collection[str]) -> list[str]:
        """The papers whose list names one of `slugs` (by array, not by walking 100,000 lists)."""
        indices = [at for slug in slugs if (at := bisect.bisect_left(self.slugs, slug)) < len(self.slugs)
                   and self.slugs[at] == slug]
        if not indices:
            return []
        named = np.zeros(len(self.slugs), dtype=bool)
        named[indices] = True
        naming = _distinct(np.repeat(np.arange(len(self.slugs)), self.list_counts)[named[self.partners]])
        return list(map(self.slugs.__getitem__, naming.tolist()))

    def as_parts(self) -> tuple[tuple, list[np.ndarray]]:
        """The ranking as a few values and its arrays, for the build state to write the arrays
        as they are (`buildstate.save_state`): marshalled, their 28 MB at 100,000 papers were
        copied twice more."""
        return (self.slugs, self.settings), [self.row_counts, self.row_terms, self.row_weights, self.row_posted,
                                             self.list_counts, self.partners, self.scores, self.term_idf,
                                             self.term_shared]

    @classmethod
    def from_parts(cls, values: tuple, arrays: Sequence[np.ndarray]) -> RelatedPapers:
        slugs, settings = values
        return cls(slugs, tuple(settings), *arrays)


class RelatedLists(Mapping[str, list[str]]):
    """Each paper's related papers (slug → slugs, best first), made from the ranking's arrays
    as they are asked for: after a new day a build asks for the few hundred it renders, and a
    dict of all 100,000 lists took 0.19 s to make."""

    def __init__(self, slugs: list[str], partners: np.ndarray, cuts: np.ndarray) -> None:
        self._slugs, self._partners, self._cuts = slugs, partners, cuts  # slugs sorted

    def __getitem__(self, slug: str) -> list[str]:
        at = bisect.bisect_left(self._slugs, slug)
        if at == len(self._slugs) or self._slugs[at] != slug:
            raise KeyError(slug)
        return list(map(self._slugs.__getitem__, self._partners[self._cuts[at]:self._cuts[at + 1]].tolist()))

    def __iter__(self) -> Iterator[str]:
        return iter(self._slugs)

    def __len__(self) -> int:
        return len(self._slugs)


def rank_related(papers: Sequence[Paper], count: int = RELATED_COUNT, *,
                 terms_per_paper: int = TERMS_PER_PAPER,
                 postings_per_term: int = POSTINGS_PER_TERM,
                 vectors: Sequence[TermVector] | None = None, vocabulary: TermVocabulary | None = None,
                 previous: RelatedPapers | None = None, fresh: Collection[str] | None = None,
                 block: int = 2048, jobs: int | None = None, quiet: bool = True) -> RelatedPapers:
    """Each paper's `count` most similar papers, best first (`.lists` maps slug to slugs).

    A paper that shares no distinctive term with any other gets fewer (or none): an honest
    empty list beats padding with unrelated papers. `vectors` (one per paper, in the same
    order, ids from `vocabulary`) lets a build pass the vectors it kept from an earlier build
    instead of re-tokenising; `previous` (computed with that same vocabulary) lets it keep
    the lists whose inputs did not change, and given `fresh` (the papers whose vectors may
    differ from those `previous` was ranked with; None: any paper's), the kept terms of the
    papers whose own cannot have moved. `jobs` and `quiet` are as for `parallel.map_ranges`.
    """
    if vectors is None or vocabulary is None:
        vocabulary = TermVocabulary()
        vectors = [vocabulary.vector(paper_terms(paper)) for paper in papers]
    given = [paper.slug for paper in papers]
    settings = (count, terms_per_paper, postings_per_term)
    usable = previous is not None and previous.settings == settings
    order, old_index = _slug_order(given, previous if usable else None)
    slugs = list(map(given.__getitem__, order))
    vectors = list(map(vectors.__getitem__, order))
    n = len(slugs)

    # One row per (paper, term), a paper's rows in the alphabetical order of its terms: that
    # order, not the ids, breaks ties between its terms below.
    # Two passes of itemgetter: zip(*vectors) took 0.15-0.25 s at 100,000 papers, these 0.05 s.
    ids, counts = list(map(itemgetter(0), vectors)), list(map(itemgetter(1), vectors))
    lengths = np.fromiter(map(len, counts), dtype=np.int64, count=n)
    term_ids = np.frombuffer(b"".join(ids), dtype=_ID_TYPE)
    vocabulary_size = len(vocabulary.terms)
    tfs = np.frombuffer(b"".join(counts), dtype=np.uint8)
    del vectors, ids, counts

    df = np.bincount(term_ids, minlength=vocabulary_size)
    # Inverse document frequency over the basis, smoothed for terms the basis never met.
    # The papers' days as they come, then put in slug order: a day's papers share one date.
    ages = np.fromiter(map(dt.date.toordinal, map(attrgetter("date"), papers)), dtype=np.int64, count=n)[order]
    basis_size = idf_basis_size(n)
    in_basis = np.zeros(n, dtype=bool)
    in_basis[np.argsort(ages, kind="stable")[:basis_size]] = True  # stable: ties stay in slug order
    basis_df = np.bincount(term_ids[np.repeat(in_basis, lengths)], minlength=vocabulary_size)
    # Both factors from tables (256 counts, one idf per term): two logs per row took 0.5 s at 100,000 papers.
    tf_factor = np.r_[0.0, 1.0 + np.log(np.arange(1, _COUNT_MAX + 1, dtype=np.float64))]
    idf = np.log((basis_size + 1) / (basis_df + 1))
    shared = df > 1
    starts = np.r_[0, np.cumsum(lengths)]
    unmoved = _unmoved_papers(previous, old_index, fresh, idf, shared, term_ids, starts) \
        if usable and fresh is not None else None
    if unmoved is None:
        # Each paper's best terms, a block of papers at a time (`_top_terms`).
        blocks = [(first, min(first + _TOP_BLOCK, n)) for first in range(0, n, _TOP_BLOCK)] or [(0, 0)]
        tops = [_top_terms(first, lengths[first:last], term_ids[starts[first]:starts[last]],
                           tf_factor[tfs[starts[first]:starts[last]]], idf, shared, terms_per_paper)
                for first, last in blocks]
        docs, term_ids, weights = (np.concatenate(column) for column in zip(*tops))
        del tops
    else:
        docs, term_ids, weights = _kept_or_picked(previous, old_index, unmoved, lengths, starts, term_ids,
                                                  tf_factor, tfs, idf, shared, terms_per_paper)
    del tfs

    # Postings: each term's best `postings_per_term` papers (heaviest first, ties by slug:
    # rows are in slug order, and the sort is stable).
    rounded = np.rint(weights * _SCORE_SCALE).astype(np.int64)
    by_term = np.argsort((term_ids.astype(np.int64) << _SCORE_BITS) | (_SCORE_LIMIT - rounded), kind="stable")
    del rounded
    capped = by_term[_rank_within_groups(term_ids[by_term]) < postings_per_term]
    posted = np.zeros(docs.size, dtype=bool)
    posted[capped] = True
    post_terms, post_docs, post_weights = term_ids[capped], docs[capped], weights[capped]
    post_start = np.searchsorted(post_terms, np.arange(vocabulary_size), side="left")
    post_count = np.searchsorted(post_terms, np.arange(vocabulary_size), side="right") - post_start

    row_start = np.searchsorted(docs, np.arange(n + 1), side="left")
    ranking = RelatedPapers(slugs, settings, np.diff(row_start).astype(np.int32), term_ids, weights, posted,
                            np.zeros(n, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64),
                            idf, shared)

    def rank_block(first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Papers to_rank[first:last] with their `count` best partners, as (paper, partner, score)."""
        sources = to_rank[first:last]
        rows = _expand(row_start[sources], row_start[sources + 1] - row_start[sources])
        entry_docs, entry_terms, entry_weights = docs[rows], term_ids[rows], weights[rows]
        fan = post_count[entry_terms]
        which = np.repeat(np.arange(entry_docs.size), fan)
        posting = _expand(post_start[entry_terms], fan)
        source, target = entry_docs[which], post_docs[posting]
        contribution = entry_weights[which] * post_weights[posting]
        other = source != target
        pair_keys, sums = _sums_by_key(source[other].astype(np.int64) * n + target[other], contribution[other])
        # Scores rounded to 9 decimals, as integers: a cosine of normalised weights is at most 1.
        scores = np.rint(sums * _SCORE_SCALE).astype(np.int64)
        pair_source, pair_target = pair_keys // n, pair_keys % n
        # Pairs come sorted by (source, target), so one stable sort on (source, best score)
        # leaves ties in slug order: a third of the time of a three-key lexsort.
        best = np.argsort((pair_source << _SCORE_BITS) | (_SCORE_LIMIT - scores), kind="stable")
        pair_source, pair_target, scores = pair_source[best], pair_target[best], scores[best]
        chosen = _rank_within_groups(pair_source) < count
        return pair_source[chosen], pair_target[chosen], scores[chosen]

    if usable:
        to_rank, kept = _papers_to_rank(ranking, previous, old_index, by_term)
    else:
        to_rank, kept = np.arange(n), (np.zeros(0, dtype=np.int64),) * 3
    # Blocks are independent: forked workers rank them on every core, sharing the arrays above.
    blocks = list(map_ranges(rank_block, cut_ranges(0, to_rank.size, block), min_parallel=PARALLEL_MIN,
                             label="related papers", quiet=quiet, jobs=jobs))
    sources, partners, scores = (np.concatenate([part[i] for part in [kept, *blocks]]) for i in range(3))
    by_source = np.argsort(sources, kind="stable")  # each paper's list comes from one side, in order
    ranking.list_counts = np.bincount(sources, minlength=n).astype(np.int32)
    ranking.partners, ranking.scores = partners[by_source].astype(np.int32), scores[by_source]
    ranking.ranked = to_rank
    return ranking


# Papers whose best terms are picked at a time; every step of it is within a paper. All 10
# million rows of 100,000 papers at once put related papers' peak 290 MB above what the build
# held before them; in blocks, 140 MB (the ranking's own blocks are then the peak).
_TOP_BLOCK = 8192


def _top_terms(first: int, lengths: np.ndarray, term_ids: np.ndarray, tf_weights: np.ndarray,
               idf: np.ndarray, shared: np.ndarray, terms_per_paper: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Papers numbered from `first` (rows per paper: `lengths`; each row's term and weight
    for its count) as rows of their best `terms_per_paper` terms: (paper, term, weight
    normalised by the paper's whole vector), heaviest first, ties by term name. A paper's
    rows are in term order already and the sort is stable, so one sort on (paper, weight
    rounded like the scores) does it, in a third of the time of a two-key lexsort."""
    docs = np.repeat(np.arange(first, first + lengths.size, dtype=np.int32), lengths)
    weights = tf_weights * idf[term_ids]
    norms = np.sqrt(np.bincount(docs - first, weights * weights, minlength=lengths.size))
    keep = shared[term_ids] & (weights > 0.0)
    docs, term_ids, weights = docs[keep], term_ids[keep], weights[keep]
    rounded = np.rint(weights * _SCORE_SCALE).astype(np.int64)
    by_doc = np.argsort((docs.astype(np.int64) << _WEIGHT_BITS) | (_WEIGHT_LIMIT - rounded), kind="stable")
    docs, term_ids, weights = docs[by_doc], term_ids[by_doc], weights[by_doc]
    top = _rank_within_groups(docs) < terms_per_paper
    docs = docs[top]
    return docs, term_ids[top], weights[top] / norms[docs - first]


def _slug_order(given: list[str], previous: RelatedPapers | None) -> tuple[list[int], np.ndarray | None]:
    """The indices of `given` (slugs, unique) in slug order, and where each of `previous`'s
    papers is in that order, or -1 (None without `previous`).

    `previous.slugs` are in slug order already: the order is theirs, less the papers gone,
    with the new ones (a day's hundred) put in their places. Sorting 100,000 slugs and then
    finding the old ones in them by a dict took 0.11 s; this takes 0.06 s.
    """
    if previous is None:
        return sorted(range(len(given)), key=given.__getitem__), None
    position = {slug: index for index, slug in enumerate(given)}
    at = np.fromiter((position.get(slug, -1) for slug in previous.slugs), dtype=np.int64, count=len(previous.slugs))
    found = at >= 0
    seen = np.zeros(len(given), dtype=bool)
    seen[at[found]] = True
    new = sorted(np.flatnonzero(~seen).tolist(), key=given.__getitem__)
    # Each new slug goes after the old papers still here that sort before it.
    kept_before = np.r_[0, np.cumsum(found)]
    places = [int(kept_before[bisect.bisect_left(previous.slugs, given[index])]) for index in new]
    order = np.insert(at[found], places, new)
    where = np.empty(len(given), dtype=np.int64)
    where[order] = np.arange(len(given))
    old_index = np.full(at.size, -1, dtype=np.int64)
    old_index[found] = where[at[found]]
    return order.tolist(), old_index


def _unmoved_papers(previous: RelatedPapers, old_index: np.ndarray, fresh: Collection[str], idf: np.ndarray,
                    shared: np.ndarray, term_ids: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """Which papers' kept terms are those of `previous`; None when too few are to be worth it.

    A paper's kept terms (`_top_terms`) are a function of its vector and, for each of its
    terms, the term's IDF and whether another paper holds it. So they are the last ranking's
    for a paper that was in it, is not `fresh`, and holds no term whose IDF or sharing moved.
    Between two steps of the IDF basis, a new day moves only the sharing of the terms a new
    paper is the second to hold.
    """
    known = previous.term_idf.size
    if known > idf.size:  # not this vocabulary's
        return None
    moved = np.ones(idf.size, dtype=bool)
    moved[:known] = (idf[:known] != previous.term_idf) | (shared[:known] != previous.term_shared)
    unmoved = np.zeros(starts.size - 1, dtype=bool)
    unmoved[old_index[old_index >= 0]] = True
    for slug in fresh:
        at = bisect.bisect_left(previous.slugs, slug)
        if at < len(previous.slugs) and previous.slugs[at] == slug and old_index[at] >= 0:
            unmoved[old_index[at]] = False
    # The papers of the rows holding a moved term: few, so found from the rows.
    unmoved[np.searchsorted(starts, np.flatnonzero(moved[term_ids]), side="right") - 1] = False
    return unmoved if unmoved.sum() * 2 > unmoved.size else None


def _kept_or_picked(previous: RelatedPapers, old_index: np.ndarray, unmoved: np.ndarray, lengths: np.ndarray,
                    starts: np.ndarray, term_ids: np.ndarray, tf_factor: np.ndarray, tfs: np.ndarray,
                    idf: np.ndarray, shared: np.ndarray, terms_per_paper: int) -> tuple[np.ndarray, ...]:
    """Every paper's kept terms as rows (paper, term, weight), as `_top_terms` gives them:
    copied from `previous` for the `unmoved` papers, bit for bit what picking them again
    gives (a paper's rows are computed from its own alone), and picked for the others."""
    n = unmoved.size
    found = old_index >= 0
    at_old = np.full(n, -1, dtype=np.int64)
    at_old[old_index[found]] = np.flatnonzero(found)
    kept, todo = np.flatnonzero(unmoved), np.flatnonzero(~unmoved)
    counts = np.zeros(n, dtype=np.int64)
    counts[kept] = previous.row_counts[at_old[kept]]
    picked = []
    for first in range(0, todo.size, _TOP_BLOCK):
        part = todo[first:first + _TOP_BLOCK]
        rows = _expand(starts[part], lengths[part])
        docs, terms, weights = _top_terms(0, lengths[part], term_ids[rows], tf_factor[tfs[rows]], idf, shared,
                                          terms_per_paper)
        counts[part] = np.bincount(docs, minlength=part.size)
        picked.append((terms, weights))
    row_start = np.r_[0, np.cumsum(counts)]
    out_terms = np.empty(row_start[-1], dtype=_ID_TYPE)
    out_weights = np.empty(row_start[-1], dtype=np.float64)
    old_start = np.r_[0, np.cumsum(previous.row_counts, dtype=np.int64)]
    into, source = _expand(row_start[kept], counts[kept]), _expand(old_start[at_old[kept]], counts[kept])
    out_terms[into], out_weights[into] = previous.row_terms[source], previous.row_weights[source]
    if picked:  # picked rows come a paper at a time, in paper order, as the rows they fill
        into = _expand(row_start[todo], counts[todo])
        out_terms[into] = np.concatenate([terms for terms, _ in picked])
        out_weights[into] = np.concatenate([weights for _, weights in picked])
    return np.repeat(np.arange(n, dtype=np.int32), counts), out_terms, out_weights


def _expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices of the runs starts[i] .. starts[i] + lengths[i] - 1, one after the other."""
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: what `np.unique` gives, but whose first call in a process
    imports numpy.ma (0.03 s of a new day's build, to see that the array is not masked)."""
    values = np.sort(values)
    return values[_first_of_runs(values)]


def _sums_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, sorted, and the sum of each one's values in the order given: a pair's
    score is then the same float whichever block ranks its paper. The sort is stable, which
    keeps that order; the keys come in runs (a block's papers, one after the other), which
    it merges in about half the time of `np.unique`'s quicksort (555,000 keys of a block of
    2,048 papers: 37 → 20.5 ms)."""
    if keys.size == 0:
        return keys, values
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = _first_of_runs(keys)
    return keys[first], np.bincount(np.cumsum(first) - 1, values[order])


def _in_sorted(values: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Which `values` are among `distinct` (sorted): `np.isin`, which would import numpy.ma too."""
    if distinct.size == 0:
        return np.zeros(values.size, dtype=bool)
    return distinct[np.minimum(np.searchsorted(distinct, values), distinct.size - 1)] == values


def _unmatched(keys: np.ndarray, weights: np.ndarray, other_keys: np.ndarray, other_weights: np.ndarray) -> np.ndarray:
    """Which (key, weight) rows have no equal row on the other side (its keys unique)."""
    if other_keys.size == 0:
        return np.ones(keys.size, dtype=bool)
    order = np.argsort(other_keys)
    other_keys, other_weights = other_keys[order], other_weights[order]
    at = np.minimum(np.searchsorted(other_keys, keys), other_keys.size - 1)
    return (other_keys[at] != keys) | (other_weights[at] != weights)


def _papers_to_rank(ranking: RelatedPapers, previous: RelatedPapers, old_index: np.ndarray,
                    by_term: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Which papers must be ranked again, and the (paper, partner, score) rows of the lists
    the others keep from `previous`. `by_term` orders the rows of `ranking` by term.

    A paper's list can move only if its own rows changed, or the postings of one of its terms
    gained or lost an entry (a paper, with its weight) that either is on its list or now
    scores at least as well as the last one on it. Every other candidate kept its score, and
    none of them beat the list before. Rows are compared exactly, so whatever moves a weight
    (an edit, a new step of the IDF basis) is seen. `old_index`: where each old paper is now,
    or -1 (`_slug_order`).
    """
    n, count = len(ranking.slugs), ranking.settings[0]
    old_n = len(previous.slugs)
    found = old_index >= 0

    # A paper changed if it is new, or its rows (in order) differ: papers keep their slug
    # order, so the rows of papers with as many rows as before line up one to one.
    changed = np.ones(n, dtype=bool)
    changed[old_index[found]] = False
    same_count = np.zeros(old_n, dtype=bool)
    same_count[found] = previous.row_counts[found] == ranking.row_counts[old_index[found]]
    changed[old_index[found & ~same_count]] = True
    old_rows = np.repeat(same_count, previous.row_counts)
    new_rows = np.zeros(n, dtype=bool)
    new_rows[old_index[same_count]] = True
    new_rows = np.repeat(new_rows, ranking.row_counts)
    differ = (ranking.row_terms[new_rows] != previous.row_terms[old_rows]) | \
             (ranking.row_weights[new_rows] != previous.row_weights[old_rows])
    new_docs = np.repeat(np.arange(n, dtype=np.int64), ranking.row_counts)
    changed[new_docs[new_rows][differ]] = True

    if changed.sum() * 2 > n:  # a new step of the IDF basis, say: rank them all
        return np.arange(n), (np.zeros(0, dtype=np.int64),) * 3

    # Postings entries gained and lost: an unchanged paper's rows that entered or left their
    # term's postings, and the entries of changed and deleted papers that are not in both.
    stable_rows = ~changed[new_docs]
    old_docs = old_index[np.repeat(np.arange(old_n), previous.row_counts)]
    old_stable = (old_docs >= 0) & ~changed[np.maximum(old_docs, 0)]
    was_posted = np.zeros(ranking.row_posted.size, dtype=bool)
    was_posted[np.flatnonzero(new_rows)[~differ]] = previous.row_posted[np.flatnonzero(old_rows)[~differ]]
    new_other = ranking.row_posted & ~stable_rows
    old_other = previous.row_posted & ~old_stable
    new_keys = ranking.row_terms[new_other].astype(np.int64) * (n + 1) + new_docs[new_other] + 1
    old_keys = previous.row_terms[old_other].astype(np.int64) * (n + 1) + old_docs[old_other] + 1
    gained, lost = new_other.copy(), old_other.copy()
    gained[new_other] = _unmatched(new_keys, ranking.row_weights[new_other], old_keys, previous.row_weights[old_other])
    lost[old_other] = _unmatched(old_keys, previous.row_weights[old_other], new_keys, ranking.row_weights[new_other])
    gained |= stable_rows & ranking.row_posted & ~was_posted
    lost_stable = stable_rows & was_posted & ~ranking.row_posted
    moved_terms = np.r_[ranking.row_terms[gained], previous.row_terms[lost], ranking.row_terms[lost_stable]]
    moved_docs = np.r_[new_docs[gained], old_docs[lost], new_docs[lost_stable]]
    moved_gained = np.r_[np.ones(gained.sum(), dtype=bool), np.zeros(lost.sum() + lost_stable.sum(), dtype=bool)]

    # The old lists in this build's indices; a list naming a deleted paper is ranked again.
    old_sources = old_index[np.repeat(np.arange(old_n), previous.list_counts)]
    old_partners = old_index[previous.partners]
    changed[old_sources[(old_sources >= 0) & (old_partners < 0)]] = True

    # A moved entry on a list moves it when the list's paper holds the entry's term.
    moved_keys = _distinct(moved_terms.astype(np.int64) * (n + 1) + moved_docs + 1)
    moved_paper = np.zeros(n + 1, dtype=bool)
    moved_paper[moved_docs + 1] = True
    suspect = (old_sources >= 0) & moved_paper[old_partners + 1] & ~changed[np.maximum(old_sources, 0)]
    sources, partners = old_sources[suspect], old_partners[suspect]
    row_start = np.r_[0, np.cumsum(ranking.row_counts)]
    rows = _expand(row_start[sources], ranking.row_counts[sources])
    keys = ranking.row_terms[rows].astype(np.int64) * (n + 1) + np.repeat(partners, ranking.row_counts[sources]) + 1
    held = _in_sorted(keys, moved_keys)
    changed[np.repeat(sources, ranking.row_counts[sources])[held]] = True

    # A gained entry off the list moves it if it now scores at least the list's last (or the
    # list is not full): its score, summed over the holder's rows in the order ranking sums them.
    # The holders are found through `by_term`, not in rows put in its order (2 million of them).
    terms, docs = moved_terms[moved_gained], moved_docs[moved_gained]
    first = np.searchsorted(ranking.row_terms, terms, side="left", sorter=by_term)
    fan = np.searchsorted(ranking.row_terms, terms, side="right", sorter=by_term) - first
    holder, entry = new_docs[by_term[_expand(first, fan)]], np.repeat(docs, fan)
    pairs = _distinct((holder * n + entry)[(holder != entry) & ~changed[holder]])
    if pairs.size:
        last_score = np.zeros(n, dtype=np.int64)
        full = (previous.list_counts >= count) & found
        last_score[old_index[full]] = previous.scores[(np.cumsum(previous.list_counts) - 1)[full]]
        source, target = pairs // n, pairs % n
        rows = _expand(row_start[source], ranking.row_counts[source])
        pair = np.repeat(np.arange(pairs.size), ranking.row_counts[source])
        # The entries looked up are the targets' own, posted: a few hundred papers' rows, where
        # sorting every posted row (half a million at 100,000 papers) took 0.05 s.
        targets = _distinct(target)
        own = _expand(row_start[targets], ranking.row_counts[targets])
        own = own[ranking.row_posted[own]]
        entries = ranking.row_terms[own].astype(np.int64) * (n + 1) + new_docs[own] + 1
        order = np.argsort(entries)
        entries, weights = entries[order], ranking.row_weights[own][order]
        wanted = ranking.row_terms[rows].astype(np.int64) * (n + 1) + target[pair] + 1
        at = np.minimum(np.searchsorted(entries, wanted), entries.size - 1)
        product = np.where(entries[at] == wanted, ranking.row_weights[rows] * weights[at], 0.0)
        scores = np.rint(np.bincount(pair, product, minlength=pairs.size) * _SCORE_SCALE).astype(np.int64)
        # One below, for a sum rounded the other way; a tie may go either way by slug.
        changed[source[scores >= last_score[source] - 1]] = True

    keep = (old_sources >= 0) & ~changed[np.maximum(old_sources, 0)]
    return np.flatnonzero(changed), (old_sources[keep], old_partners[keep], previous.scores[keep])
