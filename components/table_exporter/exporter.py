"""The ``TableExporter`` component: composes the features' builders.

Each builder (``destination/``, ``export/``, ``catalog/``, ``drill/``, ``history/``,
``kernel/resources.py``) takes the component, its name and exactly what it wires, and
returns a frozen dataclass of what it made; ``__init__`` calls them in data-flow order.

No ``from __future__ import annotations``: Pulumi's schema analyzer reads the class's
annotations and ``__init__``'s ``args`` as objects (``provider.py``).
"""

import json
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
from table_exporter.catalog.resources import NO_CATALOG, catalog
from table_exporter.catalog.schema import columns_from, glue_member
from table_exporter.current.monitoring import current_alarm_specs
from table_exporter.current.resources import current_tables
from table_exporter.destination import account_policies as cross_account
from table_exporter.destination.bucket import ExportBucket
from table_exporter.destination.bucket import destination as destination_buckets
from table_exporter.drill.machine import REPORT_PREFIX as DRILL_REPORT_PREFIX
from table_exporter.drill.machine import drill_alarm_specs
from table_exporter.drill.resources import DrillSettings, drill_machine, drill_schedules
from table_exporter.export import policies as export_policies
from table_exporter.export.alarms import alarm_specs
from table_exporter.export.resources import (
    ExportSettings,
    alarm_topic,
    dashboard,
    dashboard_name_of,
    described,
    export_machines,
    run_schedule,
    watermarks,
)
from table_exporter.history import spec as history_module
from table_exporter.history.component import ChangeHistory
from table_exporter.history.resources import change_histories, pipe_watch
from table_exporter.kernel.alarms import AlarmSpec
from table_exporter.kernel.metrics import athena_dml_dimensions
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.resources import machine_logs, metric_alarms, scheduler
from table_exporter.kernel.targets import AwsScope, ExportTarget, normalise_prefix, table_arn

TYPE_TOKEN = "table-exporter:index:TableExporter"


MODES = {"FULL_EXPORT": "full", "INCREMENTAL_EXPORT": "incremental"}


def _members(columns: dict[str, str]) -> tuple[str, ...]:
    """Glue struct members of the declared attributes (key attributes come at run time)."""
    return tuple(glue_member(column) for column in columns_from(columns))


def _targets(
    scope: AwsScope,
    tables: list[dict[str, Any]],
    default_prefix: str,
    default_type: str,
    default_current: bool = False,
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
            current=bool(entry.get("current_table", default_current)),
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
        invoke = pulumi.InvokeOutputOptions(parent=self)
        tags = dict(values["tags"])
        kms_key_arn: str | None = values.get("kms_key_arn")

        scope: pulumi.Output[AwsScope] = pulumi.Output.all(
            partition=aws.get_partition_output(opts=invoke).partition,
            region=aws.get_region_output(opts=invoke).region,
            account_id=aws.get_caller_identity_output(opts=invoke).account_id,
        ).apply(lambda v: AwsScope(**v))
        targets = pulumi.Output.all(
            scope=scope, tables=pulumi.Output.from_input(list(values["tables"]))
        ).apply(
            lambda v: _targets(
                v["scope"],
                v["tables"],
                normalise_prefix(values["prefix"]),
                values["export_type"],
                values["current_table"],
            )
        )

        # Each builder takes what it wires and returns what it made: the order below is
        # the data flow.
        destination = destination_buckets(
            self,
            name,
            bucket_name=values.get("bucket_name"),
            bucket_owner=values.get("bucket_owner"),
            sse_algorithm=values["sse_algorithm"],
            kms_key_arn=kms_key_arn,
            noncurrent_version_expiration_days=values["noncurrent_version_expiration_days"],
            expiration_days=values.get("expiration_days"),
            tags=tags,
        )
        logs = machine_logs(
            self,
            name,
            retention_days=values["log_retention_days"],
            level=values["log_level"],
            include_execution_data=bool(values["include_execution_data"]),
            tracing=bool(values["tracing_enabled"]),
            tags=tags,
        )
        state = watermarks(
            self,
            name,
            needed=any(
                (t.get("export_type") or values["export_type"]) == "INCREMENTAL_EXPORT"
                for t in values["tables"]
            ),
            view_type=values["export_view_type"],
            tags=tags,
        )
        athena = (
            catalog(
                self,
                name,
                database_name=values.get("catalog_database_name"),
                bucket_name=destination.bucket_name,
                sse_algorithm=values["sse_algorithm"],
                kms_key_arn=kms_key_arn,
                tags=tags,
            )
            if values["catalog_enabled"]
            else NO_CATALOG
        )
        poll = PollPolicy(
            min_seconds=values["poll_min_seconds"], max_seconds=values["poll_max_seconds"]
        )
        # Current tables (rules: only with the catalog): their bucket and optimizer role.
        current = (
            current_tables(
                self,
                name,
                scope=scope,
                targets=targets,
                database=athena.database_name,
                sse_algorithm=values["sse_algorithm"],
                kms_key_arn=kms_key_arn,
                noncurrent_version_expiration_days=values["noncurrent_version_expiration_days"],
                tags=tags,
            )
            if athena.database_name is not None and rules.first_current_table(values) is not None
            else None
        )
        machines = export_machines(
            self,
            name,
            ExportSettings(
                export_format=values["export_format"],
                sse_algorithm=values["sse_algorithm"],
                kms_key_arn=kms_key_arn,
                bucket_owner=values.get("bucket_owner"),
                table_access=values["table_access"],
                poll=poll,
                export_timeout_hours=values["export_timeout_hours"],
                run_timeout_hours=values["run_timeout_hours"],
                max_concurrency=values["max_concurrency"],
            ),
            scope=scope,
            targets=targets,
            bucket_name=destination.bucket_name,
            report_bucket_name=destination.report_bucket_name,
            report_kms_key_arn=destination.report_kms_key_arn,
            logs=logs,
            watermarks=state,
            catalog_database=athena.database_name,
            athena_workgroup=athena.workgroup_name,
            current_optimizer_role_arn=current.optimizer_role.arn if current else None,
            current_bucket_name=current.bucket_name if current else None,
            tags=tags,
        )
        drill = (
            drill_machine(
                self,
                name,
                DrillSettings(
                    bucket_owner=values.get("bucket_owner"),
                    kms_key_arn=kms_key_arn,
                    poll=poll,
                    table_access=values["table_access"],
                ),
                scope=scope,
                targets=targets,
                bucket_name=destination.bucket_name,
                logs=logs,
                tags=tags,
            )
            if values["restore_drill_enabled"]
            else None
        )
        schedules = scheduler(self, name, scope=scope, tags=tags)
        run_starts = run_schedule(
            self,
            name,
            scheduler=schedules,
            run_machine_arn=machines.run.machine.arn,
            drill_machine_arn=drill.machine.arn if drill is not None else None,
            expression=values["schedule_expression"],
            timezone=values["schedule_timezone"],
            enabled=values["schedule_enabled"],
            window_minutes=values["flexible_window_minutes"],
        )
        drill_starts = (
            drill_schedules(
                self,
                name,
                machine=drill,
                scheduler=schedules,
                start_policy=run_starts.policy,
                targets=targets,
                table_count=len(values["tables"]),
                expression=values["restore_drill_schedule"],
                timezone=values["schedule_timezone"],
            )
            if drill is not None
            else []
        )
        dashboard_name = dashboard_name_of(name)

        def describe(spec: AlarmSpec) -> pulumi.Output[str]:
            return scope.apply(described(spec, dashboard_name))

        topic = alarm_topic(
            self,
            name,
            given_arn=values.get("alarm_topic_arn"),
            create=values["alarms_enabled"],
            emails=values["alarm_emails"],
            tags=tags,
        )
        # Alarms notify only when they are on, the topic given or not.
        notify = topic.arn if values["alarms_enabled"] else None
        specs = alarm_specs(
            staleness_hours=values["staleness_hours"],
            schedule_enabled=values["schedule_enabled"],
            incremental=state.table is not None,
            watermark_lag_hours=values["watermark_lag_alarm_hours"],
        )
        if drill is not None:
            specs += drill_alarm_specs(window_hours=values["restore_drill_window_hours"])
        if current is not None:
            specs += current_alarm_specs()
        alarms = (
            metric_alarms(
                self,
                name,
                specs,
                dimensions={
                    "run": {"StateMachineArn": machines.run.machine.arn},
                    "table_export": {"StateMachineArn": machines.table_export.machine.arn},
                    "dead_letter_queue": {"QueueName": schedules.dead_letters.name},
                    "exporter": {"Exporter": name},
                    **({"drill": {"StateMachineArn": drill.machine.arn}} if drill else {}),
                    **(
                        {"workgroup": athena_dml_dimensions(athena.workgroup_name, "FAILED")}
                        if current is not None and athena.workgroup_name is not None
                        else {}
                    ),
                },
                topic_arn=notify,
                describe=describe,
                tags=tags,
            )
            if notify is not None
            else {}
        )
        histories = change_histories(
            self,
            name,
            tables=values["tables"],
            default_on=values["change_history"],
            default_prefix=values["prefix"],
            scope=scope,
            bucket_name=destination.bucket_name,
            kms_key_arn=kms_key_arn,
            glue_database=athena.database_name,
            athena_workgroup=athena.workgroup_name,
            alarm_topic_arn=notify,
            tags=tags,
        )
        watch = (
            pipe_watch(
                self,
                name,
                histories=histories,
                scope=scope,
                scheduler=schedules,
                logs=logs,
                alarm_topic_arn=notify,
                describe=describe,
                tags=tags,
            )
            if histories.by_table
            else None
        )
        if watch is not None:
            alarms = {**alarms, **watch.alarms}
        board = (
            dashboard(
                self,
                name,
                dashboard_name=dashboard_name,
                scope=scope,
                machines=machines,
                dead_letters=schedules.dead_letters,
                alarm_arns=[alarm.arn for alarm in alarms.values()]
                + [
                    alarm.arn
                    for history in histories.by_table.values()
                    for alarm in history.alarms.values()
                ],
                delivery_streams=[h.delivery_stream.name for h in histories.by_table.values()],
                pipes=[h.pipe.name for h in histories.by_table.values()],
                incremental=state.table is not None,
                athena_workgroup=athena.workgroup_name if current is not None else None,
            )
            if values["dashboard_enabled"]
            else None
        )

        # What destination_account_policies reads.
        self._scope, self._targets, self._kms_key_arn = scope, targets, kms_key_arn
        self._drill_role = drill.role if drill is not None else None
        self._history_prefixes = histories.prefixes

        # The Python-only fields: the children.
        self.bucket = destination.bucket
        self.report_bucket = destination.report_bucket
        self.log_group = logs.group
        self.state_table = state.table
        self.catalog_database = athena.database
        self.workgroup = athena.workgroup
        self.table_export_state_machine = machines.table_export.machine
        self.table_export_role = machines.table_export.role
        self.run_state_machine = machines.run.machine
        self.run_role = machines.run.role
        self.drill_state_machine = drill.machine if drill is not None else None
        self.current_bucket = current.bucket if current is not None else None
        self.current_optimizer_role = current.optimizer_role if current is not None else None
        self.dead_letter_queue = schedules.dead_letters
        self.scheduler_role = schedules.role
        self.schedule = run_starts.schedule
        self.drill_schedules = drill_starts
        self.topic = topic.topic
        self.alarms = alarms
        self.change_histories = histories.by_table
        self.pipe_watch_state_machine = watch.machine.machine if watch is not None else None
        if watch is not None:
            self.pipe_watch_schedule = watch.schedule
        self.dashboard = board

        # The outputs.
        self.run_state_machine_arn = self.run_state_machine.arn
        self.run_state_machine_name = self.run_state_machine.name
        self.table_export_state_machine_arn = self.table_export_state_machine.arn
        self.table_export_state_machine_name = self.table_export_state_machine.name
        self.dashboard_name = pulumi.Output.from_input(
            dashboard_name if board is not None else None
        )
        self.schedule_arn = self.schedule.arn
        self.bucket_name = destination.bucket_name
        self.run_role_arn = self.run_role.arn
        self.table_export_role_arn = self.table_export_role.arn
        self.scheduler_role_arn = self.scheduler_role.arn
        self.alarm_arns = (
            pulumi.Output.all(**{role: alarm.arn for role, alarm in alarms.items()})
            if alarms
            else pulumi.Output.from_input({})
        )
        self.alarm_topic_arn = pulumi.Output.from_input(topic.arn)
        self.dead_letter_queue_arn = self.dead_letter_queue.arn
        self.schedule_input = pulumi.Output.from_input(run_starts.input_text)
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
        drill_role = self._drill_role
        optimizer = self.current_optimizer_role
        history_roles = {
            table: history.firehose_role.arn for table, history in self.change_histories.items()
        }
        history_prefixes = self._history_prefixes

        def documents(v: dict[str, Any]) -> dict[str, Any]:
            bucket_arn = f"arn:{v['scope'].partition}:s3:::{v['bucket']}"
            prefixes = sorted({t.prefix for t in v["targets"]})
            statements = cross_account.destination_bucket_statements(
                bucket_arn=bucket_arn, prefixes=prefixes, exporter_role_arn=v["role"]
            )
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
            current = sorted({t.prefix for t in v["targets"] if t.current})
            if current:
                statements += cross_account.current_table_statements(
                    bucket_arn=bucket_arn, prefixes=current, exporter_role_arn=v["role"]
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
                            *([v["optimizer"]] if v["optimizer"] else []),
                            # The current tables' bucket is encrypted with the same key.
                        ],
                    )
                )
            if importer_role_arn:
                found["importer_policy"] = cross_account.document(
                    cross_account.importer_read_statements(
                        bucket_arn=bucket_arn, prefixes=prefixes, kms_key_arn=kms_key_arn
                    )
                )
            return found

        return pulumi.Output.all(
            scope=self._scope,
            bucket=self.bucket_name,
            targets=self._targets,
            role=self.table_export_role.arn,
            drill=drill_role.arn if drill_role is not None else None,
            optimizer=optimizer.arn if optimizer is not None else None,
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
