"""``<table>_current``, kept by the deployed machines: every scenario runs the real run
and table export machines in the emulator (Athena runs the statements, authorisation
on), then compares the current table with the live DynamoDB table, item for item."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest

from emulator import athena_sql, change_log, clock, export_model, harness

DATABASE = "exports_db"
WORKGROUP = "exports"
BUCKET = "current-exports"
TABLE = "orders"
MINUTE, HOUR = 60, 3600
MODEL = export_model.MODEL


def iso(seconds: float) -> str:
    import datetime as dt

    value = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class Setup:
    """The bucket, catalog, workgroup, state table and ``orders`` (3 items), and the
    exporter deployed with ``orders`` (and any ``others``) keeping current tables."""

    def __init__(self, aws: dict[str, Any]) -> None:
        self.aws = aws
        self.ddb = aws["dynamodb"]
        boto3.client("glue", region_name=harness.REGION).create_database(
            DatabaseInput={"Name": DATABASE}
        )
        harness.create_bucket(aws["s3"], BUCKET)
        harness.create_workgroup(aws["athena"], WORKGROUP, BUCKET)
        harness.create_state_table(aws["dynamodb"])
        self.runs = 0

    def deploy(self, *, incremental: bool = True, name: str = "exporter", **options: Any) -> Any:
        options.setdefault("tables", [TABLE])
        options.setdefault("current", options["tables"])
        return harness.deploy(
            self.aws["stepfunctions"],
            name=name,
            bucket=BUCKET,
            incremental=options["tables"] if incremental else [],
            catalog_database=DATABASE,
            athena_workgroup=WORKGROUP,
            **options,
        )

    def put(self, pk: str, qty: int, table: str = TABLE, **extra: Any) -> None:
        item = {"pk": {"S": pk}, "qty": {"N": str(qty)}, **extra}
        self.ddb.put_item(TableName=table, Item=item)

    def delete(self, pk: str, table: str = TABLE) -> None:
        self.ddb.delete_item(TableName=table, Key={"pk": {"S": pk}})


def rows(table: str = TABLE) -> list[dict[str, Any]]:
    return athena_sql.current_rows(
        DATABASE, f"{table}_current", account=harness.ACCOUNT, region=harness.REGION
    )


def current_items(table: str = TABLE, keys: tuple[str, ...] = ("pk",)) -> dict[str, Any]:
    """The current table's rows as DynamoDB JSON items keyed by their key text."""
    out = {}
    for row in rows(table):
        item = json.loads(row["item_raw"])
        key = tuple(next(iter(item[k].values())) for k in keys)
        assert tuple(row[k.lower()] for k in keys) == key
        out[key] = item
    return out


def live(ddb: Any, table: str = TABLE, keys: tuple[str, ...] = ("pk",)) -> dict[str, Any]:
    items = ddb.scan(TableName=table)["Items"]
    return {tuple(next(iter(i[k].values())) for k in keys): i for i in items}


def assert_current_is_live(ddb: Any, table: str = TABLE) -> None:
    assert current_items(table) == live(ddb, table)


@pytest.fixture
def setup(aws: dict[str, Any]) -> Setup:
    return Setup(aws)


def test_smoke(setup: Setup) -> None:
    harness.create_table(setup.ddb, TABLE, [{"pk": {"S": f"o-{i}"}, "qty": {"N": str(i)}} for i in range(3)])
    ex = setup.deploy(columns={TABLE: ["qty:struct<n:string>"]})
    clock.advance(HOUR)
    out = ex.run("one", {"scheduledTime": iso(clock.now())})
    assert out["status"] == "SUCCEEDED", _debug_causes(ex)
    assert_current_is_live(setup.ddb)
    setup.put("o-9", 9)
    setup.delete("o-1")
    clock.advance(2 * HOUR)
    out = ex.run("two", {"scheduledTime": iso(clock.now())})
    assert out["status"] == "SUCCEEDED", _debug_causes(ex)
    assert_current_is_live(setup.ddb)


def _debug_causes(ex: Any) -> list[str]:
    out = []
    for e in ex.table_executions():
        d = ex.sfn.describe_execution(executionArn=e["executionArn"])
        out.append(str(d.get("cause")))
    return out

