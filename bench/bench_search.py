"""Search benchmark (issue 5): our sharded JSON index against Pagefind, on the same built site.

In bench/work/search-nN/ (git-ignored) the script:

  a. writes N synthetic papers (bench/synthetic.py) and builds the full site with build_site,
     once: a later run with the same N reuses both (delete the folder after changing pages);
  b. times our index alone: `write_search_index` of the loaded corpus into an empty folder
     (loading the store is not counted: every build does it anyway), measures its files, and
     puts it and assets/search.js into the site, so a reused site searches with current code;
  c. times Pagefind (`python -m pagefind`, from the `bench` extra) indexing the same paper
     pages, told to read what our index reads: the title, the authors and the abstract;
  d. serves the site on 127.0.0.1 with gzip, as a static host would (Pagefind's index files
     are gzipped by Pagefind itself and are sent as they are), and for each query opens a
     fresh browser context (cold cache) in headless Chromium, types the query into the
     search box with a human's pause between keys, and records
       - the bytes of every response the search needs (for us: assets/search.js and
         search/*.json; for Pagefind: pagefind/*), as transferred, from the network log,
         while the page loads and the query is typed;
       - the time from the last keystroke's input event to the moment the top 10 results
         (title and link) are on screen, with performance.now() in the page.
     Pagefind runs through its JavaScript API on a bench page written next to it that does
     what our page does: search on every input, no debounce, fetch and show the top 10.

    .venv/bin/python bench/bench_search.py [--papers 100000] [--repeats 3] [--skip-pagefind]

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if __package__ in (None, ""):  # run as a script: make the project and its bench importable
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH_DIR))

import synthetic  # noqa: E402

from paperroute.config import Config, SiteConfig, with_base_url  # noqa: E402
from paperroute.corpus import build_corpus  # noqa: E402
from paperroute.output import SiteWriter  # noqa: E402
from paperroute.search import doc_ids, write_search_index  # noqa: E402
from paperroute.site import build_site  # noqa: E402
from paperroute.store import ContentStore  # noqa: E402
from paperroute.topics import load_topics  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
TYPING_DELAY_MS = 120
TOP = 10
# Pagefind's default debounce. Without one, every keystroke's search queues in its WebAssembly
# worker: typing "model" at 100,000 papers then took 155 s to show results.
PAGEFIND_DEBOUNCE_MS = 300
# Pagefind reads what our index reads: the paper page's title, authors and abstract.
PAGEFIND_OPTIONS = ["--glob", "papers/**/*.html", "--root-selector", "article.paper",
                    "--exclude-selectors", ".related", "--exclude-selectors", ".paper-links",
                    "--exclude-selectors", ".chips", "--exclude-selectors", ".eyebrow",
                    "--exclude-selectors", "#abstract-title", "--force-language", "en"]
COMPRESSIBLE = {".html", ".json", ".js", ".css", ".svg", ".xml"}

# Records, in the page, when the last input event started and when #results stopped being busy.
TIMING_SCRIPT = """
window.__bench = { lastInput: 0, idle: [] };
document.addEventListener("input", () => { window.__bench.lastInput = performance.now(); }, true);
document.addEventListener("DOMContentLoaded", () => {
  const results = document.getElementById("results");
  new MutationObserver(() => {
    if (!results.hasAttribute("aria-busy")) window.__bench.idle.push(performance.now());
  }).observe(results, { attributes: true, attributeFilter: ["aria-busy"] });
});
"""

# The Pagefind side of the comparison: the same page behaviour, through Pagefind's JS API.
PAGEFIND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pagefind bench</title><link rel="icon" href="data:,"></head>
<body>
<input type="search" id="q" autocomplete="off">
<p id="search-status"></p>
<ol id="results"></ol>
<script type="module">
const pagefind = await import("../pagefind/pagefind.js");
await pagefind.init();
const input = document.getElementById("q");
const results = document.getElementById("results");
const status = document.getElementById("search-status");
let generation = 0;
input.addEventListener("input", async () => {
  const mine = ++generation;
  results.setAttribute("aria-busy", "true");
  // Pagefind's own search-as-you-type call: it waits %(debounce)d ms for typing to stop, and
  // resolves to null when a newer call replaced it.
  const search = await pagefind.debouncedSearch(input.value, {}, %(debounce)d);
  if (search === null || mine !== generation) return;
  const top = await Promise.all(search.results.slice(0, %(top)d).map((result) => result.data()));
  if (mine !== generation) return;
  results.replaceChildren(...top.map((data) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = data.url;
    link.textContent = data.meta.title;
    item.append(link);
    return item;
  }));
  status.textContent = `${search.results.length} results`;
  results.removeAttribute("aria-busy");
});
document.body.dataset.ready = "1";
</script>
</body></html>
""" % {"top": TOP, "debounce": PAGEFIND_DEBOUNCE_MS}


@dataclass(frozen=True)
class IndexBuild:
    seconds: float
    files: int
    bytes: int


@dataclass(frozen=True)
class QueryRun:
    bytes: int
    requests: int
    milliseconds: float
    shown: int
    status: str


def tree_size(root: Path) -> tuple[int, int]:
    files = total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            files += 1
            total += (Path(folder) / name).stat().st_size
    return files, total


def prepare_site(work: Path, papers: int) -> Path:
    """Content and the full site for `papers` papers, made once and reused while N stays the same."""
    content, site = work / "content", work / "site"
    marker = work / "site.built"
    if marker.is_file() and marker.read_text() == str(papers):
        print(f"reusing {site} ({papers:,} papers)", flush=True)
        return site
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    synthetic.write_corpus(content, papers)
    print(f"wrote {papers:,} synthetic papers in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    config = with_base_url(Config(site=SiteConfig(title="paperroute bench")), "http://127.0.0.1:8000/")
    report = build_site(content, site, config, quiet=True)
    print(f"{report.summary()} in {time.perf_counter() - started:.1f} s", flush=True)
    marker.write_text(str(papers))
    return site


def time_our_index(work: Path, site: Path) -> IndexBuild:
    """Write our index cold into an empty folder, then put it and search.js into the site.

    The second step keeps a reused site's search current with the code being measured.
    """
    content = work / "content"
    corpus = build_corpus(ContentStore(content).load(), load_topics(content))
    out = work / "index-only"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    write_search_index(doc_ids(corpus), corpus.topics, SiteWriter(out))
    seconds = time.perf_counter() - started
    files, total = tree_size(out / "search")
    page = (site / "search" / "index.html").read_bytes()
    shutil.rmtree(site / "search")
    shutil.move(out / "search", site / "search")
    (site / "search" / "index.html").write_bytes(page)
    shutil.copyfile(ROOT / "templates" / "assets" / "search.js", site / "assets" / "search.js")
    return IndexBuild(seconds, files, total)


def time_pagefind(site: Path) -> IndexBuild:
    shutil.rmtree(site / "pagefind", ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pagefind", "--site", str(site), "--output-subdir", "pagefind", "--silent",
                    *PAGEFIND_OPTIONS], check=True)
    seconds = time.perf_counter() - started
    page = site / "pagefind-bench" / "index.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(PAGEFIND_PAGE, encoding="utf-8")
    files, total = tree_size(site / "pagefind")
    return IndexBuild(seconds, files, total)


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Static files; text compressed with gzip when the browser accepts it, as hosts do."""

    compressed: dict[str, bytes] = {}
    lock = threading.Lock()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"
        if (path.suffix not in COMPRESSIBLE or "gzip" not in self.headers.get("Accept-Encoding", "")
                or not path.is_file()):
            super().do_GET()  # directories without their slash are redirected there
            return
        key = str(path)
        with self.lock:
            body = self.compressed.get(key)
            if body is None:
                body = self.compressed[key] = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(GzipHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def measure(browser, page_url: str, query: str, counts: Callable[[str], bool]) -> QueryRun:
    """One cold query: a new context, the page, the query typed; bytes and latency from the page."""
    context = browser.new_context()
    context.add_init_script(TIMING_SCRIPT)
    transfers: list[int] = []

    def finished(request) -> None:
        if request.resource_type != "document" and counts(request.url):
            sizes = request.sizes()
            transfers.append(sizes["responseBodySize"] + sizes["responseHeadersSize"])

    context.on("requestfinished", finished)
    page = context.new_page()
    page.goto(page_url)
    page.wait_for_load_state("networkidle")
    box = page.locator("input[type=search]")
    box.click()
    box.press_sequentially(query, delay=TYPING_DELAY_MS)
    page.wait_for_selector("#results:not([aria-busy])", state="attached", timeout=900_000)
    page.wait_for_load_state("networkidle")
    timing = page.evaluate("window.__bench")
    after = [moment for moment in timing["idle"] if moment >= timing["lastInput"]]
    run = QueryRun(bytes=sum(transfers), requests=len(transfers), milliseconds=after[0] - timing["lastInput"],
                   shown=page.locator("#results li").count(), status=page.locator("#search-status").inner_text())
    context.close()
    return run


def pick_rare_word(site: Path) -> str:
    """A word from the long tail: the first plain term of our index that 2 to 4 papers use."""
    index = site / "search"
    shards = len(json.loads((index / "meta.json").read_text())["shards"])
    for number in range(shards):
        for term, entry in json.loads((index / f"t/{number}.json").read_text()).items():
            if 2 <= entry[0] <= 4 and term.isalpha() and term.isascii() and len(term) >= 8:
                return term
    raise SystemExit("no rare word in the index")


def _kb(count: float) -> str:
    return f"{count / 1024:,.1f} KB"


def _mb(count: float) -> str:
    return f"{count / 1024 / 1024:,.1f} MB"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=100_000, help="synthetic papers (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="cold runs per query and engine; medians are shown")
    parser.add_argument("--skip-pagefind", action="store_true", help="measure our search only")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default bench/work/search-nN)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    work = args.work or BENCH_DIR / "work" / f"search-n{args.papers}"
    load_before = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    site = prepare_site(work, args.papers)
    ours = time_our_index(work, site)
    print(f"our index: {ours.seconds:.1f} s, {ours.files:,} files, {_mb(ours.bytes)}", flush=True)
    theirs = None if args.skip_pagefind else time_pagefind(site)
    if theirs:
        print(f"Pagefind: {theirs.seconds:.1f} s, {theirs.files:,} files, {_mb(theirs.bytes)}", flush=True)

    queries = [("common word", "model"), ("rare word", pick_rare_word(site)), ("two words", "sparse attention"),
               ("prefix", "quantiz"), ("no result", "xyzzyq")]
    engines = [("ours", "search/", lambda url: "/search/" in url or url.endswith("/assets/search.js"))]
    if theirs:
        engines.append(("Pagefind", "pagefind-bench/", lambda url: "/pagefind/" in url))
    server, base = serve(site)
    medians: dict[tuple[str, str], QueryRun] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for kind, query in queries:
                for engine, path, counts in engines:
                    runs = [measure(browser, base + path, query, counts) for _ in range(args.repeats)]
                    middle = sorted(runs, key=lambda run: run.milliseconds)[len(runs) // 2]
                    medians[(kind, engine)] = QueryRun(int(statistics.median(run.bytes for run in runs)),
                                                       middle.requests, middle.milliseconds, middle.shown, middle.status)
                    print(f"{kind:12} {engine:9} {query!r}: {_kb(medians[(kind, engine)].bytes)}, "
                          f"{middle.requests} requests, {middle.milliseconds:.1f} ms, {middle.status}", flush=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()

    print(f"\n## Search at {args.papers:,} papers\n")
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, Chromium headless, "
          f"load average before the run {load_before}. Typing {TYPING_DELAY_MS} ms between keys; each query in a new "
          f"browser context (cold cache); medians of {args.repeats} runs; bytes as transferred from a gzip-serving "
          f"127.0.0.1 server, from page load to the top 10 results. Pagefind's times include its own "
          f"{PAGEFIND_DEBOUNCE_MS} ms debounce (see PAGEFIND_DEBOUNCE_MS).\n")
    print("| index | build time | files | size on disk |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| ours (search/) | {ours.seconds:.1f} s | {ours.files:,} | {_mb(ours.bytes)} |")
    if theirs:
        print(f"| Pagefind (pagefind/) | {theirs.seconds:.1f} s | {theirs.files:,} | {_mb(theirs.bytes)} |")
    print()
    header = "| query | typed | ours: bytes | ours: requests | ours: ms after last key | ours: shown |"
    rule = "| --- | --- | ---: | ---: | ---: | --- |"
    if theirs:
        header += " Pagefind: bytes | Pagefind: requests | Pagefind: ms after last key | Pagefind: shown |"
        rule += " ---: | ---: | ---: | --- |"
    print(header)
    print(rule)
    for kind, query in queries:
        row = medians[(kind, "ours")]
        line = (f"| {kind} | `{query}` | {_kb(row.bytes)} | {row.requests} | {row.milliseconds:.1f} | "
                f"{row.shown} ({row.status.rstrip('.')}) |")
        if theirs:
            other = medians[(kind, "Pagefind")]
            line += f" {_kb(other.bytes)} | {other.requests} | {other.milliseconds:.1f} | {other.shown} ({other.status}) |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
