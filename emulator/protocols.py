"""botocore and moto must speak the same wire protocol to every service the emulator serves.

botocore chooses a service's protocol from its service model (``metadata.protocols``);
moto answers only the protocols its handlers were written for. When a botocore release
moves a service to another protocol (botocore 1.44.18 moved Athena from ``json`` to
``rest-json``), every call to that service reaches moto as an unknown URL and comes back
as a bare 404 deep inside a test. ``check`` finds that at start and says so in one line.

Where AWS still documents the older protocol for a service, ``install`` keeps botocore
speaking it, so a newer botocore runs against today's moto without changing any
operation, member or error the model describes:

- Athena: the API reference shows every request as
  ``Content-Type: application/x-amz-json-1.1`` with ``X-Amz-Target: AmazonAthena.<Operation>``
  (Amazon Athena API Reference, e.g. "StartQueryExecution", "Request Syntax").
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import botocore
import botocore.session
import moto
from botocore.exceptions import ClientError
from botocore.loaders import Loader

JSON_PROTOCOL: dict[str, dict[str, str]] = {
    "athena": {"jsonVersion": "1.1", "targetPrefix": "AmazonAthena"},
}
"""Services whose documented JSON protocol the emulator keeps, with its metadata."""

PROBES: dict[str, tuple[str, dict[str, Any]]] = {
    "athena": ("list_work_groups", {}),
    "cloudwatch": ("describe_alarms", {}),
    "dynamodb": ("list_tables", {}),
    "glue": ("get_databases", {}),
    "kms": ("list_keys", {}),
    "logs": ("describe_log_groups", {}),
    "s3": ("list_buckets", {}),
    "sns": ("list_topics", {}),
    "sqs": ("list_queues", {}),
    "ssm": ("describe_parameters", {}),
    "stepfunctions": ("list_state_machines", {}),
}
"""One read-only call per service the machines, tests and demo use."""


class ProtocolMismatch(RuntimeError):
    """botocore speaks a protocol to a service that the installed moto does not answer."""


def protocol(service: str) -> str:
    """The protocol botocore uses for ``service`` (the first it supports from the model)."""
    session = botocore.session.get_session()
    metadata = session.get_service_model(service).metadata
    return str(metadata.get("protocols", [metadata["protocol"]])[0])


def _keep_json(model: dict[str, Any], service: str) -> dict[str, Any]:
    metadata = model.get("metadata", {})
    protocols = metadata.get("protocols", [metadata.get("protocol")])
    if service not in JSON_PROTOCOL or protocols[0] == "json":
        return model
    kept = copy.deepcopy(model)
    kept["metadata"].update(protocol="json", protocols=["json"], **JSON_PROTOCOL[service])
    return kept


_installed = False


def install() -> None:
    """Make botocore keep the documented JSON protocol for the services in JSON_PROTOCOL."""
    global _installed
    if _installed:
        return
    original = Loader.load_service_model
    kept: dict[tuple[str, str | None], dict[str, Any]] = {}

    def load_service_model(
        self: Loader, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        model = original(self, service_name, type_name, api_version)
        if type_name != "service-2" or service_name not in JSON_PROTOCOL:
            return model
        key = (service_name, api_version)
        if key not in kept:
            kept[key] = _keep_json(model, service_name)
        return kept[key]

    Loader.load_service_model = load_service_model  # type: ignore[method-assign]
    _installed = True


def check(client: Callable[[str], Any], services: dict[str, tuple[str, dict[str, Any]]] = PROBES) -> None:
    """Call each service once; a 404 for the call itself means the protocols disagree."""
    for service, (operation, kwargs) in services.items():
        try:
            getattr(client(service), operation)(**kwargs)
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status != 404:
                continue
            raise ProtocolMismatch(
                f"emulator: botocore {botocore.__version__} speaks {protocol(service)} to "
                f"{service} but moto {moto.__version__} does not answer it ({operation} got "
                f"404); install the locked versions with `make install`, or keep botocore "
                f"below the release that changed {service}'s protocol (locks/constraints.txt)"
            ) from None


def check_in_process() -> None:
    """``check`` against moto in this process, with the emulator installed."""
    import boto3
    from moto import mock_aws

    from . import install as install_emulator

    with mock_aws():
        install_emulator()
        check(lambda service: boto3.client(service, region_name="us-east-1"))
