"""The value checks the settings models use: the component's own rules.

Every rule lives once, in ``table_exporter.rules``; the settings apply the same checks
to the stack config and only name each problem by its ``exporter:`` key. This module
keeps the names the settings (and their tests) import.
"""

from table_exporter.rules import (
    LOG_RETENTION_DAYS,
    TABLE_NAME_PATTERN,
    check_account_id,
    check_bucket_name,
    check_columns,
    check_cron,
    check_email,
    check_flag,
    check_flexible_window,
    check_glue_database,
    check_kms_key_arn,
    check_log_retention_days,
    check_named_range,
    check_prefix,
    check_range,
    check_rate,
    check_region,
    check_schedule_expression,
    check_sns_topic_arn,
    check_table_name,
    check_table_ref,
    check_tags,
    check_time_zone,
    table_name_of,
)

__all__ = [
    "LOG_RETENTION_DAYS",
    "TABLE_NAME_PATTERN",
    "check_account_id",
    "check_bucket_name",
    "check_columns",
    "check_cron",
    "check_email",
    "check_flag",
    "check_flexible_window",
    "check_glue_database",
    "check_kms_key_arn",
    "check_log_retention_days",
    "check_named_range",
    "check_prefix",
    "check_range",
    "check_rate",
    "check_region",
    "check_schedule_expression",
    "check_sns_topic_arn",
    "check_table_name",
    "check_table_ref",
    "check_tags",
    "check_time_zone",
    "table_name_of",
]
