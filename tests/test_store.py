"""The content store: file format, merge rules, idempotence, hand edits, atomic writes."""

import datetime as dt
import marshal
import os
from pathlib import Path

import pytest

from conftest import make_paper
from paperroute.errors import InputError
from paperroute.model import SourceRef
from paperroute.store import ContentStore, merge_paper, parse_paper_file, render_paper_file
from paperroute.storeindex import index_path


def topics_none(paper):
    return ["training"]


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_round_trip_keeps_every_field(tmp_path):
    paper = make_paper(
        "Title: with colon & 'quotes' — and ünïcode",
        authors=["Ada Lovelace", "Alan Turing"],
        arxiv_id="2503.02130",
        upvotes=12,
        links={"arxiv": "https://arxiv.org/abs/2503.02130"},
        position=3,
        extra={"ai_keywords": ["a", "b"], "num_comments": 2},
        abstract="Line one.\n\nSecond paragraph with `code`.",
        slug="t",
    )
    text = render_paper_file(paper)
    again = parse_paper_file(text, tmp_path / "t.md")
    assert again == paper
    assert render_paper_file(again) == text


def test_arxiv_id_stays_a_string(tmp_path):
    path = tmp_path / "p.md"
    paper = parse_paper_file("---\ntitle: T\ndate: 2026-03-12\narxiv_id: 2503.02130\n---\nA.\n", path)
    assert paper.arxiv_id == "2503.02130"


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("title: T\n", 1, "front matter"),
        ("---\ntitle: T\ndate: 2026-03-12\n", 1, "not closed"),
        ("---\ntitle: T\ndate: [oops\n---\n", 4, "front matter"),
        ("---\ntitle: T\ndate: 2026-13-45\n---\n", 3, "date"),
        ("---\ndate: 2026-03-12\n---\n", 1, "title"),
        ("---\ntitle: T\ndate: 2026-03-12\nupvotes: many\n---\n", 4, "upvotes"),
    ],
)
def test_bad_paper_files_name_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad.md"
    with pytest.raises(InputError) as err:
        parse_paper_file(text, path)
    assert err.value.line == line and words in str(err.value) and "bad.md" in str(err.value)


def test_merge_keeps_earliest_date_and_unions_sources():
    later = make_paper("P", "2026-03-12", position=5, sources=[SourceRef("capture", "b.txt", dt.date(2026, 3, 12))])
    earlier = make_paper("P", "2026-03-10", position=2, sources=[SourceRef("capture", "a.txt", dt.date(2026, 3, 10))])
    merged = merge_paper(later, earlier)
    assert merged.date == dt.date(2026, 3, 10) and merged.position == 2
    assert [s.file for s in merged.sources] == ["a.txt", "b.txt"]
    assert merge_paper(merged, earlier) == merged


def test_richer_source_wins_but_equal_source_keeps_existing():
    capture = make_paper("P", abstract="capture text", sources=[SourceRef("capture", "a.txt", dt.date(2026, 3, 12))])
    other_capture = make_paper("P", abstract="other capture text", sources=[SourceRef("capture", "b.txt", dt.date(2026, 3, 12))])
    arxiv = make_paper("P", abstract="arxiv text", authors=["A"], arxiv_id="1", upvotes=3,
                       sources=[SourceRef("arxiv", "x.xml", dt.date(2026, 3, 13))])
    assert merge_paper(capture, other_capture).abstract == "capture text"
    merged = merge_paper(capture, arxiv)
    assert (merged.abstract, merged.authors, merged.arxiv_id, merged.upvotes, merged.date) == (
        "arxiv text", ["A"], "1", 3, dt.date(2026, 3, 12))


def test_store_merges_sightings_and_reingest_changes_nothing(tmp_path):
    store = ContentStore(tmp_path)
    day1 = [make_paper("Same Paper", "2026-03-12", topics=[]), make_paper("Other", "2026-03-12", topics=[])]
    day0 = [make_paper("same paper!", "2026-03-10", topics=[])]
    report = store.merge(day1 + day0, topics_none)
    assert len(report.new) == 2
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.md"))
    assert files == ["papers/2026-03-10/same-paper.md", "papers/2026-03-12/other.md"]
    before = snapshot(tmp_path)
    again = store.merge(day1 + day0, topics_none)
    assert (len(again.new), len(again.updated), again.unchanged) == (0, 0, 2)
    assert snapshot(tmp_path) == before


def test_a_later_earlier_sighting_moves_the_file(tmp_path):
    store = ContentStore(tmp_path)
    store.merge([make_paper("Moving", "2026-03-12", topics=[])], topics_none)
    store.merge([make_paper("Moving", "2026-03-10", topics=[])], topics_none)
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.md")] == ["papers/2026-03-10/moving.md"]


def test_hand_edits_survive_reingest(tmp_path):
    store = ContentStore(tmp_path)
    store.merge([make_paper("Edited", topics=[])], topics_none)
    path = tmp_path / "papers/2026-03-12/edited.md"
    text = path.read_text().replace("- training", "- reasoning\n- code").replace("authors: []", "authors:\n- Grace Hopper")
    text = text.replace("The abstract of Edited.", "A corrected abstract.")
    path.write_text(text)
    report = store.merge([make_paper("Edited", topics=[])], topics_none)
    assert report.unchanged == 1 and path.read_text() == text


def test_hostile_titles_never_escape_the_papers_folder(tmp_path):
    store = ContentStore(tmp_path / "content")
    store.merge([make_paper("../../etc/passwd: a study", topics=[]), make_paper("<script>x</script>", topics=[])], topics_none)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [".content.storeindex",  # the store's index (`storeindex`), beside it
                       "content/papers/2026-03-12/etc-passwd-a-study.md", "content/papers/2026-03-12/script-x-script.md"]
    titles = {p.title for p in store.load()}
    assert titles == {"../../etc/passwd: a study", "<script>x</script>"}


def test_slug_collision_gets_a_stable_suffix(tmp_path):
    store = ContentStore(tmp_path)
    store.merge([make_paper("Same Slug", arxiv_id="1", topics=[]), make_paper("Same-Slug", arxiv_id="2", topics=[])], topics_none)
    slugs = sorted(p.slug for p in store.load())
    assert slugs[0] == "same-slug" and slugs[1].startswith("same-slug-") and len(slugs[1]) == len("same-slug-") + 8


# ---------------------------------------------------------------- the store's index


def _edit_keeping_stamp(path: Path, old: str, new: str) -> None:
    """Change a file's bytes but not its size or mtime: what the index cannot see."""
    assert len(old) == len(new)
    stat = path.stat()
    path.write_text(path.read_text().replace(old, new))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_the_index_stands_in_for_files_whose_stamp_did_not_change(tmp_path):
    store = ContentStore(tmp_path / "content")
    store.merge([make_paper("Alpha beta", topics=[])], topics_none)
    path = tmp_path / "content/papers/2026-03-12/alpha-beta.md"
    _edit_keeping_stamp(path, "title: Alpha beta", "title: Gamma beta")
    # The index still knows the file by its old title, so the sighting finds it (and the file's
    # own values win): the store was not read.
    assert len(store.merge([make_paper("Alpha beta", topics=[])], topics_none).new) == 0
    # A real edit moves the mtime: the file is read again, and the sighting is a new paper.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert [p.title for p in store.merge([make_paper("Alpha beta", topics=[])], topics_none).new] == ["Alpha beta"]


def test_a_damaged_or_missing_index_is_rebuilt_from_the_files(tmp_path):
    store = ContentStore(tmp_path / "content")
    store.merge([make_paper("Alpha", arxiv_id="2501.00001", topics=[])], topics_none)
    index = index_path(tmp_path / "content")
    for damage in (b"not an index", b"", None):
        if damage is None:
            index.unlink()
        else:
            index.write_bytes(damage)
        report = store.merge([make_paper("Alpha, renamed", arxiv_id="2501.00001", topics=[])], topics_none)
        assert (len(report.new), report.unchanged) == (0, 1)
        assert marshal.loads(index.read_bytes())[2].keys() == {"2026-03-12/alpha.md"}


def test_forgotten_files_free_their_slug_and_bad_files_still_fail(tmp_path):
    store = ContentStore(tmp_path / "content")
    store.merge([make_paper("Alpha", topics=[]), make_paper("Beta", topics=[])], topics_none)
    (tmp_path / "content/papers/2026-03-12/alpha.md").unlink()
    store.merge([make_paper("Gamma", topics=[])], topics_none)
    entries = marshal.loads(index_path(tmp_path / "content").read_bytes())[2]
    assert entries.keys() == {"2026-03-12/beta.md", "2026-03-12/gamma.md"}
    assert [p.slug for p in store.merge([make_paper("Alpha", topics=[])], topics_none).new] == ["alpha"]
    beta = tmp_path / "content/papers/2026-03-12/beta.md"
    beta.write_text(beta.read_text().replace("date: 2026-03-12", "date: [oops"))
    with pytest.raises(InputError) as err:
        store.merge([make_paper("Delta", topics=[])], topics_none)
    assert err.value.path == str(beta) and err.value.line == 4  # where YAML finds the list unclosed
