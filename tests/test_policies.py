"""Least privilege, evaluated: each role may make the calls its state machine makes, and
nothing else.

The calls are derived from the generated definitions: a scheduled run is followed
through the ``run`` machine, its Distributed Map's child workflow executions (one per
table, executions of the run machine itself, under its role) and the ``table export``
execution each of them starts, evaluating each state's JSONata on the way. Two runs are
followed: one where every table is exported, and one where a table's export fails, so
the run reads its report back and every Task of both machines is reached. Every check
asks an IAM policy evaluator (``iam_eval``) whether a request would be allowed, rather
than reading the documents' text. parliament lints every identity policy on top, and
must find nothing.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

import jsonata
import parliament
import pytest
from table_exporter.export import grants as on
from table_exporter.export import policies as export_policies
from table_exporter.export.run_machine import (
    MAP_LABEL,
    REPORT_PREFIX,
    SCHEDULED_TIME_PLACEHOLDER,
    RunSpec,
    run_definition,
    run_machine,
    schedule_input,
)
from table_exporter.export.table_machine import (
    Destination,
    TableExportSpec,
    table_export_definition,
    table_export_machine,
)
from table_exporter.kernel import policies
from table_exporter.kernel.grants import Grants
from table_exporter.kernel.targets import AwsScope, ExportTarget, table_arn

from emulator.iam_eval import allowed, resource_matches, resource_policy_denies, service_may_assume

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
RUN, TABLE_EXPORT = "run", "table export"
ROLES = (RUN, TABLE_EXPORT)
MACHINE_BASES = {RUN: "nightly-run", TABLE_EXPORT: "nightly-table-export"}
MACHINE_NAMES = {RUN: "nightly-run-5d6e7f8", TABLE_EXPORT: "nightly-table-export-1a2b3c4"}
RUN_MACHINE, TABLE_MACHINE = (policies.state_machine_arn(SCOPE, MACHINE_NAMES[r]) for r in ROLES)
# The role is made before its machine, so the component names the machine by pattern.
RUN_MACHINE_PATTERN = MACHINE_BASES[RUN] + policies.AUTONAME_SUFFIX

# What a scheduled run and its DynamoDB exports look like at run time.
RUN_DATE = "2024-05-01"
EXPORT_ID = "01714521600000-1a2b3c4d"
# DynamoDB writes these under <S3Prefix>/AWSDynamoDB/<export id>/.
EXPORT_OBJECTS = (
    "_started",
    "manifest-summary.json",
    "manifest-files.json",
    "data/abcdefgh.json.gz",
)
S3_WRITES = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl")
# A Distributed Map's ResultWriter writes its report with these (multipart uploads).
REPORT_WRITES = (
    "s3:PutObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
)
KMS_VIA_S3 = ("kms:GenerateDataKey", "kms:Decrypt")
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
    bucket: str = BUCKET
    kms_key_arn: str | None = None
    """The exporter's key: its exports, and the bucket's default encryption (the run report)."""
    table_access: policies.TableAccess = "exact"
    logging: bool = True
    tracing: bool = False

    def machine(self, role: str) -> str:
        return policies.state_machine_arn(self.scope, MACHINE_NAMES[role])

    @property
    def roles_by_machine(self) -> dict[str, str]:
        return {self.machine(role): role for role in ROLES}

    def table_spec(self) -> TableExportSpec:
        destination = Destination(
            bucket=self.bucket,
            sse_algorithm="KMS" if self.kms_key_arn else "AES256",
            kms_key_arn=self.kms_key_arn,
        )
        return TableExportSpec(destination=destination, partition=self.scope.partition)

    def run_spec(self) -> RunSpec:
        return RunSpec(
            table_machine_arn=self.machine(TABLE_EXPORT),
            bucket=self.bucket,
            targets=self.targets,
            partition=self.scope.partition,
        )

    def definition(self, role: str) -> dict[str, Any]:
        """The definition as the component serialises it."""
        if role == RUN:
            built = run_definition(self.run_spec())
        else:
            built = table_export_definition(self.table_spec())
        return json.loads(json.dumps(built))

    def grants(self, role: str) -> Grants:
        """What the machine's states declare they call, collected as the component does."""
        if role == RUN:
            return run_machine(self.run_spec()).grants()
        return table_export_machine(self.table_spec()).grants()

    def policy(self, role: str) -> dict[str, Any]:
        if role == TABLE_EXPORT:
            return export_policies.table_export_role_policy(
                self.scope,
                grants=self.grants(role),
                targets=self.targets,
                bucket=self.bucket,
                kms_key_arn=self.kms_key_arn,
                table_access=self.table_access,
                logging=self.logging,
                tracing=self.tracing,
            )
        return export_policies.run_role_policy(
            self.scope,
            grants=self.grants(role),
            run_machine_name=RUN_MACHINE_PATTERN,
            table_machine_arn=self.machine(TABLE_EXPORT),
            table_machine_name=MACHINE_NAMES[TABLE_EXPORT],
            bucket=self.bucket,
            report_prefix=REPORT_PREFIX,
            map_label=MAP_LABEL,
            kms_key_arn=self.kms_key_arn,
            logging=self.logging,
            tracing=self.tracing,
        )


DEFAULT = Exporter()
WITH_KMS = Exporter(kms_key_arn=KMS_KEY)


def table_policy(**options: Any) -> dict[str, Any]:
    return Exporter(**options).policy(TABLE_EXPORT)


def run_policy(**options: Any) -> dict[str, Any]:
    return Exporter(**options).policy(RUN)


def scheduler_policy() -> dict[str, Any]:
    return export_policies.scheduler_role_policy(
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
    "run role": lambda: run_policy(),
    "run role, tracing": lambda: run_policy(tracing=True),
    "run role, no logging": lambda: run_policy(logging=False),
    "run role, KMS": lambda: run_policy(kms_key_arn=KMS_KEY),
    "scheduler role": scheduler_policy,
}
identity_policies = pytest.mark.parametrize(
    "build", IDENTITY_POLICIES.values(), ids=IDENTITY_POLICIES
)


# --- a scheduled run, followed through both definitions --------------------------------


def _step_functions_hash(value: Any, algorithm: str) -> str:
    assert algorithm == "SHA-256", algorithm
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()


def _step_functions_partition(array: list[Any], size: float) -> list[list[Any]]:
    items, chunk = list(array), int(size)
    return [items[i : i + chunk] for i in range(0, len(items), chunk)]


def _step_functions_parse(text: str) -> Any:
    return json.loads(text)


@cache
def _expression(source: str) -> jsonata.Jsonata:
    """A JSONata expression with the functions Step Functions adds to the language."""
    expression = jsonata.Jsonata(source)
    expression.register_lambda("hash", _step_functions_hash)
    expression.register_lambda("partition", _step_functions_partition)
    expression.register_lambda("parse", _step_functions_parse)
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


# SDK integrations name a service as its SDK does; IAM's prefix can differ.
_IAM_PREFIXES = {"sfn": "states"}


def _integration(resource: str) -> tuple[str, str]:
    """``arn:aws:states:::aws-sdk:dynamodb:describeExport`` -> ``dynamodb:DescribeExport``."""
    match = _INTEGRATION.match(resource)
    assert match, f"not a Step Functions service integration: {resource}"
    api, service = match["api"], _IAM_PREFIXES.get(match["service"], match["service"])
    return f"{service}:{api[0].upper()}{api[1:]}", match["pattern"] or ""


def _arn_fields(arn: str) -> tuple[str, str, str]:
    _, partition, _, region, account, *_ = arn.split(":")
    return partition, region, account


def _name_of(machine: str) -> str:
    return machine.rsplit(":", 1)[1]


def _uuid(*parts: str) -> str:
    """A run-time identifier (execution name, Map Run id), the same on every walk."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


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


@dataclass(frozen=True)
class MapRun:
    """A Distributed Map state's run: the child workflow executions it started (of the
    machine itself, under its role) and the report its ResultWriter wrote."""

    machine: str
    execution: str
    state: str
    arn: str
    children: tuple[str, ...]
    report: tuple[str, ...]  # the S3 objects written, as ARNs


class Ending(NamedTuple):
    """How an execution ended."""

    status: str  # SUCCEEDED or FAILED
    output: Any = None
    error: str | None = None
    cause: str | None = None


class _Error(NamedTuple):
    """A call's (or a Map's) error, after its retries."""

    error: str
    cause: str


class Walk(NamedTuple):
    """One scheduled run: its time, its execution's name, and the table whose export fails."""

    scheduled_time: str
    execution_name: str
    failing_table: int | None = None  # an index into the exporter's targets

    @property
    def run_date(self) -> str:
        return self.scheduled_time[:10]


EVERY_TABLE_EXPORTED = Walk("2024-05-01T02:00:00Z", "0f6a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")
ONE_TABLE_FAILED = Walk("2024-05-02T02:00:00Z", "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f", 0)
WALKS = (EVERY_TABLE_EXPORTED, ONE_TABLE_FAILED)


def run_input(walk: Walk = EVERY_TABLE_EXPORTED) -> dict[str, Any]:
    """What the scheduler passes, with its placeholder filled in as the scheduler does."""
    text = json.dumps(schedule_input()).replace(SCHEDULED_TIME_PLACEHOLDER, walk.scheduled_time)
    return json.loads(text)


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
class _Run:
    """One scheduled run followed through the definitions: every call, in order, with
    the Map Runs and the bucket's report objects as the run makes them. Calls succeed,
    but for the walk's failing table, whose export ends FAILED; Retry is not followed
    (a retried call is the same request)."""

    exporter: Exporter
    walk: Walk
    definitions: dict[str, dict[str, Any]] = field(init=False)
    visited: dict[str, set[str]] = field(init=False)  # the Task states run, by machine
    calls: list[Call | MapRun] = field(default_factory=list)
    map_runs: dict[str, dict[str, int]] = field(default_factory=dict)  # ARN -> item counts
    objects: dict[str, str] = field(default_factory=dict)  # "<bucket>/<key>" -> body
    exports: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # ARN -> request
    ending: Ending | None = None

    def __post_init__(self) -> None:
        self.definitions = {
            self.exporter.machine(role): self.exporter.definition(role) for role in ROLES
        }
        self.visited = {machine: set() for machine in self.definitions}
        index = self.walk.failing_table
        self.failing = None if index is None else self.exporter.targets[index].table_arn

    def follow(self) -> _Run:
        run = self.exporter.machine(RUN)
        arn = f"{run.replace(':stateMachine:', ':execution:', 1)}:{self.walk.execution_name}"
        self.ending = self.execute(run, arn, run_input(self.walk))
        return self

    def execute(
        self, machine: str, arn: str, data: Any, graph: Mapping[str, Any] | None = None
    ) -> Ending:
        context = {
            "Execution": {
                "Id": arn,
                "Name": arn.rsplit(":", 1)[1],
                "Input": data,
                "StartTime": f"{self.walk.run_date}T02:00:03.123Z",
            }
        }
        return self._states(machine, arn, graph or self.definitions[machine], data, context)

    def _states(
        self,
        machine: str,
        execution: str,
        graph: Mapping[str, Any],
        data: Any,
        context: dict[str, Any],
    ) -> Ending:
        """Follows an execution from ``StartAt`` to its end: Choice conditions, Arguments,
        Assign, Output and Catch are evaluated as they come (JSONata's rules: Assign and
        Output see the variables as they were before the state)."""
        variables: dict[str, Any] = {}
        name = graph["StartAt"]
        for _ in range(200):
            state = graph["States"][name]
            kind = state["Type"]
            states: dict[str, Any] = {"input": data, "context": context}
            if kind == "Choice":
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
            if kind == "Succeed":
                output = _evaluate(state.get("Output"), states=states, **variables)
                return Ending("SUCCEEDED", data if output is None else output)
            if kind == "Fail":
                error = _evaluate(state["Error"], states=states, **variables)
                cause = _evaluate(state["Cause"], states=states, **variables)
                return Ending("FAILED", error=error, cause=cause)
            if kind == "Task":
                self.visited[machine].add(name)
                arguments = _evaluate(state.get("Arguments", {}), states=states, **variables)
                call = Call(machine, execution, name, state["Resource"], arguments)
                self.calls.append(call)
                outcome: Any = self._result(call)
            elif kind == "Map":
                outcome = self._map(machine, execution, name, state, states, variables)
            elif kind in ("Pass", "Wait"):
                outcome = None
            else:
                raise AssertionError(f"{name}: the policy tests do not follow {kind}")
            if isinstance(outcome, _Error):
                catcher = next(
                    (
                        c
                        for c in state.get("Catch", [])
                        if {"States.ALL", outcome.error} & set(c["ErrorEquals"])
                    ),
                    None,
                )
                if catcher is None:
                    return Ending("FAILED", error=outcome.error, cause=outcome.cause)
                error_output = {"Error": outcome.error, "Cause": outcome.cause}
                scope = {**states, "errorOutput": error_output}
                output = _evaluate(catcher.get("Output"), states=scope, **variables)
                if "Assign" in catcher:
                    variables = {
                        **variables,
                        **_evaluate(catcher["Assign"], states=scope, **variables),
                    }
                data = error_output if output is None else output
                name = catcher["Next"]
                continue
            scope = states if kind in ("Pass", "Wait") else {**states, "result": outcome}
            output = _evaluate(state.get("Output"), states=scope, **variables)
            if "Assign" in state:
                variables = {**variables, **_evaluate(state["Assign"], states=scope, **variables)}
            if "Output" in state:
                data = output
            elif kind not in ("Pass", "Wait"):
                data = outcome
            if state.get("End"):
                return Ending("SUCCEEDED", data)
            name = state["Next"]
        raise AssertionError("the execution does not finish")

    def _map(
        self,
        machine: str,
        execution: str,
        name: str,
        state: Mapping[str, Any],
        states: dict[str, Any],
        variables: dict[str, Any],
    ) -> Any:
        """A Distributed Map: each item is a child workflow execution of this machine,
        named ``<machine>/<label>:<uuid>``, that runs the ItemProcessor with the item
        ItemSelector makes (and none of the parent's variables); then the ResultWriter
        writes every child's result under ``<Prefix>/<map run id>/``."""
        config = state["ItemProcessor"]["ProcessorConfig"]
        assert config == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, config
        items = _evaluate(state["Items"], states=states, **variables)
        assert isinstance(items, list), f"{name}: Items is not a list: {items!r}"
        partition, region, account = _arn_fields(machine)
        qualified = f"{_name_of(machine)}/{state.get('Label', name)}"
        map_run_id = _uuid(execution, name)
        map_run = f"arn:{partition}:states:{region}:{account}:mapRun:{qualified}:{map_run_id}"
        children: list[str] = []
        results: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": []}
        for index, value in enumerate(items):
            item = {**states["context"], "Map": {"Item": {"Index": index, "Value": value}}}
            selected = _evaluate(
                state.get("ItemSelector", "{% $states.context.Map.Item.Value %}"),
                states={"input": states["input"], "context": item},
                **variables,
            )
            child = (
                f"arn:{partition}:states:{region}:{account}:execution:{qualified}:"
                f"{_uuid(map_run, str(index))}"
            )
            children.append(child)
            ending = self.execute(machine, child, selected, graph=state["ItemProcessor"])
            record = {
                "ExecutionArn": child,
                "StateMachineArn": machine.replace(_name_of(machine), qualified),
                "Name": child.rsplit(":", 1)[1],
                "Status": ending.status,
                "Input": json.dumps(selected),
            }
            if ending.status == "SUCCEEDED":
                record["Output"] = json.dumps(ending.output)
            else:
                record |= {"Error": ending.error, "Cause": ending.cause}
            results[ending.status].append(record)
        succeeded, failed = len(results["SUCCEEDED"]), len(results["FAILED"])
        self.map_runs[map_run] = {
            "Pending": 0,
            "Running": 0,
            "Succeeded": succeeded,
            "Failed": failed,
            "TimedOut": 0,
            "Aborted": 0,
            "Total": len(items),
            "ResultsWritten": len(items),
        }
        result: dict[str, Any] = {"MapRunArn": map_run}
        report: list[str] = []
        writer = state.get("ResultWriter")
        if writer is not None:
            assert writer["Resource"] == f"arn:{partition}:states:::s3:putObject", writer
            where = _evaluate(writer["Arguments"], states=states, **variables)
            folder = f"{where['Prefix']}/{map_run_id}"
            files = {
                f"{folder}/{status}_0.json": records
                for status, records in results.items()
                if records
            }
            manifest = {
                "DestinationBucket": where["Bucket"],
                "MapRunArn": map_run,
                "ResultFiles": {
                    status: [
                        {"Key": key, "Size": len(json.dumps(records))}
                        for key, records in files.items()
                        if key.endswith(f"/{status}_0.json")
                    ]
                    for status in ("FAILED", "PENDING", "SUCCEEDED")
                },
            }
            files[f"{folder}/manifest.json"] = manifest  # type: ignore[assignment]
            for key, body in files.items():
                self.objects[f"{where['Bucket']}/{key}"] = json.dumps(body)
                report.append(f"arn:{partition}:s3:::{where['Bucket']}/{key}")
            result["ResultWriterDetails"] = {
                "Bucket": where["Bucket"],
                "Key": f"{folder}/manifest.json",
            }
        self.calls.append(MapRun(machine, execution, name, map_run, tuple(children), tuple(report)))
        if failed * 100 > state.get("ToleratedFailurePercentage", 0) * len(items):
            return _Error("States.ExceedToleratedFailureThreshold", f"{failed} items failed")
        return result

    def _result(self, call: Call) -> Any:
        """What the call returns, or its error."""
        args = call.arguments
        if call.action == "dynamodb:ExportTableToPointInTime":
            arn = _export_arn(args["TableArn"])
            self.exports[arn] = args
            return {"ExportDescription": {"ExportArn": arn, "ExportStatus": "IN_PROGRESS"}}
        if call.action == "dynamodb:DescribeExport":
            arn = args["ExportArn"]
            started = self.exports[arn]
            table = arn.split("/export/")[0]
            description = {
                "ExportArn": arn,
                "TableArn": table,
                "S3Bucket": started["S3Bucket"],
                "S3Prefix": started["S3Prefix"],
                "ExportStatus": "COMPLETED",
                "ItemCount": 42,
                "BilledSizeBytes": 4200,
            }
            if table == self.failing:
                description |= {
                    "ExportStatus": "FAILED",
                    "FailureCode": "UNKNOWN",
                    "FailureMessage": "Failed to export table",
                }
            return {"ExportDescription": description}
        if call.action == "states:StartExecution":
            child, machine = call.child_execution, args["StateMachineArn"]
            assert machine in self.definitions, (
                f"{call.machine} starts an unknown machine {machine}"
            )
            # startExecution.sync:2: the run waits for the child and gets its output as JSON.
            assert _integration(call.resource)[1] == ".sync:2", call.resource
            ending = self.execute(machine, child, args["Input"])
            described = {"ExecutionArn": child, "StateMachineArn": machine, "Status": ending.status}
            if ending.status == "SUCCEEDED":
                return {**described, "Output": ending.output}
            failed = {**described, "Error": ending.error, "Cause": ending.cause}
            return _Error("States.TaskFailed", json.dumps(failed))
        if call.action == "states:DescribeMapRun":
            counts = self.map_runs[args["MapRunArn"]]
            return {"MapRunArn": args["MapRunArn"], "Status": "SUCCEEDED", "ItemCounts": counts}
        if call.action == "s3:GetObject":
            body = self.objects.get(f"{args['Bucket']}/{args['Key']}")
            if body is None:
                return _Error("S3.NoSuchKeyException", f"no object {args['Key']}")
            return {"Body": body, "ContentType": "application/json"}
        raise AssertionError(f"the policy tests do not know what {call.resource} returns")


def _export_arn(table: str) -> str:
    return f"{table}/export/{EXPORT_ID}"


@cache
def scheduled_run(exporter: Exporter = DEFAULT, walk: Walk = EVERY_TABLE_EXPORTED) -> _Run:
    """One scheduled run, followed to its end."""
    return _Run(exporter, walk).follow()


@cache
def scheduled_runs(exporter: Exporter = DEFAULT) -> tuple[Call | MapRun, ...]:
    """Every call of both walks: one where every table is exported, one where a table fails."""
    runs = [scheduled_run(exporter, walk) for walk in WALKS]
    endings = [run.ending for run in runs]
    assert [e.status for e in endings if e] == ["SUCCEEDED", "FAILED"], endings
    for machine, definition in runs[0].definitions.items():
        # A Task no run reaches would go unchecked: there is none.
        reached = set().union(*(run.visited[machine] for run in runs))
        assert reached == set(_tasks(definition["States"])), machine
    return tuple(call for run in runs for call in run.calls)


def _via_s3(key: str, actions: tuple[str, ...]) -> set[Request]:
    # S3 encrypts with a key in the bucket's own region, so that is the region S3
    # calls KMS from, with the caller's permissions.
    via_s3 = (("kms:ViaService", f"s3.{_arn_fields(key)[1]}.amazonaws.com"),)
    return {Request(use, key, via_s3) for use in actions}


def _needs(call: Call | MapRun, bucket_key: str | None) -> set[Request]:
    """Every request the call makes of the calling machine's role; ``bucket_key`` is the
    key the bucket encrypts new objects with by default (the run report's)."""
    partition, region, account = _arn_fields(call.machine)
    if isinstance(call, MapRun):
        # The Map starts its children as executions of its own (unqualified) machine,
        # watches them and stops them when the run stops, and writes the report.
        needs = {Request("states:StartExecution", call.machine)}
        needs |= {Request(a, child) for child in call.children for a in CHILD_WATCHING}
        needs |= {Request(a, obj) for obj in call.report for a in REPORT_WRITES}
        if call.report and bucket_key:
            needs |= _via_s3(bucket_key, KMS_VIA_S3)
        return needs
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
            # ... and S3 uses the key on the caller's behalf.
            needs |= _via_s3(args["S3SseKmsKeyId"], KMS_VIA_S3)
        return needs
    if call.action == "dynamodb:DescribeExport":
        # Authorised on the export, whose ARN lives under its table's.
        return {Request(call.action, args["ExportArn"])}
    if call.action == "states:DescribeMapRun":
        return {Request(call.action, args["MapRunArn"])}
    if call.action == "s3:GetObject":
        needs = {Request(call.action, f"arn:{partition}:s3:::{args['Bucket']}/{args['Key']}")}
        if bucket_key:
            needs |= _via_s3(bucket_key, ("kms:Decrypt",))
        return needs
    raise AssertionError(f"the policy tests do not know what {call.resource} needs")


@cache
def needs_by_role(exporter: Exporter = DEFAULT) -> dict[str, frozenset[Request]]:
    """Every request each machine's role is asked for during the scheduled runs."""
    roles = exporter.roles_by_machine
    needs: dict[str, set[Request]] = {role: set() for role in ROLES}
    for call in scheduled_runs(exporter):
        needs[roles[call.machine]] |= _needs(call, exporter.kms_key_arn)
    return {role: frozenset(requests) for role, requests in needs.items()}


def _started(
    exporter: Exporter, role: str, walk: Walk = EVERY_TABLE_EXPORTED
) -> list[Call | MapRun]:
    machine = exporter.machine(role)
    return [c for c in scheduled_run(exporter, walk).calls if c.machine == machine]


def _map_runs(exporter: Exporter, walk: Walk = EVERY_TABLE_EXPORTED) -> list[MapRun]:
    return [c for c in scheduled_run(exporter, walk).calls if isinstance(c, MapRun)]


def _tasks_run(exporter: Exporter, state: str, walk: Walk = EVERY_TABLE_EXPORTED) -> list[Call]:
    return [
        c for c in scheduled_run(exporter, walk).calls if isinstance(c, Call) and c.state == state
    ]


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

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_a_run_maps_each_table_to_a_child_execution_that_starts_its_table_export():
    targets = tenant_tables(count=5)
    exporter = Exporter(targets=targets)
    (map_run,) = _map_runs(exporter)
    # One child workflow execution per table, each an execution of the run machine's Map.
    item = re.escape(SCOPE.arn("states", f"execution:{MACHINE_NAMES[RUN]}/{MAP_LABEL}:"))
    assert len(map_run.children) == 5
    assert all(re.fullmatch(item + _UUID, child) for child in map_run.children)
    assert map_run.machine == RUN_MACHINE
    exports = _tasks_run(exporter, "ExportTable")
    assert [c.execution for c in exports] == list(map_run.children)
    assert [c.arguments["StateMachineArn"] for c in exports] == [TABLE_MACHINE] * 5
    assert [c.arguments["Input"]["tableArn"] for c in exports] == [t.table_arn for t in targets]
    # Each execution has a name of its own, so each is a resource of its own.
    executions = [*map_run.children, *(c.child_execution for c in exports)]
    assert len(set(executions)) == 10
    # The Map Run the run counts is its own Map's.
    (count,) = _tasks_run(exporter, "CountResults")
    assert re.fullmatch(
        re.escape(SCOPE.arn("states", f"mapRun:{MACHINE_NAMES[RUN]}/{MAP_LABEL}:")) + _UUID,
        count.arguments["MapRunArn"],
    )
    assert count.arguments["MapRunArn"] == map_run.arn
    assert scheduled_run(exporter).ending.status == "SUCCEEDED"


def test_the_run_report_goes_under_its_prefix_and_a_failed_run_reads_it_back():
    for walk in WALKS:
        (map_run,) = _map_runs(DEFAULT, walk)
        map_run_id = map_run.arn.rsplit(":", 1)[1]
        folder = f"{BUCKET_ARN}/{REPORT_PREFIX}/{walk.run_date}/{walk.execution_name}/{map_run_id}"
        written = {"manifest.json", "SUCCEEDED_0.json"} | (
            {"FAILED_0.json"} if walk.failing_table is not None else set()
        )
        assert sorted(map_run.report) == sorted(f"{folder}/{name}" for name in written)
        read = [
            f"arn:aws:s3:::{c.arguments['Bucket']}/{c.arguments['Key']}"
            for c in _started(DEFAULT, RUN, walk)
            if isinstance(c, Call) and c.action == "s3:GetObject"
        ]
        if walk.failing_table is None:
            assert read == []
        else:
            assert read == [f"{folder}/manifest.json", f"{folder}/FAILED_0.json"]
            ending = scheduled_run(DEFAULT, walk).ending
            assert ending.error == "TableExportsFailed"
            assert json.loads(ending.cause)["failed"] == [
                {"table": "orders", "error": "UNKNOWN", "cause": "Failed to export table"}
            ]


def test_each_map_item_computes_its_exports_prefix_and_client_token():
    exports = {
        c.arguments["Input"]["tableArn"]: c.arguments["Input"]
        for c in _tasks_run(DEFAULT, "ExportTable")
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
        if isinstance(c, Call) and c.action == "dynamodb:ExportTableToPointInTime"
    }
    for arn, given in exports.items():
        assert started[arn]["S3Prefix"] == given["s3Prefix"]
        assert started[arn]["ClientToken"] == given["clientToken"]
        assert started[arn]["S3Bucket"] == BUCKET


def test_definitions_call_only_the_integrations_the_policies_cover():
    needs = needs_by_role(WITH_KMS)
    assert {n.action for n in needs[RUN]} == {
        "states:StartExecution",
        *CHILD_WATCHING,
        *MANAGED_RULE_ACTIONS,
        "states:DescribeMapRun",
        *REPORT_WRITES,
        *KMS_VIA_S3,
    }
    assert {n.action for n in needs[TABLE_EXPORT]} == {
        "dynamodb:ExportTableToPointInTime",
        "dynamodb:DescribeExport",
        *S3_WRITES,
        *KMS_VIA_S3,
    }
    # The run starts its Map's children and the table exports; the table export machine
    # starts nothing.
    started = {
        role: {n.resource for n in needs[role] if n.action == "states:StartExecution"}
        for role in ROLES
    }
    assert started == {RUN: {RUN_MACHINE, TABLE_MACHINE}, TABLE_EXPORT: set()}
    # The states that call AWS, by machine: each is one the walks followed.
    calling = {
        role: {c.state for c in scheduled_runs(WITH_KMS) if c.machine == WITH_KMS.machine(role)}
        for role in ROLES
    }
    assert calling == {
        RUN: {"ExportTables", "ExportTable", "CountResults", "ReadReport", "ReadFailures"},
        TABLE_EXPORT: {"StartExport", "DescribeExport"},
    }


@pytest.mark.parametrize("exporter", [DEFAULT, WITH_KMS], ids=["SSE-S3", "SSE-KMS"])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_allows_every_call_its_definition_makes(role, exporter):
    needs = needs_by_role(exporter)[role]
    key_uses = 2 if exporter.kms_key_arn else 0
    if role == TABLE_EXPORT:
        # Per table: export, describe (the same export ARN on both runs); per table and
        # run, three writes per object; the key's two uses are shared.
        per_run = len(S3_WRITES) * len(EXPORT_OBJECTS)
        assert len(needs) == len(TARGETS) * (2 + len(WALKS) * per_run) + key_uses
    else:
        # Per run: its Map's children and the table exports they start, each watched and
        # stopped; one Map Run counted; the report's objects written (read back within
        # those actions). Shared: starting the two machines, the rule, the key's uses.
        maps = [m for walk in WALKS for m in _map_runs(exporter, walk)]
        children = sum(len(m.children) for m in maps)
        assert children == len(WALKS) * len(TARGETS)
        objects = sum(len(m.report) for m in maps)
        assert objects == 2 + 3
        assert len(needs) == (
            2
            + len(CHILD_WATCHING) * 2 * children
            + len(MANAGED_RULE_ACTIONS)
            + len(maps)
            + len(REPORT_WRITES) * objects
            + key_uses
        )
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


def _never_requested(statement: Mapping[str, Any], resource: str) -> bool:
    """Express executions: IAM lists them as a second resource type of the actions that
    watch executions, so a policy may name them; both machines are STANDARD, so no run
    ever asks for one."""
    return ":express:" in resource and set(statement["Action"]) <= set(CHILD_WATCHING)


@pytest.mark.parametrize("exporter", [DEFAULT, WITH_KMS], ids=["SSE-S3", "SSE-KMS"])
@pytest.mark.parametrize("role", ROLES)
def test_every_action_and_resource_granted_is_one_a_run_asks_for(role, exporter):
    needs = needs_by_role(exporter)[role]
    for statement in exporter.policy(role)["Statement"]:
        if statement["Resource"] == ["*"] and set(statement["Action"]) in (LOG_DELIVERY, XRAY):
            continue
        used = [
            n
            for n in needs
            if n.action in statement["Action"]
            and any(resource_matches(r, n.resource) for r in statement["Resource"])
        ]
        assert {n.action for n in used} == set(statement["Action"]), statement["Sid"]
        for resource in statement["Resource"]:
            if _never_requested(statement, resource):
                continue
            assert any(resource_matches(resource, n.resource) for n in used), resource


def test_the_grants_come_from_the_states_that_make_the_calls():
    # Each role's statements are those of the resources its machine's states name,
    # in the order the machine first needs them.
    assert list(DEFAULT.grants(RUN)) == [
        on.OWN_MACHINE,  # the Distributed Map, then the states each of its items runs
        on.MAP_EXECUTIONS,
        on.RUN_REPORTS,
        on.RUN_REPORTS_KEY,  # no statement without a key (WITH_KMS has one)
        on.TABLE_MACHINE,
        on.TABLE_EXECUTIONS,
        on.SYNC_RULE,
        on.MAP_RUNS,
    ]
    assert set(WITH_KMS.grants(TABLE_EXPORT)) == {
        on.EXPORTED_TABLES,
        on.EXPORT_OBJECTS,
        on.EXPORT_KEY,
    }
    assert set(DEFAULT.grants(TABLE_EXPORT)) == {on.EXPORTED_TABLES, on.EXPORT_OBJECTS}
    sids = [s["Sid"] for s in DEFAULT.policy(RUN)["Statement"]]
    keyless = [r.sid for r in DEFAULT.grants(RUN) if r is not on.RUN_REPORTS_KEY]
    assert sids[: len(keyless)] == keyless
    assert "EncryptRunReports" in [s["Sid"] for s in WITH_KMS.policy(RUN)["Statement"]]


def test_scheduler_role_may_start_runs_and_park_failed_deliveries():
    assert allowed(scheduler_policy(), "states:StartExecution", RUN_MACHINE)
    assert allowed(scheduler_policy(), "sqs:SendMessage", DEAD_LETTER_QUEUE)


@pytest.mark.parametrize("build", [table_policy, run_policy], ids=["table export", "run"])
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


def _execution(machine_name: str) -> str:
    return SCOPE.arn("states", f"execution:{machine_name}:x")


def _express_execution(machine_name: str) -> str:
    return SCOPE.arn("states", f"express:{machine_name}:x:0123")


ITEM_ID = "f67e322a-f4d2-54e9-a0fd-9e52c80dbc97"
MAP_RUN_ID = "a8cd84c4-31ff-5efe-a60e-995064d47cff"


def _item_execution(machine_name: str, label: str = MAP_LABEL) -> str:
    """A child workflow execution of a machine's Distributed Map."""
    return SCOPE.arn("states", f"execution:{machine_name}/{label}:{ITEM_ID}")


def _map_run(machine_name: str, label: str = MAP_LABEL) -> str:
    return SCOPE.arn("states", f"mapRun:{machine_name}/{label}:{MAP_RUN_ID}")


def _elsewhere(arn: str) -> list[str]:
    return [arn.replace("eu-west-1", "us-east-1"), arn.replace(ACCOUNT, OTHER_ACCOUNT)]


RUN_ROLE_CASES = {
    "run role": {},
    "run role, KMS and tracing": {"kms_key_arn": KMS_KEY, "tracing": True},
}
run_role_cases = pytest.mark.parametrize(
    "options", RUN_ROLE_CASES.values(), ids=list(RUN_ROLE_CASES)
)

# Names of machines that are not the exporter's, but look like them.
_NOT_OUR_RUN_MACHINE = [
    "nightly-run-x",  # a suffix that is not Pulumi's
    "nightly-run-5d6e7f",  # 6 characters
    "nightly-run-5d6e7f8a",  # 8 characters
    "nightly-run-run-5d6e7f8",  # the run machine of a component named "nightly-run"
    "nightly-run-table-export-1a2b3c4",
    "nightly-run5d6e7f8x",  # no dash
    "NIGHTLY-run-5d6e7f8",  # machine names are case-sensitive
    "nightly-table-export-9z8y7x6",  # another exporter's table export machine
    f"{MACHINE_NAMES[TABLE_EXPORT]}-copy",
    "other",
]


@pytest.mark.parametrize(
    "machine",
    [
        *(policies.state_machine_arn(SCOPE, name) for name in _NOT_OUR_RUN_MACHINE),
        f"{RUN_MACHINE}:live",  # an alias or version of it is another resource
        f"{TABLE_MACHINE}:live",
        f"{RUN_MACHINE}/{MAP_LABEL}",  # the Map's qualified ARN: StartExecution refuses it
        *_elsewhere(RUN_MACHINE),
        *_elsewhere(TABLE_MACHINE),
    ],
)
@run_role_cases
def test_run_role_starts_only_its_own_machine_and_the_table_export_machine(machine, options):
    policy = run_policy(**options)
    assert allowed(policy, "states:StartExecution", RUN_MACHINE)
    assert allowed(policy, "states:StartExecution", TABLE_MACHINE)
    assert not allowed(policy, "states:StartExecution", machine)


def test_run_role_names_its_machine_by_exactly_pulumis_autoname():
    # The role exists before its machine, so the pattern admits any 7-character suffix
    # of "nightly-run-", and nothing else: no other component's machine is named so.
    policy = run_policy()
    for suffix in ("5d6e7f8", "0000000", "zzzzzzz"):
        assert allowed(policy, "states:StartExecution", RUN_MACHINE.replace("5d6e7f8", suffix))


@pytest.mark.parametrize(
    "execution",
    [
        _execution(MACHINE_NAMES[RUN]),  # a run itself: the run role stops no run
        _express_execution(MACHINE_NAMES[RUN]),
        _item_execution(MACHINE_NAMES[RUN], "OtherMap"),  # another Map of the machine
        _item_execution(MACHINE_NAMES[RUN], f"{MAP_LABEL}X"),
        _item_execution(MACHINE_NAMES[TABLE_EXPORT]),  # a Map of the table export machine
        *(_item_execution(name) for name in _NOT_OUR_RUN_MACHINE),
        *(_execution(name) for name in _NOT_OUR_RUN_MACHINE),
        *(_express_execution(name) for name in _NOT_OUR_RUN_MACHINE),
        *_elsewhere(_item_execution(MACHINE_NAMES[RUN])),
        *_elsewhere(_execution(MACHINE_NAMES[TABLE_EXPORT])),
    ],
)
@run_role_cases
def test_run_role_watches_and_stops_only_its_own_maps_items_and_the_table_exports(
    execution, options
):
    policy = run_policy(**options)
    for action in CHILD_WATCHING:
        assert allowed(policy, action, _item_execution(MACHINE_NAMES[RUN]))
        assert allowed(policy, action, _execution(MACHINE_NAMES[TABLE_EXPORT]))
        assert not allowed(policy, action, execution)


@pytest.mark.parametrize(
    "map_run",
    [
        _map_run(MACHINE_NAMES[RUN], "OtherMap"),
        _map_run(MACHINE_NAMES[TABLE_EXPORT]),
        *(_map_run(name) for name in _NOT_OUR_RUN_MACHINE),
        *_elsewhere(_map_run(MACHINE_NAMES[RUN])),
        _item_execution(MACHINE_NAMES[RUN]),  # an item's execution is not the Map Run
    ],
)
@run_role_cases
def test_run_role_describes_only_its_own_maps_runs(map_run, options):
    policy = run_policy(**options)
    assert allowed(policy, "states:DescribeMapRun", _map_run(MACHINE_NAMES[RUN]))
    assert not allowed(policy, "states:DescribeMapRun", map_run)


@run_role_cases
def test_run_role_cannot_change_or_redrive_map_runs_or_executions(options):
    policy = run_policy(**options)
    own = _map_run(MACHINE_NAMES[RUN])
    for action in ("states:UpdateMapRun", "states:ListMapRuns"):
        assert not allowed(policy, action, own)
    for execution in (_item_execution(MACHINE_NAMES[RUN]), _execution(MACHINE_NAMES[RUN])):
        for action in ("states:RedriveExecution", "states:ListMapRuns", "states:SendTaskSuccess"):
            assert not allowed(policy, action, execution)
    for machine in (RUN_MACHINE, TABLE_MACHINE):
        for action in ("states:UpdateStateMachine", "states:DeleteStateMachine"):
            assert not allowed(policy, action, machine)


_REPORT = (
    f"{BUCKET_ARN}/{REPORT_PREFIX}/{RUN_DATE}/{EVERY_TABLE_EXPORTED.execution_name}/"
    f"{MAP_RUN_ID}/manifest.json"
)


@pytest.mark.parametrize(
    "obj",
    [
        f"{BUCKET}/exports/orders/full/{RUN_DATE}/AWSDynamoDB/{EXPORT_ID}/data/x.json.gz",
        f"{BUCKET}/crm/raw/customer.events/full/{RUN_DATE}/AWSDynamoDB/{EXPORT_ID}/_started",
        f"{BUCKET}/{REPORT_PREFIX}",  # the prefix itself as a key
        f"{BUCKET}/{REPORT_PREFIX}-old/{RUN_DATE}/manifest.json",  # starts like it
        f"{BUCKET}/archive/{REPORT_PREFIX}/{RUN_DATE}/manifest.json",  # it, deeper down
        f"{BUCKET}/manifest.json",  # bucket root
        f"{BUCKET}-copy/{REPORT_PREFIX}/{RUN_DATE}/manifest.json",  # a bucket named after ours
        f"other-bucket/{REPORT_PREFIX}/{RUN_DATE}/manifest.json",
    ],
)
@pytest.mark.parametrize("action", REPORT_WRITES)
@run_role_cases
def test_run_role_writes_and_reads_only_run_reports(obj, action, options):
    policy = run_policy(**options)
    assert allowed(policy, action, _REPORT)
    assert not allowed(policy, action, f"arn:aws:s3:::{obj}")


@pytest.mark.parametrize(
    "action",
    [
        "s3:DeleteObject",
        "s3:GetObjectVersion",
        "s3:PutObjectAcl",
        "s3:PutObjectTagging",
        "s3:PutObjectRetention",
        "s3:RestoreObject",
    ],
)
def test_run_role_cannot_delete_or_change_reports_beyond_writing_them(action):
    assert not allowed(run_policy(kms_key_arn=KMS_KEY), action, _REPORT)


@pytest.mark.parametrize(
    "action", ["s3:ListBucket", "s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketAcl"]
)
def test_run_role_cannot_touch_the_bucket_itself(action):
    assert not allowed(run_policy(kms_key_arn=KMS_KEY), action, BUCKET_ARN)


def test_a_table_prefix_cannot_put_exports_where_the_run_role_writes_reports():
    # Otherwise the run role's run-reports/* grant would cover that table's exports,
    # and the table export role's grant the run reports.
    for prefix in (REPORT_PREFIX, f"{REPORT_PREFIX}/tables"):
        exporter = Exporter(targets=(ExportTarget(ORDERS, prefix),))
        with pytest.raises(ValueError, match=f"must not be under {REPORT_PREFIX}/"):
            exporter.run_spec()
    Exporter(targets=(ExportTarget(ORDERS, f"{REPORT_PREFIX}-old"),)).run_spec()


@pytest.mark.parametrize("kms_key_arn", [None, KMS_KEY], ids=["SSE-S3", "SSE-KMS"])
def test_table_export_role_starts_and_watches_no_machine_and_touches_no_report(kms_key_arn):
    policy = table_policy(kms_key_arn=kms_key_arn, tracing=True)
    for name in (*MACHINE_NAMES.values(), "other"):
        machine = policies.state_machine_arn(SCOPE, name)
        assert not allowed(policy, "states:StartExecution", machine)
        for execution in (_execution(name), _item_execution(name)):
            for action in CHILD_WATCHING:
                assert not allowed(policy, action, execution)
        assert not allowed(policy, "states:DescribeMapRun", _map_run(name))
    for action in REPORT_WRITES:
        assert not allowed(policy, action, _REPORT)


@run_role_cases
def test_run_role_cannot_change_other_rules_or_the_managed_one_beyond_its_use(options):
    managed = SCOPE.arn("events", "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")
    other = SCOPE.arn("events", "rule/StepFunctionsGetEventsForStepFunctionsExecutionRuleX")
    policy = run_policy(**options)
    for action in MANAGED_RULE_ACTIONS:
        assert allowed(policy, action, managed)
        assert not allowed(policy, action, other)
        assert not allowed(policy, action, managed.replace("eu-west-1", "us-east-1"))
    for action in (
        "events:DeleteRule",
        "events:RemoveTargets",
        "events:DisableRule",
        "events:PutEvents",
    ):
        assert not allowed(policy, action, managed)


@run_role_cases
def test_run_role_cannot_export_tables_or_touch_exports_itself(options):
    policy = run_policy(**options)
    assert not allowed(policy, "dynamodb:ExportTableToPointInTime", ORDERS)
    assert not allowed(policy, "dynamodb:DescribeExport", _export_arn(ORDERS))
    for action in (*S3_WRITES, "s3:GetObject"):
        assert not allowed(policy, action, f"{BUCKET_ARN}/exports/x")
        assert not allowed(policy, action, _EXPORTED)


def test_scheduler_role_starts_only_the_run_machine_and_only_sends_to_its_queue():
    policy = scheduler_policy()
    for machine in (
        TABLE_MACHINE,
        policies.state_machine_arn(SCOPE, "other"),
        policies.state_machine_arn(SCOPE, "nightly-run-x"),
        f"{RUN_MACHINE}/{MAP_LABEL}",
        f"{RUN_MACHINE}:live",
    ):
        assert not allowed(policy, "states:StartExecution", machine)
    assert not allowed(policy, "states:StopExecution", _execution(MACHINE_NAMES[RUN]))
    assert not allowed(policy, "states:DescribeMapRun", _map_run(MACHINE_NAMES[RUN]))
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


# Both roles use the exporter's key through S3: the exports, and the run report the
# bucket encrypts with it by default.
KEYED_ROLES = pytest.mark.parametrize(
    "build", [table_policy, run_policy], ids=["table export", "run"]
)


@pytest.mark.parametrize("action", KMS_VIA_S3)
@KEYED_ROLES
def test_configured_key_is_usable_only_through_s3_in_the_exporters_region(action, build):
    policy = build(kms_key_arn=KMS_KEY)
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


@pytest.mark.parametrize("role", ROLES)
def test_an_existing_bucket_in_another_region_can_be_written_with_its_key(role):
    # DynamoDB exports to a bucket in any region; S3 then uses a key of that region,
    # for the exports and for the run report alike.
    key = KMS_KEY.replace("eu-west-1", "us-east-1")
    exporter = Exporter(kms_key_arn=key)
    needs = needs_by_role(exporter)[role]
    assert {dict(n.context).get("kms:ViaService") for n in needs if n.context} == {
        "s3.us-east-1.amazonaws.com"
    }
    policy = exporter.policy(role)
    assert sorted(n for n in needs if not allows(policy, n)) == []
    assert not allowed(policy, "kms:Decrypt", key, {"kms:ViaService": S3_IN_REGION})


@KEYED_ROLES
def test_configured_key_is_used_only_to_write_and_read_through_s3(build):
    policy = build(kms_key_arn=KMS_KEY)
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
    resources += [
        state["ResultWriter"]["Resource"]
        for state in _all_states(states)
        if "ResultWriter" in state
    ]
    assert ("arn:aws-cn:states:::s3:putObject" in resources) is (role == RUN)
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
    document = Exporter(targets=targets, bucket="b" * 63, kms_key_arn=KMS_KEY, tracing=True).policy(
        TABLE_EXPORT
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
        Exporter(targets=tuple(targets)).policy(TABLE_EXPORT)
    assert "'prefix'" in str(error.value) and "'all'" in str(error.value)
    with pytest.raises(ValueError, match=r"^tables: 1000 tables "):
        Exporter(targets=tenant_tables()).policy(TABLE_EXPORT)


def _granted_tables(policy: Mapping[str, Any]) -> list[str]:
    (statement,) = (s for s in policy["Statement"] if s["Sid"] == on.EXPORTED_TABLES.sid)
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
MACHINES = {RUN: RUN_MACHINE, TABLE_EXPORT: TABLE_MACHINE}


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


@pytest.mark.parametrize("role", ROLES)
def test_states_trust_admits_its_own_machines_distributed_map_qualified_arn(role):
    """A Distributed Map's children run as ``stateMachine:<name>/<label>``; which form
    Step Functions sends as ``aws:SourceArn`` for them is not documented."""
    trust = _states_trust(MACHINE_BASES[role])
    qualified = f"{MACHINES[role]}/ExportTables"
    assert service_may_assume(trust, STATES, _role_arn(role), _on_behalf_of(ACCOUNT, qualified))
    for other in ROLES:
        if other != role:
            theirs = _on_behalf_of(ACCOUNT, f"{MACHINES[other]}/ExportTables")
            assert not service_may_assume(trust, STATES, _role_arn(role), theirs)


# Another component named "nightly-run": its machines are "nightly-run-<role>-<suffix>".
_EXTENDED_NAMES = [
    "nightly-run-table-export-1a2b3c4",
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
