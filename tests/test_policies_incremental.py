"""IAM for incremental exports and the catalog: evaluated, linted, and no broader."""

from __future__ import annotations

import json

import parliament
import pytest
from table_exporter.export.policies import table_export_role_policy
from table_exporter.export.table_machine import (
    Destination,
    IncrementalSpec,
    TableExportSpec,
    table_export_machine,
)
from table_exporter.kernel.grants import Grants
from table_exporter.kernel.metrics import METRIC_NAMESPACE
from table_exporter.kernel.targets import AwsScope, ExportTarget, table_arn

from emulator.iam_eval import allowed

SCOPE = AwsScope("aws", "ap-northeast-1", "123456789012")
STATE = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/nightly-state-1a2b3c4"
TARGETS = [ExportTarget(table_arn(name, SCOPE), "exports") for name in ("orders", "customers")]
BUCKET = "exports-bucket"


def _grants(
    *,
    state_table_arn: str | None = None,
    catalog_database: str | None = None,
    athena_workgroup: str | None = None,
) -> Grants:
    """What the table export machine built for these options declares it calls."""
    incremental = (
        IncrementalSpec(state_table=state_table_arn, exporter_name="nightly")
        if state_table_arn
        else None
    )
    spec = TableExportSpec(
        destination=Destination(bucket=BUCKET),
        incremental=incremental,
        catalog_database=catalog_database,
        # As the component has it: the workgroup only serves the incremental tables.
        athena_workgroup=athena_workgroup if incremental else None,
    )
    return table_export_machine(spec).grants()


def _policy(**extra: str) -> dict:
    options = {"state_table_arn": STATE, **extra}
    return table_export_role_policy(
        SCOPE, grants=_grants(**options), targets=TARGETS, bucket=BUCKET, **options
    )


CATALOG = {"catalog_database": "exports_dev", "athena_workgroup": "nightly-athena-1a2b3c4"}
CATALOG_WORKGROUP = "arn:aws:athena:ap-northeast-1:123456789012:workgroup/nightly-athena-1a2b3c4"


def test_incremental_calls_are_allowed_on_exactly_their_resources() -> None:
    policy = _policy()
    orders = TARGETS[0].table_arn
    assert allowed(policy, "dynamodb:DescribeContinuousBackups", orders)
    assert allowed(policy, "dynamodb:UpdateItem", STATE)
    assert allowed(
        policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": METRIC_NAMESPACE}
    )
    assert not allowed(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Other"})
    assert not allowed(policy, "dynamodb:UpdateItem", orders)
    assert not allowed(policy, "dynamodb:DeleteItem", STATE)
    assert not allowed(policy, "dynamodb:GetItem", STATE)
    assert not allowed(policy, "dynamodb:UpdateItem", STATE.replace("nightly-state", "other"))
    assert not allowed(
        policy, "dynamodb:DescribeContinuousBackups", table_arn("not-configured", SCOPE)
    )


def test_full_only_policies_grant_nothing_for_incremental_exports() -> None:
    policy = table_export_role_policy(SCOPE, grants=_grants(), targets=TARGETS, bucket=BUCKET)
    assert not allowed(policy, "dynamodb:DescribeContinuousBackups", TARGETS[0].table_arn)
    assert not allowed(
        policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": METRIC_NAMESPACE}
    )
    assert "glue:UpdateTable" not in json.dumps(policy)


def test_resources_are_granted_only_for_the_calls_the_machine_makes() -> None:
    # Named, but the full-only machine calls none of them: nothing is granted on them.
    policy = table_export_role_policy(
        SCOPE,
        grants=_grants(),
        targets=TARGETS,
        bucket=BUCKET,
        state_table_arn=STATE,
        **CATALOG,
    )
    assert not allowed(policy, "dynamodb:UpdateItem", STATE)
    assert not allowed(
        policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": METRIC_NAMESPACE}
    )
    assert not allowed(policy, "athena:CreateNamedQuery", CATALOG_WORKGROUP)
    assert not allowed(policy, "dynamodb:DescribeContinuousBackups", TARGETS[0].table_arn)
    assert {s["Sid"] for s in policy["Statement"]} == {
        "ExportConfiguredTables",
        "WriteExportObjects",
        "DeliverExecutionLogs",
    }


def test_calls_on_resources_the_policy_is_not_given_are_refused() -> None:
    # The incremental machine's watermark writes need the state table's ARN.
    with pytest.raises(ValueError, match="KeepWatermarks"):
        table_export_role_policy(
            SCOPE, grants=_grants(state_table_arn=STATE), targets=TARGETS, bucket=BUCKET
        )


def test_catalog_calls_are_scoped_to_the_exporters_database_and_workgroup() -> None:
    policy = _policy(**CATALOG)
    glue = "arn:aws:glue:ap-northeast-1:123456789012:"
    for action in ("glue:UpdateTable", "glue:CreateTable"):
        assert allowed(policy, action, f"{glue}catalog")
        assert allowed(policy, action, f"{glue}database/exports_dev")
        assert allowed(policy, action, f"{glue}table/exports_dev/orders_latest")
        assert not allowed(policy, action, f"{glue}table/other_db/orders_latest")
        assert not allowed(policy, action, f"{glue}database/other_db")
    assert not allowed(policy, "glue:DeleteTable", f"{glue}table/exports_dev/orders_latest")
    assert allowed(policy, "dynamodb:DescribeTable", TARGETS[0].table_arn)
    workgroup = "arn:aws:athena:ap-northeast-1:123456789012:workgroup/"
    assert allowed(policy, "athena:CreateNamedQuery", workgroup + "nightly-athena-1a2b3c4")
    assert not allowed(policy, "athena:CreateNamedQuery", workgroup + "primary")
    assert not allowed(policy, "athena:StartQueryExecution", workgroup + "nightly-athena-1a2b3c4")


@pytest.mark.parametrize("extra", [{}, CATALOG], ids=["incremental", "incremental+catalog"])
def test_parliament_finds_nothing(extra: dict) -> None:
    analysed = parliament.analyze_policy_string(json.dumps(_policy(**extra)))
    assert [f.issue for f in analysed.findings] == []
