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
from table_exporter.export import policies as export_policies
from table_exporter.export.run_machine import (
    MAP_LABEL,
    REPORT_PREFIX,
    RunSpec,
    run_definition,
    run_machine,
)
from table_exporter.export.table_machine import (
    Destination,
    IncrementalSpec,
    TableExportSpec,
    table_export_definition,
    table_export_machine,
)
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.targets import AwsScope, ExportTarget

from . import clock
from .authorization import REGISTRY

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
SCOPE = AwsScope(partition="aws", region=REGION, account_id=ACCOUNT)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/exporter-emulator"
"""A role for machines that are not the component's (probes of the emulator itself):
the tests give it every permission (``ALL_PERMISSIONS``)."""
CURRENT_BUCKET = "exporter-current"
"""The bucket current tables' files go to (the component creates ``<name>-current``)."""
OPTIMIZER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/exporter-current-optimizer"
"""The role the harness gives Glue's table optimizers of current tables."""
ALL_PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


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


def create_workgroup(athena: Any, name: str, bucket: str) -> None:
    """The exporter's workgroup as the component makes it: results in
    ``s3://<bucket>/athena-results/``."""
    athena.create_work_group(
        Name=name,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/athena-results/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )


@dataclass
class Exporter:
    """The two deployed state machines."""

    sfn: Any
    run_arn: str
    table_arn: str

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
                found = dict(described)
                if described["stateMachineArn"] == self.run_arn:
                    # What the run's report says of each table (none if it has no report).
                    found["tables"] = self.results(found)
                return found
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

    def _report_location(self, described: dict[str, Any]) -> tuple[str, str] | None:
        """Bucket and folder of the run's report (in its output, or in its cause when
        it failed); None when the run has none."""
        text = (
            described.get("output")
            if described["status"] == "SUCCEEDED"
            else described.get("cause")
        )
        try:
            location = json.loads(text or "{}")["report"]
        except (ValueError, KeyError, TypeError):
            return None
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        return bucket, prefix

    def result_files(self, described: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The run report's manifest: each status's files with ``Key`` and ``Size``."""
        found = self._report_location(described)
        if found is None:
            return {}
        bucket, prefix = found
        body = _like(self.sfn, "s3").get_object(Bucket=bucket, Key=f"{prefix}manifest.json")
        return dict(json.loads(body["Body"].read())["ResultFiles"])

    def report(self, described: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The run report the Map wrote: every table's result, ``succeeded`` and ``failed``."""
        found: dict[str, list[dict[str, Any]]] = {"succeeded": [], "failed": []}
        location = self._report_location(described)
        if location is None:
            return found
        s3 = _like(self.sfn, "s3")
        for status, files in self.result_files(described).items():
            for entry in files:
                body = s3.get_object(Bucket=location[0], Key=entry["Key"])["Body"].read()
                for child in json.loads(body):
                    if status == "SUCCEEDED":
                        found["succeeded"].append(json.loads(child["Output"]))
                    elif status == "FAILED":
                        found["failed"].append(json.loads(child["Cause"]))
        return found

    def results(self, described: dict[str, Any]) -> list[dict[str, Any]]:
        """Every table's result in the run's report, failed tables' records included."""
        found = self.report(described)
        return found["succeeded"] + found["failed"]

    def table_executions(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": self.table_arn, "maxResults": 1000}
        while True:
            page = self.sfn.list_executions(**kwargs)
            out.extend(page["executions"])
            if not page.get("nextToken"):
                return out
            kwargs["nextToken"] = page["nextToken"]


def execute(
    sfn: Any, machine_arn: str, name: str, payload: Any = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Start an execution of ``machine_arn`` named ``name`` and wait until it ends."""
    execution = sfn.start_execution(
        stateMachineArn=machine_arn, name=name, input=json.dumps(payload or {})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution} still RUNNING after {timeout}s")
        time.sleep(0.05)
    return dict(described)


def _like(client: Any, service: str) -> Any:
    """A client of ``service`` talking to the same endpoint as ``client``."""
    endpoint = client.meta.endpoint_url
    if "amazonaws" in endpoint:
        return boto3.client(service, region_name=REGION)
    made = boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="ak",
        aws_secret_access_key="sk",
    )
    made.meta.events.register("request-created", _send_clock)
    return made


def deploy(sfn: Any, *, name: str = "exporter", **options: Any) -> Exporter:
    """Create the two machines from the generated definitions (``options`` as for
    ``definitions``), each with its own role holding the policy the component
    generates for it (``role_policies``), so their calls are authorised as in AWS.

    Tables named in ``incremental`` are exported incrementally; their watermarks live
    in ``<name>-state``, which the caller creates with ``create_state_table``.
    ``table_access`` is the component's setting of that name (``exact`` unless given).
    """
    table_access = options.pop("table_access", "exact")
    return deploy_definitions(
        sfn,
        name,
        definitions(name=name, **options),
        roles=role_policies(name=name, table_access=table_access, **options),
    )


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


def specs(
    *,
    bucket: str,
    tables: Sequence[str],
    prefix: str = "exports",
    name: str = "exporter",
    max_concurrency: int = 10,
    poll: PollPolicy | None = None,
    destination: Destination | None = None,
    incremental: Sequence[str] = (),
    view_type: str = "NEW_AND_OLD_IMAGES",
    timeout_seconds: int = 24 * 3600,
    catalog_database: str | None = None,
    columns: dict[str, Sequence[str]] | None = None,
    athena_workgroup: str | None = None,
    report_bucket: str | None = None,
    current: Sequence[str] = (),
    current_optimizer_role_arn: str | None = OPTIMIZER_ROLE_ARN,
) -> tuple[TableExportSpec, RunSpec]:
    """The specs of the two machines, as the component builds them; the run report goes
    to ``report_bucket`` (the export bucket unless given). Tables named in ``current``
    keep ``<table>_current``."""
    table_sm_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}-table-export"
    table = TableExportSpec(
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
        current_tables=bool(current),
        current_optimizer_role_arn=current_optimizer_role_arn if current else None,
        current_bucket=CURRENT_BUCKET if current else None,
    )
    run = RunSpec(
        table_machine_arn=table_sm_arn,
        bucket=report_bucket or bucket,
        targets=[
            ExportTarget(
                table_arn=SCOPE.arn("dynamodb", f"table/{t}"),
                prefix=prefix,
                mode="incremental" if t in incremental else "full",
                columns=tuple((columns or {}).get(t, ())),
                current=t in current,
            )
            for t in tables
        ],
        max_concurrency=max_concurrency,
    )
    return table, run


def definitions(*, name: str = "exporter", **options: Any) -> dict[str, dict[str, Any]]:
    """The two generated definitions (``options`` as for ``specs``), wired to each other
    by machine name."""
    table, run = specs(name=name, **options)
    return {
        f"{name}-table-export": table_export_definition(table),
        f"{name}-run": run_definition(run),
    }


def role_arn(machine: str) -> str:
    """The role the harness deploys a machine with: one per machine, as the component."""
    return f"arn:aws:iam::{ACCOUNT}:role/{machine}-role"


def role_policies(
    *, name: str = "exporter", table_access: str = "exact", **options: Any
) -> dict[str, dict[str, Any]]:
    """Each machine's role policy, from the builders the component uses
    (``export_policies.table_export_role_policy``, ``export_policies.run_role_policy``) and the same
    specs as the definitions; with the exporter's key, the run role gets it too, as the
    component gives it (its report is written with the bucket's default encryption)."""
    table, run = specs(name=name, **options)
    destination = table.destination
    state_table = SCOPE.arn("dynamodb", f"table/{name}-state") if table.incremental else None
    return {
        f"{name}-table-export": export_policies.table_export_role_policy(
            SCOPE,
            grants=table_export_machine(table).grants(),
            targets=run.targets,
            bucket=destination.bucket,
            kms_key_arn=destination.kms_key_arn,
            state_table_arn=state_table,
            catalog_database=table.catalog_database,
            athena_workgroup=table.athena_workgroup,
            current_optimizer_role_arn=table.current_optimizer_role_arn,
            current_bucket=table.current_bucket,
            table_access=table_access,  # type: ignore[arg-type]
        ),
        f"{name}-run": export_policies.run_role_policy(
            SCOPE,
            grants=run_machine(run).grants(),
            run_machine_name=f"{name}-run",
            table_machine_arn=run.table_machine_arn,
            table_machine_name=f"{name}-table-export",
            bucket=run.bucket,
            report_prefix=REPORT_PREFIX,
            map_label=MAP_LABEL,
            kms_key_arn=destination.kms_key_arn,
        ),
    }


def deploy_definitions(
    sfn: Any,
    name: str,
    machines: dict[str, dict[str, Any]],
    roles: dict[str, dict[str, Any]] | None = None,
) -> Exporter:
    """Create machines named as the keys: ``<name>-table-export`` and ``<name>-run``
    (the run's definition refers to the table export machine by its name). With
    ``roles`` (policy per machine name), each machine gets its own role holding that
    policy; without, all share ``ROLE_ARN``."""
    arns = {}
    for machine, definition in machines.items():
        role = ROLE_ARN
        if roles is not None:
            role = role_arn(machine)
            REGISTRY.put_role_policy(role, roles[machine])
        arns[machine] = sfn.create_state_machine(
            name=machine, definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]

    def arn_of(role: str) -> str:
        return next(arn for machine, arn in arns.items() if f"-{role}" in machine)

    return Exporter(sfn=sfn, run_arn=arn_of("run"), table_arn=arn_of("table-export"))


def drill_role(spec: Any, table_arns: Sequence[str], kms_key_arn: str | None = None) -> str:
    """A role for the restore drill machine of ``spec`` (a ``DrillSpec``) holding the
    policy the component generates (``drill_role_policy``); returns its ARN."""
    from table_exporter.drill.machine import drill_role_policy

    role = role_arn(f"drill-{spec.table_prefix}")
    REGISTRY.put_role_policy(
        role,
        drill_role_policy(
            spec,
            region=REGION,
            account_id=ACCOUNT,
            table_arns=list(table_arns),
            kms_key_arn=kms_key_arn,
        ),
    )
    return role


def importer_role(spec: Any, kms_key_arn: str | None = None) -> str:
    """A role for the importer machine of ``spec`` (an ``ImporterSpec``) holding the
    policy ``TableImporter`` generates (``importer_role_policy``); returns its ARN."""
    from table_exporter.importer.machine import importer_role_policy

    role = role_arn(f"import-{spec.table_prefix}")
    REGISTRY.put_role_policy(
        role,
        importer_role_policy(spec, region=REGION, account_id=ACCOUNT, kms_key_arn=kms_key_arn),
    )
    return role


def history_path(
    s3: Any,
    *,
    table: str,
    stream_arn: str,
    bucket: str,
    prefix: str,
    kms_key_arn: str | None = None,
    name: str = "history",
    dead_letter_queue_arn: str | None = None,
    **options: Any,
) -> Any:
    """A change-history path (``change_stream.ChangePath``) whose pipe and delivery stream
    act as roles holding the policies ``ChangeHistory`` generates (``pipe_role_policy``,
    ``firehose_role_policy``)."""
    from table_exporter.history.spec import firehose_role_policy, pipe_role_policy

    from .change_stream import ChangePath

    table_arn = SCOPE.arn("dynamodb", f"table/{table}")
    stream = SCOPE.arn("firehose", f"deliverystream/{name}")
    pipe = SCOPE.arn("pipes", f"pipe/{name}")
    queue = dead_letter_queue_arn or SCOPE.arn("sqs", f"{name}-dlq")
    REGISTRY.set_service_role(pipe, role_arn(f"{name}-pipe"))
    REGISTRY.set_service_role(stream, role_arn(f"{name}-firehose"))
    REGISTRY.put_role_policy(
        role_arn(f"{name}-pipe"),
        pipe_role_policy(
            table_arn=table_arn,
            delivery_stream_arn=stream,
            dead_letter_queue_arn=queue,
            kms_key_arn=kms_key_arn,
        ),
    )
    REGISTRY.put_role_policy(
        role_arn(f"{name}-firehose"),
        firehose_role_policy(
            bucket_arn=f"arn:aws:s3:::{bucket}",
            prefix=prefix,
            table_name=table,
            kms_key_arn=kms_key_arn,
        ),
    )
    return ChangePath(
        s3=s3,
        table=table,
        stream_arn=stream_arn,
        bucket=bucket,
        prefix=prefix,
        kms_key_arn=kms_key_arn,
        delivery_stream_name=name,
        pipe_arn=pipe,
        delivery_stream_arn=stream,
        region=REGION,
        **options,
    )
