"""`make demo`: one scheduled run of the dev stack's exporter, in a local AWS emulator.

1. starts the emulator on loopback;
2. evaluates the Pulumi program for the dev stack (under mocks) and takes the state
   machine definitions and the schedule input it would deploy;
3. creates the dev stack's tables (with point-in-time recovery and sample rows) and its
   bucket, then the two state machines from those definitions;
4. starts one execution as the scheduler would, showing each step as it happens;
5. prints the per-table result and rows read back from the exported files in S3.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import sys
import time
import uuid
from typing import Any

from emulator import export_model
from emulator.harness import clients, deploy_definitions
from emulator.server import running_emulator
from emulator.stack import capture_stack

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
        rows = SAMPLE_ROWS.get(name, [{"pk": {"S": f"{name}#1"}}])
        for row in rows:
            ddb.put_item(TableName=name, Item=row)
        say(f"  table {name}: point-in-time recovery on, {len(rows)} rows")
        names.append(name)
    return names


class Progress:
    """Prints each state as executions enter it (the run and every table export)."""

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
        for event in self._new_events(run_arn):
            if event["type"].endswith("StateEntered"):
                say(f"  run            -> {event['stateEnteredEventDetails']['name']}")
            if (
                event["type"] == "TaskSucceeded"
                and "batch" in event["taskSucceededEventDetails"]["output"]
            ):
                say("  run            <- batch finished")
        children = self.sfn.list_executions(stateMachineArn=self.table_machine_arn)["executions"]
        for child in children:
            label = child["name"].rsplit("-", 1)[0]
            for event in self._new_events(child["executionArn"]):
                if event["type"].endswith("StateEntered"):
                    say(f"  {label:<14} -> {event['stateEnteredEventDetails']['name']}")


def read_rows(s3: Any, location: str, limit: int = 3) -> list[dict[str, Any]]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}data/").get("Contents", [])
    ]
    rows: list[dict[str, Any]] = []
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        rows.extend(json.loads(line) for line in gzip.decompress(body).decode().splitlines())
    return rows[:limit]


def main() -> int:
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    say("1. Evaluating the Pulumi program for stack 'dev' (mocks, no cloud calls)")
    stack = capture_stack("dev")
    machines = dict(stack.state_machine(role) for role in ("table-export", "batch", "run"))
    run_definition = machines[stack.mocks.physical_name("exporter-run")]
    schedule_input = stack.outputs["schedule_input"]
    bucket = stack.outputs["bucket_name"]
    say(f"  state machines: {', '.join(machines)}")
    say(f"  schedule input {schedule_input}")

    with running_emulator() as url:
        say(f"2. Emulator listening on {url}")
        aws = clients(url)
        aws["s3"].create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        say(f"  bucket {bucket}")
        create_tables(aws["dynamodb"], run_definition)
        exporter = deploy_definitions(aws["stepfunctions"], "exporter", machines)
        run_arn, table_arn = exporter.run_arn, exporter.table_arn
        export_model.MODEL.default = export_model.Behaviour(duration_seconds=150)

        scheduled = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        payload = schedule_input.replace(
            "<aws.scheduler.scheduled-time>", scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        say(f"3. Starting the run as the scheduler would, input {payload}")
        execution = aws["stepfunctions"].start_execution(
            stateMachineArn=run_arn, name=f"scheduled-{uuid.uuid4().hex[:12]}", input=payload
        )["executionArn"]
        progress = Progress(aws["stepfunctions"], table_arn)
        deadline = time.monotonic() + 120
        while True:
            progress.show(execution)
            described = aws["stepfunctions"].describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                progress.show(execution)
                break
            if time.monotonic() > deadline:
                say("  the run did not finish within 120 s")
                return 1
            time.sleep(0.2)

        say(f"4. Run {described['status']}")
        if described["status"] != "SUCCEEDED":
            say(f"  {described.get('error')}: {described.get('cause')}")
            return 1
        output = json.loads(described["output"])
        for table in output["tables"]:
            say(
                f"  {table['table']:<10} {table['status']:<9} items={table['itemCount']:<3} "
                f"billedBytes={table['billedSizeBytes']:<5} {table['s3Location']}"
            )
            say(f"    export {table['exportArn']}")
        say("5. Rows read back from S3 (DynamoDB JSON, as exported)")
        for table in output["tables"]:
            for row in read_rows(aws["s3"], table["s3Location"]):
                say(f"  {table['table']:<10} {json.dumps(row['Item'], ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
