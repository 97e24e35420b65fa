"""The site's pages as plain objects: which template, at which path, with which context.

Pure functions over the corpus: nothing here renders or writes, so the page plan can be
tested directly, and an incremental build (issue 8) can choose which pages to render. Pages
are produced lazily, one at a time, so a 100,000-paper site never sits in memory rendered.

Topic pages number their pages from the oldest (Nikola's "static indexes"): page chunks are
cut from a topic's oldest paper forwards, the front page holds the newest, partial chunk, and
a full chunk keeps its URL and its papers for ever. A new day therefore rewrites the topic's
front page, and only when a chunk fills up also writes one new page and relinks one more.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from paperroute.charts import TopicSeries, calendar_heatmap, topic_timeline
from paperroute.corpus import Corpus
from paperroute.feeds import ATOM_PATH, JSON_FEED_PATH, RSS_PATH
from paperroute.model import Day, Paper, Topic
from paperroute.urls import (archive_path, day_path, home_path, paper_path, relative, search_path, topic_feed_path,
                             topic_path)

NOT_FOUND_FILE = "404.html"
PAPER_TEMPLATE = "paper.html"


@dataclass(frozen=True)
class Page:
    """One HTML file to write: the template to render, where it lives and what it shows."""

    path: str
    template: str
    context: Mapping[str, Any]
    in_sitemap: bool = True
    # 404.html is served at whatever URL was missing, so its links must not be relative.
    absolute_links: bool = False


@dataclass(frozen=True)
class PagePlan:
    """A day's or a topic's page before it is made: the pure function that makes it and its
    arguments, which are what its fingerprint walks (`PageInputs.fingerprint`).

    The made page's context repeats its arguments a dozen ways (titles, topic groups, feed
    links), and walking it for each of 3,700 day and topic pages, after building it, was a
    third of a 100k new day's page phase; that build renders 40 of them. `make` may be bound
    to the taxonomy (`functools.partial`), which every fingerprint covers already (through
    `PageInputs.code`), and must read nothing else but `args`.
    """

    path: str
    template: str
    make: Callable[..., Page]
    args: tuple
    in_sitemap: bool = True
    absolute_links: bool = False

    def page(self) -> Page:
        return self.make(*self.args)


@dataclass(frozen=True)
class FeedLink:
    """A feed a page announces with <link rel="alternate">."""

    title: str
    path: str
    media_type: str


SITE_FEEDS = (
    FeedLink("RSS", RSS_PATH, "application/rss+xml"),
    FeedLink("Atom", ATOM_PATH, "application/atom+xml"),
    FeedLink("JSON Feed", JSON_FEED_PATH, "application/feed+json"),
)


@dataclass(frozen=True)
class TopicGroup:
    topic: Topic
    papers: list[Paper]

    @property
    def anchor(self) -> str:
        return f"topic-{self.topic.slug}"


@dataclass(frozen=True)
class ExternalLink:
    label: str
    url: str


@dataclass(frozen=True)
class TopicSlice:
    """One page of a topic: its papers newest first and its neighbours' paths."""

    path: str
    papers: list[Paper]
    newer: str | None
    older: str | None
    first_date: dt.date | None = None
    last_date: dt.date | None = None

    @property
    def is_front(self) -> bool:
        return self.newer is None


@dataclass(frozen=True)
class TopicPageLink:
    """An older page of a topic as its front page lists it: not its papers, only their span."""

    path: str
    first_date: dt.date | None
    last_date: dt.date | None
    count: int


@dataclass(frozen=True)
class DayCount:
    """A day as the archive lists it and its page heads it: its date and how many papers,
    not the papers, so the archive's fingerprint does not walk 100,000 of them (77 ms) and
    an edited title does not render it again."""

    date: dt.date
    count: int


@dataclass(frozen=True)
class MonthOfDays:
    month: dt.date
    days: list[DayCount] = field(default_factory=list)


# ---------------------------------------------------------------- pure helpers


def group_by_topic(papers: Sequence[Paper], topics: Sequence[Topic]) -> list[TopicGroup]:
    """A day's papers under their primary topic, topics in taxonomy order, day order kept."""
    groups: dict[str, list[Paper]] = {}
    for paper in papers:
        groups.setdefault(paper.primary_topic, []).append(paper)
    ordered = [topic for topic in topics if topic.slug in groups]
    return [TopicGroup(topic, groups[topic.slug]) for topic in ordered]


_LINK_LABELS = {"arxiv": "arXiv", "abs": "arXiv", "pdf": "PDF", "hf": "Hugging Face",
                "huggingface": "Hugging Face", "code": "Code", "github": "Code", "project": "Project page"}


# What urlsplit calls an http(s) URL with a host, at a tenth of its cost. Like urlsplit (and
# browsers), tabs and line breaks inside a URL are dropped first: a hand-wrapped URL still works.
_WEB_URL = re.compile(r"https?://[^/?#]", re.IGNORECASE)
_URL_NOISE = str.maketrans("", "", "\t\r\n")


def _web_url(url: str) -> str | None:
    """The URL, cleaned, if it is an http(s) URL with a host; None for anything else."""
    url = url.strip().translate(_URL_NOISE)
    return url if _WEB_URL.match(url) else None


def paper_links(paper: Paper) -> list[ExternalLink]:
    """A paper's outside links, known ones first; only http(s) URLs ever become an href.

    Links come from hand-editable front matter, so a `javascript:` value is dropped here,
    not trusted to the template.
    """
    links: dict[str, str] = {}
    if paper.arxiv_id:
        links["arXiv"] = f"https://arxiv.org/abs/{paper.arxiv_id}"
        links["PDF"] = f"https://arxiv.org/pdf/{paper.arxiv_id}"
        links["Hugging Face"] = f"https://huggingface.co/papers/{paper.arxiv_id}"
    for key in sorted(paper.links):
        url = _web_url(paper.links[key])
        if url:
            links[_LINK_LABELS.get(key.lower(), key)] = url
    order = ["arXiv", "PDF", "Hugging Face", "Code"]
    ranked = sorted(links.items(), key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]))
    return [ExternalLink(label, url) for label, url in ranked]


def paginate_topic(slug: str, papers_newest_first: Sequence[Paper], page_size: int) -> list[TopicSlice]:
    """Cut a topic's papers into pages numbered from the oldest; the front page is the newest.

    Chunk k (k = 1 is the oldest) lives at page number k + 1, because page 1 of a topic is its
    front page (`urls.topic_path(slug)`), which holds the newest chunk of 1…page_size papers.
    Returned newest first.
    """
    oldest_first = list(reversed(papers_newest_first))
    chunk_count = max(1, math.ceil(len(oldest_first) / page_size))
    chunks = [oldest_first[i * page_size:(i + 1) * page_size] for i in range(chunk_count)]
    paths = [topic_path(slug, number + 2) for number in range(chunk_count - 1)] + [topic_path(slug)]
    slices = []
    for index, chunk in enumerate(chunks):
        slices.append(TopicSlice(
            path=paths[index],
            papers=list(reversed(chunk)),
            newer=paths[index + 1] if index + 1 < chunk_count else None,
            older=paths[index - 1] if index > 0 else None,
            first_date=chunk[0].date if chunk else None,
            last_date=chunk[-1].date if chunk else None,
        ))
    return list(reversed(slices))


def months_of(days: Sequence[Day]) -> list[MonthOfDays]:
    """Days (newest first) grouped by calendar month for the archive's list."""
    months: list[MonthOfDays] = []
    for day in days:
        month = day.date.replace(day=1)
        if not months or months[-1].month != month:
            months.append(MonthOfDays(month))
        months[-1].days.append(DayCount(day.date, len(day.papers)))
    return months


def nav_topics(corpus: Corpus) -> list[Topic]:
    """Topics the header links to: those with papers, in taxonomy order.

    Counts are left out on purpose: the header is on every page, and a number that changes
    daily would make every page of the site change daily.
    """
    return [topic for topic in corpus.topics if corpus.by_topic.get(topic.slug)]


# ---------------------------------------------------------------- pages


def home_page(corpus: Corpus) -> Page:
    """The latest day, as its day page shows it, at the site's root."""
    latest = corpus.latest_day
    return Page(home_path(), "home.html", {
        "title": None,
        "description": None,
        "og_type": "website",
        "feeds": (),
        "day": DayCount(latest.date, len(latest.papers)) if latest else None,
        "groups": group_by_topic(latest.papers, corpus.topics) if latest else [],
        "newer_date": None,
        "older_date": corpus.days[1].date if len(corpus.days) > 1 else None,
    })


def day_page(topics: Sequence[Topic], day: Day, newer_date: dt.date | None, older_date: dt.date | None) -> Page:
    """One day's page, from its papers and its neighbours' dates: the papers once, in their
    topic groups (a day's 100 papers are its fingerprint's largest part)."""
    return Page(day_path(day.date), "day.html", {
        "title": f"Papers of {day.date.isoformat()}",
        "description": f"{len(day.papers)} papers listed on {day.date.isoformat()}, grouped by topic.",
        "og_type": "website",
        "feeds": (),
        "day": DayCount(day.date, len(day.papers)),
        "groups": group_by_topic(day.papers, topics),
        # Dates, not days: a neighbour's papers are not this page's input.
        "newer_date": newer_date,
        "older_date": older_date,
    })


def day_pages(corpus: Corpus) -> Iterator[PagePlan]:
    for index, day in enumerate(corpus.days):
        newer = corpus.days[index - 1].date if index > 0 else None
        older = corpus.days[index + 1].date if index < len(corpus.days) - 1 else None
        yield PagePlan(day_path(day.date), "day.html", functools.partial(day_page, corpus.topics), (day, newer, older))


def topic_page(topic: Topic, topic_slice: TopicSlice, paper_count: int | None,
               older_pages: Sequence[TopicPageLink]) -> Page:
    """One page of a topic; only the front page (`topic_slice.is_front`) counts the topic's
    papers and lists its older pages: on the others they would re-render every page of the
    topic each day for nothing."""
    title = topic.name
    if not topic_slice.is_front and topic_slice.first_date and topic_slice.last_date:
        title = f"{topic.name}: {topic_slice.first_date.isoformat()} to {topic_slice.last_date.isoformat()}"
    feed = FeedLink(f"{topic.name} (RSS)", topic_feed_path(topic.slug), "application/rss+xml")
    return Page(topic_slice.path, "topic.html", {
        "title": title,
        "description": topic.description or f"Papers on {topic.name}, newest first.",
        "og_type": "website",
        "feeds": (feed,),
        "topic": topic,
        "topic_feed": feed,
        "paper_count": paper_count,
        "slice": topic_slice,
        "older_pages": older_pages,
    })


def topic_pages(corpus: Corpus, page_size: int) -> Iterator[PagePlan]:
    for topic in corpus.topics:
        papers = corpus.by_topic.get(topic.slug, [])
        slices = paginate_topic(topic.slug, papers, page_size)
        older_pages = [TopicPageLink(older.path, older.first_date, older.last_date, len(older.papers))
                       for older in slices[1:]]
        for topic_slice in slices:
            front = topic_slice.is_front
            yield PagePlan(topic_slice.path, "topic.html", topic_page,
                           (topic, topic_slice, len(papers) if front else None, older_pages if front else []))


def paper_page(corpus: Corpus, paper: Paper, related: Sequence[Paper]) -> Page:
    """One paper's own page. A build makes it only when it must be rendered: most builds
    render a few of 100,000, and `PageInputs.paper_fingerprint` stands in for it until then."""
    return Page(paper_path(paper.slug), PAPER_TEMPLATE, {
        "title": paper.title,
        "description": paper.abstract,
        "og_type": "article",
        "feeds": (),
        "paper": paper,
        "topics": [corpus.topic(slug) for slug in (paper.topics or [paper.primary_topic])],
        "links": paper_links(paper),
        "related": list(related),
    })


def archive_page(corpus: Corpus) -> Page:
    counts = {day.date: len(day.papers) for day in corpus.days}
    series = [
        TopicSeries(topic.name, relative(archive_path(), topic_path(topic.slug)), Counter(paper.date for paper in corpus.by_topic.get(topic.slug, [])))
        for topic in corpus.topics
    ]
    return Page(archive_path(), "archive.html", {
        "title": "Archive",
        "description": f"Every day of papers: {len(corpus.days)} days, {len(corpus.papers)} papers.",
        "og_type": "website",
        "feeds": (),
        "months": months_of(corpus.days),
        "paper_count": len(corpus.papers),
        "day_count": len(corpus.days),
        # The charts are markup made here, so their links are made relative to the archive here.
        "heatmaps": calendar_heatmap(counts, lambda date: relative(archive_path(), day_path(date))),
        "timeline": topic_timeline(series),
    })


def search_page() -> Page:
    return Page(search_path(), "search.html", {
        "title": "Search",
        "description": "Search every paper by title, author and abstract.",
        "og_type": "website",
        "feeds": (),
    })


def not_found_page() -> Page:
    return Page(NOT_FOUND_FILE, "404.html", {
        "title": "Page not found",
        "description": "There is no page at this address.",
        "og_type": "website",
        "feeds": (),
    }, in_sitemap=False, absolute_links=True)


def site_pages(corpus: Corpus, page_size: int) -> Iterator[Page | PagePlan]:
    """Every HTML page of the site but the papers' own (`paper_page`), cheapest first: the
    few site-wide ones made, the days' and topics' planned (`PagePlan`)."""
    yield home_page(corpus)
    yield archive_page(corpus)
    yield search_page()
    yield not_found_page()
    yield from day_pages(corpus)
    yield from topic_pages(corpus, page_size)
