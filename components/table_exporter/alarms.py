"""Which CloudWatch alarms the exporter raises, as plain data.

Metric names are the ones AWS documents for Step Functions (namespace ``AWS/States``,
dimension ``StateMachineArn``): note ``ExecutionThrottled`` is singular; an alarm on a
name that never reports would stay silent forever. Every alarm states how it treats
missing data, because "no data" means different things per metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .incremental import LAG_METRIC, METRIC_NAMESPACE
from .metrics import STATES_EXECUTION_METRICS

Subject = Literal["run", "table_export", "dead_letter_queue", "exporter", "drill"]

DIMENSION_OF: dict[Subject, str] = {
    "run": "StateMachineArn",
    "table_export": "StateMachineArn",
    "dead_letter_queue": "QueueName",
    "exporter": "Exporter",
    "drill": "StateMachineArn",
}
"""The dimension each alarm subject's metrics carry."""

__all__ = ["DIMENSION_OF", "STATES_EXECUTION_METRICS", "AlarmSpec", "alarm_specs"]


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


def _any_in_five_minutes(role: str, subject: Subject, metric: str, what: str) -> AlarmSpec:
    return AlarmSpec(
        role=role,
        subject=subject,
        namespace="AWS/States",
        metric_name=metric,
        statistic="Sum",
        period_seconds=300,
        evaluation_periods=1,
        comparison="GreaterThanOrEqualToThreshold",
        threshold=1,
        # No executions, no datapoints: nothing went wrong.
        treat_missing_data="notBreaching",
        description=what,
    )


def alarm_specs(
    *,
    staleness_hours: int,
    schedule_enabled: bool,
    incremental: bool = False,
    watermark_lag_hours: int = 30,
) -> list[AlarmSpec]:
    specs = [
        _any_in_five_minutes(
            "run-failed",
            "run",
            "ExecutionsFailed",
            "A DynamoDB export run failed: its error cause names every failed table.",
        ),
        _any_in_five_minutes(
            "run-timed-out",
            "run",
            "ExecutionsTimedOut",
            "A DynamoDB export run exceeded its timeout.",
        ),
        _any_in_five_minutes(
            "run-aborted",
            "run",
            "ExecutionsAborted",
            "A DynamoDB export run was stopped before it finished.",
        ),
        _any_in_five_minutes(
            "run-throttled",
            "run",
            "ExecutionThrottled",
            "Step Functions throttled a DynamoDB export run.",
        ),
        _any_in_five_minutes(
            "table-export-throttled",
            "table_export",
            "ExecutionThrottled",
            "Step Functions throttled table export executions.",
        ),
        AlarmSpec(
            role="dead-letters",
            subject="dead_letter_queue",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            statistic="Maximum",
            period_seconds=300,
            evaluation_periods=1,
            comparison="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
            description="The scheduler could not start an export run; the event is in the dead-letter queue.",
        ),
    ]
    if schedule_enabled:
        # Hourly sums of successful runs; staleness_hours consecutive empty hours alarm.
        # Missing data is breaching: no datapoint means no successful run in that hour.
        specs.append(
            AlarmSpec(
                role="stale",
                subject="run",
                namespace="AWS/States",
                metric_name="ExecutionsSucceeded",
                statistic="Sum",
                period_seconds=3600,
                evaluation_periods=staleness_hours,
                comparison="LessThanThreshold",
                threshold=1,
                treat_missing_data="breaching",
                description=f"No DynamoDB export run succeeded in the last {staleness_hours} hours.",
            )
        )
    if incremental:
        # Published by each incremental table export at its end. No datapoint means no
        # run, which the staleness alarm reports; here missing data is not a breach.
        specs.append(
            AlarmSpec(
                role="watermark-lag",
                subject="exporter",
                namespace=METRIC_NAMESPACE,
                metric_name=LAG_METRIC,
                statistic="Maximum",
                period_seconds=3600,
                evaluation_periods=1,
                comparison="GreaterThanThreshold",
                threshold=watermark_lag_hours * 3600,
                treat_missing_data="notBreaching",
                description=(
                    f"An incremental table's watermark is more than {watermark_lag_hours} hours "
                    "behind: its changes are not reaching S3."
                ),
            )
        )
    return specs
