"""The CloudWatch metrics the exporter reads, by namespace and dimension: the one list
alarms and the dashboard are checked against.

``AWS/States`` execution metrics are the names AWS documents for Step Functions, with
dimension ``StateMachineArn`` ("Monitoring Step Functions metrics using Amazon
CloudWatch": ``ExecutionThrottled`` is singular). ``AWS/SQS`` publishes
``ApproximateNumberOfMessagesVisible`` per ``QueueName`` ("Available CloudWatch metrics
for Amazon SQS"). The exporter's own namespace has the lag its incremental tables
publish (``incremental.py``), defined here with the other metric names.
"""

from __future__ import annotations

from typing import TypeVar

METRIC_NAMESPACE = "DynamoDBTableExporter"
"""The exporter's own CloudWatch namespace."""
LAG_METRIC = "WatermarkLagSeconds"
"""How far an incremental table's watermark is behind now, per exporter."""

STATES_EXECUTION_METRICS = frozenset(
    {
        "ExecutionTime",
        "ExecutionThrottled",
        "ExecutionsAborted",
        "ExecutionsFailed",
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsTimedOut",
    }
)
"""Execution metrics AWS documents for Step Functions."""

PUBLISHED: dict[tuple[str, str], frozenset[str]] = {
    ("AWS/States", "StateMachineArn"): STATES_EXECUTION_METRICS,
    ("AWS/SQS", "QueueName"): frozenset({"ApproximateNumberOfMessagesVisible"}),
    (METRIC_NAMESPACE, "Exporter"): frozenset({LAG_METRIC}),
    # "Monitoring Amazon Data Firehose with CloudWatch metrics".
    ("AWS/Firehose", "DeliveryStreamName"): frozenset(
        {"DeliveryToS3.Success", "DeliveryToS3.DataFreshness", "DeliveryToS3.Records"}
    ),
    # "Monitor Athena query metrics with CloudWatch": per workgroup, with QueryState
    # (SUCCEEDED, FAILED, CANCELED) and QueryType (DDL, DML, UTILITY) beside WorkGroup.
    ("AWS/Athena", "WorkGroup"): frozenset(
        {"EngineExecutionTime", "ProcessedBytes", "QueryQueueTime", "TotalExecutionTime"}
    ),
    # "Monitoring Amazon EventBridge Pipes" (per pipe, dimension PipeName).
    ("AWS/EventBridge/Pipes", "PipeName"): frozenset(
        {
            "Invocations",
            "ExecutionFailed",
            "ExecutionPartiallyFailed",
            "ExecutionThrottled",
            "TargetStageFailed",
        }
    ),
}
"""Metric names published per (namespace, dimension name)."""


ATHENA = "AWS/Athena"
W = TypeVar("W")  # the workgroup's name, or an Output of it


def athena_dml_dimensions(workgroup: W, state: str) -> dict[str, W | str]:
    """Athena's dimensions of the DML queries (MERGE; not CREATE TABLE, which is DDL)
    of ``workgroup`` that ended in ``state``; ``WorkGroup`` first, as dashboards and
    ``plotted_metrics`` expect."""
    return {"WorkGroup": workgroup, "QueryType": "DML", "QueryState": state}


def is_published(namespace: str, dimension: str, metric: str) -> bool:
    return metric in PUBLISHED.get((namespace, dimension), frozenset())
