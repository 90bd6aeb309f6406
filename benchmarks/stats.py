"""Percentiles, medians, buckets and rates over progress samples, for small lists of numbers."""

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


def seconds_to_reach(samples: Sequence[tuple[float, int]], count: int) -> float:
    """When a growing count first reached `count`, from (seconds, count) samples in time
    order, interpolated between the two samples around it; the last sample's time if it
    never did."""
    for (t0, c0), (t1, c1) in zip(samples, samples[1:], strict=False):
        if c1 >= count:
            return t0 + (t1 - t0) * (count - c0) / max(c1 - c0, 1)
    return samples[-1][0]


def rates_by_part(samples: Sequence[tuple[float, int]], total: int, parts: int) -> list[float]:
    """Counts per second while the count went through each of `parts` equal parts of
    `total` (the first tenth, the second, ... with parts=10)."""
    rates = []
    for part in range(parts):
        low, high = total * part // parts, total * (part + 1) // parts
        took = seconds_to_reach(samples, high) - seconds_to_reach(samples, low)
        rates.append((high - low) / max(took, 1e-9))
    return rates
