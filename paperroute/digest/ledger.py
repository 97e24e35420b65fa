"""What was sent, per (day, subscriber), in SQLite: so a rerun finishes a run, never repeats it.

Each message is recorded twice, each record committed before the next step:

    "sending" (attempts + 1)  →  SMTP MAIL / RCPT / DATA  →  "sent" | "refused" | "deferred"

A rerun skips "sent" and "refused" and sends everything else, "sending" included. A message
left in "sending" was cut off somewhere between the first record and the second, and in one
narrow part of that window — the server has answered 250 to DATA but the "sent" record is not
yet committed — the server already has it. Nothing on the client can tell that case from the
others (the reply is lost with the process), so the choice is between losing a digest and,
rarely, sending one twice. The ledger chooses to resend: at least once, never silently lost.
The window is well under a millisecond a message (the reply's way up the socket plus one
commit) against the whole transaction before it, and the resent message is byte-identical
with the same Message-ID, which most mailbox stores use to keep one copy. With several SMTP
connections each message has its own records and its own window: a kill can catch at most
one message per connection in it. A message that keeps being cut off (`max_attempts` times)
is given up as refused, so a message that crashes the sender cannot loop for ever.

Durability: WAL with synchronous=NORMAL. Every commit reaches the operating system before the
next SMTP step, so a killed process (SIGKILL, OOM, Ctrl-C) loses nothing; a power cut may lose
the last commits, which then means a resend, the same failure mode as above. Both records of
a message cost about 0.15 ms together this way; with an fsync per commit (synchronous=FULL)
they cost 5 ms on the benchmark machine, more than composing and sending the message, for a
case the resend already covers.

One run at a time: an exclusive lock (flock, released by the kernel when the process dies)
keeps two runs — cron and a person — from sending the same list at once.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from paperroute.errors import InputError
from paperroute.output import hold_lock

SENDING = "sending"
SENT = "sent"
REFUSED = "refused"
DEFERRED = "deferred"

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    day TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'refused', 'deferred')),
    attempts INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL DEFAULT '',
    reply TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (day, subscriber)
) WITHOUT ROWID
"""


@dataclass(frozen=True)
class LedgerEntry:
    status: str
    attempts: int
    reply: str


class Ledger:
    """The delivery ledger file; open it with `with Ledger(path) as ledger:`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_fd = self._lock(self.path)
        try:
            # Used by every connection's thread of a run, one at a time (`deliver` holds a lock).
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise InputError(f"ledger format {version} is newer than this paperroute knows ({SCHEMA_VERSION})", self.path)
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as err:
            os.close(self._lock_fd)
            raise InputError(f"not a usable digest ledger ({err})", self.path) from None
        except InputError:
            os.close(self._lock_fd)
            raise

    @staticmethod
    def _lock(path: Path) -> int:
        try:
            return hold_lock(path.with_name(path.name + ".lock"), path,
                             "another digest run is using this ledger; wait for it to finish")
        except OSError as err:
            raise InputError(f"cannot open the ledger ({err.strerror})", path) from None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        os.close(self._lock_fd)

    def entries(self, day: dt.date) -> dict[str, LedgerEntry]:
        """Every subscriber the ledger knows for `day`, by subscriber key."""
        rows = self._db.execute("SELECT subscriber, status, attempts, reply FROM deliveries WHERE day = ?", (day.isoformat(),))
        return {subscriber: LedgerEntry(status, attempts, reply) for subscriber, status, attempts, reply in rows}

    def begin(self, day: dt.date, subscriber: str, message_id: str) -> int:
        """Record that a message is about to go out; returns its attempt number (1 for the first)."""
        row = self._db.execute(
            "INSERT INTO deliveries (day, subscriber, status, attempts, message_id) VALUES (?, ?, 'sending', 1, ?) "
            "ON CONFLICT (day, subscriber) DO UPDATE SET status = 'sending', attempts = attempts + 1, "
            "message_id = excluded.message_id RETURNING attempts",
            (day.isoformat(), subscriber, message_id),
        ).fetchone()
        return int(row[0])

    def finish(self, day: dt.date, subscriber: str, status: str, reply: str) -> None:
        """Record how the server answered (`sent`, `refused` or `deferred`)."""
        if status not in (SENT, REFUSED, DEFERRED):
            raise ValueError(f"not a final status: {status!r}")
        self._db.execute(
            "UPDATE deliveries SET status = ?, reply = ? WHERE day = ? AND subscriber = ?",
            (status, reply, day.isoformat(), subscriber),
        )
