"""Feeds built from a real content store into a real folder, then read back the way readers do.

feedparser checks that readers accept each feed; lxml reads the raw XML for what feedparser
hides (it sanitises content itself, so a feed that shipped a <script> would still look clean
through it). Hostile text is checked in the bytes we write, not in a parser's cleaned view.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import lxml.etree
import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import make_paper, write_store
from paperroute.config import SiteConfig
from paperroute.corpus import Corpus, build_corpus
from paperroute.feeds import content_html, feed_corpus, plain_line, write_feeds, xml_text
from paperroute.model import Paper, Topic
from paperroute.output import SiteWriter
from paperroute.store import ContentStore
from paperroute.urls import absolute, output_file, paper_path, topic_feed_path

BASE_URL = "https://papers.example.org/digest/"
TAXONOMY = [
    Topic("training", "Training", "Pre-training, scaling, optimisers."),
    Topic("code", "Code", "Models that write code."),
    Topic("reasoning", "Reasoning"),
]
ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
RFC_822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
FORBIDDEN_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")

HOSTILE_TITLE = "<script>alert('t')</script> Fast & Frugal <img src=x onerror=alert(1)> Attention ]]> \x01\x0bNow"
HOSTILE_ABSTRACT = (
    "We show <script>alert('a')</script> that x < y & y > z.\x00\x08\n\n"
    "<img src=x onerror=\"alert(2)\"> ]]> <a href=\"javascript:alert(3)\" onclick=\"alert(4)\">link</a>\x1f "
    "[click](javascript:alert(5)) and code at https://github.com/example/repo."
)
# What an entry's HTML may contain: the site's sanitiser allow-list (paperroute.markup).
SAFE_TAGS = {"div", "p", "br", "em", "strong", "code", "pre", "a", "ul", "ol", "li", "blockquote", "sub", "sup", "hr"}
SAFE_SCHEMES = ("http://", "https://", "mailto:")


def assert_safe_html(content: str) -> None:
    """No element outside the allow-list, no attribute but a link's href/rel, no script URL."""
    fragment = lxml.html.fragment_fromstring(content, create_parent="div")
    for element in fragment.iter():
        assert element.tag in SAFE_TAGS, content
        assert set(element.attrib) <= ({"href", "rel"} if element.tag == "a" else set()), content
        if element.get("href") is not None:
            assert element.get("href").startswith(SAFE_SCHEMES), content


def site_config(**overrides) -> SiteConfig:
    return SiteConfig(**{"title": "Paper Route", "base_url": BASE_URL, **overrides})


def sample_papers() -> list[Paper]:
    return [
        make_paper("Scaling Laws Revisited", "2026-03-12", topics=["training"], authors=["Ada Lovelace", "Alan Turing"],
                   upvotes=30, arxiv_id="2603.00001"),
        make_paper("Code Models That Test Themselves", "2026-03-12", topics=["code", "reasoning"], upvotes=12,
                   arxiv_id="2603.00002"),
        make_paper("Chain of Thought, Again", "2026-03-11", topics=["reasoning"], authors=["Grace Hopper"]),
        make_paper("An Untagged Paper", "2026-03-10", topics=[]),
        make_paper("Optimisers at Scale", "2026-03-09", topics=["training", "code"]),
    ]


def build_feeds(tmp_path: Path, papers: list[Paper], site: SiteConfig | None = None, name: str = "site") -> tuple[Path, Corpus]:
    """Write `papers` to a content store, load it back, and build the feeds into tmp_path/name."""
    content = tmp_path / "content"
    if not (content / "papers").exists():
        write_store(content, papers)
    corpus = build_corpus(ContentStore(content).load(), TAXONOMY)
    out = tmp_path / name
    write_feeds(corpus, site or site_config(), SiteWriter(out))
    return out, corpus


def parse(path: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, f"{path.name}: {parsed.get('bozo_exception')}"
    return parsed


def feed_files(site_dir: Path) -> list[Path]:
    return sorted(p for p in site_dir.rglob("*") if p.name in ("feed.xml", "atom.xml", "feed.json"))


# ---------------------------------------------------------------- reading back


def test_rss_and_atom_parse_back_with_one_entry_per_paper_newest_first(tmp_path: Path) -> None:
    site_dir, corpus = build_feeds(tmp_path, sample_papers())
    expected_urls = [absolute(BASE_URL, paper_path(p.slug)) for p in corpus.papers]
    for name, version in (("feed.xml", "rss20"), ("atom.xml", "atom10")):
        parsed = parse(site_dir / name)
        assert parsed.version == version
        assert [e.id for e in parsed.entries] == expected_urls
        assert [e.link for e in parsed.entries] == expected_urls
        assert [e.title for e in parsed.entries] == [p.title for p in corpus.papers]
        published = [e.published_parsed[:3] for e in parsed.entries]
        assert published == [p.date.timetuple()[:3] for p in corpus.papers]
        assert published == sorted(published, reverse=True)
        assert parsed.entries[0].tags[0].term in ("training", "Training")
        names = ", ".join(author.get("name", "") for author in parsed.entries[0].authors)
        assert names == "Ada Lovelace, Alan Turing"
        assert parsed.entries[0].summary == f"<p>The abstract of {corpus.papers[0].title}.</p>"


def test_rss_channel_meets_the_validator_rules(tmp_path: Path) -> None:
    site_dir, corpus = build_feeds(tmp_path, sample_papers())
    channel = lxml.etree.parse(str(site_dir / "feed.xml")).getroot().find("channel")
    # The channel link is the site's home page, not the self link feedgen would pick by default.
    assert channel.findtext("link") == BASE_URL
    self_links = channel.findall(f"{{{ATOM_NS}}}link")
    assert [(link.get("rel"), link.get("href")) for link in self_links] == [("self", BASE_URL + "feed.xml")]
    last_build = channel.findtext("lastBuildDate")
    assert RFC_822.match(last_build)
    assert parsedate_to_datetime(last_build) == dt.datetime(2026, 3, 12, tzinfo=dt.timezone.utc)
    for item in channel.findall("item"):
        assert RFC_822.match(item.findtext("pubDate"))
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "true"
        assert guid.text == item.findtext("link")
        assert guid.text.startswith(BASE_URL + "papers/")
    creators = [c.text for c in channel.iter(f"{{{DC_NS}}}creator")]
    assert creators == ["Ada Lovelace, Alan Turing", "Grace Hopper"]


def test_atom_feed_has_self_link_and_updated_from_content(tmp_path: Path) -> None:
    site_dir, _ = build_feeds(tmp_path, sample_papers())
    parsed = parse(site_dir / "atom.xml")
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links == {"self": BASE_URL + "atom.xml", "alternate": BASE_URL}
    assert parsed.feed.updated == "2026-03-12T00:00:00+00:00"
    assert parsed.entries[2].authors == [{"name": "Grace Hopper"}]


def test_json_feed_has_the_required_fields(tmp_path: Path) -> None:
    site_dir, corpus = build_feeds(tmp_path, sample_papers())
    document = json.loads((site_dir / "feed.json").read_text(encoding="utf-8"))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "Paper Route"
    assert document["feed_url"] == BASE_URL + "feed.json"
    assert document["home_page_url"] == BASE_URL
    items = document["items"]
    assert [item["id"] for item in items] == [absolute(BASE_URL, paper_path(p.slug)) for p in corpus.papers]
    for item, paper in zip(items, corpus.papers):
        assert isinstance(item["id"], str)
        assert item["url"] == item["id"]
        assert item.get("content_html") or item.get("content_text")
        assert dt.datetime.fromisoformat(item["date_published"]).date() == paper.date
    assert items[0]["authors"] == [{"name": "Ada Lovelace"}, {"name": "Alan Turing"}]
    assert items[1]["tags"] == ["Code", "Reasoning"]
    assert items[3]["tags"] == ["Other"]
    assert "authors" not in items[1]


def test_feed_size_caps_every_feed_to_the_newest_papers(tmp_path: Path) -> None:
    papers = [make_paper(f"Paper of day {day}", dt.date(2026, 2, day), topics=["training"]) for day in range(1, 11)]
    site_dir, corpus = build_feeds(tmp_path, papers, site_config(feed_size=4))
    newest = [absolute(BASE_URL, paper_path(p.slug)) for p in corpus.papers[:4]]
    assert [p.date.day for p in corpus.papers[:4]] == [10, 9, 8, 7]
    for name in ("feed.xml", "atom.xml", "topics/training/feed.xml"):
        assert [e.id for e in parse(site_dir / name).entries] == newest
    items = json.loads((site_dir / "feed.json").read_text(encoding="utf-8"))["items"]
    assert [item["id"] for item in items] == newest


# ---------------------------------------------------------------- per topic


def test_each_topic_feed_holds_only_its_topic(tmp_path: Path) -> None:
    site_dir, corpus = build_feeds(tmp_path, sample_papers())
    assert {t.slug for t in corpus.topics} == {"training", "code", "reasoning", "other"}
    for topic in corpus.topics:
        parsed = parse(site_dir / topic_feed_path(topic.slug))
        assert parsed.version == "rss20"
        expected = [absolute(BASE_URL, paper_path(p.slug)) for p in corpus.papers if topic.slug in (p.topics or ["other"])]
        assert expected, topic.slug
        assert [e.id for e in parsed.entries] == expected
        assert parsed.feed.link == absolute(BASE_URL, f"topics/{topic.slug}/")
        channel = lxml.etree.parse(str(site_dir / topic_feed_path(topic.slug))).getroot().find("channel")
        assert channel.find(f"{{{ATOM_NS}}}link").get("href") == absolute(BASE_URL, topic_feed_path(topic.slug))


def test_a_topic_without_papers_gets_an_empty_valid_feed_dated_by_the_site(tmp_path: Path) -> None:
    site_dir, corpus = build_feeds(tmp_path, [make_paper("Only Training", "2026-01-05", topics=["training"])])
    assert "code" in {t.slug for t in corpus.topics}
    parsed = parse(site_dir / "topics/code/feed.xml")
    assert parsed.entries == []
    assert parsed.feed.updated_parsed[:3] == (2026, 1, 5)


def test_an_empty_store_still_writes_valid_feeds(tmp_path: Path) -> None:
    (tmp_path / "content" / "papers").mkdir(parents=True)
    site_dir, _ = build_feeds(tmp_path, [])
    assert parse(site_dir / "feed.xml").entries == []
    assert parse(site_dir / "atom.xml").entries == []
    assert json.loads((site_dir / "feed.json").read_text(encoding="utf-8"))["items"] == []


# ---------------------------------------------------------------- stability


def test_same_content_gives_byte_identical_feeds_and_no_rewrites(tmp_path: Path) -> None:
    first, corpus = build_feeds(tmp_path, sample_papers(), name="first")
    second, _ = build_feeds(tmp_path, sample_papers(), name="second")
    files = [p.relative_to(first) for p in feed_files(first)]
    assert len(files) == 3 + len(corpus.topics)
    assert files == [p.relative_to(second) for p in feed_files(second)]
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    rebuild = SiteWriter(first)
    write_feeds(corpus, site_config(), rebuild)
    assert (rebuild.written, rebuild.unchanged) == (0, len(files))


def test_entry_ids_survive_a_new_day(tmp_path: Path) -> None:
    site_dir, _ = build_feeds(tmp_path, sample_papers(), name="before")
    before = {e.title: e.id for e in parse(site_dir / "atom.xml").entries}
    write_store(tmp_path / "content", [make_paper("A Brand New Day", "2026-03-13")])
    site_dir, _ = build_feeds(tmp_path, [], name="after")
    after = parse(site_dir / "atom.xml").entries
    assert after[0].title == "A Brand New Day"
    assert {e.title: e.id for e in after[1:]} == before
    assert parse(site_dir / "atom.xml").feed.updated == "2026-03-13T00:00:00+00:00"


# ---------------------------------------------------------------- hostile text


def _raw_contents(site_dir: Path) -> list[str]:
    """Every entry's HTML content exactly as a reader receives it, before any sanitising."""
    rss = lxml.etree.parse(str(site_dir / "feed.xml")).getroot()
    atom = lxml.etree.parse(str(site_dir / "atom.xml")).getroot()
    items = json.loads((site_dir / "feed.json").read_text(encoding="utf-8"))["items"]
    return ([d.text for d in rss.iter("description") if d.getparent().tag == "item"]
            + [c.text for c in atom.iter(f"{{{ATOM_NS}}}content")]
            + [item["content_html"] for item in items])


def _raw_titles(site_dir: Path) -> list[str]:
    rss = lxml.etree.parse(str(site_dir / "feed.xml")).getroot()
    atom = lxml.etree.parse(str(site_dir / "atom.xml")).getroot()
    items = json.loads((site_dir / "feed.json").read_text(encoding="utf-8"))["items"]
    return ([t.text for t in rss.iter("title") if t.getparent().tag == "item"]
            + [t.text for t in atom.iter(f"{{{ATOM_NS}}}title") if t.getparent().tag == f"{{{ATOM_NS}}}entry"]
            + [item["title"] for item in items])


def test_hostile_titles_and_abstracts_stay_text(tmp_path: Path) -> None:
    hostile = make_paper(HOSTILE_TITLE, "2026-03-12", abstract=HOSTILE_ABSTRACT, topics=["code"],
                         authors=["Eve \x07<b>Evil</b>"], upvotes=999)
    site_dir, _ = build_feeds(tmp_path, [hostile, *sample_papers()])

    for path in feed_files(site_dir):
        assert not FORBIDDEN_XML.search(path.read_bytes()), path
    for name, version in (("feed.xml", "rss20"), ("atom.xml", "atom10"), ("topics/code/feed.xml", "rss20")):
        parsed = parse(site_dir / name)
        assert parsed.version == version
        assert parsed.entries[0].title == "alert('t') Fast & Frugal Attention ]]> Now"

    titles = _raw_titles(site_dir)
    assert titles.count("alert('t') Fast & Frugal Attention ]]> Now") == 3
    assert not [t for t in titles if "<" in t]

    contents = _raw_contents(site_dir)
    for content in contents:
        assert_safe_html(content)
    hostile = [c for c in contents if "alert" in c]
    assert len(hostile) == 3
    for content in hostile:
        fragment = lxml.html.fragment_fromstring(content, create_parent="div")
        text = fragment.text_content()
        assert "<script>alert('a')</script> that x < y & y > z." in text
        assert "onerror=\"alert(2)\"> ]]>" in text
        # The javascript: link keeps its text and loses its target; the real address is a link.
        assert [a.get("href") for a in fragment.iter("a")] == [None, "https://github.com/example/repo"]

    assert parse(site_dir / "atom.xml").entries[0].authors == [{"name": "Eve Evil"}]
    creator = next(lxml.etree.parse(str(site_dir / "feed.xml")).getroot().iter(f"{{{DC_NS}}}creator"))
    assert creator.text == "Eve Evil"
    assert json.loads((site_dir / "feed.json").read_text(encoding="utf-8"))["items"][0]["authors"] == [{"name": "Eve Evil"}]


@given(st.text())
def test_any_text_can_be_carried_by_xml(text: str) -> None:
    element = lxml.etree.Element("t")
    element.text = xml_text(text)
    assert lxml.etree.fromstring(lxml.etree.tostring(element)).text in (xml_text(text), None)


@given(st.text())
def test_any_abstract_becomes_safe_html_that_xml_can_carry(abstract: str) -> None:
    rendered = content_html(abstract)
    assert xml_text(rendered) == rendered
    if rendered.strip():
        assert_safe_html(rendered)


@given(st.text())
def test_any_title_is_one_line_without_tags(title: str) -> None:
    cleaned = plain_line(title)
    assert "\n" not in cleaned and cleaned == cleaned.strip()
    assert not re.search(r"<[A-Za-z/!?][^<>]*>", cleaned)
    assert xml_text(cleaned) == cleaned


@pytest.mark.parametrize("title", ["Attention < Convolution", "A & B", "x > y, Really"])
def test_angle_brackets_and_ampersands_that_are_not_tags_are_kept(title: str) -> None:
    assert plain_line(title) == title


# ---------------------------------------------------------------- in a built site

TOPICS_YAML = """\
topics:
  - slug: training
    name: Training
    description: Pre-training, scaling, optimisers.
    patterns: ['scaling']
  - slug: code
    name: Code
    patterns: ['code']
  - slug: reasoning
    name: Reasoning
    patterns: ['reasoning']
"""


def _site_file(site_dir: Path, url: str, base_url: str) -> Path:
    """The file a feed's absolute URL names inside site/, by the site's own URL scheme."""
    assert url.startswith(base_url), url
    return site_dir / output_file(url[len(base_url):])


def test_every_feed_link_in_a_built_site_names_a_page_that_exists(tmp_path: Path) -> None:
    from paperroute.config import Config
    from paperroute.site import build_site

    base_url = "https://host.example/sub/path/"
    content = tmp_path / "content"
    content.mkdir()
    (content / "topics.yaml").write_text(TOPICS_YAML, encoding="utf-8")
    hostile = make_paper(HOSTILE_TITLE, "2026-03-12", abstract=HOSTILE_ABSTRACT, topics=["code"], upvotes=5)
    write_store(content, [hostile, *sample_papers()])
    site_dir = tmp_path / "site"
    build_site(content, site_dir, Config(site=site_config(base_url=base_url)), quiet=True)

    feeds = feed_files(site_dir)
    topic_feeds = sorted(site_dir.glob("topics/*/feed.xml"))
    assert [p.parent.name for p in topic_feeds] == ["code", "other", "reasoning", "training"]
    assert len(feeds) == 3 + len(topic_feeds)
    checked = 0
    for path in feeds:
        if path.suffix == ".json":
            document = json.loads(path.read_text(encoding="utf-8"))
            links = [document["home_page_url"], *(item["url"] for item in document["items"])]
            assert _site_file(site_dir, document["feed_url"], base_url) == path
        else:
            parsed = parse(path)
            links = [parsed.feed.link, *(entry.link for entry in parsed.entries)]
            self_url = next(link.href for link in parsed.feed.links if link.rel == "self")
            assert _site_file(site_dir, self_url, base_url) == path
        for url in links:
            assert _site_file(site_dir, url, base_url).is_file(), f"{path.relative_to(site_dir)}: {url}"
            checked += 1
    assert checked >= len(feeds) + 6 * 3

    # Each topic page announces its own feed, so a reader pointed at the page finds it.
    for path in topic_feeds:
        page = lxml.html.parse(str(path.parent / "index.html")).getroot()
        page_url = absolute(base_url, f"topics/{path.parent.name}/")
        announced = [urljoin(page_url, link.get("href")) for link in page.iter("link")
                     if link.get("rel") == "alternate" and link.get("type") == "application/rss+xml"]
        assert absolute(base_url, topic_feed_path(path.parent.name)) in announced, announced


def test_the_feeds_of_the_papers_they_show_are_the_feeds_of_the_whole_corpus(tmp_path: Path) -> None:
    """`feed_corpus` is what a build sends to the process that writes the feeds: its feeds
    must be the whole corpus's, byte for byte, topics outside the taxonomy and `other` included."""
    papers = [make_paper(f"Paper {day}-{number}", f"2026-03-{day:02d}", position=number,
                         topics=[["training"], ["code", "reasoning"], [], ["hand-made"], ["reasoning"]][(day + number) % 5],
                         upvotes=number if day % 2 else None)
              for day in range(1, 13) for number in range(1, 6)]
    papers.append(make_paper("Old Lone Topic", "2026-02-01", topics=["rare-topic"]))
    for number, paper in enumerate(papers):
        paper.slug = f"paper-{number}"
    corpus = build_corpus(papers, TAXONOMY)
    site = site_config(feed_size=4)
    small = feed_corpus(corpus, site.feed_size)
    assert len(small.papers) < len(corpus.papers) and small.topics == corpus.topics
    write_feeds(corpus, site, SiteWriter(tmp_path / "whole"))
    write_feeds(small, site, SiteWriter(tmp_path / "small"))
    files = sorted(path.relative_to(tmp_path / "whole") for path in (tmp_path / "whole").rglob("*") if path.is_file())
    assert len(files) == 3 + len(corpus.topics)
    assert all((tmp_path / "whole" / f).read_bytes() == (tmp_path / "small" / f).read_bytes() for f in files)
