"""Related papers: similar papers first, never the paper itself, the same answer every time."""

from __future__ import annotations

import datetime as dt
import random
from types import SimpleNamespace

import numpy as np
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_synthetic, make_paper
from paperroute.model import Paper
from paperroute import related as related_module
from paperroute.related import TermVocabulary, idf_basis_size, paper_terms, rank_related, singular, terms

CLUSTERS = {
    "decoding": "speculative decoding draft model verification acceptance tokens latency",
    "protein": "protein folding structure prediction residues diffusion backbone",
    "legal": "legal contracts clauses court judgments statutes lawyers",
}


def related_papers(papers: list[Paper], *args, **options) -> dict[str, list[str]]:
    return rank_related(papers, *args, **options).lists


def record(ranking: related_module.RelatedPapers) -> tuple:
    """A ranking's every value and array, bit for bit, to compare two."""
    values, arrays = ranking.as_parts()
    return values, [(column.dtype.str, column.tobytes()) for column in arrays]


def clustered() -> list[Paper]:
    papers = []
    for name, words in CLUSTERS.items():
        vocabulary = words.split()
        for n in range(6):
            chosen = " ".join(vocabulary[(n + k) % len(vocabulary)] for k in range(5))
            paper = make_paper(f"{name.title()} study {n}", abstract=f"We study {chosen} in depth, variant {n}.")
            paper.slug = f"{name}-{n}"
            papers.append(paper)
    return papers


def test_related_papers_come_from_the_same_subject() -> None:
    related = related_papers(clustered())
    for slug, others in related.items():
        cluster = slug.rsplit("-", 1)[0]
        assert len(others) == 5
        assert all(other.rsplit("-", 1)[0] == cluster for other in others), (slug, others)
        assert slug not in others and len(set(others)) == len(others)


def test_the_order_of_the_input_does_not_change_the_answer() -> None:
    papers = clustered()
    expected = related_papers(papers)
    shuffled = papers[:]
    random.Random(7).shuffle(shuffled)
    assert related_papers(shuffled) == expected
    # Capped postings (the 100,000-paper setting, in miniature) are order-independent too.
    assert related_papers(shuffled, postings_per_term=3) == related_papers(papers, postings_per_term=3)


def test_a_paper_with_nothing_in_common_gets_no_related_papers() -> None:
    papers = clustered()
    loner = make_paper("Xylophone Acoustics", abstract="Marimba resonators and mallets.")
    loner.slug = "loner"
    assert related_papers([*papers, loner])["loner"] == []


def test_terms_weigh_the_title_double_and_drop_filler_words() -> None:
    counts = terms(make_paper("Sparse Attention Kernel", abstract="We propose sparse kernels for the attention."))
    assert counts["sparse"] == 3 and counts["attention"] == 3 and counts["kernel"] == 3
    assert "propose" not in counts and "the" not in counts and "for" not in counts


def test_hyphens_split_and_plurals_fold() -> None:
    counts = terms(make_paper("Long-Context Agents", abstract="Surveys of long context agent memories."))
    assert counts["long"] == 3 and counts["context"] == 3 and counts["agent"] == 3
    assert counts["survey"] == 1 and counts["memory"] == 1
    assert singular("loss") == "loss" and singular("corpus") == "corpus" and singular("analysis") == "analysis"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ09 -_.,'\n", max_size=60), st.text(alphabet="aZ09 -_.,'\n", max_size=60))
def test_ascii_text_gives_the_terms_of_the_general_tokenizer(title: str, abstract: str) -> None:
    """ASCII takes a fast path; an "é" (a word of no letter a-z) sends the same words the
    general way, so both must count the same terms: "4bit" is "bit", "2024" is nothing."""
    fast = paper_terms(make_paper(title or "x", abstract=abstract))
    general = paper_terms(make_paper(f"{title or 'x'} é", abstract=f"{abstract} é"))
    assert fast == general


def test_leading_digits_are_not_part_of_a_term() -> None:
    counts = terms(make_paper("x", abstract="4bit GPT4o 2024 12ab3c llama2"))
    assert set(counts) == {"bit", "gpt4o", "ab3c", "llama2"}

def test_bounded_postings_still_find_near_duplicates() -> None:
    """With every term's list capped at 2 papers, a paper still finds its closest twin."""
    papers = clustered()
    twin = make_paper("Decoding study 0", abstract=papers[0].abstract)
    twin.slug = "decoding-twin"
    related = related_papers([*papers, twin], postings_per_term=2)
    assert related["decoding-twin"][0] == "decoding-0"


words = st.sampled_from("attention decoding protein legal sparse tokens kernels folding court draft model".split())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(words, min_size=0, max_size=8), min_size=1, max_size=12), st.integers(1, 6))
def test_related_lists_are_well_formed(abstracts: list[list[str]], count: int) -> None:
    papers = []
    for n, abstract in enumerate(abstracts):
        paper = make_paper(f"Paper {n}", abstract=" ".join(abstract))
        paper.slug = f"paper-{n}"
        papers.append(paper)
    related = related_papers(papers, count)
    assert set(related) == {paper.slug for paper in papers}
    for slug, others in related.items():
        assert len(others) <= count and slug not in others and len(set(others)) == len(others)
        assert set(others) <= set(related)
    assert related_papers(list(reversed(papers)), count) == related


def test_blocks_ranked_by_forked_workers_give_the_answer_of_one_process(monkeypatch) -> None:
    papers = clustered()
    expected = related_papers(papers, jobs=1)
    monkeypatch.setattr("paperroute.related.PARALLEL_MIN", 1)
    monkeypatch.setattr("paperroute.parallel.worker_count", lambda jobs=None: 2)
    assert related_papers(papers, block=4) == expected
    assert related_papers(papers, block=4, postings_per_term=3) == related_papers(papers, postings_per_term=3, jobs=1)


def test_picking_each_papers_terms_a_block_of_papers_at_a_time_gives_the_same_ranking(monkeypatch) -> None:
    """Blocks bound the memory (290 MB less at 100,000 papers); their edges must not show."""
    papers = clustered()
    expected = rank_related(papers)
    monkeypatch.setattr("paperroute.related._TOP_BLOCK", 4)  # papers of one cluster across blocks
    blocked = rank_related(papers)
    assert blocked.lists == expected.lists
    assert record(blocked) == record(expected)  # weights and all, bit for bit
    assert rank_related([]).lists == {}


def test_the_lists_read_from_the_ranking_are_each_papers_list() -> None:
    papers = clustered()
    ranking = rank_related(papers)
    lists = ranking.lists
    assert sorted(lists) == sorted(paper.slug for paper in papers) and len(lists) == len(papers)
    cuts = np.r_[0, np.cumsum(ranking.list_counts)]
    for index, slug in enumerate(ranking.slugs):
        assert lists[slug] == [ranking.slugs[i] for i in ranking.partners[cuts[index]:cuts[index + 1]]]
    assert lists["legal-0"][0].startswith("legal-")
    with pytest.raises(KeyError):
        lists["no-such-paper"]
    assert lists.get("legal-00", ()) == () and lists.get("zzz", ()) == ()


def test_the_idf_basis_grows_in_steps_of_a_quarter() -> None:
    assert [idf_basis_size(n) for n in (5, 999, 1000, 1249, 1250, 1561, 1562, 10_100)] == \
        [5, 999, 1000, 1000, 1250, 1250, 1562, 9306]


def test_a_new_day_leaves_the_lists_it_does_not_enter_alone() -> None:
    """Between two steps of the basis, old papers' term weights stay put: a day of papers on
    other subjects changes no old list. With frequencies over the whole corpus it reordered some."""
    old = list(load_synthetic().synthetic_papers(1300))
    day = max(paper.date for paper in old) + dt.timedelta(days=1)
    new = []
    for n in range(100):
        words = " ".join(f"{syllable}{n % 7}{k}" for k, syllable in enumerate(("quor", "blent", "vax", "pim")))
        new.append(make_paper(f"Orthogonal {words}", day.isoformat(), abstract=f"We {words} apart."))
        new[-1].slug = f"new-{n}"
    assert idf_basis_size(len(old)) == idf_basis_size(len(old) + len(new))
    before = related_papers(old)
    after = related_papers(old + new)
    assert {slug: after[slug] for slug in before} == before
    assert all(after[paper.slug] and all(other.startswith("new-") for other in after[paper.slug]) for paper in new)


def test_ranking_again_only_what_moved_gives_the_full_answer(monkeypatch) -> None:
    """New days, deletions, edits, a new step of the IDF basis: each time, a ranking that
    starts from the last one equals a ranking from nothing, and (between steps) ranks a few."""
    monkeypatch.setattr("paperroute.related.IDF_BASIS_MIN", 200)  # steps at 487, 608: crossed below
    papers = list(load_synthetic().synthetic_papers(700))  # newest first
    rng = random.Random(11)
    vocabulary = TermVocabulary()

    picked = []  # how many papers' terms each ranking picked (the others' were the last ranking's)
    top_terms = related_module._top_terms
    monkeypatch.setattr("paperroute.related._top_terms", lambda first, lengths, *rest: (
        picked.append(lengths.size), top_terms(first, lengths, *rest))[1])

    def rank(corpus: list[Paper], previous=None, fresh=()):
        vectors = [vocabulary.vector(paper_terms(paper)) for paper in corpus]
        picked.clear()
        # Four postings a term, not 32: entries pushed off their lists by new papers are common.
        return rank_related(corpus, postings_per_term=4, vectors=vectors, vocabulary=vocabulary, previous=previous,
                            fresh=None if previous is None else fresh)

    corpus = papers[200:]
    last = rank(corpus)
    day = papers[100:200]
    # Edits and deletions among the newest papers, outside the basis (one inside moves every weight).
    edited = [make_paper(paper.title, paper.date, abstract=papers[-1 - n].abstract) for n, paper in enumerate(day[:3])]
    # and one that only says the same words twice: its terms, and who shares them, stay the same
    edited.append(make_paper(day[3].title, day[3].date, abstract=f"{day[3].abstract} {day[3].abstract}"))
    for n, paper in enumerate(edited):
        paper.slug = day[n].slug
    kept = [paper for paper in day[4:] if rng.random() > 0.1]
    steps = [
        ("a new day", day + corpus),
        ("edits", edited + day[4:] + corpus),
        ("deletions", edited + kept + corpus),
        ("a new step of the basis", papers),
    ]
    for step, corpus in steps:
        full = rank(corpus)
        # The edited papers' vectors are not the last ranking's: unless told, it keeps their terms.
        if step == "edits":
            assert record(rank(corpus, last)) != record(full)
        again = rank(corpus, last, fresh={paper.slug for paper in edited} if step == "edits" else ())
        assert again.lists == full.lists, step
        assert record(again) == record(full), step  # terms, weights, scores
        ranked = again.ranked.size
        assert ranked == len(corpus) if step == "a new step of the basis" else ranked < len(corpus) * 0.8, (step, ranked)
        assert sum(picked) == len(corpus) if step == "a new step of the basis" else sum(picked) < len(corpus) * 0.4, \
            (step, sum(picked))
        last = again


def test_a_vocabulary_kept_from_earlier_builds_gives_the_same_answer() -> None:
    """A build's vocabulary numbers terms in the order it met them, and keeps terms of papers
    since deleted: neither may change a list. Ties between a paper's terms go by name."""
    papers = []
    for slug, abstract in (("a", "alpha zulu"), ("b", "alpha"), ("c", "zulu")):
        papers.append(make_paper(f"Paper {slug}", abstract=abstract))
        papers[-1].slug = slug
    vocabulary = TermVocabulary()
    for deleted in ("Zulu okapi", "Zebra alpha quagga"):  # met first, by papers since deleted
        vocabulary.vector(paper_terms(make_paper(deleted)))
    assert vocabulary.terms.index("zulu") < vocabulary.terms.index("alpha")
    vectors = [vocabulary.vector(paper_terms(paper)) for paper in papers]
    # "alpha" and "zulu" weigh the same in paper a, which may keep one: the first by name.
    assert related_papers(papers, terms_per_paper=1)["a"] == ["b"]
    assert related_papers(papers, vectors=vectors, vocabulary=vocabulary, terms_per_paper=1)["a"] == ["b"]
    clusters = clustered()
    shuffled = TermVocabulary()
    for paper in random.Random(3).sample(clusters, len(clusters)):
        shuffled.vector(paper_terms(paper))
    vectors = [shuffled.vector(paper_terms(paper)) for paper in clusters]
    assert related_papers(clusters, vectors=vectors, vocabulary=shuffled) == related_papers(clusters)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ab-zé0", min_size=1, max_size=5), st.booleans(), st.booleans()),
                unique_by=lambda item: item[0], max_size=40), st.randoms())
def test_the_slug_order_merged_from_the_last_ranking_is_the_sorted_order(slugs, shuffler) -> None:
    """The last ranking's slugs (sorted), less the papers gone, with the new ones put in their
    places (`_slug_order`): the order that sorting them all gives, each old paper where it now is."""
    old = sorted(slug for slug, was, _ in slugs if was)
    given = [slug for slug, _, now in slugs if now]
    shuffler.shuffle(given)
    order, old_index = related_module._slug_order(given, SimpleNamespace(slugs=old))
    assert order == sorted(range(len(given)), key=given.__getitem__)
    now = [given[index] for index in order]
    assert old_index.tolist() == [now.index(slug) if slug in now else -1 for slug in old]
    assert related_module._slug_order(given, None) == (order, None)
