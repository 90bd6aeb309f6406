"""Percentiles, medians and buckets, for small lists of numbers."""

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile (p50, p99) of unsorted values; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    finite = [value for value in values if not math.isnan(value)]
    return statistics.median(finite) if finite else math.nan


def buckets(offsets: Sequence[float], width: float) -> list[int]:
    """How many offsets (seconds from a start) fall in each `width`-second bucket."""
    if not offsets:
        return []
    counts = [0] * (int(max(offsets) // width) + 1)
    for offset in offsets:
        counts[int(max(offset, 0.0) // width)] += 1
    return counts
