"""Files of marshalled values followed by numpy arrays, mapped when read back: the build state
and the search index's caches, which hold tens of megabytes of arrays at 100,000 papers.

A file is its parts (bytes the caller marshalled as it chose), each after its length, then the
arrays' layout (each one's dtype and size) after its length, then the arrays' bytes. It is
written atomically from the arrays themselves, not from copies of them, and read back mapped:
the parts as views for the caller to unmarshal, the arrays as views of the mapping, which
stays open as long as one of them lives. A reader may take only the first parts (the state's
survey reads its outputs alone).
"""

from __future__ import annotations

import marshal
import mmap
import os
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from paperroute.output import write_atomic

_LENGTH = struct.Struct("<Q")


def write_parts(path: Path, parts: Sequence[bytes], arrays: Sequence[np.ndarray]) -> None:
    arrays = [np.ascontiguousarray(array) for array in arrays]
    layout = marshal.dumps([(array.dtype.str, array.size) for array in arrays])
    chunks: list[bytes | memoryview] = []
    for part in (*parts, layout):
        chunks += [_LENGTH.pack(len(part)), part]
    write_atomic(path, chunks + [memoryview(array) for array in arrays])


def read_parts(path: Path, count: int, *, arrays: bool = True) -> tuple[os.stat_result, list[memoryview], list[np.ndarray]]:
    """The file's `stat` (of the file read, not of the path later), its first `count` parts,
    and when `arrays` (then `count` is every part it was written with) its arrays.

    A damaged file raises ValueError or EOFError (an empty one cannot even be mapped), a
    missing one OSError."""
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        data = memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
    offset = 0

    def part() -> memoryview:
        nonlocal offset
        start = offset + _LENGTH.size
        if start > len(data) or (end := start + _LENGTH.unpack(data[offset:start])[0]) > len(data):
            raise EOFError(f"{path} is cut short")
        offset = end
        return data[start:end]

    parts = [part() for _ in range(count)]
    if not arrays:
        return stat, parts, []
    read: list[np.ndarray] = []
    for kind, size in marshal.loads(part()):
        read.append(np.frombuffer(data, dtype=kind, count=size, offset=offset))
        offset += read[-1].nbytes
    if offset != len(data):
        raise ValueError(f"{path} is not of the size its layout says")
    return stat, parts, read
