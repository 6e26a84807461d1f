"""How often the export machine asks DynamoDB whether an export has finished.

Exports take minutes to many hours. Polling on a fixed short interval wastes state
transitions (and, for long exports, overflows the execution history); a fixed long
interval notices completion late. The export machine instead waits in proportion to
how long the export has already run: never less than ``min_seconds``, about
``growth`` times the elapsed time, and never more than ``max_seconds``. With the
defaults, completion is noticed within max(60 s, 15% of the export's duration) and an
8-hour export costs fewer than 40 polls.

The same rule exists twice: as a JSONata expression inside the state machine and as
``next_wait`` here, so it can be reasoned about and tested without running anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PollPolicy:
    """Bounds of the proportional polling back-off (all in seconds)."""

    min_seconds: int = 60
    max_seconds: int = 3600
    growth: float = 0.15

    def __post_init__(self) -> None:
        if not 1 <= self.min_seconds <= self.max_seconds:
            raise ValueError(
                f"poll interval bounds: need 1 <= min_seconds <= max_seconds, "
                f"got {self.min_seconds} and {self.max_seconds}"
            )
        if self.max_seconds > 86_400:
            raise ValueError("poll interval bounds: max_seconds must be at most 86400 (1 day)")
        if not 0 < self.growth <= 1:
            raise ValueError(f"poll growth must be in (0, 1], got {self.growth}")

    def next_wait(self, elapsed_seconds: int) -> int:
        """Seconds to wait before the next poll, given the time already waited."""
        proportional = math.floor(self.growth * elapsed_seconds)
        return min(self.max_seconds, max(self.min_seconds, proportional))

    def jsonata_next_wait(self, elapsed_expr: str) -> str:
        """The same rule as a JSONata expression over ``elapsed_expr``."""
        return (
            f"$min([{self.max_seconds}, $max([{self.min_seconds}, "
            f"$floor({self.growth!r} * ({elapsed_expr}))])])"
        )

    def poll_times(self, until_seconds: int) -> list[int]:
        """Elapsed times (since the export started) at which polls happen, up to and
        including the first poll at or after ``until_seconds``."""
        times: list[int] = []
        elapsed = 0
        wait = self.min_seconds
        while True:
            elapsed += wait
            times.append(elapsed)
            if elapsed >= until_seconds:
                return times
            wait = self.next_wait(elapsed)
