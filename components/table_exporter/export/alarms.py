"""The exporter's own alarms (runs, table exports, dead letters, staleness, watermark
lag), as plain data built from the alarm shapes in ``kernel/alarms.py``.
"""

from __future__ import annotations

from table_exporter.config import DEFAULTS
from table_exporter.kernel.alarms import (
    AlarmSpec,
    any_in_five_minutes,
    messages_waiting,
    none_succeeded_within,
)
from table_exporter.kernel.metrics import LAG_METRIC, METRIC_NAMESPACE


def alarm_specs(
    *,
    staleness_hours: int,
    schedule_enabled: bool,
    incremental: bool = False,
    watermark_lag_hours: int = DEFAULTS["watermark_lag_alarm_hours"],
) -> list[AlarmSpec]:
    specs = [
        any_in_five_minutes(
            "run-failed",
            "run",
            "ExecutionsFailed",
            "A DynamoDB export run failed: its error cause names every failed table.",
        ),
        any_in_five_minutes(
            "run-timed-out",
            "run",
            "ExecutionsTimedOut",
            "A DynamoDB export run exceeded its timeout.",
        ),
        any_in_five_minutes(
            "run-aborted",
            "run",
            "ExecutionsAborted",
            "A DynamoDB export run was stopped before it finished.",
        ),
        any_in_five_minutes(
            "run-throttled",
            "run",
            "ExecutionThrottled",
            "Step Functions throttled a DynamoDB export run.",
        ),
        any_in_five_minutes(
            "table-export-throttled",
            "table_export",
            "ExecutionThrottled",
            "Step Functions throttled table export executions.",
        ),
        messages_waiting(
            "dead-letters",
            "The scheduler could not start an export run; the event is in the dead-letter queue.",
        ),
    ]
    if schedule_enabled:
        # Hourly sums of successful runs; staleness_hours consecutive empty hours alarm.
        # Missing data is breaching: no datapoint means no successful run in that hour.
        specs.append(
            none_succeeded_within(
                "stale",
                "run",
                staleness_hours,
                f"No DynamoDB export run succeeded in the last {staleness_hours} hours.",
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
