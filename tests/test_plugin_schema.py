"""The schema every other Pulumi language gets: inferred by the Pulumi SDK's own
analyzer from the components' annotations, checked here against the argument
definitions, the validation rules, the defaults in the code and Pulumi's package
schema rules."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
from typing import Any

import jsonschema
import pulumi
import pytest
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.provider.experimental.util import camel_case
from table_exporter import (
    TYPE_TOKEN,
    TableArgs,
    TableExporter,
    TableExporterArgs,
    TableImporter,
    config,
)
from table_exporter import args as component_args
from table_exporter.importer.args import (
    ImporterSpec,
    KeyAttribute,
    KeyAttributeArgs,
    PollPolicyArgs,
    TableImporterArgs,
)
from table_exporter.kernel.polling import PollPolicy
from table_exporter.provider import PACKAGE_NAME

from tests.plugin_schema import PACKAGE_RULES, reference_problems, schema

EXPORTER = f"{PACKAGE_NAME}:index:TableExporter"
IMPORTER = f"{PACKAGE_NAME}:index:TableImporter"
VALIDATOR = jsonschema.Draft202012Validator(
    PACKAGE_RULES, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def _keys(typed_dict: Any) -> set[str]:
    return set(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def _inputs(token: str) -> dict[str, Any]:
    return schema()["resources"][token]["inputProperties"]


def _type_ref(name: str) -> str:
    return f"#/types/{PACKAGE_NAME}:index:{name}"


def _shape(spec: dict[str, Any]) -> Any:
    """A property's type, compactly: ``"string"``, ``["string"]``, ``{"string"}``-like
    ``("map", "string")`` or the named type's name."""
    if "$ref" in spec:
        return spec["$ref"].rsplit(":", 1)[-1]
    if spec["type"] == "array":
        return [_shape(spec["items"])]
    if spec["type"] == "object" and "additionalProperties" in spec:
        return ("map", _shape(spec["additionalProperties"]))
    return spec["type"]


# -- the analyzer ----------------------------------------------------------------------


def test_the_sdk_analyzer_infers_both_components_from_their_annotations() -> None:
    result = Analyzer(PACKAGE_NAME).analyze([TableExporter, TableImporter])
    assert set(result["component_definitions"]) == {"TableExporter", "TableImporter"}
    assert set(result["type_definitions"]) == {"TableArgs", "KeyAttributeArgs", "PollPolicyArgs"}
    # Outputs are text and maps of text only: no resource of another package.
    assert result["dependencies"] == set()


def test_the_schema_tokens_are_the_ones_the_components_register() -> None:
    assert set(schema()["resources"]) == {TYPE_TOKEN, IMPORTER}
    assert TYPE_TOKEN == EXPORTER
    source = inspect.getsource(TableImporter.__init__)
    assert f'"{IMPORTER}"' in source


# -- Pulumi's package schema rules ---------------------------------------------------


def test_the_schema_follows_pulumis_package_schema_rules() -> None:
    package = schema()
    assert [e.message for e in VALIDATOR.iter_errors(package)] == []
    assert reference_problems(package) == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda p: p["resources"][EXPORTER]["inputProperties"]["prefix"].update(type="text"),
        lambda p: p["resources"][EXPORTER]["inputProperties"]["tables"].pop("items"),
        lambda p: p["types"][f"{PACKAGE_NAME}:index:TableArgs"]["properties"]["table"].update(
            items={"type": "string"}
        ),
        lambda p: p["resources"].update({"table-exporter:TableExporter": {}}),
        lambda p: p.update(name="9-lives"),
        lambda p: p["types"].pop(f"{PACKAGE_NAME}:index:KeyAttributeArgs"),
        lambda p: p["resources"][IMPORTER]["requiredInputs"].append("nonesuch"),
    ],
    ids=[
        "unknown-primitive",
        "array-without-items",
        "primitive-with-items",
        "token-without-module",
        "bad-package-name",
        "dangling-reference",
        "required-but-absent",
    ],
)
def test_the_schema_rules_refuse_a_broken_schema(break_it: Any) -> None:
    package = copy.deepcopy(schema())
    break_it(package)
    problems = [e.message for e in VALIDATOR.iter_errors(package)] + reference_problems(package)
    assert problems


# -- TableExporter's arguments -------------------------------------------------------


def test_every_exporter_argument_is_an_input_and_nothing_else() -> None:
    assert set(_inputs(EXPORTER)) == {camel_case(key) for key in _keys(TableExporterArgs)}
    assert set(schema()["types"][f"{PACKAGE_NAME}:index:TableArgs"]["properties"]) == {
        camel_case(key) for key in _keys(TableArgs)
    }


def test_exporter_input_types_are_the_ones_the_validation_accepts() -> None:
    inputs = _inputs(EXPORTER)
    expected: dict[str, Any] = {
        **{a.name: "boolean" for a in config.ARGUMENTS if a.kind is config.FLAG},
        **{a.name: "integer" for a in config.ARGUMENTS if a.kind is config.WHOLE},
        **{a.name: "string" for a in config.ARGUMENTS if a.kind in (config.CHOICE, config.TEXT)},
        "tables": ["TableArgs"],
        "alarm_emails": ["string"],
        "tags": ("map", "string"),
    }
    assert {key: _shape(inputs[camel_case(key)]) for key in expected} == expected
    table = schema()["types"][f"{PACKAGE_NAME}:index:TableArgs"]["properties"]
    assert {key: _shape(spec) for key, spec in table.items()} == {
        "table": "string",
        "prefix": "string",
        "exportType": "string",
        "changeHistory": "boolean",
        "currentTable": "boolean",
        "columns": ("map", "string"),
        "streamArn": "string",
        "keyAttributes": [("map", "string")],
    }


def test_only_the_tables_and_each_table_name_are_required() -> None:
    package = schema()
    assert package["resources"][EXPORTER]["requiredInputs"] == ["tables"]
    assert package["types"][f"{PACKAGE_NAME}:index:TableArgs"]["required"] == ["table"]


def test_arguments_that_must_be_plain_are_plain_in_every_language() -> None:
    """``plain`` makes the generated SDKs take a value, not an Output: the arguments the
    component refuses as Outputs are plain; the ``pulumi.Input`` ones are not."""
    inputs = _inputs(EXPORTER)
    plain = {key for key in _keys(TableExporterArgs) if inputs[camel_case(key)].get("plain")}
    assert set(component_args._PLAIN) <= plain
    takes_outputs = _keys(TableExporterArgs) - plain
    assert takes_outputs == {
        "bucket_name",
        "bucket_owner",
        "kms_key_arn",
        "schedule_expression",
        "schedule_timezone",
        "alarm_topic_arn",
    }
    table = schema()["types"][f"{PACKAGE_NAME}:index:TableArgs"]["properties"]
    assert {key for key, spec in table.items() if not spec.get("plain")} == {
        "table",
        "prefix",
        "streamArn",
    }


def _stated(default: Any) -> list[str]:
    """How a description may state ``default``."""
    if isinstance(default, bool):
        return [f"Default {default}", f"Default {str(default).lower()}"]
    if isinstance(default, int):
        return [f"Default {default}"]
    if isinstance(default, str):
        return [f"Default ``{default}``"]
    if not default:  # () or {}
        return ["Default none", "Default: none"]
    raise AssertionError(f"no way to state {default!r}")


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_default_of_the_code_is_stated_in_its_description() -> None:
    inputs = _inputs(EXPORTER)
    unstated = {
        key: default
        for key, default in component_args.DEFAULTS.items()
        if not any(s in _flat(inputs[camel_case(key)]["description"]) for s in _stated(default))
    }
    assert unstated == {}


def test_every_argument_without_a_default_says_what_happens_without_it() -> None:
    inputs = _inputs(EXPORTER)
    silent = [
        key
        for key in _keys(TableExporterArgs) - set(component_args.DEFAULTS)
        if not re.search(
            r"Default|Required|required with", _flat(inputs[camel_case(key)]["description"])
        )
    ]
    assert silent == []


def test_every_choice_is_named_in_its_description() -> None:
    inputs = _inputs(EXPORTER)
    table = schema()["types"][f"{PACKAGE_NAME}:index:TableArgs"]["properties"]
    unnamed = [
        (key, choice)
        for key, choices in config.CHOICES.items()
        for choice in choices
        if f"``{choice}``" not in inputs[camel_case(key)]["description"]
    ]
    unnamed += [
        ("tables[].export_type", choice)
        for choice in config.EXPORT_TYPES
        if f"``{choice}``" not in table["exportType"]["description"]
    ]
    assert unnamed == []


# -- TableImporter's arguments -------------------------------------------------------


def _spec_defaults() -> dict[str, Any]:
    """The defaults of ``ImporterSpec``'s fields and ``TableImporter``'s keywords."""
    found: dict[str, Any] = {}
    for spec_field in dataclasses.fields(ImporterSpec):
        if spec_field.default is not dataclasses.MISSING:
            found[spec_field.name] = spec_field.default
    keywords = inspect.signature(TableImporter.__init__).parameters.values()
    found.update(
        {p.name: p.default for p in keywords if p.kind is p.KEYWORD_ONLY and p.default is not None}
    )
    return {key: value for key, value in found.items() if value is not None}


def test_every_importer_spec_field_and_keyword_is_an_input() -> None:
    fields = {f.name for f in dataclasses.fields(ImporterSpec)}
    keywords = {
        p.name
        for p in inspect.signature(TableImporter.__init__).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }
    assert _keys(TableImporterArgs) == fields | keywords
    assert set(_inputs(IMPORTER)) == {camel_case(key) for key in fields | keywords}
    required = {
        f.name
        for f in dataclasses.fields(ImporterSpec)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert set(schema()["resources"][IMPORTER]["requiredInputs"]) == {
        camel_case(key) for key in required
    }


def test_importer_input_types_are_the_spec_field_types() -> None:
    inputs = _inputs(IMPORTER)
    assert {key: _shape(spec) for key, spec in inputs.items()} == {
        "sourceBucket": "string",
        "sourcePrefix": "string",
        "tablePrefix": "string",
        "parameterName": "string",
        "partitionKey": "KeyAttributeArgs",
        "sortKey": "KeyAttributeArgs",
        "keep": "integer",
        "sourceBucketOwner": "string",
        "poll": "PollPolicyArgs",
        "importTimeoutSeconds": "integer",
        "partition": "string",
        "scheduleExpression": "string",
        "scheduleTimezone": "string",
        "kmsKeyArn": "string",
        "alarmActions": ["string"],
        "alarmWindowHours": "integer",
    }
    types = schema()["types"]
    key = types[f"{PACKAGE_NAME}:index:KeyAttributeArgs"]
    poll = types[f"{PACKAGE_NAME}:index:PollPolicyArgs"]
    assert {k: _shape(v) for k, v in key["properties"].items()} == {
        "name": "string",
        "attributeType": "string",
    }
    assert key["required"] == ["name"]
    assert {k: _shape(v) for k, v in poll["properties"].items()} == {
        "minSeconds": "integer",
        "maxSeconds": "integer",
        "growth": "number",
    }
    assert _keys(KeyAttributeArgs) == {f.name for f in dataclasses.fields(KeyAttribute)}
    assert _keys(PollPolicyArgs) == {f.name for f in dataclasses.fields(PollPolicy)}


def test_every_importer_default_of_the_code_is_stated_in_its_description() -> None:
    inputs = _inputs(IMPORTER)
    defaults = _spec_defaults()
    defaults.pop("sort_key", None)
    defaults.pop("source_bucket_owner", None)
    unstated = {
        key: default
        for key, default in defaults.items()
        if not isinstance(default, PollPolicy)
        and not any(s in _flat(inputs[camel_case(key)]["description"]) for s in _stated(default))
    }
    poll = schema()["types"][f"{PACKAGE_NAME}:index:PollPolicyArgs"]["properties"]
    for poll_field in dataclasses.fields(PollPolicy):
        stated = [f"Default {poll_field.default}"]
        if not any(s in _flat(poll[camel_case(poll_field.name)]["description"]) for s in stated):
            unstated[f"poll.{poll_field.name}"] = poll_field.default
    key_type = schema()["types"][f"{PACKAGE_NAME}:index:KeyAttributeArgs"]["properties"]
    (attribute_type,) = [f for f in dataclasses.fields(KeyAttribute) if f.name == "attribute_type"]
    if f"Default ``{attribute_type.default}``" not in key_type["attributeType"]["description"]:
        unstated["key.attribute_type"] = attribute_type.default
    assert unstated == {}


# -- outputs ---------------------------------------------------------------------------


def _output_attributes(component: type[pulumi.ComponentResource]) -> set[str]:
    return {
        name
        for name, annotation in inspect.get_annotations(component).items()
        if getattr(annotation, "__origin__", None) is pulumi.Output
    }


@pytest.mark.parametrize(
    ("component", "token"), [(TableExporter, EXPORTER), (TableImporter, IMPORTER)]
)
def test_every_output_attribute_is_a_schema_output_with_a_description(
    component: type[pulumi.ComponentResource], token: str
) -> None:
    properties = schema()["resources"][token]["properties"]
    assert set(properties) == {camel_case(name) for name in _output_attributes(component)}
    assert all(spec.get("description") for spec in properties.values())


def test_outputs_that_can_be_absent_are_not_required() -> None:
    resource = schema()["resources"][EXPORTER]
    assert set(resource["properties"]) - set(resource["required"]) == {
        "dashboardName",
        "alarmTopicArn",
    }
    assert _shape(resource["properties"]["alarmArns"]) == ("map", "string")
