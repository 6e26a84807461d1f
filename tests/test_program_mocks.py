"""The Pulumi program for each stack, evaluated under mocks from its Pulumi.<stack>.yaml."""

from __future__ import annotations

import json

import pulumi
import pytest

from emulator.stack import capture_stack, stack_config

SCHEDULE = "aws:scheduler/schedule:Schedule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def test_dev_stack_deploys_a_disabled_schedule_short_retention_and_expiring_exports() -> None:
    stack = capture_stack("dev")
    schedule = stack.resource(SCHEDULE, "exporter-schedule")
    assert schedule["state"] == "DISABLED"
    assert schedule["scheduleExpression"] == "cron(0 4 * * ? *)"
    assert stack.resource(LOG_GROUP, "exporter-logs")["retentionInDays"] == 7
    lifecycle = stack.resource(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "exporter-bucket-lifecycle",
    )
    assert lifecycle["rules"][0]["expiration"]["days"] == 30
    _, run = stack.state_machine("run")
    tables = [
        t["tableArn"].rsplit("/", 1)[1]
        for t in run["States"]["PlanRun"]["Assign"]["configuredTables"]
    ]
    assert tables == ["orders", "customers"]
    assert run["States"]["ExportTables"]["MaxConcurrency"] == 5
    # A disabled schedule cannot go stale: no staleness alarm to wake anyone up.
    assert "stale" not in stack.outputs["alarm_arns"]


def test_prd_stack_runs_daily_at_four_in_tokyo_with_long_retention() -> None:
    stack = capture_stack("prd")
    schedule = stack.resource(SCHEDULE, "exporter-schedule")
    assert schedule["state"] == "ENABLED"
    assert schedule["scheduleExpression"] == "cron(0 4 * * ? *)"
    assert schedule["scheduleExpressionTimezone"] == "Asia/Tokyo"
    assert stack.resource(LOG_GROUP, "exporter-logs")["retentionInDays"] == 365
    assert "stale" in stack.outputs["alarm_arns"]
    _, run = stack.state_machine("run")
    prefixes = {
        t["tableArn"].rsplit("/", 1)[1]: t["prefix"]
        for t in run["States"]["PlanRun"]["Assign"]["configuredTables"]
    }
    assert prefixes == {
        "orders": "dynamodb-exports",
        "customers": "dynamodb-exports",
        "invoices": "finance/dynamodb-exports",
    }
    for machine in stack.mocks.of_type("aws:sfn/stateMachine:StateMachine"):
        assert machine.inputs["tags"]["environment"] == "prd"
        assert machine.inputs["tags"]["stack"] == "prd"


def test_schedule_input_is_what_the_component_builds() -> None:
    stack = capture_stack("dev")
    schedule = stack.resource(SCHEDULE, "exporter-schedule")
    assert json.loads(schedule["target"]["input"]) == json.loads(stack.outputs["schedule_input"])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("exporter:scheduleExpression", "cron(0 4 * * *)", "exporter:scheduleExpression: "),
        ("exporter:maxConcurrency", "500", "exporter:maxConcurrency: "),
        ("exporter:scheduel", "rate(1 day)", "exporter:scheduel"),
    ],
)
def test_bad_config_stops_the_program_before_any_resource_is_registered(
    key: str, value: str, message: str
) -> None:
    config = {**stack_config("prd"), key: value}
    with pytest.raises(pulumi.RunError, match=message) as raised:
        capture_stack("prd", config=config)
    assert str(raised.value).count("\n") == 0, "one problem, one line"
    # Nothing was registered: the settings are checked first.
    from emulator import stack as stack_module

    assert stack_module.LAST_MOCKS is not None and stack_module.LAST_MOCKS.resources == []


def test_resources_do_not_grow_with_the_number_of_tables() -> None:
    counts = {}
    for count in (1, 1000):
        config = {
            **stack_config("prd"),
            "exporter:tables": json.dumps([{"table": f"tenant-{i:04d}"} for i in range(count)]),
            "exporter:tableAccess": "prefix",
        }
        stack = capture_stack("prd", config=config)
        counts[count] = sorted((r.typ, r.name) for r in stack.mocks.resources)
        _, run = stack.state_machine("run")
        assert len(run["States"]["PlanRun"]["Assign"]["configuredTables"]) == count
        assert len(json.dumps(run)) < 1_000_000  # Step Functions' definition size limit
        schedule = stack.resource(SCHEDULE, "exporter-schedule")
        assert len(schedule["target"]["input"]) < 256 * 1024
    assert counts[1] == counts[1000]
