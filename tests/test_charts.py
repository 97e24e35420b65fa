"""Build-time SVG charts: the right cells and bars, links to days and topics, text escaped."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from bs4 import BeautifulSoup

from paperroute.charts import TopicSeries, bucket_unit, calendar_heatmap, heat_level, topic_timeline

D = dt.date


def svg(markup: str) -> BeautifulSoup:
    return BeautifulSoup(str(markup), "html.parser")


def test_heat_level_is_zero_for_empty_days_and_four_for_the_busiest() -> None:
    assert heat_level(0, 50) == 0
    assert heat_level(50, 50) == 4
    assert heat_level(1, 50) == 1
    levels = [heat_level(count, 50) for count in range(0, 51)]
    assert levels == sorted(levels) and set(levels) == {0, 1, 2, 3, 4}


def test_calendar_has_a_cell_per_day_of_the_listed_months_and_links_listed_days() -> None:
    counts = {D(2026, 3, 10): 5, D(2026, 3, 11): 20, D(2026, 4, 2): 10, D(2025, 12, 31): 1}
    charts = calendar_heatmap(counts, lambda date: f"../days/{date.isoformat()}/")
    assert [year for year, _ in charts] == [2026, 2025]
    this_year = svg(charts[0][1])
    cells = this_year.find_all("rect", class_=lambda c: c and c.startswith("heat-"))
    legend = 5
    assert len(cells) - legend == 31 + 30  # March and April
    links = {a["href"]: a.rect["class"][0] for a in this_year.find_all("a")}
    assert links == {"../days/2026-03-10/": "heat-1", "../days/2026-03-11/": "heat-4", "../days/2026-04-02/": "heat-2"}
    titles = [t.get_text() for t in this_year.find_all("title")]
    assert "2026-03-11: 20 papers" in titles and "2026-03-12: 0 papers" in titles
    assert "Mar" in this_year.get_text() and "Apr" in this_year.get_text()
    assert not this_year.find(style=True)
    last_year = svg(charts[1][1])
    assert [a["href"] for a in last_year.find_all("a")] == ["../days/2025-12-31/"]
    assert last_year.find("a").rect["class"] == ["heat-1"]  # scaled against the busiest day of all years


def test_calendar_of_nothing_is_empty() -> None:
    assert calendar_heatmap({}, lambda date: "") == []


def test_calendar_weeks_start_on_monday() -> None:
    chart = svg(calendar_heatmap({D(2026, 3, 2): 1}, lambda date: "x")[0][1])  # 2 March 2026 is a Monday
    rows = {rect.title.get_text()[:10]: float(rect["y"]) for rect in chart.find_all("rect") if rect.title}
    assert rows["2026-03-02"] == min(rows.values())
    assert rows["2026-03-01"] == max(rows.values())  # a Sunday


def test_bucket_unit_follows_the_span() -> None:
    assert bucket_unit(D(2026, 1, 1), D(2026, 2, 1)) == "day"
    assert bucket_unit(D(2026, 1, 1), D(2026, 9, 1)) == "week"
    assert bucket_unit(D(2020, 1, 1), D(2026, 1, 1)) == "month"


def test_topic_timeline_draws_one_row_per_topic_with_papers() -> None:
    series = [
        TopicSeries("Long <script>alert(1)</script> context", "../topics/long-context/",
                    Counter({D(2026, 3, 10): 4, D(2026, 3, 12): 2})),
        TopicSeries("Empty topic", "../topics/empty/", Counter()),
        TopicSeries("Reasoning", "../topics/reasoning/", Counter({D(2026, 3, 11): 8})),
    ]
    chart = svg(topic_timeline(series))
    assert [a["href"] for a in chart.find_all("a")] == ["../topics/long-context/", "../topics/reasoning/"]
    assert not chart.find("script")
    assert "<script>" in chart.find("a").get_text()
    bars = chart.find_all("rect", class_="chart-bar")
    assert [bar.title.get_text() for bar in bars] == [
        "Long <script>alert(1)</script> context, 2026-03-10: 4 papers",
        "Long <script>alert(1)</script> context, 2026-03-12: 2 papers",
        "Reasoning, 2026-03-11: 8 papers",
    ]
    heights = [float(bar["height"]) for bar in bars]
    assert heights[2] == max(heights) and heights[0] == 2 * heights[1]
    assert [t.get_text() for t in chart.find_all("text", class_="chart-total")] == ["6", "8"]
    assert str(topic_timeline([TopicSeries("Empty", "x", Counter())])) == ""


def test_topic_timeline_groups_a_long_corpus_by_month() -> None:
    dates = Counter({D(2024, 1, 5): 3, D(2024, 1, 20): 2, D(2026, 6, 1): 1})
    chart = svg(topic_timeline([TopicSeries("T", "t/", dates)]))
    titles = [bar.title.get_text() for bar in chart.find_all("rect", class_="chart-bar")]
    assert titles == ["T, Jan 2024: 5 papers", "T, Jun 2026: 1 paper"]
