"""Features combined as a user combines them, executed with every call authorised.

Each scenario builds ``TableExporter`` (change history on, restore drills on) and a
``TableImporter`` through their public API under Pulumi's mocks, exactly as
docs/component.md and docs/restore.md tell a user to, deploys what they registered
into the emulator (definitions, roles and their inline policies, the bucket's policy,
encryption and Bucket Keys, the key policy), then runs: a scheduled export, a restore
drill, the change history of a few writes, and an import of the newest export. With
and without a customer-managed key, with the bucket in the exporter's account and in
another one. Every call must be allowed by the generated policies: nothing is denied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from table_exporter import TableExporter
from table_exporter.destination import account_policies as cross_account
from table_exporter.importer.args import ImporterSpec, KeyAttribute
from table_exporter.importer.component import TableImporter

from emulator import athena_sql, change_stream, clock, component_deploy, harness, import_model
from emulator.authorization import REGISTRY
from emulator.change_stream import ChangePath

OTHER = "210987654321"
PREFIX = "dynamodb-exports"
SCHEDULED = "2026-01-05T03:00:00Z"


def _key(account: str) -> str:
    return f"arn:aws:kms:{harness.REGION}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _build(*, kms: bool, other_account: bool) -> Any:
    from tests.test_history import TableMocks

    key = _key(OTHER if other_account else harness.ACCOUNT) if kms else None
    bucket = "partner-exports" if other_account else component_deploy.Mocks.physical_name("nightly-bucket")
    args: dict[str, Any] = {
        "tables": [{"table": "orders", "change_history": True, "current_table": True}],
        "restore_drill_enabled": True,
        "alarm_emails": ["oncall@example.com"],
    }
    if other_account:
        args |= {"bucket_name": bucket, "bucket_owner": OTHER}
    if key:
        args |= {"sse_algorithm": "KMS", "kms_key_arn": key}

    def build() -> pulumi.Output[Any]:
        exporter = TableExporter("nightly", args)  # type: ignore[arg-type]
        importer = TableImporter(
            "copies",
            ImporterSpec(
                source_bucket=bucket,
                source_prefix=f"{PREFIX}/orders",
                table_prefix="orders-copy-",
                parameter_name="/copies/orders/current",
                partition_key=KeyAttribute("pk", "S"),
                source_bucket_owner=OTHER if other_account else None,
            ),
            kms_key_arn=key,
        )
        return pulumi.Output.all(
            exporter.bucket_name,
            exporter.destination_account_policies(importer_role_arn=importer.role.arn),
            importer.role.arn,
        )

    mocks, (bucket_name, destination, importer_role) = component_deploy.evaluate(
        build, TableMocks()
    )
    return mocks, bucket_name, destination, importer_role, key


@pytest.fixture(autouse=True)
def imports() -> Iterator[None]:
    import_model.MODEL.reset()
    yield
    import_model.MODEL.reset()


@pytest.mark.parametrize("other_account", [False, True], ids=["same-account", "other-account"])
@pytest.mark.parametrize("kms", [False, True], ids=["sse-s3", "kms"])
def test_export_drill_history_and_import_together_with_every_call_authorised(
    aws: dict[str, Any], kms: bool, other_account: bool
) -> None:
    mocks, bucket, destination, importer_role, key = _build(kms=kms, other_account=other_account)
    s3, ddb, sfn = aws["s3"], aws["dynamodb"], aws["stepfunctions"]

    # The bucket as it exists in AWS: the component's own, or the other account's with
    # the policies destination_account_policies() handed over (docs/restore.md).
    if other_account:
        from moto.s3.models import s3_backends

        s3_backends[OTHER]["aws"].create_bucket(bucket, harness.REGION)  # that account's
    else:
        harness.create_bucket(s3, bucket)
    if other_account:
        bucket_arn = f"arn:aws:s3:::{bucket}"
        statements = destination["bucket_policy"]["Statement"] + cross_account.importer_read_statements(
            bucket_arn=bucket_arn, prefixes=[f"{PREFIX}/orders"], principal_arn=importer_role
        )
        REGISTRY.configure_bucket(
            bucket,
            owner=OTHER,
            policy=cross_account.document(statements),
            kms_key_arn=key,
            bucket_key=True,
        )
        if key:
            REGISTRY.put_key_policy(key, destination["key_policy"])
        (reports,) = [b for b in mocks.of_type("aws:s3/bucket:Bucket") if "reports" in b.name]
        harness.create_bucket(s3, mocks.physical_name(reports.name))
        REGISTRY.configure_bucket(mocks.physical_name(reports.name), owner=harness.ACCOUNT)
    # The exporter's own buckets with their policies: the export bucket (same account)
    # and the current tables' bucket (always the exporter's).
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for policy in mocks.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        own = policy.inputs["bucket"]
        if own not in existing:
            harness.create_bucket(s3, own)
        REGISTRY.configure_bucket(
            own,
            owner=harness.ACCOUNT,
            policy=json.loads(policy.inputs["policy"]),
            # The run reports' bucket (another account's exports) is SSE-S3.
            kms_key_arn=None if "reports" in own else key,
            bucket_key=True,
        )
    ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    history = ChangePath(
        s3=s3,
        table="orders",
        stream_arn=change_stream.stream_arn_of(ddb, "orders"),
        bucket=bucket,
        prefix=PREFIX,
        kms_key_arn=key,
        delivery_stream_name=mocks.physical_name(
            _one(mocks, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream").name
        ),
        pipe_arn=component_deploy.arn_of(mocks, _one(mocks, "aws:pipes/pipe:Pipe")),
        delivery_stream_arn=component_deploy.arn_of(
            mocks, _one(mocks, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
        ),
        region=harness.REGION,
    )
    for index in range(4):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"o-{index}"}, "n": {"N": str(index)}})
    clock.advance(600)
    deployed = component_deploy.deploy(sfn, mocks)

    # 1. The scheduled run exports the table and writes its report.
    run = harness.execute(
        sfn, deployed.machine("nightly-run"), "scheduled", {"scheduledTime": SCHEDULED}, 120
    )
    assert run["status"] == "SUCCEEDED", run.get("cause")
    # ... and keeps orders_current (Athena, through the current tables' bucket) equal to it.
    database = _one(mocks, "aws:glue/catalogDatabase:CatalogDatabase").inputs["name"]
    current = athena_sql.current_rows(
        database, "orders_current", account=harness.ACCOUNT, region=harness.REGION
    )
    live = ddb.scan(TableName="orders")["Items"]
    assert {(r["pk"], json.loads(r["item_raw"])["n"]["N"]) for r in current} == {
        (item["pk"]["S"], item["n"]["N"]) for item in live
    }

    # 2. The restore drill imports that export into a scratch table and compares.
    drill_input = component_deploy.schedule_input(mocks, "nightly-drill-schedule-0")
    drill = harness.execute(sfn, deployed.machine("nightly-drill"), "drill", drill_input, 120)
    assert drill["status"] == "SUCCEEDED", drill.get("cause")

    # 3. The change history of the writes reaches S3 through the pipe and Firehose.
    ddb.put_item(TableName="orders", Item={"pk": {"S": "o-9"}, "n": {"N": "9"}})
    clock.advance(900)
    report = history.run()
    assert report.access_denied == 0 and report.lost == 0
    assert report.objects > 0

    # 4. The importer finds the newest export the exporter wrote and imports it.
    imported = harness.execute(sfn, deployed.machine("copies-import"), "import", timeout=120)
    assert imported["status"] == "SUCCEEDED", imported.get("cause")
    table = json.loads(imported["output"])["table"]
    assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] == 4

    assert REGISTRY.denials == []


def _one(mocks: Any, typ: str) -> Any:
    (found,) = mocks.of_type(typ)
    return found
