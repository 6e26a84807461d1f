"""Deploys what a component registered under Pulumi's mocks into the emulator.

The Glue databases and Athena workgroups it registered are created too.

Scenario tests use the components through their public API, as the docs tell a user
to, then run what they registered: every state machine with its definition and role,
every role with the inline policies the component attached to it, and each change
history's pipe and delivery stream acting as the roles the component gave them. With
authorisation on (``authorization``), every call is allowed or denied by exactly the
policies a ``pulumi up`` would create.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

from .authorization import REGISTRY
from .pulumi_mocks import ACCOUNT, REGION, RecordingMocks

Mocks = RecordingMocks


def evaluate(
    build: Callable[[], Any], mocks: RecordingMocks | None = None
) -> tuple[RecordingMocks, Any]:
    """Run ``build`` (which creates components and returns an Output or a value) under
    mocks; returns the mocks, which recorded every resource, and what ``build``'s
    result resolved to."""
    recording = mocks or RecordingMocks()
    pulumi.runtime.set_mocks(recording, preview=False)
    holder: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        result = build()
        if isinstance(result, pulumi.Output):
            return result.apply(lambda value: holder.setdefault("value", value))
        holder["value"] = result
        return None

    run()
    return recording, holder.get("value")


def role_arn_of(physical_name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{physical_name}"


@dataclass
class Deployed:
    """What ``deploy`` created: machine ARNs by logical name (``nightly-run``)."""

    machines: dict[str, str] = field(default_factory=dict)
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def machine(self, suffix: str) -> str:
        (arn,) = [a for n, a in self.machines.items() if n.endswith(suffix)]
        return arn


def deploy(sfn: Any, mocks: RecordingMocks) -> Deployed:
    """Attach every recorded inline policy to its role and create every recorded state
    machine under its physical name (definitions refer to each other by those)."""
    documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for policy in mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
        documents[role_arn_of(policy.inputs["role"])].append(json.loads(policy.inputs["policy"]))
    for role, docs in documents.items():
        REGISTRY.put_role_policy(role, *docs)
    deployed = Deployed(roles=dict(documents))
    from .harness import _like

    for database in mocks.of_type("aws:glue/catalogDatabase:CatalogDatabase"):
        _like(sfn, "glue").create_database(DatabaseInput={"Name": database.inputs["name"]})
    for workgroup in mocks.of_type("aws:athena/workgroup:Workgroup"):
        _like(sfn, "athena").create_work_group(
            Name=workgroup.inputs.get("name") or mocks.physical_name(workgroup.name)
        )
    machines = mocks.of_type("aws:sfn/stateMachine:StateMachine")
    # A definition names the machines it starts by ARN; create those it starts first.
    machines.sort(key=lambda m: ("-run" in m.name, m.name))
    for machine in machines:
        deployed.machines[machine.name] = sfn.create_state_machine(
            name=machine.inputs.get("name") or mocks.physical_name(machine.name),
            definition=machine.inputs["definition"],
            roleArn=machine.inputs["roleArn"],
        )["stateMachineArn"]
    for pipe in mocks.of_type("aws:pipes/pipe:Pipe"):
        REGISTRY.set_service_role(arn_of(mocks, pipe), pipe.inputs["roleArn"])
    for stream in mocks.of_type("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"):
        role = stream.inputs["extendedS3Configuration"]["roleArn"]
        REGISTRY.set_service_role(arn_of(mocks, stream), role)
    return deployed


def arn_of(mocks: RecordingMocks, resource: Any) -> str:
    """The ARN the mocks gave a recorded resource (its state, as returned)."""
    physical = mocks.physical_name(resource.name)
    service = "pipes" if "pipes" in resource.typ else "firehose"
    kind = "pipe/" if service == "pipes" else "deliverystream/"
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{kind}{physical}"


def schedule_input(mocks: RecordingMocks, name: str) -> dict[str, Any]:
    """The input a recorded schedule would send its target."""
    (schedule,) = [s for s in mocks.of_type("aws:scheduler/schedule:Schedule") if s.name == name]
    return dict(json.loads(schedule.inputs["target"]["input"]))
