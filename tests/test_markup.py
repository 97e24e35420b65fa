"""Abstract Markdown → HTML: sanitised, and the plain-text fast path agrees with Markdown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from paperroute.markup import (_CLEANER, MARKDOWN_MAX_CHARACTERS, _markdown_with_links, _needs_markdown,
                               _plain_paragraphs, abstract_html, plain_summary)


def test_hostile_markdown_is_neutralised() -> None:
    html = str(abstract_html(
        "[a](javascript:alert(1)) [b](JAVASCRIPT:alert(2)) [c](data:text/html,x) [d](../../etc/passwd)\n\n"
        "<script>alert(3)</script><img src=x onerror=alert(4)><a href='javascript:alert(5)'>e</a>"
    ))
    document = BeautifulSoup(html, "html.parser")
    assert [tag.name for tag in document.find_all(True)] == ["p", "a", "a", "a", "a", "p"]
    assert all(anchor.get("href") is None for anchor in document.find_all("a"))
    assert document.find_all("p")[1].get_text() == (
        "<script>alert(3)</script><img src=x onerror=alert(4)><a href='javascript:alert(5)'>e</a>")


def test_markdown_and_bare_links_render() -> None:
    html = str(abstract_html("Some **bold** and *em*; `code`; code at https://github.com/x/y. See [p](https://p.org)."))
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
    assert '<a href="https://github.com/x/y" rel="nofollow noopener noreferrer">https://github.com/x/y</a>.' in html
    assert '<a href="https://p.org" rel="nofollow noopener noreferrer">p</a>' in html


def test_angle_bracket_words_stay_visible() -> None:
    assert str(abstract_html("Models that <think> before answering.")) == "<p>Models that &lt;think&gt; before answering.</p>"


plain_text = st.lists(
    st.sampled_from(list("abcXYZ 0123456789.,;:()-+=>#!?'\"/%$^~|{}\n") + ["https://ex.org/a", " http://q.io/x_y ", "\n\n"]),
    max_size=60,
).map("".join)


def rendered(html: str) -> str:
    """HTML as a browser lays it out: white-space runs are one space, none at a paragraph's edges."""
    collapsed = " ".join(_CLEANER.clean(html).split())
    return re.sub(r"\s*(</?p>)\s*", r"\1", collapsed)


@settings(max_examples=500, deadline=None)
@given(plain_text)
def test_the_fast_path_renders_what_markdown_renders(text: str) -> None:
    if not _needs_markdown(text):
        assert rendered(_plain_paragraphs(text)) == rendered(_markdown_with_links(text))


@settings(max_examples=500, deadline=None)
@given(st.one_of(plain_text, st.text(max_size=80), st.text(alphabet="ab \n\r\0\xa0\u2028é&<", max_size=40)))
def test_what_skips_the_cleaner_is_what_the_cleaner_would_give(text: str) -> None:
    """Plain abstracts without links skip nh3: their HTML must be exactly nh3's output."""
    html = abstract_html(text)
    assert html == _CLEANER.clean(html)


def test_links_made_without_the_cleaner_are_what_it_gives_for_every_code_point() -> None:
    """A bare address becomes a link without nh3: whatever character it holds, the link must
    be the cleaner's own output, rel and escaping included. Every character of the BMP and the
    first and last 256 of each other plane; a block at a time, one at a time in a block that
    holds one of Markdown's characters."""
    blocks = [range(start, start + 256) for start in range(0, 0x10000, 256)]
    blocks += [range(plane * 0x10000 + offset, plane * 0x10000 + offset + 256)
               for plane in range(1, 17) for offset in (0, 0xFF00)]
    checked = 0
    for block in blocks:
        characters = [chr(code) for code in block if not 0xD800 <= code < 0xE000]
        together = " ".join(f"https://h.org/{character}b{character}" for character in characters)
        for text in [together] if not _needs_markdown(together) else [f"https://h.org/{c}b{c}" for c in characters]:
            if text and not _needs_markdown(text):
                html = abstract_html(text)
                assert html == _CLEANER.clean(html) and 'rel="nofollow noopener noreferrer"' in html, text
                checked += 1
    assert checked > 500


def test_an_abstract_far_longer_than_any_is_shown_as_plain_text() -> None:
    """Python-Markdown's inline pass is quadratic: past MARKDOWN_MAX_CHARACTERS (ten times
    arXiv's cap) an abstract is escaped text in paragraphs, never Markdown, links still made."""
    sentence = "A **bold** claim & <script>x</script> at https://h.org/a. "
    long = sentence * (MARKDOWN_MAX_CHARACTERS // len(sentence) + 1)
    html = abstract_html(long)
    assert "<strong>" not in html and "**bold**" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert html.count('<a href="https://h.org/a" rel="nofollow noopener noreferrer">') == long.count("https://")
    assert "<strong>bold</strong>" in abstract_html(sentence)  # the same text, short, is Markdown


def test_characters_the_cleaner_rewrites_still_reach_it() -> None:
    assert abstract_html("a\xa0b\rc\0d") == "<p>a&nbsp;b\ncd</p>"


def test_plain_summary_cuts_at_a_word() -> None:
    assert plain_summary("short  text\nhere") == "short text here"
    summary = plain_summary("word " * 100, limit=22)
    assert summary == "word word word word…"


def test_markdown_is_imported_only_when_an_abstract_needs_it() -> None:
    """Importing Markdown and making its converter took 17 ms of every command."""
    probe = ("import sys; from paperroute.markup import abstract_html\n"
             "plain = abstract_html('Plain text, see https://example.org.')\n"
             "before = 'markdown' in sys.modules\n"
             "print(before, 'markdown' in sys.modules, abstract_html('*bold* move') == '<p><em>bold</em> move</p>', "
             "'markdown' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "True", "True"]
