"""The content store: one Markdown file per paper under content/papers/YYYY-MM-DD/.

Reading turns files into `Paper` records (or an `InputError` naming file and line); merging is
a pure function over records; writing is atomic and happens only for papers whose fields
really changed, so re-ingesting a source changes no byte and a person's hand edits survive.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from sys import intern
from typing import Any, Iterable

import yaml

from paperroute.config import SAFE_LOADER
from paperroute.errors import InputError
from paperroute.frontmatter import read_canonical
from paperroute.parallel import parse_each
from paperroute.model import CORE_FIELDS, Paper, SourceRef
from paperroute.output import write_atomic
from paperroute.storeindex import Identity, StoreIndex
from paperroute.text import normalise_title, slugify

class _FrontMatterLoader(SAFE_LOADER):  # type: ignore[misc,valid-type]
    """Safe YAML that leaves floats and timestamps as text.

    A hand-written `arxiv_id: 2503.02130` must stay "2503.02130", not become 2503.0213, and a
    bad date must be our error with a line number, not a ValueError from deep inside PyYAML.
    """


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in _FrontMatterLoader.yaml_implicit_resolvers.items()
}
_Loader = _FrontMatterLoader


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Plain YAML for people: a date shared by two fields is written twice, never as an &anchor."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# How much a format knows: a richer source's title, abstract and authors replace a poorer one's.
SOURCE_RICHNESS = {"capture": 1, "html": 2, "hf": 3, "arxiv": 4}

_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---------------------------------------------------------------- reading


def parse_paper_file(text: str, path: Path) -> Paper:
    """Parse one paper file: YAML front matter between `---` lines, then the abstract."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise InputError("no YAML front matter (the file must start with a '---' line)", path, 1)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise InputError("front matter is not closed by a '---' line", path, 1) from None
    front_text = "\n".join(lines[1:end])
    front = read_canonical(front_text)
    if front is None:  # not the store's own layout: PyYAML reads it, and reports its errors
        front = _yaml_front_matter(front_text, path)
    body = "\n".join(lines[end + 1 :]).strip()
    return _paper_from_front_matter(front, body, path, front_text)


def _yaml_front_matter(front_text: str, path: Path) -> dict[str, Any]:
    try:
        front = yaml.load(front_text, Loader=_Loader) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise InputError(f"front matter: {problem}", path, line) from None
    if not isinstance(front, dict):
        raise InputError("front matter must be a mapping of fields", path, 2)
    return front


def parse_paper_file_bytes(data: bytes, path: Path) -> Paper:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError("not UTF-8 text", path, data[: err.start].count(b"\n") + 1) from None
    return parse_paper_file(text, path)


# A paper file is a few kilobytes: one read holds it, the next finds the end.
_READ_SIZE = 1 << 16


def read_paper_file(path: Path) -> Paper:
    return parse_paper_file_bytes(paper_file_bytes(path), path)


def paper_file_bytes(path: Path) -> bytes:
    """A file's bytes, by plain `os` calls: `Path.read_bytes` wraps the same reads in a buffered
    file object, 10 µs a paper file against 6 (a cold build reads every one of them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, _READ_SIZE)]
        while chunks[-1]:
            chunks.append(os.read(fd, _READ_SIZE))
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 2 else b"".join(chunks)


def _key_line(front_text: str, key: str) -> int:
    """The file line where `key:` is set, so an error can point at it."""
    for number, line in enumerate(front_text.splitlines(), start=2):
        if line.startswith(f"{key}:"):
            return number
    return 1


# A paper's file name is its page's address (papers/<name>/), in links, feeds and the sitemap:
# only what `slugify` makes may be one. A hand-added "My Paper.md" put a space in all of them.
_SLUG_NAME = re.compile(r"[0-9a-z]+(?:-[0-9a-z]+)*")


def _paper_from_front_matter(front: dict[str, Any], body: str, path: Path, front_text: str) -> Paper:
    def fail(key: str, message: str) -> InputError:
        return InputError(f"{key}: {message}", path, _key_line(front_text, key))

    if not _SLUG_NAME.fullmatch(path.stem):
        raise InputError("a paper's file name is its page's address, so it holds only a-z, 0-9 and single hyphens: "
                         f"rename it to {slugify(path.stem)}.md", path)

    title = front.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail("title", "a non-empty text is required")
    date = front.get("date")
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise fail("date", f"{date!r} is not a YYYY-MM-DD date") from None
    if isinstance(date, dt.datetime):
        date = date.date()
    if not isinstance(date, dt.date):
        raise fail("date", "a YYYY-MM-DD date is required")
    authors = front.get("authors") or []
    if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
        raise fail("authors", "must be a list of names")
    arxiv_id = front.get("arxiv_id")
    if arxiv_id is not None:
        arxiv_id = str(arxiv_id)
    topics = front.get("topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise fail("topics", "must be a list of topic slugs")
    upvotes = front.get("upvotes")
    if upvotes is not None and (not isinstance(upvotes, int) or isinstance(upvotes, bool)):
        raise fail("upvotes", "must be a whole number")
    links = front.get("links") or {}
    if not isinstance(links, dict) or not all(isinstance(v, str) for v in links.values()):
        raise fail("links", "must map names to URLs")
    sources = []
    for entry in front.get("sources") or []:
        try:
            seen = entry["seen"]
            if isinstance(seen, str):
                seen = dt.date.fromisoformat(seen)
            sources.append(SourceRef(intern(str(entry["format"])), intern(str(entry["file"])), seen))
        except (KeyError, TypeError, ValueError):
            raise fail("sources", "each entry needs format, file and seen (a date)") from None
    position = front.get("position")
    if position is not None and not isinstance(position, int):
        raise fail("position", "must be a whole number")
    extra = {intern(k) if isinstance(k, str) else k: v for k, v in front.items() if k not in CORE_FIELDS}
    # Keys, topic slugs and source files repeat across every paper: interned, 100,000 papers
    # hold each once, and the build state (marshal keeps interned strings shared) loads them so.
    return Paper(
        title=title.strip(),
        date=date,
        abstract=body,
        authors=list(authors),
        arxiv_id=arxiv_id,
        topics=list(map(intern, topics)),
        upvotes=upvotes,
        links={intern(str(k)): v for k, v in links.items()},
        sources=sources,
        position=position,
        extra=extra,
        slug=path.stem,
    )


def render_paper_file(paper: Paper) -> str:
    """The canonical text of a paper file: fixed key order, so output is stable across runs."""
    front: dict[str, Any] = {
        "title": paper.title,
        "date": paper.date,
        "authors": paper.authors,
        "arxiv_id": paper.arxiv_id,
        "topics": paper.topics,
        "upvotes": paper.upvotes,
        "links": paper.links,
        "sources": [s.to_dict() for s in paper.sources],
        "position": paper.position,
    }
    front.update(dict(sorted(paper.extra.items())))
    dumped = yaml.dump(front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{dumped}---\n\n{paper.abstract}\n"


# ---------------------------------------------------------------- merging


def _rank(sources: Iterable[SourceRef]) -> int:
    return max((SOURCE_RICHNESS.get(s.format, 0) for s in sources), default=0)


def merge_paper(existing: Paper, incoming: Paper) -> Paper:
    """Fold a new sighting into a known paper.

    The known paper's values win (they may be hand edits) unless the sighting comes from a
    richer format than any seen before, or the known value is empty. The listing date is the
    earliest sighting, counts only grow, and lists and links are unions.
    """
    richer = _rank(incoming.sources) > _rank(existing.sources)

    def pick(old: Any, new: Any) -> Any:
        if not old:
            return new
        return new if (richer and new) else old

    earlier = incoming.date < existing.date
    sources = sorted(
        {(s.seen, s.format, s.file): s for s in [*existing.sources, *incoming.sources]}.values(),
        key=lambda s: (s.seen, s.format, s.file),
    )
    upvotes = existing.upvotes
    if incoming.upvotes is not None:
        upvotes = max(upvotes or 0, incoming.upvotes)
    return replace(
        existing,
        title=pick(existing.title, incoming.title),
        abstract=pick(existing.abstract, incoming.abstract),
        authors=pick(existing.authors, incoming.authors),
        arxiv_id=existing.arxiv_id or incoming.arxiv_id,
        upvotes=upvotes,
        links={**incoming.links, **existing.links} if not richer else {**existing.links, **incoming.links},
        sources=sources,
        date=incoming.date if earlier else existing.date,
        position=incoming.position if (earlier or existing.position is None) else existing.position,
        extra={**incoming.extra, **existing.extra},
        topics=existing.topics,
    )


# ---------------------------------------------------------------- the store


@dataclass
class MergeReport:
    """What an ingest did to the store, for its summary line."""

    entries: int = 0
    new: list[Paper] = field(default_factory=list)
    updated: list[Paper] = field(default_factory=list)
    unchanged: int = 0


class ContentStore:
    """content/: papers on disk, indexed by identity so sightings find their paper."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.papers_dir = self.root / "papers"

    def paper_path(self, paper: Paper) -> Path:
        return self.papers_dir / paper.date.isoformat() / f"{paper.slug}.md"

    def paper_files(self) -> list[str]:
        """Every paper file's path, in a stable order (date folder, then name).

        Listed, sorted and returned as strings, which every build does for 100,000 files: as
        Paths, globbed and sorted, they took 2 s; made as Paths and turned back into the
        strings that key the build state, 0.8 s; as strings, 0.3 s.
        """
        if not self.papers_dir.is_dir():
            return []
        files: list[str] = []
        with os.scandir(self.papers_dir) as days:
            day_dirs = sorted(day.path for day in days if day.is_dir() and _DATE_DIR.match(day.name))
        for day_dir in day_dirs:
            with os.scandir(day_dir) as entries:
                names = sorted(name for entry in entries
                               if (name := entry.name).endswith(".md") and name[0] != "." and entry.is_file())
            prefix = day_dir + os.sep  # joined by hand: os.path.join took 0.17 s of 100,000
            files.extend([prefix + name for name in names])
        return files

    @staticmethod
    def check_names(files: list[str], slugs: list[str]) -> None:
        """Fail on two paper files of one name (in two date folders): a paper's file name is its
        slug (`slugs`, as parsed from `files`), which is its page's URL. Asked only once two
        papers are found to share a slug."""
        first: dict[str, str] = {}
        for file, slug in zip(files, slugs, strict=True):
            if slug in first:
                raise InputError(f"another paper file has this name ({first[slug]}); a paper's file name is "
                                 "its page's address, so each must be unique: rename or remove one", file)
            first[slug] = file

    def load(self) -> list[Paper]:
        """Read every paper; the first bad file stops the load with its name and line.

        A big store is read by forked workers (`parallel.parse_each`). An ingest does not come
        here: it finds stored papers by their identities (`merge`, `storeindex`).
        """
        return list(parse_each(read_paper_file, list(map(Path, self.paper_files())), label="reading the store", quiet=True))

    def index(self) -> StoreIndex:
        """Who is in the store without reading it (`storeindex`)."""
        return StoreIndex(self.root, self.papers_dir, read_paper_file)

    def identities(self) -> list[Identity]:
        """Every paper file's identity, date and topics, in `paper_files` order, from the index."""
        index = self.index()
        identities = index.identities(self.paper_files())
        index.save()
        return identities

    def read(self, file: str) -> Paper:
        """The paper in `file` (an `Identity.file`: its path under papers/)."""
        return read_paper_file(self.papers_dir / file)

    def merge(self, sightings: list[Paper], assign_topics) -> MergeReport:
        """Merge parsed sightings into the store and write what changed.

        `assign_topics(paper) -> list[str]` labels papers that have no topics yet; papers that
        already have topics keep them, so a person's choice is never undone. Stored papers are
        known by their identities (`storeindex`) and read only when a sighting is theirs.
        """
        index = self.index()
        identities = index.identities(self.paper_files())
        files_by_slug = {identity.slug: identity.file for identity in identities}
        slugs = set(files_by_slug)
        # key → a stored paper's file (read once a sighting finds it), or a paper merged this run
        by_key: dict[str, str | Paper] = {}

        def remember(title_key: str, arxiv_id: str | None, found: str | Paper) -> None:
            by_key[f"title:{title_key}"] = found
            if arxiv_id:
                by_key[f"arxiv:{arxiv_id}"] = found

        for identity in identities:
            remember(identity.title_key, identity.arxiv_id, identity.file)

        read: dict[str, Paper] = {}  # the stored papers sightings found, by file

        def stored(found: str | Paper | None) -> Paper | None:
            if not isinstance(found, str):
                return found
            if found not in read:
                read[found] = self.read(found)
            return read[found]

        def find(sighting: Paper) -> Paper | None:
            if sighting.arxiv_id and f"arxiv:{sighting.arxiv_id}" in by_key:
                return stored(by_key[f"arxiv:{sighting.arxiv_id}"])
            found = stored(by_key.get(f"title:{normalise_title(sighting.title)}"))
            # A title match with a different arXiv id is a different paper that shares a title.
            if found and sighting.arxiv_id and found.arxiv_id and found.arxiv_id != sighting.arxiv_id:
                return None
            return found

        report = MergeReport(entries=len(sightings))
        touched: dict[str, Paper] = {}
        for sighting in sightings:
            current = find(sighting)
            if current is None:
                merged = replace(sighting, slug=self._new_slug(sighting, slugs))
                slugs.add(merged.slug)
            else:
                merged = merge_paper(current, sighting)
            if not merged.topics:
                merged = replace(merged, topics=list(assign_topics(merged)))
            remember(normalise_title(merged.title), merged.arxiv_id, merged)
            touched[merged.slug] = merged

        original = {slug: stored(files_by_slug[slug]) for slug in touched if slug in files_by_slug}
        for slug, paper in sorted(touched.items()):
            before = original.get(slug)
            if before is None:
                report.new.append(paper)
            elif before != paper:
                report.updated.append(paper)
            else:
                report.unchanged += 1

        for paper in [*report.new, *report.updated]:
            path = self.paper_path(paper)
            write_atomic(path, render_paper_file(paper).encode("utf-8"))
            index.written(path, paper)
            before = original.get(paper.slug)
            if before is not None and before.date != paper.date:
                self.paper_path(before).unlink(missing_ok=True)
                index.removed(self.paper_path(before))
        index.save()
        return report

    @staticmethod
    def _new_slug(paper: Paper, taken: set[str]) -> str:
        """A readable slug from the title; a short identity hash only when the title's is taken."""
        base = slugify(paper.title)
        if base not in taken:
            return base
        digest = hashlib.sha1(paper.identity.encode("utf-8")).hexdigest()[:8]
        return f"{base}-{digest}"
