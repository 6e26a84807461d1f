"""`make demo`: one scheduled run of the dev stack's exporter, in a local AWS emulator.

1. starts the emulator on loopback;
2. evaluates the Pulumi program for the dev stack (under mocks) and takes the state
   machine definitions and the schedule input it would deploy;
3. creates the dev stack's tables (with point-in-time recovery and sample rows) and its
   bucket, then the three state machines from those definitions;
4. starts one execution as the scheduler would, showing each step as it happens;
5. prints the per-table result and rows read back from the exported files in S3.
"""

from __future__ import annotations

import gzip
import json
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
from table_exporter.catalog.schema import Column, columns_from
from table_exporter.drill.machine import DrillSpec, drill_definition
from table_exporter.history import spec as history

from emulator import athena_sql, change_stream, clock, component_deploy, export_model, replay
from emulator.authorization import REGISTRY
from emulator.harness import (
    ACCOUNT,
    REGION,
    Exporter,
    clients,
    create_state_table,
    drill_role,
    history_path,
)
from emulator.local_query import query_changes, query_export
from emulator.server import running_emulator
from emulator.stack import capture_stack, stack_config
from program.stack_config import parse_settings

SAMPLE_ROWS: dict[str, list[dict[str, Any]]] = {
    "orders": [
        {
            "pk": {"S": "order#1001"},
            "menuItem": {"S": "shoyu ramen"},
            "quantity": {"N": "2"},
            "customer": {"S": "c-1"},
        },
        {
            "pk": {"S": "order#1002"},
            "menuItem": {"S": "gyoza"},
            "quantity": {"N": "6"},
            "customer": {"S": "c-2"},
        },
        {
            "pk": {"S": "order#1003"},
            "menuItem": {"S": "shoyu ramen"},
            "quantity": {"N": "1"},
            "customer": {"S": "c-3"},
        },
        {
            "pk": {"S": "order#1004"},
            "menuItem": {"S": "matcha ice cream"},
            "quantity": {"N": "3"},
            "customer": {"S": "c-1"},
        },
    ],
    "customers": [
        {"pk": {"S": "c-1"}, "name": {"S": "Aiko"}, "tier": {"S": "gold"}},
        {"pk": {"S": "c-2"}, "name": {"S": "Ben"}, "tier": {"S": "silver"}},
        {"pk": {"S": "c-3"}, "name": {"S": "Chloé"}, "tier": {"S": "silver"}},
    ],
}


HISTORY_TABLE = "customers"
"""The demo table whose every write is followed into S3 (step 8)."""


def stack_settings(stack: str) -> Any:
    return parse_settings(stack, stack_config(stack))


def say(message: str) -> None:
    print(message, flush=True)


def create_tables(ddb: Any, run_definition: dict[str, Any]) -> list[str]:
    names = []
    for entry in run_definition["States"]["PlanRun"]["Assign"]["configuredTables"]:
        name = entry["tableArn"].split(":table/", 1)[1]
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        if name == HISTORY_TABLE:
            # Change history reads the table's own stream: the owner turns it on.
            ddb.update_table(
                TableName=name,
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
        rows = SAMPLE_ROWS.get(name, [{"pk": {"S": f"{name}#1"}}])
        for row in rows:
            ddb.put_item(TableName=name, Item=row)
        say(f"  table {name}: point-in-time recovery on, {len(rows)} rows")
        names.append(name)
    return names


class Progress:
    """Prints each state as executions enter it, the run's and every table export's,
    in the order they happened across executions."""

    def __init__(self, sfn: Any, table_machine_arn: str) -> None:
        self.sfn = sfn
        self.table_machine_arn = table_machine_arn
        self.seen: dict[str, int] = {}

    def _new_events(self, execution_arn: str) -> list[dict[str, Any]]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)[
            "events"
        ]
        start = self.seen.get(execution_arn, 0)
        self.seen[execution_arn] = len(events)
        return events[start:]

    def show(self, run_arn: str) -> None:
        lines: list[tuple[Any, int, str]] = []
        for event in self._new_events(run_arn):
            if event["type"].endswith("StateEntered"):
                lines.append(
                    (
                        event["timestamp"],
                        len(lines),
                        f"  run            -> {event['stateEnteredEventDetails']['name']}",
                    )
                )
            if event["type"] == "MapRunSucceeded":
                lines.append(
                    (
                        event["timestamp"],
                        len(lines),
                        "  run            <- every table's execution has finished",
                    )
                )
        children = self.sfn.list_executions(stateMachineArn=self.table_machine_arn)["executions"]
        for child in children:
            label = child["name"].rsplit("-", 1)[0]
            for event in self._new_events(child["executionArn"]):
                if event["type"].endswith("StateEntered"):
                    name = event["stateEnteredEventDetails"]["name"]
                    lines.append((event["timestamp"], len(lines), f"  {label:<14} -> {name}"))
        for _, _, line in sorted(lines):
            say(line)


def read_rows(s3: Any, location: str) -> list[dict[str, Any]]:
    """An export's rows, from the data files its manifest lists."""
    bucket, _, _ = location.removeprefix("s3://").partition("/")
    keys = replay.data_files(s3, location)
    rows: list[dict[str, Any]] = []
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        rows.extend(json.loads(line) for line in gzip.decompress(body).decode().splitlines())
    return rows


def run_scheduled(
    aws: dict[str, Any], exporter: Any, schedule_input: str, progress: Progress
) -> dict[str, Any]:
    """Start one run the way the scheduler does, show its progress, return its result."""
    scheduled = clock.now_datetime().replace(second=0, microsecond=0)
    payload = schedule_input.replace(
        "<aws.scheduler.scheduled-time>", scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    say(f"  input {payload}")
    execution = aws["stepfunctions"].start_execution(
        stateMachineArn=exporter.run_arn, name=f"scheduled-{uuid.uuid4().hex[:12]}", input=payload
    )["executionArn"]
    deadline = time.monotonic() + 180
    while True:
        progress.show(execution)
        described = aws["stepfunctions"].describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            progress.show(execution)
            return dict(described)
        if time.monotonic() > deadline:
            raise SystemExit("  the run did not finish within 180 s")
        time.sleep(0.2)


def summarise(exporter: Any, described: dict[str, Any]) -> list[dict[str, Any]]:
    say(f"  run {described['status']}")
    if described["status"] != "SUCCEEDED":
        say(f"  {described.get('error')}: {described.get('cause')}")
        raise SystemExit(1)
    output = json.loads(described["output"])
    say(
        f"  {output['succeededCount']} of {output['tableCount']} tables exported; report {output['report']}"
    )
    tables: list[dict[str, Any]] = exporter.results(described)
    for table in tables:
        if table["mode"] == "full":
            say(
                f"  {table['table']:<10} full        {table['status']:<9} items={table['itemCount']:<3} "
                f"billedBytes={table['billedSizeBytes']:<5} {table['s3Location']}"
            )
            continue
        say(
            f"  {table['table']:<10} incremental {table['status']:<9} watermark={table.get('watermark')}"
        )
        for export in table.get("exports", []):
            window = f"[{export.get('from', '...')}, {export['to']})"
            say(
                f"    {export['kind']:<11} {window} items={export['itemCount']} {export['s3Location']}"
            )
    return tables


def main() -> int:
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    say("1. Evaluating the Pulumi program for stack 'dev' (mocks, no cloud calls)")
    stack = capture_stack("dev")
    machines = dict(stack.state_machine(role) for role in ("table-export", "run"))
    run_definition = machines[stack.mocks.physical_name("exporter-run")]
    schedule_input = stack.outputs["schedule_input"]
    bucket = stack.outputs["bucket_name"]
    database = stack.resource("aws:glue/catalogDatabase:CatalogDatabase", "exporter-catalog")[
        "name"
    ]
    say(f"  state machines: {', '.join(machines)}")
    say(f"  schedule input {schedule_input}")

    with running_emulator() as url:
        say(
            f"2. Emulator listening on {url} (virtual clock at {clock.now_datetime():%Y-%m-%d %H:%M} UTC)"
        )
        aws = clients(url)
        aws["s3"].create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        say("3. The bucket, Glue database, Athena workgroup, state table and the stack's tables;")
        say("   every machine runs as its role with the policy the stack generates, and every")
        say("   call is authorised as AWS would (a call the policies do not allow is denied)")
        say(f"  bucket {bucket}, Glue database {database}")
        create_state_table(aws["dynamodb"], table=stack.mocks.physical_name("exporter-state"))
        create_tables(aws["dynamodb"], run_definition)
        deployed = component_deploy.deploy(aws["stepfunctions"], stack.mocks)
        # The export bucket and the current tables' bucket, each with its TLS-only policy.
        for bucket_policy in stack.mocks.of_type("aws:s3/bucketPolicy:BucketPolicy"):
            REGISTRY.configure_bucket(
                bucket_policy.inputs["bucket"],
                owner=ACCOUNT,
                policy=json.loads(bucket_policy.inputs["policy"]),
                bucket_key=True,
            )
        REGISTRY.enabled = True
        exporter = Exporter(
            sfn=aws["stepfunctions"],
            run_arn=deployed.machine("exporter-run"),
            table_arn=deployed.machine("exporter-table-export"),
        )
        export_model.MODEL.default = export_model.Behaviour(duration_seconds=150)
        clock.advance(600)

        say("4. First scheduled run: a full export of orders, the baseline of customers")
        # One observer for both runs, so the second shows only its own executions.
        progress = Progress(aws["stepfunctions"], exporter.table_arn)
        first = summarise(exporter, run_scheduled(aws, exporter, schedule_input, progress))

        say("  Rows read back from S3 (DynamoDB JSON, as exported)")
        for table in first:
            location = table.get("s3Location") or table["exports"][-1]["s3Location"]
            rows = read_rows(aws["s3"], location)
            say(f"  {table['table']}: first {min(3, len(rows))} of {len(rows)} rows")
            for row in rows[:3]:
                say(f"  {table['table']:<10} {json.dumps(row['Item'], ensure_ascii=False)}")

        say("5. Writes to customers, then two hours later the next scheduled run")
        ddb = aws["dynamodb"]
        ddb.update_item(
            TableName="customers",
            Key={"pk": {"S": "c-2"}},
            UpdateExpression="SET tier = :t",
            ExpressionAttributeValues={":t": {"S": "gold"}},
        )
        ddb.put_item(
            TableName="customers",
            Item={"pk": {"S": "c-4"}, "name": {"S": "Dai"}, "tier": {"S": "bronze"}},
        )
        ddb.delete_item(TableName="customers", Key={"pk": {"S": "c-3"}})
        clock.advance(2 * 3600)
        second = summarise(exporter, run_scheduled(aws, exporter, schedule_input, progress))
        for table in second:
            for export in table.get("exports", []):
                if export["kind"] == "incremental":
                    records = read_rows(aws["s3"], export["s3Location"])
                    say(f"  {table['table']}: {len(records)} change records in the window")
                    for row in records:
                        change = {k: row[k] for k in ("Keys", "NewImage") if k in row}
                        say(f"  {table['table']:<10} {json.dumps(change, ensure_ascii=False)}")

        say("6. Athena's tables follow completed exports only")
        for table in aws["glue"].get_tables(DatabaseName=database)["TableList"]:
            say(f"  {database}.{table['Name']:<22} -> {table['StorageDescriptor']['Location']}")
        show_current_table(aws, database)
        show_local_query(aws, stack_settings("dev"), first, second)
        show_change_history(aws, bucket)
        show_restore_drill(aws, bucket)
        denied = REGISTRY.denials
        say(f"11. Calls denied by the generated policies: {len(denied)}")
    return 0 if not denied else 1


def show_current_table(aws: dict[str, Any], database: str) -> None:
    """customers_current, kept by the table export machine's Athena statements, against
    the live table."""
    say("7. customers_current: an Iceberg table kept by Athena (one MERGE per window)")
    rows = athena_sql.current_rows(
        database, "customers_current", account=ACCOUNT, region=REGION, order_by=["pk"]
    )
    for row in rows:
        say(
            f"  {row['pk']:<5} {row['name']:<6} {row['tier']:<7} written {row['write_timestamp_micros']}"
        )
    live = {
        item["pk"]["S"]: (item["name"]["S"], item["tier"]["S"])
        for item in aws["dynamodb"].scan(TableName="customers")["Items"]
    }
    kept = {row["pk"]: (row["name"], row["tier"]) for row in rows}
    say(f"  equal to the live table, item for item: {kept == live}")
    if kept != live:
        raise SystemExit(f"customers_current holds {kept}, the table {live}")


def show_change_history(aws: dict[str, Any], bucket: str) -> None:
    """Every write to customers, through its stream, Pipes and Firehose, read back."""
    say("9. Change history: every write to customers in S3, then one customer's history (DuckDB)")
    ddb = aws["dynamodb"]
    for tier in ("platinum", "gold"):
        ddb.update_item(
            TableName=HISTORY_TABLE,
            Key={"pk": {"S": "c-1"}},
            UpdateExpression="SET tier = :t",
            ExpressionAttributeValues={":t": {"S": tier}},
        )
        clock.advance(30)
    path = history_path(
        aws["s3"],
        table=HISTORY_TABLE,
        stream_arn=change_stream.stream_arn_of(ddb, HISTORY_TABLE),
        bucket=bucket,
        prefix="dynamodb-exports",
    )
    report = path.run()
    say(f"  {report.records} change records delivered in {report.objects} objects under "
        f"dynamodb-exports/{HISTORY_TABLE}/history/<day>/<hour>/")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        root = history.history_root("dynamodb-exports", HISTORY_TABLE)
        listing = aws["s3"].list_objects_v2(Bucket=bucket, Prefix=root).get("Contents", [])
        for n, entry in enumerate(listing):
            data = aws["s3"].get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            Path(folder, f"{n}.json.gz").write_bytes(data)
        sql = history.duckdb_ordered(str(Path(folder, "*.json.gz")), [Column("pk", "string")])
        relation = duckdb.sql(sql)
        columns, rows = relation.columns, relation.fetchall()
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    mine = [r for r in records if r.get("pk") == "c-1"]
    say(f"  history of c-1: {len(mine)} of {len(records)} changes, oldest first: action, tier")
    for record in mine:
        image = record.get("new_image") or {}
        tier = (json.loads(image) if isinstance(image, str) else image).get("tier") or {}
        say(f"  {record['event_name']:<7} {tier.get('S', '-')}")


def show_restore_drill(aws: dict[str, Any], bucket: str) -> None:
    """The newest export of orders imported into a scratch table, counted, deleted."""
    say("10. Restore drill: the newest export of orders imported, counted and deleted")
    sfn = aws["stepfunctions"]
    spec = DrillSpec(bucket=bucket, table_prefix="exporter-drill-")
    table_arn = aws["dynamodb"].describe_table(TableName="orders")["Table"]["TableArn"]
    arn = sfn.create_state_machine(
        name="exporter-drill",
        definition=json.dumps(drill_definition(spec)),
        roleArn=drill_role(spec, [table_arn]),
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, name="drill-orders", input=json.dumps({"tableArn": table_arn})
    )["executionArn"]
    deadline = time.monotonic() + 120
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise SystemExit("  the drill did not finish within 120 s")
        time.sleep(0.2)
    report = json.loads(described.get("output") or described.get("cause") or "{}")
    verdict = report.get("verdict") or report.get("result") or report
    say(f"  drill {described['status']}: scratch table {report.get('scratchTable')}, "
        f"deleted: {report.get('scratchDeleted')}")  # fmt: skip
    for key in (
        "status",
        "reason",
        "manifestItemCount",
        "importedItemCount",
        "processedItemCount",
        "errorCount",
    ):
        found = verdict.get(key, report.get(key)) if isinstance(verdict, dict) else None
        if found is not None:
            say(f"    {key}: {found}")
    left = [
        t for t in aws["dynamodb"].list_tables()["TableNames"] if t.startswith("exporter-drill-")
    ]
    say(f"  scratch tables left: {len(left)}")


def show_local_query(
    aws: dict[str, Any], settings: Any, first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    """The same column mapping Athena's Glue tables use, over the exported files, in DuckDB."""
    declared = {t.table_name: t.columns for t in settings.tables}
    orders = next(t for t in second if t["table"] == "orders")
    say("8. Local SQL over the export (DuckDB, the Glue tables' column mapping)")
    result = query_export(
        aws["s3"],
        orders["s3Location"],
        columns_from(declared["orders"]),
        'SELECT "menuItem", SUM(quantity) AS quantity FROM items GROUP BY 1 ORDER BY 2 DESC',
    )
    say("  menuItem            quantity")
    for item, quantity in result.rows:
        say(f"  {item:<19} {quantity.normalize()}")
    customers_first = next(t for t in first if t["table"] == "customers")
    customers_second = next(t for t in second if t["table"] == "customers")
    windows = [e["s3Location"] for e in customers_second["exports"] if e["kind"] == "incremental"]
    current = query_changes(
        aws["s3"],
        windows,
        [Column("pk", "string")],
        columns_from(declared["customers"]),
        "SELECT pk, name, tier FROM current_state ORDER BY pk",
        baseline=customers_first["exports"][0]["s3Location"],
    )
    say("  customers now (baseline + incremental window): pk, name, tier")
    for row in current.rows:
        say(f"  {row}")


if __name__ == "__main__":
    sys.exit(main())
