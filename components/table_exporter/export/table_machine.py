"""The table export machine: one execution per table per run, read top to bottom here.

Full export (``mode`` ``full``)::

    StartExport ─▶ WaitForExport ─▶ DescribeExport ─▶ ExportFinished ─┬─▶ (catalog) ─▶ ExportCompleted
                       ▲──────────── still running ───────────────────┤
                                                                      └─▶ ExportFailed

Incremental chain (``mode`` ``incremental``; present when some table is incremental)::

    ChooseMode ─▶ AcquireLock ─▶ ReadRecoveryWindow ─▶ PlanNextExport ─┬─▶ StartBaseline ─┐
                                      ▲                                ├─▶ StartWindow ───┤ (polling loop)
                                      │                                └─▶ ReleaseLock ─▶ PublishWatermarkLag ─▶ IncrementalDone
                                      └── RecordWindow ◀── (baseline catalog) ◀── (current table) ◀── COMPLETED

The export is started by ``ExportTableToPointInTime`` directly (no Lambda) with an
idempotency token, then polled by export ARN with a wait that grows with the time
already spent (``polling.py``). A permanent failure ends the execution FAILED, its
Cause a JSON record naming the table, the error and its cause. A chain's watermark
moves only after its export COMPLETED, with a write conditioned on the lock and on the
watermark the export started from (``incremental.py`` has the rules and limits).
With the catalog on, Athena's tables move to an export only once it has COMPLETED; a
baseline's catalog, and a current table's create, replace or merge (``current/``), run
before ``RecordWindow`` moves the watermark, so a failure leaves the window to the next
run. A full export's current table is replaced after its latest tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from table_exporter.catalog import tables as catalog
from table_exporter.catalog.tables import INPUT
from table_exporter.current import states as current_states
from table_exporter.export import grants as on
from table_exporter.export.incremental import (
    MAX_WINDOW_MS,
    MAX_WINDOWS_PER_RUN,
    MIN_WINDOW_MS,
    VIEW_TYPES,
)
from table_exporter.kernel.asl import (
    Catch,
    Choice,
    Fail,
    Machine,
    State,
    StateBuilder,
    Succeed,
    Task,
    Wait,
    jsonata,
)
from table_exporter.kernel.grants import Grant
from table_exporter.kernel.metrics import LAG_METRIC, METRIC_NAMESPACE
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.retries import error_name
from table_exporter.kernel.targets import EXPORT_FORMATS, SSE_ALGORITHMS

TABLE_NAME = f"$substringAfter({INPUT}.tableArn, ':table/')"
ME = "$states.context.Execution.Id"
INCREMENTAL_MODE = f"{INPUT}.mode = 'incremental'"
WINDOW_END = f"$min([$toMillis($watermark) + {MAX_WINDOW_MS}, $toMillis($target)])"
EXPORT_LOCATION = (
    "'s3://' & $export.S3Bucket & '/' & $export.S3Prefix & '/AWSDynamoDB/' & "
    "$substringAfter($export.ExportArn, '/export/') & '/'"
)
"""An export's manifest folder; a full export's data are in its ``data/``, a window's are
found through its ``manifest-files.json``."""


@dataclass(frozen=True)
class Destination:
    """Where and how exports are written."""

    bucket: str
    export_format: str = "DYNAMODB_JSON"
    sse_algorithm: str = "AES256"
    kms_key_arn: str | None = None
    bucket_owner: str | None = None

    def __post_init__(self) -> None:
        if self.export_format not in EXPORT_FORMATS:
            raise ValueError(
                f"export format must be one of {EXPORT_FORMATS}, got {self.export_format!r}"
            )
        if self.sse_algorithm not in SSE_ALGORITHMS:
            raise ValueError(
                f"SSE algorithm must be one of {SSE_ALGORITHMS}, got {self.sse_algorithm!r}"
            )
        if (self.sse_algorithm == "KMS") != (self.kms_key_arn is not None):
            raise ValueError("a KMS key ARN is required with SSE algorithm KMS, and only with it")


@dataclass(frozen=True)
class IncrementalSpec:
    """Where watermarks live and how windows are exported."""

    state_table: str
    exporter_name: str
    view_type: str = "NEW_AND_OLD_IMAGES"

    def __post_init__(self) -> None:
        if self.view_type not in VIEW_TYPES:
            raise ValueError(
                f"export view type must be one of {VIEW_TYPES}, got {self.view_type!r}"
            )


@dataclass(frozen=True)
class TableExportSpec:
    """Everything the table export machine needs besides its input."""

    destination: Destination
    poll: PollPolicy = field(default_factory=PollPolicy)
    timeout_seconds: int = 24 * 3600
    partition: str = "aws"
    incremental: IncrementalSpec | None = None
    """Set when any table is exported incrementally: adds the incremental branch."""
    catalog_database: str | None = None
    """Glue database whose ``<table>_latest`` tables follow completed full exports."""
    athena_workgroup: str | None = None
    """Workgroup the incremental tables' current-state queries are saved in, and the
    current tables' statements run in."""
    current_tables: bool = False
    """Some table keeps ``<table>_current`` (its input says ``current: true``): adds the
    current table's states when the catalog and the workgroup are set too."""
    current_optimizer_role_arn: str | None = None
    """The role Glue's table optimizers of the current tables act as; without one, no
    optimizer is created."""
    current_bucket: str | None = None
    """Where current tables' files live, ``s3://<current_bucket>/<table prefix>/``: a
    bucket of their own, so the export bucket's lifecycle rules (and owner) never touch
    an Iceberg table's files. Required with ``current_tables``."""

    def __post_init__(self) -> None:
        if self.current_tables and not self.current_bucket:
            raise ValueError("current tables need a bucket of their own (current_bucket)")

    @property
    def keeps_current_tables(self) -> bool:
        return bool(self.current_tables and self.catalog_database and self.athena_workgroup)


def _failure_record(error: str, cause: str) -> str:
    """JSON text every failed table export carries as its Cause: the run parses it."""
    return jsonata(
        f"$string({{'table': {TABLE_NAME}, 'tableArn': {INPUT}.tableArn, "
        f"'error': {error}, 'cause': {cause}}})"
    )


class _Builder(StateBuilder):
    """Builds one machine's states; ``built`` keeps every state for ``render``'s check."""

    def __init__(self, spec: TableExportSpec) -> None:
        super().__init__(spec.partition)
        self.spec = spec

    def reject_to(self, state: State) -> list[Catch]:
        return [Catch(["States.ALL"], state, jsonata("$states.errorOutput"))]

    # -- the export and its polling loop ----------------------------------------------

    def export_arguments(self) -> dict[str, Any]:
        dest = self.spec.destination
        arguments: dict[str, Any] = {
            "TableArn": jsonata(f"{INPUT}.tableArn"),
            "S3Bucket": dest.bucket,
            "ExportFormat": dest.export_format,
            "S3SseAlgorithm": dest.sse_algorithm,
        }
        if dest.kms_key_arn:
            arguments["S3SseKmsKeyId"] = dest.kms_key_arn
        if dest.bucket_owner:
            arguments["S3BucketOwner"] = dest.bucket_owner
        return arguments

    def export_grants(self) -> tuple[Grant, ...]:
        """Starting an export: the call, and what DynamoDB does with the caller's rights."""
        grants = [
            Grant(on.EXPORTED_TABLES, ("dynamodb:ExportTableToPointInTime",)),
            Grant(
                on.EXPORT_OBJECTS, ("s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl")
            ),
        ]
        if self.key_grant:
            grants.append(self.key_grant)
        return tuple(grants)

    @property
    def key_grant(self) -> Grant | None:
        """Objects encrypted with the configured key (SSE-KMS): S3 calls KMS with the
        caller's rights, for every state that writes or reads them."""
        if not self.spec.destination.kms_key_arn:
            return None
        return Grant(on.EXPORT_KEY, ("kms:Decrypt", "kms:GenerateDataKey"))

    def start_export(
        self, name: str, rejected: State, comment: str | None = None, **arguments: Any
    ) -> Task:
        return self.task(
            name,
            "dynamodb",
            "exportTableToPointInTime",
            comment=comment,
            grants=self.export_grants(),
            arguments={**self.export_arguments(), **arguments},
            catch=self.reject_to(rejected),
        )

    def polling(self, rejected: State) -> tuple[Wait, Choice]:
        """``WaitForExport`` ─▶ ``DescribeExport`` ─▶ ``ExportFinished`` (its choices are
        the caller's to add, ``Default`` back to waiting)."""
        wait, _, finished = self.polling_loop(
            ("WaitForExport", "DescribeExport", "ExportFinished"),
            action="describeExport",
            grants=(Grant(on.EXPORTED_TABLES, ("dynamodb:DescribeExport",)),),
            arguments={"ExportArn": jsonata("$exportArn")},
            described=("export", "ExportDescription"),
            next_wait=self.spec.poll.jsonata_next_wait,
            catch=self.reject_to(rejected),
        )
        return wait, finished

    def started(self) -> dict[str, Any]:
        return {
            "exportArn": jsonata("$states.result.ExportDescription.ExportArn"),
            "elapsed": 0,
            "wait": self.spec.poll.min_seconds,
        }

    # -- catalog ------------------------------------------------------------------------

    def upsert(
        self, update: str, create: str, table_input: str, after: State, rejected: State
    ) -> Task:
        """``update`` a Glue table, or ``create`` it when it does not exist yet; when a
        run delivered twice created it meanwhile (``AlreadyExistsException``), update it
        once more: Scheduler delivers at least once."""
        database = self.spec.catalog_database
        glue = (Grant(on.CATALOG, ("glue:CreateTable", "glue:UpdateTable")),)
        arguments = {"DatabaseName": database, "TableInput": table_input}
        update_arguments = {**arguments, "SkipArchive": True}
        update_again = self.task(
            f"{update}Again",
            "glue",
            "updateTable",
            grants=glue,
            comment="Created meanwhile by a duplicate run of the same table: update it.",
            arguments=update_arguments,
            catch=self.reject_to(rejected),
            next=after,
        )
        create_state = self.task(
            create,
            "glue",
            "createTable",
            grants=glue,
            arguments=arguments,
            catch=[
                Catch([error_name("glue", "AlreadyExistsException")], update_again),
                *self.reject_to(rejected),
            ],
            next=after,
        )
        return self.task(
            update,
            "glue",
            "updateTable",
            grants=glue,
            comment=catalog.SKIP_ARCHIVE_REASON,
            arguments=update_arguments,
            catch=[
                Catch([error_name("glue", "EntityNotFoundException")], create_state),
                *self.reject_to(rejected),
            ],
            next=after,
        )

    def latest_tables(self, prefix: str, after: State, rejected: State) -> Task:
        """Point ``<table>_latest`` and ``<table>_latest_raw`` at the completed export."""
        raw = self.upsert(
            f"{prefix}PublishLatestRaw",
            f"{prefix}CreateLatestRaw",
            jsonata("$rawInput"),
            after,
            rejected,
        )
        latest = self.upsert(
            f"{prefix}PublishLatest",
            f"{prefix}CreateLatest",
            jsonata("$latestInput"),
            raw,
            rejected,
        )
        return self.task(
            f"{prefix}ReadKeySchema",
            "dynamodb",
            "describeTable",
            grants=(Grant(on.EXPORTED_TABLES, ("dynamodb:DescribeTable",)),),
            comment="The export has COMPLETED: only now may Athena's tables move to it.",
            arguments={"TableName": jsonata(f"{INPUT}.tableArn")},
            assign={
                "latestInput": jsonata(catalog.LATEST_INPUT),
                "rawInput": jsonata(catalog.RAW_INPUT),
            },
            catch=self.reject_to(rejected),
            next=latest,
        )

    # -- the current table ----------------------------------------------------------------

    current_kept: Choice | None = None
    current_failed: Choice | None = None

    def current_table(self, completed: State, rejected: State) -> Choice:
        """``KeepCurrentTable``: for a table whose input says ``current: true``, the
        current table's states (``current/states.py``), after the latest tables (and a
        baseline's catalog) and before ``ExportCompleted`` or ``RecordWindow``; others
        go straight on. The incremental chain adds its own exits to the three choices."""
        spec = self.spec
        assert spec.catalog_database is not None and spec.athena_workgroup is not None
        kept: State = completed
        failed: State = rejected
        if spec.incremental is not None:
            kept = self.current_kept = self.add(Choice("CurrentTableKept", default=completed))
            failed = self.current_failed = self.add(
                Choice(
                    "CurrentTableFailed",
                    comment="The current table was not brought up to date: fail the table.",
                    default=rejected,
                )
            )
        entry = current_states.build(
            self,
            database=spec.catalog_database,
            workgroup=spec.athena_workgroup,
            location=current_states.location(str(spec.current_bucket)),
            optimizer_role_arn=spec.current_optimizer_role_arn,
            tables=on.EXPORTED_TABLES,
            key=self.key_grant,
            export_time=(
                f"({INCREMENTAL_MODE}) ? $pending.to : "
                "($exists($export.ExportTime) ? $export.ExportTime : $export.StartTime)"
            ),
            window=("$pending.from", "$pending.to"),
            merge_when=f"{INCREMENTAL_MODE} and $pending.kind = 'incremental'",
            failed=failed,
            done=kept,
        )
        return self.add(
            Choice("KeepCurrentTable", default=completed).when(
                jsonata(f"{INPUT}.current = true"), entry
            )
        )

    # -- the machine ---------------------------------------------------------------------

    def build(self) -> Machine:
        spec = self.spec
        rejected = self.add(
            Fail(
                "ExportRejected",
                comment="A permanent error, or a transient one that outlasted its retries.",
                # Names starting "States." are reserved for Step Functions' own errors.
                error=jsonata(
                    "$substring($states.input.Error, 0, 7) = 'States.' ? "
                    "'TableExport.' & $substringAfter($states.input.Error, 'States.') : $states.input.Error"
                ),
                cause=_failure_record("$states.input.Error", "$states.input.Cause"),
            )
        )
        failed = self.add(
            Fail(
                "ExportFailed",
                comment="DynamoDB accepted the export but it ended FAILED.",
                error="ExportFailed",
                cause=_failure_record(
                    "$export.FailureCode ? $export.FailureCode : 'ExportFailed'",
                    "$export.FailureMessage ? $export.FailureMessage : 'export ended FAILED'",
                ),
            )
        )
        completed = self.add(
            Succeed(
                "ExportCompleted",
                output={
                    "table": jsonata(TABLE_NAME),
                    "tableArn": jsonata("$export.TableArn"),
                    "mode": "full",
                    "status": jsonata("$export.ExportStatus"),
                    "exportArn": jsonata("$export.ExportArn"),
                    "itemCount": jsonata("$export.ItemCount"),
                    "billedSizeBytes": jsonata("$export.BilledSizeBytes"),
                    "s3Location": jsonata(EXPORT_LOCATION),
                },
            )
        )
        wait, finished = self.polling(rejected)
        keep: Choice | None = None
        if spec.keeps_current_tables:
            keep = self.current_table(completed, rejected)
        start = self.start_export(
            "StartExport",
            rejected,
            comment="ClientToken makes a repeated request return the export already started.",
            ExportType="FULL_EXPORT",
            S3Prefix=jsonata("$states.input.s3Prefix"),
            ClientToken=jsonata("$states.input.clientToken"),
        )
        start.assign = self.started()
        start.then(wait)
        after_latest: State = keep if keep is not None else completed
        after_full = (
            self.latest_tables("", after_latest, rejected) if spec.catalog_database else completed
        )
        first: State = start
        if spec.incremental is not None:
            chain = self.incremental(finished, wait, rejected, failed, keep)
            first = self.add(
                Choice("ChooseMode", default=start).when(jsonata(INCREMENTAL_MODE), chain)
            )
        finished.when(jsonata("$export.ExportStatus = 'COMPLETED'"), after_full)
        finished.when(jsonata("$export.ExportStatus = 'FAILED'"), failed)
        return Machine(
            first,
            built=self.built,
            comment="Export one DynamoDB table to S3 and wait until the export has finished.",
            timeout_seconds=spec.timeout_seconds,
        )

    def incremental(
        self, finished: Choice, wait: Wait, rejected: State, failed: State, keep: Choice | None
    ) -> State:
        """The watermark chain; returns its entry, ``AcquireLock``. Its exports share the
        polling loop, which comes back through ``finished``'s first two choices."""
        spec = self.spec
        assert spec.incremental is not None
        state_table = spec.incremental.state_table
        key = {"pk": {"S": jsonata(f"{INPUT}.tableArn")}}
        watermarks = (Grant(on.WATERMARKS, ("dynamodb:UpdateItem",)),)

        def release(name: str, then: State, **overrides: Any) -> Task:
            fields: dict[str, Any] = {
                "arguments": {
                    "TableName": state_table,
                    "Key": key,
                    "UpdateExpression": "REMOVE lockOwner, lockedUntil",
                    "ConditionExpression": "lockOwner = :me",
                    "ExpressionAttributeValues": {":me": {"S": jsonata(ME)}},
                },
                "output": jsonata("$states.input"),
                **overrides,
            }
            return self.task(name, "dynamodb", "updateItem", grants=watermarks, next=then, **fields)

        released_after_error = release("ReleaseLockAfterError", rejected)
        to_release = self.reject_to(released_after_error)
        done = self.add(
            Succeed(
                "IncrementalDone",
                output={
                    "table": jsonata(TABLE_NAME),
                    "tableArn": jsonata(f"{INPUT}.tableArn"),
                    "mode": "incremental",
                    "status": jsonata("$count($windows) > 0 ? 'COMPLETED' : 'UP_TO_DATE'"),
                    "watermark": jsonata("$watermark"),
                    "exports": jsonata("$windows"),
                    "message": jsonata(
                        "$count($windows) > 0 ? $string($count($windows)) & ' export(s); watermark at ' & $watermark"
                        " : 'nothing to do yet: the next window is shorter than 15 minutes'"
                    ),
                },
            )
        )
        lag = self.task(
            "PublishWatermarkLag",
            "cloudwatch",
            "putMetricData",
            grants=(Grant(on.LAG_METRIC, ("cloudwatch:PutMetricData",)),),
            arguments={
                "Namespace": METRIC_NAMESPACE,
                "MetricData": [
                    {
                        "MetricName": LAG_METRIC,
                        "Dimensions": [
                            {"Name": "Exporter", "Value": spec.incremental.exporter_name}
                        ],
                        "Value": jsonata("$round(($millis() - $toMillis($watermark)) / 1000)"),
                        "Unit": "Seconds",
                    }
                ],
            },
            catch=[Catch(["States.ALL"], done)],
            next=done,
        )
        release_lock = release("ReleaseLock", lag)
        pitr_off = release(
            "PitrDisabled",
            rejected,
            output={
                "Error": error_name("dynamodb", "PointInTimeRecoveryUnavailableException"),
                "Cause": jsonata(
                    "'Point in time recovery is not enabled for table ' & " + TABLE_NAME
                ),
            },
        )
        release_after_failure = release(
            "ReleaseLockAfterFailure",
            failed,
            comment="The watermark stays; a failed window is counted so the next run retries it afresh.",
            arguments={
                "TableName": state_table,
                "Key": key,
                "UpdateExpression": jsonata(
                    "'REMOVE lockOwner, lockedUntil' & ($pending.kind = 'incremental' ? "
                    "' SET failedFrom = :from, failures = :failures' : '')"
                ),
                "ConditionExpression": "lockOwner = :me",
                "ExpressionAttributeValues": jsonata(
                    "$merge([{':me': {'S': " + ME + "}}, $pending.kind = 'incremental' ? "
                    "{':from': {'S': $pending.from}, ':failures': {'N': $string($attempt + 1)}} : {}])"
                ),
            },
        )
        skipped = self.add(
            Succeed(
                "AnotherRunHoldsTheLock",
                comment="An overlapping run is exporting this table; it will advance the watermark.",
                output={
                    "table": jsonata(TABLE_NAME),
                    "tableArn": jsonata(f"{INPUT}.tableArn"),
                    "mode": "incremental",
                    "status": "SKIPPED",
                    "message": "another run holds this table's lock",
                },
            )
        )
        read_window = self.task(
            "ReadRecoveryWindow",
            "dynamodb",
            "describeContinuousBackups",
            grants=(Grant(on.EXPORTED_TABLES, ("dynamodb:DescribeContinuousBackups",)),),
            arguments={"TableName": jsonata(f"{INPUT}.tableArn")},
            assign={
                "pitr": jsonata(
                    "$states.result.ContinuousBackupsDescription.PointInTimeRecoveryDescription"
                ),
                # Absent while PITR is off: null, and PlanNextExport reports that first.
                "target": jsonata(
                    "$type($target) = 'string' ? $target : "
                    "($exists($states.result.ContinuousBackupsDescription.PointInTimeRecoveryDescription"
                    ".LatestRestorableDateTime) ? "
                    "$states.result.ContinuousBackupsDescription.PointInTimeRecoveryDescription"
                    ".LatestRestorableDateTime : null)"
                ),
            },
            catch=to_release,
        )
        base = f"{INPUT}.prefix"
        baseline = self.start_export(
            "StartBaseline",
            released_after_error,
            comment="A full export at the latest restorable time starts (or restarts) the chain.",
            ExportType="FULL_EXPORT",
            ExportTime=jsonata("$target"),
            S3Prefix=jsonata(
                f"{base} & '/baseline/' & $fromMillis($toMillis($target), {catalog.CHAIN_STAMP})"
            ),
            ClientToken=jsonata(f"$hash({INPUT}.tableArn & '|baseline|' & $target, 'SHA-256')"),
        )
        baseline.assign = {
            **self.started(),
            "pending": jsonata(
                "{'kind': 'baseline', 'to': $fromMillis($toMillis($target)), 'replaces': $watermark}"
            ),
        }
        window = self.start_export(
            "StartWindow",
            released_after_error,
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={
                "ExportFromTime": jsonata("$watermark"),
                "ExportToTime": jsonata(f"$fromMillis({WINDOW_END})"),
                "ExportViewType": spec.incremental.view_type,
            },
            S3Prefix=jsonata(catalog.window_prefix(base, "$baseline", "$watermark")),
            ClientToken=jsonata(
                f"$hash({INPUT}.tableArn & '|incremental|' & $string($attempt) & '|' & $watermark & '|' & "
                f"$string({WINDOW_END}), 'SHA-256')"
            ),
        )
        window.assign = {
            **self.started(),
            "pending": jsonata(
                f"{{'kind': 'incremental', 'from': $watermark, 'to': $fromMillis({WINDOW_END})}}"
            ),
        }
        baseline.then(wait)
        window.then(wait)
        plan = self.add(
            Choice("PlanNextExport", default=window)
            .when(jsonata("$pitr.PointInTimeRecoveryStatus != 'ENABLED'"), pitr_off)
            .when(
                jsonata(
                    "$type($watermark) != 'string' or $type($baseline) != 'string' or "
                    "$toMillis($watermark) < $toMillis($pitr.EarliestRestorableDateTime)"
                ),
                baseline,
            )
            .when(
                jsonata(
                    f"$count($windows) >= {MAX_WINDOWS_PER_RUN} or "
                    f"{WINDOW_END} - $toMillis($watermark) < {MIN_WINDOW_MS}"
                ),
                release_lock,
            )
        )
        read_window.then(plan)
        record = self.task(
            "RecordWindow",
            "dynamodb",
            "updateItem",
            grants=watermarks,
            comment="Advance only from the watermark this export started at, and only while holding the lock.",
            arguments={
                "TableName": state_table,
                "Key": key,
                "UpdateExpression": jsonata(
                    "'SET watermark = :to, lastExportArn = :arn' & "
                    "($pending.kind = 'baseline' ? ', baselineTime = :to, baselineExportArn = :arn' : '')"
                ),
                "ConditionExpression": jsonata(
                    "'lockOwner = :me AND ' & "
                    "($type($watermark) = 'string' ? 'watermark = :from' : 'attribute_not_exists(watermark)')"
                ),
                "ExpressionAttributeValues": jsonata(
                    "$merge([{':me': {'S': " + ME + "}, ':to': {'S': $pending.to}, "
                    "':arn': {'S': $export.ExportArn}}, "
                    "$type($watermark) = 'string' ? {':from': {'S': $watermark}} : {}])"
                ),
            },
            assign={
                "watermark": jsonata("$pending.to"),
                "baseline": jsonata("$pending.kind = 'baseline' ? $pending.to : $baseline"),
                "windows": jsonata(
                    "$append($windows, [{"
                    "'kind': $pending.kind, 'from': $pending.from, 'to': $pending.to, "
                    "'replaces': $pending.replaces, 'exportArn': $export.ExportArn, "
                    "'itemCount': $export.ItemCount, 'billedSizeBytes': $export.BilledSizeBytes, "
                    f"'s3Location': {EXPORT_LOCATION}}}])"
                ),
            },
            catch=to_release,
            next=read_window,
        )
        # After an export COMPLETED, before the watermark moves: a baseline's catalog,
        # then the current table (both must be in place before a run may go on from it).
        after_catalog: State = record
        if keep is not None:
            # An incremental table goes on to RecordWindow, or releases its lock on failure.
            for choice, then in (
                (keep, record),
                (self.current_kept, record),
                (self.current_failed, released_after_error),
            ):
                assert choice is not None
                choice.when(jsonata(INCREMENTAL_MODE), then)
            after_catalog = keep
        completed_export: State = after_catalog
        if spec.catalog_database is not None and spec.athena_workgroup is not None:
            completed_export = self.add(
                Choice("BaselineCompleted", default=after_catalog).when(
                    jsonata("$pending.kind = 'baseline'"),
                    self.baseline_catalog(after_catalog, released_after_error, state_table, key),
                )
            )
        finished.when(
            jsonata(f"{INCREMENTAL_MODE} and $export.ExportStatus = 'COMPLETED'"),
            completed_export,
        ).when(
            jsonata(f"{INCREMENTAL_MODE} and $export.ExportStatus = 'FAILED'"),
            release_after_failure,
        )
        return self.task(
            "AcquireLock",
            "dynamodb",
            "updateItem",
            grants=watermarks,
            comment="One run per table at a time; an abandoned lock expires after the export timeout.",
            arguments={
                "TableName": state_table,
                "Key": key,
                "UpdateExpression": "SET lockOwner = :me, lockedUntil = :until",
                "ConditionExpression": "attribute_not_exists(lockedUntil) OR lockedUntil < :now OR lockOwner = :me",
                "ExpressionAttributeValues": {
                    ":me": {"S": jsonata(ME)},
                    ":now": {"N": jsonata("$string($millis())")},
                    ":until": {"N": jsonata(f"$string($millis() + {spec.timeout_seconds * 1000})")},
                },
                "ReturnValues": "ALL_NEW",
            },
            assign={
                # null until the first baseline completes (undefined is not assignable).
                "watermark": jsonata(_attribute("watermark")),
                # The chain's baseline: its time names the folder every window goes to.
                "baseline": jsonata(_attribute("baselineTime")),
                # The table's saved current-state query, once the catalog has made one.
                "queryId": jsonata(_attribute("currentStateQuery")),
                "windows": [],
                # Where this run catches up to: read once, so slow exports do not chase now.
                "target": None,
                # Failed exports of the window starting at the watermark: part of the
                # window's ClientToken, so a retry after a failure starts a new export
                # instead of getting the failed one back.
                "attempt": jsonata(
                    "($exists($states.result.Attributes.failedFrom) and "
                    "$exists($states.result.Attributes.watermark) and "
                    "$states.result.Attributes.failedFrom.S = $states.result.Attributes.watermark.S)"
                    " ? $number($states.result.Attributes.failures.N) : 0"
                ),
            },
            catch=[
                Catch([error_name("dynamodb", "ConditionalCheckFailedException")], skipped),
                *self.reject_to(rejected),
            ],
            next=read_window,
        )

    def baseline_catalog(
        self, after: State, rejected: State, state_table: str, key: dict[str, Any]
    ) -> State:
        """After a baseline: the latest tables, ``<table>_changes`` over the new chain,
        and the table's current-state query, saved once (its id kept in the state item)."""
        spec = self.spec
        record_query = self.task(
            "RecordCurrentStateQuery",
            "dynamodb",
            "updateItem",
            grants=(Grant(on.WATERMARKS, ("dynamodb:UpdateItem",)),),
            arguments={
                "TableName": state_table,
                "Key": key,
                "UpdateExpression": "SET currentStateQuery = :id",
                "ExpressionAttributeValues": {":id": {"S": jsonata("$queryId")}},
            },
            catch=self.reject_to(rejected),
            next=after,
        )
        save_query = self.task(
            "SaveCurrentStateQuery",
            "athena",
            "createNamedQuery",
            grants=(Grant(on.SAVED_QUERIES, ("athena:CreateNamedQuery",)),),
            comment="The token makes a retried call return the query the first one created.",
            arguments={
                "Name": jsonata(catalog.QUERY_NAME),
                "Description": jsonata(
                    f"'Current items of ' & {TABLE_NAME}"
                    " & ': the baseline export and the incremental windows after it'"
                ),
                "Database": spec.catalog_database,
                "WorkGroup": spec.athena_workgroup,
                "QueryString": jsonata(catalog.current_state_query(str(spec.catalog_database))),
                "ClientRequestToken": jsonata(
                    f"$hash({INPUT}.tableArn & '|current-state', 'SHA-256')"
                ),
            },
            assign={"queryId": jsonata("$states.result.NamedQueryId")},
            catch=self.reject_to(rejected),
            next=record_query,
        )
        saved = self.add(
            Choice("CurrentStateQuerySaved", default=save_query).when(
                jsonata("$type($queryId) = 'string'"), after
            )
        )
        changes = self.upsert(
            "PublishChanges", "CreateChanges", jsonata(catalog.CHANGES_INPUT), saved, rejected
        )
        return self.latest_tables("Baseline", changes, rejected)


def _attribute(name: str) -> str:
    return f"$exists($states.result.Attributes.{name}) ? $states.result.Attributes.{name}.S : null"


def table_export_machine(spec: TableExportSpec) -> Machine:
    """Export one table (given in the execution input) and wait for it to finish.

    Input: ``{"tableArn", "s3Prefix", "clientToken"}`` (plus ``mode``, ``prefix`` and
    ``columns`` for incremental and catalogued tables).
    """
    return _Builder(spec).build()


def table_export_definition(spec: TableExportSpec) -> dict[str, Any]:
    return table_export_machine(spec).render()
