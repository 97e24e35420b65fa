"""What the previous build saw and wrote, so the next one redoes only what changed.

Lektor's idea, Pelican's weak spot avoided: a build remembers (1) each paper file it parsed,
keyed by size and mtime, with the parsed record, its text's digest and its term vector, and
(2) for each page it wrote, a fingerprint of everything the page was rendered from. The next
build parses only new or touched files and renders only pages whose fingerprint moved; the
output is the same bytes a full build gives, because a fingerprint covers every input.

The state lives beside the output folder: `.site.buildstate` for `site/`, and the parsed
files in `.site.papercache/`, one file per content folder, so a new day writes one small
file there, not the records of 100,000 papers again (212 MB, 0.45 s of a 100k new day's
build). Each file is written atomically and only when it changed. They are `marshal`led
plain tuples, not pickled objects: at 100,000 papers pickle took 15 s to save and 6 s to
load what marshal does in a fraction. A folder's file holds first what a build reads of
every paper (stamp, digest, terms, title, date, topics, order), then the rest (abstract,
authors, links...), which a build reads only for the papers it renders (`StoredPaper`). A
state written by other code (any change to the package), a folder's file the main file does
not vouch for, or one that cannot be read, is ignored and its papers parsed again: a cache
can make a build faster, never wrong.
"""

from __future__ import annotations

import array
import dataclasses
import datetime as dt
import functools
import gc
import hashlib
import marshal
import os
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from paperroute.arrayfile import read_parts, write_parts
from paperroute.errors import InputError
from paperroute.model import Paper, SourceRef
from paperroute.related import RelatedPapers, TermCounts, TermVector, TermVocabulary
from paperroute.output import write_atomic
from paperroute.parallel import each_from_disk, parse_each

# Bump when the state's layout changes; code and template changes are caught by `code_digest`.
STATE_VERSION = 7
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(slots=True)
class ParsedFile:
    """One paper file as last parsed: the stamp that says it is unchanged, and what it gave.
    Slotted: a build holds 100,000 of them."""

    size: int
    mtime_ns: int
    digest: bytes
    paper: Paper
    terms: TermVector  # ids from the state's `vocabulary`

    def index_record(self) -> tuple:
        """What a build reads of every paper (`_stored_file` reads it back): to tell it
        unchanged, to rank, group and order it, and to list it among another's related papers."""
        paper = self.paper
        return (self.size, self.mtime_ns, self.digest, self.terms, paper.slug, paper.title, paper.date.toordinal(),
                paper.topics, paper.upvotes, paper.position)


@dataclass
class BuildState:
    files: dict[str, ParsedFile] = field(default_factory=dict)
    # output path (relative to site/) → fingerprint of what it was rendered from
    outputs: dict[str, bytes] = field(default_factory=dict)
    # related papers (with what the next build needs to rank only what moved) and the digest
    # of the papers they were computed from
    related_key: bytes = b""
    related: RelatedPapers | None = None
    vocabulary: TermVocabulary = field(default_factory=TermVocabulary)
    # Each content folder whose records are saved as they are, and the identity of the file
    # that holds them (`_file_identity`): `save_state` writes only the folders missing here,
    # those with a file parsed or gone since (a new day changes one folder of a thousand).
    folders: dict[str, tuple[int, int, int]] = field(default_factory=dict, repr=False)
    # what the whole site was built from (code, settings, taxonomy, papers), and its page count
    site_key: bytes = b""
    pages: int = 0
    # What every page's fingerprint started with (`PageInputs.code`): while it stays the same,
    # a paper page whose paper, related list and related papers did not change is current.
    page_code: bytes = b""
    # Set when this build parsed or forgot a file or recomputed related papers: save it then.
    changed: bool = False
    # The slugs of the papers this build parsed (new or touched files): not saved.
    parsed: set[str] = field(default_factory=set, repr=False)
    # The state file this was read from (`_file_identity`), to tell whether a survey of the
    # disk (`survey_disk`) read the same one; None when nothing usable was read.
    identity: tuple[int, int, int] | None = field(default=None, repr=False, compare=False)


def state_path(out_dir: Path) -> Path:
    out_dir = Path(out_dir).resolve()
    return out_dir.parent / f".{out_dir.name}.buildstate"


def build_lock_path(out_dir: Path) -> Path:
    """What a build into `out_dir` holds locked while it runs (`output.hold_lock`), beside the state."""
    return state_path(out_dir).with_suffix(".buildlock")


def paper_cache_dir(out_dir: Path) -> Path:
    """The parsed files' records, one file per content folder, beside the state."""
    return state_path(out_dir).with_suffix(".papercache")


def _folder_file(folder: str) -> str:
    """A content folder's file in the paper cache: named by a digest of the folder's path,
    which may be any depth and, given as an absolute path, any length."""
    return hashlib.blake2b(folder.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def template_cache_dir(out_dir: Path) -> Path:
    """The compiled templates (`render.Renderer`), beside the state."""
    return state_path(out_dir).with_suffix(".templatecache")


def staging_dir(out_dir: Path) -> Path:
    """Where a build into a folder that does not exist yet writes, beside the state, until it
    renames the folder into place (`site.staging_folder`)."""
    return state_path(out_dir).with_suffix(".staging")


def search_cache_paths(out_dir: Path) -> tuple[Path, Path]:
    """The search index's caches (`search.IndexCache`), beside the state: the per-paper word
    counts, and the last index's postings."""
    state = state_path(out_dir)
    return state.with_suffix(".searchcache"), state.with_suffix(".searchpostings")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Run without the cyclic garbage collector, which a big load sets off again and again,
    and freeze what was made out of its sight: a state being read, or files being parsed.

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


def read_ahead(out_dir: Path, files: list[str]) -> None:
    """Ask the kernel to start reading, all at once, the last build's files a build reads:
    the state, the paper cache's indexes of the folders of `files` (in the order the state is
    read; a build reads a few papers' texts) and the search index's postings.

    A daily build finds them out of the page cache, written a day before; read one after
    another, each read waited on the disk (a 100k new day's build took 4.9 s instead of 3.9
    s with the page cache dropped, 0.3 s of it reading the state). Asked together, the disk
    reads them side by side while the build starts. Where they are cached, this costs the
    opening of a thousand files (a few milliseconds at 100,000 papers); where they are not,
    0.07-0.14 s of asking, in the survey's process (`survey_disk`)."""
    if not hasattr(os, "posix_fadvise"):
        return
    cache = paper_cache_dir(out_dir)
    folders = sorted({folder for folder, _ in _folder_runs(files)})
    for path, head in ((state_path(out_dir), False), *((cache / _folder_file(folder), True) for folder in folders),
                       (search_cache_paths(out_dir)[1], False)):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            # Of a paper-cache file, what the state is read with: the header, the index, the
            # table. Its header is read at random (`CacheFile._open`), or the kernel would read
            # ahead and mark a page further on, whose reading by the build read ahead again,
            # into the texts: the build's process then read all 179 MB of these files, not 61.
            length = 0  # to the end
            if head:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
                length = sum(_HEADER.unpack(os.pread(fd, _HEADER.size, 0)), _HEADER.size)
            os.posix_fadvise(fd, 0, length, os.POSIX_FADV_WILLNEED)
        except (OSError, struct.error):  # a file cut short: the build finds it unusable
            continue
        finally:
            os.close(fd)


def _file_identity(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


# What reading a state that is missing, cut short or not a state at all raises.
_UNREADABLE = (OSError, EOFError, ValueError, TypeError, AttributeError)


def _read_main(out_dir: Path, *, whole: bool = True) -> tuple[tuple[int, int, int], tuple] | None:
    """The state file's identity and its record (the outputs, and unless not `whole` the rest
    and the related papers' arrays: `save_state`), or None if there is none or it was written
    by another version of the code (which parsed its files another way).

    Mapped, then unmarshalled (`arrayfile.read_parts`): `marshal.load` on a file reads it in
    small pieces (a 100k state took 2.4 s to load that way), and read whole into a copy, its
    40 MB cost 10,000 page faults more (80-128 ms against 57-87 ms). The outputs come first,
    and the survey (`gone_outputs`) reads them alone."""
    stat, parts, arrays = read_parts(state_path(out_dir), 2 if whole else 1, arrays=whole)
    code, outputs = marshal.loads(parts[0])
    if code != code_digest():
        return None
    if not whole:
        return _file_identity(stat), (outputs,)
    return _file_identity(stat), (outputs, *marshal.loads(parts[1]), arrays)


def _read_state(out_dir: Path) -> BuildState:
    try:
        main = _read_main(out_dir)
        if main is None:
            return BuildState()
        identity, (outputs, folder_files, related_key, related, site_key, pages, page_code, vocabulary, arrays) = main
        related = RelatedPapers.from_parts(related, arrays) if related is not None else None
        files: dict[str, ParsedFile] = {}
        folders: dict[str, tuple[int, int, int]] = {}
        cache = paper_cache_dir(out_dir)
        for folder, folder_identity in folder_files.items():
            folder_file = CacheFile(str(cache / _folder_file(folder)), tuple(folder_identity))
            records = folder_file.index()
            # Gone, or not the file this state wrote (a build that crashed before its state was
            # saved wrote another): its term ids may not be this vocabulary's.
            if records is None:
                continue
            for number, (key, record) in enumerate(records.items()):
                files[key] = _stored_file(record, folder_file, number)
            folders[folder] = folder_file.identity
        return BuildState(files=files, outputs=outputs, related_key=related_key, related=related,
                          site_key=site_key, pages=pages, page_code=page_code,
                          vocabulary=TermVocabulary(list(vocabulary)), folders=folders, identity=identity)
    except _UNREADABLE:
        return BuildState()


# A paper-cache file starts with the lengths of its index and of the table after it, which
# holds where each paper's texts start (and where the last ends), from the end of the table.
_HEADER = struct.Struct("<QQ")
_OFFSET = "Q"
# A paper-cache file the state vouched for that is gone or another by the time it is read.
_REPLACED = "replaced or removed during the build: is another build writing to this site?"


class CacheFile:
    """A content folder's file in the paper cache, with the identity the state vouched for:
    its index (`ParsedFile.index_record` by file), a table of offsets, then each paper's other
    texts (`_text_record`) marshalled on its own, in the index's order. The index is read
    whole, the texts a paper at a time, and only from the file of that identity."""

    __slots__ = ("path", "identity", "_offsets", "_texts_at")

    def __init__(self, path: str, identity: tuple[int, int, int]) -> None:
        self.path, self.identity = path, identity
        self._offsets: array.array | None = None  # where each paper's texts start, from `_texts_at`
        self._texts_at = 0

    def _open(self) -> int | None:
        """A descriptor of the file, or None if it is gone or not the one of that identity
        (another build replaced it).

        Told that it is read at random: the disk of this machine reads ahead 8 MB, so the
        first read of each file, where it was out of memory, brought in all of it. Loading the
        state of 100,000 papers with the page cache dropped read 179 MB of these files for
        the 61 MB of indexes it needs, and took 0.55-0.59 s instead of 0.51-0.54 s."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            vouched = _file_identity(os.fstat(fd)) == self.identity
            if vouched and hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        except BaseException:
            os.close(fd)
            raise
        if not vouched:
            os.close(fd)
            return None
        return fd

    def index(self) -> dict[str, tuple] | None:
        """The index, or None if the file is gone or not the one of that identity (another
        build replaced it)."""
        fd = self._open()
        if fd is None:
            return None
        try:
            header = os.pread(fd, _HEADER.size, 0)
            if len(header) < _HEADER.size:
                raise EOFError(f"{self.path} is cut short")
            index_length, table_length = _HEADER.unpack(header)
            data = os.pread(fd, index_length + table_length, _HEADER.size)
        finally:
            os.close(fd)
        offsets = array.array(_OFFSET)
        offsets.frombytes(data[index_length:])
        self._offsets, self._texts_at = offsets, _HEADER.size + index_length + table_length
        return marshal.loads(data[:index_length])

    def vouched(self) -> dict[str, tuple]:
        """The index, from the file the state vouched for, which must still be there: its
        papers were read from it."""
        index = self.index()
        if index is None:
            raise InputError(_REPLACED, self.path)
        return index

    def texts(self, number: int) -> tuple:
        """The `number`th paper's texts, read alone. After a new day a build renders the
        pages of a few hundred old papers, one or two in each of hundreds of folders: read
        whole, their folders' texts came to 55 MB at 100,000 papers (the build's process read
        163 MB, now 108). That cost most where it counts, after other work pushed the files
        out of memory: after 12 GB taken and given back, 4.5-6.4 s against 3.8-4.4 s."""
        offsets = self._texts_offsets()
        return marshal.loads(self._read(offsets[number], offsets[number + 1]))

    def ask_texts(self, numbers: Iterable[int]) -> None:
        """Ask the disk for these papers' texts, all at once, without waiting for them."""
        offsets = self._texts_offsets()
        fd = self._open()
        if fd is None:  # the reads that follow say so
            return
        try:
            for number in numbers:
                os.posix_fadvise(fd, self._texts_at + offsets[number], offsets[number + 1] - offsets[number],
                                 os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

    def all_texts(self) -> list[tuple]:
        """Every paper's texts, in the index's order, read at once."""
        offsets = self._texts_offsets()
        data = self._read(0, offsets[-1])
        return [marshal.loads(data[start:end]) for start, end in zip(offsets, offsets[1:])]

    def _texts_offsets(self) -> array.array:
        if self._offsets is None:
            self.vouched()
        assert self._offsets is not None
        return self._offsets

    def _read(self, start: int, end: int) -> bytes:
        """Bytes start … end of the texts, from the file the state vouched for."""
        fd = self._open()
        if fd is None:
            raise InputError(_REPLACED, self.path)
        try:
            return os.pread(fd, end - start, self._texts_at + start)
        finally:
            os.close(fd)


def cache_file_bytes(files: Mapping[str, ParsedFile]) -> bytes:
    """A folder's file in the paper cache (`CacheFile`) for these parsed files.

    A hand-written explicit YAML tag (`!!timestamp ...`) can put a value marshal cannot hold
    into `extra`: those files are left out, and the next build parses them again.
    """
    index, texts = {}, []
    for key, parsed in files.items():
        try:
            texts.append(marshal.dumps(_text_record(parsed.paper)))
        except ValueError:
            continue
        index[key] = parsed.index_record()
    index_bytes = marshal.dumps(index)
    offsets = array.array(_OFFSET, [0])
    for text in texts:
        offsets.append(offsets[-1] + len(text))
    table = offsets.tobytes()
    return b"".join((_HEADER.pack(len(index_bytes), len(table)), index_bytes, table, *texts))


# Each paper file's size and mtime, in the order of the build's list of files.
FileStamps = tuple[array.array, array.array]


def survey_disk(files: list[str], out_dir: Path) -> Iterator[FileStamps | tuple[tuple[int, int, int] | None, set[str]]]:
    """What a build asks the disk before it can tell what changed, in the order it asks:
    every paper file's stamp (`file_stamps`), then which of the last build's outputs are gone
    (`gone_outputs`). Run in a process of its own (`parallel.Ahead`) while the build reads its
    state: at 100,000 papers that is 220,000 calls to `stat`, about 0.8 s, out of its way.
    It first has the disk read ahead what the build will read (`read_ahead`)."""
    read_ahead(out_dir, files)
    yield file_stamps(files)
    yield gone_outputs(out_dir)


def file_stamps(files: list[str]) -> FileStamps:
    """The size and mtime of each file, as two arrays: 100,000 `stat_result`s would cross to
    the build's process as 20 MB of pickle."""
    stamps = each_from_disk(_stamp, files)
    return array.array("q", map(itemgetter(0), stamps)), array.array("q", map(itemgetter(1), stamps))


def _stamp(key: str) -> tuple[int, int]:
    try:
        stat = os.stat(key)
    except FileNotFoundError:
        raise InputError("removed while the build was reading the store; build again", key) from None
    return stat.st_size, stat.st_mtime_ns


def gone_outputs(out_dir: Path) -> tuple[tuple[int, int, int] | None, set[str]]:
    """The identity of the state file read (None: no usable state) and which of the outputs
    it lists are no longer files: a build trusts the others to be there (`SiteWriter`) only
    if it read that very state file itself."""
    prefix = os.path.join(out_dir, "")
    try:
        main = _read_main(out_dir, whole=False)
        if main is None:
            return None, set()
        identity, (outputs,) = main
        paths = list(outputs)
        there = each_from_disk(os.path.isfile, [prefix + path for path in paths])
        return identity, {path for path, found in zip(paths, there) if not found}
    except _UNREADABLE:  # as `load_state` finds it: no state
        return None, set()


def dumps_unshared(value: object) -> bytes:
    """`marshal.dumps` in format 2, without the table of objects met twice: the state and the
    packed papers hold paths, digests and slugs that appear once in them but are also held
    elsewhere in the build, and format 4 enters each such object in its table. Dumping the
    40 MB state of a 100k build took 0.13-0.17 s that way, 0.07-0.08 s in format 2, and
    reading it back 0.067-0.076 s instead of 0.056 s."""
    return marshal.dumps(value, 2)


def save_state(out_dir: Path, state: BuildState) -> None:
    """Write the folders whose records changed, then the state that vouches for them, then
    drop the files of folders that are gone."""
    by_folder: dict[str, list[str]] = {}
    for folder, keys in _folder_runs(state.files):
        by_folder.setdefault(folder, []).extend(keys)
    cache = paper_cache_dir(out_dir)
    folders: dict[str, tuple[int, int, int]] = {}
    for folder, keys in sorted(by_folder.items()):
        identity = state.folders.get(folder)
        if identity is None:
            path = cache / _folder_file(folder)
            write_atomic(path, cache_file_bytes({key: state.files[key] for key in keys}))
            identity = _file_identity(path.stat())
        folders[folder] = identity
    related, arrays = state.related.as_parts() if state.related else (None, [])
    write_parts(state_path(out_dir), [dumps_unshared((code_digest(), state.outputs)),
                                      dumps_unshared((folders, state.related_key, related, state.site_key, state.pages,
                                                      state.page_code, state.vocabulary.terms))], arrays)
    state.folders = folders
    wanted = set(map(_folder_file, folders))
    for name in os.listdir(cache) if cache.is_dir() else ():
        if name not in wanted and not name.startswith("."):  # .*.tmp: another build's, mid-write
            (cache / name).unlink(missing_ok=True)


def _folder_runs(keys: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """Paths as they come, a run of paths in one folder at a time. Files are listed a folder
    at a time (`ContentStore.paper_files`): `os.path.dirname` of each of 100,000 took 0.1 s."""
    folder, prefix, run = "", "", []
    for key in keys:
        if not (prefix and key.startswith(prefix) and key.find(os.sep, len(prefix)) < 0):
            if run:
                yield folder, run
            folder = os.path.dirname(key)
            prefix, run = folder + os.sep, []
        run.append(key)
    if run:
        yield folder, run


def _text_record(paper: Paper) -> tuple:
    """What a build reads of a paper only to render its page or card, as marshal-able values
    (dates as ordinals); front matter holds nothing else."""
    return (paper.abstract, paper.authors, paper.arxiv_id, paper.links,
            [(s.format, s.file, s.seen.toordinal()) for s in paper.sources], paper.extra)


# Title, authors and abstract: what the search index reads of a paper.
Texts = tuple[str, list[str], str]


@dataclass(frozen=True)
class StoredTexts:
    """Where the texts of the papers this build did not parse lie on disk: in the paper
    cache's files the state was read from, each with the identity the state vouched for.

    The search index's process reads them there (`texts`), and only those it needs: after a
    new day, the texts of the papers in the display blocks that moved. Packed and sent from
    the build's process, all 100,000 papers' texts cost it 0.3 s to pack and 0.24 s to send.
    """

    folders: list[tuple[str, tuple[int, int, int]]]
    folder_of: dict[str, int]  # slug → its file in `folders`

    def texts(self, folder: int) -> dict[str, Texts]:
        """The texts of every paper in one file, by slug."""
        stored = CacheFile(*self.folders[folder])
        texts: dict[str, Texts] = {}
        records = stored.vouched().values()
        for (_, _, _, _, slug, title, *_), (abstract, authors, *_) in zip(records, stored.all_texts()):
            texts[slug] = title, authors, abstract
        return texts


def stored_texts(parsed: Iterable[ParsedFile]) -> StoredTexts:
    """Where each paper of `parsed` that was read back from the cache (`StoredPaper`) has its
    texts: in the folder's file its index was read from."""
    folders: list[tuple[str, tuple[int, int, int]]] = []
    numbers: dict[int, int] = {}  # a `CacheFile`'s id → its number in `folders`
    folder_of: dict[str, int] = {}
    for item in parsed:
        paper = item.paper
        if type(paper) is StoredPaper:
            stored = paper._file
            number = numbers.get(id(stored))
            if number is None:
                number = numbers[id(stored)] = len(folders)
                folders.append((stored.path, stored.identity))
            folder_of[paper.slug] = number
    return StoredTexts(folders, folder_of)


def read_texts_ahead(papers: Iterable[Paper]) -> None:
    """Ask the disk, all at once, for the texts of those `papers` read back from the paper
    cache (`StoredPaper`), before the pages that show them read them one at a time: out of
    memory, as a day later, each such read waited on the disk in turn."""
    if not hasattr(os, "posix_fadvise"):
        return
    by_file: dict[CacheFile, list[int]] = {}
    for paper in papers:
        if type(paper) is StoredPaper:
            by_file.setdefault(paper._file, []).append(paper._number)
    for cache_file, numbers in by_file.items():
        cache_file.ask_texts(numbers)


# A day's papers share one date object (a state holds a few thousand days, 100,000 papers).
_date = functools.lru_cache(maxsize=None)(dt.date.fromordinal)


class StoredPaper(Paper):
    """A paper read back from the paper cache, whose texts (abstract, authors, arXiv id,
    links, sources, extra) are read from its folder's file (`CacheFile.texts`) when first asked.

    What a build reads of every paper (title, date, topics, upvotes, place, slug) is set at
    once. After a new day a build renders a few hundred papers of 100,000: reading every
    paper's texts with the state took 0.6-0.85 s and 230 MB at 100,000 papers.
    """

    __slots__ = ("_file", "_number")

    def __reduce__(self) -> tuple:
        return Paper, tuple(getattr(self, name) for name in Paper.__dataclass_fields__)

    def _read_texts(self) -> None:
        abstract, authors, arxiv_id, links, sources, extra = self._file.texts(self._number)
        self.abstract, self.authors, self.arxiv_id, self.links, self.extra = abstract, authors, arxiv_id, links, extra
        self.sources = [SourceRef(fmt, file, _date(seen)) for fmt, file, seen in sources]


def _read_when_asked(slot: Any) -> property:
    """A text field of `StoredPaper`: the field's own slot, filled on the first read."""
    def read(paper: StoredPaper) -> Any:
        try:
            return slot.__get__(paper, Paper)
        except AttributeError:
            paper._read_texts()
            return slot.__get__(paper, Paper)
    return property(read, slot.__set__)


for _name in ("abstract", "authors", "arxiv_id", "links", "sources", "extra"):
    setattr(StoredPaper, _name, _read_when_asked(Paper.__dict__[_name]))

_new_stored_paper = functools.partial(object.__new__, StoredPaper)


def _stored_file(record: tuple, folder_file: CacheFile, number: int) -> ParsedFile:
    """A `ParsedFile` from its index record (`ParsedFile.index_record`), the `number`th of
    `folder_file`."""
    size, mtime_ns, digest, terms, slug, title, date, topics, upvotes, position = record
    paper = _new_stored_paper()
    paper.slug, paper.title, paper.date, paper.topics = slug, title, _date(date), topics
    paper.upvotes, paper.position = upvotes, position
    paper._file, paper._number = folder_file, number
    return ParsedFile(size, mtime_ns, digest, paper, terms)


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


# A day's or a topic page's papers: parsed this build, or read back from the cache.
_PAPER_TYPES = {Paper, StoredPaper}
_slug = attrgetter("slug")


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's field names, last first (the walk pops them in order); None for any other
    type. Asked once per type: `dataclasses.fields` for each of the 35,000 dataclasses in the
    day pages of a 100k build was a third of their fingerprints' time."""
    return tuple(field.name for field in reversed(dataclasses.fields(kind))) if dataclasses.is_dataclass(kind) else None


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
            if value and set(map(type, value)) <= _PAPER_TYPES:  # a day's or a topic page's papers, in C
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
        elif (names := _field_names(kind)) is not None:
            add(kind.__name__.encode())
            stack.extend(map(value.__getattribute__, names))
        else:
            raise TypeError(f"cannot fingerprint a {type(value).__name__}")
    return hashlib.blake2b(b"".join(chunks), digest_size=20).digest()


def _parse_file(path: Path, terms_of: Callable[[Paper], TermCounts]) -> tuple[bytes, Paper, TermCounts]:
    """A file's digest, paper and term counts: what a worker hands back (the vocabulary that
    turns the counts into a vector is the parent's)."""
    from paperroute.store import paper_file_bytes, parse_paper_file_bytes

    data = paper_file_bytes(path)
    paper = parse_paper_file_bytes(data, path)
    return hashlib.blake2b(data + path.stem.encode(), digest_size=16).digest(), paper, terms_of(paper)


def load_papers(files: list[str], stamps: FileStamps, state: BuildState, terms_of: Callable[[Paper], TermCounts], *,
                quiet: bool = False, jobs: int | None = None) -> list[ParsedFile]:
    """Every paper file parsed, reusing the state's record for files whose size and mtime
    (`stamps`, from `file_stamps`) match.

    Files to parse are split over the machine's cores when there are many (a cold build);
    `InputError` from a worker reaches the caller as it is. The state is updated in place and
    forgets files that are gone.
    """
    keep: dict[str, ParsedFile] = {}
    todo: list[tuple[str, int, int]] = []
    for key, size, mtime_ns in zip(files, *stamps, strict=True):
        known = state.files.get(key)
        if known is not None and known.size == size and known.mtime_ns == mtime_ns:
            keep[key] = known
        else:
            todo.append((key, size, mtime_ns))

    # Without the collector, as a state is read (`_collector_paused`): parsing 100,000 papers
    # makes a few million containers, and the collections they set off took 10.1-11.8 s of
    # wall time down to 8.3-8.8 s (the workers are forked with it paused too).
    with _collector_paused():
        parsed = parse_each(lambda item: _parse_file(Path(item[0]), terms_of), todo, label="parsing", quiet=quiet,
                            jobs=jobs)
        for (key, size, mtime_ns), (digest, paper, counts) in zip(todo, parsed, strict=True):
            keep[key] = ParsedFile(size, mtime_ns, digest, paper, state.vocabulary.vector(counts))
    # A folder with a file parsed or gone is marshalled anew when the state is saved.
    for key in [*(key for key, _, _ in todo), *(key for key in state.files if key not in keep)]:
        state.folders.pop(os.path.dirname(key), None)
    state.changed |= bool(todo) or len(keep) != len(state.files)
    state.files = keep
    state.parsed = {keep[key].paper.slug for key, _, _ in todo}
    return list(map(keep.__getitem__, files))
