"""The same papers as a Hugo site, so the build benchmark can time Hugo doing our site's work.

A comparison is only fair if both tools make the same pages from the same papers. This module
reads a paperroute content store and writes a Hugo (0.111) project that mirrors our page set
(templates/): one page per paper with authors, date, topics, abstract and five related
papers; one page per listing day, its papers grouped by primary topic; topic pages, 50
papers a page; the home page showing the latest day; an archive of every day with a
papers-per-day chart; RSS, Atom and JSON Feed of the latest 100 papers; an RSS feed per
topic; sitemap, robots.txt and 404. Every page has the same layout: header, search form,
topic navigation, footer.

Where Hugo has its own way, the site uses it, as a Hugo user would: days and topics are
taxonomies (their term pages are our day and topic pages, at the same URLs), related papers
come from `.Site.RegularPages.Related` over the `keywords` and `topics` indices, pagination is
`.Paginate` (numbered from the newest page, Hugo's only scheme), links are root-relative
(`relURL`, `.RelPermalink`) rather than our fully relative ones, and markdown is Goldmark's.
What Hugo cannot derive, this module writes into front matter before the clock starts: a
paper's keywords (the distinctive words of its title), its primary topic, its place in its
day (`weight`), and each day's neighbours. Search is left out on both sides of the
comparison: Hugo has no search index of its own (sites add Pagefind afterwards), and
bench/bench_search.py measures ours.

    python bench/hugo_site.py CONTENT_DIR HUGO_DIR     # write the Hugo project
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paperroute.config import SiteConfig
from paperroute.corpus import Corpus, build_corpus
from paperroute.model import Paper
from paperroute.pages import nav_topics
from paperroute.render import TEMPLATES_DIR
from paperroute.store import ContentStore
from paperroute.topics import load_topics

KEYWORDS_PER_PAPER = 8
# The Hugo environment that builds the same site without related papers: Hugo's related
# search grows with the corpus for every page, so this is its floor on the same pages.
WITHOUT_RELATED = "without-related"
_TITLE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
# Title words that say nothing about what a paper is about.
_TITLE_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how in into is it its of on or the to towards "
    "toward via what when where which why with without all you need we our using based rethinking "
    "scaling survey systematic review".split()
)


def title_keywords(title: str) -> list[str]:
    """A paper's Hugo `keywords`: its title's words, minus filler, first seen first.

    Hugo's related-content index only matches front-matter values, so the keywords a person
    would tag a paper with are approximated by the title, the author's own summary.
    """
    keywords: list[str] = []
    for word in _TITLE_WORD.findall(title):
        word = word.lower()
        if len(word) > 2 and word not in _TITLE_STOPWORDS and word not in keywords:
            keywords.append(word)
    return keywords[:KEYWORDS_PER_PAPER]


def _json(value: object) -> str:
    """A YAML scalar or flow sequence: JSON is valid YAML, and json.dumps escapes everything."""
    return json.dumps(value, ensure_ascii=False)


def paper_content(paper: Paper, weight: int) -> str:
    """A paper's Hugo content file: YAML front matter, then the abstract as Markdown."""
    date = paper.date.isoformat()
    lines = [
        "---",
        f"title: {_json(paper.title)}",
        f"date: {date}",
        f"weight: {weight}",
        f"authors: {_json(paper.authors)}",
        f"topics: {_json(paper.topics or [paper.primary_topic])}",
        f"primary_topic: {_json(paper.primary_topic)}",
        f"days: {_json([date])}",
        f"keywords: {_json(title_keywords(paper.title))}",
    ]
    if paper.upvotes is not None:
        lines.append(f"upvotes: {paper.upvotes}")
    if paper.arxiv_id:
        lines.append(f"arxiv_id: {_json(paper.arxiv_id)}")
    links = {key: url for key, url in sorted(paper.links.items()) if url.startswith(("https://", "http://"))}
    if links:
        lines.append(f"links: {_json(links)}")
    lines.append("---")
    return "\n".join(lines) + f"\n\n{paper.abstract}\n"


def day_content(date: str, newer: str | None, older: str | None, count: int) -> str:
    """A day's term page: its neighbours for the day pager, and HTML only (no RSS per day)."""
    return "\n".join([
        "---",
        f"title: {_json(f'Papers of {date}')}",
        f"date: {date}",
        f"description: {_json(f'{count} papers listed on {date}, grouped by topic.')}",
        f"newer: {_json(newer)}",
        f"older: {_json(older)}",
        'outputs: ["HTML"]',
        "---",
        "",
    ])


def topic_content(name: str, description: str) -> str:
    return "\n".join(["---", f"title: {_json(name)}", f"description: {_json(description)}", "---", ""])


def special_page(title: str, url: str, layout: str, description: str) -> str:
    """Archive and search: pages of their own layout, kept out of every page list (and Related)."""
    return "\n".join([
        "---",
        f"title: {_json(title)}",
        f"url: {_json(url)}",
        f"layout: {_json(layout)}",
        f"description: {_json(description)}",
        "_build:",
        "  list: never",
        "---",
        "",
    ])


def site_config(site: SiteConfig) -> str:
    return f"""\
baseURL = {_json(site.base_url)}
title = {_json(site.title)}
languageCode = {_json(site.language)}
buildFuture = true
enableRobotsTXT = true
# Disabling the taxonomy kind is what we mean (no /days/ or /topics/ list); Hugo warns about it as an error.
ignoreErrors = ["error-disable-taxonomy"]
# Our site has no /days/ or /topics/ index and no /papers/ list; only the term pages.
disableKinds = ["taxonomy", "section"]
paginate = {site.topic_page_size}
rssLimit = {site.feed_size}

[params]
description = {_json(site.description)}
# `hugo --environment without-related` turns this off (config/without-related/params.toml).
related = true

[taxonomies]
topic = "topics"
day = "days"

[outputs]
home = ["HTML", "RSS", "Atom", "JSONFeed"]
term = ["HTML", "RSS"]
page = ["HTML"]

[mediaTypes."application/atom+xml"]
suffixes = ["xml"]
[mediaTypes."application/feed+json"]
suffixes = ["json"]

[outputFormats.RSS]
baseName = "feed"
[outputFormats.Atom]
mediaType = "application/atom+xml"
baseName = "atom"
[outputFormats.JSONFeed]
mediaType = "application/feed+json"
baseName = "feed"
isPlainText = true

# Hugo's documented example: keywords first, then the taxonomy; its default threshold.
[related]
threshold = 80
includeNewer = true
toLower = true
[[related.indices]]
name = "keywords"
weight = 100
[[related.indices]]
name = "topics"
weight = 80
"""


# ---------------------------------------------------------------- layouts (mirroring templates/)

_BASEOF = """\
<!doctype html>
<html lang="{{ site.LanguageCode }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'">
<meta name="color-scheme" content="light dark">
{{- $title := cond .IsHome site.Title (printf "%s · %s" .Title site.Title) }}
{{- $description := site.Params.description }}
{{- if .IsPage }}{{ $description = .Summary | plainify | truncate 200 }}{{ else if .Description }}{{ $description = .Description }}{{ end }}
<title>{{ $title }}</title>
<meta name="description" content="{{ $description }}">
<link rel="canonical" href="{{ .Permalink }}">
<meta property="og:site_name" content="{{ site.Title }}">
<meta property="og:title" content="{{ .Title | default site.Title }}">
<meta property="og:description" content="{{ $description }}">
<meta property="og:type" content="{{ cond .IsPage "article" "website" }}">
<meta property="og:url" content="{{ .Permalink }}">
<meta property="og:locale" content="{{ site.LanguageCode }}">
<meta name="twitter:card" content="summary">
<link rel="icon" href="{{ "assets/favicon.svg" | relURL }}" type="image/svg+xml">
<link rel="stylesheet" href="{{ "assets/style.css" | relURL }}">
<link rel="alternate" type="application/rss+xml" title="{{ site.Title }} (RSS)" href="{{ "feed.xml" | relURL }}">
<link rel="alternate" type="application/atom+xml" title="{{ site.Title }} (Atom)" href="{{ "atom.xml" | relURL }}">
<link rel="alternate" type="application/feed+json" title="{{ site.Title }} (JSON Feed)" href="{{ "feed.json" | relURL }}">
{{- if eq .Kind "term" }}{{ with .OutputFormats.Get "RSS" }}
<link rel="alternate" type="application/rss+xml" title="{{ site.Title }}: {{ $.Title }} (RSS)" href="{{ .RelPermalink }}">
{{- end }}{{ end }}
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header">
  <div class="header-bar">
    <a class="site-title" href="{{ "" | relURL }}"><img src="{{ "assets/favicon.svg" | relURL }}" alt="" width="28" height="28"><span>{{ site.Title }}</span></a>
    <nav class="site-nav" aria-label="Site">
      <a href="{{ "" | relURL }}"{{ if .IsHome }} aria-current="page"{{ end }}>Latest</a>
      <a href="{{ "archive/" | relURL }}"{{ if eq .Layout "archive" }} aria-current="page"{{ end }}>Archive</a>
    </nav>
    {{- if ne .Layout "search" }}
    <form class="search-form" role="search" action="{{ "search/" | relURL }}" method="get">
      <label class="visually-hidden" for="site-search">Search papers</label>
      <input id="site-search" type="search" name="q" placeholder="Search papers" autocomplete="off">
      <button type="submit">Search</button>
    </form>
    {{- end }}
  </div>
  {{- $current := "" }}
  {{- if eq .Kind "term" }}{{ if eq .Data.Plural "topics" }}{{ $current = .Data.Term }}{{ end }}{{ end }}
  {{ partialCached "topic_nav.html" $current $current }}
</header>
<main id="main" tabindex="-1">
{{ block "main" . }}{{ end }}
</main>
{{ partialCached "footer.html" . }}
</body>
</html>
"""

# The same on every page but for the current topic: rendered once per topic (partialCached),
# as a Hugo site tuned for size would.
_TOPIC_NAV = """\
<nav class="topic-nav" aria-label="Topics">
    <ul>
      {{- range site.Data.topics }}
      <li><a href="{{ printf "topics/%s/" .slug | relURL }}"{{ if eq .slug $ }} aria-current="page"{{ end }}>{{ .name }}</a></li>
      {{- end }}
    </ul>
  </nav>
"""

_FOOTER = """\
<footer class="site-footer">
  <nav aria-label="Footer">
    <a href="{{ "" | relURL }}">Latest</a>
    <a href="{{ "archive/" | relURL }}">Archive</a>
    <a href="{{ "search/" | relURL }}">Search</a>
    <a href="{{ "feed.xml" | relURL }}" type="application/rss+xml">RSS</a>
    <a href="{{ "atom.xml" | relURL }}" type="application/atom+xml">Atom</a>
    <a href="{{ "feed.json" | relURL }}" type="application/feed+json">JSON Feed</a>
  </nav>
  <p>{{ site.Params.description }}</p>
</footer>
"""

# dict "page" "heading" (2|3) "show_date" bool "hide_topic" slug
_PAPER_CARD = """\
{{- $p := .page }}
<article class="paper-card">
  {{- if eq .heading 2 }}
  <h2 class="paper-title"><a href="{{ $p.RelPermalink }}">{{ $p.Title }}</a></h2>
  {{- else }}
  <h3 class="paper-title"><a href="{{ $p.RelPermalink }}">{{ $p.Title }}</a></h3>
  {{- end }}
  <p class="paper-meta">
    {{- if isset $p.Params "upvotes" }}<span class="upvotes" title="Upvotes on the source">▲ {{ $p.Params.upvotes }}<span class="visually-hidden"> upvotes</span></span>{{ end }}
    {{- if .show_date }}<a class="paper-date" href="{{ printf "days/%s/" ($p.Date.Format "2006-01-02") | relURL }}"><time datetime="{{ $p.Date.Format "2006-01-02" }}">{{ $p.Date.Format "2 Jan 2006" }}</time></a>{{ end }}
    {{- with $p.Params.authors }}<span class="authors">{{ if gt (len .) 4 }}{{ delimit (first 4 .) ", " }} and {{ sub (len .) 4 }} more{{ else }}{{ delimit . ", " }}{{ end }}</span>{{ end }}
  </p>
  {{- $others := slice }}
  {{- range $p.Params.topics }}{{ if ne . $.hide_topic }}{{ $others = $others | append . }}{{ end }}{{ end }}
  {{- with $others }}
  <ul class="chips" aria-label="Topics">
    {{- range . }}
    <li><a class="chip" href="{{ printf "topics/%s/" . | relURL }}">{{ index site.Data.topic_names . | default . }}</a></li>
    {{- end }}
  </ul>
  {{- end }}
  {{- with $p.Content }}
  <details class="abstract">
    <summary>Abstract</summary>
    <div class="prose">{{ . }}</div>
  </details>
  {{- end }}
</article>
"""

# The day's papers under their primary topics, in taxonomy order, with a table of contents.
_DAY_PAPERS = """\
{{- $pages := . }}
{{- $groups := slice }}
{{- range site.Data.topics }}
  {{- $topic := . }}
  {{- with where $pages "Params.primary_topic" .slug }}{{ $groups = $groups | append (dict "slug" $topic.slug "name" $topic.name "pages" .) }}{{ end }}
{{- end }}
{{- if gt (len $groups) 1 }}
<nav class="day-toc" aria-label="Topics on this day">
  <ul class="chips">
    {{- range $groups }}
    <li><a class="chip" href="#topic-{{ .slug }}">{{ .name }} <span class="count">{{ len .pages }}</span></a></li>
    {{- end }}
  </ul>
</nav>
{{- end }}
{{- range $groups }}
{{- $slug := .slug }}
<section class="topic-group" id="topic-{{ .slug }}" aria-labelledby="topic-{{ .slug }}-title">
  <h2 class="group-title" id="topic-{{ .slug }}-title"><a href="{{ printf "topics/%s/" .slug | relURL }}">{{ .name }}</a> <span class="count">{{ len .pages }} papers</span></h2>
  {{- range .pages }}
  {{ partial "paper_card.html" (dict "page" . "heading" 3 "show_date" false "hide_topic" $slug) }}
  {{- end }}
</section>
{{- end }}
"""

# dict "older" date-or-nil "newer" date-or-nil
_DAY_NAV = """\
<nav class="pager" aria-label="Days">
  {{ with .older }}<a class="pager-older" rel="prev" href="{{ printf "days/%s/" . | relURL }}"><span aria-hidden="true">←</span> {{ (time .).Format "2 Jan 2006" }}</a>{{ else }}<span></span>{{ end }}
  <a class="pager-middle" href="{{ "archive/" | relURL }}">All days</a>
  {{ with .newer }}<a class="pager-newer" rel="next" href="{{ printf "days/%s/" . | relURL }}">{{ (time .).Format "2 Jan 2006" }} <span aria-hidden="true">→</span></a>{{ else }}<span></span>{{ end }}
</nav>
"""

_SINGLE = """\
{{ define "main" }}
<article class="paper">
  <header class="page-header">
    <p class="eyebrow"><a href="{{ printf "days/%s/" (.Date.Format "2006-01-02") | relURL }}"><time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "Monday 2 January 2006" }}</time></a></p>
    <h1>{{ .Title }}</h1>
    {{- with .Params.authors }}
    <p class="authors-full"><span class="visually-hidden">Authors: </span>{{ delimit . ", " }}</p>
    {{- end }}
    <ul class="chips" aria-label="Topics">
      {{- range .Params.topics }}
      <li><a class="chip" href="{{ printf "topics/%s/" . | relURL }}">{{ index site.Data.topic_names . | default . }}</a></li>
      {{- end }}
      {{- if isset .Params "upvotes" }}<li><span class="upvotes" title="Upvotes on the source">▲ {{ .Params.upvotes }}<span class="visually-hidden"> upvotes</span></span></li>{{ end }}
    </ul>
  </header>
  <ul class="paper-links" aria-label="Links">
    {{- with .Params.arxiv_id }}
    <li><a class="button" href="https://arxiv.org/abs/{{ . }}" rel="noopener noreferrer">arXiv</a></li>
    <li><a class="button" href="https://arxiv.org/pdf/{{ . }}" rel="noopener noreferrer">PDF</a></li>
    <li><a class="button" href="https://huggingface.co/papers/{{ . }}" rel="noopener noreferrer">Hugging Face</a></li>
    {{- end }}
    {{- range $name, $url := .Params.links }}{{ if not (in (slice "arxiv" "pdf") $name) }}
    <li><a class="button" href="{{ $url }}" rel="noopener noreferrer">{{ $name | humanize }}</a></li>
    {{- end }}{{ end }}
  </ul>
  <section class="abstract-full" aria-labelledby="abstract-title">
    <h2 id="abstract-title">Abstract</h2>
    {{- with .Content }}
    <div class="prose">{{ . }}</div>
    {{- else }}
    <p class="empty">No abstract is known for this paper.</p>
    {{- end }}
  </section>
  {{- if site.Params.related }}
  {{- with .Site.RegularPages.Related . | first 5 }}
  <section class="related" aria-labelledby="related-title">
    <h2 id="related-title">Related papers</h2>
    <ol class="related-list">
      {{- range . }}
      <li>
        <a href="{{ .RelPermalink }}">{{ .Title }}</a>
        <span class="related-meta"><time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "2 Jan 2006" }}</time> · {{ index site.Data.topic_names .Params.primary_topic | default .Params.primary_topic }}</span>
      </li>
      {{- end }}
    </ol>
  </section>
  {{- end }}
  {{- end }}
</article>
{{ end }}
"""

_DAY_TERM = """\
{{ define "main" }}
{{- $groups := 0 }}
<header class="page-header">
  <p class="eyebrow">Papers of the day</p>
  <h1><time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "Monday 2 January 2006" }}</time></h1>
  <p class="lede">{{ len .Pages }} papers.</p>
</header>
{{ partial "day_nav.html" (dict "older" .Params.older "newer" .Params.newer) }}
{{ partial "day_papers.html" .Pages }}
{{ partial "day_nav.html" (dict "older" .Params.older "newer" .Params.newer) }}
{{ end }}
"""

_TOPIC_TERM = """\
{{ define "main" }}
{{- $pager := .Paginate .Pages.ByDate.Reverse }}
{{- $slug := .Data.Term }}
<header class="page-header">
  <p class="eyebrow">Topic</p>
  <h1>{{ .Title }}</h1>
  {{- with .Description }}<p class="lede">{{ . }}</p>{{ end }}
  <p class="page-facts">
    {{ if $pager.HasPrev }}{{ len $pager.Pages }} papers{{ else }}{{ len .Pages }} papers{{ end }}
    · <a href="{{ printf "topics/%s/feed.xml" $slug | relURL }}" type="application/rss+xml">RSS feed of this topic</a>
  </p>
</header>
<div class="paper-list">
  {{- range $pager.Pages }}
  {{ partial "paper_card.html" (dict "page" . "heading" 2 "show_date" true "hide_topic" $slug) }}
  {{- end }}
</div>
<nav class="pager" aria-label="Pages of this topic">
  {{ if $pager.HasPrev }}<a class="pager-newer" rel="prev" href="{{ $pager.Prev.URL }}"><span aria-hidden="true">←</span> Newer papers</a>{{ else }}<span></span>{{ end }}
  {{ if $pager.HasNext }}<a class="pager-older" rel="next" href="{{ $pager.Next.URL }}">Older papers <span aria-hidden="true">→</span></a>{{ else }}<span></span>{{ end }}
</nav>
{{- if and (not $pager.HasPrev) $pager.HasNext }}
<details class="older-pages">
  <summary>All older pages ({{ sub $pager.TotalPages 1 }})</summary>
  <ol>
    {{- range after 1 $pager.Pagers }}
    {{- $newest := index .Pages 0 }}{{ $oldest := index .Pages (sub (len .Pages) 1) }}
    <li><a href="{{ .URL }}">{{ $oldest.Date.Format "2 Jan 2006" }} – {{ $newest.Date.Format "2 Jan 2006" }}</a> <span class="count">{{ len .Pages }} papers</span></li>
    {{- end }}
  </ol>
</details>
{{- end }}
{{ end }}
"""

_HOME = """\
{{ define "main" }}
{{- with index site.Taxonomies.days.Alphabetical.Reverse 0 }}
{{- $day := .Page }}
<header class="page-header">
  <p class="eyebrow">Latest papers</p>
  <h1><time datetime="{{ $day.Date.Format "2006-01-02" }}">{{ $day.Date.Format "Monday 2 January 2006" }}</time></h1>
  <p class="lede">{{ .Count }} papers. <a href="{{ $day.RelPermalink }}">Permanent link to this day</a>.</p>
</header>
{{ partial "day_papers.html" .Pages }}
{{ partial "day_nav.html" (dict "older" $day.Params.older "newer" nil) }}
{{- end }}
{{ end }}
"""

# Our archive has a calendar heat map; this one draws a cell per day, which is the same work.
_ARCHIVE = """\
{{ define "main" }}
{{- $days := site.Taxonomies.days.Alphabetical.Reverse }}
<header class="page-header">
  <p class="eyebrow">Archive</p>
  <h1>Every day</h1>
  <p class="lede">{{ len site.RegularPages }} papers over {{ len $days }} days.</p>
</header>
<section class="chart-section" aria-labelledby="calendar-title">
  <h2 id="calendar-title">Papers per day</h2>
  <figure class="chart-figure"><div class="chart-scroll">
  <svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {{ mul (add (div (len $days) 7) 1) 12 }} 84">
    {{- range $index, $day := $days }}
    <a href="{{ printf "days/%s/" .Name | relURL }}"><rect x="{{ mul (div $index 7) 12 }}" y="{{ mul (mod $index 7) 12 }}" width="10" height="10" fill-opacity="{{ div (float .Count) 200.0 }}"><title>{{ .Name }}: {{ .Count }} papers</title></rect></a>
    {{- end }}
  </svg>
  </div></figure>
</section>
<section aria-labelledby="days-title">
  <h2 id="days-title">All days</h2>
  {{- $month := "" }}
  {{- range $days }}
  {{- $this := substr .Name 0 7 }}
  {{- if ne $this $month }}
  {{- if $month }}
  </ul>
  {{- end }}
  {{- $month = $this }}
  <h3 class="month-title">{{ (time .Name).Format "January 2006" }}</h3>
  <ul class="day-list">
  {{- end }}
    <li><a href="{{ printf "days/%s/" .Name | relURL }}"><time datetime="{{ .Name }}">{{ (time .Name).Format "Monday 2 January 2006" }}</time></a> <span class="count">{{ .Count }} papers</span></li>
  {{- end }}
  {{- if $month }}
  </ul>
  {{- end }}
</section>
{{ end }}
"""

_SEARCH = """\
{{ define "main" }}
<header class="page-header">
  <p class="eyebrow">Search</p>
  <h1>Search every paper</h1>
</header>
<form class="search-form search-page-form" role="search" action="{{ "search/" | relURL }}" method="get">
  <label for="search-query">Title, author or words from the abstract</label>
  <div class="search-row">
    <input id="search-query" type="search" name="q" autocomplete="off" autofocus>
    <button type="submit">Search</button>
  </div>
</form>
<p id="search-status" class="search-status" role="status"></p>
<ol id="results" class="search-results"></ol>
{{ end }}
"""

_NOT_FOUND = """\
{{ define "main" }}
<header class="page-header">
  <p class="eyebrow">Error 404</p>
  <h1>There is no page here</h1>
  <p class="lede">The address may be mistyped, or the page may have moved.</p>
</header>
<ul class="not-found-links">
  <li><a href="{{ "" | absURL }}">The latest papers</a></li>
  <li><a href="{{ "archive/" | absURL }}">Every day, in the archive</a></li>
  <li><a href="{{ "search/" | absURL }}">Search every paper</a></li>
</ul>
{{ end }}
"""

# The latest papers (home) or a topic's latest (term), full abstract as content, like ours.
_RSS = """\
{{- $pages := cond .IsHome site.RegularPages .Pages }}
{{- $pages = first site.Config.Services.RSS.Limit $pages.ByDate.Reverse }}
{{- printf "<?xml version=\\"1.0\\" encoding=\\"utf-8\\"?>" | safeHTML }}
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
<title>{{ if .IsHome }}{{ site.Title }}{{ else }}{{ site.Title }}: {{ .Title }}{{ end }}</title>
<link>{{ .Permalink }}</link>
<description>{{ .Description | default site.Params.description }}</description>
<language>{{ site.LanguageCode }}</language>
<generator>Hugo</generator>
{{- with .OutputFormats.Get "RSS" }}
<atom:link href="{{ .Permalink }}" rel="self" type="application/rss+xml"/>
{{- end }}
{{- with index $pages 0 }}<lastBuildDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" }}</lastBuildDate>{{ end }}
{{- range $pages }}
<item>
<title>{{ .Title }}</title>
<link>{{ .Permalink }}</link>
<guid isPermaLink="true">{{ .Permalink }}</guid>
<pubDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" }}</pubDate>
{{- with .Params.authors }}<dc:creator>{{ delimit . ", " }}</dc:creator>{{ end }}
{{- range .Params.topics }}<category>{{ index site.Data.topic_names . | default . }}</category>{{ end }}
<description>{{ .Content | html }}</description>
</item>
{{- end }}
</channel>
</rss>
"""

_ATOM = """\
{{- $pages := first site.Config.Services.RSS.Limit site.RegularPages.ByDate.Reverse }}
{{- printf "<?xml version=\\"1.0\\" encoding=\\"utf-8\\"?>" | safeHTML }}
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{{ site.LanguageCode }}">
<id>{{ "atom.xml" | absURL }}</id>
<title>{{ site.Title }}</title>
<subtitle>{{ site.Params.description }}</subtitle>
<author><name>{{ site.Title }}</name></author>
<link href="{{ "atom.xml" | absURL }}" rel="self" type="application/atom+xml"/>
<link href="{{ .Permalink }}" rel="alternate" type="text/html"/>
<generator>Hugo</generator>
{{- with index $pages 0 }}<updated>{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}</updated>{{ end }}
{{- range $pages }}
<entry>
<id>{{ .Permalink }}</id>
<title>{{ .Title }}</title>
<link href="{{ .Permalink }}" rel="alternate" type="text/html"/>
<published>{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}</published>
<updated>{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}</updated>
{{- range .Params.authors }}<author><name>{{ . }}</name></author>{{ end }}
{{- range .Params.topics }}<category term="{{ . }}" label="{{ index site.Data.topic_names . | default . }}"/>{{ end }}
<content type="html">{{ .Content | html }}</content>
</entry>
{{- end }}
</feed>
"""

_JSON_FEED = """\
{{- $items := slice }}
{{- range first site.Config.Services.RSS.Limit site.RegularPages.ByDate.Reverse }}
{{- $authors := slice }}{{ range .Params.authors }}{{ $authors = $authors | append (dict "name" .) }}{{ end }}
{{- $tags := slice }}{{ range .Params.topics }}{{ $tags = $tags | append (index site.Data.topic_names . | default .) }}{{ end }}
{{- $items = $items | append (dict "id" .Permalink "url" .Permalink "title" .Title "content_html" .Content "date_published" (.Date.Format "2006-01-02T15:04:05Z07:00") "authors" $authors "tags" $tags) }}
{{- end }}
{{- dict "version" "https://jsonfeed.org/version/1.1" "title" site.Title "home_page_url" .Permalink "feed_url" ("feed.json" | absURL) "description" site.Params.description "language" site.LanguageCode "authors" (slice (dict "name" site.Title)) "items" $items | jsonify }}
"""

LAYOUTS = {
    "_default/baseof.html": _BASEOF,
    "_default/single.html": _SINGLE,
    "_default/archive.html": _ARCHIVE,
    "_default/search.html": _SEARCH,
    "_default/rss.xml": _RSS,
    "days/term.html": _DAY_TERM,
    "topics/term.html": _TOPIC_TERM,
    "index.html": _HOME,
    "index.atom.xml": _ATOM,
    "index.jsonfeed.json": _JSON_FEED,
    "404.html": _NOT_FOUND,
    "partials/paper_card.html": _PAPER_CARD,
    "partials/day_papers.html": _DAY_PAPERS,
    "partials/day_nav.html": _DAY_NAV,
    "partials/topic_nav.html": _TOPIC_NAV,
    "partials/footer.html": _FOOTER,
}


# ---------------------------------------------------------------- the project


def _day_neighbours(dates_newest_first: Sequence[str]) -> Iterable[tuple[str, str | None, str | None]]:
    for index, date in enumerate(dates_newest_first):
        newer = dates_newest_first[index - 1] if index > 0 else None
        older = dates_newest_first[index + 1] if index + 1 < len(dates_newest_first) else None
        yield date, newer, older


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_corpus_site(corpus: Corpus, hugo_dir: Path, site: SiteConfig, assets_dir: Path) -> int:
    """Write the Hugo project for `corpus` into `hugo_dir` (emptied first); returns pages of content."""
    hugo_dir = Path(hugo_dir)
    if hugo_dir.exists():
        shutil.rmtree(hugo_dir)
    _write(hugo_dir / "config" / "_default" / "config.toml", site_config(site))
    _write(hugo_dir / "config" / WITHOUT_RELATED / "params.toml", "related = false\n")
    for name, text in LAYOUTS.items():
        _write(hugo_dir / "layouts" / name, text)
    shown_topics = nav_topics(corpus)
    _write(hugo_dir / "data" / "topics.json",
           json.dumps([{"slug": t.slug, "name": t.name} for t in shown_topics], ensure_ascii=False))
    _write(hugo_dir / "data" / "topic_names.json",
           json.dumps({t.slug: t.name for t in corpus.topics}, ensure_ascii=False))
    if assets_dir.is_dir():
        shutil.copytree(assets_dir, hugo_dir / "static" / "assets")

    content = hugo_dir / "content"
    papers_dir = content / "papers"
    papers_dir.mkdir(parents=True)
    written = 0
    for day in corpus.days:
        for weight, paper in enumerate(day.papers, start=1):
            (papers_dir / f"{paper.slug}.md").write_text(paper_content(paper, weight), encoding="utf-8")
            written += 1
    dates = [day.date.isoformat() for day in corpus.days]
    counts = {day.date.isoformat(): len(day.papers) for day in corpus.days}
    for date, newer, older in _day_neighbours(dates):
        _write(content / "days" / date / "_index.md", day_content(date, newer, older, counts[date]))
    for topic in shown_topics:
        _write(content / "topics" / topic.slug / "_index.md",
               topic_content(topic.name, topic.description or f"Papers on {topic.name}, newest first."))
    _write(content / "archive.md", special_page("Archive", "/archive/", "archive",
                                                f"Every day of papers: {len(corpus.days)} days, {len(corpus.papers)} papers."))
    _write(content / "search.md", special_page("Search", "/search/", "search",
                                               "Search every paper by title, author and abstract."))
    return written


def write_hugo_site(content_dir: Path, hugo_dir: Path, site: SiteConfig | None = None) -> int:
    """Read a paperroute content store and write the equivalent Hugo project; returns papers written."""
    corpus = build_corpus(ContentStore(Path(content_dir)).load(), load_topics(Path(content_dir)))
    return write_corpus_site(corpus, Path(hugo_dir), site or SiteConfig(), TEMPLATES_DIR / "assets")


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python bench/hugo_site.py CONTENT_DIR HUGO_DIR", file=sys.stderr)
        return 2
    started = time.perf_counter()
    written = write_hugo_site(Path(argv[0]), Path(argv[1]))
    print(f"wrote a Hugo project of {written:,} papers into {argv[1]} in {time.perf_counter() - started:.1f} s; "
          f"build it with: cd {argv[1]} && hugo --quiet")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
