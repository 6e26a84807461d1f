"""Alarm shapes, as plain data: ``AlarmSpec`` and the patterns every feature's alarms
use.

Metric names are the ones AWS documents for Step Functions (namespace ``AWS/States``,
dimension ``StateMachineArn``): note ``ExecutionThrottled`` is singular; an alarm on a
name that never reports would stay silent forever. Every alarm states how it treats
missing data, because "no data" means different things per metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from table_exporter.kernel.metrics import STATES_EXECUTION_METRICS

Subject = Literal[
    "run", "table_export", "dead_letter_queue", "exporter", "drill", "pipe_watch", "workgroup"
]

DIMENSION_OF: dict[Subject, str] = {
    "run": "StateMachineArn",
    "table_export": "StateMachineArn",
    "dead_letter_queue": "QueueName",
    "exporter": "Exporter",
    "drill": "StateMachineArn",
    "pipe_watch": "StateMachineArn",
    "workgroup": "WorkGroup",
}

"""The dimension each alarm subject's metrics carry."""

__all__ = [
    "DIMENSION_OF",
    "STATES_EXECUTION_METRICS",
    "WINDOW_LIMIT_HOURS",
    "AlarmSpec",
    "any_in_five_minutes",
    "messages_waiting",
    "none_succeeded_within",
]


@dataclass(frozen=True)
class AlarmSpec:
    role: str
    """Short name, used in the resource name (``<component>-alarm-<role>``)."""
    subject: Subject
    namespace: str
    metric_name: str
    statistic: str
    period_seconds: int
    evaluation_periods: int
    comparison: str
    threshold: float
    treat_missing_data: str
    description: str
    runbook_page: str = "docs/operations.md"
    runbook_anchor: str | None = None
    """The section's anchor; default the alarm's role."""

    @property
    def runbook(self) -> str:
        """The section of the guide for this alarm, relative to the repository."""
        return f"{self.runbook_page}#{self.runbook_anchor or self.role}"


WINDOW_LIMIT_HOURS = 168

"""CloudWatch: Period x EvaluationPeriods may not exceed 7 days ("PutMetricAlarm")."""


def any_in_five_minutes(
    role: str,
    subject: Subject,
    metric: str,
    description: str,
    *,
    namespace: str = "AWS/States",
    statistic: str = "Sum",
    **extra: str,
) -> AlarmSpec:
    """At least one ``metric`` in five minutes: a count (``Sum``), or, for a metric of
    durations, how many were reported (``SampleCount``). No datapoints means nothing
    happened, so missing data is not a breach."""
    return AlarmSpec(
        role=role,
        subject=subject,
        namespace=namespace,
        metric_name=metric,
        statistic=statistic,
        period_seconds=300,
        evaluation_periods=1,
        comparison="GreaterThanOrEqualToThreshold",
        threshold=1,
        treat_missing_data="notBreaching",
        description=description,
        **extra,
    )


def none_succeeded_within(
    role: str, subject: Subject, hours: int, description: str, **extra: str
) -> AlarmSpec:
    """No successful execution in ``hours`` consecutive hours (1-168). Missing data is a
    breach: no datapoint in an hour means nothing succeeded in it."""
    if not 1 <= hours <= WINDOW_LIMIT_HOURS:
        raise ValueError(
            f"{role}: the window must be 1 to {WINDOW_LIMIT_HOURS} hours (CloudWatch's 7 days)"
        )
    return AlarmSpec(
        role=role,
        subject=subject,
        namespace="AWS/States",
        metric_name="ExecutionsSucceeded",
        statistic="Sum",
        period_seconds=3600,
        evaluation_periods=hours,
        comparison="LessThanThreshold",
        threshold=1,
        treat_missing_data="breaching",
        description=description,
        **extra,
    )


def messages_waiting(role: str, description: str) -> AlarmSpec:
    """Any message in a dead-letter queue (``QueueName``): something was given up on."""
    return AlarmSpec(
        role=role,
        subject="dead_letter_queue",
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        statistic="Maximum",
        period_seconds=300,
        evaluation_periods=1,
        comparison="GreaterThanThreshold",
        threshold=0,
        treat_missing_data="notBreaching",
        description=description,
    )
