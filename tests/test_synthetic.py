"""bench/synthetic.py: the benchmarks' corpus is deterministic, realistic in shape, and loads."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conftest import load_synthetic
from paperroute.store import ContentStore
from paperroute.topics import load_taxonomy


synthetic = load_synthetic()


def test_paper_i_depends_only_on_the_seed_and_i() -> None:
    small = list(synthetic.synthetic_papers(50))
    large = list(synthetic.synthetic_papers(250))
    assert small == large[:50]
    assert synthetic.synthetic_paper(7, seed=1) != synthetic.synthetic_paper(7, seed=2)


def test_papers_look_like_a_daily_listing() -> None:
    papers = list(synthetic.synthetic_papers(1000))
    default_slugs = {topic.slug for topic in load_taxonomy(Path("/nonexistent")).topics}
    assert Counter(paper.date for paper in papers) == {
        synthetic.END_DATE - synthetic.dt.timedelta(days=day): 100 for day in range(10)}
    assert len({paper.slug for paper in papers}) == len({paper.arxiv_id for paper in papers}) == 1000
    assert all(1 <= len(paper.topics) <= 3 and set(paper.topics) <= default_slugs for paper in papers)
    assert 0.1 < sum(paper.upvotes is not None for paper in papers) / 1000 < 0.9
    assert {source.format for paper in papers for source in paper.sources} == {"capture", "html", "hf", "arxiv"}
    # Zipf-shaped words: a few in most abstracts, most in one or two.
    frequency = Counter(word for paper in papers for word in set(paper.abstract.lower().split()))
    assert frequency.most_common(1)[0][1] > 500
    assert sum(count <= 2 for count in frequency.values()) > len(frequency) / 2


def test_written_corpus_loads_back_as_the_same_papers(tmp_path: Path) -> None:
    # Above one chunk, so the worker processes run too.
    count = synthetic._CHUNK + 300
    assert synthetic.write_corpus(tmp_path, count) == count
    loaded = sorted(ContentStore(tmp_path).load(), key=lambda paper: paper.slug)
    expected = sorted(synthetic.synthetic_papers(count), key=lambda paper: paper.slug)
    assert loaded == expected
