"""Progress for long work: a bar on a terminal, silence in logs, cron mail and `--quiet`."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, total: int | None = None, label: str, quiet: bool = False) -> Iterator[T]:
    """Yield `items`, drawing a bar on stderr only when stderr is a terminal and not quiet."""
    show = not quiet and sys.stderr.isatty()
    if not show:
        yield from items
        return
    yield from tqdm(items, total=total, desc=label, unit="", leave=False, file=sys.stderr, dynamic_ncols=True)
