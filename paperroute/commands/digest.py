"""Email one day's papers to each subscriber, filtered by their topics and keywords.

`--outbox DIR` writes one .eml file per subscriber; `--send` delivers over SMTP (settings in
paperroute.yaml, host, port, user and password from PAPERROUTE_SMTP_* in the environment),
recording each message in a ledger so that a rerun after a crash sends what is left and
nothing twice. With neither, it checks the subscribers file and says what it would send.

Exit status 0 when the run got through every subscriber, even if the server refused some
(each is named on stderr and recorded, so the next run skips them); 1 when it could not
(bad input, or the SMTP server unreachable: the next run resumes where this one stopped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Iterator

from paperroute.commands.ingest import iso_date
from paperroute.config import Config, load_config
from paperroute.corpus import OTHER, day_order, topics_in_use
from paperroute.digest.compose import DigestEdition
from paperroute.digest.ledger import Ledger
from paperroute.digest.send import Delivery, DeliveryReport, Message, SmtpMailer, deliver
from paperroute.digest.subscribers import DEFAULT_SUBSCRIBERS_FILE, DaySelector, Subscriber, load_subscribers
from paperroute.errors import InputError
from paperroute.model import Day, Paper, Topic
from paperroute.output import write_if_changed
from paperroute.progress import progress
from paperroute.store import ContentStore
from paperroute.text import slugify
from paperroute.topics import load_topics

HELP = "email the day's papers to subscribers (.eml files or SMTP)"

_PLAIN_ADDRESS = re.compile(r"[a-z0-9._+-]+@[a-z0-9.-]+")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, default=None, metavar="YYYY-MM-DD",
                        help="the day to send (default: the latest day in the store)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--outbox", type=Path, default=None, metavar="DIR", help="write one .eml file per subscriber into DIR")
    mode.add_argument("--send", action="store_true", help="deliver over SMTP (settings: paperroute.yaml smtp section)")
    parser.add_argument("--subscribers", type=Path, default=DEFAULT_SUBSCRIBERS_FILE, metavar="FILE",
                        help="the subscribers file (default: subscribers.yaml)")
    parser.add_argument("--ledger", type=Path, default=None, metavar="FILE",
                        help="the delivery ledger for --send (default: the digest.ledger setting, digest-ledger.sqlite3)")


@dataclass
class DigestPlan:
    """The day's edition and who gets which papers of it."""

    edition: DigestEdition
    subscribers: list[Subscriber]
    selector: DaySelector
    send_empty: bool
    skipped: int = 0

    def recipients(self, quiet: bool) -> Iterator[tuple[Subscriber, list[Paper]]]:
        """Each subscriber with their papers; those left with none are counted and skipped.

        Subscribers whose messages share a frame (the same papers under the same sections,
        `DigestEdition.frame_key`) come one after another, in the order the first of them
        has in the file, so each frame is rendered once and not again after it left the cache.
        """
        groups: dict[Hashable, tuple[list[Paper], list[Subscriber]]] = {}
        self.skipped = 0
        for subscriber in self.subscribers:
            papers = self.selector.select(subscriber)
            if not papers and not self.send_empty:
                self.skipped += 1
                continue
            groups.setdefault(self.edition.frame_key(subscriber, papers), (papers, []))[1].append(subscriber)
        ordered = ((subscriber, papers) for papers, members in groups.values() for subscriber in members)
        yield from progress(ordered, total=len(self.subscribers) - self.skipped, label="digest", quiet=quiet)


def load_day(content_dir: Path, date: dt.date | None) -> tuple[Day, list[Topic], set[str]]:
    """The day's papers, the topics in taxonomy order, and every topic slug a filter may name.

    Only the day's files are read: the store's index (`storeindex`) knows every paper's date
    and topics (a digest of 100,000 papers read them all in 9 s).
    """
    store = ContentStore(content_dir)
    identities = store.identities()
    if date is None:
        if not identities:
            raise InputError("the content store has no papers yet", content_dir)
        date = dt.date.fromordinal(max(identity.date for identity in identities))
    ordinal = date.toordinal()
    papers = [store.read(identity.file) for identity in identities if identity.date == ordinal]
    day = Day(date=date, papers=sorted(papers, key=day_order))
    topics = topics_in_use((slug for identity in identities for slug in identity.topics or [OTHER.slug]),
                           load_topics(content_dir))
    return day, topics, {topic.slug for topic in topics} | {OTHER.slug}


def plan_digest(content_dir: Path, date: dt.date | None, subscribers_file: Path, config: Config) -> DigestPlan:
    day, topics, known_topics = load_day(content_dir, date)
    subscribers = load_subscribers(subscribers_file, known_topics)
    edition = DigestEdition(day.date, day.papers, topics, config.site, config.digest)
    return DigestPlan(edition, subscribers, DaySelector(day.papers), config.digest.send_empty)


def eml_name(subscriber: Subscriber) -> str:
    """The outbox file for a subscriber: the address itself when it is made of plain characters."""
    if _PLAIN_ADDRESS.fullmatch(subscriber.key):
        return f"{subscriber.key}.eml"
    return f"{slugify(subscriber.key)}-{hashlib.sha256(subscriber.key.encode('utf-8')).hexdigest()[:8]}.eml"


def write_outbox(plan: DigestPlan, outbox: Path, quiet: bool) -> str:
    written = unchanged = 0
    for subscriber, papers in plan.recipients(quiet):
        path = outbox / eml_name(subscriber)
        try:
            changed = write_if_changed(path, plan.edition.render(subscriber, papers))
        except OSError as err:
            raise InputError(f"cannot write the message ({err.strerror})", path) from None
        written += changed
        unchanged += not changed
    edition = plan.edition
    if unchanged:
        stored = f"{written + unchanged} in {outbox} ({written} written, {unchanged} unchanged)"
    else:
        stored = f"{written} written to {outbox}"
    return f"digest {edition.date}: {edition.total} papers, {stored}, {plan.skipped} skipped (empty)"


def send_digest(plan: DigestPlan, config: Config, ledger_path: Path, quiet: bool) -> DeliveryReport:
    edition = plan.edition

    def deliveries() -> Iterator[Delivery]:
        for subscriber, papers in plan.recipients(quiet):
            def compose(subscriber: Subscriber = subscriber, papers: list[Paper] = papers) -> Message:
                return Message(edition.message_id(subscriber), edition.render(subscriber, papers))
            yield Delivery(subscriber.key, subscriber.email, compose)

    with Ledger(ledger_path) as ledger, ExitStack() as connections:
        mailers = [connections.enter_context(SmtpMailer(config.smtp, edition.sender))
                   for _ in range(config.smtp.connections)]
        return deliver(edition.date, deliveries(), ledger, mailers,
                       rate_limit=config.digest.rate_limit, max_attempts=config.digest.max_attempts)


def send_summary(plan: DigestPlan, report: DeliveryReport) -> str:
    edition = plan.edition
    refused = len(report.refused) + report.refused_before
    parts = [f"digest {edition.date}: {edition.total} papers, {report.sent} sent, {plan.skipped} skipped (empty), "
             f"{refused} refused"]
    if report.already_sent:
        parts.append(f"{report.already_sent} already sent")
    if report.deferred:
        parts.append(f"{len(report.deferred)} deferred")
    if report.resent:
        parts.append(f"{report.resent} resent after an interrupted run")
    return ", ".join(parts)


def preview_summary(plan: DigestPlan, quiet: bool) -> str:
    count = sum(1 for _ in plan.recipients(quiet))
    edition = plan.edition
    return (f"digest {edition.date}: {edition.total} papers, {count} to send, {plan.skipped} skipped (empty); "
            "nothing sent (use --outbox DIR or --send)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    plan = plan_digest(args.content, args.date, args.subscribers, config)
    if args.outbox is not None:
        print(write_outbox(plan, args.outbox, args.quiet))
        return 0
    if not args.send:
        print(preview_summary(plan, args.quiet))
        return 0
    report = send_digest(plan, config, args.ledger or Path(config.digest.ledger), args.quiet)
    for recipient, reply in report.refused:
        print(f"paperroute: refused {recipient}: {reply}", file=sys.stderr)
    for recipient, reply in report.deferred:
        print(f"paperroute: deferred {recipient}: {reply} (the next run tries again)", file=sys.stderr)
    print(send_summary(plan, report))
    return 0
