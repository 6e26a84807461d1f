"""The rules of an incremental export chain: baseline, windows, watermark, lock.

Per table, a watermark item in the exporter's state table records up to when the
table has been exported. Each run of the table export machine, in ``incremental`` mode:

1. takes the table's lock (a conditional write; a lock older than the export timeout
   is considered abandoned), reading the watermark in the same call;
2. reads the table's point-in-time recovery window;
3. with no watermark, or one older than the earliest restorable time (PITR was off,
   or the gap outlived the recovery period), takes a full *baseline* export at the
   latest restorable time T and, once it has COMPLETED, sets the watermark to T;
4. otherwise exports the window [watermark, min(watermark + 24 h, latest restorable)),
   if it is at least 15 minutes long, and, once COMPLETED, advances the watermark to
   the window's end with a write conditioned on the watermark it started from;
5. repeats 2-4 until caught up (at most ``MAX_WINDOWS_PER_RUN`` exports), releases the
   lock and publishes how far the watermark is behind now.

A failed export releases the lock without moving the watermark: the next run exports
the same window again. The window arithmetic is JSONata over epoch milliseconds.
"""

from __future__ import annotations

MIN_WINDOW_MS = 15 * 60 * 1000
MAX_WINDOW_MS = 24 * 3600 * 1000
MAX_WINDOWS_PER_RUN = 30
VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
