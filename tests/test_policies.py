"""Least privilege, evaluated: each role may make the calls its state machine makes, and
nothing else.

The calls are derived from the generated definitions: a scheduled run is followed from
the ``run`` machine through every ``batch`` execution it starts to every ``table
export`` execution those start, evaluating each Task's JSONata arguments on the way.
Every check asks an IAM policy evaluator (``iam_eval``) whether a request would be
allowed, rather than reading the documents' text. parliament lints every identity
policy on top, and must find nothing.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import jsonata
import parliament
import pytest
from table_exporter import policies
from table_exporter.definition import (
    BATCH_SIZE,
    SCHEDULED_TIME_PLACEHOLDER,
    BatchSpec,
    Destination,
    RunSpec,
    TableExportSpec,
    batch_definition,
    run_definition,
    schedule_input,
    table_export_definition,
    to_json,
)
from table_exporter.targets import AwsScope, ExportTarget, table_arn

from .iam_eval import allowed, resource_matches, resource_policy_denies, service_may_assume

SCOPE = AwsScope("aws", "eu-west-1", "123456789012")
ACCOUNT = SCOPE.account_id
OTHER_ACCOUNT = "210987654321"
BUCKET = "acme-table-exports"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/9999abcd-12ab-34cd-56ef-1234567890ab"
S3_IN_REGION = f"s3.{SCOPE.region}.amazonaws.com"
DEAD_LETTER_QUEUE = "arn:aws:sqs:eu-west-1:123456789012:nightly-dlq-9a8b7c6"
SCHEDULE_GROUP = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/nightly-schedules-0f1e2d3"
TARGETS = (
    ExportTarget(table_arn("orders", SCOPE), "exports"),
    ExportTarget(table_arn("customer.events", SCOPE), "crm/raw"),
)
ORDERS = TARGETS[0].table_arn

# The component "nightly": ``<name>-<role>`` plus Pulumi's 7-character autoname suffix.
RUN, BATCH, TABLE_EXPORT = "run", "batch", "table export"
ROLES = (RUN, BATCH, TABLE_EXPORT)
MACHINE_BASES = {RUN: "nightly-run", BATCH: "nightly-batch", TABLE_EXPORT: "nightly-table-export"}
MACHINE_NAMES = {
    RUN: "nightly-run-5d6e7f8",
    BATCH: "nightly-batch-2b3c4d5",
    TABLE_EXPORT: "nightly-table-export-1a2b3c4",
}
RUN_MACHINE, BATCH_MACHINE, TABLE_MACHINE = (
    policies.state_machine_arn(SCOPE, MACHINE_NAMES[role]) for role in ROLES
)

# What a scheduled run and its DynamoDB exports look like at run time.
RUN_DATE = "2024-05-01"
SCHEDULED_TIME = "2024-05-01T02:00:00Z"
RUN_EXECUTION_NAME = "0f6a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
EXPORT_ID = "01714521600000-1a2b3c4d"
# DynamoDB writes these under <S3Prefix>/AWSDynamoDB/<export id>/.
EXPORT_OBJECTS = (
    "_started",
    "manifest-summary.json",
    "manifest-files.json",
    "data/abcdefgh.json.gz",
)
S3_WRITES = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl")
CHILD_WATCHING = ("states:DescribeExecution", "states:StopExecution")
MANAGED_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")

LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}
XRAY = {
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


class Request(NamedTuple):
    """One authorisation request: an action on a resource, with its condition context."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


def allows(policy: Mapping[str, Any], request: Request) -> bool:
    return allowed(policy, request.action, request.resource, dict(request.context))


# --- one exporter: its machines, definitions and role policies ---------------------------


def tenant_tables(scope: AwsScope = SCOPE, count: int = 1000) -> tuple[ExportTarget, ...]:
    return tuple(ExportTarget(table_arn(f"tenant-{i:04d}", scope), "tenants") for i in range(count))


def random_tables(scope: AwsScope = SCOPE, count: int = 1000) -> tuple[ExportTarget, ...]:
    """Names without a shared structure (fixed seed): 3-40 of DynamoDB's name characters."""
    rng = random.Random(20240501)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
    names: dict[str, None] = {}
    while len(names) < count:
        names["".join(rng.choices(alphabet, k=rng.randint(3, 40)))] = None
    return tuple(ExportTarget(table_arn(name, scope), "random") for name in names)


@dataclass(frozen=True)
class Exporter:
    """One deployed exporter: where it runs, what it exports, and how."""

    scope: AwsScope = SCOPE
    targets: tuple[ExportTarget, ...] = TARGETS
    kms_key_arn: str | None = None
    table_access: policies.TableAccess = "exact"
    batch_size: int = BATCH_SIZE
    logging: bool = True
    tracing: bool = False

    def machine(self, role: str) -> str:
        return policies.state_machine_arn(self.scope, MACHINE_NAMES[role])

    @property
    def roles_by_machine(self) -> dict[str, str]:
        return {self.machine(role): role for role in ROLES}

    def definition(self, role: str) -> dict[str, Any]:
        """The definition as the component serialises it."""
        partition = self.scope.partition
        if role == RUN:
            built = run_definition(
                RunSpec(
                    batch_machine_arn=self.machine(BATCH),
                    targets=self.targets,
                    batch_size=self.batch_size,
                    partition=partition,
                )
            )
        elif role == BATCH:
            built = batch_definition(
                BatchSpec(
                    table_machine_arn=self.machine(TABLE_EXPORT),
                    max_concurrency=10,
                    partition=partition,
                )
            )
        else:
            destination = Destination(
                bucket=BUCKET,
                sse_algorithm="KMS" if self.kms_key_arn else "AES256",
                kms_key_arn=self.kms_key_arn,
            )
            built = table_export_definition(
                TableExportSpec(destination=destination, partition=partition)
            )
        return json.loads(to_json(built))

    def policy(self, role: str) -> dict[str, Any]:
        if role == TABLE_EXPORT:
            return policies.table_export_role_policy(
                self.scope,
                targets=self.targets,
                bucket=BUCKET,
                kms_key_arn=self.kms_key_arn,
                table_access=self.table_access,
                logging=self.logging,
                tracing=self.tracing,
            )
        child = BATCH if role == RUN else TABLE_EXPORT
        return policies.orchestrator_role_policy(
            self.scope,
            child_machine_arn=self.machine(child),
            child_machine_name=MACHINE_NAMES[child],
            logging=self.logging,
            tracing=self.tracing,
        )


DEFAULT = Exporter()
WITH_KMS = Exporter(kms_key_arn=KMS_KEY)


def table_policy(**options: Any) -> dict[str, Any]:
    return policies.table_export_role_policy(SCOPE, targets=TARGETS, bucket=BUCKET, **options)


def run_policy(*, logging: bool = True, tracing: bool = False) -> dict[str, Any]:
    return Exporter(logging=logging, tracing=tracing).policy(RUN)


def batch_policy(*, logging: bool = True, tracing: bool = False) -> dict[str, Any]:
    return Exporter(logging=logging, tracing=tracing).policy(BATCH)


def scheduler_policy() -> dict[str, Any]:
    return policies.scheduler_role_policy(
        run_machine_arn=RUN_MACHINE, dead_letter_queue_arn=DEAD_LETTER_QUEUE
    )


IDENTITY_POLICIES: dict[str, Callable[[], dict[str, Any]]] = {
    "table export role": lambda: table_policy(),
    "table export role, KMS and tracing": lambda: table_policy(kms_key_arn=KMS_KEY, tracing=True),
    "table export role, no logging": lambda: table_policy(logging=False),
    "table export role, 1000 tables, prefix access": lambda: Exporter(
        targets=tenant_tables(), table_access="prefix"
    ).policy(TABLE_EXPORT),
    "table export role, 1000 random tables, prefix access, KMS": lambda: Exporter(
        targets=random_tables(), table_access="prefix", kms_key_arn=KMS_KEY
    ).policy(TABLE_EXPORT),
    "table export role, 1000 tables, all access": lambda: Exporter(
        targets=tenant_tables(), table_access="all"
    ).policy(TABLE_EXPORT),
    "batch role": lambda: batch_policy(),
    "batch role, tracing": lambda: batch_policy(tracing=True),
    "batch role, no logging": lambda: batch_policy(logging=False),
    "run role": lambda: run_policy(),
    "run role, tracing": lambda: run_policy(tracing=True),
    "run role, no logging": lambda: run_policy(logging=False),
    "scheduler role": scheduler_policy,
}
identity_policies = pytest.mark.parametrize(
    "build", IDENTITY_POLICIES.values(), ids=IDENTITY_POLICIES
)


# --- a scheduled run, followed through the three definitions ---------------------------


def _step_functions_hash(value: Any, algorithm: str) -> str:
    assert algorithm == "SHA-256", algorithm
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()


def _step_functions_partition(array: list[Any], size: float) -> list[list[Any]]:
    items, chunk = list(array), int(size)
    return [items[i : i + chunk] for i in range(0, len(items), chunk)]


@cache
def _expression(source: str) -> jsonata.Jsonata:
    """A JSONata expression with the functions Step Functions adds to the language."""
    expression = jsonata.Jsonata(source)
    expression.register_lambda("hash", _step_functions_hash)
    expression.register_lambda("partition", _step_functions_partition)
    return expression


def _evaluate(value: Any, **variables: Any) -> Any:
    """A field as Step Functions computes it: JSONata between ``{%`` and ``%}``, else literal."""
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return _expression(value[2:-2]).evaluate(None, variables)
    if isinstance(value, dict):
        return {key: _evaluate(item, **variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_evaluate(item, **variables) for item in value]
    return value


_INTEGRATION = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:::(?:aws-sdk:)?(?P<service>[a-z0-9]+):"
    r"(?P<api>[A-Za-z0-9]+)(?P<pattern>\.sync(?::2)?|\.waitForTaskToken)?$"
)


def _integration(resource: str) -> tuple[str, str]:
    """``arn:aws:states:::aws-sdk:dynamodb:describeExport`` -> ``dynamodb:DescribeExport``."""
    match = _INTEGRATION.match(resource)
    assert match, f"not a Step Functions service integration: {resource}"
    api = match["api"]
    return f"{match['service']}:{api[0].upper()}{api[1:]}", match["pattern"] or ""


def _arn_fields(arn: str) -> tuple[str, str, str]:
    _, partition, _, region, account, *_ = arn.split(":")
    return partition, region, account


@dataclass(frozen=True)
class Call:
    """One Task a machine ran, with its arguments as Step Functions evaluated them."""

    machine: str
    execution: str
    state: str
    resource: str
    arguments: Mapping[str, Any]

    @property
    def action(self) -> str:
        return _integration(self.resource)[0]

    @property
    def child_execution(self) -> str:
        """The execution a ``startExecution`` call starts (a STANDARD machine's ARN form)."""
        machine = self.arguments["StateMachineArn"]
        return f"{machine.replace(':stateMachine:', ':execution:', 1)}:{self.arguments['Name']}"


def _export_arn(table: str) -> str:
    return f"{table}/export/{EXPORT_ID}"


def _result(call: Call) -> dict[str, Any]:
    """What the call returns on the path every table export takes when it succeeds."""
    if call.action == "dynamodb:ExportTableToPointInTime":
        arn = _export_arn(call.arguments["TableArn"])
        return {"ExportDescription": {"ExportArn": arn, "ExportStatus": "IN_PROGRESS"}}
    if call.action == "dynamodb:DescribeExport":
        arn = call.arguments["ExportArn"]
        return {"ExportDescription": {"ExportArn": arn, "ExportStatus": "COMPLETED"}}
    if call.action == "states:StartExecution":
        return {"ExecutionArn": call.child_execution, "Output": {}}
    raise AssertionError(f"the policy tests do not know what {call.resource} returns")


def _tasks(states: Mapping[str, Any]) -> Iterator[str]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name
        elif state["Type"] == "Map":
            yield from _tasks(state["ItemProcessor"]["States"])
        elif state["Type"] == "Parallel":
            for branch in state["Branches"]:
                yield from _tasks(branch["States"])


@dataclass
class _Execution:
    machine: str
    arn: str
    input: Any
    visited: set[str]  # the Task states run, by name

    def run(self, graph: Mapping[str, Any]) -> Iterator[Call]:
        context = {
            "Execution": {
                "Id": self.arn,
                "Name": self.arn.rsplit(":", 1)[1],
                "StartTime": f"{RUN_DATE}T02:00:03.123Z",
            }
        }
        yield from self._states(graph, self.input, context, {})

    def _states(
        self, graph: Mapping[str, Any], data: Any, context: dict[str, Any], variables: dict
    ) -> Iterator[Call]:
        """Follows the execution from ``StartAt`` to its Succeed or Fail state, with every
        call succeeding: Choice conditions and Assign are evaluated as they come."""
        name = graph["StartAt"]
        for _ in range(100):
            state = graph["States"][name]
            states = {"input": data, "context": context}
            assign_to: dict[str, Any] | None = states
            if state["Type"] == "Choice":
                name = next(
                    (
                        choice["Next"]
                        for choice in state["Choices"]
                        if _evaluate(choice["Condition"], states=states, **variables) is True
                    ),
                    state.get("Default"),
                )
                assert name, "no choice matched and there is no default"
                continue
            if state["Type"] == "Task":
                self.visited.add(name)
                arguments = _evaluate(state["Arguments"], states=states, **variables)
                call = Call(self.machine, self.arn, name, state["Resource"], arguments)
                yield call
                assign_to = {**states, "result": _result(call)}
            elif state["Type"] == "Map":
                items = _evaluate(state["Items"], states=states, **variables)
                assert isinstance(items, list), f"{name}: Items is not a list: {items!r}"
                for index, value in enumerate(items):
                    item = {**context, "Map": {"Item": {"Index": index, "Value": value}}}
                    selected = _evaluate(
                        state["ItemSelector"], states={"input": data, "context": item}, **variables
                    )
                    processor = state["ItemProcessor"]
                    yield from self._states(processor, selected, context, dict(variables))
                assign_to = None  # iteration results are not simulated; nothing reads them
            elif state["Type"] in ("Succeed", "Fail"):
                return
            elif state["Type"] not in ("Pass", "Wait"):
                raise AssertionError(f"{name}: the policy tests do not follow {state['Type']}")
            if assign_to is not None and "Assign" in state:
                variables = {
                    **variables,
                    **_evaluate(state["Assign"], states=assign_to, **variables),
                }
            if state.get("End"):
                return
            name = state["Next"]
        raise AssertionError("the execution does not finish")


def run_input() -> dict[str, Any]:
    """What the scheduler passes, with its placeholder filled in as the scheduler does."""
    text = json.dumps(schedule_input()).replace(SCHEDULED_TIME_PLACEHOLDER, SCHEDULED_TIME)
    return json.loads(text)


@cache
def scheduled_run(exporter: Exporter = DEFAULT) -> tuple[Call, ...]:
    """Every call of one scheduled run, in the order its executions are started."""
    definitions = {exporter.machine(role): exporter.definition(role) for role in ROLES}
    visited: dict[str, set[str]] = {machine: set() for machine in definitions}
    run = exporter.machine(RUN)
    run_arn = f"{run.replace(':stateMachine:', ':execution:', 1)}:{RUN_EXECUTION_NAME}"
    pending = [_Execution(run, run_arn, run_input(), visited[run])]
    calls: list[Call] = []
    while pending:
        execution = pending.pop(0)
        for call in execution.run(definitions[execution.machine]):
            calls.append(call)
            if call.action == "states:StartExecution":
                child = call.arguments["StateMachineArn"]
                assert child in definitions, f"{call.machine} starts an unknown machine {child}"
                child_input = call.arguments["Input"]
                pending.append(_Execution(child, call.child_execution, child_input, visited[child]))
    for machine, definition in definitions.items():
        # A Task no successful run reaches would go unchecked: there is none.
        assert visited[machine] == set(_tasks(definition["States"])), machine
    return tuple(calls)


def _needs(call: Call) -> set[Request]:
    """Every request the call makes of the calling machine's role."""
    partition, region, account = _arn_fields(call.machine)
    args = call.arguments
    if call.action == "states:StartExecution":
        needs = {Request(call.action, args["StateMachineArn"])}
        if _integration(call.resource)[1].startswith(".sync"):
            # The integration watches the child, stops it when the parent stops, and
            # learns of its end through a rule Step Functions manages in the account.
            needs |= {Request(a, call.child_execution) for a in CHILD_WATCHING}
            rule = (
                f"arn:{partition}:events:{region}:{account}:"
                "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
            )
            needs |= {Request(a, rule) for a in MANAGED_RULE_ACTIONS}
        return needs
    if call.action == "dynamodb:ExportTableToPointInTime":
        needs = {Request(call.action, args["TableArn"])}
        # DynamoDB writes the export with the caller's permissions ...
        folder = f"{args['S3Bucket']}/{args['S3Prefix']}/AWSDynamoDB/{EXPORT_ID}"
        for key in EXPORT_OBJECTS:
            needs |= {Request(w, f"arn:{partition}:s3:::{folder}/{key}") for w in S3_WRITES}
        if "S3SseKmsKeyId" in args:
            # ... and S3 uses the key on the caller's behalf. S3 encrypts with a key in
            # the bucket's own region, so that is the region S3 calls KMS from.
            key_region = _arn_fields(args["S3SseKmsKeyId"])[1]
            via_s3 = (("kms:ViaService", f"s3.{key_region}.amazonaws.com"),)
            for use in ("kms:GenerateDataKey", "kms:Decrypt"):
                needs.add(Request(use, args["S3SseKmsKeyId"], via_s3))
        return needs
    if call.action == "dynamodb:DescribeExport":
        # Authorised on the export, whose ARN lives under its table's.
        return {Request(call.action, args["ExportArn"])}
    raise AssertionError(f"the policy tests do not know what {call.resource} needs")


@cache
def needs_by_role(exporter: Exporter = DEFAULT) -> dict[str, frozenset[Request]]:
    """Every request each machine's role is asked for during a scheduled run."""
    roles = exporter.roles_by_machine
    needs: dict[str, set[Request]] = {role: set() for role in ROLES}
    for call in scheduled_run(exporter):
        needs[roles[call.machine]] |= _needs(call)
    return {role: frozenset(requests) for role, requests in needs.items()}


def _started(exporter: Exporter, role: str) -> list[Call]:
    machine = exporter.machine(role)
    return [c for c in scheduled_run(exporter) if c.machine == machine]


# --- the evaluator itself -------------------------------------------------------------

_SAMPLE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": "arn:aws:dynamodb:r:1:table/a*"},
        {
            "Effect": "Deny",
            "Action": "dynamodb:GetItem",
            "Resource": "arn:aws:dynamodb:r:1:table/ab",
        },
        {"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:sns:r:1:t?"},
        {
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.r.amazonaws.com"}},
        },
        {
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": "arn:aws:sns:r:1:x",
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:states:r:1:stateMachine:m-?"}},
        },
    ],
}
_SOURCE = "aws:SourceArn"


@pytest.mark.parametrize(
    ("action", "resource", "context", "expected"),
    [
        ("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/abc", {}, True),
        ("DynamoDB:getitem", "arn:aws:dynamodb:r:1:table/abc", {}, True),  # actions ignore case
        ("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/Abc", {}, False),  # resources do not
        ("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/ab", {}, False),  # explicit deny wins
        ("dynamodb:GetRecords", "arn:aws:dynamodb:r:1:table/ab", {}, True),
        ("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/abc", {}, False),  # default deny
        ("sns:Publish", "arn:aws:sns:r:1:t1", {}, True),  # NotAction
        ("s3:GetObject", "arn:aws:sns:r:1:t1", {}, False),
        ("sns:Publish", "arn:aws:sns:r:1:t12", {}, False),  # ? is one character
        ("sqs:SendMessage", "arn:aws:sqs:r:1:q", {"aws:SecureTransport": "true"}, True),
        ("sqs:SendMessage", "arn:aws:sqs:r:1:q", {"aws:SecureTransport": "false"}, False),
        ("sqs:SendMessage", "arn:aws:sqs:r:1:q", {}, False),  # missing key: condition fails
        ("kms:Decrypt", "k", {"kms:ViaService": "s3.r.amazonaws.com"}, True),
        ("kms:Decrypt", "k", {"kms:ViaService": "S3.r.amazonaws.com"}, False),  # StringEquals
        ("kms:Decrypt", "k", {"kms:ViaService": "s3.r.amazonaws.com.x"}, False),
        (
            "sns:Publish",
            "arn:aws:sns:r:1:x",
            {_SOURCE: "arn:aws:states:r:1:stateMachine:m-1"},
            True,
        ),
        (
            "sns:Publish",
            "arn:aws:sns:r:1:x",
            {_SOURCE: "arn:aws:states:r:1:stateMachine:M-1"},
            False,
        ),
        (
            "sns:Publish",
            "arn:aws:sns:r:1:x",
            {_SOURCE: "arn:aws:states:r:1:stateMachine:m-12"},
            False,
        ),
    ],
)
def test_evaluator_follows_iam_decision_logic(action, resource, context, expected):
    assert allowed(_SAMPLE, action, resource, context) is expected


def test_evaluator_matches_resource_patterns_case_sensitively():
    assert resource_matches(
        "arn:aws:dynamodb:r:1:table/tenant-0*", "arn:aws:dynamodb:r:1:table/tenant-01"
    )
    assert not resource_matches(
        "arn:aws:dynamodb:r:1:table/tenant-0*", "arn:aws:dynamodb:r:1:table/Tenant-01"
    )
    assert not resource_matches("arn:aws:dynamodb:r:1:table/t?", "arn:aws:dynamodb:r:1:table/t")


# --- what the definitions call ------------------------------------------------------------


def test_a_run_starts_one_batch_per_batch_of_tables_and_one_table_export_per_table():
    targets = tenant_tables(count=5)
    exporter = Exporter(targets=targets, batch_size=2)
    batches = _started(exporter, RUN)
    assert [c.arguments["StateMachineArn"] for c in batches] == [BATCH_MACHINE] * 3
    assert [[t["tableArn"] for t in c.arguments["Input"]["tables"]] for c in batches] == [
        [t.table_arn for t in targets[0:2]],
        [t.table_arn for t in targets[2:4]],
        [t.table_arn for t in targets[4:5]],
    ]
    exports = _started(exporter, BATCH)
    assert [c.arguments["StateMachineArn"] for c in exports] == [TABLE_MACHINE] * 5
    assert [c.arguments["Input"]["tableArn"] for c in exports] == [t.table_arn for t in targets]
    # Each execution has a name of its own, so each is a resource of its own.
    executions = [c.child_execution for c in batches + exports]
    assert len(set(executions)) == 8


def test_the_batch_machine_computes_each_exports_prefix_and_client_token():
    exports = {
        c.arguments["Input"]["tableArn"]: c.arguments["Input"] for c in _started(DEFAULT, BATCH)
    }
    assert {arn: e["s3Prefix"] for arn, e in exports.items()} == {
        ORDERS: f"exports/orders/full/{RUN_DATE}",
        TARGETS[1].table_arn: f"crm/raw/customer.events/full/{RUN_DATE}",
    }
    tokens = [e["clientToken"] for e in exports.values()]
    assert len(set(tokens)) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", t) for t in tokens)
    # The table export machine passes them to DynamoDB as they are.
    started = {
        c.arguments["TableArn"]: c.arguments
        for c in _started(DEFAULT, TABLE_EXPORT)
        if c.action == "dynamodb:ExportTableToPointInTime"
    }
    for arn, given in exports.items():
        assert started[arn]["S3Prefix"] == given["s3Prefix"]
        assert started[arn]["ClientToken"] == given["clientToken"]
        assert started[arn]["S3Bucket"] == BUCKET


def test_definitions_call_only_the_integrations_the_policies_cover():
    needs = needs_by_role(WITH_KMS)
    orchestration = {"states:StartExecution", *CHILD_WATCHING, *MANAGED_RULE_ACTIONS}
    assert {n.action for n in needs[RUN]} == orchestration
    assert {n.action for n in needs[BATCH]} == orchestration
    assert {n.action for n in needs[TABLE_EXPORT]} == {
        "dynamodb:ExportTableToPointInTime",
        "dynamodb:DescribeExport",
        *S3_WRITES,
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    # Run -> batch -> table export, and no machine starts any other.
    started = {
        role: {n.resource for n in needs[role] if n.action == "states:StartExecution"}
        for role in ROLES
    }
    assert started == {RUN: {BATCH_MACHINE}, BATCH: {TABLE_MACHINE}, TABLE_EXPORT: set()}


@pytest.mark.parametrize("exporter", [DEFAULT, WITH_KMS], ids=["SSE-S3", "SSE-KMS"])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_allows_every_call_its_definition_makes(role, exporter):
    needs = needs_by_role(exporter)[role]
    if role == TABLE_EXPORT:
        # Per table: export, describe, three writes per object; the key's two uses are shared.
        per_table = 2 + len(S3_WRITES) * len(EXPORT_OBJECTS)
        assert len(needs) == len(TARGETS) * per_table + (2 if exporter.kms_key_arn else 0)
    else:
        # Per child execution: start the machine (shared), watch and stop it; the rule.
        children = len(_started(exporter, role))
        assert len(needs) == 1 + len(CHILD_WATCHING) * children + len(MANAGED_RULE_ACTIONS)
    policy = exporter.policy(role)
    assert sorted(n for n in needs if not allows(policy, n)) == []


@pytest.mark.parametrize("exporter", [DEFAULT, WITH_KMS], ids=["SSE-S3", "SSE-KMS"])
@pytest.mark.parametrize("role", ROLES)
def test_no_role_may_make_the_calls_only_the_other_machines_make(role, exporter):
    needs = needs_by_role(exporter)
    others = set().union(*(needs[r] for r in ROLES if r != role)) - needs[role]
    assert others, "the other machines make calls of their own"
    policy = exporter.policy(role)
    assert sorted(n for n in others if allows(policy, n)) == []


def test_scheduler_role_may_start_runs_and_park_failed_deliveries():
    assert allowed(scheduler_policy(), "states:StartExecution", RUN_MACHINE)
    assert allowed(scheduler_policy(), "sqs:SendMessage", DEAD_LETTER_QUEUE)


@pytest.mark.parametrize(
    "build", [table_policy, batch_policy, run_policy], ids=["table export", "batch", "run"]
)
def test_log_delivery_and_tracing_are_granted_only_when_switched_on(build):
    for action in LOG_DELIVERY:
        assert allowed(build(logging=True), action, "*")
        assert not allowed(build(logging=False), action, "*")
    for action in XRAY:
        assert allowed(build(tracing=True), action, "*")
        assert not allowed(build(tracing=False), action, "*")


# --- what no role may do ----------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "other",
        "orders-archive",  # starts with a configured name
        "orders.v2",
        "ORDERS",  # table names are case-sensitive
        "customer",  # a configured name starts with it
    ],
)
@pytest.mark.parametrize("kms_key_arn", [None, KMS_KEY], ids=["SSE-S3", "SSE-KMS"])
def test_table_export_role_cannot_export_tables_that_are_not_configured(table, kms_key_arn):
    policy = table_policy(kms_key_arn=kms_key_arn)
    arn = table_arn(table, SCOPE)
    assert not allowed(policy, "dynamodb:ExportTableToPointInTime", arn)
    assert not allowed(policy, "dynamodb:DescribeExport", _export_arn(arn))


@pytest.mark.parametrize(
    "table",
    [
        "arn:aws:dynamodb:us-east-1:123456789012:table/orders",  # same name, other region
        "arn:aws:dynamodb:eu-west-1:210987654321:table/orders",  # same name, other account
    ],
)
def test_table_export_role_cannot_export_a_namesake_elsewhere(table):
    assert not allowed(table_policy(), "dynamodb:ExportTableToPointInTime", table)
    assert not allowed(table_policy(), "dynamodb:DescribeExport", _export_arn(table))


@pytest.mark.parametrize(
    "obj",
    [
        f"{BUCKET}/elsewhere/orders/full/{RUN_DATE}/x.json.gz",  # outside every prefix
        f"{BUCKET}/exports-old/orders/x.json.gz",  # a prefix that starts with a configured one
        f"{BUCKET}/crm/x.json.gz",  # the parent of a configured prefix
        f"{BUCKET}/exports",  # the prefix itself as a key
        f"{BUCKET}/x.json.gz",  # bucket root
        f"{BUCKET}-copy/exports/orders/x.json.gz",  # a bucket whose name starts with ours
        "other-bucket/exports/orders/x.json.gz",  # another bucket, same prefix
    ],
)
def test_table_export_role_writes_nowhere_but_the_configured_prefixes(obj):
    policy = table_policy(kms_key_arn=KMS_KEY)
    for write in S3_WRITES:
        assert not allowed(policy, write, f"arn:aws:s3:::{obj}")


_EXPORTED = (
    f"{BUCKET_ARN}/exports/orders/full/{RUN_DATE}/AWSDynamoDB/{EXPORT_ID}/data/abcdefgh.json.gz"
)


@pytest.mark.parametrize(
    "action",
    [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectTagging",
        "s3:PutObjectRetention",
        "s3:RestoreObject",
    ],
)
def test_table_export_role_cannot_read_or_delete_objects(action):
    policy = table_policy(kms_key_arn=KMS_KEY)
    for obj in (_EXPORTED, f"{BUCKET_ARN}/elsewhere/x", "arn:aws:s3:::other-bucket/x"):
        assert not allowed(policy, action, obj)


@pytest.mark.parametrize(
    "action", ["s3:ListBucket", "s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketAcl"]
)
def test_table_export_role_cannot_touch_the_bucket_itself(action):
    assert not allowed(table_policy(kms_key_arn=KMS_KEY), action, BUCKET_ARN)


_TABLE_ACTIONS_NOT_GRANTED = (
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:ImportTable",
    "dynamodb:ListExports",
)


@pytest.mark.parametrize("action", _TABLE_ACTIONS_NOT_GRANTED)
def test_table_export_role_cannot_read_change_or_delete_configured_tables(action):
    policy = table_policy(kms_key_arn=KMS_KEY)
    for target in TARGETS:
        assert not allowed(policy, action, target.table_arn)
        assert not allowed(policy, action, _export_arn(target.table_arn))


@pytest.mark.parametrize("access", ["prefix", "all"])
def test_broader_table_access_still_grants_only_exports(access):
    targets = tenant_tables()
    policy = Exporter(targets=targets, table_access=access).policy(TABLE_EXPORT)
    for target in (targets[0], targets[-1]):
        for action in _TABLE_ACTIONS_NOT_GRANTED:
            assert not allowed(policy, action, target.table_arn)
            assert not allowed(policy, action, _export_arn(target.table_arn))


@pytest.mark.parametrize(
    "machine",
    [
        TABLE_MACHINE,  # a run goes through its batches, never straight to tables
        RUN_MACHINE,  # a run must not start runs
        policies.state_machine_arn(SCOPE, "other"),
        policies.state_machine_arn(SCOPE, f"{MACHINE_NAMES[BATCH]}-copy"),
        f"{BATCH_MACHINE}:live",  # an alias or version of it is another resource
        BATCH_MACHINE.replace("eu-west-1", "us-east-1"),
        BATCH_MACHINE.replace(ACCOUNT, OTHER_ACCOUNT),
    ],
)
def test_run_role_starts_only_the_batch_machine(machine):
    assert not allowed(run_policy(tracing=True), "states:StartExecution", machine)


@pytest.mark.parametrize(
    "machine",
    [
        RUN_MACHINE,  # a batch must not start runs
        BATCH_MACHINE,  # nor batches
        policies.state_machine_arn(SCOPE, "other"),
        policies.state_machine_arn(SCOPE, f"{MACHINE_NAMES[TABLE_EXPORT]}-copy"),
        f"{TABLE_MACHINE}:live",
        TABLE_MACHINE.replace("eu-west-1", "us-east-1"),
        TABLE_MACHINE.replace(ACCOUNT, OTHER_ACCOUNT),
    ],
)
def test_batch_role_starts_only_the_table_export_machine(machine):
    assert not allowed(batch_policy(tracing=True), "states:StartExecution", machine)


@pytest.mark.parametrize("kms_key_arn", [None, KMS_KEY], ids=["SSE-S3", "SSE-KMS"])
def test_table_export_role_starts_and_watches_no_machine(kms_key_arn):
    policy = table_policy(kms_key_arn=kms_key_arn, tracing=True)
    for name in (*MACHINE_NAMES.values(), "other"):
        machine = policies.state_machine_arn(SCOPE, name)
        assert not allowed(policy, "states:StartExecution", machine)
        execution = SCOPE.arn("states", f"execution:{name}:x")
        for action in CHILD_WATCHING:
            assert not allowed(policy, action, execution)


def _execution(machine_name: str) -> str:
    return SCOPE.arn("states", f"execution:{machine_name}:x")


def _express_execution(machine_name: str) -> str:
    return SCOPE.arn("states", f"express:{machine_name}:x:0123")


def _foreign_executions(role: str, child: str) -> list[Any]:
    """Standard and express executions of every machine but the role's child."""
    names = [n for r, n in MACHINE_NAMES.items() if r != child]
    names += ["other", f"{MACHINE_NAMES[child]}-copy"]
    return [
        pytest.param(role, make(name), id=f"{role} role, {kind} of {name}")
        for name in names
        for kind, make in (("execution", _execution), ("express", _express_execution))
    ]


_ORCHESTRATOR_POLICIES = {RUN: run_policy, BATCH: batch_policy}


@pytest.mark.parametrize(
    ("role", "execution"),
    [
        *_foreign_executions(RUN, BATCH),
        *_foreign_executions(BATCH, TABLE_EXPORT),
        pytest.param(
            RUN,
            _execution(MACHINE_NAMES[BATCH]).replace("eu-west-1", "us-east-1"),
            id="run role, namesake in other region",
        ),
        pytest.param(
            BATCH,
            _execution(MACHINE_NAMES[TABLE_EXPORT]).replace(ACCOUNT, OTHER_ACCOUNT),
            id="batch role, namesake in other account",
        ),
    ],
)
def test_orchestrators_watch_and_stop_only_their_childrens_executions(role, execution):
    policy = _ORCHESTRATOR_POLICIES[role]()
    for action in CHILD_WATCHING:
        assert not allowed(policy, action, execution)


@pytest.mark.parametrize("build", [run_policy, batch_policy], ids=["run role", "batch role"])
def test_orchestrators_cannot_change_other_rules_or_the_managed_one_beyond_its_use(build):
    managed = SCOPE.arn("events", "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")
    other = SCOPE.arn("events", "rule/StepFunctionsGetEventsForStepFunctionsExecutionRuleX")
    policy = build()
    for action in MANAGED_RULE_ACTIONS:
        assert not allowed(policy, action, other)
        assert not allowed(policy, action, managed.replace("eu-west-1", "us-east-1"))
    for action in (
        "events:DeleteRule",
        "events:RemoveTargets",
        "events:DisableRule",
        "events:PutEvents",
    ):
        assert not allowed(policy, action, managed)


@pytest.mark.parametrize("build", [run_policy, batch_policy], ids=["run role", "batch role"])
def test_orchestrators_cannot_export_tables_or_write_objects_themselves(build):
    policy = build()
    assert not allowed(policy, "dynamodb:ExportTableToPointInTime", ORDERS)
    assert not allowed(policy, "dynamodb:DescribeExport", _export_arn(ORDERS))
    assert not allowed(policy, "s3:PutObject", f"{BUCKET_ARN}/exports/x")


def test_scheduler_role_starts_only_the_run_machine_and_only_sends_to_its_queue():
    policy = scheduler_policy()
    for machine in (BATCH_MACHINE, TABLE_MACHINE, policies.state_machine_arn(SCOPE, "other")):
        assert not allowed(policy, "states:StartExecution", machine)
    assert not allowed(policy, "states:StopExecution", _execution(MACHINE_NAMES[RUN]))
    assert not allowed(policy, "sqs:SendMessage", f"{DEAD_LETTER_QUEUE}-other")
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue"):
        assert not allowed(policy, action, DEAD_LETTER_QUEUE)


@identity_policies
def test_no_role_may_pass_or_change_roles(build):
    policy = build()
    for role in (
        f"arn:aws:iam::{ACCOUNT}:role/admin",
        f"arn:aws:iam::{ACCOUNT}:role/nightly-run-role",
    ):
        for action in (
            "iam:PassRole",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "sts:AssumeRole",
        ):
            assert not allowed(policy, action, role)


_KMS_ACTIONS = (
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:Encrypt",
    "kms:CreateGrant",
    "kms:ReEncryptFrom",
)


_WITHOUT_KEY = {name: build for name, build in IDENTITY_POLICIES.items() if "KMS" not in name}


@pytest.mark.parametrize("build", _WITHOUT_KEY.values(), ids=_WITHOUT_KEY)
def test_no_kms_use_without_a_configured_key(build):
    policy = build()
    for action in _KMS_ACTIONS:
        for key in (KMS_KEY, OTHER_KMS_KEY, "*"):
            for context in ({}, {"kms:ViaService": S3_IN_REGION}):
                assert not allowed(policy, action, key, context)


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_configured_key_is_usable_only_through_s3_in_the_exporters_region(action):
    policy = table_policy(kms_key_arn=KMS_KEY)
    assert allowed(policy, action, KMS_KEY, {"kms:ViaService": S3_IN_REGION})
    for context in (
        {},  # a direct call with the role's credentials
        {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"},
        {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"},
        {"kms:ViaService": f"{S3_IN_REGION}.example.com"},
    ):
        assert not allowed(policy, action, KMS_KEY, context), context
    assert not allowed(policy, action, OTHER_KMS_KEY, {"kms:ViaService": S3_IN_REGION})


def test_an_existing_bucket_in_another_region_can_be_written_with_its_key():
    # DynamoDB exports to a bucket in any region; S3 then uses a key of that region.
    key = KMS_KEY.replace("eu-west-1", "us-east-1")
    exporter = Exporter(kms_key_arn=key)
    needs = needs_by_role(exporter)[TABLE_EXPORT]
    assert {dict(n.context).get("kms:ViaService") for n in needs if n.context} == {
        "s3.us-east-1.amazonaws.com"
    }
    policy = exporter.policy(TABLE_EXPORT)
    assert sorted(n for n in needs if not allows(policy, n)) == []


def test_configured_key_is_used_only_to_write_exports():
    policy = table_policy(kms_key_arn=KMS_KEY)
    for action in (
        "kms:Encrypt",
        "kms:CreateGrant",
        "kms:ReEncryptFrom",
        "kms:ScheduleKeyDeletion",
    ):
        for context in ({}, {"kms:ViaService": S3_IN_REGION}):
            assert not allowed(policy, action, KMS_KEY, context)


def test_scheduler_role_sends_no_logs_or_traces():
    for action in LOG_DELIVERY | XRAY:
        assert not allowed(scheduler_policy(), action, "*")


# --- shape of the documents -------------------------------------------------------------


@identity_policies
def test_statements_name_actions_without_wildcards_and_only_allow(build):
    for statement in build()["Statement"]:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Principal", "NotPrincipal"} & statement.keys()
        assert statement["Action"] and all(
            "*" not in a and "?" not in a for a in statement["Action"]
        )


@identity_policies
def test_resource_star_only_for_actions_without_resource_level_permissions(build):
    for statement in build()["Statement"]:
        if "*" in statement["Resource"]:
            assert statement["Resource"] == ["*"]
            assert set(statement["Action"]) in (LOG_DELIVERY, XRAY), statement["Sid"]
        else:
            assert all(r.startswith("arn:aws:") for r in statement["Resource"]), statement["Sid"]


def test_actions_granted_on_any_resource_support_no_resource_types():
    # The service authorisation data parliament ships: an action with only the empty
    # resource type cannot be scoped to a resource, so "*" is the only Resource it takes.
    definitions = {service["prefix"]: service for service in parliament.iam_definition}
    for action in sorted(LOG_DELIVERY | XRAY):
        prefix, name = action.split(":")
        privilege = next(p for p in definitions[prefix]["privileges"] if p["privilege"] == name)
        assert [t["resource_type"] for t in privilege["resource_types"]] == [""], action


# --- another partition ------------------------------------------------------------------

CHINA = AwsScope("aws-cn", "cn-north-1", ACCOUNT)
IN_CHINA = Exporter(
    scope=CHINA,
    targets=tuple(ExportTarget(table_arn(t.table_name, CHINA), t.prefix) for t in TARGETS),
)


@pytest.mark.parametrize("role", ROLES)
def test_definitions_integrate_in_the_deployments_partition(role):
    states = IN_CHINA.definition(role)["States"]
    resources = [state["Resource"] for state in _all_states(states) if state["Type"] == "Task"]
    assert resources and all(r.startswith("arn:aws-cn:states:::") for r in resources)
    machines = [
        state["Arguments"]["StateMachineArn"]
        for state in _all_states(states)
        if "StateMachineArn" in state.get("Arguments", {})
    ]
    assert all(m.startswith("arn:aws-cn:states:cn-north-1:") for m in machines)


def _all_states(states: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for state in states.values():
        yield state
        if state["Type"] == "Map":
            yield from _all_states(state["ItemProcessor"]["States"])


@pytest.mark.parametrize("role", ROLES)
def test_roles_in_another_partition_allow_their_calls_there_and_nothing_in_aws(role):
    needs = needs_by_role(IN_CHINA)[role]
    assert needs and all(n.resource.startswith("arn:aws-cn:") for n in needs)
    policy = IN_CHINA.policy(role)
    assert sorted(n for n in needs if not allows(policy, n)) == []
    # The same requests in the aws partition are not the deployment's resources.
    for need in needs:
        assert not allows(
            policy, need._replace(resource=need.resource.replace("arn:aws-cn:", "arn:aws:", 1))
        )
    linted = parliament.analyze_policy_string(json.dumps(policy))
    assert [(f.issue, f.detail) for f in linted.findings] == []


# --- how many tables one policy can name ----------------------------------------------------


def test_ten_tables_with_the_longest_names_fit_the_inline_policy_limit_exactly_named():
    targets = tuple(
        ExportTarget(table_arn(f"{i:02d}" + "t" * 253, SCOPE), f"exports/team-{i:02d}")
        for i in range(10)
    )
    document = policies.table_export_role_policy(
        SCOPE, targets=targets, bucket="b" * 63, kms_key_arn=KMS_KEY, tracing=True
    )
    assert policies.policy_size(document) < policies.INLINE_POLICY_LIMIT == 10_240
    scope = policies.table_scope(targets, "exact", policies.INLINE_POLICY_LIMIT)
    assert scope.access == "exact" and scope.patterns == []
    for target in targets:
        assert allowed(document, "dynamodb:ExportTableToPointInTime", target.table_arn)
        assert allowed(document, "dynamodb:DescribeExport", _export_arn(target.table_arn))
    # Exactly those tables: not one whose name differs from a configured one in its last character.
    longer = targets[0].table_arn[:-1] + "x"
    assert not allowed(document, "dynamodb:ExportTableToPointInTime", longer)


@pytest.mark.parametrize("access", ["prefix", "all"])
def test_broader_access_is_used_only_when_exact_names_do_not_fit(access):
    # Two tables fit: the grant stays exact, whichever broader access was allowed.
    policy = table_policy(table_access=access)
    assert allowed(policy, "dynamodb:ExportTableToPointInTime", ORDERS)
    for other in ("orders-archive", "other"):
        assert not allowed(policy, "dynamodb:ExportTableToPointInTime", table_arn(other, SCOPE))
    assert policies.table_scope(TARGETS, access, policies.INLINE_POLICY_LIMIT).access == "exact"


def test_too_many_tables_for_exact_names_is_refused_naming_tables_limit_and_options():
    targets = [ExportTarget(table_arn(f"{i:03d}" + "t" * 252, SCOPE), "exports") for i in range(20)]
    with pytest.raises(ValueError, match=r"^tables: 20 tables .*10240-character limit") as error:
        policies.table_export_role_policy(SCOPE, targets=targets, bucket=BUCKET)
    assert "'prefix'" in str(error.value) and "'all'" in str(error.value)
    with pytest.raises(ValueError, match=r"^tables: 1000 tables "):
        Exporter(targets=tenant_tables()).policy(TABLE_EXPORT)


def _granted_tables(policy: Mapping[str, Any]) -> list[str]:
    (statement,) = (s for s in policy["Statement"] if s["Sid"] == "ExportConfiguredTables")
    return statement["Resource"]


@pytest.mark.parametrize("tables", [tenant_tables, random_tables], ids=["tenant-NNNN", "random"])
def test_a_thousand_tables_fit_with_prefix_access_and_every_one_can_be_exported(tables):
    exporter = Exporter(targets=tables(), table_access="prefix", kms_key_arn=KMS_KEY)
    policy = exporter.policy(TABLE_EXPORT)
    assert policies.policy_size(policy) <= policies.INLINE_POLICY_LIMIT
    # The grant is the prefix scope, with the patterns the policy names.
    scope = policies.table_scope(exporter.targets, "prefix", policies.INLINE_POLICY_LIMIT)
    assert scope.access == "prefix"
    assert scope.patterns and scope.patterns == _granted_tables(policy)
    # Every configured table can be exported and its export described: all of a run's
    # calls, derived from the definitions, are allowed.
    needs = needs_by_role(exporter)[TABLE_EXPORT]
    exported = {n.resource for n in needs if n.action == "dynamodb:ExportTableToPointInTime"}
    assert exported == {t.table_arn for t in exporter.targets}
    assert sorted(n for n in needs if not allows(policy, n)) == []


@pytest.mark.parametrize("tables", [tenant_tables, random_tables], ids=["tenant-NNNN", "random"])
def test_prefix_access_grants_other_tables_exactly_when_a_pattern_names_them(tables):
    policy = Exporter(targets=tables(), table_access="prefix").policy(TABLE_EXPORT)
    patterns = _granted_tables(policy)
    others = ["tenant-9999", "tenant-0", "tenant", "ten", "orders", "zzz", "Tenant-0001", "-x-"]
    for name in others:
        arn = table_arn(name, SCOPE)
        granted = any(resource_matches(p, arn) for p in patterns)
        assert allowed(policy, "dynamodb:ExportTableToPointInTime", arn) is granted, name
        assert allowed(policy, "dynamodb:DescribeExport", _export_arn(arn)) is granted, name
    # Never beyond the account and region.
    for target in tables()[:50]:
        for elsewhere in (
            target.table_arn.replace("eu-west-1", "us-east-1"),
            target.table_arn.replace(ACCOUNT, OTHER_ACCOUNT),
        ):
            assert not allowed(policy, "dynamodb:ExportTableToPointInTime", elsewhere)


def test_prefix_access_for_numbered_tables_grants_names_that_extend_a_shared_prefix():
    policy = Exporter(targets=tenant_tables(), table_access="prefix").policy(TABLE_EXPORT)
    # The documented broadening: "tenant-000*" ... "tenant-099*".
    for name in ("tenant-0999-archive", "tenant-0000x", "tenant-0421.v2"):
        assert allowed(policy, "dynamodb:ExportTableToPointInTime", table_arn(name, SCOPE)), name
    # Names outside every shared prefix stay out.
    for name in ("tenant-9999", "tenant-1000", "tenant-09", "tenant-", "tenants-0001", "orders"):
        arn = table_arn(name, SCOPE)
        assert not allowed(policy, "dynamodb:ExportTableToPointInTime", arn), name
        assert not allowed(policy, "dynamodb:DescribeExport", _export_arn(arn)), name


def test_all_access_grants_any_table_in_the_account_and_region_only():
    exporter = Exporter(targets=tenant_tables(), table_access="all")
    policy = exporter.policy(TABLE_EXPORT)
    assert policies.policy_size(policy) <= policies.INLINE_POLICY_LIMIT
    scope = policies.table_scope(exporter.targets, "all", policies.INLINE_POLICY_LIMIT)
    assert scope.access == "all" and scope.patterns == [SCOPE.arn("dynamodb", "table/*")]
    needs = needs_by_role(exporter)[TABLE_EXPORT]
    assert sorted(n for n in needs if not allows(policy, n)) == []
    for name in ("anything", "orders", "tenant-9999", "Z.z-_9"):
        arn = table_arn(name, SCOPE)
        assert allowed(policy, "dynamodb:ExportTableToPointInTime", arn)
        assert allowed(policy, "dynamodb:DescribeExport", _export_arn(arn))
        for elsewhere in (
            arn.replace("eu-west-1", "us-east-1"),
            arn.replace(ACCOUNT, OTHER_ACCOUNT),
        ):
            assert not allowed(policy, "dynamodb:ExportTableToPointInTime", elsewhere)
            assert not allowed(policy, "dynamodb:DescribeExport", _export_arn(elsewhere))
    # Not other DynamoDB resources: streams, backups, global tables.
    for resource in (
        SCOPE.arn("dynamodb", "table/orders/stream/2024-05-01T00:00:00.000"),
        SCOPE.arn("dynamodb", "table/orders/backup/01714521600000-1a2b3c4d"),
        SCOPE.arn("dynamodb", "global-table/orders", region=False),
    ):
        assert not allowed(policy, "dynamodb:DescribeStream", resource)
        assert not allowed(policy, "dynamodb:RestoreTableFromBackup", resource)


# --- trust and bucket policies ----------------------------------------------------------

STATES = "states.amazonaws.com"
SCHEDULER = "scheduler.amazonaws.com"
SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/nightly-scheduler-role-1a2b3c4"
MACHINES = {RUN: RUN_MACHINE, BATCH: BATCH_MACHINE, TABLE_EXPORT: TABLE_MACHINE}


def _role_arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{MACHINE_BASES[role]}-role-0a1b2c3"


def _on_behalf_of(account: str | None, arn: str | None) -> dict[str, str]:
    """The context a service sends when it assumes a role for a resource of an account."""
    context = {"aws:SourceAccount": account, "aws:SourceArn": arn}
    return {key: value for key, value in context.items() if value is not None}


def _states_trust(base: str, suffix: str = policies.AUTONAME_SUFFIX) -> dict[str, Any]:
    """The trust policy the component gives the role of the machine ``<base>-<suffix>``."""
    return policies.states_trust_policy(SCOPE, policies.state_machine_arn(SCOPE, base + suffix))


def test_autoname_suffix_is_a_dash_and_exactly_seven_characters():
    assert policies.AUTONAME_SUFFIX == "-" + "?" * 7


@pytest.mark.parametrize("role", ROLES)
def test_states_trust_lets_step_functions_assume_for_its_own_machine(role):
    trust = _states_trust(MACHINE_BASES[role])
    assert service_may_assume(
        trust, STATES, _role_arn(role), _on_behalf_of(ACCOUNT, MACHINES[role])
    )


@pytest.mark.parametrize(
    ("role", "other"), [(r, o) for r in ROLES for o in ROLES if r != o], ids=lambda r: r
)
def test_states_trust_refuses_the_exporters_other_machines(role, other):
    trust = _states_trust(MACHINE_BASES[role])
    assert not service_may_assume(
        trust, STATES, _role_arn(role), _on_behalf_of(ACCOUNT, MACHINES[other])
    )


# Another component named "nightly-run": its machines are "nightly-run-<role>-<suffix>".
_EXTENDED_NAMES = [
    "nightly-run-table-export-1a2b3c4",
    "nightly-run-batch-2b3c4d5",
    "nightly-run-run-5d6e7f8",
    "nightly-run-5d6e7f",  # a 6-character suffix
    "nightly-run-5d6e7f8a",  # an 8-character suffix
    "nightly-run5d6e7f8x",  # no dash
    "NIGHTLY-run-5d6e7f8",  # machine names are case-sensitive
]


@pytest.mark.parametrize("name", _EXTENDED_NAMES)
def test_states_trust_refuses_machines_whose_names_only_start_like_ours(name):
    machine = policies.state_machine_arn(SCOPE, name)
    context = _on_behalf_of(ACCOUNT, machine)
    assert not service_may_assume(_states_trust("nightly-run"), STATES, _role_arn(RUN), context)


def test_a_trailing_wildcard_would_have_let_those_machines_in():
    # The check above is meaningful: the evaluator lets them in under "nightly-run-*".
    wildcard = _states_trust("nightly-run", "-*")
    for name in _EXTENDED_NAMES[:3]:
        context = _on_behalf_of(ACCOUNT, policies.state_machine_arn(SCOPE, name))
        assert service_may_assume(wildcard, STATES, _role_arn(RUN), context)


@pytest.mark.parametrize(
    ("service", "context"),
    [
        pytest.param(STATES, _on_behalf_of(OTHER_ACCOUNT, TABLE_MACHINE), id="other account"),
        pytest.param(
            STATES,
            _on_behalf_of(ACCOUNT, policies.state_machine_arn(SCOPE, "other")),
            id="other machine",
        ),
        pytest.param(
            STATES,
            _on_behalf_of(OTHER_ACCOUNT, TABLE_MACHINE.replace(ACCOUNT, OTHER_ACCOUNT)),
            id="namesake in other account",
        ),
        pytest.param(
            STATES,
            _on_behalf_of(ACCOUNT, TABLE_MACHINE.replace("eu-west-1", "us-east-1")),
            id="namesake in other region",
        ),
        pytest.param(
            STATES,
            _on_behalf_of(ACCOUNT, _execution(MACHINE_NAMES[TABLE_EXPORT])),
            id="an execution, not the machine",
        ),
        pytest.param(STATES, _on_behalf_of(ACCOUNT, None), id="no source ARN"),
        pytest.param(STATES, _on_behalf_of(None, TABLE_MACHINE), id="no source account"),
        pytest.param(STATES, {}, id="no context"),
        pytest.param(
            "lambda.amazonaws.com", _on_behalf_of(ACCOUNT, TABLE_MACHINE), id="other service"
        ),
        pytest.param(SCHEDULER, _on_behalf_of(ACCOUNT, TABLE_MACHINE), id="the scheduler"),
    ],
)
def test_states_trust_refuses_other_accounts_machines_and_services(service, context):
    trust = _states_trust(MACHINE_BASES[TABLE_EXPORT])
    assert not service_may_assume(trust, service, _role_arn(TABLE_EXPORT), context)


def test_scheduler_trust_lets_the_scheduler_assume_for_this_schedule_group():
    trust = policies.scheduler_trust_policy(SCOPE, SCHEDULE_GROUP)
    context = _on_behalf_of(ACCOUNT, SCHEDULE_GROUP)
    assert service_may_assume(trust, SCHEDULER, SCHEDULER_ROLE, context)


@pytest.mark.parametrize(
    ("service", "context"),
    [
        pytest.param(SCHEDULER, _on_behalf_of(OTHER_ACCOUNT, SCHEDULE_GROUP), id="other account"),
        pytest.param(
            SCHEDULER,
            _on_behalf_of(ACCOUNT, SCOPE.arn("scheduler", "schedule-group/default")),
            id="default group",
        ),
        pytest.param(
            SCHEDULER,
            _on_behalf_of(ACCOUNT, f"{SCHEDULE_GROUP}-copy"),
            id="group named after ours",
        ),
        pytest.param(
            SCHEDULER,
            _on_behalf_of(ACCOUNT, SCHEDULE_GROUP.replace("schedule-group/", "schedule/")),
            id="schedule, not group",
        ),
        pytest.param(SCHEDULER, _on_behalf_of(ACCOUNT, None), id="no source ARN"),
        pytest.param(SCHEDULER, _on_behalf_of(None, SCHEDULE_GROUP), id="no source account"),
        pytest.param(
            "events.amazonaws.com", _on_behalf_of(ACCOUNT, SCHEDULE_GROUP), id="EventBridge rules"
        ),
        pytest.param(STATES, _on_behalf_of(ACCOUNT, SCHEDULE_GROUP), id="Step Functions"),
    ],
)
def test_scheduler_trust_refuses_other_groups_accounts_and_services(service, context):
    trust = policies.scheduler_trust_policy(SCOPE, SCHEDULE_GROUP)
    assert not service_may_assume(trust, service, SCHEDULER_ROLE, context)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:GetObject", _EXPORTED),
        ("s3:PutObject", _EXPORTED),
        ("s3:DeleteObject", f"{BUCKET_ARN}/anything"),
        ("s3:ListBucket", BUCKET_ARN),
    ],
)
def test_tls_only_bucket_policy_denies_plain_http_and_nothing_over_tls(action, resource):
    policy = policies.tls_only_bucket_policy(BUCKET_ARN)
    assert resource_policy_denies(policy, action, resource, {"aws:SecureTransport": "false"})
    assert not resource_policy_denies(policy, action, resource, {"aws:SecureTransport": "true"})


def test_tls_only_bucket_policy_applies_to_every_caller_and_only_to_its_bucket():
    policy = policies.tls_only_bucket_policy(BUCKET_ARN)
    insecure = {"aws:SecureTransport": "false"}
    other_account = f"arn:aws:iam::{OTHER_ACCOUNT}:role/anyone"
    assert resource_policy_denies(
        policy, "s3:GetObject", _EXPORTED, insecure, caller_arn=other_account
    )
    assert not resource_policy_denies(
        policy, "s3:GetObject", f"arn:aws:s3:::{BUCKET}-copy/x", insecure
    )


# --- parliament ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*IDENTITY_POLICIES, "TLS-only bucket policy"])
def test_policies_have_no_parliament_findings(name):
    if name in IDENTITY_POLICIES:
        document = IDENTITY_POLICIES[name]()
    else:
        document = policies.tls_only_bucket_policy(BUCKET_ARN)
    linted = parliament.analyze_policy_string(json.dumps(document))
    assert [{"issue": f.issue, "detail": f.detail} for f in linted.findings] == []
