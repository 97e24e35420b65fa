"""Charts drawn at build time as inline SVG: no chart library, no script in the browser.

Pure functions from counts to markup. Colours are CSS classes (`heat-0` … `heat-4`,
`chart-bar`, `chart-label`) so the one stylesheet themes them for light and dark mode, and no
`style` attribute appears (the Content-Security-Policy forbids inline styles). Every number a
chart shows is also in a `<title>`, which browsers show on hover and screen readers read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from markupsafe import Markup, escape

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HEAT_LEVELS = 4

# Calendar geometry, in SVG user units (px at 1:1).
_CELL = 11
_PITCH = 14
_LEFT = 30
_TOP = 18


def _papers(count: int) -> str:
    return f"{count} paper" if count == 1 else f"{count} papers"


def heat_level(count: int, busiest: int) -> int:
    """0 for an empty day, else 1…4 in proportion to the busiest day, so darker means more."""
    if count <= 0 or busiest <= 0:
        return 0
    return max(1, math.ceil(HEAT_LEVELS * count / busiest))


def _month_end(date: dt.date) -> dt.date:
    first_of_next = dt.date(date.year + (date.month == 12), date.month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def _calendar_year(year: int, counts: Mapping[dt.date, int], busiest: int,
                   href: Callable[[dt.date], str]) -> str:
    """One year's calendar: weeks as columns, Monday to Sunday as rows.

    It spans only the months from the year's first listed month to its last, so a corpus
    that starts in November does not draw ten empty months.
    """
    dates = [date for date in counts if date.year == year]
    first = min(dates).replace(day=1)
    last = _month_end(max(dates))
    grid_start = first - dt.timedelta(days=first.weekday())
    weeks = (last - grid_start).days // 7 + 1
    width = _LEFT + weeks * _PITCH + 4
    height = _TOP + 7 * _PITCH + 24
    total = sum(counts[date] for date in dates)
    parts = [
        f'<svg class="chart heatmap" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="group" aria-label="Papers per day in {year}: {_papers(total)}">',
    ]
    for row, name in ((0, "Mon"), (2, "Wed"), (4, "Fri")):
        parts.append(f'<text class="chart-label" x="0" y="{_TOP + row * _PITCH + _CELL - 1}">{name}</text>')
    month = first
    while month <= last:
        column = (month - grid_start).days // 7
        parts.append(f'<text class="chart-label" x="{_LEFT + column * _PITCH}" y="{_TOP - 6}">{MONTHS[month.month - 1]}</text>')
        month = _month_end(month) + dt.timedelta(days=1)
    day = first
    while day <= last:
        offset = (day - grid_start).days
        x = _LEFT + (offset // 7) * _PITCH
        y = _TOP + day.weekday() * _PITCH
        count = counts.get(day, 0)
        label = escape(f"{day.isoformat()}: {_papers(count)}")
        cell = (f'<rect class="heat-{heat_level(count, busiest)}" x="{x}" y="{y}" width="{_CELL}" '
                f'height="{_CELL}" rx="2"><title>{label}</title></rect>')
        if count:
            cell = f'<a href="{escape(href(day))}" aria-label="{label}">{cell}</a>'
        parts.append(cell)
        day += dt.timedelta(days=1)
    legend_y = _TOP + 7 * _PITCH + 8
    legend_x = width - 4 - (HEAT_LEVELS + 1) * _PITCH - 34
    parts.append(f'<text class="chart-label" x="{legend_x - 30}" y="{legend_y + _CELL - 1}">Less</text>')
    for level in range(HEAT_LEVELS + 1):
        parts.append(f'<rect class="heat-{level}" x="{legend_x + level * _PITCH}" y="{legend_y}" '
                     f'width="{_CELL}" height="{_CELL}" rx="2"/>')
    parts.append(f'<text class="chart-label" x="{legend_x + (HEAT_LEVELS + 1) * _PITCH + 2}" '
                 f'y="{legend_y + _CELL - 1}">More</text>')
    parts.append("</svg>")
    return "".join(parts)


def calendar_heatmap(counts: Mapping[dt.date, int], href: Callable[[dt.date], str]) -> list[tuple[int, Markup]]:
    """One SVG calendar per year, newest year first; each listed day links to its page."""
    listed = {date: count for date, count in counts.items() if count > 0}
    if not listed:
        return []
    busiest = max(listed.values())
    years = sorted({date.year for date in listed}, reverse=True)
    return [(year, Markup(_calendar_year(year, listed, busiest, href))) for year in years]


# ---------------------------------------------------------------- papers per topic over time


@dataclass(frozen=True)
class TopicSeries:
    """One row of the topic chart: a topic's name, its page, and its papers' listing dates."""

    name: str
    href: str
    dates: Counter[dt.date]


def bucket_unit(first: dt.date, last: dt.date) -> str:
    """Days for a short corpus, weeks for up to two years, months beyond: ~20–120 bars a row."""
    span = (last - first).days
    if span <= 62:
        return "day"
    if span <= 730:
        return "week"
    return "month"


def bucket_start(date: dt.date, unit: str) -> dt.date:
    if unit == "week":
        return date - dt.timedelta(days=date.weekday())
    if unit == "month":
        return date.replace(day=1)
    return date


def _next_bucket(start: dt.date, unit: str) -> dt.date:
    if unit == "week":
        return start + dt.timedelta(days=7)
    if unit == "month":
        return _month_end(start) + dt.timedelta(days=1)
    return start + dt.timedelta(days=1)


def _bucket_label(start: dt.date, unit: str) -> str:
    if unit == "month":
        return f"{MONTHS[start.month - 1]} {start.year}"
    if unit == "week":
        return f"week of {start.isoformat()}"
    return start.isoformat()


def _short(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


_LABEL_WIDTH = 176
_BARS_WIDTH = 480
_TOTAL_WIDTH = 56
_ROW = 24
_BAR_MAX = 18


def topic_timeline(series: Sequence[TopicSeries]) -> Markup:
    """Small multiples: one row per topic, one bar per day, week or month, on a shared scale.

    A shared scale keeps topics comparable (a small topic looks small); each row's total is
    printed at its end so the small ones can still be read.
    """
    rows = [row for row in series if sum(row.dates.values())]
    if not rows:
        return Markup("")
    all_dates = [date for row in rows for date in row.dates]
    first, last = min(all_dates), max(all_dates)
    unit = bucket_unit(first, last)
    buckets: list[dt.date] = []
    start = bucket_start(first, unit)
    while start <= last:
        buckets.append(start)
        start = _next_bucket(start, unit)
    index = {bucket: number for number, bucket in enumerate(buckets)}
    per_row = []
    for row in rows:
        counts = [0] * len(buckets)
        for date, count in row.dates.items():
            counts[index[bucket_start(date, unit)]] += count
        per_row.append(counts)
    busiest = max(max(counts) for counts in per_row)
    pitch = _BARS_WIDTH / len(buckets)
    bar_width = max(1.0, pitch * 0.8) if pitch >= 2 else pitch
    width = _LABEL_WIDTH + _BARS_WIDTH + _TOTAL_WIDTH
    height = _ROW * len(rows) + 24
    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="group" aria-label="Papers per topic, per {unit}, from {first.isoformat()} to {last.isoformat()}">',
    ]
    for number, (row, counts) in enumerate(zip(rows, per_row)):
        top = number * _ROW
        baseline = top + _BAR_MAX + 2
        name = escape(row.name)
        parts.append(f'<a href="{escape(row.href)}"><text class="chart-label chart-topic" x="0" y="{baseline - 4}">'
                     f'{escape(_short(row.name))}<title>{name}</title></text></a>')
        parts.append(f'<line class="chart-axis" x1="{_LABEL_WIDTH}" y1="{baseline}" '
                     f'x2="{_LABEL_WIDTH + _BARS_WIDTH}" y2="{baseline}"/>')
        for position, count in enumerate(counts):
            if not count:
                continue
            bar_height = max(1.0, _BAR_MAX * count / busiest)
            x = _LABEL_WIDTH + position * pitch
            label = escape(f"{row.name}, {_bucket_label(buckets[position], unit)}: {_papers(count)}")
            parts.append(f'<rect class="chart-bar" x="{x:.2f}" y="{baseline - bar_height:.2f}" '
                         f'width="{bar_width:.2f}" height="{bar_height:.2f}"><title>{label}</title></rect>')
        parts.append(f'<text class="chart-label chart-total" x="{width - 4}" y="{baseline - 4}" '
                     f'text-anchor="end">{sum(counts)}</text>')
    axis_y = _ROW * len(rows) + 16
    parts.append(f'<text class="chart-label" x="{_LABEL_WIDTH}" y="{axis_y}">{escape(_bucket_label(buckets[0], unit))}</text>')
    if len(buckets) > 1:
        parts.append(f'<text class="chart-label" x="{_LABEL_WIDTH + _BARS_WIDTH}" y="{axis_y}" text-anchor="end">'
                     f'{escape(_bucket_label(buckets[-1], unit))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
