"""The feeds of a build: RSS 2.0, Atom 1.0 and JSON Feed 1.1, site-wide and per topic.

Feed readers are strict in different ways, so every value goes through one cleaning path
before any format sees it (`_FeedItem`): control characters out (XML 1.0 forbids them and
lxml refuses them), tag-like runs out of titles, names and labels (RSS text has no declared
type, so readers guess HTML and silently eat `<think>`-style words; removing them makes every
reader show the same title), and the abstract rendered by the same Markdown-and-nh3 path as
its page (`paperroute.markup`), so a reader sees in a feed exactly what the site shows.

Every timestamp comes from content (a listing date at midnight UTC), never from the clock,
so the same content gives byte-identical feeds. feedgen defaults channel and entry dates to
now, prepends entries and takes the RSS channel link from the last link set; each of those
is overridden explicitly below.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paperroute.config import SiteConfig
from paperroute.corpus import Corpus, build_corpus
from paperroute.markup import abstract_html
from paperroute.model import Paper
from paperroute.output import SiteWriter
from paperroute.text import clean_line
from paperroute.urls import absolute, home_path, paper_path, topic_feed_path, topic_path

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

RSS_PATH = "feed.xml"
ATOM_PATH = "atom.xml"
JSON_FEED_PATH = "feed.json"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "paperroute"

# What XML 1.0's Char production leaves out, plus C1 controls and U+FFFE/U+FFFF, which the
# W3C validator flags and no reader displays. Tab, newline and carriage return stay.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# `<` followed by a letter, `/`, `!` or `?` up to the next `>`: what a reader would take for a tag.
_TAG_LIKE = re.compile(r"<[A-Za-z/!?][^<>]*>")
# Before any paper exists there is no content date; a fixed epoch keeps empty feeds stable.
_NO_CONTENT_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry removed."""
    return _NOT_XML_CHAR.sub("", text)


def plain_line(text: str) -> str:
    """A title, name or label as one line of text with no tag-like runs, the same in every reader."""
    return clean_line(_TAG_LIKE.sub(" ", xml_text(text)))


def content_html(abstract: str) -> str:
    """An abstract as entry content: the page's own sanitised HTML, minus what XML cannot carry."""
    return str(abstract_html(xml_text(abstract)))


def listing_time(date: dt.date) -> dt.datetime:
    """A paper's timestamp: its listing date at midnight UTC, the same in every build."""
    return dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class _FeedCategory:
    slug: str
    name: str


@dataclass(frozen=True)
class _FeedItem:
    """One paper as every feed format shows it, cleaned once."""

    url: str
    title: str
    authors: tuple[str, ...]
    categories: tuple[_FeedCategory, ...]
    published: dt.datetime
    content_html: str


def _feed_item(paper: Paper, corpus: Corpus, site: SiteConfig) -> _FeedItem:
    url = absolute(site.base_url, paper_path(paper.slug))
    topic_slugs = paper.topics or [paper.primary_topic]
    categories = tuple(_FeedCategory(slug, plain_line(corpus.topic(slug).name)) for slug in topic_slugs)
    authors = tuple(name for name in (plain_line(a) for a in paper.authors) if name)
    return _FeedItem(
        url=url,
        # A title made only of tags would vanish; the slug is still the paper's own name.
        title=plain_line(paper.title) or paper.slug,
        authors=authors,
        categories=categories,
        published=listing_time(paper.date),
        content_html=content_html(paper.abstract),
    )


@dataclass(frozen=True)
class _FeedMeta:
    """What one feed says about itself: its title, its own URL and the page it stands for."""

    title: str
    description: str
    self_url: str
    page_url: str
    updated: dt.datetime


def _feed_meta(site: SiteConfig, title: str, description: str, self_path: str, page_path: str,
               items: list[_FeedItem], corpus_updated: dt.datetime) -> _FeedMeta:
    return _FeedMeta(
        title=plain_line(title),
        description=plain_line(description) or plain_line(title),
        self_url=absolute(site.base_url, self_path),
        page_url=absolute(site.base_url, page_path),
        # An empty topic feed takes the site's date: its reader last had news then.
        updated=max((item.published for item in items), default=corpus_updated),
    )


def _generator(meta: _FeedMeta, site: SiteConfig, self_type: str) -> FeedGenerator:
    # Imported here: the process that writes the feeds is not the build's own (`site.write_side_outputs`),
    # and feedgen with lxml took 17 ms of every command's start (`python -X importtime`).
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.load_extension("dc", atom=False, rss=True)
    feed.id(meta.self_url)
    feed.title(meta.title)
    feed.description(meta.description)
    feed.language(site.language)
    feed.generator(GENERATOR)
    # Atom needs a feed author when an entry has none; the site is the publisher.
    feed.author(name=meta.title)
    # The RSS channel <link> is the LAST link set, so the page link goes after the self link.
    feed.link(href=meta.self_url, rel="self", type=self_type)
    feed.link(href=meta.page_url, rel="alternate", type="text/html")
    # Without this feedgen stamps the build's wall-clock time.
    feed.updated(meta.updated)
    return feed


def _add_entries(feed: FeedGenerator, items: list[_FeedItem]) -> None:
    """Entries in `items` order; feedgen would prepend each one and reverse the feed."""
    for item in items:
        entry = feed.add_entry(order="append")
        # The paper page's URL is a real permalink, so the RSS guid may say so.
        entry.guid(item.url, permalink=True)
        entry.title(item.title)
        entry.link(href=item.url, rel="alternate", type="text/html")
        entry.published(item.published)
        # feedgen stamps entries with the wall clock unless told otherwise.
        entry.updated(item.published)
        if item.authors:
            entry.author([{"name": name} for name in item.authors])
            # RSS <author> must be an e-mail address; Dublin Core carries names.
            entry.dc.dc_creator(", ".join(item.authors))
        entry.category([{"term": c.slug, "label": c.name} for c in item.categories])
        if item.content_html:
            entry.content(item.content_html, type="html")


def _rss_feed(meta: _FeedMeta, items: list[_FeedItem], site: SiteConfig) -> bytes:
    feed = _generator(meta, site, "application/rss+xml")
    _add_entries(feed, items)
    return feed.rss_str()


def _atom_feed(meta: _FeedMeta, items: list[_FeedItem], site: SiteConfig) -> bytes:
    feed = _generator(meta, site, "application/atom+xml")
    _add_entries(feed, items)
    return feed.atom_str()


def _json_feed(meta: _FeedMeta, items: list[_FeedItem], site: SiteConfig) -> bytes:
    """JSON Feed 1.1 from the standard library: the format is plain JSON, no library needed."""
    document = {
        "version": JSON_FEED_VERSION,
        "title": meta.title,
        "home_page_url": meta.page_url,
        "feed_url": meta.self_url,
        "description": meta.description,
        "language": site.language,
        "authors": [{"name": meta.title}],
        "items": [
            {
                "id": item.url,
                "url": item.url,
                "title": item.title,
                "content_html": item.content_html,
                "date_published": item.published.isoformat(),
                **({"authors": [{"name": name} for name in item.authors]} if item.authors else {}),
                "tags": [c.name for c in item.categories],
            }
            for item in items
        ],
    }
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def write_feeds(corpus: Corpus, site: SiteConfig, writer: SiteWriter) -> None:
    """Write the site-wide feeds and one RSS feed per topic for this build."""
    latest_day = corpus.latest_day
    corpus_updated = listing_time(latest_day.date) if latest_day else _NO_CONTENT_TIME
    items_of = {paper.slug: _feed_item(paper, corpus, site) for paper in _feed_papers(corpus, site.feed_size)}

    latest = [items_of[paper.slug] for paper in corpus.papers[: site.feed_size]]
    for path, render in ((RSS_PATH, _rss_feed), (ATOM_PATH, _atom_feed), (JSON_FEED_PATH, _json_feed)):
        meta = _feed_meta(site, site.title, site.description, path, home_path(), latest, corpus_updated)
        writer.write(path, render(meta, latest, site))

    for topic in corpus.topics:
        papers = corpus.by_topic.get(topic.slug, [])[: site.feed_size]
        items = [items_of[paper.slug] for paper in papers]
        description = topic.description or f"New papers on {topic.name}."
        meta = _feed_meta(site, f"{site.title}: {topic.name}", description, topic_feed_path(topic.slug),
                          topic_path(topic.slug), items, corpus_updated)
        writer.write(topic_feed_path(topic.slug), _rss_feed(meta, items, site))


def feed_corpus(corpus: Corpus, feed_size: int) -> Corpus:
    """The papers the feeds show, as a corpus of their own: a few thousand, small enough to
    send to the process that writes the feeds beside the pages (`site.write_side_outputs`).

    Its feeds are the whole corpus's, byte for byte: every topic in use keeps its newest paper
    (so the same topics, in the same order), and each list's first `feed_size` papers, sorted
    the same way, are the same.
    """
    return build_corpus(_feed_papers(corpus, feed_size), corpus.topics)


def _feed_papers(corpus: Corpus, feed_size: int) -> list[Paper]:
    """Every paper some feed shows, each once: the site's latest and each topic's latest."""
    chosen = {paper.slug: paper for paper in corpus.papers[:feed_size]}
    for papers in corpus.by_topic.values():
        chosen.update((paper.slug, paper) for paper in papers[:feed_size])
    return list(chosen.values())
