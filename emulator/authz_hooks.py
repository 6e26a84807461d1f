"""Where the emulator asks ``authorization.REGISTRY``: every aws-sdk call a state machine
makes, the writes and reads DynamoDB makes for the caller of an export or import, and
the Distributed Map's ResultWriter. Each place names the AWS page it follows.
"""

from __future__ import annotations

from typing import Any

from .authorization import REGISTRY, AccessDenied, acting_as, current_principal, principal_of_env
from .iam_requests import (
    list_request,
    put_requests,
    read_requests,
    requests,
    s3_request,
    write_encryption,
)

EXPORT_ACCESS_DENIED = "S3AccessDenied"
"""FailureCode of an export or import DynamoDB could not write or read as its caller
(undocumented which code AWS reports)."""


def denied_response(service: str, error: AccessDenied) -> tuple[int, dict[str, Any]]:
    """The service's own shape of AccessDenied: S3 answers 403 ``AccessDenied`` ("Error
    responses", S3 API reference, also for a KMS key S3 may not use for the caller);
    JSON services 400 ``AccessDeniedException`` ("Common Errors")."""
    if service == "s3":
        code, status, message = "AccessDenied", 403, f"Access Denied ({error})"
    else:
        code, status, message = "AccessDeniedException", 400, str(error)
    return status, {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "authorization"},
    }


class _Status:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def _object_exists(bucket: str, key: str) -> bool:
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket)
    if not found:
        return False
    partition, account = found
    stored = s3_backends[account][partition].buckets.get(bucket)
    return stored is not None and key in stored.keys


def check_call(
    principal: str, service: str, operation: str, params: dict[str, Any], region: str, account: str
) -> None:
    """Raise ``AccessDenied`` if IAM would refuse the call.

    S3 GetObject/HeadObject of a missing key: 404 ``NoSuchKey`` only if the caller may
    ``s3:ListBucket``, else 403 (S3 API reference, GetObject, "Permissions")."""
    if service == "s3" and operation in ("GetObject", "HeadObject"):
        bucket, key = params["Bucket"], params["Key"]
        REGISTRY.check(principal, [s3_request("s3:GetObject", bucket, key)])
        exists = _object_exists(bucket, key)
        if not exists:
            REGISTRY.check(principal, [list_request(bucket, {})])
            return
        REGISTRY.check(principal, read_requests(bucket, key, region, exists=True)[1:])
        return
    REGISTRY.check(principal, requests(service, operation, params, region, account))
    if service == "s3" and operation == "PutObject":
        with REGISTRY.lock:
            REGISTRY.objects[(params["Bucket"], params["Key"])] = write_encryption(
                params["Bucket"], params
            )


def register_client(client: Any, region: str, service: str) -> None:
    """Check each call of ``client`` (made by the emulator for a state machine) as the
    role the calling thread acts as; the parameters are taken before they are
    serialised, the decision made after botocore has validated them."""

    def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["emulator_params"] = dict(params)

    def before_call(model: Any, context: dict[str, Any], **_: Any) -> Any:
        principal = current_principal()
        if principal is None:
            return None
        account = principal.split(":")[4]
        params = context.get("emulator_params", {})
        try:
            check_call(principal, service, model.name, params, region, account)
        except AccessDenied as error:
            status, parsed = denied_response(service, error)
            return _Status(status), parsed
        return None

    client.meta.events.register("before-parameter-build", keep_params)
    client.meta.events.register_first("before-call", before_call)


# -- state machines --------------------------------------------------------------------


def _install_machines() -> None:
    """Executions act as their state machine's role (moto stores ``roleArn`` at
    ``CreateStateMachine``); every task's calls, ``.sync`` polling included, are made
    in the thread that evaluates the task."""
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    original_create = StepFunctionBackend.create_state_machine

    def create_state_machine(self: Any, name: str, definition: str, roleArn: str, **kw: Any) -> Any:
        machine = original_create(self, name, definition, roleArn, **kw)
        REGISTRY.set_machine_role(machine.arn, roleArn)
        return machine

    StepFunctionBackend.create_state_machine = create_state_machine  # type: ignore[method-assign,assignment]

    original_eval = StateTaskService._eval_execution

    def eval_execution(self: Any, env: Any) -> None:
        with acting_as(principal_of_env(env)):
            original_eval(self, env)

    StateTaskService._eval_execution = eval_execution  # type: ignore[method-assign]


def _result_writer_failed(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    name = StatesErrorName(typ=StatesErrorNameType.StatesResultWriterFailed)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                mapRunFailedEventDetails=MapRunFailedEventDetails(
                    error=name.error_name, cause=cause
                )
            ),
        )
    )


def _install_result_writer() -> None:
    """The ResultWriter writes as the machine's role, and only to a bucket in the
    machine's own account and Region; otherwise the Map fails with
    ``States.ResultWriterFailed`` ("ResultWriter (Map)", Step Functions developer guide)."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    original = resource_eval_s3.ResourceEvalS3._handle_put_object

    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        principal = principal_of_env(env)
        if principal is None or not REGISTRY.enabled:
            return original(env, resource_runtime_part, state_credentials)  # type: ignore[no-any-return]
        bucket = env.stack[-1]["Bucket"]
        machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
        _, _, _, region, account = machine.split(":")[:5]
        owner = REGISTRY.bucket_owner(bucket, account)
        location = _bucket_region(bucket) or region
        if owner != account or location != region:
            raise _result_writer_failed(
                env,
                f"The ResultWriter bucket {bucket} (account {owner}, Region {location}) is not "
                f"in the state machine's account {account} and Region {region}.",
            )
        with acting_as(principal):
            try:
                return original(env, resource_runtime_part, state_credentials)  # type: ignore[no-any-return]
            except ClientError as error:
                raise _result_writer_failed(env, str(error)) from error

    resource_eval_s3.ResourceEvalS3._handle_put_object = staticmethod(put_object)  # type: ignore[method-assign]


def _bucket_region(bucket: str) -> str | None:
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket)
    if not found:
        return None
    stored = s3_backends[found[1]][found[0]].buckets.get(bucket)
    return str(stored.region_name) if stored is not None else None


# -- exports and imports ---------------------------------------------------------------


def export_requests(request: dict[str, Any], export_arn: str, region: str) -> list[Any]:
    """What DynamoDB does as the export's caller ("Requesting a table export in
    DynamoDB": the caller needs ``s3:PutObject`` on the destination; with SSE-KMS the
    caller's KMS permissions are used): a PUT of each object the export writes
    (``_started``, manifests, data), with the export's encryption."""
    bucket = request["S3Bucket"]
    prefix = request.get("S3Prefix") or ""
    root = f"{prefix}/AWSDynamoDB" if prefix else "AWSDynamoDB"
    export_id = export_arn.rsplit("/", 1)[-1]
    params: dict[str, Any] = {}
    if request.get("S3SseAlgorithm") == "KMS":
        params = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": request.get("S3SseKmsKeyId")}
    elif request.get("S3SseAlgorithm") == "AES256":
        params = {"ServerSideEncryption": "AES256"}
    keys = [f"{root}/{export_id}/{name}" for name in ("_started", "manifest-summary.json")]
    keys.append(
        f"{root}/data/{export_id}.json.gz"
        if request.get("ExportType") == "INCREMENTAL_EXPORT"
        else f"{root}/{export_id}/data/{export_id}.json.gz"
    )
    out: list[Any] = []
    for key in keys:
        out.extend(put_requests(bucket, key, region, params))
    return out


def _install_exports() -> None:
    from . import export_model

    model = export_model.ExportModel
    original_start = model.start
    original_finish = model._finish
    original_write = model._write_files

    def start(self: Any, backend: Any, body: dict[str, Any]) -> dict[str, Any]:
        principal = current_principal()
        described = original_start(self, backend, body)
        export = self.exports.get(described["ExportArn"])
        if principal is not None and export is not None and not hasattr(export, "_denied"):
            try:
                REGISTRY.check(principal, export_requests(body, export.arn, backend.region_name))
                export._denied = None
            except AccessDenied as error:
                export._denied = str(error)
        return described  # type: ignore[no-any-return]

    def finish(self: Any, backend: Any, export: Any, at: float) -> None:
        denied = getattr(export, "_denied", None)
        if denied and not export.behaviour.fail_code:
            export.end = export.completed_at = at
            export.status = "FAILED"
            export.failure_code = EXPORT_ACCESS_DENIED
            export.failure_message = denied
            return
        original_finish(self, backend, export, at)

    def write_files(self: Any, s3: Any, bucket: str, export: Any) -> None:
        original_write(self, s3, bucket, export)
        params: dict[str, Any] = {}
        if export.request.get("S3SseAlgorithm") == "KMS":
            params = {
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": export.request.get("S3SseKmsKeyId"),
            }
        encryption = write_encryption(bucket, params)
        stored = s3.buckets.get(bucket)
        prefix = export.request.get("S3Prefix") or ""
        with REGISTRY.lock:
            for key in list(stored.keys) if stored is not None else []:
                if key.startswith(prefix) and (bucket, key) not in REGISTRY.objects:
                    REGISTRY.objects[(bucket, key)] = encryption

    model.start = start  # type: ignore[method-assign]
    model._finish = finish  # type: ignore[method-assign]
    model._write_files = write_files  # type: ignore[method-assign]


def import_requests(bucket: str, prefix: str, keys: list[str], region: str) -> list[Any]:
    """What DynamoDB does as the import's caller ("Requesting a table import in
    DynamoDB": ``s3:ListBucket`` and ``s3:GetObject`` on the source, ``kms:Decrypt``
    for SSE-KMS objects): list the prefix, then read each object."""
    out: list[Any] = [list_request(bucket, {"Prefix": prefix})]
    for key in keys:
        out.extend(read_requests(bucket, key, region, exists=True))
    return out


def _install_imports() -> None:
    from . import import_model

    model = import_model.ImportModel
    original_start = model.start

    def start(self: Any, handler: Any, body: dict[str, Any]) -> dict[str, Any]:
        principal = current_principal()
        described = original_start(self, handler, body)
        imp = self.imports.get(described["ImportArn"])
        if imp is not None and not hasattr(imp, "_principal"):
            imp._principal = principal
        return described  # type: ignore[no-any-return]

    def read_denied(
        self: Any, imp: Any, bucket: str, prefix: str, keys: list[str], region: str
    ) -> tuple[str, str] | None:
        principal = getattr(imp, "_principal", None)
        if principal is None:
            return None
        try:
            REGISTRY.check(principal, import_requests(bucket, prefix, keys, region))
        except AccessDenied as error:
            return EXPORT_ACCESS_DENIED, str(error)
        return None

    model.start = start  # type: ignore[method-assign]
    model.read_denied = read_denied  # type: ignore[method-assign]


_installed = False


def install() -> None:
    """Apply once, after the other fidelity patches (it wraps the ResultWriter's)."""
    global _installed
    if _installed:
        return
    _install_machines()
    _install_result_writer()
    _install_exports()
    _install_imports()
    _installed = True
