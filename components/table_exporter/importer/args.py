"""``TableImporter``'s arguments: the ``TableImporterArgs`` mapping every Pulumi language
sends, the ``ImporterSpec`` Python programs may pass, and the checks that turn one into
the other before anything is registered.

No ``from __future__ import annotations``: Pulumi's schema analyzer reads
``TableImporterArgs`` and the component's annotations as objects (``provider.py``).
"""

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import pulumi

from table_exporter.kernel.polling import PollPolicy

if sys.version_info >= (3, 11):
    from typing import Required
else:  # pulumi itself depends on typing_extensions
    from typing_extensions import Required

KEY_TYPES = ("S", "N", "B")


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    attribute_type: str = "S"

    def __post_init__(self) -> None:
        if self.attribute_type not in KEY_TYPES:
            raise ValueError(f"key attribute type must be one of {KEY_TYPES}")


@dataclass(frozen=True)
class ImporterSpec:
    source_bucket: str
    source_prefix: str
    """The exporter's prefix for the table (``<prefix>/<table>``, e.g. ``exports/orders``):
    its full exports and baselines are found in the run folders under it."""
    table_prefix: str
    """New tables are ``<table_prefix><YYYYMMDD>T<HHMMSS>`` (the export's time, UTC)."""
    parameter_name: str
    """SSM parameter that names the current table."""
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    keep: int = 3
    source_bucket_owner: str | None = None
    poll: PollPolicy = field(default_factory=PollPolicy)
    import_timeout_seconds: int = 12 * 3600
    partition: str = "aws"

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= 100:
            raise ValueError("keep must be 1 to 100 tables")
        if not 1 <= len(self.table_prefix) <= 200 or not re.fullmatch(
            r"[A-Za-z0-9_.-]+", self.table_prefix
        ):
            raise ValueError("table prefix: 1 to 200 of letters, digits, '_', '.' and '-'")
        if self.source_prefix.startswith("/") or self.source_prefix.endswith("/"):
            raise ValueError("source prefix takes no leading or trailing '/'")
        if not self.parameter_name.startswith("/"):
            raise ValueError("parameter name must be a path starting with '/'")

    @property
    def timeout_seconds(self) -> int:
        return self.import_timeout_seconds + 3600

    @property
    def source_root(self) -> str:
        """The source prefix as a folder (``exports/orders/``; empty for the bucket root)."""
        return f"{self.source_prefix}/" if self.source_prefix else ""


class KeyAttributeArgs(TypedDict, total=False):
    """A key attribute of the tables the importer creates (``KeyAttribute``)."""

    name: Required[str]
    """The attribute's name. Required."""
    attribute_type: str
    """``S``, ``N`` or ``B``. Default ``S``."""


class PollPolicyArgs(TypedDict, total=False):
    """Bounds of the import status polling back-off, in seconds (``PollPolicy``)."""

    min_seconds: int
    """Shortest wait between import status polls. Default 60."""
    max_seconds: int
    """Longest wait between import status polls, at most 86400. Default 3600."""
    growth: float
    """Each wait is this share of the time waited so far, within the bounds; in (0, 1].
    Default 0.15."""


class TableImporterArgs(TypedDict, total=False):
    """``TableImporter``'s arguments as one mapping: the fields of ``ImporterSpec`` and
    the component's keyword arguments. Every value is plain except ``alarm_actions``:
    the machine's definition and policies are built from them at preview."""

    source_bucket: Required[str]
    """The bucket the exporter writes to. Required."""
    source_prefix: Required[str]
    """The exporter's prefix for the table (``<prefix>/<table>``, e.g.
    ``exports/orders``): its full exports and baselines are found in the run folders
    under it. Required; empty for the bucket's root."""
    table_prefix: Required[str]
    """New tables are ``<table_prefix><YYYYMMDD>T<HHMMSS>`` (the export's time, UTC).
    Required."""
    parameter_name: Required[str]
    """SSM parameter that names the current table, a path starting with ``/``. Required."""
    partition_key: Required[KeyAttributeArgs]
    """The new tables' partition key. Required."""
    sort_key: KeyAttributeArgs
    """The new tables' sort key. Default: none."""
    keep: int
    """How many of the newest imported tables to keep, 1-100. Default 3."""
    source_bucket_owner: str
    """Account that owns ``source_bucket``, when it is another account. Default: none."""
    poll: PollPolicyArgs
    """How often the machine asks about a running import. Default: 60 to 3600 seconds,
    growth 0.15."""
    import_timeout_seconds: int
    """How long one import may take. Default 43200 (12 hours)."""
    partition: str
    """The AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``). Default ``aws``."""
    schedule_expression: str
    """When imports run (EventBridge Scheduler ``cron(...)`` or ``rate(...)``). Default
    ``cron(0 6 * * ? *)``."""
    schedule_timezone: str
    """IANA time zone of the schedule. Default ``UTC``."""
    kms_key_arn: str
    """Customer-managed KMS key of the exports, which the import role may decrypt.
    Default: none."""
    alarm_actions: Sequence[pulumi.Input[str]]
    """ARNs the alarms notify (SNS topics). Default none."""
    alarm_window_hours: int
    """Alarm when no import succeeded for this many hours, at most 168. Default 48."""


if TYPE_CHECKING:
    # Python programs may pass an ``ImporterSpec`` (and keyword arguments) as before; the
    # schema analyzer reads one args type, the mapping every Pulumi language sends.
    ImporterArgs = TableImporterArgs | ImporterSpec
else:
    ImporterArgs = TableImporterArgs


class TableImporterArgsError(ValueError):
    """Raised at construction, before anything is registered, for a bad
    ``TableImporterArgs`` mapping: one line ``<argument>: <rule>`` per problem."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


_SPEC_TEXTS = ("source_bucket", "source_prefix", "table_prefix", "parameter_name")

_SPEC_OPTIONAL_TEXTS = ("source_bucket_owner", "partition")

_SPEC_INTS = ("keep", "import_timeout_seconds")

_SETTINGS = {
    "schedule_expression": str,
    "schedule_timezone": str,
    "kms_key_arn": str,
    "alarm_window_hours": int,
}

_KNOWN = frozenset(TableImporterArgs.__required_keys__ | TableImporterArgs.__optional_keys__)


def _kind_problem(path: str, value: Any, kind: type) -> str | None:
    if isinstance(value, pulumi.Output):
        return f"{path}: must be a plain value, not an Output"
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{path}: must be a whole number, got {value!r}"
    if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{path}: must be a number, got {value!r}"
    if kind is str and not isinstance(value, str):
        return f"{path}: must be text, got {value!r}"
    return None


def _key(path: str, value: Any, problems: list[str]) -> KeyAttribute | None:
    if not isinstance(value, Mapping):
        problems.append(f"{path}: must be a mapping with a 'name', got {value!r}")
        return None
    found = [
        problem
        for key, kind in (("name", str), ("attribute_type", str))
        if key in value
        and (problem := _kind_problem(f"{path}.{key}", value[key], kind)) is not None
    ]
    found += [
        f"{path}.{key}: unknown argument" for key in value if key not in ("name", "attribute_type")
    ]
    if "name" not in value:
        found.append(f"{path}.name: is required")
    problems.extend(found)
    if found:
        return None
    try:
        return KeyAttribute(value["name"], value.get("attribute_type", "S"))
    except ValueError as err:
        problems.append(f"{path}.attribute_type: {err}")
        return None


def importer_settings(args: Mapping[str, Any]) -> tuple[ImporterSpec, dict[str, Any]]:
    """The ``ImporterSpec`` and the keyword arguments a ``TableImporterArgs`` mapping
    stands for. Raises ``TableImporterArgsError`` listing every problem."""
    if not isinstance(args, Mapping):
        raise TableImporterArgsError(f"args: must be a TableImporterArgs mapping, got {args!r}")
    given = {key: value for key, value in args.items() if value is not None}
    problems = [f"{key}: unknown argument" for key in given if key not in _KNOWN]
    problems += [
        f"{key}: is required"
        for key in sorted(TableImporterArgs.__required_keys__)
        if key not in given
    ]
    kinds: dict[str, type] = {
        **dict.fromkeys(_SPEC_TEXTS + _SPEC_OPTIONAL_TEXTS, str),
        **dict.fromkeys(_SPEC_INTS, int),
        **_SETTINGS,
    }
    problems += [
        problem
        for key, kind in kinds.items()
        if key in given and (problem := _kind_problem(key, given[key], kind)) is not None
    ]
    partition_key = (
        _key("partition_key", given["partition_key"], problems)
        if "partition_key" in given
        else None
    )
    sort_key = _key("sort_key", given["sort_key"], problems) if "sort_key" in given else None
    poll_args = given.get("poll", {})
    if not isinstance(poll_args, Mapping):
        problems.append(f"poll: must be a mapping, got {poll_args!r}")
        poll_args = {}
    poll_kinds = {"min_seconds": int, "max_seconds": int, "growth": float}
    problems += [f"poll.{key}: unknown argument" for key in poll_args if key not in poll_kinds]
    problems += [
        problem
        for key, kind in poll_kinds.items()
        if key in poll_args
        and (problem := _kind_problem(f"poll.{key}", poll_args[key], kind)) is not None
    ]
    actions = given.get("alarm_actions", [])
    if isinstance(actions, str) or not isinstance(actions, Sequence):
        problems.append(f"alarm_actions: must be a list of ARNs, got {actions!r}")
    if problems or partition_key is None:
        raise TableImporterArgsError(problems)
    try:
        poll = PollPolicy(**poll_args)
        spec = ImporterSpec(
            **{
                key: given[key]
                for key in (*_SPEC_TEXTS, *_SPEC_OPTIONAL_TEXTS, *_SPEC_INTS)
                if key in given
            },
            partition_key=partition_key,
            sort_key=sort_key,
            poll=poll,
        )
    except ValueError as err:
        raise TableImporterArgsError(str(err)) from None
    settings = {key: given[key] for key in (*_SETTINGS, "alarm_actions") if key in given}
    return spec, settings
