"""The component's own argument checks: used directly from another Pulumi program,
``TableExporter`` refuses bad arguments at construction, naming the argument and the
rule, before it registers itself or any child."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import pulumi
import pytest
import tzdata
from table_exporter import TableExporter, TableExporterArgsError, checks, rules
from table_exporter import args as args_module
from table_exporter.args import resolve
from table_exporter.kernel import time_zones

from emulator.pulumi_mocks import ACCOUNT, REGION, RecordingMocks

OTHER_ACCOUNT = "210987654321"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms"
BASE: dict[str, Any] = {"tables": [{"table": "orders"}], "region": REGION}


def table_arn(name: str, *, region: str = REGION, account: str = ACCOUNT, p: str = "aws") -> str:
    return f"arn:{p}:dynamodb:{region}:{account}:table/{name}"


def tables(*refs: str | dict[str, Any]) -> dict[str, Any]:
    return {"tables": [{"table": r} if isinstance(r, str) else r for r in refs]}


BAD_ARGS = [
    # (id, arguments over BASE, argument the message starts with, fragment of the rule)
    ("unknown-argument", {"schedule_expresion": "rate(1 day)"},
     "schedule_expresion", "unknown argument; did you mean schedule_expression"),
    ("unknown-table-key", tables({"table": "orders", "prefx": "o"}),
     "tables[0].prefx", "did you mean prefix"),
    ("cron-five-fields", {"schedule_expression": "cron(0 4 * * *)"},
     "schedule_expression", "needs six fields"),
    ("cron-spaces-around", {"schedule_expression": " cron(0 4 * * ? *) "},
     "schedule_expression", "spaces around it"),
    ("cron-year-passed", {"schedule_expression": "cron(0 4 1 1 ? 2020-2021)"},
     "schedule_expression", "would never fire"),
    ("at-one-time", {"schedule_expression": "at(2030-01-01T04:00:00)"},
     "schedule_expression", "one-time schedules are not supported"),
    ("rate-one-plural", {"schedule_expression": "rate(1 hours)"},
     "schedule_expression", "singular unit for 1"),
    ("timezone-abbreviation", {"schedule_timezone": "JST"},
     "schedule_timezone", "not an IANA time zone"),
    ("bucket-uppercase", {"bucket_name": "My-Bucket"},
     "bucket_name", "only lowercase letters"),
    ("bucket-owner-not-an-account", {"bucket_name": "exports", "bucket_owner": "1234"},
     "bucket_owner", "12-digit AWS account id"),
    ("bucket-owner-without-bucket", {"bucket_owner": OTHER_ACCOUNT},
     "bucket_owner", "bucket_owner requires bucket_name"),
    ("current-table-without-catalog", {"current_table": True, "catalog_enabled": False},
     "current_table", "needs catalog_enabled"),
    ("table-current-without-catalog",
     {**tables("orders", {"table": "customers", "current_table": True}), "catalog_enabled": False},
     "tables[1].current_table", "needs catalog_enabled"),
    ("current-table-not-a-flag", tables({"table": "orders", "current_table": "yes"}),
     "tables[0].current_table", "must be true or false"),
    ("email-without-domain", {"alarm_emails": ["oncall@"]},
     "alarm_emails[0]", "must be an email address"),
    ("email-twice", {"alarm_emails": ["ops@example.com", "Ops@example.com"]},
     "alarm_emails[1]", "is alarm_emails[0] again"),
    ("emails-with-given-topic", {"alarm_topic_arn": TOPIC, "alarm_emails": ["ops@example.com"]},
     "alarm_emails", "cannot be combined with alarm_topic_arn"),
    ("prefix-dot-dot", {"prefix": "a/../b"}, "prefix", "'..' path segment"),
    ("table-prefix-under-run-reports", tables({"table": "orders", "prefix": "run-reports/x"}),
     "tables[0].prefix", "must not be under run-reports/"),
    ("table-name-with-space", tables("orders", "my orders"),
     "tables[1].table", "only letters, digits"),
    ("table-arn-other-region", tables(table_arn("orders", region="us-east-1")),
     "tables[0].table", "not in the exporter's region ap-northeast-1"),
    ("table-arn-other-partition", tables(table_arn("orders", region="cn-north-1", p="aws-cn")),
     "tables[0].table", "in cn-north-1 (aws-cn)"),
    ("table-arn-malformed", tables("arn:aws:dynamodb:ap-northeast-1:1234:table/orders"),
     "tables[0].table", "malformed table ARN"),
    ("table-name-and-its-arn", tables("orders", table_arn("orders")),
     "tables", "'orders' is listed twice (tables[0] and tables[1])"),
    ("one-name-two-accounts",
     tables(table_arn("orders"), table_arn("orders", account=OTHER_ACCOUNT)),
     "tables", "two tables named 'orders'"),
    ("glue-names-collide", tables("my-orders", "my.orders"),
     "tables", "share the Glue tables my_orders_latest"),
    ("glue-names-differ-by-case", tables("Orders", "orders"),
     "tables", "share the Glue tables orders_latest"),
    ("tables-empty", {"tables": []}, "tables", "must list 1-1000 tables"),
    ("tables-a-string", {"tables": "orders"}, "tables", "must be a list of table entries"),
    ("table-entry-without-table", tables({"prefix": "p"}), "tables[0]", "with a 'table'"),
    ("table-export-type", tables({"table": "orders", "export_type": "DELTA"}),
     "tables[0].export_type", "FULL_EXPORT"),
    ("table-columns", tables({"table": "orders", "columns": {"menu-item": "string"}}),
     "tables[0].columns", "menu-item"),
    ("kms-key-other-region",
     {"sse_algorithm": "KMS", "kms_key_arn": f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{KEY_ID}"},
     "kms_key_arn", "not in the exporter's region ap-northeast-1"),
    ("kms-without-key", {"sse_algorithm": "KMS"},
     "kms_key_arn", "required when sse_algorithm is KMS"),
    ("kms-alias", {"sse_algorithm": "KMS", "kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/x"},
     "kms_key_arn", "must be a KMS key ARN"),
    ("topic-other-region", {"alarm_topic_arn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:alarms"},
     "alarm_topic_arn", "notify topics of their own region"),
    ("max-concurrency-301", {"max_concurrency": 301}, "max_concurrency", "must be 1-300"),
    ("max-concurrency-bool", {"max_concurrency": True}, "max_concurrency", "whole number"),
    ("flexible-window", {"flexible_window_minutes": 1441},
     "flexible_window_minutes", "0 (off) or 1-1440"),
    ("staleness-zero", {"staleness_hours": 0}, "staleness_hours", "must be 1-168 hours"),
    ("log-retention-8", {"log_retention_days": 8}, "log_retention_days", "retention periods"),
    ("run-timeout-below-export", {"run_timeout_hours": 12},
     "run_timeout_hours", "at least export_timeout_hours (24)"),
    ("poll-min-above-max", {"poll_min_seconds": 600, "poll_max_seconds": 60},
     "poll_min_seconds", "at most poll_max_seconds (60)"),
    ("ion-with-catalog", {"export_format": "ION"},
     "export_format", "cannot be catalogued"),
    ("export-format-csv", {"export_format": "CSV"}, "export_format", "must be one of"),
    ("schedule-enabled-text", {"schedule_enabled": "yes"}, "schedule_enabled", "True or False"),
    ("schedule-enabled-output", {"schedule_enabled": pulumi.Output.from_input(True)},
     "schedule_enabled", "plain value, not an Output"),
    ("tag-aws-prefix", {"tags": {"aws:x": "1"}}, "tags", "must not start with 'aws:'"),
    ("catalog-database-name", {"catalog_database_name": "My-DB"},
     "catalog_database_name", "Glue database name"),
    ("expiry-with-existing-bucket", {"bucket_name": "exports", "expiration_days": 7},
     "expiration_days", "only to a bucket the exporter creates"),
    ("noncurrent-with-existing-bucket",
     {"bucket_name": "exports", "noncurrent_version_expiration_days": 7},
     "noncurrent_version_expiration_days", "only to a bucket the exporter creates"),
    ("region-not-a-code", {"region": "Tokyo"}, "region", "AWS region code"),
    ("exact-access-too-many-tables",
     {"tables": [{"table": f"tenant-{i:04d}"} for i in range(1000)]},
     "table_access", "'exact' cannot name 1000 tables"),
]  # fmt: skip


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, preview=False)
    return recording


def construct(args: Any) -> TableExporterArgsError | None:
    """Build the component under the mocks, wait for every registration the attempt
    started, and return the error it raised (None if it built)."""
    raised: list[TableExporterArgsError] = []

    @pulumi.runtime.test
    def program() -> None:
        try:
            TableExporter("x", args)
        except TableExporterArgsError as err:
            raised.append(err)

    program()
    return raised[0] if raised else None


@pytest.mark.parametrize(
    ("overrides", "argument", "rule"),
    [pytest.param(o, a, r, id=case) for case, o, a, r in BAD_ARGS],
)
def test_a_bad_argument_is_named_with_its_rule_and_nothing_is_registered(
    mocks: RecordingMocks, overrides: dict[str, Any], argument: str, rule: str
) -> None:
    error = construct({**BASE, **overrides})

    assert error is not None, "accepted"
    message = str(error)
    assert message.startswith(f"{argument}: "), message
    assert rule in message, message
    assert message.count("\n") == 0, "one problem, one line"
    assert error.problems == [message]
    assert mocks.resources == [], [r.name for r in mocks.resources]


def test_there_are_enough_distinct_cases() -> None:
    assert len(BAD_ARGS) >= 25
    assert len({case for case, *_ in BAD_ARGS}) == len(BAD_ARGS)


def test_the_same_harness_registers_everything_for_good_arguments(mocks: RecordingMocks) -> None:
    assert construct(BASE) is None
    assert any(r.typ == "table-exporter:index:TableExporter" for r in mocks.resources)
    assert len(mocks.resources) > 10


def test_every_problem_gets_its_own_line(mocks: RecordingMocks) -> None:
    error = construct({**BASE, "max_concurrency": 0, "schedule_timezone": "JST", "prefix": "/p"})

    assert error is not None
    assert [line.split(":", 1)[0] for line in error.problems] == [
        "max_concurrency",
        "prefix",
        "schedule_timezone",
    ]
    assert mocks.resources == []


def test_alarm_emails_while_alarms_are_disabled_are_a_warning_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))

    resolve({**BASE, "alarms_enabled": False, "alarm_emails": ["ops@example.com"]})  # type: ignore[typeddict-item]

    assert warned == [
        "TableExporter alarm_emails: are not subscribed while alarms_enabled is false: "
        "there is no alarm topic then"
    ]


def test_good_arguments_warn_about_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))

    resolve({**BASE, "alarm_emails": ["ops@example.com"]})  # type: ignore[typeddict-item]

    assert warned == []


def test_without_a_region_argument_the_stack_aws_region_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other_region = {"tables": [{"table": table_arn("orders", region="us-east-1")}]}
    assert resolve(other_region)["tables"]  # type: ignore[typeddict-item]  # nothing to compare with

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"aws:region": REGION}))
    with pytest.raises(TableExporterArgsError, match=r"^tables\[0\]\.table: .*us-east-1"):
        resolve(other_region)  # type: ignore[arg-type]


def run_program(build: Any) -> BaseException | None:
    """Run ``build`` as a Pulumi program under the mocks, applies and registrations
    included, and return what the run raised (None if nothing)."""
    try:
        pulumi.runtime.test(build)()
    except BaseException as err:
        return err
    return None


OUTPUT_ARGS = [
    # (argument, bad value once resolved, fragment of the rule), as at construction
    ("schedule_expression", "cron(0 4 * * *)", "needs six fields"),
    ("schedule_timezone", "JST", "not an IANA time zone"),
    ("bucket_name", "My-Bucket", "only lowercase letters"),
    ("bucket_owner", "1234", "12-digit AWS account id"),
    ("kms_key_arn", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/x", "must be a KMS key ARN"),
    ("kms_key_arn", f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{KEY_ID}", "not in the exporter's"),
    ("alarm_topic_arn", f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms.fifo", "FIFO"),
    ("alarm_topic_arn", f"arn:aws:sns:eu-west-1:{ACCOUNT}:alarms", "of their own region"),
]
NEEDS = {
    "bucket_owner": {"bucket_name": "exports"},
    "kms_key_arn": {"sse_algorithm": "KMS"},
}


@pytest.mark.parametrize(("argument", "value", "rule"), OUTPUT_ARGS)
def test_an_output_argument_is_checked_when_it_resolves_in_one_clean_line(
    mocks: RecordingMocks, argument: str, value: str, rule: str
) -> None:
    args = {**BASE, **NEEDS.get(argument, {}), argument: pulumi.Output.from_input(value)}

    error = run_program(lambda: TableExporter("x", args))

    assert isinstance(error, TableExporterArgsError), repr(error)
    assert str(error).startswith(f"{argument}: "), str(error)
    assert rule in str(error)
    assert "\n" not in str(error)


def test_a_good_output_argument_resolves_to_its_value(mocks: RecordingMocks) -> None:
    expression = pulumi.Output.from_input("rate(12 hours)")

    error = run_program(lambda: TableExporter("x", {**BASE, "schedule_expression": expression}))

    assert error is None, repr(error)
    (schedule,) = [r for r in mocks.resources if r.name == "x-schedule"]
    assert schedule.inputs["scheduleExpression"] == "rate(12 hours)"


@pytest.mark.parametrize(
    ("table", "rule"),
    [
        (table_arn("orders", region="us-east-1"), "not in the exporter's region ap-northeast-1"),
        ("my orders", "may contain only letters, digits"),
    ],
)
def test_a_bad_output_table_fails_in_one_clean_line_not_a_while_processing_chain(
    mocks: RecordingMocks, table: str, rule: str
) -> None:
    """No ``region`` argument and no ``aws:region``: the table ARN's region can only be
    compared once the provider's region is known, while registering."""
    args = {"tables": [{"table": "customers"}, {"table": pulumi.Output.from_input(table)}]}

    error = run_program(lambda: TableExporter("x", args))

    assert isinstance(error, TableExporterArgsError), repr(error)
    assert str(error).startswith("tables[1].table: "), str(error)
    assert rule in str(error)
    assert "\n" not in str(error) and "While processing" not in str(error)


def test_the_argument_error_is_a_pulumi_run_error_which_pulumi_prints_without_a_traceback() -> None:
    error = TableExporterArgsError(["max_concurrency: must be 1-300, got 0"])

    assert isinstance(error, pulumi.RunError)
    assert str(error) == "max_concurrency: must be 1-300, got 0"


def test_the_arguments_can_be_given_as_keywords(mocks: RecordingMocks) -> None:
    @pulumi.runtime.test
    def program() -> None:
        TableExporter("x", tables=[{"table": "orders"}], region=REGION, max_concurrency=3)

    program()

    (run,) = [r for r in mocks.resources if r.name == "x-run"]
    assert json.loads(run.inputs["definition"])["States"]["ExportTables"]["MaxConcurrency"] == 3


def test_a_mapping_and_keywords_at_once_are_refused_showing_both_right_calls(
    mocks: RecordingMocks,
) -> None:
    error = run_program(lambda: TableExporter("x", BASE, max_concurrency=3))  # type: ignore[arg-type]

    assert isinstance(error, TableExporterArgsError)
    assert str(error).startswith("args: give the arguments either as a mapping")
    assert "TableExporter(name, tables=[...])" in str(error)
    assert mocks.resources == []


def test_a_wrong_type_or_an_unknown_argument_hides_no_other_problem(mocks: RecordingMocks) -> None:
    error = construct(
        {
            **BASE,
            "max_concurrency": "ten",  # a wrong type
            "shedule": "rate(1 day)",  # an unknown argument
            "schedule_enabled": pulumi.Output.from_input(True),  # an Output where plain
            "tables": [{"tabel": "orders"}, {"table": "my orders", "export_type": 1}],
            "schedule_timezone": "JST",
            "run_timeout_hours": 12,
            "prefix": "/p",
        }
    )

    assert error is not None
    assert sorted(line.split(": ", 1)[0] for line in error.problems) == [
        "max_concurrency",
        "prefix",
        "run_timeout_hours",
        "schedule_enabled",
        "schedule_timezone",
        "shedule",
        "tables[0]",
        "tables[0].tabel",
        "tables[1].export_type",
        "tables[1].table",
    ]
    assert mocks.resources == []


def test_the_rules_return_problems_without_raising() -> None:
    values = resolve(BASE)  # type: ignore[arg-type]
    bad = {**values, "alarm_emails": ["a@example.com", "a@example.com"], "alarms_enabled": False}

    problems = rules.argument_problems(bad, region=REGION)

    assert [(p.argument(), p.warning) for p in problems] == [
        ("alarm_emails", True),
        ("alarm_emails[1]", False),
    ]


STREAM = f"{table_arn('orders')}/stream/2030-01-01T00:00:00.000"
KEYS = [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}]


class LookupRecordingMocks(RecordingMocks):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        self.calls.append(args.token)
        return super().call(args)


def test_a_table_entry_with_its_stream_arn_gets_change_history_without_a_look_up() -> None:
    """A table created in the same program: its stream ARN is an Output, and the table
    does not exist yet at the first preview, so it must not be looked up."""
    mocks = LookupRecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    entry = {"table": "orders", "change_history": True, "key_attributes": KEYS}

    error = run_program(
        lambda: TableExporter(
            "x", {**BASE, "tables": [{**entry, "stream_arn": pulumi.Output.from_input(STREAM)}]}
        )
    )

    assert error is None, repr(error)
    assert "aws:dynamodb/getTable:getTable" not in mocks.calls
    (pipe,) = mocks.of_type("aws:pipes/pipe:Pipe")
    assert pipe.inputs["source"] == STREAM
    queries = " ".join(q.inputs["query"] for q in mocks.of_type("aws:athena/namedQuery:NamedQuery"))
    assert "pk" in queries and "sk" in queries  # the key columns given, not looked up


@pytest.mark.parametrize(
    ("entry", "argument", "rule"),
    [
        ({"change_history": True, "stream_arn": STREAM}, "tables[0].key_attributes",
         "is required with stream_arn"),
        ({"change_history": True, "key_attributes": KEYS}, "tables[0].stream_arn",
         "is required with key_attributes"),
        ({"stream_arn": STREAM, "key_attributes": KEYS}, "tables[0].stream_arn",
         "is for change history, which is off"),
        ({"change_history": True, "stream_arn": table_arn("orders"), "key_attributes": KEYS},
         "tables[0].stream_arn", "must be a DynamoDB stream ARN"),
        ({"change_history": True, "stream_arn": STREAM.replace("/orders/", "/users/"),
          "key_attributes": KEYS}, "tables[0].stream_arn", "is the stream of table 'users'"),
        ({"change_history": True, "stream_arn": STREAM, "key_attributes": [{"name": "pk"}]},
         "tables[0].key_attributes", '"type": "S", "N" or "B"'),
    ],
)  # fmt: skip
def test_a_stream_arn_needs_key_attributes_and_change_history_and_must_be_the_tables(
    mocks: RecordingMocks, entry: dict[str, Any], argument: str, rule: str
) -> None:
    error = construct({**BASE, "tables": [{"table": "orders", **entry}]})

    assert error is not None
    assert error.problems[0].startswith(f"{argument}: "), error.problems
    assert rule in error.problems[0]


def test_a_misspelt_table_key_suggests_table(mocks: RecordingMocks) -> None:
    error = construct({**BASE, "tables": [{"tabel": "orders"}]})

    assert error is not None
    assert error.problems[0].startswith("tables[0].tabel: unknown key; did you mean table? ")


def test_a_misspelt_argument_suggests_first_the_argument_whose_rule_takes_its_value(
    mocks: RecordingMocks,
) -> None:
    error = construct({**BASE, "scheduel": "rate(1 day)"})

    assert error is not None
    assert error.problems[0].startswith(
        "scheduel: unknown argument; did you mean schedule_expression, "
    )


def test_a_camel_case_argument_is_refused_suggesting_its_snake_case(mocks: RecordingMocks) -> None:
    error = construct({**BASE, "maxConcurrency": 3})

    assert error is not None
    assert error.problems == [
        "maxConcurrency: unknown argument; did you mean max_concurrency? (arguments are "
        "snake_case) known arguments: " + ", ".join(sorted(args_module.KNOWN_ARGUMENTS))
    ]


def test_a_fifo_alarm_topic_is_refused_saying_alarms_cannot_use_fifo_topics(
    mocks: RecordingMocks,
) -> None:
    error = construct({**BASE, "alarm_topic_arn": TOPIC + ".fifo"})

    assert error is not None
    assert error.problems == [
        f"alarm_topic_arn: '{TOPIC}.fifo' is a FIFO topic, and CloudWatch alarm actions cannot "
        "use a FIFO topic; give a standard SNS topic"
    ]


@pytest.fixture
def no_zone_database(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Python with neither a system zoneinfo nor tzdata (Windows without tzdata)."""
    monkeypatch.setattr(checks.zoneinfo, "available_timezones", set)
    checks._time_zones.cache_clear()
    yield
    checks._time_zones.cache_clear()


@pytest.mark.usefixtures("no_zone_database")
def test_without_a_zone_database_an_unknown_time_zone_is_still_refused() -> None:
    with pytest.raises(TableExporterArgsError, match=r"^schedule_timezone: 'Mars/Olympus' is not"):
        resolve({**BASE, "schedule_timezone": "Mars/Olympus"})  # type: ignore[typeddict-item]
    for zone in ("UTC", "Asia/Tokyo", "America/Argentina/Buenos_Aires", "Etc/GMT+9"):
        assert resolve({**BASE, "schedule_timezone": zone})["schedule_timezone"] == zone  # type: ignore[typeddict-item]


def test_the_bundled_time_zones_are_those_of_the_locked_tzdata() -> None:
    """After a tzdata upgrade, regenerate ``time_zones.py`` as its docstring says."""
    listed = importlib.resources.files("tzdata").joinpath("zones").read_text().split()

    assert time_zones.IANA_VERSION == tzdata.IANA_VERSION
    assert set(listed) == time_zones.NAMES
