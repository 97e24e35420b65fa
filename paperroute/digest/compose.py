"""One day's digest → one `EmailMessage` per subscriber, from Jinja2 templates. No I/O.

What mail clients and mail servers need, and why it is done this way:

- `multipart/alternative`, plain text first and HTML last (clients show the last part they
  can). Both parts come from templates in `templates/email/`; the HTML one is autoescaped,
  so a title like `<script>` is text in either part.
- The HTML's CSS is inlined by css-inline (Gmail and Outlook drop `<style>` blocks) with
  remote stylesheets switched off; the `@media` rules for narrow screens and dark mode stay
  in a `<style>` block, where the clients that honour them read them.
- Headers carry no paper text at all, only the site title, a date, a count and a checked
  address, each folded to one line; a hostile title can reach the body only, never a header.
- Bodies are quoted-printable and the MIME boundary starts with `=_`, a sequence that
  quoted-printable never produces, so no body text can ever close a part early.
- Everything is a function of (day, subscriber, settings): `Date` is the listing date at
  midnight UTC and `Message-ID` a hash of day and address, so a rerun after a crash composes
  byte-identical messages, and a receiving server that already has the message sees the
  same Message-ID (most mailbox stores keep one copy).
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.policy
import functools
import hashlib
import textwrap
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from paperroute.config import DigestConfig, SiteConfig
from paperroute.errors import InputError
from paperroute.markup import plain_summary
from paperroute.model import Paper, Topic
from paperroute.render import TEMPLATES_DIR, author_line, count_of, long_date
from paperroute.digest.subscribers import Subscriber
from paperroute.text import clean_line
from paperroute.urls import absolute, day_path, paper_path, topic_path

HTML_TEMPLATE = "email/digest.html"
TEXT_TEMPLATE = "email/digest.txt"

# CRLF line ends, as SMTP sends them and .eml files keep them; lines up to RFC 5322's 998
# characters, because the stdlib would otherwise turn a long List-Unsubscribe URL into an
# RFC 2047 encoded-word, which no client decodes in that header.
POLICY = email.policy.SMTP.clone(max_line_length=998)

SUMMARY_LENGTH = 320
TEXT_WIDTH = 72

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True, keep_link_tags=False)


@dataclass(frozen=True)
class PaperEntry:
    """A paper as the digest shows it, cleaned and wrapped once per day, not once per subscriber."""

    title: str
    url: str
    authors: str
    summary: str
    upvotes: int | None
    # The plain-text part's meta line and wrapped lines.
    byline: str
    title_lines: tuple[str, ...]
    summary_lines: tuple[str, ...]


@dataclass(frozen=True)
class TopicSection:
    topic: Topic
    url: str
    papers: tuple[PaperEntry, ...]


@functools.lru_cache(maxsize=4)
def _environment(templates_dir: Path) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        # HTML escaped, text not: the plain part shows `<` and `&` as they are.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    environment.filters.update(count_of=count_of)
    return environment


def _sender(settings: DigestConfig) -> tuple[str, str]:
    """The From address and its domain (which also names our Message-IDs and List-Id)."""
    name, address = parseaddr(settings.sender)
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(ch in settings.sender for ch in "\r\n"):
        raise InputError(f"digest.sender: {settings.sender!r} is not an address like 'Name <digest@example.org>'")
    return str(Address(clean_line(name), addr_spec=address)), domain


def _wrap(text: str) -> tuple[str, ...]:
    """Lines for the plain-text part, indented under a list number; URLs are never broken."""
    return tuple(textwrap.wrap(text, TEXT_WIDTH - 3, break_long_words=False, break_on_hyphens=False))


def _qp_part(body: str, subtype: str) -> EmailMessage:
    """A text part encoded here, by binascii's C quoted-printable, instead of the stdlib's Python one."""
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    return part


class DigestEdition:
    """One day's digest: what every subscriber's message shares, prepared once.

    `topics` gives the order of sections (the taxonomy's); a paper is listed once, under the
    first of its topics the subscriber asked for, else under its primary topic, as the day
    page lists it.
    """

    def __init__(self, date: dt.date, papers: Sequence[Paper], topics: Sequence[Topic], site: SiteConfig,
                 settings: DigestConfig, templates_dir: Path = TEMPLATES_DIR):
        self.date = date
        self.total = len(papers)
        self.site = site
        self.settings = settings
        self.site_title = clean_line(site.title) or "paperroute"
        self.sender, self.domain = _sender(settings)
        self.day_url = absolute(site.base_url, day_path(date))
        self.home_url = absolute(site.base_url, "")
        self.date_header = format_datetime(dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.timezone.utc))
        self.list_id = f"{self.site_title} digest <digest.{self.domain}>"
        self._topic_order = {topic.slug: index for index, topic in enumerate(topics)}
        self._topics = {topic.slug: topic for topic in topics}
        self._entries = {paper.slug: self._entry(paper) for paper in papers}
        environment = _environment(Path(templates_dir))
        self._html = environment.get_template(HTML_TEMPLATE)
        self._text = environment.get_template(TEXT_TEMPLATE)

    def _entry(self, paper: Paper) -> PaperEntry:
        title = clean_line(paper.title)
        authors = clean_line(author_line(paper.authors))
        upvotes = count_of(paper.upvotes, "upvote") if paper.upvotes is not None else ""
        summary = plain_summary(clean_line(paper.abstract), SUMMARY_LENGTH)
        return PaperEntry(
            title=title,
            url=absolute(self.site.base_url, paper_path(paper.slug)),
            authors=authors,
            summary=summary,
            upvotes=paper.upvotes,
            byline=" - ".join(part for part in (upvotes, authors) if part),
            title_lines=_wrap(title),
            summary_lines=_wrap(summary),
        )

    def _topic(self, slug: str) -> Topic:
        return self._topics.get(slug) or Topic(slug=slug, name=slug.replace("-", " ").title())

    @staticmethod
    def _section_slug(subscriber: Subscriber, paper: Paper) -> str:
        return next((slug for slug in paper.topics if slug in subscriber.topics), paper.primary_topic)

    def sections(self, subscriber: Subscriber, papers: Sequence[Paper]) -> list[TopicSection]:
        """`papers` grouped by topic, sections in taxonomy order, the day's order within each."""
        grouped: dict[str, list[PaperEntry]] = {}
        for paper in papers:
            grouped.setdefault(self._section_slug(subscriber, paper), []).append(self._entries[paper.slug])
        order = sorted(grouped, key=lambda slug: (self._topic_order.get(slug, len(self._topic_order)), slug))
        return [TopicSection(self._topic(slug), absolute(self.site.base_url, topic_path(slug)), tuple(grouped[slug]))
                for slug in order]

    def filters(self, subscriber: Subscriber) -> str:
        """The subscriber's filters in words, so a thin digest explains itself."""
        parts = []
        if subscriber.topics:
            parts.append("topics " + ", ".join(self._topic(slug).name for slug in subscriber.topics))
        if subscriber.keywords:
            parts.append("keywords " + ", ".join(f'"{word}"' for word in subscriber.keywords))
        if subscriber.exclude:
            parts.append("excluding " + ", ".join(f'"{word}"' for word in subscriber.exclude))
        return "; ".join(parts)

    def unsubscribe_url(self, subscriber: Subscriber) -> str:
        return self.settings.unsubscribe_url.replace("{email}", quote(subscriber.email, safe=""))

    def unsubscribe_mailto(self, subscriber: Subscriber) -> str:
        return f"mailto:{self.settings.unsubscribe_mailto}?subject={quote('unsubscribe ' + subscriber.email, safe='')}"

    def _identity(self, subscriber: Subscriber) -> str:
        """A hash of (day, address): stable across runs, and no address in a Message-ID."""
        return hashlib.sha256(f"{self.date.isoformat()}\n{subscriber.key}".encode("utf-8")).hexdigest()[:24]

    def message_id(self, subscriber: Subscriber) -> str:
        return f"<digest.{self.date.isoformat()}.{self._identity(subscriber)}@{self.domain}>"

    def subject(self, count: int) -> str:
        return f"{self.site_title} digest {self.date.isoformat()}: {count_of(count, 'paper')}"

    def compose(self, subscriber: Subscriber, papers: Sequence[Paper]) -> EmailMessage:
        """The message for `subscriber`, listing `papers` (their selection from this day)."""
        unsubscribe_url = self.unsubscribe_url(subscriber)
        limit = self.settings.max_papers
        shown = papers[:limit] if limit > 0 else papers
        context = {
            "site_title": self.site_title,
            "date": self.date,
            "long_date": long_date(self.date),
            "count": len(papers),
            "total": self.total,
            "shown": len(shown),
            "topic_count": len({self._section_slug(subscriber, paper) for paper in papers}),
            "sections": self.sections(subscriber, shown),
            "subscriber": subscriber,
            "filters": self.filters(subscriber),
            "day_url": self.day_url,
            "home_url": self.home_url,
            "unsubscribe_url": unsubscribe_url,
        }
        html = _INLINER.inline(self._html.render(context))
        text = self._text.render(context)

        message = EmailMessage(policy=POLICY)
        message["From"] = self.sender
        message["To"] = subscriber.email
        message["Subject"] = self.subject(len(papers))
        message["Date"] = self.date_header
        message["Message-ID"] = self.message_id(subscriber)
        message["List-Id"] = self.list_id
        message["List-Unsubscribe"] = f"<{self.unsubscribe_mailto(subscriber)}>, <{unsubscribe_url}>"
        # RFC 8058 one-click unsubscribe is defined for HTTPS URIs only.
        if unsubscribe_url.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Auto-Submitted"] = "auto-generated"
        message["MIME-Version"] = "1.0"
        message["Content-Type"] = f'multipart/alternative; boundary="=_{self._identity(subscriber)}"'
        message.attach(_qp_part(text, "plain"))
        message.attach(_qp_part(html, "html"))
        return message


def message_bytes(message: EmailMessage) -> bytes:
    """The message as it goes on the wire and into an .eml file."""
    return message.as_bytes(policy=POLICY)
