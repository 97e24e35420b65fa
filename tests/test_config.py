"""paperroute.yaml: a mistake in it is a one-line error naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperroute.config import load_config, with_base_url
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


@pytest.mark.parametrize(("text", "words"), [
    ("site:\n  topic_page_size: 0\n", "site.topic_page_size: must be at least 1, got 0"),  # was a ZeroDivisionError
    ("site:\n  feed_size: -1\n", "site.feed_size: must be at least 1, got -1"),
    ("digest:\n  max_attempts: 0\n", "digest.max_attempts: must be at least 1, got 0"),
    ("digest:\n  rate_limit: -0.5\n", "digest.rate_limit: must be at least 0, got -0.5"),
    ("smtp:\n  port: 99999\n", "smtp.port: must be 1 to 65535, got 99999"),
    ("smtp:\n  timeout: 0\n", "smtp.timeout: must be at least 0.1, got 0"),
    ("smtp:\n  connections: 17\n", "smtp.connections: must be 1 to 16, got 17"),
])
def test_a_number_out_of_its_range_is_named_on_its_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "paperroute.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_config(path, env={})
    assert (caught.value.path, caught.value.line, caught.value.message) == (str(path), 2, words)


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_a_port_from_the_environment_is_checked_too(tmp_path: Path, port: str) -> None:
    with pytest.raises(InputError, match=f"PAPERROUTE_SMTP_PORT: '{port}' is not a port number"):
        load_config(tmp_path / "none.yaml", env={"PAPERROUTE_SMTP_PORT": port})
    assert load_config(tmp_path / "none.yaml", env={"PAPERROUTE_SMTP_PORT": "2525"}).smtp.port == 2525


@pytest.mark.parametrize("url", ["ftp://x/", "http://[::1", "https://host:99999/", "https://h/x?q=1", "https://h/?",
                                 "https://h/#top", "https://h/a b/", "https://"])
def test_a_base_url_no_path_can_follow_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(InputError, match="base URL"):
        with_base_url(load_config(tmp_path / "none.yaml", env={}), url)


@pytest.mark.parametrize(("url", "kept"), [("https://h", "https://h/"), ("https://papers.example.org/digest", None),
                                           ("http://[::1]:8080/x/", None), ("http://127.0.0.1:8000/", None)])
def test_a_base_url_ends_in_a_slash(tmp_path: Path, url: str, kept: str | None) -> None:
    site = with_base_url(load_config(tmp_path / "none.yaml", env={}), url).site
    assert site.base_url == (kept or url.rstrip("/") + "/")
