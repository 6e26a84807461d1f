"""Typed exporter settings: every setting on one base model, defaults per environment.

The stack config is the program's only input, so all of it is declared and checked
here, before any resource is registered. ``DevSettings`` and ``PrdSettings`` differ
only in their defaults, the way typed dev/prd context classes do in a CDK app.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from table_exporter.policies import INLINE_POLICY_LIMIT, exact_policy_estimate
from table_exporter.schema import columns_from

from program import validators as check

NAMESPACE = "exporter"


def config_key(field: str) -> str:
    """The stack config key of a setting, e.g. ``exporter:scheduleExpression``."""
    return f"{NAMESPACE}:{to_camel(field)}"


class CrossFieldError(ValueError):
    """Problems that involve several settings, each reported against one config key."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems  # (field name, rule)
        super().__init__("\n".join(f"{config_key(f)}: {rule}" for f, rule in problems))


def _range(low: int, high: int, unit: str = "", why: str = "") -> AfterValidator:
    return AfterValidator(lambda value: check.check_range(value, low, high, unit, why))


ScheduleExpression = Annotated[str, AfterValidator(check.check_schedule_expression)]
TimeZone = Annotated[str, AfterValidator(check.check_time_zone)]
BucketName = Annotated[str, AfterValidator(check.check_bucket_name)]
AccountId = Annotated[str, AfterValidator(check.check_account_id)]
Prefix = Annotated[str, AfterValidator(check.check_prefix)]
TableRef = Annotated[str, AfterValidator(check.check_table_ref)]
Email = Annotated[str, AfterValidator(check.check_email)]
KmsKeyArn = Annotated[str, AfterValidator(check.check_kms_key_arn)]
SnsTopicArn = Annotated[str, AfterValidator(check.check_sns_topic_arn)]
FlexibleWindow = Annotated[int, AfterValidator(check.check_flexible_window)]
MaxConcurrency = Annotated[
    int, _range(1, 300, why="300 is DynamoDB's quota of concurrent exports per account and region")
]
StalenessHours = Annotated[int, _range(1, 168, "hours", "at most one week")]
LogRetentionDays = Annotated[int, AfterValidator(check.check_log_retention_days)]
TimeoutHours = Annotated[int, _range(1, 168, "hours")]
RunTimeoutHours = Annotated[int, _range(1, 8760, "hours")]
LifecycleDays = Annotated[int, _range(1, 3650, "days")]
LogLevel = Literal["ALL", "ERROR", "FATAL", "OFF"]

_CAMEL = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)
MAX_TABLES = 1000


class TableSetting(BaseModel):
    """One table to export: a name (in the stack's account and region) or an ARN."""

    model_config = _CAMEL

    table: TableRef
    prefix: Prefix | None = None
    export_type: Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"] | None = None
    columns: dict[
        str,
        Literal["string", "number", "boolean", "list", "map", "string_set", "number_set", "binary"],
    ] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bare_reference(cls, data: Any) -> Any:
        """Accept ``"orders"`` as shorthand for ``{"table": "orders"}``."""
        return {"table": data} if isinstance(data, str) else data

    @field_validator("columns")
    @classmethod
    def _columns(cls, columns: dict[str, str]) -> dict[str, str]:
        columns_from(columns)  # the rules Glue and the SerDe put on attribute names
        return columns

    @property
    def table_name(self) -> str:
        return check.table_name_of(self.table)

    @property
    def is_arn(self) -> bool:
        return self.table.startswith("arn:")


def _given(data: dict[str, Any], field: str) -> bool:
    return data.get(to_camel(field), data.get(field)) is not None


class ExporterSettings(BaseModel):
    """Every exporter setting; a subclass per environment supplies the defaults."""

    model_config = _CAMEL

    tables: list[TableSetting]
    bucket_name: BucketName | None = None
    bucket_owner: AccountId | None = None
    prefix: Prefix = "dynamodb-exports"
    export_format: Literal["DYNAMODB_JSON", "ION"] = "DYNAMODB_JSON"
    export_type: Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"] = "FULL_EXPORT"
    sse_algorithm: Literal["AES256", "KMS"] = "AES256"
    kms_key_arn: KmsKeyArn | None = None
    schedule_expression: ScheduleExpression
    schedule_timezone: TimeZone = "UTC"
    schedule_enabled: bool
    flexible_window_minutes: FlexibleWindow = 0
    max_concurrency: MaxConcurrency
    alarms_enabled: bool = True
    alarm_emails: list[Email] = Field(default_factory=list)
    alarm_topic_arn: SnsTopicArn | None = None
    staleness_hours: StalenessHours
    log_level: LogLevel = "ERROR"
    log_retention_days: LogRetentionDays
    tracing_enabled: bool = False
    export_timeout_hours: TimeoutHours = 24
    run_timeout_hours: RunTimeoutHours = 48
    noncurrent_version_expiration_days: LifecycleDays = 30
    expiration_days: LifecycleDays | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    table_access: Literal["exact", "prefix", "all"] = "exact"
    export_view_type: Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"] = "NEW_AND_OLD_IMAGES"
    watermark_lag_alarm_hours: Annotated[int, _range(1, 720, "hours")] = 30
    catalog_enabled: bool = True
    catalog_database: Annotated[str, AfterValidator(check.check_glue_database)] | None = None

    @field_validator("tables")
    @classmethod
    def _table_list(cls, tables: list[TableSetting]) -> list[TableSetting]:
        if not 1 <= len(tables) <= MAX_TABLES:
            raise ValueError(f"must list 1-{MAX_TABLES} tables, got {len(tables)}")
        first_seen: dict[str, int] = {}
        for index, table in enumerate(tables):
            earlier = first_seen.setdefault(table.table_name, index)
            if earlier != index:
                raise ValueError(
                    f"table {table.table_name!r} is listed twice (tables[{earlier}] and "
                    f"tables[{index}]); a name and an ARN of the same table count as the same"
                )
        return tables

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        check.check_tags(tags)
        return tags

    @model_validator(mode="before")
    @classmethod
    def _no_default_expiry_for_existing_bucket(cls, data: Any) -> Any:
        """An environment's default expiry is for the bucket it creates, not one it is given."""
        existing_bucket = isinstance(data, dict) and _given(data, "bucket_name")
        if existing_bucket and not _given(data, "expiration_days"):
            return {**data, to_camel("expiration_days"): None}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "ExporterSettings":
        problems: list[tuple[str, str]] = []
        bucket = config_key("bucket_name")
        if self.bucket_owner is not None and self.bucket_name is None:
            problems.append(("bucket_owner", f"bucketOwner requires bucketName ({bucket})"))
        if self.bucket_name is not None:
            lifecycle = ["expiration_days"] if self.expiration_days is not None else []
            if "noncurrent_version_expiration_days" in self.model_fields_set:
                lifecycle.append("noncurrent_version_expiration_days")
            problems.extend(
                (field, f"applies only to a bucket the exporter creates; not with {bucket}")
                for field in lifecycle
            )
        if self.sse_algorithm == "KMS" and self.kms_key_arn is None:
            problems.append(("kms_key_arn", "is required when sseAlgorithm is KMS"))
        if self.sse_algorithm == "AES256" and self.kms_key_arn is not None:
            problems.append(
                ("kms_key_arn", "must not be set when sseAlgorithm is AES256 (S3-managed keys)")
            )
        if self.alarm_emails and self.alarm_topic_arn is not None:
            problems.append(
                (
                    "alarm_emails",
                    f"cannot be combined with {config_key('alarm_topic_arn')}: emails are "
                    "subscribed only to the topic the exporter creates",
                )
            )
        if self.run_timeout_hours < self.export_timeout_hours:
            problems.append(
                (
                    "run_timeout_hours",
                    f"must be at least {config_key('export_timeout_hours')} "
                    f"({self.export_timeout_hours}), got {self.run_timeout_hours}",
                )
            )
        if self.catalog_enabled and self.export_format == "ION":
            problems.append(
                (
                    "export_format",
                    f"ION exports cannot be catalogued for Athena; use DYNAMODB_JSON or set "
                    f"{config_key('catalog_enabled')} to false",
                )
            )
        if self.table_access == "exact":
            estimate = exact_policy_estimate(
                (t.table for t in self.tables), (t.prefix or self.prefix for t in self.tables)
            )
            if estimate > INLINE_POLICY_LIMIT:
                problems.append(
                    (
                        "table_access",
                        f"'exact' cannot name {len(self.tables)} tables one by one: that needs "
                        f"about {estimate} characters of IAM policy, over IAM's "
                        f"{INLINE_POLICY_LIMIT}-character limit; use 'prefix' (also grants tables "
                        "sharing a name prefix) or 'all' (every table in the account and region)",
                    )
                )
        if problems:
            raise CrossFieldError(problems)
        return self


DAILY_0400 = "cron(0 4 * * ? *)"


class DevSettings(ExporterSettings):
    """Development: the schedule starts disabled, logs are verbose and short-lived,
    and exports expire after 30 days."""

    schedule_expression: ScheduleExpression = DAILY_0400
    schedule_timezone: TimeZone = "Asia/Tokyo"
    schedule_enabled: bool = False
    max_concurrency: MaxConcurrency = 5
    staleness_hours: StalenessHours = 26
    log_level: LogLevel = "ALL"
    log_retention_days: LogRetentionDays = 7
    expiration_days: LifecycleDays | None = 30


class PrdSettings(ExporterSettings):
    """Production: exports daily at 04:00 Tokyo time, logs errors only for a year,
    and keeps exports until someone decides otherwise."""

    schedule_expression: ScheduleExpression = DAILY_0400
    schedule_timezone: TimeZone = "Asia/Tokyo"
    schedule_enabled: bool = True
    max_concurrency: MaxConcurrency = 50
    staleness_hours: StalenessHours = 26
    log_level: LogLevel = "ERROR"
    log_retention_days: LogRetentionDays = 365
    expiration_days: LifecycleDays | None = None
