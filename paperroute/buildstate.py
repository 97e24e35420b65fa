"""What the previous build saw and wrote, so the next one redoes only what changed.

Lektor's idea, Pelican's weak spot avoided: a build remembers (1) each paper file it parsed,
keyed by size and mtime, with the parsed record, its text's digest and its search terms, and
(2) for each page it wrote, a fingerprint of everything the page was rendered from. The next
build parses only new or touched files and renders only pages whose fingerprint moved; the
output is the same bytes a full build gives, because a fingerprint covers every input.

The state is one file beside the output folder (`.site.buildstate` for `site/`), written
atomically and only when it changed. It is `marshal`led plain tuples, not pickled objects:
at 100,000 papers pickle took 15 s to save and 6 s to load what marshal does in a fraction.
A state written by other code (any change to the package), or one that cannot be read, is
ignored and rebuilt: a cache can make a build faster, never wrong.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import hashlib
import marshal
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from paperroute.model import Paper, SourceRef
from paperroute.related import TermCounts
from paperroute.output import write_atomic
from paperroute.parallel import map_ranges

# Bump when the state's layout changes; code and template changes are caught by `code_digest`.
STATE_VERSION = 2
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class ParsedFile:
    """One paper file as last parsed: the stamp that says it is unchanged, and what it gave."""

    size: int
    mtime_ns: int
    digest: bytes
    paper: Paper
    terms: TermCounts
    # The marshal-able tuple this was loaded from, saved back as it is: rebuilding 100,000 of
    # them took most of the time of saving a state.
    record: tuple | None = None

    def as_record(self) -> tuple:
        if self.record is None:
            self.record = (self.size, self.mtime_ns, self.digest, _paper_record(self.paper), self.terms)
        return self.record


@dataclass
class BuildState:
    files: dict[str, ParsedFile] = field(default_factory=dict)
    # output path (relative to site/) → fingerprint of what it was rendered from
    outputs: dict[str, bytes] = field(default_factory=dict)
    # related-paper lists and the digest of the papers they were computed from
    related_key: bytes = b""
    related: dict[str, list[str]] = field(default_factory=dict)
    # what the whole site was built from (code, settings, taxonomy, papers), and its page count
    site_key: bytes = b""
    pages: int = 0
    # Set when this build parsed or forgot a file or recomputed related papers: save it then.
    changed: bool = False


def state_path(out_dir: Path) -> Path:
    out_dir = Path(out_dir).resolve()
    return out_dir.parent / f".{out_dir.name}.buildstate"


def search_cache_path(out_dir: Path) -> Path:
    """The search index's per-paper word counts (`search.CountsCache`), beside the state."""
    return state_path(out_dir).with_suffix(".searchcache")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Run without the cyclic garbage collector, which a big load sets off again and again,
    and freeze what was made out of its sight.

    Reading a 100,000-paper state makes millions of tuples and no cycles; the collections
    their allocation triggers, each walking everything made so far, took 3 s of 4.5. They
    live as long as the build, so the first collection after it would walk them all once
    more (0.7 s): `gc.freeze` spares that, until the build's outermost `parallel.heap_frozen`
    ends. Frozen objects are still freed when unreferenced.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def load_state(out_dir: Path) -> BuildState:
    """The previous build's state, or an empty one when there is none or it is unusable."""
    with _collector_paused():
        return _read_state(out_dir)


def _read_state(out_dir: Path) -> BuildState:
    try:
        record = marshal.loads(state_path(out_dir).read_bytes())
        code, files, outputs, related_key, related, site_key, pages = record
        if code != code_digest():  # another version of the code parsed these files
            return BuildState()
        return BuildState(
            files={key: ParsedFile(size, mtime_ns, digest, _paper_from_record(paper), terms, entry)
                   for key, entry in files.items() for size, mtime_ns, digest, paper, terms in (entry,)},
            outputs=outputs, related_key=related_key, related=related, site_key=site_key, pages=pages)
    except (OSError, EOFError, ValueError, TypeError, AttributeError):
        return BuildState()


def save_state(out_dir: Path, state: BuildState) -> None:
    files = {key: item.as_record() for key, item in state.files.items()}
    record = (code_digest(), files, state.outputs, state.related_key, state.related, state.site_key, state.pages)
    try:
        data = marshal.dumps(record)
    except ValueError:
        # A hand-written explicit YAML tag (`!!timestamp ...`) can put a value marshal cannot
        # hold into `extra`: leave those files out, and the next build parses them again.
        for key, entry in list(files.items()):
            try:
                marshal.dumps(entry)
            except ValueError:
                del files[key]
        data = marshal.dumps(record)
    write_atomic(state_path(out_dir), data)


def _paper_record(paper: Paper) -> tuple:
    """A paper as marshal-able values (dates as ordinals); front matter holds nothing else."""
    return (paper.title, paper.date.toordinal(), paper.abstract, paper.authors, paper.arxiv_id, paper.topics,
            paper.upvotes, paper.links, [(s.format, s.file, s.seen.toordinal()) for s in paper.sources],
            paper.position, paper.extra, paper.slug)


def _paper_from_record(record: tuple) -> Paper:
    title, date, abstract, authors, arxiv_id, topics, upvotes, links, sources, position, extra, slug = record
    return Paper(title, dt.date.fromordinal(date), abstract, authors, arxiv_id, topics, upvotes, links,
                 [SourceRef(fmt, file, dt.date.fromordinal(seen)) for fmt, file, seen in sources],
                 position, extra, slug)


def code_digest(templates_dir: Path | None = None) -> bytes:
    """A digest of the code (and templates) a page depends on: editing either re-renders all.

    Without `templates_dir`, the package alone: what the parsed records in a state depend on.
    """
    sha = hashlib.sha256(str(STATE_VERSION).encode())
    for root in (_PACKAGE_DIR, *([Path(templates_dir)] if templates_dir is not None else [])):
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".html", ".css", ".js", ".svg", ".txt", ".yaml"):
                sha.update(path.relative_to(root).as_posix().encode())
                sha.update(path.read_bytes())
    return sha.digest()


_ONLY_PAPERS = {Paper}
_slug = attrgetter("slug")


def fingerprint(parts: Iterable[Any], paper_digests: Mapping[str, bytes]) -> bytes:
    """A digest of a page's inputs: plain values by value, a paper by its file's digest.

    Walking the context (instead of hashing its repr) keeps a paper page's five related papers
    at 32 bytes each. Anything of a kind not listed fails loudly, so no input can be silently
    left out of a fingerprint.
    """
    chunks: list[bytes] = []
    add = chunks.append
    stack = list(parts)[::-1]
    while stack:
        value = stack.pop()
        kind = type(value)  # the common kinds first, by exact type: 100,000 pages pass through here
        if kind is str:
            data = value.encode("utf-8", "surrogatepass")
            add(b"s%d:%s" % (len(data), data))
        elif isinstance(value, (list, tuple)):
            add(b"[%d" % len(value))
            if set(map(type, value)) == _ONLY_PAPERS:  # a day's or a topic page's papers, in C
                add(b"P" + b"".join(map(paper_digests.__getitem__, map(_slug, value))))
            else:
                stack.extend(reversed(value))
        elif isinstance(value, Paper):
            add(b"P" + paper_digests[value.slug])
        elif kind is bytes:
            add(b"b%d:%s" % (len(value), value))
        elif isinstance(value, (str, int, float, bool, type(None), bytes)):
            add(f"{type(value).__name__}:{value!r};".encode())
        elif isinstance(value, dt.date):
            add(b"D" + value.isoformat().encode())
        elif isinstance(value, dict):
            add(b"{%d" % len(value))
            for key, item in reversed(list(value.items())):
                stack.append(item)
                stack.append(key)
        elif dataclasses.is_dataclass(value):
            add(type(value).__name__.encode())
            stack.extend(reversed([getattr(value, f.name) for f in dataclasses.fields(value)]))
        else:
            raise TypeError(f"cannot fingerprint a {type(value).__name__}")
    return hashlib.blake2b(b"".join(chunks), digest_size=20).digest()


def _parse_file(path: Path, size: int, mtime_ns: int, terms_of: Callable[[Paper], TermCounts]) -> ParsedFile:
    from paperroute.store import parse_paper_file_bytes

    data = path.read_bytes()
    paper = parse_paper_file_bytes(data, path)
    return ParsedFile(size, mtime_ns, hashlib.blake2b(data + path.stem.encode(), digest_size=16).digest(),
                      paper, terms_of(paper))


# Below this many files to parse, starting worker processes costs more than it saves.
PARALLEL_PARSE_MIN = 2000


def load_papers(files: list[Path], state: BuildState, terms_of: Callable[[Paper], TermCounts], *,
                quiet: bool = False, jobs: int | None = None) -> list[ParsedFile]:
    """Every paper file parsed, reusing the state's record for files whose size and mtime match.

    Files to parse are split over the machine's cores when there are many (a cold build);
    `InputError` from a worker reaches the caller as it is. The state is updated in place and
    forgets files that are gone.
    """
    keep: dict[str, ParsedFile] = {}
    todo: list[tuple[str, int, int]] = []
    for path in files:
        key = str(path)
        stat = os.stat(key)
        known = state.files.get(key)
        if known is not None and known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns:
            keep[key] = known
        else:
            todo.append((key, stat.st_size, stat.st_mtime_ns))

    def parse_range(start: int, end: int) -> list[ParsedFile]:
        return [_parse_file(Path(path), size, mtime_ns, terms_of) for path, size, mtime_ns in todo[start:end]]

    batches = map_ranges(parse_range, len(todo), chunk=500, min_parallel=PARALLEL_PARSE_MIN,
                         label="parsing", quiet=quiet, jobs=jobs)
    parsed = [item for batch in batches for item in batch]
    for (key, _, _), item in zip(todo, parsed):
        keep[key] = item
    state.changed |= bool(todo) or len(keep) != len(state.files)
    state.files = keep
    return [keep[str(path)] for path in files]
