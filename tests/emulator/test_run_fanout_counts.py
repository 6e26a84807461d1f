"""How many executions a run fans out to, and non-ASCII failure text, in the emulator.

The run splits its tables with Step Functions' ``$partition`` into batches of 50
("Transforming data with JSONata in Step Functions": only the last chunk may be
shorter, and an empty array has no chunks), and starts one batch execution per chunk.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from emulator import export_model, harness

from .support import DeployExporter, rows

MODEL = export_model.MODEL
SCHEDULED = {"scheduledTime": "2026-11-23T04:00:00Z"}


def table_names(count: int) -> list[str]:
    return [f"t{i:03d}" for i in range(count)]


def batch_executions(ex: harness.Exporter) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"stateMachineArn": ex.batch_arn, "maxResults": 1000}
    while True:
        page = ex.sfn.list_executions(**kwargs)
        out.extend(page["executions"])
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


def batch_tables(ex: harness.Exporter, execution: dict[str, Any]) -> list[str]:
    described = ex.sfn.describe_execution(executionArn=execution["executionArn"])
    return [t["tableArn"].rsplit("/", 1)[1] for t in json.loads(described["input"])["tables"]]


@pytest.fixture
def quick_exports(aws: dict[str, Any]) -> None:
    # Exports finish a second after they start (virtual time): few polls per table.
    MODEL.default = export_model.Behaviour(duration_seconds=1)


@pytest.mark.parametrize("count", [52, 120])
def test_a_run_starts_one_batch_execution_per_50_tables(
    deploy_exporter: DeployExporter, quick_exports: None, count: int
) -> None:
    names = table_names(count)
    ex = deploy_exporter({t: rows(t, 1) for t in names}, max_concurrency=150)

    described = ex.run("run-1", SCHEDULED, timeout=120)

    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    batches = batch_executions(ex)
    assert len(batches) == math.ceil(count / 50)
    assert len(output["batches"]) == len(batches)
    assert sorted(output["batches"]) == sorted(b["executionArn"] for b in batches)
    sizes = sorted((len(batch_tables(ex, b)) for b in batches), reverse=True)
    assert sizes == [50] * (count // 50) + [count % 50]
    assert sorted(t for b in batches for t in batch_tables(ex, b)) == names
    assert output["tableCount"] == count
    assert len(ex.table_executions()) == count
    assert sorted(t["table"] for t in output["tables"]) == names


def test_a_run_given_no_tables_starts_no_batch_and_no_table_export(
    deploy_exporter: DeployExporter,
) -> None:
    ex = deploy_exporter({"orders": rows("orders")})

    ex.run("run-empty", {"tables": []})

    # $partition([], 50) is [] (moto's stand-in gave [[]]: one batch of no tables).
    assert batch_executions(ex) == []
    assert ex.table_executions() == []
    assert MODEL.requests == []


@pytest.mark.xfail(
    strict=True,
    reason="run definition: with no batches, $sum($states.result.count) is undefined, and "
    "an Assign expression that returns nothing fails the state "
    "(States.QueryEvaluationError); $sum([$states.result.count]) would give 0",
)
def test_a_run_given_no_tables_succeeds_with_nothing_to_report(
    deploy_exporter: DeployExporter,
) -> None:
    ex = deploy_exporter({"orders": rows("orders")})

    described = ex.run("run-empty", {"tables": []})

    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    assert output["tableCount"] == 0
    assert output["tables"] == []
    assert output["batches"] == []


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
    assert cause["succeeded"] == ["events"]

    (child,) = [e for e in ex.table_executions() if e["name"].startswith("orders-")]
    child_cause = ex.sfn.describe_execution(executionArn=child["executionArn"])["cause"]
    assert "\\u" not in child_cause
    assert json.loads(child_cause)["cause"] == message
