"""The components as a Pulumi plugin, for every Pulumi language.

``components/`` is a source-based plugin package: ``components/PulumiPlugin.yaml`` names
its runtime, and the Python language host runs ``components/__main__.py``, which calls
``serve``. ``pulumi package add`` then asks this provider for its schema, inferred by the
SDK's analyzer from the annotations of ``TableExporterArgs``, ``TableImporterArgs`` and
the components' output attributes, and generates an SDK in the consumer's language;
creating a component from that SDK calls ``construct`` here, which builds the same
Python component a Python program would.

Why not ``component_provider_host``: it serves the SDK's ``ComponentProvider`` as is,
and integers arrive over the wire as floats (protobuf numbers are doubles), which that
provider's input mapping leaves as floats; the components then refuse ``10.0`` as not a
whole number. ``TableExporterProvider`` is that provider with whole-number inputs of
integer properties turned back into ints, served by ``pulumi.provider.main``, the call
``component_provider_host`` makes.
"""

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.provider
from pulumi.provider.experimental.analyzer import PropertyDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider

from table_exporter.exporter import TableExporter
from table_exporter.importer.component import TableImporter

PACKAGE_NAME = "table-exporter"
"""The package's name: the first part of every type token (``table-exporter:index:...``)
and the generated SDKs' name."""
VERSION = "0.1.0"
"""The package's version, as in ``pyproject.toml`` (a test keeps them equal)."""
COMPONENTS: list[type[pulumi.ComponentResource]] = [TableExporter, TableImporter]


def _whole_numbers(
    inputs: Mapping[str, Any], properties: Mapping[str, PropertyDefinition]
) -> dict[str, Any]:
    """``inputs`` with each integer property's whole-number float made an int. Other
    values (a fraction, text, an Output) are left for the component to refuse or use."""
    found = dict(inputs)
    for name, prop in properties.items():
        value = found.get(name)
        if prop.type is PropertyType.INTEGER and isinstance(value, float) and value.is_integer():
            found[name] = int(value)
    return found


class TableExporterProvider(ComponentProvider):
    """The SDK's component provider for ``COMPONENTS``, with integers as ints."""

    def __init__(self, version: str = VERSION) -> None:
        super().__init__(COMPONENTS, PACKAGE_NAME, version=version)

    def map_input_properties(
        self,
        inputs: pulumi.Inputs,
        properties: dict[str, PropertyDefinition],
        mapping: dict[str, str],
        component_name: str,
        property_path: str,
    ) -> pulumi.Inputs:
        # Called for the component's inputs and again for each nested object.
        if isinstance(inputs, Mapping):
            inputs = _whole_numbers(inputs, properties)
        return super().map_input_properties(
            inputs, properties, mapping, component_name, property_path
        )


def serve(args: list[str]) -> None:
    """Serve the provider to the engine at the address ``args`` name (the language host
    passes them: the engine's address, then flags)."""
    pulumi.provider.main(TableExporterProvider(), args)
