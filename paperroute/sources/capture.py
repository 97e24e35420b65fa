"""Daily Papers page captures: the page's text as a browser copies it.

A capture is page chrome (`new`, `Subscribe`, `Daily Papers`, a `Mon D` date), then papers as
a title line followed by an abstract line. Blank lines may or may not separate them, and when
they don't, the first title is glued to the `Subscribe` button's text. No capture carries
authors, ids or a year, so the listing date comes from `--date` or the header's `Mon D`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from pathlib import Path

from paperroute.cleanup import clean_abstract
from paperroute.errors import InputError
from paperroute.model import Paper, SourceRef
from paperroute.text import clean_line

FORMAT = "capture"

CHROME = frozenset(
    {
        "new",
        "Get trending papers in your email inbox!",
        "Get trending papers in your email inbox once a day!",
        "Subscribe",
        "Daily Papers",
        "byAK and the research community",
    }
)
_MONTHS = {name: number for number, name in enumerate(calendar.month_abbr) if name}
_HEADER_DATE = re.compile(r"^(%s) (\d{1,2})$" % "|".join(_MONTHS))
_GLUED = "Subscribe"
# A title is a line; a line this long is a paragraph, so the title/abstract pairing is off.
_MAX_TITLE = 400


def sniff(text: str) -> bool:
    """A capture starts with the page's chrome, or is plain lines of title then long abstract."""
    head = [line.strip() for line in text.lstrip("\ufeff").splitlines()[:12] if line.strip()]
    if not head:
        return False
    if any(line in CHROME or line.startswith(_GLUED) for line in head[:6]):
        return True
    if head[0][:1] in "<{[":
        return False
    return len(head) >= 2 and len(head[0]) <= _MAX_TITLE and len(head[1]) > len(head[0])


def resolve_header_date(month: int, day: int, today: dt.date) -> dt.date:
    """The latest `month day` not after today: a capture is read after it was taken."""
    for year in range(today.year, today.year - 9, -1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:  # Feb 29 in a common year, Apr 31
            continue
        if candidate <= today:
            return candidate
    raise ValueError(f"no date {calendar.month_abbr[month]} {day}")


def parse(text: str, path: Path, listing_date: dt.date | None, today: dt.date) -> list[Paper]:
    lines = [(number, line.strip()) for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1)]
    content = [(number, line) for number, line in lines if line]

    header_date: dt.date | None = None
    start = 0
    while start < len(content):
        number, line = content[start]
        match = _HEADER_DATE.match(line)
        if match:
            try:
                header_date = resolve_header_date(_MONTHS[match.group(1)], int(match.group(2)), today)
            except ValueError:
                raise InputError(f"header date {line!r} is not a day of the year", path, number) from None
        elif line in CHROME:
            pass
        elif line.startswith(_GLUED) and len(line) > len(_GLUED):
            content[start] = (number, line[len(_GLUED):].strip())
            break
        else:
            break
        start += 1

    date = listing_date or header_date
    if date is None:
        raise InputError("no listing date: the capture has no 'Mon D' header, pass --date YYYY-MM-DD", path, 1)

    body = content[start:]
    if not body:
        raise InputError("no papers: only page chrome", path, lines[-1][0] if lines else 1)
    papers = []
    for index in range(0, len(body), 2):
        title_number, title = body[index]
        if index + 1 >= len(body):
            raise InputError(f"title {title[:60]!r} has no abstract after it", path, title_number)
        abstract_number, abstract = body[index + 1]
        if len(title) > _MAX_TITLE:
            raise InputError("expected a paper title here, found a paragraph (a title or an abstract is missing above)", path, title_number)
        papers.append(
            Paper(
                title=clean_line(title),
                date=date,
                abstract=clean_abstract(clean_line(abstract)),
                sources=[SourceRef(FORMAT, path.name, date)],
                position=index // 2 + 1,
            )
        )
    return papers
