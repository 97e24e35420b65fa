"""Progress for long work: a bar on a terminal, silence in logs, cron mail and `--quiet`."""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator, TypeVar

T = TypeVar("T")


class _NoBar:
    """What a bar that draws nothing needs to answer."""

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, count: int = 1) -> None:
        return None


def progress_bar(total: int | None, *, label: str, quiet: bool = False) -> Any:
    """A bar on stderr counting to `total` when stderr is a terminal and not `quiet`, else one
    that draws nothing. tqdm is imported only to draw (it costs every command 25 ms)."""
    if quiet or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="", leave=False, file=sys.stderr, dynamic_ncols=True)


def progress(items: Iterable[T], *, total: int | None = None, label: str, quiet: bool = False) -> Iterator[T]:
    """Yield `items`, with a `progress_bar` counting them."""
    with progress_bar(total, label=label, quiet=quiet) as bar:
        for item in items:
            yield item
            bar.update(1)
