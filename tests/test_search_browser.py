"""Search in real Chromium against a built site served on 127.0.0.1: typing, `?q=` URLs,
prefixes, filters, no results, markup as text, the keyboard, and ranking that equals a full
evaluation of the index. One site build and one browser for the whole file."""

from __future__ import annotations

import bisect
import json
import math
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect

from conftest import load_synthetic, make_paper, write_store
from paperroute import search
from paperroute.config import Config, SiteConfig, with_base_url
from paperroute.site import build_site

HOSTILE_TITLE = "<img src=x onerror=alert(1)> Hostile Markup Study"
HOSTILE_AUTHOR = "<b>Bold</b> Author"
SYNTHETIC_PAPERS = 400  # enough for a term to outgrow its head and need segments
CSP_WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("search-site")
    content = root / "content"
    load_synthetic().write_corpus(content, SYNTHETIC_PAPERS)
    write_store(content, [
        make_paper("Quantization-Aware Training for Tiny Transformers", "2026-01-15", topics=["compression", "training"],
                   authors=["Jürgen Quillfeather", "Ada Lovelace"], abstract="We train tiny transformers with quantization."),
        make_paper("Speculative Decoding at Scale with Zyzzogeton Drafts", "2026-02-20", topics=["efficient-inference"],
                   abstract="Draft models propose tokens; the target model verifies them."),
        make_paper(HOSTILE_TITLE, "2025-12-01", topics=["evaluation"], authors=[HOSTILE_AUTHOR],
                   abstract="A paper whose title is markup."),
        make_paper("Naïve Retrieval Heads", "2025-12-01", topics=["retrieval-rag"], abstract="Heads that retrieve."),
        # Three thousand words that begin "zqx": more dictionary shards than a prefix may fetch.
        make_paper("Broad Prefix Paper", "2025-12-02", topics=["data"],
                   abstract=" ".join(f"zqx{number}" for number in range(3000))),
    ])
    out = root / "site"
    build_site(content, out, with_base_url(Config(site=SiteConfig(title="Search test")), "http://127.0.0.1/"),
               quiet=True)
    return out


@pytest.fixture(scope="module")
def site_url(site: Path, serve_dir) -> str:
    return serve_dir(site)


@pytest.fixture
def watched(browser):
    """A page that records console errors, failed requests, dialogs and CSP violations."""
    context = browser.new_context()
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("response", lambda r: page.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    yield page
    csp = page.evaluate("window.__csp") if not page.is_closed() else []
    context.close()
    assert page.problems == [] and csp == []


def settle(page) -> None:
    """Wait until search.js has shown the results of the latest input.

    An input event marks #results busy at once; only the search of the latest input clears it.
    """
    page.wait_for_selector("#results:not([aria-busy])", state="attached")


def open_search(page, site_url: str, query: str = "", **filters: str) -> None:
    params = {"q": query, **filters}
    page.goto(site_url + "search/?" + "&".join(f"{name}={quote(value)}" for name, value in params.items()))
    settle(page)


def result_titles(page) -> list[str]:
    return page.locator("#results li > a").all_inner_texts()


def result_slugs(page) -> list[str]:
    hrefs = page.locator("#results li > a").evaluate_all("links => links.map(link => link.href)")
    return [urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1] for href in hrefs]


def status(page) -> str:
    return page.locator("#search-status").inner_text()


def test_typing_shows_ranked_links_and_the_url_follows(watched, site_url: str) -> None:
    open_search(watched, site_url)
    assert "Search 405 papers" in status(watched)
    watched.locator("input[type=search]").press_sequentially("zyzzogeton dra", delay=15)
    settle(watched)
    assert result_titles(watched) == ["Speculative Decoding at Scale with Zyzzogeton Drafts"]
    assert watched.locator("#results mark").all_inner_texts() == ["Zyzzogeton", "Drafts"]
    assert status(watched) == "1 paper matches."
    assert urlsplit(watched.url).query == "q=zyzzogeton+dra"
    watched.locator("#results li > a").click()
    watched.wait_for_url("**/papers/speculative-decoding-at-scale-with-zyzzogeton-drafts/")
    assert watched.locator("h1").inner_text() == "Speculative Decoding at Scale with Zyzzogeton Drafts"


def test_a_q_url_runs_on_load_with_accents_folded(watched, site_url: str) -> None:
    open_search(watched, site_url, "jurgen quillfeather quantization")
    assert watched.locator("input[type=search]").input_value() == "jurgen quillfeather quantization"
    assert result_titles(watched) == ["Quantization-Aware Training for Tiny Transformers"]
    assert watched.locator("#results .authors mark").all_inner_texts() == ["Jürgen", "Quillfeather"]
    open_search(watched, site_url, "naive")
    assert result_titles(watched) == ["Naïve Retrieval Heads"]


def test_only_the_word_being_typed_matches_as_a_prefix(watched, site_url: str) -> None:
    open_search(watched, site_url, "zyzzog")
    assert result_titles(watched) == ["Speculative Decoding at Scale with Zyzzogeton Drafts"]
    open_search(watched, site_url, "zyzzog ")
    assert result_titles(watched) == []
    open_search(watched, site_url, "zyzzog drafts")
    assert result_titles(watched) == []


def test_a_prefix_that_begins_too_many_words_waits_for_more_letters(watched, site_url: str) -> None:
    open_search(watched, site_url, "zqx")
    assert result_titles(watched) == []
    assert status(watched) == "Keep typing: “zqx” begins too many words to search yet."
    open_search(watched, site_url, "zqx271")
    assert result_titles(watched) == ["Broad Prefix Paper"]
    assert status(watched) == "1 paper matches."


def test_topic_and_date_filters(watched, site_url: str) -> None:
    open_search(watched, site_url, "quantization", topic="compression")
    metas = watched.locator("#results .search-hit-meta").all_inner_texts()
    assert len(metas) >= 3 and all("Compression" in meta for meta in metas)
    open_search(watched, site_url, "quantization", **{"from": "2026-01-01", "to": "2026-02-28"})
    assert result_titles(watched) == ["Quantization-Aware Training for Tiny Transformers"]
    # Changing a filter on the page runs the query again and updates the URL.
    watched.select_option("select[name=topic]", "training")
    watched.wait_for_url("**topic=training**")
    settle(watched)
    assert result_titles(watched) == ["Quantization-Aware Training for Tiny Transformers"]
    watched.select_option("select[name=topic]", "reasoning")
    expect(watched.locator("#results li")).to_have_count(0)
    assert status(watched) == "No papers match “quantization” with these filters."


def test_no_results_are_said_plainly(watched, site_url: str) -> None:
    open_search(watched, site_url, "xyzzyq")
    assert result_titles(watched) == []
    assert status(watched) == "No papers match “xyzzyq”."
    assert watched.locator("#search-more").is_hidden()


def test_markup_in_titles_and_queries_stays_text(watched, site_url: str) -> None:
    open_search(watched, site_url, "onerror")
    assert result_titles(watched) == [HOSTILE_TITLE]
    assert watched.locator("#results img, #results b").count() == 0
    assert watched.locator("#results .authors").inner_text() == HOSTILE_AUTHOR
    open_search(watched, site_url, "<img src=x onerror=alert(2)>zzqq")
    assert status(watched) == "No papers match “<img src=x onerror=alert(2)>zzqq”."
    assert watched.locator("#search-status *").count() == 0
    assert watched.evaluate("document.querySelectorAll('img[src=x]').length") == 0


def test_keyboard_moves_through_results(watched, site_url: str) -> None:
    open_search(watched, site_url, "model")
    focused = "document.activeElement.closest('li') ? [...document.querySelectorAll('#results li')]" \
              ".indexOf(document.activeElement.closest('li')) : document.activeElement.id"
    watched.locator("input[type=search]").focus()
    watched.keyboard.press("ArrowDown")
    assert watched.evaluate(focused) == 0
    watched.keyboard.press("ArrowDown")
    watched.keyboard.press("ArrowDown")
    assert watched.evaluate(focused) == 2
    watched.keyboard.press("ArrowUp")
    assert watched.evaluate(focused) == 1
    watched.keyboard.press("Escape")
    assert watched.evaluate(focused) == "search-query"
    watched.keyboard.press("ArrowDown")
    target = watched.evaluate("document.activeElement.href")
    watched.keyboard.press("Enter")
    watched.wait_for_url(target)


def full_evaluation(site: Path, query: str, topic: str = "", date_from: str = "") -> list[tuple[str, float]]:
    """Every matching paper and its score, reading every posting: the answer search.js must give."""
    index = site / "search"
    meta = json.loads((index / "meta.json").read_text())
    stop_words = set(meta["stopwords"].split())
    shards = [json.loads((index / f"t/{n}.json").read_text()) for n in range(len(meta["shards"]))]
    dictionary = {term: entry for shard in shards for term, entry in shard.items()}
    found = search.words(query)
    conjunct_scores = []
    for position, word in enumerate(found):
        exact = search.stem(word) if word not in stop_words and len(word) >= 2 else None
        prefix = word if position == len(found) - 1 and not query.endswith(" ") and len(word) >= meta["prefix"] else None
        if prefix:
            keys = [search.js_order(key) for key in meta["shards"]]
            first = bisect.bisect_right(keys, search.js_order(prefix)) - 1
            last = bisect.bisect_right(keys, search.js_order(prefix + "\uffff")) - 1
            prefix = prefix if last - first + 1 <= meta["prefix_shards"] else None
        scores: dict[int, float] = {}
        for term, entry in dictionary.items():
            if term != exact and not (prefix and term.startswith(prefix)):
                continue
            idf = math.log(1 + (meta["docs"] - entry[0] + 0.5) / (entry[0] + 0.5))
            postings = search.decode_postings(entry[1])
            for number in range(1, len(entry[2]) + 1 if len(entry) > 2 else 1):
                name = entry[3] if len(entry) > 3 else term
                postings += search.decode_postings(json.loads((index / f"p/{name}-{number}.json").read_text()))
            for impact, doc in postings:
                scores[doc] = max(scores.get(doc, 0.0), idf * impact)
        conjunct_scores.append(scores)
    block = meta["block"]
    records = {}
    for path in (index / "d").glob("*.json"):
        for offset, record in enumerate(json.loads(path.read_text())):
            records[int(path.stem) * block + offset] = record
    topic_number = [slug for slug, _ in meta["topics"]].index(topic) if topic else None
    matches = []
    for doc in set.intersection(*(set(scores) for scores in conjunct_scores)):
        record = records[doc]
        if topic_number is not None and topic_number not in record[3]:
            continue
        if date_from and record[2] < date_from:
            continue
        matches.append((doc, record[0], sum(scores[doc] for scores in conjunct_scores)))
    matches.sort(key=lambda match: (-match[2], -match[0]))
    return [(slug, score) for _, slug, score in matches]


@pytest.mark.parametrize(("query", "filters"), [
    ("model", {}),
    ("model language", {}),
    ("sparse attention", {}),
    ("model effic", {}),
    ("wang", {}),
    ("model", {"topic": "compression"}),
    ("model training", {"from": "2026-03-11"}),
])
def test_ranking_equals_a_full_evaluation_of_the_index(watched, site: Path, site_url: str, query: str,
                                                       filters: dict[str, str]) -> None:
    expected = full_evaluation(site, query, filters.get("topic", ""), filters.get("from", ""))
    assert len(expected) > 20  # the queries must be broad enough to need more than a head
    open_search(watched, site_url, query, **filters)
    watched.locator("#search-more").click()
    expect(watched.locator("#results li")).to_have_count(20)
    settle(watched)
    shown = result_slugs(watched)
    score_of = dict(expected)
    # The same scores in the same order (papers with equal scores may trade places).
    assert [score_of[slug] for slug in shown] == pytest.approx([score for _, score in expected[:20]], rel=1e-9)
    assert len(set(shown)) == 20
    count = status(watched)
    assert count in (f"{len(expected):,} papers match.", "The best 20 matches.")


def test_the_browser_tokenizer_matches_python(watched, site_url: str) -> None:
    open_search(watched, site_url)
    texts = ["The Naïve MODELS’ studies of GPT-4, LoRA-tuned LLMs", "Überblick: Ελληνικά 数据集 2024 ﬁne-tuning",
             "İstanbul ΣΟΦΟΣ straße corpus analysis series", "x y zz 7b A100s under_score e\u0301te\u0301",
             "<img src=x onerror=alert(1)> &amp; \"quotes\""]
    stop_words = sorted(search.STOP_WORDS)
    browser_terms = watched.evaluate(
        """async ([url, texts, stopWords]) => {
            const module = await import(url);
            return texts.map((text) => module.terms(text, new Set(stopWords)));
        }""", [site_url + "assets/search.js", texts, stop_words])
    assert browser_terms == [search.terms(text) for text in texts]
