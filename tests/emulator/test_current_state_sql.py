"""``<table>_current``, executed: the statements of ``table_exporter.current.sql`` run in
the emulator's Athena (``emulator.athena_sql``) against the Glue tables and export files
the deployed table export machine really produced, and the current table is compared
with the live DynamoDB table, item for item. Why windows are never applied out of
order (the protocol, not the SQL) is proven with the real machines in
``test_current_tables.py``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from table_exporter.catalog.schema import Column
from table_exporter.current.sql import (
    CurrentTable,
    Window,
    create_sql,
    merge_window_sql,
    replace_from_baseline_sql,
)

from emulator import athena_sql, change_log, clock, harness

DATABASE = "exports_db"
WORKGROUP = "exports"
BUCKET = "current-exports"
TABLE = "orders"
HOUR = 3600
TARGET = CurrentTable(
    database=DATABASE,
    table_name=TABLE,
    key_columns=(Column("pk", "string"),),
    columns=(Column("qty", "number"),),
    location=f"s3://{BUCKET}/exports/{TABLE}/current/",
)
ROWS = [
    {"pk": {"S": f"o-{i}"}, "qty": {"N": str(i)}, "note": {"S": f"row {i}"}} for i in range(1, 4)
]


# -- helpers ---------------------------------------------------------------------------


class Chain:
    """The deployed exporter for ``orders``, and Athena to keep its current table."""

    def __init__(self, aws: dict[str, Any]) -> None:
        self.ddb = aws["dynamodb"]
        self.athena = boto3.client("athena", region_name=harness.REGION)
        self.exporter = harness.deploy(
            aws["stepfunctions"],
            bucket=BUCKET,
            tables=[TABLE],
            incremental=[TABLE],
            catalog_database=DATABASE,
            athena_workgroup=WORKGROUP,
            columns={TABLE: ["qty:struct<n:string>"]},
        )
        self.runs = 0

    def run(self) -> list[dict[str, Any]]:
        """One scheduled run; the exports it COMPLETED, in order."""
        self.runs += 1
        described = self.exporter.run(f"run-{self.runs}")
        assert described["status"] == "SUCCEEDED", described.get("cause")
        (result,) = described["tables"]
        return list(result["exports"])

    def query(self, sql: str) -> dict[str, Any]:
        started = self.athena.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": DATABASE}, WorkGroup=WORKGROUP
        )
        answer = self.athena.get_query_execution(QueryExecutionId=started["QueryExecutionId"])
        return dict(answer["QueryExecution"])

    def ok(self, sql: str) -> dict[str, Any]:
        execution = self.query(sql)
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get(
            "StateChangeReason"
        )
        return execution

    def apply(self, export: dict[str, Any]) -> dict[str, Any]:
        """What the machine runs after an export COMPLETED."""
        if export["kind"] == "baseline":
            self.ok(create_sql(TARGET))
            return self.ok(replace_from_baseline_sql(TARGET, micros(export["to"])))
        return self.ok(merge_window_sql(TARGET, window(export)))

    def put(self, pk: str, qty: int, **extra: Any) -> None:
        item = {"pk": {"S": pk}, "qty": {"N": str(qty)}, **extra}
        self.ddb.put_item(TableName=TABLE, Item=item)

    def delete(self, pk: str) -> None:
        self.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": pk}})

    def live(self) -> dict[str, dict[str, Any]]:
        items = self.ddb.scan(TableName=TABLE)["Items"]
        return {item["pk"]["S"]: item for item in items}


def micros(iso: str) -> int:
    return change_log.to_micros(iso)


def window(export: dict[str, Any]) -> Window:
    return Window(micros(export["from"]), micros(export["to"]))


def rows() -> list[dict[str, Any]]:
    return athena_sql.current_rows(
        DATABASE,
        "orders_current",
        account=harness.ACCOUNT,
        region=harness.REGION,
        order_by=["pk"],
    )


def current_items() -> dict[str, dict[str, Any]]:
    """The rows as DynamoDB JSON, checking the typed columns agree with the item."""
    out = {}
    for row in rows():
        item = json.loads(row["item_raw"])
        assert row["pk"] == item["pk"]["S"]
        assert row["qty"] == (Decimal(item["qty"]["N"]) if "qty" in item else None)
        out[row["pk"]] = item
    return out


def assert_current_is_live(chain: Chain) -> None:
    assert current_items() == chain.live()


@pytest.fixture
def chain(aws: dict[str, Any]) -> Chain:
    glue = boto3.client("glue", region_name=harness.REGION)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    boto3.client("athena", region_name=harness.REGION).create_work_group(Name=WORKGROUP)
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], TABLE, ROWS)
    harness.create_state_table(aws["dynamodb"])
    clock.advance(HOUR)
    return Chain(aws)


def baseline(chain: Chain) -> dict[str, Any]:
    (export,) = chain.run()
    assert export["kind"] == "baseline"
    chain.apply(export)
    return export


# -- scenarios -------------------------------------------------------------------------


def test_baseline_then_windows_keep_the_current_table_equal_to_the_live_table(
    chain: Chain,
) -> None:
    baseline(chain)
    assert_current_is_live(chain)

    chain.put("o-4", 4, tags={"SS": ["a", "b"]})  # insert, with an undeclared attribute
    chain.put("o-1", 10)  # update (drops "note")
    chain.delete("o-2")  # delete
    clock.advance(2 * HOUR)
    exports = chain.run()
    assert [e["kind"] for e in exports] == ["incremental"]
    for export in exports:
        chain.apply(export)

    assert_current_is_live(chain)
    assert current_items()["o-4"]["tags"] == {"SS": ["a", "b"]}
    assert "o-2" not in {r["pk"] for r in rows()}  # deleted, not a tombstone

    chain.put("o-2", 20)  # a deleted key comes back
    chain.delete("o-4")
    clock.advance(2 * HOUR)
    for export in chain.run():
        chain.apply(export)

    assert_current_is_live(chain)


def test_applying_a_windows_merge_twice_changes_nothing(chain: Chain) -> None:
    baseline(chain)
    chain.put("o-1", 11)
    chain.delete("o-3")
    chain.put("o-9", 9)
    clock.advance(2 * HOUR)
    (export,) = chain.run()
    chain.apply(export)
    once = rows()

    chain.apply(export)  # delivered again

    assert rows() == once
    assert_current_is_live(chain)


def test_a_window_whose_merge_failed_is_retried_and_applied_once(chain: Chain) -> None:
    glue = boto3.client("glue", region_name=harness.REGION)
    baseline(chain)
    chain.put("o-1", 12)
    chain.delete("o-2")
    clock.advance(2 * HOUR)
    (export,) = chain.run()
    before = rows()
    changes = glue.get_table(DatabaseName=DATABASE, Name="orders_changes")["Table"]
    glue.delete_table(DatabaseName=DATABASE, Name="orders_changes")

    failed = chain.query(merge_window_sql(TARGET, window(export)))

    assert failed["Status"]["State"] == "FAILED"
    assert "orders_changes" in failed["Status"]["StateChangeReason"]
    assert rows() == before  # nothing of a failed statement is kept

    keep = ("Name", "TableType", "Parameters", "PartitionKeys", "StorageDescriptor")
    glue.create_table(DatabaseName=DATABASE, TableInput={k: changes[k] for k in keep})
    chain.apply(export)
    chain.apply(export)

    assert_current_is_live(chain)


def test_a_multi_day_catch_up_applies_each_window_in_its_day_partition(chain: Chain) -> None:
    baseline(chain)
    for day in range(3):
        chain.put(f"day-{day}", day)
        chain.put("o-1", 100 + day)
        if day == 1:
            chain.delete("o-3")
        clock.advance(24 * HOUR)

    exports = chain.run()

    assert len(exports) >= 3 and all(e["kind"] == "incremental" for e in exports)
    days = {window(e).day for e in exports}
    assert len(days) >= 3
    scanned = []
    for export in exports:
        execution = chain.apply(export)
        scanned.append(execution["Statistics"]["DataScannedInBytes"])
    assert_current_is_live(chain)
    # Each merge reads its own day's data files only, not every partition's.
    s3 = boto3.client("s3", region_name=harness.REGION)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"exports/{TABLE}/incremental/")["Contents"]
    data = [o for o in listed if "/AWSDynamoDB/data/" in o["Key"]]
    for export, bytes_read in zip(exports, scanned, strict=True):
        day = window(export).day
        assert bytes_read == sum(o["Size"] for o in data if f"/{day}/AWSDynamoDB/data/" in o["Key"])
    assert 0 < max(scanned) < sum(o["Size"] for o in data)


def test_a_rebaseline_replaces_the_table_and_rows_deleted_since_vanish(chain: Chain) -> None:
    baseline(chain)
    chain.put("o-7", 7)
    chain.delete("o-3")
    clock.advance(2 * HOUR)
    for export in chain.run():
        chain.apply(export)
    assert_current_is_live(chain)

    clock.advance(10 * 60)
    change_log.restart_pitr(TABLE)  # a gap: the next run takes a new baseline
    chain.delete("o-7")
    chain.delete("o-1")
    chain.put("o-8", 8)
    clock.advance(2 * HOUR)
    (rebaseline,) = chain.run()
    assert rebaseline["kind"] == "baseline" and rebaseline["replaces"]

    execution = chain.apply(rebaseline)

    assert execution["Statistics"]["DataScannedInBytes"] > 0
    assert_current_is_live(chain)
    # Rows the new baseline lacks are gone.
    assert {r["pk"] for r in rows()} == set(chain.live())
    chain.apply(rebaseline)  # replaying the replacement changes nothing either
    assert_current_is_live(chain)


# -- the emulator's Athena -------------------------------------------------------------------


def test_an_unparsable_statement_fails_the_query_naming_the_parse_error(chain: Chain) -> None:
    execution = chain.query("MERGE INTO orders_current USING WHEN MATCHED")

    status = execution["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith("line 1:")
    assert status["AthenaError"]["ErrorCategory"] == athena_sql.USER_ERROR


def test_a_statement_sqlglot_keeps_only_as_a_command_fails_too() -> None:
    with pytest.raises(athena_sql.QueryFailed, match="cannot parse"):
        athena_sql.parse("VACUUM orders_current")


def test_a_merge_whose_target_row_matches_two_source_rows_fails_as_athena_does(
    chain: Chain,
) -> None:
    baseline(chain)
    before = rows()
    execution = chain.query(
        "MERGE INTO \"orders_current\" AS t USING (SELECT 'o-1' AS pk UNION ALL SELECT 'o-1') AS s "
        "ON t.pk = s.pk WHEN MATCHED THEN DELETE"
    )
    assert execution["Status"]["State"] == "FAILED"
    assert "more than one source row" in execution["Status"]["StateChangeReason"]
    assert rows() == before


def test_merge_into_a_table_that_is_not_iceberg_fails(chain: Chain) -> None:
    baseline(chain)
    execution = chain.query(
        "MERGE INTO orders_latest_raw AS t USING orders_current AS s ON t.item = s.item_raw "
        "WHEN MATCHED THEN DELETE"
    )
    assert execution["Status"]["State"] == "FAILED"
    assert "only for Iceberg tables" in execution["Status"]["StateChangeReason"]


def test_create_table_registers_an_iceberg_table_in_glue(chain: Chain) -> None:
    chain.ok(create_sql(TARGET))
    chain.ok(create_sql(TARGET))  # IF NOT EXISTS

    table = boto3.client("glue", region_name=harness.REGION).get_table(
        DatabaseName=DATABASE, Name="orders_current"
    )["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert table["StorageDescriptor"]["Location"] == TARGET.location
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == TARGET.output_names
    external = create_sql(TARGET).replace("CREATE TABLE", "CREATE EXTERNAL TABLE")
    failed = chain.query(external.replace("orders_current", "other_current"))
    assert failed["Status"]["StateChangeReason"] == (
        "External keyword not supported for table type ICEBERG"
    )


def test_select_results_come_back_through_get_query_results(chain: Chain) -> None:
    baseline(chain)
    execution = chain.ok('SELECT pk, qty FROM "orders_current" ORDER BY pk')
    results = chain.athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    data = [[c.get("VarCharValue") for c in r["Data"]] for r in results["ResultSet"]["Rows"]]
    assert data[0] == ["pk", "qty"]
    assert [d[0] for d in data[1:]] == ["o-1", "o-2", "o-3"]


# -- sqlglot's DuckDB output, fixed where it differs from Trino ---------------------------------


def _value(sql: str) -> Any:
    outcome = athena_sql.run(sql, account=harness.ACCOUNT, region=harness.REGION, database=None)
    assert outcome.state == "SUCCEEDED", outcome.reason
    return outcome.rows[0][0]


def test_transform_values_which_duckdb_lacks_rebuilds_the_map(aws: dict[str, Any]) -> None:
    sql = (
        "SELECT json_format(CAST(transform_values(MAP(ARRAY['a', 'b'], "
        'ARRAY[\'{"S":"x"}\', \'{"N":"1"}\']), (k, v) -> json_parse(v)) AS JSON))'
    )
    assert json.loads(_value(sql)) == {"a": {"S": "x"}, "b": {"N": "1"}}


def test_json_extract_scalar_of_an_object_is_null_as_in_trino(aws: dict[str, Any]) -> None:
    assert _value("SELECT json_extract_scalar('{\"L\":[1]}', '$.L')") is None
    assert _value("SELECT json_extract_scalar('{\"S\":\"x\"}', '$.S')") == "x"
