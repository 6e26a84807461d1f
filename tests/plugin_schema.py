"""The package schema the plugin serves, and the rules of Pulumi's package schema it
must follow, for the plugin tests.

``PACKAGE_RULES`` is a JSON Schema written for these tests from the rules of Pulumi's
package metaschema (``pkg/codegen/schema/pulumi.json`` in the pulumi/pulumi
repository, and "Pulumi Package Schema" in Pulumi's docs) that a component package
touches: the package name, the type tokens, resources and complex types, and a type
reference being exactly one of a primitive, an array, a map or a named type.
``references`` adds what JSON Schema cannot say: each ``#/types/...`` reference names a
type of the package, and each required name is a property.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from table_exporter.provider import TableExporterProvider

NAME = r"^[a-zA-Z][-a-zA-Z0-9_]*$"
TOKEN = r"^[a-zA-Z][-a-zA-Z0-9_]*:([^0-9][a-zA-Z0-9._/-]*)?:[^0-9][a-zA-Z0-9._/-]*$"
SEMVER = r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"

_TYPE_REFERENCE_KINDS = [
    {  # a primitive: only "type"
        "properties": {"type": {"enum": ["boolean", "integer", "number", "string"]}},
        "required": ["type"],
        "not": {"anyOf": [{"required": [k]} for k in ("items", "additionalProperties", "$ref")]},
    },
    {  # an array: "type" and "items"
        "properties": {"type": {"const": "array"}, "items": {"$ref": "#/$defs/typeReference"}},
        "required": ["type", "items"],
        "not": {"anyOf": [{"required": [k]} for k in ("additionalProperties", "$ref")]},
    },
    {  # a map: "type" object, "additionalProperties" the values' type
        "properties": {
            "type": {"const": "object"},
            "additionalProperties": {"$ref": "#/$defs/typeReference"},
        },
        "required": ["type"],
        "not": {"anyOf": [{"required": [k]} for k in ("items", "$ref")]},
    },
    {  # a named type
        "properties": {"$ref": {"type": "string", "format": "uri-reference"}},
        "required": ["$ref"],
        "not": {"anyOf": [{"required": [k]} for k in ("items", "additionalProperties")]},
    },
]

PACKAGE_RULES: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": NAME},
        "displayName": {"type": "string"},
        "version": {"type": "string", "pattern": SEMVER},
        "namespace": {"type": "string", "pattern": r"^([a-z][a-z0-9]*)(-[a-z0-9]+)*$"},
        "description": {"type": "string"},
        "language": {"type": "object"},
        "dependencies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": NAME},
                    "version": {"type": "string", "pattern": SEMVER},
                },
            },
        },
        "resources": {
            "type": "object",
            "propertyNames": {"pattern": TOKEN},
            "additionalProperties": {"$ref": "#/$defs/resource"},
        },
        "types": {
            "type": "object",
            "propertyNames": {"pattern": TOKEN},
            "additionalProperties": {"$ref": "#/$defs/complexType"},
        },
    },
    "$defs": {
        "typeReference": {
            "type": "object",
            "properties": {"plain": {"type": "boolean"}},
            "oneOf": _TYPE_REFERENCE_KINDS,
        },
        "property": {
            "allOf": [{"$ref": "#/$defs/typeReference"}],
            "properties": {
                "description": {"type": "string"},
                "willReplaceOnChanges": {"type": "boolean"},
            },
        },
        "properties": {"type": "object", "additionalProperties": {"$ref": "#/$defs/property"}},
        "names": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "complexType": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["object", "string", "integer", "number", "boolean"]},
                "description": {"type": "string"},
                "properties": {"$ref": "#/$defs/properties"},
                "required": {"$ref": "#/$defs/names"},
            },
        },
        "resource": {
            "type": "object",
            "properties": {
                "isComponent": {"type": "boolean"},
                "description": {"type": "string"},
                "type": {"const": "object"},
                "inputProperties": {"$ref": "#/$defs/properties"},
                "requiredInputs": {"$ref": "#/$defs/names"},
                "properties": {"$ref": "#/$defs/properties"},
                "required": {"$ref": "#/$defs/names"},
            },
        },
    },
}


@cache
def _schema_text() -> str:
    return TableExporterProvider().schema or "{}"


def schema() -> dict[str, Any]:
    """The schema the plugin serves (``GetSchema``), parsed; a fresh copy each call."""
    return json.loads(_schema_text())


def _references(spec: Any) -> Iterator[str]:
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from _references(value)


def reference_problems(package: dict[str, Any]) -> list[str]:
    """References to types the package lacks, and required names that are no property."""
    problems = [
        f"{ref}: no such type"
        for ref in _references(package)
        if ref.startswith("#/types/") and ref.removeprefix("#/types/") not in package["types"]
    ]
    for token, resource in package.get("resources", {}).items():
        for names, properties in (("requiredInputs", "inputProperties"), ("required", "properties")):
            problems += [
                f"{token}.{names}: {name} is no property"
                for name in resource.get(names, [])
                if name not in resource.get(properties, {})
            ]
    for token, complex_type in package.get("types", {}).items():
        problems += [
            f"{token}.required: {name} is no property"
            for name in complex_type.get("required", [])
            if name not in complex_type.get("properties", {})
        ]
    return problems
