"""Makes moto's service integrations see and return what AWS's do.

- aws-sdk tasks get ISO-8601 strings for timestamps (AWS's wire shape), not datetimes;
- every call is validated against botocore's model, so a misspelt or mistyped
  parameter fails here as it would in AWS (moto turns validation off);
- ``states:startExecution`` takes AWS's PascalCase arguments and returns PascalCase
  fields, also for ``.sync:2`` results (moto passes them to boto3 as they are).
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from . import clock

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
    client.meta.events.register("request-created", _send_clock)
    return client


def _first_lower(key: str) -> str:
    return key[:1].lower() + key[1:]


def _first_upper(key: str) -> str:
    return key[:1].upper() + key[1:]


def _pascal_case_in_place(value: dict[str, Any]) -> None:
    for key in list(value):
        value[_first_upper(key)] = value.pop(key)


def install() -> None:
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

    service._normalise_parameters = normalise_parameters
    service._eval_service_task = eval_service_task
    service._sync2_api_output_of = staticmethod(sync2_output_of)
