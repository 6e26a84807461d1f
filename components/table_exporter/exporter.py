"""The ``TableExporter`` component: wires the pure builders to AWS resources.

No ``from __future__ import annotations``: Pulumi's schema analyzer reads the class's
annotations and ``__init__``'s ``args`` as objects (``provider.py``).
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from table_exporter import rules
from table_exporter.args import (
    NO_ARGS,
    TableExporterArgs,
    TableExporterArgsError,
    call_arguments,
    resolve,
)
from table_exporter.catalog.schema import Column, columns_from, glue_member, glue_table_name
from table_exporter.destination import account_policies as cross_account
from table_exporter.destination.bucket import ExportBucket
from table_exporter.drill.machine import REPORT_PREFIX as DRILL_REPORT_PREFIX
from table_exporter.drill.machine import (
    DrillSpec,
    drill_alarm_specs,
    drill_definition,
    drill_role_policy,
)
from table_exporter.export import policies as export_policies
from table_exporter.export.alarms import alarm_specs
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
from table_exporter.history import spec as history_module
from table_exporter.history.component import ChangeHistory, ChangeHistoryArgs, key_columns_from
from table_exporter.history.pipe_watch import SCHEDULE as PIPE_WATCH_SCHEDULE
from table_exporter.history.pipe_watch import (
    PipeWatchSpec,
    pipe_watch_alarm_specs,
    pipe_watch_definition,
    pipe_watch_role_policy,
)
from table_exporter.kernel import iam, limits, policies
from table_exporter.kernel.alarms import AlarmSpec
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.targets import AwsScope, ExportTarget, normalise_prefix, table_arn

TYPE_TOKEN = "table-exporter:index:TableExporter"


MODES = {"FULL_EXPORT": "full", "INCREMENTAL_EXPORT": "incremental"}


def _members(columns: dict[str, str]) -> tuple[str, ...]:
    """Glue struct members of the declared attributes (key attributes come at run time)."""
    return tuple(glue_member(column) for column in columns_from(columns))


def _targets(
    scope: AwsScope, tables: list[dict[str, Any]], default_prefix: str, default_type: str
) -> list[ExportTarget]:
    # Tables that were Outputs are checked only now that the region is known: one
    # ``tables[<i>].table: <rule>`` line, as at construction.
    problems = [
        problem.line()
        for index, entry in enumerate(tables)
        for problem in rules.resolved_problems(
            ("tables", index, "table"), entry["table"], scope.region
        )
    ]
    if problems:
        raise TableExporterArgsError(problems)
    targets = [
        ExportTarget(
            table_arn=table_arn(entry["table"], scope),
            prefix=normalise_prefix(entry.get("prefix") or default_prefix),
            mode=MODES[entry.get("export_type") or default_type],
            columns=_members(entry.get("columns") or {}),
        )
        for entry in tables
    ]
    seen: dict[str, int] = {}
    for index, target in enumerate(targets):
        earlier = seen.setdefault(target.table_arn, index)
        if earlier != index:
            raise TableExporterArgsError(
                f"tables: table {target.table_name!r} is listed twice (tables[{earlier}] and "
                f"tables[{index}]); a name and an ARN of the same table count as the same"
            )
    return targets


def _key_columns(attributes: list[dict[str, str]] | None) -> list[Column] | None:
    """A table entry's ``key_attributes`` (partition key first) as history key columns."""
    if not attributes:
        return None
    names = [attribute["name"] for attribute in attributes]
    return key_columns_from(names[0], names[1] if len(names) > 1 else None, attributes)


def _drill_input(index: int) -> Callable[[list[ExportTarget]], str]:
    """A drill schedule's input: the table it drills."""

    def text(targets: list[ExportTarget]) -> str:
        return json.dumps({"tableArn": targets[index].table_arn})

    return text


def _described(spec: AlarmSpec, dashboard_name: str) -> Callable[[AwsScope], str]:
    """An alarm's description: what happened, where to look, and what to do."""

    def text(scope: AwsScope) -> str:
        return (
            f"{spec.description} Dashboard: {console_url(scope.region, dashboard_name)} "
            f"Runbook: {spec.runbook}"
        )

    return text


@dataclass
class _Wiring:
    """What the builders below share: the component's name, its resolved arguments and
    scope, and what each builder made that a later one wires to."""

    name: str
    values: dict[str, Any]
    tags: dict[str, str]
    child: pulumi.ResourceOptions
    scope: pulumi.Output[AwsScope]
    targets: pulumi.Output[list[ExportTarget]]
    logging: bool
    tracing: bool
    bucket_name: pulumi.Output[str] = field(init=False)
    report_bucket_name: pulumi.Output[str] = field(init=False)
    report_kms_key_arn: str | None = field(init=False)
    log_group: aws.cloudwatch.LogGroup = field(init=False)
    incremental: pulumi.Output[IncrementalSpec | None] = field(init=False)
    state_table_arn: pulumi.Input[str | None] = field(init=False)
    catalog_database: str | None = field(init=False)
    workgroup_name: pulumi.Input[str | None] = field(init=False)
    poll: PollPolicy = field(init=False)
    kms_key_arn: str | None = field(init=False)
    table_machine: aws.sfn.StateMachine = field(init=False)
    run: aws.sfn.StateMachine = field(init=False)
    dead_letters: aws.sqs.Queue = field(init=False)
    scheduler_role: aws.iam.Role = field(init=False)
    schedule_group: aws.scheduler.ScheduleGroup = field(init=False)
    input_text: str = field(init=False)
    topic_arn: pulumi.Input[str] | None = field(init=False)
    dashboard_name: str = field(init=False)


class TableExporter(pulumi.ComponentResource):
    """Scheduled, Lambda-free exports of DynamoDB tables to S3.

    Children: the run and table export state machines, each with its own role, and
    their log group; a schedule group, schedule, scheduler role and dead-letter
    queue; the alarms and their topic; the destination bucket when none is given; the
    watermark table when some table is incremental; the Glue database and Athena
    workgroup unless the catalog is off.
    """

    # The outputs: the schema's, which every Pulumi language sees (``provider.py``).
    run_state_machine_arn: pulumi.Output[str]
    """ARN of the run state machine, which exports every table once per run."""
    run_state_machine_name: pulumi.Output[str]
    """Name of the run state machine."""
    table_export_state_machine_arn: pulumi.Output[str]
    """ARN of the state machine that exports one table."""
    table_export_state_machine_name: pulumi.Output[str]
    """Name of the state machine that exports one table."""
    dashboard_name: pulumi.Output[str | None]
    """The CloudWatch dashboard's name; absent when ``dashboard_enabled`` is off."""
    schedule_arn: pulumi.Output[str]
    """ARN of the EventBridge Scheduler schedule that starts the runs."""
    bucket_name: pulumi.Output[str]
    """The destination bucket: the one given, or the one created."""
    run_role_arn: pulumi.Output[str]
    """ARN of the run state machine's role."""
    table_export_role_arn: pulumi.Output[str]
    """ARN of the table export state machine's role."""
    scheduler_role_arn: pulumi.Output[str]
    """ARN of the role the schedule starts runs with."""
    alarm_arns: pulumi.Output[dict[str, str]]
    """The alarms' ARNs, by alarm role (``failed``, ``stale``, ...); empty when alarms
    are off."""
    alarm_topic_arn: pulumi.Output[str | None]
    """The SNS topic alarms notify: the one given, or the one created; absent when alarms
    are off and no topic was given."""
    dead_letter_queue_arn: pulumi.Output[str]
    """ARN of the queue that keeps the schedule's undeliverable starts."""
    schedule_input: pulumi.Output[str]
    """The JSON input the schedule starts each run with; a run started by hand takes the
    same."""

    if TYPE_CHECKING:
        # Python-only fields: the child resources, for wiring or ``depends_on``. Typed
        # for type checkers only, so they are no schema outputs.
        run_state_machine: aws.sfn.StateMachine
        table_export_state_machine: aws.sfn.StateMachine
        schedule: aws.scheduler.Schedule
        bucket: ExportBucket | None
        # The run reports' bucket when the destination bucket is another account's: a
        # Distributed Map's ResultWriter must write in the machine's own account and Region.
        report_bucket: ExportBucket | None
        alarms: dict[str, aws.cloudwatch.MetricAlarm]
        topic: aws.sns.Topic | None
        state_table: aws.dynamodb.Table | None
        catalog_database: aws.glue.CatalogDatabase | None
        workgroup: aws.athena.Workgroup | None
        # The restore drill machine, when drills are on.
        drill_state_machine: aws.sfn.StateMachine | None
        # With change history on: the machine that fails when a pipe is not running.
        pipe_watch_state_machine: aws.sfn.StateMachine | None
        drill_schedules: list[aws.scheduler.Schedule]
        # Per table with change history on, by table name.
        change_histories: dict[str, ChangeHistory]
        dashboard: aws.cloudwatch.Dashboard | None
        log_group: aws.cloudwatch.LogGroup
        dead_letter_queue: aws.sqs.Queue
        run_role: aws.iam.Role
        table_export_role: aws.iam.Role
        scheduler_role: aws.iam.Role

    def __init__(
        self,
        name: str,
        args: TableExporterArgs = NO_ARGS,
        opts: pulumi.ResourceOptions | None = None,
        **keywords: Any,
    ):
        """``args`` as a mapping, ``TableExporter(name, {"tables": [...]})``, or as
        keywords, ``TableExporter(name, tables=[...])`` (not both)."""
        # Every argument is checked before anything is registered, this component included.
        values = resolve(call_arguments(args, keywords), name)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        tags = dict(values["tags"])
        logging = values["log_level"] != "OFF"
        tracing = bool(values["tracing_enabled"])
        self._log_level = values["log_level"]
        self._include_execution_data = bool(values["include_execution_data"])
        self._tracing = tracing
        self._roles: dict[str, aws.iam.Role] = {}

        scope: pulumi.Output[AwsScope] = pulumi.Output.all(
            partition=aws.get_partition_output(opts=invoke).partition,
            region=aws.get_region_output(opts=invoke).region,
            account_id=aws.get_caller_identity_output(opts=invoke).account_id,
        ).apply(lambda v: AwsScope(**v))
        targets = pulumi.Output.all(
            scope=scope, tables=pulumi.Output.from_input(list(values["tables"]))
        ).apply(
            lambda v: _targets(
                v["scope"], v["tables"], normalise_prefix(values["prefix"]), values["export_type"]
            )
        )

        self._scope, self._targets = scope, targets
        self._kms_key_arn: str | None = values.get("kms_key_arn")
        w = _Wiring(
            name=name,
            values=values,
            tags=tags,
            child=child,
            scope=scope,
            targets=targets,
            logging=logging,
            tracing=tracing,
        )
        self._destination(w)
        self._logs(w)
        self._watermarks(w)
        self._catalog(w)
        self._machines(w)
        self._restore_drills(w)
        self._schedules(w)
        self._alarms(w)
        self._change_history(w)
        self._dashboard(w)
        self._outputs(w)

    def _destination(self, w: _Wiring) -> None:
        """Destination bucket."""
        name = w.name
        values = w.values
        tags = w.tags
        child = w.child
        if values.get("bucket_name") is None:
            self.bucket = ExportBucket(
                f"{name}-bucket",
                sse_algorithm=values["sse_algorithm"],
                kms_key_arn=values.get("kms_key_arn"),
                noncurrent_version_expiration_days=values["noncurrent_version_expiration_days"],
                expiration_days=values.get("expiration_days"),
                tags=tags,
                opts=child,
            )
            bucket_name: pulumi.Output[str] = self.bucket.bucket.bucket
        else:
            self.bucket = None
            bucket_name = pulumi.Output.from_input(values["bucket_name"])
        w.bucket_name = bucket_name
        # "ResultWriter" (Step Functions developer guide): the bucket must be in the state
        # machine's own account and Region, else the run fails States.ResultWriterFailed.
        self.report_bucket = None
        w.report_bucket_name = bucket_name
        w.report_kms_key_arn = values.get("kms_key_arn")
        if values.get("bucket_owner") is not None:
            self.report_bucket = ExportBucket(
                f"{name}-reports",
                sse_algorithm="AES256",
                kms_key_arn=None,
                noncurrent_version_expiration_days=values["noncurrent_version_expiration_days"],
                expiration_days=values.get("expiration_days"),
                tags=tags,
                opts=child,
            )
            w.report_bucket_name = self.report_bucket.bucket.bucket
            w.report_kms_key_arn = None

    def _logs(self, w: _Wiring) -> None:
        """Logs shared by the state machines."""
        name = w.name
        values = w.values
        tags = w.tags
        child = w.child
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name_prefix=f"/aws/vendedlogs/states/{name}-",
            retention_in_days=values["log_retention_days"],
            tags=tags,
            opts=child,
        )
        w.log_group = log_group

    def _watermarks(self, w: _Wiring) -> None:
        """Watermarks of incremental tables, when there are any."""
        name = w.name
        values = w.values
        tags = w.tags
        child = w.child
        self.state_table = None
        incremental: pulumi.Output[IncrementalSpec | None] = pulumi.Output.from_input(None)
        state_table_arn: pulumi.Input[str | None] = None
        if any(
            (t.get("export_type") or values["export_type"]) == "INCREMENTAL_EXPORT"
            for t in values["tables"]
        ):
            self.state_table = aws.dynamodb.Table(
                f"{name}-state",
                billing_mode="PAY_PER_REQUEST",
                hash_key="pk",
                attributes=[{"name": "pk", "type": "S"}],
                point_in_time_recovery={"enabled": True},
                server_side_encryption={"enabled": True},
                tags=tags,
                opts=child,
            )
            state_table_arn = self.state_table.arn
            incremental = self.state_table.name.apply(
                lambda table: IncrementalSpec(
                    state_table=table, exporter_name=name, view_type=values["export_view_type"]
                )
            )
        w.incremental = incremental
        w.state_table_arn = state_table_arn

    def _catalog(self, w: _Wiring) -> None:
        """Athena: a Glue database the machines keep current, and a workgroup to query it."""
        name = w.name
        values = w.values
        tags = w.tags
        child = w.child
        bucket_name = w.bucket_name
        self.catalog_database = None
        self.workgroup = None
        catalog_database: str | None = None
        workgroup_name: pulumi.Input[str | None] = None
        if values["catalog_enabled"]:
            catalog_database = values.get("catalog_database_name") or glue_table_name(
                f"{name}_dynamodb_exports"
            )
            self.catalog_database = aws.glue.CatalogDatabase(
                f"{name}-catalog",
                name=catalog_database,
                description="Tables over the newest completed DynamoDB exports",
                opts=child,
            )
            self.workgroup = aws.athena.Workgroup(
                f"{name}-athena",
                force_destroy=False,
                configuration={
                    "enforce_workgroup_configuration": True,
                    "publish_cloudwatch_metrics_enabled": True,
                    "result_configuration": {
                        "output_location": bucket_name.apply(lambda b: f"s3://{b}/athena-results/"),
                        "encryption_configuration": (
                            {
                                "encryption_option": "SSE_KMS",
                                "kms_key_arn": values.get("kms_key_arn"),
                            }
                            if values["sse_algorithm"] == "KMS"
                            else {"encryption_option": "SSE_S3"}
                        ),
                    },
                },
                tags=tags,
                opts=child,
            )
            workgroup_name = self.workgroup.name
        w.catalog_database = catalog_database
        w.workgroup_name = workgroup_name

    def _machines(self, w: _Wiring) -> None:
        """The two machines, run -> table export, each with its own role, whose policy is
        collected from the states of the machine it serves."""
        name = w.name
        values = w.values
        tags = w.tags
        scope = w.scope
        targets = w.targets
        logging = w.logging
        tracing = w.tracing
        bucket_name = w.bucket_name
        log_group = w.log_group
        incremental = w.incremental
        state_table_arn = w.state_table_arn
        catalog_database = w.catalog_database
        workgroup_name = w.workgroup_name
        poll = PollPolicy(
            min_seconds=values["poll_min_seconds"], max_seconds=values["poll_max_seconds"]
        )
        table_access = values["table_access"]
        kms_key_arn = values.get("kms_key_arn")

        def table_spec(v: dict[str, Any]) -> TableExportSpec:
            return TableExportSpec(
                destination=Destination(
                    bucket=v["bucket"],
                    export_format=values["export_format"],
                    sse_algorithm=values["sse_algorithm"],
                    kms_key_arn=v["key"],
                    bucket_owner=v["owner"],
                ),
                poll=poll,
                timeout_seconds=values["export_timeout_hours"] * 3600,
                partition=v["scope"].partition,
                incremental=v["incremental"],
                catalog_database=catalog_database,
                athena_workgroup=v["workgroup"] if v["incremental"] else None,
            )

        def table_policy(v: dict[str, Any]) -> str:
            spec = table_spec(v)
            document = export_policies.table_export_role_policy(
                v["scope"],
                grants=table_export_machine(spec).grants(),
                targets=v["targets"],
                bucket=v["bucket"],
                kms_key_arn=v["key"],
                logging=logging,
                tracing=tracing,
                table_access=table_access,
                state_table_arn=v["state"],
                catalog_database=catalog_database,
                athena_workgroup=spec.athena_workgroup,
            )
            granted = policies.granted_tables(document)
            if granted != policies.exact_table_resources(v["targets"]):
                shown = ", ".join(granted[:3]) + (" ..." if len(granted) > 3 else "")
                pulumi.log.warn(
                    f"{name}: {len(v['targets'])} tables cannot be named one by one within IAM's "
                    f"policy size limit, so the table export role is granted by pattern "
                    f"({table_access}): {shown}. Tables matching these patterns can be exported too.",
                    resource=self,
                )
            return json.dumps(document)

        table_inputs = pulumi.Output.all(
            scope=scope,
            targets=targets,
            bucket=bucket_name,
            owner=values.get("bucket_owner"),
            key=kms_key_arn,
            state=state_table_arn,
            incremental=incremental,
            workgroup=workgroup_name,
        )
        table_machine = self._state_machine(
            name,
            "table-export",
            scope,
            policy=table_inputs.apply(table_policy),
            definition=table_inputs.apply(lambda v: table_export_machine(table_spec(v)).render()),
            log_group=log_group,
            tags=tags,
        )

        def run_spec(v: dict[str, Any]) -> RunSpec:
            return RunSpec(
                table_machine_arn=v["table_arn"],
                bucket=v["bucket"],
                targets=v["targets"],
                max_concurrency=values["max_concurrency"],
                timeout_seconds=values["run_timeout_hours"] * 3600,
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
                    logging=logging,
                    tracing=tracing,
                )
            )

        run_inputs = pulumi.Output.all(
            scope=scope,
            targets=targets,
            bucket=w.report_bucket_name,
            key=w.report_kms_key_arn,
            table_arn=table_machine.arn,
            table_name=table_machine.name,
        )
        run = self._state_machine(
            name,
            "run",
            scope,
            policy=run_inputs.apply(run_policy),
            definition=run_inputs.apply(lambda v: run_machine(run_spec(v)).render()),
            log_group=log_group,
            tags=tags,
        )
        self.table_export_state_machine = table_machine
        self.run_state_machine = run
        w.poll = poll
        w.kms_key_arn = kms_key_arn
        w.table_machine = table_machine
        w.run = run

    def _restore_drills(self, w: _Wiring) -> None:
        """Restore drills, when on: one machine, one schedule per table (below)."""
        name = w.name
        values = w.values
        tags = w.tags
        scope = w.scope
        targets = w.targets
        bucket_name = w.bucket_name
        log_group = w.log_group
        poll = w.poll
        kms_key_arn = w.kms_key_arn
        self.drill_state_machine = None
        if values["restore_drill_enabled"]:

            def drill_spec(v: dict[str, Any]) -> DrillSpec:
                return DrillSpec(
                    bucket=v["bucket"],
                    table_prefix=re.sub(r"[^A-Za-z0-9_.-]", "-", f"{name}-drill-")[:100],
                    bucket_owner=v["owner"],
                    poll=poll,
                    partition=v["scope"].partition,
                )

            drill_inputs = pulumi.Output.all(
                scope=scope,
                bucket=bucket_name,
                owner=values.get("bucket_owner"),
                key=kms_key_arn,
                targets=targets,
            )
            self.drill_state_machine = self._state_machine(
                name,
                "drill",
                scope,
                policy=drill_inputs.apply(
                    lambda v: json.dumps(
                        drill_role_policy(
                            drill_spec(v),
                            region=v["scope"].region,
                            account_id=v["scope"].account_id,
                            table_arns=[t.table_arn for t in v["targets"]],
                            kms_key_arn=v["key"],
                            table_access=values["table_access"],
                        )
                    )
                ),
                definition=drill_inputs.apply(lambda v: drill_definition(drill_spec(v))),
                log_group=log_group,
                tags=tags,
            )

    def _schedules(self, w: _Wiring) -> None:
        """Schedule, its role and dead-letter queue."""
        name = w.name
        values = w.values
        tags = w.tags
        child = w.child
        scope = w.scope
        targets = w.targets
        dead_letters = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=14 * 24 * 3600,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=child,
        )
        group = aws.scheduler.ScheduleGroup(f"{name}-schedules", tags=tags, opts=child)
        scheduler_role = aws.iam.Role(
            f"{name}-scheduler-role",
            assume_role_policy=pulumi.Output.all(scope=scope, group=group.arn).apply(
                lambda v: json.dumps(policies.scheduler_trust_policy(v["scope"], v["group"]))
            ),
            tags=tags,
            opts=child,
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-policy",
            role=scheduler_role.id,
            policy=pulumi.Output.all(
                run_machine_arn=self.run_state_machine.arn,
                dead_letter_queue_arn=dead_letters.arn,
                drill_machine_arn=self.drill_state_machine.arn
                if self.drill_state_machine is not None
                else None,
            ).apply(lambda v: json.dumps(export_policies.scheduler_role_policy(**v))),
            opts=child,
        )
        window = values["flexible_window_minutes"]
        input_text = json.dumps(schedule_input())
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            group_name=group.name,
            description=f"Exports DynamoDB tables to S3 ({name})",
            schedule_expression=values["schedule_expression"],
            schedule_expression_timezone=values["schedule_timezone"],
            state="ENABLED" if values["schedule_enabled"] else "DISABLED",
            flexible_time_window=(
                {"mode": "FLEXIBLE", "maximum_window_in_minutes": window}
                if window
                else {"mode": "OFF"}
            ),
            target={
                "arn": self.run_state_machine.arn,
                "role_arn": scheduler_role.arn,
                "input": input_text,
                # Redelivery is safe: the run is keyed by its scheduled time.
                "retry_policy": {
                    "maximum_event_age_in_seconds": 6 * 3600,
                    "maximum_retry_attempts": 20,
                },
                "dead_letter_config": {"arn": dead_letters.arn},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_policy]),
        )
        self.drill_schedules = []
        if self.drill_state_machine is not None:
            for index in range(len(values["tables"])):
                self.drill_schedules.append(
                    aws.scheduler.Schedule(
                        f"{name}-drill-schedule-{index}",
                        group_name=group.name,
                        description=f"Restore drill of table {index} ({name})",
                        schedule_expression=values["restore_drill_schedule"],
                        schedule_expression_timezone=values["schedule_timezone"],
                        state="ENABLED",
                        # Spread the drills over an hour: each imports a whole table.
                        flexible_time_window={"mode": "FLEXIBLE", "maximum_window_in_minutes": 60},
                        target={
                            "arn": self.drill_state_machine.arn,
                            "role_arn": scheduler_role.arn,
                            "input": targets.apply(_drill_input(index)),
                            "retry_policy": {
                                "maximum_event_age_in_seconds": 6 * 3600,
                                "maximum_retry_attempts": 20,
                            },
                            "dead_letter_config": {"arn": dead_letters.arn},
                        },
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_policy]),
                    )
                )
        w.dead_letters = dead_letters
        w.scheduler_role = scheduler_role
        w.schedule_group = group
        w.input_text = input_text

    def _alarms(self, w: _Wiring) -> None:
        """Alarms."""
        name = w.name
        values = w.values
        tags = w.tags
        child = w.child
        scope = w.scope
        dead_letters = w.dead_letters
        dashboard_name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{name}-table-exporter")[:255]
        self.topic = None
        self.alarms = {}
        topic_arn: pulumi.Input[str] | None = values.get("alarm_topic_arn")
        if values["alarms_enabled"]:
            if topic_arn is None:
                self.topic = aws.sns.Topic(f"{name}-alarms", tags=tags, opts=child)
                for index, email in enumerate(values["alarm_emails"]):
                    aws.sns.TopicSubscription(
                        f"{name}-alarm-email-{index}",
                        topic=self.topic.arn,
                        protocol="email",
                        endpoint=email,
                        opts=child,
                    )
                topic_arn = self.topic.arn
            dimensions: dict[str, Mapping[str, pulumi.Input[str]]] = {
                "run": {"StateMachineArn": self.run_state_machine.arn},
                "table_export": {"StateMachineArn": self.table_export_state_machine.arn},
                "dead_letter_queue": {"QueueName": dead_letters.name},
                "exporter": {"Exporter": name},
            }
            specs = alarm_specs(
                staleness_hours=values["staleness_hours"],
                schedule_enabled=values["schedule_enabled"],
                incremental=self.state_table is not None,
                watermark_lag_hours=values["watermark_lag_alarm_hours"],
            )
            if self.drill_state_machine is not None:
                dimensions["drill"] = {"StateMachineArn": self.drill_state_machine.arn}
                specs += drill_alarm_specs(window_hours=values["restore_drill_window_hours"])
            for spec in specs:
                description = scope.apply(_described(spec, dashboard_name))
                self.alarms[spec.role] = self._alarm(
                    name, spec, dimensions[spec.subject], topic_arn, tags, description
                )
        w.topic_arn = topic_arn
        w.dashboard_name = dashboard_name

    def _change_history(self, w: _Wiring) -> None:
        """Change history, per table that has it on: stream -> Pipes -> Firehose -> S3."""
        name = w.name
        values = w.values
        tags = w.tags
        child = w.child
        scope = w.scope
        bucket_name = w.bucket_name
        kms_key_arn = w.kms_key_arn
        catalog_database = w.catalog_database
        topic_arn = w.topic_arn
        self.change_histories = {}
        self._history_prefixes: dict[str, str] = {}
        entries = [
            (str(entry["table"]).split(":table/")[-1], entry)
            for entry in values["tables"]
            if entry.get("change_history", values["change_history"])
        ]
        history_names = limits.history_names(name, [table for table, _ in entries])
        for table, entry in entries:
            self._history_prefixes[table] = normalise_prefix(entry.get("prefix") or values["prefix"])
            self.change_histories[table] = ChangeHistory(
                history_names[table],
                ChangeHistoryArgs(
                    table_name=table,
                    bucket_name=bucket_name,
                    bucket_arn=pulumi.Output.all(scope=scope, bucket=bucket_name).apply(
                        lambda v: f"arn:{v['scope'].partition}:s3:::{v['bucket']}"
                    ),
                    prefix=normalise_prefix(entry.get("prefix") or values["prefix"]),
                    kms_key_arn=kms_key_arn,
                    glue_database=catalog_database,
                    athena_workgroup=self.workgroup.name if self.workgroup else None,
                    alarm_topic_arn=topic_arn if values["alarms_enabled"] else None,
                    stream_arn=entry.get("stream_arn"),
                    key_columns=_key_columns(entry.get("key_attributes")),
                    tags=tags,
                ),
                opts=child,
            )
        self.pipe_watch_state_machine = None
        if self.change_histories:
            self._pipe_watch(w)

    def _pipe_watch(self, w: _Wiring) -> None:
        """A stopped pipe publishes no metrics: a watch asks each pipe its state on a
        schedule, and its alarms fire when one is not running (``pipe_watch.py``)."""
        name = w.name
        scope = w.scope
        inputs = pulumi.Output.all(
            names=pulumi.Output.all(*[h.pipe.name for h in self.change_histories.values()]),
            arns=pulumi.Output.all(*[h.pipe.arn for h in self.change_histories.values()]),
            scope=scope,
        )

        def spec(v: dict[str, Any]) -> PipeWatchSpec:
            return PipeWatchSpec(pipe_names=sorted(v["names"]), partition=v["scope"].partition)

        watch = self._state_machine(
            name,
            "pipe-watch",
            scope,
            policy=inputs.apply(
                lambda v: json.dumps(pipe_watch_role_policy(spec(v), pipe_arns=v["arns"]))
            ),
            definition=inputs.apply(lambda v: pipe_watch_definition(spec(v))),
            log_group=w.log_group,
            tags=w.tags,
        )
        self.pipe_watch_state_machine = watch
        start = aws.iam.RolePolicy(
            f"{name}-scheduler-pipe-watch-policy",
            role=w.scheduler_role.id,
            policy=watch.arn.apply(
                lambda arn: json.dumps(
                    iam.document(iam.allow("StartPipeWatches", ["states:StartExecution"], [arn]))
                )
            ),
            opts=w.child,
        )
        self.pipe_watch_schedule = aws.scheduler.Schedule(
            f"{name}-pipe-watch",
            group_name=w.schedule_group.name,
            description=f"Checks that the change-history pipes are running ({name})",
            schedule_expression=PIPE_WATCH_SCHEDULE,
            state="ENABLED",
            flexible_time_window={"mode": "OFF"},
            target={
                "arn": watch.arn,
                "role_arn": w.scheduler_role.arn,
                "input": "{}",
                "retry_policy": {"maximum_event_age_in_seconds": 1800, "maximum_retry_attempts": 5},
                "dead_letter_config": {"arn": w.dead_letters.arn},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[start]),
        )
        if w.values["alarms_enabled"] and w.topic_arn is not None:
            for alarm in pipe_watch_alarm_specs():
                description = scope.apply(_described(alarm, w.dashboard_name))
                self.alarms[alarm.role] = self._alarm(
                    name, alarm, {"StateMachineArn": watch.arn}, w.topic_arn, w.tags, description
                )

    def _dashboard(self, w: _Wiring) -> None:
        """One dashboard for on-call, with the alarms on it."""
        name = w.name
        values = w.values
        child = w.child
        scope = w.scope
        dashboard_name = w.dashboard_name
        run = w.run
        table_machine = w.table_machine
        dead_letters = w.dead_letters
        self.dashboard = None
        if values["dashboard_enabled"]:
            self.dashboard = aws.cloudwatch.Dashboard(
                f"{name}-dashboard",
                dashboard_name=dashboard_name,
                dashboard_body=pulumi.Output.all(
                    scope=scope,
                    run=run.arn,
                    table=table_machine.arn,
                    queue=dead_letters.name,
                    alarms=[alarm.arn for alarm in self.alarms.values()]
                    + [
                        alarm.arn
                        for history in self.change_histories.values()
                        for alarm in history.alarms.values()
                    ],
                    deliveries=[h.delivery_stream.name for h in self.change_histories.values()],
                    pipes=[h.pipe.name for h in self.change_histories.values()],
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
                                incremental=self.state_table is not None,
                                delivery_streams=v["deliveries"],
                                pipes=v["pipes"],
                            )
                        )
                    )
                ),
                opts=child,
            )

    def _outputs(self, w: _Wiring) -> None:
        bucket_name = w.bucket_name
        scheduler_role = w.scheduler_role
        topic_arn = w.topic_arn
        dead_letters = w.dead_letters
        input_text = w.input_text
        dashboard_name = w.dashboard_name
        log_group = w.log_group
        self.run_state_machine_arn = self.run_state_machine.arn
        self.run_state_machine_name = self.run_state_machine.name
        self.table_export_state_machine_arn = self.table_export_state_machine.arn
        self.schedule_arn = self.schedule.arn
        self.bucket_name = bucket_name
        self.run_role_arn = self._roles["run"].arn
        self.table_export_role_arn = self._roles["table-export"].arn
        self.scheduler_role_arn = scheduler_role.arn
        self.alarm_arns = (
            pulumi.Output.all(**{role: alarm.arn for role, alarm in self.alarms.items()})
            if self.alarms
            else pulumi.Output.from_input({})
        )
        self.alarm_topic_arn = (
            pulumi.Output.from_input(topic_arn)
            if topic_arn is not None
            else pulumi.Output.from_input(None)
        )
        self.dead_letter_queue_arn = dead_letters.arn
        self.schedule_input = pulumi.Output.from_input(input_text)
        self.log_group = log_group
        self.dead_letter_queue = dead_letters
        self.run_role = self._roles["run"]
        self.table_export_role = self._roles["table-export"]
        self.scheduler_role = scheduler_role
        self.table_export_state_machine_name = self.table_export_state_machine.name
        self.dashboard_name = pulumi.Output.from_input(
            dashboard_name if self.dashboard is not None else None
        )
        self.register_outputs(
            {
                "run_state_machine_arn": self.run_state_machine_arn,
                "run_state_machine_name": self.run_state_machine_name,
                "table_export_state_machine_arn": self.table_export_state_machine_arn,
                "table_export_state_machine_name": self.table_export_state_machine_name,
                "dashboard_name": self.dashboard_name,
                "schedule_arn": self.schedule_arn,
                "bucket_name": self.bucket_name,
                "run_role_arn": self.run_role_arn,
                "table_export_role_arn": self.table_export_role_arn,
                "scheduler_role_arn": self.scheduler_role_arn,
                "alarm_arns": self.alarm_arns,
                "alarm_topic_arn": self.alarm_topic_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
            }
        )

    def destination_account_policies(
        self, *, importer_role_arn: str | None = None
    ) -> pulumi.Output[dict[str, Any]]:
        """What the account owning ``bucket_name`` must add when it is another account
        (``bucket_owner``): the bucket-policy statements that let this exporter's roles
        use the bucket (the table export role writes exports; the restore drill role, when
        drills are on, reads them and writes its reports; each change history's delivery
        role writes its folders), the key-policy statements for a customer-managed key,
        and, given the destination's importer role, that role's read access. As
        documents (``bucket_policy``, ``key_policy`` or None, ``importer_policy`` or
        None) to export from this stack and apply in the other (``docs/restore.md``)."""
        kms_key_arn = self._kms_key_arn
        drill_role = self._roles.get("drill")
        history_roles = {
            table: history.firehose_role.arn for table, history in self.change_histories.items()
        }
        history_prefixes = self._history_prefixes

        def documents(v: dict[str, Any]) -> dict[str, Any]:
            bucket_arn = f"arn:{v['scope'].partition}:s3:::{v['bucket']}"
            prefixes = sorted({t.prefix for t in v["targets"]})
            statements = [
                statement
                for prefix in prefixes
                for statement in cross_account.destination_bucket_statements(
                    bucket_arn=bucket_arn, prefix=prefix, exporter_role_arn=v["role"]
                )
            ]
            if v["drill"]:
                statements += cross_account.drill_bucket_statements(
                    bucket_arn=bucket_arn,
                    prefixes=prefixes,
                    report_prefix=DRILL_REPORT_PREFIX,
                    drill_role_arn=v["drill"],
                )
            for index, (table, role_arn) in enumerate(sorted(v["histories"].items())):
                prefix = history_prefixes[table]
                statements += cross_account.history_bucket_statements(
                    bucket_arn=bucket_arn,
                    folders=[
                        history_module.history_root(prefix, table),
                        history_module.errors_root(prefix, table),
                    ],
                    delivery_role_arn=role_arn,
                    sid=f"History{index}",
                )
            found: dict[str, Any] = {
                "bucket_policy": cross_account.document(statements),
                "key_policy": None,
                "importer_policy": None,
            }
            if kms_key_arn:
                found["key_policy"] = cross_account.document(
                    cross_account.kms_key_statements(
                        key_arn=kms_key_arn,
                        region=kms_key_arn.split(":")[3],
                        exporter_role_arn=v["role"],
                        importer_role_arn=importer_role_arn,
                        other_writer_role_arns=[
                            *([v["drill"]] if v["drill"] else []),
                            *v["histories"].values(),
                        ],
                    )
                )
            if importer_role_arn:
                found["importer_policy"] = cross_account.document(
                    [
                        statement
                        for prefix in prefixes
                        for statement in cross_account.importer_read_statements(
                            bucket_arn=bucket_arn, prefix=prefix, kms_key_arn=kms_key_arn
                        )
                    ]
                )
            return found

        return pulumi.Output.all(
            scope=self._scope,
            bucket=self.bucket_name,
            targets=self._targets,
            role=self.table_export_role.arn,
            drill=drill_role.arn if drill_role is not None else None,
            histories=pulumi.Output.all(**history_roles) if history_roles else {},
        ).apply(documents)

    def grant_start_run(self, role: aws.iam.Role, name: str | None = None) -> aws.iam.RolePolicy:
        """Let ``role`` (another program's, say) start runs of this exporter by hand, and
        follow them: ``states:StartExecution`` on the run machine and
        ``states:DescribeExecution`` on its executions, nothing else."""
        return aws.iam.RolePolicy(
            name or f"{self._name}-start-run-{role._name}",
            role=role.id,
            policy=pulumi.Output.all(
                machine=self.run_state_machine.arn, machine_name=self.run_state_machine.name
            ).apply(
                lambda v: json.dumps(export_policies.start_run_policy(v["machine"], v["machine_name"]))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _state_machine(
        self,
        name: str,
        role: str,
        scope: pulumi.Output[AwsScope],
        *,
        policy: pulumi.Input[str],
        definition: pulumi.Output[dict[str, Any]],
        log_group: aws.cloudwatch.LogGroup,
        tags: dict[str, str],
    ) -> aws.sfn.StateMachine:
        """A STANDARD state machine named ``<name>-<role>`` and the role only it can assume."""
        base = f"{name}-{role}"
        execution_role = aws.iam.Role(
            f"{base}-role",
            assume_role_policy=scope.apply(
                lambda s: json.dumps(
                    policies.states_trust_policy(
                        s, policies.state_machine_arn(s, base + policies.AUTONAME_SUFFIX)
                    )
                )
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        role_policy = aws.iam.RolePolicy(
            f"{base}-policy",
            role=execution_role.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._roles[role] = execution_role
        return aws.sfn.StateMachine(
            base,
            type="STANDARD",
            role_arn=execution_role.arn,
            definition=definition.apply(json.dumps),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level=self._log_level,
                include_execution_data=self._include_execution_data,
                log_destination=log_group.arn.apply(lambda arn: f"{arn}:*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(
                enabled=self._tracing
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

    def _alarm(
        self,
        name: str,
        spec: AlarmSpec,
        dimensions: Mapping[str, pulumi.Input[str]],
        topic_arn: pulumi.Input[str],
        tags: dict[str, str],
        description: pulumi.Input[str],
    ) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{name}-alarm-{spec.role}",
            alarm_description=description,
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions=dimensions,
            statistic=spec.statistic,
            period=spec.period_seconds,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.evaluation_periods,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            treat_missing_data=spec.treat_missing_data,
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
