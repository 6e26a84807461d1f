"""How a run fans out, and non-ASCII failure text, executed in the emulator.

The run's Distributed Map starts one table export execution per table, and at most
``MaxConcurrency`` of them at once ("Using Map state in Distributed mode"): exports in
flight equal the setting exactly, beyond the 40 an Inline Map would allow.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from emulator import export_model

from .support import DeployExporter, rows

MODEL = export_model.MODEL
SCHEDULED = {"scheduledTime": "2026-11-23T04:00:00Z"}


def table_names(count: int) -> list[str]:
    return [f"t{i:03d}" for i in range(count)]


@pytest.fixture
def quick_exports(aws: dict[str, Any]) -> None:
    # Exports finish a second after they start (virtual time): few polls per table.
    MODEL.default = export_model.Behaviour(duration_seconds=1)



@pytest.mark.parametrize("count", [12])
def test_a_run_starts_one_table_export_per_table_and_reports_each(
    deploy_exporter: DeployExporter, quick_exports: None, count: int
) -> None:
    names = table_names(count)
    ex = deploy_exporter({t: rows(t, 1) for t in names}, max_concurrency=50)

    described = ex.run("run-1", SCHEDULED, timeout=300)

    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert (output["tableCount"], output["succeededCount"]) == (count, count)
    started = sorted(e["name"].rsplit("-", 1)[0] for e in ex.table_executions())
    assert started == names
    assert sorted(t["table"] for t in described["tables"]) == names
    # The run's own history does not grow with the tables: they run as child workflows.
    assert len(ex.history(described["executionArn"])) < 40


def test_a_run_given_no_tables_starts_nothing_and_succeeds(
    deploy_exporter: DeployExporter,
) -> None:
    ex = deploy_exporter({"orders": rows("orders")})

    described = ex.run("run-empty", {"tables": []})

    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    assert (output["tableCount"], output["succeededCount"]) == (0, 0)
    assert described["tables"] == []
    assert ex.table_executions() == []
    assert MODEL.requests == []


class InFlight:
    """Exports started and not yet seen COMPLETED by their poll, counted in real time.

    Until ``hold`` exports are in flight at once (or 30 s have passed), every export
    reads IN_PROGRESS, so the count does not depend on how fast the emulator's threads
    happen to run: the Map either starts ``hold`` table exports at once, or the test
    sees fewer; starting more than it should shows as ``most`` above ``hold``.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, hold: int) -> None:
        self.running: set[str] = set()
        self.most = 0
        self.lock = threading.Lock()
        self.released = threading.Event()
        deadline = time.monotonic() + 30
        start, describe = MODEL.start, MODEL.describe

        def counted_start(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
            described = start(backend, body)
            with self.lock:
                self.running.add(described["ExportArn"])
                self.most = max(self.most, len(self.running))
                if self.most >= hold:
                    self.released.set()
            return described

        def counted_describe(backend: Any, export_arn: str) -> dict[str, Any]:
            if not self.released.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
                return MODEL.exports[export_arn].description()
            described = describe(backend, export_arn)
            if described["ExportStatus"] != "IN_PROGRESS":
                with self.lock:
                    self.running.discard(export_arn)
            return described

        monkeypatch.setattr(MODEL, "start", counted_start)
        monkeypatch.setattr(MODEL, "describe", counted_describe)


@pytest.mark.parametrize("concurrency", [1, 5, 41])
def test_exports_in_flight_equal_max_concurrency(
    deploy_exporter: DeployExporter, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """41 is more than an Inline Map's 40 iterations at once."""
    MODEL.default = export_model.Behaviour(duration_seconds=120)
    names = table_names(concurrency + 2)
    in_flight = InFlight(monkeypatch, hold=concurrency)
    ex = deploy_exporter({t: rows(t, 1) for t in names}, max_concurrency=concurrency)

    described = ex.run("run-1", SCHEDULED, timeout=300)

    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert in_flight.most == concurrency
    assert len(MODEL.exports) == len(names)


def test_a_non_ascii_export_failure_reaches_the_run_cause_intact(
    deploy_exporter: DeployExporter,
) -> None:
    # Longer than the 300 characters the run keeps of each table's cause, with text
    # outside the BMP (JSONata 2.0.6 counts code points, so no emoji is cut in half).
    message = "Überschreitung — 日本語 🚀 Größe überschritten; " * 12
    assert len(message) > 300
    MODEL.behave("orders", fail_code="UNKNOWN", fail_message=message)
    ex = deploy_exporter({"orders": rows("orders"), "events": rows("events")})

    described = ex.run("run-1", SCHEDULED)

    assert described["status"] == "FAILED"
    assert described["error"] == "TableExportsFailed"
    raw = described["cause"]
    assert "Überschreitung — 日本語 🚀 Größe" in raw
    assert "\\u" not in raw
    cause = json.loads(raw)
    (failed,) = cause["failed"]
    assert failed["table"] == "orders"
    assert failed["error"] == "UNKNOWN"
    assert failed["cause"] == message[:300]  # trimmed by code points
    assert cause["succeededCount"] == 1
    assert [t["table"] for t in described["tables"] if t["status"] != "FAILED"] == ["events"]

    (child,) = [e for e in ex.table_executions() if e["name"].startswith("orders-")]
    child_cause = ex.sfn.describe_execution(executionArn=child["executionArn"])["cause"]
    assert "\\u" not in child_cause
    assert json.loads(child_cause)["cause"] == message
