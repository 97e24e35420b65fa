"""Incremental builds: the build state makes rebuilds cheap and never changes their output."""

from __future__ import annotations

import datetime as dt
import fcntl
import gc
import hashlib
import multiprocessing
import os
import pickle
import threading
import time
from operator import attrgetter
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

import paperroute.site

from conftest import make_paper, write_store
from paperroute.buildstate import (BuildState, CacheFile, StoredPaper, build_lock_path, file_stamps, fingerprint,
                                   gone_outputs, load_papers, load_state, paper_cache_dir, read_ahead, read_texts_ahead,
                                   search_cache_paths, state_path, survey_disk)
from paperroute.config import Config, SiteConfig
from paperroute.errors import InputError
from paperroute.model import Day, Paper, SourceRef, Topic
from paperroute.output import ASIDE_DIR
from paperroute.packed import PackedPapers
from paperroute.parallel import (Ahead, Background, cut_ranges, each_from_disk, heap_frozen, map_ranges,
                                 release_freed_memory)
from paperroute.related import RelatedPapers, paper_terms, rank_related
from paperroute.site import build_site
from paperroute.store import ContentStore

CONFIG = Config(site=SiteConfig(base_url="https://example.org/digest/", topic_page_size=2))


def load_papers_of(content: Path, state: BuildState) -> list:
    files = ContentStore(content).paper_files()
    return load_papers(files, file_stamps(files), state, paper_terms, quiet=True, jobs=1)


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def papers(days: int) -> list:
    topics = ["training", "reasoning", "code"]
    return [make_paper(f"Paper {d}-{i} on sparse attention kernels {i % 2}", f"2026-03-{d + 1:02d}",
                       topics=[topics[(d + i) % 3]], position=i + 1,
                       abstract=f"Sparse attention kernels for long context, variant {d} {i}.")
            for d in range(days) for i in range(4)]


def test_incremental_build_equals_a_full_build(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_store(content, papers(3))
    build_site(content, tmp_path / "site", CONFIG, quiet=True)
    # A new day arrives; the incremental build reuses the state of the first build.
    write_store(content, [p for p in papers(4) if p.date.day == 4])
    incremental = build_site(content, tmp_path / "site", CONFIG, quiet=True)
    full = build_site(content, tmp_path / "fresh", CONFIG, quiet=True)
    assert tree(tmp_path / "site") == tree(tmp_path / "fresh")
    assert 0 < incremental.written < full.written
    # The state is saved a content folder at a time, reusing unchanged folders' bytes: it
    # must still hold every file as a state written from scratch does.
    kept, fresh = (load_state(tmp_path / name).files for name in ("site", "fresh"))
    assert len(kept) == 16 and {key: (item.digest, item.paper) for key, item in kept.items()} == \
        {key: (item.digest, item.paper) for key, item in fresh.items()}


def test_one_build_at_a_time_writes_into_a_folder(tmp_path: Path) -> None:
    """A second build into the folder while one runs is refused at once, naming the folder: the
    two each trusted the state they read, and each deleted what the other set aside."""
    content = tmp_path / "content"
    write_store(content, papers(2))
    build_site(content, tmp_path / "site", CONFIG, quiet=True)
    running = os.open(build_lock_path(tmp_path / "site"), os.O_RDWR)
    try:
        fcntl.flock(running, fcntl.LOCK_EX)  # as the build that runs holds it
        with pytest.raises(InputError, match="another build is writing into this folder") as caught:
            build_site(content, tmp_path / "site", CONFIG, quiet=True)
        assert caught.value.path == str(tmp_path / "site")
        build_site(content, tmp_path / "other", CONFIG, quiet=True)  # another folder is another lock
    finally:
        os.close(running)  # the kernel lets go of it, as it does when a build is killed
    assert build_site(content, tmp_path / "site", CONFIG, quiet=True).written == 0


def test_a_build_deletes_what_a_killed_build_set_aside(tmp_path: Path) -> None:
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(2))
    build_site(content, site, CONFIG, quiet=True)
    (site / ASIDE_DIR).mkdir()
    (site / ASIDE_DIR / "4242.0").write_text("a page a killed build replaced")
    again = build_site(content, site, CONFIG, quiet=True)
    assert (again.written, again.removed) == (0, 0) and not (site / ASIDE_DIR).exists()


def test_a_no_op_rebuild_renders_nothing_and_an_edit_rerenders_its_page(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_store(content, papers(2))
    site = tmp_path / "site"
    build_site(content, site, CONFIG, quiet=True)
    again = build_site(content, site, CONFIG, quiet=True)
    assert again.written == 0
    paper_file = next(f for f in (content / "papers" / "2026-03-01").glob("*.md") if "variant 0 0" in f.read_text())
    paper_file.write_text(paper_file.read_text().replace("variant 0 0", "variant zero"), encoding="utf-8")
    edited = build_site(content, site, CONFIG, quiet=True)
    page = site / "papers" / paper_file.stem / "index.html"
    assert "variant zero" in page.read_text()
    # Its folder's records are saved anew (the others' bytes are reused as they were read).
    assert "variant zero" in load_state(site).files[str(paper_file)].paper.abstract
    assert edited.written >= 2  # its page, and every page that shows its abstract
    assert tree(site) == tree(build_site(content, tmp_path / "fresh", CONFIG, quiet=True).out_dir)


def test_a_retitled_paper_rerenders_the_paper_pages_that_list_it_as_related(tmp_path: Path) -> None:
    """A paper page is fingerprinted from digests alone (`PageInputs.paper_fingerprint`): its
    related papers' digests must be among them, or their pages would show the old title."""
    content = tmp_path / "content"
    title = "Draft trees for speculative decoding"
    write_store(content, [
        make_paper(title, "2026-03-01", abstract="Speculative decoding verifies draft trees."),
        make_paper("Verifying speculative drafts", "2026-03-01", abstract="Draft tokens, speculative verification."),
        make_paper("Protein folding by diffusion", "2026-03-02", abstract="Diffusion models fold protein backbones."),
        make_paper("Backbone diffusion for proteins", "2026-03-02", abstract="Protein backbones by diffusion."),
    ])
    site = tmp_path / "site"
    build_site(content, site, CONFIG, quiet=True)
    listing = site / "papers" / "verifying-speculative-drafts" / "index.html"
    assert "/draft-trees-for-speculative-decoding/" in listing.read_text()
    # The same words in capitals: the related lists stay as they are, the page must not.
    paper_file = next((content / "papers" / "2026-03-01").glob("draft-trees*.md"))
    paper_file.write_text(paper_file.read_text().replace(title, title.upper()), encoding="utf-8")
    build_site(content, site, CONFIG, quiet=True)
    assert title.upper() in listing.read_text()
    assert tree(site) == tree(build_site(content, tmp_path / "fresh", CONFIG, quiet=True).out_dir)


def test_a_new_day_writes_one_folder_of_the_paper_cache_and_a_gone_folder_leaves_it(tmp_path: Path) -> None:
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(3))
    build_site(content, site, CONFIG, quiet=True)
    cache = paper_cache_dir(site)

    def stamps() -> dict[str, tuple[int, int]]:
        return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in cache.iterdir()}

    before = stamps()
    assert len(before) == 3
    write_store(content, [p for p in papers(4) if p.date.day == 4])
    build_site(content, site, CONFIG, quiet=True)
    after = stamps()
    assert len(after) == 4 and {name: after[name] for name in before} == before
    assert len(load_state(site).files) == 16

    for path in (content / "papers" / "2026-03-01").iterdir():
        path.unlink()
    (content / "papers" / "2026-03-01").rmdir()
    build_site(content, site, CONFIG, quiet=True)
    assert len(stamps()) == 3 and len(load_state(site).files) == 12


def test_a_paper_cache_file_the_state_does_not_vouch_for_is_parsed_again(tmp_path: Path) -> None:
    """A build that crashed between writing a folder's records and the state leaves a file
    whose term ids may belong to a vocabulary never saved: it is not used."""
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(2))
    build_site(content, site, CONFIG, quiet=True)
    folder_file = sorted(paper_cache_dir(site).iterdir())[0]
    data = folder_file.read_bytes()
    folder_file.unlink()
    folder_file.write_bytes(data)  # same bytes, another file
    assert len(load_state(site).files) == 4
    report = build_site(content, site, CONFIG, quiet=True)
    assert report.written == 0 and len(load_state(site).files) == 8


def test_related_lists_that_gain_or_lose_a_paper_reach_the_pages_of_papers_not_parsed_again(tmp_path: Path) -> None:
    """An old paper's page moves when a new day's paper enters its related list, or a
    deleted paper leaves it, though the old paper itself was not parsed again."""
    content, site = tmp_path / "content", tmp_path / "site"
    old = [make_paper("Zebrafish holography with sparse kernels", "2026-03-01"),
           make_paper("Sparse kernels for attention", "2026-03-01"),
           make_paper("Protein folding benchmarks", "2026-03-01"),
           make_paper("Protein folding datasets", "2026-03-01")]
    write_store(content, old)
    build_site(content, site, CONFIG, quiet=True)
    page = site / "papers" / "zebrafish-holography-with-sparse-kernels" / "index.html"
    assert "zebrafish-holography-at-scale" not in page.read_text()
    write_store(content, [make_paper("Zebrafish holography at scale", "2026-03-02")])
    build_site(content, site, CONFIG, quiet=True)
    assert "zebrafish-holography-at-scale" in page.read_text()
    assert tree(site) == tree(build_site(content, tmp_path / "fresh", CONFIG, quiet=True).out_dir)
    assert "sparse-kernels-for-attention" in page.read_text()
    (content / "papers" / "2026-03-01" / "sparse-kernels-for-attention.md").unlink()
    build_site(content, site, CONFIG, quiet=True)
    assert "sparse-kernels-for-attention" not in page.read_text()
    assert tree(site) == tree(build_site(content, tmp_path / "fresh2", CONFIG, quiet=True).out_dir)


def fields(paper: Paper) -> tuple:
    return tuple(getattr(paper, name) for name in Paper.__dataclass_fields__)


def test_papers_read_back_from_the_cache_read_their_texts_when_asked_from_the_file_the_state_vouched_for(tmp_path: Path) -> None:
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(2))
    build_site(content, site, CONFIG, quiet=True)
    parsed = {str(key): item.paper for key, item in zip(ContentStore(content).paper_files(),
                                                        load_papers_of(content, BuildState()))}
    stored = {key: item.paper for key, item in load_state(site).files.items()}
    assert set(stored) == set(parsed) and all(type(paper) is StoredPaper for paper in stored.values())
    first_day = sorted(key for key in stored if "2026-03-01" in key)
    # Another build replaces the first day's file after this one read the state: the title
    # came with the state, the rest is read when asked, and only from the file it vouched for.
    folder_file = next(path for path in paper_cache_dir(site).iterdir() if path.read_bytes().find(b"Paper 0-0") >= 0)
    data = folder_file.read_bytes()
    folder_file.unlink()
    folder_file.write_bytes(data)
    assert stored[first_day[0]].title == parsed[first_day[0]].title
    with pytest.raises(InputError, match="replaced or removed during the build") as raised:
        stored[first_day[0]].abstract
    assert raised.value.path == str(folder_file)
    for key in sorted(stored):
        if key not in first_day:
            assert fields(stored[key]) == fields(parsed[key])
            # Sent to another process, it is a plain paper with every field.
            copy = pickle.loads(pickle.dumps(stored[key]))
            assert type(copy) is Paper and copy == parsed[key]


def test_a_stored_papers_texts_are_read_alone_not_with_its_folders(tmp_path: Path, monkeypatch) -> None:
    """After a new day a build renders a few old papers in each of hundreds of folders: each
    paper's texts are read by themselves from its folder's file, not the whole folder's."""
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, [make_paper(f"Paper {number} on kernels", "2026-03-01", position=number + 1,
                                     abstract=f"Abstract {number}: " + "sparse kernels " * 100) for number in range(8)])
    build_site(content, site, CONFIG, quiet=True)
    state = load_state(site)
    [cache_file] = paper_cache_dir(site).iterdir()
    read: list[int] = []
    pread = os.pread

    def recorded(fd: int, length: int, offset: int) -> bytes:
        data = pread(fd, length, offset)
        if os.readlink(f"/proc/self/fd/{fd}") == str(cache_file.resolve()):
            read.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", recorded)
    parsed = {item.paper.slug: item.paper for item in load_papers_of(content, BuildState())}
    for item in state.files.values():
        before = sum(read)
        assert item.paper.abstract == parsed[item.paper.slug].abstract
        assert 0 < sum(read) - before < cache_file.stat().st_size / 6


def disk_reads() -> int:
    """Bytes this process has had read from the disk (`read_bytes` of /proc/self/io)."""
    with open("/proc/self/io") as io:
        return int(next(line for line in io if line.startswith("read_bytes:")).split()[1])


def large_folder_site(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A site of one content folder whose paper-cache file is mostly texts (3.6 MB)."""
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, [make_paper(f"Paper {number} on kernels", "2026-03-01", position=number + 1,
                                     abstract=f"Abstract {number}: " + "sparse kernels " * 6000) for number in range(40)])
    build_site(content, site, CONFIG, quiet=True)
    [path] = paper_cache_dir(site).iterdir()
    assert path.stat().st_size > 3_000_000
    return content, site, path


def evicted(path: Path) -> None:
    """Out of the page cache, as a day later (where the file system lets it go)."""
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


needs_proc_io = pytest.mark.skipif(not os.path.exists("/proc/self/io") or not hasattr(os, "posix_fadvise"),
                                   reason="Linux only")


@needs_proc_io
def test_a_paper_cache_files_index_is_read_from_disk_without_its_texts(tmp_path: Path) -> None:
    """Out of memory, the index of a folder's file is read without the texts after it, which
    the kernel's read-ahead (8 MB on this machine) would otherwise bring in whole: read by
    the build alone, or asked for ahead by the survey (`read_ahead`) and then read."""
    content, site, path = large_folder_site(tmp_path)
    stat = path.stat()

    def read_from_disk(read: Callable[[CacheFile], object]) -> int:
        evicted(path)
        before = disk_reads()
        read(CacheFile(str(path), (stat.st_ino, stat.st_size, stat.st_mtime_ns)))
        return disk_reads() - before

    def index_and_texts(cache_file: CacheFile) -> None:
        assert len(cache_file.index()) == 40 and cache_file.texts(7)[0].startswith("Abstract ")

    if read_from_disk(lambda cache_file: cache_file.index()) == 0:
        pytest.skip("this file system keeps its files in memory")
    assert read_from_disk(lambda cache_file: cache_file.index()) < 48 * 1024
    assert read_from_disk(index_and_texts) < 160 * 1024
    files = ContentStore(content).paper_files()
    assert read_from_disk(lambda cache_file: (read_ahead(site, files), cache_file.index())) < 64 * 1024 + \
        state_path(site).stat().st_size + search_cache_paths(site)[1].stat().st_size


@needs_proc_io
def test_the_texts_a_build_will_show_are_asked_of_the_disk_at_once(tmp_path: Path) -> None:
    """Out of memory, the texts of the papers a build is about to render are asked for
    together (`read_texts_ahead`), not each waited for as its page reads it."""
    _, site, path = large_folder_site(tmp_path)
    papers = sorted((item.paper for item in load_state(site).files.values()), key=attrgetter("slug"))
    evicted(path)
    before = disk_reads()
    assert papers[3].abstract.startswith("Abstract ")
    if disk_reads() == before:
        pytest.skip("this file system keeps its files in memory")
    evicted(path)
    before = disk_reads()
    read_texts_ahead([*papers[:3], make_paper("Parsed this build")])
    asked = disk_reads() - before
    before = disk_reads()
    assert all(paper.abstract.startswith("Abstract ") for paper in papers[:3])
    assert disk_reads() == before and 3 * 90_000 < asked < 3 * 90_000 + 64 * 1024  # those three, not the file


def test_a_folder_written_again_around_an_edit_keeps_its_other_papers_texts(tmp_path: Path) -> None:
    """The folder's file is written again from its papers, most of them read back from the
    file it replaces: every text must reach the new file, and every page made from it."""
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(2))
    build_site(content, site, CONFIG, quiet=True)
    edited = sorted((content / "papers" / "2026-03-01").glob("*.md"))[1]
    edited.write_text(edited.read_text().replace("variant 0 1", "variant 0 1, edited"), encoding="utf-8")
    build_site(content, site, CONFIG, quiet=True)
    parsed = [fields(item.paper) for item in load_papers_of(content, BuildState())]
    assert [fields(item.paper) for item in load_papers_of(content, load_state(site))] == parsed
    # A new topic re-renders every page, each from papers read back from the cache.
    write_store(content, [make_paper("Seeing and reading", "2026-03-05", topics=["multimodal"])])
    assert build_site(content, site, CONFIG, quiet=True).written > 8
    build_site(content, tmp_path / "fresh", CONFIG, quiet=True)
    assert tree(site) == tree(tmp_path / "fresh")


def test_a_corrupt_state_is_ignored_and_rebuilt(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_store(content, papers(2))
    site = tmp_path / "site"
    build_site(content, site, CONFIG, quiet=True)
    for damaged in (b"not a pickle", b"abc", b""):  # an empty file cannot even be mapped
        state_path(site).write_bytes(damaged)
        assert load_state(site) == BuildState()
        report = build_site(content, site, CONFIG, quiet=True)
        assert report.written == 0 and report.unchanged > 0
        assert load_state(site).files


def test_the_related_ranking_comes_back_from_the_state_bit_for_bit(tmp_path: Path) -> None:
    """Its arrays are written as they are and read back as views of the state file: each must
    come back with its type and every bit, or the next build ranks from wrong inputs."""
    content, site = tmp_path / "content", tmp_path / "site"
    subjects = ["sparse attention kernels", "reward models for agents", "speech recognition corpora"]
    write_store(content, [make_paper(f"Study {number} of {subjects[number % 3]}", f"2026-03-0{number % 4 + 1}",
                                     position=number, abstract=f"We examine {subjects[number % 3]}, case {number}.")
                          for number in range(12)])
    build_site(content, site, CONFIG, quiet=True)
    state = load_state(site)
    items = load_papers_of(content, state)
    assert all(type(item.paper) is StoredPaper for item in items)
    ranked = rank_related([item.paper for item in items], vectors=[item.terms for item in items],
                          vocabulary=state.vocabulary)

    def parts(ranking: RelatedPapers) -> tuple:
        values, arrays = ranking.as_parts()
        return values, [(column.dtype.str, column.shape, column.tobytes()) for column in arrays]

    assert state.related is not None and parts(state.related) == parts(ranked)
    assert sum(map(len, state.related.lists.values())) > 0


def test_strings_every_paper_repeats_are_held_once_also_from_the_state(tmp_path: Path) -> None:
    """Link names, topic slugs, source files and dates recur in every paper: one object each,
    or 100,000 papers hold 100,000 copies (about 70 MB of a build's state)."""
    content = tmp_path / "content"
    write_store(content, [make_paper(f"Paper {i}", "2026-03-01", topics=["training"], links={"code": f"https://x.org/{i}"},
                                     sources=[SourceRef("hf", "hf_2026-03-01.json", dt.date(2026, 3, 1))],
                                     extra={"num_comments": i}) for i in range(2)])
    site = tmp_path / "site"
    build_site(content, site, CONFIG, quiet=True)
    for first, second in ([item.paper for item in parsed] for parsed in
                          [load_papers_of(content, BuildState()), load_papers_of(content, load_state(site))]):
        assert first.topics[0] is second.topics[0]
        assert next(iter(first.links)) is next(iter(second.links))
        assert next(iter(first.extra)) is next(iter(second.extra))
        assert first.sources[0].file is second.sources[0].file and first.sources[0].format is second.sources[0].format
    first, second = (item.paper for item in load_papers_of(content, load_state(site)))
    assert first.date is second.date and first.sources[0].seen is second.sources[0].seen


def test_a_deleted_output_file_is_written_again(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_store(content, papers(1))
    site = tmp_path / "site"
    build_site(content, site, CONFIG, quiet=True)
    before = tree(site)
    (site / "archive" / "index.html").unlink()
    (site / "search" / "meta.json").unlink()
    (site / "search" / "d" / "0.json").unlink()  # a display block: its fingerprint still matches
    next((site / "papers").glob("*/index.html")).unlink()
    build_site(content, site, CONFIG, quiet=True)
    assert tree(site) == before


def test_the_survey_of_the_disk_stamps_the_papers_and_names_the_gone_outputs_of_the_state_it_read(tmp_path: Path) -> None:
    """A build trusts the survey's list of gone files only for the state it read itself: the
    identity it reports is that state file's, and another state file has another."""
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(2))
    build_site(content, site, CONFIG, quiet=True)
    page = next((site / "papers").glob("*/index.html"))
    page.unlink()
    files = ContentStore(content).paper_files()
    (sizes, mtimes), (identity, gone) = survey_disk(files, site)
    assert list(sizes) == [os.stat(key).st_size for key in files]
    assert list(mtimes) == [os.stat(key).st_mtime_ns for key in files]
    assert gone == {page.relative_to(site).as_posix()}
    assert identity is not None and identity == load_state(site).identity
    write_store(content, [p for p in papers(3) if p.date.day == 3])
    build_site(content, site, CONFIG, quiet=True)  # a new day: the state is saved again
    assert gone_outputs(site) == (load_state(site).identity, set()) and load_state(site).identity != identity
    assert gone_outputs(tmp_path / "never-built") == (None, set())
    # The survey reads the outputs alone, which come first: the rest of a 100k state (the
    # related papers' arrays, the vocabulary) is three quarters of it. Spoiled after the
    # outputs, the state is no use to a build, and the survey still reads them.
    page.unlink()
    data = state_path(site).read_bytes()
    outputs_end = 8 + int.from_bytes(data[:8], "little")
    assert b"papers/" in data[:outputs_end] and outputs_end < len(data)
    state_path(site).write_bytes(data[:outputs_end] + bytes(len(data) - outputs_end))
    assert load_state(site) == BuildState()
    assert gone_outputs(site)[1] == {page.relative_to(site).as_posix()}


def test_the_survey_first_asks_the_disk_for_the_files_the_build_reads_in_the_order_it_reads_them(
        tmp_path: Path, monkeypatch) -> None:
    """The state, then each content folder's paper-cache file as the state is read (by
    folder), then the search postings: a file asked for that the build never reads, or one
    it reads left out, fails this."""
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(3))
    build_site(content, site, CONFIG, quiet=True)
    asked: list[str] = []
    lengths: dict[str, int] = {}
    advise = os.posix_fadvise

    def recorded(fd: int, offset: int, length: int, advice: int) -> None:
        if advice == os.POSIX_FADV_WILLNEED:  # not the advice that a paper-cache file is read at random
            asked.append(os.readlink(f"/proc/self/fd/{fd}"))
            lengths[asked[-1]] = length
            assert offset == 0
        advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", recorded)
    files = ContentStore(content).paper_files()
    next(survey_disk(files, site))
    state = load_state(site)
    cache_files = [os.path.realpath(stored.path) for stored in
                   dict.fromkeys(item.paper._file for item in state.files.values())]
    assert len(cache_files) == 3 and sorted(asked) == sorted(set(asked))
    assert asked == [str(state_path(site)), *cache_files, str(search_cache_paths(site)[1])]
    # The state and the postings whole (0: to the end); of a paper-cache file, the index the
    # state is read with, not the texts after it.
    assert lengths[str(state_path(site))] == lengths[str(search_cache_paths(site)[1])] == 0
    for item in state.files.values():
        path = os.path.realpath(item.paper._file.path)
        with open(path, "rb") as handle:
            head = handle.read(lengths[path])
        assert len(head) < os.path.getsize(path)
        assert item.paper.title.encode() in head and item.paper.abstract.encode() not in head


def test_the_disk_is_asked_about_many_paths_at_once_once_its_answers_are_slow(tmp_path: Path, monkeypatch) -> None:
    """One at a time while the kernel answers from its caches; after a slow batch, the rest
    in threads. The answers come in order either way, and an error in a thread reaches the
    caller as it is."""
    paths = [str(tmp_path / f"paper-{number}.md") for number in range(50)]
    for path in paths[::2]:
        Path(path).write_text("x", encoding="utf-8")
    asked_by: set[str] = set()

    def there(path: str) -> bool:
        asked_by.add(threading.current_thread().name)
        return os.path.isfile(path)

    monkeypatch.setattr("paperroute.parallel.DISK_BATCH", 8)
    monkeypatch.setattr("paperroute.parallel._CACHED_ANSWER_SECONDS", 1.0)  # every batch quick
    assert each_from_disk(there, paths) == [number % 2 == 0 for number in range(50)]
    assert asked_by == {threading.current_thread().name}
    monkeypatch.setattr("paperroute.parallel._CACHED_ANSWER_SECONDS", -1.0)  # every batch slow
    asked_by.clear()
    assert each_from_disk(there, paths) == [number % 2 == 0 for number in range(50)]
    assert threading.current_thread().name in asked_by and len(asked_by) > 1
    for path in paths[1::2]:
        Path(path).write_text("xy", encoding="utf-8")
    sizes, _ = file_stamps(paths)
    assert list(sizes) == [1 + number % 2 for number in range(50)]
    os.unlink(paths[30])  # past the first batch: asked in a thread
    with pytest.raises(InputError, match="removed while the build") as raised:
        file_stamps(paths)
    assert raised.value.path == paths[30]


def test_fingerprints_cover_every_value_and_refuse_unknown_kinds() -> None:
    paper = make_paper("P", slug="p")
    digest = {"p": b"p" * 16, "q": b"q" * 16}  # a paper's digest stands in for its file
    base = fingerprint(("page", {"a": [1, 2], "paper": paper}), digest)
    assert base == fingerprint(("page", {"a": [1, 2], "paper": paper}), digest)
    assert base != fingerprint(("page", {"a": [2, 1], "paper": paper}), digest)
    assert base != fingerprint(("page", {"a": [1, 2], "paper": make_paper("P", slug="q")}), digest)
    assert fingerprint(("1",), digest) != fingerprint((1,), digest)
    # A list of papers only (a day's) goes by their digests too.
    other = make_paper("Q", slug="q")
    assert fingerprint(([paper, other],), digest) != fingerprint(([other, paper],), digest)
    assert fingerprint(([paper, other],), digest) != fingerprint(([paper, paper],), digest)
    # Any other dataclass goes by its type and each field, in order.
    assert fingerprint((Topic("a", "A"),), digest) != fingerprint((Topic("a", "B"),), digest)
    assert fingerprint((Topic("a", "b"),), digest) != fingerprint((Topic("b", "a"),), digest)
    assert fingerprint((Day(dt.date(2026, 3, 12), [paper]),), digest) != fingerprint((Topic("2026-03-12", "p"),), digest)
    with pytest.raises(KeyError):  # a paper the build does not know cannot be fingerprinted
        fingerprint(([make_paper("R", slug="r")],), digest)
    with pytest.raises(TypeError):
        fingerprint((object(),), digest)


def test_a_new_topic_reaches_every_page_of_an_incremental_build(tmp_path: Path) -> None:
    """The topic navigation is on every page: a topic's first paper must re-render them all."""
    content = tmp_path / "content"
    write_store(content, papers(2))
    build_site(content, tmp_path / "site", CONFIG, quiet=True)
    write_store(content, [make_paper("Seeing and reading", "2026-03-05", topics=["multimodal"])])
    build_site(content, tmp_path / "site", CONFIG, quiet=True)
    build_site(content, tmp_path / "fresh", CONFIG, quiet=True)
    assert tree(tmp_path / "site") == tree(tmp_path / "fresh")
    assert "topics/multimodal/" in (tmp_path / "site" / "papers" / "paper-0-0-on-sparse-attention-kernels-0" / "index.html").read_text()


def test_forked_workers_build_the_same_bytes_as_one_process(tmp_path: Path, monkeypatch) -> None:
    """The parallel parse and render are only a split of the same work: same files, same bytes."""
    content = tmp_path / "content"
    write_store(content, papers(4))
    serial = build_site(content, tmp_path / "serial", CONFIG, quiet=True)
    monkeypatch.setattr("paperroute.parallel.PARALLEL_PARSE_MIN", 1)
    monkeypatch.setattr("paperroute.site.PARALLEL_RENDER_MIN", 1)
    monkeypatch.setattr("paperroute.site.RENDER_CHUNK", 3)
    monkeypatch.setattr("paperroute.site.PARALLEL_SEARCH_MIN", 1)
    monkeypatch.setattr("paperroute.parallel.worker_count", lambda jobs=None: 2)
    forked = build_site(content, tmp_path / "forked", CONFIG, quiet=True)
    assert tree(tmp_path / "serial") == tree(tmp_path / "forked")
    assert (forked.pages, forked.written) == (serial.pages, serial.written)
    again = build_site(content, tmp_path / "forked", CONFIG, quiet=True)
    assert again.written == 0 and again.unchanged == serial.written
    # Files found gone by the survey of the disk, made beside the build: written again.
    before = tree(tmp_path / "forked")
    for gone in ("archive/index.html", "search/meta.json", "papers/paper-0-1-on-sparse-attention-kernels-1/index.html"):
        (tmp_path / "forked" / gone).unlink()
    assert build_site(content, tmp_path / "forked", CONFIG, quiet=True).written == 3
    assert tree(tmp_path / "forked") == before


@pytest.mark.parametrize("first", ["search process", "build process"])
def test_the_feeds_are_written_once_by_whichever_process_is_free_first(tmp_path: Path, monkeypatch, first: str) -> None:
    """The search index's process writes the feeds after the index, unless the build's process
    was done with its pages before: the same files either way, written by one of them."""
    content = tmp_path / "content"
    write_store(content, papers(3))
    in_place = build_site(content, tmp_path / "in-place", CONFIG, quiet=True)
    monkeypatch.setattr("paperroute.site.PARALLEL_SEARCH_MIN", 1)
    monkeypatch.setattr("paperroute.parallel.worker_count", lambda jobs=None: 2)
    # The other process is held back two seconds, far longer than this small build takes.
    slowed = "write_search_output" if first == "build process" else "write_robots"
    work = getattr(paperroute.site, slowed)
    monkeypatch.setattr(f"paperroute.site.{slowed}", lambda *args: (time.sleep(2), work(*args))[1])
    writers = tmp_path / "writers"
    write_feeds = paperroute.site.write_feeds

    def recording(*args) -> None:
        with writers.open("a") as record:
            record.write(f"{os.getpid()}\n")
        write_feeds(*args)

    monkeypatch.setattr("paperroute.site.write_feeds", recording)
    report = build_site(content, tmp_path / "site", CONFIG, quiet=True)
    assert tree(tmp_path / "site") == tree(tmp_path / "in-place") and report.written == in_place.written
    pids = writers.read_text().split()
    assert len(pids) == 1 and (pids[0] == str(os.getpid())) == (first == "build process")


def test_the_search_process_reads_the_texts_of_papers_not_parsed_again_from_the_paper_cache(tmp_path: Path, monkeypatch) -> None:
    """Only the papers parsed this build are packed for it; the others' texts it reads, where
    it needs them, from the state's files: after a new day, after an edit beside unchanged
    papers, and for every paper when its own cache is gone."""
    monkeypatch.setattr("paperroute.site.PARALLEL_SEARCH_MIN", 1)
    monkeypatch.setattr("paperroute.parallel.worker_count", lambda jobs=None: 2)
    content, site = tmp_path / "content", tmp_path / "site"
    write_store(content, papers(3))
    build_site(content, site, CONFIG, quiet=True)
    packed: list[int] = []
    pack = PackedPapers.__init__

    def counting(self, papers, digests, **options) -> None:
        pack(self, papers, digests, **options)
        packed.append(len(papers) - len(options["stored"].folder_of))

    monkeypatch.setattr(PackedPapers, "__init__", counting)
    write_store(content, [p for p in papers(4) if p.date.day == 4])
    build_site(content, site, CONFIG, quiet=True)
    edited = content / "papers" / "2026-03-02" / "paper-1-0-on-sparse-attention-kernels-0.md"
    edited.write_text(edited.read_text().replace("title: Paper 1-0", "title: Paper 1-0 <b>edited</b>"), encoding="utf-8")
    build_site(content, site, CONFIG, quiet=True)
    for cache in search_cache_paths(site):
        cache.unlink()
    edited.write_text(edited.read_text().replace("<b>edited</b>", "edited again"), encoding="utf-8")
    build_site(content, site, CONFIG, quiet=True)
    assert packed == [4, 1, 1]
    build_site(content, tmp_path / "fresh", CONFIG, quiet=True)
    assert tree(site) == tree(tmp_path / "fresh")
    assert any("Paper 1-0 edited again" in path.read_text() for path in (site / "search" / "d").glob("*.json"))


def test_a_bad_file_found_by_a_worker_names_its_file_and_line(tmp_path: Path, monkeypatch) -> None:
    content = tmp_path / "content"
    write_store(content, papers(2))
    bad = next((content / "papers" / "2026-03-02").glob("*.md"))
    bad.write_text(bad.read_text().replace("date: 2026-03-02", "date: 2026-02-30"), encoding="utf-8")
    monkeypatch.setattr("paperroute.parallel.PARALLEL_PARSE_MIN", 1)
    monkeypatch.setattr("paperroute.parallel.worker_count", lambda jobs=None: 2)
    with pytest.raises(InputError) as error:
        build_site(content, tmp_path / "site", CONFIG, quiet=True)
    assert str(error.value) == f"{bad}:3: date: '2026-02-30' is not a YYYY-MM-DD date"
    assert not (tmp_path / "site").exists()


def test_a_no_op_build_claims_every_file_and_a_settings_change_rebuilds(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_store(content, papers(2))
    site = tmp_path / "site"
    first = build_site(content, site, CONFIG, quiet=True)
    again = build_site(content, site, CONFIG, quiet=True)
    assert (again.pages, again.written, again.unchanged, again.removed) == (first.pages, 0, first.written, 0)
    moved = Config(site=SiteConfig(base_url="https://moved.example/", topic_page_size=2))
    rebuilt = build_site(content, site, moved, quiet=True)
    assert rebuilt.written > 0
    assert "https://moved.example/" in (site / "index.html").read_text()
    assert tree(site) == tree(build_site(content, tmp_path / "fresh", moved, quiet=True).out_dir)


def test_a_value_the_state_cannot_hold_is_parsed_again_not_a_crash(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_store(content, papers(1))
    odd = next((content / "papers" / "2026-03-01").glob("*.md"))
    odd.write_text(odd.read_text().replace("position:", "reviewed: !!timestamp 2026-01-02 10:00:00\nposition:"),
                   encoding="utf-8")
    site = tmp_path / "site"
    first = build_site(content, site, CONFIG, quiet=True)
    state = load_state(site)
    assert str(odd) not in state.files and len(state.files) == 3
    assert build_site(content, site, CONFIG, quiet=True).written == 0
    assert first.papers == 4


@pytest.mark.parametrize("before", [True, False], ids=["collector on", "collector off"])
def test_a_build_runs_without_the_collector_and_leaves_it_as_it_found_it(tmp_path: Path, monkeypatch,
                                                                          before: bool) -> None:
    """Off in the build's process and in those it forks (the search index's here), then back
    as it was: `serve` builds again and again in one process."""
    content = tmp_path / "content"
    write_store(content, papers(2))
    monkeypatch.setattr("paperroute.site.PARALLEL_SEARCH_MIN", 1)
    monkeypatch.setattr("paperroute.parallel.worker_count", lambda jobs=None: 2)
    seen = tmp_path / "seen"
    for stage in ("write_robots", "write_search_output"):
        work = getattr(paperroute.site, stage)

        def recording(*args, work=work, stage=stage):
            with seen.open("a") as record:
                record.write(f"{stage} {os.getpid() == main} {gc.isenabled()}\n")
            return work(*args)

        monkeypatch.setattr(f"paperroute.site.{stage}", recording)
    main = os.getpid()
    (gc.enable if before else gc.disable)()
    try:
        build_site(content, tmp_path / "site", CONFIG, quiet=True)
        assert gc.isenabled() is before
    finally:
        gc.enable()
    assert sorted(seen.read_text().splitlines()) == ["write_robots True False", "write_search_output False False"]


def test_a_pool_inside_a_build_leaves_the_builds_freeze_in_place() -> None:
    """gc.freeze is one switch: a pool that unfroze on its way out would hand the build's state
    back to the collector in the middle of the build."""
    state = [object()]  # what a build froze: out of the collector's sight until the build ends
    with heap_frozen():
        assert not any(item is state for item in gc.get_objects())
        assert list(map_ranges(lambda start, end: end - start, cut_ranges(0, 10, 5), min_parallel=1, label="t",
                               quiet=True, jobs=2)) == [5, 5]
        assert not any(item is state for item in gc.get_objects())
    assert any(item is state for item in gc.get_objects())


def test_this_process_and_a_worker_share_the_ranges_and_results_stay_in_order() -> None:
    def work(start: int, end: int) -> tuple[int, int, int]:
        time.sleep(0.01)  # long enough for the worker to claim ranges too
        return start, end, os.getpid()

    results = list(map_ranges(work, cut_ranges(0, 100, 7), min_parallel=1, label="t", quiet=True, jobs=2))
    assert [(start, end) for start, end, _ in results] == [(s, min(s + 7, 100)) for s in range(0, 100, 7)]
    processes = {pid for _, _, pid in results}
    assert os.getpid() in processes and len(processes) == 2


def test_an_error_in_a_worker_reaches_the_caller() -> None:
    parent = os.getpid()

    def work(start: int, end: int) -> int:
        if os.getpid() != parent:
            raise ValueError(f"range {start}")
        time.sleep(0.05)  # so the worker gets ranges of its own
        return end - start

    with pytest.raises(ValueError, match="range"):
        list(map_ranges(work, cut_ranges(0, 40, 5), min_parallel=1, label="t", quiet=True, jobs=2))


def _wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _ended(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_a_background_process_ends_when_its_work_is_done_not_when_its_result_is_asked() -> None:
    """It would otherwise hold its memory (680 MB in a big build) until the build asked."""
    work = Background(lambda argument: (os.getpid(), argument), jobs=2)
    child = work._process.pid
    assert child != os.getpid() and Background.running() == 0  # waiting for its argument is not work
    work.start("the papers")
    _wait_until(lambda: Background.running() == 0)
    _wait_until(lambda: _ended(child))
    assert work.result() == (child, "the papers")


def test_a_background_process_is_forked_when_made_and_sees_only_its_argument() -> None:
    """Forked before the papers are read, it holds none of what this process makes later."""
    later: list[str] = []
    work = Background(lambda argument: (argument, list(later)), jobs=2)
    later.append("made after the fork")
    work.start(["sent"])
    assert work.result() == (["sent"], [])


def test_a_background_process_reads_ahead_before_its_argument_comes_and_in_place_too(tmp_path: Path) -> None:
    """`ahead` runs in the process while it waits (the search process reads its caches
    then): a file written after the fork is not seen, what it read is given to the work,
    and its error is the work's."""
    cache = tmp_path / "cache"
    cache.write_text("the last index")

    def work(argument: str, read: tuple[int, str]) -> tuple[int, int, str, str]:
        return os.getpid(), *read, argument

    def read_ahead() -> tuple[int, str]:
        text = cache.read_text()
        (tmp_path / "read").touch()
        return os.getpid(), text

    forked = Background(work, ahead=read_ahead, jobs=2)
    child = forked._process.pid
    _wait_until((tmp_path / "read").exists)
    cache.write_text("changed after the fork")
    forked.start("the papers")
    assert forked.result() == (child, child, "the last index", "the papers")
    in_place = Background(work, ahead=read_ahead, jobs=1)
    in_place.start("the papers")
    assert in_place.result() == (os.getpid(), os.getpid(), "changed after the fork", "the papers")

    def fail() -> None:
        raise InputError("unreadable", cache, 1)

    failing = Background(work, ahead=fail, jobs=2)
    failing.start("the papers")
    with pytest.raises(InputError, match="unreadable"):
        failing.result()


def test_a_background_process_not_given_its_argument_ends() -> None:
    """A build that needs no search index, or fails first, leaves no process behind; nor does
    a parent that dies: its closed end of the inbox is the sign."""
    unwanted = Background(lambda argument: argument, jobs=2)
    child = unwanted._process.pid
    unwanted._inbox.close()  # as if this process had died: no terminate, the child sees it alone
    unwanted._process.join(timeout=20)
    assert unwanted._process.exitcode == 0
    with pytest.raises(InputError):
        with Background(lambda argument: argument, jobs=2) as failed:
            child = failed._process.pid
            raise InputError("bad line", Path("papers/x.md"), 3)
    _wait_until(lambda: _ended(child))


def test_an_error_in_the_background_reaches_the_caller_and_a_lost_process_is_an_error() -> None:
    def fail(argument: str) -> None:
        raise InputError(argument, Path("papers/x.md"), 3)

    failing = Background(fail, jobs=2)
    failing.start("bad line")
    with pytest.raises(InputError, match="bad line"):
        failing.result()
    lost = Background(lambda argument: os._exit(3), jobs=2)
    lost.start(None)
    with pytest.raises(RuntimeError, match="without a result"):
        lost.result()
    assert Background.running() == 0


def test_a_paper_file_removed_while_a_build_reads_the_store_is_a_one_line_error(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_store(content, papers(1))
    files = ContentStore(content).paper_files()
    os.unlink(files[1])
    with pytest.raises(InputError, match="removed while the build was reading the store") as error:
        file_stamps(files)
    assert error.value.path == files[1]


def test_work_ahead_comes_from_another_process_in_order_and_its_error_when_asked() -> None:
    def produce() -> Iterator[object]:
        yield os.getpid()
        yield "the second"
        raise InputError("bad line", Path("papers/x.md"), 3)

    with Ahead(produce, jobs=2) as ahead:
        assert ahead.next() not in (None, os.getpid())
        assert ahead.next() == "the second"
        with pytest.raises(InputError, match="bad line"):
            ahead.next()
    with Ahead(lambda: iter([os._exit(3)]), jobs=2) as lost:
        with pytest.raises(RuntimeError, match="without a value"):
            lost.next()


def test_work_ahead_runs_here_a_value_at_a_time_on_one_core_and_is_stopped_when_not_wanted() -> None:
    made: list[int] = []

    def produce() -> Iterator[int]:
        for number in (1, 2):
            made.append(number)
            yield os.getpid()

    alone = Ahead(produce, jobs=1)
    assert made == []
    assert alone.next() == os.getpid() and made == [1]
    with Ahead(lambda: iter([time.sleep(60)]), jobs=2) as unwanted:
        child = unwanted._process.pid
    _wait_until(lambda: _ended(child), seconds=5)


def test_workers_wait_for_a_background_process_to_leave_its_core() -> None:
    """With two cores and the search index building on one, pages render in this process
    alone, and a worker joins once the other core is free: never three copies of the papers."""
    release = multiprocessing.get_context("fork").Event()
    side = Background(lambda seconds: release.wait(seconds), jobs=2)
    side.start(30)
    parent = os.getpid()

    def work(start: int, end: int) -> int:
        if start == 10:
            release.set()
        time.sleep(0.05)  # time enough for a worker, were there one, to claim ranges
        return os.getpid()

    pids = list(map_ranges(work, cut_ranges(0, 40, 1), min_parallel=1, label="t", quiet=True, jobs=2))
    assert side.result() is True
    assert set(pids[:11]) == {parent}  # the background was still running
    assert set(pids[11:]) - {parent}  # then a worker took its core


def test_freed_heap_memory_goes_back_to_the_system() -> None:
    """numpy temporaries of a few MB come from glibc's heap once its mmap threshold has moved
    up; freed, their pages stay with the process until `release_freed_memory`."""
    def rss_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    mapped = np.ones(4 << 20, dtype=np.uint8)
    del mapped  # freeing an mmapped block raises glibc's threshold above its size
    blocks = [np.ones(3 << 20, dtype=np.uint8) for _ in range(64)]  # 192 MB from the heap
    kept = blocks[7::8]  # holes between blocks still in use: the heap's top cannot simply shrink
    before = rss_mb()
    del blocks
    freed = rss_mb()
    release_freed_memory()
    after = rss_mb()
    assert freed > before - 64  # the heap kept (most of) the 168 MB freed
    assert after < freed - 128  # and handed them back when asked
    del kept


def test_a_renamed_topic_reaches_every_output_of_an_incremental_build(tmp_path: Path) -> None:
    """The taxonomy is no paper's file, yet pages, feeds and the search index all show its names."""
    content = tmp_path / "content"
    write_store(content, papers(2))
    site = tmp_path / "site"
    build_site(content, site, CONFIG, quiet=True)
    taxonomy = (Path(__file__).parents[1] / "paperroute" / "default_topics.yaml").read_text(encoding="utf-8")
    assert "name: Reasoning\n" in taxonomy
    (content / "topics.yaml").write_text(taxonomy.replace("name: Reasoning\n", "name: Thinking Hard\n"), encoding="utf-8")
    build_site(content, site, CONFIG, quiet=True)
    assert "Thinking Hard" in (site / "search" / "meta.json").read_text(encoding="utf-8")
    assert tree(site) == tree(build_site(content, tmp_path / "fresh", CONFIG, quiet=True).out_dir)


def test_a_retitled_paper_rewrites_its_search_block(tmp_path: Path) -> None:
    """Display blocks (search/d/N.json, eight papers each, oldest first) are fingerprinted one
    by one from their papers' digests, and kept when those did not move: a retitled paper's
    block must not be among the kept ones."""
    content = tmp_path / "content"
    write_store(content, papers(3))  # 12 papers: days 1 and 2 fill block 0, day 3 is block 1
    site = tmp_path / "site"
    build_site(content, site, CONFIG, quiet=True)
    paper_file = sorted((content / "papers" / "2026-03-01").glob("*.md"))[0]
    paper_file.write_text(paper_file.read_text().replace("sparse attention", "dense attention", 1), encoding="utf-8")
    build_site(content, site, CONFIG, quiet=True)
    assert "dense attention" in (site / "search" / "d" / "0.json").read_text().lower()
    assert tree(site) == tree(build_site(content, tmp_path / "fresh", CONFIG, quiet=True).out_dir)
