"""Amazon States Language for the three state machines, built from plain data.

``run`` machine (one execution per scheduled run)
    Splits the tables into batches and starts one ``batch`` execution per batch
    (``startExecution.sync:2``). Failures are collected per table; the run fails at
    the end, naming every failed table, after the others have finished.

``batch`` machine (one execution per batch of up to ``BATCH_SIZE`` tables)
    Maps over its tables with a bounded concurrency and starts one ``table export``
    execution per table, so every execution's history and payload stay small however
    many tables there are, and each table's polling loop lives in its own execution.

``table export`` machine (one execution per table per run)
    Calls ``ExportTableToPointInTime`` directly (no Lambda) with an idempotency token,
    then polls ``DescribeExport`` by export ARN with a wait proportional to the time
    already spent, until the export is ``COMPLETED`` or ``FAILED``.

Both use JSONata. Nothing here touches Pulumi or AWS: the component feeds these
functions resolved values and serialises the result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog import catalog_states, changes_states
from .incremental import VIEW_TYPES, incremental_states
from .polling import PollPolicy
from .retries import retry_for, start_execution_retry
from .targets import ExportTarget

EXPORT_FORMATS = ("DYNAMODB_JSON", "ION")
SSE_ALGORITHMS = ("AES256", "KMS")
MAX_CONCURRENT_EXPORTS = 300
"""DynamoDB's quota of concurrent export tasks per account and region."""
BATCH_SIZE = 50
"""Tables per batch execution: bounds every execution's history and payload."""
DETAILED_RESULTS_LIMIT = 200
"""Runs with at most this many tables list every table's result in their output."""

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
    """Workgroup the incremental tables' current-state queries are saved in."""


@dataclass(frozen=True)
class RunSpec:
    """Everything the run machine needs."""

    batch_machine_arn: str
    targets: Sequence[ExportTarget]
    max_concurrency: int = 10
    timeout_seconds: int = 48 * 3600
    batch_size: int = BATCH_SIZE
    partition: str = "aws"
    detailed_results_limit: int = DETAILED_RESULTS_LIMIT

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 200:
            raise ValueError("batch size must be 1..200")
        if not 1 <= self.max_concurrency <= MAX_CONCURRENT_EXPORTS:
            raise ValueError(
                f"max concurrency must be 1..{MAX_CONCURRENT_EXPORTS} "
                "(DynamoDB runs at most 300 exports at once per account and region)"
            )
        if not self.targets:
            raise ValueError("at least one table is required")


def _jsonata(expression: str) -> str:
    """Wrap an expression for a JSONata state; multi-line sources become one line."""
    return "{% " + " ".join(expression.split()) + " %}"


TABLE_NAME = "$substringAfter($states.context.Execution.Input.tableArn, ':table/')"


def _failure_record(error: str, cause: str) -> str:
    """JSON text every failed table export carries as its Cause: the parent parses it."""
    return _jsonata(
        f"$string({{'table': {TABLE_NAME}, "
        "'tableArn': $states.context.Execution.Input.tableArn, "
        f"'error': {error}, 'cause': {cause}}})"
    )


def table_export_definition(spec: TableExportSpec) -> dict[str, Any]:
    """Export one table (given in the execution input) and wait for it to finish.

    Input: ``{"tableArn", "s3Prefix", "clientToken"}``. Output on success: the table's
    export ARN, status, item count, billed bytes and S3 location. A permanent failure
    ends the execution FAILED with the DynamoDB error name as Error and a JSON Cause
    naming the table, the error code and its cause.
    """
    dest = spec.destination
    export_args: dict[str, Any] = {
        "TableArn": _jsonata("$states.input.tableArn"),
        "S3Bucket": dest.bucket,
        "S3Prefix": _jsonata("$states.input.s3Prefix"),
        "ExportFormat": dest.export_format,
        "ExportType": "FULL_EXPORT",
        "S3SseAlgorithm": dest.sse_algorithm,
        "ClientToken": _jsonata("$states.input.clientToken"),
    }
    if dest.kms_key_arn:
        export_args["S3SseKmsKeyId"] = dest.kms_key_arn
    if dest.bucket_owner:
        export_args["S3BucketOwner"] = dest.bucket_owner

    catch_rejected = [
        {
            "ErrorEquals": ["States.ALL"],
            "Output": _jsonata("$states.errorOutput"),
            "Next": "ExportRejected",
        }
    ]
    first_wait = spec.poll.min_seconds
    definition: dict[str, Any] = {
        "Comment": "Export one DynamoDB table to S3 and wait until the export has finished.",
        "QueryLanguage": "JSONata",
        "TimeoutSeconds": spec.timeout_seconds,
        "StartAt": "StartExport",
        "States": {
            "StartExport": {
                "Type": "Task",
                "Comment": "ClientToken makes a repeated request return the export already started.",
                "Resource": f"arn:{spec.partition}:states:::aws-sdk:dynamodb:exportTableToPointInTime",
                "Arguments": export_args,
                "Assign": {
                    "exportArn": _jsonata("$states.result.ExportDescription.ExportArn"),
                    "elapsed": 0,
                    "wait": first_wait,
                },
                "Output": {},
                "Retry": retry_for("dynamodb", "exportTableToPointInTime"),
                "Catch": catch_rejected,
                "Next": "WaitForExport",
            },
            "WaitForExport": {
                "Type": "Wait",
                "Seconds": _jsonata("$wait"),
                "Next": "DescribeExport",
            },
            "DescribeExport": {
                "Type": "Task",
                "Resource": f"arn:{spec.partition}:states:::aws-sdk:dynamodb:describeExport",
                "Arguments": {"ExportArn": _jsonata("$exportArn")},
                "Assign": {
                    "export": _jsonata("$states.result.ExportDescription"),
                    "elapsed": _jsonata("$elapsed + $wait"),
                    "wait": _jsonata(spec.poll.jsonata_next_wait("$elapsed + $wait")),
                },
                "Output": {},
                "Retry": retry_for("dynamodb", "describeExport"),
                "Catch": catch_rejected,
                "Next": "ExportFinished",
            },
            "ExportFinished": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Condition": _jsonata("$export.ExportStatus = 'COMPLETED'"),
                        "Next": "ExportCompleted",
                    },
                    {
                        "Condition": _jsonata("$export.ExportStatus = 'FAILED'"),
                        "Next": "ExportFailed",
                    },
                ],
                "Default": "WaitForExport",
            },
            "ExportCompleted": {
                "Type": "Succeed",
                "Output": {
                    "table": _jsonata(TABLE_NAME),
                    "tableArn": _jsonata("$export.TableArn"),
                    "mode": "full",
                    "status": _jsonata("$export.ExportStatus"),
                    "exportArn": _jsonata("$export.ExportArn"),
                    "itemCount": _jsonata("$export.ItemCount"),
                    "billedSizeBytes": _jsonata("$export.BilledSizeBytes"),
                    "s3Location": _jsonata(
                        "'s3://' & $export.S3Bucket & '/' & $export.S3Prefix & '/AWSDynamoDB/' & "
                        "$substringAfter($export.ExportArn, '/export/') & '/'"
                    ),
                },
            },
            "ExportFailed": {
                "Type": "Fail",
                "Comment": "DynamoDB accepted the export but it ended FAILED.",
                "Error": "ExportFailed",
                "Cause": _failure_record(
                    "$export.FailureCode ? $export.FailureCode : 'ExportFailed'",
                    "$export.FailureMessage ? $export.FailureMessage : 'export ended FAILED'",
                ),
            },
            "ExportRejected": {
                "Type": "Fail",
                "Comment": "A permanent error, or a transient one that outlasted its retries.",
                # Names starting "States." are reserved for Step Functions' own errors.
                "Error": _jsonata(
                    "$substring($states.input.Error, 0, 7) = 'States.' ? "
                    "'TableExport.' & $substringAfter($states.input.Error, 'States.') : $states.input.Error"
                ),
                "Cause": _failure_record("$states.input.Error", "$states.input.Cause"),
            },
        },
    }
    if spec.catalog_database is not None:
        states = definition["States"]
        for choice in states["ExportFinished"]["Choices"]:
            if choice["Next"] == "ExportCompleted":
                choice["Next"] = "ReadKeySchema"
        states.update(
            catalog_states(
                database=spec.catalog_database,
                partition=spec.partition,
                next_state="ExportCompleted",
            )
        )
    if spec.incremental is not None:
        _add_incremental(definition, spec, export_args, first_wait)
    return definition


def _add_incremental(
    definition: dict[str, Any], spec: TableExportSpec, export_args: dict[str, Any], first_wait: int
) -> None:
    """Route ``mode: incremental`` inputs through the watermark chain; the polling loop
    is shared, and leaves to the chain's states when the export was one of its own."""
    assert spec.incremental is not None
    states = definition["States"]
    incremental_mode = "$states.context.Execution.Input.mode = 'incremental'"
    states["ChooseMode"] = {
        "Type": "Choice",
        "Choices": [{"Condition": _jsonata(incremental_mode), "Next": "AcquireLock"}],
        "Default": "StartExport",
    }
    definition["StartAt"] = "ChooseMode"
    finished = states["ExportFinished"]["Choices"]
    finished[:0] = [
        {
            "Condition": _jsonata(f"{incremental_mode} and $export.ExportStatus = 'COMPLETED'"),
            "Next": "RecordWindow",
        },
        {
            "Condition": _jsonata(f"{incremental_mode} and $export.ExportStatus = 'FAILED'"),
            "Next": "ReleaseLockAfterFailure",
        },
    ]
    states.update(
        incremental_states(
            state_table=spec.incremental.state_table,
            export_args=export_args,
            view_type=spec.incremental.view_type,
            lock_ms=spec.timeout_seconds * 1000,
            exporter_name=spec.incremental.exporter_name,
            partition=spec.partition,
            first_wait=first_wait,
        )
    )
    if spec.catalog_database is not None and spec.athena_workgroup is not None:
        # A completed baseline also moves Athena's tables; windows need no catalog change.
        states["BaselineRecorded"] = {
            "Type": "Choice",
            "Choices": [
                {
                    "Condition": _jsonata("$windows[-1].kind = 'baseline'"),
                    "Next": "BaselineReadKeySchema",
                }
            ],
            "Default": "ReadRecoveryWindow",
        }
        states["RecordWindow"]["Next"] = "BaselineRecorded"
        states.update(
            changes_states(
                database=spec.catalog_database,
                workgroup=spec.athena_workgroup,
                state_table=spec.incremental.state_table,
                partition=spec.partition,
                next_state="ReadRecoveryWindow",
                reject_to="ReleaseLockAfterError",
            )
        )


# Reads a failed child's details out of the error startExecution.sync:2 reports: its
# Cause is the child's DescribeExecution output as JSON, whose Cause is ours (above).
_FAILURE_FROM_CHILD = """(
  $e := $states.input.error;
  $isJson := function($s) { $type($s) = 'string' and $substring($s, 0, 1) = '{' };
  $child := $isJson($e.Cause) ? $parse($e.Cause) : {};
  $childError := $child.Error ? $child.Error : $child.error;
  $childCause := $child.Cause ? $child.Cause : $child.cause;
  $detail := $isJson($childCause) ? $parse($childCause) : {};
  {
    'table': $substringAfter($states.input.tableArn, ':table/'),
    'tableArn': $states.input.tableArn,
    'status': 'FAILED',
    'error': $detail.error ? $detail.error : ($childError ? $childError : $e.Error),
    'cause': $detail.cause ? $detail.cause : ($childCause ? $childCause : $e.Cause)
  }
)"""

# A batch execution that could not run at all fails every table it was given.
_BATCH_FAILURE = """(
  $e := $states.input.error;
  {
    'count': $count($states.input.tables),
    'batch': null,
    'tables': [],
    'failed': [$states.input.tables.{
      'table': $substringAfter(tableArn, ':table/'),
      'tableArn': tableArn,
      'status': 'FAILED',
      'error': $e.Error,
      'cause': $substring($string($e.Cause), 0, 400)
    }]
  }
)"""

# What the run keeps of a batch: everything for small runs, counts and failures for
# large ones (the per-table results stay in the batch execution's output).
_BATCH_SUMMARY = """(
  $results := [$states.result.Output.tables];
  $failed := [$results[status = 'FAILED']];
  {
    'count': $count($results),
    'batch': $states.result.ExecutionArn,
    'tables': $states.input.detailed ? $results : [],
    'failed': $states.input.detailed ? $failed : [$failed.{'table': table, 'error': error}]
  }
)"""

_RUN_FAILURE_CAUSE = """(
  $message := $string($count($failed)) & ' of ' & $string($total) &
    ' table exports failed: ' & $join($failed.(table & ' (' & error & ')'), ', ');
  $substring($string({
    'message': $message,
    'failed': [$failed[[0..49]].{'table': table, 'error': error, 'cause': $substring($string(cause), 0, 300)}],
    'succeeded': [$results[status != 'FAILED'].table]
  }), 0, 32768)
)"""

# Scheduled runs carry the scheduler's scheduled time, identical when the scheduler
# redelivers the same run; manual runs are keyed by their (unique) execution name.
_RUN_KEY = (
    "$exists($states.input.scheduledTime) ? 'scheduled/' & $states.input.scheduledTime"
    " : 'execution/' & $states.context.Execution.Name"
)
_RUN_DATE = (
    "$substring($exists($states.input.scheduledTime) ? $states.input.scheduledTime"
    " : $states.context.Execution.StartTime, 0, 10)"
)
_TABLE_EXECUTION_NAME = (
    "$substring($replace($substringAfter($states.input.tableArn, ':table/'), '.', '_'), 0, 40)"
    " & '-' & $substring($hash($states.input.parent & '|' & $states.input.tableArn, 'SHA-256'), 0, 24)"
)
# The tables given in the run's input, else the configured ones.
_TABLES = "($exists($states.input.tables) ? $states.input.tables : $configuredTables)"
_BATCH_EXECUTION_NAME = (
    "'batch-' & $string($states.input.index) & '-' & "
    "$substring($hash($states.input.parent, 'SHA-256'), 0, 24)"
)


def _start_sync(partition: str) -> str:
    return f"arn:{partition}:states:::states:startExecution.sync:2"


@dataclass(frozen=True)
class Concurrency:
    """Splits the exporter's concurrency between batches and tables within a batch.

    ``batches * per_batch <= total``, so no more than ``total`` exports run at once.
    """

    total: int
    batch_size: int = BATCH_SIZE

    @property
    def per_batch(self) -> int:
        return min(self.total, self.batch_size)

    @property
    def batches(self) -> int:
        return max(1, self.total // self.per_batch)


@dataclass(frozen=True)
class BatchSpec:
    table_machine_arn: str
    max_concurrency: int
    timeout_seconds: int = 48 * 3600
    partition: str = "aws"


def batch_definition(spec: BatchSpec) -> dict[str, Any]:
    """Export a batch of tables (given in the input): one table export execution each.

    Always succeeds, with every table's result; the run decides whether it failed.
    """
    return {
        "Comment": "Export a batch of DynamoDB tables: one table export execution per table.",
        "QueryLanguage": "JSONata",
        "TimeoutSeconds": spec.timeout_seconds,
        "StartAt": "ExportTables",
        "States": {
            "ExportTables": {
                "Type": "Map",
                "Items": _jsonata("$states.input.tables"),
                "MaxConcurrency": spec.max_concurrency,
                "ItemSelector": {
                    "tableArn": _jsonata("$states.context.Map.Item.Value.tableArn"),
                    "prefix": _jsonata("$states.context.Map.Item.Value.prefix"),
                    "mode": _jsonata(
                        "$exists($states.context.Map.Item.Value.mode) ? "
                        "$states.context.Map.Item.Value.mode : 'full'"
                    ),
                    "columns": _jsonata(
                        "$exists($states.context.Map.Item.Value.columns) ? "
                        "$states.context.Map.Item.Value.columns : []"
                    ),
                    "runKey": _jsonata("$states.input.runKey"),
                    "runDate": _jsonata("$states.input.runDate"),
                    "parent": _jsonata("$states.context.Execution.Id"),
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "ExportTable",
                    "States": {
                        "ExportTable": {
                            "Type": "Task",
                            "Resource": _start_sync(spec.partition),
                            "Arguments": {
                                "StateMachineArn": spec.table_machine_arn,
                                "Name": _jsonata(_TABLE_EXECUTION_NAME),
                                "Input": {
                                    "tableArn": _jsonata("$states.input.tableArn"),
                                    "s3Prefix": _jsonata(
                                        "$states.input.prefix & '/' & "
                                        "$substringAfter($states.input.tableArn, ':table/') & "
                                        "'/full/' & $states.input.runDate"
                                    ),
                                    "clientToken": _jsonata(
                                        "$hash($states.input.runKey & '|' & $states.input.tableArn, 'SHA-256')"
                                    ),
                                    "mode": _jsonata("$states.input.mode"),
                                    "columns": _jsonata("$states.input.columns"),
                                    "prefix": _jsonata(
                                        "$states.input.prefix & '/' & "
                                        "$substringAfter($states.input.tableArn, ':table/')"
                                    ),
                                    "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": _jsonata(
                                        "$states.context.Execution.Id"
                                    ),
                                },
                            },
                            "Output": _jsonata("$states.result.Output"),
                            "Retry": start_execution_retry(),
                            "Catch": [
                                {
                                    "ErrorEquals": ["States.ALL"],
                                    "Output": _jsonata(
                                        "{'tableArn': $states.input.tableArn, 'error': $states.errorOutput}"
                                    ),
                                    "Next": "RecordFailure",
                                }
                            ],
                            "End": True,
                        },
                        "RecordFailure": {
                            "Type": "Pass",
                            "Output": _jsonata(_FAILURE_FROM_CHILD),
                            "End": True,
                        },
                    },
                },
                "Output": {"tables": _jsonata("$states.result")},
                "End": True,
            },
        },
    }


def run_definition(spec: RunSpec) -> dict[str, Any]:
    """Export every configured table once (or the ``tables`` given in the input).

    Tables are split into batches of ``spec.batch_size``; each batch runs as its own
    execution, which starts one table export execution per table.
    """
    configured = [
        {
            "tableArn": t.table_arn,
            "prefix": t.prefix,
            **({"mode": t.mode} if t.mode != "full" else {}),
            **({"columns": list(t.columns)} if t.columns else {}),
        }
        for t in spec.targets
    ]
    concurrency = Concurrency(spec.max_concurrency, spec.batch_size)
    return {
        "Comment": "Export DynamoDB tables to S3: batches of table export executions.",
        "QueryLanguage": "JSONata",
        "TimeoutSeconds": spec.timeout_seconds,
        "StartAt": "PlanRun",
        "States": {
            "PlanRun": {
                "Type": "Pass",
                "Assign": {
                    "runKey": _jsonata(_RUN_KEY),
                    "runDate": _jsonata(_RUN_DATE),
                    "configuredTables": configured,
                },
                "Next": "ExportBatches",
            },
            "ExportBatches": {
                "Type": "Map",
                "Items": _jsonata(f"$partition({_TABLES}, {spec.batch_size})"),
                "MaxConcurrency": concurrency.batches,
                "ItemSelector": {
                    "tables": _jsonata("$states.context.Map.Item.Value"),
                    "index": _jsonata("$states.context.Map.Item.Index"),
                    "runKey": _jsonata("$runKey"),
                    "runDate": _jsonata("$runDate"),
                    "detailed": _jsonata(f"$count({_TABLES}) <= {spec.detailed_results_limit}"),
                    "parent": _jsonata("$states.context.Execution.Id"),
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "ExportBatch",
                    "States": {
                        "ExportBatch": {
                            "Type": "Task",
                            "Resource": _start_sync(spec.partition),
                            "Arguments": {
                                "StateMachineArn": spec.batch_machine_arn,
                                "Name": _jsonata(_BATCH_EXECUTION_NAME),
                                "Input": {
                                    "tables": _jsonata("$states.input.tables"),
                                    "runKey": _jsonata("$states.input.runKey"),
                                    "runDate": _jsonata("$states.input.runDate"),
                                    "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": _jsonata(
                                        "$states.context.Execution.Id"
                                    ),
                                },
                            },
                            "Output": _jsonata(_BATCH_SUMMARY),
                            "Retry": start_execution_retry(),
                            "Catch": [
                                {
                                    "ErrorEquals": ["States.ALL"],
                                    "Output": _jsonata(
                                        "{'tables': $states.input.tables, 'error': $states.errorOutput}"
                                    ),
                                    "Next": "RecordBatchFailure",
                                }
                            ],
                            "End": True,
                        },
                        "RecordBatchFailure": {
                            "Type": "Pass",
                            "Output": _jsonata(_BATCH_FAILURE),
                            "End": True,
                        },
                    },
                },
                "Assign": {
                    "results": _jsonata("[$states.result.tables]"),
                    "failed": _jsonata("[$states.result.failed]"),
                    "total": _jsonata("$sum($states.result.count)"),
                    "batches": _jsonata("[$states.result.batch]"),
                },
                "Next": "AnyTableFailed",
            },
            "AnyTableFailed": {
                "Type": "Choice",
                "Choices": [{"Condition": _jsonata("$count($failed) > 0"), "Next": "RunFailed"}],
                "Default": "RunSucceeded",
            },
            "RunFailed": {
                "Type": "Fail",
                "Error": "TableExportsFailed",
                "Cause": _jsonata(_RUN_FAILURE_CAUSE),
            },
            "RunSucceeded": {
                "Type": "Succeed",
                "Output": {
                    "runKey": _jsonata("$runKey"),
                    "runDate": _jsonata("$runDate"),
                    "tableCount": _jsonata("$total"),
                    "tables": _jsonata("$results"),
                    "batches": _jsonata("$batches"),
                },
            },
        },
    }


SCHEDULED_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>"


def schedule_input() -> dict[str, Any]:
    """What the scheduler passes to each run: only the scheduled time, which keys the
    run (the table list lives in the definition, so the input stays tiny)."""
    return {"scheduledTime": SCHEDULED_TIME_PLACEHOLDER}


def to_json(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, sort_keys=False)
