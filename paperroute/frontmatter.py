"""Front matter in the store's own canonical layout, read without PyYAML.

A cold build of 100,000 papers spent most of its parsing time in PyYAML's constructor (about
0.3 ms a file even with the C scanner). The store writes every file in one layout (see
`store.render_paper_file`): `key: value` lines, lists as `- item` at the key's indent, one
level of `  key: value` mappings, and list items that are such mappings (`sources`). This
module reads exactly that subset and nothing more.

It returns None for anything outside the subset (a folded long title, a double-quoted string,
a number YAML 1.1 would read in a surprising way, a tab, a duplicate key, a comment), and the
caller then hands the text to PyYAML, so a file means what YAML says it means and a bad file
gets YAML's error with its line. tests/test_frontmatter.py checks both readers agree on every
file of the demo content and on tricky values.
"""

from __future__ import annotations

import re
from typing import Any

# A date stays text (the store's loader has no timestamp resolver) and is no YAML 1.1 number.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_INT = re.compile(r"(?:0|-?[1-9][0-9]{0,17})\Z")
# Characters a YAML 1.1 integer can hold: a digit-led value with any other is text.
_INT_CHARS = frozenset("0123456789_abcdefABCDEFxob:+-")
# Words YAML 1.1 reads as null or as a boolean, and the empty flow collections the dumper writes.
_WORDS: dict[str, Any] = {
    **dict.fromkeys("~ null Null NULL".split()),
    **dict.fromkeys("true True TRUE yes Yes YES on On ON".split(), True),
    **dict.fromkeys("false False FALSE no No NO off Off OFF".split(), False),
}


class _Outside(Exception):
    """The text is not in the canonical subset: PyYAML must read it."""


def _scalar(text: str) -> Any:
    """One value. Plain text must start with an ASCII letter (no indicator, no merge key) or be
    digit-led with a character no integer has; `str.isprintable` turns away every character
    YAML would reject, quote or read as a line break, and `: `, ` #`, a final colon or space
    would change what YAML reads.
    """
    if text in _WORDS:
        return _WORDS[text]
    if not text or not text.isprintable():
        raise _Outside
    first = text[0]
    if first == "'":
        if len(text) < 2 or text[-1] != "'" or "'" in text[1:-1].replace("''", ""):
            raise _Outside
        return text[1:-1].replace("''", "'")
    if first.isdigit():
        if _INT.match(text):
            return int(text)
        if not _DATE.match(text) and _INT_CHARS.issuperset(text):
            raise _Outside
    elif not (first.isascii() and first.isalpha()):
        if text == "[]":
            return []
        if text == "{}":
            return {}
        raise _Outside
    if ": " in text or " #" in text or text[-1] in ": ":
        raise _Outside
    return text


def _entry(line: str) -> tuple[str, str | None]:
    """`key: value` → (key, value); `key:` → (key, None), a block follows."""
    key, colon, value = line.partition(":")
    if not colon or not key.isidentifier() or not key.isascii() or key in _WORDS:
        raise _Outside
    if not value:
        return key, None
    if value[0] != " ":
        raise _Outside
    return key, value[1:]


def _mapping_into(target: dict[str, Any], key: str, value: Any) -> None:
    if key in target:
        raise _Outside
    target[key] = value


def read_canonical(front_text: str) -> dict[str, Any] | None:
    """The front matter as PyYAML would load it, or None when it is not in the canonical layout."""
    try:
        return _read(front_text.split("\n"))
    except _Outside:
        return None


def _read(lines: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    index = 0
    while index < len(lines):
        key, value = _entry(lines[index])
        index += 1
        if value is not None:
            _mapping_into(result, key, _scalar(value))
            continue
        block: list[str] = []
        while index < len(lines) and lines[index].startswith(("- ", "  ")):
            block.append(lines[index])
            index += 1
        if not block:
            raise _Outside  # `key:` alone is null in YAML: rare enough to leave to PyYAML
        _mapping_into(result, key, _block(block))
    return result


def _block(block: list[str]) -> Any:
    if block[0].startswith("  "):  # a nested mapping, two spaces in
        nested: dict[str, Any] = {}
        for line in block:
            if not line.startswith("  ") or line.startswith("   "):
                raise _Outside
            key, value = _entry(line[2:])
            if value is None:
                raise _Outside
            _mapping_into(nested, key, _scalar(value))
        return nested
    items: list[Any] = []
    for line in block:
        if line.startswith("- "):
            rest = line[2:]
            key, colon, _ = rest.partition(": ")
            if colon and key.isidentifier():  # a list item that is a mapping, then "  key: value" lines
                key, value = _entry(rest)
                if value is None:
                    raise _Outside
                items.append({key: _scalar(value)})
            else:
                items.append(_scalar(rest))
        elif isinstance(items[-1] if items else None, dict) and not line.startswith("   "):
            key, value = _entry(line[2:])
            if value is None:
                raise _Outside
            _mapping_into(items[-1], key, _scalar(value))
        else:
            raise _Outside
    return items
