"""What both benches use: running a body in the emulator, counting billed transitions
from an execution's history, and printing rows as a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto import mock_aws

import emulator
from emulator import clock, export_model, harness


def count_transitions(events: list[dict[str, Any]]) -> int:
    """Billed transitions: each state entered, plus each retry of a task."""
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    retries = sum(1 for e in events if e["type"] == "TaskScheduled") - sum(
        1 for e in events if e["type"] == "TaskStateEntered"
    )
    return entered + max(0, retries)


def in_emulator(body: Callable[[dict[str, Any]], Any]) -> Any:
    emulator.install()
    with mock_aws(config=emulator.MOTO_CONFIG):
        export_model.MODEL.reset()
        clock.reset()
        aws = harness.clients()
        harness.create_bucket(aws["s3"], "bench-exports")
        return body(aws)


def table(rows: list[dict[str, Any]]) -> str:
    headers = list(rows[0])
    widths = [max(len(str(h)), *(len(str(r[h])) for r in rows)) for h in headers]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += [
        "  ".join(str(r[h]).ljust(w) for h, w in zip(headers, widths, strict=True)) for r in rows
    ]
    return "\n".join(lines)
