"""paperroute.yaml: a mistake in it is a one-line error naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperroute.config import load_config
from paperroute.errors import InputError

DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(("text", "line", "words"), [
    ("site:\n\ttitle: x\n", 2, "found character '\\t'"),  # read by libyaml, reported by PyYAML
    ("site:\n  title: [x\n", 3, "invalid YAML"),
    (f"site: {DEEP}\n", 1, "nesting depth"),  # PyYAML alone would recurse until Python stops it
    ("- a\n- b\n", 1, "mapping of sections"),
])
def test_a_bad_settings_file_names_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "paperroute.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_config(path, env={})
    assert (caught.value.path, caught.value.line) == (str(path), line)
    assert words in caught.value.message, caught.value.message


def test_a_good_settings_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "paperroute.yaml"
    path.write_text("site:\n  title: Papers of the day\n  topic_page_size: 7\n", encoding="utf-8")
    site = load_config(path, env={}).site
    assert (site.title, site.topic_page_size) == ("Papers of the day", 7)
