"""The examples' fast forms against their plain forms (server.examples.PLAIN_FORMS), on the
embedded store, in-process: what README's "Fast queries on the embedded store" claims.

    .venv/bin/python bench/query_forms.py --data /tmp/newsgraph-growth/data-1000

Opens the data folder's CURRENT snapshot read-only and runs each form ``--repeat`` times,
alternating plain and fast so both see the same machine; the baseline is the plain form,
and the answers of both are compared first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.examples import BY_ID, PLAIN_FORMS, plain_form  # noqa: E402
from server.store import Store  # noqa: E402


def answer(store: Store, query: str) -> list[tuple[str, ...]]:
    return sorted(tuple(str(term) for term in row) for row in store.query(query))


def main() -> None:
    parser = argparse.ArgumentParser(description="Fast against plain forms of the examples.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    snapshots = args.data / "snapshots"
    store = Store.read_only(snapshots / (snapshots / "CURRENT").read_text().strip())
    print(f"{store.quad_count():,} quads from {args.data}; median of {args.repeat} "
          f"(ms); baseline: the plain form")
    print(f"{'example':<28} {'rows':>7} {'plain':>9} {'fast':>9} {'x faster':>9}")
    for example_id in PLAIN_FORMS:
        example = BY_ID[example_id]
        fast, plain = example.query, plain_form(example)
        rows = answer(store, fast)
        if rows != answer(store, plain):
            sys.exit(f"{example_id}: the two forms answer differently")
        times: dict[str, list[float]] = {"plain": [], "fast": []}
        for _ in range(args.repeat):
            for name, query in (("plain", plain), ("fast", fast)):
                start = time.perf_counter()
                answer(store, query)
                times[name].append(time.perf_counter() - start)
        p, f = (statistics.median(times[n]) for n in ("plain", "fast"))
        print(f"{example_id:<28} {len(rows):>7} {1000 * p:>9.1f} {1000 * f:>9.1f} {p / f:>9.2f}")


if __name__ == "__main__":
    main()
