"""The site's URL scheme, in one place, for pages, feeds, the search index and email.

Paths are relative to the site root and end in `/` for pages (served as `index.html`), so a
site works at a domain root and under a sub-path (`https://host/name/`) alike.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import SplitResult, urlsplit


def home_path() -> str:
    return ""


def day_path(date: dt.date) -> str:
    return f"days/{date.isoformat()}/"


def paper_path(slug: str) -> str:
    return f"papers/{slug}/"


def topic_path(slug: str, page: int = 1) -> str:
    return f"topics/{slug}/" if page == 1 else f"topics/{slug}/page/{page}/"


def topic_feed_path(slug: str) -> str:
    return f"topics/{slug}/feed.xml"


def archive_path() -> str:
    return "archive/"


def search_path() -> str:
    return "search/"


def output_file(path: str) -> str:
    """The file a site path is written to: pages become `<path>index.html`."""
    return f"{path}index.html" if path == "" or path.endswith("/") else path


def absolute(base_url: str, path: str) -> str:
    """A full URL for feeds, sitemaps and email, where relative links mean nothing."""
    return base_url.rstrip("/") + "/" + path


def relative(from_path: str, to_path: str) -> str:
    """A link from one page to another that works under any base URL, even from file://.

    Both are site paths, so the link climbs to the site root (one `../` per folder of the
    page) and goes down to the target: string work only, since a build makes millions of
    links and `posixpath.relpath` made link-making the build's largest cost.
    """
    from_dir = from_path if from_path.endswith("/") else from_path[: from_path.rfind("/") + 1]
    return ("../" * from_dir.count("/") + to_path) or "./"


def web_address(url: str) -> SplitResult | None:
    """`url` split, when it is an http(s) address with a host, no white space, and no port or a
    port that is a number in range; None for anything else. Sources, settings and the
    environment all hand over addresses, some mistyped or hostile (`javascript:`), and
    `urlsplit` raises for a few (an unclosed IPv6 bracket, a port of `99999`)."""
    if any(character.isspace() for character in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # read for its check: a port that is not a number, or out of range, raises
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.hostname else None
