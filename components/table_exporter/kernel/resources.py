"""The AWS resources every feature makes the same way, with the typed results it wires.

``state_machine`` is the one way a state machine is deployed here (the exporter's run
and table export machines, the restore drill, the pipe watch and the importer): a role
only that machine may assume, the role's inline policy, and the machine, which waits
for its policy. ``machine_logs`` is the log group the exporter's machines share and how
much they log; ``scheduler`` the schedule group, role and dead-letter queue a
component's schedules share; ``metric_alarm`` one alarm from its ``AlarmSpec``.

Each builder takes the component it adds children to (``parent``) and exactly what it
wires, and returns a frozen dataclass of what it made.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from table_exporter.kernel.alarms import AlarmSpec
from table_exporter.kernel.policies import (
    AUTONAME_SUFFIX,
    scheduler_trust_policy,
    state_machine_arn,
    states_trust_policy,
)
from table_exporter.kernel.targets import AwsScope


@dataclass(frozen=True)
class Logs:
    """The log group the machines write to, at which level, and whether they are traced."""

    group: aws.cloudwatch.LogGroup
    level: str
    include_execution_data: bool
    tracing: bool

    @property
    def logging(self) -> bool:
        """Whether the machines log at all (their roles need log delivery only then)."""
        return self.level != "OFF"


def machine_logs(
    parent: pulumi.Resource,
    name: str,
    *,
    retention_days: int,
    level: str,
    include_execution_data: bool,
    tracing: bool,
    tags: Mapping[str, str],
) -> Logs:
    """The log group ``<name>-logs`` the machines share."""
    group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name_prefix=f"/aws/vendedlogs/states/{name}-",
        retention_in_days=retention_days,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return Logs(
        group=group, level=level, include_execution_data=include_execution_data, tracing=tracing
    )


@dataclass(frozen=True)
class DeployedMachine:
    """A state machine with its role and the role's inline policy."""

    machine: aws.sfn.StateMachine
    role: aws.iam.Role
    policy: aws.iam.RolePolicy


def state_machine(
    parent: pulumi.Resource,
    base: str,
    *,
    scope: pulumi.Output[AwsScope],
    policy: pulumi.Input[str],
    definition: pulumi.Input[str],
    logs: Logs | None = None,
    tags: Mapping[str, str] | None = None,
    named: bool = False,
) -> DeployedMachine:
    """The machine ``<base>``, its role ``<base>-role`` (only this machine may assume it)
    and the role's policy ``<base>-policy`` (``policy`` and ``definition`` as JSON).

    ``named``: the machine's name is ``base`` itself; otherwise Pulumi names it
    ``<base>-<7 characters>`` and the trust policy admits exactly that pattern. With
    ``logs``, a STANDARD machine that logs to their group and is traced as they say;
    without, the service's defaults (no logging, no tracing)."""
    arn_name = base if named else base + AUTONAME_SUFFIX
    role = aws.iam.Role(
        f"{base}-role",
        assume_role_policy=scope.apply(
            lambda s: json.dumps(states_trust_policy(s, state_machine_arn(s, arn_name)))
        ),
        tags=dict(tags) if tags is not None else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    role_policy = aws.iam.RolePolicy(
        f"{base}-policy",
        role=role.id,
        policy=policy,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    observed: dict[str, Any] = {}
    if logs is not None:
        observed = {
            "type": "STANDARD",
            "logging_configuration": aws.sfn.StateMachineLoggingConfigurationArgs(
                level=logs.level,
                include_execution_data=logs.include_execution_data,
                log_destination=logs.group.arn.apply(lambda arn: f"{arn}:*"),
            ),
            "tracing_configuration": aws.sfn.StateMachineTracingConfigurationArgs(
                enabled=logs.tracing
            ),
        }
    machine = aws.sfn.StateMachine(
        base,
        name=base if named else None,
        role_arn=role.arn,
        definition=definition,
        tags=dict(tags) if tags is not None else None,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[role_policy]),
        **observed,
    )
    return DeployedMachine(machine=machine, role=role, policy=role_policy)


@dataclass(frozen=True)
class Scheduler:
    """What a component's schedules share: their group, the role they start machines
    with, and the queue that keeps their undeliverable starts."""

    group: aws.scheduler.ScheduleGroup
    role: aws.iam.Role
    dead_letters: aws.sqs.Queue


def scheduler(
    parent: pulumi.Resource,
    name: str,
    *,
    scope: pulumi.Output[AwsScope],
    tags: Mapping[str, str],
) -> Scheduler:
    """The queue ``<name>-dlq``, the group ``<name>-schedules`` and the role
    ``<name>-scheduler-role`` only Scheduler acting for that group may assume; each
    feature grants the role what its schedules start."""
    child = pulumi.ResourceOptions(parent=parent)
    dead_letters = aws.sqs.Queue(
        f"{name}-dlq",
        message_retention_seconds=14 * 24 * 3600,
        sqs_managed_sse_enabled=True,
        tags=dict(tags),
        opts=child,
    )
    group = aws.scheduler.ScheduleGroup(f"{name}-schedules", tags=dict(tags), opts=child)
    role = aws.iam.Role(
        f"{name}-scheduler-role",
        assume_role_policy=pulumi.Output.all(scope=scope, group=group.arn).apply(
            lambda v: json.dumps(scheduler_trust_policy(v["scope"], v["group"]))
        ),
        tags=dict(tags),
        opts=child,
    )
    return Scheduler(group=group, role=role, dead_letters=dead_letters)


def metric_alarm(
    parent: pulumi.Resource,
    name: str,
    spec: AlarmSpec,
    *,
    dimensions: Mapping[str, pulumi.Input[str]],
    description: pulumi.Input[str],
    alarm_actions: Sequence[pulumi.Input[str]],
    ok_actions: Sequence[pulumi.Input[str]] | None = None,
    every_period: bool = False,
    tags: Mapping[str, str] | None = None,
) -> aws.cloudwatch.MetricAlarm:
    """The alarm ``<name>-alarm-<role>`` of ``spec``. ``every_period``: says so
    explicitly (``datapoints_to_alarm``), every evaluated period must breach."""
    return aws.cloudwatch.MetricAlarm(
        f"{name}-alarm-{spec.role}",
        alarm_description=description,
        namespace=spec.namespace,
        metric_name=spec.metric_name,
        dimensions=dimensions,
        statistic=spec.statistic,
        period=spec.period_seconds,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.evaluation_periods if every_period else None,
        comparison_operator=spec.comparison,
        threshold=spec.threshold,
        treat_missing_data=spec.treat_missing_data,
        alarm_actions=list(alarm_actions),
        ok_actions=list(ok_actions) if ok_actions is not None else None,
        tags=dict(tags) if tags is not None else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def metric_alarms(
    parent: pulumi.Resource,
    name: str,
    specs: Sequence[AlarmSpec],
    *,
    dimensions: Mapping[str, Mapping[str, pulumi.Input[str]]],
    topic_arn: pulumi.Input[str],
    describe: Callable[[AlarmSpec], pulumi.Input[str]],
    tags: Mapping[str, str],
) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """One alarm per spec, by role, on its subject's ``dimensions``, notifying
    ``topic_arn`` when it fires and when it clears."""
    return {
        spec.role: metric_alarm(
            parent,
            name,
            spec,
            dimensions=dimensions[spec.subject],
            description=describe(spec),
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            every_period=True,
            tags=tags,
        )
        for spec in specs
    }
