"""Each argument is declared once, in ``config``; what is still written out elsewhere
agrees with it.

``TableExporterArgs`` and ``TableArgs`` stay written out because Pulumi's schema
analyzer reads their source (annotations and field docstrings) for the schema every
other language sees; their keys, order, annotations and the ranges their docstrings
state are checked here against the records. The tables of docs/component.md and
docs/settings.md are checked the same way: exactly the records, in their order, with
their types, defaults and ranges.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from table_exporter import args as component_args
from table_exporter import config
from table_exporter.checks import Range

from program.settings import (
    DECIDED_PER_ENVIRONMENT,
    ENVIRONMENTS,
    DevSettings,
    ExporterSettings,
    PrdSettings,
    TableSetting,
)
from program.stack_config import SETTINGS_BY_STACK

DOCS = Path(__file__).resolve().parent.parent / "docs"
CELL_SPLIT = re.compile(r"(?<!\\)\|")


# -- the TypedDicts ----------------------------------------------------------------


def _aliases(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """The ``Literal`` aliases type checkers see: ``ExportFormat`` -> its choices."""
    aliases: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Subscript)
            and ast.unparse(node.value.value) == "Literal"
        ):
            values = ast.literal_eval(node.value.slice)
            aliases[ast.unparse(node.targets[0])] = (
                values if isinstance(values, tuple) else (values,)
            )
    return aliases


def _fields(tree: ast.Module, name: str) -> list[tuple[str, str, str]]:
    """(key, annotation, docstring) of each field of the class ``name``, in order."""
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
    fields = []
    for node, following in zip(cls.body, [*cls.body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = ""
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                doc = str(following.value.value)
            fields.append((node.target.id, ast.unparse(node.annotation), doc))
    return fields


def _annotation(arg: config.Arg, aliases: dict[str, tuple[str, ...]]) -> str:
    """The annotation the TypedDict must give an argument of this record."""
    if arg.kind is config.CHOICE:
        (name,) = [alias for alias, choices in aliases.items() if choices == arg.choices]
        text = name
    elif arg.kind is config.TEXT:
        text = "pulumi.Input[str]" if arg.output else "str"
    else:
        text = {
            config.FLAG: "bool",
            config.WHOLE: "int",
            config.EMAILS: "Sequence[str]",
            config.TAGS: "Mapping[str, str]",
            config.TABLES: "Sequence[TableArgs]",
            config.COLUMNS: "Mapping[str, str]",
            config.KEY_ATTRIBUTES: "Sequence[Mapping[str, str]]",
        }[arg.kind]
    return f"Required[{text}]" if arg.required else text


CLASSES = [("TableExporterArgs", config.ARGUMENTS), ("TableArgs", config.TABLE_ENTRY)]


@pytest.mark.parametrize(("name", "records"), CLASSES, ids=[c for c, _ in CLASSES])
def test_the_typeddict_has_the_records_keys_in_their_order_with_their_types(
    name: str, records: tuple[config.Arg, ...]
) -> None:
    tree = ast.parse(inspect.getsource(component_args))
    aliases = _aliases(tree)
    written = [(key, annotation) for key, annotation, _ in _fields(tree, name)]
    assert written == [(arg.name, _annotation(arg, aliases)) for arg in records]


@pytest.mark.parametrize(("name", "records"), CLASSES, ids=[c for c, _ in CLASSES])
def test_every_range_a_description_states_is_the_records(
    name: str, records: tuple[config.Arg, ...]
) -> None:
    tree = ast.parse(inspect.getsource(component_args))
    by_name = {arg.name: arg for arg in records}
    wrong = []
    for key, _, doc in _fields(tree, name):
        arg = by_name[key]
        for low, high in re.findall(r"\b(\d+)-(\d+)\b", doc):
            if arg.range is not None and (int(low), int(high)) != (arg.range.low, arg.range.high):
                wrong.append(f"{key}: says {low}-{high}, config has {arg.range}")
        if arg.range is not None and arg.range.high != arg.range.low and not doc:
            wrong.append(f"{key}: no description")
    assert wrong == []


def test_the_derived_tables_are_the_records() -> None:
    assert component_args.DEFAULTS is config.DEFAULTS
    assert set(component_args._PLAIN) == {a.name for a in config.ARGUMENTS if a.plain}
    assert {a.name for a in config.ARGUMENTS} == component_args.KNOWN_ARGUMENTS
    assert "max_concurrency" in config.RANGES and config.DEFAULTS["max_concurrency"] == 10


def test_every_whole_number_argument_has_a_rule_and_every_text_a_check() -> None:
    unchecked = [
        a.name
        for a in (*config.ARGUMENTS, *config.TABLE_ENTRY)
        if a.kind in (config.WHOLE, config.TEXT) and a.check is None
    ]
    assert unchecked == []


# -- the program's settings ---------------------------------------------------------


def test_the_settings_are_the_records_that_are_settings_in_their_order() -> None:
    assert list(ExporterSettings.model_fields) == [
        a.setting_name for a in config.ARGUMENTS if a.setting_name
    ]
    assert list(TableSetting.model_fields) == [
        a.setting_name for a in config.TABLE_ENTRY if a.setting_name
    ]


def test_every_environment_decides_the_same_settings_and_the_rest_are_the_components() -> None:
    assert all(set(d) == set(DECIDED_PER_ENVIRONMENT) for d in ENVIRONMENTS.values())
    assert set(SETTINGS_BY_STACK) == set(ENVIRONMENTS)
    for stack, model in SETTINGS_BY_STACK.items():
        for arg in config.ARGUMENTS:
            if not arg.setting_name or arg.required:
                continue
            field = model.model_fields[arg.setting_name]
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            expected = ENVIRONMENTS[stack].get(arg.setting_name, arg.default)
            assert default == (list(expected) if isinstance(expected, tuple) else expected), (
                stack,
                arg.name,
            )


def test_a_setting_decided_per_environment_has_no_default_of_its_own() -> None:
    required = {n for n, f in ExporterSettings.model_fields.items() if f.is_required()}
    assert required == {"tables", *DECIDED_PER_ENVIRONMENT}


# -- the docs' tables ----------------------------------------------------------------


def _table_after(page: Path, heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading``, each a list of cells."""
    text = page.read_text(encoding="utf-8")
    section = text[text.index(heading) + len(heading) :]
    rows = []
    for line in section.splitlines():
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not line.startswith("| ---"):
            rows.append([c.strip() for c in CELL_SPLIT.split(line.strip())[1:-1]])
    return rows[1:]  # without the header


def _range_text(check: Any) -> str | None:
    return f"{check.low}\u2013{check.high}" if isinstance(check, Range) else None


def _component_type(arg: config.Arg) -> str:
    if arg.kind is config.CHOICE:
        return " \\| ".join(f"`{c}`" for c in arg.choices)
    if arg.kind is config.TEXT:
        return "`Input[str]`" if arg.output else "`str`"
    return {
        config.FLAG: "`bool`",
        config.WHOLE: "`int`",
        config.EMAILS: "list of `str`",
        config.TAGS: "map of `str`",
        config.TABLES: "list of `TableArgs`",
        config.COLUMNS: "map of `str` to `str`",
        config.KEY_ATTRIBUTES: 'list of `{"name", "type"}`',
    }[arg.kind]


def _component_default(arg: config.Arg) -> str:
    if arg.required:
        return "required"
    if arg.default is None or (arg.default == {} and arg in config.TABLE_ENTRY):
        return "none"
    return f"`{arg.default}`" if isinstance(arg.default, str) else f"`{arg.default!r}`"


SECTIONS = [("## Arguments", config.ARGUMENTS), ("### Tables", config.TABLE_ENTRY)]


@pytest.mark.parametrize(("heading", "records"), SECTIONS, ids=["arguments", "tables"])
def test_the_component_reference_lists_exactly_the_records(
    heading: str, records: tuple[config.Arg, ...]
) -> None:
    rows = _table_after(DOCS / "component.md", heading)
    assert [row[0] for row in rows] == [f"`{arg.name}`" for arg in records]
    wrong = []
    for arg, (_, typ, default, what) in zip(records, rows, strict=True):
        if typ != _component_type(arg):
            wrong.append(f"{arg.name}: type {typ}, config says {_component_type(arg)}")
        if not default.startswith(_component_default(arg)):
            wrong.append(f"{arg.name}: default {default}, config says {_component_default(arg)}")
        if _range_text(arg.check) and _range_text(arg.check) not in what:
            wrong.append(f"{arg.name}: does not state its range {_range_text(arg.check)}")
    assert wrong == []


def _settings_type(arg: config.Arg) -> str:
    if arg.kind is config.CHOICE:
        return " \\| ".join(f"`{c}`" for c in arg.choices)
    return {
        config.FLAG: "bool",
        config.WHOLE: "int",
        config.TEXT: "string",
        config.EMAILS: "list of string",
        config.TAGS: "map of string",
        config.TABLES: "list of ",
        config.COLUMNS: "map of ",
    }[arg.kind]


def test_the_settings_reference_lists_exactly_the_settings() -> None:
    rows = _table_after(DOCS / "settings.md", "## Keys")
    keys = [f"`exporter:{info.alias}`" for info in ExporterSettings.model_fields.values()]
    entry_keys = [
        f"`exporter:tables[].{info.alias}`" for info in TableSetting.model_fields.values()
    ]
    assert sorted(row[0] for row in rows) == sorted(keys + entry_keys)
    by_key = {row[0]: row for row in rows}
    wrong = []
    settings = [(a, keys[i]) for i, a in enumerate(a for a in config.ARGUMENTS if a.setting_name)]
    entries = [
        (a, entry_keys[i]) for i, a in enumerate(a for a in config.TABLE_ENTRY if a.setting_name)
    ]
    for arg, key in settings + entries:
        _, typ, _, _, rule = by_key[key]
        if not typ.startswith(_settings_type(arg)):
            wrong.append(f"{key}: type {typ}, config says {_settings_type(arg)}")
        if _range_text(arg.check) and _range_text(arg.check) not in rule:
            wrong.append(f"{key}: does not state its range {_range_text(arg.check)}")
    assert wrong == []


def test_the_environments_classes_are_the_stacks() -> None:
    assert {"dev": DevSettings, "prd": PrdSettings} == SETTINGS_BY_STACK
