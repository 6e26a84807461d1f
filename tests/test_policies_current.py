"""IAM for current tables: the table export role gains, only with current tables, what
the current-table states and the Athena queries they run ask for, on exactly their
resources (the executed proof that it is exactly what is asked for is
``tests/emulator/test_current_tables.py::test_the_role_allows_exactly_what_the_machine_and_athena_ask_for``)."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest
from table_exporter.export.policies import table_export_role_policy
from table_exporter.export.table_machine import (
    Destination,
    IncrementalSpec,
    TableExportSpec,
    table_export_machine,
)
from table_exporter.kernel.targets import AwsScope, ExportTarget, table_arn

from emulator.iam_eval import allowed

SCOPE = AwsScope("aws", "ap-northeast-1", "123456789012")
STATE = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/nightly-state-1a2b3c4"
TARGETS = [ExportTarget(table_arn(n, SCOPE), "exports", current=True) for n in ("orders", "items")]
BUCKET = "exports-bucket"
KEY = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DB, WG = "exports_dev", "nightly-athena-1a2b3c4"
ROLE = "arn:aws:iam::123456789012:role/nightly-optimizer-1a2b3c4"
GLUE = "arn:aws:glue:ap-northeast-1:123456789012:"
WORKGROUP = f"arn:aws:athena:ap-northeast-1:123456789012:workgroup/{WG}"
S3 = f"arn:aws:s3:::{BUCKET}"
CURRENT = "nightly-current-1a2b3c4"
"""The current tables' own bucket."""


def policy(*, current: bool = True, kms: bool = False, incremental: bool = True) -> dict[str, Any]:
    destination = Destination(
        bucket=BUCKET, sse_algorithm="KMS" if kms else "AES256", kms_key_arn=KEY if kms else None
    )
    spec = TableExportSpec(
        destination=destination,
        incremental=IncrementalSpec(state_table=STATE, exporter_name="nightly")
        if incremental
        else None,
        catalog_database=DB,
        athena_workgroup=WG,
        current_tables=current,
        current_optimizer_role_arn=ROLE if current else None,
        current_bucket=CURRENT if current else None,
    )
    return table_export_role_policy(
        SCOPE,
        grants=table_export_machine(spec).grants(),
        targets=TARGETS,
        bucket=BUCKET,
        kms_key_arn=destination.kms_key_arn,
        state_table_arn=STATE if incremental else None,
        catalog_database=DB,
        athena_workgroup=WG,
        current_optimizer_role_arn=ROLE if current else None,
        current_bucket=CURRENT if current else None,
    )


def test_queries_run_only_in_the_exporters_workgroup() -> None:
    found = policy()
    for action in ("StartQueryExecution", "GetQueryExecution", "StopQueryExecution"):
        assert allowed(found, f"athena:{action}", WORKGROUP)
        assert not allowed(found, f"athena:{action}", WORKGROUP.replace(WG, "primary"))
    assert not allowed(found, "athena:GetQueryResults", WORKGROUP)


@pytest.mark.parametrize("suffix", ["_current", "_changes", "_latest_raw"])
def test_athena_reads_exactly_the_three_tables(suffix: str) -> None:
    found = policy()
    assert allowed(found, "glue:GetTable", f"{GLUE}table/{DB}/orders{suffix}")
    assert allowed(found, "glue:GetDatabase", f"{GLUE}database/{DB}")
    assert not allowed(found, "glue:GetTable", f"{GLUE}table/other_db/orders{suffix}")
    assert not allowed(found, "glue:GetTable", f"{GLUE}table/{DB}/orders_latest")
    assert not allowed(found, "glue:GetDatabase", f"{GLUE}table/{DB}/orders{suffix}")


def test_only_current_tables_are_committed_and_optimized() -> None:
    found = policy()
    current = f"{GLUE}table/{DB}/orders_current"
    for action in ("glue:UpdateTable", "glue:CreateTable", "glue:CreateTableOptimizer"):
        assert allowed(found, action, current)
    assert not allowed(found, "glue:CreateTableOptimizer", f"{GLUE}table/{DB}/orders_changes")
    assert not allowed(found, "glue:DeleteTable", current)
    assert not allowed(found, "glue:DeleteTableOptimizer", current)


def test_the_optimizer_role_is_passed_to_glue_only() -> None:
    found = policy()
    glue = {"iam:PassedToService": "glue.amazonaws.com"}
    assert allowed(found, "iam:PassRole", ROLE, glue)
    assert not allowed(found, "iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allowed(found, "iam:PassRole", ROLE)
    assert not allowed(found, "iam:PassRole", ROLE.replace("optimizer", "other"), glue)


def test_objects_read_and_written_where_athena_works_only() -> None:
    found = policy()
    export = f"{S3}/exports/orders/baseline/2026-01-05-03-55/AWSDynamoDB/x/data/a.json.gz"
    assert allowed(found, "s3:GetObject", export)
    for arn in (
        f"arn:aws:s3:::{CURRENT}/exports/orders/data/a.parquet",
        f"{S3}/athena-results/q.txt",
    ):
        assert allowed(found, "s3:PutObject", arn)
        assert not allowed(found, "s3:DeleteObject", arn)
    assert allowed(found, "s3:GetObject", f"arn:aws:s3:::{CURRENT}/exports/orders/metadata/m.json")
    assert not allowed(found, "s3:PutObject", f"arn:aws:s3:::{CURRENT}/other/orders/a.parquet")
    assert not allowed(found, "s3:GetObject", f"{S3}/athena-results/q.txt")
    assert not allowed(found, "s3:PutObject", f"{S3}/run-reports/x")
    listing = {"s3:prefix": "exports/orders/baseline/"}
    assert allowed(found, "s3:ListBucket", S3, listing)
    assert not allowed(found, "s3:ListBucket", S3, {"s3:prefix": "run-reports/"})
    assert allowed(found, "s3:GetBucketLocation", S3)


def test_nothing_is_granted_for_current_tables_without_them() -> None:
    text = json.dumps(policy(current=False))
    for action in ("athena:StartQueryExecution", "glue:GetTable", "iam:PassRole", "s3:GetObject"):
        assert action not in text


def test_kms_is_used_through_s3_only() -> None:
    found = policy(kms=True)
    via = {"kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}
    assert allowed(found, "kms:Decrypt", KEY, via)
    assert not allowed(found, "kms:Decrypt", KEY)


@pytest.mark.parametrize("options", [{}, {"kms": True}, {"incremental": False}])
def test_parliament_finds_nothing(options: dict[str, Any]) -> None:
    analysed = parliament.analyze_policy_string(json.dumps(policy(**options)))
    assert [f.issue for f in analysed.findings] == []
