"""A Hugging Face Daily Papers page saved from a browser (File → Save Page As).

Each paper is an `article` card whose `h3` links to `/papers/<arXiv id>` (an absolute
`https://huggingface.co/papers/<id>` once a browser has saved the page), next to an upvote
box (the count beside a hidden checkbox), a `#community` link with the comment count, and
sometimes a GitHub or project-page link. Cards carry no abstract, and their avatars name only
the authors who have a Hugging Face account, so neither is taken: a partial author list would
read as the whole one, and a richer source fills both in on merge.

The listing date is in the page's own address (canonical link, `og:url`, or the browser's
`saved from url` comment): `/papers/date/2025-03-04` or `?date=2025-03-04`. Today's page has
no date in its address, so `--date` is needed for it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from paperroute.errors import InputError
from paperroute.model import Paper, SourceRef
from paperroute.sources.arxiv_ids import arxiv_links, bare_arxiv_id, web_url
from paperroute.text import clean_line

FORMAT = "html"

_HTML_START = re.compile(r"^(?:<!doctype html|<html[\s>]|<!-- saved from url=)", re.IGNORECASE)
_ADDRESS_DATE = re.compile(r"huggingface\.co/papers(?:/date/|\?(?:[^\"'\s>]*&)?date=)(\d{4}-\d{2}-\d{2})")
_SAVED_FROM = re.compile(r"<!-- saved from url=\(\d+\)(\S+) -->")
_COUNT = re.compile(r"^\d+$")


def sniff(text: str) -> bool:
    return _HTML_START.match(text.lstrip("\ufeff \t\r\n")) is not None


def _page_date(soup: BeautifulSoup, text: str, path: Path) -> dt.date | None:
    """The listing date from the page's address, wherever the browser left it."""
    addresses = [m.group(1) for m in _SAVED_FROM.finditer(text[:4096])]
    canonical = soup.find("link", rel="canonical")
    if isinstance(canonical, Tag):
        addresses.append(str(canonical.get("href", "")))
    og_url = soup.find("meta", property="og:url")
    if isinstance(og_url, Tag):
        addresses.append(str(og_url.get("content", "")))
    for address in addresses:
        match = _ADDRESS_DATE.search(address)
        if match:
            try:
                return dt.date.fromisoformat(match.group(1))
            except ValueError:
                raise InputError(f"the page's address has an impossible date {match.group(1)!r}", path, 1) from None
    return None


def _count(element: Tag | None) -> int | None:
    if element is None:
        return None
    text = clean_line(element.get_text(" "))
    return int(text) if _COUNT.match(text) else None


def _card_paper(link: Tag, arxiv_id: str, date: dt.date, path: Path, position: int) -> Paper:
    title = clean_line(link.get_text())
    if not title:
        raise InputError(f"the card for {arxiv_id} has an empty title", path, link.sourceline)
    heading = link.find_parent("h3")
    card = link.find_parent("article") or (heading.parent if heading is not None else link)

    checkbox = card.find("input", attrs={"type": "checkbox"})
    upvotes = _count(checkbox.parent if isinstance(checkbox, Tag) else None)
    comments = _count(card.find("a", href=re.compile(r"#community$")))

    links = arxiv_links(arxiv_id)
    for anchor in card.find_all("a", href=True):
        url = web_url(anchor["href"])
        if url is None:
            continue
        if url.startswith("https://github.com/") and "code" not in links:
            links["code"] = url
        elif clean_line(anchor.get_text(" ")).lower() == "project page" and "project" not in links:
            links["project"] = url
    return Paper(
        title=title,
        date=date,
        arxiv_id=arxiv_id,
        upvotes=upvotes,
        links=links,
        sources=[SourceRef(FORMAT, path.name, date)],
        position=position,
        extra={"num_comments": comments} if comments is not None else {},
    )


def parse(text: str, path: Path, listing_date: dt.date | None, today: dt.date) -> list[Paper]:
    # html.parser, not lxml: only it records each tag's line, which errors must name.
    soup = BeautifulSoup(text, "html.parser")
    cards = []
    for link in soup.select("h3 a[href]"):
        arxiv_id = bare_arxiv_id(str(link["href"]).split("#")[0])
        if arxiv_id is not None:
            cards.append((link, arxiv_id))
    if not cards:
        raise InputError("no paper cards (h3 links to /papers/<id>): not a saved Daily Papers page", path, 1)
    date = listing_date or _page_date(soup, text, path)
    if date is None:
        raise InputError("no listing date: the page's address has none (today's page), pass --date YYYY-MM-DD", path, 1)
    return [_card_paper(link, arxiv_id, date, path, position) for position, (link, arxiv_id) in enumerate(cards, start=1)]
