"""`update` end to end, as a cron runs it: a real process against a loopback server replaying HF and arXiv."""

import hashlib
import json
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from conftest import ROOT
from paperroute.fetch import ARXIV_URL_ENV, HF_URL_ENV
from paperroute.store import ContentStore
from replay_server import Reply, ReplayServer

DATA = Path(__file__).parent / "data" / "sources"
HF_BODY = json.dumps(json.loads((DATA / "hf_daily_papers_2025-03-04.json").read_text())).encode()
ARXIV_BODY = (DATA / "arxiv_api_cs.CL.xml").read_bytes()


@pytest.fixture
def server():
    replay = ReplayServer().start()
    yield replay
    replay.stop()


def update(cwd: Path, server: ReplayServer, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", HF_URL_ENV: server.url("/api/daily_papers"), ARXIV_URL_ENV: server.url("/api/query")}
    return subprocess.run([sys.executable, str(ROOT / "build.py"), "update", "--date", "2025-03-04", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def tree(root: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_update_twice_fetches_ingests_builds_mails_then_changes_nothing(server, tmp_path):
    server.script("/api/daily_papers", Reply(200, HF_BODY, {"Content-Type": "application/json"}))
    server.script("/api/query", Reply(429, b"", {"Retry-After": "0"}), Reply(200, ARXIV_BODY))
    (tmp_path / "subscribers.yaml").write_text("- email: reader@example.org\n- email: lc@example.org\n  keywords: [forget gate]\n")
    args = ("--arxiv", "cs.CL", "--max", "3", "--outbox", "outbox", "--base-url", "https://papers.example/")

    first = update(tmp_path, server, *args)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    lines = first.stdout.splitlines()
    assert lines[-1] == "update 2025-03-04: 2 source(s) fetched, 4 new and 0 merged papers, " + lines[-1].split("papers, ")[1]
    assert "(saved, 2 attempts)" in lines[1]  # arXiv answered 429 first

    # The raw responses, byte for byte, then one file per paper, all listed on the day.
    assert (tmp_path / "content/sources/hf/2025-03-04-daily-papers.json").read_bytes() == HF_BODY
    assert (tmp_path / "content/sources/arxiv/2025-03-04-cs.CL.xml").read_bytes() == ARXIV_BODY
    papers = {p.arxiv_id: p for p in ContentStore(tmp_path / "content").load()}
    assert sorted(papers) == ["2502.18934", "2503.01785", "2503.01926", "2503.02130"]
    assert {p.date.isoformat() for p in papers.values()} == {"2025-03-04"}
    assert [s.format for s in papers["2503.02130"].sources] == ["arxiv", "hf"]

    # The site: the day page lists the papers; each paper has its page.
    day_page = (tmp_path / "site/days/2025-03-04/index.html").read_text()
    assert "Forgetting Transformer: Softmax Attention with a Forget Gate" in day_page
    assert "Unnatural Languages Are Not Bugs but Features for LLMs" in day_page
    assert len(list((tmp_path / "site/papers").glob("*/index.html"))) == 4

    # The digest: one message per subscriber, filtered by keyword.
    messages = {p.name: BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in (tmp_path / "outbox").glob("*.eml")}
    assert sorted(messages) == ["lc@example.org.eml", "reader@example.org.eml"]
    everything = messages["reader@example.org.eml"].get_body(("plain",)).get_content()
    filtered = messages["lc@example.org.eml"].get_body(("plain",)).get_content()
    assert "Unnatural Languages" in everything and "Forgetting Transformer" in everything
    assert "Forgetting Transformer" in filtered and "Unnatural Languages" not in filtered

    before = tree(tmp_path)
    second = update(tmp_path, server, *args)
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 merged" in second.stdout and "(unchanged)" in second.stdout
    assert second.stdout.splitlines()[-1] == "update 2025-03-04: 2 source(s) fetched, 0 new and 0 merged papers, 0 site files written"
    assert tree(tmp_path) == before


def test_a_rejected_response_stops_before_build_and_digest(server, tmp_path):
    server.script("/api/daily_papers", Reply(200, b'[{"paper": {"id": "2503.02130", "title": "T"}'))
    (tmp_path / "subscribers.yaml").write_text("- email: reader@example.org\n")
    result = update(tmp_path, server, "--outbox", "outbox")
    assert result.returncode == 1
    saved = "content/sources/hf/2025-03-04-daily-papers.json"
    assert result.stderr == f"paperroute: error: {saved}:1: not valid JSON: Expecting ',' delimiter (column 46) (the response is kept in this file)\n"
    assert (tmp_path / saved).exists()
    assert not (tmp_path / "site").exists() and not (tmp_path / "outbox").exists()
    assert not (tmp_path / "content" / "papers").exists()


def test_a_failed_download_changes_nothing(server, tmp_path):
    server.script("/api/daily_papers", Reply(500, b"oops"))
    result = update(tmp_path, server, "--retries", "0")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "HTTP 500 Internal Server Error (gave up after 1 attempt, no retries)" in result.stderr
    assert not (tmp_path / "content").exists() and not (tmp_path / "site").exists()


def test_without_subscribers_the_digest_step_is_skipped(server, tmp_path):
    server.script("/api/daily_papers", Reply(200, b"[]"))
    result = update(tmp_path, server)
    assert result.returncode == 0, result.stderr
    assert "digest 2025-03-04: skipped (no subscribers file subscribers.yaml)" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("update 2025-03-04: 1 source(s) fetched, 0 new and 0 merged papers")
