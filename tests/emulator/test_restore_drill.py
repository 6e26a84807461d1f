"""Restore drills run in the emulator: the generated drill definition, a real export
(``export_model``) and the ImportTable model (``import_model``)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from table_exporter.drill.machine import DrillSpec, drill_definition
from table_exporter.kernel.polling import PollPolicy

from emulator import clock, harness, import_model

from .support import BUCKET, rows

PREFIX = "exporter-drill-"
SPEC = DrillSpec(
    bucket=BUCKET,
    table_prefix=PREFIX,
    poll=PollPolicy(min_seconds=60, max_seconds=600),
    import_timeout_seconds=3600,
    cleanup_seconds=2 * 3600,
)


@pytest.fixture(autouse=True)
def imports(aws: dict[str, Any]) -> Iterator[import_model.ImportModel]:
    import_model.MODEL.reset()
    yield import_model.MODEL
    import_model.MODEL.reset()


def export(
    aws: dict[str, Any], table: str, items: list[dict[str, Any]], prefix: str = "exports"
) -> dict[str, Any]:
    """A completed full export of a new table (``export_model`` writes AWS's layout)."""
    if BUCKET not in {b["Name"] for b in aws["s3"].list_buckets().get("Buckets", [])}:
        harness.create_bucket(aws["s3"], BUCKET)
    arn = harness.create_table(aws["dynamodb"], table, items)
    started = aws["dynamodb"].export_table_to_point_in_time(
        TableArn=arn, S3Bucket=BUCKET, S3Prefix=f"{prefix}/{table}", ExportFormat="DYNAMODB_JSON"
    )["ExportDescription"]
    clock.advance(600)
    described = aws["dynamodb"].describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED"
    return dict(described)


def data_key(aws: dict[str, Any], described: dict[str, Any]) -> str:
    export_id = described["ExportArn"].rsplit("/", 1)[1]
    folder = f"{described['S3Prefix']}/AWSDynamoDB/{export_id}/data/"
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]]
    assert len(keys) == 1
    return str(keys[0])


def rewrite_data(aws: dict[str, Any], described: dict[str, Any], change: Any) -> None:
    key = data_key(aws, described)
    body = aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    lines = gzip.decompress(body).decode().splitlines()
    aws["s3"].put_object(
        Bucket=BUCKET, Key=key, Body=gzip.compress("\n".join(change(lines)).encode() + b"\n")
    )


def drill(aws: dict[str, Any], table: str, name: str, spec: DrillSpec = SPEC) -> dict[str, Any]:
    sfn = aws["stepfunctions"]
    machine = f"drill-{abs(hash(spec)) % 10**8}"
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    table_arn = harness.SCOPE.arn("dynamodb", f"table/{table}")
    # The role the component gives the drill, for the tables it drills.
    role = harness.drill_role(spec, [table_arn])
    arn = (
        existing.get(machine)
        or sfn.create_state_machine(
            name=machine, definition=json.dumps(drill_definition(spec)), roleArn=role
        )["stateMachineArn"]
    )
    execution = sfn.start_execution(
        stateMachineArn=arn, name=name, input=json.dumps({"tableArn": table_arn})
    )["executionArn"]
    deadline = time.monotonic() + 60
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, "drill still running"
        time.sleep(0.05)
    found = dict(described)
    document = json.loads(found.get("output") or found.get("cause") or "{}")
    found["report"] = document
    if found["status"] == "SUCCEEDED" or found.get("error") in (
        "DrillFailed",
        "DrillTimedOut",
        "DrillError",
    ):
        key = f"drill-reports/{table}/"
        objects = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=key).get("Contents", [])
        stored = [o["Key"] for o in objects if o["Key"].endswith(f"/{name}.json")]
        assert len(stored) == 1, "the drill's report is in the bucket"
        found["stored"] = json.loads(
            aws["s3"].get_object(Bucket=BUCKET, Key=stored[0])["Body"].read()
        )
    return found


def scratch_tables(aws: dict[str, Any]) -> list[str]:
    return [t for t in aws["dynamodb"].list_tables()["TableNames"] if t.startswith(PREFIX)]


def test_a_drill_of_a_good_export_passes_and_deletes_its_scratch_table(aws, imports):
    described = export(aws, "orders", rows("orders", 7))
    result = drill(aws, "orders", "good")
    assert result["status"] == "SUCCEEDED", result
    report = result["report"]
    assert report == result["stored"]
    assert report["passed"] is True and report["status"] == "PASSED"
    assert report["exportArn"] == described["ExportArn"]
    assert report["manifestItemCount"] == 7
    assert report["processedItemCount"] == 7 and report["importedItemCount"] == 7
    assert report["errorCount"] == 0
    assert report["importStatus"] == "COMPLETED"
    assert report["scratchTable"].startswith(PREFIX + "orders-")
    assert report["scratchDeleted"] is True and report["cleanup"] == "deleted"
    # The import read the export's data folder, into a table with the source's key.
    (done,) = imports.imports.values()
    source = done.request["S3BucketSource"]
    export_id = described["ExportArn"].rsplit("/", 1)[1]
    assert source["S3KeyPrefix"] == f"exports/orders/AWSDynamoDB/{export_id}/data/"
    assert done.request["InputCompressionType"] == "GZIP"
    assert done.request["TableCreationParameters"]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"}
    ]
    assert scratch_tables(aws) == []
    # The source table is untouched.
    assert aws["dynamodb"].describe_table(TableName="orders")["Table"]["ItemCount"] == 7


def test_the_drill_takes_the_newest_completed_full_export(aws, imports):
    export(aws, "orders", rows("orders", 3))
    aws["dynamodb"].put_item(TableName="orders", Item={"pk": {"S": "late"}})
    table_arn = harness.SCOPE.arn("dynamodb", "table/orders")
    newest = aws["dynamodb"].export_table_to_point_in_time(
        TableArn=table_arn, S3Bucket=BUCKET, S3Prefix="exports/orders"
    )["ExportDescription"]
    clock.advance(600)
    aws["dynamodb"].describe_export(ExportArn=newest["ExportArn"])
    # A third export still running is not a candidate.
    clock.advance(60)
    aws["dynamodb"].export_table_to_point_in_time(
        TableArn=table_arn, S3Bucket=BUCKET, S3Prefix="exports/orders"
    )
    result = drill(aws, "orders", "newest")
    assert result["status"] == "SUCCEEDED", result
    assert result["report"]["exportArn"] == newest["ExportArn"]
    assert result["report"]["importedItemCount"] == 4


def test_corrupted_data_fails_the_drill_and_its_scratch_table_is_deleted(aws, imports):
    described = export(aws, "orders", rows("orders", 5))
    rewrite_data(
        aws, described, lambda lines: [lines[0], '{"Item": {"qty": {"N": "1"}}}', *lines[2:]]
    )
    result = drill(aws, "orders", "corrupt")
    assert result["status"] == "FAILED"
    assert result["error"] == "DrillFailed"
    report = result["report"]
    assert report == result["stored"]
    assert report["passed"] is False and report["status"] == "FAILED"
    assert report["errorCount"] == 1 and report["importedItemCount"] == 4
    assert "1 item(s) failed to import" in report["reason"]
    assert report["scratchDeleted"] is True
    assert scratch_tables(aws) == []


def test_a_malformed_object_is_an_error_and_fails_the_drill(aws, imports):
    described = export(aws, "orders", rows("orders", 5))
    aws["s3"].put_object(Bucket=BUCKET, Key=data_key(aws, described), Body=b"not gzip at all")
    result = drill(aws, "orders", "malformed")
    assert result["status"] == "FAILED" and result["error"] == "DrillFailed"
    report = result["report"]
    assert report["errorCount"] == 1 and report["processedItemCount"] == 0
    assert "the manifest lists 5" in report["reason"]
    assert scratch_tables(aws) == []


def test_missing_items_fail_the_drill(aws, imports):
    described = export(aws, "orders", rows("orders", 6))
    rewrite_data(aws, described, lambda lines: lines[:4])
    result = drill(aws, "orders", "missing")
    assert result["status"] == "FAILED" and result["error"] == "DrillFailed"
    report = result["report"]
    assert report["errorCount"] == 0
    assert report["processedItemCount"] == 4 and report["importedItemCount"] == 4
    assert report["manifestItemCount"] == 6
    assert "processed 4 item(s), the manifest lists 6" in report["reason"]
    assert scratch_tables(aws) == []


def test_an_import_that_ends_failed_fails_the_drill(aws, imports):
    described = export(aws, "orders", rows("orders", 2))
    aws["s3"].delete_object(Bucket=BUCKET, Key=data_key(aws, described))
    result = drill(aws, "orders", "no-data")
    assert result["status"] == "FAILED" and result["error"] == "DrillFailed"
    assert result["report"]["importStatus"] == "FAILED"
    assert "import ended FAILED (NoObjectsFound" in result["report"]["reason"]
    assert scratch_tables(aws) == []


def test_a_slow_import_times_out_the_drill_and_its_table_is_deleted_once_it_can_be(aws, imports):
    export(aws, "orders", rows("orders", 3))
    imports.behave(PREFIX, duration_seconds=SPEC.import_timeout_seconds + 1800)
    result = drill(aws, "orders", "slow")
    assert result["status"] == "FAILED" and result["error"] == "DrillTimedOut"
    report = result["report"]
    assert report["status"] == "TIMED_OUT" and report["importStatus"] == "IN_PROGRESS"
    assert report["scratchDeleted"] is True and report["cleanup"] == "deleted"
    assert scratch_tables(aws) == []


def test_a_table_left_behind_is_swept_by_the_next_drill(aws, imports):
    export(aws, "orders", rows("orders", 3))
    stuck = imports.behave(PREFIX, stuck=True)
    first = drill(aws, "orders", "stuck")
    assert first["status"] == "FAILED" and first["error"] == "DrillTimedOut"
    assert first["report"]["scratchDeleted"] is False
    assert "ResourceInUseException" in first["report"]["cleanup"]
    (left,) = scratch_tables(aws)
    # The import ends at last; a week later the next drill sweeps the leftover first.
    stuck.stuck = False
    stuck.duration_seconds = 0
    clock.advance(7 * 24 * 3600)
    second = drill(aws, "orders", "week-later")
    assert second["status"] == "SUCCEEDED", second
    assert second["report"]["swept"] == [left]
    assert scratch_tables(aws) == []


def test_a_running_drills_scratch_table_is_not_swept(aws, imports):
    export(aws, "orders", rows("orders", 3))
    # A scratch table created just now, as a concurrent drill's would be.
    aws["dynamodb"].import_table(
        S3BucketSource={"S3Bucket": BUCKET, "S3KeyPrefix": "exports/orders/"},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": PREFIX + "orders-concurrent",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    result = drill(aws, "orders", "beside")
    assert result["status"] == "SUCCEEDED", result
    assert result["report"]["swept"] == []
    assert scratch_tables(aws) == [PREFIX + "orders-concurrent"]


def test_no_export_fails_the_drill_with_a_report(aws, imports):
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], "orders", rows("orders", 1))
    result = drill(aws, "orders", "nothing")
    assert result["status"] == "FAILED" and result["error"] == "DrillError"
    assert result["report"]["error"] == "NoCompletedExport"
    assert result["report"]["scratchDeleted"] is True
    assert imports.imports == {}


def test_the_drill_alarm_specs_watch_failures_and_staleness():
    from table_exporter.drill.machine import drill_alarm_specs

    specs = {s.role: s for s in drill_alarm_specs(window_hours=120)}
    assert specs["drill-failed"].metric_name == "ExecutionsFailed"
    assert specs["drill-failed"].treat_missing_data == "notBreaching"
    stale = specs["drill-stale"]
    assert (stale.metric_name, stale.treat_missing_data) == ("ExecutionsSucceeded", "breaching")
    assert stale.period_seconds * stale.evaluation_periods == 120 * 3600
    with pytest.raises(ValueError):
        drill_alarm_specs(window_hours=169)


def _import_request(name: str, prefix: str = "exports/orders/") -> dict[str, Any]:
    return {
        "S3BucketSource": {"S3Bucket": BUCKET, "S3KeyPrefix": prefix},
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "TableCreationParameters": {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    }


def test_the_import_model_runs_over_time_and_refuses_an_existing_table(aws, imports):
    export(aws, "orders", rows("orders", 2))
    ddb = aws["dynamodb"]
    with pytest.raises(ddb.exceptions.ResourceInUseException):
        ddb.import_table(**_import_request("orders"))
    started = ddb.import_table(**_import_request("copy"))["ImportTableDescription"]
    assert started["ImportStatus"] == "IN_PROGRESS"
    assert ddb.describe_table(TableName="copy")["Table"]["TableStatus"] == "CREATING"
    with pytest.raises(ddb.exceptions.ResourceInUseException):
        ddb.delete_table(TableName="copy")
    clock.advance(imports.default.duration_seconds)
    done = ddb.describe_import(ImportArn=started["ImportArn"])["ImportTableDescription"]
    assert (done["ImportStatus"], done["ProcessedItemCount"], done["ImportedItemCount"]) == (
        "COMPLETED",
        2,
        2,
    )
    assert ddb.describe_table(TableName="copy")["Table"]["TableStatus"] == "ACTIVE"


def test_the_import_model_honours_client_tokens_and_the_concurrency_quota(aws, imports):
    export(aws, "orders", rows("orders", 1))
    ddb = aws["dynamodb"]
    first = ddb.import_table(ClientToken="t1", **_import_request("copy-a"))[
        "ImportTableDescription"
    ]
    again = ddb.import_table(ClientToken="t1", **_import_request("copy-a"))[
        "ImportTableDescription"
    ]
    assert again["ImportArn"] == first["ImportArn"] and len(imports.imports) == 1
    with pytest.raises(ddb.exceptions.ImportConflictException):
        ddb.import_table(ClientToken="t1", **_import_request("copy-b"))
    for i in range(import_model.MAX_CONCURRENT_IMPORTS - 1):
        ddb.import_table(**_import_request(f"copy-{i:02d}"))
    with pytest.raises(ddb.exceptions.LimitExceededException):
        ddb.import_table(**_import_request("one-too-many"))
