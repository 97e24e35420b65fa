"""Both cores for the big loops: reading every paper file and rendering every page.

The work is split into index ranges over a list the parent already holds. Workers are forked,
so they inherit that list, the compiled templates and the previous build's state without
pickling any of it; only each range's (small) result comes back. Below `min_parallel` items,
or where `fork` does not exist, the same function runs in this process: starting workers costs
more than a small build takes.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import itertools
import multiprocessing
import multiprocessing.connection
import multiprocessing.pool
import multiprocessing.process
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Generic, Iterator, Sequence, TypeVar

from paperroute.progress import progress_bar

A = TypeVar("A")
R = TypeVar("R")

# A worker per core, up to this many: past it, the disk and the parent's merging are the limit.
MAX_WORKERS = 8
# Below this many files to parse, starting worker processes costs more than it saves.
PARALLEL_PARSE_MIN = 2000
# Files parsed per range a process claims.
PARSE_CHUNK = 500

# The work of the pool being started; set in the parent just around the fork, so each worker
# holds its own copy of it.
_work: Callable[..., object] | None = None
# How many `heap_frozen` blocks are open: only the outermost unfreezes.
_freeze_depth = 0


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Keep every object alive now (and at each nested entry) out of the cyclic collector until
    the outermost block ends.

    Forked workers inherit the freeze, so their collections leave the parent's objects, and
    the memory pages they sit on, alone instead of copying the parent's heap. `gc.freeze` is
    one switch for the whole process: a pool that simply unfroze when it ended would also
    hand back to the collector what an outer caller froze (the build state, kept to the end
    of a build), which is why blocks nest.
    """
    global _freeze_depth
    gc.freeze()
    _freeze_depth += 1
    try:
        yield
    finally:
        _freeze_depth -= 1
        if _freeze_depth == 0:
            gc.unfreeze()


@contextmanager
def collector_off() -> Iterator[None]:
    """Run without the cyclic garbage collector (as it was, after): for a whole build, and
    the processes it forks.

    A build makes millions of objects and no garbage cycles to speak of: with the collector
    off, a cold build of 10,000 papers peaked where it did with it on (161 MB in the build's
    process, 132 MB in a worker). Its collections cost time all the same: 0.08 s of the
    build's process and 0.08 s of the search index's after a 100k new day, each of which
    the other waits for. Nested uses leave it off until the outermost ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, from the symbols this process already has (`CDLL(None)`): finding
    the C library by name (`ctypes.util.find_library`) ran `ldconfig -p` in a subprocess,
    at the start of every command (2.4 ms warm; 9 ms with its import, cold)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to hand back this way
        return None


_MALLOC_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Give the pages of freed C heap blocks back to the system, where the C library can.

    glibc keeps them, and numpy's many temporaries of a few MB (below glibc's moving mmap
    threshold) come from its heap: the search index of 100,000 papers peaked 150 MB above
    the most it ever held at once. `malloc_trim` hands them back, in a millisecond or two.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _call(arguments: tuple) -> object:
    assert _work is not None
    return _work(*arguments)


def _forked_pool(work: Callable[..., object], processes: int) -> multiprocessing.pool.Pool:
    """A pool of `processes` forked workers that run `work` (through `_call`).

    Call it inside `heap_frozen`, so that the workers' collections leave the parent's heap alone.
    """
    global _work
    _work = work
    try:
        pool = multiprocessing.get_context("fork").Pool(processes)
    finally:
        _work = None
    # The pipe the pool's results come back through: a pool does not expose it, so a Python
    # whose pool keeps it elsewhere simply keeps the default.
    _widen_pipe(getattr(getattr(pool, "_outqueue", None), "_writer", None))
    return pool


# What a pipe may hold, where Linux lets it be set (its default is 64 KB): a range's results
# (500 parsed papers are about 900 KB pickled) then go into the pipe in one write. Through
# 64 KB, the worker waited for the parent's reading thread to get the GIL for each 64 KB, and
# spent a quarter of a cold build's parsing blocked (0.23 s of 0.85 s at 10,000 papers).
PIPE_SIZE = 1 << 20


def _widen_pipe(end: multiprocessing.connection.Connection | None) -> None:
    """Let the pipe behind `end` hold `PIPE_SIZE` bytes, where the system allows it."""
    if end is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
            fcntl.fcntl(end.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def worker_count(jobs: int | None = None) -> int:
    """Processes to use: `jobs` if given (1 = stay in this process), else one per core."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(jobs or cores, MAX_WORKERS))


def cut_ranges(start: int, end: int, chunk: int) -> list[tuple[int, int]]:
    """[start, end) as consecutive ranges of `chunk` items, the last one shorter."""
    return [(first, min(first + chunk, end)) for first in range(start, end, chunk)]


def map_ranges(work: Callable[[int, int], R], ranges: Sequence[tuple[int, int]], *, min_parallel: int,
               label: str, quiet: bool = False, jobs: int | None = None) -> Iterator[R]:
    """Yield `work(start, end)` for `ranges`, consecutive ranges from 0 (`cut_ranges`, or
    shorter ones where items cost more), in order.

    This process works too, beside one forked worker fewer than there are processes to use:
    it would otherwise only wait, while that worker held its own copy of every memory page
    CPython's reference counts touched (380 MB of the 2.2 GB a cold build of 100,000 papers
    peaked at). A `Background` process still running counts as one of those processes: the
    workers are forked only once it is done, so a build never has more processes busy than
    cores, nor three copies of the papers in memory at once. Each process claims the next
    range from a shared counter, so a slower one simply does fewer. An exception in a worker
    is raised here, as it would be in-process. A bar counts items (not ranges) on a
    terminal; nothing is drawn otherwise or with `quiet`.
    """
    total = ranges[-1][1] if ranges else 0
    workers = worker_count(jobs)
    with progress_bar(total, label=label, quiet=quiet) as bar:
        if total < min_parallel or workers < 2:
            for start, end in ranges:
                yield work(start, end)
                bar.update(end - start)
            return
        claimed = multiprocessing.get_context("fork").Value("l", 0)  # ranges handed out so far

        def claim() -> int:
            with claimed.get_lock():
                index = claimed.value
                claimed.value += 1
            return index

        def run_claimed() -> tuple[int, R] | None:
            index = claim()
            return (index, work(*ranges[index])) if index < len(ranges) else None

        done: dict[int, R] = {}
        handed = 0  # results yielded so far, in range order

        def ready() -> Iterator[R]:
            nonlocal handed
            while handed in done:
                start, end = ranges[handed]
                yield done.pop(handed)
                bar.update(end - start)
                handed += 1

        # Frozen for the pool's life: the parent's own collections would copy shared pages too.
        with heap_frozen(), contextlib.ExitStack() as stack:
            others: Iterator[tuple[int, R] | None] | None = None

            def collect(wait: bool) -> None:
                """Take in the workers' results: all of them, or only those already there."""
                while others is not None:
                    try:
                        finished = others.next(timeout=None if wait else 0)  # type: ignore[attr-defined]
                    except (multiprocessing.TimeoutError, StopIteration):
                        return
                    if finished is not None:
                        done[finished[0]] = finished[1]

            while (index := claim()) < len(ranges):
                if others is None and (spare := workers - Background.running()) >= 2:
                    pool = stack.enter_context(_forked_pool(run_claimed, spare - 1))
                    # One task per range left: a worker's task finds nothing once all are claimed.
                    others = pool.imap_unordered(_call, itertools.repeat((), len(ranges) - index))
                done[index] = work(*ranges[index])
                collect(wait=False)
                yield from ready()
            collect(wait=True)
            yield from ready()


def parse_each(parse: Callable[[A], R], items: Sequence[A], *, label: str, quiet: bool = False,
               jobs: int | None = None) -> Iterator[R]:
    """`parse` of each item (a file to read), in order: split over the cores (`map_ranges`)
    when there are many, as the build state, the store and its index all read theirs.

    Results come as each range is done, so what the caller does with them runs between this
    process's ranges while the workers go on parsing: the build state's term vectors, made
    after the last file, kept one core idle for 2-3 s of a cold build of 100,000 papers. Read
    it to the end (`zip(..., strict=True)`): the workers are stopped when it is exhausted.
    """
    def parse_range(start: int, end: int) -> list[R]:
        return [parse(item) for item in items[start:end]]

    for batch in map_ranges(parse_range, cut_ranges(0, len(items), PARSE_CHUNK), min_parallel=PARALLEL_PARSE_MIN,
                            label=label, quiet=quiet, jobs=jobs):
        yield from batch


# Paths asked about one at a time, a batch at a time, while the kernel answers from its caches.
DISK_BATCH = 1024
# Above this long a path, the answers come from the disk itself (2-3 µs from the caches).
_CACHED_ANSWER_SECONDS = 20e-6
# How many at once, then: 120,000 outputs, evicted, took 2.1 s 32 at a time, 2.7 s 8, 3.0 s 64.
DISK_THREADS = 32


def each_from_disk(ask: Callable[[str], R], paths: Sequence[str], *, waits: bool = False) -> list[R]:
    """`ask(path)` of each path, in order: one at a time while the answers come from the
    kernel's caches, many at once (threads, which wait on the disk without the interpreter)
    from the first batch that was slow, or from the start if each is known to wait (`waits`:
    an `unlink` waits for the blocks it frees to be discarded, cached or not).

    A daily build can find the dentries and inodes of its 120,000 outputs evicted: asked one
    at a time, each `stat` waited on the disk in turn, 10.4 s in all, against 0.3 s cached.
    From the caches, threads would only take turns at the interpreter.
    """
    results: list[R] = []
    done = 0
    while done < len(paths) and not waits:
        batch = paths[done:done + DISK_BATCH]
        began = time.perf_counter()
        results.extend(map(ask, batch))
        done += len(batch)
        if time.perf_counter() - began > len(batch) * _CACHED_ANSWER_SECONDS:
            break
    rest = paths[done:]
    if rest:
        size = -(-len(rest) // (DISK_THREADS * 4))  # parts in order, each a run of neighbours
        with ThreadPoolExecutor(DISK_THREADS) as pool:
            for part in pool.map(lambda start: list(map(ask, rest[start:start + size])), range(0, len(rest), size)):
                results.extend(part)
    return results


def _fork_daemon(target: Callable[..., None], *args: object) -> multiprocessing.process.BaseProcess:
    """`target(*args)` in a daemon process forked now, with this process's heap frozen so that
    the child's collections leave the pages it shares with this one alone."""
    with heap_frozen():
        process = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=True)
        process.start()
    return process


def _run_and_send(work: Callable[..., object], ahead: Callable[[], object] | None,
                  inbox: multiprocessing.connection.Connection, parents_end: multiprocessing.connection.Connection,
                  sender: multiprocessing.connection.Connection) -> None:
    """A background process's body: run `ahead`, wait for the argument, run `work` on both,
    send back its result or its exception. An inbox closed without an argument (the parent
    cancelled, or died) means the work is not wanted: the copy of its sending end the fork
    made is closed first, or the process would wait for itself."""
    parents_end.close()
    read = _outcome_of(ahead) if ahead is not None else None
    try:
        argument = inbox.recv()
    except EOFError:
        return
    finally:
        inbox.close()
    outcome = _outcome_of(lambda: _run(work, argument, read))
    try:
        sender.send(outcome)
    except Exception as error:  # an exception or result that cannot be pickled
        sender.send(("error", RuntimeError(f"the background work's outcome could not be sent back: {error!r}")))


def _outcome_of(produce: Callable[[], object]) -> tuple[str, object]:
    """("value", what `produce` returned), or ("error", what it raised): the parent raises it,
    as if the work had run there."""
    try:
        return ("value", produce())
    except BaseException as error:
        return ("error", error)


def _run(work: Callable[..., R], argument: object, read: tuple[str, object] | None) -> R:
    """`work(argument)`, or `work(argument, value)` with the value its `ahead` returned."""
    if read is None:
        return work(argument)
    kind, value = read
    if kind == "error":
        raise value  # type: ignore[misc]
    return work(argument, value)


class Background(Generic[A, R]):
    """`work(argument)` run in another process while this one goes on: the process is forked
    when this is made, and the argument sent (pickled) when it is ready (`start`); `result()`
    waits for the outcome.

    For a stage that needs only its argument (the search index needs the papers, packed, and
    nothing the pages make), so both cores are busy while this process does the rest. On one
    core it simply runs in place. Forking early, while this process is small, is what keeps
    memory down: a process forked later holds on to every page of this one's that either
    of them writes afterwards (the search index's, forked after the papers were read, held
    600 MB of them). It ends as soon as its work is done, and a thread here takes in its
    result meanwhile, so it holds nothing until `result()` is asked.
    """

    # Started and not yet finished, for `map_ranges`, which counts them as busy cores.
    _unfinished: set["Background"] = set()

    def __init__(self, work: Callable[..., R], *, ahead: Callable[[], object] | None = None, parallel: bool = True,
                 jobs: int | None = None):
        """`ahead`, if given, is run in the process as soon as it is forked, while it waits for
        its argument (reading the files the work will need, say), and `work` is given what it
        returned: `work(argument, ahead())`."""
        self._work, self._ahead = work, ahead
        self._process: multiprocessing.process.BaseProcess | None = None
        if not (parallel and worker_count(jobs) >= 2):
            return
        context = multiprocessing.get_context("fork")
        inbox, self._inbox = context.Pipe(duplex=False)
        _widen_pipe(inbox)  # a cold build's 110 MB of papers at 100,000: 0.24 s through 64 KB, 0.21 s so
        receiver, sender = context.Pipe(duplex=False)
        self._process = _fork_daemon(_run_and_send, work, ahead, inbox, self._inbox, sender)
        inbox.close()
        sender.close()
        self._outcome: tuple[str, object] = ("lost", None)
        self._results = receiver
        self._receiver = threading.Thread(target=self._receive, args=(receiver,), daemon=True)

    @property
    def forked(self) -> bool:
        """Whether the work runs in another process (its argument is then pickled)."""
        return self._process is not None

    def __enter__(self) -> "Background[A, R]":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()  # a no-op once the result is in; else the build failed or did not need it

    def start(self, argument: A) -> None:
        """Hand the work its argument: in place (then it runs now), or to the process."""
        if self._process is None:
            self._value = _run(self._work, argument, _outcome_of(self._ahead) if self._ahead is not None else None)
            return
        try:
            self._inbox.send(argument)
        except OSError:  # the process is gone: `result` says so
            pass
        self._inbox.close()
        Background._unfinished.add(self)
        self._receiver.start()

    def _receive(self, receiver: multiprocessing.connection.Connection) -> None:
        try:
            self._outcome = receiver.recv()
        except (EOFError, OSError):  # the process died without a word: `result` says so
            pass
        finally:
            receiver.close()
            # Busy until it has exited, not just answered: page workers forked while its memory
            # was still being handed back would add up with it at the build's peak.
            assert self._process is not None
            self._process.join()
            Background._unfinished.discard(self)

    @classmethod
    def running(cls) -> int:
        """How many background processes are still at work."""
        return len(cls._unfinished)

    def cancel(self) -> None:
        """Stop the work, started or not (this process failed, or has nothing for it to do)."""
        if self._process is None:
            return
        self._inbox.close()
        self._process.terminate()
        self._process.join()
        if self._receiver.ident is not None:
            self._receiver.join()
        else:
            self._results.close()

    def result(self) -> R:
        if self._process is None:
            return self._value
        self._receiver.join()
        self._process.join()
        kind, value = self._outcome
        if kind == "error":
            raise value  # type: ignore[misc]
        if kind != "value":
            raise RuntimeError(f"the background process ended without a result (exit code {self._process.exitcode})")
        return value  # type: ignore[return-value]


class FirstClaim:
    """A piece of work that either of two processes may do, done by whichever asks first
    (`take`): made before the fork that parts them, it is shared by both.

    The search index's process writes the feeds once its index is done, unless the build's
    own process, done with its pages first, has taken them: after a 100k new day the build
    waited 0.4-0.8 s for the search process, which spent 0.15-0.26 s of it on the feeds.
    """

    def __init__(self) -> None:
        self._taken = multiprocessing.get_context("fork").Value("b", 0)

    def take(self) -> bool:
        """True to the first to ask, False to every other."""
        with self._taken.get_lock():
            first = not self._taken.value
            self._taken.value = 1
        return first


def _produce_and_send(produce: Callable[[], Iterator[object]], parents_end: multiprocessing.connection.Connection,
                      sender: multiprocessing.connection.Connection) -> None:
    """An `Ahead` process's body: send each value `produce` yields as it comes, or the
    exception that stopped it."""
    parents_end.close()
    try:
        for value in produce():
            sender.send(("value", value))
    except BaseException as error:  # the parent raises it when it asks for the next value
        sender.send(("error", error))
    finally:
        sender.close()


class Ahead(Generic[R]):
    """The values `produce()` yields, made in another process from now on, and taken here in
    the order they come (`next`), each when this process needs it.

    For questions to ask before this process can use the answers, when it has other work
    meanwhile: a build asks the disk for every paper file's stamp and every old output's
    presence (`buildstate.survey_disk`) while it reads its state. Forked when made, while this
    process is small; on one core (or below a build's size where forking pays) `produce`
    simply runs here, a value at a time, as `next` asks.
    """

    def __init__(self, produce: Callable[[], Iterator[R]], *, parallel: bool = True, jobs: int | None = None):
        self._process: multiprocessing.process.BaseProcess | None = None
        if not (parallel and worker_count(jobs) >= 2):
            self._values = produce()
            return
        self._receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
        self._process = _fork_daemon(_produce_and_send, produce, self._receiver, sender)
        sender.close()

    @property
    def forked(self) -> bool:
        """Whether the values are made in another process (else here, as `next` asks)."""
        return self._process is not None

    def __enter__(self) -> "Ahead[R]":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def next(self) -> R:
        if self._process is None:
            return next(self._values)
        try:
            kind, value = self._receiver.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(f"the process working ahead ended without a value (exit code {self._process.exitcode})")
        if kind == "error":
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the work if it is still going (the build failed, or asked for no more)."""
        if self._process is not None:
            self._receiver.close()
            self._process.terminate()
            self._process.join()
