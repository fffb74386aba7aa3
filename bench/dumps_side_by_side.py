"""The dumps of a large store written side by side (one process per format, from a
checkpoint: server.publish.write_dumps) against one after the other, in the same run.

    .venv/bin/python bench/dumps_side_by_side.py DATA [--repeat 1]

DATA is a data folder (``DATA/store``; bench/growth.py makes them); nothing may hold its
store meanwhile. Each repeat writes both ways into temporary folders, alternating which goes
first, and checks that they wrote the same bytes. The union's set check is done once before
(the store remembers it) and is not timed.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import server.publish as publish
from server.store import Store


def timed_dumps(store: Store, side_by_side: bool) -> tuple[float, list[str]]:
    publish.SIDE_BY_SIDE_BYTES = 0 if side_by_side else 1 << 62
    with tempfile.TemporaryDirectory(dir=store.path.parent) as folder:
        start = time.perf_counter()
        written = publish.write_dumps(store, Path(folder))
        elapsed = time.perf_counter() - start
        return elapsed, [hashlib.sha256(p.read_bytes()).hexdigest() for p in written]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    store = Store(args.data / "store")
    publish.union_is_a_set(store)
    times: dict[bool, list[float]] = {False: [], True: []}
    digests: dict[bool, list[str]] = {}
    for i in range(args.repeat):
        for side_by_side in (i % 2 == 0, i % 2 != 0):
            elapsed, digests[side_by_side] = timed_dumps(store, side_by_side)
            times[side_by_side].append(elapsed)
            print(f"{'side by side' if side_by_side else 'one by one':12s} {elapsed:8.1f} s",
                  flush=True)
        assert digests[True] == digests[False], "the two ways wrote different bytes"
    serial, parallel = statistics.median(times[False]), statistics.median(times[True])
    print(f"{store.quad_count():,} quads; medians of {args.repeat}: one by one {serial:.1f} s, "
          f"side by side {parallel:.1f} s: {serial / parallel:.2f}x faster; same bytes")


if __name__ == "__main__":
    main()
