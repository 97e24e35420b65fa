"""Download a live listing, save it under content/sources/, then ingest it.

`fetch hf [--date D]` asks Hugging Face for the Daily Papers of day D (default: today) and
lists them on D. `fetch arxiv --category cs.CL [--max N] [--date D]` asks arXiv's API for the
newest N submissions in the category; with `--date` they are listed on D, otherwise on the day
of their first version. PAPERROUTE_HF_URL and PAPERROUTE_ARXIV_URL point the requests
elsewhere (a mirror, a test server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

from paperroute.commands import whole_number
from paperroute.commands.ingest import IngestResult, ingest, iso_date
from paperroute.errors import InputError
from paperroute.fetch import ARXIV_MAX_RESULTS, Fetched, RetryPolicy, fetch_arxiv, fetch_hf

HELP = "download today's papers from Hugging Face or arXiv and ingest them"

# cs.CL, math.AG, hep-th: also what the saved file is named after, so nothing else gets through.
_CATEGORY = re.compile(r"^[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?$")


def arxiv_category(value: str) -> str:
    if not _CATEGORY.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an arXiv category such as cs.CL")
    return value


result_count = whole_number(1, ARXIV_MAX_RESULTS)
retries = whole_number(0, 10)


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a positive number of seconds")
    return number


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """The HTTP knobs `fetch` and `update` share."""
    parser.add_argument("--timeout", type=seconds, default=30.0, metavar="SECONDS",
                        help="give up on a request that has not answered in this long (default: 30)")
    parser.add_argument("--retries", type=retries, default=3, metavar="N",
                        help="retries after a timeout, a rate limit (429) or a server error (default: 3)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", choices=("hf", "arxiv"), help="hf: Hugging Face Daily Papers; arxiv: the arXiv API")
    parser.add_argument("--date", type=iso_date, default=None, metavar="YYYY-MM-DD",
                        help="hf: the day to fetch (default: today); arxiv: the listing date to give the papers")
    parser.add_argument("--category", type=arxiv_category, default=None, metavar="CATEGORY",
                        help="arxiv: the category to fetch, such as cs.CL (required for arxiv)")
    parser.add_argument("--max", type=result_count, default=100, metavar="N",
                        help=f"arxiv: how many of the newest submissions (default: 100, at most {ARXIV_MAX_RESULTS})")
    add_network_arguments(parser)


def ingest_fetched(fetched: list[Fetched], content_dir: Path, listing_date: dt.date | None, today: dt.date,
                   quiet: bool) -> IngestResult:
    """Ingest saved responses; a rejection names the saved file, which stays for a look."""
    result = ingest([item.path for item in fetched], content_dir, listing_date=listing_date, today=today, quiet=quiet)
    if result.rejected:
        err = result.rejected[0]
        raise InputError(f"{err.message} (the response is kept in this file)", err.path, err.line)
    return result


def fetch_summary(fetched: Fetched) -> str:
    kept = "saved" if fetched.changed else "unchanged"
    tries = f", {fetched.attempts} attempts" if fetched.attempts > 1 else ""
    return f"fetched {fetched.size} bytes → {fetched.path} ({kept}{tries})"


def usage_error(message: str) -> int:
    """Bad usage the argument parser cannot see (options that depend on the source): exit 2."""
    print(f"paperroute fetch: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    today = dt.date.today()
    policy = RetryPolicy(attempts=args.retries + 1)
    if args.source == "hf":
        if args.category is not None:
            return usage_error("--category is for `fetch arxiv`; Hugging Face lists every category")
        listing_date = args.date or today
        fetched = fetch_hf(args.content, listing_date, timeout=args.timeout, policy=policy)
    else:
        if args.category is None:
            return usage_error("fetch arxiv needs --category, such as --category cs.CL")
        listing_date = args.date
        fetched = fetch_arxiv(args.content, args.category, args.max, args.date or today,
                              timeout=args.timeout, policy=policy)
    result = ingest_fetched([fetched], args.content, listing_date, today, args.quiet)
    print(f"{fetch_summary(fetched)}; {result.summary()}")
    return 0
