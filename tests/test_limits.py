"""AWS's limits, checked on everything the component and the program register.

``limits.py`` holds the numbers; the first tests check them against botocore's service
models. The matrix below evaluates configurations under Pulumi's mocks, through the
component's arguments and through the program's stack config, and checks every
registered resource against those limits: each configuration either deploys within
every limit or is refused, before any resource is registered, with one line naming
the argument or setting and the rule.
"""

from __future__ import annotations

import json
import runpy
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.session
import pulumi
import pytest
from table_exporter import TableExporter, TableExporterArgs, TableExporterArgsError
from table_exporter.importer.args import ImporterSpec, KeyAttribute
from table_exporter.importer.component import TableImporter
from table_exporter.kernel import limits

from emulator.pulumi_mocks import ACCOUNT, REGION, RecordingMocks

ROOT = Path(__file__).resolve().parents[1]
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_ACCOUNT = "210987654321"
LONGEST = 255  # DynamoDB table names are 3-255 characters


# -- the constants against botocore ---------------------------------------------------


@pytest.fixture(scope="module")
def session() -> botocore.session.Session:
    return botocore.session.get_session()


def _shape(session: botocore.session.Session, path: tuple[str, ...]) -> Any:
    model = session.get_service_model(path[0])
    if path[1] == "shape":
        return model.shape_for(path[2])
    shape = model.operation_model(path[1]).input_shape
    for member in path[2:]:
        shape = shape.members[member]
    return shape


@pytest.mark.parametrize("typ", sorted(limits.NAME_LIMITS))
def test_each_name_limit_is_the_one_botocore_models(
    session: botocore.session.Session, typ: str
) -> None:
    limit = limits.NAME_LIMITS[typ]
    if not limit.botocore:
        # A limit from the documentation: botocore must still model none, or it wins.
        assert "botocore" not in limit.source
        return
    metadata = _shape(session, limit.botocore).metadata
    pattern = metadata.get("pattern")
    top = metadata.get("max")
    if top is None and pattern and pattern.endswith("}"):
        top = int(pattern.rpartition(",")[2][:-1])  # e.g. [a-z]{1,128}
    assert top == limit.max_length, (typ, metadata)
    if pattern is not None and not limit.narrower:
        assert limit.pattern == pattern, (typ, pattern)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("stepfunctions", "CreateStateMachine", "definition"), limits.DEFINITION_LIMIT),
        (("cloudwatch", "PutMetricAlarm", "AlarmDescription"), limits.ALARM_DESCRIPTION_LIMIT),
        (("scheduler", "CreateSchedule", "Description"), limits.SCHEDULE_DESCRIPTION_LIMIT),
    ],
)
def test_size_limits_are_the_ones_botocore_models(
    session: botocore.session.Session, path: tuple[str, ...], value: int
) -> None:
    assert _shape(session, path).metadata["max"] == value


def test_documented_name_limits_are_not_modelled_by_botocore(
    session: botocore.session.Session,
) -> None:
    # SQS queue, SNS topic and dashboard names are limited only in prose today.
    for path in (
        ("sqs", "CreateQueue", "QueueName"),
        ("sns", "CreateTopic", "Name"),
        ("cloudwatch", "PutDashboard", "DashboardName"),
        ("s3", "CreateBucket", "Bucket"),
    ):
        assert "max" not in _shape(session, path).metadata, path


def test_iam_counts_policy_size_without_whitespace() -> None:
    assert limits.policy_characters('{ "a" :\n\t"b c" }') == len('{"a":"bc"}')


def test_names_that_fit_are_kept_and_long_ones_keep_a_readable_start_and_stay_distinct() -> None:
    assert limits.fit_stem("nightly-history-orders", 42) == "nightly-history-orders"
    first = limits.fit_stem("nightly-history-" + "a" * 200 + "1", 42)
    second = limits.fit_stem("nightly-history-" + "a" * 200 + "2", 42)
    assert len(first) == len(second) == 42 and first != second
    assert first.startswith("nightly-history-aaaa")


# -- evaluating configurations under mocks ----------------------------------------------


class LimitMocks(RecordingMocks):
    """Answers the table look-up (stream on) and gives streams and pipes their ARNs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        physical, state = super().new_resource(args)
        if args.typ == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
            state["arn"] = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{physical}"
        if args.typ == "aws:pipes/pipe:Pipe":
            state["arn"] = f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{physical}"
        return physical, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], Any]:
        if args.token == "aws:dynamodb/getTable:getTable":
            name = args.args["name"]
            return {
                "name": name,
                "arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
                "streamEnabled": True,
                "streamViewType": "NEW_AND_OLD_IMAGES",
                "streamArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}/stream/x",
                "hashKey": "pk",
                "rangeKey": None,
                "attributes": [{"name": "pk", "type": "S"}],
            }, []
        return super().call(args)


def _metrics(widget: Mapping[str, Any]) -> int:
    return sum(1 for m in widget["properties"].get("metrics", []) if isinstance(m[0], str))


def violations(mocks: RecordingMocks) -> list[str]:
    """Every registered resource against AWS's limits, as one line per violation."""
    found: list[str] = []
    inline: dict[str, int] = defaultdict(int)
    for resource in mocks.resources:
        typ, inputs = resource.typ, resource.inputs
        problem = limits.name_problem(typ, resource.name, inputs)
        if problem:
            found.append(problem)
        if typ == "aws:iam/rolePolicy:RolePolicy":
            inline[inputs["role"]] += limits.policy_characters(inputs["policy"])
        if typ == "aws:iam/role:Role":
            size = limits.policy_characters(inputs["assumeRolePolicy"])
            if size > limits.TRUST_POLICY_LIMIT:
                found.append(f"{resource.name}: trust policy of {size} characters")
        if typ == "aws:iam/policy:Policy":
            size = limits.policy_characters(inputs["policy"])
            if size > limits.MANAGED_POLICY_LIMIT:
                found.append(f"{resource.name}: managed policy of {size} characters")
        if typ == "aws:sfn/stateMachine:StateMachine":
            size = len(inputs["definition"].encode())
            if size > limits.DEFINITION_LIMIT:
                found.append(f"{resource.name}: definition of {size} bytes")
        descriptions = {
            "aws:cloudwatch/metricAlarm:MetricAlarm": (
                "alarmDescription",
                limits.ALARM_DESCRIPTION_LIMIT,
            ),
            "aws:scheduler/schedule:Schedule": ("description", limits.SCHEDULE_DESCRIPTION_LIMIT),
        }
        key, most = descriptions.get(typ, ("", 0))
        if key and len(inputs.get(key) or "") > most:
            found.append(f"{resource.name}: {key} over {most} characters")
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            widgets = json.loads(inputs["dashboardBody"])["widgets"]
            if len(widgets) > limits.DASHBOARD_WIDGETS_LIMIT:
                found.append(f"{resource.name}: {len(widgets)} widgets")
            if sum(_metrics(w) for w in widgets) > limits.DASHBOARD_METRICS_LIMIT:
                found.append(f"{resource.name}: too many metrics")
            for widget in widgets:
                if _metrics(widget) > limits.WIDGET_METRICS_LIMIT:
                    found.append(f"{resource.name}: a widget of {_metrics(widget)} metrics")
                if len(widget["properties"].get("alarms", [])) > limits.ALARM_WIDGET_LIMIT:
                    found.append(f"{resource.name}: an alarm widget over its limit")
    for role, size in inline.items():
        if size > limits.INLINE_POLICIES_LIMIT:
            found.append(f"{role}: inline policies of {size} characters")
    return found


@contextmanager
def _mocked(stack: str = "dev") -> Iterator[LimitMocks]:
    mocks = LimitMocks()
    pulumi.runtime.set_mocks(mocks, project="dynamodb-s3-exporter", stack=stack, preview=False)
    try:
        yield mocks
    finally:
        pulumi.runtime.set_all_config({})


def _settle(exporter: TableExporter) -> pulumi.Output[Any]:
    """An Output that resolves once every child's inputs are known."""
    outputs: list[Any] = [exporter.run_state_machine_arn, exporter.schedule_arn]
    outputs += [exporter.alarm_arns, exporter.bucket_name]
    if exporter.dashboard is not None:
        outputs.append(exporter.dashboard.dashboard_body)
    for history in exporter.change_histories.values():
        outputs += [history.pipe.arn, *[a.arn for a in history.alarms.values()]]
    outputs += [s.arn for s in exporter.drill_schedules]
    return pulumi.Output.all(*outputs)


def evaluate(args: TableExporterArgs, name: str = "nightly", importer: bool = False) -> LimitMocks:
    """The component built under mocks, every input resolved."""
    with _mocked() as mocks:

        @pulumi.runtime.test
        def build() -> pulumi.Output[Any]:
            exporter = TableExporter(name, args)
            extra: list[Any] = []
            if importer:
                extra.append(_importer(exporter).state_machine.arn)
            return pulumi.Output.all(_settle(exporter), *extra)

        build()
    return mocks


def _importer(exporter: TableExporter) -> TableImporter:
    spec = ImporterSpec(
        source_bucket="exports-bucket",
        source_prefix="dynamodb-exports/orders",
        table_prefix="orders-copy-",
        parameter_name="/copies/orders/current",
        partition_key=KeyAttribute("pk"),
        source_bucket_owner=OTHER_ACCOUNT,
    )
    return TableImporter(
        "orders-copy",
        spec,
        kms_key_arn=KMS_KEY,
        alarm_actions=[f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall"],
        opts=pulumi.ResourceOptions(depends_on=[exporter]),
    )


def refused(args: TableExporterArgs, name: str = "nightly") -> tuple[str, LimitMocks]:
    with _mocked() as mocks, pytest.raises(TableExporterArgsError) as raised:
        TableExporter(name, args)
    return str(raised.value), mocks


def evaluate_program(stack: str, config: Mapping[str, str]) -> LimitMocks:
    """The program of ``__main__.py`` for ``stack`` with ``config``, every input resolved."""
    with _mocked(stack) as mocks:
        pulumi.runtime.set_all_config(dict(config))

        @pulumi.runtime.test
        def build() -> pulumi.Output[Any]:
            namespace = runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
            return _settle(namespace["exporter"])

        build()
    return mocks


def _names(count: int, length: int, *, differ_at_end: bool = False) -> list[str]:
    """``count`` distinct table names of ``length`` characters, differing at the start
    (or at the end, where Glue's 255 characters cut them off)."""
    fill = "t" * (length - 4)
    return [fill + f"{i:04d}" if differ_at_end else f"{i:04d}" + fill for i in range(count)]


# -- change history names ------------------------------------------------------------


def test_change_history_names_fit_aws_limits_for_the_longest_table_names() -> None:
    tables = _names(2, LONGEST, differ_at_end=True)
    mocks = evaluate(
        {"tables": [{"table": t} for t in tables], "change_history": True, "catalog_enabled": False}
    )
    assert violations(mocks) == []
    histories = [r.name for r in mocks.resources if r.typ.endswith(":ChangeHistory")]
    assert len(set(histories)) == 2
    assert all(h.startswith("nightly-history-tttt") for h in histories)


def test_change_history_names_that_already_fit_are_unchanged() -> None:
    mocks = evaluate({"tables": [{"table": "orders"}], "change_history": True})
    pipe = mocks.of_type("aws:pipes/pipe:Pipe")[0]
    role_names = {r.name for r in mocks.of_type("aws:iam/role:Role")}
    assert pipe.name == "nightly-history-orders-pipe"
    assert {
        "nightly-history-orders-firehose-role",
        "nightly-history-orders-pipe-role",
    } <= role_names


def test_tables_whose_names_differ_only_in_punctuation_get_distinct_change_histories() -> None:
    mocks = evaluate(
        {"tables": [{"table": "a.b.orders"}, {"table": "a-b-orders"}], "change_history": True,
         "catalog_enabled": False}
    )  # fmt: skip
    histories = sorted(r.name for r in mocks.resources if r.typ.endswith(":ChangeHistory"))
    assert histories[0] == "nightly-history-a-b-orders" and len(set(histories)) == 2
    assert violations(mocks) == []


# -- the matrix ------------------------------------------------------------------------


def _args(
    tables: list[str],
    *,
    kms: bool = False,
    other_account: bool = False,
    incremental: bool = False,
    history: bool = False,
    drills: bool = False,
    current: bool = False,
    catalog: bool = True,
    dashboard: bool = True,
    access: str = "exact",
) -> TableExporterArgs:
    args: dict[str, Any] = {
        "tables": [{"table": t} for t in tables],
        "export_type": "INCREMENTAL_EXPORT" if incremental else "FULL_EXPORT",
        "change_history": history,
        "restore_drill_enabled": drills,
        "current_table": current,
        "catalog_enabled": catalog,
        "dashboard_enabled": dashboard,
        "table_access": access,
        "alarm_emails": ["oncall@example.com"],
    }
    if kms:
        args |= {"sse_algorithm": "KMS", "kms_key_arn": KMS_KEY}
    if other_account:
        args |= {"bucket_name": "b" * 63, "bucket_owner": OTHER_ACCOUNT}
    return args  # type: ignore[return-value]


ALL_ON = {
    "kms": True,
    "other_account": True,
    "incremental": True,
    "history": True,
    "drills": True,
    "current": True,
}
DEPLOYS: dict[str, tuple[Callable[[], TableExporterArgs], str, bool]] = {
    # name: (args, exporter name, with an importer)
    "one-table-everything-off": (
        lambda: _args(["orders"], catalog=False, dashboard=False),
        "nightly",
        False,
    ),
    "one-longest-table-everything-on": (
        lambda: _args(_names(1, LONGEST), **ALL_ON),  # type: ignore[arg-type]
        "nightly",
        True,
    ),
    "longest-exporter-name-everything-on": (
        lambda: _args(_names(2, LONGEST), **ALL_ON),  # type: ignore[arg-type]
        "e" * limits.max_exporter_name(creates_bucket=True),
        True,
    ),
    "60-tables-everything-on": (
        lambda: _args(_names(60, 24), access="prefix", **ALL_ON),  # type: ignore[arg-type]
        "nightly",
        False,
    ),
    "1000-longest-tables-all-access-created-bucket": (
        lambda: _args(_names(1000, LONGEST), kms=True, incremental=True, drills=True,
                      current=True, access="all"),
        "nightly",
        False,
    ),
    "60-tables-exact-with-drills-and-key": (
        lambda: _args(_names(60, 12), kms=True, drills=True),
        "nightly",
        False,
    ),
    "history-other-account-no-catalog": (
        lambda: _args(_names(10, LONGEST), other_account=True, history=True, catalog=False),
        "nightly",
        True,
    ),
    "incremental-key-no-dashboard": (
        lambda: _args(_names(3, LONGEST), kms=True, incremental=True, dashboard=False),
        "nightly",
        False,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(DEPLOYS))
def test_configuration_deploys_within_every_aws_limit(case: str) -> None:
    make, name, importer = DEPLOYS[case]
    mocks = evaluate(make(), name=name, importer=importer)
    assert mocks.resources
    assert violations(mocks) == []


def test_dashboard_of_1000_change_histories_keeps_to_cloudwatch_widget_limits() -> None:
    from table_exporter.export.dashboard import DashboardSpec, dashboard_body

    streams = [f"nightly-history-{i:04d}-delivery-aaaaaaa" for i in range(1000)]
    pipes = [f"nightly-history-{i:04d}-pipe-aaaaaaa" for i in range(1000)]
    alarms = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a{i}" for i in range(4012)]
    body = dashboard_body(
        DashboardSpec(
            region=REGION, run_machine_arn="run", table_machine_arn="table",
            dead_letter_queue="dlq", exporter="nightly", alarm_arns=alarms,
            incremental=True, delivery_streams=streams, pipes=pipes,
        )
    )  # fmt: skip
    mocks = RecordingMocks()
    mocks.resources.append(
        pulumi.runtime.MockResourceArgs(
            typ="aws:cloudwatch/dashboard:Dashboard",
            name="nightly-dashboard",
            inputs={"dashboardName": "nightly-table-exporter", "dashboardBody": json.dumps(body)},
            provider="",
            resource_id="",
        )
    )
    assert violations(mocks) == []
    shown = [a for w in body["widgets"] for a in w["properties"].get("alarms", [])]
    assert sorted(shown) == sorted(alarms)
    plotted = [m[3] for w in body["widgets"] for m in w["properties"].get("metrics", [])
               if isinstance(m[0], str)]  # fmt: skip
    assert set(streams) | set(pipes) <= set(plotted)


REFUSED: dict[str, tuple[Callable[[], TableExporterArgs], str, str]] = {
    # name: (args, exporter name, the start of the one line)
    "exporter-name-too-long": (
        lambda: _args(["orders"]),
        "e" * (limits.max_exporter_name(creates_bucket=True) + 1),
        "name: ",
    ),
    "exporter-name-with-underscore-and-a-created-bucket": (
        lambda: _args(["orders"]), "nightly_exports", "name: ",
    ),
    "1000-tables-named-exactly": (
        lambda: _args(_names(1000, 24)), "nightly", "table_access: 'exact' cannot name 1000",
    ),
    "longest-names-sharing-their-glue-tables": (
        lambda: _args(_names(2, LONGEST, differ_at_end=True)), "nightly", "tables: ",
    ),
    "1001-tables": (
        lambda: _args(_names(1001, 24), access="all"), "nightly", "tables: must list 1-1000",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_configuration_beyond_aws_limits_is_refused_with_one_line_before_any_resource(
    case: str,
) -> None:
    make, name, start = REFUSED[case]
    message, mocks = refused(make(), name=name)
    assert message.startswith(start) and "\n" not in message, message
    assert mocks.resources == []


def test_underscores_are_allowed_in_the_exporter_name_when_the_bucket_is_given() -> None:
    mocks = evaluate({**_args(["orders"]), "bucket_name": "b" * 63}, name="nightly_exports")
    assert violations(mocks) == []


def test_underscores_are_refused_when_another_accounts_bucket_needs_a_report_bucket() -> None:
    """With the bucket in another account, the run reports get a bucket of their own,
    named after the exporter."""
    with pytest.raises(TableExporterArgsError, match="'_' is not allowed in the S3 bucket"):
        evaluate(_args(["orders"], other_account=True), name="nightly_exports")


PROGRAM = {
    "exporter:tables": json.dumps(
        [{"table": t, "changeHistory": True} for t in _names(2, LONGEST)]
        + [{"table": t, "exportType": "INCREMENTAL_EXPORT"} for t in _names(3, 200)[2:]]
    ),
    "exporter:sseAlgorithm": "KMS",
    "exporter:kmsKeyArn": KMS_KEY,
    "exporter:restoreDrillEnabled": "true",
    "exporter:alarmEmails": '["oncall@example.com"]',
}


@pytest.mark.parametrize(
    ("stack", "config"),
    [
        ("prd", PROGRAM),
        ("dev", {**PROGRAM, "exporter:bucketName": "b" * 63, "exporter:bucketOwner": OTHER_ACCOUNT,
                 "exporter:catalogEnabled": "false", "exporter:dashboardEnabled": "false"}),
        ("prd", {"exporter:tables": json.dumps(_names(1000, LONGEST)), "exporter:tableAccess":
                 "prefix", "exporter:restoreDrillEnabled": "true"}),
    ],
    ids=["prd-everything-on", "dev-other-account-no-catalog-no-dashboard", "prd-1000-longest"],
)  # fmt: skip
def test_program_config_deploys_within_every_aws_limit(
    stack: str, config: Mapping[str, str]
) -> None:
    mocks = evaluate_program(stack, config)
    assert mocks.of_type("aws:sfn/stateMachine:StateMachine")
    assert violations(mocks) == []


def test_program_config_beyond_iams_policy_limit_is_refused_with_one_line() -> None:
    config = {"exporter:tables": json.dumps(_names(1000, 24))}
    with pytest.raises(pulumi.RunError) as raised, _mocked("prd") as mocks:
        pulumi.runtime.set_all_config(config)
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    message = str(raised.value)
    assert message.startswith("exporter:tableAccess: 'exact' cannot name 1000"), message
    assert "\n" not in message.strip()
    assert mocks.resources == []


def test_an_importer_name_too_long_for_its_childrens_names_is_refused_in_one_line() -> None:
    from table_exporter.importer.args import ImporterSpec, KeyAttribute
    from table_exporter.importer.component import TableImporter

    spec = ImporterSpec(
        source_bucket="b",
        source_prefix="p/orders",
        table_prefix="orders-copy-",
        parameter_name="/copies/orders",
        partition_key=KeyAttribute("pk"),
    )
    longest = min(limits.autoname_room(t, tail) for t, tail in limits.IMPORTER_CHILD_NAMES)
    with _mocked() as mocks, pytest.raises(ValueError, match=r"^name: .* at most \d+") as raised:
        TableImporter("i" * (longest + 1), spec)
    assert "\n" not in str(raised.value)
    assert not mocks.resources
    with _mocked() as mocks:

        @pulumi.runtime.test
        def build() -> pulumi.Output[Any]:
            return TableImporter("i" * longest, spec).state_machine.arn

        build()
    assert mocks.resources and violations(mocks) == []
