"""The Daily Papers capture parser, on the five real seeds and on made-up edge cases."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from paperroute.errors import InputError
from paperroute.sources import capture
from paperroute.sources.detect import detect_format, parse_source, read_text

TODAY = dt.date(2026, 11, 23)
SEED_DATES = {"000": None, "001": None, "002": dt.date(2026, 3, 10), "003": None, "004": None}


def parse_text(tmp_path: Path, text: str | bytes, name: str = "c.txt", **kw) -> list:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    kw.setdefault("listing_date", None)
    kw.setdefault("today", TODAY)
    return parse_source(path, **kw)


def test_seeds_give_741_entries_and_637_distinct_papers(seeds_dir):
    entries = []
    for path in sorted(seeds_dir.glob("*.txt")):
        entries += parse_source(path, listing_date=SEED_DATES[path.name[:3]], today=TODAY)
    assert len(entries) == 741
    assert len({p.title for p in entries}) == 637


def test_seed_header_dates_and_glued_first_title(seeds_dir):
    first = {p.name[:3]: parse_source(p, listing_date=SEED_DATES[p.name[:3]], today=TODAY) for p in seeds_dir.glob("*.txt")}
    assert first["000"][0].date == dt.date(2026, 3, 12)
    assert first["004"][0].date == dt.date(2026, 8, 26)
    assert first["002"][0].title == "Pangu Ultra MoE: How to Train Your Big MoE on Ascend NPUs"
    assert first["002"][0].abstract.startswith("Sparse large language models (LLMs) with Mixture of Experts")
    # Titles and abstracts, character for character, from the middle and the end of a capture.
    galore = first["004"][0]
    assert galore.title == "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"
    assert galore.abstract.startswith("Training Large Language Models (LLMs) presents significant memory challenges, predominantly due to the growing size of weights and optimizer states.")
    assert first["000"][-1].title.startswith("A Survey on Large Language Models with Multilingualism: Rece")
    assert first["000"][-1].abstract.endswith("key techniques, and latest developments in multilingual natural language processing based on LLMs.")
    assert [p.position for p in first["001"][:3]] == [1, 2, 3]


def test_header_date_is_latest_not_after_today(tmp_path):
    text = "Subscribe\n\nDec 30\n\nA title\n\nAn abstract that is longer than the title.\n"
    assert parse_text(tmp_path, text, today=dt.date(2026, 1, 2))[0].date == dt.date(2025, 12, 30)
    assert parse_text(tmp_path, text, today=dt.date(2026, 12, 30))[0].date == dt.date(2026, 12, 30)
    leap = text.replace("Dec 30", "Feb 29")
    assert parse_text(tmp_path, leap, today=dt.date(2026, 11, 23))[0].date == dt.date(2024, 2, 29)


def test_explicit_date_wins_over_header(tmp_path):
    text = "Subscribe\n\nMar 12\n\nA title\n\nAn abstract that is longer than the title.\n"
    assert parse_text(tmp_path, text, listing_date=dt.date(2020, 1, 1))[0].date == dt.date(2020, 1, 1)


def test_crlf_bom_and_glued_subscribe(tmp_path):
    text = "\ufeffGet trending papers in your email inbox!\r\nSubscribeFirst Title\r\nFirst abstract, long enough.\r\nSecond Title\r\nSecond abstract here.\r\n"
    papers = parse_text(tmp_path, text, listing_date=dt.date(2026, 3, 10))
    assert [(p.title, p.abstract) for p in papers] == [
        ("First Title", "First abstract, long enough."),
        ("Second Title", "Second abstract here."),
    ]


def test_no_date_anywhere_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(InputError) as err:
        parse_text(tmp_path, "Subscribe\nA title\nAn abstract that is long.\n")
    assert "c.txt" in str(err.value) and "--date" in str(err.value)


def test_title_without_abstract_at_end_names_its_line(tmp_path):
    text = "Subscribe\n\nMar 12\n\nA title\n\nAn abstract that is long.\n\nOrphan title\n"
    with pytest.raises(InputError) as err:
        parse_text(tmp_path, text)
    assert err.value.line == 9
    assert str(err.value).startswith(f"{tmp_path / 'c.txt'}:9: ")


@pytest.mark.parametrize(
    "data, why",
    [(b"", "empty"), (b"  \n\n", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
     (b"\xff\xfe\xfa not utf8\n", "UTF-8"), (b"just one short line\n", "unknown format")],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, data, why):
    with pytest.raises(InputError) as err:
        parse_text(tmp_path, data)
    assert why in str(err.value)


def test_format_is_detected_from_content_not_name(tmp_path, seeds_dir):
    copy = tmp_path / "listing.json"
    copy.write_bytes((seeds_dir / "000_3839b48107d3acf9.txt").read_bytes())
    assert detect_format(read_text(copy), copy) is capture


def test_markup_in_titles_is_kept_as_text(tmp_path):
    text = "Subscribe\n\nMar 12\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n\nAbstract with <b>tags</b> & more.\n"
    paper = parse_text(tmp_path, text)[0]
    assert paper.title == "<script>alert(1)</script> <img src=x onerror=alert(2)>"


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=80), st.sampled_from(sorted(capture.CHROME)), st.sampled_from(["Mar 12", "Feb 30", "Subscribe", "", "Jan 0"])), max_size=12))
def test_parser_raises_only_its_own_error(tmp_path, lines):
    text = "\n".join(lines)
    try:
        capture.parse(text, Path("p.txt"), None, TODAY)
    except InputError:
        pass
