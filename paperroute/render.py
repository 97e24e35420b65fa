"""The Jinja2 environment every page is rendered through.

Autoescaping is on for every template whatever its name, and undefined names are errors
(StrictUndefined), so a typo in a template fails the build instead of quietly printing
nothing, and untrusted text can only reach a page escaped or through `markup.abstract_html`.
Templates are compiled once per `Renderer` (one per build), or loaded as the last build left
them compiled (`_TemplateCache`); a page is one `render` call that returns a string, so nothing
holds the whole site in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping

from markupsafe import Markup, _escape_inner, escape
import jinja2
from jinja2 import (Environment, FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateNotFound,
                    TemplateSyntaxError, pass_context)
from jinja2.bccache import Bucket, FileSystemBytecodeCache
from jinja2.compiler import CodeGenerator
from jinja2.runtime import Context

from paperroute.config import SiteConfig
from paperroute.errors import InputError
from paperroute.markup import abstract_html, plain_summary
from paperroute import urls
from paperroute.urls import absolute, relative

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

PAGE_TEMPLATES = ("home.html", "day.html", "topic.html", "paper.html", "archive.html", "404.html", "search.html")

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def long_date(date: dt.date) -> str:
    """"Thursday 12 March 2026": spelled out here, not by strftime, whose names follow the locale."""
    return f"{_WEEKDAYS[date.weekday()]} {date.day} {_MONTHS[date.month - 1]} {date.year}"


def short_date(date: dt.date) -> str:
    return f"{date.day} {_MONTHS[date.month - 1][:3]} {date.year}"


def month_name(date: dt.date) -> str:
    return f"{_MONTHS[date.month - 1]} {date.year}"


def author_line(authors: list[str], limit: int = 4) -> str:
    """A card's byline: the first few names, then how many more."""
    if len(authors) <= limit:
        return ", ".join(authors)
    return f"{', '.join(authors[:limit])} and {len(authors) - limit} more"


def without(items: list[str], item: str) -> list[str]:
    """`items | reject("equalto", item) | list` at a third of its cost, once per paper card."""
    return [other for other in items if other != item]


def count_of(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


@pass_context
def _url(context: Context, target: str) -> str:
    """A link from the page being rendered to `target` (a site path from paperroute.urls).

    Relative everywhere, so the site works under any base URL; absolute only on pages that
    are served at URLs they do not live at (404.html answers for every missing path).
    """
    if context["absolute_links"]:
        return absolute(context["site"].base_url, target)
    return relative(context["page_path"], target)


def _link_to(path_of: Callable[[Any], str]) -> Callable[[Context, Any], str]:
    """A filter for the links a list makes by the hundred (`paper.slug | paper_url`): a filter
    is called directly, where `url(paper_path(...))` goes through Jinja's `Context.call` twice."""
    @pass_context
    def link(context: Context, value: Any) -> str:
        return _url(context, path_of(value))
    return link


def _name_of(names: Mapping[str, str]) -> Callable[[str], str]:
    """`slug | topic_name`: a topic's name, or its slug for a topic the taxonomy lacks. A
    filter, where `topic_names.get(slug, slug)` went through `Context.call` (a paper page,
    which names the topic of each related paper, renders 5.7% faster)."""
    return lambda slug: names.get(slug, slug)


# Pages the site bar marks as current (aria-current), so a shared partial's key must name them.
_SECTION_PATHS = frozenset((urls.home_path(), urls.archive_path()))


def _link_prefix(page_path: str) -> str:
    """What every relative link on a page starts with: one `../` per folder of the page."""
    return relative(page_path, "")


def template_error(err: TemplateError, templates_dir: Path) -> InputError:
    """A mistake in a template (its syntax, a name it misspells, a template it cannot find)
    as the one-line error a command prints, naming the template's file and line, not a
    traceback: templates are the project's to edit, so they are input like the content."""
    if isinstance(err, TemplateSyntaxError):  # and TemplateAssertionError: an unknown filter, say
        return InputError(err.message or "syntax error", err.filename or err.name, err.lineno)
    # Jinja gives a template's frames its file name and line: the innermost one is where.
    frames = [(frame.f_code.co_filename, line) for frame, line in traceback.walk_tb(err.__traceback__)]
    where = [(name, line) for name, line in frames if not name.endswith(".py") and not name.startswith("<")]
    name, line = where[-1] if where else (templates_dir, None)
    return InputError(f"no template {err.name}" if isinstance(err, TemplateNotFound) else str(err), name, line)


def escape_output(value: Any, _new: Callable[..., Markup] = str.__new__) -> Markup:
    """What `{{ value }}` puts on a page: `markupsafe.escape`, with the common case (a plain
    str) made without `Markup.__new__`, which is Python code since MarkupSafe 3.

    A paper page escapes about 40 values; this made it render 11% faster (0.127 to 0.113 ms
    a page, the same bytes). Anything but an exact str (Markup, numbers, dates) takes
    `escape` itself.
    """
    if type(value) is str:
        return _new(Markup, _escape_inner(value))
    return escape(value)


class _EscapeOutputCodeGenerator(CodeGenerator):
    """Compiles templates whose output goes through `escape_output`.

    Jinja's compiled module imports `escape` from jinja2.runtime first thing, and its
    functions look the name up when called: one line at the module's end rebinds it.
    """

    def visit_Template(self, node: Any, frame: Any = None) -> None:
        super().visit_Template(node, frame)
        self.writeline("from paperroute.render import escape_output as escape")


class _PageEnvironment(Environment):
    code_generator_class = _EscapeOutputCodeGenerator


# What a compiled template's code depends on besides its source: Jinja, and this module (the
# code generator above, the environment's options, the filters a template may name).
_COMPILER_KEY = hashlib.sha256(f"{jinja2.__version__}\0".encode() + Path(__file__).read_bytes()).hexdigest()


class _TemplateCache(FileSystemBytecodeCache):
    """Compiled templates kept between builds, beside the build state: compiling them took 0.04
    s of every build that renders a page (0.003 s to load them back).

    A cached template is used only if its source, Jinja and this module are the ones it was
    compiled with; an unreadable entry is compiled again, and one that cannot be written is
    simply not kept: the cache can make a build faster, never fail it.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(str(directory), "%s.jinja")

    def get_source_checksum(self, source: str) -> str:
        return hashlib.sha256(f"{_COMPILER_KEY}\0{source}".encode("utf-8", "surrogatepass")).hexdigest()

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # cut short or overwritten: pickle and marshal fail in many ways
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


class Renderer:
    """One build's templates, compiled once, plus what every page shows.

    `shared` holds the build-wide template globals (the topic navigation, topic names, the
    site's feeds); the URL scheme's path functions are globals too, so templates build every
    link from `paperroute.urls` and nowhere else: `url(search_path())`, or for the links to a
    paper, a day or a topic, the filters `paper_url`, `day_url` and `topic_url`.
    """

    def __init__(self, site: SiteConfig, shared: Mapping[str, Any], templates_dir: Path = TEMPLATES_DIR,
                 cache_dir: Path | None = None):
        """`cache_dir`: where compiled templates are kept between builds (`_TemplateCache`)."""
        self.environment = _PageEnvironment(
            loader=FileSystemLoader(str(templates_dir)),
            bytecode_cache=_TemplateCache(cache_dir) if cache_dir is not None else None,
            autoescape=True,
            undefined=StrictUndefined,
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.environment.globals.update(
            site=site,
            url=_url,
            absolute_url=lambda target: absolute(site.base_url, target),
            home_path=urls.home_path,
            day_path=urls.day_path,
            paper_path=urls.paper_path,
            topic_path=urls.topic_path,
            topic_feed_path=urls.topic_feed_path,
            archive_path=urls.archive_path,
            search_path=urls.search_path,
            **shared,
        )
        self.environment.filters.update(
            long_date=long_date,
            short_date=short_date,
            month_name=month_name,
            author_line=author_line,
            abstract_html=abstract_html,
            summary=plain_summary,
            count_of=count_of,
            without=without,
            iso=dt.date.isoformat,
            paper_url=_link_to(urls.paper_path),
            day_url=_link_to(urls.day_path),
            topic_url=_link_to(urls.topic_path),
            topic_name=_name_of(shared.get("topic_names", {})),
        )
        self.environment.filters["shared_partial"] = self._shared_partial
        self._partial_cache: dict[tuple, Markup] = {}
        self._templates_dir = Path(templates_dir)
        try:
            self.templates: dict[str, Template] = {
                name: self.environment.get_template(name) for name in PAGE_TEMPLATES
            }
        except TemplateError as err:
            raise template_error(err, self._templates_dir) from None

    @pass_context
    def _shared_partial(self, context: Context, name: str) -> Markup:
        """A partial every page shows (head links, site bar, topic navigation, footer), rendered
        once per link depth, current topic and current section instead of once per page.

        Such a partial may depend on the page only through its links' `../` prefix (or absolute
        links), `current_topic`, and whether the page is the home or archive page: that is the
        cache key. Rendering them 100,000 times was a fifth of a large build's time. A filter
        (`"partials/site_bar.html" | shared_partial`), as the links are: Jinja calls a filter
        directly, a global through `Context.call` (a paper page renders 4.6% faster).
        """
        page_path = context["page_path"]
        current = context.get("current_topic")
        section = page_path if page_path in _SECTION_PATHS else None
        key = (name, context["absolute_links"], _link_prefix(page_path), current, section)
        cached = self._partial_cache.get(key)
        if cached is None:
            partial = self.environment.get_template(name)
            cached = self._partial_cache[key] = Markup(partial.render(
                page_path=page_path, absolute_links=context["absolute_links"],
                **({"current_topic": current} if current is not None else {})).rstrip("\n"))
        return cached

    def render(self, template: str, page_path: str, context: Mapping[str, Any], *,
               absolute_links: bool = False) -> str:
        try:
            return self.templates[template].render(page_path=page_path, absolute_links=absolute_links, **context)
        except TemplateError as err:
            raise template_error(err, self._templates_dir) from None
