"""Fixtures shared by the test files: real folders, a real HTTP server, a real browser."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import importlib.util
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest

from paperroute.model import Paper, SourceRef
from paperroute.output import write_atomic
from paperroute.store import ContentStore, render_paper_file

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def seeds_dir() -> Path:
    return SEEDS


@functools.cache
def load_synthetic():
    """bench/synthetic.py, the benchmarks' corpus generator (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("synthetic", ROOT / "bench" / "synthetic.py")
    module = importlib.util.module_from_spec(spec)
    # Registered by name, so worker processes can find the functions they are handed.
    sys.modules["synthetic"] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """Bind port 0 ourselves and hand the number on (aiosmtpd's own port 0 is broken)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_paper(title: str = "A Paper", date: str | dt.date = "2026-03-12", **fields) -> Paper:
    """A paper as a source parser would return it, with sensible defaults for tests."""
    date = dt.date.fromisoformat(date) if isinstance(date, str) else date
    fields.setdefault("abstract", f"The abstract of {title}.")
    fields.setdefault("sources", [SourceRef("capture", "test.txt", date)])
    fields.setdefault("topics", ["training"])
    return Paper(title=title, date=date, **fields)


@pytest.fixture
def paper_factory() -> Callable[..., Paper]:
    return make_paper


def write_store(content_dir: Path, papers: list[Paper]) -> ContentStore:
    """Write papers straight into a content store (slug from the title unless set)."""
    from paperroute.text import slugify

    store = ContentStore(content_dir)
    for paper in papers:
        if not paper.slug:
            paper.slug = slugify(paper.title)
        write_atomic(store.paper_path(paper), render_paper_file(paper).encode("utf-8"))
    default_topics = ROOT / "content" / "topics.yaml"
    if default_topics.exists() and not (content_dir / "topics.yaml").exists():
        shutil.copy(default_topics, content_dir / "topics.yaml")
    return store


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="module")
def serve_dir() -> Iterator[Callable[[Path], str]]:
    """Serve a folder over HTTP on 127.0.0.1; returns the base URL (ending in /).

    Module-scoped so the server outlives every page of the module: a page torn down after
    its server would see a late request (the favicon after a navigation) reset."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; the tests that need it fail loudly without it."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed: run `make test`, which installs it with apt-get")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                  "--no-first-run", "--disable-component-update", "--disable-sync"],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
