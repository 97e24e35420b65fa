"""The search index on real files: tokenizer, encoding, sharding, segments, determinism,
escaping, and BM25F order. (The browser side is tests/test_search_browser.py.)"""

from __future__ import annotations

import datetime as dt
import json
import marshal
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import make_paper
from paperroute import search
from paperroute.buildstate import ParsedFile, StoredTexts, cache_file_bytes
from paperroute.corpus import build_corpus
from paperroute.errors import InputError
from paperroute.model import Paper, Topic
from paperroute.output import SiteWriter
from paperroute.packed import PackedPapers

TOPICS = [Topic("compression", "Compression"), Topic("training", "Training"), Topic("reasoning", "Reasoning")]
HOSTILE_TITLE = '<img src=x onerror=alert(1)> "Quoted" \\ back\\slash \u2028line\x07bell </script>'


def index_files(papers: list[Paper], topics: list[Topic] = TOPICS) -> dict[str, str]:
    corpus = build_corpus(papers, topics)
    return dict(search.search_files(search.doc_ids(corpus), corpus.topics))


def numbered(count: int, **fields) -> list[Paper]:
    papers = []
    for number in range(count):
        paper = make_paper(f"Paper number {number}", f"2026-03-{1 + number % 28:02d}", **fields)
        paper.slug = f"paper-{number}"
        papers.append(paper)
    return papers


def shard_entry(files: dict[str, str], term: str) -> list:
    """Find a term the way search.js does: the last shard whose key is not above it."""
    keys = json.loads(files["meta.json"])["shards"]
    number = max(n for n, key in enumerate(keys) if search.js_order(key) <= search.js_order(term))
    return json.loads(files[f"t/{number}.json"])[term]


def all_postings(files: dict[str, str], term: str) -> list[tuple[int, int]]:
    entry = shard_entry(files, term)
    postings = search.decode_postings(entry[1])
    if len(entry) > 2:
        stem_name = entry[3] if len(entry) > 3 else term
        for number in range(1, len(entry[2]) + 1):
            postings += search.decode_postings(json.loads(files[f"p/{stem_name}-{number}.json"]))
    return postings


# ---------------------------------------------------------------- tokenizer


def test_terms_fold_case_accents_plurals_and_drop_stop_words() -> None:
    text = "The Naïve MODELS’ studies of GPT-4, LoRA-tuned LLMs and the loss of a corpus: analysis x"
    assert search.terms(text) == ["naive", "model", "study", "gpt", "lora", "tuned", "llm", "loss", "corpus", "analysis"]


def test_terms_keep_letters_and_digits_of_any_script() -> None:
    assert search.terms("Überblick: Ελληνικά 数据集 2024 ﬁne-tuning") == ["uberblick", "ελληνικα", "数据集", "2024", "fine",
                                                                         "tuning"]


def test_ascii_fast_path_agrees_with_the_general_tokenizer() -> None:
    vocabulary = search._Vocabulary()
    text = "Sparse MoE models: 7B experts, top-2 routing_gates & KV-cache (v2)!"
    for _ in range(2):  # words met for the first time, then known ones
        ids = vocabulary.term_ids(text)
        by_id = {term_id: term for term, term_id in vocabulary.ids.items()}
        assert [by_id[term_id] for term_id in ids if term_id >= 0] == search.terms(text)


@pytest.mark.parametrize(("word", "stemmed"), [
    ("models", "model"), ("studies", "study"), ("loss", "loss"), ("corpus", "corpus"), ("analysis", "analysis"),
    ("gpus", "gpus"), ("bus", "bus"), ("series", "sery"), ("does", "doe"), ("has", "has"), ("llms", "llm"),
])
def test_stem_folds_plurals_only(word: str, stemmed: str) -> None:
    assert search.stem(word) == stemmed


# ---------------------------------------------------------------- encoding


def test_the_varint_table_is_each_numbers_varint() -> None:
    """The table of every number below 32**3 is made from the digits, not by `_varint`."""
    assert search._VARINT == [search._varint(number) for number in range(32 ** 3)]
    assert search.decode_varints("".join(search._VARINT)) == list(range(32 ** 3))


@given(st.lists(st.integers(min_value=0, max_value=2 ** 40)))
def test_varints_round_trip(numbers: list[int]) -> None:
    encoded = "".join(search.varint(number) for number in numbers)
    assert search.decode_varints(encoded) == numbers
    assert all(char in search.ALPHABET for char in encoded)


@given(st.dictionaries(st.integers(min_value=0, max_value=10 ** 6), st.integers(min_value=1, max_value=1023)))
def test_postings_round_trip_best_first(impacts_by_doc: dict[int, int]) -> None:
    keys = sorted((search.posting_key(impact, doc) for doc, impact in impacts_by_doc.items()), reverse=True)
    decoded = search.decode_postings(search.encode_postings(keys))
    assert decoded == sorted(((impact, doc) for doc, impact in impacts_by_doc.items()), reverse=True)


# ---------------------------------------------------------------- files


def test_terms_beyond_u_ffff_sort_as_javascript_compares_them() -> None:
    """Python orders strings by code point, JavaScript by UTF-16 code unit, in which a
    character beyond U+FFFF (two units from U+D800) sorts before U+FA0E: the shards follow
    JavaScript, whose binary search finds them."""
    gothic, ideographs = "\U00010330\U00010331", "\ufa0e\ufa0f"
    paper = make_paper(f"{ideographs} then {gothic}", "2026-03-01", abstract="Written in two scripts.")
    paper.slug = "two-scripts"
    files = index_files([paper])
    keys = json.loads(files["meta.json"])["shards"]
    terms = [term for number in range(len(keys)) for term in json.loads(files[f"t/{number}.json"])]
    assert terms == sorted(terms, key=search.js_order) and terms.index(gothic) < terms.index(ideographs)


def test_files_are_sharded_and_every_term_is_in_its_shard() -> None:
    papers = [make_paper(f"Study {number} of term{number} and word{number * 7}", "2026-03-01",
                         abstract=" ".join(f"vocab{number}x{k}" for k in range(40))) for number in range(300)]
    for number, paper in enumerate(papers):
        paper.slug = f"study-{number}"
    files = index_files(papers)
    keys = json.loads(files["meta.json"])["shards"]
    shards = [json.loads(files[f"t/{number}.json"]) for number in range(len(keys))]
    assert len(shards) > 5 and f"t/{len(keys)}.json" not in files
    assert keys[0] == "" and keys == sorted(keys, key=search.js_order)
    seen: list[str] = []
    for number, shard in enumerate(shards):
        terms = list(shard)
        assert terms == sorted(terms, key=search.js_order)
        # Every term sorts at or after its shard's key and before the next shard's key.
        assert all(search.js_order(keys[number]) <= search.js_order(term) for term in terms)
        if number + 1 < len(keys):
            assert all(search.js_order(term) < search.js_order(keys[number + 1]) for term in terms)
        assert len(files[f"t/{number}.json"].encode()) <= search.SHARD_BYTES + 200
        seen += terms
    assert len(seen) == len(set(seen)) > 12_000
    assert shard_entry(files, "vocab17x3")[0] == 1


def test_a_common_term_is_cut_into_growing_segments_best_first() -> None:
    count = search.HEAD_POSTINGS * 6
    papers = numbered(count)
    for number, paper in enumerate(papers):
        # Varying counts and lengths give varying impacts.
        paper.abstract = "common " * (1 + number % 5) + "filler " * (number % 17)
    files = index_files(papers)
    entry = shard_entry(files, "common")
    df, head, bounds = entry
    assert df == count
    segments = [search.decode_postings(head)] + [
        search.decode_postings(json.loads(files[f"p/common-{n}.json"])) for n in range(1, len(bounds) + 1)]
    assert [len(segment) for segment in segments] == [end - start for start, end in search.segment_bounds(count)]
    assert [len(segment) for segment in segments] == [128, 512, 128]
    assert bounds == [segment[0][0] for segment in segments[1:]]
    impacts = [impact for segment in segments for impact, _ in segment]
    assert impacts == sorted(impacts, reverse=True)
    assert sorted(doc for segment in segments for _, doc in segment) == list(range(count))
    # Within one impact, newer papers (higher ids) come first, so the head keeps the newest.
    flat = [posting for segment in segments for posting in segment]
    assert flat == sorted(flat, key=lambda posting: (-posting[0], -posting[1]))


def test_a_term_outside_ascii_gets_a_hashed_segment_file() -> None:
    papers = numbered(search.HEAD_POSTINGS + 5, abstract="Ελληνικά everywhere")
    files = index_files(papers)
    entry = shard_entry(files, "ελληνικα")
    assert entry[3].startswith("x") and f"p/{entry[3]}-1.json" in files


def test_ids_run_oldest_first_and_blocks_show_each_paper() -> None:
    papers = numbered(20, topics=["training", "reasoning"])
    papers[3].topics = []
    files = index_files(papers)
    records = [record for number in range(math.ceil(20 / search.DOC_BLOCK))
               for record in json.loads(files[f"d/{number}.json"])]
    dates = [record[2] for record in records]
    assert dates == sorted(dates)
    meta = json.loads(files["meta.json"])
    topic_slugs = [slug for slug, _ in meta["topics"]]
    assert topic_slugs[-1] == "other"
    by_slug = {record[0]: record for record in records}
    assert by_slug["paper-3"][3] == [topic_slugs.index("other")]
    assert by_slug["paper-4"][3] == [topic_slugs.index("training"), topic_slugs.index("reasoning")]
    other_ids = search.decode_ids(search.decode_varints(json.loads(files[f"topic/{topic_slugs.index('other')}.json"])))
    assert [records[doc][0] for doc in other_ids] == ["paper-3"]
    assert meta["docs"] == 20 and meta["first"] == dates[0] and meta["last"] == dates[-1]
    assert meta["paper"] == "../papers/{slug}/"


def test_dates_table_counts_papers_per_listed_day() -> None:
    papers = [make_paper(f"P{n}", date) for n, date in enumerate(["2026-03-01", "2026-03-01", "2026-03-04", "2026-03-05"])]
    for number, paper in enumerate(papers):
        paper.slug = f"p{number}"
    files = index_files(papers)
    assert search.decode_varints(json.loads(files["dates.json"])) == [0, 2, 3, 1, 1, 1]


def test_the_same_papers_give_the_same_bytes(tmp_path: Path) -> None:
    papers = numbered(300, abstract="Models of models, attention and more attention.")
    assert index_files(papers) == index_files(list(reversed(papers)))
    corpus = build_corpus(papers, TOPICS)
    first = SiteWriter(tmp_path)
    search.write_search_index(search.doc_ids(corpus), corpus.topics, first)
    second = SiteWriter(tmp_path)
    search.write_search_index(search.doc_ids(corpus), corpus.topics, second)
    assert first.written > 0 and second.written == 0 and second.unchanged == first.written
    assert all(path.startswith("search/") for path in first.paths)


def test_many_runs_encode_as_each_alone() -> None:
    runs = [[], [search.posting_key(7, 5)], [search.posting_key(1023, 2 ** 31), search.posting_key(1023, 40),
            search.posting_key(9, 41), search.posting_key(9, 3), search.posting_key(1, 0)], [search.posting_key(2, 1)]]
    keys = [key for run in runs for key in run]
    starts = [sum(map(len, runs[:number])) for number in range(len(runs))]
    assert search.encode_runs(np.array(keys, dtype=np.uint64), starts) == [search.encode_postings(run) for run in runs]
    assert search.decode_postings(search.encode_postings(runs[2])) == [(1023, 2 ** 31), (1023, 40), (9, 41), (9, 3), (1, 0)]


def test_postings_encoded_in_small_batches_give_the_same_files(monkeypatch: pytest.MonkeyPatch) -> None:
    papers = numbered(search.HEAD_POSTINGS * 3, abstract="common words, common ground")
    whole = index_files(papers)
    monkeypatch.setattr(search, "_ENCODE_BATCH", 5)
    monkeypatch.setattr(search, "_IMPACT_BATCH", 7)
    assert index_files(papers) == whole


def test_a_vocabulary_too_big_for_one_integer_sort_is_sorted_all_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    papers = numbered(search.HEAD_POSTINGS * 2, abstract="common words, common ground, rare words")
    whole = index_files(papers)
    monkeypatch.setattr(search, "_MAX_TERMS", 3)
    assert index_files(papers) == whole


def cache_paths(folder: Path) -> tuple[Path, Path]:
    return folder / "counts", folder / "postings"


def test_joined_pair_counts_are_the_parts_in_order_and_the_parts_are_let_go() -> None:
    papers = [make_paper(f"Sparse attention {i}", abstract=f"Kernels for long context, part {i}.") for i in range(5)]
    vocabulary = search._Vocabulary()
    parts = [search._field_counts(vocabulary, papers[start:start + 2], np.arange(start, min(start + 2, 5)))[0]
             for start in (0, 2, 4)]
    expected = [np.concatenate([getattr(part, name) for part in parts]) for name in ("docs", "terms", "packed")]
    kept = list(parts)
    joined = search.PairCounts.join(parts)
    assert not parts and all(part.docs.size == part.terms.size == part.packed.size == 0 for part in kept)
    for name, column in zip(("docs", "terms", "packed"), expected):
        assert np.array_equal(getattr(joined, name), column)
    assert joined.docs.dtype == np.int32 and sorted(set(joined.docs.tolist())) == [0, 1, 2, 3, 4]


def test_the_index_cache_gives_the_bytes_of_a_build_without_it(tmp_path: Path) -> None:
    papers = numbered(60, abstract="Sparse attention for long context models.")
    for number, paper in enumerate(papers):
        paper.abstract += f" Variant{number % 7} of study {number}."
    digests = {paper.slug: paper.slug.encode() for paper in papers}
    cache = search.IndexCache(cache_paths(tmp_path), b"code", digests)
    corpus = build_corpus(papers[:50], TOPICS)
    assert dict(search.search_files(search.doc_ids(corpus), corpus.topics, cache)) == index_files(papers[:50])
    assert all(path.is_file() for path in cache_paths(tmp_path))
    # Ten new papers, one old one gone, one edited (a new digest): ids move, the counts still serve.
    changed = papers[:20] + papers[21:]
    changed[5].abstract = "An edited abstract about retrieval."
    digests[changed[5].slug] = b"edited"
    corpus = build_corpus(changed, TOPICS)
    assert dict(search.search_files(search.doc_ids(corpus), corpus.topics, cache)) == index_files(changed)
    # Again: now the postings come whole from the cache, and nothing is tokenised.
    assert dict(search.search_files(search.doc_ids(corpus), corpus.topics, cache)) == index_files(changed)
    # Another code's cache, or a damaged or empty one, is not used, and the build is still right.
    for other, damaged in ((search.IndexCache(cache_paths(tmp_path), b"other code", digests), b"not marshal"),
                           (cache, b""), (cache, None)):
        assert dict(search.search_files(search.doc_ids(corpus), corpus.topics, other)) == index_files(changed)
        for path in cache_paths(tmp_path):
            if damaged is not None:
                path.write_bytes(damaged)


def postings_of_terms(postings: search.Postings) -> dict[str, list[int]]:
    keys, bounds = postings.keys, postings.bounds
    return {term: keys[bounds[number]:bounds[number + 1]].tolist()
            for number, term in enumerate(postings.vocabulary) if bounds[number] < bounds[number + 1]}


def test_a_new_day_is_merged_into_the_last_postings(tmp_path: Path) -> None:
    old = numbered(search.HEAD_POSTINGS * 2, abstract="Sparse attention for long context models.")
    day = []
    for number in range(12):
        paper = make_paper(f"Attention routing {number}", "2026-04-01", authors=[f"Ada Novel{number}"],
                           abstract=f"Attention with words never seen: novelty{number}, and models.")
        paper.slug = f"new-{number}"
        day.append(paper)
    digests = {paper.slug: paper.slug.encode() for paper in old + day}
    cache = search.IndexCache(cache_paths(tmp_path), b"code", digests)
    corpus = build_corpus(old, TOPICS)
    list(search.search_files(search.doc_ids(corpus), corpus.topics, cache))
    counts = cache_paths(tmp_path)[0].read_bytes()

    previous, previous_digests, _ = cache.load_postings()
    papers = search.doc_ids(build_corpus(old + day, TOPICS))
    merged, touched = search.extend_postings(previous, previous_digests, papers, digests)
    # Every term's postings as a whole computation gives them; "attention" has segments,
    # and the new papers' postings go to its top, ahead of old ones.
    assert postings_of_terms(merged) == postings_of_terms(search.postings_by_term(papers))
    assert len(postings_of_terms(merged)["attention"]) > search.HEAD_POSTINGS
    new_terms = {term for paper in day for text in (paper.title, *paper.authors, paper.abstract)
                 for term in search.terms(text)}
    assert {merged.vocabulary[number] for number in touched.tolist()} == new_terms
    # The files are a whole build's, and the counts cache was not even rewritten.
    corpus = build_corpus(old + day, TOPICS)
    assert dict(search.search_files(search.doc_ids(corpus), corpus.topics, cache)) == index_files(old + day)
    assert cache_paths(tmp_path)[0].read_bytes() == counts

    # Not a new day: an old paper edited, or new papers long enough to move an average length.
    edited = {**digests, old[0].slug: b"edited"}
    assert search.extend_postings(previous, previous_digests, papers, edited) is None
    long_day = [make_paper(f"Long {number}", "2026-04-01", abstract="words " * 400) for number in range(40)]
    for number, paper in enumerate(long_day):
        paper.slug = f"long-{number}"
        digests[paper.slug] = paper.slug.encode()
    papers = search.doc_ids(build_corpus(old + long_day, TOPICS))
    assert search.extend_postings(previous, previous_digests, papers, digests) is None


def test_hostile_text_survives_json_as_plain_text() -> None:
    paper = make_paper(HOSTILE_TITLE, authors=['"><svg onload=alert(2)>', "Zoë \ud800Broken"])
    paper.slug = "hostile"
    files = index_files([paper])
    for path, text in files.items():
        text.encode("utf-8")  # no lone surrogate can reach a file
        json.loads(text)
        assert "\x07" not in text, path
    (record,) = json.loads(files["d/0.json"])
    # Control characters go, line separators become spaces; markup stays text for the DOM.
    assert record[1] == '<img src=x onerror=alert(1)> "Quoted" \\ back\\slash linebell </script>'
    assert record[4] == ['"><svg onload=alert(2)>', "Zoë Broken"]
    assert shard_entry(files, "onerror")[0] == 1


# ---------------------------------------------------------------- ranking


def scores_for(files: dict[str, str], query_terms: list[str]) -> dict[int, float]:
    """Full BM25F evaluation from the index, every posting read: what search.js must agree with."""
    docs = json.loads(files["meta.json"])["docs"]
    total: dict[int, float] | None = None
    for term in query_terms:
        df = shard_entry(files, term)[0]
        idf = math.log(1 + (docs - df + 0.5) / (df + 0.5))
        part = {doc: idf * impact for impact, doc in all_postings(files, term)}
        total = part if total is None else {doc: total[doc] + score for doc, score in part.items() if doc in total}
    return total or {}


def slugs_by_score(files: dict[str, str], query_terms: list[str]) -> list[str]:
    records = [record for path, text in sorted(files.items()) if path.startswith("d/")
               for record in json.loads(text)]
    block = search.DOC_BLOCK
    slug_of = {int(path[2:-5]) * block + n: record[0] for path, text in files.items() if path.startswith("d/")
               for n, record in enumerate(json.loads(text))}
    assert len(slug_of) == len(records)
    scores = scores_for(files, query_terms)
    return [slug_of[doc] for doc in sorted(scores, key=lambda doc: (-scores[doc], -doc))]


def test_bm25f_ranks_title_above_abstract_and_rewards_frequency_and_brevity() -> None:
    def filler(count: int) -> str:
        return " ".join(f"filler{n}" for n in range(count))

    papers = [
        make_paper("Pruning large networks", "2026-03-01", abstract=filler(60)),
        make_paper("A study of networks", "2026-03-02", abstract=f"We use pruning. {filler(58)}"),
        make_paper("Another study", "2026-03-03", abstract=f"Pruning, pruning and pruning. {filler(57)}"),
        make_paper("Short study", "2026-03-04", abstract=f"We use pruning. {filler(18)}"),
        make_paper("Unrelated", "2026-03-05", abstract=filler(60)),
    ]
    for paper in papers:
        paper.slug = search.normalise(paper.title).replace(" ", "-")
    files = index_files(papers)
    assert slugs_by_score(files, ["pruning"]) == [
        "pruning-large-networks", "another-study", "short-study", "a-study-of-networks"]


def test_a_rare_term_weighs_more_than_a_common_one() -> None:
    papers = [make_paper(f"Paper {n}", "2026-03-01", abstract=f"common words only {n}") for n in range(20)]
    papers.append(make_paper("Rare twice", "2026-03-02", abstract="zebra zebra common words"))
    papers.append(make_paper("Common twice", "2026-03-02", abstract="zebra common common words"))
    for number, paper in enumerate(papers):
        paper.slug = f"p{number}"
    files = index_files(papers)
    assert slugs_by_score(files, ["zebra", "common"]) == ["p20", "p21"]


def test_impacts_follow_the_bm25f_formula() -> None:
    papers = [make_paper("Alpha beta", "2026-03-01", abstract="gamma gamma alpha delta", authors=["Alpha Person"]),
              make_paper("Beta", "2026-03-02", abstract="alpha epsilon", authors=["Other Person"])]
    for number, paper in enumerate(papers):
        paper.slug = f"p{number}"
    files = index_files(papers)
    # Field lengths (terms): titles 2 and 1 (average 2 after rounding 1.5), authors 2 and 2,
    # abstracts 4 and 2 (average 3).
    title_norm = 1 - search.TITLE_B + search.TITLE_B * 2 / 2
    abstract_norm = 1 - search.ABSTRACT_B + search.ABSTRACT_B * 4 / 3
    tf = (search.TITLE_WEIGHT * 1 / title_norm + search.AUTHORS_WEIGHT * 1 + search.ABSTRACT_WEIGHT * 1 / abstract_norm)
    expected = round(tf * (search.K1 + 1) / (tf + search.K1) * search.IMPACT_LEVELS / (search.K1 + 1))
    assert dict((doc, impact) for impact, doc in all_postings(files, "alpha"))[0] == expected


def packed(papers: list[Paper], digests: dict[str, bytes]) -> tuple[list, dict[str, bytes], Callable[[int], None], list]:
    """`papers` packed and unpacked as the search process gets them, and the packed chunks
    (watched: None once let go)."""
    papers, digests, texts_done = PackedPapers(papers, digests).unpack()
    chunks = texts_done.__self__._chunks
    return papers, digests, texts_done, chunks


def test_packed_papers_read_as_the_papers_and_let_their_texts_go(monkeypatch) -> None:
    monkeypatch.setattr("paperroute.packed.TEXT_CHUNK", 3)
    originals = numbered(7, authors=["Ada <Lovelace>", "B. \u2028Quote\""])
    originals[2].title, originals[4].topics = HOSTILE_TITLE, []
    digests = {paper.slug: paper.slug.encode() * 2 for paper in originals}
    papers, unpacked_digests, texts_done, chunks = packed(originals, digests)
    assert unpacked_digests == digests
    for paper, original in zip(papers, originals):
        assert (paper.slug, paper.date, paper.topics, paper.title, paper.authors, paper.abstract) == (
            original.slug, original.date, original.topics, original.title, original.authors, original.abstract)
    texts_done(5)  # papers 0-4: the first chunk (0-2) goes, the second (3-5) holds paper 5
    assert chunks[0] is None and chunks[1] is not None and papers[5].title == originals[5].title
    with pytest.raises(RuntimeError, match="paper 1 were read after"):
        papers[1].title
    texts_done(7)
    assert chunks == [None, None, None]


def test_packed_papers_read_the_texts_not_packed_from_the_paper_cache_and_let_the_packed_go(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("paperroute.packed.TEXT_CHUNK", 2)
    originals = numbered(7, authors=["Ada <Lovelace>"])
    digests = {paper.slug: paper.slug.encode() * 2 for paper in originals}
    on_disk = [originals[number] for number in (1, 2, 5)]
    folder = tmp_path / "folder-file"
    folder.write_bytes(cache_file_bytes({f"{paper.slug}.md": ParsedFile(1, 1, b"d" * 16, paper, (b"", b""))
                                         for paper in on_disk}))
    stamp = folder.stat()
    stored = StoredTexts([(str(folder), (stamp.st_ino, stamp.st_size, stamp.st_mtime_ns))],
                         {paper.slug: 0 for paper in on_disk})
    papers, _, texts_done = PackedPapers(originals, digests, stored=stored).unpack()
    chunks = texts_done.__self__._chunks
    assert len(chunks) == 2  # papers 0, 3, 4 and 6 packed, two a chunk
    for paper, original in zip(papers, originals):
        assert (paper.title, paper.authors, paper.abstract) == (original.title, original.authors, original.abstract)
    texts_done(4)  # papers 0-3: packed rows 0 and 1, the first chunk
    assert chunks[0] is None and chunks[1] is not None
    assert papers[2].title == originals[2].title  # read from its file again
    texts_done(7)
    assert chunks == [None, None]
    folder.write_bytes(marshal.dumps({}))  # another build replaced it meanwhile
    with pytest.raises(InputError, match="replaced or removed during the build"):
        stored.texts(0)


def test_an_index_of_packed_papers_is_the_same_and_reads_each_text_before_letting_it_go(tmp_path: Path, monkeypatch) -> None:
    """The search process lets the texts go as it counts (a text read after would raise):
    cold, and on a new day merged into the last postings."""
    monkeypatch.setattr("paperroute.packed.TEXT_CHUNK", 4)
    monkeypatch.setattr("paperroute.search._COUNT_CHUNK", 5)  # several rounds of counting
    papers = numbered(30, abstract="Sparse attention for long context models.")
    for number, paper in enumerate(papers):
        paper.abstract += f" Variant{number % 7} of study {number}."
    day = numbered(3)  # as long as every other paper: the averages stay, so the postings are merged
    for number, paper in enumerate(day):
        paper.slug, paper.date = f"new-{number}", dt.date(2026, 4, 1)
        paper.abstract = f"Sparse attention for long context models. Novel{number} of study {number}."
    digests = {paper.slug: paper.slug.encode() for paper in papers + day}
    releases: list[list[int]] = []
    for batch in (papers, papers + day):
        ordered = search.doc_ids(build_corpus(batch, TOPICS))
        unpacked, unpacked_digests, texts_done, chunks = packed(ordered, digests)
        cache = search.IndexCache(cache_paths(tmp_path), b"code", unpacked_digests)
        releases.append(calls := [])
        files = dict(search.search_files(unpacked, TOPICS, cache, texts_done=lambda below: (calls.append(below), texts_done(below))))
        assert files == index_files(batch)
        assert chunks == [None] * len(chunks)
    cold, new_day = releases
    assert cold[0] < len(papers) and cold[-1] == len(papers)  # the first texts went before all were counted
    assert new_day == [len(papers) + len(day)]  # merged: all go once the new papers are counted
