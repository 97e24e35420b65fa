"""The digest at scale: 10,000 subscribers with varied filters, one day of 100 papers, sent to a
local aiosmtpd server running in its own process. Goal: at least 300 messages a second.

Measured in three passes over the same subscribers, each in a fresh process so that peak
memory (ru_maxrss) belongs to that pass alone:
  compose   select + render both parts + inline CSS + serialise, no network
  send      the same, plus the ledger (two commits a message) and SMTP through one connection,
            via the command's own code path (`paperroute.commands.digest.send_digest`)
  ceiling   the same messages composed beforehand and sent by bare smtplib: what the server
            takes at most, so a slow `send` can be told from a slow server

    python bench/bench_digest.py [--subscribers N] [--papers N]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import resource
import socket
import sys
import tempfile
import time
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


def bench_config(port: int) -> Config:
    return Config(
        site=SiteConfig(base_url="https://papers.example.org/"),
        digest=DigestConfig(sender="paperroute <digest@papers.example.org>",
                            unsubscribe_url="https://papers.example.org/unsubscribe?email={email}"),
        smtp=SmtpConfig(host="127.0.0.1", port=port, timeout=60.0),
    )


# ---------------------------------------------------------------- the server, in its own process


def serve(port: int, ready, received, received_bytes) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with received.get_lock():
                received.value += 1
                received_bytes.value += len(envelope.original_content)
            return "250 2.0.0 queued"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


# ---------------------------------------------------------------- the passes (each in a child process)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compose_pass(subscribers: int, papers: int, results) -> None:
    config = bench_config(0)
    started = time.perf_counter()
    plan = make_plan(subscribers, papers, config)
    setup = time.perf_counter() - started
    total_bytes = messages = 0
    started = time.perf_counter()
    for subscriber, chosen in plan.recipients(quiet=True):
        total_bytes += len(plan.edition.render(subscriber, chosen))
        messages += 1
    elapsed = time.perf_counter() - started
    results.put(("compose", messages, plan.skipped, elapsed, setup, total_bytes, peak_rss_mb()))


def ceiling_pass(subscribers: int, papers: int, port: int, results) -> None:
    """The server's own limit, for scale: the same messages, composed beforehand, sent by bare
    smtplib with no ledger, no pacing, nothing else."""
    import smtplib

    config = bench_config(port)
    plan = make_plan(subscribers, papers, config)
    recipients = itertools.islice(plan.recipients(quiet=True), CEILING_MESSAGES)
    messages = [(subscriber.email, plan.edition.render(subscriber, chosen)) for subscriber, chosen in recipients]
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    for recipient, data in messages:
        smtp.sendmail("digest@papers.example.org", [recipient], data)
    elapsed = time.perf_counter() - started
    smtp.quit()
    results.put(("ceiling", len(messages), 0, elapsed, 0.0, sum(len(d) for _, d in messages), peak_rss_mb()))


def send_pass(subscribers: int, papers: int, port: int, ledger_path: str, results) -> None:
    config = bench_config(port)
    started = time.perf_counter()
    plan = make_plan(subscribers, papers, config)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    report = send_digest(plan, config, Path(ledger_path), quiet=True)
    elapsed = time.perf_counter() - started
    results.put(("send", report.sent, plan.skipped, elapsed, setup, 0, peak_rss_mb()))


def run_child(target, *args) -> tuple:
    results = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(*args, results))
    process.start()
    row = results.get()
    process.join()
    return row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=100, help="papers on the day (default 100)")
    args = parser.parse_args(argv)

    port = free_port()
    ready = multiprocessing.Event()
    received = multiprocessing.Value("q", 0)
    received_bytes = multiprocessing.Value("q", 0)
    server = multiprocessing.Process(target=serve, args=(port, ready, received, received_bytes), daemon=True)
    server.start()
    ready.wait(30)
    try:
        compose_row = run_child(compose_pass, args.subscribers, args.papers)
        with tempfile.TemporaryDirectory() as work:
            before = received_bytes.value
            send_row = run_child(send_pass, args.subscribers, args.papers, port, str(Path(work) / "ledger.sqlite3"))
            send_bytes = received_bytes.value - before
        sent = received.value
        ceiling_row = run_child(ceiling_pass, args.subscribers, args.papers, port)
    finally:
        server.terminate()
        server.join()

    print(f"digest benchmark: {args.subscribers:,} subscribers, {args.papers} papers on the day, "
          f"aiosmtpd in a separate process on 127.0.0.1:{port}")
    print(f"{'pass':<9} {'messages':>9} {'skipped':>8} {'seconds':>8} {'msg/s':>8} {'setup s':>8} {'avg KB':>7} {'peak RSS MB':>12}")
    for name, messages, skipped, elapsed, setup, total_bytes, rss in (compose_row, send_row, ceiling_row):
        size = send_bytes if name == "send" else total_bytes
        print(f"{name:<9} {messages:>9,} {skipped:>8,} {elapsed:>8.2f} {messages / elapsed:>8.0f} {setup:>8.2f} "
              f"{size / max(messages, 1) / 1024:>7.1f} {rss:>12.1f}")
    rate = send_row[1] / send_row[3]
    print(f"server received {sent:,} messages from the send pass; compose + send: {rate:.0f} messages/s "
          f"({'meets' if rate >= GOAL else 'BELOW'} the goal of {GOAL:.0f}); "
          f"the server alone took {ceiling_row[1] / ceiling_row[3]:.0f}/s of the same messages")
    return 0 if sent == send_row[1] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
