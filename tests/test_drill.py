"""Restore drill and table importer: definitions against botocore, their roles' policies
(IAM evaluation and parliament), the cross-account statements, and the importer
component under Pulumi's mocks."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import parliament
import pulumi
import pytest
from table_exporter.destination import account_policies as cross_account
from table_exporter.drill.machine import (
    DrillSpec,
    drill_alarm_specs,
    drill_definition,
    drill_machine,
    drill_role_policy,
)
from table_exporter.importer.args import ImporterSpec, KeyAttribute
from table_exporter.importer.component import TableImporter
from table_exporter.importer.machine import import_definition, import_machine, importer_role_policy

from emulator.iam_eval import allowed
from emulator.pulumi_mocks import RecordingMocks
from tests.sdk_models import check_task, task_states

REGION = "eu-west-1"
ACCOUNT = "123456789012"
DEST = "210987654321"
TABLES = [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}" for t in ("orders", "customers")]
KMS = f"arn:aws:kms:{REGION}:{DEST}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DRILL = DrillSpec(bucket="exports-bucket", table_prefix="nightly-drill-")
IMPORTER = ImporterSpec(
    source_bucket="copies-bucket",
    source_prefix="exports/orders",
    table_prefix="orders-copy-",
    parameter_name="/copies/orders/current",
    partition_key=KeyAttribute("pk"),
    sort_key=KeyAttribute("sk", "N"),
    keep=3,
    source_bucket_owner=DEST,
)
VARIANTS = {
    "drill": drill_definition(DRILL),
    "drill+owner": drill_definition(
        DrillSpec(bucket="exports-bucket", table_prefix="d-", bucket_owner=DEST)
    ),
    "drill[aws-cn]": drill_definition(
        DrillSpec(bucket="exports-bucket", table_prefix="d-", partition="aws-cn")
    ),
    "import": import_definition(IMPORTER),
}


def _lint(document: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (f.issue, f.detail) for f in parliament.analyze_policy_string(json.dumps(document)).findings
    ]


@pytest.mark.parametrize(
    ("variant", "path"),
    [(v, p) for v, d in VARIANTS.items() for p, _ in task_states(d)],
)
def test_every_task_matches_botocore(variant: str, path: str) -> None:
    state = dict(task_states(VARIANTS[variant]))[path]
    partition = "aws-cn" if "aws-cn" in variant else "aws"
    assert check_task(state, partition=partition) == []


def test_the_drill_creates_and_deletes_only_scratch_tables() -> None:
    from table_exporter.drill import grants as on

    writes = {"dynamodb:DeleteTable", "dynamodb:ImportTable", "dynamodb:CreateTable"}
    granted = drill_machine(DRILL).grants()
    assert {r for r, actions in granted.items() if writes & set(actions)} == {on.SCRATCH_TABLES}
    assert granted[on.SOURCE_TABLES] == ("dynamodb:DescribeTable",)


def test_the_importer_asks_of_the_exports_what_their_bucket_policy_grants_it() -> None:
    # A bucket in a third account grants the importer IMPORTER_READS: its states must
    # ask for no more (and the statements are the same either way).
    grants = import_machine(IMPORTER).grants()
    asked = {r: a for r, a in grants.items() if r in cross_account.IMPORTER_READS}
    assert asked == cross_account.IMPORTER_READS


def test_every_state_before_the_cleanup_is_caught_into_it() -> None:
    states = VARIANTS["drill"]["States"]
    cleanup_path = {
        "DrillError", "DeleteScratchTable", "ScratchTableGone", "ScratchTableNotDeleted",
        "ComposeReport", "WriteReport", "DrillPassed", "DrillSucceeded", "DrillFailed",
        "ReportNotWritten", "SweepLeftovers",
    }  # fmt: skip
    for name, state in states.items():
        if state["Type"] == "Task" and name not in cleanup_path:
            assert any(c["ErrorEquals"] == ["States.ALL"] and c["Next"] == "DrillError"
                       for c in state["Catch"]), name  # fmt: skip


def test_the_import_bound_and_the_cleanup_fit_inside_the_machine_timeout() -> None:
    definition = VARIANTS["drill"]
    retry = definition["States"]["DeleteScratchTable"]["Retry"][0]
    assert retry["ErrorEquals"] == ["DynamoDb.ResourceInUseException"]
    waits, delay = 0, retry["IntervalSeconds"]
    for _ in range(retry["MaxAttempts"]):
        waits += delay
        delay = min(retry["MaxDelaySeconds"], delay * retry["BackoffRate"])
    assert waits >= DRILL.cleanup_seconds
    budget = DRILL.import_timeout_seconds + DRILL.poll.max_seconds + waits
    assert budget < definition["TimeoutSeconds"] - 1800


def test_the_drill_role_creates_and_deletes_only_its_own_tables_and_never_touches_sources() -> None:
    policy = drill_role_policy(
        DRILL, region=REGION, account_id=ACCOUNT, table_arns=TABLES, kms_key_arn=KMS
    )
    assert _lint(policy) == []
    scratch = (
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/nightly-drill-orders-20260105T030000-ab12cd34"
    )
    for action in ("dynamodb:ImportTable", "dynamodb:DeleteTable", "dynamodb:DescribeTable"):
        assert allowed(policy, action, scratch)
    assert allowed(policy, "dynamodb:DescribeImport", scratch + "/import/01767582600000-10242ca0")
    for table in TABLES:
        assert allowed(policy, "dynamodb:DescribeTable", table)
        assert allowed(policy, "dynamodb:DescribeExport", table + "/export/01767582000000-0fd2399e")
        for action in (
            "dynamodb:ImportTable", "dynamodb:DeleteTable", "dynamodb:Scan", "dynamodb:Query",
            "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem", "dynamodb:UpdateTable", "dynamodb:RestoreTableToPointInTime",
            "dynamodb:ExportTableToPointInTime",
        ):  # fmt: skip
            assert not allowed(policy, action, table), (action, table)
    other = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payments"
    assert not allowed(policy, "dynamodb:ImportTable", other)
    assert not allowed(policy, "dynamodb:DeleteTable", other)
    assert allowed(
        policy, "s3:PutObject", "arn:aws:s3:::exports-bucket/drill-reports/orders/x.json"
    )
    assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::exports-bucket/exports/orders/x.json")


def test_the_import_role_policy_passes_parliament_and_is_scoped() -> None:
    policy = importer_role_policy(IMPORTER, region=REGION, account_id=DEST, kms_key_arn=KMS)
    assert _lint(policy) == []
    mine = f"arn:aws:dynamodb:{REGION}:{DEST}:table/orders-copy-20260105T030000"
    assert allowed(policy, "dynamodb:ImportTable", mine)
    assert allowed(policy, "dynamodb:DeleteTable", mine)
    assert not allowed(
        policy, "dynamodb:DeleteTable", f"arn:aws:dynamodb:{REGION}:{DEST}:table/orders"
    )
    assert allowed(
        policy, "ssm:PutParameter", f"arn:aws:ssm:{REGION}:{DEST}:parameter/copies/orders/current"
    )
    assert allowed(
        policy,
        "s3:ListBucket",
        "arn:aws:s3:::copies-bucket",
        {"s3:prefix": "exports/orders/AWSDynamoDB/"},
    )
    assert not allowed(
        policy, "s3:ListBucket", "arn:aws:s3:::copies-bucket", {"s3:prefix": "other/"}
    )
    assert allowed(
        policy,
        "s3:GetObject",
        "arn:aws:s3:::copies-bucket/exports/orders/AWSDynamoDB/x/data/a.json.gz",
    )
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::copies-bucket/private/a")
    assert allowed(policy, "kms:Decrypt", KMS)


EXPORTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/nightly-table-export-role-1a2b3c4"
IMPORTER_ROLE = f"arn:aws:iam::{DEST}:role/orders-import-role-1a2b3c4"


def test_cross_account_statements_pass_parliament_with_zero_findings() -> None:
    bucket = "arn:aws:s3:::copies-bucket"
    documents = {
        "bucket": cross_account.document(
            cross_account.destination_bucket_statements(
                bucket_arn=bucket, prefixes=["exports"], exporter_role_arn=EXPORTER_ROLE
            )
        ),
        "key": cross_account.document(
            cross_account.kms_key_statements(
                key_arn=KMS,
                region=REGION,
                exporter_role_arn=EXPORTER_ROLE,
                importer_role_arn=IMPORTER_ROLE,
            )
        ),
        "reader": cross_account.document(
            cross_account.importer_read_statements(
                bucket_arn=bucket, prefixes=["exports"], kms_key_arn=KMS
            )
        ),
        "reader-bucket-policy": cross_account.document(
            cross_account.importer_read_statements(
                bucket_arn=bucket, prefixes=["exports"], principal_arn=IMPORTER_ROLE
            )
        ),
    }
    for name, document in documents.items():
        assert _lint(document) == [], name


def test_the_destination_bucket_lets_the_exporter_write_exports_only() -> None:
    (statement,) = cross_account.destination_bucket_statements(
        bucket_arn="arn:aws:s3:::copies-bucket", prefixes=["exports"], exporter_role_arn=EXPORTER_ROLE
    )
    assert statement["Principal"] == {"AWS": EXPORTER_ROLE}
    assert sorted(statement["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:PutObject",
        "s3:PutObjectAcl",
    ]
    assert statement["Resource"] == ["arn:aws:s3:::copies-bucket/exports/*"]
    with pytest.raises(ValueError):
        cross_account.destination_bucket_statements(
            bucket_arn="copies-bucket", prefixes=["exports"], exporter_role_arn=EXPORTER_ROLE
        )


def test_key_statements_work_only_through_s3_in_the_region() -> None:
    statements = cross_account.kms_key_statements(
        key_arn=KMS, region=REGION, exporter_role_arn=EXPORTER_ROLE, importer_role_arn=IMPORTER_ROLE
    )
    assert {s["Sid"] for s in statements} == {"ExporterEncryptsExports", "ImporterDecryptsExports"}
    for statement in statements:
        assert statement["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
        }


def test_alarm_specs() -> None:
    roles = [s.role for s in drill_alarm_specs()]
    assert roles == ["drill-failed", "drill-timed-out", "drill-aborted", "drill-stale"]
    stale = drill_alarm_specs(window_hours=168)[-1]
    assert stale.period_seconds * stale.evaluation_periods == 604_800


def test_specs_refuse_what_aws_would() -> None:
    with pytest.raises(ValueError):
        DrillSpec(bucket="b", table_prefix="x" * 101)
    with pytest.raises(ValueError):
        DrillSpec(bucket="b", table_prefix="bad/prefix")
    with pytest.raises(ValueError):
        ImporterSpec(
            source_bucket="b", source_prefix="p", table_prefix="t-", parameter_name="no-slash",
            partition_key=KeyAttribute("pk"),
        )  # fmt: skip
    with pytest.raises(ValueError):
        KeyAttribute("pk", "BOOL")


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, preview=False)
    return recording


@pulumi.runtime.test
def test_the_importer_component_deploys_its_machine_parameter_schedule_and_alarms(
    mocks: RecordingMocks,
):
    importer = TableImporter("orders", IMPORTER, schedule_expression="cron(0 7 * * ? *)")

    def check(_: Any) -> None:
        (machine,) = mocks.of_type("aws:sfn/stateMachine:StateMachine")
        assert json.loads(machine.inputs["definition"]) == import_definition(IMPORTER)
        (parameter,) = mocks.of_type("aws:ssm/parameter:Parameter")
        assert parameter.inputs["name"] == "/copies/orders/current"
        (schedule,) = mocks.of_type("aws:scheduler/schedule:Schedule")
        assert schedule.inputs["scheduleExpression"] == "cron(0 7 * * ? *)"
        alarms = mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        assert {a.name for a in alarms} == {
            "orders-alarm-import-failed",
            "orders-alarm-import-stale",
        }
        policies = [
            json.loads(p.inputs["policy"]) for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
        ]
        assert [_lint(p) for p in policies] == [[] for _ in policies]
        children = [r for r in mocks.resources if r.typ != "table-exporter:index:TableImporter"]
        assert children and all(r.name.startswith("orders-") for r in children)
        # Scheduler may assume its role only for this account's schedule group.
        (scheduler,) = [r for r in mocks.of_type("aws:iam/role:Role") if "scheduler" in r.name]
        trust = json.loads(scheduler.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Condition"]["StringEquals"]["aws:SourceArn"].endswith(
            ":schedule-group/default"
        )
        assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]

    return pulumi.Output.all(
        importer.state_machine.arn, importer.schedule.arn, *[a.arn for a in importer.alarms]
    ).apply(check)


def test_the_importer_policy_refuses_a_resource_its_role_does_not_have(monkeypatch) -> None:
    """A state asking for a resource the role names nothing for is never dropped silently."""
    from table_exporter.importer import machine as importer_module
    from table_exporter.kernel.grants import Grant, Resource

    mystery: Resource[object] = Resource("Mystery", lambda _role: [])
    machine = importer_module.import_machine(IMPORTER)
    machine.tasks()[0].grants = (*machine.tasks()[0].grants, Grant(mystery, ("s3:GetObject",)))
    monkeypatch.setattr(importer_module, "import_machine", lambda spec: machine)
    with pytest.raises(ValueError, match="need Mystery, but this ImporterRole names no resources"):
        importer_role_policy(IMPORTER, region="ap-northeast-1", account_id="123456789012")


BUCKET_KEY_CONTEXT = "arn:aws:s3:::exports-bucket"
"""With S3 Bucket Keys, S3 asks KMS with the bucket's ARN as ``aws:s3:arn``."""


@pytest.mark.parametrize(
    "s3_arn",
    [BUCKET_KEY_CONTEXT, "arn:aws:s3:::exports-bucket/drill-reports/orders/x.json"],
    ids=["bucket-key", "object-key"],
)
def test_the_drill_role_may_encrypt_its_report_into_an_sse_kms_bucket(s3_arn: str) -> None:
    policy = drill_role_policy(
        DRILL, region=REGION, account_id=ACCOUNT, table_arns=TABLES, kms_key_arn=KMS
    )
    through_s3 = {
        "kms:ViaService": f"s3.{REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": s3_arn,
    }
    assert allowed(policy, "kms:GenerateDataKey", KMS, through_s3)
    assert allowed(policy, "kms:Decrypt", KMS, through_s3)
    assert not allowed(
        policy,
        "kms:GenerateDataKey",
        KMS,
        {
            "kms:ViaService": f"s3.{REGION}.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::other-bucket",
        },
    )
    assert not allowed(
        policy, "kms:GenerateDataKey", KMS, {"kms:EncryptionContext:aws:s3:arn": s3_arn}
    )


@pytest.mark.parametrize("count", [60, 1000])
def test_the_drill_role_fits_iams_inline_policy_limit_and_still_reaches_every_table(
    count: int,
) -> None:
    from table_exporter.kernel.policies import INLINE_POLICY_LIMIT

    tables = [
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/tenant-{i:04d}-orders-by-customer-2024"
        for i in range(count)
    ]
    policy = drill_role_policy(
        DRILL, region=REGION, account_id=ACCOUNT, table_arns=tables, kms_key_arn=KMS
    )
    text = json.dumps(policy, indent=2)
    assert sum(1 for c in text if not c.isspace()) <= INLINE_POLICY_LIMIT
    for table in (tables[0], tables[-1]):
        assert allowed(policy, "dynamodb:DescribeTable", table)
        assert allowed(policy, "dynamodb:DescribeExport", table + "/export/01767582000000-0fd2399e")
        assert not allowed(policy, "dynamodb:DeleteTable", table)


@pytest.mark.parametrize(
    ("source_prefix", "keys"),
    [("exports/orders", "exports/orders/"), ("", "")],
    ids=["under-a-prefix", "bucket-root"],
)
def test_the_importer_may_list_and_read_the_exports_wherever_its_source_is(
    source_prefix: str, keys: str
) -> None:
    spec = dataclasses.replace(IMPORTER, source_prefix=source_prefix)
    policy = importer_role_policy(spec, region=REGION, account_id=ACCOUNT)
    bucket = "arn:aws:s3:::copies-bucket"
    listing = {"s3:prefix": f"{keys}full/"}

    assert allowed(policy, "s3:ListBucket", bucket, listing)
    assert allowed(policy, "s3:GetObject", f"{bucket}/{keys}full/2026-01-01/manifest-summary.json")
    assert not allowed(policy, "s3:PutObject", f"{bucket}/{keys}full/x")
    if keys:
        assert not allowed(policy, "s3:GetObject", f"{bucket}/elsewhere/x")
        assert not allowed(policy, "s3:ListBucket", bucket, {"s3:prefix": "elsewhere/"})
