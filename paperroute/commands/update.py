"""The daily run for a scheduler: fetch → ingest → build → digest, for one day.

Fetches Hugging Face's Daily Papers for the day (and, with `--arxiv`, the newest submissions of
each category), saves every response under content/sources/, ingests them all listed on that
day, rebuilds the site, then writes, previews or sends that day's digest. Every step is
idempotent, so a second run the same day changes no file and sends no message twice: the saved
responses and the papers are unchanged, the build rewrites nothing, and the digest ledger
remembers who was sent what. Every source is fetched and saved before any is ingested, and a
failed fetch or a rejected response stops the run before the build and the digest (exit 1), so
a partial day is never published or mailed; what was fetched stays on disk for the next run.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from paperroute.commands import digest
from paperroute.commands.fetch import add_network_arguments, arxiv_category, fetch_summary, ingest_fetched, result_count
from paperroute.commands.ingest import iso_date
from paperroute.config import load_config, with_base_url
from paperroute.digest.subscribers import DEFAULT_SUBSCRIBERS_FILE
from paperroute.fetch import ARXIV_MAX_RESULTS, RetryPolicy, fetch_arxiv, fetch_hf
from paperroute.site import build_site

HELP = "the daily run: fetch, ingest, build the site, then the digest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, default=None, metavar="YYYY-MM-DD",
                        help="the day to fetch, list, build and mail (default: today)")
    parser.add_argument("--arxiv", type=arxiv_category, action="append", default=[], metavar="CATEGORY",
                        help="also fetch the newest submissions of this arXiv category (repeatable), listed on the day")
    parser.add_argument("--max", type=result_count, default=100, metavar="N",
                        help=f"arXiv submissions per category (default: 100, at most {ARXIV_MAX_RESULTS})")
    add_network_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("site"), metavar="DIR", help="where to build the site (default: site/)")
    parser.add_argument("--base-url", default=None, metavar="URL", help="the site's public address (default: site.base_url)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--outbox", type=Path, default=None, metavar="DIR", help="write the digest as .eml files into DIR")
    mode.add_argument("--send", action="store_true", help="send the digest over SMTP (PAPERROUTE_SMTP_* settings)")
    parser.add_argument("--subscribers", type=Path, default=DEFAULT_SUBSCRIBERS_FILE, metavar="FILE",
                        help="the subscribers file (default: subscribers.yaml; without it and without "
                        "--outbox/--send the digest step is skipped)")
    parser.add_argument("--ledger", type=Path, default=None, metavar="FILE",
                        help="the digest's delivery ledger for --send (default: the digest.ledger setting)")


def digest_arguments(args: argparse.Namespace, day: dt.date) -> argparse.Namespace:
    """The digest command's own arguments for this run, defaults and all, from its own parser."""
    parser = argparse.ArgumentParser(add_help=False)
    digest.add_arguments(parser)
    argv = ["--date", day.isoformat(), "--subscribers", str(args.subscribers)]
    if args.outbox is not None:
        argv += ["--outbox", str(args.outbox)]
    if args.send:
        argv.append("--send")
    if args.ledger is not None:
        argv += ["--ledger", str(args.ledger)]
    namespace = parser.parse_args(argv)
    namespace.content, namespace.config, namespace.quiet = args.content, args.config, args.quiet
    return namespace


def run(args: argparse.Namespace) -> int:
    today = dt.date.today()
    day = args.date or today
    policy = RetryPolicy(attempts=args.retries + 1)
    # Settings are checked before the network is touched: a typo must not cost a download.
    config = with_base_url(load_config(args.config), args.base_url)

    # Every source is fetched (and saved) before any is ingested: a failed download changes no paper.
    fetched = [fetch_hf(args.content, day, timeout=args.timeout, policy=policy)]
    for category in dict.fromkeys(args.arxiv):
        fetched.append(fetch_arxiv(args.content, category, args.max, day, timeout=args.timeout, policy=policy))
    for item in fetched:
        print(fetch_summary(item))

    ingested = ingest_fetched(fetched, args.content, day, today, args.quiet)
    print(ingested.summary())

    report = build_site(args.content, args.out, config, quiet=args.quiet)
    print(report.summary())

    status = 0
    if args.outbox is None and not args.send and not args.subscribers.exists():
        print(f"digest {day}: skipped (no subscribers file {args.subscribers})")
    else:
        status = digest.run(digest_arguments(args, day))
    merge = ingested.report
    print(f"update {day}: {len(fetched)} source(s) fetched, {len(merge.new)} new and {len(merge.updated)} merged papers, "
          f"{report.written} site files written")
    return status
