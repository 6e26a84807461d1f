"""``<table>_current``, kept by the deployed machines: every scenario runs the real run
and table export machines in the emulator (Athena runs the statements, authorisation
on), then compares the current table with the live DynamoDB table, item for item."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from table_exporter.catalog.schema import Column
from table_exporter.current import states
from table_exporter.current.sql import (
    CurrentTable,
    Window,
    create_sql,
    merge_window_sql,
    replace_sql,
    templates,
)
from table_exporter.kernel.asl import Pass, Task, jsonata

from emulator import athena_sql, change_log, clock, export_model, harness, sfn_fidelity

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


def run(ex: Any, name: str) -> dict[str, Any]:
    """A scheduled run now; the table's result (the run must succeed)."""
    described = ex.run(name, {"scheduledTime": iso(clock.now())})
    assert described["status"] == "SUCCEEDED", causes(ex)
    (result,) = [t for t in described["tables"] if t["table"] == TABLE]
    return dict(result)


def causes(ex: Any) -> list[str]:
    """The causes of the table export executions that failed."""
    out = []
    for e in ex.table_executions():
        d = ex.sfn.describe_execution(executionArn=e["executionArn"])
        if d["status"] == "FAILED":
            out.append(str(d.get("cause")))
    return out


def state_item(ddb: Any) -> dict[str, Any]:
    arn = harness.SCOPE.arn("dynamodb", f"table/{TABLE}")
    found = ddb.get_item(TableName="exporter-state", Key={"pk": {"S": arn}}, ConsistentRead=True)
    return {k: next(iter(v.values())) for k, v in found.get("Item", {}).items()}


ITEMS = [{"pk": {"S": f"o-{i}"}, "qty": {"N": str(i)}, "note": {"S": f"row {i}"}} for i in range(3)]


@pytest.fixture
def chain(setup: Setup) -> Any:
    """``orders`` (3 items) and its exporter, incremental, keeping ``orders_current``;
    exports take two minutes."""
    harness.create_table(setup.ddb, TABLE, ITEMS)
    MODEL.behave(TABLE, duration_seconds=2 * MINUTE)
    ex = setup.deploy(columns={TABLE: ["qty:struct<n:string>", "tags:struct<ss:array<string>>"]})
    clock.advance(HOUR)
    (baseline,) = run(ex, "baseline")["exports"]
    assert baseline["kind"] == "baseline"
    assert_current_is_live(setup.ddb)
    return ex


# -- incremental tables -----------------------------------------------------------------


def test_windows_insert_update_and_really_delete(setup: Setup, chain: Any) -> None:
    setup.put("o-4", 4, tags={"SS": ["a", "b"]})
    setup.put("o-1", 10)
    setup.delete("o-2")
    clock.advance(2 * HOUR)

    out = run(chain, "window")

    assert [e["kind"] for e in out["exports"]] == ["incremental"]
    assert_current_is_live(setup.ddb)
    assert sorted(r["pk"] for r in rows()) == ["o-0", "o-1", "o-4"]  # no tombstone row
    assert {r["pk"]: r["tags"] for r in rows()}["o-4"] == ["a", "b"]

    setup.put("o-2", 20)  # a deleted key comes back
    setup.delete("o-4")
    clock.advance(2 * HOUR)
    run(chain, "again")
    assert_current_is_live(setup.ddb)


def test_a_failed_export_then_a_success_leaves_the_table_equal(setup: Setup, chain: Any) -> None:
    setup.put("o-5", 5)
    clock.advance(2 * HOUR)
    MODEL.behave(TABLE, duration_seconds=2 * MINUTE, fail_code="UNKNOWN")
    failed = chain.run("failing", {"scheduledTime": iso(clock.now())})
    assert failed["status"] == "FAILED"
    MODEL.behave(TABLE, duration_seconds=2 * MINUTE)
    setup.delete("o-0")
    clock.advance(HOUR)

    run(chain, "recovering")

    assert_current_is_live(setup.ddb)


def test_a_multi_day_outage_is_caught_up_in_one_run(setup: Setup, chain: Any) -> None:
    for step in range(6):
        clock.advance(11 * HOUR)
        setup.put(f"day-{step}", step)
        setup.put("o-1", 100 + step)
        if step == 2:
            setup.delete("o-2")
    clock.advance(HOUR)  # the last writes are older than the latest restorable time

    out = run(chain, "after-outage")

    assert len(out["exports"]) >= 3
    assert_current_is_live(setup.ddb)


def test_overlapping_runs_merge_each_window_once(setup: Setup, chain: Any) -> None:
    for step in range(4):
        clock.advance(5 * HOUR)
        setup.put(f"busy-{step}", step)
    setup.delete("o-1")
    clock.advance(HOUR)
    MODEL.behave(TABLE, duration_seconds=14 * MINUTE)

    first = chain.start("together-a", {"scheduledTime": iso(clock.now())})
    second = chain.start("together-b", {"scheduledTime": iso(clock.now() + 1)})
    outs = [chain.wait(arn) for arn in (first, second)]

    assert all(o["status"] == "SUCCEEDED" for o in outs)
    statuses = sorted(t["status"] for o in outs for t in o["tables"])
    assert statuses == ["COMPLETED", "SKIPPED"]
    assert_current_is_live(setup.ddb)


def test_a_pitr_gap_rebaselines_and_replaces_the_table(setup: Setup, chain: Any) -> None:
    setup.put("o-7", 7)
    clock.advance(2 * HOUR)
    run(chain, "window")
    clock.advance(10 * MINUTE)
    change_log.restart_pitr(TABLE)
    setup.delete("o-7")
    setup.delete("o-1")
    setup.put("o-8", 8)
    clock.advance(2 * HOUR)

    (rebaseline,) = run(chain, "after-gap")["exports"]

    assert rebaseline["kind"] == "baseline" and rebaseline["replaces"]
    assert_current_is_live(setup.ddb)


def test_a_duplicate_delivery_of_a_run_changes_nothing(setup: Setup, chain: Any) -> None:
    setup.put("o-3", 3)
    setup.delete("o-0")
    clock.advance(2 * HOUR)
    scheduled = iso(clock.now())
    chain.run("delivery-1", {"scheduledTime": scheduled})
    once = rows()

    again = chain.run("delivery-2", {"scheduledTime": scheduled})

    assert again["status"] == "SUCCEEDED"
    assert rows() == once
    assert_current_is_live(setup.ddb)


def test_a_run_killed_after_its_merge_is_merged_again_by_the_next(
    setup: Setup, chain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup.put("o-6", 6)
    setup.delete("o-2")
    clock.advance(2 * HOUR)
    before = state_item(setup.ddb)["watermark"]
    original = athena_sql.run

    def then_lose_record_window(sql: str, **kwargs: Any) -> Any:
        outcome = original(sql, **kwargs)
        if sql.startswith("MERGE") and "_changes" in sql and outcome.state == "SUCCEEDED":
            # The next UpdateItem is RecordWindow's: it fails as if the run died there.
            sfn_fidelity.FAULTS.inject("dynamodb", "UpdateItem", "ValidationException")
        return outcome

    monkeypatch.setattr(athena_sql, "run", then_lose_record_window)
    died = chain.run("dies", {"scheduledTime": iso(clock.now())})
    monkeypatch.setattr(athena_sql, "run", original)

    assert died["status"] == "FAILED"
    assert state_item(setup.ddb)["watermark"] == before  # merged, not recorded
    merged = rows()
    assert_current_is_live(setup.ddb)
    setup.put("o-9", 9)
    clock.advance(HOUR)

    (window,) = run(chain, "next")["exports"]

    assert window["from"] == before  # the same window's start, merged again
    assert_current_is_live(setup.ddb)
    assert {r["pk"]: r for r in rows() if r["pk"] != "o-9"} == {r["pk"]: r for r in merged}


def test_a_failed_merge_fails_the_table_keeps_the_watermark_and_the_next_run_applies_it(
    setup: Setup, chain: Any
) -> None:
    glue = boto3.client("glue", region_name=harness.REGION)
    setup.put("o-1", 12)
    setup.delete("o-2")
    clock.advance(2 * HOUR)
    before = state_item(setup.ddb)
    changes = glue.get_table(DatabaseName=DATABASE, Name="orders_changes")["Table"]
    glue.delete_table(DatabaseName=DATABASE, Name="orders_changes")

    described = chain.run("failing-merge", {"scheduledTime": iso(clock.now())})

    assert described["status"] == "FAILED"
    (cause,) = causes(chain)
    record = json.loads(cause)
    assert record["table"] == TABLE and record["error"] == "CurrentTable.QueryFailed"
    assert "orders_changes" in record["cause"] and "ended FAILED" in record["cause"]
    after = state_item(setup.ddb)
    assert after["watermark"] == before["watermark"] and "lockOwner" not in after

    keep = ("Name", "TableType", "Parameters", "PartitionKeys", "StorageDescriptor")
    glue.create_table(DatabaseName=DATABASE, TableInput={k: changes[k] for k in keep})
    clock.advance(HOUR)
    (window,) = run(chain, "retry")["exports"]

    assert window["from"] == before["watermark"]
    assert_current_is_live(setup.ddb)


def test_glue_optimizes_the_current_table_as_the_optimizer_role(setup: Setup, chain: Any) -> None:
    glue = boto3.client("glue", region_name=harness.REGION)
    for kind in ("compaction", "retention", "orphan_file_deletion"):
        found = glue.get_table_optimizer(
            CatalogId=harness.ACCOUNT, DatabaseName=DATABASE, TableName="orders_current", Type=kind
        )["TableOptimizer"]
        assert found["configuration"]["roleArn"] == harness.OPTIMIZER_ROLE_ARN
        assert found["configuration"]["enabled"] is True
    retention = glue.get_table_optimizer(
        CatalogId=harness.ACCOUNT,
        DatabaseName=DATABASE,
        TableName="orders_current",
        Type="retention",
    )["TableOptimizer"]["configuration"]["retentionConfiguration"]["icebergConfiguration"]
    assert retention["snapshotRetentionPeriodInDays"] == 3
    # A re-baseline creates them again: AlreadyExistsException counts as done.
    change_log.restart_pitr(TABLE)
    clock.advance(2 * HOUR)
    assert run(chain, "rebaseline")["exports"][0]["kind"] == "baseline"


def test_the_optimizer_model_refuses_repeats_and_missing_tables(setup: Setup) -> None:
    glue = boto3.client("glue", region_name=harness.REGION)
    config = {"roleArn": harness.OPTIMIZER_ROLE_ARN, "enabled": True}
    args = dict(CatalogId=harness.ACCOUNT, DatabaseName=DATABASE, Type="compaction")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.create_table_optimizer(TableName="nope", TableOptimizerConfiguration=config, **args)
    glue.create_table(DatabaseName=DATABASE, TableInput={"Name": "t_current"})
    glue.create_table_optimizer(TableName="t_current", TableOptimizerConfiguration=config, **args)
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        glue.create_table_optimizer(
            TableName="t_current", TableOptimizerConfiguration=config, **args
        )


# -- full-export tables -------------------------------------------------------------------


def test_a_full_export_tables_current_table_is_the_table_after_each_run(setup: Setup) -> None:
    harness.create_table(setup.ddb, TABLE, ITEMS)
    ex = setup.deploy(incremental=False, columns={TABLE: ["qty:struct<n:string>"]})
    clock.advance(HOUR)
    for step in range(3):
        out = run(ex, f"full-{step}")
        assert out["mode"] == "full"
        assert_current_is_live(setup.ddb)
        setup.put(f"n-{step}", step)
        setup.delete(f"o-{step}")
        clock.advance(DAY)


DAY = 24 * HOUR


def test_tables_without_the_switch_keep_no_current_table(setup: Setup) -> None:
    harness.create_table(setup.ddb, TABLE, ITEMS)
    harness.create_table(setup.ddb, "events", ITEMS)
    ex = setup.deploy(incremental=False, tables=[TABLE, "events"], current=[TABLE])
    clock.advance(HOUR)
    run(ex, "one")
    glue = boto3.client("glue", region_name=harness.REGION)
    names = {t["Name"] for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert "orders_current" in names and "events_current" not in names


# -- names and run-time statements --------------------------------------------------------


def test_a_key_attribute_that_cannot_be_a_column_fails_the_table_naming_it(setup: Setup) -> None:
    setup.ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "order-id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order-id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    setup.ddb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    ex = setup.deploy()
    clock.advance(HOUR)

    described = ex.run("bad-key", {"scheduledTime": iso(clock.now())})

    assert described["status"] == "FAILED"
    (cause,) = causes(ex)
    record = json.loads(cause)
    assert record["error"] == "CurrentTable.UnusableKeyAttribute"
    assert '"order-id"' in record["cause"] and "^[A-Za-z0-9_]+$" in record["cause"]
    assert "watermark" not in state_item(setup.ddb)


SCHEMAS = {
    "hash S": ([("pk", "S")], []),
    "hash S, range N, one column": ([("pk", "S"), ("sk", "N")], ["qty:struct<n:string>"]),
    "hash B, three columns": (
        [("Blob", "B")],
        ["qty:struct<n:string>", "tags:struct<ss:array<string>>", "ok:struct<bool:boolean>"],
    ),
    "hash N, range S, declared key": (
        [("Id", "N"), ("at", "S")],
        ["id:struct<n:string>", "doc:struct<m:string>"],
    ),
}


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS)
def test_the_statements_jsonata_builds_at_run_time_are_those_sql_renders(
    setup: Setup, schema: tuple[list[tuple[str, str]], list[str]]
) -> None:
    import sqlglot
    from table_exporter.catalog.schema import KEY_ATTRIBUTE_TYPES, columns_from

    keys, members = schema
    setup.ddb.create_table(
        TableName="shaped",
        KeySchema=[
            {"AttributeName": n, "KeyType": "HASH" if i == 0 else "RANGE"}
            for i, (n, _) in enumerate(keys)
        ],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    # The expressions the machine's states use, run in a probe machine.
    read = Task(
        "ReadCurrentKeys",
        resource="arn:aws:states:::aws-sdk:dynamodb:describeTable",
        arguments={"TableName": "shaped"},
        assign={
            "currentColumns": jsonata(states.COLUMNS),
            "currentTemplates": "{% " + json.dumps(templates(DATABASE)) + " %}",
        },
    )
    window = ("'2026-01-05T03:55:00.000Z'", "'2026-01-05T05:55:00.000Z'")
    # The machine's own value expressions, for the table "shaped".
    values = {
        "create": states.create_values("'s3://b/p/shaped/current/'", table="'shaped'"),
        "replace": states.replace_values(window[0], table="'shaped'"),
        "merge": states.merge_values(window, table="'shaped'"),
    }
    out = Pass(
        "Render",
        output={k: "{% " + states._fill(k, v) + " %}" for k, v in values.items()},
        end=True,
    )
    read.then(out)
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "ReadCurrentKeys",
        "States": {"ReadCurrentKeys": read.render(), "Render": out.render()},
    }
    arn = setup.aws["stepfunctions"].create_state_machine(
        name="render", definition=json.dumps(definition), roleArn=harness.ROLE_ARN
    )["stateMachineArn"]
    described = harness.execute(setup.aws["stepfunctions"], arn, "render", {"columns": members})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    built_sql = json.loads(described["output"])

    table = CurrentTable(
        database=DATABASE,
        table_name="shaped",
        key_columns=tuple(Column(n, KEY_ATTRIBUTE_TYPES[t]) for n, t in keys),
        location="s3://b/p/shaped/current/",
        columns=columns_from({m.split(":")[0]: _kind(m) for m in members}),
    )
    start = change_log.to_micros("2026-01-05T03:55:00.000Z")
    expected = {
        "create": create_sql(table),
        "replace": replace_sql(table, start - 1),
        "merge": merge_window_sql(table, Window(start, start + 2 * HOUR * 1_000_000)),
    }
    assert built_sql == expected
    for text in expected.values():
        (parsed,) = sqlglot.parse(text, read="athena")
        assert not isinstance(parsed, sqlglot.exp.Command)


def _kind(member: str) -> str:
    from table_exporter.current.sql import KINDS

    return KINDS[member.split("struct<")[1].split(":")[0]]


# -- least privilege, as the machine and Athena use it ------------------------------------


CURRENT_SIDS = {
    "RunCurrentTableQueries",
    "ReadCurrentTableDatabase",
    "ReadCurrentTableSources",
    "CommitCurrentTables",
    "OptimizeCurrentTables",
    "ReadExportsIntoCurrentTables",
    "ListExportsIntoCurrentTables",
    "LocateQueryResults",
    "ReadAndWriteCurrentTables",
    "WriteQueryResults",
    "PassOptimizerRoleToGlue",
}


def test_the_role_allows_exactly_what_the_machine_and_athena_ask_for(
    setup: Setup, chain: Any
) -> None:
    from emulator import iam_eval
    from emulator.authorization import REGISTRY

    setup.put("o-4", 4)
    setup.delete("o-0")
    clock.advance(2 * HOUR)
    run(chain, "window")

    role = harness.role_arn("exporter-table-export")
    (policy,) = REGISTRY.roles[role]
    asked = [r for principal, r in REGISTRY.allowed if principal == role]
    assert not [d for d in REGISTRY.denials if d.principal == role]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) >= CURRENT_SIDS
    # Every action of every current-table statement, on every resource it names, was
    # asked for by some call the machine made or Athena made for it.
    for sid in CURRENT_SIDS:
        statement = statements[sid]
        # Step Functions stops the query only when the task is cancelled (the execution
        # stopped or timed out): "Run Athena queries with Step Functions", IAM.
        for action in set(statement["Action"]) - {"athena:StopQueryExecution"}:
            for resource in statement["Resource"]:
                used = [
                    r
                    for r in asked
                    if r.action == action and iam_eval.resource_matches(resource, r.resource)
                ]
                assert used, f"{sid}: {action} on {resource} is granted but never asked for"
    kinds = {r.action for r in asked}
    assert {"athena:StartQueryExecution", "glue:CreateTableOptimizer", "iam:PassRole"} <= kinds
    assert {"glue:GetTable", "glue:UpdateTable", "s3:ListBucket", "s3:GetObject"} <= kinds
