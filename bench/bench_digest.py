"""The digest at scale: 10,000 subscribers with varied filters, one day of 100 papers, sent to a
local aiosmtpd server running in its own process. Goal: at least 300 messages a second.

Measured in three passes over the same subscribers, each in a fresh process so that peak
memory (ru_maxrss) belongs to that pass alone:
  compose   select + render both parts + inline CSS + serialise, no network
  send      the same, plus the ledger (two commits a message) and SMTP over `--connections`
            sessions, via the command's own code path (`paperroute.commands.digest.send_digest`)
  ceiling   the same messages composed beforehand and sent by bare smtplib over as many
            sessions: what the server takes at most, so a slow `send` can be told from a slow server
The CPU columns are milliseconds of CPU a message in the sending process (all its threads)
and in the server: on a machine shared with other work, rates by the clock vary with the
load, CPU per message much less. The load column is the 1-minute load average as the pass
started; on 2 cores, above 2 means the pass waited for a core.

The server: aiosmtpd, its protocol and handler as shipped, except that `--server block` (the
default) reads DATA in blocks up to the final "." where aiosmtpd reads it a line at a time.
Stock aiosmtpd spends about 3 ms of CPU on a 37 KB message, ten times what the client does, so
with `--server stock` the bench measures aiosmtpd; a production MTA (Postfix) takes thousands
of such messages a second.

`--reply-delay MS` makes the server wait before answering each message, without using CPU, as
a remote server does (network round trip, its own queue write): what extra connections are for.

    python bench/bench_digest.py [--subscribers N] [--papers N] [--connections N] [--server block|stock]
                                 [--reply-delay MS]
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import threading
import os
import random
import resource
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import TOPIC_WORDS, synthetic_papers  # noqa: E402

from paperroute.commands.digest import DigestPlan, send_digest  # noqa: E402
from paperroute.config import Config, DigestConfig, SiteConfig, SmtpConfig  # noqa: E402
from paperroute.corpus import build_corpus  # noqa: E402
from paperroute.digest.compose import DigestEdition  # noqa: E402
from paperroute.digest.subscribers import DaySelector, Subscriber  # noqa: E402
from paperroute.topics import DEFAULT_TAXONOMY, load_taxonomy  # noqa: E402

SEED = 8058
GOAL = 300.0  # messages a second, compose + send
# The ceiling pass holds its messages in memory; this many are plenty to time the server.
CEILING_MESSAGES = 2_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the subscribers


def varied_subscribers(count: int, topic_slugs: list[str]) -> list[Subscriber]:
    """A realistic mix: many take everything or a topic or two, fewer use keywords or excludes."""
    rng = random.Random(SEED)
    vocabulary = sorted({word for words in TOPIC_WORDS.values() for word in words})
    noise = ["quantum", "protein", "weather", "robotics", "graph", "speech", "3d", "medical"]
    subscribers = []
    for index in range(count):
        email = f"reader{index:05d}@example.org"
        kind = rng.random()
        topics: tuple[str, ...] = ()
        keywords: tuple[str, ...] = ()
        exclude: tuple[str, ...] = ()
        if kind < 0.20:
            pass  # everything
        elif kind < 0.55:
            topics = tuple(rng.sample(topic_slugs, rng.randint(1, 3)))
        elif kind < 0.80:
            keywords = tuple(rng.sample(vocabulary + noise, rng.randint(1, 4)))
        elif kind < 0.95:
            topics = tuple(rng.sample(topic_slugs, rng.randint(1, 4)))
            exclude = tuple(rng.sample(vocabulary, rng.randint(1, 2)))
        else:
            topics = tuple(rng.sample(topic_slugs, 2))
            keywords = tuple(rng.sample(vocabulary, 2))
        subscribers.append(Subscriber(email, topics=topics, keywords=keywords, exclude=exclude, line=index + 1))
    return subscribers


def make_plan(subscriber_count: int, paper_count: int, config: Config) -> DigestPlan:
    papers = list(synthetic_papers(paper_count))
    day_date = papers[0].date
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY.parent / "no-store-here")
    corpus = build_corpus([p for p in papers if p.date == day_date], taxonomy.topics)
    day = corpus.by_date[day_date]
    subscribers = varied_subscribers(subscriber_count, taxonomy.slugs)
    edition = DigestEdition(day.date, day.papers, corpus.topics, config.site, config.digest)
    return DigestPlan(edition, subscribers, DaySelector(day.papers), config.digest.send_empty)


def bench_config(port: int, connections: int) -> Config:
    # The unsubscribe URL is the default one, made from the https base URL.
    return Config(
        site=SiteConfig(base_url="https://papers.example.org/"),
        digest=DigestConfig(sender="paperroute <digest@papers.example.org>"),
        smtp=SmtpConfig(host="127.0.0.1", port=port, timeout=60.0, connections=connections),
    )


# ---------------------------------------------------------------- the server, in its own process


def serve(port: int, block_data: bool, reply_delay: float, ready, received, received_bytes, server_cpu) -> None:
    """aiosmtpd that counts what it accepts and keeps its own CPU time, to split the cost."""
    import asyncio

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class BlockDataSMTP(SMTP):
        """aiosmtpd reading DATA in blocks: the same answers, without a coroutine step per line."""

        async def smtp_DATA(self, arg: str) -> None:
            if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
                return
            if not self.envelope.rcpt_tos:
                await self.push("503 Error: need RCPT command")
                return
            if arg:
                await self.push("501 Syntax: DATA")
                return
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            # The client waits for our answer, so the end of what it sent is the end of the data.
            received_data = b"\r\n"
            while not received_data.endswith(b"\r\n.\r\n"):
                block = await self._reader.read(1 << 16)
                if not block:
                    return
                received_data += block
            content = received_data[2:-3].replace(b"\r\n..", b"\r\n.")
            self.envelope.original_content = self.envelope.content = content[1:] if content.startswith(b"..") else content
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()
            await self.push(status)

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with received.get_lock():
                received.value += 1
                received_bytes.value += len(envelope.original_content)
                server_cpu.value = time.process_time()
            if reply_delay:
                await asyncio.sleep(reply_delay)
            return "250 2.0.0 queued"

    class Server(Controller):
        def factory(self) -> SMTP:
            return (BlockDataSMTP if block_data else SMTP)(self.handler, **self.SMTP_kwargs)

    controller = Server(Counting(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    server_cpu.value = time.process_time()  # what starting cost is no pass's
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


# ---------------------------------------------------------------- the passes (each in a child process)


@dataclass
class Row:
    name: str
    messages: int
    skipped: int
    seconds: float
    client_cpu: float  # CPU seconds of the sending process (both its threads)
    total_bytes: int
    peak_rss_mb: float
    load: float = 0.0  # 1-minute load average as the pass started
    server_cpu: float | None = None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compose_pass(subscribers: int, papers: int, port: int, connections: int, results) -> None:
    plan = make_plan(subscribers, papers, bench_config(port, connections))
    total_bytes = messages = 0
    started, cpu = time.perf_counter(), time.process_time()
    for subscriber, chosen in plan.recipients(quiet=True):
        total_bytes += len(plan.edition.render(subscriber, chosen))
        messages += 1
    results.put(Row("compose", messages, plan.skipped, time.perf_counter() - started, time.process_time() - cpu,
                    total_bytes, peak_rss_mb()))


def send_pass(subscribers: int, papers: int, port: int, connections: int, results) -> None:
    config = bench_config(port, connections)
    plan = make_plan(subscribers, papers, config)
    with tempfile.TemporaryDirectory() as work:
        started, cpu = time.perf_counter(), time.process_time()
        report = send_digest(plan, config, Path(work) / "ledger.sqlite3", quiet=True)
        results.put(Row("send", report.sent, plan.skipped, time.perf_counter() - started, time.process_time() - cpu,
                        0, peak_rss_mb()))


def ceiling_pass(subscribers: int, papers: int, port: int, connections: int, results) -> None:
    """The server's own limit, for scale: the same messages, composed beforehand, sent by bare
    smtplib over as many connections, with no ledger, no pacing, nothing else."""
    plan = make_plan(subscribers, papers, bench_config(port, connections))
    # An even sample of the send order, so message sizes are those of the send pass.
    recipients = list(plan.recipients(quiet=True))
    sample = recipients[::max(1, len(recipients) // CEILING_MESSAGES)][:CEILING_MESSAGES]
    messages = [(subscriber.email, plan.edition.render(subscriber, chosen)) for subscriber, chosen in sample]
    sessions = [smtplib.SMTP("127.0.0.1", port, timeout=60) for _ in range(connections)]

    def send_share(smtp: smtplib.SMTP, share: list[tuple[str, bytes]]) -> None:
        for recipient, data in share:
            smtp.sendmail("digest@papers.example.org", [recipient], data)

    threads = [threading.Thread(target=send_share, args=(smtp, messages[number::connections]))
               for number, smtp in enumerate(sessions)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(Row("ceiling", len(messages), 0, time.perf_counter() - started, time.process_time() - cpu,
                    sum(len(data) for _, data in messages), peak_rss_mb()))
    for smtp in sessions:
        smtp.quit()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=100, help="papers on the day (default 100)")
    parser.add_argument("--connections", type=int, default=SmtpConfig().connections,
                        help="SMTP sessions at once (default: the smtp.connections default, %(default)s)")
    parser.add_argument("--server", choices=("block", "stock"), default="block",
                        help="aiosmtpd reading DATA in blocks (default) or a line at a time, as shipped")
    parser.add_argument("--reply-delay", type=float, default=0.0, metavar="MS",
                        help="milliseconds the server waits before answering each message (default 0)")
    args = parser.parse_args(argv)

    port = free_port()
    ready = multiprocessing.Event()
    received = multiprocessing.Value("q", 0)
    received_bytes = multiprocessing.Value("q", 0)
    server_cpu = multiprocessing.Value("d", 0.0)
    server = multiprocessing.Process(target=serve, args=(port, args.server == "block", args.reply_delay / 1000, ready,
                                                         received, received_bytes, server_cpu), daemon=True)
    server.start()
    ready.wait(30)
    rows: list[Row] = []
    try:
        for target in (compose_pass, send_pass, ceiling_pass):
            messages_before, bytes_before, cpu_before = received.value, received_bytes.value, server_cpu.value
            load = os.getloadavg()[0]
            results: multiprocessing.Queue = multiprocessing.Queue()
            child = multiprocessing.Process(target=target, args=(args.subscribers, args.papers, port, args.connections,
                                                                 results))
            child.start()
            row = results.get()
            child.join()
            row.load = load
            if received.value > messages_before:
                row.server_cpu = server_cpu.value - cpu_before
                row.total_bytes = received_bytes.value - bytes_before
                if row.messages != received.value - messages_before:
                    print(f"{row.name}: sent {row.messages}, server received {received.value - messages_before}")
                    return 1
            rows.append(row)
    finally:
        server.terminate()
        server.join()

    server_kind = "DATA read in blocks" if args.server == "block" else "stock"
    print(f"digest benchmark: {args.subscribers:,} subscribers (varied filters), {args.papers} papers on the day, "
          f"{args.connections} SMTP connection(s), aiosmtpd ({server_kind}, answering after {args.reply_delay:g} ms) "
          "in a separate process; "
          f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"{'pass':<8} {'messages':>8} {'skipped':>7} {'seconds':>7} {'msg/s':>6} {'client CPU':>10} "
          f"{'server CPU':>10} {'avg KB':>6} {'peak RSS':>8} {'load':>5}")
    print(f"{'':<8} {'':>8} {'':>7} {'':>7} {'':>6} {'ms/msg':>10} {'ms/msg':>10} {'':>6} {'MB':>8} {'':>5}")
    for row in rows:
        per = 1000 / max(row.messages, 1)
        server = f"{row.server_cpu * per:>10.2f}" if row.server_cpu is not None else f"{'-':>10}"
        print(f"{row.name:<8} {row.messages:>8,} {row.skipped:>7,} {row.seconds:>7.2f} {row.messages / row.seconds:>6.0f} "
              f"{row.client_cpu * per:>10.2f} {server} {row.total_bytes / max(row.messages, 1) / 1024:>6.1f} "
              f"{row.peak_rss_mb:>8.1f} {row.load:>5.1f}")
    send = rows[1]
    rate = send.messages / send.seconds
    print(f"compose + send: {rate:.0f} messages/s, {'meeting' if rate >= GOAL else 'below'} the goal of {GOAL:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
