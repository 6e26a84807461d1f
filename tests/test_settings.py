"""Stack settings: good configs parse with the right environment defaults, and every
bad value stops the program with a message naming its config key and the rule."""

import json
from typing import Any

import pulumi
import pytest
from pydantic import ValidationError
from table_exporter import TableExporterArgsError, checks, rules
from table_exporter import config as arguments
from table_exporter.args import resolve

from program import stack_config
from program.exporter_args import exporter_args
from program.settings import DevSettings, ExporterSettings, PrdSettings
from program.stack_config import (
    NAMESPACE,
    SETTINGS_BY_STACK,
    SettingsError,
    load_settings,
    parse_settings,
    settings_class_for,
)

ACCOUNT = "123456789012"
TABLE_ARN = f"arn:aws:dynamodb:ap-northeast-1:{ACCOUNT}:table/users"
KMS_KEY_ARN = f"arn:aws:kms:ap-northeast-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_ARN = f"arn:aws:sns:ap-northeast-1:{ACCOUNT}:exporter-alarms"


def config(**values: Any) -> dict[str, str]:
    """A flat Pulumi config map as the CLI passes it: every value is text, and
    lists/objects are JSON text. Starts from one table and a key of another namespace."""
    raw: dict[str, Any] = {"aws:region": "ap-northeast-1", "exporter:tables": ["orders"]}
    raw.update({f"{NAMESPACE}:{key}": value for key, value in values.items()})
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in raw.items()
        if value is not None
    }


# --- good configs ------------------------------------------------------------------


def test_dev_defaults_keep_the_schedule_off_and_logs_short_lived() -> None:
    settings = parse_settings("dev", config())

    assert isinstance(settings, DevSettings)
    assert settings.schedule_enabled is False
    assert settings.log_retention_days == 7
    assert settings.log_level == "ALL"
    assert settings.max_concurrency == 5
    assert settings.expiration_days == 30
    assert settings.staleness_hours == 26


def test_prd_defaults_run_daily_at_four_tokyo_time_and_keep_logs_a_year() -> None:
    settings = parse_settings("prd", config())

    assert isinstance(settings, PrdSettings)
    assert settings.schedule_enabled is True
    assert settings.schedule_expression == "cron(0 4 * * ? *)"
    assert settings.schedule_timezone == "Asia/Tokyo"
    assert settings.log_retention_days == 365
    assert settings.log_level == "ERROR"
    assert settings.max_concurrency == 50
    assert settings.expiration_days is None


def test_shared_defaults_apply_in_every_environment() -> None:
    for stack in SETTINGS_BY_STACK:
        settings = parse_settings(stack, config())
        assert settings.prefix == "dynamodb-exports"
        assert settings.export_format == "DYNAMODB_JSON"
        assert settings.export_type == "FULL_EXPORT"
        assert settings.sse_algorithm == "AES256"
        assert settings.bucket_name is None
        assert settings.run_timeout_hours == 48
        assert settings.alarm_emails == []
        assert settings.tags == {}


@pytest.mark.parametrize("stack", sorted(SETTINGS_BY_STACK))
def test_environment_defaults_pass_their_own_validation(stack: str) -> None:
    model = SETTINGS_BY_STACK[stack]
    defaults = {
        name: info.default
        for name, info in model.model_fields.items()
        if not info.is_required() and info.default_factory is None
    }

    settings = model.model_validate({**defaults, "tables": ["orders"]})

    assert settings == model.model_validate({"tables": ["orders"]})


def test_tables_given_as_json_text_accept_names_arns_and_per_table_prefixes() -> None:
    tables = json.dumps(
        [{"table": "orders"}, {"table": TABLE_ARN, "prefix": "users/exports"}, "audit.log-v2"]
    )

    settings = parse_settings("dev", {"exporter:tables": tables})

    assert [t.table_name for t in settings.tables] == ["orders", "users", "audit.log-v2"]
    assert [t.is_arn for t in settings.tables] == [False, True, False]
    assert [t.prefix for t in settings.tables] == [None, "users/exports", None]


def test_a_fully_specified_prd_config_parses_text_values_into_types() -> None:
    settings = parse_settings(
        "prd",
        config(
            bucketName="exports.example-1",
            bucketOwner=ACCOUNT,
            prefix="ddb/exports",
            exportFormat="ION",
            catalogEnabled="false",
            exportType="INCREMENTAL_EXPORT",
            sseAlgorithm="KMS",
            kmsKeyArn=KMS_KEY_ARN,
            scheduleExpression="rate(12 hours)",
            scheduleTimezone="UTC",
            scheduleEnabled="false",
            flexibleWindowMinutes="15",
            maxConcurrency="300",
            alarmsEnabled="true",
            alarmTopicArn=TOPIC_ARN,
            stalenessHours="168",
            logLevel="FATAL",
            logRetentionDays="3653",
            tracingEnabled="true",
            exportTimeoutHours="6",
            runTimeoutHours="6",
            tags={"team": "data", "cost-center": ""},
        ),
    )

    assert settings.bucket_owner == ACCOUNT  # twelve digits stay text, not a number
    assert settings.max_concurrency == 300
    assert settings.flexible_window_minutes == 15
    assert settings.schedule_enabled is False
    assert settings.tracing_enabled is True
    assert settings.kms_key_arn == KMS_KEY_ARN
    assert settings.tags == {"team": "data", "cost-center": ""}


def test_other_namespaces_in_the_config_are_ignored() -> None:
    raw = config() | {"aws:profile": "x", "other:scheduleExpression": "nonsense"}

    assert parse_settings("dev", raw).schedule_expression == "cron(0 4 * * ? *)"


def test_an_existing_bucket_drops_the_dev_expiry_default_instead_of_failing() -> None:
    settings = parse_settings("dev", config(bucketName="shared-exports"))

    assert settings.bucket_name == "shared-exports"
    assert settings.expiration_days is None


def test_null_clears_an_environment_default() -> None:
    assert parse_settings("dev", config(expirationDays="null")).expiration_days is None


def test_settings_are_frozen() -> None:
    settings = parse_settings("dev", config())

    with pytest.raises(ValidationError):
        settings.max_concurrency = 10  # type: ignore[misc]


def test_settings_can_be_built_by_attribute_name_in_code() -> None:
    settings = DevSettings(tables=[{"table": "orders"}], max_concurrency=9)  # type: ignore[list-item]

    assert settings.max_concurrency == 9


# --- bad configs -------------------------------------------------------------------

BAD_INPUTS = [
    # (id, config overrides, config key in the message, fragment of the rule)
    ("cron-five-fields", {"scheduleExpression": "cron(0 4 * * ?)"},
     "exporter:scheduleExpression", "needs six fields"),
    ("cron-both-days-given", {"scheduleExpression": "cron(0 4 1 * MON *)"},
     "exporter:scheduleExpression", "exactly one of day-of-month and day-of-week"),
    ("cron-neither-day-is-?", {"scheduleExpression": "cron(0 4 * * * *)"},
     "exporter:scheduleExpression", "got neither"),
    ("cron-both-days-?", {"scheduleExpression": "cron(0 4 ? * ? *)"},
     "exporter:scheduleExpression", "got both"),
    ("cron-minute-61", {"scheduleExpression": "cron(61 4 * * ? *)"},
     "exporter:scheduleExpression", "61 is out of range 0-59"),
    ("cron-bad-month-name", {"scheduleExpression": "cron(0 4 ? JANUARY MON *)"},
     "exporter:scheduleExpression", "is not 1-12 or JAN-DEC"),
    ("cron-bad-characters", {"scheduleExpression": "cron(0 4 * * ? 20x5)"},
     "exporter:scheduleExpression", "year field '20x5'"),
    ("rate-zero", {"scheduleExpression": "rate(0 hours)"},
     "exporter:scheduleExpression", "positive whole number"),
    ("rate-one-plural", {"scheduleExpression": "rate(1 hours)"},
     "exporter:scheduleExpression", "singular unit for 1: rate(1 hour)"),
    ("rate-many-singular", {"scheduleExpression": "rate(5 hour)"},
     "exporter:scheduleExpression", "plural unit for 5: rate(5 hours)"),
    ("rate-unknown-unit", {"scheduleExpression": "rate(5 fortnights)"},
     "exporter:scheduleExpression", "minute(s), hour(s) or day(s)"),
    ("at-one-time", {"scheduleExpression": "at(2030-01-01T04:00:00)"},
     "exporter:scheduleExpression", "one-time schedules are not supported"),
    ("neither-cron-nor-rate", {"scheduleExpression": "daily"},
     "exporter:scheduleExpression", "or rate(<value> <unit>)"),
    ("timezone-not-iana", {"scheduleTimezone": "Mars/Olympus"},
     "exporter:scheduleTimezone", "not an IANA time zone"),
    ("table-name-too-short", {"tables": ["ab"]},
     "exporter:tables[0].table", "3-255 characters"),
    ("table-name-bad-characters", {"tables": ["orders", "orders!"]},
     "exporter:tables[1].table", "only letters, digits"),
    ("table-arn-malformed", {"tables": ["arn:aws:dynamodb:ap-northeast-1:1234:table/orders"]},
     "exporter:tables[0].table", "malformed table ARN"),
    ("tables-duplicate-name-and-arn", {"tables": ["users", {"table": TABLE_ARN}]},
     "exporter:tables", "'users' is listed twice"),
    ("tables-empty", {"tables": []}, "exporter:tables", "must list 1-1000 tables"),
    ("tables-missing", {"tables": None}, "exporter:tables", "is required"),
    ("tables-broken-json", {"tables": '["orders"'}, "exporter:tables", "not valid JSON"),
    ("table-entry-unknown-key", {"tables": [{"table": "orders", "prefx": "a"}]},
     "exporter:tables[0].prefx", "unknown key"),
    ("table-prefix-leading-slash", {"tables": [{"table": "orders", "prefix": "/o"}]},
     "exporter:tables[0].prefix", "must not start or end with '/'"),
    ("bucket-uppercase", {"bucketName": "MyBucket"},
     "exporter:bucketName", "only lowercase letters"),
    ("bucket-ip-like", {"bucketName": "192.168.10.1"},
     "exporter:bucketName", "formatted like an IP address"),
    ("bucket-double-dot", {"bucketName": "my..bucket"},
     "exporter:bucketName", "two adjacent dots"),
    ("bucket-reserved-prefix", {"bucketName": "xn--exports"},
     "exporter:bucketName", "must not start with 'xn--'"),
    ("bucket-reserved-suffix", {"bucketName": "exports-s3alias"},
     "exporter:bucketName", "must not end with '-s3alias'"),
    ("prefix-leading-slash", {"prefix": "/exports"},
     "exporter:prefix", "must not start or end with '/'"),
    ("prefix-double-slash", {"prefix": "exports//daily"},
     "exporter:prefix", "must not contain '//'"),
    ("prefix-dot-dot-segment", {"prefix": "exports/../x"},
     "exporter:prefix", "'..' path segment"),
    ("prefix-unsafe-character", {"prefix": "exports#1"},
     "exporter:prefix", "characters S3 keys should avoid"),
    ("export-format-csv", {"exportFormat": "CSV"},
     "exporter:exportFormat", "must be 'DYNAMODB_JSON' or 'ION', got 'CSV'"),
    ("export-type-delta", {"exportType": "DELTA"},
     "exporter:exportType", "'FULL_EXPORT' or 'INCREMENTAL_EXPORT'"),
    ("max-concurrency-zero", {"maxConcurrency": "0"}, "exporter:maxConcurrency", "must be 1-300"),
    ("max-concurrency-301", {"maxConcurrency": "301"},
     "exporter:maxConcurrency", "DynamoDB's quota of concurrent exports"),
    ("max-concurrency-not-a-number", {"maxConcurrency": "five"},
     "exporter:maxConcurrency", "must be a whole number"),
    ("flexible-window-too-long", {"flexibleWindowMinutes": "1441"},
     "exporter:flexibleWindowMinutes", "0 (off) or 1-1440 minutes"),
    ("email-invalid", {"alarmEmails": ["ops@example.com", "ops at example"]},
     "exporter:alarmEmails[1]", "must be an email address"),
    ("log-retention-8", {"logRetentionDays": "8"},
     "exporter:logRetentionDays", "CloudWatch Logs' retention periods"),
    ("log-level-debug", {"logLevel": "DEBUG"}, "exporter:logLevel", "'ALL', 'ERROR', 'FATAL'"),
    ("kms-without-key", {"sseAlgorithm": "KMS"},
     "exporter:kmsKeyArn", "required when sseAlgorithm is KMS"),
    ("aes256-with-key", {"kmsKeyArn": KMS_KEY_ARN},
     "exporter:kmsKeyArn", "must not be set when sseAlgorithm is AES256"),
    ("kms-alias-not-key", {"sseAlgorithm": "KMS",
                           "kmsKeyArn": f"arn:aws:kms:ap-northeast-1:{ACCOUNT}:alias/x"},
     "exporter:kmsKeyArn", "must be a KMS key ARN"),
    ("bucket-owner-without-bucket", {"bucketOwner": ACCOUNT},
     "exporter:bucketOwner", "bucketOwner requires bucketName"),
    ("bucket-owner-not-12-digits", {"bucketName": "exports", "bucketOwner": "1234"},
     "exporter:bucketOwner", "12-digit AWS account id"),
    ("expiry-with-existing-bucket", {"bucketName": "exports", "expirationDays": "7"},
     "exporter:expirationDays", "only to a bucket the exporter creates"),
    ("topic-and-emails", {"alarmTopicArn": TOPIC_ARN, "alarmEmails": ["ops@example.com"]},
     "exporter:alarmEmails", "cannot be combined with exporter:alarmTopicArn"),
    ("topic-arn-malformed", {"alarmTopicArn": "arn:aws:sns:ap-northeast-1:1:alarms"},
     "exporter:alarmTopicArn", "must be an SNS topic ARN"),
    ("run-timeout-below-export-timeout", {"runTimeoutHours": "12"},
     "exporter:runTimeoutHours", "at least exporter:exportTimeoutHours (24)"),
    ("unknown-key-typo", {"scheduel": "cron(0 4 * * ? *)"},
     "exporter:scheduel", "unknown key; did you mean schedule"),
    ("staleness-zero", {"stalenessHours": "0"}, "exporter:stalenessHours", "must be 1-168 hours"),
    ("schedule-enabled-not-boolean", {"scheduleEnabled": "maybe"},
     "exporter:scheduleEnabled", "must be true or false"),
    ("tag-key-aws-prefix", {"tags": {"aws:x": "1"}},
     "exporter:tags", "must not start with 'aws:'"),
    ("tag-value-too-long", {"tags": {"team": "x" * 257}},
     "exporter:tags", "at most 256 characters"),
    # The component's rules, reached through the settings and named by config key.
    ("timezone-abbreviation", {"scheduleTimezone": "JST"},
     "exporter:scheduleTimezone", "not an IANA time zone"),
    ("cron-spaces-around", {"scheduleExpression": "cron(0 4 * * ? *) "},
     "exporter:scheduleExpression", "spaces around it"),
    ("cron-year-passed", {"scheduleExpression": "cron(0 4 1 1 ? 2020)"},
     "exporter:scheduleExpression", "would never fire"),
    ("email-without-domain", {"alarmEmails": ["oncall@"]},
     "exporter:alarmEmails[0]", "must be an email address"),
    ("email-twice", {"alarmEmails": ["ops@example.com", "OPS@example.com"]},
     "exporter:alarmEmails[1]", "is exporter:alarmEmails[0] again"),
    ("table-arn-other-region",
     {"tables": [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"]},
     "exporter:tables[0].table", "not in the exporter's region ap-northeast-1"),
    ("table-arn-other-partition",
     {"tables": [f"arn:aws-cn:dynamodb:cn-north-1:{ACCOUNT}:table/orders"]},
     "exporter:tables[0].table", "in cn-north-1 (aws-cn)"),
    ("kms-key-other-region",
     {"sseAlgorithm": "KMS", "kmsKeyArn": KMS_KEY_ARN.replace("ap-northeast-1", "us-east-1")},
     "exporter:kmsKeyArn", "not in the exporter's region ap-northeast-1"),
    ("topic-other-region", {"alarmTopicArn": TOPIC_ARN.replace("ap-northeast-1", "eu-west-1")},
     "exporter:alarmTopicArn", "notify topics of their own region"),
    ("one-name-two-accounts",
     {"tables": [TABLE_ARN, TABLE_ARN.replace(ACCOUNT, "210987654321")]},
     "exporter:tables", "two tables named 'users'"),
    ("glue-names-collide", {"tables": ["my-orders", "my.orders"]},
     "exporter:tables", "set exporter:catalogEnabled to false"),
    ("tables-bare-words", {"tables": "[orders, customers]"},
     "exporter:tables", 'quote each name: ["orders", "customers"]'),
    ("table-entry-unknown-key-hint", {"tables": [{"table": "orders", "exportTyp": "x"}]},
     "exporter:tables[0].exportTyp", "did you mean exportType"),
    ("prefix-under-run-reports", {"prefix": "run-reports"},
     "exporter:prefix", "must not be under run-reports/"),
    ("noncurrent-with-existing-bucket",
     {"bucketName": "exports", "noncurrentVersionExpirationDays": "7"},
     "exporter:noncurrentVersionExpirationDays", "only to a bucket the exporter creates"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "key", "rule"),
    [pytest.param(overrides, key, rule, id=case) for case, overrides, key, rule in BAD_INPUTS],
)
def test_a_bad_value_is_reported_with_its_config_key_and_the_rule(
    overrides: dict[str, Any], key: str, rule: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings("dev", config(**overrides))

    line = next((ln for ln in str(raised.value).splitlines() if ln.startswith(f"{key}: ")), None)
    assert line is not None, str(raised.value)
    assert rule in line


def test_bad_inputs_are_distinct() -> None:
    assert len({json.dumps(overrides, sort_keys=True) for _, overrides, _, _ in BAD_INPUTS}) == len(
        BAD_INPUTS
    )


def test_every_problem_gets_its_own_namespaced_line() -> None:
    raw = config(maxConcurrency="0", logRetentionDays="8", scheduel="x", prefix="/p")

    with pytest.raises(SettingsError) as raised:
        parse_settings("prd", raw)

    lines = str(raised.value).splitlines()
    assert len(lines) == 4
    assert all(line.startswith("exporter:") for line in lines)
    assert "Value error" not in str(raised.value)
    assert raised.value.problems == lines


def test_an_unknown_stack_is_refused_with_the_known_stacks() -> None:
    with pytest.raises(SettingsError, match=r"unknown stack 'staging': expected one of dev, prd"):
        parse_settings("staging", config())


def test_each_stack_maps_to_its_settings_class() -> None:
    assert settings_class_for("dev") is DevSettings
    assert settings_class_for("prd") is PrdSettings
    assert all(issubclass(cls, ExporterSettings) for cls in SETTINGS_BY_STACK.values())


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- loading from the Pulumi runtime -------------------------------------------------


def test_load_settings_reads_the_stack_and_the_config_pulumi_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prd")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config(maxConcurrency="20")))

    settings = load_settings()

    assert isinstance(settings, PrdSettings)
    assert settings.max_concurrency == 20


def test_load_settings_turns_a_bad_config_into_one_clean_run_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pulumi, "get_stack", lambda: "dev")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config(stalenessHours="0")))

    with pytest.raises(pulumi.RunError) as raised:
        stack_config.load_settings()

    assert str(raised.value).startswith("exporter:stalenessHours: must be 1-168 hours")


# --- the pure validators --------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 4 * * ? *)",
        "cron(0/15 * * * ? *)",
        "cron(0 9 ? * MON-FRI *)",
        "cron(30 18 L * ? *)",
        "cron(0 0 ? * 6L *)",
        "cron(0 0 ? * 2#1 *)",
        "cron(0 0 15W * ? 2030-2040)",
        "cron(0 12 1 JAN,JUL ? *)",
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 day)",
        "rate(12 hours)",
    ],
)
def test_recurring_schedule_expressions_are_accepted(expression: str) -> None:
    assert checks.check_schedule_expression(expression) == expression


@pytest.mark.parametrize(
    ("expression", "rule"),
    [
        ("cron(0 24 * * ? *)", "24 is out of range 0-23"),
        ("cron(0 4 32 * ? *)", "32 is out of range 1-31"),
        ("cron(0 4 ? * 8 *)", "8 is out of range 1-7 or SUN-SAT"),
        ("cron(0 4 ? * 2#6 *)", "number after '#' must be 1-5"),
        ("cron(0 4 * * ? 1969)", "1969 is out of range 1970-2199"),
        ("cron(*/0 4 * * ? *)", "step after '/' must be a positive number"),
        ("cron(0 4 1,? * ? *)", "'?' must stand alone"),
        ("cron(? 4 * * ? *)", "allowed are 0-59"),
    ],
)
def test_cron_fields_are_checked_one_by_one(expression: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        checks.check_cron(expression)


def test_bucket_names_follow_s3_rules() -> None:
    for name in ("abc", "my.exports-1", "a" * 63):
        assert checks.check_bucket_name(name) == name
    for name in ("ab", "a" * 64, "-exports", "exports-", "sthree-x", "x--x-s3", "x.mrap"):
        with pytest.raises(ValueError, match="bucket name"):
            checks.check_bucket_name(name)


def test_prefixes_follow_s3_key_rules() -> None:
    for prefix in ("exports", "ddb/exports/v1", "a.b/c_d-e"):
        assert checks.check_prefix(prefix) == prefix
    for prefix in ("", "x" * 513, "exports/", "a\\b", "a{b}", "tab\there"):
        with pytest.raises(ValueError, match="prefix"):
            checks.check_prefix(prefix)


def test_table_references_are_names_or_table_arns() -> None:
    assert checks.check_table_ref("Orders_2024.v-1") == "Orders_2024.v-1"
    assert checks.check_table_ref(TABLE_ARN) == TABLE_ARN
    assert checks.table_name_of(TABLE_ARN) == "users"
    cn_arn = f"arn:aws-cn:dynamodb:cn-north-1:{ACCOUNT}:table/orders"
    assert checks.check_table_ref(cn_arn) == cn_arn
    for bad in ("x" * 256, f"arn:aws:dynamodb:ap-northeast-1:{ACCOUNT}:table/ab"):
        with pytest.raises(ValueError):
            checks.check_table_ref(bad)


def test_kms_key_arns_accept_key_ids_and_multi_region_ids_only() -> None:
    mrk = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    assert checks.check_kms_key_arn(KMS_KEY_ARN) == KMS_KEY_ARN
    assert checks.check_kms_key_arn(mrk) == mrk
    with pytest.raises(ValueError, match="KMS key ARN"):
        checks.check_kms_key_arn(KMS_KEY_ARN.replace("abcd", "ABCD"))


def test_emails_topics_and_accounts_have_plain_shapes() -> None:
    for address in ("ops@example.com", "first.last+alerts@mail.example.co.jp"):
        assert checks.check_email(address) == address
    for address in ("ops@example", "ops @example.com", ".ops@example.com", "ops@-x.com"):
        with pytest.raises(ValueError, match="email address"):
            checks.check_email(address)
    assert checks.check_sns_topic_arn(TOPIC_ARN) == TOPIC_ARN
    with pytest.raises(ValueError, match="CloudWatch alarm actions cannot use a FIFO topic"):
        checks.check_sns_topic_arn(TOPIC_ARN + ".fifo")
    with pytest.raises(ValueError, match="SNS topic ARN"):
        checks.check_sns_topic_arn(TOPIC_ARN.replace(ACCOUNT, "1"))
    with pytest.raises(ValueError, match="12-digit"):
        checks.check_account_id("12345678901a")


def test_ranges_and_retention_name_the_allowed_values() -> None:
    assert checks.check_range(5, 1, 10) == 5
    with pytest.raises(ValueError, match=r"must be 1-10 days \(why\), got 11"):
        checks.check_range(11, 1, 10, "days", "why")
    assert checks.check_log_retention_days(731) == 731
    with pytest.raises(ValueError, match="1, 3, 5, 7, 14"):
        checks.check_log_retention_days(2)
    assert checks.check_flexible_window(0) == 0
    assert checks.check_time_zone("Asia/Tokyo") == "Asia/Tokyo"


def test_exact_table_access_for_more_tables_than_iam_can_list_names_the_setting() -> None:
    many = json.dumps([{"table": f"tenant-{i:04d}"} for i in range(1000)])
    with pytest.raises(
        SettingsError, match=r"exporter:tableAccess: 'exact' cannot name 1000 tables"
    ):
        parse_settings("prd", config(tables=many))
    settings = parse_settings("prd", config(tables=many, tableAccess="prefix"))
    assert len(settings.tables) == 1000 and settings.table_access == "prefix"


def test_ion_with_the_athena_catalog_is_rejected_naming_the_setting() -> None:
    with pytest.raises(
        SettingsError, match=r"exporter:exportFormat: ION exports cannot be catalogued"
    ):
        parse_settings("prd", config(exportFormat="ION"))
    assert (
        parse_settings("prd", config(exportFormat="ION", catalogEnabled="false")).export_format
        == "ION"
    )


def test_column_names_glue_cannot_read_are_rejected_naming_the_table_entry() -> None:
    tables = json.dumps([{"table": "orders", "columns": {"menu-item": "string"}}])
    with pytest.raises(SettingsError, match=r"exporter:tables\[0\]\.columns: .*menu-item"):
        parse_settings("prd", config(tables=tables))


# --- one rule set: the settings apply the component's rules ---------------------------


@pytest.mark.parametrize(
    ("key", "value", "argument", "component_value"),
    [
        ("scheduleExpression", "cron(0 4 * * *)", "schedule_expression", "cron(0 4 * * *)"),
        ("scheduleTimezone", "JST", "schedule_timezone", "JST"),
        ("bucketName", "My-Bucket", "bucket_name", "My-Bucket"),
        ("prefix", "a/../b", "prefix", "a/../b"),
        ("maxConcurrency", "301", "max_concurrency", 301),
        ("logRetentionDays", "8", "log_retention_days", 8),
    ],
)
def test_the_program_and_the_component_state_the_same_rule(
    key: str, value: str, argument: str, component_value: Any
) -> None:
    with pytest.raises(SettingsError) as program:
        parse_settings("dev", config(**{key: value}))
    with pytest.raises(TableExporterArgsError) as component:
        resolve({"tables": [{"table": "orders"}], argument: component_value})  # type: ignore[misc]

    program_rule = str(program.value).split(": ", 1)[1]
    component_rule = str(component.value).split(": ", 1)[1]
    assert program_rule == component_rule


@pytest.mark.parametrize("stack", sorted(SETTINGS_BY_STACK))
def test_the_settings_choices_are_the_components(stack: str) -> None:
    fields = SETTINGS_BY_STACK[stack].model_fields
    for argument, choices in arguments.CHOICES.items():
        assert fields[argument].annotation is not None
        assert set(fields[argument].annotation.__args__) == set(choices), argument


@pytest.mark.parametrize("stack", sorted(SETTINGS_BY_STACK))
@pytest.mark.parametrize(
    "overrides",
    [{}, {"bucketName": "shared-exports"}, {"alarmsEnabled": "false"}],
)
def test_what_the_settings_accept_the_component_accepts(
    stack: str, overrides: dict[str, str]
) -> None:
    settings = parse_settings(stack, config(**overrides))

    resolve(exporter_args(settings, stack=stack, region="ap-northeast-1"))


def test_alarm_emails_with_alarms_disabled_are_left_to_the_component_to_warn_about() -> None:
    settings = parse_settings("dev", config(alarmsEnabled="false", alarmEmails=["a@example.com"]))

    assert settings.alarm_emails == ["a@example.com"]


def test_without_aws_region_table_arns_of_any_region_are_accepted() -> None:
    raw = {"exporter:tables": json.dumps([f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"])}

    assert parse_settings("dev", raw).tables[0].table_name == "orders"


def test_a_year_still_to_come_and_open_ended_years_are_accepted() -> None:
    for expression in ("cron(0 4 1 1 ? 2020-2199)", "cron(0 4 1 1 ? 2020/5)", "cron(0 4 1 1 ? *)"):
        assert checks.check_cron(expression) == expression
    with pytest.raises(ValueError, match="never fire"):
        checks.check_cron("cron(0 4 1 1 ? 2030)", year=2031)


# --- what a newcomer runs into ---------------------------------------------------------


def test_a_wrong_type_or_an_unknown_key_hides_no_rule_over_several_settings() -> None:
    raw = config(
        maxConcurrency="ten", scheduel="x", sseAlgorithm="KMS", runTimeoutHours="12", prefix="/p"
    )

    with pytest.raises(SettingsError) as raised:
        parse_settings("prd", raw)

    assert sorted(line.split(": ", 1)[0] for line in raised.value.problems) == [
        "exporter:kmsKeyArn",
        "exporter:maxConcurrency",
        "exporter:prefix",
        "exporter:runTimeoutHours",
        "exporter:scheduel",
    ]


def test_a_bad_table_entry_hides_no_rule_over_the_other_settings() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings("prd", config(tables=["orders!"], sseAlgorithm="KMS"))

    assert [line.split(": ", 1)[0] for line in raised.value.problems] == [
        "exporter:tables[0].table",
        "exporter:kmsKeyArn",
    ]


@pytest.mark.parametrize("text", ["yes", "on", "1", "True", "y"])
@pytest.mark.parametrize("key", ["scheduleEnabled", "alarmsEnabled", "catalogEnabled"])
def test_a_boolean_setting_takes_only_true_or_false(key: str, text: str) -> None:
    with pytest.raises(SettingsError, match=rf"^exporter:{key}: must be true or false, got"):
        parse_settings("dev", config(**{key: text}))


def test_the_text_true_and_false_the_cli_passes_are_booleans() -> None:
    assert parse_settings("dev", config(scheduleEnabled="true")).schedule_enabled is True
    assert parse_settings("prd", config(scheduleEnabled="false")).schedule_enabled is False
    entry = {"table": "orders", "changeHistory": "on"}
    with pytest.raises(SettingsError, match=r"tables\[0\]\.changeHistory: must be true or false"):
        parse_settings("dev", config(tables=[entry]))


@pytest.mark.parametrize(
    ("key", "camel"), [("export_type", "exportType"), ("change_history", "changeHistory")]
)
def test_a_snake_case_key_in_a_table_entry_is_refused_suggesting_its_camel_case(
    key: str, camel: str
) -> None:
    entry = {"table": "orders", key: "FULL_EXPORT" if key == "export_type" else "true"}

    with pytest.raises(SettingsError) as raised:
        parse_settings("dev", config(tables=[entry]))

    assert str(raised.value).startswith(
        f"exporter:tables[0].{key}: unknown key; did you mean {camel}? (keys are camelCase)"
    )


def test_a_snake_case_top_level_key_is_refused_suggesting_its_camel_case() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings("dev", config(schedule_expression="rate(1 day)"))

    assert str(raised.value).startswith(
        "exporter:schedule_expression: unknown key; did you mean scheduleExpression?"
    )


def test_a_fifo_alarm_topic_is_refused_saying_alarms_cannot_use_fifo_topics() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings("dev", config(alarmTopicArn=TOPIC_ARN + ".fifo"))

    assert str(raised.value) == (
        f"exporter:alarmTopicArn: '{TOPIC_ARN}.fifo' is a FIFO topic, and CloudWatch alarm "
        "actions cannot use a FIFO topic; give a standard SNS topic"
    )


def test_a_misspelt_key_suggests_first_the_key_whose_rule_takes_its_value() -> None:
    with pytest.raises(SettingsError) as expression:
        parse_settings("dev", config(scheduel="rate(1 day)"))
    with pytest.raises(SettingsError) as flag:
        parse_settings("dev", config(scheduel="true"))

    assert "did you mean scheduleExpression, " in str(expression.value)
    assert "did you mean scheduleEnabled, " in str(flag.value)


def test_a_misspelt_table_key_suggests_table() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings("dev", config(tables=[{"tabel": "orders"}]))

    assert "exporter:tables[0].tabel: unknown key; did you mean table?" in str(raised.value)


@pytest.mark.parametrize(
    ("key", "known", "suggested"),
    [
        ("tabel", rules.TABLE_KEYS, ["table"]),
        ("scheduel", ["scheduleEnabled", "scheduleExpression", "tags"], ["scheduleEnabled",
                                                                        "scheduleExpression"]),
        ("max_concurency", ["max_concurrency", "tags"], ["max_concurrency"]),
        ("scheduleExpression", ["schedule_expression", "schedule_enabled"],
         ["schedule_expression"]),
        ("s", ["schedule_expression", "tags"], []),
        ("region2", ["tables", "tags"], []),
    ],
)  # fmt: skip
def test_the_one_suggestion_helper_ranks_close_keys_and_leaves_far_ones_out(
    key: str, known: list[str], suggested: list[str]
) -> None:
    assert rules.close_keys(key, known) == suggested
