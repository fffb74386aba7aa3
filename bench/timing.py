"""Timing shared by the benchmark scripts: the median of repeated runs, and the wall time of
concurrent clients, in seconds.

Medians, not means: this machine is shared and noisy, and every script reports ratios to a
baseline timed the same way in the same run.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``fn``."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run_clients(threads: list[threading.Thread]) -> float:
    """Start every client thread at once, wait for all: the wall time, in seconds."""
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start
