"""Runs the Pulumi program (``__main__.py``) for a stack under Pulumi's mocks.

No Pulumi CLI is needed: the stack's config comes from ``Pulumi.<stack>.yaml`` and the
mocks record every resource the program registers. The demo, the benchmark and the
program tests read the deployed definitions and the schedule input from here, so
they always use what ``pulumi up`` would deploy, never a hand-kept copy.
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml  # type: ignore[import-untyped]

from .pulumi_mocks import RecordingMocks

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "dynamodb-s3-exporter"


def stack_config(stack: str) -> dict[str, str]:
    """The stack's config as the CLI would pass it: structured values as JSON text."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in (document.get("config") or {}).items()
    }


@dataclass
class CapturedStack:
    mocks: RecordingMocks
    outputs: dict[str, Any]

    def resource(self, typ: str, name: str) -> dict[str, Any]:
        for resource in self.mocks.of_type(typ):
            if resource.name == name:
                return dict(resource.inputs)
        raise KeyError(f"{typ} {name} not registered")

    def state_machine(self, role: str) -> tuple[str, dict[str, Any]]:
        """(physical name, definition) of the ``run`` or ``table-export`` machine."""
        name = f"exporter-{role}"
        inputs = self.resource("aws:sfn/stateMachine:StateMachine", name)
        return self.mocks.physical_name(name), json.loads(inputs["definition"])


LAST_MOCKS: RecordingMocks | None = None
"""The mocks of the latest evaluation, also when it failed (tests inspect them)."""


def capture_stack(stack: str, config: dict[str, str] | None = None) -> CapturedStack:
    """Evaluate the program for ``stack``; ``config`` replaces the stack file's config."""
    global LAST_MOCKS
    mocks = LAST_MOCKS = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(stack_config(stack) if config is None else config)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def evaluate() -> pulumi.Output[Any]:
        namespace = runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        exporter = namespace["exporter"]
        watched = {
            "run_state_machine_arn": exporter.run_state_machine_arn,
            "schedule_input": exporter.schedule_input,
            "bucket_name": exporter.bucket_name,
            "alarm_arns": exporter.alarm_arns,
        }
        return pulumi.Output.all(**watched).apply(outputs.update)

    try:
        evaluate()
    finally:
        pulumi.runtime.set_all_config({})  # leave no stack config behind in this process
    return CapturedStack(mocks=mocks, outputs=outputs)
