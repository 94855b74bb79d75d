"""Pure helpers of the bench: percentiles and the results table (no AWS, no timing)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation between closest ranks; p=50 is the median."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


@dataclass
class Figure:
    section: str        # a, b, c, ...
    name: str           # what was measured
    value: str          # the figure, formatted
    target: str = ""    # the target, formatted ("" when there is none)
    met: bool | None = None   # None: no target
    note: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "NOT MET")


def format_table(figures: Sequence[Figure]) -> str:
    """A plain-text table: section | figure | value | target | verdict | note, columns padded."""
    header = ("", "figure", "value", "target", "verdict", "note")
    rows = [header] + [(f.section, f.name, f.value, f.target, f.verdict, f.note) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(value: float) -> str:
    return f"{value:.2f}x"
