"""Another Pulumi language's program, in-process: the plugin's ``construct`` builds the
same resources, with the same names and inputs, and returns the same outputs, as the
Python import does; bad arguments are refused with the same one-line errors.

Inputs go the way the engine sends them: a protobuf ``Struct`` of camelCase properties
(numbers are doubles), with output values (a value or unknown, and the URNs it depends
on) where a program passed another resource's output, since the provider accepts
outputs. They are decoded by the SDK's own provider server (``_construct_inputs``), then
given to the provider's ``construct``, all under Pulumi's mocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2
from pulumi.runtime.sync_await import _sync_await
from table_exporter import (
    TYPE_TOKEN,
    ImporterSpec,
    KeyAttribute,
    TableExporter,
    TableExporterArgs,
    TableExporterArgsError,
    TableImporter,
    TableImporterArgsError,
)
from table_exporter.kernel.polling import PollPolicy
from table_exporter.provider import COMPONENTS, PACKAGE_NAME, TableExporterProvider

from emulator.pulumi_mocks import RecordingMocks

IMPORTER = f"{PACKAGE_NAME}:index:TableImporter"
UPSTREAM = "urn:pulumi:stack::project::aws:s3/bucket:Bucket::upstream"
"""The resource whose outputs the other program passes (mocks' stack and project)."""
TOPIC = "arn:aws:sns:ap-northeast-1:123456789012:oncall"
KMS = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def output_value(value: Any = ..., *, depends_on: str = UPSTREAM) -> dict[str, Any]:
    """An output value on the wire: known (``value``) or unknown, and its dependency."""
    found = {
        rpc._special_sig_key: rpc._special_output_value_sig,
        "dependencies": [depends_on],
    }
    if value is not ...:
        found["value"] = value
    return found


def decoded(properties: dict[str, Any], depends: dict[str, str] | None = None) -> pulumi.Inputs:
    """``properties`` sent over the wire and decoded by the SDK's provider server."""
    struct = struct_pb2.Struct()
    struct.update(properties)
    dependencies = {
        key: provider_pb2.ConstructRequest.PropertyDependencies(urns=[urn])
        for key, urn in (depends or {}).items()
    }
    return _sync_await(ProviderServicer._construct_inputs(struct, dependencies))


def construct(
    token: str,
    name: str,
    properties: dict[str, Any],
    provider: ComponentProvider | None = None,
) -> Any:
    """What the engine's Construct call runs: returns the ``ConstructResult``."""
    return (provider or TableExporterProvider()).construct(
        name, token, decoded(properties), pulumi.ResourceOptions()
    )


def run(build: Callable[[], Any], *, preview: bool = False) -> tuple[RecordingMocks, Any]:
    """``build`` under fresh mocks; the recorded resources and ``build``'s resolved value."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=preview)
    found: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> Any:
        return pulumi.Output.from_input(build()).apply(lambda v: found.setdefault("value", v))

    program()
    return mocks, found.get("value")


def _comparable(value: Any) -> Any:
    if isinstance(value, Unknown):
        return "<unknown>"
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def registered(mocks: RecordingMocks) -> dict[tuple[str, str], dict[str, Any]]:
    """Each registered resource's inputs by type and name (unknowns as one marker)."""
    records = {(r.typ, r.name): _comparable(dict(r.inputs)) for r in mocks.resources}
    assert len(records) == len(mocks.resources)
    return records


def unknown() -> pulumi.Output[Any]:
    """An Output not known until the deployment (a new resource's output at preview)."""
    loop = asyncio.get_event_loop()
    value, known = loop.create_future(), loop.create_future()
    value.set_result(None)
    known.set_result(False)
    return pulumi.Output(set(), value, known)


def outputs_of(component: pulumi.ComponentResource, names: list[str]) -> pulumi.Output[Any]:
    return pulumi.Output.all(**{camel_case(n): getattr(component, n) for n in names})


EXPORTER_OUTPUTS = [
    "run_state_machine_arn",
    "run_state_machine_name",
    "table_export_state_machine_arn",
    "table_export_state_machine_name",
    "dashboard_name",
    "schedule_arn",
    "bucket_name",
    "run_role_arn",
    "table_export_role_arn",
    "scheduler_role_arn",
    "alarm_arns",
    "alarm_topic_arn",
    "dead_letter_queue_arn",
    "schedule_input",
]
IMPORTER_OUTPUTS = [
    "state_machine_arn",
    "state_machine_name",
    "parameter_name",
    "role_arn",
    "schedule_arn",
]

# One column per table: a map's order does not survive the wire (protobuf maps), and the
# Glue columns follow the order of ``columns``.
PYTHON_ARGS: TableExporterArgs = {
    "tables": [
        {"table": "orders", "columns": {"quantity": "number"}},
        {"table": "customers", "prefix": "crm", "export_type": "INCREMENTAL_EXPORT"},
        {"table": "payments", "prefix": "pay"},
    ],
    "schedule_timezone": "Europe/Berlin",
    "max_concurrency": 20,
    "watermark_lag_alarm_hours": 12,
    "restore_drill_enabled": True,
    "alarm_emails": ["data-oncall@example.com"],
    "expiration_days": 90,
    "tags": {"team": "data-platform"},
}
WIRE_ARGS: dict[str, Any] = {
    "tables": [
        {"table": "orders", "columns": {"quantity": "number"}},
        {"table": "customers", "prefix": "crm", "exportType": "INCREMENTAL_EXPORT"},
        {"table": "payments", "prefix": "pay"},
    ],
    "scheduleTimezone": "Europe/Berlin",
    "maxConcurrency": 20,
    "watermarkLagAlarmHours": 12,
    "restoreDrillEnabled": True,
    "alarmEmails": ["data-oncall@example.com"],
    "expirationDays": 90,
    "tags": {"team": "data-platform"},
}


def test_the_wire_turns_every_number_into_a_double() -> None:
    """Why the provider turns whole numbers back into ints."""
    pulumi.runtime.set_mocks(RecordingMocks())
    assert decoded({"maxConcurrency": 20})["maxConcurrency"] == 20.0
    assert isinstance(decoded({"maxConcurrency": 20})["maxConcurrency"], float)


def test_construct_builds_the_resources_and_outputs_the_python_import_builds() -> None:
    python, python_outputs = run(
        lambda: outputs_of(TableExporter("nightly", PYTHON_ARGS), EXPORTER_OUTPUTS)
    )
    other, other_outputs = run(
        lambda: pulumi.Output.all(**construct(TYPE_TOKEN, "nightly", WIRE_ARGS).state)
    )
    assert registered(other) == registered(python)
    assert len(registered(python)) > 40
    assert other_outputs == python_outputs
    assert set(other_outputs) == {camel_case(n) for n in EXPORTER_OUTPUTS}
    assert other_outputs["alarmArns"] and other_outputs["bucketName"]


def test_outputs_of_other_resources_flow_into_the_component_as_outputs() -> None:
    topic = pulumi.Output.from_input(TOPIC)
    python, python_outputs = run(
        lambda: outputs_of(
            TableExporter("nightly", {**PYTHON_ARGS, "alarm_emails": [], "alarm_topic_arn": topic}),
            EXPORTER_OUTPUTS,
        )
    )
    other, other_outputs = run(
        lambda: pulumi.Output.all(
            **construct(
                TYPE_TOKEN,
                "nightly",
                {**WIRE_ARGS, "alarmEmails": [], "alarmTopicArn": output_value(TOPIC)},
            ).state
        )
    )
    assert registered(other) == registered(python)
    assert other_outputs["alarmTopicArn"] == python_outputs["alarmTopicArn"] == TOPIC


def test_at_preview_unknown_inputs_give_the_same_resources_as_in_python() -> None:
    tables = [{"table": "orders"}, {"table": "customers", "prefix": "crm"}]

    def python() -> Any:
        args: TableExporterArgs = {
            "tables": [{"table": "orders"}, {"table": unknown(), "prefix": "crm"}],
            "bucket_name": unknown(),
        }
        exporter = TableExporter("nightly", args)
        return exporter.run_state_machine_name

    def other() -> Any:
        wire = {
            "tables": [tables[0], {**tables[1], "table": output_value()}],
            "bucketName": output_value(),
        }
        return construct(TYPE_TOKEN, "nightly", wire).state["runStateMachineName"]

    python_mocks, python_name = run(python, preview=True)
    other_mocks, other_name = run(other, preview=True)
    assert registered(other_mocks) == registered(python_mocks)
    assert not any(r.typ == "aws:s3/bucket:Bucket" for r in python_mocks.resources)
    assert other_name == python_name


# -- bad arguments ---------------------------------------------------------------------


def refused_in_python(args: Any) -> str:
    pulumi.runtime.set_mocks(RecordingMocks())
    with pytest.raises(TableExporterArgsError) as raised:
        TableExporter("nightly", args)
    return str(raised.value)


def refused_by_construct(properties: dict[str, Any], provider: Any = None) -> str:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks)
    with pytest.raises(ComponentInitError) as raised:
        construct(TYPE_TOKEN, "nightly", properties, provider)
    assert isinstance(raised.value.inner, TableExporterArgsError)
    assert mocks.resources == []
    return str(raised.value)


@pytest.mark.parametrize(
    ("python", "wire"),
    [
        (
            {"tables": [{"table": "my orders"}], "max_concurrency": 500, "log_level": "LOUD"},
            {"tables": [{"table": "my orders"}], "maxConcurrency": 500, "logLevel": "LOUD"},
        ),
        (
            {"tables": [{"table": "orders"}], "staleness_hours": 2.5},
            {"tables": [{"table": "orders"}], "stalenessHours": 2.5},
        ),
        (
            {"tables": [{"table": "orders", "export_type": "SOMETIMES"}], "sse_algorithm": "KMS"},
            {"tables": [{"table": "orders", "exportType": "SOMETIMES"}], "sseAlgorithm": "KMS"},
        ),
        (
            {"tables": [{"table": "orders"}, {"table": "orders"}], "tags": {"a": "b"}},
            {"tables": [{"table": "orders"}, {"table": "orders"}], "tags": {"a": "b"}},
        ),
    ],
    ids=["names-ranges-choices", "fraction", "per-table-choice-and-missing-key", "duplicate"],
)
def test_bad_arguments_get_the_same_one_line_errors_as_in_python(
    python: dict[str, Any], wire: dict[str, Any]
) -> None:
    expected = refused_in_python(python)
    assert refused_by_construct(wire) == expected
    assert all(": " in line for line in expected.splitlines())


def test_an_output_for_a_plain_argument_is_refused_as_in_python() -> None:
    expected = refused_in_python(
        {"tables": [{"table": "orders"}], "prefix": pulumi.Output.from_input("exports")}
    )
    assert expected == "prefix: must be a plain value, not an Output"
    wire = {"tables": [{"table": "orders"}], "prefix": output_value("exports")}
    assert refused_by_construct(wire) == expected


def test_the_sdk_provider_alone_would_refuse_every_whole_number() -> None:
    """What ``TableExporterProvider`` is for: the SDK's provider leaves 20 as 20.0."""
    wire = {"tables": [{"table": "orders"}], "maxConcurrency": 20}
    plain_sdk = ComponentProvider(COMPONENTS, PACKAGE_NAME)
    assert refused_by_construct(wire, plain_sdk) == "max_concurrency: must be a whole number, got 20.0"
    mocks, _ = run(lambda: construct(TYPE_TOKEN, "nightly", wire).urn)
    (machine,) = [
        r for r in mocks.of_type("aws:sfn/stateMachine:StateMachine") if r.name == "nightly-run"
    ]
    assert '"MaxConcurrency":20' in machine.inputs["definition"].replace(" ", "")


def test_a_missing_table_list_is_refused_before_the_component_is_built() -> None:
    """``tables`` is required in the schema, so the SDKs refuse a program without it;
    a request without it anyway is refused by the provider, naming the argument."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks)
    with pytest.raises(Exception, match="'tables'"):
        construct(TYPE_TOKEN, "nightly", {"maxConcurrency": 5})
    assert mocks.resources == []


# -- TableImporter ---------------------------------------------------------------------

SPEC = ImporterSpec(
    source_bucket="copies-bucket",
    source_prefix="exports/orders",
    table_prefix="orders-copy-",
    parameter_name="/copies/orders/current",
    partition_key=KeyAttribute("pk"),
    sort_key=KeyAttribute("sk", "N"),
    keep=5,
    source_bucket_owner="210987654321",
    poll=PollPolicy(min_seconds=30, max_seconds=600),
)
IMPORTER_WIRE: dict[str, Any] = {
    "sourceBucket": "copies-bucket",
    "sourcePrefix": "exports/orders",
    "tablePrefix": "orders-copy-",
    "parameterName": "/copies/orders/current",
    "partitionKey": {"name": "pk"},
    "sortKey": {"name": "sk", "attributeType": "N"},
    "keep": 5,
    "sourceBucketOwner": "210987654321",
    "poll": {"minSeconds": 30, "maxSeconds": 600},
    "scheduleExpression": "cron(0 7 * * ? *)",
    "kmsKeyArn": KMS,
    "alarmActions": [output_value(TOPIC)],
    "alarmWindowHours": 24,
}


def test_construct_builds_the_importer_the_python_call_with_a_spec_builds() -> None:
    def python() -> Any:
        importer = TableImporter(
            "orders",
            SPEC,
            schedule_expression="cron(0 7 * * ? *)",
            kms_key_arn=KMS,
            alarm_actions=[pulumi.Output.from_input(TOPIC)],
            alarm_window_hours=24,
        )
        return outputs_of(importer, IMPORTER_OUTPUTS)

    python_mocks, python_outputs = run(python)
    other_mocks, other_outputs = run(
        lambda: pulumi.Output.all(**construct(IMPORTER, "orders", IMPORTER_WIRE).state)
    )
    assert registered(other_mocks) == registered(python_mocks)
    assert other_outputs == python_outputs
    assert set(other_outputs) == {camel_case(n) for n in IMPORTER_OUTPUTS}
    (alarm, *_) = other_mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarm.inputs["alarmActions"] == [TOPIC]


@pytest.mark.parametrize(
    ("change", "wire_change"),
    [({"keep": 500}, {"keep": 500}), ({"parameter_name": "x"}, {"parameterName": "x"})],
    ids=["keep", "parameter-name"],
)
def test_a_bad_importer_argument_gets_the_error_the_spec_raises_in_python(
    change: dict[str, Any], wire_change: dict[str, Any]
) -> None:
    with pytest.raises(ValueError) as raised:
        ImporterSpec(**{**SPEC.__dict__, **change})
    pulumi.runtime.set_mocks(RecordingMocks())
    with pytest.raises(ComponentInitError) as refused:
        construct(IMPORTER, "orders", {**IMPORTER_WIRE, **wire_change})
    assert isinstance(refused.value.inner, TableImporterArgsError)
    assert str(refused.value) == str(raised.value)


def test_importer_arguments_given_as_outputs_are_refused_by_name() -> None:
    pulumi.runtime.set_mocks(RecordingMocks())
    wire = {**IMPORTER_WIRE, "sourceBucket": output_value("copies-bucket"), "keep": "5"}
    with pytest.raises(ComponentInitError) as refused:
        construct(IMPORTER, "orders", wire)
    assert str(refused.value).splitlines() == [
        "source_bucket: must be a plain value, not an Output",
        "keep: must be a whole number, got '5'",
    ]
