"""Runs the generated run and table export definitions in the emulator and checks what
actually happened: execution results, child executions, DynamoDB export requests and
the files written to S3."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Any

import pytest
from table_exporter.export.run_machine import READABLE_FAILURES_BYTES
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.retries import retry_for

from emulator import export_model, harness

from .support import BUCKET, DeployExporter, rows

MODEL = export_model.MODEL
SCHEDULED = {"scheduledTime": "2026-11-23T04:00:00Z"}
RUN_DATE = "2026-11-23"


# -- helpers ---------------------------------------------------------------------------


def table_arn(table: str) -> str:
    return harness.SCOPE.arn("dynamodb", f"table/{table}")


def outputs_by_table(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return {t["table"]: t for t in described["tables"]}


def run_failure(described: dict[str, Any]) -> dict[str, Any]:
    """The run's cause, with its failed tables keyed by name, and the tables the run's
    report lists as exported."""
    assert described["status"] == "FAILED"
    assert described["error"] == "TableExportsFailed"
    cause = json.loads(described["cause"])
    cause["by_table"] = {f["table"]: f for f in cause["failed"]}
    cause["succeeded"] = sorted(t["table"] for t in described["tables"] if t["status"] != "FAILED")
    reported = {t["table"] for t in described["tables"] if t["status"] == "FAILED"}
    assert reported == set(cause["by_table"]), "the report and the cause name the same tables"
    assert cause["failedCount"] == len(reported)
    return cause


def children_by_table(ex: harness.Exporter) -> dict[str, list[dict[str, Any]]]:
    """Table export executions grouped by the table named in their execution name."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for execution in ex.table_executions():
        grouped.setdefault(execution["name"].rsplit("-", 1)[0], []).append(execution)
    return grouped


def only_child(ex: harness.Exporter, table: str) -> dict[str, Any]:
    children = children_by_table(ex)[table]
    assert len(children) == 1, children
    return children[0]


def start_requests(table: str) -> list[dict[str, Any]]:
    return [r for r in MODEL.requests if r["TableArn"] == table_arn(table)]


def s3_objects(s3: Any, location: str) -> dict[str, bytes]:
    """Every object under an ``s3://bucket/prefix/`` location, keyed relative to it."""
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]
    return {
        key.removeprefix(prefix): s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in keys
    }


def by_pk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: item["pk"]["S"])


# -- success ---------------------------------------------------------------------------


def test_three_tables_export_their_rows_under_table_and_run_date(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    data = {
        "orders": rows("orders", 3),
        "customers": rows("customers", 5),
        "events": rows("events", 1),
    }
    ex = deploy_exporter(data)

    outputs = outputs_by_table(ex.run("run-1", SCHEDULED))

    assert set(outputs) == set(data)
    for table, items in data.items():
        out = outputs[table]
        (export,) = MODEL.exports_of(table)
        assert out["tableArn"] == table_arn(table)
        assert out["exportArn"] == export.arn
        assert out["status"] == "COMPLETED" == export.status
        assert out["itemCount"] == len(items)
        assert out["billedSizeBytes"] > 0
        assert out["s3Location"] == (
            f"s3://{BUCKET}/exports/{table}/full/{RUN_DATE}/AWSDynamoDB/{export.export_id}/"
        )

        files = s3_objects(aws["s3"], out["s3Location"])
        summary = json.loads(files["manifest-summary.json"])
        assert summary["exportArn"] == export.arn
        assert summary["itemCount"] == len(items)
        data_files = [k for k in files if k.startswith("data/") and k.endswith(".json.gz")]
        assert len(data_files) == 1, sorted(files)
        lines = gzip.decompress(files[data_files[0]]).decode().splitlines()
        exported = [json.loads(line) for line in lines]
        assert all(set(row) == {"Item"} for row in exported)
        assert by_pk([row["Item"] for row in exported]) == by_pk(items)

    assert all(c["status"] == "SUCCEEDED" for c in ex.table_executions())
    assert len(ex.table_executions()) == 3


# -- permanent failures ----------------------------------------------------------------


def test_table_without_pitr_fails_alone_without_retry_while_others_complete(
    deploy_exporter: DeployExporter,
) -> None:
    ex = deploy_exporter(
        {"orders": rows("orders"), "legacy": rows("legacy"), "events": rows("events")},
        without_pitr=["legacy"],
    )

    cause = run_failure(ex.run("run-1", SCHEDULED))

    assert set(cause["by_table"]) == {"legacy"}
    assert (
        cause["by_table"]["legacy"]["error"] == "DynamoDb.PointInTimeRecoveryUnavailableException"
    )
    assert "legacy" in cause["message"]
    assert sorted(cause["succeeded"]) == ["events", "orders"]
    assert only_child(ex, "legacy")["status"] == "FAILED"
    for table in ("orders", "events"):
        assert only_child(ex, table)["status"] == "SUCCEEDED"
        assert [e.status for e in MODEL.exports_of(table)] == ["COMPLETED"]
    assert len(start_requests("legacy")) == 1
    assert MODEL.exports_of("legacy") == []


def test_missing_bucket_fails_every_table_with_s3_no_such_bucket(
    deploy_exporter: DeployExporter,
) -> None:
    tables = ["orders", "customers", "events"]
    ex = deploy_exporter({t: rows(t) for t in tables}, bucket="never-created", create_bucket=False)

    described = ex.run("run-1", SCHEDULED)

    # The report cannot be written into a bucket that does not exist either: the run
    # fails naming that, and each table's own execution names S3NoSuchBucket.
    assert described["status"] == "FAILED"
    assert described["error"] == "RunReportFailed"
    assert set(json.loads(described["cause"])) == {"Error", "Cause"}
    for table in tables:
        assert [e.failure_code for e in MODEL.exports_of(table)] == ["S3NoSuchBucket"]
        child = ex.sfn.describe_execution(executionArn=only_child(ex, table)["executionArn"])
        assert child["status"] == "FAILED"
        assert json.loads(child["cause"])["error"] == "S3NoSuchBucket"


def test_export_ending_failed_reports_its_code_and_message(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    message = "Failed to write to the S3 bucket: the bucket policy denies the export"
    MODEL.behave("orders", fail_code="UNKNOWN", fail_message=message)
    ex = deploy_exporter({"orders": rows("orders"), "events": rows("events")})

    cause = run_failure(ex.run("run-1", SCHEDULED))

    failed = cause["by_table"]["orders"]
    assert failed["error"] == "UNKNOWN"
    assert failed["cause"] == message
    assert cause["succeeded"] == ["events"]
    child = aws["stepfunctions"].describe_execution(
        executionArn=only_child(ex, "orders")["executionArn"]
    )
    assert child["status"] == "FAILED"
    assert child["error"] == "ExportFailed"
    assert json.loads(child["cause"]) == {
        "table": "orders",
        "tableArn": table_arn("orders"),
        "error": "UNKNOWN",
        "cause": message,
    }
    assert [e.status for e in MODEL.exports_of("orders")] == ["FAILED"]


def test_access_denied_fails_once_without_retry(deploy_exporter: DeployExporter) -> None:
    MODEL.behave("orders", denied=True)
    ex = deploy_exporter({"orders": rows("orders")})

    cause = run_failure(ex.run("run-1", SCHEDULED))

    failed = cause["by_table"]["orders"]
    # AccessDeniedException is not in DynamoDB's API model, so Step Functions may report
    # it under the service's generic exception name; either way it is not retried.
    assert failed["error"] in {"DynamoDb.AccessDeniedException", "DynamoDb.DynamoDbException"}
    assert "not authorized" in failed["cause"]
    assert len(start_requests("orders")) == 1
    assert MODEL.exports_of("orders") == []


def test_table_that_does_not_exist_is_recorded_as_table_not_found(
    deploy_exporter: DeployExporter,
) -> None:
    ex = deploy_exporter({"orders": rows("orders"), "ghost": []}, missing=["ghost"])

    cause = run_failure(ex.run("run-1", SCHEDULED))

    assert set(cause["by_table"]) == {"ghost"}
    assert cause["by_table"]["ghost"]["error"] == "DynamoDb.TableNotFoundException"
    assert "ghost" in cause["message"]
    assert cause["succeeded"] == ["orders"]
    assert len(start_requests("ghost")) == 1


# -- retries ---------------------------------------------------------------------------


def test_limit_exceeded_is_retried_until_the_export_starts(
    deploy_exporter: DeployExporter,
) -> None:
    MODEL.behave("orders", limit_exceeded=2)
    ex = deploy_exporter({"orders": rows("orders")})

    outputs = outputs_by_table(ex.run("run-1", SCHEDULED))

    assert len(start_requests("orders")) == 3
    (export,) = MODEL.exports_of("orders")
    assert outputs["orders"]["exportArn"] == export.arn
    assert export.status == "COMPLETED"


def test_internal_server_error_is_retried_until_the_export_starts(
    deploy_exporter: DeployExporter,
) -> None:
    MODEL.behave("orders", internal_errors=1)
    ex = deploy_exporter({"orders": rows("orders")})

    outputs = outputs_by_table(ex.run("run-1", SCHEDULED))

    assert len(start_requests("orders")) == 2
    (export,) = MODEL.exports_of("orders")
    assert outputs["orders"]["exportArn"] == export.arn
    assert outputs["orders"]["status"] == "COMPLETED"


def test_limit_exceeded_forever_gives_up_after_the_quota_retry_budget(
    deploy_exporter: DeployExporter,
) -> None:
    MODEL.behave("orders", limit_exceeded=100)
    ex = deploy_exporter({"orders": rows("orders"), "events": rows("events")})

    cause = run_failure(ex.run("run-1", SCHEDULED))

    (quota_rule,) = [
        r
        for r in retry_for("dynamodb", "exportTableToPointInTime")
        if r["ErrorEquals"] == ["DynamoDb.LimitExceededException"]
    ]
    assert len(start_requests("orders")) == 1 + quota_rule["MaxAttempts"]
    assert cause["by_table"]["orders"]["error"] == "DynamoDb.LimitExceededException"
    assert cause["succeeded"] == ["events"]
    assert MODEL.exports_of("orders") == []


# -- idempotency -----------------------------------------------------------------------


def assert_one_export_per_table_reported_by_both(
    ex: harness.Exporter, first: dict[str, Any], second: dict[str, Any], tables: list[str]
) -> None:
    first_out, second_out = outputs_by_table(first), outputs_by_table(second)
    for table in tables:
        (export,) = MODEL.exports_of(table)
        assert first_out[table]["exportArn"] == second_out[table]["exportArn"] == export.arn
        assert first_out[table]["s3Location"] == second_out[table]["s3Location"]
        # Each run has its own child execution; both asked for the same export.
        assert len(children_by_table(ex)[table]) == 2
        tokens = {r["ClientToken"] for r in start_requests(table)}
        assert len(start_requests(table)) == 2 and len(tokens) == 1


def test_scheduled_run_delivered_twice_in_turn_exports_each_table_once(
    deploy_exporter: DeployExporter,
) -> None:
    tables = ["orders", "events"]
    ex = deploy_exporter({t: rows(t) for t in tables})

    first = ex.run("scheduled-a", SCHEDULED)
    second = ex.run("scheduled-b", SCHEDULED)

    assert_one_export_per_table_reported_by_both(ex, first, second, tables)


def test_scheduled_run_delivered_twice_at_once_exports_each_table_once(
    deploy_exporter: DeployExporter,
) -> None:
    tables = ["orders", "events"]
    ex = deploy_exporter({t: rows(t) for t in tables})

    first_arn = ex.start("scheduled-a", SCHEDULED)
    second_arn = ex.start("scheduled-b", SCHEDULED)
    first, second = ex.wait(first_arn), ex.wait(second_arn)

    assert_one_export_per_table_reported_by_both(ex, first, second, tables)


def test_two_manual_runs_start_two_exports_per_table(deploy_exporter: DeployExporter) -> None:
    tables = ["orders", "events"]
    ex = deploy_exporter({t: rows(t) for t in tables})

    first = outputs_by_table(ex.run("manual-1"))
    second = outputs_by_table(ex.run("manual-2"))

    for table in tables:
        exports = MODEL.exports_of(table)
        assert len(exports) == 2
        assert {first[table]["exportArn"], second[table]["exportArn"]} == {e.arn for e in exports}
        assert len({r["ClientToken"] for r in start_requests(table)}) == 2


# -- input -----------------------------------------------------------------------------


def test_tables_in_the_input_replace_the_configured_ones(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    ex = deploy_exporter({"orders": rows("orders"), "events": rows("events")})

    run_arn = ex.start(
        "adhoc-1", {"tables": [{"tableArn": table_arn("events"), "prefix": "exports"}]}
    )
    described = ex.wait(run_arn)

    outputs = outputs_by_table(described)
    assert set(outputs) == {"events"}
    run_date = described["startDate"].astimezone(dt.timezone.utc).strftime("%Y-%m-%d")
    (export,) = MODEL.exports_of("events")
    assert export.request["S3Prefix"] == f"exports/events/full/{run_date}"
    assert outputs["events"]["s3Location"].startswith(f"s3://{BUCKET}/exports/events/full/")
    assert "manifest-summary.json" in s3_objects(aws["s3"], outputs["events"]["s3Location"])
    assert MODEL.exports_of("orders") == []
    assert start_requests("orders") == []
    assert set(children_by_table(ex)) == {"events"}


def test_a_table_in_the_input_under_a_prefix_not_configured_is_refused_by_iam(
    deploy_exporter: DeployExporter,
) -> None:
    """The role grants the configured prefixes only (docs/deploying.md, "Running an
    export now"): the export of a table listed under another prefix is denied writing
    there, and the run names the table and why."""
    ex = deploy_exporter({"orders": rows("orders"), "events": rows("events")})

    described = ex.run("adhoc-2", {"tables": [{"tableArn": table_arn("events"), "prefix": "adhoc"}]})

    assert described["status"] == "FAILED"
    (failed,) = ex.report(described)["failed"]
    assert failed["table"] == "events"
    assert "AccessDenied" in failed["error"] + failed["cause"], failed


# -- polling ---------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [300, 7200])
def test_export_is_noticed_promptly_with_the_planned_number_of_polls(
    deploy_exporter: DeployExporter, duration: int
) -> None:
    MODEL.behave("orders", duration_seconds=duration)
    ex = deploy_exporter({"orders": rows("orders")})

    outputs_by_table(ex.run("run-1", SCHEDULED))

    (export,) = MODEL.exports_of("orders")
    assert export.status == "COMPLETED"
    assert export.completed_at is not None and export.detected_at is not None
    delay = export.detected_at - export.completed_at
    assert 0 <= delay <= max(60, 0.15 * duration)

    history = ex.history(only_child(ex, "orders")["executionArn"])
    describe_calls = [
        e
        for e in history
        if e["type"] == "TaskScheduled"
        and e["taskScheduledEventDetails"]["resource"] == "describeExport"
    ]
    describe_entries = [
        e
        for e in history
        if e["type"] == "TaskStateEntered"
        and e["stateEnteredEventDetails"]["name"] == "DescribeExport"
    ]
    expected = len(PollPolicy().poll_times(duration))
    assert len(describe_calls) == len(describe_entries) == expected


def test_the_run_report_lists_every_table_and_the_run_points_at_it(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    ex = deploy_exporter(
        {"orders": rows("orders"), "events": rows("events"), "legacy": rows("legacy")},
        without_pitr=["legacy"],
    )

    described = ex.run("run-1", SCHEDULED)

    cause = run_failure(described)
    assert cause["message"].startswith("1 of 3 table exports failed: legacy (")
    assert cause["report"].startswith(f"s3://{BUCKET}/run-reports/{RUN_DATE}/run-1/")
    assert (cause["failedCount"], cause["succeededCount"]) == (1, 2)
    report = s3_objects(aws["s3"], cause["report"])
    assert {"manifest.json", "SUCCEEDED_0.json", "FAILED_0.json"} <= set(report)
    succeeded = [json.loads(c["Output"])["table"] for c in json.loads(report["SUCCEEDED_0.json"])]
    assert sorted(succeeded) == ["events", "orders"]
    (failed,) = json.loads(report["FAILED_0.json"])
    assert json.loads(failed["Cause"])["table"] == "legacy"


def test_a_successful_run_reports_counts_and_where_its_report_is(
    deploy_exporter: DeployExporter,
) -> None:
    ex = deploy_exporter(
        {"orders": rows("orders"), "events": rows("events"), "audit": rows("audit")}
    )

    described = ex.run("run-1", SCHEDULED)
    output = json.loads(described["output"])

    assert (output["tableCount"], output["succeededCount"]) == (3, 3)
    assert output["report"].startswith(f"s3://{BUCKET}/run-reports/{RUN_DATE}/run-1/")
    assert ":mapRun:" in output["mapRunArn"]
    assert sorted(t["table"] for t in described["tables"]) == ["audit", "events", "orders"]


def test_a_failure_report_too_large_to_read_still_ends_with_counts_and_its_location(
    deploy_exporter: DeployExporter,
) -> None:
    """``States.DataLimitExceeded`` is terminal: ``States.ALL`` cannot catch it. A
    ``FAILED_0.json`` too large for the 256 KiB payload quota once read into a task's
    result (here 100 failed tables with long names, which ended the run with
    ``States.DataLimitExceeded`` when it read every failures file) is left in the
    report, and the run still ends with the counts and the report's location."""
    tables = {f"{index:03d}-" + "t" * 200: [] for index in range(100)}
    ex = deploy_exporter(tables, missing=tables, max_concurrency=100, table_access="prefix")

    described = ex.run("run-1", SCHEDULED, timeout=300)

    assert described["status"] == "FAILED"
    assert described["error"] == "TableExportsFailed", described.get("cause")
    cause = json.loads(described["cause"])
    assert (cause["failedCount"], cause["succeededCount"]) == (100, 0)
    assert "100 of 100 table exports failed" in cause["message"]
    assert len(ex.report(described)["failed"]) == 100
    (failures,) = ex.result_files(described)["FAILED"]
    assert failures["Size"] > READABLE_FAILURES_BYTES
    history = ex.history(described["executionArn"])
    entered = {e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e}
    assert "ReadFailures" not in entered


def test_a_failed_runs_cause_is_whole_json_however_long_the_failed_tables_names(
    deploy_exporter: DeployExporter,
) -> None:
    """A Fail state's cause holds at most 32,768 characters; the run names as many
    failed tables as fit, and the cause stays JSON a reader can parse."""
    tables = {f"{index:02d}-" + "t" * 250: [] for index in range(40)}
    ex = deploy_exporter(tables, missing=tables, max_concurrency=40, table_access="prefix")

    described = ex.run("run-1", SCHEDULED, timeout=300)

    assert described["status"] == "FAILED" and described["error"] == "TableExportsFailed"
    assert len(described["cause"]) <= 32768
    cause = json.loads(described["cause"])
    assert cause["failedCount"] == 40
    assert 0 < len(cause["failed"]) < 40
    assert cause["message"].endswith(cause["report"]) and ", ...;" in cause["message"]
