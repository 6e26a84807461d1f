"""Change history in the exporter: a ``ChangeHistory`` per table that has it on, and
the pipe watch over their pipes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from table_exporter.catalog.schema import Column
from table_exporter.history.component import ChangeHistory, ChangeHistoryArgs, key_columns_from
from table_exporter.history.pipe_watch import SCHEDULE as PIPE_WATCH_SCHEDULE
from table_exporter.history.pipe_watch import (
    PipeWatchSpec,
    pipe_watch_alarm_specs,
    pipe_watch_definition,
    pipe_watch_role_policy,
)
from table_exporter.kernel import iam, limits
from table_exporter.kernel.alarms import AlarmSpec
from table_exporter.kernel.resources import (
    DeployedMachine,
    Logs,
    Scheduler,
    metric_alarms,
    state_machine,
)
from table_exporter.kernel.targets import AwsScope, normalise_prefix


def _key_columns(attributes: list[dict[str, str]] | None) -> list[Column] | None:
    """A table entry's ``key_attributes`` (partition key first) as history key columns."""
    if not attributes:
        return None
    names = [attribute["name"] for attribute in attributes]
    return key_columns_from(names[0], names[1] if len(names) > 1 else None, attributes)


@dataclass(frozen=True)
class Histories:
    """The change histories by table name, and each one's export prefix."""

    by_table: dict[str, ChangeHistory]
    prefixes: dict[str, str]


def change_histories(
    parent: pulumi.Resource,
    name: str,
    *,
    tables: Sequence[Mapping[str, Any]],
    default_on: bool,
    default_prefix: str,
    scope: pulumi.Output[AwsScope],
    bucket_name: pulumi.Output[str],
    kms_key_arn: str | None,
    glue_database: str | None,
    athena_workgroup: pulumi.Output[str] | None,
    alarm_topic_arn: pulumi.Input[str] | None,
    tags: dict[str, str],
) -> Histories:
    """Per table entry with change history on (``default_on`` unless it says):
    stream -> Pipes -> Firehose -> S3, as a ``ChangeHistory`` child."""
    entries = [
        (str(entry["table"]).split(":table/")[-1], entry)
        for entry in tables
        if entry.get("change_history", default_on)
    ]
    names = limits.history_names(name, [table for table, _ in entries])
    by_table: dict[str, ChangeHistory] = {}
    prefixes: dict[str, str] = {}
    for table, entry in entries:
        prefixes[table] = normalise_prefix(entry.get("prefix") or default_prefix)
        by_table[table] = ChangeHistory(
            names[table],
            ChangeHistoryArgs(
                table_name=table,
                bucket_name=bucket_name,
                bucket_arn=pulumi.Output.all(scope=scope, bucket=bucket_name).apply(
                    lambda v: f"arn:{v['scope'].partition}:s3:::{v['bucket']}"
                ),
                prefix=prefixes[table],
                kms_key_arn=kms_key_arn,
                glue_database=glue_database,
                athena_workgroup=athena_workgroup,
                alarm_topic_arn=alarm_topic_arn,
                stream_arn=entry.get("stream_arn"),
                key_columns=_key_columns(entry.get("key_attributes")),
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return Histories(by_table=by_table, prefixes=prefixes)


@dataclass(frozen=True)
class PipeWatch:
    """The machine that fails when a pipe is not running, its schedule and alarms."""

    machine: DeployedMachine
    schedule: aws.scheduler.Schedule
    alarms: dict[str, aws.cloudwatch.MetricAlarm]


def pipe_watch(
    parent: pulumi.Resource,
    name: str,
    *,
    histories: Histories,
    scope: pulumi.Output[AwsScope],
    scheduler: Scheduler,
    logs: Logs,
    alarm_topic_arn: pulumi.Input[str] | None,
    describe: Callable[[AlarmSpec], pulumi.Input[str]],
    tags: dict[str, str],
) -> PipeWatch:
    """A stopped pipe publishes no metrics: the machine ``<name>-pipe-watch`` asks each
    pipe its state on a schedule, and its alarms (given a topic) fire when one is not
    running (``pipe_watch.py``)."""
    pipes = [history.pipe for history in histories.by_table.values()]
    inputs = pulumi.Output.all(
        names=pulumi.Output.all(*[pipe.name for pipe in pipes]),
        arns=pulumi.Output.all(*[pipe.arn for pipe in pipes]),
        scope=scope,
    )

    def spec(v: dict[str, Any]) -> PipeWatchSpec:
        return PipeWatchSpec(pipe_names=sorted(v["names"]), partition=v["scope"].partition)

    watch = state_machine(
        parent,
        f"{name}-pipe-watch",
        scope=scope,
        policy=inputs.apply(
            lambda v: json.dumps(pipe_watch_role_policy(spec(v), pipe_arns=v["arns"]))
        ),
        definition=inputs.apply(lambda v: json.dumps(pipe_watch_definition(spec(v)))),
        logs=logs,
        tags=tags,
    )
    start = aws.iam.RolePolicy(
        f"{name}-scheduler-pipe-watch-policy",
        role=scheduler.role.id,
        policy=watch.machine.arn.apply(
            lambda arn: json.dumps(
                iam.document(iam.allow("StartPipeWatches", ["states:StartExecution"], [arn]))
            )
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    schedule = aws.scheduler.Schedule(
        f"{name}-pipe-watch",
        group_name=scheduler.group.name,
        description=f"Checks that the change-history pipes are running ({name})",
        schedule_expression=PIPE_WATCH_SCHEDULE,
        state="ENABLED",
        flexible_time_window={"mode": "OFF"},
        target={
            "arn": watch.machine.arn,
            "role_arn": scheduler.role.arn,
            "input": "{}",
            "retry_policy": {"maximum_event_age_in_seconds": 1800, "maximum_retry_attempts": 5},
            "dead_letter_config": {"arn": scheduler.dead_letters.arn},
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[start]),
    )
    alarms = (
        metric_alarms(
            parent,
            name,
            pipe_watch_alarm_specs(),
            dimensions={"pipe_watch": {"StateMachineArn": watch.machine.arn}},
            topic_arn=alarm_topic_arn,
            describe=describe,
            tags=tags,
        )
        if alarm_topic_arn is not None
        else {}
    )
    return PipeWatch(machine=watch, schedule=schedule, alarms=alarms)
