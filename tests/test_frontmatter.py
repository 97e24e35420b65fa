"""The canonical front-matter reader must mean exactly what PyYAML means, or step aside."""

from pathlib import Path

import pytest
import yaml

from paperroute.frontmatter import read_canonical
from paperroute.store import _Loader, parse_paper_file, render_paper_file

ROOT = Path(__file__).resolve().parent.parent


def front_text(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(lines[1:lines.index("---", 1)])


def test_every_demo_file_reads_the_same_as_pyyaml_and_most_take_the_fast_path():
    files = sorted((ROOT / "content" / "papers").glob("*/*.md"))
    assert len(files) == 637
    fast = 0
    for path in files:
        text = front_text(path)
        ours = read_canonical(text)
        if ours is not None:
            fast += 1
            assert ours == yaml.load(text, Loader=_Loader), path
    assert fast > 500  # the quoted titles are left to PyYAML; the rest must not be


@pytest.mark.parametrize("value", [
    "plain text", "Ünïcode after an ASCII start: no", "Müller", "2503.02130", "002_cc6c17ef.txt", "2026-03-12",
    "'52B to 1T: quoted'", "'it''s'", "''", "null", "~", "yes", "No", "on", "OFF", "true", "[]", "{}",
    "0", "42", "-7", "007", "0x1F", "1_000", "1:20", "1e5", "+5", "-0", ".5", "a #comment", "a:b", "a: b",
    "trailing:", "x ", "@at", "`tick`", "\"double\"", "'open", "'a'b'", "[1, 2]", "{a: 1}", "&anchor x",
    "*alias", "!tag x", "|", ">", "%", "a\tb", "a\u2028b", "\ufeffbom", "- dash", "? q", "<<", "=",
])
def test_a_value_is_read_as_pyyaml_reads_it_or_left_to_pyyaml(value):
    text = f"title: {value}\nauthors:\n- {value}\nlinks:\n  x: {value}\nsources:\n- format: {value}\n  file: f"
    try:
        expected = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        expected = None
    ours = read_canonical(text)
    assert ours is None or ours == expected


@pytest.mark.parametrize("text", [
    "title: a\ntitle: b",  # duplicate key: PyYAML keeps the last, we do not guess
    "title: a long title\n  folded onto a second line",
    "yes: 1",  # a key YAML reads as a boolean
    "authors:",  # null
    "links:\n  a: b\n   c: d",
    "title: a # comment",
])
def test_anything_unusual_is_left_to_pyyaml(text):
    assert read_canonical(text) is None


@pytest.mark.parametrize("title", ["A plain title", "It's 'quoted': with a colon", "3D title, digit-led"])
def test_a_written_paper_reads_back_equal(paper_factory, tmp_path, title):
    paper = paper_factory(title=title, authors=["Éric Dupont", "Li Wei"], upvotes=12, slug="a-paper")
    text = render_paper_file(paper)
    assert parse_paper_file(text, tmp_path / "a-paper.md") == paper
