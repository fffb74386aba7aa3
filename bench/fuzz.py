"""The long fuzz run: the properties of tests/test_fuzz.py with many more examples.

    .venv/bin/python bench/fuzz.py [--examples 6000]

Each property gets ``--examples`` cases (the live-server sample a quarter of them, the HTML
reader a third: they cost more); hypothesis stops at the first failure and prints it. The
case counts are printed at the end; bench/RESULTS.md records a run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Cases per property relative to --examples, as tests/test_fuzz.py divides them.
SHARES = {"test_sparql_requests_never_fail_the_server": 1, "test_sparql_requests_over_waitress": 4,
          "test_text_reader": 1, "test_json_reader": 1, "test_html_reader": 3,
          "test_record_parser": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=6000)
    args = parser.parse_args()
    os.environ["NEWSGRAPH_FUZZ_EXAMPLES"] = str(args.examples)
    started = time.monotonic()
    status = pytest.main([str(ROOT / "tests" / "test_fuzz.py"), "-q", "-p", "no:cacheprovider",
                          "--hypothesis-show-statistics"])
    cases = {name: args.examples // share for name, share in SHARES.items()}
    for name, count in cases.items():
        print(f"{name}: {count:,} cases")
    print(f"total {sum(cases.values()):,} cases in {time.monotonic() - started:.0f} s; "
          f"{'all passed' if status == 0 else 'FAILED'}")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
