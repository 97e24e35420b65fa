"""A Daily Papers page saved from a browser, parsed with BeautifulSoup."""

import datetime as dt
import shutil
from pathlib import Path

import pytest

from paperroute.commands.ingest import ingest
from paperroute.errors import InputError
from paperroute.sources.detect import parse_source
from paperroute.store import ContentStore

DATA = Path(__file__).parent / "data" / "sources"
PAGE = DATA / "hf_daily_papers_page_2025-03-04.html"
TODAY = dt.date(2025, 3, 10)


def parse_text(tmp_path: Path, text: str, name: str = "page.html", listing_date: dt.date | None = None) -> list:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return parse_source(path, listing_date=listing_date, today=TODAY)


def test_saved_page_yields_cards_in_order():
    papers = parse_source(PAGE, listing_date=None, today=TODAY)
    # Only the h3 cards: the sidebar's link to another paper is not part of the day's listing.
    assert [p.arxiv_id for p in papers] == ["2503.01785", "2503.02130", "2502.18934"]
    assert [p.position for p in papers] == [1, 2, 3]
    assert [p.upvotes for p in papers] == [54, 21, 8]
    assert [p.extra for p in papers] == [{"num_comments": 0}, {"num_comments": 2}, {"num_comments": 1}]
    # The date comes from the page's own address.
    assert {p.date for p in papers} == {dt.date(2025, 3, 4)}
    visual, fox, kanana = papers
    # A title wrapped across lines in the markup is one line of text.
    assert visual.title == "Visual Reinforcement Fine-Tuning for Grounded Reasoning"
    assert visual.links["project"] == "https://example.org/visual-rft"
    assert fox.links["code"] == "https://github.com/zhixuan-lin/forgetting-transformer"
    assert fox.links["arxiv"] == "https://arxiv.org/abs/2503.02130"
    # Entities decoded into the text they stand for; the nested <span> adds no spaces.
    assert kanana.title == "Kanana: Compute-efficient Bilingual Language Models & Their <Tokenizer>"
    # Cards have no abstract, and their avatars list only some authors: neither is claimed.
    assert all(p.abstract == "" and p.authors == [] for p in papers)
    assert {s.format for p in papers for s in p.sources} == {"html"}


def test_date_from_each_place_a_browser_leaves_the_address(tmp_path):
    card = ('<article><h3><a href="/papers/2503.02130">Forgetting Transformer</a></h3>'
            '<label><input type="checkbox"><div>7</div></label></article>')
    pages = {
        "comment": f"<!DOCTYPE html>\n<!-- saved from url=(0041)https://huggingface.co/papers?date=2025-03-02 -->\n<html><body>{card}</body></html>",
        "canonical": f'<!DOCTYPE html><html><head><link rel="canonical" href="https://huggingface.co/papers/date/2025-03-02"></head><body>{card}</body></html>',
        "og": f'<html><head><meta property="og:url" content="https://huggingface.co/papers?q=x&date=2025-03-02"></head><body>{card}</body></html>',
    }
    for name, text in pages.items():
        (paper,) = parse_text(tmp_path, text, name=f"{name}.html")
        assert (paper.date, paper.upvotes, paper.arxiv_id) == (dt.date(2025, 3, 2), 7, "2503.02130"), name


def test_todays_page_needs_a_date(tmp_path):
    text = ('<!DOCTYPE html><html><head><link rel="canonical" href="https://huggingface.co/papers"></head>'
            '<body><article><h3><a href="/papers/2503.02130">A title</a></h3></article></body></html>')
    with pytest.raises(InputError, match="no listing date"):
        parse_text(tmp_path, text)
    (paper,) = parse_text(tmp_path, text, listing_date=dt.date(2025, 3, 6))
    assert paper.date == dt.date(2025, 3, 6) and paper.upvotes is None


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("<!DOCTYPE html>\n<html><body><h1>Sign in</h1></body></html>", "no paper cards", 1),
        ('<!DOCTYPE html>\n<link rel="canonical" href="https://huggingface.co/papers/date/2025-03-04">\n'
         '<article>\n<h3><a href="/papers/2503.02130"> </a></h3></article>', "empty title", 4),
        ('<!DOCTYPE html><link rel="canonical" href="https://huggingface.co/papers/date/2025-02-30">'
         '<h3><a href="/papers/2503.02130">T</a></h3>', "impossible date", 1),
    ],
)
def test_bad_pages_name_file_and_line(tmp_path, text, message, line):
    with pytest.raises(InputError, match=message) as err:
        parse_text(tmp_path, text, name="bad.html")
    assert (err.value.path, err.value.line) == (str(tmp_path / "bad.html"), line)


def test_detected_from_content_whatever_the_name(tmp_path):
    disguised = tmp_path / "daily.txt"
    shutil.copy(PAGE, disguised)
    assert {s.format for p in parse_source(disguised, listing_date=None, today=TODAY) for s in p.sources} == {"html"}


def test_page_after_the_json_adds_its_sighting_but_not_its_poorer_fields(tmp_path):
    content = tmp_path / "content"
    ingest([DATA / "hf_daily_papers_2025-03-04.json"], content, today=TODAY)
    result = ingest([PAGE], content, today=TODAY)
    assert len(result.report.updated) == 3 and not result.report.new
    kanana = next(p for p in ContentStore(content).load() if p.arxiv_id == "2502.18934")
    # HF JSON is richer than the page: its title stays; both sightings are recorded.
    assert kanana.title == "Kanana: Compute-efficient Bilingual Language Models"
    assert [s.format for s in kanana.sources] == ["hf", "html"]
    assert kanana.abstract.startswith("We introduce a series of bilingual language models")
