"""States that keep an incremental export chain: baseline, windows, watermark, lock.

Per table, a watermark item in the exporter's state table records up to when the
table has been exported. Each run of the table export machine, in ``incremental`` mode:

1. takes the table's lock (a conditional write; a lock older than the export timeout
   is considered abandoned), reading the watermark in the same call;
2. reads the table's point-in-time recovery window;
3. with no watermark, or one older than the earliest restorable time (PITR was off,
   or the gap outlived the recovery period), takes a full *baseline* export at the
   latest restorable time T and, once it has COMPLETED, sets the watermark to T;
4. otherwise exports the window [watermark, min(watermark + 24 h, latest restorable)),
   if it is at least 15 minutes long, and, once COMPLETED, advances the watermark to
   the window's end with a write conditioned on the watermark it started from;
5. repeats 2-4 until caught up (at most ``MAX_WINDOWS_PER_RUN`` exports), releases the
   lock and publishes how far the watermark is behind now.

A failed export releases the lock without moving the watermark: the next run exports
the same window again. The window arithmetic is JSONata over epoch milliseconds.
"""

from __future__ import annotations

from typing import Any

from .catalog import CHAIN_STAMP, window_prefix
from .retries import error_name, retry_for

MIN_WINDOW_MS = 15 * 60 * 1000
MAX_WINDOW_MS = 24 * 3600 * 1000
MAX_WINDOWS_PER_RUN = 30
METRIC_NAMESPACE = "DynamoDBTableExporter"
LAG_METRIC = "WatermarkLagSeconds"
VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


def _j(expression: str) -> str:
    return "{% " + " ".join(expression.split()) + " %}"


_INPUT = "$states.context.Execution.Input"
_TABLE = f"$substringAfter({_INPUT}.tableArn, ':table/')"
_ME = "$states.context.Execution.Id"


def incremental_states(
    *,
    state_table: str,
    export_args: dict[str, Any],
    view_type: str,
    lock_ms: int,
    exporter_name: str,
    partition: str,
    first_wait: int,
) -> dict[str, dict[str, Any]]:
    """The incremental branch of the table export machine (``StartAt`` is ``AcquireLock``).

    It joins the shared polling loop at ``WaitForExport`` and leaves it through
    ``RecordWindow`` (COMPLETED) or ``ReleaseLockAfterFailure`` (FAILED).
    """
    sdk = f"arn:{partition}:states:::aws-sdk:"
    key = {"pk": {"S": _j(f"{_INPUT}.tableArn")}}
    base = f"{_INPUT}.prefix"
    common = {
        **{
            k: v
            for k, v in export_args.items()
            if k not in ("S3Prefix", "ClientToken", "ExportType")
        },
        "TableArn": _j(f"{_INPUT}.tableArn"),
    }
    release_then = {
        "Type": "Task",
        "Resource": sdk + "dynamodb:updateItem",
        "Arguments": {
            "TableName": state_table,
            "Key": key,
            "UpdateExpression": "REMOVE lockOwner, lockedUntil",
            "ConditionExpression": "lockOwner = :me",
            "ExpressionAttributeValues": {":me": {"S": _j(_ME)}},
        },
        "Output": _j("$states.input"),
        "Retry": retry_for("dynamodb", "updateItem"),
    }
    to_rejected = [
        {
            "ErrorEquals": ["States.ALL"],
            "Output": _j("$states.errorOutput"),
            "Next": "ReleaseLockAfterError",
        }
    ]
    return {
        "AcquireLock": {
            "Type": "Task",
            "Comment": "One run per table at a time; an abandoned lock expires after the export timeout.",
            "Resource": sdk + "dynamodb:updateItem",
            "Arguments": {
                "TableName": state_table,
                "Key": key,
                "UpdateExpression": "SET lockOwner = :me, lockedUntil = :until",
                "ConditionExpression": "attribute_not_exists(lockedUntil) OR lockedUntil < :now OR lockOwner = :me",
                "ExpressionAttributeValues": {
                    ":me": {"S": _j(_ME)},
                    ":now": {"N": _j("$string($millis())")},
                    ":until": {"N": _j(f"$string($millis() + {lock_ms})")},
                },
                "ReturnValues": "ALL_NEW",
            },
            "Assign": {
                # null until the first baseline completes (undefined is not assignable).
                "watermark": _j(
                    "$exists($states.result.Attributes.watermark) ? $states.result.Attributes.watermark.S : null"
                ),
                # The chain's baseline: its time names the folder every window goes to.
                "baseline": _j(
                    "$exists($states.result.Attributes.baselineTime) ? $states.result.Attributes.baselineTime.S : null"
                ),
                # The table's saved current-state query, once the catalog has made one.
                "queryId": _j(
                    "$exists($states.result.Attributes.currentStateQuery) ? "
                    "$states.result.Attributes.currentStateQuery.S : null"
                ),
                "windows": [],
                # Where this run catches up to: read once, so slow exports do not chase now.
                "target": None,
                # Failed exports of the window starting at the watermark: part of the window's
                # ClientToken, so a retry after a failure starts a new export instead of
                # getting the failed one back.
                "attempt": _j(
                    "($exists($states.result.Attributes.failedFrom) and "
                    "$exists($states.result.Attributes.watermark) and "
                    "$states.result.Attributes.failedFrom.S = $states.result.Attributes.watermark.S)"
                    " ? $number($states.result.Attributes.failures.N) : 0"
                ),
            },
            "Output": {},
            "Retry": retry_for("dynamodb", "updateItem"),
            "Catch": [
                {
                    "ErrorEquals": [error_name("dynamodb", "ConditionalCheckFailedException")],
                    "Next": "AnotherRunHoldsTheLock",
                },
                {
                    "ErrorEquals": ["States.ALL"],
                    "Output": _j("$states.errorOutput"),
                    "Next": "ExportRejected",
                },
            ],
            "Next": "ReadRecoveryWindow",
        },
        "AnotherRunHoldsTheLock": {
            "Type": "Succeed",
            "Comment": "An overlapping run is exporting this table; it will advance the watermark.",
            "Output": {
                "table": _j(_TABLE),
                "tableArn": _j(f"{_INPUT}.tableArn"),
                "mode": "incremental",
                "status": "SKIPPED",
                "message": "another run holds this table's lock",
            },
        },
        "ReadRecoveryWindow": {
            "Type": "Task",
            "Resource": sdk + "dynamodb:describeContinuousBackups",
            "Arguments": {"TableName": _j(f"{_INPUT}.tableArn")},
            "Assign": {
                "pitr": _j(
                    "$states.result.ContinuousBackupsDescription.PointInTimeRecoveryDescription"
                ),
                # Absent while PITR is off: null, and PlanNextExport reports that first.
                "target": _j(
                    "$type($target) = 'string' ? $target : "
                    "($exists($states.result.ContinuousBackupsDescription.PointInTimeRecoveryDescription"
                    ".LatestRestorableDateTime) ? "
                    "$states.result.ContinuousBackupsDescription.PointInTimeRecoveryDescription"
                    ".LatestRestorableDateTime : null)"
                ),
            },
            "Output": {},
            "Retry": retry_for("dynamodb", "describeContinuousBackups"),
            "Catch": to_rejected,
            "Next": "PlanNextExport",
        },
        "PlanNextExport": {
            "Type": "Choice",
            "Choices": [
                {
                    "Condition": _j("$pitr.PointInTimeRecoveryStatus != 'ENABLED'"),
                    "Next": "PitrDisabled",
                },
                {
                    "Comment": "No chain yet, or the chain starts before what PITR can still export.",
                    "Condition": _j(
                        "$type($watermark) != 'string' or $type($baseline) != 'string' or "
                        "$toMillis($watermark) < $toMillis($pitr.EarliestRestorableDateTime)"
                    ),
                    "Next": "StartBaseline",
                },
                {
                    "Condition": _j(
                        f"$count($windows) >= {MAX_WINDOWS_PER_RUN} or "
                        f"$min([$toMillis($watermark) + {MAX_WINDOW_MS}, "
                        f"$toMillis($target)]) - $toMillis($watermark) < {MIN_WINDOW_MS}"
                    ),
                    "Next": "ReleaseLock",
                },
            ],
            "Default": "StartWindow",
        },
        "PitrDisabled": {
            **release_then,
            "Output": {
                "Error": "DynamoDb.PointInTimeRecoveryUnavailableException",
                "Cause": _j("'Point in time recovery is not enabled for table ' & " + _TABLE),
            },
            "Next": "ExportRejected",
        },
        "StartBaseline": {
            "Type": "Task",
            "Comment": "A full export at the latest restorable time starts (or restarts) the chain.",
            "Resource": sdk + "dynamodb:exportTableToPointInTime",
            "Arguments": {
                **common,
                "ExportType": "FULL_EXPORT",
                "ExportTime": _j("$target"),
                "S3Prefix": _j(
                    f"{base} & '/baseline/' & $fromMillis($toMillis($target), {CHAIN_STAMP})"
                ),
                "ClientToken": _j(f"$hash({_INPUT}.tableArn & '|baseline|' & $target, 'SHA-256')"),
            },
            "Assign": {
                "exportArn": _j("$states.result.ExportDescription.ExportArn"),
                "pending": _j(
                    "{'kind': 'baseline', 'to': $fromMillis($toMillis($target)),"
                    " 'replaces': $watermark}"
                ),
                "elapsed": 0,
                "wait": first_wait,
            },
            "Output": {},
            "Retry": retry_for("dynamodb", "exportTableToPointInTime"),
            "Catch": to_rejected,
            "Next": "WaitForExport",
        },
        "StartWindow": {
            "Type": "Task",
            "Resource": sdk + "dynamodb:exportTableToPointInTime",
            "Arguments": {
                **common,
                "ExportType": "INCREMENTAL_EXPORT",
                "IncrementalExportSpecification": {
                    "ExportFromTime": _j("$watermark"),
                    "ExportToTime": _j(
                        f"$fromMillis($min([$toMillis($watermark) + {MAX_WINDOW_MS}, "
                        "$toMillis($target)]))"
                    ),
                    "ExportViewType": view_type,
                },
                "S3Prefix": _j(window_prefix(base, "$baseline", "$watermark")),
                "ClientToken": _j(
                    f"$hash({_INPUT}.tableArn & '|incremental|' & $string($attempt) & '|' & $watermark & '|' & "
                    f"$string($min([$toMillis($watermark) + {MAX_WINDOW_MS}, "
                    "$toMillis($target)])), 'SHA-256')"
                ),
            },
            "Assign": {
                "exportArn": _j("$states.result.ExportDescription.ExportArn"),
                "pending": _j(
                    "{'kind': 'incremental', 'from': $watermark, 'to': "
                    f"$fromMillis($min([$toMillis($watermark) + {MAX_WINDOW_MS}, "
                    "$toMillis($target)]))}"
                ),
                "elapsed": 0,
                "wait": first_wait,
            },
            "Output": {},
            "Retry": retry_for("dynamodb", "exportTableToPointInTime"),
            "Catch": to_rejected,
            "Next": "WaitForExport",
        },
        "RecordWindow": {
            "Type": "Task",
            "Comment": "Advance only from the watermark this export started at, and only while holding the lock.",
            "Resource": sdk + "dynamodb:updateItem",
            "Arguments": {
                "TableName": state_table,
                "Key": key,
                "UpdateExpression": _j(
                    "'SET watermark = :to, lastExportArn = :arn' & "
                    "($pending.kind = 'baseline' ? ', baselineTime = :to, baselineExportArn = :arn' : '')"
                ),
                "ConditionExpression": _j(
                    "'lockOwner = :me AND ' & "
                    "($type($watermark) = 'string' ? 'watermark = :from' : 'attribute_not_exists(watermark)')"
                ),
                "ExpressionAttributeValues": _j(
                    "$merge([{':me': {'S': " + _ME + "}, ':to': {'S': $pending.to}, "
                    "':arn': {'S': $export.ExportArn}}, "
                    "$type($watermark) = 'string' ? {':from': {'S': $watermark}} : {}])"
                ),
            },
            "Assign": {
                "watermark": _j("$pending.to"),
                "baseline": _j("$pending.kind = 'baseline' ? $pending.to : $baseline"),
                "windows": _j(
                    "$append($windows, [{"
                    "'kind': $pending.kind, 'from': $pending.from, 'to': $pending.to, "
                    "'replaces': $pending.replaces, 'exportArn': $export.ExportArn, "
                    "'itemCount': $export.ItemCount, 'billedSizeBytes': $export.BilledSizeBytes, "
                    "'s3Location': 's3://' & $export.S3Bucket & '/' & $export.S3Prefix & "
                    "'/AWSDynamoDB/' & $substringAfter($export.ExportArn, '/export/') & '/'}])"
                ),
            },
            "Output": {},
            "Retry": retry_for("dynamodb", "updateItem"),
            "Catch": to_rejected,
            "Next": "ReadRecoveryWindow",
        },
        "ReleaseLockAfterFailure": {
            **release_then,
            "Comment": "The watermark stays; a failed window is counted so the next run retries it afresh.",
            "Arguments": {
                "TableName": state_table,
                "Key": key,
                "UpdateExpression": _j(
                    "'REMOVE lockOwner, lockedUntil' & ($pending.kind = 'incremental' ? "
                    "' SET failedFrom = :from, failures = :failures' : '')"
                ),
                "ConditionExpression": "lockOwner = :me",
                "ExpressionAttributeValues": _j(
                    "$merge([{':me': {'S': " + _ME + "}}, $pending.kind = 'incremental' ? "
                    "{':from': {'S': $pending.from}, ':failures': {'N': $string($attempt + 1)}} : {}])"
                ),
            },
            "Next": "ExportFailed",
        },
        "ReleaseLockAfterError": {**release_then, "Next": "ExportRejected"},
        "ReleaseLock": {**release_then, "Next": "PublishWatermarkLag"},
        "PublishWatermarkLag": {
            "Type": "Task",
            "Resource": sdk + "cloudwatch:putMetricData",
            "Arguments": {
                "Namespace": METRIC_NAMESPACE,
                "MetricData": [
                    {
                        "MetricName": LAG_METRIC,
                        "Dimensions": [{"Name": "Exporter", "Value": exporter_name}],
                        "Value": _j("$round(($millis() - $toMillis($watermark)) / 1000)"),
                        "Unit": "Seconds",
                    }
                ],
            },
            "Output": {},
            "Retry": retry_for("cloudwatch", "putMetricData"),
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "IncrementalDone"}],
            "Next": "IncrementalDone",
        },
        "IncrementalDone": {
            "Type": "Succeed",
            "Output": {
                "table": _j(_TABLE),
                "tableArn": _j(f"{_INPUT}.tableArn"),
                "mode": "incremental",
                "status": _j("$count($windows) > 0 ? 'COMPLETED' : 'UP_TO_DATE'"),
                "watermark": _j("$watermark"),
                "exports": _j("$windows"),
                "message": _j(
                    "$count($windows) > 0 ? $string($count($windows)) & ' export(s); watermark at ' & $watermark"
                    " : 'nothing to do yet: the next window is shorter than 15 minutes'"
                ),
            },
        },
    }
