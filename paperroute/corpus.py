"""Group papers by day and by topic: the shared context every output renders from.

Pure functions over `Paper` records: no I/O, so the order rules (newest day first, source
order within a day, upvotes first where a source has them) are defined and tested once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable

from paperroute.model import Day, Paper, Topic

OTHER = Topic(slug="other", name="Other", description="Papers no topic rule matched.")


def day_order(paper: Paper) -> tuple:
    """Within a day: papers with upvotes first (most first), then the source's own order."""
    return (
        paper.upvotes is None,
        -(paper.upvotes or 0),
        paper.position if paper.position is not None else 1 << 30,
        paper.slug,
    )


@dataclass
class Corpus:
    """Every paper, grouped the ways pages, feeds, search and email need them."""

    days: list[Day]  # newest first
    topics: list[Topic]  # taxonomy order; `other` last, only when a paper uses it
    papers: list[Paper] = field(default_factory=list)  # newest day first, day order within
    by_slug: dict[str, Paper] = field(default_factory=dict)
    by_topic: dict[str, list[Paper]] = field(default_factory=dict)  # newest first
    by_date: dict[dt.date, Day] = field(default_factory=dict)

    @property
    def latest_day(self) -> Day | None:
        return self.days[0] if self.days else None

    def topic(self, slug: str) -> Topic:
        for topic in self.topics:
            if topic.slug == slug:
                return topic
        return Topic(slug=slug, name=slug.replace("-", " ").title())


def build_corpus(papers: list[Paper], taxonomy: list[Topic]) -> Corpus:
    """Group `papers`; a topic slug not in the taxonomy (a hand edit) still gets its own list."""
    by_date: dict[dt.date, list[Paper]] = {}
    for paper in papers:
        by_date.setdefault(paper.date, []).append(paper)
    days = [Day(date=date, papers=sorted(group, key=day_order)) for date, group in sorted(by_date.items(), reverse=True)]
    ordered = [paper for day in days for paper in day.papers]

    by_topic: dict[str, list[Paper]] = {}
    for paper in ordered:
        for slug in paper.topics or [OTHER.slug]:
            by_topic.setdefault(slug, []).append(paper)

    return Corpus(
        days=days,
        topics=topics_in_use(by_topic, taxonomy),
        papers=ordered,
        by_slug={p.slug: p for p in ordered},
        by_topic=by_topic,
        by_date={day.date: day for day in days},
    )


def topics_in_use(slugs: Iterable[str], taxonomy: list[Topic]) -> list[Topic]:
    """The taxonomy's topics, then slugs papers use that it lacks (hand edits), then `other`
    if a paper has no topic: the order every output lists topics in."""
    used = set(slugs)
    known = [t for t in taxonomy if t.slug != OTHER.slug]
    known_slugs = {t.slug for t in known}
    extra = [Topic(slug=s, name=s.replace("-", " ").title()) for s in sorted(used) if s not in known_slugs and s != OTHER.slug]
    return known + extra + ([OTHER] if OTHER.slug in used else [])
