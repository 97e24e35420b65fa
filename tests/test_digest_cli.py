"""`digest` end to end, as cron or a person runs it: a real process, a real store, a real SMTP
server (aiosmtpd on 127.0.0.1), exit codes and the one-line summary; and the ledger across a
process killed with SIGKILL in the middle of a send."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from conftest import free_port, make_paper, write_store
from paperroute.commands.digest import plan_digest
from paperroute.config import load_config
from paperroute.digest.ledger import SENDING, SENT, Ledger
from paperroute.errors import InputError
from test_digest_send import RecordingServer, smtp_server

ROOT = Path(__file__).resolve().parent.parent
READERS = [f"reader{i}@example.org" for i in range(8)]


def run_digest(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "build.py"), "digest", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def write_project(root: Path, port: int, subscribers: str) -> Path:
    """A project folder as a user has it: content/, paperroute.yaml, subscribers.yaml."""
    write_store(root / "content", [
        make_paper("Ring Attention for Million-Token Context", "2026-03-12", topics=["long-context"], upvotes=30),
        make_paper("A Code Model That Writes Tests", "2026-03-12", topics=["code"], upvotes=5),
        make_paper("Scaling Laws Revisited", "2026-03-12", topics=["training"]),
        make_paper("An Older Paper on Code Review", "2026-03-11", topics=["code"]),
    ])
    (root / "paperroute.yaml").write_text(f"""\
site:
  title: paperroute
  base_url: https://papers.example.org/
digest:
  sender: "paperroute <digest@papers.example.org>"
  unsubscribe_url: "https://papers.example.org/unsubscribe?email={{email}}"
smtp:
  host: 127.0.0.1
  port: {port}
  timeout: 20
""", encoding="utf-8")
    (root / "subscribers.yaml").write_text(subscribers, encoding="utf-8")
    return root


def subscribers_yaml(addresses: list[str]) -> str:
    return "".join(f"- email: {address}\n" for address in addresses)


MIXED = """\
- email: all@example.org
- email: coder@example.org
  topics: [code]
- email: nobody@example.org
  keywords: [quantum]
- email: scaling@example.org
  keywords: [SCALING]
  exclude: [ring]
"""


def test_outbox_writes_one_eml_per_subscriber_and_is_reproducible(tmp_path):
    project = write_project(tmp_path, free_port(), MIXED)
    result = run_digest("--outbox", "out", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "digest 2026-03-12: 3 papers, 3 written to out, 1 skipped (empty)\n"
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    files = sorted(p.name for p in (project / "out").iterdir())
    assert files == ["all@example.org.eml", "coder@example.org.eml", "scaling@example.org.eml"]
    coder = email.message_from_bytes((project / "out" / "coder@example.org.eml").read_bytes(), policy=email.policy.default)
    assert coder["To"] == "coder@example.org"
    assert coder["Subject"] == "paperroute digest 2026-03-12: 1 paper"
    assert "A Code Model That Writes Tests" in coder.get_body(("plain",)).get_content()
    assert "An Older Paper" not in coder.get_body(("plain",)).get_content()

    before = {name: (project / "out" / name).read_bytes() for name in files}
    again = run_digest("--outbox", "out", cwd=project)
    assert again.stdout == "digest 2026-03-12: 3 papers, 3 in out (0 written, 3 unchanged), 1 skipped (empty)\n"
    assert {name: (project / "out" / name).read_bytes() for name in files} == before


def test_date_picks_another_day_and_a_day_without_papers_sends_nothing(tmp_path):
    project = write_project(tmp_path, free_port(), MIXED)
    older = run_digest("--date", "2026-03-11", "--outbox", "older", cwd=project)
    assert older.stdout == "digest 2026-03-11: 1 papers, 2 written to older, 2 skipped (empty)\n"
    message = email.message_from_bytes((project / "older" / "coder@example.org.eml").read_bytes(),
                                       policy=email.policy.default)
    assert "An Older Paper on Code Review" in message.get_body(("plain",)).get_content()
    empty = run_digest("--date", "2026-03-14", cwd=project)
    assert empty.returncode == 0
    assert empty.stdout.startswith("digest 2026-03-14: 0 papers, 0 to send, 4 skipped (empty)")


def test_without_outbox_or_send_it_only_checks_and_counts(tmp_path):
    project = write_project(tmp_path, free_port(), MIXED)
    result = run_digest(cwd=project)
    assert result.returncode == 0
    assert result.stdout == ("digest 2026-03-12: 3 papers, 3 to send, 1 skipped (empty); "
                             "nothing sent (use --outbox DIR or --send)\n")
    assert not (project / "digest-ledger.sqlite3").exists()


def test_send_delivers_then_a_rerun_sends_nothing(tmp_path):
    server = RecordingServer()
    with smtp_server(server) as port:
        project = write_project(tmp_path, port, MIXED)
        first = run_digest("--send", cwd=project)
        second = run_digest("--send", cwd=project)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "digest 2026-03-12: 3 papers, 3 sent, 1 skipped (empty), 0 refused\n"
    assert first.stderr == ""
    assert second.stdout == "digest 2026-03-12: 3 papers, 0 sent, 1 skipped (empty), 0 refused, 3 already sent\n"
    assert server.received_by() == Counter({"all@example.org": 1, "coder@example.org": 1, "scaling@example.org": 1})
    assert 1 <= len(server.sessions) <= 2  # smtp.connections: 2 by default, each reused
    received = {recipient: email.message_from_bytes(data, policy=email.policy.default) for recipient, data in server.messages}
    assert received["all@example.org"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "View in browser" in received["all@example.org"].get_body(("html",)).get_content()


def test_a_refused_recipient_is_reported_recorded_and_not_retried(tmp_path):
    server = RecordingServer(refuse=("gone@example.org",))
    with smtp_server(server) as port:
        project = write_project(tmp_path, port, subscribers_yaml(["a@example.org", "gone@example.org", "b@example.org"]))
        first = run_digest("--send", cwd=project)
        second = run_digest("--send", cwd=project)
    assert first.returncode == 0
    assert first.stdout == "digest 2026-03-12: 3 papers, 2 sent, 0 skipped (empty), 1 refused\n"
    assert first.stderr == "paperroute: refused gone@example.org: 550 5.1.1 <gone@example.org>: mailbox unavailable\n"
    assert second.stdout == "digest 2026-03-12: 3 papers, 0 sent, 0 skipped (empty), 1 refused, 2 already sent\n"
    assert second.stderr == ""
    assert server.rcpt_attempts["gone@example.org"] == 1
    assert server.received_by() == Counter({"a@example.org": 1, "b@example.org": 1})


def test_a_dead_server_is_one_line_exit_1_and_the_next_run_resumes(tmp_path):
    port = free_port()
    project = write_project(tmp_path, 1, subscribers_yaml(READERS[:3]))
    env = {"PAPERROUTE_SMTP_PORT": str(port)}  # the environment wins over paperroute.yaml's port 1
    down = run_digest("--send", cwd=project, env=env)
    assert down.returncode == 1
    assert down.stdout == ""
    assert down.stderr.count("\n") == 1 and "Traceback" not in down.stderr
    assert down.stderr.startswith(f"paperroute: error: smtp 127.0.0.1:{port}: cannot connect (")
    assert down.stderr.endswith("0 sent before that, run again to resume\n")
    server = RecordingServer()
    with smtp_server(server, port=port):
        up = run_digest("--send", cwd=project, env=env)
    assert up.returncode == 0
    assert up.stdout == "digest 2026-03-12: 3 papers, 3 sent, 0 skipped (empty), 0 refused\n"
    assert server.received_by() == Counter({address: 1 for address in READERS[:3]})


def wait_for(condition, what: str, limit: float = 60.0) -> None:
    """Poll until `condition()` holds; a deadline only so a broken run fails instead of hanging."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


def sent_in_ledger(project) -> int:
    """How many messages the ledger records as sent, read without writing to it."""
    path = project / "digest-ledger.sqlite3"
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return db.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or busy for a moment
        return 0


def test_killed_mid_send_then_rerun_every_subscriber_gets_exactly_one(tmp_path):
    """SIGKILL while the server holds the 4th message and every one after it, before answering
    DATA; with two connections, one or two messages are on the wire when the process dies."""
    server = RecordingServer(hold_from=4)
    with smtp_server(server) as port:
        project = write_project(tmp_path, port, subscribers_yaml(READERS))
        process = subprocess.Popen([sys.executable, str(ROOT / "build.py"), "digest", "--send"], cwd=project,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Kill once the three answered messages are recorded as sent: a kill between a "250"
            # and its record is the one window in which a rerun sends a message again (README).
            wait_for(lambda: server.holding.is_set() and sent_in_ledger(project) == 3,
                     "the 4th message to reach the server and the first three to be recorded")
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=60)
            process.stdout.close()
            process.stderr.close()
        assert process.returncode == -signal.SIGKILL
        # The server lost its client before answering: aiosmtpd drops the unfinished messages.
        wait_for(lambda: server.abandoned == server.held, "the server to drop the unfinished messages")
        # Two sessions run side by side, so which three got through first is not fixed: three
        # different readers, once each, and exactly those are "sent" in the ledger.
        received = server.received_by()
        assert sorted(received.values()) == [1, 1, 1] and set(received) <= set(READERS)
        with Ledger(project / "digest-ledger.sqlite3") as ledger:
            entries = ledger.entries(dt.date(2026, 3, 12))
        assert {key for key, entry in entries.items() if entry.status == SENT} == set(received)
        cut_off = [key for key, entry in entries.items() if entry.status == SENDING]
        assert 1 <= len(cut_off) <= 2 and len(entries) == 3 + len(cut_off)

        server.hold_from = 0
        server.release.set()
        rerun = run_digest("--send", cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout == ("digest 2026-03-12: 3 papers, 5 sent, 0 skipped (empty), 0 refused, 3 already sent, "
                            f"{len(cut_off)} resent after an interrupted run\n")
    assert server.received_by() == Counter({address: 1 for address in READERS})


def test_a_mistake_in_the_subscribers_file_is_one_line_with_file_and_line(tmp_path):
    project = write_project(tmp_path, free_port(), "- email: a@example.org\n- email: b@example.org\n  topics: [cdoe]\n")
    result = run_digest("--send", cwd=project)
    assert result.returncode == 1
    assert result.stderr.startswith("paperroute: error: subscribers.yaml:3: topics: unknown topic 'cdoe' (known: ")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    missing = run_digest("--subscribers", "nobody.yaml", cwd=project)
    assert missing.returncode == 1
    assert missing.stderr == "paperroute: error: nobody.yaml: subscribers file not found (see subscribers.example.yaml)\n"


def test_an_empty_store_and_a_bad_date_are_clear_errors(tmp_path):
    project = write_project(tmp_path, free_port(), MIXED)
    empty = run_digest("--content", "no-such-store", cwd=project)
    assert (empty.returncode, empty.stderr) == (1, "paperroute: error: no-such-store: the content store has no papers yet\n")
    bad_date = run_digest("--date", "2026-02-30", cwd=project)
    assert bad_date.returncode == 2 and "'2026-02-30' is not a YYYY-MM-DD date" in bad_date.stderr


def test_subscribers_with_the_same_frame_come_one_after_another(tmp_path):
    """So each frame is rendered once; the file's order otherwise, and the empty ones counted once."""
    project = write_project(tmp_path, free_port(), """\
- email: a@example.org
- email: coder@example.org
  topics: [code]
- email: nobody@example.org
  keywords: [quantum]
- email: b@example.org
""")
    plan = plan_digest(project / "content", None, project / "subscribers.yaml", load_config(project / "paperroute.yaml"))
    order = [subscriber.email for subscriber, _ in plan.recipients(quiet=True)]
    assert order == ["a@example.org", "b@example.org", "coder@example.org"]
    assert plan.skipped == 1
    assert [subscriber.email for subscriber, _ in plan.recipients(quiet=True)] == order and plan.skipped == 1


def test_smtp_connections_out_of_range_is_one_line(tmp_path):
    project = write_project(tmp_path, free_port(), MIXED)
    with (project / "paperroute.yaml").open("a", encoding="utf-8") as settings:
        settings.write("  connections: 0\n")  # in the smtp section, the file's last
    result = run_digest("--send", cwd=project)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("paperroute: error: paperroute.yaml:")  # and the line, since the settings check it
    assert result.stderr.endswith(": smtp.connections: must be 1 to 16, got 0\n") and result.stderr.count("\n") == 1


def test_a_day_is_its_papers_dates_and_hand_edits_are_seen_by_the_next_digest(tmp_path):
    """The digest reads one day's files through the store's index (`storeindex`): a paper's
    day is its front matter's, not its folder's, and an edit after the index was made counts."""
    project = write_project(tmp_path, free_port(), "- email: a@example.org\n  topics: [hand-made]\n")
    config = load_config(project / "paperroute.yaml")
    with pytest.raises(InputError, match="unknown topic 'hand-made'"):
        plan_digest(project / "content", None, project / "subscribers.yaml", config)
    # By hand: the older paper moves to a later day and gets a topic of its own; its file stays.
    path = project / "content/papers/2026-03-11/an-older-paper-on-code-review.md"
    path.write_text(path.read_text().replace("date: 2026-03-11", "date: 2026-03-13").replace("- code", "- hand-made"))
    plan = plan_digest(project / "content", None, project / "subscribers.yaml", config)
    assert plan.edition.date == dt.date(2026, 3, 13)
    assert plan.edition.total == 1
    assert [(subscriber.email, [paper.title for paper in papers]) for subscriber, papers in plan.recipients(quiet=True)] \
        == [("a@example.org", ["An Older Paper on Code Review"])]
    assert plan_digest(project / "content", dt.date(2026, 3, 11), project / "subscribers.yaml", config).edition.total == 0
