"""The restore drill's resources: its machine, and one schedule per table."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from table_exporter.drill.machine import DrillSpec, drill_definition, drill_role_policy
from table_exporter.kernel.policies import TableAccess
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.resources import DeployedMachine, Logs, Scheduler, state_machine
from table_exporter.kernel.targets import AwsScope, ExportTarget


@dataclass(frozen=True)
class DrillSettings:
    """What the drill machine reads: where exports are, how it polls, how its tables
    are granted."""

    bucket_owner: str | None
    kms_key_arn: str | None
    poll: PollPolicy
    table_access: TableAccess


def drill_machine(
    parent: pulumi.Resource,
    name: str,
    settings: DrillSettings,
    *,
    scope: pulumi.Output[AwsScope],
    targets: pulumi.Output[list[ExportTarget]],
    bucket_name: pulumi.Output[str],
    logs: Logs,
    tags: dict[str, str],
) -> DeployedMachine:
    """The machine ``<name>-drill``, which restores a table's newest export into a
    scratch table named ``<name>-drill-...`` and checks it."""

    def drill_spec(v: dict[str, Any]) -> DrillSpec:
        return DrillSpec(
            bucket=v["bucket"],
            table_prefix=re.sub(r"[^A-Za-z0-9_.-]", "-", f"{name}-drill-")[:100],
            bucket_owner=v["owner"],
            poll=settings.poll,
            partition=v["scope"].partition,
        )

    inputs = pulumi.Output.all(
        scope=scope,
        bucket=bucket_name,
        owner=settings.bucket_owner,
        key=settings.kms_key_arn,
        targets=targets,
    )
    return state_machine(
        parent,
        f"{name}-drill",
        scope=scope,
        policy=inputs.apply(
            lambda v: json.dumps(
                drill_role_policy(
                    drill_spec(v),
                    region=v["scope"].region,
                    account_id=v["scope"].account_id,
                    table_arns=[t.table_arn for t in v["targets"]],
                    kms_key_arn=v["key"],
                    table_access=settings.table_access,
                )
            )
        ),
        definition=inputs.apply(lambda v: json.dumps(drill_definition(drill_spec(v)))),
        logs=logs,
        tags=tags,
    )


def _drill_input(index: int) -> Callable[[list[ExportTarget]], str]:
    """A drill schedule's input: the table it drills."""

    def text(targets: list[ExportTarget]) -> str:
        return json.dumps({"tableArn": targets[index].table_arn})

    return text


def drill_schedules(
    parent: pulumi.Resource,
    name: str,
    *,
    machine: DeployedMachine,
    scheduler: Scheduler,
    start_policy: aws.iam.RolePolicy,
    targets: pulumi.Output[list[ExportTarget]],
    table_count: int,
    expression: str,
    timezone: str,
) -> list[aws.scheduler.Schedule]:
    """One schedule ``<name>-drill-schedule-<i>`` per table, each waiting for the
    scheduler role's ``start_policy``, which lets it start drills."""
    return [
        aws.scheduler.Schedule(
            f"{name}-drill-schedule-{index}",
            group_name=scheduler.group.name,
            description=f"Restore drill of table {index} ({name})",
            schedule_expression=expression,
            schedule_expression_timezone=timezone,
            state="ENABLED",
            # Spread the drills over an hour: each imports a whole table.
            flexible_time_window={"mode": "FLEXIBLE", "maximum_window_in_minutes": 60},
            target={
                "arn": machine.machine.arn,
                "role_arn": scheduler.role.arn,
                "input": targets.apply(_drill_input(index)),
                "retry_policy": {
                    "maximum_event_age_in_seconds": 6 * 3600,
                    "maximum_retry_attempts": 20,
                },
                "dead_letter_config": {"arn": scheduler.dead_letters.arn},
            },
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[start_policy]),
        )
        for index in range(table_count)
    ]
