"""Timing shared by the benchmark scripts: the median of repeated runs, in seconds.

Medians, not means: this machine is shared and noisy, and every script reports ratios to a
baseline timed the same way in the same run.
"""

from __future__ import annotations

import statistics
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
