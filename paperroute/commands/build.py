"""Build the static site from the content store: pages, feeds, sitemap, into one folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from paperroute.commands import whole_number
from paperroute.config import load_config, with_base_url
from paperroute.errors import InputError
from paperroute.site import build_site

HELP = "build the static site from the content store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("site"), metavar="DIR",
                        help="where to write the site (default: site/); files it did not write are deleted")
    parser.add_argument("--base-url", default=None, metavar="URL",
                        help="the site's public address, for canonical links, feeds and the sitemap "
                        "(default: site.base_url in paperroute.yaml); a sub-path such as https://host/name/ works")
    parser.add_argument("--jobs", type=whole_number(1), default=None, metavar="N",
                        help="processes to build with (default: one per core); 1 needs the least memory")


def run(args: argparse.Namespace) -> int:
    if not args.content.is_dir():
        raise InputError("no content store here (ingest a source first, or pass --content DIR)", args.content)
    config = with_base_url(load_config(args.config), args.base_url)
    report = build_site(args.content, args.out, config, quiet=args.quiet, jobs=args.jobs)
    print(report.summary())
    return 0
