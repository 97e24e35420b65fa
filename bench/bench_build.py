"""Build benchmark (issue 8): ingest, cold build, no-op build, one new day, memory, size, and Hugo.

For each N the script works in bench/work/nN/ (git-ignored, new each run) and, in order:

  a. writes N synthetic papers (bench/synthetic.py, seeded) as the SOURCE files a daily run
     fetches: one Hugging Face daily_papers JSON per day, every tenth day an arXiv API Atom
     feed instead, and times `build.py ingest` of all of them into an empty store;
  b. times a cold `build.py build` into a new output folder, with no build cache;
  c. times a no-op rebuild;
  d. ingests one new day (100 papers, one more HF JSON file) and times the rebuild, counting
     the output files it created, rewrote or removed (mtime, size and inode, before and after);
  e. records each command's peak memory (see `Measured`);
  f. measures the output: bytes on disk (as `du`) and files;
  g. writes the same N papers as a Hugo project (bench/hugo_site.py, not timed) and times a
     cold `hugo --quiet`: once with related papers on topics and keywords, as our pages have
     them, and once without, which is Hugo's floor on the same pages;
  h. builds the incremented content from scratch into a second folder and checks that it is
     byte-identical to the incremental result (`diff -r`).

The papers are those of bench/synthetic.py: the store of size N holds papers 100 … N+99 of the
seeded corpus (newest first) and the new day is papers 0 … 99, the day after, so every run
of every size sees the same papers. paperroute's modules are byte-compiled first, as an
installed copy's are (this machine's environment sets PYTHONDONTWRITEBYTECODE, so no command
would keep the .pyc files it compiles). Commands run as subprocesses with the work folder as
their current directory; a cold build is one whose build state and search cache (the files beside its
output folder, `paperroute.buildstate.state_path`, `paper_cache_dir` and `search_cache_paths`) do not exist.

No step deletes files before a timed one: an earlier run's folders, and Hugo's output between
its two builds, are moved aside (bench/work/.trash/) and deleted once everything is measured.
This machine's ext4 runs without a journal, and such an ext4 will not reuse an inode freed in
the last 60 s (300 s while its inode table block is unwritten): it scans past every one, so for
minutes after a mass deletion each new file or folder costs several times the CPU (creating a
folder and a file: 0.07 ms settled, 0.35 ms just after deleting 10,000 of each). A deletion
just before a timed step would charge that to the step, ours or Hugo's. Likewise every timed
step starts after `sync`: Hugo's two 100k builds leave over 2 GB of output to be written back,
and the steps after them (the new day and the full build) paid for that writeback (the full
build of 100,100 papers took 51.2 s where the cold build of 100,000 had taken 42.7 s).

    .venv/bin/python bench/bench_build.py [--sizes 10000,100000] [--skip-hugo]

Prints a Markdown table per N and the machine, and writes them to bench/results/build.md
(sections of sizes not run this time are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if __package__ in (None, ""):  # run as a script: make the project and its bench importable
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH_DIR))

from hugo_site import WITHOUT_RELATED, write_hugo_site  # noqa: E402
from synthetic import PAPERS_PER_DAY, SEED, synthetic_paper  # noqa: E402

from paperroute.buildstate import paper_cache_dir, search_cache_paths, state_path  # noqa: E402
from paperroute.model import Paper  # noqa: E402

BUILD_PY = ROOT / "build.py"
WORK_DIR = BENCH_DIR / "work"
TRASH_DIR = WORK_DIR / ".trash"
RESULTS_FILE = BENCH_DIR / "results" / "build.md"
HUGO = shutil.which("hugo") or "/usr/bin/hugo"
DEFAULT_SIZES = (10_000, 100_000)
# One day in this many comes as an arXiv API Atom feed instead of Hugging Face JSON.
ARXIV_EVERY = 10
# How often the memory sampler looks at the process tree, in seconds.
SAMPLE_INTERVAL = 0.2
# While a build runs workers, PSS is read this often (each read walks page tables).
MULTI_SAMPLE_INTERVAL = 0.5
# Targets of issue 8 on this machine.
TARGET_RATIO = 0.5
TARGET_NEW_DAY_SECONDS = 3.0
TARGET_PEAK_MB = 1024


# ---------------------------------------------------------------- source files


def _stamp(date: dt.date, position: int) -> str:
    """A listing timestamp on the paper's day (UTC), a minute apart per position."""
    return f"{date.isoformat()}T{6 + position // 60:02d}:{position % 60:02d}:00.000Z"


_CODE_URL = re.compile(r"Code is available at (https://github\.com/\S+?)\.?(?:\s|$)")


def hf_item(paper: Paper, position: int) -> dict:
    """One entry of the HF `api/daily_papers` list, shaped as the API sends it."""
    stamp = _stamp(paper.date, position)
    inner: dict = {
        "id": paper.arxiv_id,
        "authors": [{"_id": f"{index:024x}", "name": name, "hidden": False} for index, name in enumerate(paper.authors)],
        "publishedAt": f"{(paper.date - dt.timedelta(days=1)).isoformat()}T17:00:00.000Z",
        "submittedOnDailyAt": stamp,
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": paper.upvotes if paper.upvotes is not None else 0,
        "discussionId": f"{position:024x}",
    }
    code = _CODE_URL.search(paper.abstract)
    if code:
        inner["githubRepo"] = code.group(1)
    return {"paper": inner, "publishedAt": stamp, "title": paper.title,
            "numComments": len(paper.authors) % 7, "isAuthorParticipating": False}


def hf_day_file(papers: Sequence[Paper]) -> str:
    """A day's `daily_papers` JSON, one item a line."""
    items = (json.dumps(hf_item(paper, position), ensure_ascii=False) for position, paper in enumerate(papers, start=1))
    return "[\n" + ",\n".join(items) + "\n]\n"


def _arxiv_entry(paper: Paper) -> str:
    date = paper.date.isoformat()
    abs_url = f"http://arxiv.org/abs/{paper.arxiv_id}v1"
    authors = "".join(f"\n    <author>\n      <name>{xml_escape(name)}</name>\n    </author>" for name in paper.authors)
    # The API hard-wraps titles and summaries; the parser must fold them back.
    summary = textwrap.fill(paper.abstract, width=80, initial_indent="  ")
    return f"""  <entry>
    <id>{abs_url}</id>
    <updated>{date}T00:00:00Z</updated>
    <published>{date}T00:00:00Z</published>
    <title>{xml_escape(textwrap.fill(paper.title, width=60, subsequent_indent="  "))}</title>
    <summary>{xml_escape(summary)}
</summary>{authors}
    <link href={quoteattr(abs_url)} rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{paper.arxiv_id}v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
"""


def arxiv_day_file(papers: Sequence[Paper]) -> str:
    """A day's papers as an arXiv API query answer (Atom)."""
    date = papers[0].date.isoformat()
    return (f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dcat%3Acs.CL" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=cat:cs.CL&amp;start=0&amp;max_results={len(papers)}</title>
  <id>http://arxiv.org/api/bench-{date}</id>
  <updated>{date}T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(papers)}</opensearch:totalResults>
""" + "".join(_arxiv_entry(paper) for paper in papers) + "</feed>\n")


@dataclass(frozen=True)
class DaySource:
    """One source file to write: the papers [first, first + count) of the corpus, as one format."""

    first: int
    count: int
    arxiv: bool

    def name(self, date: dt.date) -> str:
        return f"arxiv_api_cs.CL_{date}.xml" if self.arxiv else f"hf_daily_papers_{date}.json"


def _render_day(source: DaySource) -> tuple[str, str]:
    papers = [synthetic_paper(index, SEED) for index in range(source.first, source.first + source.count)]
    text = arxiv_day_file(papers) if source.arxiv else hf_day_file(papers)
    return source.name(papers[0].date), text


def day_sources(first: int, count: int) -> list[DaySource]:
    """Papers [first, first + count) as one source per day; every ARXIV_EVERY-th day as arXiv."""
    sources = []
    for start in range(first, first + count, PAPERS_PER_DAY):
        day_number = start // PAPERS_PER_DAY
        sources.append(DaySource(start, min(PAPERS_PER_DAY, first + count - start), day_number % ARXIV_EVERY == ARXIV_EVERY // 2))
    return sources


def write_sources(folder: Path, sources: Sequence[DaySource]) -> list[Path]:
    """Write the source files (generation on every core; the corpus is CPU-bound to make)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    if len(sources) > 8:
        with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
            rendered = pool.imap(_render_day, sources, chunksize=4)
            for name, text in rendered:
                paths.append(folder / name)
                paths[-1].write_text(text, encoding="utf-8")
    else:
        for name, text in map(_render_day, sources):
            paths.append(folder / name)
            paths[-1].write_text(text, encoding="utf-8")
    return sorted(paths)


# ---------------------------------------------------------------- measuring a command


def _tree(pid: int) -> list[int]:
    """`pid` and every process below it (worker pools included)."""
    found, index = [pid], 0
    while index < len(found):
        try:
            tasks = os.listdir(f"/proc/{found[index]}/task")
        except OSError:
            tasks = []
        for task in tasks:
            try:
                with open(f"/proc/{found[index]}/task/{task}/children") as children:
                    found.extend(int(child) for child in children.read().split())
            except OSError:
                pass
        index += 1
    return found


def _pss_kb(pid: int) -> int:
    """Proportional set size from /proc/PID/smaps_rollup: shared pages split between sharers.

    A forked worker shares most of its memory with its parent, so summing RSS would count that
    memory once per worker. Reading smaps_rollup walks the page tables (0.2 s for a 5 GB
    process), so it is only sampled while a tree has workers, at MULTI_SAMPLE_INTERVAL; a
    single process is measured by its exact peak RSS instead.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


@dataclass
class Measured:
    """One command's wall time and peak memory.

    `peak_mb` is the larger of the biggest single process's peak RSS (wait4's ru_maxrss, exact)
    and the highest sampled sum of PSS over the process tree while it has workers (their own
    memory adds up; pages they share with the parent count once; sampled every
    MULTI_SAMPLE_INTERVAL, so a short peak can be missed).
    """

    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    # The 1-minute load average as the command started: several engineers share this machine.
    load_before: float = 0.0


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run_measured(command: Sequence[str], cwd: Path, timeout: float | None = None) -> Measured:
    os.sync()  # an earlier step's files are written back now, not during this one
    load_before = load_average()
    started = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    peak_tree_kb = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree_kb
        while not done.wait(SAMPLE_INTERVAL):
            pids = _tree(process.pid)
            if len(pids) > 1:
                peak_tree_kb = max(peak_tree_kb, sum(_pss_kb(pid) for pid in pids))
                done.wait(MULTI_SAMPLE_INTERVAL - SAMPLE_INTERVAL)

    outputs: dict[str, str] = {}

    def drain(name: str, stream) -> None:
        outputs[name] = stream.read()

    threads = [threading.Thread(target=sample, daemon=True),
               threading.Thread(target=drain, args=("stdout", process.stdout), daemon=True),
               threading.Thread(target=drain, args=("stderr", process.stderr), daemon=True)]
    for thread in threads:
        thread.start()
    timer = None
    timed_out = threading.Event()
    if timeout is not None:
        def stop() -> None:
            timed_out.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:  # it finished as the time ran out
                timed_out.clear()
        timer = threading.Timer(timeout, stop)
        timer.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if timer is not None:
        timer.cancel()
    done.set()
    for thread in threads:
        thread.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, max(usage.ru_maxrss, peak_tree_kb) / 1024, process.returncode,
                    outputs.get("stdout", ""), outputs.get("stderr", ""), timed_out.is_set(), load_before)


def _checked(measured: Measured, what: str) -> Measured:
    if measured.returncode != 0 and not measured.timed_out:
        sys.stderr.write(measured.stderr)
        raise SystemExit(f"bench_build: {what} failed with exit status {measured.returncode}")
    return measured


# ---------------------------------------------------------------- looking at output folders


def _walk(root: Path) -> Iterator[os.DirEntry]:
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield entry


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file's (mtime, size, inode): an atomic rewrite changes the inode, any write the mtime."""
    state = {}
    for entry in _walk(root):
        stat = entry.stat(follow_symlinks=False)
        state[os.path.relpath(entry.path, root)] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    return state


@dataclass(frozen=True)
class Changes:
    """What a build did to an output folder, with the written files counted per top folder."""

    created: int
    rewritten: int
    removed: int
    written_by_area: tuple[tuple[str, int], ...] = ()

    def describe(self) -> str:
        text = f"{self.created + self.rewritten:,} ({self.created:,} new, {self.rewritten:,} rewritten, {self.removed:,} removed)"
        if self.written_by_area:
            text += ": " + ", ".join(f"{area} {count:,}" for area, count in self.written_by_area)
        return text


def _area(path: str) -> str:
    """`papers/x/index.html` → `papers/`; a file at the top is its own area."""
    head, _, rest = path.partition("/")
    return f"{head}/" if rest else head


def changes(before: dict, after: dict) -> Changes:
    created = [path for path in after if path not in before]
    rewritten = [path for path, state in after.items() if path in before and before[path] != state]
    removed = sum(1 for path in before if path not in after)
    areas = Counter(_area(path) for path in [*created, *rewritten])
    return Changes(len(created), len(rewritten), removed, tuple(sorted(areas.items(), key=lambda item: (-item[1], item[0]))))


@dataclass(frozen=True)
class TreeSize:
    disk_bytes: int
    files: int

    def describe(self) -> str:
        return f"{self.disk_bytes / 2**20:,.0f} MB in {self.files:,} files"


def tree_size(root: Path) -> TreeSize:
    """Bytes on disk as `du` counts them (allocated blocks), and the number of files."""
    disk, files = 0, 0
    for entry in _walk(root):
        disk += entry.stat(follow_symlinks=False).st_blocks * 512
        files += 1
    return TreeSize(disk, files)


def remove_build_state(out_dir: Path) -> None:
    """Make the next build into `out_dir` a cold one: its build state and search cache live
    beside the folder."""
    state_path(out_dir).unlink(missing_ok=True)
    set_aside(paper_cache_dir(out_dir))  # a file per content folder: not deleted before a timed step
    for path in search_cache_paths(out_dir):
        path.unlink(missing_ok=True)


def identical_trees(left: Path, right: Path) -> tuple[bool, str]:
    """`diff -r` of two output folders (the build state is beside them, not in them)."""
    command = ["diff", "-r", "-q", str(left), str(right)]
    result = subprocess.run(command, capture_output=True, text=True)
    lines = result.stdout.splitlines()
    return result.returncode == 0, "\n".join(lines[:10]) + (f"\n… and {len(lines) - 10} more" if len(lines) > 10 else "")


# ---------------------------------------------------------------- one size


@dataclass
class SizeResult:
    papers: int
    days: int
    hf_files: int
    arxiv_files: int
    ingest: Measured
    cold: Measured
    cold_files: int
    noop: Measured
    noop_changes: Changes
    ingest_day: Measured
    new_day: Measured
    new_day_changes: Changes
    output: TreeSize
    full: Measured
    identical: bool
    differences: str
    hugo: Measured | None = None
    hugo_floor: Measured | None = None
    hugo_output: TreeSize | None = None
    hugo_timeout: float | None = None
    summaries: dict[str, str] = field(default_factory=dict)


def _paperroute(*arguments: str) -> list[str]:
    return [sys.executable, str(BUILD_PY), *arguments]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def set_aside(path: Path) -> None:
    """Move a folder out of the way, to be deleted by `empty_trash` when nothing is timed."""
    if path.exists():
        TRASH_DIR.mkdir(parents=True, exist_ok=True)
        path.rename(TRASH_DIR / f"{path.name}-{time.time_ns()}")


def empty_trash() -> None:
    if TRASH_DIR.exists():
        _say("deleting the folders set aside")
        shutil.rmtree(TRASH_DIR)


def run_hugo(hugo_dir: Path, environment: str | None, timeout: float) -> tuple[Measured, TreeSize | None]:
    """A cold Hugo build: no public/, no resources/, an empty cache folder of its own."""
    for name in ("public", "resources", ".hugo-cache"):
        set_aside(hugo_dir / name)
    command = [HUGO, "--quiet", "--cacheDir", str(hugo_dir / ".hugo-cache")]
    if environment:
        command += ["--environment", environment]
    measured = _checked(run_measured(command, hugo_dir, timeout=timeout), "hugo")
    output = None if measured.timed_out else tree_size(hugo_dir / "public")
    return measured, output


def bench_size(count: int, skip_hugo: bool, hugo_timeout: float) -> SizeResult:
    work = WORK_DIR / f"n{count}"
    set_aside(work)
    work.mkdir(parents=True)
    content, site, site_full = work / "content", work / "site", work / "site-full"

    # The store of size N is papers 100 … N+99; papers 0 … 99 are the day after, added in (d).
    _say(f"writing source files for {count:,} papers")
    base_sources = day_sources(PAPERS_PER_DAY, count)
    paths = write_sources(work / "sources", base_sources)
    new_day_paths = write_sources(work / "new-day", day_sources(0, PAPERS_PER_DAY))

    _say(f"(a) ingesting {len(paths):,} source files")
    ingest = _checked(run_measured(_paperroute("ingest", "--content", str(content), "--quiet", *map(str, paths)), work),
                      "ingest")
    summaries = {"ingest": _last_line(ingest.stdout)}
    _say(f"{ingest.seconds:.1f} s: {summaries['ingest']}")

    def build(out: Path, what: str) -> Measured:
        measured = _checked(run_measured(_paperroute("build", "--content", str(content), "--out", str(out), "--quiet"), work),
                            what)
        summaries[what] = _last_line(measured.stdout)
        _say(f"{measured.seconds:.1f} s, {measured.peak_mb:,.0f} MB: {summaries[what]}")
        return measured

    _say("(b) cold build")
    remove_build_state(site)
    cold = build(site, "cold build")
    cold_files = tree_size(site).files

    _say("(c) no-op rebuild")
    before = snapshot(site)
    noop = build(site, "no-op rebuild")
    noop_changes = changes(before, snapshot(site))

    hugo = hugo_floor = hugo_output = None
    if not skip_hugo:
        _say("(g) writing the Hugo project (not timed)")
        write_hugo_site(content, work / "hugo")
        _say("(g) Hugo cold build, related papers on topics and keywords")
        hugo, hugo_output = run_hugo(work / "hugo", None, hugo_timeout)
        _say(f"{hugo.seconds:.1f} s, {hugo.peak_mb:,.0f} MB" + (" (stopped: time limit)" if hugo.timed_out else ""))
        _say("(g) Hugo cold build, without related papers")
        hugo_floor, floor_output = run_hugo(work / "hugo", WITHOUT_RELATED, hugo_timeout)
        hugo_output = hugo_output or floor_output
        _say(f"{hugo_floor.seconds:.1f} s, {hugo_floor.peak_mb:,.0f} MB" + (" (stopped: time limit)" if hugo_floor.timed_out else ""))
        set_aside(work / "hugo" / "public")

    _say("(d) ingesting one new day")
    ingest_day = _checked(run_measured(_paperroute("ingest", "--content", str(content), "--quiet", *map(str, new_day_paths)),
                                       work), "ingest of the new day")
    summaries["ingest of the new day"] = _last_line(ingest_day.stdout)
    _say(f"{ingest_day.seconds:.1f} s: {summaries['ingest of the new day']}")
    _say("(d) build after the new day")
    before = snapshot(site)
    new_day = build(site, "build after the new day")
    new_day_changes = changes(before, snapshot(site))
    output = tree_size(site)

    _say("(h) full build of the incremented content, for the identity check")
    remove_build_state(site_full)
    full = build(site_full, "full build of N+100")
    identical, differences = identical_trees(site, site_full)
    _say(f"identical: {'yes' if identical else 'no'}" + (f"\n{differences}" if differences else ""))

    return SizeResult(
        papers=count, days=len(base_sources), hf_files=sum(not s.arxiv for s in base_sources),
        arxiv_files=sum(s.arxiv for s in base_sources), ingest=ingest, cold=cold, cold_files=cold_files,
        noop=noop, noop_changes=noop_changes, ingest_day=ingest_day, new_day=new_day,
        new_day_changes=new_day_changes, output=output, full=full, identical=identical, differences=differences,
        hugo=hugo, hugo_floor=hugo_floor, hugo_output=hugo_output, hugo_timeout=hugo_timeout, summaries=summaries)


# ---------------------------------------------------------------- the report


def _seconds(measured: Measured, limit: float | None = None) -> str:
    if measured.timed_out:
        return f"> {limit:,.0f} s (stopped)"
    return f"{measured.seconds:,.1f} s" if measured.seconds >= 10 else f"{measured.seconds:.2f} s"


def _mb(measured: Measured) -> str:
    return f"{measured.peak_mb:,.0f} MB"


def _load(measured: Measured) -> str:
    return f"{measured.load_before:.1f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def size_table(result: SizeResult) -> str:
    n = result.papers
    rows = [
        ("ingest into an empty store", f"{n:,} papers, {result.hf_files:,} HF JSON + {result.arxiv_files:,} arXiv Atom files",
         _seconds(result.ingest), _mb(result.ingest), _load(result.ingest), f"{n:,} store files", ""),
        ("cold full build", "new output folder, no cache", _seconds(result.cold), _mb(result.cold), _load(result.cold),
         f"{result.cold_files:,} written", ""),
        ("no-op rebuild", "nothing changed", _seconds(result.noop), _mb(result.noop), _load(result.noop), result.noop_changes.describe(), ""),
        ("ingest one new day", "100 papers, 1 HF JSON file", _seconds(result.ingest_day), _mb(result.ingest_day), _load(result.ingest_day), "", ""),
        ("build after the new day", "incremental", _seconds(result.new_day), _mb(result.new_day), _load(result.new_day),
         result.new_day_changes.describe(),
         f"≤ {TARGET_NEW_DAY_SECONDS:.0f} s: {_verdict(result.new_day.seconds <= TARGET_NEW_DAY_SECONDS)}"),
        ("full build of the same content", f"{n + PAPERS_PER_DAY:,} papers, new folder, no cache", _seconds(result.full),
         _mb(result.full), _load(result.full), "", ""),
    ]
    peak = max(m.peak_mb for m in (result.cold, result.noop, result.new_day, result.full))
    if result.hugo is not None and result.hugo_floor is not None:
        hugo_files = f"{result.hugo_output.files:,} written" if result.hugo_output else ""
        rows.append(("Hugo cold build", "related papers on topics + keywords", _seconds(result.hugo, result.hugo_timeout),
                     _mb(result.hugo), _load(result.hugo), hugo_files, ""))
        rows.append(("Hugo cold build", "without related papers (Hugo's floor)",
                     _seconds(result.hugo_floor, result.hugo_timeout), _mb(result.hugo_floor), _load(result.hugo_floor), hugo_files, ""))
    lines = [
        "| step | what | time | peak memory | load | output files | target |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        "| comparison | value | target |",
        "| --- | --- | --- |",
    ]
    if result.hugo is not None and result.hugo_floor is not None:
        for label, hugo in (("Hugo with related papers", result.hugo), ("Hugo without related papers", result.hugo_floor)):
            if hugo.timed_out:
                lines.append(f"| cold build time, ours / {label} | < {result.cold.seconds / hugo.seconds:.2f}× "
                             f"(Hugo stopped after {hugo.seconds:,.0f} s) | ≤ {TARGET_RATIO}×: met |")
            else:
                ratio = result.cold.seconds / hugo.seconds
                lines.append(f"| cold build time, ours / {label} | {ratio:.2f}× | ≤ {TARGET_RATIO}×: "
                             f"{_verdict(ratio <= TARGET_RATIO)} |")
        lines.append(f"| peak memory of a cold build, ours / Hugo with related papers | "
                     f"{result.cold.peak_mb / result.hugo.peak_mb:.2f}× ({_mb(result.cold)} / {_mb(result.hugo)}) | |")
    lines += [
        f"| peak memory of any build, ours | {peak:,.0f} MB | ≤ {TARGET_PEAK_MB:,} MB at 100k: "
        f"{_verdict(peak <= TARGET_PEAK_MB)} |",
        f"| output size, ours (after the new day) | {result.output.describe()} | |",
    ]
    if result.hugo_output is not None:
        lines.append(f"| output size, Hugo ({n:,} papers) | {result.hugo_output.describe()} | |")
    lines.append(f"| full build byte-identical to the incremental build | {'yes' if result.identical else 'no'} | yes: "
                 f"{_verdict(result.identical)} |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _git_revision() -> str:
    try:
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "paperroute", "templates"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return revision + (" with uncommitted changes to paperroute/ or templates/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _hugo_version() -> str:
    try:
        return subprocess.run([HUGO, "version"], capture_output=True, text=True).stdout.split()[1]
    except (OSError, IndexError):
        return "not found"


def machine(load_before: str) -> str:
    return (f"Machine: {os.cpu_count()} cores ({_cpu_model()}), {_ram_gb():.0f} GB RAM, Linux {platform.release()}; "
            f"Python {platform.python_version()}, Hugo {_hugo_version()}; paperroute at {_git_revision()}; "
            f"load average before the run {load_before}.")


def section(result: SizeResult, machine_line: str, when: str) -> str:
    heading = (f"## {result.papers:,} papers ({result.days:,} days of {PAPERS_PER_DAY}, "
               f"then one more day)")
    command = f"`.venv/bin/python bench/bench_build.py --sizes {result.papers}`"
    return f"{heading}\n\n{machine_line} Run {when} with {command}.\n\n{size_table(result)}\n"


def _sections(text: str) -> dict[int, str]:
    """The per-size sections of an earlier results file, keyed by paper count."""
    found = {}
    for block in re.split(r"(?m)^(?=## )", text):
        match = re.match(r"## ([\d,]+) papers", block)
        if match:
            found[int(match.group(1).replace(",", ""))] = block.rstrip() + "\n"
    return found


def write_results(new_sections: dict[int, str]) -> None:
    existing = _sections(RESULTS_FILE.read_text(encoding="utf-8")) if RESULTS_FILE.is_file() else {}
    existing.update(new_sections)
    header = ("# Build benchmark\n\nWritten by `bench/bench_build.py` (issue 8); each section is the latest run "
              "of that size. Memory is peak RSS of the largest process or the sampled sum over the "
              "process tree (PSS, while it has workers), whichever is larger. Load is the 1-minute load average as the step started: "
              "the machine is shared, and on 2 cores a load above 2 means the step waited for a core.\n")
    body = "\n".join(existing[size] for size in sorted(existing))
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(f"{header}\n{body}", encoding="utf-8")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of paper counts") from None
    if not sizes or any(size < PAPERS_PER_DAY or size % PAPERS_PER_DAY for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be whole days: positive multiples of {PAPERS_PER_DAY}")
    return sizes


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES),
                        help="comma-separated paper counts, multiples of 100 (default 10000,100000)")
    parser.add_argument("--skip-hugo", action="store_true", help="do not build the Hugo equivalent")
    parser.add_argument("--hugo-timeout", type=float, default=1200.0, metavar="SECONDS",
                        help="stop a Hugo build after this long and report it as slower (default 1200)")
    args = parser.parse_args(argv)
    if not args.skip_hugo and not Path(HUGO).is_file():
        parser.error(f"hugo not found at {HUGO} (install the Debian package, or pass --skip-hugo)")

    # paperroute's modules as bytecode, as an installed copy has them (not timed): this machine's
    # environment sets PYTHONDONTWRITEBYTECODE, and without the .pyc files every command of the
    # bench compiled every module again (40-60 ms a command).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "paperroute")], check=True)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    machine_line = machine(" / ".join(load_before))
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(machine_line, flush=True)
    sections = {}
    for count in args.sizes:
        print(f"\nbench_build: {count:,} papers", file=sys.stderr, flush=True)
        result = bench_size(count, args.skip_hugo, args.hugo_timeout)
        sections[count] = section(result, machine_line, when)
        print(f"\n{sections[count]}", flush=True)
        write_results({count: sections[count]})
    empty_trash()  # after every size: a deletion between sizes would slow the next one
    print(f"tables written to {RESULTS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
