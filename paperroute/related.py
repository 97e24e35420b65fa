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

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from paperroute.model import Paper
from paperroute.parallel import map_ranges

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


# A corpus has far fewer distinct words than tokens: each is folded once.
@functools.lru_cache(maxsize=1 << 18)
def _fold(token: str) -> str | None:
    """A token's index term, or None for filler; cached because vocabulary repeats endlessly."""
    if len(token) <= 2 or token in _STOPWORDS:
        return None
    return singular(token)


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
    counts: Counter[str] = Counter(term for term in map(_fold, _TOKEN.findall(paper.abstract.lower())) if term)
    for term in map(_fold, _TOKEN.findall(paper.title.lower())):
        if term:
            counts[term] += 2
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
    counts = sorted(terms(paper).items())
    return " ".join(term for term, _ in counts), bytes(min(count, _COUNT_MAX) for _, count in counts)


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


def _rank_within_groups(groups: np.ndarray) -> np.ndarray:
    """For rows sorted by group, each row's 0-based place inside its group."""
    if groups.size == 0:
        return groups
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    lengths = np.diff(np.r_[starts, groups.size])
    return np.arange(groups.size) - np.repeat(starts, lengths)


def related_papers(papers: Sequence[Paper], count: int = RELATED_COUNT, *,
                   terms_per_paper: int = TERMS_PER_PAPER,
                   postings_per_term: int = POSTINGS_PER_TERM,
                   vectors: Sequence[TermVector] | None = None, vocabulary: TermVocabulary | None = None,
                   block: int = 2048, jobs: int | None = None, quiet: bool = True) -> dict[str, list[str]]:
    """Map each paper's slug to the slugs of its `count` most similar papers, best first.

    A paper that shares no distinctive term with any other gets fewer (or none): an honest
    empty list beats padding with unrelated papers. `vectors` (one per paper, in the same
    order, ids from `vocabulary`) lets a build pass the vectors it kept from an earlier build
    instead of re-tokenising. `jobs` and `quiet` are as for `parallel.map_ranges`.
    """
    if vectors is None or vocabulary is None:
        vocabulary = TermVocabulary()
        vectors = [vocabulary.vector(paper_terms(paper)) for paper in papers]
    order = sorted(range(len(papers)), key=lambda i: papers[i].slug)
    slugs = [papers[i].slug for i in order]
    vectors = [vectors[i] for i in order]
    n = len(slugs)
    if n < 2:
        return {slug: [] for slug in slugs}

    # One row per (paper, term), a paper's rows in the alphabetical order of its terms: that
    # order, not the ids, breaks ties between its terms below.
    lengths = np.fromiter((len(values) for _, values in vectors), dtype=np.int64, count=n)
    docs = np.repeat(np.arange(n, dtype=np.int32), lengths)
    term_ids = np.frombuffer(b"".join(ids for ids, _ in vectors), dtype=_ID_TYPE)
    vocabulary_size = len(vocabulary.terms)
    tfs = np.frombuffer(b"".join(values for _, values in vectors), dtype=np.uint8).astype(np.float64)
    del vectors

    df = np.bincount(term_ids, minlength=vocabulary_size)
    # Inverse document frequency over the basis, smoothed for terms the basis never met.
    by_age = sorted(range(n), key=lambda i: papers[order[i]].date)  # stable: ties stay in slug order
    basis_size = idf_basis_size(n)
    in_basis = np.zeros(n, dtype=bool)
    in_basis[by_age[:basis_size]] = True
    basis_df = np.bincount(term_ids[in_basis[docs]], minlength=vocabulary_size)
    weights = (1.0 + np.log(tfs)) * np.log((basis_size + 1) / (basis_df[term_ids] + 1))
    del tfs
    norms = np.sqrt(np.bincount(docs, weights * weights, minlength=n))
    keep = (df[term_ids] > 1) & (weights > 0.0)
    docs, term_ids, weights = docs[keep], term_ids[keep], weights[keep]
    # Each paper's best `terms_per_paper` terms (heaviest first, ties by term name: a paper's
    # rows are in term order already, and the sort is stable). Rows are grouped by paper, so
    # one stable sort on (paper, weight rounded like the scores) does it, in a third of the
    # time of a two-key lexsort.
    rounded = np.rint(weights * _SCORE_SCALE).astype(np.int64)
    by_doc = np.argsort((docs.astype(np.int64) << _WEIGHT_BITS) | (_WEIGHT_LIMIT - rounded), kind="stable")
    del rounded
    docs, term_ids, weights = docs[by_doc], term_ids[by_doc], weights[by_doc]
    top = _rank_within_groups(docs) < terms_per_paper
    docs, term_ids = docs[top], term_ids[top]
    weights = weights[top] / norms[docs]

    # Postings: each term's best `postings_per_term` papers (heaviest first, ties by slug).
    by_term = np.lexsort((docs, -weights, term_ids))
    post_terms, post_docs, post_weights = term_ids[by_term], docs[by_term], weights[by_term]
    capped = _rank_within_groups(post_terms) < postings_per_term
    post_terms, post_docs, post_weights = post_terms[capped], post_docs[capped], post_weights[capped]
    post_start = np.searchsorted(post_terms, np.arange(vocabulary_size), side="left")
    post_count = np.searchsorted(post_terms, np.arange(vocabulary_size), side="right") - post_start

    row_start = np.searchsorted(docs, np.arange(n + 1), side="left")

    def rank_block(first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """Papers first..last-1 with their `count` best partners, as (paper, partner) index arrays."""
        lo, hi = row_start[first], row_start[last]
        entry_docs, entry_terms, entry_weights = docs[lo:hi], term_ids[lo:hi], weights[lo:hi]
        fan = post_count[entry_terms]
        which = np.repeat(np.arange(entry_docs.size), fan)
        offsets = np.arange(which.size) - np.repeat(np.cumsum(fan) - fan, fan)
        posting = post_start[entry_terms][which] + offsets
        source, target = entry_docs[which], post_docs[posting]
        contribution = entry_weights[which] * post_weights[posting]
        other = source != target
        pair_keys, inverse = np.unique(source[other].astype(np.int64) * n + target[other], return_inverse=True)
        # Scores rounded to 9 decimals, as integers: a cosine of normalised weights is at most 1.
        scores = np.rint(np.bincount(inverse, contribution[other]) * _SCORE_SCALE).astype(np.int64)
        pair_source, pair_target = pair_keys // n, pair_keys % n
        # Pairs come sorted by (source, target), so one stable sort on (source, best score)
        # leaves ties in slug order: a third of the time of a three-key lexsort.
        best = np.argsort((pair_source << _SCORE_BITS) | (_SCORE_LIMIT - scores), kind="stable")
        pair_source, pair_target = pair_source[best], pair_target[best]
        chosen = _rank_within_groups(pair_source) < count
        return pair_source[chosen], pair_target[chosen]

    # Blocks are independent: forked workers rank them on every core, sharing the arrays above.
    blocks = list(map_ranges(rank_block, n, chunk=block, min_parallel=PARALLEL_MIN,
                             label="related papers", quiet=quiet, jobs=jobs))
    sources = np.concatenate([pair_source for pair_source, _ in blocks])
    partners = list(map(slugs.__getitem__, np.concatenate([pair_target for _, pair_target in blocks]).tolist()))
    cuts = np.searchsorted(sources, np.arange(n + 1)).tolist()
    return {slug: partners[cuts[index]:cuts[index + 1]] for index, slug in enumerate(slugs)}
