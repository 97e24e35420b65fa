"""arXiv feeds: the API's Atom (export.arxiv.org/api/query) and the daily listings (rss.arxiv.org).

The API gives one entry per paper: `id` is `http://arxiv.org/abs/<id>v<n>`, `title` and
`summary` are hard-wrapped, authors are `author/name`, and the arxiv: namespace adds
`primary_category`, `comment`, `journal_ref` and `doi`. The listings (RSS 2.0 or Atom) name a
paper `oai:arXiv.org:<id>v<n>`, put every author in one comma-separated `dc:creator`, prefix
the summary with `arXiv:<id>v<n> Announce Type: new Abstract:`, and mark each entry with
`arxiv:announce_type`. Listing entries announced as `replace`/`replace-cross` are new versions
of old papers: they are skipped, so an old paper is not listed as news on the day it changed.

A paper's listing date is `--date` when given, else the day the feed dates the entry (a
listing's announce day, the API's first-version day), on the feed's own clock.

The XML is parsed with a DTD-free, network-free parser and a document that declares a DOCTYPE
is refused: arXiv never sends one, and refusing it rules out entity expansion attacks.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from dataclasses import dataclass, replace
from pathlib import Path

from lxml import etree

from paperroute.cleanup import clean_abstract
from paperroute.errors import InputError
from paperroute.model import Paper, SourceRef
from paperroute.sources.arxiv_ids import arxiv_links, bare_arxiv_id, web_url
from paperroute.text import clean_line

FORMAT = "arxiv"

ATOM = "http://www.w3.org/2005/Atom"
ARXIV = "http://arxiv.org/schemas/atom"
DC = "http://purl.org/dc/elements/1.1/"
_NS = {"atom": ATOM, "arxiv": ARXIV, "dc": DC}

_ROOT = re.compile(r"<(?:[\w-]+:)?(feed|rss)[\s>]")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_LISTING_PREFIX = re.compile(r"^arXiv:\S+\s+Announce Type:\s*([\w-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE)
_ABSTRACT_PREFIX = re.compile(r"^Abstract:\s*", re.IGNORECASE)
# arXiv subject classes (cs.CL, math.AG, hep-th); ACM and MSC codes (I.2.7, 68T50) also arrive as categories.
_CATEGORY = re.compile(r"^[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?$")
_SKIPPED_ANNOUNCEMENTS = frozenset({"replace", "replace-cross"})


def sniff(text: str) -> bool:
    """An Atom or RSS document that mentions arXiv near its top."""
    head = text.lstrip("\ufeff \t\r\n")[:4096]
    return head.startswith("<") and _ROOT.search(head) is not None and "arxiv" in head.lower()


def _parse_xml(text: str, path: Path) -> etree._Element:
    # The declaration goes (its encoding would contradict the already-decoded text); its line stays.
    text = _DECLARATION.sub(lambda m: "\n" * m.group(0).count("\n"), text.lstrip("\ufeff"), count=1)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(text, parser)
    except etree.XMLSyntaxError as err:
        raise InputError(f"not well-formed XML: {err.msg}", path, err.lineno or 1) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise InputError("a DOCTYPE is not allowed in a feed (entities are never expanded)", path, 1)
    return root


def _text(element: etree._Element | None) -> str:
    """An element's text, hard wraps and indentation folded to single spaces."""
    return clean_line("".join(element.itertext())) if element is not None else ""


def _date(value: str) -> dt.date | None:
    """The calendar day of an RFC 3339 (Atom) or RFC 822 (RSS) date, on the feed's own clock."""
    value = value.strip()
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError):
        return None


def _categories(primary: str | None, terms: list[str]) -> list[str]:
    ordered = [primary] if primary else []
    ordered += terms
    return list(dict.fromkeys(t for t in ordered if t and _CATEGORY.match(t)))


def _authors_from_creator(creator: str) -> list[str]:
    """A listing's `dc:creator` is one string: `Ada Lovelace, Alan Turing and Grace Hopper`."""
    names = re.split(r",\s*|\s+and\s+", creator)
    return [clean_line(name) for name in names if clean_line(name)]


@dataclass(frozen=True)
class _Flavour:
    """Where an entry keeps each field: Atom and RSS name the same things differently."""

    entry: str
    id: str
    title: str
    summary: str
    date: tuple[str, ...]
    feed_date: tuple[str, ...]


_ATOM_FLAVOUR = _Flavour("atom:entry", "atom:id", "atom:title", "atom:summary",
                         ("atom:published", "atom:updated"), ("atom:updated",))
_RSS_FLAVOUR = _Flavour("channel/item", "guid", "title", "description", ("pubDate",),
                        ("channel/pubDate", "channel/lastBuildDate"))


def _first_date(element: etree._Element, paths: tuple[str, ...]) -> dt.date | None:
    return next((d for d in (_date(_text(element.find(p, _NS))) for p in paths) if d is not None), None)


def _alternate_link(entry: etree._Element) -> str:
    """The entry's web page: RSS `link` text, or the Atom `link` whose rel is alternate."""
    if entry.find("link") is not None:
        return _text(entry.find("link"))
    return next((link.get("href", "") for link in entry.findall("atom:link", _NS)
                 if link.get("rel", "alternate") == "alternate"), "")


def _entry_paper(entry: etree._Element, flavour: _Flavour, number: int, path: Path,
                 listing_date: dt.date | None, feed_date: dt.date | None) -> Paper | None:
    """Entry `number` as a paper, or None for an announcement of a new version of an old paper."""
    line = entry.sourceline or 1
    raw_id = _text(entry.find(flavour.id, _NS))
    if "arxiv.org/api/errors" in raw_id:
        raise InputError(f"the arXiv API refused the query: {_text(entry.find(flavour.summary, _NS))}", path, line)
    arxiv_id = bare_arxiv_id(raw_id) or bare_arxiv_id(_alternate_link(entry))
    if arxiv_id is None:
        raise InputError(f"entry {number} has no arXiv id (id {raw_id!r})", path, line)

    summary = _text(entry.find(flavour.summary, _NS))
    announce_type = _text(entry.find("arxiv:announce_type", _NS)).lower()
    prefix = _LISTING_PREFIX.match(summary)
    if prefix:
        announce_type = announce_type or prefix.group(1).lower()
        summary = summary[prefix.end():]
    if announce_type in _SKIPPED_ANNOUNCEMENTS:
        return None
    summary = _ABSTRACT_PREFIX.sub("", summary)

    title = _text(entry.find(flavour.title, _NS))
    if not title:
        raise InputError(f"entry {number} ({arxiv_id}) has no title", path, line)
    date = listing_date or _first_date(entry, flavour.date) or feed_date
    if date is None:
        raise InputError(f"entry {number} ({arxiv_id}) has no date: pass --date YYYY-MM-DD", path, line)

    authors = [_text(name) for name in entry.findall("atom:author/atom:name", _NS) if _text(name)]
    if not authors:
        authors = [name for creator in entry.findall("dc:creator", _NS) for name in _authors_from_creator(_text(creator))]

    primary = entry.find("arxiv:primary_category", _NS)
    terms = [c.get("term") or _text(c) for c in [*entry.findall("atom:category", _NS), *entry.findall("category")]]
    categories = _categories(primary.get("term") if primary is not None else None, terms)

    links = arxiv_links(arxiv_id)
    doi = _text(entry.find("arxiv:doi", _NS))
    if doi and web_url(f"https://doi.org/{doi}"):
        links["doi"] = f"https://doi.org/{doi}"
    extra: dict[str, object] = {}
    if categories:
        extra["categories"] = categories
    for key in ("comment", "journal_ref"):
        value = _text(entry.find(f"arxiv:{key}", _NS))
        if value:
            extra[key] = value

    return Paper(
        title=title,
        date=date,
        abstract=clean_abstract(summary),
        authors=authors,
        arxiv_id=arxiv_id,
        links=links,
        sources=[SourceRef(FORMAT, path.name, date)],
        extra=extra,
    )


def parse(text: str, path: Path, listing_date: dt.date | None, today: dt.date) -> list[Paper]:
    root = _parse_xml(text, path)
    if root.tag == f"{{{ATOM}}}feed":
        flavour = _ATOM_FLAVOUR
    elif root.tag == "rss" and root.find("channel") is not None:
        flavour = _RSS_FLAVOUR
    elif root.tag == "rss":
        raise InputError("an RSS document without a channel", path, root.sourceline or 1)
    else:
        raise InputError(f"not an Atom or RSS feed (root element {etree.QName(root).localname!r})", path, root.sourceline or 1)
    feed_date = _first_date(root, flavour.feed_date)
    papers = []
    for number, entry in enumerate(root.findall(flavour.entry, _NS), start=1):
        paper = _entry_paper(entry, flavour, number, path, listing_date, feed_date)
        if paper is not None:
            papers.append(replace(paper, position=len(papers) + 1))
    return papers
