"""The built website, checked on real files: links, escaping, determinism, pagination, pages."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup
from jinja2 import Environment
from jinja2.bccache import bc_magic
from markupsafe import Markup, escape

import paperroute.site
from conftest import ROOT, make_paper, write_store
from paperroute.buildstate import fingerprint, staging_dir
from paperroute.config import Config, SiteConfig, with_base_url
from paperroute.corpus import Corpus, build_corpus
from paperroute.errors import InputError
from paperroute.model import Paper, Topic
from paperroute.pages import PagePlan, not_found_page, paginate_topic, paper_links, site_pages
from paperroute.render import Renderer, escape_output
from paperroute.site import BUILD_MARK, SITEMAP_LIMIT, build_site, sitemap_files

BASE = "https://papers.example.org/"
SUB_PATH_BASE = "https://example.github.io/paperroute/"
HOSTILE_TITLE = '<script>alert("title")</script> Hostile <img src=x onerror=alert(1)> Title'
HOSTILE_AUTHOR = '"><svg onload=alert(2)>'
HOSTILE_ABSTRACT = (
    "Click [here](javascript:alert(3)) or [there](JaVaScRiPt:alert(4)).\n\n"
    "<script>alert(5)</script> <img src=x onerror=alert(6)> <a href=\"javascript:alert(7)\">raw</a>\n\n"
    "Also **bold** and a [real link](https://example.org/paper)."
)


def config(base_url: str = BASE, **site) -> Config:
    return with_base_url(Config(site=SiteConfig(**site)), base_url)


def corpus_papers() -> list[Paper]:
    """Three days, several topics, upvotes on one day, one paper full of hostile text."""
    return [
        make_paper("Speculative Decoding with Draft Trees", "2026-03-10", topics=["efficient-inference"],
                   abstract="Speculative decoding drafts tokens with a small model and verifies them in parallel.",
                   authors=["Ada Lovelace", "Alan Turing"], arxiv_id="2603.00001", position=1),
        make_paper("Quantised Attention Kernels", "2026-03-10", topics=["compression", "efficient-inference"],
                   abstract="We quantise attention kernels to four bits for faster inference.", position=2),
        make_paper("Long Context Retrieval Heads", "2026-03-11", topics=["long-context", "retrieval-rag"],
                   abstract="Retrieval heads let long context models find needles.", upvotes=12, position=2),
        make_paper("Agents That Use Tools", "2026-03-11", topics=["agents-tools"], upvotes=40, position=3,
                   abstract="Tool-using agents plan and call tools.", links={"code": "https://github.com/x/agents"}),
        make_paper("A Reasoning Benchmark", "2026-03-11", topics=["reasoning", "evaluation"], position=1,
                   abstract="A benchmark of multi-step reasoning problems."),
        make_paper(HOSTILE_TITLE, "2026-03-12", topics=["training"], authors=[HOSTILE_AUTHOR, "Grace Hopper"],
                   abstract=HOSTILE_ABSTRACT, links={"code": "javascript:alert(8)", "project": "https://example.org/p"}),
        make_paper("Scaling Laws for Training", "2026-03-12", topics=["training"],
                   abstract="Scaling laws predict training loss from compute."),
    ]


@pytest.fixture
def content(tmp_path: Path) -> Path:
    content_dir = tmp_path / "content"
    write_store(content_dir, corpus_papers())
    return content_dir


def html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "lxml")


def page_url(site: Path, path: Path, base_url: str) -> str:
    """The URL a file is served at under `base_url` (index.html as its folder)."""
    rel = path.relative_to(site).as_posix()
    if rel.endswith("index.html"):
        rel = rel[: -len("index.html")]
    return base_url + rel


def broken_links(site: Path, base_url: str) -> list[str]:
    """Every href/src/action in every page that does not land on a file (or an id) in `site`.

    Links are resolved the way a browser does, from the page's own URL under `base_url`, so a
    link that only works at a domain root fails here when `base_url` has a sub-path.
    """
    base_path = urlsplit(base_url).path
    ids: dict[Path, set[str]] = {}
    broken = []
    for path in html_files(site):
        document = soup(path)
        ids[path] = {tag["id"] for tag in document.find_all(id=True)}
        for tag in document.find_all(True):
            for attribute in ("href", "src", "action"):
                value = tag.get(attribute)
                if value is None:
                    continue
                if tag.name == "link" and attribute == "href" and tag.get("rel") == ["canonical"]:
                    continue
                target = urljoin(page_url(site, path, base_url), value)
                parts = urlsplit(target)
                if parts.scheme in ("mailto",) or not target.startswith(base_url.rstrip("/")):
                    continue
                rel = unquote(parts.path)[len(base_path):]
                file = site / rel
                if rel == "" or rel.endswith("/"):
                    file = file / "index.html"
                if not file.is_file():
                    broken.append(f"{path.relative_to(site)}: {tag.name}[{attribute}]={value!r}")
                elif parts.fragment and file.suffix == ".html":
                    targets = ids.get(file) or {tag["id"] for tag in soup(file).find_all(id=True)}
                    if parts.fragment not in targets:
                        broken.append(f"{path.relative_to(site)}: #{parts.fragment} not in {rel}")
    return broken


# ---------------------------------------------------------------- the whole site


def test_every_page_kind_is_written(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    report = build_site(content, site, config(), quiet=True)
    for rel in ["index.html", "days/2026-03-10/index.html", "days/2026-03-12/index.html", "topics/training/index.html",
                "papers/scaling-laws-for-training/index.html", "archive/index.html", "search/index.html",
                "404.html", "sitemap.xml", "robots.txt", "feed.xml", "atom.xml", "feed.json",
                "topics/training/feed.xml", "assets/style.css", "assets/favicon.svg"]:
        assert (site / rel).is_file(), rel
    assert report.papers == 7 and report.days == 3
    assert report.pages == len(html_files(site))
    assert report.written == sum(1 for p in site.rglob("*") if p.is_file())


@pytest.mark.parametrize("base_url", [BASE, SUB_PATH_BASE])
def test_every_link_resolves(content: Path, tmp_path: Path, base_url: str) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(base_url), quiet=True)
    assert broken_links(site, base_url) == []
    # The checker itself catches a broken link.
    (site / "papers" / "scaling-laws-for-training" / "index.html").unlink()
    assert any("scaling-laws-for-training" in link for link in broken_links(site, base_url))


def test_internal_links_are_relative_and_absolute_ones_use_the_base_url(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(SUB_PATH_BASE), quiet=True)
    day = soup(site / "days" / "2026-03-11" / "index.html")
    assert day.find("link", rel="canonical")["href"] == SUB_PATH_BASE + "days/2026-03-11/"
    assert day.find("meta", property="og:url")["content"] == SUB_PATH_BASE + "days/2026-03-11/"
    assert day.find("link", rel="stylesheet")["href"] == "../../assets/style.css"
    for anchor in day.find_all("a", href=True):
        assert not anchor["href"].startswith("/"), anchor
        assert not anchor["href"].startswith(SUB_PATH_BASE), anchor


def test_head_has_feeds_meta_favicon_and_a_strict_csp(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(), quiet=True)
    for path in html_files(site):
        document = soup(path)
        alternates = {link["href"].rsplit("/", 1)[-1] for link in document.find_all("link", rel="alternate")}
        assert {"feed.xml", "atom.xml", "feed.json"} <= alternates, path
        assert document.find("meta", attrs={"name": "description"})["content"]
        assert document.find("meta", property="og:title")["content"]
        assert document.find("link", rel="icon")["href"].endswith("assets/favicon.svg")
        csp = document.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert not document.find("style") and not document.find(style=True), path
        assert all(script.get("src") for script in document.find_all("script")), path
        form = document.find("form", role="search")
        assert form["method"] == "get"
        assert urljoin(page_url(site, path, BASE), form["action"]) == BASE + "search/"
        assert form.find("input", attrs={"type": "search", "name": "q"})


# ---------------------------------------------------------------- hostile text


def test_hostile_titles_authors_abstracts_and_links_are_escaped(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(), quiet=True)
    for path in html_files(site):
        document = soup(path)
        for script in document.find_all("script"):  # only the site's own script files
            assert script.get("src", "").split("/")[-2:-1] == ["assets"] and not script.get_text().strip(), path
        for tag in document.find_all(True):
            for name, value in tag.attrs.items():
                assert not name.lower().startswith("on"), f"{path}: {tag}"
                if name in ("href", "src", "action"):
                    assert not str(value).strip().lower().startswith(("javascript:", "data:")), f"{path}: {tag}"
        assert "<svg onload" not in path.read_text(encoding="utf-8")
    paper_dir = next(p for p in (site / "papers").iterdir() if p.name.startswith("script-alert-title"))
    paper = soup(paper_dir / "index.html")
    assert paper.h1.get_text() == HOSTILE_TITLE  # shown, as text
    assert HOSTILE_AUTHOR in paper.find(class_="authors-full").get_text()
    prose = paper.find(class_="prose")
    assert "<script>alert(5)</script>" in prose.get_text()
    assert prose.find("strong").get_text() == "bold"
    assert [a.get("href") for a in prose.find_all("a")] == [None, None, "https://example.org/paper"]
    assert [a["href"] for a in paper.find(class_="paper-links").find_all("a")] == ["https://example.org/p"]
    assert paper.title.get_text().startswith(HOSTILE_TITLE)
    assert HOSTILE_TITLE in paper.find("meta", property="og:title")["content"]


def test_template_output_is_escaped_as_markupsafe_escapes_it() -> None:
    """The templates print through `render.escape_output`, a faster `markupsafe.escape`."""
    class Html:
        def __html__(self) -> str:
            return "<b>safe</b>"

    values = ["<script>&'\"", "", "plain", Markup("<i>kept</i>"), 42, None, dt.date(2026, 3, 12), Html(), "é<"]
    for value in values:
        escaped = escape_output(value)
        assert type(escaped) is Markup and escaped == escape(value), value
    rendered = Renderer(SiteConfig(), {}).environment.from_string("{{ a }}|{{ b }}|{{ c }}").render(
        a="<a href='x'>&</a>", b=Markup("<em>ok</em>"), c=3)
    assert rendered == "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;|<em>ok</em>|3"


def test_compiled_templates_are_kept_and_a_bad_or_stale_one_is_compiled_again(tmp_path: Path, monkeypatch) -> None:
    """A second renderer loads the templates the first compiled. An entry cut short or
    overwritten, one for a template edited since, or one compiled by other code is compiled
    again; a cache that cannot be written is done without."""
    templates, cache = tmp_path / "templates", tmp_path / "cache"
    shutil.copytree(ROOT / "templates", templates)
    shared = {"nav_topics": [], "topic_names": {}, "site_feeds": ()}
    compiled: list[str] = []
    compile_template = Environment.compile
    monkeypatch.setattr(Environment, "compile", lambda self, source, name=None, *rest, **options: (
        compiled.append(name), compile_template(self, source, name, *rest, **options))[1])

    def render(cache_dir: Path = cache) -> str:
        compiled.clear()
        page = not_found_page()
        renderer = Renderer(SiteConfig(), shared, templates, cache_dir=cache_dir)
        return renderer.render(page.template, page.path, page.context, absolute_links=page.absolute_links)

    expected = render(tmp_path / "unused")
    assert render() == expected and "404.html" in compiled
    entries = sorted(cache.iterdir())
    assert len(entries) >= 4  # 404.html, base.html and the partials it shows
    assert render() == expected and compiled == []

    entries[0].write_bytes(bc_magic + b"\x80 not a pickle")
    for entry in entries[1:]:
        entry.write_bytes(entry.read_bytes()[:len(entry.read_bytes()) // 2])
    assert render() == expected and len(compiled) == len(entries)
    monkeypatch.setattr("paperroute.render._COMPILER_KEY", "another version of the code")
    assert render() == expected and len(compiled) == len(entries)
    (templates / "404.html").write_text((templates / "404.html").read_text().replace("<h1>", "<h1>Edited "),
                                        encoding="utf-8")
    assert "<h1>Edited " in render() and compiled == ["404.html"]
    (tmp_path / "a-file").write_text("not a folder")
    assert render(tmp_path / "a-file" / "cache") == render()


@pytest.mark.parametrize("broken, message, line", [
    ("<h1>{{ paper.title }</h1>", "unexpected '}'", 6),
    ("<h1>{{ paper.titel }}</h1>", "has no attribute 'titel'", 6),
    ("<h1>{{ paper.title | shout }}</h1>", "No filter named 'shout'", 6),
    ('<h1>{% include "partials/gone.html" %}</h1>', "no template partials/gone.html", 6),
], ids=["syntax", "misspelt name", "unknown filter", "missing partial"])
@pytest.mark.parametrize("forked", [False, True], ids=["in-process", "forked workers"])
def test_a_broken_template_is_a_one_line_error_naming_its_file_and_line(
        content: Path, tmp_path: Path, monkeypatch, broken: str, message: str, line: int, forked: bool) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    paper_template = templates / "paper.html"
    source = paper_template.read_text(encoding="utf-8")
    assert source.splitlines()[line - 1].strip() == "<h1>{{ paper.title }}</h1>"
    paper_template.write_text(source.replace("<h1>{{ paper.title }}</h1>", broken), encoding="utf-8")
    if forked:
        monkeypatch.setattr("paperroute.site.PARALLEL_RENDER_MIN", 1)
        monkeypatch.setattr("paperroute.parallel.worker_count", lambda jobs=None: 2)
    with pytest.raises(InputError) as raised:
        build_site(content, tmp_path / "site", config(), quiet=True, templates_dir=templates)
    assert (raised.value.path, raised.value.line) == (str(paper_template), line)
    assert message in raised.value.message and "\n" not in str(raised.value)


def test_paper_links_keep_only_web_addresses() -> None:
    paper = make_paper("P", arxiv_id="2501.00001", links={
        "code": "https://github.com/a/b", "evil": "javascript:x", "hidden": "java\tscript:x", "nohost": "https:///x",
        "relative": "/etc/passwd", "pdf": "https://arxiv.org/pdf/2501.00001",
        # hand-wrapped in the front matter: tabs and line breaks go, as urlsplit and browsers drop them
        "project": " https://exam\nple.org/pro\tject \n"})
    assert [(link.label, link.url) for link in paper_links(paper)] == [
        ("arXiv", "https://arxiv.org/abs/2501.00001"),
        ("PDF", "https://arxiv.org/pdf/2501.00001"),
        ("Hugging Face", "https://huggingface.co/papers/2501.00001"),
        ("Code", "https://github.com/a/b"),
        ("Project page", "https://example.org/project"),
    ]


# ---------------------------------------------------------------- determinism and incremental writes


def test_two_builds_are_byte_identical(content: Path, tmp_path: Path) -> None:
    """One into a new folder (staged, then renamed), one into an empty folder that is there."""
    first, second = tmp_path / "one", tmp_path / "two"
    second.mkdir()
    build_site(content, first, config(), quiet=True)
    build_site(content, second, config(), quiet=True)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / rel).read_bytes() == (second / rel).read_bytes() for rel in files)


def test_a_second_build_rewrites_nothing(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(), quiet=True)
    stamps = {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}
    report = build_site(content, site, config(), quiet=True)
    assert (report.written, report.removed) == (0, 0)
    assert report.unchanged == len(stamps)
    assert {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()} == stamps


def test_a_removed_paper_loses_its_page(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(), quiet=True)
    (content / "papers" / "2026-03-12" / "scaling-laws-for-training.md").unlink()
    report = build_site(content, site, config(), quiet=True)
    assert not (site / "papers" / "scaling-laws-for-training").exists()
    assert report.removed >= 1
    assert broken_links(site, BASE) == []


def test_refuses_an_output_folder_it_did_not_make(content: Path, tmp_path: Path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(InputError, match="not empty"):
        build_site(content, precious, config(), quiet=True)
    with pytest.raises(InputError, match="content store"):
        build_site(content, tmp_path, config(), quiet=True)
    assert (precious / "thesis.txt").read_text() == "years of work"
    site = tmp_path / "site"
    build_site(content, site, config(), quiet=True)
    assert (site / BUILD_MARK).is_file()
    build_site(content, site, config(), quiet=True)  # its own earlier build is fine


def test_a_build_into_a_new_folder_makes_it_whole_or_not_at_all(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "new" / "site"
    staging = staging_dir(site)
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "paper.html").write_text("{% extends 'base.html' %}{% block content %}{{ nope }}{% endblock %}")
    with pytest.raises(InputError):  # a page fails after others were written
        build_site(content, site, config(), quiet=True, templates_dir=templates)
    assert not site.exists() and not staging.exists()

    staging.mkdir(parents=True)  # left by a build that was killed
    (staging / BUILD_MARK).write_text("")
    (staging / "half.html").write_text("<p>half")
    build_site(content, site, config(), quiet=True)
    assert (site / "index.html").is_file() and not (site / "half.html").exists() and not staging.exists()

    other = tmp_path / "other"
    staging_dir(other).mkdir()
    (staging_dir(other) / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="in the way") as raised:
        build_site(content, other, config(), quiet=True)
    assert raised.value.path == str(staging_dir(other))
    assert (staging_dir(other) / "notes.txt").read_text() == "mine" and not other.exists()


# ---------------------------------------------------------------- day and home pages


def test_day_page_groups_by_primary_topic_in_source_order(tmp_path: Path) -> None:
    content_dir = tmp_path / "content"
    write_store(content_dir, [
        make_paper("Third Listed", "2026-03-11", topics=["training"], position=3),
        make_paper("First Listed", "2026-03-11", topics=["training", "reasoning"], position=1),
        make_paper("Most Upvoted", "2026-03-11", topics=["training"], position=9, upvotes=50),
        make_paper("Reasoning Paper", "2026-03-11", topics=["reasoning", "training"], position=2),
        make_paper("Earlier Day", "2026-03-10", topics=["training"]),
        make_paper("Later Day", "2026-03-12", topics=["training"]),
    ])
    site = tmp_path / "site"
    build_site(content_dir, site, config(), quiet=True)
    day = soup(site / "days" / "2026-03-11" / "index.html")
    groups = day.find_all("section", class_="topic-group")
    titles = {group["id"]: [h.get_text() for h in group.find_all(class_="paper-title")] for group in groups}
    assert titles == {"topic-training": ["Most Upvoted", "First Listed", "Third Listed"],
                      "topic-reasoning": ["Reasoning Paper"]}
    assert [group["id"] for group in groups] == ["topic-training", "topic-reasoning"]  # taxonomy order
    assert all(card.find("details", class_="abstract") for card in day.find_all("article"))
    pager = day.find("nav", class_="pager")
    assert pager.find("a", rel="prev")["href"] == "../../days/2026-03-10/"
    assert pager.find("a", rel="next")["href"] == "../../days/2026-03-12/"
    home = soup(site / "index.html")
    assert [h.get_text() for h in home.find_all(class_="paper-title")] == ["Later Day"]
    assert home.find("a", rel="prev")["href"] == "days/2026-03-11/"
    assert not soup(site / "days" / "2026-03-12" / "index.html").find("a", rel="next")


def test_an_empty_store_builds_a_site_that_says_so(tmp_path: Path) -> None:
    content_dir = tmp_path / "content"
    content_dir.mkdir()
    write_store(content_dir, [])
    report = build_site(content_dir, tmp_path / "site", config(), quiet=True)
    assert report.papers == 0
    assert "No papers yet" in (tmp_path / "site" / "index.html").read_text()
    assert broken_links(tmp_path / "site", BASE) == []


# ---------------------------------------------------------------- topic pages


def test_paginate_topic_numbers_pages_from_the_oldest() -> None:
    papers = [make_paper(f"P{n:02d}", dt.date(2026, 1, 1) + dt.timedelta(days=n)) for n in range(23)]
    newest_first = list(reversed(papers))
    slices = paginate_topic("t", newest_first, 5)
    assert [s.path for s in slices] == ["topics/t/", "topics/t/page/5/", "topics/t/page/4/", "topics/t/page/3/",
                                        "topics/t/page/2/"]
    assert [[p.title for p in s.papers] for s in slices][0] == ["P22", "P21", "P20"]
    assert [p.title for p in slices[-1].papers] == ["P04", "P03", "P02", "P01", "P00"]
    assert [p for s in slices for p in s.papers] == newest_first  # each paper once, newest first
    assert [(s.newer, s.older) for s in slices] == [
        (None, "topics/t/page/5/"), ("topics/t/", "topics/t/page/4/"), ("topics/t/page/5/", "topics/t/page/3/"),
        ("topics/t/page/4/", "topics/t/page/2/"), ("topics/t/page/3/", None)]
    assert paginate_topic("t", [], 5)[0].path == "topics/t/"
    # Two more papers: the front page grows, and the numbered pages keep their papers.
    grown = paginate_topic("t", list(reversed(papers + [make_paper("P23", "2026-02-01"), make_paper("P24", "2026-02-02")])), 5)
    assert [s.papers for s in grown[1:]] == [s.papers for s in slices[1:]]


def test_a_planned_page_is_made_from_its_arguments_alone() -> None:
    """Day and topic pages are fingerprinted by the arguments that make them (`PagePlan`),
    not by the pages: equal arguments must make equal pages, whatever else a new day moved."""
    taxonomy = [Topic("training", "Training"), Topic("code", "Code", "Models that write code.")]

    def corpus_of(days: int) -> Corpus:
        return build_corpus([make_paper(f"Paper {day}-{n}", dt.date(2026, 3, day), slug=f"paper-{day}-{n}",
                                        topics=[("training", "code")[n % 2]], position=n + 1)
                             for day in range(1, days + 1) for n in range(3)], taxonomy)

    def plans(corpus: Corpus) -> dict[str, PagePlan]:
        return {plan.path: plan for plan in site_pages(corpus, 2) if isinstance(plan, PagePlan)}

    before, after = plans(corpus_of(5)), plans(corpus_of(6))
    digests = {paper.slug: paper.slug.encode() for paper in corpus_of(6).papers}  # the papers are the same
    moved = set()
    for path in before.keys() & after.keys():
        if fingerprint([before[path].args], digests) == fingerprint([after[path].args], digests):
            assert before[path].page() == after[path].page(), path
        else:
            moved.add(path)
    # The last day's page links to the new one, the topics' front pages gain its papers.
    assert {"days/2026-03-05/", "topics/training/", "topics/code/"} <= moved
    assert not moved & {f"days/2026-03-0{day}/" for day in range(1, 5)}
    assert all(plan.page().path == path and plan.page().template == plan.template for path, plan in after.items())


def test_a_new_day_rewrites_few_topic_pages(tmp_path: Path) -> None:
    content_dir = tmp_path / "content"
    papers = [make_paper(f"Training Paper {n:02d}", dt.date(2026, 1, 1) + dt.timedelta(days=n), topics=["training"])
              for n in range(12)]
    write_store(content_dir, papers)
    site = tmp_path / "site"
    cfg = config(topic_page_size=5)
    build_site(content_dir, site, cfg, quiet=True)
    topic_dir = site / "topics" / "training"
    assert sorted(p.relative_to(topic_dir).as_posix() for p in topic_dir.rglob("index.html")) == [
        "index.html", "page/2/index.html", "page/3/index.html"]
    front = soup(topic_dir / "index.html")
    assert [h.get_text() for h in front.find_all(class_="paper-title")] == ["Training Paper 11", "Training Paper 10"]
    assert front.find("a", rel="next")["href"] == "../../topics/training/page/3/"
    assert soup(topic_dir / "page" / "3" / "index.html").find("a", rel="prev")["href"] == "../../../../topics/training/"
    numbered = {p: p.read_bytes() for p in (topic_dir / "page").rglob("index.html")}

    write_store(content_dir, [make_paper("Training Paper 12", "2026-01-13", topics=["training"])])
    build_site(content_dir, site, cfg, quiet=True)
    assert {p: p.read_bytes() for p in (topic_dir / "page").rglob("index.html")} == numbered
    assert len(soup(topic_dir / "index.html").find_all(class_="paper-title")) == 3

    # Filling the front chunk and starting the next: one new page, one relinked page.
    write_store(content_dir, [make_paper(f"Training Paper {n}", dt.date(2026, 1, 1) + dt.timedelta(days=n),
                                         topics=["training"]) for n in (13, 14, 15)])
    build_site(content_dir, site, cfg, quiet=True)
    after = {p: p.read_bytes() for p in (topic_dir / "page").rglob("index.html")}
    assert after[topic_dir / "page" / "2" / "index.html"] == numbered[topic_dir / "page" / "2" / "index.html"]
    assert after[topic_dir / "page" / "3" / "index.html"] != numbered[topic_dir / "page" / "3" / "index.html"]
    assert [h.get_text() for h in soup(topic_dir / "page" / "4" / "index.html").find_all(class_="paper-title")] == [
        f"Training Paper {n}" for n in (14, 13, 12, 11, 10)]
    assert broken_links(site, BASE) == []


# ---------------------------------------------------------------- paper pages


def test_paper_page_shows_the_paper_and_five_related(tmp_path: Path) -> None:
    content_dir = tmp_path / "content"
    decoding = [make_paper(f"Speculative Decoding Variant {n}", "2026-03-10", topics=["efficient-inference"],
                           abstract=f"Speculative decoding with draft models and tree verification, variant {n}.")
                for n in range(7)]
    others = [make_paper("Protein Folding With Diffusion", "2026-03-10", topics=["other"],
                         abstract="Protein structures folded by diffusion models.")]
    subject = make_paper("Speculative Decoding Survey", "2026-03-11", topics=["efficient-inference", "surveys"],
                         authors=["Ada Lovelace", "Alan Turing"], arxiv_id="2603.00042", upvotes=7,
                         abstract="A survey of speculative decoding: draft models, tree verification, acceptance.",
                         links={"code": "https://github.com/example/specdec"})
    write_store(content_dir, decoding + others + [subject])
    site = tmp_path / "site"
    build_site(content_dir, site, config(), quiet=True)
    page = soup(site / "papers" / "speculative-decoding-survey" / "index.html")
    assert page.h1.get_text() == "Speculative Decoding Survey"
    assert page.find(class_="authors-full").get_text() == "Authors: Ada Lovelace, Alan Turing"
    assert page.find("time")["datetime"] == "2026-03-11"
    assert [a["href"] for a in page.find("ul", class_="chips").find_all("a")] == [
        "../../topics/efficient-inference/", "../../topics/surveys/"]
    assert "▲ 7" in page.find(class_="upvotes").get_text()
    assert "acceptance" in page.find(class_="prose").get_text()
    links = {a.get_text(): a["href"] for a in page.find(class_="paper-links").find_all("a")}
    assert links == {"arXiv": "https://arxiv.org/abs/2603.00042", "PDF": "https://arxiv.org/pdf/2603.00042",
                     "Hugging Face": "https://huggingface.co/papers/2603.00042", "Code": "https://github.com/example/specdec"}
    related = [a["href"] for a in page.find(class_="related-list").find_all("a")]
    assert len(related) == 5
    assert all(href.startswith("../../papers/speculative-decoding-variant-") for href in related)


def test_a_card_names_every_topic_but_the_one_its_list_is_about(tmp_path: Path) -> None:
    content_dir = tmp_path / "content"
    paper = make_paper("Speculative Decoding Survey", "2026-03-11", topics=["efficient-inference", "surveys", "agents"])
    write_store(content_dir, [paper])
    site = tmp_path / "site"
    build_site(content_dir, site, config(), quiet=True)

    def chips(page: Path) -> list[str]:
        card = soup(page).find("article", class_="paper-card")
        return [a["href"].rstrip("/").rsplit("/", 1)[-1] for a in card.find("ul", class_="chips").find_all("a")]

    assert chips(site / "days" / "2026-03-11" / "index.html") == ["surveys", "agents"]  # grouped by its first
    assert chips(site / "topics" / "surveys" / "index.html") == ["efficient-inference", "agents"]
    assert chips(site / "topics" / "agents" / "index.html") == ["efficient-inference", "surveys"]


# ---------------------------------------------------------------- archive, search, 404, sitemap, robots


def test_archive_lists_every_day_with_charts(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(), quiet=True)
    archive = soup(site / "archive" / "index.html")
    days = [a["href"] for a in archive.find(class_="day-list").find_all("a")] if archive.find(class_="day-list") else []
    assert [a["href"] for ul in archive.find_all(class_="day-list") for a in ul.find_all("a")] == [
        "../days/2026-03-12/", "../days/2026-03-11/", "../days/2026-03-10/"]
    assert days
    per_day = Counter(paper.date for paper in corpus_papers())
    assert [li.find(class_="count").get_text() for ul in archive.find_all(class_="day-list") for li in ul.find_all("li")] \
        == [f"{per_day[date]} paper{'s' if per_day[date] != 1 else ''}" for date in sorted(per_day, reverse=True)]
    heatmap = archive.find("svg", class_="heatmap")
    linked = sorted(a["href"] for a in heatmap.find_all("a"))
    assert linked == ["../days/2026-03-10/", "../days/2026-03-11/", "../days/2026-03-12/"]
    assert archive.find("svg", class_="timeline").find_all("rect", class_="chart-bar")


def test_search_page_is_a_working_form_without_javascript(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(), quiet=True)
    search = soup(site / "search" / "index.html")
    assert len(search.find_all("input", attrs={"type": "search"})) == 1
    assert search.find("input", attrs={"type": "search"})["name"] == "q"
    assert search.find("ol", id="results") is not None
    assert search.find("noscript")


def test_404_page_links_absolutely_and_stays_out_of_the_sitemap(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(SUB_PATH_BASE), quiet=True)
    page = soup(site / "404.html")
    assert page.h1.get_text() == "There is no page here"
    assert page.find("link", rel="stylesheet")["href"] == SUB_PATH_BASE + "assets/style.css"
    assert all(a["href"].startswith(SUB_PATH_BASE) for a in page.find_all("a", href=True) if not a["href"].startswith("#"))
    assert "404" not in (site / "sitemap.xml").read_text()


def test_sitemap_lists_every_page_once_with_absolute_urls(content: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(content, site, config(SUB_PATH_BASE), quiet=True)
    sitemap = BeautifulSoup((site / "sitemap.xml").read_text(), "xml")
    urls = [loc.get_text() for loc in sitemap.find_all("loc")]
    pages = [page_url(site, p, SUB_PATH_BASE) for p in html_files(site) if p.name != "404.html"]
    assert sorted(urls) == sorted(pages) and len(set(urls)) == len(urls)
    assert (site / "robots.txt").read_text() == f"User-agent: *\nAllow: /\nSitemap: {SUB_PATH_BASE}sitemap.xml\n"


def test_a_new_day_leaves_the_full_sitemaps_before_the_last_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("paperroute.site.SITEMAP_LIMIT", 4)
    content_dir = tmp_path / "content"
    write_store(content_dir, [make_paper(f"Paper {n:02d}", dt.date(2026, 1, 1) + dt.timedelta(days=n // 3))
                              for n in range(12)])
    site = tmp_path / "site"
    build_site(content_dir, site, config(), quiet=True)
    parts = sorted(site.glob("sitemap-*.xml"), key=lambda path: int(path.stem.split("-")[1]))
    before = [part.read_bytes() for part in parts]
    assert "papers/paper-00/" in before[0].decode()  # the oldest papers first

    made: list[list[str]] = []
    urlset = paperroute.site._urlset
    monkeypatch.setattr("paperroute.site._urlset", lambda base, paths: (made.append(paths), urlset(base, paths))[1])
    write_store(content_dir, [make_paper("Paper 12", "2026-01-05")])
    build_site(content_dir, site, config(), quiet=True)
    after = [part.read_bytes() for part in parts]
    assert after[:3] == before[:3]  # the twelve old papers' parts, kept without being made
    assert "papers/paper-12/" in made[0] and not any("papers/paper-00/" in paths for paths in made)
    urls = [loc.get_text() for part in sorted(site.glob("sitemap-*.xml")) for loc in BeautifulSoup(part.read_text(), "xml").find_all("loc")]
    assert len(urls) == len(set(urls)) and BASE + "papers/paper-12/" in urls and BASE + "days/2026-01-05/" in urls
    # A kept part that is gone, or a new base URL, is made again.
    parts[0].unlink()
    build_site(content_dir, site, config(), quiet=True)
    assert parts[0].read_bytes() == before[0]
    build_site(content_dir, site, config("https://mirror.example.org/"), quiet=True)
    assert "https://mirror.example.org/papers/paper-00/" in parts[0].read_text()


def test_a_large_sitemap_becomes_an_index() -> None:
    paths = [f"papers/p{n}/" for n in range(SITEMAP_LIMIT + 1)]
    files = {name: make() for name, _, make in sitemap_files(paths, BASE)}
    assert list(files) == ["sitemap.xml", "sitemap-1.xml", "sitemap-2.xml"]
    index = BeautifulSoup(files["sitemap.xml"], "xml")
    assert [loc.get_text() for loc in index.find_all("loc")] == [BASE + "sitemap-1.xml", BASE + "sitemap-2.xml"]
    assert files["sitemap-1.xml"].count("<url>") == SITEMAP_LIMIT
    assert files["sitemap-2.xml"].count("<url>") == 1


# ---------------------------------------------------------------- the command line


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "build.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_build_command_prints_one_summary_line(content: Path, tmp_path: Path) -> None:
    result = run_cli("build", "--content", str(content), "--out", str(tmp_path / "out"), "--base-url",
                     "https://example.org/sub", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and str(tmp_path / "out") in lines[0] and " pages " in lines[0]
    assert result.stderr == ""
    assert 'href="https://example.org/sub/papers/' in (tmp_path / "out" / "sitemap.xml").read_text().replace("<loc>", 'href="')


def test_two_paper_files_of_one_name_are_a_one_line_error(tmp_path: Path) -> None:
    """A file copied into another date folder would give two pages one address."""
    content = tmp_path / "content"
    write_store(content, [make_paper("A Paper", "2026-03-10", slug="one-name"), make_paper("Another", "2026-03-11"),
                          make_paper("A Copy", "2026-03-12", slug="one-name")])
    result = run_cli("build", "--content", str(content), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "2026-03-12/one-name.md:" in result.stderr
    assert "2026-03-10/one-name.md" in result.stderr and not (tmp_path / "out" / "papers").exists()


@pytest.mark.parametrize("name", ["My Paper.md", "Upper-case.md", "two--hyphens.md", "é.md"])
def test_a_paper_file_name_that_is_no_address_is_a_one_line_error(tmp_path: Path, name: str) -> None:
    """The file name is the page's address, in links, feeds and the sitemap: a space or a capital
    in it would be one in all of them."""
    content = tmp_path / "content"
    write_store(content, [make_paper("A Paper", "2026-03-10"), make_paper("Hand Added", "2026-03-10", slug="hand-added")])
    (content / "papers" / "2026-03-10" / "hand-added.md").rename(content / "papers" / "2026-03-10" / name)
    result = run_cli("build", "--content", str(content), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert f"2026-03-10/{name}: a paper's file name is its page's address" in result.stderr
    assert result.stderr.rstrip().endswith(".md") and "rename it to " in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_output_folder_the_system_refuses_is_a_one_line_error(content: Path, tmp_path: Path) -> None:
    """An `OSError` no command turned into an error of its own still ends in one line naming the path."""
    (tmp_path / "a-file").write_text("not a folder")
    result = run_cli("build", "--content", str(content), "--out", str(tmp_path / "a-file" / "site"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"paperroute: error: {tmp_path / 'a-file'}")
    assert result.stderr.rstrip().endswith(": Not a directory")
    assert sorted(p.name for p in tmp_path.iterdir() if p != content) == ["a-file"]  # nothing made, nothing left


def test_jobs_1_builds_the_same_site_and_jobs_0_is_a_usage_error(content: Path, tmp_path: Path) -> None:
    one = run_cli("build", "--content", str(content), "--out", str(tmp_path / "one"), "--jobs", "1", cwd=tmp_path)
    default = run_cli("build", "--content", str(content), "--out", str(tmp_path / "default"), cwd=tmp_path)
    assert one.returncode == default.returncode == 0, one.stderr + default.stderr
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "default") for p in (tmp_path / "default").rglob("*") if p.is_file())
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "default" / f).read_bytes() for f in files)
    zero = run_cli("build", "--content", str(content), "--jobs", "0", cwd=tmp_path)
    assert zero.returncode == 2 and "--jobs" in zero.stderr and "Traceback" not in zero.stderr


def test_progress_is_drawn_on_a_terminal(content: Path, tmp_path: Path) -> None:
    """Bars on a terminal's stderr; the builds above, off a terminal or quiet, draw none."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a new one has 0 columns
    command = [sys.executable, str(ROOT / "build.py"), "build", "--content", str(content), "--out", str(tmp_path / "out")]
    with subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          stdout=subprocess.PIPE, stderr=terminal, text=True) as process:
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the build has closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        summary = process.stdout.read() if process.stdout else ""
    os.close(controller)
    assert process.returncode == 0, drawn
    assert b"parsing" in drawn and b"pages" in drawn
    assert summary.startswith("built ") and summary.count("\n") == 1


def test_build_is_the_default_command(content: Path, tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path)  # content/ is in the working folder
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert "site" in result.stdout


def test_options_alone_go_to_the_default_command(content: Path, tmp_path: Path) -> None:
    result = run_cli("--quiet", "--out", "public", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "public" / "index.html").is_file() and result.stdout.startswith("built public/")
    helped = run_cli("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "COMMAND" in helped.stdout and not (tmp_path / "site").exists()


def test_a_command_imports_only_its_own_module() -> None:
    """Importing every command (an HTML parser, an HTTP client) cost each build 0.17 s; tqdm,
    only needed to draw on a terminal, 25 ms."""
    probe = ("import sys; from paperroute.cli import main\n"
             "try:\n    main(['build', '--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('bs4', 'httpx', 'tqdm', 'paperroute.commands.ingest') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--jobs" in result.stdout and result.stdout.rstrip().endswith("[]")


@pytest.mark.parametrize("given, expected", [(None, "1"), ("3", "3")])
def test_the_command_line_keeps_openblas_to_one_thread_unless_told(given: str | None, expected: str) -> None:
    """OpenBLAS's threads, started as numpy is imported, spun for 0.1-0.15 s of CPU in every
    command: the setting must be made before numpy is imported, and a user's own kept."""
    probe = ("import os, sys; import paperroute.cli\n"
             "print('numpy' in sys.modules, os.environ['OPENBLAS_NUM_THREADS'])")
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", expected]


def test_build_command_reports_bad_input_in_one_line(content: Path, tmp_path: Path) -> None:
    bad = content / "papers" / "2026-03-12" / "broken.md"
    bad.write_text("---\ntitle: [unclosed\n---\n")
    result = run_cli("build", "--content", str(content), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "broken.md:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    missing = run_cli("build", "--content", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 1 and "nowhere" in missing.stderr
    bad_url = run_cli("build", "--content", str(content), "--base-url", "ftp://x", cwd=tmp_path)
    assert bad_url.returncode == 1 and "base URL" in bad_url.stderr
