"""Deploys the exporter's generated definitions into the emulator and runs them.

Used by the emulator tests, the demo and the benchmark, so all three exercise the
same definitions the Pulumi component deploys.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from table_exporter.definition import (
    BATCH_SIZE,
    DETAILED_RESULTS_LIMIT,
    BatchSpec,
    Concurrency,
    Destination,
    IncrementalSpec,
    RunSpec,
    TableExportSpec,
    batch_definition,
    run_definition,
    table_export_definition,
)
from table_exporter.polling import PollPolicy
from table_exporter.targets import AwsScope, ExportTarget

from . import clock

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
SCOPE = AwsScope(partition="aws", region=REGION, account_id=ACCOUNT)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/exporter-emulator"


def clients(endpoint_url: str | None = None) -> dict[str, Any]:
    """boto3 clients for the emulator; against a server they carry this thread's clock."""
    kwargs: dict[str, Any] = {"region_name": REGION}
    if endpoint_url:
        kwargs.update(endpoint_url=endpoint_url, aws_access_key_id="ak", aws_secret_access_key="sk")
    made = {
        name: boto3.client(name, **kwargs)
        for name in ("dynamodb", "s3", "stepfunctions", "glue", "athena")
    }
    if endpoint_url:
        for client in made.values():
            client.meta.events.register("request-created", _send_clock)
    return made


def _send_clock(request: Any, **_: Any) -> None:
    request.headers[clock.HEADER] = repr(clock.now())


def create_table(
    ddb: Any, name: str, items: Iterable[dict[str, Any]] = (), *, pitr: bool = True
) -> str:
    """A table keyed by ``pk`` (string) with point-in-time recovery as asked."""
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    if pitr:
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    for item in items:
        ddb.put_item(TableName=name, Item=item)
    return str(arn)


def create_bucket(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


@dataclass
class Exporter:
    """The two deployed state machines."""

    sfn: Any
    run_arn: str
    table_arn: str
    batch_arn: str

    def start(self, name: str, payload: dict[str, Any] | None = None) -> str:
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.run_arn, name=name, input=json.dumps(payload or {})
            )["executionArn"]
        )

    def wait(self, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return dict(described)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout}s")
            time.sleep(0.05)

    def run(
        self, name: str, payload: dict[str, Any] | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        return self.wait(self.start(name, payload), timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def table_executions(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": self.table_arn, "maxResults": 1000}
        while True:
            page = self.sfn.list_executions(**kwargs)
            out.extend(page["executions"])
            if not page.get("nextToken"):
                return out
            kwargs["nextToken"] = page["nextToken"]


def deploy(sfn: Any, *, name: str = "exporter", **options: Any) -> Exporter:
    """Create the three machines from the generated definitions (``options`` as for
    ``definitions``).

    Tables named in ``incremental`` are exported incrementally; their watermarks live
    in ``<name>-state``, which the caller creates with ``create_state_table``.
    """
    return deploy_definitions(sfn, name, definitions(name=name, **options))


def create_state_table(ddb: Any, name: str = "exporter", *, table: str | None = None) -> str:
    """The watermark table the component creates for incremental exports
    (``<name>-state`` unless ``table`` names it)."""
    table = table or f"{name}-state"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def definitions(
    *,
    bucket: str,
    tables: Sequence[str],
    prefix: str = "exports",
    name: str = "exporter",
    max_concurrency: int = 10,
    poll: PollPolicy | None = None,
    destination: Destination | None = None,
    batch_size: int = BATCH_SIZE,
    incremental: Sequence[str] = (),
    view_type: str = "NEW_AND_OLD_IMAGES",
    timeout_seconds: int = 24 * 3600,
    catalog_database: str | None = None,
    columns: dict[str, Sequence[str]] | None = None,
    athena_workgroup: str | None = None,
    detailed_results_limit: int = DETAILED_RESULTS_LIMIT,
) -> dict[str, dict[str, Any]]:
    """The three generated definitions, wired to each other by machine name."""
    table_sm_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}-table-export"
    batch_sm_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}-batch"
    concurrency = Concurrency(max_concurrency, batch_size)
    return {
        f"{name}-table-export": table_export_definition(
            TableExportSpec(
                destination=destination or Destination(bucket=bucket),
                poll=poll or PollPolicy(),
                timeout_seconds=timeout_seconds,
                incremental=IncrementalSpec(
                    state_table=f"{name}-state", exporter_name=name, view_type=view_type
                )
                if incremental
                else None,
                catalog_database=catalog_database,
                athena_workgroup=athena_workgroup,
            )
        ),
        f"{name}-batch": batch_definition(
            BatchSpec(table_machine_arn=table_sm_arn, max_concurrency=concurrency.per_batch)
        ),
        f"{name}-run": run_definition(
            RunSpec(
                batch_machine_arn=batch_sm_arn,
                targets=[
                    ExportTarget(
                        table_arn=SCOPE.arn("dynamodb", f"table/{t}"),
                        prefix=prefix,
                        mode="incremental" if t in incremental else "full",
                        columns=tuple((columns or {}).get(t, ())),
                    )
                    for t in tables
                ],
                max_concurrency=max_concurrency,
                batch_size=batch_size,
                detailed_results_limit=detailed_results_limit,
            )
        ),
    }


def deploy_definitions(sfn: Any, name: str, machines: dict[str, dict[str, Any]]) -> Exporter:
    """Create machines named as the keys: ``<name>-table-export``, ``-batch`` and ``-run``
    (the run's and batch's definitions refer to their children by these names)."""
    arns = {
        machine: sfn.create_state_machine(
            name=machine, definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        for machine, definition in machines.items()
    }

    def arn_of(role: str) -> str:
        return next(arn for machine, arn in arns.items() if f"-{role}" in machine)

    return Exporter(
        sfn=sfn, run_arn=arn_of("run"), table_arn=arn_of("table-export"), batch_arn=arn_of("batch")
    )
