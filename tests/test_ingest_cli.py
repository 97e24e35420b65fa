"""`ingest` end to end, as a user runs it: a real process, real files, exit codes, messages."""

import datetime as dt
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from paperroute.store import ContentStore

ROOT = Path(__file__).resolve().parent.parent
SEED_DATES = {"000": "2026-03-12", "001": "2026-03-11", "002": "2026-03-10", "003": "2026-03-11", "004": "2026-08-26"}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "build.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def ingest_seeds(seeds_dir: Path, content: Path, cwd: Path) -> list[subprocess.CompletedProcess]:
    runs = []
    for path in sorted(seeds_dir.glob("*.txt")):
        runs.append(run("ingest", str(path), "--date", SEED_DATES[path.name[:3]], "--content", str(content), cwd=cwd))
    return runs


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, ) -> Path:
    base = tmp_path_factory.mktemp("seeded")
    seeds = ROOT.parent / "shared" / "seeds"
    for result in ingest_seeds(seeds, base / "content", base):
        assert result.returncode == 0, result.stderr
    return base / "content"


def test_five_seeds_make_637_papers_with_every_source(seeded):
    papers = ContentStore(seeded).load()
    assert len(papers) == 637
    assert sum(len(p.sources) for p in papers) == 741 - 0  # every entry recorded exactly once
    by_title = {p.title: p for p in papers}
    assert len(by_title) == 637
    # The same paper in several captures lives on the first day it appeared.
    multi = [p for p in papers if len(p.sources) > 1]
    assert multi and all(p.date == min(s.seen for s in p.sources) for p in multi)
    assert max(len(p.sources) for p in papers) == 4
    assert all(1 <= len(p.topics) <= 3 for p in papers)
    assert (seeded / "topics.yaml").exists()


def test_demo_content_matches_a_fresh_ingest(seeded):
    """The committed demo store is exactly what ingesting the seeds produces."""
    committed = ROOT / "content"
    assert tree(committed / "papers") == tree(seeded / "papers")


def test_ingesting_again_changes_no_byte(seeded, seeds_dir):
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in seeded.rglob("*") if p.is_file()}
    for result in ingest_seeds(seeds_dir, seeded, seeded.parent):
        assert result.returncode == 0
        assert " 0 new, 0 merged" in result.stdout
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in seeded.rglob("*") if p.is_file()}
    assert after == before


def test_summary_line_counts_entries(tmp_path, seeds_dir):
    result = run("ingest", str(seeds_dir / "000_3839b48107d3acf9.txt"), "--content", str(tmp_path / "c"), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip().splitlines()[-1].startswith("ingested 1 source(s), 121 entries: 121 new")
    # Without --date, 'Mar 12' is the latest Mar 12 not after today.
    today = dt.date.today()
    year = today.year if (today.month, today.day) >= (3, 12) else today.year - 1
    assert (tmp_path / "c" / "papers" / f"{year}-03-12").is_dir()


@pytest.mark.parametrize(
    "name, data, expect",
    [
        ("empty.txt", b"", "empty file"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file"),
        ("notes.txt", b"just a note\n", "unknown format"),
        ("cut.txt", b"Subscribe\n\nMar 12\n\nTitle\n\nAbstract, long enough to be one.\n\nOrphan title\n", "cut.txt:9: title 'Orphan title' has no abstract"),
    ],
)
def test_bad_input_exits_1_with_one_line_and_store_unchanged(tmp_path, seeds_dir, name, data, expect):
    content = tmp_path / "content"
    assert run("ingest", str(seeds_dir / "004_51b3a45dceb6ff00.txt"), "--content", str(content), cwd=tmp_path).returncode == 0
    before = tree(content)
    bad = tmp_path / name
    bad.write_bytes(data)
    result = run("ingest", str(bad), "--content", str(content), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and expect in errors[0] and name in errors[0]
    assert tree(content) == before


def test_hostile_titles_are_ingested_as_text_inside_papers(tmp_path):
    capture = tmp_path / "hostile.txt"
    capture.write_text("Subscribe\n\nMar 12\n\n../../etc/passwd: <script>alert(1)</script>\n\n"
                       "An abstract with <img src=x onerror=alert(1)> in it.\n", encoding="utf-8")
    result = run("ingest", str(capture), "--content", "content", "--date", "2026-03-12", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert sorted(files) == [".content.storeindex", "content/papers/2026-03-12/etc-passwd-script-alert-1-script.md",
                             "content/topics.yaml", "hostile.txt"]
    (paper,) = ContentStore(tmp_path / "content").load()
    assert paper.title == "../../etc/passwd: <script>alert(1)</script>"
    assert "<img src=x onerror=alert(1)>" in paper.abstract


@pytest.mark.parametrize("args, code", [(["ingest"], 2), (["ingest", "x.txt", "--date", "12/03/2026"], 2), (["nonsense"], 2), (["ingest", "--help"], 0)])
def test_usage_errors_exit_2_and_help_exits_0(tmp_path, args, code):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == code
    assert "Traceback" not in result.stderr


def test_missing_file_is_bad_input(tmp_path):
    result = run("ingest", "nowhere.txt", "--content", "c", cwd=tmp_path)
    assert result.returncode == 1 and "nowhere.txt: no such file" in result.stderr
    assert not (tmp_path / "c").exists()
