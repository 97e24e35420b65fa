"""Hugging Face Daily Papers JSON: the `api/daily_papers` list (or one `api/papers/<id>` object).

Each item wraps a `paper` ({id, title, summary, authors[].name, publishedAt, upvotes,
ai_summary, ai_keywords, githubRepo, projectPage, ...}) and adds its own `publishedAt` (when
it was put on the daily list) and `numComments`. The API has moved fields between the two
levels over time, so a field is read from the paper first and the item second.

Ids must stay text: `2503.02130` read as a number is 2503.0213, another paper. The API quotes
them, but a hand-made file may not, so JSON numbers with a fraction are kept as their literal
text and never become floats.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from paperroute.cleanup import clean_abstract
from paperroute.errors import InputError
from paperroute.model import Paper, SourceRef
from paperroute.sources.arxiv_ids import arxiv_links, bare_arxiv_id, web_url
from paperroute.text import clean_line

FORMAT = "hf"

# Fractions stay literal text, so an unquoted `2503.02130` is still the id "2503.02130".
_DECODER = json.JSONDecoder(parse_float=str)
_SPACE = re.compile(r"\s*")
# JSON can spell half of a UTF-16 surrogate pair alone (`"\ud83d"`: an emoji cut in two),
# which Python decodes to a character no UTF-8 file can hold: writing the paper failed with a
# traceback. Each becomes U+FFFD, the replacement character, as a browser would show it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    return value


def _as_it_is(value: Any) -> Any:
    return value


def sniff(text: str) -> bool:
    """JSON starts with `[` or `{`; no other format does, so malformed JSON is reported as JSON."""
    return text.lstrip("\ufeff \t\r\n")[:1] in ("[", "{")


def _located_items(text: str, path: Path) -> list[tuple[int, Any]]:
    """The top-level items, each with the line it starts on (for errors that point at it)."""
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err.msg} (column {err.colno})", path, err.lineno) from None
    # A pair decodes to one character: only a half is left to replace, where one was escaped.
    cleaned = _without_lone_surrogates if _SURROGATE_ESCAPE.search(text) else _as_it_is
    if isinstance(document, dict):  # sniff let only `[` and `{` through: a list, or one paper
        return [(text.count("\n", 0, _SPACE.match(text).end()) + 1, cleaned(document))]
    # The document is valid, so walking it again with raw_decode cannot fail: it only adds offsets.
    located = []
    index = _SPACE.match(text).end() + 1  # past the opening bracket
    line, counted_to = 1, 0
    for _ in document:
        index = _SPACE.match(text, index).end()
        line += text.count("\n", counted_to, index)
        counted_to = index
        item, index = _DECODER.raw_decode(text, index)
        located.append((line, cleaned(item)))
        index = _SPACE.match(text, index).end() + 1  # past the comma (or the closing bracket)
    return located


def _utc_date(value: Any) -> dt.date | None:
    """The UTC calendar day of an API timestamp such as `2025-03-04T01:15:43.583Z`."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.date()


def _item_paper(item: dict[str, Any], line: int, path: Path, position: int,
                listing_date: dt.date | None) -> Paper:
    inner = item.get("paper") if isinstance(item.get("paper"), dict) else None
    paper = inner if inner is not None else item

    def field(name: str) -> Any:
        value = paper.get(name)
        return value if value is not None else item.get(name)

    def fail(message: str) -> InputError:
        return InputError(message, path, line)

    title = field("title")
    if not isinstance(title, str) or not clean_line(title):
        raise fail(f"item {position} has no title")
    raw_id = field("id")
    arxiv_id = None
    if raw_id is not None:
        arxiv_id = bare_arxiv_id(str(raw_id))
        if arxiv_id is None:
            raise fail(f"item {position}: id {raw_id!r} is not an arXiv id")

    # An item's own publishedAt is the day it was put on the list; the paper's is arXiv's date.
    date = listing_date
    if date is None:
        candidates = [item.get("publishedAt")] if inner is not None else []
        candidates += [paper.get("submittedOnDailyAt"), paper.get("publishedAt")]
        date = next((d for d in map(_utc_date, candidates) if d is not None), None)
    if date is None:
        raise fail(f"item {position} has no listing date (publishedAt): pass --date YYYY-MM-DD")

    summary = field("summary")
    if summary is not None and not isinstance(summary, str):
        raise fail(f"item {position}: summary must be text")
    authors_raw = field("authors") or []
    if not isinstance(authors_raw, list):
        raise fail(f"item {position}: authors must be a list")
    authors = []
    for author in authors_raw:
        name = author.get("name") if isinstance(author, dict) else author
        if not isinstance(name, str):
            raise fail(f"item {position}: each author needs a name")
        if clean_line(name):
            authors.append(clean_line(name))
    upvotes = field("upvotes")
    if upvotes is not None and (not isinstance(upvotes, int) or isinstance(upvotes, bool) or upvotes < 0):
        raise fail(f"item {position}: upvotes must be a whole number, got {upvotes!r}")

    links = arxiv_links(arxiv_id) if arxiv_id else {}
    for key, name in (("code", "githubRepo"), ("project", "projectPage")):
        url = web_url(field(name))
        if url:
            links[key] = url

    extra: dict[str, Any] = {}
    ai_summary = field("ai_summary")
    if isinstance(ai_summary, str) and clean_line(ai_summary):
        extra["ai_summary"] = clean_abstract(clean_line(ai_summary))
    keywords = field("ai_keywords")
    if isinstance(keywords, list):
        kept = [clean_line(k) for k in keywords if isinstance(k, str) and clean_line(k)]
        if kept:
            extra["ai_keywords"] = kept
    comments = item.get("numComments", paper.get("numComments"))
    if isinstance(comments, int) and not isinstance(comments, bool):
        extra["num_comments"] = comments

    return Paper(
        title=clean_line(title),
        date=date,
        abstract=clean_abstract(clean_line(summary or "")),
        authors=authors,
        arxiv_id=arxiv_id,
        upvotes=upvotes,
        links=links,
        sources=[SourceRef(FORMAT, path.name, date)],
        position=position,
        extra=extra,
    )


def parse(text: str, path: Path, listing_date: dt.date | None, today: dt.date) -> list[Paper]:
    try:
        located = _located_items(text, path)
    except RecursionError:  # the decoder, and the walk for surrogates, recurse into each array and object
        raise InputError("not a listing: JSON nested deeper than Python's recursion limit", path) from None
    papers = []
    for position, (line, item) in enumerate(located, start=1):
        if not isinstance(item, dict):
            raise InputError(f"item {position} is not an object", path, line)
        papers.append(_item_paper(item, line, path, position, listing_date))
    return papers
