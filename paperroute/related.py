"""Related papers by text similarity, in time that grows with the corpus, not with its square.

Comparing every paper with every other is 5·10⁹ pairs at 100,000 papers. Instead each paper
is reduced to its few most distinctive terms (TF-IDF over title and abstract, the title
counted twice because it is the author's own summary), and an inverted index maps each term
to the papers it best describes, at most `postings_per_term` of them. A paper's candidates
are the papers on its own terms' lists, so the work per paper is bounded by
`terms_per_paper × postings_per_term` whatever the corpus size. Candidates are scored by the
dot product of their normalised term weights (cosine similarity restricted to the kept
terms) and ties go to the slug, so the same content always gives the same lists.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from typing import Sequence

from paperroute.model import Paper

RELATED_COUNT = 5
TERMS_PER_PAPER = 12
POSTINGS_PER_TERM = 48

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
    counts: Counter[str] = Counter()
    for text, weight in ((paper.title, 2), (paper.abstract, 1)):
        for token in _TOKEN.findall(text.lower()):
            if len(token) > 2 and token not in _STOPWORDS:
                counts[singular(token)] += weight
    return counts


def _top_terms(counts: Counter[str], document_frequency: Counter[str], paper_count: int,
               keep: int) -> dict[str, float]:
    """The paper's `keep` highest TF-IDF terms, weights divided by the full vector's length.

    Terms no other paper has (df 1) cannot link two papers, and terms every paper has carry
    no information (idf 0); both are left out of the kept terms but still count in the norm.
    """
    weights: list[tuple[float, str]] = []
    norm_squared = 0.0
    for term, count in counts.items():
        df = document_frequency[term]
        weight = (1.0 + math.log(count)) * math.log(paper_count / df)
        norm_squared += weight * weight
        if df > 1 and weight > 0.0:
            weights.append((weight, term))
    if norm_squared == 0.0:
        return {}
    norm = math.sqrt(norm_squared)
    best = heapq.nsmallest(keep, weights, key=lambda item: (-item[0], item[1]))
    return {term: weight / norm for weight, term in sorted(best, key=lambda item: item[1])}


def related_papers(papers: Sequence[Paper], count: int = RELATED_COUNT, *,
                   terms_per_paper: int = TERMS_PER_PAPER,
                   postings_per_term: int = POSTINGS_PER_TERM) -> dict[str, list[str]]:
    """Map each paper's slug to the slugs of its `count` most similar papers, best first.

    A paper that shares no distinctive term with any other gets fewer (or none): an honest
    empty list beats padding with unrelated papers.
    """
    term_counts = [terms(paper) for paper in papers]
    document_frequency: Counter[str] = Counter()
    for counts in term_counts:
        document_frequency.update(counts.keys())
    paper_count = len(papers)
    vectors = [_top_terms(counts, document_frequency, paper_count, terms_per_paper) for counts in term_counts]
    del term_counts

    slugs = [paper.slug for paper in papers]
    postings: dict[str, list[tuple[float, int]]] = {}
    for index, vector in enumerate(vectors):
        for term, weight in vector.items():
            postings.setdefault(term, []).append((weight, index))
    for term, entries in postings.items():
        if len(entries) > postings_per_term:
            # Ties go to the slug, not the position, so the input's order cannot change the result.
            postings[term] = heapq.nsmallest(postings_per_term, entries, key=lambda entry: (-entry[0], slugs[entry[1]]))

    related: dict[str, list[str]] = {}
    for index, vector in enumerate(vectors):
        scores: dict[int, float] = {}
        for term, weight in vector.items():
            for other_weight, other in postings[term]:
                if other != index:
                    scores[other] = scores.get(other, 0.0) + weight * other_weight
        best = heapq.nsmallest(count, scores.items(), key=lambda item: (-item[1], slugs[item[0]]))
        related[slugs[index]] = [slugs[other] for other, _ in best]
    return related
