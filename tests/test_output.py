"""Atomic output: a file is replaced whole or not at all, and unchanged bytes are not rewritten."""

import os

import pytest

from paperroute.output import ASIDE_DIR, SiteWriter, remove_aside, set_aside, write_atomic, write_if_changed, write_new


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_write_atomic_makes_folders_and_writes_chunks(tmp_path):
    target = tmp_path / "a" / "b" / "index.html"
    write_atomic(target, [b"<p>", "é".encode(), b"</p>"])
    assert target.read_bytes() == "<p>é</p>".encode()
    write_atomic(str(target), b"x" * 300_000)  # a string path, and more than one write's worth
    assert target.read_bytes() == b"x" * 300_000
    assert leftovers(target.parent) == []


def test_a_failure_while_writing_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "feed.xml"
    target.write_bytes(b"old")

    def chunks():
        yield b"half of the new"
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        write_atomic(target, chunks())
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_crashed_writers_temporary_with_our_pid_is_replaced(tmp_path):
    target = tmp_path / "index.html"
    stale = tmp_path / f".index.html.{os.getpid()}.tmp"
    stale.write_bytes(b"left by a crash")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


def test_without_make_parents_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "file", b"x", make_parents=False)
    assert not (tmp_path / "missing").exists()


def test_unchanged_bytes_are_not_rewritten(tmp_path):
    target = tmp_path / "page" / "index.html"
    assert write_if_changed(target, "<p>one</p>") is True
    before = os.stat(target)
    assert write_if_changed(target, "<p>one</p>") is False
    after = os.stat(target)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert write_if_changed(target, "<p>two</p>") is True  # same length, other bytes
    assert target.read_text() == "<p>two</p>"


def test_site_writer_counts_and_claims(tmp_path):
    writer = SiteWriter(tmp_path)
    assert writer.write("papers/x/index.html", "a") is True
    assert SiteWriter(tmp_path).write("papers/x/index.html", "a") is False
    assert (tmp_path / "papers" / "x" / "index.html").read_text() == "a"
    with pytest.raises(ValueError):
        writer.write("papers/x/index.html", "b")
    assert (writer.written, writer.unchanged, writer.has("papers/x/index.html")) == (1, 0, True)


def test_a_build_writer_sets_the_files_it_replaces_aside_whole(tmp_path):
    for name, text in (("same", "kept"), ("other", "old")):
        write_atomic(tmp_path / name / "index.html", text.encode())
    kept = os.stat(tmp_path / "same" / "index.html")
    reader = open(tmp_path / "other" / "index.html", "rb")  # a web server sending the old page
    writer = SiteWriter(tmp_path, aside=True)
    assert writer.write("same/index.html", "kept") is False
    assert writer.sibling().write("other/index.html", "new") is True  # a page worker's writer
    assert writer.write("new/deep/index.html", b"made") is True
    assert [(tmp_path / name / "index.html").read_text() for name in ("same", "other", "new/deep")] == ["kept", "new", "made"]
    assert os.stat(tmp_path / "same" / "index.html").st_mtime_ns == kept.st_mtime_ns
    # The replaced page was swapped out whole, not freed: it waits aside, and its reader reads it to the end.
    aside = tmp_path / ASIDE_DIR
    assert [path.read_text() for path in aside.iterdir()] == ["old"] and reader.read() == b"old"
    reader.close()
    assert remove_aside(aside) == 1 and not aside.exists() and remove_aside(aside) == 0
    assert leftovers(tmp_path / "other") == []


def test_a_build_writer_never_sets_aside_a_folder_in_a_files_place(tmp_path):
    (tmp_path / "page" / "index.html").mkdir(parents=True)
    (tmp_path / "page" / "index.html" / "notes.txt").write_text("someone's notes")
    with pytest.raises(IsADirectoryError):
        SiteWriter(tmp_path, aside=True).write("page/index.html", "a page")
    assert (tmp_path / "page" / "index.html" / "notes.txt").read_text() == "someone's notes"
    remove_aside(tmp_path / ASIDE_DIR)  # nothing of theirs in it
    assert (tmp_path / "page" / "index.html" / "notes.txt").read_text() == "someone's notes"


def test_setting_aside_puts_a_file_in_place_of_another_or_of_none(tmp_path):
    (tmp_path / "new").write_text("new")
    (tmp_path / "target").write_text("old")
    set_aside(str(tmp_path / "new"), str(tmp_path / "target"))
    assert (tmp_path / "target").read_text() == "new" and (tmp_path / "new").read_text() == "old"
    set_aside(str(tmp_path / "new"), str(tmp_path / "a" / "b" / "file"))  # nothing there, nor its folders
    assert (tmp_path / "a" / "b" / "file").read_text() == "old" and not (tmp_path / "new").exists()
    (tmp_path / "new").write_text("x")
    with pytest.raises(FileNotFoundError):
        set_aside(str(tmp_path / "new"), str(tmp_path / "c" / "file"), make_parents=False)
    assert (tmp_path / "new").read_text() == "x"


def test_a_writer_into_an_empty_folder_makes_each_files_folders(tmp_path):
    writer = SiteWriter(tmp_path / "site", empty=True)
    writer.write("papers/a/index.html", "a")
    writer.write("papers/b/index.html", b"b")
    writer.write("topics/x/page/2/index.html", "x2")  # folders two levels down
    writer.write("topics/x/index.html", "x")  # a folder that is already there
    assert (tmp_path / "site" / "topics" / "x" / "page" / "2" / "index.html").read_text() == "x2"
    assert [(tmp_path / "site" / "papers" / name / "index.html").read_text() for name in "ab"] == ["a", "b"]
    assert (writer.written, writer.unchanged) == (4, 0)
    assert leftovers(tmp_path / "site" / "papers" / "a") == []


def test_claiming_many_files_refuses_one_claimed_twice(tmp_path):
    writer = SiteWriter(tmp_path)
    writer.write("feed.xml", "x")
    writer.claim_all(["a/index.html", "b/index.html"])
    assert writer.paths == {"feed.xml", "a/index.html", "b/index.html"}
    with pytest.raises(ValueError, match="two outputs claim feed.xml"):
        writer.claim_all(["c/index.html", "feed.xml"])
    with pytest.raises(ValueError, match="two outputs claim d/index.html"):
        writer.claim_all(["d/index.html", "d/index.html"])
    assert writer.paths == {"feed.xml", "a/index.html", "b/index.html"}


def test_a_staged_writer_writes_in_its_root_in_place_and_never_over_a_file(tmp_path):
    writer = SiteWriter(tmp_path / "staging", empty=True, folder=tmp_path / "site")
    assert writer.staged and not SiteWriter(tmp_path / "site", empty=True).staged
    writer.write("papers/a/index.html", "a")
    assert (tmp_path / "staging" / "papers" / "a" / "index.html").read_text() == "a"
    assert not (tmp_path / "site").exists() and leftovers(tmp_path / "staging" / "papers" / "a") == []
    assert writer.sibling().staged
    with pytest.raises(FileExistsError):
        write_new(str(tmp_path / "staging" / "papers" / "a" / "index.html"), b"b")
    assert (tmp_path / "staging" / "papers" / "a" / "index.html").read_text() == "a"


def test_a_writer_into_an_empty_folder_makes_each_folder_once_or_is_told_it_is_there(tmp_path):
    writer = SiteWriter(tmp_path / "site", empty=True, folder=tmp_path / "final")  # staged: files written in place
    writer.make_folders(["papers/a", "papers/b"])  # papers/ itself made on the way
    assert sorted(os.listdir(tmp_path / "site" / "papers")) == ["a", "b"]
    sibling = writer.sibling()
    sibling.write("papers/a/index.html", "a", folder_made=True)
    sibling.write("search/one.json", "1")
    assert writer.made == {str(tmp_path / "site" / "search")}  # the made-ahead folders are not remembered
    os.rmdir(tmp_path / "site" / "papers" / "b")
    with pytest.raises(FileNotFoundError):  # told its folder is there, the writer does not look
        sibling.write("papers/b/index.html", "b", folder_made=True)
    os.remove(tmp_path / "site" / "search" / "one.json")
    os.rmdir(tmp_path / "site" / "search")
    with pytest.raises(FileNotFoundError):  # nor for a folder it made itself
        sibling.write("search/two.json", "2")
    assert SiteWriter(tmp_path / "site", empty=True, folder=tmp_path / "final").write("papers/b/index.html", "b")  # one not told makes it
    assert [(tmp_path / "site" / "papers" / name / "index.html").read_text() for name in "ab"] == ["a", "b"]
