"""The component's wiring under Pulumi mocks: which resources, named and configured how."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from table_exporter import TYPE_TOKEN, TableExporter, TableExporterArgs, TableExporterArgsError

from emulator.pulumi_mocks import ACCOUNT, REGION, RecordingMocks


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, preview=False)
    return recording


def _build(
    mocks: RecordingMocks,
    args: TableExporterArgs,
    check: Callable[[RecordingMocks], None],
    name: str = "nightly",
) -> pulumi.Output[Any]:
    exporter = TableExporter(name, args)
    return pulumi.Output.all(
        exporter.run_state_machine_arn,
        exporter.schedule_arn,
        exporter.alarm_arns,
        exporter.bucket_name,
        exporter.dashboard.id if exporter.dashboard is not None else None,
    ).apply(lambda _: check(mocks))


def _one(mocks: RecordingMocks, typ: str) -> pulumi.runtime.MockResourceArgs:
    found = mocks.of_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


BASE: TableExporterArgs = {"tables": [{"table": "orders"}, {"table": "customers", "prefix": "crm"}]}


@pulumi.runtime.test
def test_every_child_is_named_after_the_component_and_parented_to_it(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        component = next(r for r in m.resources if r.typ == TYPE_TOKEN)
        assert component.name == "nightly"
        children = [r for r in m.resources if r.typ != TYPE_TOKEN]
        assert children and all(r.name.startswith("nightly-") for r in children)
        names = [(r.typ, r.name) for r in m.resources]
        assert len(names) == len(set(names))

    return _build(mocks, BASE, check)


@pulumi.runtime.test
def test_two_exporters_in_one_program_do_not_collide(mocks: RecordingMocks):
    TableExporter("first", BASE)

    def check(m: RecordingMocks) -> None:
        names = [(r.typ, r.name) for r in m.resources]
        assert len(names) == len(set(names))
        assert any(n.startswith("first-") for _, n in names) and any(
            n.startswith("second-") for _, n in names
        )

    return _build(mocks, BASE, check, name="second")


@pulumi.runtime.test
def test_created_bucket_is_private_owner_enforced_encrypted_versioned_tls_only(
    mocks: RecordingMocks,
):
    def check(m: RecordingMocks) -> None:
        access = _one(m, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
        assert all(
            access[k]
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )
        ownership = _one(m, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
        assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        sse = _one(
            m,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        ).inputs
        assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
        versioning = _one(m, "aws:s3/bucketVersioning:BucketVersioning").inputs
        assert versioning["versioningConfiguration"]["status"] == "Enabled"
        policy = json.loads(_one(m, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
        deny = policy["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {
            "Bool": {"aws:SecureTransport": "false"}
        }
        lifecycle = _one(
            m, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        ).inputs
        rule = lifecycle["rules"][0]
        assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
        assert rule["expiration"]["days"] == 90
        assert not m.of_type("aws:s3/bucketV2:BucketV2")

    return _build(mocks, {**BASE, "expiration_days": 90}, check)


@pulumi.runtime.test
def test_existing_bucket_is_used_as_is_and_scoped_in_the_policy(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        # Only the run reports' bucket: a ResultWriter bucket must be the machine's account's.
        assert [b.name for b in m.of_type("aws:s3/bucket:Bucket")] == ["nightly-reports"]
        machine = next(
            r for r in m.of_type("aws:sfn/stateMachine:StateMachine") if "table-export" in r.name
        )
        args = json.loads(machine.inputs["definition"])["States"]["StartExport"]["Arguments"]
        assert args["S3Bucket"] == "team-exports" and args["S3BucketOwner"] == "210987654321"
        policy = json.loads(
            next(
                r for r in m.of_type("aws:iam/rolePolicy:RolePolicy") if "table-export" in r.name
            ).inputs["policy"]
        )
        writes = next(s for s in policy["Statement"] if s["Sid"] == "WriteExportObjects")
        assert writes["Resource"] == [
            "arn:aws:s3:::team-exports/crm/*",
            "arn:aws:s3:::team-exports/dynamodb-exports/*",
        ]

    return _build(
        mocks, {**BASE, "bucket_name": "team-exports", "bucket_owner": "210987654321"}, check
    )


@pulumi.runtime.test
def test_definitions_deployed_are_the_builders_output_for_the_configured_tables(
    mocks: RecordingMocks,
):
    def check(m: RecordingMocks) -> None:
        machines = {r.name: r for r in m.of_type("aws:sfn/stateMachine:StateMachine")}
        assert set(machines) == {"nightly-run", "nightly-table-export"}
        assert all(r.inputs["type"] == "STANDARD" for r in machines.values())
        run = json.loads(machines["nightly-run"].inputs["definition"])
        configured = run["States"]["PlanRun"]["Assign"]["configuredTables"]
        assert configured == [
            {
                "tableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
                "prefix": "dynamodb-exports",
            },
            {"tableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/customers", "prefix": "crm"},
        ]
        fan_out = run["States"]["ExportTables"]
        table_task = fan_out["ItemProcessor"]["States"]["ExportTable"]
        assert table_task["Arguments"]["StateMachineArn"].endswith(
            ":stateMachine:nightly-table-export-1a2b3c4"
        )
        assert fan_out["MaxConcurrency"] == 4
        assert fan_out["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert fan_out["ResultWriter"]["Arguments"]["Bucket"].startswith("nightly-bucket")
        for machine in machines.values():
            logging = machine.inputs["loggingConfiguration"]
            assert logging["level"] == "ERROR" and logging["logDestination"].endswith(":*")

    return _build(mocks, {**BASE, "max_concurrency": 4}, check)


@pulumi.runtime.test
def test_schedule_targets_the_run_machine_with_retries_and_a_dead_letter_queue(
    mocks: RecordingMocks,
):
    def check(m: RecordingMocks) -> None:
        schedule = _one(m, "aws:scheduler/schedule:Schedule").inputs
        assert schedule["scheduleExpression"] == "cron(0 4 * * ? *)"
        assert schedule["scheduleExpressionTimezone"] == "Asia/Tokyo"
        assert schedule["state"] == "DISABLED"
        assert schedule["flexibleTimeWindow"] == {"mode": "FLEXIBLE", "maximumWindowInMinutes": 15}
        target = schedule["target"]
        assert target["arn"].endswith(":stateMachine:nightly-run-1a2b3c4")
        assert json.loads(target["input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}
        assert target["deadLetterConfig"]["arn"].endswith("nightly-dlq-1a2b3c4")
        assert target["retryPolicy"]["maximumRetryAttempts"] > 0
        trust = json.loads(
            next(r for r in m.of_type("aws:iam/role:Role") if "scheduler" in r.name).inputs[
                "assumeRolePolicy"
            ]
        )
        condition = trust["Statement"][0]["Condition"]["StringEquals"]
        assert (
            condition["aws:SourceAccount"] == ACCOUNT
            and ":schedule-group/" in condition["aws:SourceArn"]
        )

    args: TableExporterArgs = {
        **BASE,
        "schedule_timezone": "Asia/Tokyo",
        "schedule_enabled": False,
        "flexible_window_minutes": 15,
    }
    return _build(mocks, args, check)


@pulumi.runtime.test
def test_alarms_go_to_the_created_topic_with_email_subscriptions(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        topic = _one(m, "aws:sns/topic:Topic")
        subscriptions = m.of_type("aws:sns/topicSubscription:TopicSubscription")
        assert [s.inputs["endpoint"] for s in subscriptions] == ["oncall@example.com"]
        alarms = {r.name: r.inputs for r in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        assert set(alarms) == {
            f"nightly-alarm-{role}"
            for role in (
                "run-failed",
                "run-timed-out",
                "run-aborted",
                "run-throttled",
                "table-export-throttled",
                "dead-letters",
                "stale",
            )
        }
        for inputs in alarms.values():
            assert inputs["alarmActions"] == [
                f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic.name}-1a2b3c4"
            ]
            assert inputs["treatMissingData"] in {"breaching", "notBreaching"}
        assert alarms["nightly-alarm-run-throttled"]["metricName"] == "ExecutionThrottled"
        assert alarms["nightly-alarm-stale"]["evaluationPeriods"] == 30

    return _build(
        mocks, {**BASE, "alarm_emails": ["oncall@example.com"], "staleness_hours": 30}, check
    )


@pulumi.runtime.test
def test_given_topic_is_used_and_alarms_can_be_turned_off(mocks: RecordingMocks):
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:platform-alarms"

    def check(m: RecordingMocks) -> None:
        assert not m.of_type("aws:sns/topic:Topic")
        alarms = [
            r
            for r in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            if r.name.startswith("given-")
        ]
        assert alarms and all(a.inputs["alarmActions"] == [topic] for a in alarms)
        assert not [
            r
            for r in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            if r.name.startswith("silent-")
        ]

    TableExporter("silent", {**BASE, "alarms_enabled": False})
    return _build(mocks, {**BASE, "alarm_topic_arn": topic}, check, name="given")


@pulumi.runtime.test
def test_state_machine_roles_trust_only_their_own_machines(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        roles = {
            r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in m.of_type("aws:iam/role:Role")
        }
        for role, machine in (
            ("nightly-run-role", "nightly-run-???????"),
            ("nightly-table-export-role", "nightly-table-export-???????"),
        ):
            statement = roles[role]["Statement"][0]
            assert statement["Principal"] == {"Service": "states.amazonaws.com"}
            assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}"
            assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": [arn, f"{arn}/*"]}
        assert not m.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")

    return _build(mocks, BASE, check)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"tables": []}, "tables"),
        ({**BASE, "sse_algorithm": "KMS"}, "kms_key_arn"),
        ({**BASE, "kms_key_arn": "arn:aws:kms:x"}, "kms_key_arn"),
        ({**BASE, "bucket_owner": "210987654321"}, "bucket_owner"),
        ({**BASE, "bucket_name": "b-1", "expiration_days": 3}, "expiration_days"),
        ({**BASE, "max_concurrency": 301}, "max_concurrency"),
        (
            {**BASE, "alarm_topic_arn": "arn:aws:sns:x", "alarm_emails": ["a@example.com"]},
            "alarm_emails",
        ),
        ({**BASE, "log_retention_days": 8}, "log_retention_days"),
        ({**BASE, "run_timeout_hours": 2, "export_timeout_hours": 3}, "run_timeout_hours"),
        ({**BASE, "schedule_enabled": pulumi.Output.from_input(True)}, "schedule_enabled"),
    ],
)
def test_contradictory_or_out_of_range_args_fail_at_construction(
    mocks: RecordingMocks, args: Any, fragment: str
) -> None:
    with pytest.raises(TableExporterArgsError, match=fragment):
        TableExporter("bad", args)


INCREMENTAL: TableExporterArgs = {
    "tables": [
        {"table": "orders", "columns": {"menuItem": "string", "quantity": "number"}},
        {"table": "customers", "export_type": "INCREMENTAL_EXPORT"},
    ],
    "catalog_database_name": "exports_dev",
}


@pulumi.runtime.test
def test_incremental_tables_get_an_encrypted_state_table_and_a_watermark_lag_alarm(
    mocks: RecordingMocks,
):
    def check(m: RecordingMocks) -> None:
        state = _one(m, "aws:dynamodb/table:Table").inputs
        assert state["hashKey"] == "pk" and state["billingMode"] == "PAY_PER_REQUEST"
        assert state["pointInTimeRecovery"] == {"enabled": True}
        assert state["serverSideEncryption"] == {"enabled": True}
        alarms = {r.name: r.inputs for r in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        lag = alarms["nightly-alarm-watermark-lag"]
        assert lag["namespace"] == "DynamoDBTableExporter"
        assert lag["metricName"] == "WatermarkLagSeconds"
        assert lag["dimensions"] == {"Exporter": "nightly"}
        assert lag["threshold"] == 12 * 3600
        machine = next(
            r
            for r in m.of_type("aws:sfn/stateMachine:StateMachine")
            if r.name == "nightly-table-export"
        )
        states = json.loads(machine.inputs["definition"])["States"]
        assert states["AcquireLock"]["Arguments"]["TableName"] == "nightly-state-1a2b3c4"
        run = json.loads(
            next(
                r for r in m.of_type("aws:sfn/stateMachine:StateMachine") if r.name == "nightly-run"
            ).inputs["definition"]
        )
        configured = run["States"]["PlanRun"]["Assign"]["configuredTables"]
        assert [t.get("mode", "full") for t in configured] == ["full", "incremental"]
        assert configured[0]["columns"] == [
            "menuitem:struct<s:string>",
            "quantity:struct<n:string>",
        ]

    return _build(mocks, {**INCREMENTAL, "watermark_lag_alarm_hours": 12}, check)


@pulumi.runtime.test
def test_full_only_exporters_create_no_state_table(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        assert not m.of_type("aws:dynamodb/table:Table")
        assert "nightly-alarm-watermark-lag" not in {
            r.name for r in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        }

    return _build(mocks, BASE, check)


@pulumi.runtime.test
def test_catalog_database_and_workgroup_with_enforced_encrypted_results(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        database = _one(m, "aws:glue/catalogDatabase:CatalogDatabase").inputs
        assert database["name"] == "exports_dev"
        workgroup = _one(m, "aws:athena/workgroup:Workgroup").inputs["configuration"]
        assert workgroup["enforceWorkgroupConfiguration"] is True
        result = workgroup["resultConfiguration"]
        assert result["outputLocation"] == "s3://nightly-bucket-1a2b3c4/athena-results/"
        assert result["encryptionConfiguration"] == {"encryptionOption": "SSE_S3"}
        machine = next(
            r
            for r in m.of_type("aws:sfn/stateMachine:StateMachine")
            if r.name == "nightly-table-export"
        )
        states = json.loads(machine.inputs["definition"])["States"]
        assert states["PublishLatest"]["Arguments"]["DatabaseName"] == "exports_dev"
        assert states["SaveCurrentStateQuery"]["Arguments"]["WorkGroup"] == "nightly-athena-1a2b3c4"
        policy = json.loads(
            next(
                r
                for r in m.of_type("aws:iam/rolePolicy:RolePolicy")
                if r.name == "nightly-table-export-policy"
            ).inputs["policy"]
        )
        sids = {s["Sid"] for s in policy["Statement"]}
        assert {
            "PointAthenaAtCompletedExports",
            "SaveCurrentStateQueries",
            "KeepWatermarks",
        } <= sids

    return _build(mocks, INCREMENTAL, check)


@pulumi.runtime.test
def test_catalog_can_be_turned_off(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        assert not m.of_type("aws:glue/catalogDatabase:CatalogDatabase")
        assert not m.of_type("aws:athena/workgroup:Workgroup")
        machine = next(
            r
            for r in m.of_type("aws:sfn/stateMachine:StateMachine")
            if r.name == "nightly-table-export"
        )
        assert "PublishLatest" not in json.loads(machine.inputs["definition"])["States"]

    return _build(mocks, {**BASE, "catalog_enabled": False}, check)


@pulumi.runtime.test
def test_a_dashboard_shows_published_metrics_and_every_alarm(mocks: RecordingMocks):
    from table_exporter.export.dashboard import plotted_metrics
    from table_exporter.kernel.metrics import is_published

    def check(m: RecordingMocks) -> None:
        dashboard = _one(m, "aws:cloudwatch/dashboard:Dashboard").inputs
        assert dashboard["dashboardName"] == "nightly-table-exporter"
        body = json.loads(dashboard["dashboardBody"])
        plotted = plotted_metrics(body)
        assert plotted
        for namespace, metric, dimension in plotted:
            assert is_published(namespace, dimension, metric), (namespace, metric, dimension)
        names = {metric for _, metric, _ in plotted}
        assert {
            "ExecutionsStarted",
            "ExecutionsSucceeded",
            "ExecutionsFailed",
            "ExecutionTime",
            "ExecutionThrottled",
            "ApproximateNumberOfMessagesVisible",
            "WatermarkLagSeconds",
        } <= names
        alarms = next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
        assert len(alarms) == len(m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
        for alarm in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
            description = alarm.inputs["alarmDescription"]
            assert "#dashboards:name=nightly-table-exporter" in description
            role = alarm.name.removeprefix("nightly-alarm-")
            assert description.endswith(f"Runbook: docs/operations.md#{role}")

    incremental: TableExporterArgs = {**BASE, "export_type": "INCREMENTAL_EXPORT"}
    return _build(mocks, incremental, check)


@pulumi.runtime.test
def test_every_alarm_watches_a_published_metric(mocks: RecordingMocks):
    from table_exporter.kernel.metrics import is_published

    def check(m: RecordingMocks) -> None:
        alarms = m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        assert alarms
        for alarm in alarms:
            (dimension,) = alarm.inputs["dimensions"]
            assert is_published(alarm.inputs["namespace"], dimension, alarm.inputs["metricName"])

    incremental: TableExporterArgs = {**BASE, "export_type": "INCREMENTAL_EXPORT"}
    return _build(mocks, incremental, check)


@pulumi.runtime.test
def test_roles_log_group_queue_and_machines_are_fields_and_another_role_can_be_let_start_runs(
    mocks: RecordingMocks,
):
    exporter = TableExporter("nightly", BASE)
    import pulumi_aws as aws

    operator = aws.iam.Role("operator", assume_role_policy="{}")
    grant = exporter.grant_start_run(operator)
    assert isinstance(exporter.log_group, aws.cloudwatch.LogGroup)
    assert isinstance(exporter.dead_letter_queue, aws.sqs.Queue)
    assert isinstance(exporter.run_role, aws.iam.Role)
    assert isinstance(exporter.table_export_role, aws.iam.Role)
    assert isinstance(exporter.scheduler_role, aws.iam.Role)

    def check(values: list[Any]) -> None:
        policy = json.loads(values[0])
        run_arn = values[1]
        statements = {s["Sid"]: s for s in policy["Statement"]}
        assert statements["StartRuns"]["Action"] == ["states:StartExecution"]
        assert statements["StartRuns"]["Resource"] == [run_arn]
        assert statements["FollowRuns"]["Action"] == ["states:DescribeExecution"]
        (follow,) = statements["FollowRuns"]["Resource"]
        assert follow == run_arn.replace(":stateMachine:", ":execution:") + ":*"
        assert values[2].endswith(":stateMachine:nightly-table-export-1a2b3c4")

    return pulumi.Output.all(
        grant.policy, exporter.run_state_machine_arn, exporter.table_export_state_machine_arn
    ).apply(check)


@pulumi.runtime.test
def test_the_dashboard_can_be_turned_off(mocks: RecordingMocks):
    def check(m: RecordingMocks) -> None:
        assert m.of_type("aws:cloudwatch/dashboard:Dashboard") == []
        for alarm in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
            assert "Runbook: docs/operations.md#" in alarm.inputs["alarmDescription"]

    return _build(mocks, {**BASE, "dashboard_enabled": False}, check)


def test_change_history_is_wired_per_table_with_its_alarms_on_the_dashboard() -> None:
    from table_exporter.export.dashboard import plotted_metrics
    from table_exporter.kernel.metrics import is_published

    from tests.test_history import TableMocks

    table_mocks = TableMocks()
    pulumi.runtime.set_mocks(table_mocks, preview=False)

    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        args: TableExporterArgs = {
            "tables": [{"table": "orders", "change_history": True}, {"table": "customers"}],
            "alarm_emails": ["oncall@example.com"],
        }
        exporter = TableExporter("nightly", args)
        assert set(exporter.change_histories) == {"orders"}
        history = exporter.change_histories["orders"]
        assert exporter.dashboard is not None

        def check(_: Any) -> None:
            m = table_mocks
            assert not [r for r in m.resources if r.typ.startswith("aws:lambda")]
            (child,) = [r for r in m.resources if r.typ == "table-exporter:index:ChangeHistory"]
            assert child.name == "nightly-history-orders"
            body = json.loads(_one(m, "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
            plotted = plotted_metrics(body)
            assert ("AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName") in plotted
            for namespace, metric, dimension in plotted:
                assert is_published(namespace, dimension, metric), (namespace, metric)
            alarms = next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]
            assert len(alarms["alarms"]) == len(m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
            for alarm in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
                (dimension,) = alarm.inputs["dimensions"]
                assert is_published(
                    alarm.inputs["namespace"], dimension, alarm.inputs["metricName"]
                ), alarm.name

        return pulumi.Output.all(
            exporter.dashboard.id, history.delivery_stream.arn, history.pipe.arn
        ).apply(check)

    build()


@pulumi.runtime.test
def test_restore_drills_get_a_machine_a_schedule_per_table_and_their_alarms(
    mocks: RecordingMocks,
):
    from table_exporter.kernel.metrics import is_published

    def check(m: RecordingMocks) -> None:
        machines = {r.name: r for r in m.of_type("aws:sfn/stateMachine:StateMachine")}
        assert set(machines) == {"nightly-run", "nightly-table-export", "nightly-drill"}
        drill = json.loads(machines["nightly-drill"].inputs["definition"])
        assert drill["QueryLanguage"] == "JSONata"
        schedules = {r.name: r.inputs for r in m.of_type("aws:scheduler/schedule:Schedule")}
        drills = [s for n, s in schedules.items() if n.startswith("nightly-drill-schedule-")]
        assert len(drills) == 2
        assert {json.loads(s["target"]["input"])["tableArn"].rsplit("/", 1)[1] for s in drills} == {
            "orders",
            "customers",
        }
        assert all(s["scheduleExpression"] == "cron(0 5 ? * WED,SUN *)" for s in drills)
        scheduler = next(
            r
            for r in m.of_type("aws:iam/rolePolicy:RolePolicy")
            if r.name == "nightly-scheduler-policy"
        )
        (start,) = [
            s
            for s in json.loads(scheduler.inputs["policy"])["Statement"]
            if s["Sid"] == "StartRuns"
        ]
        assert any(arn.endswith(":stateMachine:nightly-drill-1a2b3c4") for arn in start["Resource"])
        roles = {
            r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in m.of_type("aws:iam/role:Role")
        }
        condition = roles["nightly-drill-role"]["Statement"][0]["Condition"]["ArnLike"]
        assert condition["aws:SourceArn"][0].endswith(":stateMachine:nightly-drill-???????")
        alarms = {a.name: a.inputs for a in m.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        stale = alarms["nightly-alarm-drill-stale"]
        assert stale["evaluationPeriods"] == 96 and stale["treatMissingData"] == "breaching"
        assert stale["dimensions"]["StateMachineArn"].endswith(
            ":stateMachine:nightly-drill-1a2b3c4"
        )
        assert stale["alarmDescription"].endswith("Runbook: docs/restore.md#alarms")
        for alarm in alarms.values():
            (dimension,) = alarm["dimensions"]
            assert is_published(alarm["namespace"], dimension, alarm["metricName"])

    args: TableExporterArgs = {
        **BASE,
        "restore_drill_enabled": True,
        "restore_drill_schedule": "cron(0 5 ? * WED,SUN *)",
        "restore_drill_window_hours": 96,
    }
    return _build(mocks, args, check)


@pulumi.runtime.test
def test_the_destination_account_gets_its_bucket_key_and_importer_statements(
    mocks: RecordingMocks,
):
    key = f"arn:aws:kms:{REGION}:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    exporter = TableExporter(
        "nightly",
        {
            **BASE,
            "bucket_name": "partner-exports",
            "bucket_owner": "210987654321",
            "sse_algorithm": "KMS",
            "kms_key_arn": key,
        },
    )
    importer = "arn:aws:iam::210987654321:role/importer"

    def check(v: list[Any]) -> None:
        documents, role_arn = v
        bucket = documents["bucket_policy"]["Statement"]
        # Both prefixes in one statement: IAM wants statement ids unique in a policy.
        assert [s["Sid"] for s in bucket] == ["ExporterWritesExports"]
        assert {r for s in bucket for r in s["Resource"]} == {
            "arn:aws:s3:::partner-exports/dynamodb-exports/*",
            "arn:aws:s3:::partner-exports/crm/*",
        }
        assert all(s["Principal"] == {"AWS": role_arn} for s in bucket)
        key_statements = documents["key_policy"]["Statement"]
        principals = {json.dumps(s["Principal"]) for s in key_statements}
        assert json.dumps({"AWS": role_arn}) in principals
        assert json.dumps({"AWS": importer}) in principals
        reads = {s["Sid"]: s for s in documents["importer_policy"]["Statement"]}
        assert reads["ImporterReadsExports"]["Resource"] == [
            "arn:aws:s3:::partner-exports/crm/*",
            "arn:aws:s3:::partner-exports/dynamodb-exports/*",
        ]

    return pulumi.Output.all(
        exporter.destination_account_policies(importer_role_arn=importer),
        exporter.table_export_role_arn,
    ).apply(check)


def test_another_accounts_bucket_grants_every_role_that_uses_it() -> None:
    """A bucket in another account must allow each caller in its own policy
    ("Cross-account policy evaluation logic"): not only the table export role, but the
    restore drill role (reads exports, writes reports) and every change history's
    delivery role (writes its folders), and the key policy must let them use the key."""
    from tests.test_history import TableMocks

    table_mocks = TableMocks()
    pulumi.runtime.set_mocks(table_mocks, preview=False)
    key = "arn:aws:kms:ap-northeast-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        exporter = TableExporter(
            "nightly",
            {
                "tables": [{"table": "orders", "change_history": True}, {"table": "customers"}],
                "bucket_name": "partner-exports",
                "bucket_owner": "210987654321",
                "sse_algorithm": "KMS",
                "kms_key_arn": key,
                "restore_drill_enabled": True,
            },
        )
        assert exporter.drill_state_machine is not None
        history = exporter.change_histories["orders"]

        def check(v: list[Any]) -> None:
            documents, drill_role, delivery_role = v
            bucket = documents["bucket_policy"]["Statement"]

            def grants(principal: str) -> set[tuple[str, str]]:
                return {
                    (action, resource)
                    for s in bucket
                    if s["Principal"] == {"AWS": principal}
                    for action in s["Action"]
                    for resource in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
                }

            objects = "arn:aws:s3:::partner-exports"
            assert ("s3:GetObject", f"{objects}/dynamodb-exports/*") in grants(drill_role)
            assert ("s3:PutObject", f"{objects}/drill-reports/*") in grants(drill_role)
            assert ("s3:PutObject", f"{objects}/dynamodb-exports/orders/history/*") in grants(
                delivery_role
            )
            key_principals = [
                p
                for s in documents["key_policy"]["Statement"]
                for p in ([s["Principal"]["AWS"]] if isinstance(s["Principal"]["AWS"], str) else s["Principal"]["AWS"])
                if "kms:GenerateDataKey" in s["Action"]
            ]
            assert drill_role in key_principals and delivery_role in key_principals

        return pulumi.Output.all(
            exporter.destination_account_policies(),
            exporter.drill_state_machine.role_arn,
            history.firehose_role.arn,
        ).apply(check)

    build()


@pulumi.runtime.test
def test_run_reports_stay_in_the_exporters_account_when_the_bucket_is_another_accounts(
    mocks: RecordingMocks,
):
    """A Distributed Map's ResultWriter bucket must be in the machine's own account and
    Region, else the run fails with ``States.ResultWriterFailed`` ("ResultWriter")."""

    def check(m: RecordingMocks) -> None:
        (reports,) = [b for b in m.of_type("aws:s3/bucket:Bucket") if "reports" in b.name]
        run = next(r for r in m.of_type("aws:sfn/stateMachine:StateMachine") if r.name == "nightly-run")
        states = json.loads(run.inputs["definition"])["States"]
        writer = next(s for s in states.values() if s.get("Type") == "Map")["ResultWriter"]
        assert writer["Arguments"]["Bucket"] == m.physical_name(reports.name)
        policy = next(
            json.loads(r.inputs["policy"])
            for r in m.of_type("aws:iam/rolePolicy:RolePolicy")
            if r.name == "nightly-run-policy"
        )
        (statement,) = [s for s in policy["Statement"] if s["Sid"] == "WriteAndReadRunReports"]
        assert statement["Resource"] == [
            f"arn:aws:s3:::{m.physical_name(reports.name)}/run-reports/*"
        ]
        assert not any("partner-exports" in json.dumps(s) for s in policy["Statement"])

    return _build(
        mocks, {**BASE, "bucket_name": "partner-exports", "bucket_owner": "210987654321"}, check
    )
