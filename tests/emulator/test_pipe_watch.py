"""The pipe watch executed: a stopped change-history pipe fails the watch, naming it.

Pipes may disable a pipe after nearly continuous 4xx errors (EventBridge user guide,
"Error handling and troubleshooting in Amazon EventBridge Pipes"); a stopped pipe
publishes no metrics, so only this watch notices it. The machine runs as a role
holding exactly the policy the component generates for it, with authorisation on.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from table_exporter.history.pipe_watch import (
    PipeWatchSpec,
    pipe_watch_definition,
    pipe_watch_role_policy,
)

from emulator import harness
from emulator.authorization import REGISTRY

NAMES = ["nightly-history-orders-pipe", "nightly-history-events-pipe"]


def _pipes() -> Any:
    return boto3.client("pipes", region_name=harness.REGION)


def _create_pipes() -> list[str]:
    pipes = _pipes()
    arns = []
    for name in NAMES:
        arns.append(
            pipes.create_pipe(
                Name=name,
                Source=harness.SCOPE.arn("dynamodb", f"table/{name}/stream/2026-01-05T03:00:00.000"),
                Target=harness.SCOPE.arn("firehose", f"deliverystream/{name}"),
                RoleArn=harness.role_arn(f"{name}-role"),
                DesiredState="RUNNING",
            )["Arn"]
        )
        # moto moves a pipe through its states as it is described: let it reach RUNNING.
        for _ in range(5):
            pipes.describe_pipe(Name=name)
    return arns


def _run(aws: dict[str, Any], arns: list[str], name: str) -> dict[str, Any]:
    spec = PipeWatchSpec(NAMES)
    role = harness.role_arn("pipe-watch")
    REGISTRY.put_role_policy(role, pipe_watch_role_policy(spec, pipe_arns=arns))
    sfn = aws["stepfunctions"]
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    machine = existing.get("pipe-watch") or sfn.create_state_machine(
        name="pipe-watch", definition=json.dumps(pipe_watch_definition(spec)), roleArn=role
    )["stateMachineArn"]
    return harness.execute(sfn, machine, name, timeout=60)


def test_the_watch_succeeds_while_every_pipe_runs(aws):
    arns = _create_pipes()
    assert {_pipes().describe_pipe(Name=n)["CurrentState"] for n in NAMES} == {"RUNNING"}

    described = _run(aws, arns, "all-running")

    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert REGISTRY.denials == []


def test_a_stopped_pipe_fails_the_watch_naming_it_and_its_state(aws):
    arns = _create_pipes()
    _pipes().stop_pipe(Name=NAMES[1])

    described = _run(aws, arns, "one-stopped")

    assert described["status"] == "FAILED"
    assert described["error"] == "PipesNotRunning"
    cause = json.loads(described["cause"])
    (stopped,) = cause["pipes"]
    assert stopped["name"] == NAMES[1] and stopped["state"] != "RUNNING"
    assert cause["message"].startswith("1 of 2 change-history pipes are not running")
    assert REGISTRY.denials == []


def test_the_watch_fails_clearly_when_its_role_may_not_describe_a_pipe(aws):
    """Its policy names exactly the exporter's pipes: one left out is denied, and the
    watch fails with the service's AccessDenied error rather than passing silently."""
    arns = _create_pipes()

    described = _run(aws, arns[:1], "denied")

    assert described["status"] == "FAILED"
    assert "AccessDenied" in described["error"], described
