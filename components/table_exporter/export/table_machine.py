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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, NamedTuple, TypeVar

from table_exporter.catalog import tables as catalog
from table_exporter.catalog.tables import INPUT
from table_exporter.config import DEFAULTS
from table_exporter.current import states as current_states
from table_exporter.export import grants as on
from table_exporter.export.incremental import (
    MAX_WINDOW_MS,
    MAX_WINDOWS_PER_RUN,
    MIN_WINDOW_MS,
    VIEW_TYPES,
)
from table_exporter.kernel import fragments
from table_exporter.kernel.asl import (
    Catch,
    Choice,
    Fail,
    Machine,
    State,
    StateBuilder,
    Succeed,
    Task,
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
    export_format: str = DEFAULTS["export_format"]
    sse_algorithm: str = DEFAULTS["sse_algorithm"]
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
    view_type: str = DEFAULTS["export_view_type"]

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
    timeout_seconds: int = DEFAULTS["export_timeout_hours"] * 3600
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


Link = Callable[[State], object]
"""One way on out of a stage, given the state it goes on to: a state's ``then``, a
choice's ``otherwise``, or a choice's ``when`` for a condition (``partial``)."""


_S = TypeVar("_S", bound=State)


def _go_on(links: Iterable[Link], state: _S) -> _S:
    for link in links:
        link(state)
    return state


class _Stages:
    """Stages some of which a machine may leave out, one after another: each goes on
    from the ways out of the one before."""

    def __init__(self) -> None:
        self.entry: State | None = None
        self.links: list[Link] = []

    def add(self, entry: State, links: list[Link]) -> None:
        if self.entry is None:
            self.entry = entry
        else:
            _go_on(self.links, entry)
        self.links = links

    def end(self, state: State) -> State:
        """``state`` after the last stage; returns the first stage's entry."""
        self.add(state, [])
        assert self.entry is not None
        return self.entry


class _Current(NamedTuple):
    """The current table's states, where both modes' completed exports go."""

    keep: Choice
    """``KeepCurrentTable``: its entry."""
    full: list[Link]
    """Its ways on for a full export (to ``ExportCompleted``)."""
    windows: list[Link]
    """Its ways on for an incremental export (to ``RecordWindow``)."""


class _Builder(StateBuilder):
    """Builds the machine's states one stage at a time, in the order an execution meets
    them: each stage links on from the ways out of the one before."""

    def __init__(self, spec: TableExportSpec) -> None:
        super().__init__(spec.partition)
        self.spec = spec
        # Made before the flow: nearly every task catches into it; it is an end, not a step.
        self.rejected = fragments.rejected(
            self,
            "ExportRejected",
            prefix="TableExport",
            cause=_failure_record("$states.input.Error", "$states.input.Cause"),
        )
        # In the incremental chain the tasks catch into the lock's release instead, made
        # early for the same reason; it then rejects the table.
        self.released: State = self.rejected
        if spec.incremental is not None:
            self.released = self.release("ReleaseLockAfterError", next=self.rejected)

    @cached_property
    def current(self) -> _Current | None:
        """The current table's states, made once for a table that keeps one: a completed
        full export and a completed window both go through them, whichever stage is
        built first."""
        return self.current_table() if self.spec.keeps_current_tables else None

    def build(self) -> Machine:
        spec = self.spec
        first, starts, again = self.begin()
        finished = self.poll(starts)
        completed = self.full_completed()
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
        if again is not None:
            # Tried first: the full export's exits match an export of either mode.
            finished.when(
                jsonata(f"{INCREMENTAL_MODE} and $export.ExportStatus = 'COMPLETED'"),
                self.window_completed(again),
            ).when(
                jsonata(f"{INCREMENTAL_MODE} and $export.ExportStatus = 'FAILED'"),
                self.window_failed(failed),
            )
        finished.when(jsonata("$export.ExportStatus = 'COMPLETED'"), completed)
        finished.when(jsonata("$export.ExportStatus = 'FAILED'"), failed)
        return Machine(
            first,
            built=self.built,
            comment="Export one DynamoDB table to S3 and wait until the export has finished.",
            timeout_seconds=spec.timeout_seconds,
        )

    def begin(self) -> tuple[State, list[Task], Task | None]:
        """``StartExport``; with incremental tables, ``ChooseMode`` first sends those to
        the watermark chain. Returns the machine's start, the states that start an
        export, and where the chain goes back to for its next window (``None`` without
        the chain)."""
        if self.spec.incremental is None:
            full = self.start_full()
            return full, [full], None
        mode = self.add(Choice("ChooseMode"))
        lock = self.lock()
        mode.when(jsonata(INCREMENTAL_MODE), lock)
        again, exports = self.plan_windows(lock)
        full = self.start_full()
        mode.otherwise(full)
        return mode, [full, *exports], again

    def start_full(self) -> Task:
        return self.start_export(
            "StartExport",
            comment="ClientToken makes a repeated request return the export already started.",
            catch=fragments.catch_all(self.rejected),
            assign=self.started(),
            ExportType="FULL_EXPORT",
            S3Prefix=jsonata("$states.input.s3Prefix"),
            ClientToken=jsonata("$states.input.clientToken"),
        )

    # -- the incremental chain: the lock, then the next window ---------------------------

    def lock(self) -> Task:
        """``AcquireLock``: one run per table at a time; when another run holds it, this
        one ends, leaving the table to it."""
        return self.task(
            "AcquireLock",
            "dynamodb",
            "updateItem",
            grants=self.watermarks,
            comment="One run per table at a time; an abandoned lock expires after the export timeout.",
            arguments={
                "TableName": self.state_table,
                "Key": self.key,
                "UpdateExpression": "SET lockOwner = :me, lockedUntil = :until",
                "ConditionExpression": "attribute_not_exists(lockedUntil) OR lockedUntil < :now OR lockOwner = :me",
                "ExpressionAttributeValues": {
                    ":me": {"S": jsonata(ME)},
                    ":now": {"N": jsonata("$string($millis())")},
                    ":until": {
                        "N": jsonata(f"$string($millis() + {self.spec.timeout_seconds * 1000})")
                    },
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
                Catch(
                    [error_name("dynamodb", "ConditionalCheckFailedException")], self.lock_held()
                ),
                *fragments.catch_all(self.rejected),
            ],
        )

    def lock_held(self) -> Succeed:
        return self.add(
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

    def plan_windows(self, locked: Task) -> tuple[Task, list[Task]]:
        """``ReadRecoveryWindow`` ─▶ ``PlanNextExport``: PITR off ends the chain, a
        missing or expired baseline starts one, a chain caught up ends the run, else the
        next window. Returns the read (each recorded window comes back to it) and the
        two exports."""
        read = locked.then(self.read_recovery_window())
        plan = read.then(self.add(Choice("PlanNextExport")))
        plan.when(
            jsonata("$pitr.PointInTimeRecoveryStatus != 'ENABLED'"),
            self.release(
                "PitrDisabled",
                next=self.rejected,
                output={
                    "Error": error_name("dynamodb", "PointInTimeRecoveryUnavailableException"),
                    "Cause": jsonata(
                        "'Point in time recovery is not enabled for table ' & " + TABLE_NAME
                    ),
                },
            ),
        )
        baseline = self.start_baseline()
        plan.when(
            jsonata(
                "$type($watermark) != 'string' or $type($baseline) != 'string' or "
                "$toMillis($watermark) < $toMillis($pitr.EarliestRestorableDateTime)"
            ),
            baseline,
        )
        plan.when(
            jsonata(
                f"$count($windows) >= {MAX_WINDOWS_PER_RUN} or "
                f"{WINDOW_END} - $toMillis($watermark) < {MIN_WINDOW_MS}"
            ),
            self.caught_up(),
        )
        window = self.start_window()
        plan.otherwise(window)
        return read, [baseline, window]

    def read_recovery_window(self) -> Task:
        """Whether PITR is on, and where this run catches up to (read once per run)."""
        backups = "$states.result.ContinuousBackupsDescription.PointInTimeRecoveryDescription"
        return self.task(
            "ReadRecoveryWindow",
            "dynamodb",
            "describeContinuousBackups",
            grants=(Grant(on.EXPORTED_TABLES, ("dynamodb:DescribeContinuousBackups",)),),
            arguments={"TableName": jsonata(f"{INPUT}.tableArn")},
            assign={
                "pitr": jsonata(backups),
                # Absent while PITR is off: null, and PlanNextExport reports that first.
                "target": jsonata(
                    "$type($target) = 'string' ? $target : "
                    f"($exists({backups}.LatestRestorableDateTime) ? "
                    f"{backups}.LatestRestorableDateTime : null)"
                ),
            },
            catch=fragments.catch_all(self.released),
        )

    def start_baseline(self) -> Task:
        return self.start_export(
            "StartBaseline",
            comment="A full export at the latest restorable time starts (or restarts) the chain.",
            catch=fragments.catch_all(self.released),
            assign={
                **self.started(),
                "pending": jsonata(
                    "{'kind': 'baseline', 'to': $fromMillis($toMillis($target)), 'replaces': $watermark}"
                ),
            },
            ExportType="FULL_EXPORT",
            ExportTime=jsonata("$target"),
            S3Prefix=jsonata(
                f"{INPUT}.prefix & '/baseline/' & $fromMillis($toMillis($target), {catalog.CHAIN_STAMP})"
            ),
            ClientToken=jsonata(f"$hash({INPUT}.tableArn & '|baseline|' & $target, 'SHA-256')"),
        )

    def caught_up(self) -> Task:
        """``ReleaseLock`` ─▶ ``PublishWatermarkLag`` ─▶ ``IncrementalDone``; returns the first."""
        incremental = self.spec.incremental
        assert incremental is not None
        release = self.release("ReleaseLock")
        lag = release.then(
            self.task(
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
                                {"Name": "Exporter", "Value": incremental.exporter_name}
                            ],
                            "Value": jsonata("$round(($millis() - $toMillis($watermark)) / 1000)"),
                            "Unit": "Seconds",
                        }
                    ],
                },
            )
        )
        done = lag.then(
            self.add(
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
        )
        # The metric only reports: the chain is done whether or not it was published.
        lag.on_error(["States.ALL"], done)
        return release

    def start_window(self) -> Task:
        incremental = self.spec.incremental
        assert incremental is not None
        return self.start_export(
            "StartWindow",
            catch=fragments.catch_all(self.released),
            assign={
                **self.started(),
                "pending": jsonata(
                    f"{{'kind': 'incremental', 'from': $watermark, 'to': $fromMillis({WINDOW_END})}}"
                ),
            },
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={
                "ExportFromTime": jsonata("$watermark"),
                "ExportToTime": jsonata(f"$fromMillis({WINDOW_END})"),
                "ExportViewType": incremental.view_type,
            },
            S3Prefix=jsonata(catalog.window_prefix(f"{INPUT}.prefix", "$baseline", "$watermark")),
            ClientToken=jsonata(
                f"$hash({INPUT}.tableArn & '|incremental|' & $string($attempt) & '|' & $watermark & '|' & "
                f"$string({WINDOW_END}), 'SHA-256')"
            ),
        )

    # -- the export and its polling loop, shared by both modes ---------------------------

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
        self,
        name: str,
        *,
        catch: list[Catch],
        assign: dict[str, Any],
        comment: str | None = None,
        **arguments: Any,
    ) -> Task:
        return self.task(
            name,
            "dynamodb",
            "exportTableToPointInTime",
            comment=comment,
            grants=self.export_grants(),
            arguments={**self.export_arguments(), **arguments},
            assign=assign,
            catch=catch,
        )

    def started(self) -> dict[str, Any]:
        """What starting an export assigns: its ARN, for the polling loop."""
        return {
            "exportArn": jsonata("$states.result.ExportDescription.ExportArn"),
            "elapsed": 0,
            "wait": self.spec.poll.min_seconds,
        }

    def poll(self, starts: list[Task]) -> Choice:
        """``WaitForExport`` ─▶ ``DescribeExport`` ─▶ ``ExportFinished`` after every
        start; returns the choice, whose exits ``build`` adds (``Default`` back to
        waiting)."""
        wait, _, finished = self.polling_loop(
            ("WaitForExport", "DescribeExport", "ExportFinished"),
            action="describeExport",
            grants=(Grant(on.EXPORTED_TABLES, ("dynamodb:DescribeExport",)),),
            arguments={"ExportArn": jsonata("$exportArn")},
            described=("export", "ExportDescription"),
            next_wait=self.spec.poll.jsonata_next_wait,
            catch=fragments.catch_all(self.rejected),
        )
        _go_on([start.then for start in starts], wait)
        return finished

    # -- a full export that COMPLETED ----------------------------------------------------

    def full_completed(self) -> State:
        """Its latest tables (with the catalog), its current table (for a table that keeps
        one), then ``ExportCompleted``; returns the first of them."""
        spec = self.spec
        stages = _Stages()
        if spec.catalog_database:
            stages.add(*self.latest_tables("", self.rejected))
        if self.current is not None:
            stages.add(self.current.keep, self.current.full)
        return stages.end(
            self.add(
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
        )

    def latest_tables(self, prefix: str, failed: State) -> tuple[Task, list[Link]]:
        """Point ``<table>_latest`` and ``<table>_latest_raw`` at the completed export;
        errors go to ``failed``."""
        read = self.task(
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
            catch=fragments.catch_all(failed),
        )
        latest, published = self.upsert(
            f"{prefix}PublishLatest", f"{prefix}CreateLatest", jsonata("$latestInput"), failed
        )
        read.then(latest)
        raw, published_raw = self.upsert(
            f"{prefix}PublishLatestRaw", f"{prefix}CreateLatestRaw", jsonata("$rawInput"), failed
        )
        _go_on(published, raw)
        return read, published_raw

    def upsert(
        self, update: str, create: str, table_input: str, failed: State
    ) -> tuple[Task, list[Link]]:
        """``update`` a Glue table, or ``create`` it when it does not exist yet; when a
        run delivered twice created it meanwhile (``AlreadyExistsException``), update it
        once more: Scheduler delivers at least once. Returns the update and the ways on
        from each of the three tasks."""
        glue = (Grant(on.CATALOG, ("glue:CreateTable", "glue:UpdateTable")),)
        arguments = {"DatabaseName": self.spec.catalog_database, "TableInput": table_input}
        update_arguments = {**arguments, "SkipArchive": True}
        updated = self.task(
            update,
            "glue",
            "updateTable",
            grants=glue,
            comment=catalog.SKIP_ARCHIVE_REASON,
            arguments=update_arguments,
        )
        created = self.task(create, "glue", "createTable", grants=glue, arguments=arguments)
        updated.on_error([error_name("glue", "EntityNotFoundException")], created)
        updated.catch += fragments.catch_all(failed)
        updated_again = self.task(
            f"{update}Again",
            "glue",
            "updateTable",
            grants=glue,
            comment="Created meanwhile by a duplicate run of the same table: update it.",
            arguments=update_arguments,
            catch=fragments.catch_all(failed),
        )
        created.on_error([error_name("glue", "AlreadyExistsException")], updated_again)
        created.catch += fragments.catch_all(failed)
        return updated, [updated.then, created.then, updated_again.then]

    def current_table(self) -> _Current:
        """``KeepCurrentTable``: for a table whose input says ``current: true``, the
        current table's states (``current/states.py``), after the latest tables (and a
        baseline's catalog) and before ``ExportCompleted`` or ``RecordWindow``; others
        go straight on. With the incremental chain, a kept table and a failure go on by
        mode, through ``CurrentTableKept`` and ``CurrentTableFailed``."""
        spec = self.spec
        assert spec.catalog_database is not None and spec.athena_workgroup is not None
        keep = self.add(Choice("KeepCurrentTable"))
        failed: State = self.rejected
        if spec.incremental is not None:
            # Made before the current table's states: each of them catches into it.
            failed = self.add(
                Choice(
                    "CurrentTableFailed",
                    comment="The current table was not brought up to date: fail the table.",
                    default=self.rejected,
                ).when(jsonata(INCREMENTAL_MODE), self.released)
            )
        entry, kept = current_states.build(
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
        )
        keep.when(jsonata(f"{INPUT}.current = true"), entry)
        if spec.incremental is None:
            return _Current(keep, [keep.otherwise, *(state.then for state in kept)], [])
        by_mode = _go_on([state.then for state in kept], self.add(Choice("CurrentTableKept")))
        incremental = jsonata(INCREMENTAL_MODE)
        return _Current(
            keep,
            [keep.otherwise, by_mode.otherwise],
            [partial(keep.when, incremental), partial(by_mode.when, incremental)],
        )

    # -- an incremental export that ended ------------------------------------------------

    def window_completed(self, again: Task) -> State:
        """A baseline's catalog (with the catalog and the workgroup), the current table
        (for a table that keeps one), then ``RecordWindow``, which moves the watermark
        and goes back for the next window; returns the first of them."""
        spec = self.spec
        stages = _Stages()
        if spec.catalog_database is not None and spec.athena_workgroup is not None:
            baseline = self.add(Choice("BaselineCompleted"))
            catalogued, links = self.baseline_catalog()
            baseline.when(jsonata("$pending.kind = 'baseline'"), catalogued)
            stages.add(baseline, [baseline.otherwise, *links])
        if self.current is not None:
            stages.add(self.current.keep, self.current.windows)
        return stages.end(self.record_window(again))

    def baseline_catalog(self) -> tuple[Task, list[Link]]:
        """After a baseline: the latest tables, ``<table>_changes`` over the new chain,
        and the table's current-state query, saved once (its id kept in the state item)."""
        spec = self.spec
        read, published = self.latest_tables("Baseline", self.released)
        changes, changed = self.upsert(
            "PublishChanges", "CreateChanges", jsonata(catalog.CHANGES_INPUT), self.released
        )
        _go_on(published, changes)
        saved = _go_on(changed, self.add(Choice("CurrentStateQuerySaved")))
        save = self.task(
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
            catch=fragments.catch_all(self.released),
        )
        saved.otherwise(save)
        recorded = save.then(
            self.task(
                "RecordCurrentStateQuery",
                "dynamodb",
                "updateItem",
                grants=(Grant(on.WATERMARKS, ("dynamodb:UpdateItem",)),),
                arguments={
                    "TableName": self.state_table,
                    "Key": self.key,
                    "UpdateExpression": "SET currentStateQuery = :id",
                    "ExpressionAttributeValues": {":id": {"S": jsonata("$queryId")}},
                },
                catch=fragments.catch_all(self.released),
            )
        )
        return read, [partial(saved.when, jsonata("$type($queryId) = 'string'")), recorded.then]

    def record_window(self, again: Task) -> Task:
        """``RecordWindow``: the watermark moves to the export's end, then ``again``."""
        record = self.task(
            "RecordWindow",
            "dynamodb",
            "updateItem",
            grants=self.watermarks,
            comment="Advance only from the watermark this export started at, and only while holding the lock.",
            arguments={
                "TableName": self.state_table,
                "Key": self.key,
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
            catch=fragments.catch_all(self.released),
        )
        record.then(again)
        return record

    def window_failed(self, failed: Fail) -> Task:
        """``ReleaseLockAfterFailure`` ─▶ ``failed``: the watermark stays."""
        release = self.release(
            "ReleaseLockAfterFailure",
            comment="The watermark stays; a failed window is counted so the next run retries it afresh.",
            arguments={
                "TableName": self.state_table,
                "Key": self.key,
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
        release.then(failed)
        return release

    # -- the chain's state item ----------------------------------------------------------

    @property
    def state_table(self) -> str:
        incremental = self.spec.incremental
        assert incremental is not None
        return incremental.state_table

    @property
    def key(self) -> dict[str, Any]:
        """The table's item in the state table."""
        return {"pk": {"S": jsonata(f"{INPUT}.tableArn")}}

    @property
    def watermarks(self) -> tuple[Grant, ...]:
        return (Grant(on.WATERMARKS, ("dynamodb:UpdateItem",)),)

    def release(self, name: str, **overrides: Any) -> Task:
        """Removes this run's lock (only its own) and passes its input on; ``overrides``
        the task's fields. Its way on is the caller's."""
        fields: dict[str, Any] = {
            "arguments": {
                "TableName": self.state_table,
                "Key": self.key,
                "UpdateExpression": "REMOVE lockOwner, lockedUntil",
                "ConditionExpression": "lockOwner = :me",
                "ExpressionAttributeValues": {":me": {"S": jsonata(ME)}},
            },
            "output": jsonata("$states.input"),
            **overrides,
        }
        return self.task(name, "dynamodb", "updateItem", grants=self.watermarks, **fields)


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
