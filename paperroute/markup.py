"""An abstract's Markdown → HTML that is safe to put on a page.

Abstracts come from sources and from people editing files by hand, so they are untrusted.
Two walls, either of which would hold alone: Markdown's raw-HTML pass-through is switched off
(so `<script>` or a `<think>` token in an abstract is shown as the text it is), and the HTML
Markdown produces is then cleaned by nh3 against an allow-list — no script, no event-handler
attributes, no `javascript:` (or any non-web) links, no relative links that would point into
this site from text the site does not control. Plain text with no link has one wall, the
escaping itself: it is the only markup such text becomes (see `abstract_html`).
"""

from __future__ import annotations

import functools
import html
import re
from typing import TYPE_CHECKING, Iterator

import nh3
from markupsafe import Markup

if TYPE_CHECKING:
    import markdown

_ALLOWED_TAGS = {
    "p", "br", "em", "strong", "code", "pre", "a", "ul", "ol", "li", "blockquote", "sub", "sup", "hr",
}
# What the cleaner sets on every link, and `_escape_with_links` on the links it makes.
_LINK_REL = "nofollow noopener noreferrer"
_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    attributes={"a": {"href"}},
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
    link_rel=_LINK_REL,
    strip_comments=True,
)

# A bare web address, as abstracts carry them ("code at https://github.com/x/y."): made an
# autolink so readers can follow it. Trailing punctuation belongs to the sentence, not the URL,
# and an address already inside a Markdown link (`](url)` or `<url>`) is left to Markdown.
# Parentheses and braces end an address: "(code: https://x.org/y)" and LaTeX's \url{...}.
# (The "already inside" test is done in code: a look-behind in front of the pattern would stop
# `re` from jumping straight to each "http", and make the scan five times slower.)
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]{}\"']*[^\s<>()\[\]{}\"'.,;:!?]")


def _bare_urls(text: str) -> Iterator[re.Match[str]]:
    for match in _BARE_URL.finditer(text):
        start = match.start()
        before = text[start - 1] if start else " "
        if not (before.isalnum() or before in "</_" or text[start - 2:start] == "]("):
            yield match


@functools.cache
def _markdown() -> markdown.Markdown:
    """The converter, made when an abstract first needs it: importing Markdown and making it
    took 17 ms of every command that imports this module, and most abstracts never need it."""
    import markdown

    md = markdown.Markdown(extensions=[], output_format="html")
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


# Text with none of Markdown's syntax renders to escaped paragraphs; recognising it skips the
# Markdown pass (about 1 ms an abstract, which is minutes at 100,000 papers shown on several
# pages each). Anything that might be syntax takes the full path: emphasis, code, links,
# entities and escapes anywhere; lists, quotes, headings, rules and indented code at the start
# of a line; a hard break at its end. Python's `re` tries every alternative at every position,
# so the checks are split into a test per character and a per-line test: a character class
# took 2.4 µs to clear an 870-character abstract, `in` for each character 0.2 µs.
_MARKDOWN_CHARACTERS = "\\`*_[<&\t"
_MARKDOWN_LINE_START = re.compile(r" *(?:[-+=>#]|\d+[.)]| {4})")
_BLANK_LINES = re.compile(r"\n\s*\n")
# Abstracts that do need Markdown (LaTeX remnants with `_` and `*`) recur on the day, topic and
# paper pages of one build, and on every rebuild of `serve`.
_MARKDOWN_CACHE_SIZE = 32_768
# Python-Markdown's inline pass is quadratic in a paragraph's length: a 2 MB abstract full of
# `&` and `<` kept a build busy for over ten minutes. arXiv caps an abstract at 1,920
# characters; text ten times longer than that is shown as the plain text it then surely is.
MARKDOWN_MAX_CHARACTERS = 20_000


def _has_any(text: str, characters: str) -> bool:
    return any(character in text for character in characters)


def _needs_markdown(text: str) -> bool:
    if _has_any(text, _MARKDOWN_CHARACTERS):
        return True
    return any(_MARKDOWN_LINE_START.match(line) or line.endswith("  ") for line in text.split("\n"))


def _escape_with_links(text: str) -> str:
    """Escaped text whose bare web addresses are links, as Markdown's autolinks would render
    and the cleaner would hand them back: with its `rel`."""
    if "://" not in text:
        return html.escape(text, quote=False)
    pieces = []
    end = 0
    for match in _bare_urls(text):
        url = html.escape(match.group(0), quote=False)
        pieces.append(html.escape(text[end:match.start()], quote=False))
        pieces.append(f'<a href="{url}" rel="{_LINK_REL}">{url}</a>')
        end = match.end()
    pieces.append(html.escape(text[end:], quote=False))
    return "".join(pieces)


def _plain_paragraphs(text: str) -> str:
    paragraphs = (part.strip("\n") for part in (_BLANK_LINES.split(text.strip()) if "\n" in text else [text.strip()]))
    return "\n".join(f"<p>{_escape_with_links(part)}</p>" for part in paragraphs if part.strip())


@functools.lru_cache(maxsize=_MARKDOWN_CACHE_SIZE)
def _markdown_html(text: str) -> str:
    converter = _markdown()
    converter.reset()
    return converter.convert(text)


def _markdown_with_links(text: str) -> str:
    """Markdown, with bare web addresses made autolinks first so readers can follow them."""
    pieces = []
    end = 0
    for match in _bare_urls(text):
        pieces.append(text[end:match.start()])
        pieces.append(f"<{match.group(0)}>")
        end = match.end()
    pieces.append(text[end:])
    return _markdown_html("".join(pieces))


# Characters the cleaner's HTML parser changes in text (NUL dropped, CR made LF, NBSP written
# as &nbsp;); checked over every code point: escaped text free of them comes back unchanged.
_CLEANER_REWRITES = "\0\r\xa0"


def abstract_html(text: str) -> Markup:
    """Render an abstract's Markdown to sanitised HTML, ready to drop into a template.

    Most abstracts are plain text: their HTML is escaped text in paragraphs, which the
    cleaner would hand back byte for byte, so it is skipped for them: with the character tests
    above, 10.5 µs became 6.3 µs for such an abstract, which a build renders three or four
    times (day, topics, its page). Their bare web addresses too are made links as the cleaner
    gives them back (with its `rel`): half the abstracts of a synthetic store have one, and
    the cleaner took 12 µs of each of their renders (the 10,100 abstracts: 0.114 → 0.088 s).
    Markdown, and the few characters the cleaner rewrites, still go through it; Markdown only
    up to MARKDOWN_MAX_CHARACTERS.
    """
    if len(text) > MARKDOWN_MAX_CHARACTERS or not _needs_markdown(text):
        html = _plain_paragraphs(text)
        return Markup(_CLEANER.clean(html) if _has_any(text, _CLEANER_REWRITES) else html)
    return Markup(_CLEANER.clean(_markdown_with_links(text)))


def plain_summary(text: str, limit: int = 200) -> str:
    """An abstract as one plain line, cut at a word, for description and OpenGraph meta tags."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit + 1]
    cut = cut[: cut.rfind(" ")] if " " in cut else line[:limit]
    return cut.rstrip(" ,;:.") + "…"
