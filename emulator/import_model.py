"""DynamoDB ImportTable as AWS documents it, on top of moto's tables and buckets.

moto's ImportTable runs at once in a thread, counts nothing faithfully and knows no
``ClientToken``; its ListExports lists only moto's own exports, not those of
``export_model``. This model replaces ImportTable, DescribeImport, ListImports and
ListExports, and
makes DeleteTable and DescribeTable see a table an import is still creating. Each
behaviour, with the AWS page it follows ("undocumented" where AWS says nothing and the
model picks one):

- ImportTable always creates a new table; a name already taken is
  ``ResourceInUseException`` ("DynamoDB data import from Amazon S3: how it works":
  import into existing tables is not supported; the error: "ImportTable", API
  reference, Errors);
- at most 50 imports run at once per account and region; one more is
  ``LimitExceededException`` ("Import format quotas and validation", Import quotas);
- ``ClientToken``: the same token with the same parameters returns the import it
  started; with other parameters it is ``ImportConflictException`` ("ImportTable",
  API reference: the error list says a conflict with a previous request with the same
  client token; the parameter's own text names ``IdempotentParameterMismatch``, which
  botocore does not model: the model follows the error list). The 8-hour validity is
  not modelled;
- the new table exists from the request on and is ``CREATING`` until the import ends
  (undocumented how DescribeTable shows an importing table; CREATING is what a table
  being created reports, "DescribeTable"); DeleteTable on it is
  ``ResourceInUseException`` ("DeleteTable", API reference: a table in the CREATING
  state);
- the import is ``IN_PROGRESS`` for ``Behaviour.duration_seconds`` of virtual time
  (AWS gives no duration: undocumented), then ``COMPLETED``, or ``FAILED``; it ends
  when a DescribeImport, DescribeTable, DeleteTable or ListTables call sees it due;
  ``Behaviour.stuck`` keeps it running (a slow import);
- the source is every object whose key starts with ``S3KeyPrefix`` ("how it works":
  a single object or many objects under one prefix); read with the caller's access
  (the bucket of ``S3BucketOwner``, else the caller's own account); no such bucket
  ends the import ``FAILED`` with ``S3NoSuchBucket`` (code as moto's; undocumented);
  no object under the prefix ends it ``FAILED`` with ``NoObjectsFound`` (a
  configuration error, "Import format quotas and validation"; the code: undocumented);
- ``InputCompressionType`` GZIP or NONE; ``InputFormat`` DYNAMODB_JSON, one
  ``{"Item": {...}}`` per line ("DynamoDB data import from Amazon S3: formats"). ION,
  CSV and ZSTD are valid in AWS but not modelled: a ``ValidationException`` here;
- data errors do not fail the import: each one is counted in ``ErrorCount`` and the
  import ends COMPLETED ("Import format quotas and validation", Validation errors:
  DynamoDB counts every error and reports the totals once the import is complete).
  An object that cannot be decompressed, or a line that is not JSON, is one error and
  the rest of that object is skipped (same page: a malformed object "may" have the
  rest of it skipped; the model always skips). A JSON line that is not an item (no
  ``Item``, a key attribute missing or of the wrong type) is one error, and the import
  goes on with the next line;
- ``ProcessedItemCount`` counts every line read, failed ones included;
  ``ImportedItemCount`` counts the items left in the table: items sharing a key
  overwrite each other and count once, and are not errors (same page, note on
  duplicate keys); ``ProcessedSizeBytes`` is the uncompressed size read
  (undocumented which size AWS reports);
- a FAILED import leaves the table it created, empty (undocumented);
- errors are not written to CloudWatch Logs here; ``Import.errors`` keeps their text;
- ListImports lists this model's imports, running ones included ("ListImports", API
  reference, says "completed imports" yet returns each one's ``ImportStatus``: which
  statuses appear is undocumented), ``PageSize`` at a time;
- ListExports lists ``export_model``'s exports of the table, ``MaxResults`` (at most
  25, botocore) at a time with a ``NextToken``; AWS does not document the order, so
  the model returns them in an arbitrary (hashed) order that no consumer can rely on.

Tests configure behaviour with ``MODEL.default`` or ``MODEL.behave(table_prefix, ...)``
and read ``MODEL.imports``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import clock, export_model
from .export_model import DynamoError, table_id

MAX_CONCURRENT_IMPORTS = 50
SUPPORTED_FORMATS = ("DYNAMODB_JSON",)
SUPPORTED_COMPRESSION = ("GZIP", "NONE")
CLIENT_TOKEN_CONFLICT = "ImportConflictException"
_SIGNIFICANT = (
    "S3BucketSource",
    "InputFormat",
    "InputFormatOptions",
    "InputCompressionType",
    "TableCreationParameters",
)


@dataclass
class Behaviour:
    """How imports into tables whose names start with a prefix behave."""

    duration_seconds: float = 300.0
    stuck: bool = False
    """Never finishes (until ``stuck`` is cleared)."""
    limit_exceeded: int = 0
    """Answer this many upcoming ImportTable requests with LimitExceededException."""


@dataclass
class Import:
    arn: str
    table_name: str
    table_arn: str
    request: dict[str, Any]
    start: float
    behaviour: Behaviour
    account_id: str
    region: str
    status: str = "IN_PROGRESS"
    end: float | None = None
    processed: int = 0
    imported: int = 0
    error_count: int = 0
    processed_bytes: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    errors: list[str] = field(default_factory=list)

    def description(self) -> dict[str, Any]:
        req = self.request
        out: dict[str, Any] = {
            "ImportArn": self.arn,
            "ImportStatus": self.status,
            "TableArn": self.table_arn,
            "TableId": table_id(self.table_arn),
            "S3BucketSource": req["S3BucketSource"],
            "ErrorCount": self.error_count,
            "CloudWatchLogGroupArn": (
                f"arn:aws:logs:{self.region}:{self.account_id}:log-group:/aws-dynamodb/imports:*"
            ),
            "InputFormat": req["InputFormat"],
            "InputCompressionType": req.get("InputCompressionType", "NONE"),
            "TableCreationParameters": req["TableCreationParameters"],
            "StartTime": self.start,
            "ProcessedSizeBytes": self.processed_bytes,
            "ProcessedItemCount": self.processed,
            "ImportedItemCount": self.imported,
        }
        if req.get("ClientToken"):
            out["ClientToken"] = req["ClientToken"]
        if self.end is not None:
            out["EndTime"] = self.end
        if self.status == "FAILED":
            out["FailureCode"] = self.failure_code
            out["FailureMessage"] = self.failure_message
        return out


@dataclass
class ImportModel:
    default: Behaviour = field(default_factory=Behaviour)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    imports: dict[str, Import] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.default = Behaviour()
            self.behaviours.clear()
            self.imports.clear()
            self.tokens.clear()

    def behave(self, table_prefix: str, **settings: Any) -> Behaviour:
        with self.lock:
            behaviour = Behaviour(**settings)
            self.behaviours[table_prefix] = behaviour
            return behaviour

    def behaviour_for(self, table_name: str) -> Behaviour:
        matches = [p for p in self.behaviours if table_name.startswith(p)]
        return self.behaviours[max(matches, key=len)] if matches else self.default

    def imports_into(self, table_prefix: str) -> list[Import]:
        return [i for i in self.imports.values() if i.table_name.startswith(table_prefix)]

    # -- API -------------------------------------------------------------------------

    def start(self, handler: Any, body: dict[str, Any]) -> dict[str, Any]:
        backend = handler.dynamodb_backend
        with self.lock:
            self.settle(backend)
            params = body.get("TableCreationParameters") or {}
            name = params.get("TableName", "")
            behaviour = self.behaviour_for(name)
            token = body.get("ClientToken")
            if token and token in self.tokens:
                existing = self.imports[self.tokens[token]]
                if any(existing.request.get(k) != body.get(k) for k in _SIGNIFICANT):
                    raise DynamoError(
                        CLIENT_TOKEN_CONFLICT,
                        "ClientToken was used before with different parameters",
                    )
                return existing.description()
            if behaviour.limit_exceeded > 0:
                behaviour.limit_exceeded -= 1
                raise DynamoError(
                    "LimitExceededException",
                    "Up to 50 simultaneous import table operations are allowed per account",
                )
            running = [i for i in self.imports.values() if i.status == "IN_PROGRESS"]
            if len(running) >= MAX_CONCURRENT_IMPORTS:
                raise DynamoError(
                    "LimitExceededException",
                    "Up to 50 simultaneous import table operations are allowed per account",
                )
            if body.get("InputFormat") not in SUPPORTED_FORMATS:
                raise DynamoError(
                    "ValidationException",
                    f"the emulator models InputFormat {SUPPORTED_FORMATS} only",
                )
            if body.get("InputCompressionType", "NONE") not in SUPPORTED_COMPRESSION:
                raise DynamoError(
                    "ValidationException",
                    f"the emulator models InputCompressionType {SUPPORTED_COMPRESSION} only",
                )
            if name in backend.tables:
                raise DynamoError("ResourceInUseException", f"Table already exists: {name}")
            billing = params.get("BillingMode") or "PROVISIONED"
            handler._validate_table_creation(
                billing_mode=billing,
                throughput=params.get("ProvisionedThroughput"),
                key_schema=params["KeySchema"],
                global_indexes=params.get("GlobalSecondaryIndexes"),
                local_secondary_indexes=None,
                attr=params["AttributeDefinitions"],
                warm_throughput=None,
            )
            table = backend.create_table(
                name=name,
                schema=params["KeySchema"],
                throughput=params.get("ProvisionedThroughput"),
                attr=params["AttributeDefinitions"],
                global_indexes=params.get("GlobalSecondaryIndexes"),
                indexes=None,
                streams=None,
                billing_mode=billing,
                sse_specification=params.get("SSESpecification"),
                tags=[],
                deletion_protection_enabled=False,
                warm_throughput=None,
            )
            table.created_at = clock.now_datetime()
            table._emulator_creating = True
            started = clock.now()
            import_id = f"{int(started * 1000):014d}-{uuid.uuid4().hex[:8]}"
            imp = Import(
                arn=f"{table.table_arn}/import/{import_id}",
                table_name=name,
                table_arn=table.table_arn,
                request=json.loads(json.dumps(body)),
                start=started,
                behaviour=behaviour,
                account_id=backend.account_id,
                region=backend.region_name,
            )
            self.imports[imp.arn] = imp
            if token:
                self.tokens[token] = imp.arn
            return imp.description()

    def describe(self, backend: Any, import_arn: str) -> dict[str, Any]:
        with self.lock:
            self.settle(backend)
            imp = self.imports.get(import_arn)
            if imp is None:
                raise DynamoError("ImportNotFoundException", f"Import not found: {import_arn}")
            return imp.description()

    def settle(self, backend: Any) -> None:
        """Finish every import that is due by now."""
        now = clock.now()
        for imp in self.imports.values():
            due = imp.start + imp.behaviour.duration_seconds
            if imp.status == "IN_PROGRESS" and not imp.behaviour.stuck and now >= due:
                self._finish(backend, imp, due)

    # -- completion ---------------------------------------------------------------------

    def _finish(self, backend: Any, imp: Import, at: float) -> None:
        from moto.s3.models import s3_backends

        imp.end = at
        table = backend.tables.get(imp.table_name)
        if table is not None:
            table._emulator_creating = False
        source = imp.request["S3BucketSource"]
        owner = source.get("S3BucketOwner") or backend.account_id
        s3 = s3_backends[owner][backend.partition]
        bucket = s3.buckets.get(source["S3Bucket"])
        if bucket is None:
            return self._fail(imp, "S3NoSuchBucket", "The specified bucket does not exist")
        prefix = source.get("S3KeyPrefix") or ""
        keys = sorted(k for k in bucket.keys if k.startswith(prefix))
        denied = self.read_denied(imp, bucket.name, prefix, keys, backend.region_name)
        if denied is not None:
            return self._fail(imp, *denied)
        if not keys:
            return self._fail(
                imp, "NoObjectsFound", f"No objects found under s3://{bucket.name}/{prefix}"
            )
        if table is None:  # deleted meanwhile (cannot happen while CREATING)
            return self._fail(imp, "TableDeleted", "The table was deleted")
        schema = {k["AttributeName"]: k["KeyType"] for k in table.schema}
        types = {a["AttributeName"]: a["AttributeType"] for a in table.attr}
        gzipped = imp.request.get("InputCompressionType", "NONE") == "GZIP"
        for key in keys:
            raw = s3.get_object(bucket.name, key).value  # type: ignore[union-attr]
            self._read_object(imp, table, key, raw, gzipped, schema, types)
        imp.imported = len(list(table.all_items()))
        imp.status = "COMPLETED"

    def read_denied(
        self, imp: Import, bucket: str, prefix: str, keys: list[str], region: str
    ) -> tuple[str, str] | None:
        """``(FailureCode, FailureMessage)`` when the import's caller may not read its
        source (ImportTable reads as its caller), else None. Nothing is denied here; the
        authorisation model (``authz_hooks``) decides."""
        return None

    def _read_object(
        self,
        imp: Import,
        table: Any,
        key: str,
        raw: bytes,
        gzipped: bool,
        schema: dict[str, str],
        types: dict[str, str],
    ) -> None:
        try:
            data = gzip.decompress(raw) if gzipped else raw
            text = data.decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            imp.error_count += 1
            imp.errors.append(f"{key}: cannot be read ({exc}); the object was skipped")
            return
        imp.processed_bytes += len(data)
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            imp.processed += 1
            try:
                record = json.loads(line)
            except ValueError:
                imp.error_count += 1
                imp.errors.append(f"{key}:{number}: not JSON; the rest of the object was skipped")
                return
            item = record.get("Item") if isinstance(record, dict) else None
            problem = _item_problem(item, schema, types)
            if problem:
                imp.error_count += 1
                imp.errors.append(f"{key}:{number}: {problem}")
                continue
            assert isinstance(item, dict)
            table.put_item(item)

    def _fail(self, imp: Import, code: str, message: str) -> None:
        imp.status = "FAILED"
        imp.failure_code = code
        imp.failure_message = message

    def list_imports(self, backend: Any, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.settle(backend)
            table_arn = body.get("TableArn")
            size = int(body.get("PageSize") or 25)
            found = [i for i in self.imports.values() if table_arn in (None, i.table_arn)]
            start = int(body["NextToken"], 16) if body.get("NextToken") else 0
            page = found[start : start + size]
            out: dict[str, Any] = {
                "ImportSummaryList": [
                    {
                        "ImportArn": i.arn,
                        "ImportStatus": i.status,
                        "TableArn": i.table_arn,
                        "S3BucketSource": i.request["S3BucketSource"],
                        "InputFormat": i.request["InputFormat"],
                        "StartTime": i.start,
                        **({"EndTime": i.end} if i.end is not None else {}),
                    }
                    for i in page
                ]
            }
            if start + size < len(found):
                out["NextToken"] = f"{start + size:x}".rjust(112, "0")
            return out

    # -- ListExports -----------------------------------------------------------------

    def list_exports(self, body: dict[str, Any]) -> dict[str, Any]:
        table_arn = body.get("TableArn")
        size = int(body.get("MaxResults") or 25)
        if not 1 <= size <= 25:
            raise DynamoError("ValidationException", "MaxResults must be between 1 and 25")
        with export_model.MODEL.lock:
            exports = [
                e for e in export_model.MODEL.exports.values() if table_arn in (None, e.table_arn)
            ]
        exports.sort(key=lambda e: hashlib.sha256(e.arn.encode()).hexdigest())
        start = int(body["NextToken"], 16) if body.get("NextToken") else 0
        page = exports[start : start + size]
        out: dict[str, Any] = {
            "ExportSummaries": [
                {"ExportArn": e.arn, "ExportStatus": _status(e), "ExportType": e.export_type}
                for e in page
            ]
        }
        if start + size < len(exports):
            out["NextToken"] = f"{start + size:x}"
        return out


def _status(export: Any) -> str:
    """An export's status as DescribeExport would report it now."""
    due = export.start + export.behaviour.duration_seconds
    if export.status == "IN_PROGRESS" and clock.now() >= due:
        return "FAILED" if export.behaviour.fail_code else "COMPLETED"
    return str(export.status)


def _item_problem(item: Any, schema: dict[str, str], types: dict[str, str]) -> str | None:
    if not isinstance(item, dict) or not item:
        return "not a DynamoDB item (no 'Item' object)"
    for name in schema:
        value = item.get(name)
        if not isinstance(value, dict) or len(value) != 1:
            return f"key attribute {name!r} is missing"
        (kind,) = value
        if kind != types.get(name):
            return f"key attribute {name!r} is of type {kind}, the table's key is {types.get(name)}"
    for name, value in item.items():
        if not isinstance(value, dict) or len(value) != 1:
            return f"attribute {name!r} is not typed DynamoDB JSON"
    return None


MODEL = ImportModel()


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    def import_table(self: Any) -> Any:
        clock.adopt_header(self.headers)
        return ActionResult({"ImportTableDescription": MODEL.start(self, self.body)})

    def describe_import(self: Any) -> Any:
        clock.adopt_header(self.headers)
        return ActionResult(
            {
                "ImportTableDescription": MODEL.describe(
                    self.dynamodb_backend, self.body["ImportArn"]
                )
            }
        )

    def list_exports(self: Any) -> Any:
        clock.adopt_header(self.headers)
        return ActionResult(MODEL.list_exports(self.body))

    def list_imports(self: Any) -> Any:
        clock.adopt_header(self.headers)
        return ActionResult(MODEL.list_imports(self.dynamodb_backend, self.body))

    def settling(original: Any) -> Any:
        def call(self: Any) -> Any:
            clock.adopt_header(self.headers)
            with MODEL.lock:
                MODEL.settle(self.dynamodb_backend)
            return original(self)

        return call

    original_delete = DynamoHandler.delete_table

    def delete_table(self: Any) -> Any:
        clock.adopt_header(self.headers)
        with MODEL.lock:
            MODEL.settle(self.dynamodb_backend)
            table = self.dynamodb_backend.tables.get(self.body.get("TableName"))
            if table is not None and getattr(table, "_emulator_creating", False):
                raise DynamoError(
                    "ResourceInUseException",
                    f"Attempt to change a resource which is still in use: Table is being created: {table.name}",
                )
        return original_delete(self)

    original_describe = Table.describe

    def describe(self: Any, *args: Any, **kwargs: Any) -> Any:
        described = original_describe(self, *args, **kwargs)
        if getattr(self, "_emulator_creating", False):
            for value in described.values():
                if isinstance(value, dict) and "TableStatus" in value:
                    value["TableStatus"] = "CREATING"
        return described

    DynamoHandler.import_table = import_table  # type: ignore[method-assign]
    DynamoHandler.describe_import = describe_import  # type: ignore[method-assign]
    DynamoHandler.list_exports = list_exports  # type: ignore[method-assign]
    DynamoHandler.list_imports = list_imports  # type: ignore[method-assign,attr-defined]
    DynamoHandler.delete_table = delete_table  # type: ignore[method-assign]
    DynamoHandler.describe_table = settling(DynamoHandler.describe_table)  # type: ignore[method-assign]
    DynamoHandler.list_tables = settling(DynamoHandler.list_tables)  # type: ignore[method-assign]
    Table.describe = describe  # type: ignore[method-assign]
