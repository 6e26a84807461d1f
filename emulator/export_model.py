"""A DynamoDB export that behaves like AWS's, on top of moto's tables and buckets.

moto finishes every export instantly, ignores ``ClientToken``, never throttles, ignores
``INCREMENTAL_EXPORT`` and writes only ``data/<uuid>.gz``. This model replaces moto's
ExportTableToPointInTime and DescribeExport. Each behaviour it adds or changes, with the
AWS page it follows ("undocumented" where AWS says nothing and the model picks one):

- ``ClientToken``: the same token with the same parameters returns the export that
  token started, no second export ("ExportTableToPointInTime", API reference); the same
  token with other parameters is rejected with ``CLIENT_TOKEN_CONFLICT`` (see there:
  the API reference and botocore's model disagree on the name). The 8-hour validity is
  not modelled (tokens never expire here);
- point-in-time recovery must be on, else ``PointInTimeRecoveryUnavailableException``;
  an unknown table is ``TableNotFoundException`` ("ExportTableToPointInTime");
- a full export is a snapshot of the table when it started or, given ``ExportTime``,
  as of that time ("ExportTableToPointInTime": a time in the past inside the recovery
  window, else ``InvalidExportTimeException``); see ``change_log``;
- an incremental export (``ExportType: INCREMENTAL_EXPORT``) holds each item's net
  change in ``[ExportFromTime, ExportToTime)`` ("IncrementalExportSpecification";
  contents per "DynamoDB table export output format", see
  ``change_log.incremental_records``). ``ExportViewType`` defaults to
  ``NEW_AND_OLD_IMAGES`` ("IncrementalExportSpecification"). Windows shorter than 15
  minutes or longer than 24 hours, or outside the recovery window, are
  ``InvalidExportTimeException`` (the limits: AWS blog "Introducing incremental export
  from Amazon DynamoDB to Amazon S3"; the error name for them: undocumented). Without
  ``ExportToTime`` the window ends at ``LatestRestorableDateTime``
  ("IncrementalExportSpecification": "the latest time with data available"). An
  incremental request without ``ExportFromTime``, or with ``ExportTime``, is a
  ``ValidationException`` (undocumented);
- an export takes ``Behaviour.duration_seconds`` of virtual time (see ``clock``;
  AWS gives no duration, undocumented) and completes when a DescribeExport sees it due;
- per table, tests can make the next start requests fail with
  ``LimitExceededException`` (``Behaviour.limit_exceeded``, full and incremental alike)
  or ``InternalServerError`` (``internal_errors``), the next DescribeExport calls fail
  with ``LimitExceededException`` (``describe_limit_exceeded``), the export end
  ``FAILED`` with a code and message, or the caller be denied. These errors are the
  ones botocore's model lists for ExportTableToPointInTime and DescribeExport; when AWS
  raises them is undocumented beyond "LimitExceededException" (API reference: too many
  concurrent operations; "Service, account, and table quotas in Amazon DynamoDB": 300
  concurrent exports);
- a missing bucket ends the export ``FAILED`` with ``S3NoSuchBucket`` (as moto does;
  the code: undocumented);
- a completed export writes AWS's layout ("DynamoDB table export output format"):
  ``_started``, ``manifest-summary.json``, ``manifest-summary.checksum``,
  ``manifest-files.json`` and ``manifest-files.checksum`` under
  ``<S3Prefix>/AWSDynamoDB/<ExportId>/``; the gzipped data files of a full export
  under ``<ExportId>/data/``, those of an incremental export in the folder all
  incremental exports to that prefix share, ``<S3Prefix>/AWSDynamoDB/data/``. Only
  ``manifest-files.json`` (``dataFileS3Key``) tells which data files belong to which
  export; see ``_write_files`` for each field.

Tests configure behaviour with ``MODEL.behave(table, ...)`` and read back what was
requested from ``MODEL.requests`` and ``MODEL.exports``.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError

from . import change_log, clock

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"
MIN_WINDOW_SECONDS = 15 * 60
MAX_WINDOW_SECONDS = 24 * 3600
VIEW_TYPES = (change_log.NEW_IMAGE, change_log.NEW_AND_OLD_IMAGES)
SHARED_DATA_FOLDER = "data"
"""Incremental exports' data files go to ``<S3Prefix>/AWSDynamoDB/data/``, shared by
every incremental export to that prefix ("DynamoDB table export output format")."""

CLIENT_TOKEN_CONFLICT = "ImportConflictException"
"""The error for a ``ClientToken`` reused with other parameters.

The API reference text of ExportTableToPointInTime (``ClientToken``) names
``ImportConflictException``, and that is what the model raises. botocore's model
disagrees: it lists only ``ExportConflictException`` among the operation's errors
(botocore 1.44.8 even words the ``ClientToken`` text with it), and documents
``ExportConflictException`` as a conflict writing to the S3 bucket. The name AWS
really answers with is therefore uncertain; tests may set this to
``"ExportConflictException"`` to run a consumer against the other reading."""


class DynamoError(JsonRESTError):
    def __init__(self, name: str, message: str, status: int = 400) -> None:
        super().__init__(ERROR_PREFIX + name, message)
        self.code = status


def _iso(seconds: float) -> str:
    value = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _invalid_time(message: str, window: tuple[float, float]) -> DynamoError:
    earliest, latest = (_iso(t) for t in window)
    return DynamoError(
        "InvalidExportTimeException",
        f"{message} (point-in-time recovery window: {earliest} to {latest})",
    )


@dataclass
class Behaviour:
    """How exports of one table behave."""

    duration_seconds: float = 240.0
    limit_exceeded: int = 0
    """Answer this many upcoming start requests (full or incremental) with
    LimitExceededException."""
    describe_limit_exceeded: int = 0
    """Answer this many upcoming DescribeExport calls for this table's exports with
    LimitExceededException (HTTP 400), counting down like ``limit_exceeded``."""
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
    """The data file's lines: ``{"Item": ...}`` or incremental records."""
    export_type: str = FULL_EXPORT
    export_time: float | None = None
    """Full exports: the snapshot's time (requested ``ExportTime`` or the start)."""
    export_from: float | None = None
    export_to: float | None = None
    view_type: str | None = None
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

    @property
    def window(self) -> tuple[float, float] | None:
        """``(from, to)`` of an incremental export, epoch seconds."""
        if self.export_from is None or self.export_to is None:
            return None
        return self.export_from, self.export_to

    def description(self) -> dict[str, Any]:
        req = self.request
        out: dict[str, Any] = {
            "ExportArn": self.arn,
            "ExportStatus": self.status,
            "StartTime": self.start,
            "TableArn": self.table_arn,
            "TableId": table_id(self.table_arn),
            "ClientToken": req.get("ClientToken"),
            "S3Bucket": req["S3Bucket"],
            "S3Prefix": req.get("S3Prefix"),
            "S3SseAlgorithm": req.get("S3SseAlgorithm", "AES256"),
            "ExportFormat": req.get("ExportFormat", "DYNAMODB_JSON"),
            "ExportType": self.export_type,
        }
        if self.export_type == INCREMENTAL_EXPORT:
            out["IncrementalExportSpecification"] = {
                "ExportFromTime": self.export_from,
                "ExportToTime": self.export_to,
                "ExportViewType": self.view_type,
            }
        else:
            out["ExportTime"] = self.export_time
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
                        CLIENT_TOKEN_CONFLICT,
                        "ClientToken was used before with different parameters",
                    )
                return existing.description()
            table = next((t for t in backend.tables.values() if t.table_arn == table_arn), None)
            if table is None:
                raise DynamoError("TableNotFoundException", f"Table not found: {table_arn}")
            if not change_log.pitr_enabled(table):
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
                items=[],
            )
            self._contents(table, body, export)
            self.exports[export.arn] = export
            if token:
                self.tokens[token] = export.arn
            return export.description()

    def _contents(self, table: Any, body: dict[str, Any], export: Export) -> None:
        """Validate the request's times and fill in what the export will hold."""
        export_type = body.get("ExportType") or FULL_EXPORT
        export.export_type = export_type
        window = change_log.pitr_window(table, export.start)
        assert window is not None  # recovery is on
        earliest, latest = (change_log.to_micros(t) for t in window)
        if export_type == FULL_EXPORT:
            if body.get("ExportTime") is None:
                export.export_time = export.start
                export.items = [item.to_json(root_attr_name="Item") for item in table.all_items()]
                return
            at = change_log.to_micros(body["ExportTime"])
            if not earliest <= at <= latest:
                raise _invalid_time(
                    "ExportTime must be within the table's point-in-time recovery window",
                    window,
                )
            export.export_time = at / change_log.MICROS
            snapshot = change_log.item_state_at(table, body["ExportTime"])
            export.items = [{"Item": snapshot[key]} for key in sorted(snapshot)]
            return
        if export_type != INCREMENTAL_EXPORT:
            raise DynamoError("ValidationException", f"Unknown ExportType: {export_type}")
        if body.get("ExportTime") is not None:
            raise DynamoError(
                "ValidationException", "ExportTime cannot be specified for an incremental export"
            )
        spec = body.get("IncrementalExportSpecification") or {}
        if spec.get("ExportFromTime") is None:
            raise DynamoError(
                "ValidationException",
                "IncrementalExportSpecification.ExportFromTime is required for an incremental export",
            )
        view_type = spec.get("ExportViewType") or change_log.NEW_AND_OLD_IMAGES
        if view_type not in VIEW_TYPES:
            raise DynamoError("ValidationException", f"Unknown ExportViewType: {view_type}")
        start = change_log.to_micros(spec["ExportFromTime"])
        end = (
            latest
            if spec.get("ExportToTime") is None
            else change_log.to_micros(spec["ExportToTime"])
        )
        length = (end - start) / change_log.MICROS
        if start >= end:
            raise _invalid_time("ExportFromTime must be earlier than ExportToTime", window)
        if length < MIN_WINDOW_SECONDS:
            raise _invalid_time("The incremental export period must be at least 15 minutes", window)
        if length > MAX_WINDOW_SECONDS:
            raise _invalid_time("The incremental export period must be at most 24 hours", window)
        if start < earliest or end > latest:
            raise _invalid_time(
                "ExportFromTime and ExportToTime must be within the table's point-in-time recovery window",
                window,
            )
        export.export_from = start / change_log.MICROS
        export.export_to = end / change_log.MICROS
        export.view_type = view_type
        export.items = change_log.incremental_records(
            table, export.export_from, export.export_to, view_type
        )

    def describe(self, backend: Any, export_arn: str) -> dict[str, Any]:
        with self.lock:
            name = export_arn.split(":table/", 1)[-1].split("/export/", 1)[0]
            behaviour = self.behaviours.get(name, self.default)
            if behaviour.describe_limit_exceeded > 0:
                behaviour.describe_limit_exceeded -= 1
                raise DynamoError(
                    "LimitExceededException",
                    "Too many DescribeExport requests; retry with back-off",
                )
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
        """Write the export's objects, following "DynamoDB table export output format".

        Documented there and modelled: the manifests' folder and names; full exports'
        data under ``<ExportId>/data/``, incremental exports' under the shared
        ``AWSDynamoDB/data/``; ``manifest-files.json`` as JSON lines of ``itemCount``,
        ``md5Checksum``, ``etag``, ``dataFileS3Key``; the summary's fields (for a
        full export ``version`` 2020-06-30 and ``exportTime``; for an incremental one
        ``version`` 2023-08-01, ``exportFromTime``, ``exportToTime``, ``outputView``
        and ``exportType``, which a full export's summary does not carry); at least one
        data file per export, empty if there is nothing to write.

        Undocumented, and chosen here: one data file per export (AWS writes at least one
        per partition); ``md5Checksum`` as the base64 MD5 of the gzipped file (the
        page's example has that shape) and ``etag`` as its hex MD5 (S3's ETag of a
        single-part upload); the *content* of the two ``.checksum`` files (the page
        names them only): here the hex MD5 of the manifest they accompany; ``_started``
        is written with the rest, at completion, where AWS writes it when the export
        begins.
        """
        prefix = export.request.get("S3Prefix") or ""
        root = f"{prefix}/AWSDynamoDB" if prefix else "AWSDynamoDB"
        base = f"{root}/{export.export_id}"
        incremental = export.export_type == INCREMENTAL_EXPORT
        data_folder = f"{root}/{SHARED_DATA_FOLDER}" if incremental else f"{base}/data"
        # Binary values are base64 text in export files, as in DynamoDB JSON on the wire.
        lines = "".join(
            json.dumps(item, separators=(",", ":"), default=_base64) + "\n" for item in export.items
        )
        data = gzip.compress(lines.encode("utf-8"))
        data_key = f"{data_folder}/{uuid.uuid4().hex[:26]}.json.gz"
        export.billed_bytes = len(lines.encode("utf-8"))
        digest = hashlib.md5(data)
        files_line = json.dumps(
            {
                "itemCount": len(export.items),
                "md5Checksum": base64.b64encode(digest.digest()).decode("ascii"),
                "etag": digest.hexdigest(),
                "dataFileS3Key": data_key,
            }
        )
        summary: dict[str, Any] = {
            "version": "2023-08-01" if incremental else "2020-06-30",
            "exportArn": export.arn,
            "startTime": _iso(export.start),
            "endTime": _iso(export.end if export.end is not None else export.start),
            "tableArn": export.table_arn,
            "tableId": table_id(export.table_arn),
        }
        if incremental:
            assert export.export_from is not None and export.export_to is not None
            summary["exportFromTime"] = _iso(export.export_from)
            summary["exportToTime"] = _iso(export.export_to)
        else:
            summary["exportTime"] = _iso(export.export_time or export.start)
        summary.update(
            {
                "s3Bucket": bucket,
                "s3Prefix": prefix or None,
                "s3SseAlgorithm": export.request.get("S3SseAlgorithm", "AES256"),
                "s3SseKmsKeyId": export.request.get("S3SseKmsKeyId"),
                "manifestFilesS3Key": f"{base}/manifest-files.json",
                "billedSizeBytes": export.billed_bytes,
                "itemCount": len(export.items),
                "outputFormat": export.request.get("ExportFormat", "DYNAMODB_JSON"),
            }
        )
        if incremental:
            summary["outputView"] = export.view_type
            summary["exportType"] = INCREMENTAL_EXPORT
        files_manifest = (files_line + "\n").encode()
        summary_manifest = json.dumps(summary).encode()
        objects = {
            f"{base}/_started": b"",
            data_key: data,
            f"{base}/manifest-files.json": files_manifest,
            f"{base}/manifest-files.checksum": checksum(files_manifest),
            f"{base}/manifest-summary.json": summary_manifest,
            f"{base}/manifest-summary.checksum": checksum(summary_manifest),
        }
        for key, body in objects.items():
            s3.put_object(bucket_name=bucket, key_name=key, value=body)
        export.manifest_key = f"{base}/manifest-summary.json"


def checksum(manifest: bytes) -> bytes:
    """What a manifest's ``.checksum`` file holds here: the hex MD5 of the manifest.
    The content is undocumented ("DynamoDB table export output format" names the files
    only)."""
    return hashlib.md5(manifest).hexdigest().encode("ascii")


def table_id(table_arn: str) -> str:
    """A stable stand-in for the table's ``TableId``, a UUID as AWS gives it (botocore's
    ``TableId`` pattern); derived from the ARN here (undocumented how AWS assigns it)."""
    return str(uuid.UUID(hashlib.md5(table_arn.encode()).hexdigest()))


def _base64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


MODEL = ExportModel()


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    change_log.install()

    def export_table_to_point_in_time(self: Any) -> Any:
        clock.adopt_header(self.headers)
        return ActionResult({"ExportDescription": MODEL.start(self.dynamodb_backend, self.body)})

    def describe_export(self: Any) -> Any:
        clock.adopt_header(self.headers)
        return ActionResult(
            {"ExportDescription": MODEL.describe(self.dynamodb_backend, self.body["ExportArn"])}
        )

    DynamoHandler.export_table_to_point_in_time = export_table_to_point_in_time  # type: ignore[method-assign]
    DynamoHandler.describe_export = describe_export  # type: ignore[method-assign]
