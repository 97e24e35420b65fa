"""content/ → site/: load the store, group it, plan the pages, render and write them.

Each stage is its own module (store → corpus → related → pages → render → SiteWriter); this
one only runs them in order and counts what happened. Every file goes through one
`SiteWriter`, so output is atomic, unchanged bytes are not rewritten, and files a previous
build wrote that this one did not are pruned at the end.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from paperroute.buildstate import (BuildState, build_lock_path, code_digest, fingerprint, load_papers, load_state,
                                   read_texts_ahead, save_state, search_cache_paths, staging_dir, stored_texts,
                                   survey_disk, template_cache_dir)
from paperroute.config import Config, SiteConfig
from paperroute.corpus import Corpus, build_corpus
from paperroute.errors import InputError
from paperroute.feeds import feed_corpus, write_feeds
from paperroute.model import Paper, Topic
from paperroute.output import ASIDE_DIR, SiteWriter, hold_lock, remove_aside
from paperroute.packed import NOTHING_STORED, PackedPapers
from paperroute.pages import SITE_FEEDS, Page, PagePlan, nav_topics, paper_page, site_pages
from paperroute.parallel import (Ahead, Background, FirstClaim, collector_off, cut_ranges, heap_frozen, map_ranges,
                                 release_freed_memory)
from paperroute.related import TermVector, paper_terms, rank_related
from paperroute.render import TEMPLATES_DIR, Renderer
from paperroute.search import IndexCache, doc_blocks, doc_ids, write_search_index
from paperroute.store import ContentStore
from paperroute.topics import load_topics
from paperroute.urls import absolute, output_file, paper_path, search_path

ASSETS_DIR = "assets"
SITEMAP_FILE = "sitemap.xml"
ROBOTS_FILE = "robots.txt"
# The sitemaps protocol caps one file at 50,000 URLs; past that, sitemap.xml becomes an index.
SITEMAP_LIMIT = 50_000
# A build deletes every file in its output folder that it did not write, so it only builds into
# an empty folder or one that carries this mark of an earlier build: a mistyped `--out ~` or
# `--out content` must fail, not empty someone's home folder.
BUILD_MARK = ".paperroute-site"
BUILD_MARK_TEXT = "This folder is written by `paperroute build`: files the latest build did not write are deleted.\n"


@dataclass(frozen=True)
class BuildReport:
    """What one build did, for the command's summary line and for tests."""

    out_dir: Path
    papers: int
    days: int
    pages: int
    written: int
    unchanged: int
    removed: int

    def summary(self) -> str:
        return (
            f"built {self.out_dir}/: {self.pages:,} pages from {self.papers:,} papers over {self.days:,} days "
            f"({self.written:,} files written, {self.unchanged:,} unchanged, {self.removed:,} removed)"
        )


def build_site(content_dir: Path, out_dir: Path, config: Config, *, quiet: bool = False,
               templates_dir: Path = TEMPLATES_DIR, jobs: int | None = None) -> BuildReport:
    """Build the whole site from `content_dir` into `out_dir`.

    `jobs` processes (default: one per core) parse, render and build the search index side by
    side. Forked workers share the parent's memory only until they touch it, and CPython's
    reference counts touch every object they read, so each worker ends up with a copy of most
    of the papers: `jobs=1` is the way to the smallest peak memory, at twice the time.
    """
    # Whatever is frozen during the build (the state it reads, see buildstate._collector_paused)
    # goes back to the collector when it ends, which is off meanwhile (`collector_off`):
    # `serve` builds again and again in one process.
    with collector_off(), heap_frozen():
        return _build_site(Path(content_dir), Path(out_dir), config, quiet=quiet, templates_dir=templates_dir, jobs=jobs)


def _build_site(content_dir: Path, out_dir: Path, config: Config, *, quiet: bool, templates_dir: Path,
                jobs: int | None) -> BuildReport:
    check_out_dir(out_dir, content_dir, templates_dir)
    # One build at a time into a folder. Two at once (cron's and a person's) each trusted the
    # state it read: the second saw the first's files as current and kept them, and each
    # deletes, as a killed build's, what the other sets aside.
    lock = hold_lock(build_lock_path(out_dir), out_dir, "another build is writing into this folder; wait for it to finish")
    try:
        staging = staging_folder(out_dir)
        try:
            return _build_into(staging or out_dir, content_dir, out_dir, config, quiet=quiet, templates_dir=templates_dir,
                               jobs=jobs)
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            else:  # the files this build replaced; the build's own error is the one to report
                with contextlib.suppress(OSError):
                    remove_aside(out_dir / ASIDE_DIR)
            raise
    finally:
        os.close(lock)


def staging_folder(out_dir: Path) -> Path | None:
    """Where a build into a folder that does not exist yet writes (`buildstate.staging_dir`),
    to rename it into place when it is done: until then there is no site at all, never half
    of one, and no one reads its files, so they are written in place, not each through a
    temporary file and a rename (`SiteWriter.staged`: 13-17 µs a file on this disk; a cold
    10k build's CPU 8.21 → 8.03 s, 4 interleaved pairs). None when the folder exists. A
    staging folder left by a build that was killed is deleted first; a folder of that name
    holding anything else is not this tool's to delete.
    """
    if os.path.lexists(out_dir):
        return None
    staging = staging_dir(out_dir)
    if os.path.lexists(staging):
        if not (staging / BUILD_MARK).is_file() and (not staging.is_dir() or any(staging.iterdir())):
            raise InputError(f"in the way of the build into {out_dir}: move it away", staging)
        shutil.rmtree(staging)
    return staging


def _build_into(root: Path, content_dir: Path, out_dir: Path, config: Config, *, quiet: bool, templates_dir: Path,
                jobs: int | None) -> BuildReport:
    """The build, writing into `root`: `out_dir`, or the staging folder it is renamed from."""
    remove_aside(root / ASIDE_DIR)  # left by a build that was killed
    fresh = not root.is_dir() or not any(root.iterdir())
    paper_files = ContentStore(content_dir).paper_files()
    big = len(paper_files) >= PARALLEL_SEARCH_MIN
    # Two processes are forked now, while this one is small. One asks the disk what changed
    # (`survey_disk`) while this one reads the state. The other makes the search index beside
    # the pages, handed the papers once they are read (`parallel.Background`), and then the
    # feeds, unless this process is done with its pages first and has taken them (`feeds_turn`).
    feeds_turn = FirstClaim()
    with Ahead(functools.partial(survey_disk, paper_files, Path(out_dir)), parallel=big, jobs=jobs) as disk, \
            Background(functools.partial(write_side_outputs, feeds_turn=feeds_turn),
                       ahead=functools.partial(list_search_files, Path(out_dir)), parallel=big, jobs=jobs) as beside:
        state = load_state(out_dir)
        previous_outputs = state.outputs
        parsed = load_papers(paper_files, disk.next(), state, paper_terms, quiet=quiet, jobs=jobs)
        corpus = build_corpus([item.paper for item in parsed], load_topics(content_dir))
        if len(corpus.by_slug) < len(corpus.papers):
            ContentStore.check_names(paper_files, [item.paper.slug for item in parsed])
        release_freed_memory()  # what parsing left (the workers' pickled batches), before the next fork
        site = config.site
        writer = SiteWriter(root, empty=fresh, folder=out_dir, aside=True)

        @functools.cache
        def surveyed() -> SiteWriter:
            """The writer, told which of the last build's files are gone: asked as late as the
            build can, the survey being still at work (0.25 s of waiting after a 100k new day,
            asked before the papers were packed). A survey made in this process would only
            read the state a second time to stat the same files: the writer asks the disk."""
            if not disk.forked:
                return writer
            identity, gone = disk.next()
            if identity == state.identity:  # it read the very state this build read
                writer.listed, writer.gone = previous_outputs, gone
            return writer

        inputs = PageInputs(
            code=code_digest(templates_dir) + repr(site).encode(),
            paper_digests={item.paper.slug: item.digest for item in parsed},
            papers=[item.paper for item in parsed],
            vectors=[item.terms for item in parsed],
            previous=previous_outputs,
            state=state,
        )
        # Same code, settings, taxonomy and papers as the last build, every file still there: every
        # page's fingerprint would match, so claim them all without planning a single page.
        site_key = fingerprint((inputs.code, repr(corpus.topics), inputs.corpus_digest()), {})
        if state.site_key == site_key and all(map(surveyed().has, previous_outputs)):
            for path in previous_outputs:
                writer.keep(path)
            if state.changed:  # files were touched but hold the same bytes: remember their new stamps
                save_state(out_dir, state)
            return BuildReport(out_dir=Path(out_dir), papers=len(corpus.papers), days=len(corpus.days),
                               pages=state.pages, written=0, unchanged=writer.unchanged, removed=0)

        writer.write(BUILD_MARK, BUILD_MARK_TEXT)
        feeds = feed_corpus(corpus, site.feed_size)
        beside.start(SideInputs(
            root=root, folder=out_dir, empty=writer.empty, code=inputs.code, topics=corpus.topics,
            corpus_digest=inputs.corpus_digest(),
            previous={path: mark for path, mark in previous_outputs.items() if path.startswith(search_path())},
            papers=PackedPapers(doc_ids(corpus), inputs.paper_digests, pack=beside.forked,
                                stored=stored_texts(parsed) if beside.forked else NOTHING_STORED),
            site=site, feeds=feeds,
        ))
        release_freed_memory()  # the packed papers, sent
        pages = write_pages(corpus, site, surveyed(), templates_dir, inputs, quiet=quiet, jobs=jobs)
        write_assets(templates_dir / ASSETS_DIR, writer)
        write_robots(site, writer)
        if feeds_turn.take():
            write_feeds(feeds, site, writer)
        side = beside.result()
    remove_aside(root / ASIDE_DIR)  # what the writes replaced, once nothing more is written
    for path in side.paths:
        writer.claim(path)
    writer.written += side.written
    writer.unchanged += len(side.paths) - side.written
    inputs.current.update(side.fingerprints)

    # Nothing to prune in a folder that was empty; without a state, walk it for an old build's files.
    removed = writer.prune(set() if fresh else set(previous_outputs) if previous_outputs else None)
    # Not sorted (0.06 s for 120,000 paths): the state only ever compares it as a dict. Every
    # file fingerprinted was claimed; made with `fromkeys`, not a lookup each (0.06 → 0.035 s).
    outputs = dict.fromkeys(writer.paths, b"")
    outputs.update(inputs.current)
    if writer.staged:  # before the state, which vouches for the files in `out_dir`
        try:
            os.rename(root, out_dir)
        except OSError as err:  # made meanwhile, and not empty: the staging folder is deleted
            raise InputError(f"cannot move the new site into place: {err.strerror}", out_dir) from None
    if state.changed or outputs != previous_outputs or state.site_key != site_key or state.page_code != inputs.code:
        state.outputs, state.site_key, state.pages, state.page_code = outputs, site_key, pages, inputs.code
        save_state(out_dir, state)
    return BuildReport(out_dir=Path(out_dir), papers=len(corpus.papers), days=len(corpus.days), pages=pages,
                       written=writer.written, unchanged=writer.unchanged, removed=removed)


def check_out_dir(out_dir: Path, content_dir: Path, templates_dir: Path) -> None:
    """Refuse an output folder whose pruning would delete files the build does not own."""
    out = out_dir.resolve()
    for source, what in ((content_dir, "the content store"), (templates_dir, "the templates")):
        inside = source.resolve()
        if out == inside or out in inside.parents or inside in out.parents:
            raise InputError(f"the output folder must not hold or be inside {what} ({source})", out_dir)
    if out.is_file():
        raise InputError("the output folder is a file", out_dir)
    if out.is_dir() and any(out.iterdir()) and not (out / BUILD_MARK).is_file():
        raise InputError(f"not empty and not an earlier build (no {BUILD_MARK}); "
                         "a build deletes what it did not write, so choose an empty or new folder", out_dir)


@dataclass
class PageInputs:
    """What decides whether a page must be rendered again: the code, the papers, the last build."""

    # the code, templates, settings and taxonomy: what every page depends on
    code: bytes
    paper_digests: dict[str, bytes]
    # every paper and its term vector, in the order the store was read: related papers are
    # ranked by slug whatever the order, and looking 100,000 vectors up by slug took 0.06 s
    papers: list[Paper]
    vectors: list[TermVector]
    previous: dict[str, bytes]
    state: BuildState
    # every output of this build → its fingerprint (b"" for files that are always regenerated)
    current: dict[str, bytes] = field(default_factory=dict)
    _corpus_digest: bytes | None = None

    def fingerprint(self, page: Page | PagePlan) -> bytes:
        """A page's fingerprint from its context, or a planned page's from the arguments that make it."""
        inputs = page.args if isinstance(page, PagePlan) else page.context
        return fingerprint((self.code, page.path, page.template, page.absolute_links, inputs), self.paper_digests)

    def paper_fingerprint(self, slug: str, related: Sequence[str]) -> bytes:
        """A paper page's fingerprint without making the page: `pages.paper_page` is a pure
        function of the code, the paper and its related papers."""
        return papers_fingerprint(self.code, self.paper_digests, b"paper:" + slug.encode(), (slug, *related))

    def related_papers(self, *, quiet: bool = False, jobs: int | None = None) -> Mapping[str, list[str]]:
        """Related papers: the last build's when no paper changed (a no-op rebuild), else
        ranked again where their inputs moved (`rank_related`)."""
        key = self.corpus_digest()
        if self.state.related is not None and self.state.related_key == key:
            return self.state.related.lists
        related = rank_related(self.papers, vectors=self.vectors,
                               vocabulary=self.state.vocabulary, previous=self.state.related, fresh=self.state.parsed,
                               quiet=quiet, jobs=jobs)
        release_freed_memory()  # the ranking's temporaries, before page workers fork from this process
        self.state.related_key, self.state.related = key, related
        self.state.changed = True
        return related.lists

    def moved_papers(self) -> set[str] | None:
        """Papers whose page may differ from the last build's: those parsed or ranked again,
        and those whose related list names a paper parsed again. None when the code moved (every
        page may have). The others' pages keep their fingerprints without computing them again:
        the page phase of a 100k new day's build went from 1.8 to 1.3 s.
        """
        related = self.state.related
        if self.state.page_code != self.code or related is None:
            return None
        # A ranking kept from the last build (nothing changed) ranked none: its `ranked` is empty.
        reranked = map(related.slugs.__getitem__, related.ranked.tolist())
        return self.state.parsed | set(reranked) | set(related.naming(self.state.parsed))

    def corpus_digest(self) -> bytes:
        """Every paper's digest: equal digests mean nothing computed from all papers can have moved."""
        if self._corpus_digest is None:
            # The slugs (file names never hold a NUL) and the digests (16 bytes each), flat, in
            # reading order: the same store is read in the same order (`paper_files`), and
            # another order can only make a build redo what it could have kept, never keep what
            # moved. Sorted pairs, each formatted, took 0.17 s of every build at 100,000 papers
            # (through `fingerprint`, 0.45 s); this takes 0.01 s.
            hasher = hashlib.blake2b(digest_size=20)
            hasher.update("\0".join(self.paper_digests).encode("utf-8", "surrogatepass"))
            hasher.update(b"".join(self.paper_digests.values()))
            self._corpus_digest = hasher.digest()
        return self._corpus_digest


def papers_fingerprint(code: bytes, digests: Mapping[str, bytes], name: bytes, slugs: Iterable[str]) -> bytes:
    """The fingerprint of an output that is a pure function of the code and a few papers
    (a paper page, a search display block), named by `name`, from their digests alone.

    100,000 of them a build: walking each one's context (`fingerprint`) took five times as long.
    """
    return hashlib.blake2b(b"".join((code, name, b"\0", *map(digests.__getitem__, slugs))), digest_size=20).digest()


# Below this many papers the search index is built, and the disk surveyed, in this process:
# forking would cost more than it saves.
PARALLEL_SEARCH_MIN = 2000
# Below this many pages, a build renders in-process: forking workers would cost more.
PARALLEL_RENDER_MIN = 1500
# Pages per unit of work handed to a worker: small enough for an even split and a lively bar.
RENDER_CHUNK = 250
# A day or topic page costs what 10 to 20 paper pages do, so they go in ranges of their own this
# size. With 250 of them a range took most of a second, and a worker joins the pages only
# when this process starts a range after the search index is done: two cores sat at 1.2.
LIST_PAGE_CHUNK = 25


@dataclass
class SideOutput:
    """What a stage run in another process wrote, for the build's writer and state."""

    paths: list[str]
    written: int
    fingerprints: dict[str, bytes]


@dataclass
class SideInputs:
    """What the outputs made beside the pages are made from: search/ from the papers packed
    (`packed.PackedPapers`) when it is made in a process of its own, the feeds from the few
    papers they show (`feeds.feed_corpus`), and the little else they need of this build."""

    root: Path                  # where the site's files are written (`SiteWriter.root`)
    folder: Path                # the site's folder, which names its caches (`SiteWriter.folder`)
    empty: bool                 # and whether it held nothing when the build began
    code: bytes
    topics: list[Topic]
    corpus_digest: bytes
    previous: dict[str, bytes]  # the last build's files under search/ and their fingerprints
    papers: PackedPapers        # in id order (`search.doc_ids`)
    site: SiteConfig
    feeds: Corpus


def list_search_files(out_dir: Path) -> set[str]:
    """The files under search/ (as paths under the site): what the search index's process
    reads while it waits for the papers (`Background`'s `ahead`), one listing of each folder
    instead of a `stat` of each of 12,500 display blocks on its path (0.12 s at 100,000
    papers). Reading the last postings then too saved it 0.15 s more, but put a new day's
    peak up from 595 to 780 MB: they overlapped with the survey's process."""
    present: set[str] = set()
    folders = [search_path()]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(out_dir / folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(f"{folder}{entry.name}/")
                    elif entry.is_file():
                        present.add(folder + entry.name)
        except OSError:
            continue
    return present


def write_side_outputs(side: SideInputs, present: set[str], *, feeds_turn: FirstClaim) -> SideOutput:
    """Write search/ (`write_search_output`), then the feeds if the build's process has not
    taken them (`feeds_turn`): both depend on the papers and on nothing the pages make. Here,
    the feeds are not written after the pages with the other core idle (0.14-0.3 s of a build
    whose search index was done first); there, not after the search index while the build's
    process waits for it (0.15-0.26 s after a 100k new day)."""
    search = write_search_output(side, present)
    if not feeds_turn.take():
        return search
    own = SiteWriter(side.root, empty=side.empty, folder=side.folder, aside=True)
    write_feeds(side.feeds, side.site, own)
    return SideOutput([*search.paths, *sorted(own.paths)], search.written + own.written, search.fingerprints)


def write_search_output(search: SideInputs, present: set[str]) -> SideOutput:
    """Write search/, or claim it as it is when no paper, topic or code changed since the
    build that wrote it and its files are all still there.

    Most of the index depends on every paper (BM25's corpus-wide averages and document
    frequencies), so it is reused whole (a no-op build of 100,000 papers saved 38 s this way)
    or made again from the last one (`search.IndexCache`). The display blocks
    are the exception: each depends only on its papers (`search.doc_blocks`), so a block
    whose papers are unchanged keeps its file (12,500 files at 100,000 papers, of which a
    new day changes one or two). Runs in its own process beside the pages, so it writes
    through a writer of its own and reports.
    """
    papers, digests, texts_done = search.papers.unpack()
    prefix = search_path()
    topics = hashlib.blake2b(repr(search.topics).encode(), digest_size=20).digest()
    key = fingerprint((search.code, prefix, topics, search.corpus_digest), {})
    blocks = {path: papers_fingerprint(search.code, digests, path.encode() + topics, (paper.slug for paper in block))
              for path, block in doc_blocks(papers)}
    own = SiteWriter(search.root, empty=search.empty, listed=present, folder=search.folder, aside=True)

    def expected(path: str) -> bytes:
        return blocks.get(path[len(prefix):], key)

    def current(path: str) -> bool:
        return search.previous.get(path) == expected(path) and own.has(path)

    page = output_file(prefix)  # the search page lives in search/ too, with a fingerprint of its own
    previous = [path for path in search.previous if path != page]
    if not (previous and all(map(current, previous))):
        cache = IndexCache(search_cache_paths(search.folder), search.code, digests)
        write_search_index(papers, search.topics, own, cache, current={path for path in blocks if current(prefix + path)},
                           texts_done=texts_done)
        previous = sorted(own.paths)
    return SideOutput(previous, own.written, {path: expected(path) for path in previous})


def write_pages(corpus: Corpus, site: SiteConfig, writer: SiteWriter, templates_dir: Path,
                inputs: PageInputs, *, quiet: bool = False, jobs: int | None = None) -> int:
    """Render and write every page whose inputs changed since the last build, then the sitemap.

    A page whose fingerprint matches the previous build's, and whose file is still there, is
    claimed without rendering: that is what makes a rebuild after one new day fast. A paper
    page none of whose inputs moved (`PageInputs.moved_papers`) is not even fingerprinted. The pages
    are fingerprinted, rendered and written by forked workers, a range of pages each, which
    share the compiled templates and the corpus with this process.
    """
    shared = {
        "nav_topics": nav_topics(corpus),
        "topic_names": {topic.slug: topic.name for topic in corpus.topics},
        "site_feeds": SITE_FEEDS,
    }
    renderer = Renderer(site, shared, templates_dir, cache_dir=template_cache_dir(writer.folder))
    # As a digest: every page's fingerprint starts with it (its repr is hashed 100,000 times).
    inputs.code = hashlib.blake2b(inputs.code + repr((shared, corpus.topics)).encode(), digest_size=20).digest()
    related = inputs.related_papers(quiet=quiet, jobs=jobs)
    # Paper pages come last and are made only when rendered (`paper_page`), as are the days' and
    # topics' (`PagePlan`); the rest are few.
    pages = list(site_pages(corpus, site.topic_page_size))
    papers = corpus.papers
    paths = [page.path for page in pages] + [paper_path(paper.slug) for paper in papers]
    targets = list(map(output_file, paths))

    def plan(index: int) -> tuple[bytes, Callable[[], Page]]:
        """Page `index`'s fingerprint, and how to make the page if it must be rendered."""
        if index < len(pages):
            page = pages[index]
            return inputs.fingerprint(page), page.page if isinstance(page, PagePlan) else lambda: page
        paper = papers[index - len(pages)]
        partners = related.get(paper.slug, ())
        return (inputs.paper_fingerprint(paper.slug, partners),
                lambda: paper_page(corpus, paper, [corpus.by_slug[slug] for slug in partners]))

    # Paper pages known current without a fingerprint (`moved_papers`): kept if their file is there.
    moved = inputs.moved_papers()
    unmoved = bytearray(len(paths)) if moved is None else \
        bytearray(len(pages)) + bytearray(paper.slug not in moved for paper in papers)
    if moved is not None:  # their pages are rendered, unless their fingerprints match after all
        read_texts_ahead(map(corpus.by_slug.get, moved))

    def render_range(start: int, end: int) -> list[tuple[int, bytes, bool]]:
        """The pages rendered, as (index, fingerprint, written or bytes unchanged); the others
        were current and are the last build's, fingerprint and all."""
        own = writer.sibling()
        done: list[tuple[int, bytes, bool]] = []
        for index in range(start, end):
            target = targets[index]
            if unmoved[index] and target in inputs.previous and own.has(target):
                continue
            digest, make_page = plan(index)
            if inputs.previous.get(target) != digest or not own.has(target):
                if index < len(pages):
                    read_texts_ahead(listed_papers(pages[index]))
                page = make_page()
                html = renderer.render(page.template, page.path, page.context, absolute_links=page.absolute_links)
                done.append((index, digest, own.write(target, html, folder_made=made and index >= len(pages))))
        return done

    # Every paper page is new: their folders are made here, not by two processes at once.
    made = writer.empty
    if made:
        writer.make_folders(map(os.path.dirname, targets[len(pages):]))
    ranges = cut_ranges(0, len(pages), LIST_PAGE_CHUNK) + cut_ranges(len(pages), len(paths), RENDER_CHUNK)
    results = map_ranges(render_range, ranges, min_parallel=PARALLEL_RENDER_MIN,
                         label="pages", quiet=quiet, jobs=jobs)
    rendered = [outcome for batch in results for outcome in batch]
    writer.claim_all(targets)
    inputs.current.update(zip(targets, map(inputs.previous.get, targets)))
    inputs.current.update((targets[index], digest) for index, digest, _ in rendered)
    written = sum(written for _, _, written in rendered)
    writer.written += written
    writer.unchanged += len(targets) - written
    # Papers oldest first, as search ids go (`search.doc_ids`), then the other pages: a new day's
    # URLs then land in the last of the sitemaps, and the full ones before it stay as they were.
    papers_oldest_first = list(reversed(paths[len(pages):]))
    write_sitemap(papers_oldest_first + sorted(page.path for page in pages if page.in_sitemap), site, writer, inputs)
    return len(paths)


def listed_papers(page: Page | PagePlan) -> Sequence[Paper]:
    """The papers a day's or a topic's page lists, whose cards show their texts."""
    if isinstance(page, PagePlan):
        for arg in page.args:
            if isinstance(papers := getattr(arg, "papers", None), list):
                return papers
    return ()


def write_assets(assets_dir: Path, writer: SiteWriter) -> None:
    """Copy templates/assets/ (stylesheet, favicon, scripts) byte for byte into site/assets/."""
    if not assets_dir.is_dir():
        return
    for path in sorted(assets_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            writer.write(f"{ASSETS_DIR}/{path.relative_to(assets_dir).as_posix()}", path.read_bytes())


def _urlset(base_url: str, paths: list[str]) -> str:
    entries = "".join(f"<url><loc>{escape(absolute(base_url, path), quote=False)}</loc></url>\n" for path in paths)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n')


def _sitemap_index(base_url: str, names: list[str]) -> str:
    entries = "".join(f"<sitemap><loc>{escape(absolute(base_url, name), quote=False)}</loc></sitemap>\n" for name in names)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</sitemapindex>\n')


def sitemap_files(paths: list[str], base_url: str) -> list[tuple[str, list[str], Callable[[], str]]]:
    """sitemap.xml, or above the protocol's limit an index of numbered sitemaps, each holding
    the paths in the order given: each file's name, what it lists (paths, or the index's
    sitemaps), and how to make its text.

    No <lastmod>: the only honest date would come from the clock, which would make two
    builds of the same content differ.
    """
    if len(paths) <= SITEMAP_LIMIT:
        return [(SITEMAP_FILE, paths, functools.partial(_urlset, base_url, paths))]
    parts = [(f"sitemap-{number}.xml", paths[start:start + SITEMAP_LIMIT])
             for number, start in enumerate(range(0, len(paths), SITEMAP_LIMIT), start=1)]
    names = [name for name, _ in parts]
    return [(SITEMAP_FILE, names, functools.partial(_sitemap_index, base_url, names)),
            *((name, part, functools.partial(_urlset, base_url, part)) for name, part in parts)]


def write_sitemap(paths: list[str], site: SiteConfig, writer: SiteWriter, inputs: PageInputs) -> None:
    """Write the sitemaps, but keep each whose fingerprint (the code, the base URL and what it
    lists) is the last build's and whose file is there: after a new day only the last part
    changes, and making the others' text took 0.08 s of a 100k build."""
    for name, listed, make in sitemap_files(paths, site.base_url):
        digest = hashlib.blake2b("\n".join([site.base_url, *listed]).encode("utf-8", "surrogatepass") + inputs.code,
                                 digest_size=20).digest()
        if inputs.previous.get(name) == digest and writer.has(name):
            writer.keep(name)
        else:
            writer.write(name, make())
        inputs.current[name] = digest


def write_robots(site: SiteConfig, writer: SiteWriter) -> None:
    writer.write(ROBOTS_FILE, f"User-agent: *\nAllow: /\nSitemap: {absolute(site.base_url, SITEMAP_FILE)}\n")

