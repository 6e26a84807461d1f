"""Current tables through the public API, under Pulumi mocks: what ``current_table``
adds to the exporter (the optimizer role, the merge alarm, the dashboard's Athena
widgets, cross-account statements) and what it leaves out when off."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pulumi
import pytest
from table_exporter import TableExporter, TableExporterArgs
from table_exporter.export.dashboard import plotted_metrics
from table_exporter.kernel.metrics import is_published

from emulator.iam_eval import allowed, service_may_assume
from emulator.pulumi_mocks import ACCOUNT, REGION, RecordingMocks

OTHER_ACCOUNT = "210987654321"
TABLES: TableExporterArgs = {
    "tables": [
        {"table": "orders", "current_table": True},
        {"table": "customers", "prefix": "crm"},
    ],
    "export_type": "INCREMENTAL_EXPORT",
}


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, preview=False)
    return recording


def _deployed(mocks: RecordingMocks, args: TableExporterArgs, check: Any) -> pulumi.Output[Any]:
    exporter = TableExporter("nightly", args)
    return pulumi.Output.all(
        exporter.run_state_machine_arn,
        exporter.alarm_arns,
        exporter.bucket_name,
        exporter.dashboard.id if exporter.dashboard is not None else None,
    ).apply(lambda v: check(mocks, exporter, v[2]))


def _named(mocks: RecordingMocks, typ: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in mocks.of_type(typ)}


@pulumi.runtime.test
def test_a_current_table_gets_a_role_for_glue_optimizers_scoped_to_its_current_folder(
    mocks: RecordingMocks,
):
    def check(m: RecordingMocks, _: TableExporter, bucket: str) -> None:
        role = _named(m, "aws:iam/role:Role")["nightly-current-optimizer"]
        trust = json.loads(role["assumeRolePolicy"])
        arn = f"arn:aws:iam::{ACCOUNT}:role/nightly-current-optimizer"
        assert service_may_assume(trust, "glue.amazonaws.com", arn, {"aws:SourceAccount": ACCOUNT})
        assert not service_may_assume(
            trust, "glue.amazonaws.com", arn, {"aws:SourceAccount": OTHER_ACCOUNT}
        )
        policy = json.loads(
            _named(m, "aws:iam/rolePolicy:RolePolicy")["nightly-current-optimizer-policy"]["policy"]
        )
        findings = parliament.analyze_policy_string(json.dumps(policy)).findings
        assert findings == [], findings
        current = f"arn:aws:s3:::{m.physical_name('nightly-current')}"
        assert allowed(
            policy, "s3:DeleteObject", f"{current}/dynamodb-exports/orders/data/a.parquet"
        )
        assert not allowed(policy, "s3:PutObject", f"{current}/crm/customers/data/a.parquet")
        exports = f"arn:aws:s3:::{bucket}/dynamodb-exports"
        assert not allowed(policy, "s3:DeleteObject", f"{exports}/orders/baseline/x.json.gz")
        assert not allowed(policy, "s3:GetObject", f"{exports}/orders/baseline/x.json.gz")
        database = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/nightly_dynamodb_exports"
        assert allowed(policy, "glue:UpdateTable", f"{database}/orders_current")
        assert not allowed(policy, "glue:UpdateTable", f"{database}/orders_latest")

    return _deployed(mocks, TABLES, check)


@pulumi.runtime.test
def test_failed_merges_alarm_and_the_dashboard_shows_merge_duration_and_bytes_scanned(
    mocks: RecordingMocks,
):
    def check(m: RecordingMocks, _: TableExporter, __: str) -> None:
        alarm = _named(m, "aws:cloudwatch/metricAlarm:MetricAlarm")[
            "nightly-alarm-current-merge-failed"
        ]
        assert (alarm["namespace"], alarm["metricName"]) == ("AWS/Athena", "TotalExecutionTime")
        dimensions = alarm["dimensions"]
        assert dimensions["QueryType"] == "DML" and dimensions["QueryState"] == "FAILED"
        assert dimensions["WorkGroup"]
        assert is_published("AWS/Athena", "WorkGroup", alarm["metricName"])
        board = json.loads(
            m.of_type("aws:cloudwatch/dashboard:Dashboard")[0].inputs["dashboardBody"]
        )
        plotted = plotted_metrics(board)
        assert ("AWS/Athena", "TotalExecutionTime", "WorkGroup") in plotted
        assert ("AWS/Athena", "ProcessedBytes", "WorkGroup") in plotted
        for namespace, metric, dimension in plotted:
            assert is_published(namespace, dimension, metric)

    return _deployed(mocks, TABLES, check)


@pulumi.runtime.test
def test_without_current_tables_nothing_of_them_is_created(mocks: RecordingMocks):
    def check(m: RecordingMocks, exporter: TableExporter, _: str) -> None:
        assert "nightly-current-optimizer" not in _named(m, "aws:iam/role:Role")
        assert "nightly-alarm-current-merge-failed" not in _named(
            m, "aws:cloudwatch/metricAlarm:MetricAlarm"
        )
        board = json.loads(
            m.of_type("aws:cloudwatch/dashboard:Dashboard")[0].inputs["dashboardBody"]
        )
        assert not [p for p in plotted_metrics(board) if p[0] == "AWS/Athena"]
        assert exporter.current_optimizer_role is None

    plain: TableExporterArgs = {**TABLES, "tables": [{"table": "orders"}]}
    return _deployed(mocks, plain, check)


@pulumi.runtime.test
def test_a_bucket_in_another_account_lets_athena_read_exports_and_write_results_only(
    mocks: RecordingMocks,
):
    args: TableExporterArgs = {**TABLES, "bucket_name": "exports", "bucket_owner": OTHER_ACCOUNT}
    exporter = TableExporter("nightly", args)

    def check(documents: dict[str, Any]) -> None:
        statements = {s["Sid"]: s for s in documents["bucket_policy"]["Statement"]}
        reads = statements["CurrentTablesReadExports"]
        assert reads["Resource"] == ["arn:aws:s3:::exports/dynamodb-exports/*"]
        assert reads["Action"] == ["s3:GetObject"]
        results = statements["CurrentTablesWriteQueryResults"]
        assert results["Resource"] == ["arn:aws:s3:::exports/athena-results/*"]
        assert not any("DeleteObject" in s["Action"] for s in statements.values())

    return exporter.destination_account_policies().apply(check)
