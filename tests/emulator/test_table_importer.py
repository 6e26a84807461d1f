"""The TableImporter's machine run in the emulator against exports the export model wrote."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from table_exporter.importer.args import ImporterSpec, KeyAttribute
from table_exporter.importer.machine import import_definition
from table_exporter.kernel.polling import PollPolicy

from emulator import clock, harness, import_model

from .support import BUCKET, rows

PREFIX = "orders-copy-"
PARAMETER = "/copies/orders/current"
SPEC = ImporterSpec(
    source_bucket=BUCKET,
    source_prefix="exports/orders",
    table_prefix=PREFIX,
    parameter_name=PARAMETER,
    partition_key=KeyAttribute("pk", "S"),
    keep=2,
    poll=PollPolicy(min_seconds=60, max_seconds=600),
)


@pytest.fixture(autouse=True)
def imports(aws: dict[str, Any]) -> Iterator[import_model.ImportModel]:
    import_model.MODEL.reset()
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], "orders", rows("orders", 3))
    yield import_model.MODEL
    import_model.MODEL.reset()


def run_folder() -> str:
    """Where the exporter's run of today puts a full export of orders."""
    return f"exports/orders/full/{clock.now_datetime():%Y-%m-%d}"


def export_now(aws: dict[str, Any]) -> dict[str, Any]:
    started = aws["dynamodb"].export_table_to_point_in_time(
        TableArn=harness.SCOPE.arn("dynamodb", "table/orders"),
        S3Bucket=BUCKET,
        S3Prefix=run_folder(),
    )["ExportDescription"]
    clock.advance(600)
    described = aws["dynamodb"].describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED"
    return dict(described)


def run(aws: dict[str, Any], name: str) -> dict[str, Any]:
    sfn = aws["stepfunctions"]
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arn = (
        existing.get("importer")
        or sfn.create_state_machine(
            name="importer",
            definition=json.dumps(import_definition(SPEC)),
            roleArn=harness.importer_role(SPEC),
        )["stateMachineArn"]
    )
    return harness.execute(sfn, arn, name, timeout=60)


def copies(aws: dict[str, Any]) -> list[str]:
    return sorted(t for t in aws["dynamodb"].list_tables()["TableNames"] if t.startswith(PREFIX))


def current(aws: dict[str, Any]) -> str:
    ssm = boto3.client("ssm", region_name=harness.REGION)
    return str(ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])


def test_the_importer_keeps_exactly_n_tables_and_points_the_parameter_at_the_newest(aws):
    names = []
    for day in range(4):
        export_now(aws)
        result = run(aws, f"day-{day}")
        assert result["status"] == "SUCCEEDED", result
        output = json.loads(result["output"])
        names.append(output["table"])
        assert current(aws) == output["table"]
        assert len(copies(aws)) == min(day + 1, SPEC.keep)
        clock.advance(24 * 3600)
    assert len(set(names)) == 4
    assert copies(aws) == sorted(names[-2:])
    assert current(aws) == names[-1]
    newest = aws["dynamodb"].describe_table(TableName=names[-1])["Table"]
    assert newest["ItemCount"] == 3
    assert newest["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def test_the_table_is_named_after_the_exports_time_and_a_rerun_imports_nothing_new(aws, imports):
    described = export_now(aws)
    first = run(aws, "first")
    assert first["status"] == "SUCCEEDED", first
    stamp = described["ExportTime"].strftime("%Y%m%dT%H%M%S")
    assert json.loads(first["output"])["table"] == PREFIX + stamp
    second = run(aws, "again")
    assert second["status"] == "SUCCEEDED", second
    assert len(imports.imports) == 1
    assert copies(aws) == [PREFIX + stamp] and current(aws) == PREFIX + stamp


def test_an_export_still_running_is_passed_over_for_the_newest_complete_one(aws):
    done = export_now(aws)
    aws["dynamodb"].export_table_to_point_in_time(
        TableArn=harness.SCOPE.arn("dynamodb", "table/orders"),
        S3Bucket=BUCKET,
        S3Prefix=run_folder(),
    )
    # The running export has only its folder so far (AWS writes _started first).
    running = max(e for e in import_model.export_model.MODEL.exports)
    folder = f"{run_folder()}/AWSDynamoDB/" + running.rsplit("/", 1)[1] + "/"
    aws["s3"].put_object(Bucket=BUCKET, Key=folder + "_started", Body=b"")
    result = run(aws, "skip-running")
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["exportArn"] == done["ExportArn"]


def test_a_bad_import_is_deleted_and_the_parameter_keeps_the_previous_table(aws):
    export_now(aws)
    good = json.loads(run(aws, "good")["output"])["table"]
    clock.advance(24 * 3600)
    bad = export_now(aws)
    export_id = bad["ExportArn"].rsplit("/", 1)[1]
    folder = f"{run_folder()}/AWSDynamoDB/{export_id}/data/"
    (key,) = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]]
    lines = gzip.decompress(
        aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    ).splitlines()
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b"\n".join(lines[:1]) + b"\n"))
    result = run(aws, "bad")
    assert result["status"] == "FAILED" and result["error"] == "ImportFailed"
    assert "imported 1 item(s), the manifest lists 3" in json.loads(result["cause"])["reason"]
    assert copies(aws) == [good]
    assert current(aws) == good


def test_no_export_fails_the_run(aws):
    result = run(aws, "empty")
    assert result["status"] == "FAILED" and result["error"] == "NoExportFound"


def _export_with_the_exporter(aws: dict[str, Any], *, incremental: bool) -> dict[str, Any]:
    """One scheduled run of the exporter's own machines for orders."""
    if incremental:
        harness.create_state_table(aws["dynamodb"])
    exporter = harness.deploy(
        aws["stepfunctions"],
        bucket=BUCKET,
        tables=["orders"],
        incremental=["orders"] if incremental else (),
    )
    scheduled = f"{clock.now_datetime():%Y-%m-%dT%H:%M:%SZ}"
    described = exporter.run("scheduled", {"scheduledTime": scheduled})
    assert described["status"] == "SUCCEEDED", described
    return described


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental-baseline"])
def test_the_importer_finds_what_the_exporter_wrote_under_the_tables_prefix(aws, incremental):
    _export_with_the_exporter(aws, incremental=incremental)
    kind = "baseline" if incremental else "full"
    written = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=f"exports/orders/{kind}/")
    assert any(o["Key"].endswith("manifest-summary.json") for o in written["Contents"])

    result = run(aws, "after-the-exporter")

    assert result["status"] == "SUCCEEDED", result
    table = json.loads(result["output"])["table"]
    assert current(aws) == table
    assert aws["dynamodb"].describe_table(TableName=table)["Table"]["ItemCount"] == 3


def test_the_newest_run_folder_wins_and_incremental_windows_are_never_imported(aws):
    export_now(aws)
    clock.advance(3 * 24 * 3600)
    newest = export_now(aws)
    # An incremental window is not a run folder: never a candidate, however new.
    aws["s3"].put_object(
        Bucket=BUCKET,
        Key="exports/orders/incremental/2099-01-01-00-00/2099-01-01/AWSDynamoDB/"
        "40700000000000-ffffffff/manifest-summary.json",
        Body=b"{}",
    )
    result = run(aws, "newest")
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["exportArn"] == newest["ExportArn"]


def test_an_import_its_caller_may_not_read_fails_and_publishes_nothing(aws):
    """ImportTable reads the source as its caller: a bucket policy that denies the
    importer's role the data files fails the import itself (the machine may still read
    the manifests), and the parameter keeps naming no table."""
    from emulator.authorization import REGISTRY

    export_now(aws)
    role = harness.importer_role(SPEC)
    REGISTRY.configure_bucket(
        BUCKET,
        owner=harness.ACCOUNT,
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": role},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/*/data/*",
                }
            ],
        },
    )

    result = run(aws, "denied")

    assert result["status"] == "FAILED" and result["error"] == "ImportFailed", result
    (imported,) = import_model.MODEL.imports.values()
    assert imported.failure_code == "S3AccessDenied"
    assert "s3:GetObject" in imported.failure_message
    assert copies(aws) == []
