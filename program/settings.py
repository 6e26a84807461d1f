"""Typed exporter settings: every setting on one base model, defaults per environment.

The stack config is the program's only input, so all of it is declared and checked
here, before any resource is registered. Each setting is a component argument, declared
once in ``table_exporter.config`` (kind, default, rule, the setting's name): the fields
of ``ExporterSettings`` and ``TableSetting`` are built from those records, so pydantic
applies the component's own checks to each setting, and the component's cross-field
rules (``table_exporter.rules``) run over the settings as a whole.

What is the program's own is written here: the defaults of each environment
(``ENVIRONMENTS``; ``DevSettings`` and ``PrdSettings`` differ only in them, the way
typed dev/prd context classes do in a CDK app), and each problem named by its config key.
"""

from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic.alias_generators import to_camel
from table_exporter import checks, config, rules

NAMESPACE = "exporter"


SETTING_OF_ARGUMENT = config.SETTING_OF_ARGUMENT
"""Component arguments whose setting is spelled otherwise; the rest are spelled alike."""


def _argument_of(setting: str) -> str:
    """The component argument a setting maps to (``catalog_database_name`` for
    ``catalog_database``)."""
    return next((a for a, s in SETTING_OF_ARGUMENT.items() if s == setting), setting)


def config_key(field: str) -> str:
    """The stack config key of a setting, e.g. ``exporter:scheduleExpression``."""
    return f"{NAMESPACE}:{to_camel(field)}"


def argument_key(argument: str) -> str:
    """The config key of a component argument, for rules that mention one."""
    return config_key(SETTING_OF_ARGUMENT.get(argument, argument))


def problem_line(problem: rules.Problem) -> tuple[str, str]:
    """A rule's problem as (config key with its path, rule): ``exporter:tables[1].table``."""
    path = problem.argument(lambda part: to_camel(SETTING_OF_ARGUMENT.get(part, part)))
    return f"{NAMESPACE}:{path}", problem.rule


class CrossFieldError(ValueError):
    """Problems that involve several settings, each reported against one config key."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems  # (config key, rule)
        super().__init__("\n".join(f"{key}: {rule}" for key, rule in problems))


def _flag(value: Any) -> Any:
    return None if value is None else checks.check_flag(value, from_config=True)


def _literal(choices: tuple[str, ...]) -> Any:
    return Literal[choices]  # Literal["a", "b"]: pydantic names the choices in its errors


def _setting_type(arg: config.Arg) -> Any:
    """The pydantic type of one argument's setting: its kind, with its check."""
    checked = (AfterValidator(arg.check),) if arg.check is not None else ()
    kind = arg.kind
    typ: Any
    if kind is config.FLAG:
        # true/false (or the text "true"/"false" the CLI passes), not pydantic's yes/on/1.
        typ = Annotated[bool, BeforeValidator(_flag)]
    elif kind is config.WHOLE:
        typ = Annotated[(int, *checked)]
    elif kind is config.TEXT:
        typ = Annotated[(str, *checked)]
    elif kind is config.CHOICE:
        typ = _literal(arg.choices)
    elif kind is config.EMAILS:
        typ = list[Annotated[(str, *checked)]]  # type: ignore[misc]
    elif kind is config.TAGS:
        typ = Annotated[(dict[str, str], *checked)]
    elif kind is config.COLUMNS:  # the rules Glue and the SerDe put on attribute names
        typ = Annotated[(dict[str, _literal(arg.choices)], *checked)]  # type: ignore[misc]
    elif kind is config.TABLES:
        typ = list[TableSetting]  # type: ignore[valid-type]  # a model built below
    else:
        raise TypeError(f"{arg.name}: no setting type for {kind.name}")
    return typ


_COMPONENT: Any = object()  # the component's default


def _field(arg: config.Arg, default: Any = _COMPONENT, required: bool = False) -> tuple[Any, Any]:
    """``(type, default)`` of an argument's setting for ``pydantic.create_model``:
    ``default``, else the component's (``config``); ``required``: no default at all."""
    value = arg.default if default is _COMPONENT else default
    typ = _setting_type(arg)
    if not arg.required and (value is None or arg.default is None):
        typ = typ | None  # null clears an environment's default
    if required or arg.required:
        return typ, ...
    if isinstance(value, dict):
        return typ, Field(default_factory=partial(dict, value))
    if isinstance(value, list | tuple):
        return typ, Field(default_factory=partial(list, value))
    return typ, value


_CAMEL = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)
# A table entry comes only from the stack config: its keys are camelCase, and
# ``export_type`` is refused with a suggestion, as at the top level.
_CAMEL_ONLY = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)
MAX_TABLES = rules.MAX_TABLES


class TableEntry(BaseModel):
    """One table to export: a name (in the stack's account and region) or an ARN. Its
    fields are the table entry's (``config.TABLE_ENTRY``) that are settings."""

    model_config = _CAMEL_ONLY
    if TYPE_CHECKING:
        table: str

    @model_validator(mode="before")
    @classmethod
    def _bare_reference(cls, data: Any) -> Any:
        """Accept ``"orders"`` as shorthand for ``{"table": "orders"}``."""
        return {"table": data} if isinstance(data, str) else data

    @property
    def table_name(self) -> str:
        return checks.table_name_of(self.table)

    @property
    def is_arn(self) -> bool:
        return self.table.startswith("arn:")


_ENTRY_FIELDS: dict[str, Any] = {
    a.setting_name: _field(a) for a in config.TABLE_ENTRY if a.setting_name
}
TableSetting = create_model(
    "TableSetting", __base__=TableEntry, __module__=__name__, **_ENTRY_FIELDS
)


def _given(data: dict[str, Any], field: str) -> bool:
    return data.get(to_camel(field), data.get(field)) is not None


class Settings(BaseModel):
    """What every environment's settings do; the fields come from ``config.ARGUMENTS``
    (``ExporterSettings``), their defaults per environment from ``ENVIRONMENTS``."""

    model_config = _CAMEL

    @model_validator(mode="before")
    @classmethod
    def _no_default_expiry_for_existing_bucket(cls, data: Any) -> Any:
        """An environment's default expiry is for the bucket it creates, not one it is given."""
        existing_bucket = isinstance(data, dict) and _given(data, "bucket_name")
        if existing_bucket and not _given(data, "expiration_days"):
            return {**data, to_camel("expiration_days"): None}
        return data

    def component_arguments(self) -> dict[str, Any]:
        """The settings as the component's arguments, spelled as ``rules`` expects them
        (no defaults of the program's own added; see ``exporter_args`` for those)."""
        values: dict[str, Any] = {
            a.name: getattr(self, a.setting_name) for a in config.ARGUMENTS if a.setting_name
        }
        values["tables"] = [
            {a.name: getattr(t, a.setting_name) for a in config.TABLE_ENTRY if a.setting_name}
            for t in values["tables"]
        ]
        return values

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> "Settings":
        """The component's cross-field rules (and, given the stack's ``aws:region`` as the
        validation context's ``region``, its region rules), named by config key. Warnings
        are left to the component, which logs them once when it is constructed."""
        region = (info.context or {}).get("region")
        given = {_argument_of(name) for name in self.model_fields_set}
        arguments = self.component_arguments()
        for name in (info.context or {}).get("unchecked", ()):
            arguments[_argument_of(name)] = None  # invalid: reported on its own
        problems = rules.cross_field_problems(
            arguments, given=given, region=region, ref=argument_key
        )
        errors = [problem_line(p) for p in problems if not p.warning]
        if errors:
            raise CrossFieldError(errors)
        return self


DAILY_0400 = "cron(0 4 * * ? *)"

ENVIRONMENTS: dict[str, dict[str, Any]] = {
    # Development: the schedule starts disabled, logs are verbose and short-lived, and
    # exports expire after 30 days.
    "dev": {
        "schedule_expression": DAILY_0400,
        "schedule_timezone": "Asia/Tokyo",
        "schedule_enabled": False,
        "max_concurrency": 5,
        "staleness_hours": 26,
        "log_level": "ALL",
        "log_retention_days": 7,
        "expiration_days": 30,
    },
    # Production: exports daily at 04:00 Tokyo time, logs errors only for a year, and
    # keeps exports until someone decides otherwise.
    "prd": {
        "schedule_expression": DAILY_0400,
        "schedule_timezone": "Asia/Tokyo",
        "schedule_enabled": True,
        "max_concurrency": 50,
        "staleness_hours": 26,
        "log_level": "ERROR",
        "log_retention_days": 365,
        "expiration_days": None,
    },
}
"""The program's defaults per stack, by setting. Every environment decides the same
settings (``ExporterSettings`` requires them); the rest keep the component's defaults
(``config``)."""

DECIDED_PER_ENVIRONMENT = tuple(ENVIRONMENTS["dev"])

_FIELDS: dict[str, Any] = {
    a.setting_name: _field(a, required=a.setting_name in DECIDED_PER_ENVIRONMENT)
    for a in config.ARGUMENTS
    if a.setting_name
}
ExporterSettings = create_model(
    "ExporterSettings",
    __base__=Settings,
    __module__=__name__,
    __doc__="Every exporter setting; a subclass per environment supplies the defaults.",
    **_FIELDS,
)


def _environment(stack: str) -> type[Settings]:
    """The settings class of one stack: ``ExporterSettings`` with its environment's defaults."""
    arguments = {a.setting_name: a for a in config.ARGUMENTS if a.setting_name}
    defaults = ENVIRONMENTS[stack]
    fields: dict[str, Any] = {key: _field(arguments[key], value) for key, value in defaults.items()}
    return create_model(
        f"{stack.capitalize()}Settings",
        __base__=ExporterSettings,
        __module__=__name__,
        __doc__=f"The {stack} stack's settings: the defaults of ``ENVIRONMENTS[{stack!r}]``.",
        **fields,
    )


SETTINGS_BY_STACK: dict[str, type[Settings]] = {
    stack: _environment(stack) for stack in ENVIRONMENTS
}
DevSettings = SETTINGS_BY_STACK["dev"]
PrdSettings = SETTINGS_BY_STACK["prd"]
