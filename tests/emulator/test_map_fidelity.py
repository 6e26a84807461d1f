"""Distributed Map runs in the emulator behave as AWS documents them.

Small hand-written JSONata machines: a parent whose Distributed Map starts a child
machine per item with ``states:startExecution.sync:2`` (as the exporter will), writes
its results with ``ResultWriter``, then reads them back with ``describeMapRun`` and
``s3:getObject``. AWS pages followed: "Using Map state in Distributed mode",
"ResultWriter (Map)", "DescribeMapRun", "Child workflow executions".
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from emulator import harness

BUCKET = "map-results"
PREFIX = "runs"
DISTRIBUTED = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def create(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    return str(
        sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=harness.ROLE_ARN
        )["stateMachineArn"]
    )


def run(sfn: Any, machine: str, payload: dict[str, Any], name: str = "run-1") -> dict[str, Any]:
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return dict(described)
        assert time.monotonic() < deadline, "execution still RUNNING"
        time.sleep(0.02)


def child_machine(sfn: Any) -> str:
    """Fails when its input says so, else answers with its item."""
    return create(
        sfn,
        "child",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Decide",
            "States": {
                "Decide": {
                    "Type": "Choice",
                    "Choices": [{"Condition": "{% $states.input.fail %}", "Next": "Fail"}],
                    "Default": "Done",
                },
                "Fail": {"Type": "Fail", "Error": "Child.Broken", "Cause": "item asked to fail"},
                "Done": {
                    "Type": "Pass",
                    "Output": "{% {'table': $states.input.table} %}",
                    "End": True,
                },
            },
        },
    )


def parent_machine(
    sfn: Any,
    child_arn: str,
    *,
    tolerance: dict[str, Any],
    name: str = "parent",
    max_concurrency: int = 2,
) -> str:
    """The shape the exporter's run will take: Map over items, each a ``.sync:2`` child,
    results to S3, then DescribeMapRun, the manifest and the FAILED file read back."""
    return create(
        sfn,
        name,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Tables",
            "States": {
                "Tables": {
                    "Type": "Map",
                    "Items": "{% $states.input.items %}",
                    "MaxConcurrency": max_concurrency,
                    **tolerance,
                    "ItemProcessor": {
                        "ProcessorConfig": DISTRIBUTED,
                        "StartAt": "Export",
                        "States": {
                            "Export": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                                "Arguments": {
                                    "StateMachineArn": child_arn,
                                    "Name": "{% $uuid() %}",
                                    "Input": "{% $states.input %}",
                                },
                                "Output": "{% $states.result.Output %}",
                                "End": True,
                            }
                        },
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Arguments": {"Bucket": BUCKET, "Prefix": "{% 'runs' %}"},
                    },
                    "Assign": {"written": "{% $states.result %}"},
                    "Next": "Describe",
                },
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:sfn:describeMapRun",
                    "Arguments": {"MapRunArn": "{% $written.MapRunArn %}"},
                    "Assign": {"described": "{% $states.result %}"},
                    "Next": "Manifest",
                },
                "Manifest": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Arguments": {
                        "Bucket": "{% $written.ResultWriterDetails.Bucket %}",
                        "Key": "{% $written.ResultWriterDetails.Key %}",
                    },
                    "Assign": {"manifest": "{% $parse($states.result.Body) %}"},
                    "Next": "AnyFailed",
                },
                "AnyFailed": {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Condition": "{% $count($manifest.ResultFiles.FAILED) > 0 %}",
                            "Next": "Failed",
                        }
                    ],
                    "Default": "Report",
                },
                "Failed": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Arguments": {
                        "Bucket": "{% $manifest.DestinationBucket %}",
                        "Key": "{% $manifest.ResultFiles.FAILED[0].Key %}",
                    },
                    "Assign": {"failed": "{% $parse($states.result.Body) %}"},
                    "Next": "Report",
                },
                "Report": {
                    "Type": "Pass",
                    "Output": {
                        "written": "{% $written %}",
                        "described": "{% $described %}",
                        "manifest": "{% $manifest %}",
                        "failed": "{% $exists($failed) ? $failed : [] %}",
                    },
                    "End": True,
                },
            },
        },
    )


@pytest.fixture
def sfn(aws: dict[str, Any]) -> Any:
    harness.create_bucket(aws["s3"], BUCKET)
    return aws["stepfunctions"]


ITEMS = [
    {"table": "orders", "fail": False},
    {"table": "broken", "fail": True},
    {"table": "users", "fail": False},
]


def test_tolerance_fields_are_accepted_in_jsonata(sfn: Any) -> None:
    """moto's grammar rejected an integer percentage and ResultWriter ``Arguments``,
    and read a JSONata ``ToleratedFailureCount`` as a percentage."""
    child = child_machine(sfn)
    parent_machine(sfn, child, tolerance={"ToleratedFailurePercentage": 100}, name="p1")
    parent_machine(sfn, child, tolerance={"ToleratedFailureCount": "{% 1 %}"}, name="p2")
    parent_machine(
        sfn,
        child,
        tolerance={"ToleratedFailurePercentage": "{% 12.5 %}", "ToleratedFailureCount": 3},
        name="p3",
    )


def test_a_failing_item_is_tolerated_at_100_percent(sfn: Any) -> None:
    parent = parent_machine(sfn, child_machine(sfn), tolerance={"ToleratedFailurePercentage": 100})
    described = run(sfn, parent, {"items": ITEMS})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    report = json.loads(described["output"])

    counts = report["described"]["ItemCounts"]
    assert counts["Total"] == 3
    assert counts["Succeeded"] == 2
    assert counts["Failed"] == 1
    assert counts["TimedOut"] == counts["Aborted"] == counts["Pending"] == counts["Running"] == 0
    assert counts["ResultsWritten"] == 3
    assert report["described"]["Status"] == "SUCCEEDED"
    assert report["described"]["MaxConcurrency"] == 2
    assert report["described"]["ToleratedFailurePercentage"] == 100
    assert report["described"]["MapRunArn"] == report["written"]["MapRunArn"]
    assert report["described"]["ExecutionCounts"]["Failed"] == 1
    assert report["described"]["StartDate"].endswith("Z")


def test_failures_beyond_10_percent_fail_the_map(sfn: Any, aws: dict[str, Any]) -> None:
    parent = parent_machine(
        sfn, child_machine(sfn), tolerance={"ToleratedFailurePercentage": 10}, max_concurrency=1
    )
    described = run(sfn, parent, {"items": ITEMS})
    assert described["status"] == "FAILED"
    assert described["error"] == "States.ExceedToleratedFailureThreshold"

    history = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    types = [e["type"] for e in history]
    assert "MapRunFailed" in types and "MapRunSucceeded" not in types
    map_run = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"][0]
    record = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])
    assert record["status"] == "FAILED"
    assert record["itemCounts"]["failed"] == 1
    assert record["itemCounts"]["total"] == 3
    # One at a time: the second item's failure stopped the third from starting.
    assert record["itemCounts"]["pending"] == 1

    # The results are exported even so, the unstarted item as PENDING.
    objects = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]
    keys = sorted(o["Key"].rsplit("/", 1)[1] for o in objects)
    assert keys == ["FAILED_0.json", "PENDING_0.json", "SUCCEEDED_0.json", "manifest.json"]


def test_tolerated_failure_count(sfn: Any) -> None:
    child = child_machine(sfn)
    items = [{"table": f"t{i}", "fail": i in (1, 3)} for i in range(5)]
    within = parent_machine(
        sfn, child, tolerance={"ToleratedFailureCount": 2}, name="count-2", max_concurrency=1
    )
    beyond = parent_machine(
        sfn,
        child,
        tolerance={"ToleratedFailureCount": "{% 1 %}"},
        name="count-1",
        max_concurrency=1,
    )
    assert run(sfn, within, {"items": items})["status"] == "SUCCEEDED"
    failed = run(sfn, beyond, {"items": items})
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.ExceedToleratedFailureThreshold"


# moto's callback thread for a ``.sync:2`` task that is stopped before its timeout is
# read fails on its own (a TypeError in a daemon thread); the task is aborted all the same.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_running_children_are_aborted_when_the_map_run_fails(
    sfn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The slow item's .sync check waits a real second before it can see its child end;
    # the broken item fails at once, so the Map Run fails while the slow one still runs.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )

    monkeypatch.setattr(callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 1.0)
    child = child_machine(sfn)
    machine = create(
        sfn,
        "aborting",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Map",
            "States": {
                "Map": {
                    "Type": "Map",
                    "Items": "{% $states.input.items %}",
                    "ItemProcessor": {
                        "ProcessorConfig": DISTRIBUTED,
                        "StartAt": "Decide",
                        "States": {
                            "Decide": {
                                "Type": "Choice",
                                "Choices": [
                                    {"Condition": "{% $states.input.fail %}", "Next": "Fail"}
                                ],
                                "Default": "Export",
                            },
                            "Fail": {"Type": "Fail", "Error": "Item.Broken"},
                            "Export": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                                "Arguments": {
                                    "StateMachineArn": child,
                                    "Name": "{% $uuid() %}",
                                    "Input": "{% $states.input %}",
                                },
                                "End": True,
                            },
                        },
                    },
                    "End": True,
                }
            },
        },
    )
    items = [{"table": "slow", "fail": False}, {"table": "broken", "fail": True}]
    described = run(sfn, machine, {"items": items})
    assert described["error"] == "States.ExceedToleratedFailureThreshold"
    map_run = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"][0]
    counts = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]
    # The slow item is aborted while its child runs, or never starts if the failure came
    # first (both workers start together); it never succeeds.
    assert (counts["failed"], counts["succeeded"]) == (1, 0)
    assert counts["aborted"] + counts["pending"] == 1


def test_result_writer_writes_manifest_and_result_files(sfn: Any, aws: dict[str, Any]) -> None:
    parent = parent_machine(sfn, child_machine(sfn), tolerance={"ToleratedFailurePercentage": 100})
    report = json.loads(run(sfn, parent, {"items": ITEMS})["output"])

    written = report["written"]
    run_id = written["MapRunArn"].split(":")[-1]
    assert set(written) == {"MapRunArn", "ResultWriterDetails"}
    assert written["ResultWriterDetails"] == {
        "Bucket": BUCKET,
        "Key": f"{PREFIX}/{run_id}/manifest.json",
    }

    manifest = report["manifest"]
    assert manifest["DestinationBucket"] == BUCKET
    assert manifest["MapRunArn"] == written["MapRunArn"]
    assert manifest["ResultFiles"]["PENDING"] == []
    for status in ("SUCCEEDED", "FAILED"):
        (entry,) = manifest["ResultFiles"][status]
        assert entry["Key"] == f"{PREFIX}/{run_id}/{status}_0.json"
        body = aws["s3"].get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
        assert entry["Size"] == len(body)

    succeeded_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    succeeded = json.loads(aws["s3"].get_object(Bucket=BUCKET, Key=succeeded_key)["Body"].read())
    assert [json.loads(e["Input"])["table"] for e in succeeded] == ["orders", "users"]
    first = succeeded[0]
    assert first["Status"] == "SUCCEEDED"
    assert json.loads(first["Output"]) == {"table": "orders"}
    assert first["ExecutionArn"].endswith(":" + first["Name"])
    assert ":execution:parent/" in first["ExecutionArn"]
    assert first["StateMachineArn"].split(":stateMachine:")[1].startswith("parent/")
    assert first["StartDate"].endswith("Z") and first["StopDate"].endswith("Z")
    assert "Error" not in first

    (failed,) = report["failed"]  # read by the machine itself through s3:getObject
    assert failed["Status"] == "FAILED"
    assert json.loads(failed["Input"]) == {"table": "broken", "fail": True}
    assert failed["Error"] == "States.TaskFailed"
    cause = json.loads(failed["Cause"])  # the .sync:2 child's DescribeExecution
    assert cause["Status"] == "FAILED" and cause["Error"] == "Child.Broken"
    assert "Output" not in failed


def test_get_object_body_is_text(sfn: Any, aws: dict[str, Any]) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key="doc.json", Body=b'{"a": [1, 2]}')
    machine = create(
        sfn,
        "reader",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Get",
            "States": {
                "Get": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Arguments": {"Bucket": BUCKET, "Key": "doc.json"},
                    "Output": "{% {'body': $states.result.Body, 'parsed': $parse($states.result.Body)} %}",
                    "End": True,
                }
            },
        },
    )
    described = run(sfn, machine, {})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"]) == {"body": '{"a": [1, 2]}', "parsed": {"a": [1, 2]}}


def test_at_most_and_exactly_max_concurrency_children_run(sfn: Any) -> None:
    """Children record start and end in virtual time; waits of different lengths prove
    that the next item starts as soon as a child ends, never more than 3 at once."""
    seconds = [300, 60, 120, 60, 240, 30, 90, 60, 180, 30]
    machine = create(
        sfn,
        "timed",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Map",
            "States": {
                "Map": {
                    "Type": "Map",
                    "Items": "{% $states.input.seconds %}",
                    "ItemSelector": {
                        "i": "{% $states.context.Map.Item.Index %}",
                        "seconds": "{% $states.context.Map.Item.Value %}",
                    },
                    "MaxConcurrency": 3,
                    "ItemProcessor": {
                        "ProcessorConfig": DISTRIBUTED,
                        "StartAt": "Start",
                        "States": {
                            "Start": {
                                "Type": "Pass",
                                "Assign": {"start": "{% $millis() %}"},
                                "Next": "Work",
                            },
                            "Work": {
                                "Type": "Wait",
                                "Seconds": "{% $states.input.seconds %}",
                                "Next": "End",
                            },
                            "End": {
                                "Type": "Pass",
                                "Output": "{% {'i': $states.input.i, 'start': $start, 'end': $millis()} %}",
                                "End": True,
                            },
                        },
                    },
                    "Next": "After",
                },
                "After": {
                    "Type": "Pass",
                    "Output": "{% {'children': $states.input, 'after': $millis()} %}",
                    "End": True,
                },
            },
        },
    )
    began = time.monotonic()
    described = run(sfn, machine, {"seconds": seconds})
    assert time.monotonic() - began < 15
    assert described["status"] == "SUCCEEDED", described.get("cause")
    out = json.loads(described["output"])
    children = out["children"]
    assert [c["i"] for c in children] == list(range(len(seconds)))
    for child in children:
        assert child["end"] - child["start"] == seconds[child["i"]] * 1000

    def running_at(t: int) -> int:
        return sum(c["start"] <= t < c["end"] for c in children)

    starts = sorted(c["start"] for c in children)
    points = sorted({c["start"] for c in children} | {c["end"] for c in children})
    assert max(running_at(t) for t in points) == 3
    # While items wait (until the last one starts), exactly 3 run.
    assert all(running_at(t) == 3 for t in points if t <= starts[-1])
    # The Map ends when its last child does.
    assert out["after"] == max(c["end"] for c in children)


def test_child_executions_are_listed_by_map_run(sfn: Any) -> None:
    parent = parent_machine(sfn, child_machine(sfn), tolerance={"ToleratedFailurePercentage": 100})
    described = run(sfn, parent, {"items": ITEMS})
    map_run_arn = json.loads(described["output"])["written"]["MapRunArn"]
    listed = sfn.list_executions(mapRunArn=map_run_arn)["executions"]
    assert sorted(e["status"] for e in listed) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert all(e["mapRunArn"] == map_run_arn for e in listed)
    assert all(e["stateMachineArn"].startswith(parent + "/") for e in listed)
    failed = sfn.list_executions(mapRunArn=map_run_arn, statusFilter="FAILED")["executions"]
    assert len(failed) == 1


def test_percentage_out_of_range_fails(sfn: Any) -> None:
    parent = parent_machine(
        sfn, child_machine(sfn), tolerance={"ToleratedFailurePercentage": "{% 150 %}"}, name="bad"
    )
    described = run(sfn, parent, {"items": ITEMS})
    assert described["status"] == "FAILED"


def test_an_integer_percentage_is_accepted_in_jsonpath_too(sfn: Any) -> None:
    create(
        sfn,
        "jsonpath",
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ToleratedFailurePercentage": 50,
                    "ItemProcessor": {
                        "ProcessorConfig": DISTRIBUTED,
                        "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "End": True}},
                    },
                    "End": True,
                }
            },
        },
    )
