"""``TableImporter``: in the destination account, the newest export becomes a table.

The component registers the import machine (``machine.py``), its role, schedule and
alarms; its arguments are checked first (``args.py``).

No ``from __future__ import annotations``: Pulumi's schema analyzer reads
``TableImporterArgs`` and the component's annotations as objects (``provider.py``).
"""

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from table_exporter.importer.args import (
    ImporterArgs,
    ImporterSpec,
    TableImporterArgsError,
    importer_settings,
)
from table_exporter.importer.machine import (
    import_definition,
    importer_alarm_specs,
    importer_role_policy,
)
from table_exporter.kernel.iam import allow, document
from table_exporter.kernel.limits import importer_name_problem
from table_exporter.kernel.policies import scheduler_trust_policy
from table_exporter.kernel.resources import metric_alarm, state_machine
from table_exporter.kernel.targets import AwsScope

"""Where the exporter puts a table's full exports (``full/<run date>/``, run machine)
and incremental baselines (``baseline/<time>/``, table export machine) under its prefix
for the table; each holds ``AWSDynamoDB/<ExportId>/``."""

"""What ImportTable's caller needs to log import errors ("Requesting a table import in
DynamoDB", Setting up IAM permissions), on ``log-group:/aws-dynamodb/*``; that page
lists ``logs:DescribeLogGroups`` there too, which takes only ``"*"`` (Service
Authorization Reference, as parliament ships it), so it is granted on ``"*"``."""


class TableImporter(pulumi.ComponentResource):
    """Deployed in the destination account: imports the newest export on a schedule.

    Publishes the current table's name in the SSM parameter ``spec.parameter_name``
    (created here with a placeholder; the machine overwrites it). No Lambda.
    """

    # The outputs: the schema's, which every Pulumi language sees (``provider.py``).
    state_machine_arn: pulumi.Output[str]
    """ARN of the import state machine."""
    state_machine_name: pulumi.Output[str]
    """Name of the import state machine."""
    parameter_name: pulumi.Output[str]
    """The SSM parameter that names the current table."""
    role_arn: pulumi.Output[str]
    """ARN of the import machine's role: the role the exporter's account grants read
    access to its exports (``destination_account_policies``)."""
    schedule_arn: pulumi.Output[str]
    """ARN of the schedule that starts the imports."""

    if TYPE_CHECKING:
        # Python-only fields: the child resources. Typed for type checkers only, so
        # they are no schema outputs.
        state_machine: aws.sfn.StateMachine
        role: aws.iam.Role
        parameter: aws.ssm.Parameter
        schedule: aws.scheduler.Schedule
        alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(
        self,
        name: str,
        args: ImporterArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        schedule_expression: str = "cron(0 6 * * ? *)",
        schedule_timezone: str = "UTC",
        kms_key_arn: str | None = None,
        alarm_actions: Sequence[pulumi.Input[str]] | None = None,
        alarm_window_hours: int = 48,
    ) -> None:
        """``args``: an ``ImporterSpec`` with the keyword arguments, or one
        ``TableImporterArgs`` mapping (what other Pulumi languages send), whose keys
        override the keyword arguments."""
        if isinstance(args, ImporterSpec):
            spec = args
        else:
            spec, settings = importer_settings(args)
            schedule_expression = settings.get("schedule_expression", schedule_expression)
            schedule_timezone = settings.get("schedule_timezone", schedule_timezone)
            kms_key_arn = settings.get("kms_key_arn", kms_key_arn)
            alarm_actions = settings.get("alarm_actions", alarm_actions)
            alarm_window_hours = settings.get("alarm_window_hours", alarm_window_hours)
        problem = importer_name_problem(name)
        if problem:  # before anything is registered
            raise TableImporterArgsError(problem)
        super().__init__("table-exporter:index:TableImporter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output()
        region = aws.get_region_output().region
        scope = pulumi.Output.all(identity.account_id, region).apply(
            lambda v: AwsScope(partition=spec.partition, region=v[1], account_id=v[0])
        )
        # Step Functions may assume the role for this machine only (the exporter's form).
        machine = state_machine(
            self,
            f"{name}-import",
            scope=scope,
            policy=scope.apply(
                lambda s: json.dumps(
                    importer_role_policy(
                        spec, region=s.region, account_id=s.account_id, kms_key_arn=kms_key_arn
                    )
                )
            ),
            definition=json.dumps(import_definition(spec)),
            named=True,
        )
        self.role = machine.role
        self.state_machine = machine.machine
        self.parameter = aws.ssm.Parameter(
            f"{name}-current-table",
            name=spec.parameter_name,
            type="String",
            value="none",
            description="The table the newest complete import created; set by the import machine.",
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"]),
        )
        # Scheduler acting for this account's default schedule group only, as the
        # exporter's scheduler role (confused deputy: aws:SourceAccount and aws:SourceArn).
        scheduler_role = aws.iam.Role(
            f"{name}-import-scheduler",
            assume_role_policy=scope.apply(
                lambda s: json.dumps(
                    scheduler_trust_policy(s, s.arn("scheduler", "schedule-group/default"))
                )
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-import-scheduler-policy",
            role=scheduler_role.id,
            policy=self.state_machine.arn.apply(
                lambda arn: json.dumps(
                    document(allow("StartImports", ["states:StartExecution"], [arn]))
                )
            ),
            opts=child,
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-import-schedule",
            schedule_expression=schedule_expression,
            schedule_expression_timezone=schedule_timezone,
            flexible_time_window={"mode": "OFF"},
            target={
                "arn": self.state_machine.arn,
                "role_arn": scheduler_role.arn,
                "input": json.dumps({"scheduledTime": "<aws.scheduler.scheduled-time>"}),
            },
            opts=child,
        )
        self.alarms = [
            metric_alarm(
                self,
                name,
                alarm,
                dimensions={"StateMachineArn": self.state_machine.arn},
                description=alarm.description,
                alarm_actions=list(alarm_actions or []),
            )
            for alarm in importer_alarm_specs(window_hours=alarm_window_hours)
        ]
        self.state_machine_arn = self.state_machine.arn
        self.state_machine_name = self.state_machine.name
        self.parameter_name = self.parameter.name
        self.role_arn = self.role.arn
        self.schedule_arn = self.schedule.arn
        self.register_outputs(
            {
                "stateMachineArn": self.state_machine_arn,
                "stateMachineName": self.state_machine_name,
                "parameterName": self.parameter_name,
                "roleArn": self.role_arn,
                "scheduleArn": self.schedule_arn,
            }
        )
