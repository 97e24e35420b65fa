"""One module per command; `paperroute.cli` wires them into argparse."""

from __future__ import annotations

import argparse
from typing import Callable

from paperroute.config import whole_number_within


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (up to `high`), else a usage error saying
    which: `--jobs 0`, `--max 5000` and `--port 99999` are mistakes to name, not to run with."""
    span = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def parse(text: str) -> int:
        value = whole_number_within(text, low, high)
        if value is None:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number {span}")
        return value
    return parse
