"""Maps validated stack settings to the component's arguments (no validation here:
the settings models have applied the component's rules, with config-key-named
messages; the component applies them again, and they pass)."""

from __future__ import annotations

from table_exporter import TableArgs, TableExporterArgs

from program.settings import ExporterSettings


def exporter_args(
    settings: ExporterSettings, *, stack: str, region: str | None = None
) -> TableExporterArgs:
    """``region``: the stack's ``aws:region``; without it the component reads it itself."""
    tables: list[TableArgs] = []
    for table in settings.tables:
        entry: TableArgs = {"table": table.table}
        if table.prefix:
            entry["prefix"] = table.prefix
        if table.export_type:
            entry["export_type"] = table.export_type
        if table.change_history is not None:
            entry["change_history"] = table.change_history
        if table.columns:
            entry["columns"] = dict(table.columns)
        tables.append(entry)
    args: TableExporterArgs = {
        "tables": tables,
        "prefix": settings.prefix,
        "export_format": settings.export_format,
        "export_type": settings.export_type,
        "export_view_type": settings.export_view_type,
        "watermark_lag_alarm_hours": settings.watermark_lag_alarm_hours,
        "sse_algorithm": settings.sse_algorithm,
        "schedule_expression": settings.schedule_expression,
        "schedule_timezone": settings.schedule_timezone,
        "schedule_enabled": settings.schedule_enabled,
        "flexible_window_minutes": settings.flexible_window_minutes,
        "max_concurrency": settings.max_concurrency,
        "alarms_enabled": settings.alarms_enabled,
        "dashboard_enabled": settings.dashboard_enabled,
        "change_history": settings.change_history,
        "restore_drill_enabled": settings.restore_drill_enabled,
        "restore_drill_schedule": settings.restore_drill_schedule,
        "restore_drill_window_hours": settings.restore_drill_window_hours,
        "alarm_emails": list(settings.alarm_emails),
        "staleness_hours": settings.staleness_hours,
        "log_level": settings.log_level,
        "log_retention_days": settings.log_retention_days,
        "tracing_enabled": settings.tracing_enabled,
        "export_timeout_hours": settings.export_timeout_hours,
        "run_timeout_hours": settings.run_timeout_hours,
        "tags": {"stack": stack, **settings.tags},
        "table_access": settings.table_access,
        "catalog_enabled": settings.catalog_enabled,
        "catalog_database_name": settings.catalog_database or f"dynamodb_exports_{stack}",
    }
    optional = {
        "bucket_name": settings.bucket_name,
        "bucket_owner": settings.bucket_owner,
        "kms_key_arn": settings.kms_key_arn,
        "alarm_topic_arn": settings.alarm_topic_arn,
        "expiration_days": settings.expiration_days,
        # Lifecycle rules are for a bucket the component creates, never for a given one.
        "noncurrent_version_expiration_days": (
            settings.noncurrent_version_expiration_days if settings.bucket_name is None else None
        ),
        "region": region,
    }
    args.update({key: value for key, value in optional.items() if value is not None})  # type: ignore[typeddict-item]
    return args
