"""Hugging Face Daily Papers JSON: a recorded `api/daily_papers` response and hand-made edge cases."""

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from paperroute.commands.ingest import ingest
from paperroute.errors import InputError
from paperroute.sources import hf_json
from paperroute.sources.detect import parse_source
from paperroute.store import ContentStore, read_paper_file

DATA = Path(__file__).parent / "data" / "sources"
LISTING = DATA / "hf_daily_papers_2025-03-04.json"
TODAY = dt.date(2025, 3, 10)


def parse_text(tmp_path: Path, text: str, name: str = "daily.json", listing_date: dt.date | None = None) -> list:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return parse_source(path, listing_date=listing_date, today=TODAY)


def test_recorded_listing_yields_every_field():
    papers = parse_source(LISTING, listing_date=None, today=TODAY)
    assert [p.arxiv_id for p in papers] == ["2503.02130", "2503.01785", "2502.18934"]
    assert [p.position for p in papers] == [1, 2, 3]
    fox = papers[0]
    assert fox.title == "Forgetting Transformer: Softmax Attention with a Forget Gate"
    assert fox.authors == ["Zhixuan Lin", "Evgenii Nikishin", "Xu Owen He", "Aaron Courville"]
    # Hard-wrapped summary unwrapped into one line of text.
    assert fox.abstract.startswith("An essential component of modern recurrent sequence models is the forget gate. While")
    assert "\n" not in fox.abstract and "  " not in fox.abstract
    assert fox.upvotes == 21
    # The item's publishedAt (put on the daily list) is the listing date, not the paper's arXiv date.
    assert fox.date == dt.date(2025, 3, 4)
    assert fox.links == {
        "arxiv": "https://arxiv.org/abs/2503.02130",
        "pdf": "https://arxiv.org/pdf/2503.02130",
        "hf": "https://huggingface.co/papers/2503.02130",
        "code": "https://github.com/zhixuan-lin/forgetting-transformer",
    }
    assert fox.extra == {
        "ai_summary": "Forgetting Attention adds a data-dependent forget gate to softmax attention, improving long-context language modelling.",
        "ai_keywords": ["forget gate", "Forgetting Attention", "Forgetting Transformer", "FlashAttention", "length extrapolation"],
        "num_comments": 2,
    }
    assert [(s.format, s.file, s.seen) for s in fox.sources] == [("hf", LISTING.name, dt.date(2025, 3, 4))]


def test_fields_at_item_level_latex_and_hostile_links():
    second = parse_source(LISTING, listing_date=None, today=TODAY)[1]
    # Title and summary sit on the item, not the paper, in this entry.
    assert second.title == "Visual Reinforcement Fine-Tuning for Grounded Reasoning"
    assert second.abstract.endswith("With only 2k examples, the model improves grounding accuracy by 24.3% over supervised fine-tuning.")
    assert second.authors == ["Mei Tanaka", "José Álvarez", "Priya Raman"]
    # A javascript: "githubRepo" is dropped; the project page is kept; an empty keyword list adds nothing.
    assert "code" not in second.links and second.links["project"] == "https://example.org/visual-rft"
    assert second.extra == {"num_comments": 0}


def test_version_suffix_collapses_and_id_stays_text():
    third = parse_source(LISTING, listing_date=None, today=TODAY)[2]
    assert third.arxiv_id == "2502.18934"
    # An unquoted id with a trailing zero is still that id, not the float 2503.0213.
    item = {"paper": {"id": 0, "title": "T", "summary": "S"}, "publishedAt": "2025-03-04T01:00:00Z"}
    text = json.dumps([item]).replace('"id": 0', '"id": 2503.02130')
    (paper,) = hf_json.parse(text, Path("x.json"), None, TODAY)
    assert paper.arxiv_id == "2503.02130"


def test_explicit_date_wins_and_missing_date_needs_one(tmp_path):
    assert {p.date for p in parse_source(LISTING, listing_date=dt.date(2025, 3, 5), today=TODAY)} == {dt.date(2025, 3, 5)}
    text = json.dumps([{"paper": {"id": "2503.00001", "title": "No dates here", "summary": "Abstract."}}])
    with pytest.raises(InputError, match="no listing date") as err:
        parse_text(tmp_path, text)
    assert err.value.line == 1
    assert parse_text(tmp_path, text, listing_date=dt.date(2025, 3, 4))[0].date == dt.date(2025, 3, 4)


def test_single_paper_object_and_empty_weekend_listing(tmp_path):
    one = {"id": "2503.02130", "title": "One paper", "summary": "From api/papers/<id>.",
           "submittedOnDailyAt": "2025-03-04T02:14:07.921Z", "upvotes": 3, "authors": [{"name": "A B"}]}
    (paper,) = parse_text(tmp_path, json.dumps(one, indent=2))
    assert (paper.arxiv_id, paper.date, paper.upvotes) == ("2503.02130", dt.date(2025, 3, 4), 3)
    assert parse_text(tmp_path, "[]\n") == []


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('[\n  {"paper": {"id": "2503.1"\n', "not valid JSON", 3),
        ('[\n  {"paper": {"id": "2503.02130", "title": "A"}, "publishedAt": "2025-03-04T00:00:00Z"},\n'
         '  {"paper": {"id": "2503.02131", "summary": "no title"}}\n]', "item 2 has no title", 3),
        ('[\n  {"paper": {"id": "not-an-id", "title": "A"}, "publishedAt": "2025-03-04T00:00:00Z"}\n]', "is not an arXiv id", 2),
        ('[{"paper": {"id": "2503.02130", "title": "A", "upvotes": "many"}, "publishedAt": "2025-03-04T00:00:00Z"}]', "upvotes must be a whole number", 1),
        ('[\n  "just a string"\n]', "item 1 is not an object", 2),
    ],
)
def test_bad_listings_name_file_and_line(tmp_path, text, message, line):
    with pytest.raises(InputError, match=message) as err:
        parse_text(tmp_path, text, name="bad.json")
    assert err.value.path == str(tmp_path / "bad.json")
    assert err.value.line == line


def test_detected_from_content_whatever_the_name(tmp_path):
    disguised = tmp_path / "papers-page.html"
    shutil.copy(LISTING, disguised)
    papers = parse_source(disguised, listing_date=None, today=TODAY)
    assert {s.format for p in papers for s in p.sources} == {"hf"}


def test_ingest_twice_changes_no_file(tmp_path):
    content = tmp_path / "content"
    first = ingest([LISTING], content, today=TODAY)
    assert len(first.report.new) == 3 and not first.rejected
    files = {p: p.read_bytes() for p in (content / "papers").rglob("*.md")}
    assert len(files) == 3 and all(p.parent.name == "2025-03-04" for p in files)
    second = ingest([LISTING], content, today=TODAY)
    assert (len(second.report.new), len(second.report.updated), second.report.unchanged) == (0, 0, 3)
    assert {p: p.read_bytes() for p in (content / "papers").rglob("*.md")} == files
    stored = {p.arxiv_id: p for p in ContentStore(content).load()}
    # The id survives the YAML round trip as text.
    assert stored["2503.02130"].arxiv_id == "2503.02130"
    assert stored["2503.02130"].extra["ai_keywords"][0] == "forget gate"


def test_half_of_a_surrogate_pair_becomes_the_replacement_character_and_the_paper_is_stored(tmp_path):
    """JSON can escape half of an emoji alone; Python decodes it to a character no UTF-8 file
    holds, and storing the paper failed with a traceback. A whole pair is one character, kept."""
    item = {"paper": {"id": "2503.02130", "title": "Cut \\ud83d emoji and a whole \\ud83d\\ude00",
                      "summary": "An abstract \\udc80 here.", "authors": [{"name": "Ann \\ud800"}],
                      "ai_keywords": ["key\\udfff"], "githubRepo": "https://github.com/a/b\\ud800"},
            "publishedAt": "2025-03-04T00:00:00Z"}
    text = "[\n  " + json.dumps(item).replace("\\\\u", "\\u") + "\n]\n"
    (paper,) = parse_text(tmp_path, text)
    assert paper.title == "Cut \ufffd emoji and a whole \U0001F600"
    assert (paper.abstract, paper.authors, paper.extra["ai_keywords"]) == ("An abstract \ufffd here.", ["Ann \ufffd"],
                                                                           ["key\ufffd"])
    assert paper.links["code"] == "https://github.com/a/b\ufffd"
    content = tmp_path / "content"
    result = ingest([tmp_path / "daily.json"], content, today=TODAY)
    assert len(result.report.new) == 1 and not result.rejected
    (stored,) = (content / "papers").rglob("*.md")
    assert read_paper_file(stored).title == "Cut \ufffd emoji and a whole \U0001F600"


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,
                                  '[{"paper": {"title": "A \\ud800", "x": ' + "[" * 985 + "]" * 985 + "}}]"])
def test_a_listing_nested_too_deep_is_rejected_by_name(tmp_path, text):
    """The decoder, and the walk that replaces lone surrogates, recurse into each array."""
    with pytest.raises(InputError, match="nested deeper") as err:
        parse_text(tmp_path, text, name="deep.json")
    assert err.value.path == str(tmp_path / "deep.json")


def test_a_link_urlsplit_cannot_read_is_left_out_not_a_traceback(tmp_path):
    item = {"paper": {"id": "2503.02130", "title": "T", "githubRepo": "http://[::1", "projectPage": "https://h:99999/"},
            "publishedAt": "2025-03-04T00:00:00Z"}
    (paper,) = parse_text(tmp_path, json.dumps([item]))
    assert "code" not in paper.links and "project" not in paper.links and paper.links["arxiv"]
