"""The scheduled exports' resources: the watermark table, the run and table export
machines, the run schedule, the alarm topic and the dashboard.

Each builder takes the component it adds children to and exactly what it wires, and
returns a frozen dataclass of what it made (``exporter.py`` composes them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from table_exporter.export import policies as export_policies
from table_exporter.export.dashboard import DashboardSpec, console_url, dashboard_body
from table_exporter.export.run_machine import (
    MAP_LABEL,
    REPORT_PREFIX,
    RunSpec,
    run_machine,
    schedule_input,
)
from table_exporter.export.table_machine import (
    Destination,
    IncrementalSpec,
    TableExportSpec,
    table_export_machine,
)
from table_exporter.kernel import policies
from table_exporter.kernel.alarms import AlarmSpec
from table_exporter.kernel.policies import TableAccess
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.resources import DeployedMachine, Logs, Scheduler, state_machine
from table_exporter.kernel.targets import AwsScope, ExportTarget


@dataclass(frozen=True)
class Watermarks:
    """The state table of incremental chains, or all None when every table is full."""

    table: aws.dynamodb.Table | None
    table_arn: pulumi.Output[str] | None
    incremental: pulumi.Output[IncrementalSpec | None]


def watermarks(
    parent: pulumi.Resource, name: str, *, needed: bool, view_type: str, tags: dict[str, str]
) -> Watermarks:
    """The table ``<name>-state`` of per-table watermarks and locks, when ``needed``
    (some table is incremental)."""
    if not needed:
        return Watermarks(table=None, table_arn=None, incremental=pulumi.Output.from_input(None))
    table = aws.dynamodb.Table(
        f"{name}-state",
        billing_mode="PAY_PER_REQUEST",
        hash_key="pk",
        attributes=[{"name": "pk", "type": "S"}],
        point_in_time_recovery={"enabled": True},
        server_side_encryption={"enabled": True},
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    incremental: pulumi.Output[IncrementalSpec | None] = table.name.apply(
        lambda state_table: IncrementalSpec(
            state_table=state_table, exporter_name=name, view_type=view_type
        )
    )
    return Watermarks(table=table, table_arn=table.arn, incremental=incremental)


@dataclass(frozen=True)
class ExportSettings:
    """How the machines export: the settings they read, resolved."""

    export_format: str
    sse_algorithm: str
    kms_key_arn: str | None
    bucket_owner: str | None
    table_access: TableAccess
    poll: PollPolicy
    export_timeout_hours: int
    run_timeout_hours: int
    max_concurrency: int


@dataclass(frozen=True)
class Machines:
    """The two machines, run -> table export."""

    table_export: DeployedMachine
    run: DeployedMachine


def export_machines(
    parent: pulumi.Resource,
    name: str,
    settings: ExportSettings,
    *,
    scope: pulumi.Output[AwsScope],
    targets: pulumi.Output[list[ExportTarget]],
    bucket_name: pulumi.Output[str],
    report_bucket_name: pulumi.Output[str],
    report_kms_key_arn: str | None,
    logs: Logs,
    watermarks: Watermarks,
    catalog_database: str | None,
    athena_workgroup: pulumi.Output[str] | None,
    current_optimizer_role_arn: pulumi.Output[str] | None = None,
    current_bucket_name: pulumi.Output[str] | None = None,
    tags: dict[str, str],
) -> Machines:
    """The table export machine ``<name>-table-export``, then the run machine
    ``<name>-run`` that starts it, each with its own role, whose policy is collected
    from the states of the machine it serves. ``current_optimizer_role_arn`` and
    ``current_bucket_name``: set when some table keeps a current table (``current/``)."""
    current_tables = current_optimizer_role_arn is not None

    def table_spec(v: dict[str, Any]) -> TableExportSpec:
        return TableExportSpec(
            destination=Destination(
                bucket=v["bucket"],
                export_format=settings.export_format,
                sse_algorithm=settings.sse_algorithm,
                kms_key_arn=v["key"],
                bucket_owner=v["owner"],
            ),
            poll=settings.poll,
            timeout_seconds=settings.export_timeout_hours * 3600,
            partition=v["scope"].partition,
            incremental=v["incremental"],
            catalog_database=catalog_database,
            athena_workgroup=v["workgroup"] if v["incremental"] or current_tables else None,
            current_tables=current_tables,
            current_optimizer_role_arn=v["optimizer"],
            current_bucket=v["current_bucket"],
        )

    def table_policy(v: dict[str, Any]) -> str:
        spec = table_spec(v)
        document = export_policies.table_export_role_policy(
            v["scope"],
            grants=table_export_machine(spec).grants(),
            targets=v["targets"],
            bucket=v["bucket"],
            kms_key_arn=v["key"],
            logging=logs.logging,
            tracing=logs.tracing,
            table_access=settings.table_access,
            state_table_arn=v["state"],
            catalog_database=catalog_database,
            athena_workgroup=spec.athena_workgroup,
            current_optimizer_role_arn=spec.current_optimizer_role_arn,
            current_bucket=spec.current_bucket,
        )
        granted = export_policies.granted_tables(document)
        if granted != policies.exact_table_resources(v["targets"]):
            shown = ", ".join(granted[:3]) + (" ..." if len(granted) > 3 else "")
            pulumi.log.warn(
                f"{name}: {len(v['targets'])} tables cannot be named one by one within IAM's "
                f"policy size limit, so the table export role is granted by pattern "
                f"({settings.table_access}): {shown}. Tables matching these patterns can be "
                "exported too.",
                resource=parent,
            )
        return json.dumps(document)

    table_inputs = pulumi.Output.all(
        scope=scope,
        targets=targets,
        bucket=bucket_name,
        owner=settings.bucket_owner,
        key=settings.kms_key_arn,
        state=watermarks.table_arn,
        incremental=watermarks.incremental,
        workgroup=athena_workgroup,
        optimizer=current_optimizer_role_arn,
        current_bucket=current_bucket_name,
    )
    table_machine = state_machine(
        parent,
        f"{name}-table-export",
        scope=scope,
        policy=table_inputs.apply(table_policy),
        definition=table_inputs.apply(
            lambda v: json.dumps(table_export_machine(table_spec(v)).render())
        ),
        logs=logs,
        tags=tags,
    )

    def run_spec(v: dict[str, Any]) -> RunSpec:
        return RunSpec(
            table_machine_arn=v["table_arn"],
            bucket=v["bucket"],
            targets=v["targets"],
            max_concurrency=settings.max_concurrency,
            timeout_seconds=settings.run_timeout_hours * 3600,
            partition=v["scope"].partition,
        )

    def run_policy(v: dict[str, Any]) -> str:
        return json.dumps(
            export_policies.run_role_policy(
                v["scope"],
                grants=run_machine(run_spec(v)).grants(),
                run_machine_name=f"{name}-run{policies.AUTONAME_SUFFIX}",
                table_machine_arn=v["table_arn"],
                table_machine_name=v["table_name"],
                bucket=v["bucket"],
                report_prefix=REPORT_PREFIX,
                map_label=MAP_LABEL,
                kms_key_arn=v["key"],
                logging=logs.logging,
                tracing=logs.tracing,
            )
        )

    run_inputs = pulumi.Output.all(
        scope=scope,
        targets=targets,
        bucket=report_bucket_name,
        key=report_kms_key_arn,
        table_arn=table_machine.machine.arn,
        table_name=table_machine.machine.name,
    )
    run = state_machine(
        parent,
        f"{name}-run",
        scope=scope,
        policy=run_inputs.apply(run_policy),
        definition=run_inputs.apply(lambda v: json.dumps(run_machine(run_spec(v)).render())),
        logs=logs,
        tags=tags,
    )
    return Machines(table_export=table_machine, run=run)


@dataclass(frozen=True)
class RunSchedule:
    """The schedule that starts runs, and the scheduler role's policy it waits for."""

    schedule: aws.scheduler.Schedule
    policy: aws.iam.RolePolicy
    """``<name>-scheduler-policy``: start runs and drills, park undeliverable starts."""
    input_text: str
    """The JSON input each run starts with."""


def run_schedule(
    parent: pulumi.Resource,
    name: str,
    *,
    scheduler: Scheduler,
    run_machine_arn: pulumi.Output[str],
    drill_machine_arn: pulumi.Output[str] | None,
    expression: str,
    timezone: str,
    enabled: bool,
    window_minutes: int | None,
) -> RunSchedule:
    """The schedule ``<name>-schedule`` and the scheduler role's policy, which lets it
    start runs (and restore drills, given their machine)."""
    policy = aws.iam.RolePolicy(
        f"{name}-scheduler-policy",
        role=scheduler.role.id,
        policy=pulumi.Output.all(
            run_machine_arn=run_machine_arn,
            dead_letter_queue_arn=scheduler.dead_letters.arn,
            drill_machine_arn=drill_machine_arn,
        ).apply(lambda v: json.dumps(export_policies.scheduler_role_policy(**v))),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    input_text = json.dumps(schedule_input())
    schedule = aws.scheduler.Schedule(
        f"{name}-schedule",
        group_name=scheduler.group.name,
        description=f"Exports DynamoDB tables to S3 ({name})",
        schedule_expression=expression,
        schedule_expression_timezone=timezone,
        state="ENABLED" if enabled else "DISABLED",
        flexible_time_window=(
            {"mode": "FLEXIBLE", "maximum_window_in_minutes": window_minutes}
            if window_minutes
            else {"mode": "OFF"}
        ),
        target={
            "arn": run_machine_arn,
            "role_arn": scheduler.role.arn,
            "input": input_text,
            # Redelivery is safe: the run is keyed by its scheduled time.
            "retry_policy": {
                "maximum_event_age_in_seconds": 6 * 3600,
                "maximum_retry_attempts": 20,
            },
            "dead_letter_config": {"arn": scheduler.dead_letters.arn},
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
    )
    return RunSchedule(schedule=schedule, policy=policy, input_text=input_text)


@dataclass(frozen=True)
class AlarmTopic:
    """The topic alarms notify: the one given, or the one created (``topic``)."""

    topic: aws.sns.Topic | None
    arn: pulumi.Input[str] | None
    """None when alarms are off and no topic was given."""


def alarm_topic(
    parent: pulumi.Resource,
    name: str,
    *,
    given_arn: pulumi.Input[str] | None,
    create: bool,
    emails: Sequence[str],
    tags: dict[str, str],
) -> AlarmTopic:
    """The topic given; or, when ``create`` and none was given, ``<name>-alarms`` with
    an email subscription per address."""
    if given_arn is not None or not create:
        return AlarmTopic(topic=None, arn=given_arn)
    child = pulumi.ResourceOptions(parent=parent)
    topic = aws.sns.Topic(f"{name}-alarms", tags=tags, opts=child)
    for index, email in enumerate(emails):
        aws.sns.TopicSubscription(
            f"{name}-alarm-email-{index}",
            topic=topic.arn,
            protocol="email",
            endpoint=email,
            opts=child,
        )
    return AlarmTopic(topic=topic, arn=topic.arn)


def dashboard_name_of(name: str) -> str:
    """The dashboard's name (CloudWatch: letters, digits, ``-`` and ``_``, 255 at most)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{name}-table-exporter")[:255]


def described(spec: AlarmSpec, dashboard_name: str) -> Callable[[AwsScope], str]:
    """An alarm's description, given the scope: what happened, where to look, and what
    to do."""

    def text(scope: AwsScope) -> str:
        return (
            f"{spec.description} Dashboard: {console_url(scope.region, dashboard_name)} "
            f"Runbook: {spec.runbook}"
        )

    return text


def dashboard(
    parent: pulumi.Resource,
    name: str,
    *,
    dashboard_name: str,
    scope: pulumi.Output[AwsScope],
    machines: Machines,
    dead_letters: aws.sqs.Queue,
    alarm_arns: list[pulumi.Output[str]],
    delivery_streams: list[pulumi.Output[str]],
    pipes: list[pulumi.Output[str]],
    incremental: bool,
    athena_workgroup: pulumi.Output[str] | None = None,
) -> aws.cloudwatch.Dashboard:
    """One dashboard ``<name>-dashboard`` for on-call, with the alarms on it."""
    return aws.cloudwatch.Dashboard(
        f"{name}-dashboard",
        dashboard_name=dashboard_name,
        dashboard_body=pulumi.Output.all(
            scope=scope,
            run=machines.run.machine.arn,
            table=machines.table_export.machine.arn,
            queue=dead_letters.name,
            alarms=alarm_arns,
            deliveries=delivery_streams,
            pipes=pipes,
            workgroup=athena_workgroup,
        ).apply(
            lambda v: json.dumps(
                dashboard_body(
                    DashboardSpec(
                        region=v["scope"].region,
                        run_machine_arn=v["run"],
                        table_machine_arn=v["table"],
                        dead_letter_queue=v["queue"],
                        exporter=name,
                        alarm_arns=v["alarms"],
                        incremental=incremental,
                        delivery_streams=v["deliveries"],
                        pipes=v["pipes"],
                        athena_workgroup=v["workgroup"],
                    )
                )
            )
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
