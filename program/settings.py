"""Typed exporter settings: every setting on one base model, defaults per environment.

The stack config is the program's only input, so all of it is declared and checked
here, before any resource is registered. ``DevSettings`` and ``PrdSettings`` differ
only in their defaults, the way typed dev/prd context classes do in a CDK app.

The rules are the component's (``table_exporter.rules``): pydantic applies its value
checks to each setting, and the component's cross-field rules run over the settings as
a whole. This module adds types and defaults, and names each problem by its config key.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from table_exporter import rules

NAMESPACE = "exporter"


SETTING_OF_ARGUMENT = {"catalog_database_name": "catalog_database"}
"""Component arguments whose setting is spelled otherwise; the rest are spelled alike."""


def _argument_of(setting: str) -> str:
    """The component argument a setting maps to (``catalog_database_name`` for
    ``catalog_database``)."""
    return next((a for a, s in SETTING_OF_ARGUMENT.items() if s == setting), setting)


def config_key(field: str) -> str:
    """The stack config key of a setting, e.g. ``exporter:scheduleExpression``."""
    return f"{NAMESPACE}:{to_camel(field)}"


def argument_key(argument: str) -> str:
    """The config key of a component argument, for rules that mention one."""
    return config_key(SETTING_OF_ARGUMENT.get(argument, argument))


def problem_line(problem: rules.Problem) -> tuple[str, str]:
    """A rule's problem as (config key with its path, rule): ``exporter:tables[1].table``."""
    path = problem.argument(lambda part: to_camel(SETTING_OF_ARGUMENT.get(part, part)))
    return f"{NAMESPACE}:{path}", problem.rule


class CrossFieldError(ValueError):
    """Problems that involve several settings, each reported against one config key."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems  # (config key, rule)
        super().__init__("\n".join(f"{key}: {rule}" for key, rule in problems))


def _range(argument: str) -> AfterValidator:
    return AfterValidator(lambda value: rules.check_named_range(argument, value))


ScheduleExpression = Annotated[str, AfterValidator(rules.check_schedule_expression)]
TimeZone = Annotated[str, AfterValidator(rules.check_time_zone)]
BucketName = Annotated[str, AfterValidator(rules.check_bucket_name)]
AccountId = Annotated[str, AfterValidator(rules.check_account_id)]
Prefix = Annotated[str, AfterValidator(rules.check_prefix)]
TableRef = Annotated[str, AfterValidator(rules.check_table_ref)]
Email = Annotated[str, AfterValidator(rules.check_email)]
KmsKeyArn = Annotated[str, AfterValidator(rules.check_kms_key_arn)]
SnsTopicArn = Annotated[str, AfterValidator(rules.check_sns_topic_arn)]
FlexibleWindow = Annotated[int, AfterValidator(rules.check_flexible_window)]
MaxConcurrency = Annotated[int, _range("max_concurrency")]
StalenessHours = Annotated[int, _range("staleness_hours")]
LogRetentionDays = Annotated[int, AfterValidator(rules.check_log_retention_days)]
TimeoutHours = Annotated[int, _range("export_timeout_hours")]
RunTimeoutHours = Annotated[int, _range("run_timeout_hours")]
NoncurrentDays = Annotated[int, _range("noncurrent_version_expiration_days")]
LifecycleDays = Annotated[int, _range("expiration_days")]
LagHours = Annotated[int, _range("watermark_lag_alarm_hours")]
GlueDatabase = Annotated[str, AfterValidator(rules.check_glue_database)]


def _flag(value: Any) -> Any:
    return None if value is None else rules.check_flag(value, from_config=True)


# true/false (or the text "true"/"false" the CLI passes), not pydantic's yes/on/1.
Flag = Annotated[bool, BeforeValidator(_flag)]
OptionalFlag = Annotated[bool | None, BeforeValidator(_flag)]
# The choices are the component's (rules.CHOICES); a test keeps these types in step.
LogLevel = Literal["ALL", "ERROR", "FATAL", "OFF"]
ExportFormat = Literal["DYNAMODB_JSON", "ION"]
ExportType = Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"]
ExportViewType = Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]
SseAlgorithm = Literal["AES256", "KMS"]
TableAccess = Literal["exact", "prefix", "all"]

_CAMEL = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)
# A table entry comes only from the stack config: its keys are camelCase, and
# ``export_type`` is refused with a suggestion, as at the top level.
_CAMEL_ONLY = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)
MAX_TABLES = rules.MAX_TABLES


class TableSetting(BaseModel):
    """One table to export: a name (in the stack's account and region) or an ARN."""

    model_config = _CAMEL_ONLY

    table: TableRef
    prefix: Prefix | None = None
    export_type: ExportType | None = None
    change_history: OptionalFlag = None
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
        rules.check_columns(columns)  # the rules Glue and the SerDe put on attribute names
        return columns

    @property
    def table_name(self) -> str:
        return rules.table_name_of(self.table)

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
    export_format: ExportFormat = "DYNAMODB_JSON"
    export_type: ExportType = "FULL_EXPORT"
    sse_algorithm: SseAlgorithm = "AES256"
    kms_key_arn: KmsKeyArn | None = None
    schedule_expression: ScheduleExpression
    schedule_timezone: TimeZone = "UTC"
    schedule_enabled: Flag
    flexible_window_minutes: FlexibleWindow = 0
    max_concurrency: MaxConcurrency
    alarms_enabled: Flag = True
    dashboard_enabled: Flag = True
    change_history: Flag = False
    restore_drill_enabled: Flag = False
    restore_drill_schedule: ScheduleExpression = "cron(0 5 ? * SUN *)"
    restore_drill_window_hours: Annotated[int, _range("restore_drill_window_hours")] = 168
    alarm_emails: list[Email] = Field(default_factory=list)
    alarm_topic_arn: SnsTopicArn | None = None
    staleness_hours: StalenessHours
    log_level: LogLevel = "ERROR"
    log_retention_days: LogRetentionDays
    tracing_enabled: Flag = False
    export_timeout_hours: TimeoutHours = 24
    run_timeout_hours: RunTimeoutHours = 48
    noncurrent_version_expiration_days: NoncurrentDays = 30
    expiration_days: LifecycleDays | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    table_access: TableAccess = "exact"
    export_view_type: ExportViewType = "NEW_AND_OLD_IMAGES"
    watermark_lag_alarm_hours: LagHours = 30
    catalog_enabled: Flag = True
    catalog_database: GlueDatabase | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        rules.check_tags(tags)
        return tags

    @model_validator(mode="before")
    @classmethod
    def _no_default_expiry_for_existing_bucket(cls, data: Any) -> Any:
        """An environment's default expiry is for the bucket it creates, not one it is given."""
        existing_bucket = isinstance(data, dict) and _given(data, "bucket_name")
        if existing_bucket and not _given(data, "expiration_days"):
            return {**data, to_camel("expiration_days"): None}
        return data

    def component_arguments(self) -> dict[str, Any]:
        """The settings as the component's arguments, spelled as ``rules`` expects them
        (no defaults of the program's own added; see ``exporter_args`` for those)."""
        values: dict[str, Any] = {
            name: getattr(self, name) for name in type(self).model_fields if name != "tables"
        }
        values["catalog_database_name"] = values.pop("catalog_database")
        values["tables"] = [
            {
                "table": t.table,
                "prefix": t.prefix,
                "export_type": t.export_type,
                "columns": t.columns,
            }
            for t in self.tables
        ]
        return values

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> "ExporterSettings":
        """The component's cross-field rules (and, given the stack's ``aws:region`` as the
        validation context's ``region``, its region rules), named by config key. Warnings
        are left to the component, which logs them once when it is constructed."""
        region = (info.context or {}).get("region")
        given = {_argument_of(name) for name in self.model_fields_set}
        arguments = self.component_arguments()
        for name in (info.context or {}).get("unchecked", ()):
            arguments[_argument_of(name)] = None  # invalid: reported on its own
        problems = rules.cross_field_problems(
            arguments, given=given, region=region, ref=argument_key
        )
        errors = [problem_line(p) for p in problems if not p.warning]
        if errors:
            raise CrossFieldError(errors)
        return self


DAILY_0400 = "cron(0 4 * * ? *)"


class DevSettings(ExporterSettings):
    """Development: the schedule starts disabled, logs are verbose and short-lived,
    and exports expire after 30 days."""

    schedule_expression: ScheduleExpression = DAILY_0400
    schedule_timezone: TimeZone = "Asia/Tokyo"
    schedule_enabled: Flag = False
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
    schedule_enabled: Flag = True
    max_concurrency: MaxConcurrency = 50
    staleness_hours: StalenessHours = 26
    log_level: LogLevel = "ERROR"
    log_retention_days: LogRetentionDays = 365
    expiration_days: LifecycleDays | None = None
