"""Pulumi runtime mocks that record every registered resource."""

from __future__ import annotations

from typing import Any

import pulumi

ACCOUNT = "123456789012"
REGION = "ap-northeast-1"


class RecordingMocks(pulumi.runtime.Mocks):
    """Gives resources plausible ARNs and names, answers the account/region look-ups."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        physical = self.physical_name(args.name)
        state = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0]
        state.setdefault("name", physical)
        state.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT}:{physical}")
        if args.typ == "aws:sfn/stateMachine:StateMachine":
            state["arn"] = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{physical}"
        if args.typ == "aws:s3/bucket:Bucket":
            state["bucket"] = physical
            state["arn"] = f"arn:aws:s3:::{physical}"
        if args.typ == "aws:scheduler/scheduleGroup:ScheduleGroup":
            state["arn"] = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{physical}"
        if args.typ == "aws:dynamodb/table:Table":
            state["arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}"
        if args.typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{physical}"
        return physical, state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/test",
                "userId": "x",
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        return {}, []

    @staticmethod
    def physical_name(name: str) -> str:
        """The name the mocks give a resource registered as ``name``."""
        return f"{name}-1a2b3c4"

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]
