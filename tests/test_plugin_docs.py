"""The TypeScript and Pulumi YAML programs of docs/component.md ("Using it from other
Pulumi languages") against the schema the plugin serves: every resource type, property
and output they use exists, each value has the property's type, required properties
are there, and no other resource's output goes to a plain property."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.plugin_schema import schema

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "component.md"
SECTION = "## Using it from other Pulumi languages"
OUTPUT = "$output"
"""Stands for another resource's output (``oncall.arn``, ``${nightly.bucketName}``)."""


def _section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    assert SECTION in text
    rest = text.split(SECTION, 1)[1]
    return rest.split("\n## ", 1)[0]


def _block(language: str) -> str:
    (block,) = re.findall(rf"^```{language}\n(.*?)^```", _section(), re.M | re.S)
    return block


# -- checking a value against the schema ------------------------------------------------


def problems(value: Any, spec: dict[str, Any], path: str) -> list[str]:
    """How ``value`` does not fit the property ``spec``."""
    package = schema()
    if value == OUTPUT:
        return [f"{path}: plain, but given an output"] if spec.get("plain") else []
    if "$ref" in spec:
        token = spec["$ref"].removeprefix("#/types/")
        return object_problems(value, package["types"][token], path)
    kind = spec["type"]
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: {value!r} is no list"]
        return [p for i, item in enumerate(value) for p in problems(item, spec["items"], f"{path}[{i}]")]
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is no map"]
        values = spec.get("additionalProperties", {"type": "string"})
        return [p for k, v in value.items() for p in problems(v, values, f"{path}.{k}")]
    accepted = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
    }[kind]
    if isinstance(value, bool) and kind != "boolean":
        return [f"{path}: {value!r} is no {kind}"]
    return [] if isinstance(value, accepted) else [f"{path}: {value!r} is no {kind}"]


def object_problems(
    value: Any, spec: dict[str, Any], path: str, *, inputs: str = "properties", required: str = "required"
) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: {value!r} is no object"]
    properties = spec.get(inputs, {})
    found = [f"{path}.{key}: no such property" for key in value if key not in properties]
    found += [f"{path}.{key}: required" for key in spec.get(required, []) if key not in value]
    for key, item in value.items():
        if key in properties:
            found += problems(item, properties[key], f"{path}.{key}")
    return found


def resource_problems(token: str, properties: Any, path: str) -> list[str]:
    resources = schema()["resources"]
    if token not in resources:
        return [f"{path}: no resource {token}"]
    return object_problems(
        properties, resources[token], path, inputs="inputProperties", required="requiredInputs"
    )


# -- the YAML program -----------------------------------------------------------------

INTERPOLATION = re.compile(r"^\$\{([\w-]+)\.(\w+)\}$")


def _yaml_outputs(value: Any) -> Any:
    """``${resource.output}`` values as OUTPUT markers."""
    if isinstance(value, dict):
        return {k: _yaml_outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_outputs(v) for v in value]
    if isinstance(value, str) and INTERPOLATION.match(value):
        return OUTPUT
    return value


def _yaml_program() -> dict[str, Any]:
    return yaml.safe_load(_block("yaml"))


def test_the_yaml_program_adds_the_package_at_a_tag_of_its_components_folder() -> None:
    program = _yaml_program()
    assert program["runtime"] == "yaml"
    (source,) = program["packages"].values()
    assert re.fullmatch(r"github\.com/[\w.-]+/[\w.-]+/components@v\d+\.\d+\.\d+", source)


def test_the_yaml_program_uses_only_what_the_schema_has() -> None:
    program = _yaml_program()
    resources = program["resources"]
    found: list[str] = []
    for name, resource in resources.items():
        found += resource_problems(resource["type"], _yaml_outputs(resource["properties"]), name)
    used = [
        INTERPOLATION.match(v).groups()  # type: ignore[union-attr]
        for v in json.dumps(program).split('"')
        if INTERPOLATION.match(v)
    ]
    assert used
    outputs = schema()["resources"]
    found += [
        f"${{{name}.{output}}}: no such output"
        for name, output in used
        if output not in outputs[resources[name]["type"]]["properties"]
    ]
    assert found == []
    assert {r["type"] for r in resources.values()} == set(outputs)


# -- the TypeScript program -----------------------------------------------------------

NEW = re.compile(r"const (\w+) = new tableExporter\.(\w+)\(\s*\"[^\"]+\",\s*")


def _literal(text: str, start: int) -> str:
    """The object literal starting at ``text[start]`` (a ``{``), braces balanced."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    raise AssertionError("unbalanced braces")


def as_json(literal: str) -> Any:
    """A TypeScript object literal of literals as JSON: keys quoted, trailing commas
    dropped, any other expression (``oncall.arn``) an OUTPUT marker."""
    text = re.sub(r"//[^\n]*", "", literal)
    text = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', text)
    text = re.sub(
        r':\s*(?!true\b|false\b|null\b)([A-Za-z_][\w.]*)(?=\s*[,}\]])', f': "{OUTPUT}"', text
    )
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text)


def _typescript() -> tuple[str, dict[str, tuple[str, Any]]]:
    source = _block("typescript")
    components = {}
    for match in NEW.finditer(source):
        variable, component = match.groups()
        components[variable] = (component, as_json(_literal(source, match.end())))
    return source, components


def test_the_typescript_program_imports_the_generated_sdk() -> None:
    source, components = _typescript()
    assert 'import * as tableExporter from "@pulumi/table-exporter";' in source
    assert components


def test_the_typescript_program_uses_only_what_the_schema_has() -> None:
    source, components = _typescript()
    token = "table-exporter:index:{}".format
    found = [
        problem
        for variable, (component, args) in components.items()
        for problem in resource_problems(token(component), args, variable)
    ]
    resources = schema()["resources"]
    for variable, (component, _) in components.items():
        used = re.findall(rf"\b{variable}\.(\w+)", source)
        assert used
        found += [
            f"{variable}.{name}: no such output"
            for name in used
            if name not in resources[token(component)]["properties"]
        ]
    assert found == []


# -- the checks can fail ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "properties"),
    [
        ("table-exporter:index:TableExporter", {"tables": [{"table": "t"}], "maxConcurency": 2}),
        ("table-exporter:index:TableExporter", {"tables": [{"table": "t"}], "maxConcurrency": "2"}),
        ("table-exporter:index:TableExporter", {"tables": [{"table": "t"}], "prefix": OUTPUT}),
        ("table-exporter:index:TableExporter", {"tables": [{"prefix": "p"}]}),
        ("table-exporter:index:TableExporter", {"tables": {"table": "t"}}),
        ("table-exporter:index:Exporter", {"tables": [{"table": "t"}]}),
        ("table-exporter:index:TableImporter", {"sourceBucket": "b"}),
    ],
    ids=["misspelt", "wrong-type", "output-for-plain", "missing-table", "not-a-list", "no-type", "missing-required"],
)
def test_a_wrong_program_is_caught(token: str, properties: dict[str, Any]) -> None:
    assert resource_problems(token, properties, "x")


def test_a_typescript_expression_is_an_output_and_literals_are_values() -> None:
    assert as_json('{ a: "x", b: 2, c: true, d: oncall.arn, e: [{ f: 1.5 },], }') == {
        "a": "x",
        "b": 2,
        "c": True,
        "d": OUTPUT,
        "e": [{"f": 1.5}],
    }
