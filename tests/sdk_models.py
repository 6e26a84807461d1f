"""Checks Step Functions Task states against botocore's service models.

Pure functions over ASL dictionaries: no AWS, no emulator. ``check_task`` returns the
problems it finds in one Task state as readable sentences (an empty list is a pass),
so a test can both assert a generated machine is clean and prove that a broken task
is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from table_exporter.kernel import retries

BOTOCORE_SERVICE = {"sfn": "stepfunctions"}
"""Resource service names Step Functions spells differently from botocore."""

START_SYNC_PREFIX = "StepFunctions"
"""Error prefix of the optimized ``states:startExecution`` integration."""

COMMON_ERRORS = {
    # "Common Errors" (every AWS API reference): errors any action can return, modelled
    # per operation or not. Only these may appear in ErrorEquals besides modelled ones.
    "AccessDeniedException": "the caller's role lacks a permission",
    "ExpiredTokenException": "the role session's credentials expired",
    "IncompleteSignature": "the request signature is malformed",
    "InternalFailure": "the service failed with an unknown error (HTTP 500)",
    "InvalidAction": "the action does not exist",
    "InvalidClientTokenId": "the access key is unknown",
    "NotAuthorized": "the caller may not perform the action",
    "OptInRequired": "the account is not subscribed to the service",
    "RequestExpired": "the request's date stamp is too far from now",
    "ServiceUnavailable": "a temporary failure of the server (HTTP 503)",
    "ThrottlingException": "the request was throttled",
    "ValidationError": "the input does not satisfy the API's constraints",
    "ValidationException": "the input does not satisfy the API's constraints (newer pages)",
}

STATES_ERRORS = {
    "States.ALL",
    "States.BranchFailed",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.Runtime",
    "States.TaskFailed",
    "States.Timeout",
}
"""Step Functions' own error names ("Error handling in Step Functions")."""

_SDK = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:::aws-sdk:(?P<service>[a-z0-9]+):(?P<action>[a-z][A-Za-z0-9]*)$"
)
_ATHENA_QUERY = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:::athena:startQueryExecution(?:\.sync)?$"
)
_START_SYNC = re.compile(r"^arn:(?P<partition>aws[a-z-]*):states:::states:startExecution\.sync:2$")


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(botocore_service: str) -> Any:
    return _session().get_service_model(botocore_service)


@dataclass(frozen=True)
class Integration:
    """What a Task's Resource calls."""

    kind: str
    """``aws-sdk``, ``athena`` (the optimized query integration) or ``startExecution.sync``."""
    partition: str
    service: str
    """The Resource's service name (``dynamodb``, ``sfn``...)."""
    action: str
    """The Resource's camelCase action."""
    prefix: str
    """Step Functions' prefix for the errors this task raises."""

    @property
    def botocore_service(self) -> str:
        return BOTOCORE_SERVICE.get(self.service, self.service)

    @property
    def operation(self) -> str:
        return self.action[:1].upper() + self.action[1:]

    def operation_model(self) -> OperationModel | None:
        model = service_model(self.botocore_service)
        if self.operation not in model.operation_names:
            return None
        return model.operation_model(self.operation)


def parse_resource(resource: str) -> Integration | None:
    """The integration a Task's Resource names, or None for one this checker cannot read."""
    if match := _SDK.match(resource):
        service = match["service"]
        return Integration(
            kind="aws-sdk",
            partition=match["partition"],
            service=service,
            action=match["action"],
            prefix=retries.SERVICE_PREFIX.get(service, "?"),
        )
    if match := _ATHENA_QUERY.match(resource):
        # The optimized integration takes StartQueryExecution's input as the API does
        # and names its errors as the aws-sdk one ("Call Athena with Step Functions").
        return Integration(
            kind="athena",
            partition=match["partition"],
            service="athena",
            action="startQueryExecution",
            prefix=retries.SERVICE_PREFIX["athena"],
        )
    if match := _START_SYNC.match(resource):
        return Integration(
            kind="startExecution.sync",
            partition=match["partition"],
            service="sfn",
            action="startExecution",
            prefix=START_SYNC_PREFIX,
        )
    return None


def modelled_errors(integration: Integration) -> set[str]:
    """botocore's error shapes for the operation, by their API names."""
    operation = integration.operation_model()
    return {shape.name for shape in operation.error_shapes} if operation else set()


def sfn_name(name: str) -> str:
    """An API error name as Step Functions reports it (``Exception`` appended if lacking)."""
    return name if name.endswith("Exception") else f"{name}Exception"


def required_retries(integration: Integration) -> set[str]:
    """Errors the task must retry: its modelled transient errors and the generic ones."""
    transient = modelled_errors(integration) & set(retries.TRANSIENT_REASONS)
    return {f"{integration.prefix}.{sfn_name(n)}" for n in (*transient, *retries.GENERIC_TRANSIENT)}


def is_jsonata(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def _pascal(name: str) -> str:
    """Step Functions spells every parameter in PascalCase, whatever botocore's casing."""
    return name[:1].upper() + name[1:]


def _members(shape: StructureShape) -> dict[str, Shape]:
    return {_pascal(name): member for name, member in shape.members.items()}


def _required(shape: StructureShape) -> list[str]:
    return [_pascal(name) for name in shape.required_members]


def check_value(value: Any, shape: Shape, path: str) -> list[str]:
    """Problems of a literal ``value`` for ``shape`` (JSONata is accepted anywhere)."""
    if is_jsonata(value):
        return []
    kind = shape.type_name
    problems: list[str] = []
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if shape.is_document_type:
            return []
        if not isinstance(value, dict):
            return [
                f"{path}: {type(value).__name__} given where structure {shape.name} is required"
            ]
        members = _members(shape)
        for key, item in value.items():
            if key not in members:
                problems.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                problems += check_value(item, members[key], f"{path}.{key}")
        problems += [
            f"{path}.{name}: required member of {shape.name} missing"
            for name in _required(shape)
            if name not in value
        ]
        if shape.is_tagged_union and len(value) != 1:
            problems.append(f"{path}: union {shape.name} needs exactly one member")
        return problems
    if kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__} given where a list is required"]
        problems += _length(value, shape, path)
        for index, item in enumerate(value):
            problems += check_value(item, shape.member, f"{path}[{index}]")
        return problems
    if kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__} given where a map is required"]
        for key, item in value.items():
            problems += check_value(key, shape.key, f"{path} key {key!r}")
            problems += check_value(item, shape.value, f"{path}[{key!r}]")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {type(value).__name__} {value!r} given where a string is required"]
        enum = list(getattr(shape, "enum", None) or [])
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} is not one of {enum}")
        pattern = shape.metadata.get("pattern")
        if pattern and _compiles(pattern) and not re.search(pattern, value):
            problems.append(f"{path}: {value!r} does not match {pattern!r}")
        return problems + _length(value, shape, path)
    if kind == "boolean":
        if not isinstance(value, bool):
            return [f"{path}: {type(value).__name__} {value!r} given where a boolean is required"]
        return []
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: {type(value).__name__} {value!r} given where an integer is required"]
        return _range(value, shape, path)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: {type(value).__name__} {value!r} given where a number is required"]
        return _range(value, shape, path)
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return [f"{path}: {type(value).__name__} given where a timestamp is required"]
        return []
    if kind == "blob":
        if not isinstance(value, str):
            return [f"{path}: {type(value).__name__} given where a blob (base64 text) is required"]
        return []
    return [f"{path}: shape type {kind} is not understood by this checker"]


@cache
def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _length(value: Any, shape: Shape, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        return [f"{path}: length {len(value)} is below the minimum {low}"]
    if high is not None and len(value) > high:
        return [f"{path}: length {len(value)} is above the maximum {high}"]
    return []


def _range(value: float, shape: Shape, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        return [f"{path}: {value} is below the minimum {low}"]
    if high is not None and value > high:
        return [f"{path}: {value} is above the maximum {high}"]
    return []


def _error_problems(
    integration: Integration, allowed: set[str], field: str, rules: list[dict[str, Any]]
) -> list[str]:
    problems = []
    for index, rule in enumerate(rules):
        for name in rule.get("ErrorEquals", []):
            where = f"{field}[{index}] {name!r}"
            if name.startswith("States."):
                if name not in STATES_ERRORS:
                    problems.append(f"{where}: not an error Step Functions defines")
                continue
            if not name.startswith(f"{integration.prefix}."):
                problems.append(
                    f"{where}: a {integration.service}:{integration.action} task raises "
                    f"{integration.prefix}.* errors only"
                )
                continue
            if not name.endswith("Exception"):
                problems.append(f"{where}: Step Functions names end in 'Exception'")
                continue
            if name.split(".", 1)[1] not in allowed:
                problems.append(
                    f"{where}: {integration.operation} neither models this error nor is it "
                    "a common error of every AWS API"
                )
    return problems


def check_task(state: Mapping[str, Any], partition: str | None = None) -> list[str]:
    """Every problem of one Task state against botocore; empty when it is sound."""
    resource = state.get("Resource", "")
    integration = parse_resource(resource)
    if integration is None:
        return [
            f"Resource {resource!r}: not an aws-sdk, athena:startQueryExecution or "
            "startExecution.sync:2 integration"
        ]
    problems: list[str] = []
    if partition is not None and integration.partition != partition:
        problems.append(f"Resource {resource!r}: partition is not {partition}")
    if integration.kind == "aws-sdk" and integration.service not in retries.SERVICE_PREFIX:
        problems.append(f"service {integration.service!r} has no entry in retries.SERVICE_PREFIX")
    if integration.botocore_service not in _session().get_available_services():
        return [*problems, f"service {integration.service!r} is unknown to botocore"]
    operation = integration.operation_model()
    if operation is None:
        return [
            *problems,
            f"{integration.botocore_service} has no operation {integration.operation}",
        ]

    # Arguments
    arguments = state.get("Arguments", {})
    if not is_jsonata(arguments):
        input_shape = operation.input_shape
        if input_shape is None:
            if arguments:
                problems.append(f"{integration.operation} takes no arguments")
        elif not isinstance(arguments, dict):
            problems.append("Arguments: neither an object nor a JSONata expression")
        else:
            members = _members(input_shape)
            for key, value in arguments.items():
                if key not in members:
                    problems.append(
                        f"Arguments.{key}: not a member of {integration.operation}'s input"
                    )
                elif integration.kind == "startExecution.sync" and key == "Input":
                    # The optimized integration takes the child's input as JSON (object or
                    # text) and serialises it for the string-typed API member itself.
                    continue
                else:
                    problems += check_value(value, members[key], f"Arguments.{key}")
            problems += [
                f"Arguments.{name}: required by {integration.operation}, missing"
                for name in _required(input_shape)
                if name not in arguments
            ]

    # Error names
    allowed = {sfn_name(n) for n in modelled_errors(integration)} | {
        sfn_name(n) for n in COMMON_ERRORS
    }
    retry_rules = list(state.get("Retry", []))
    problems += _error_problems(integration, allowed, "Retry", retry_rules)
    problems += _error_problems(integration, allowed, "Catch", list(state.get("Catch", [])))

    # Completeness: every transient error is retried
    retried = {name for rule in retry_rules for name in rule.get("ErrorEquals", [])}
    if "States.ALL" not in retried:
        problems += [
            f"Retry: transient error {name} is not retried"
            for name in sorted(required_retries(integration) - retried)
        ]
    return problems


def task_states(
    definition: Mapping[str, Any], path: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, state) of every Task, in Map item processors and Parallel branches too."""
    for name, state in definition.get("States", {}).items():
        where = f"{path}{name}"
        if state.get("Type") == "Task":
            yield where, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from task_states(processor, f"{where}/")
        for index, branch in enumerate(state.get("Branches", [])):
            yield from task_states(branch, f"{where}[{index}]/")


def operation_errors_drift(
    table: Mapping[tuple[str, str], tuple[str, ...]],
) -> list[str]:
    """Where a hand-kept OPERATION_ERRORS-like table differs from botocore's model."""
    problems = []
    for (service, action), listed in table.items():
        integration = parse_resource(f"arn:aws:states:::aws-sdk:{service}:{action}")
        if integration is None or integration.operation_model() is None:
            problems.append(f"{service}:{action}: no such botocore operation")
            continue
        expected = modelled_errors(integration) & set(retries.TRANSIENT_REASONS)
        if len(set(listed)) != len(listed):
            problems.append(f"{service}:{action}: duplicate names")
        if missing := expected - set(listed):
            problems.append(
                f"{service}:{action}: botocore models transient {sorted(missing)}, not listed"
            )
        modelled = modelled_errors(integration)
        if unmodelled := set(listed) - modelled:
            problems.append(
                f"{service}:{action}: lists {sorted(unmodelled)}, not modelled by botocore"
            )
        if untyped := (set(listed) & modelled) - set(retries.TRANSIENT_REASONS):
            problems.append(
                f"{service}:{action}: lists {sorted(untyped)}, not in TRANSIENT_REASONS"
            )
    return problems
