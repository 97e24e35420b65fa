"""Parse sources (format detected from their content) and merge them into the content store."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

from paperroute.errors import InputError
from paperroute.model import Paper
from paperroute.progress import progress
from paperroute.sources.detect import parse_source
from paperroute.store import ContentStore, MergeReport
from paperroute.topics import ensure_taxonomy_file, load_taxonomy

HELP = "parse sources and merge them into the content store"


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a YYYY-MM-DD date") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="source files (capture .txt, saved .html, HF .json, arXiv .xml)")
    parser.add_argument("--date", type=iso_date, default=None, metavar="YYYY-MM-DD",
                        help="the listing date where a source has none; wins over a capture's 'Mon D' header")


@dataclass
class IngestResult:
    report: MergeReport
    sources: int = 0
    rejected: list[InputError] = field(default_factory=list)

    def summary(self) -> str:
        r = self.report
        folded = r.entries - len(r.new) - len(r.updated) - r.unchanged
        return (
            f"ingested {self.sources} source(s), {r.entries} entries: {len(r.new)} new, "
            f"{len(r.updated)} merged, {r.unchanged} unchanged, {folded} duplicate entries folded; "
            f"{len(self.rejected)} source(s) rejected"
        )


def ingest(paths: list[Path], content_dir: Path, *, listing_date: dt.date | None = None,
           today: dt.date | None = None, quiet: bool = True) -> IngestResult:
    """Parse every source first, then merge the good ones in one pass.

    A rejected source contributes nothing, so a bad file never leaves half its papers behind.
    """
    today = today or dt.date.today()
    sightings: list[Paper] = []
    rejected: list[InputError] = []
    for path in progress(paths, total=len(paths), label="parsing", quiet=quiet):
        try:
            sightings.extend(parse_source(path, listing_date=listing_date, today=today))
        except InputError as err:
            rejected.append(err)
    parsed = len(paths) - len(rejected)
    if not sightings:
        return IngestResult(MergeReport(), parsed, rejected)
    ensure_taxonomy_file(content_dir)
    taxonomy = load_taxonomy(content_dir)
    store = ContentStore(content_dir)
    report = store.merge(sightings, lambda paper: taxonomy.assign(paper.title, paper.abstract))
    return IngestResult(report, parsed, rejected)


def run(args: argparse.Namespace) -> int:
    result = ingest(args.paths, args.content, listing_date=args.date, quiet=args.quiet)
    for err in result.rejected:
        print(f"paperroute: rejected {err}", file=sys.stderr)
    print(result.summary())
    return 1 if result.rejected else 0
