"""One day's digest → one message per subscriber, from Jinja2 templates. No I/O.

What mail clients and mail servers need, and why it is done this way:

- `multipart/alternative`, plain text first and HTML last (clients show the last part they
  can). Both parts come from templates in `templates/email/`; the HTML ones are autoescaped,
  so a title like `<script>` is text in either part.
- The HTML's CSS (`digest.css`) is inlined by css-inline, because Gmail and Outlook drop
  `<style>` blocks; remote stylesheets are never loaded. The `@media` rules for narrow screens
  and dark mode stay in a `<style>` block, where the clients that honour them read them.
- Headers carry no paper text at all, only the site title, a date, a count and a checked
  address, each one line; a hostile title can reach the body only, never a header. Anything
  that is not plain printable ASCII goes through the stdlib's email policy, which refuses line
  breaks and encodes the rest (RFC 2047).
- Bodies are quoted-printable and the MIME boundary starts with `=_`, a sequence that
  quoted-printable never produces, so no body text can ever close a part early.
- Everything is a function of (day, subscriber, settings): `Date` is the listing date at
  midnight UTC and `Message-ID` a hash of day and address, so a rerun after a crash composes
  byte-identical messages, and a receiving server that already has the message sees the
  same Message-ID (most mailbox stores keep one copy).

Speed (10,000 subscribers in well under a minute): nothing is done twice that comes out the
same. Each paper's card is rendered, CSS-inlined and quoted-printable-encoded once a day. The
rest of a message — header, section titles, footer, the "frame" — is the same for every
subscriber who gets the same papers under the same section titles, so it is rendered, inlined,
encoded and joined with its cards once per such selection (`frame_key`); only the footer's
address, filters and unsubscribe link differ. Those are rendered as placeholders and filled in
per message, escaped for HTML in the HTML part, on lines encoded on their own. That works
because quoted-printable works line by line: encoded lines joined are the encoding of the
joined lines, so an encoded card replaces its slot line `<!--paperroute-card-N-->` and a
filled-in footer line drops in between encoded lines. The wire bytes are written here rather
than by `email.generator`, whose header objects and line-by-line writes cost more than all the
rest; `compose` parses them back into an `EmailMessage` for anyone who wants the object.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import email.policy
import functools
import hashlib
import re
import secrets
import textwrap
import threading
from collections import OrderedDict
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Callable, Hashable, Mapping, Sequence
from urllib.parse import quote

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from markupsafe import Markup, escape

from paperroute.config import DigestConfig, SiteConfig
from paperroute.digest.subscribers import Subscriber
from paperroute.errors import InputError
from paperroute.markup import plain_summary
from paperroute.model import Paper, Topic
from paperroute.render import TEMPLATES_DIR, author_line, count_of, long_date, template_error
from paperroute.text import clean_line
from paperroute.urls import absolute, day_path, paper_path, topic_path

HTML_TEMPLATE = "email/digest.html"
TEXT_TEMPLATE = "email/digest.txt"
HTML_CARD_TEMPLATE = "email/paper_card.html"
TEXT_CARD_TEMPLATE = "email/paper_card.txt"
CSS_FILE = "email/digest.css"

# CRLF line ends, as SMTP sends them and .eml files keep them; lines up to RFC 5322's 998
# characters, because the stdlib would otherwise turn a long List-Unsubscribe URL into an
# RFC 2047 encoded-word, which no client decodes in that header.
POLICY = email.policy.SMTP.clone(max_line_length=998)

# A digest is for scanning: about two sentences, the whole abstract is one click away.
SUMMARY_LENGTH = 240
TEXT_WIDTH = 72

# Frames kept: subscribers are sent grouped by frame (`frame_key`), so a few cover every
# connection working through a group; each is about twice a message's size.
FRAME_CACHE_SIZE = 16

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True, keep_link_tags=False)
_CARD_SLOT = "<!--paperroute-card-{}-->"
# A header value that can be written as it is: printable ASCII, one line, well under 998.
_PLAIN_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,900}")
# What an unsubscribe URL may hold around `{email}`: RFC 3986's characters, none of which can
# end the `<...>` it is quoted in within List-Unsubscribe or the href="..." in the HTML part.
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]{1,700}")
# The values the templates print per subscriber (see `DigestEdition._frame`).
PER_SUBSCRIBER = ("email", "filters", "unsubscribe_url")


@dataclass(frozen=True)
class PaperEntry:
    """A paper as the digest shows it, cleaned and wrapped once per day, not once per subscriber."""

    index: int  # its card's number in the edition
    slot: Markup  # what the templates print where its card goes
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
        # HTML escaped, text and CSS not: the plain part shows `<` and `&` as they are.
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
    if not local or not re.fullmatch(r"[A-Za-z0-9.-]+", domain) or any(ch in settings.sender for ch in "\r\n"):
        raise InputError(f"digest.sender: {settings.sender!r} is not an address like 'Name <digest@example.org>'")
    return str(Address(clean_line(name), addr_spec=address)), domain


def _unsubscribe_template(settings: DigestConfig, site: SiteConfig) -> str:
    """The unsubscribe URL with `{email}` in it: the setting, else one on the site itself."""
    url = settings.unsubscribe_url or absolute(site.base_url, "unsubscribe?email={email}")
    where = "" if settings.unsubscribe_url else " (made from site.base_url; set digest.unsubscribe_url)"
    if "{email}" not in url:
        raise InputError(f"digest.unsubscribe_url: {url!r} has no {{email}}, so it cannot say who unsubscribes")
    if not _URL.fullmatch(url.replace("{email}", "")):
        raise InputError(f"digest.unsubscribe_url: {url!r} is not an http(s) URL of plain ASCII without spaces, "
                         f"quotes or angle brackets{where}")
    return url


def _check_unsubscribe_mailto(settings: DigestConfig) -> None:
    if not re.fullmatch(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+", settings.unsubscribe_mailto):
        raise InputError(f"digest.unsubscribe_mailto: {settings.unsubscribe_mailto!r} is not an address")


def _header(name: str, value: str) -> bytes:
    """One header line; anything but plain ASCII is checked and encoded by the stdlib's policy."""
    if _PLAIN_HEADER_VALUE.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return POLICY.fold_binary(name, POLICY.header_store_parse(name, value)[1])


def _quoted_printable(text: str) -> bytes:
    """Quoted-printable by binascii's C code (the stdlib's email one is Python), lines ending in LF."""
    return binascii.b2a_qp(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8"), istext=True)


Pieces = tuple[bytes | str, ...]


class PartEncoder:
    """Quoted-printable for one part (plain or HTML) of one edition's messages, a line at a time.

    Frames share most of their lines (the <style> block, the layout, section titles), so each
    distinct line is encoded once and kept; a card's slot line becomes that card, encoded once
    a day. Lines holding a placeholder (they all contain `marker`) stay text in the pieces,
    for `fill` to put one subscriber's values in and encode.
    """

    # Distinct lines kept at most; past that the memo starts over (frames repeat few lines).
    MAX_LINES = 20_000

    def __init__(self, subtype: str, cards: Sequence[bytes], placeholders: Mapping[str, str], marker: str,
                 escape_value: Callable[[str], str]):
        self._head = (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
                      'Content-Transfer-Encoding: quoted-printable\r\n\r\n').encode("ascii")
        self._cards = {_CARD_SLOT.format(index) + "\n": card for index, card in enumerate(cards)}
        self._placeholders = placeholders
        self._marker = marker
        self._escape = escape_value
        self._lines: dict[str, bytes] = {}

    def _line(self, line: str) -> bytes:
        encoded = self._cards.get(line) or self._lines.get(line)
        if encoded is None:
            if len(self._lines) >= self.MAX_LINES:
                self._lines.clear()
            encoded = self._lines[line] = _crlf(_quoted_printable(line))
        return encoded

    def encode(self, text: str) -> Pieces:
        """A rendered frame part: encoded bytes, and the lines with placeholders as text (not thread-safe)."""
        pieces: list[bytes | str] = [self._head]
        encoded: list[bytes] = []
        holes: list[str] = []
        lines = text.split("\n")
        for number, line in enumerate(lines):
            line += "\n" if number < len(lines) - 1 else ""
            if self._marker in line:
                if encoded:
                    pieces.append(b"".join(encoded))
                    encoded = []
                holes.append(line)
            elif line:
                if holes:
                    pieces.append("".join(holes))
                    holes = []
                encoded.append(self._line(line))
        pieces.append(b"".join(encoded) if encoded else "".join(holes))
        return tuple(pieces)

    def fill(self, pieces: Pieces, values: Mapping[str, str]) -> bytes:
        """The part for one subscriber: `values` (by `PER_SUBSCRIBER` name) in place of the placeholders."""
        out = []
        for piece in pieces:
            if isinstance(piece, str):
                for name, token in self._placeholders.items():
                    piece = piece.replace(token, self._escape(values[name]))
                out.append(_crlf(_quoted_printable(piece)))
            else:
                out.append(piece)
        return b"".join(out)


def _html_escape(value: str) -> str:
    return str(escape(value))


def _crlf(encoded: bytes) -> bytes:
    return encoded.replace(b"\n", b"\r\n")


def _wrap(text: str) -> tuple[str, ...]:
    """Lines for the plain-text part, indented under a list bullet; URLs are never broken."""
    return tuple(textwrap.wrap(text, TEXT_WIDTH - 3, break_long_words=False, break_on_hyphens=False))


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
        self.unsubscribe_template = _unsubscribe_template(settings, site)
        _check_unsubscribe_mailto(settings)
        self.day_url = absolute(site.base_url, day_path(date))
        self.home_url = absolute(site.base_url, "")
        self._topic_order = {topic.slug: index for index, topic in enumerate(topics)}
        self._topics = {topic.slug: topic for topic in topics}

        self._templates_dir = Path(templates_dir)
        try:
            environment = _environment(self._templates_dir)
            self._html = environment.get_template(HTML_TEMPLATE)
            self._text = environment.get_template(TEXT_TEMPLATE)
            css = environment.loader.get_source(environment, CSS_FILE)[0]  # type: ignore[union-attr]
            html_card = environment.get_template(HTML_CARD_TEMPLATE)
            text_card = environment.get_template(TEXT_CARD_TEMPLATE)
            self._entries = {paper.slug: self._entry(index, paper) for index, paper in enumerate(papers)}
            entries = list(self._entries.values())
            # Every card ends with a line break, so encoded cards drop into the frame line for line.
            html_cards = [_crlf(_quoted_printable(_INLINER.inline_fragment(html_card.render(paper=entry), css)
                                                  .rstrip("\n") + "\n")) for entry in entries]
            text_cards = [_crlf(_quoted_printable(text_card.render(paper=entry))) for entry in entries]
        except TemplateError as err:
            raise template_error(err, self._templates_dir) from None
        # Never in any output, so only their being unguessable matters: no title or topic name
        # can contain one and have a subscriber's address put into it.
        nonce = secrets.token_hex(8)
        self._placeholders = {name: f"paperroute{name.replace('_', '')}{nonce}" for name in PER_SUBSCRIBER}
        self._text_part = PartEncoder("plain", text_cards, self._placeholders, nonce, str)
        self._html_part = PartEncoder("html", html_cards, self._placeholders, nonce, _html_escape)
        self._frames: OrderedDict[Hashable, tuple[Pieces, Pieces]] = OrderedDict()
        self._frames_lock = threading.Lock()

        # List-Id's name is a phrase: no brackets or quotes that would end it early.
        list_name = re.sub(r'[<>"()]', "", self.site_title)
        self._fixed_headers = b"".join([
            _header("From", self.sender),
            _header("Date", format_datetime(dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.timezone.utc))),
            _header("List-Id", f"{list_name} digest <digest.{self.domain}>"),
        ])
        # RFC 8058 one-click unsubscribe is defined for HTTPS URIs only.
        one_click = self.unsubscribe_template.startswith("https://")
        self._closing_headers = b"".join([
            _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click") if one_click else b"",
            _header("Auto-Submitted", "auto-generated"),
            _header("MIME-Version", "1.0"),
        ])

    def _entry(self, index: int, paper: Paper) -> PaperEntry:
        title = clean_line(paper.title)
        authors = clean_line(author_line(paper.authors))
        upvotes = count_of(paper.upvotes, "upvote") if paper.upvotes is not None else ""
        summary = plain_summary(clean_line(paper.abstract), SUMMARY_LENGTH)
        return PaperEntry(
            index=index,
            slot=Markup(_CARD_SLOT.format(index)),
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
        return self.unsubscribe_template.replace("{email}", quote(subscriber.email, safe=""))

    def unsubscribe_mailto(self, subscriber: Subscriber) -> str:
        return f"mailto:{self.settings.unsubscribe_mailto}?subject={quote('unsubscribe ' + subscriber.email, safe='')}"

    def _identity(self, subscriber: Subscriber) -> str:
        """A hash of (day, address): stable across runs, and no address in a Message-ID."""
        return hashlib.sha256(f"{self.date.isoformat()}\n{subscriber.key}".encode("utf-8")).hexdigest()[:24]

    def message_id(self, subscriber: Subscriber) -> str:
        return f"<digest.{self.date.isoformat()}.{self._identity(subscriber)}@{self.domain}>"

    def subject(self, count: int) -> str:
        return f"{self.site_title} digest {self.date.isoformat()}: {count_of(count, 'paper')}"

    def frame_key(self, subscriber: Subscriber, papers: Sequence[Paper]) -> Hashable:
        """What a subscriber's frame depends on: the papers, the topics that pick their sections,
        and whether there are filters to name. Equal keys, equal frames."""
        return (tuple(self._entries[paper.slug].index for paper in papers), frozenset(subscriber.topics),
                subscriber.has_filters)

    def _frame(self, subscriber: Subscriber, papers: Sequence[Paper]) -> tuple[Pieces, Pieces]:
        """Both parts of the frame for this selection, rendered on first use (safe across threads)."""
        key = self.frame_key(subscriber, papers)
        with self._frames_lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
                return frame
            frame = self._render_frame(subscriber, papers)
            self._frames[key] = frame
            if len(self._frames) > FRAME_CACHE_SIZE:
                self._frames.popitem(last=False)
            return frame

    def _render_frame(self, subscriber: Subscriber, papers: Sequence[Paper]) -> tuple[Pieces, Pieces]:
        """The templates rendered with placeholders for the values in `PER_SUBSCRIBER`: they may
        print those but not look inside them, except to test `filters` for being empty."""
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
            "day_url": self.day_url,
            "home_url": self.home_url,
            **self._placeholders,
            "filters": self._placeholders["filters"] if subscriber.has_filters else "",
        }
        try:
            return (self._text_part.encode(self._text.render(context)),
                    self._html_part.encode(_INLINER.inline(self._html.render(context))))
        except TemplateError as err:
            raise template_error(err, self._templates_dir) from None

    def render(self, subscriber: Subscriber, papers: Sequence[Paper]) -> bytes:
        """The message for `subscriber` listing `papers` (their selection from this day), as sent."""
        text, html = self._frame(subscriber, papers)
        unsubscribe_url = self.unsubscribe_url(subscriber)
        values = {"email": subscriber.email, "filters": self.filters(subscriber), "unsubscribe_url": unsubscribe_url}
        identity = self._identity(subscriber)
        boundary = f"=_{identity}".encode("ascii")
        return b"".join([
            self._fixed_headers,
            _header("To", subscriber.email),
            _header("Subject", self.subject(len(papers))),
            _header("Message-ID", self.message_id(subscriber)),
            _header("List-Unsubscribe", f"<{self.unsubscribe_mailto(subscriber)}>, <{unsubscribe_url}>"),
            self._closing_headers,
            _header("Content-Type", f'multipart/alternative; boundary="=_{identity}"'),
            b"\r\n--", boundary, b"\r\n",
            self._text_part.fill(text, values),
            b"\r\n--", boundary, b"\r\n",
            self._html_part.fill(html, values),
            b"\r\n--", boundary, b"--\r\n",
        ])

    def compose(self, subscriber: Subscriber, papers: Sequence[Paper]) -> EmailMessage:
        """The same message as an `EmailMessage`, parsed from what `render` sends."""
        return email.message_from_bytes(self.render(subscriber, papers), policy=POLICY)  # type: ignore[return-value]
