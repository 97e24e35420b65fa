"""SMTP delivery and the ledger against a real server: aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import sqlite3
import ssl
import threading
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import free_port
from paperroute.config import SmtpConfig
from paperroute.digest.ledger import DEFERRED, REFUSED, SENDING, SENT, Ledger
from paperroute.digest.send import Delivery, DeliveryError, Message, Pacer, SmtpMailer, deliver
from paperroute.errors import InputError

DAY = dt.date(2026, 3, 12)
SENDER = "paperroute <digest@paperroute.example>"


class RecordingServer:
    """An aiosmtpd handler that keeps what it accepted, and misbehaves on request.

    refuse / defer: addresses answered 550 / 450 at RCPT.
    drop_after: close the connection after this many messages on it (a server's per-connection cap).
    die_after: stop listening and close the connection after this many messages in all.
    hold_from: the n-th DATA (1-based) and every one after it wait until `release` is set;
    `holding` says the first started, `held` counts them, `abandoned` counts those whose client
    vanished first.
    """

    def __init__(self, refuse: tuple[str, ...] = (), defer: tuple[str, ...] = (), drop_after: int = 0,
                 hold_from: int = 0, die_after: int = 0):
        self.refuse = set(refuse)
        self.defer = set(defer)
        self.drop_after = drop_after
        self.die_after = die_after
        self.listener: asyncio.AbstractServer | None = None  # set by smtp_server()
        self.hold_from = hold_from
        self.holding = threading.Event()
        self.held = 0
        self.release = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self.rcpt_attempts: Counter[str] = Counter()
        self.sessions: list[object] = []  # one per connection that delivered something
        self.tls_sessions = 0
        self.abandoned = 0
        self.logins: list[str] = []
        self._data_started = 0
        self._per_session: Counter[int] = Counter()

    def received_by(self) -> Counter[str]:
        return Counter(recipient for recipient, _ in self.messages)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_attempts[address] += 1
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if address in self.defer:
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self._data_started += 1
        if self.hold_from and self._data_started >= self.hold_from:
            self.held += 1
            self.holding.set()
            try:
                while not self.release.is_set():
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                # The client went away before the answer: aiosmtpd cancels the transaction.
                self.abandoned += 1
                raise
        for recipient in envelope.rcpt_tos:
            self.messages.append((recipient, envelope.original_content))
        if session not in self.sessions:
            self.sessions.append(session)
        if session.ssl is not None:
            self.tls_sessions += 1
        self._per_session[id(session)] += 1
        if self.drop_after and self._per_session[id(session)] % self.drop_after == 0:
            asyncio.get_running_loop().call_soon(server.transport.close)
        if self.die_after and len(self.messages) == self.die_after:
            # The whole server goes away: no more connections, and this one closes.
            self.listener.close()
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 queued"


@contextmanager
def smtp_server(handler: RecordingServer, port: int | None = None, **options) -> Iterator[int]:
    """Run aiosmtpd on 127.0.0.1 (on a port bound here: its own port 0 is broken); yields the port."""
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    handler.listener = controller.server
    try:
        yield port
    finally:
        handler.release.set()
        controller.stop()


def config_for(port: int, **overrides) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, timeout=10.0, **overrides)


def deliveries(addresses: list[str]) -> list[Delivery]:
    def message_for(address: str) -> Message:
        body = (f"From: {SENDER}\r\nTo: {address}\r\nSubject: test\r\nMessage-ID: <{address}@test>\r\n\r\n"
                f".a line that starts with a dot\r\nhello {address}\r\n")
        return Message(f"<{address}@test>", body.encode("ascii"))

    return [Delivery(address.casefold(), address, lambda address=address: message_for(address)) for address in addresses]


def send(port: int, addresses: list[str], ledger_path: Path, connections: int = 1, **options) -> object:
    config = options.pop("config", None) or config_for(port)
    with Ledger(ledger_path) as ledger, ExitStack() as stack:
        mailers = [stack.enter_context(SmtpMailer(config, SENDER)) for _ in range(connections)]
        return deliver(DAY, deliveries(addresses), ledger, mailers, **options)


ADDRESSES = [f"reader{i}@example.org" for i in range(6)]


def test_every_message_goes_through_one_connection(tmp_path):
    server = RecordingServer()
    with smtp_server(server) as port:
        report = send(port, ADDRESSES, tmp_path / "ledger.sqlite3")
    assert report.sent == 6
    assert server.received_by() == Counter({address: 1 for address in ADDRESSES})
    assert len(server.sessions) == 1
    # The body arrives as written: smtplib's dot-stuffing is undone by the server.
    received = email.message_from_bytes(server.messages[0][1], policy=email.policy.default)
    assert received.get_content().startswith(".a line that starts with a dot")
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        entries = ledger.entries(DAY)
    assert {key: entry.status for key, entry in entries.items()} == {a: SENT for a in ADDRESSES}
    assert all(entry.attempts == 1 and entry.reply.startswith("250") for entry in entries.values())


def test_bare_line_feeds_and_lone_dots_arrive_intact(tmp_path):
    """DATA framing is done here, not by smtplib: line ends become CRLF, a lone "." is not an end."""
    server = RecordingServer()
    body = b"Subject: dots\n\n.\n..\nmiddle\r\n.\rlast"
    with smtp_server(server) as port, Ledger(tmp_path / "ledger.sqlite3") as ledger, \
            SmtpMailer(config_for(port), SENDER) as mailer:
        deliver(DAY, [Delivery("a@example.org", "a@example.org", lambda: Message("<dots@test>", body))], ledger, [mailer])
    assert server.messages == [("a@example.org", b"Subject: dots\r\n\r\n.\r\n..\r\nmiddle\r\n.\r\nlast\r\n")]


def test_a_rerun_sends_nothing_already_sent(tmp_path):
    server = RecordingServer()
    with smtp_server(server) as port:
        send(port, ADDRESSES[:3], tmp_path / "ledger.sqlite3")
        report = send(port, ADDRESSES, tmp_path / "ledger.sqlite3")
    assert (report.sent, report.already_sent) == (3, 3)
    assert server.received_by() == Counter({address: 1 for address in ADDRESSES})


def test_a_dropped_connection_is_reopened_and_nothing_is_lost_or_doubled(tmp_path):
    server = RecordingServer(drop_after=2)
    with smtp_server(server) as port:
        report = send(port, ADDRESSES, tmp_path / "ledger.sqlite3")
    assert report.sent == 6
    assert server.received_by() == Counter({address: 1 for address in ADDRESSES})
    assert len(server.sessions) == 3


def test_a_refused_recipient_is_recorded_and_never_retried(tmp_path):
    bad = "gone@example.org"
    server = RecordingServer(refuse=(bad,))
    addresses = [*ADDRESSES[:2], bad, *ADDRESSES[2:4]]
    with smtp_server(server) as port:
        first = send(port, addresses, tmp_path / "ledger.sqlite3")
        second = send(port, addresses, tmp_path / "ledger.sqlite3")
    assert first.sent == 4
    assert [recipient for recipient, _ in first.refused] == [bad]
    assert first.refused[0][1].startswith("550 5.1.1")
    assert (second.sent, second.already_sent, second.refused_before, second.refused) == (0, 4, 1, [])
    assert server.rcpt_attempts[bad] == 1
    assert bad not in server.received_by()
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        entry = ledger.entries(DAY)[bad]
    assert entry.status == REFUSED and "mailbox unavailable" in entry.reply


def test_a_temporary_refusal_is_retried_by_later_runs_then_given_up(tmp_path):
    busy = "busy@example.org"
    server = RecordingServer(defer=(busy,))
    ledger_path = tmp_path / "ledger.sqlite3"
    reports = []
    with smtp_server(server) as port:
        for _ in range(4):
            reports.append(send(port, [busy, ADDRESSES[0]], ledger_path, max_attempts=3))
    assert [len(r.deferred) for r in reports] == [1, 1, 0, 0]
    assert [len(r.refused) for r in reports] == [0, 0, 1, 0]
    assert reports[3].refused_before == 1
    assert server.rcpt_attempts[busy] == 3
    with Ledger(ledger_path) as ledger:
        entry = ledger.entries(DAY)[busy]
    assert (entry.status, entry.attempts) == (REFUSED, 3)


def test_a_dead_server_stops_the_run_with_one_line_and_the_next_run_resumes(tmp_path):
    port = free_port()
    ledger_path = tmp_path / "ledger.sqlite3"
    with pytest.raises(DeliveryError) as caught:
        send(port, ADDRESSES, ledger_path)
    message = str(caught.value)
    assert message.startswith(f"smtp 127.0.0.1:{port}: cannot connect")
    assert "0 sent before that, run again to resume" in message and "\n" not in message
    assert isinstance(caught.value, InputError)
    server = RecordingServer()
    with smtp_server(server, port=port):
        report = send(port, ADDRESSES, ledger_path)
    # The server was found dead before any message was marked, so no attempt was spent on it.
    assert (report.sent, report.resent) == (6, 0)
    assert server.received_by() == Counter({address: 1 for address in ADDRESSES})


def test_a_server_that_dies_mid_run_leaves_the_rest_to_the_next_run(tmp_path):
    ledger_path = tmp_path / "ledger.sqlite3"
    server = RecordingServer(die_after=2)
    with smtp_server(server) as port:
        with pytest.raises(DeliveryError, match="2 sent before that"):
            send(port, ADDRESSES, ledger_path)
    server.die_after = 0
    with smtp_server(server, port=port):
        report = send(port, ADDRESSES, ledger_path)
    # The third message was on a connection that died: resent, once.
    assert (report.sent, report.already_sent, report.resent) == (4, 2, 1)
    assert server.received_by() == Counter({address: 1 for address in ADDRESSES})


def test_a_message_cut_off_too_often_is_given_up(tmp_path):
    """A "sending" entry is resent, but not for ever: a message that kills the sender each time stops."""
    ledger_path = tmp_path / "ledger.sqlite3"
    with Ledger(ledger_path) as ledger:
        for _ in range(3):
            ledger.begin(DAY, ADDRESSES[0], "<x@test>")
    server = RecordingServer()
    with smtp_server(server) as port:
        report = send(port, ADDRESSES[:2], ledger_path, max_attempts=3)
    assert report.sent == 1
    assert report.refused == [(ADDRESSES[0], "gave up after 3 attempts; last: cut off mid-send")]
    assert ADDRESSES[0] not in server.received_by()


# ---------------------------------------------------------------- several connections


class HoldFirst(RecordingServer):
    """Holds the first message until `release`: anything that arrives meanwhile came over another session."""

    async def handle_DATA(self, server, session, envelope):
        if not self.holding.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def test_connections_work_side_by_side_and_send_each_message_once(tmp_path):
    server = HoldFirst()
    reports = []
    with smtp_server(server) as port:
        sender = threading.Thread(target=lambda: reports.append(send(port, ADDRESSES, tmp_path / "ledger.sqlite3",
                                                                     connections=3)))
        sender.start()
        deadline = time.monotonic() + 20
        while len(server.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        arrived_while_held = len(server.messages)
        server.release.set()
        sender.join(30)
    assert arrived_while_held >= 2
    assert reports[0].sent == 6
    assert server.received_by() == Counter({address: 1 for address in ADDRESSES})
    assert 2 <= len(server.sessions) <= 3


def test_a_server_that_dies_under_two_connections_leaves_the_rest_to_the_next_run(tmp_path):
    """One session is cut and the server stops listening while the other session is still open:
    the run stops after the other's message in flight, and the next run sends the rest once."""
    ledger_path = tmp_path / "ledger.sqlite3"
    addresses = [f"reader{i}@example.org" for i in range(12)]
    server = RecordingServer(die_after=3)
    with smtp_server(server) as port:
        with pytest.raises(DeliveryError, match=r"^smtp 127\.0\.0\.1:\d+: .*; \d+ sent before that, run again to resume$"):
            send(port, addresses, ledger_path, connections=2)
    first_run = len(server.messages)
    server.die_after = 0
    with smtp_server(server, port=port):
        report = send(port, addresses, ledger_path, connections=2)
    assert (report.already_sent, report.sent) == (first_run, 12 - first_run)
    assert server.received_by() == Counter({address: 1 for address in addresses})


def test_the_rate_limit_spaces_messages_across_every_connection(tmp_path):
    """One pacer for the run: three connections at 40 messages a second still take 5/40 s for 6."""
    server = RecordingServer()
    with smtp_server(server) as port:
        started = time.monotonic()
        report = send(port, ADDRESSES, tmp_path / "ledger.sqlite3", connections=3, rate_limit=40.0)
        elapsed = time.monotonic() - started
    assert report.sent == 6 and elapsed >= 5 / 40


# ---------------------------------------------------------------- TLS


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made here, so the client can verify it for real."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paperroute test SMTP")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_files(tmp_path) -> tuple[Path, ssl.SSLContext]:
    cert_path, key_path = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return cert_path, context


def accept_reader(server, session, envelope, mechanism, auth_data) -> AuthResult:
    # handled=False: aiosmtpd then answers a failure with 535 itself.
    return AuthResult(success=auth_data.login == b"reader" and auth_data.password == b"s3cret", handled=False)


def test_starttls_with_login_against_a_verified_certificate(tmp_path, tls_files):
    cert_path, server_context = tls_files
    server = RecordingServer()
    with smtp_server(server, tls_context=server_context, require_starttls=True, authenticator=accept_reader,
                     auth_require_tls=True) as port:
        config = config_for(port, security="starttls", ca_file=str(cert_path), user="reader", password="s3cret")
        report = send(port, ADDRESSES[:3], tmp_path / "ledger.sqlite3", config=config)
    assert report.sent == 3
    assert server.tls_sessions == 3 and len(server.sessions) == 1


def test_starttls_refuses_a_certificate_it_cannot_verify(tmp_path, tls_files):
    _, server_context = tls_files
    server = RecordingServer()
    with smtp_server(server, tls_context=server_context, require_starttls=True) as port:
        with pytest.raises(DeliveryError, match="TLS certificate not trusted"):
            send(port, ADDRESSES[:1], tmp_path / "ledger.sqlite3", config=config_for(port, security="starttls"))
    assert server.messages == []


def test_a_wrong_password_is_one_clear_error(tmp_path, tls_files):
    cert_path, server_context = tls_files
    server = RecordingServer()
    with smtp_server(server, tls_context=server_context, require_starttls=True, authenticator=accept_reader) as port:
        config = config_for(port, security="starttls", ca_file=str(cert_path), user="reader", password="wrong")
        with pytest.raises(DeliveryError, match=r"login refused for reader \(535"):
            send(port, ADDRESSES[:1], tmp_path / "ledger.sqlite3", config=config)


def test_implicit_tls(tmp_path, tls_files):
    cert_path, server_context = tls_files
    server = RecordingServer()
    with smtp_server(server, ssl_context=server_context) as port:
        config = config_for(port, security="tls", ca_file=str(cert_path))
        report = send(port, ADDRESSES[:2], tmp_path / "ledger.sqlite3", config=config)
    assert report.sent == 2 and server.received_by() == Counter({a: 1 for a in ADDRESSES[:2]})


def test_a_password_is_never_sent_in_clear_to_a_remote_host():
    with pytest.raises(DeliveryError, match="unencrypted"):
        SmtpMailer(SmtpConfig(host="mail.example.org", user="reader", password="s3cret"), SENDER)


# ---------------------------------------------------------------- ledger and pacing


def test_ledger_records_survive_reopening_and_only_one_run_holds_it(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        assert ledger.begin(DAY, "a@example.org", "<1@x>") == 1
        assert ledger.begin(DAY, "a@example.org", "<1@x>") == 2
        ledger.begin(DAY, "b@example.org", "<2@x>")
        ledger.finish(DAY, "b@example.org", DEFERRED, "450 busy")
        with pytest.raises(InputError, match="another digest run is using this ledger"):
            Ledger(path)
    with Ledger(path) as ledger:
        entries = ledger.entries(DAY)
        assert ledger.entries(DAY + dt.timedelta(days=1)) == {}
    assert (entries["a@example.org"].status, entries["a@example.org"].attempts) == (SENDING, 2)
    assert (entries["b@example.org"].status, entries["b@example.org"].reply) == (DEFERRED, "450 busy")


def test_a_file_that_is_not_a_ledger_is_an_input_error(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    path.write_text("this is not SQLite, it is a note somebody saved here by mistake\n" * 20)
    with pytest.raises(InputError, match="not a usable digest ledger") as caught:
        Ledger(path)
    assert caught.value.path == str(path)
    # The failed open released its lock: a fixed file can be opened straight away.
    path.unlink()
    with Ledger(path) as ledger:
        assert ledger.entries(DAY) == {}


def test_ledger_uses_wal_so_a_killed_process_loses_no_commit(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path):
        pass
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pacer_spaces_messages_evenly_without_catching_up_in_a_burst():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait()  # the first message goes at once
    pacer.wait()
    now[0] += 0.1
    pacer.wait()
    now[0] += 5.0  # a slow spell: the next message may go at once, but no burst after it
    pacer.wait()
    pacer.wait()
    assert slept == [0.25, 0.15, 0.25]
    unlimited = Pacer(0, clock=lambda: now[0], sleep=sleep)
    unlimited.wait()
    unlimited.wait()
    assert slept == [0.25, 0.15, 0.25]
