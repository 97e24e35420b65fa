"""arXiv feeds (API Atom, RSS and Atom listings), arXiv ids, and one paper merged from every format."""

import datetime as dt
import shutil
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from paperroute.commands.ingest import ingest
from paperroute.errors import InputError
from paperroute.sources.arxiv_ids import bare_arxiv_id
from paperroute.sources.detect import parse_source
from paperroute.store import ContentStore

DATA = Path(__file__).parent / "data" / "sources"
API = DATA / "arxiv_api_cs.CL.xml"
RSS = DATA / "arxiv_rss_cs.CL_2025-03-04.xml"
ATOM_LISTING = DATA / "arxiv_listing_atom_cs.CL_2025-03-04.xml"
HF = DATA / "hf_daily_papers_2025-03-04.json"
PAGE = DATA / "hf_daily_papers_page_2025-03-04.html"
TODAY = dt.date(2025, 3, 10)


def parse(path: Path, listing_date: dt.date | None = None) -> list:
    return parse_source(path, listing_date=listing_date, today=TODAY)


def parse_text(tmp_path: Path, text: str, name: str = "feed.xml") -> list:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return parse(path)


def test_api_atom_yields_every_field():
    fox, kanana, unnatural = parse(API)
    assert [p.arxiv_id for p in (fox, kanana, unnatural)] == ["2503.02130", "2502.18934", "2503.01926"]
    # Wrapped title and summary unwrapped; the version suffix is gone.
    assert fox.title == "Forgetting Transformer: Softmax Attention with a Forget Gate"
    assert fox.abstract.startswith("An essential component of modern recurrent sequence models is the forget gate. While")
    assert fox.abstract.endswith("such as Mamba-2, HGRN2, and DeltaNet.")
    assert fox.authors == ["Zhixuan Lin", "Evgenii Nikishin", "Xu Owen He", "Aaron Courville"]
    # No --date: the day of the first version, not of the latest update.
    assert fox.date == dt.date(2025, 3, 3)
    assert fox.extra == {"categories": ["cs.LG", "cs.CL"],
                         "comment": "Published as a conference paper at ICLR 2025; Fixed an issue with the attention kernel"}
    assert fox.links == {"arxiv": "https://arxiv.org/abs/2503.02130", "pdf": "https://arxiv.org/pdf/2503.02130",
                         "hf": "https://huggingface.co/papers/2503.02130"}
    assert fox.upvotes is None and fox.position == 1
    # DOI, journal reference, ACM class dropped from categories, LaTeX turned into text.
    assert kanana.links["doi"] == "https://doi.org/10.18653/v1/2025.naacl-long.42"
    assert kanana.extra["journal_ref"] == "Proceedings of NAACL 2025, pages 612-651"
    assert kanana.extra["categories"] == ["cs.CL", "cs.AI"]
    assert "cuts the cost by 35% at the same quality, and naïve data mixing" in kanana.abstract
    assert kanana.abstract.endswith("a curriculum over high-quality web text.")
    assert kanana.authors == ["Lukas Weber", "Hana Kim"]
    assert {s.format for p in (fox, kanana, unnatural) for s in p.sources} == {"arxiv"}


def test_explicit_date_wins():
    assert {p.date for p in parse(API, dt.date(2025, 3, 4))} == {dt.date(2025, 3, 4)}


@pytest.mark.parametrize("listing", [RSS, ATOM_LISTING], ids=["rss", "atom"])
def test_listings_skip_replacements_and_strip_the_prefix(listing):
    papers = parse(listing)
    # `replace` and `replace-cross` announce new versions of old papers: not news.
    assert [p.arxiv_id for p in papers] == ["2503.01926", "2503.02130"]
    assert [p.position for p in papers] == [1, 2]
    new, cross = papers
    assert new.abstract.startswith("Large Language Models (LLMs) have been observed")
    assert "Announce Type" not in new.abstract and "Abstract:" not in new.abstract
    assert new.authors[:3] == ["Keyu Duan", "Yiran Zhao", "Zhili Feng"]
    # The announce day on arXiv's own clock (midnight US Eastern), not shifted to UTC.
    assert {new.date, cross.date} == {dt.date(2025, 3, 4)}
    assert cross.extra["categories"] == ["cs.LG", "cs.CL"]
    assert cross.authors == ["Zhixuan Lin", "Evgenii Nikishin", "Xu Owen He", "Aaron Courville"]


def test_rss_full_author_list_split_from_dc_creator():
    new = parse(RSS)[0]
    assert len(new.authors) == 12 and new.authors[-2:] == ["J. Zico Kolter", "Michael Qizhe Shieh"]


def test_api_error_feed_is_reported(tmp_path):
    text = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3D%26id_list%3D1234" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=&amp;id_list=1234</title>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>
    <title>Error</title>
    <summary>incorrect id format for 1234</summary>
  </entry>
</feed>"""
    with pytest.raises(InputError, match="arXiv API refused the query: incorrect id format for 1234") as err:
        parse_text(tmp_path, text)
    assert err.value.line == 5


def test_entity_declarations_are_refused_never_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    text = f"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY leak SYSTEM "file://{secret}"><!ENTITY lol "lollollollollol">]>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <entry><id>http://arxiv.org/abs/2503.02130v1</id><title>&leak;&lol;</title><published>2025-03-03T00:00:00Z</published></entry>
</feed>"""
    with pytest.raises(InputError, match="DOCTYPE is not allowed"):
        parse_text(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('<feed xmlns="http://www.w3.org/2005/Atom"><!-- arxiv -->\n<entry>\n<title>x</entry></feed>', "not well-formed XML", 3),
        ('<feed xmlns="http://www.w3.org/2005/Atom"><!-- arxiv -->\n<entry><id>urn:x</id><title>T</title></entry></feed>', "entry 1 has no arXiv id", 2),
        ('<feed xmlns="http://www.w3.org/2005/Atom"><!-- arxiv -->\n<entry><id>http://arxiv.org/abs/2503.02130v1</id>'
         '<title>T</title></entry></feed>', "has no date", 2),
        ('<rss version="2.0"><!-- arxiv -->\n<channel>\n<item><guid>oai:arXiv.org:2503.02130v1</guid>\n<title></title>'
         '<pubDate>Tue, 04 Mar 2025 00:00:00 -0500</pubDate></item></channel></rss>', "has no title", 3),
        ('<rss version="2.0"><!-- arxiv --></rss>', "RSS document without a channel", 1),
    ],
)
def test_bad_feeds_name_file_and_line(tmp_path, text, message, line):
    with pytest.raises(InputError, match=message) as err:
        parse_text(tmp_path, text, name="bad.xml")
    assert (err.value.path, err.value.line) == (str(tmp_path / "bad.xml"), line)


def test_detected_from_content_whatever_the_name(tmp_path):
    for source, name in ((API, "query.json"), (RSS, "cs.CL.txt"), (ATOM_LISTING, "listing.html")):
        disguised = tmp_path / name
        shutil.copy(source, disguised)
        assert {s.format for p in parse(disguised) for s in p.sources} == {"arxiv"}


_NEW_ID = st.builds(lambda yymm, n, digits: f"{yymm:04d}.{n:0{digits}d}",
                    st.integers(701, 9912), st.integers(0, 9999), st.sampled_from([4, 5]))
_OLD_ID = st.builds(lambda archive, n: f"{archive}/{n:07d}",
                    st.sampled_from(["hep-th", "math.AG", "cs", "cond-mat", "astro-ph"]), st.integers(0, 9999999))


@given(st.one_of(_NEW_ID, _OLD_ID), st.integers(1, 30))
def test_every_spelling_of_an_id_reduces_to_the_bare_id(arxiv_id, version):
    spellings = [arxiv_id, f"{arxiv_id}v{version}", f"arXiv:{arxiv_id}v{version}", f"oai:arXiv.org:{arxiv_id}v{version}",
                 f"http://arxiv.org/abs/{arxiv_id}v{version}", f"https://arxiv.org/pdf/{arxiv_id}v{version}",
                 f"https://huggingface.co/papers/{arxiv_id}", f"/papers/{arxiv_id}"]
    assert {bare_arxiv_id(s) for s in spellings} == {arxiv_id}


@pytest.mark.parametrize("text", ["", "2503", "2503.1", "../../etc/passwd", "https://evil.org/abs/2503.02130", "2503.02130v"])
def test_non_ids_are_refused(text):
    assert bare_arxiv_id(text) is None


def capture_of(title: str, abstract: str, header: str) -> str:
    return f"new\n\nSubscribe\n\nDaily Papers\n\n{header}\n\n{title}\n\n{abstract}\n"


def test_one_paper_from_every_format_merges_into_one_file(tmp_path):
    """A capture, the HF JSON, the saved page and both arXiv feeds: one paper, every sighting kept."""
    content = tmp_path / "content"
    capture = tmp_path / "mar5.txt"
    # A capture of a later day's page that lists the paper again, with the page's shorter text.
    capture.write_text(capture_of("Forgetting Transformer: Softmax Attention with a Forget Gate",
                                  "An essential component of modern recurrent sequence models is the forget gate.", "Mar 5"))

    def only_paper() -> tuple:
        (path,) = [p for p in (content / "papers").rglob("*.md") if "forgetting" in p.name]
        (paper,) = [p for p in ContentStore(content).load() if p.slug == path.stem]
        return path, paper

    assert not ingest([capture], content, today=TODAY).rejected
    path, paper = only_paper()
    assert (path.parent.name, paper.arxiv_id) == ("2025-03-05", None)

    # The HF listing is richer, adds the id, and lists the paper a day earlier: the file moves.
    assert not ingest([HF, PAGE], content, today=TODAY).rejected
    path, paper = only_paper()
    assert (path.parent.name, paper.arxiv_id, paper.upvotes) == ("2025-03-04", "2503.02130", 21)
    assert paper.authors == ["Zhixuan Lin", "Evgenii Nikishin", "Xu Owen He", "Aaron Courville"]
    assert paper.links["code"] == "https://github.com/zhixuan-lin/forgetting-transformer"

    # arXiv (v2 from the API, v1 from the listing) is the richest: its abstract wins; the id has no version.
    assert not ingest([API, RSS], content, listing_date=dt.date(2025, 3, 4), today=TODAY).rejected
    path, paper = only_paper()
    assert path.parent.name == "2025-03-04"
    assert paper.abstract.endswith("such as Mamba-2, HGRN2, and DeltaNet.")
    assert [(s.format, s.file, s.seen.isoformat()) for s in paper.sources] == [
        ("arxiv", API.name, "2025-03-04"),
        ("arxiv", RSS.name, "2025-03-04"),
        ("hf", HF.name, "2025-03-04"),
        ("html", PAGE.name, "2025-03-04"),
        ("capture", "mar5.txt", "2025-03-05"),
    ]
    assert paper.extra["categories"] == ["cs.LG", "cs.CL"] and paper.extra["num_comments"] == 2
    assert paper.extra["ai_keywords"][0] == "forget gate"
    assert len([p for p in (content / "papers").rglob("*.md") if "forgetting" in p.name]) == 1

    # Every source again, newest first: nothing changes.
    before = {p: p.read_bytes() for p in (content / "papers").rglob("*.md")}
    for paths, listing_date in (([RSS, API], dt.date(2025, 3, 4)), ([PAGE, HF], None), ([capture], None)):
        again = ingest(paths, content, listing_date=listing_date, today=TODAY)
        assert not again.report.new and not again.report.updated
    assert {p: p.read_bytes() for p in (content / "papers").rglob("*.md")} == before


def test_hand_edits_survive_a_re_ingest(tmp_path):
    content = tmp_path / "content"
    ingest([API], content, listing_date=dt.date(2025, 3, 4), today=TODAY)
    (path,) = [p for p in (content / "papers").rglob("*.md") if "kanana" in p.name]
    edited = path.read_text().replace("title: 'Kanana: Compute-efficient Bilingual Language Models'",
                                      "title: 'Kanana (bilingual LMs)'")
    assert edited != path.read_text()
    path.write_text(edited)
    ingest([API, HF], content, today=TODAY)
    (paper,) = [p for p in ContentStore(content).load() if p.arxiv_id == "2502.18934"]
    assert paper.title == "Kanana (bilingual LMs)"
    assert paper.upvotes == 8  # a field the hand edit did not touch still arrives from a poorer source
