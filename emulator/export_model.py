"""A DynamoDB export that behaves like AWS's, on top of moto's tables and buckets.

moto finishes every export instantly, ignores ``ClientToken`` and never throttles.
This model keeps AWS's contract instead:

- ``ClientToken``: the same token with the same parameters returns the export that
  token started (no second export); with other parameters it is rejected;
- an export takes ``duration_seconds`` of virtual time (see ``clock``) and is a
  snapshot of the table when it started;
- per table, the next start requests can be answered ``LimitExceededException`` or
  ``InternalServerError``, the export can end ``FAILED`` with a code and message, or
  the caller can be denied;
- a completed export writes AWS's layout under ``<prefix>/AWSDynamoDB/<id>/``:
  ``_started``, ``manifest-summary.json``, ``manifest-files.json`` and gzipped
  ``data/*.json.gz`` (DynamoDB JSON, one ``{"Item": ...}`` per line); a missing bucket
  ends the export ``FAILED`` with ``S3NoSuchBucket``.

Tests configure behaviour with ``MODEL.behave(table, ...)`` and read back what was
requested from ``MODEL.requests`` and ``MODEL.exports``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError

from . import clock

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class DynamoError(JsonRESTError):
    def __init__(self, name: str, message: str, status: int = 400) -> None:
        super().__init__(ERROR_PREFIX + name, message)
        self.code = status


@dataclass
class Behaviour:
    """How exports of one table behave."""

    duration_seconds: float = 240.0
    limit_exceeded: int = 0
    """Answer this many upcoming start requests with LimitExceededException."""
    internal_errors: int = 0
    """Answer this many upcoming start requests with InternalServerError."""
    fail_code: str | None = None
    fail_message: str = "The export failed"
    denied: bool = False


@dataclass
class Export:
    arn: str
    table_arn: str
    request: dict[str, Any]
    start: float
    behaviour: Behaviour
    items: list[dict[str, Any]]
    status: str = "IN_PROGRESS"
    end: float | None = None
    completed_at: float | None = None
    detected_at: float | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    billed_bytes: int = 0
    manifest_key: str | None = None

    @property
    def export_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]

    def description(self) -> dict[str, Any]:
        req = self.request
        out: dict[str, Any] = {
            "ExportArn": self.arn,
            "ExportStatus": self.status,
            "StartTime": self.start,
            "TableArn": self.table_arn,
            "TableId": hashlib.md5(self.table_arn.encode()).hexdigest()[:32],
            "ExportTime": self.start,
            "ClientToken": req.get("ClientToken"),
            "S3Bucket": req["S3Bucket"],
            "S3Prefix": req.get("S3Prefix"),
            "S3SseAlgorithm": req.get("S3SseAlgorithm", "AES256"),
            "ExportFormat": req.get("ExportFormat", "DYNAMODB_JSON"),
            "ExportType": req.get("ExportType", "FULL_EXPORT"),
        }
        for key in ("S3BucketOwner", "S3SseKmsKeyId"):
            if req.get(key):
                out[key] = req[key]
        if self.end is not None:
            out["EndTime"] = self.end
        if self.status == "COMPLETED":
            out["ItemCount"] = len(self.items)
            out["BilledSizeBytes"] = self.billed_bytes
            out["ExportManifest"] = self.manifest_key
        if self.status == "FAILED":
            out["FailureCode"] = self.failure_code
            out["FailureMessage"] = self.failure_message
        return out


_SIGNIFICANT = (
    "TableArn",
    "S3Bucket",
    "S3BucketOwner",
    "S3Prefix",
    "S3SseAlgorithm",
    "S3SseKmsKeyId",
    "ExportFormat",
    "ExportType",
    "ExportTime",
    "IncrementalExportSpecification",
)


@dataclass
class ExportModel:
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    default: Behaviour = field(default_factory=Behaviour)
    exports: dict[str, Export] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.behaviours.clear()
            self.default = Behaviour()
            self.exports.clear()
            self.tokens.clear()
            self.requests.clear()

    def behave(self, table_name: str, **settings: Any) -> Behaviour:
        with self.lock:
            behaviour = Behaviour(**settings)
            self.behaviours[table_name] = behaviour
            return behaviour

    def exports_of(self, table_name: str) -> list[Export]:
        return [e for e in self.exports.values() if e.table_arn.endswith(f":table/{table_name}")]

    # -- API -------------------------------------------------------------------------

    def start(self, backend: Any, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(dict(body))
            table_arn = body["TableArn"]
            name = table_arn.split(":table/", 1)[-1]
            behaviour = self.behaviours.get(name, self.default)
            if behaviour.denied:
                raise DynamoError(
                    "AccessDeniedException",
                    f"User is not authorized to perform: dynamodb:ExportTableToPointInTime on resource: {table_arn}",
                )
            if behaviour.limit_exceeded > 0:
                behaviour.limit_exceeded -= 1
                raise DynamoError(
                    "LimitExceededException",
                    "There is a limit of 300 concurrent exports per account and region",
                )
            if behaviour.internal_errors > 0:
                behaviour.internal_errors -= 1
                raise DynamoError("InternalServerError", "Internal server error", status=500)
            token = body.get("ClientToken")
            if token and token in self.tokens:
                existing = self.exports[self.tokens[token]]
                if any(existing.request.get(k) != body.get(k) for k in _SIGNIFICANT):
                    raise DynamoError(
                        "ExportConflictException",
                        "ClientToken was used before with different parameters",
                    )
                return existing.description()
            table = next((t for t in backend.tables.values() if t.table_arn == table_arn), None)
            if table is None:
                raise DynamoError("TableNotFoundException", f"Table not found: {table_arn}")
            pitr = table.continuous_backups["PointInTimeRecoveryDescription"]
            if pitr["PointInTimeRecoveryStatus"] != "ENABLED":
                raise DynamoError(
                    "PointInTimeRecoveryUnavailableException",
                    f"Point in time recovery is not enabled for table '{name}'",
                )
            started = clock.now()
            export_id = f"{int(started * 1000):014d}-{uuid.uuid4().hex[:8]}"
            export = Export(
                arn=f"{table_arn}/export/{export_id}",
                table_arn=table_arn,
                request=dict(body),
                start=started,
                behaviour=behaviour,
                items=[item.to_json(root_attr_name="Item") for item in table.all_items()],
            )
            self.exports[export.arn] = export
            if token:
                self.tokens[token] = export.arn
            return export.description()

    def describe(self, backend: Any, export_arn: str) -> dict[str, Any]:
        with self.lock:
            export = self.exports.get(export_arn)
            if export is None:
                raise DynamoError("ExportNotFoundException", f"Export not found: {export_arn}")
            now = clock.now()
            if (
                export.status == "IN_PROGRESS"
                and now >= export.start + export.behaviour.duration_seconds
            ):
                self._finish(backend, export, export.start + export.behaviour.duration_seconds)
                export.detected_at = now
            return export.description()

    # -- completion ---------------------------------------------------------------------

    def _finish(self, backend: Any, export: Export, at: float) -> None:
        from moto.s3.models import s3_backends

        export.end = at
        export.completed_at = at
        behaviour = export.behaviour
        if behaviour.fail_code:
            export.status = "FAILED"
            export.failure_code = behaviour.fail_code
            export.failure_message = behaviour.fail_message
            return
        owner = export.request.get("S3BucketOwner") or backend.account_id
        s3 = s3_backends[owner][backend.partition]
        bucket = export.request["S3Bucket"]
        if bucket not in s3.buckets:
            export.status = "FAILED"
            export.failure_code = "S3NoSuchBucket"
            export.failure_message = "The specified bucket does not exist"
            return
        self._write_files(s3, bucket, export)
        export.status = "COMPLETED"

    def _write_files(self, s3: Any, bucket: str, export: Export) -> None:
        prefix = export.request.get("S3Prefix") or ""
        base = (
            f"{prefix}/AWSDynamoDB/{export.export_id}"
            if prefix
            else f"AWSDynamoDB/{export.export_id}"
        )
        lines = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in export.items)
        data = gzip.compress(lines.encode("utf-8"))
        data_key = f"{base}/data/{uuid.uuid4().hex[:26]}.json.gz"
        export.billed_bytes = len(lines.encode("utf-8"))
        files_line = json.dumps(
            {
                "itemCount": len(export.items),
                "md5Checksum": hashlib.md5(data).hexdigest(),
                "etag": hashlib.md5(data).hexdigest(),
                "dataFileS3Key": data_key,
            }
        )
        summary = {
            "version": "2020-06-30",
            "exportArn": export.arn,
            "tableArn": export.table_arn,
            "s3Bucket": bucket,
            "s3Prefix": prefix,
            "itemCount": len(export.items),
            "billedSizeBytes": export.billed_bytes,
            "outputFormat": export.request.get("ExportFormat", "DYNAMODB_JSON"),
            "exportType": export.request.get("ExportType", "FULL_EXPORT"),
            "manifestFilesS3Key": f"{base}/manifest-files.json",
        }
        objects = {
            f"{base}/_started": b"",
            data_key: data,
            f"{base}/manifest-files.json": (files_line + "\n").encode(),
            f"{base}/manifest-summary.json": json.dumps(summary).encode(),
        }
        for key, body in list(objects.items()):
            if key.endswith(".json"):
                objects[key + ".md5"] = hashlib.md5(body).hexdigest().encode()
        for key, body in objects.items():
            s3.put_object(bucket_name=bucket, key_name=key, value=body)
        export.manifest_key = f"{base}/manifest-summary.json"


MODEL = ExportModel()


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    def caller_clock(handler: Any) -> None:
        value = handler.headers.get(clock.HEADER)
        clock.adopt(float(value) if value else None)

    def export_table_to_point_in_time(self: Any) -> Any:
        caller_clock(self)
        return ActionResult({"ExportDescription": MODEL.start(self.dynamodb_backend, self.body)})

    def describe_export(self: Any) -> Any:
        caller_clock(self)
        return ActionResult(
            {"ExportDescription": MODEL.describe(self.dynamodb_backend, self.body["ExportArn"])}
        )

    DynamoHandler.export_table_to_point_in_time = export_table_to_point_in_time  # type: ignore[method-assign]
    DynamoHandler.describe_export = describe_export  # type: ignore[method-assign]
