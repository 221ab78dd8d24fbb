"""Latency percentiles as every benchmark here prints them."""

from __future__ import annotations

from math import ceil


def percentile_ms(seconds: list[float], pct: float) -> float:
    """Nearest-rank percentile of durations in seconds, in milliseconds (NaN for no values)."""
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    return ordered[max(0, ceil(pct / 100 * len(ordered)) - 1)] * 1000
