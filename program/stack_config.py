"""Read the exporter settings from the Pulumi stack config.

Pulumi hands a program its config as a flat map of ``namespace:key`` to text. This
module picks out the ``exporter:`` keys, decodes them, validates them with the
stack's settings class and turns every problem into one ``exporter:<key>: <rule>``
line, so a bad config stops ``pulumi preview`` with one readable message.
"""

import json
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Annotated, Any

import pulumi
from pulumi.runtime import config as pulumi_config
from pydantic import TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails
from table_exporter import checks, rules

from program.settings import (
    NAMESPACE,
    SETTINGS_BY_STACK,
    CrossFieldError,
    ExporterSettings,
    Settings,
    TableEntry,
    TableSetting,
)

__all__ = [
    "NAMESPACE",
    "SETTINGS_BY_STACK",
    "SettingsError",
    "load_settings",
    "parse_settings",
    "settings_class_for",
]


class SettingsError(ValueError):
    """A stack config the exporter cannot use; one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def settings_class_for(stack: str) -> type[Settings]:
    """The settings class (and so the defaults) of a stack."""
    try:
        return SETTINGS_BY_STACK[stack]
    except KeyError:
        known = ", ".join(sorted(SETTINGS_BY_STACK))
        raise SettingsError([f"unknown stack {stack!r}: expected one of {known}"]) from None


def _known_keys(model: type[Settings] | type[TableEntry]) -> list[str]:
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _fits(model: type[Settings] | type[TableEntry], key: str, value: Any) -> bool:
    """Whether setting ``key`` of ``model`` would take ``value`` (to rank suggestions for
    a misspelt key: ``exporter:scheduel`` with a cron expression is scheduleExpression)."""
    field = next(
        (info for name, info in model.model_fields.items() if (info.alias or name) == key), None
    )
    if field is None:
        return False
    typ: Any = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    try:
        TypeAdapter(typ).validate_python(_decode(key, value))
    except (ValidationError, SettingsError, ValueError):
        return False
    return True


def _decode(key: str, value: Any) -> Any:
    """Structured values arrive as JSON text; scalars stay text for pydantic to coerce.

    Only lists, objects and ``null`` (to clear an environment default) are taken from
    the JSON, so an account id such as ``123456789012`` or a prefix such as ``2024``
    is not turned into a number.
    """
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError as err:
        if value.lstrip().startswith(("[", "{")):
            raise SettingsError(
                [f"{NAMESPACE}:{key}: is not valid JSON ({err}){_quoting_hint(value)}"]
            ) from None
        return value
    return decoded if decoded is None or isinstance(decoded, list | dict) else value


_BARE_LIST = re.compile(r"\[\s*[^\s\[\]{}\"',]+(?:\s*,\s*[^\s\[\]{}\"',]+)*\s*,?\s*\]")


def _quoting_hint(text: str) -> str:
    """``[orders, customers]`` is a list to a reader but not JSON: show it quoted."""
    if not _BARE_LIST.fullmatch(text.strip()):
        return ""
    names = [n.strip() for n in text.strip()[1:-1].split(",") if n.strip()]
    return f"; quote each name: {json.dumps(names)}"


def _location(loc: tuple[int | str, ...]) -> str:
    text = NAMESPACE
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f"{':' if index == 0 else '.'}{part}"
    return text


def _rule(error: ErrorDetails) -> str:
    """A plain-words rule for one pydantic error (ours are passed through as written)."""
    kind, given = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "missing":
        if error["loc"] == ("tables",):
            return 'is required: the tables to export, e.g. [{"table": "orders"}]'
        return "is required"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        known = _known_keys(TableSetting if error["loc"][:1] == ("tables",) else ExporterSettings)
        return rules.unknown_key(key, known, fits=lambda name: _fits(TableSetting, name, given))
    if kind == "literal_error":
        return f"must be {ctx['expected']}, got {checks.shown(given)}"
    if kind.startswith("int_"):
        return f"must be a whole number, got {checks.shown(given)}"
    if kind.startswith("bool_"):
        return f"must be true or false, got {checks.shown(given)}"
    if kind == "list_type":
        return f"must be a list (JSON text like [...]), got {checks.shown(given)}"
    if kind == "dict_type":
        return f"must be an object (JSON text like {{...}}), got {checks.shown(given)}"
    if kind in ("model_type", "model_attributes_type"):
        entry = '{"table": ..., "prefix": ...}'
        return f"must be a table name, a table ARN or {entry}, got {checks.shown(given)}"
    if kind == "string_type":
        return f"must be text, got {checks.shown(given)}"
    return error["msg"].removeprefix("Value error, ")


def _problems(err: ValidationError, undecodable: set[str]) -> list[str]:
    lines: list[str] = []
    for error in err.errors():
        if error["type"] == "missing" and error["loc"][0] in undecodable:
            continue  # already reported as bad JSON
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, CrossFieldError):
            lines.extend(f"{key}: {rule}" for key, rule in cause.problems)
        else:
            lines.append(f"{_location(error['loc'])}: {_rule(error)}")
    return lines


def parse_settings(stack: str, raw: Mapping[str, Any]) -> Settings:
    """Validate the ``exporter:`` part of a flat Pulumi config map for ``stack``.

    Keys of other namespaces are ignored, but for ``aws:region``: the exporter's region,
    which table, KMS key and topic ARNs must be in. Raises ``SettingsError`` listing
    every problem found.
    """
    model = settings_class_for(stack)
    known = _known_keys(model)
    problems: list[str] = []
    values: dict[str, Any] = {}
    undecodable: set[str] = set()
    for full_key, value in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in known:
            fits = partial(_fits, model, value=value)
            problems.append(f"{full_key}: {rules.unknown_key(key, known, fits=fits)}")
            continue
        try:
            values[key] = _decode(key, value)
        except SettingsError as err:
            problems.extend(err.problems)
            undecodable.add(key)
    try:
        settings = model.model_validate(values, context={"region": _region(raw)})
    except ValidationError as err:
        lines = _problems(err, undecodable) + _rules_over_the_rest(model, values, raw, err)
        raise SettingsError(problems + lines) from None
    if problems:
        raise SettingsError(problems)
    return settings


def _rules_over_the_rest(
    model: type[Settings],
    values: dict[str, Any],
    raw: Mapping[str, Any],
    err: ValidationError,
) -> list[str]:
    """The rules over several settings, which pydantic runs only when every setting is
    valid, run over the valid ones: a wrong type then hides no other problem."""
    errors = err.errors()
    if any(isinstance((e.get("ctx") or {}).get("error"), CrossFieldError) for e in errors):
        return []  # they ran
    fields = {info.alias or name: name for name, info in model.model_fields.items()}
    bad = {fields[str(e["loc"][0])] for e in errors if e["loc"] and str(e["loc"][0]) in fields}
    if "tables" not in values:
        bad.add("tables")
    rest = {key: value for key, value in values.items() if fields.get(key) not in bad}
    if "tables" in bad:
        rest[to_camel("tables")] = []  # judged on their own; not by these rules
    context = {"region": _region(raw), "unchecked": bad}
    try:
        model.model_validate(rest, context=context)
    except ValidationError as again:
        return [
            f"{key}: {rule}"
            for error in again.errors()
            if isinstance(cause := (error.get("ctx") or {}).get("error"), CrossFieldError)
            for key, rule in cause.problems
        ]
    return []


def _region(raw: Mapping[str, Any]) -> str | None:
    """The stack's ``aws:region`` when it is a region code (else the provider says so)."""
    region = raw.get("aws:region")
    try:
        return checks.check_region(region) if isinstance(region, str) else None
    except ValueError:
        return None


def _config_map() -> dict[str, Any]:
    """The stack config as the CLI passes it (``PULUMI_CONFIG``), overlaid by any config
    set in-process (an Automation API inline program)."""
    return {**pulumi_config.get_config_env(), **pulumi_config.CONFIG.get()}


def load_settings() -> Settings:
    """The current stack's settings; a bad config fails the run before any resource."""
    try:
        return parse_settings(pulumi.get_stack(), _config_map())
    except SettingsError as err:
        raise pulumi.RunError(str(err)) from err
