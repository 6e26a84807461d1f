"""Transient errors of every service a machine calls are retried, by that service's
names: executed, with faults injected on the emulator's aws-sdk calls.

A table whose export has COMPLETED must not fail because Glue, Athena or CloudWatch
hiccuped afterwards, and a full export quota must make every export call wait, not
fail: the initial export, a baseline, a window and a poll alike.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import pytest

from emulator import clock, export_model, harness
from emulator.sfn_fidelity import FAULTS

from .support import BUCKET, rows

MODEL = export_model.MODEL
TABLE = "orders"
DATABASE = "exports_db"
WORKGROUP = "exports"
HOUR = 3600



@pytest.fixture
def setup(aws: dict[str, Any]) -> dict[str, Any]:
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], TABLE, rows(TABLE, 3))
    harness.create_state_table(aws["dynamodb"])
    boto3.client("glue", region_name=harness.REGION).create_database(
        DatabaseInput={"Name": DATABASE}
    )
    boto3.client("athena", region_name=harness.REGION).create_work_group(Name=WORKGROUP)
    MODEL.behave(TABLE, duration_seconds=120)
    return aws


def _deploy(aws: dict[str, Any], *, incremental: bool, catalog: bool = True) -> harness.Exporter:
    options: dict[str, Any] = {}
    if catalog:
        options.update(catalog_database=DATABASE, athena_workgroup=WORKGROUP)
    return harness.deploy(
        aws["stepfunctions"],
        bucket=BUCKET,
        tables=[TABLE],
        incremental=[TABLE] if incremental else [],
        **options,
    )


def _run(ex: harness.Exporter, name: str) -> dict[str, Any]:
    """A scheduled run an hour after the previous one (or after the tables' creation)."""
    clock.advance(HOUR)
    now = dt.datetime.fromtimestamp(clock.now(), tz=dt.timezone.utc)
    return ex.run(name, {"scheduledTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")})


def _result(described: dict[str, Any]) -> dict[str, Any]:
    assert described["status"] == "SUCCEEDED", described.get("cause")
    (table,) = described["tables"]
    return table


@pytest.mark.parametrize(
    ("service", "operation", "code", "incremental"),
    [
        ("glue", "UpdateTable", "InternalServiceException", False),
        ("glue", "UpdateTable", "OperationTimeoutException", True),
        ("glue", "CreateTable", "ConcurrentModificationException", False),
        ("glue", "UpdateTable", "ThrottlingException", False),
        ("athena", "CreateNamedQuery", "InternalServerException", True),
        ("athena", "CreateNamedQuery", "ThrottlingException", True),
        ("dynamodb", "DescribeTable", "InternalServerError", False),
        ("dynamodb", "DescribeExport", "InternalServerError", False),
        ("dynamodb", "DescribeContinuousBackups", "InternalServerError", True),
        ("dynamodb", "UpdateItem", "ProvisionedThroughputExceededException", True),
    ],
)
def test_a_transient_error_of_the_tasks_own_service_is_retried(
    setup: dict[str, Any], service: str, operation: str, code: str, incremental: bool
) -> None:
    ex = _deploy(setup, incremental=incremental)
    FAULTS.inject(service, operation, code, times=2)

    result = _result(_run(ex, "run-1"))

    assert FAULTS.raised == [(service, operation, code)] * 2
    assert result["status"] == "COMPLETED"


def test_a_transient_cloudwatch_error_does_not_fail_an_incremental_table(
    setup: dict[str, Any],
) -> None:
    ex = _deploy(setup, incremental=True, catalog=False)
    _result(_run(ex, "run-1"))
    FAULTS.inject("cloudwatch", "PutMetricData", "InternalServiceFault", times=2)

    result = _result(_run(ex, "run-2"))

    assert FAULTS.raised == [("cloudwatch", "PutMetricData", "InternalServiceFault")] * 2
    assert result["mode"] == "incremental"


@pytest.mark.parametrize("incremental", [False, True])
def test_a_full_export_quota_makes_the_first_export_wait_not_fail(
    setup: dict[str, Any], incremental: bool
) -> None:
    """StartExport (full tables) and StartBaseline (incremental ones)."""
    ex = _deploy(setup, incremental=incremental)
    MODEL.behave(TABLE, duration_seconds=120, limit_exceeded=3)

    result = _result(_run(ex, "run-1"))

    assert result["status"] == "COMPLETED"
    assert len(MODEL.exports_of(TABLE)) == 1


def test_a_full_export_quota_makes_a_window_wait_not_fail(setup: dict[str, Any]) -> None:
    ex = _deploy(setup, incremental=True, catalog=False)
    _result(_run(ex, "run-1"))
    MODEL.behave(TABLE, duration_seconds=120, limit_exceeded=3)

    result = _result(_run(ex, "run-2"))

    assert [e["kind"] for e in result["exports"]] == ["incremental"]
    assert MODEL.behaviours[TABLE].limit_exceeded == 0


@pytest.mark.parametrize("incremental", [False, True])
def test_a_throttled_poll_does_not_fail_a_running_export(
    setup: dict[str, Any], incremental: bool
) -> None:
    ex = _deploy(setup, incremental=incremental, catalog=False)
    FAULTS.inject("dynamodb", "DescribeExport", "LimitExceededException", times=3)

    result = _result(_run(ex, "run-1"))

    assert FAULTS.raised == [("dynamodb", "DescribeExport", "LimitExceededException")] * 3
    assert result["status"] == "COMPLETED"


def test_a_permanent_error_is_not_retried(setup: dict[str, Any]) -> None:
    ex = _deploy(setup, incremental=False)
    FAULTS.inject("dynamodb", "DescribeExport", "ExportNotFoundException", times=5)

    described = _run(ex, "run-1")

    assert described["status"] == "FAILED"
    assert FAULTS.raised == [("dynamodb", "DescribeExport", "ExportNotFoundException")]
    (failed,) = json.loads(described["cause"])["failed"]
    assert failed["error"] == "DynamoDb.ExportNotFoundException"
