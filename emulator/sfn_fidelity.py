"""Makes moto's service integrations see and return what AWS's do.

- aws-sdk tasks get ISO-8601 strings for timestamps (AWS's wire shape), not datetimes;
- every call is validated against botocore's model, so a misspelt or mistyped
  parameter fails here as it would in AWS (moto turns validation off);
- ``states:startExecution`` takes AWS's PascalCase arguments and returns PascalCase
  fields, also for ``.sync:2`` results (moto passes them to boto3 as they are);
- aws-sdk errors are named ``<Service>.<Name>`` with the service in PascalCase
  ("Learning to use AWS service SDK integrations in Step Functions": ``AcmPca.``,
  ``S3.``): moto knows only ``DynamoDb`` and ``Sfn`` and otherwise keeps the Resource's
  lowercase name (``glue.EntityNotFoundException``), which AWS never reports; the name
  is the error's code, as AWS reports it, also for errors the service does not model
  (moto uses the exception's class name, ``ClientError`` for those);
- ``States.ALL`` does not catch ``States.DataLimitExceeded``: it is a terminal error
  ("Handling errors in Step Functions workflows", States.ALL and
  States.DataLimitExceeded); moto raises it for a task result over the 256 KiB payload
  quota but lets ``States.ALL`` catch it, which would hide the very failure a run must
  avoid. (The same page says ``States.ALL`` does not catch ``States.Runtime`` either;
  moto reports some JSONata evaluation failures as ``States.Runtime`` where AWS reports
  the catchable ``States.QueryEvaluationError``, so that rule is not applied here.)
- every call is authorised as the calling machine's role would be in AWS
  (``authorization``, ``authz_hooks``), before any injected fault;
- ``FAULTS`` lets a test make the next calls of one operation fail with a given error
  code, to prove how a machine handles it (test support: AWS has no such switch).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import threading
from collections import defaultdict
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from . import authz_hooks, clock

_CLIENT_MODULES = [
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
]


def iso8601(value: dt.datetime) -> str:
    """AWS's timestamp text: UTC, milliseconds, 'Z'."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _timestamps_to_text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso8601(value)
    if isinstance(value, dict):
        for key, inner in value.items():
            value[key] = _timestamps_to_text(inner)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            value[index] = _timestamps_to_text(inner)
    return value


def _after_call(parsed: dict[str, Any], **_: Any) -> None:
    _timestamps_to_text(parsed)


class Faults:
    """Errors the next aws-sdk calls of an operation will get, in order."""

    def __init__(self) -> None:
        self._queued: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        self._lock = threading.Lock()
        self.raised: list[tuple[str, str, str]] = []

    def inject(self, service: str, operation: str, code: str, times: int = 1, status: int = 400) -> None:
        """``service`` as in the Resource (``glue``), ``operation`` as botocore names it
        (``UpdateTable``)."""
        with self._lock:
            self._queued[(service, operation)].extend([(code, status)] * times)

    def reset(self) -> None:
        with self._lock:
            self._queued.clear()
            self.raised.clear()

    def take(self, service: str, operation: str) -> tuple[str, int] | None:
        with self._lock:
            queued = self._queued.get((service, operation))
            if not queued:
                return None
            fault = queued.pop(0)
            self.raised.append((service, operation, fault[0]))
            return fault


FAULTS = Faults()


class _Status:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def _injected_fault(service: str) -> Any:
    def before_call(model: Any, **_: Any) -> Any:
        fault = FAULTS.take(service, model.name)
        if fault is None:
            return None
        code, status = fault
        parsed = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "injected"},
        }
        return _Status(status), parsed

    return before_call


def _send_clock(request: Any, **_: Any) -> None:
    # In server mode the call is served by another thread: carry the caller's clock.
    request.headers[clock.HEADER] = repr(clock.now())


def validating_client(region: str, service: str, state_credentials: Any = None) -> BaseClient:
    """moto's client factory, with parameter validation on and AWS-shaped timestamps."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    kwargs: dict[str, Any] = {}
    if not botocore_stubber.enabled:
        kwargs["endpoint_url"] = f"http://localhost:{moto_server_port()}"
    client = boto3.client(
        service_name=service,
        region_name=region,
        aws_access_key_id="ak",
        aws_secret_access_key="sk",
        config=Config(
            parameter_validation=True,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=60,
            read_timeout=60,
        ),
        **kwargs,
    )
    client.meta.events.register("after-call", _after_call)
    client.meta.events.register("before-call", _injected_fault(service))
    authz_hooks.register_client(client, region, service)
    client.meta.events.register("request-created", _send_clock)
    return client


def _service_cased_parameters(
    self: Any,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """aws-sdk tasks take the API's parameter names in PascalCase at every level, also
    where the API spells them camelCase ("AWS SDK service integrations": e.g. Glue's
    ``TableOptimizerConfiguration.RoleArn`` for ``roleArn``); moto passes them to boto3
    as they are. Rename each key that differs from a member of the model only in its
    first letter's case; values are left as they are."""
    service = self._get_boto_service_name(boto_service_name)
    action = service_action_name or self.resource.api_action
    shape = _input_shape(service, action[:1].upper() + action[1:])
    if shape is not None:
        _rename_members(parameters, shape)


@functools.cache
def _input_shape(service: str, operation: str) -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def _rename_members(value: Any, shape: Any) -> None:
    if isinstance(value, dict) and shape.type_name == "structure":
        members = {_first_lower(name): name for name in shape.members}
        for key in list(value):
            if key in shape.members:
                _rename_members(value[key], shape.members[key])
                continue
            name = members.get(_first_lower(key))
            if name is not None and name not in value:
                value[name] = value.pop(key)
                _rename_members(value[name], shape.members[name])
    elif isinstance(value, list) and shape.type_name == "list":
        for item in value:
            _rename_members(item, shape.member)


def _first_lower(key: str) -> str:
    return key[:1].lower() + key[1:]


def _first_upper(key: str) -> str:
    return key[:1].upper() + key[1:]


def _pascal_case_in_place(value: dict[str, Any]) -> None:
    for key in list(value):
        value[_first_upper(key)] = value.pop(key)


# Service names as Step Functions spells them in error names (the SDK clients' names).
_ERROR_SERVICE_NAMES = {
    "athena": "Athena",
    "cloudwatch": "CloudWatch",
    "glue": "Glue",
    "pipes": "Pipes",
    "s3": "S3",
    "sqs": "Sqs",
    "ssm": "Ssm",
}


def install() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    aws_sdk._SERVICE_ERROR_NAMES.update(_ERROR_SERVICE_NAMES)

    def exception_name(service_name: str, ex: Exception) -> str:
        code = getattr(ex, "response", {}).get("Error", {}).get("Code") or type(ex).__name__
        return f"{service_name}.{code}" + ("" if code.endswith("Exception") else "Exception")

    aws_sdk.StateTaskServiceAwsSdk._normalise_exception_name = staticmethod(exception_name)  # type: ignore[method-assign,assignment]
    aws_sdk.StateTaskServiceAwsSdk._normalise_parameters = _service_cased_parameters  # type: ignore[method-assign]
    for name in _CLIENT_MODULES:
        module = importlib.import_module(name)
        module.boto_client_for = validating_client  # type: ignore[attr-defined]

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn,
    )

    service = sfn.StateTaskServiceSfn
    original_normalise = service._normalise_parameters
    original_output_of = service._sync2_api_output_of

    def normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):  # type: ignore[no-untyped-def]
        original_normalise(self, parameters, boto_service_name, service_action_name)
        for key in list(parameters):
            parameters[_first_lower(key)] = parameters.pop(key)

    def eval_service_task(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):  # type: ignore[no-untyped-def]
        client = validating_client(
            region=resource_runtime_part.region,
            service=self._get_boto_service_name(),
            state_credentials=state_credentials,
        )
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        _pascal_case_in_place(response)
        env.stack.append(response)

    def sync2_output_of(typ, value):  # type: ignore[no-untyped-def]
        original_output_of(typ, value)
        _timestamps_to_text(value)
        _pascal_case_in_place(value)

    _terminal_data_limit()
    service._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    service._eval_service_task = eval_service_task  # type: ignore[method-assign]
    service._sync2_api_output_of = staticmethod(sync2_output_of)  # type: ignore[method-assign]


def _terminal_data_limit() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    decl = error_equals_decl.ErrorEqualsDecl
    original = decl._eval_body
    terminal = StatesErrorNameType.StatesStatesDataLimitExceeded

    def eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        wildcard = decl._STATE_ALL_ERROR in self.error_names
        if wildcard and isinstance(error_name, StatesErrorName) and error_name.typ == terminal:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    decl._eval_body = eval_body  # type: ignore[method-assign]


def cache_parsed_definitions() -> None:
    """Parse each definition once. moto parses a definition (about 0.3 s for the table
    export machine) when the machine is created and again at every execution; its
    parsed components keep no evaluation state (that lives in each execution's
    environment), so one parse serves every execution. Speed only: nothing changes in
    what a definition does."""
    from functools import lru_cache

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse = lru_cache(maxsize=64)(AmazonStateLanguageParser.parse)
    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
