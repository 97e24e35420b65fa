"""Deliver composed digests over SMTP, each connection reused for many messages, recorded in the ledger.

SMTP is lock-step: after each message the client waits for the server's answer, and the server
waits for the next message. `smtp.connections` sessions (default 2), each in its own thread,
keep both ends busy; each message is still recorded "sending" before it goes and "sent" after
the server's answer, so the ledger's guarantee holds per message whatever the others do.

How each kind of trouble ends:
- a recipient the server refuses for good (5xx to RCPT or DATA) is recorded "refused" with
  the server's reply, reported, and never tried again; the run goes on with the others;
- a temporary refusal (4xx) is recorded "deferred" and tried again by the next run, at most
  `max_attempts` times in all, then given up as refused;
- a dropped connection (the server closed it, 421, a reset) is reopened once and the message
  tried again on the new connection;
- a server that cannot be reached, a TLS or login failure, or a sender the server refuses
  stops the run with one line (`DeliveryError`); every message not yet recorded "sent" is sent
  by the next run.
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Callable, Iterable, Iterator, Sequence

from paperroute.config import SmtpConfig
from paperroute.digest.ledger import DEFERRED, REFUSED, SENDING, SENT, Ledger, LedgerEntry
from paperroute.errors import InputError
from paperroute.text import clean_line

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Addresses that may go into a MAIL or RCPT command: nothing that could end the command line.
_ENVELOPE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
_LINE_END = re.compile(rb"\r\n|\r|\n")
# Errors that mean the connection is gone, not that the message is bad.
_CONNECTION_LOST = (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError, socket.timeout)


class DeliveryError(InputError):
    """The run cannot go on (server unreachable, TLS, login, sender refused); a rerun resumes."""


@dataclass(frozen=True)
class Message:
    """One composed message, ready for the wire."""

    message_id: str
    data: bytes


@dataclass(frozen=True)
class Delivery:
    """A message owed to one subscriber, composed only if the ledger says it is still owed."""

    subscriber: str  # the ledger key
    recipient: str
    compose: Callable[[], Message]


@dataclass(frozen=True)
class SendResult:
    status: str  # SENT, REFUSED or DEFERRED
    reply: str


@dataclass
class DeliveryReport:
    sent: int = 0
    # Done by earlier runs: sent, or refused for good.
    already_sent: int = 0
    refused_before: int = 0
    # This run's refusals and deferrals, with the server's reply, to report one per line.
    refused: list[tuple[str, str]] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    # Messages cut off by an earlier run, sent again (see paperroute.digest.ledger).
    resent: int = 0


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return clean_line(f"{code} {text}")


def _reason(error: BaseException) -> str:
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return clean_line(str(error)) or type(error).__name__


def _data_block(data: bytes) -> bytes:
    """A message as DATA carries it: CRLF line ends, leading dots doubled, ended by a lone dot."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _LINE_END.sub(b"\r\n", data)
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n")


class SmtpMailer:
    """One SMTP session, opened on first use, reused for every message, reopened when dropped."""

    def __init__(self, config: SmtpConfig, sender: str):
        self.config = config
        self.envelope_sender = parseaddr(sender)[1]
        self.where = f"smtp {config.host}:{config.port}"
        if not _ENVELOPE_ADDRESS.fullmatch(self.envelope_sender):
            raise DeliveryError(f"{self.where}: the sender {sender!r} has no plain address to send from")
        self._smtp: smtplib.SMTP | None = None
        if config.user and not config.password:
            raise DeliveryError(f"{self.where}: smtp.user is set but PAPERROUTE_SMTP_PASSWORD is not")
        if config.user and config.security == "none" and config.host not in _LOOPBACK_HOSTS:
            raise DeliveryError(f"{self.where}: refusing to send the password unencrypted; "
                                "set smtp.security to starttls or tls")

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.ca_file)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        try:
            if config.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                                      context=self._tls_context())
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            try:
                smtp.ehlo()
                if config.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(f"{self.where}: the server does not offer STARTTLS")
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if config.user:
                    smtp.login(config.user, config.password or "")
            except BaseException:
                smtp.close()
                raise
        except ssl.SSLCertVerificationError as err:
            raise DeliveryError(f"{self.where}: TLS certificate not trusted ({err.verify_message}); "
                                "set smtp.ca_file for a private CA") from None
        except ssl.SSLError as err:
            raise DeliveryError(f"{self.where}: TLS failed ({_reason(err)})") from None
        except smtplib.SMTPAuthenticationError as err:
            raise DeliveryError(f"{self.where}: login refused for {config.user} "
                                f"({_reply_text(err.smtp_code, err.smtp_error)})") from None
        except smtplib.SMTPException as err:
            raise DeliveryError(f"{self.where}: {_reason(err)}") from None
        except OSError as err:
            raise DeliveryError(f"{self.where}: cannot connect ({_reason(err)})") from None
        return smtp

    def close(self) -> None:
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def connect(self) -> None:
        """Open the session unless one is open: a dead server is found before a message is marked."""
        if self._smtp is None:
            self._smtp = self._connect()

    def send(self, recipient: str, data: bytes) -> SendResult:
        """Send one message; a dropped connection is reopened once and the message tried again."""
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                return self._transaction(self._smtp, recipient, data)
            except _CONNECTION_LOST as err:
                self._drop()
                if attempt == 2:
                    raise DeliveryError(f"{self.where}: connection lost twice in a row ({_reason(err)})") from None
        raise AssertionError("unreachable")

    def _transaction(self, smtp: smtplib.SMTP, recipient: str, data: bytes) -> SendResult:
        """MAIL, RCPT, DATA by hand: smtplib's own would re-parse both addresses and run two
        regular expressions over every message, which `render` has already made CRLF-clean."""
        if not _ENVELOPE_ADDRESS.fullmatch(recipient):
            return SendResult(REFUSED, f"not a plain address: {recipient!r}")
        code, message = smtp.docmd("MAIL", f"FROM:<{self.envelope_sender}>")
        if code != 250:
            return self._failed(smtp, code, message, sender_step=True)
        code, message = smtp.docmd("RCPT", f"TO:<{recipient}>")
        if code not in (250, 251):
            return self._failed(smtp, code, message)
        code, message = smtp.docmd("DATA")
        if code != 354:
            return self._failed(smtp, code, message)
        smtp.send(_data_block(data))
        code, message = smtp.getreply()
        if code != 250:
            return self._failed(smtp, code, message)
        return SendResult(SENT, _reply_text(code, message))

    def _failed(self, smtp: smtplib.SMTP, code: int, message: bytes | str, *, sender_step: bool = False) -> SendResult:
        reply = _reply_text(code, message)
        if code == 421 or code < 0:
            # 421: the server is closing the connection; smtplib reports a dead socket as -1.
            raise smtplib.SMTPServerDisconnected(reply)
        smtp.rset()
        if sender_step and code >= 500:
            raise DeliveryError(f"{self.where}: the server refused the sender {self.envelope_sender} ({reply})")
        return SendResult(REFUSED if code >= 500 else DEFERRED, reply)


class Pacer:
    """At most `rate` messages a second, evenly spaced across every connection; no burst to
    catch up after a slow spell."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:  # each caller takes the next free slot, then sleeps until it outside the lock
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


def deliver(day: dt.date, deliveries: Iterable[Delivery], ledger: Ledger, mailers: Sequence[SmtpMailer], *,
            rate_limit: float = 0.0, max_attempts: int = 3) -> DeliveryReport:
    """Send each delivery the ledger does not show as done, recording it before and after, over
    one connection per mailer."""
    run = _Run(day, deliveries, ledger, Pacer(rate_limit), max_attempts)
    try:
        run.work(mailers)
    except DeliveryError as err:
        raise DeliveryError(f"{err.message}; {run.report.sent} sent before that, run again to resume") from None
    return run.report


def _needs_sending(entry: LedgerEntry | None, max_attempts: int) -> bool:
    return entry is None or (entry.status not in (SENT, REFUSED) and entry.attempts < max_attempts)


class _Run:
    """One delivery run shared by its connections' threads.

    One lock covers what they share: the deliveries iterator (which selects and counts as it
    goes), the ledger and the report. Composing and the SMTP exchange happen outside it.
    """

    def __init__(self, day: dt.date, deliveries: Iterable[Delivery], ledger: Ledger, pacer: Pacer, max_attempts: int):
        self.day = day
        self.report = DeliveryReport()
        self._ledger = ledger
        self._pacer = pacer
        self._max_attempts = max_attempts
        self._known = ledger.entries(day)
        self._owed = self._still_owed(deliveries)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _still_owed(self, deliveries: Iterable[Delivery]) -> Iterator[tuple[Delivery, LedgerEntry | None]]:
        """The deliveries to send; the others are counted, or given up on, as they go by."""
        for delivery in deliveries:
            entry = self._known.get(delivery.subscriber)
            if _needs_sending(entry, self._max_attempts):
                yield delivery, entry
                continue
            assert entry is not None
            if entry.status == SENT:
                self.report.already_sent += 1
            elif entry.status == REFUSED:
                self.report.refused_before += 1
            else:
                last = entry.reply if entry.status == DEFERRED else "cut off mid-send"
                reply = f"gave up after {entry.attempts} attempts; last: {last}"
                self._ledger.finish(self.day, delivery.subscriber, REFUSED, reply)
                self.report.refused.append((delivery.recipient, reply))

    def _next(self) -> tuple[Delivery, LedgerEntry | None] | None:
        with self._lock:
            return None if self._stop.is_set() else next(self._owed, None)

    def _send_each(self, mailer: SmtpMailer) -> None:
        """One connection's loop: take the next delivery owed, until none are left or the run stops."""
        while (item := self._next()) is not None:
            delivery, entry = item
            message = delivery.compose()
            self._pacer.wait()
            # Only a message that is about to reach a live connection counts as an attempt.
            mailer.connect()
            with self._lock:
                if entry is not None and entry.status == SENDING:
                    self.report.resent += 1
                attempt = self._ledger.begin(self.day, delivery.subscriber, message.message_id)
            result = mailer.send(delivery.recipient, message.data)
            status = REFUSED if result.status == DEFERRED and attempt >= self._max_attempts else result.status
            with self._lock:
                self._ledger.finish(self.day, delivery.subscriber, status, result.reply)
                if status == SENT:
                    self.report.sent += 1
                elif status == REFUSED:
                    self.report.refused.append((delivery.recipient, result.reply))
                else:
                    self.report.deferred.append((delivery.recipient, result.reply))

    def work(self, mailers: Sequence[SmtpMailer]) -> None:
        """Run every connection to the end; the first error stops them all, each after the
        message it has on the wire, and is raised here."""
        if len(mailers) == 1:
            self._send_each(mailers[0])
            return
        errors: list[BaseException] = []

        def connection(mailer: SmtpMailer) -> None:
            try:
                self._send_each(mailer)
            except BaseException as error:  # raised in the calling thread below
                errors.append(error)
                self._stop.set()

        threads = [threading.Thread(target=connection, args=(mailer,), name=f"digest-smtp-{number}", daemon=True)
                   for number, mailer in enumerate(mailers, 1)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl-C: let each connection finish its message, then stop
            self._stop.set()
            for thread in threads:
                thread.join()
            raise
        if errors:
            raise errors[0]
