"""The real fetch code against a real HTTP server on 127.0.0.1 replaying recorded responses."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, free_port
from paperroute import cli
from paperroute.errors import InputError
from paperroute.fetch import ARXIV_URL_ENV, HF_URL_ENV, RetryPolicy, fetch_hf, retry_wait, save_response
from paperroute.store import ContentStore
from replay_server import Reply, ReplayServer

DATA = Path(__file__).parent / "data" / "sources"
HF_BODY = json.dumps(json.loads((DATA / "hf_daily_papers_2025-03-04.json").read_text())).encode()  # as the API sends it: one line
ARXIV_BODY = (DATA / "arxiv_api_cs.CL.xml").read_bytes()
DAY = dt.date(2025, 3, 4)
QUICK = RetryPolicy(attempts=3, first_wait=0.01, longest_wait=5)


@pytest.fixture
def server():
    replay = ReplayServer().start()
    yield replay
    replay.stop()


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_429_then_200_is_retried_and_the_raw_response_saved(server, tmp_path, monkeypatch):
    monkeypatch.setenv(HF_URL_ENV, server.script("/api/daily_papers",
                                                 Reply(429, b"slow down", {"Retry-After": "0"}), Reply(200, HF_BODY)))
    fetched = fetch_hf(tmp_path / "content", DAY, timeout=5, policy=QUICK)
    assert fetched.attempts == 2
    assert fetched.path == tmp_path / "content" / "sources" / "hf" / "2025-03-04-daily-papers.json"
    assert fetched.path.read_bytes() == HF_BODY
    assert [r.query for r in server.requests] == [{"date": ["2025-03-04"]}] * 2
    assert server.requests[0].headers["User-Agent"].startswith("paperroute/")


def test_server_errors_back_off_then_give_up_naming_the_status(server, tmp_path, monkeypatch):
    monkeypatch.setenv(HF_URL_ENV, server.script("/api/daily_papers", Reply(503, b"down"), Reply(200, HF_BODY)))
    assert fetch_hf(tmp_path / "a", DAY, timeout=5, policy=QUICK).attempts == 2
    server.script("/api/daily_papers", Reply(502, b"bad gateway"))
    server.requests.clear()
    with pytest.raises(InputError, match=r"HTTP 502 Bad Gateway \(gave up after 3 attempts\)"):
        fetch_hf(tmp_path / "b", DAY, timeout=5, policy=QUICK)
    assert len(server.requests) == 3
    assert not (tmp_path / "b").exists()


def test_a_long_retry_after_fails_at_once_instead_of_hanging(server, tmp_path, monkeypatch):
    monkeypatch.setenv(HF_URL_ENV, server.script("/api/daily_papers", Reply(429, b"", {"Retry-After": "3600"})))
    with pytest.raises(InputError, match="asks to wait 3600s"):
        fetch_hf(tmp_path, DAY, timeout=5, policy=QUICK)
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(server, tmp_path, monkeypatch):
    monkeypatch.setenv(HF_URL_ENV, server.script("/api/daily_papers", Reply(404, b"no such day")))
    with pytest.raises(InputError, match="HTTP 404 Not Found") as err:
        fetch_hf(tmp_path, DAY, timeout=5, policy=QUICK)
    assert err.value.path.endswith("/api/daily_papers?date=2025-03-04")
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(server, tmp_path, monkeypatch):
    monkeypatch.setenv(HF_URL_ENV, server.script("/api/daily_papers", Reply(200, HF_BODY, delay=1.5), Reply(200, HF_BODY)))
    assert fetch_hf(tmp_path / "a", DAY, timeout=0.3, policy=QUICK).attempts == 2
    server.script("/api/daily_papers", Reply(200, HF_BODY, delay=1.5))
    with pytest.raises(InputError, match=r"no answer within 0.3s \(gave up after 2 attempts\)"):
        fetch_hf(tmp_path / "b", DAY, timeout=0.3, policy=RetryPolicy(attempts=2, first_wait=0.01))


def test_fetch_hf_command_saves_then_ingests(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(HF_URL_ENV, server.script("/api/daily_papers", Reply(200, HF_BODY)))
    content = tmp_path / "content"
    code, out, err = run_cli(capsys, "fetch", "hf", "--date", "2025-03-04", "--content", str(content))
    assert (code, err) == (0, "")
    assert out.count("\n") == 1 and "3 new" in out and "2025-03-04-daily-papers.json (saved)" in out
    papers = ContentStore(content).load()
    assert sorted(p.arxiv_id for p in papers) == ["2502.18934", "2503.01785", "2503.02130"]
    assert {s.file for p in papers for s in p.sources} == {"2025-03-04-daily-papers.json"}
    before = {p: p.read_bytes() for p in content.rglob("*") if p.is_file()}
    code, out, _ = run_cli(capsys, "fetch", "hf", "--date", "2025-03-04", "--content", str(content))
    assert code == 0 and "(unchanged)" in out and "0 new, 0 merged" in out
    assert {p: p.read_bytes() for p in content.rglob("*") if p.is_file()} == before


def test_malformed_json_fails_naming_the_saved_file(server, tmp_path, monkeypatch, capsys):
    broken = HF_BODY[: len(HF_BODY) // 2]
    monkeypatch.setenv(HF_URL_ENV, server.script("/api/daily_papers", Reply(200, b'[\n' + broken)))
    content = tmp_path / "content"
    code, out, err = run_cli(capsys, "fetch", "hf", "--date", "2025-03-04", "--content", str(content))
    saved = content / "sources" / "hf" / "2025-03-04-daily-papers.json"
    assert code == 1 and out == ""
    assert err.startswith(f"paperroute: error: {saved}:2: not valid JSON")
    assert err.rstrip().endswith("(the response is kept in this file)") and err.count("\n") == 1
    assert saved.read_bytes() == b'[\n' + broken
    assert not (content / "papers").exists()


def test_offline_is_one_line_and_exit_1(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/api/daily_papers"
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), "fetch", "hf", "--date", "2025-03-04",
                             "--content", str(tmp_path / "content")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", HF_URL_ENV: closed})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"paperroute: error: {closed}?date=2025-03-04: cannot connect (offline?)")
    assert not (tmp_path / "content").exists()


@pytest.mark.parametrize("url", ["notaurl", "ftp://host/x", "http://[::1", "http://host:99999/x", "http://host:abc/x"])
def test_a_mirror_address_that_is_not_one_is_named(url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(HF_URL_ENV, url)
    code, out, err = run_cli(capsys, "fetch", "hf", "--date", "2025-03-04", "--content", str(tmp_path / "content"))
    assert (code, out) == (1, "") and err == f"paperroute: error: {HF_URL_ENV}: {url!r} is not an http(s) address\n"


def test_fetch_arxiv_command_asks_for_the_category_and_saves_xml(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ARXIV_URL_ENV, server.script("/api/query", Reply(200, ARXIV_BODY, {"Content-Type": "application/atom+xml"})))
    content = tmp_path / "content"
    code, out, err = run_cli(capsys, "fetch", "arxiv", "--category", "cs.CL", "--max", "3",
                             "--date", "2025-03-04", "--content", str(content))
    assert (code, err) == (0, "")
    (request,) = server.requests
    assert request.query == {"search_query": ["cat:cs.CL"], "sortBy": ["submittedDate"], "sortOrder": ["descending"],
                             "start": ["0"], "max_results": ["3"]}
    assert (content / "sources" / "arxiv" / "2025-03-04-cs.CL.xml").read_bytes() == ARXIV_BODY
    papers = ContentStore(content).load()
    assert {p.date for p in papers} == {DAY} and len(papers) == 3


@pytest.mark.parametrize(
    "args",
    [("fetch", "arxiv"), ("fetch", "hf", "--category", "cs.CL"), ("fetch", "arxiv", "--category", "../etc"),
     ("fetch", "arxiv", "--category", "cs.CL", "--max", "5000"), ("fetch", "hf", "--timeout", "0")],
)
def test_bad_usage_exits_2(args, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        sys.exit(cli.main([*args, "--content", str(tmp_path / "c")]))
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_changed_response_is_kept_beside_the_first(tmp_path):
    first, new = save_response(b"[1]", tmp_path, "2025-03-04-daily-papers", ".json")
    assert new and first.name == "2025-03-04-daily-papers.json"
    assert save_response(b"[1]", tmp_path, "2025-03-04-daily-papers", ".json") == (first, False)
    second, new = save_response(b"[1, 2]", tmp_path, "2025-03-04-daily-papers", ".json")
    assert new and second.name.startswith("2025-03-04-daily-papers-") and second.suffix == ".json"
    assert first.read_bytes() == b"[1]" and second.read_bytes() == b"[1, 2]"
    assert save_response(b"[1, 2]", tmp_path, "2025-03-04-daily-papers", ".json") == (second, False)


def test_retry_wait_honours_retry_after_else_doubles():
    policy = RetryPolicy(first_wait=2.0)
    assert [retry_wait(None, attempt, policy) for attempt in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert retry_wait("7", 1, policy) == 7.0
    now = dt.datetime(2025, 3, 4, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert retry_wait("Tue, 04 Mar 2025 12:00:30 GMT", 1, policy, now=now) == 30.0
    assert retry_wait("Tue, 04 Mar 2025 11:00:00 GMT", 1, policy, now=now) == 0.0
    assert retry_wait("soon", 2, policy) == 4.0
