"""Shared by the emulator tests and their fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator import harness

BUCKET = "exports-bucket"

DeployExporter = Callable[..., harness.Exporter]


def rows(table: str, count: int = 3) -> list[dict[str, Any]]:
    """``count`` distinct items for ``table`` in DynamoDB JSON."""
    return [
        {
            "pk": {"S": f"{table}-{i}"},
            "qty": {"N": str(i + 1)},
            "note": {"S": f"row {i} of {table}"},
        }
        for i in range(count)
    ]
