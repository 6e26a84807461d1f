"""The rules over a set of the exporter's arguments.

The rule over one value is a check (``checks``); which argument gets which check, and
which type, is declared once per argument in ``config``. Here: ``argument_problems``,
every rule over a whole set of component arguments (types, values, and the rules that
involve several arguments), returned as ``Problem`` records (an argument path and a
rule) instead of raised, and the suggestions for misspelt keys.

Nothing here knows how an argument is spelled to the user. Rules that mention another
argument spell it through a ``ref`` function: the component passes its argument names
through, the program turns them into ``exporter:<camelCase>`` config keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi

from table_exporter import config
from table_exporter.catalog.schema import glue_table_name
from table_exporter.catalog.tables import LATEST_RAW_SUFFIX
from table_exporter.checks import (
    _REGION,
    check_columns,
    check_email,
    check_key_attributes,
    check_prefix,
    check_stream_arn,
    check_table_ref,
    check_tags,
    parse_arn,
    partition_of,
    shown,
    table_name_of,
)
from table_exporter.kernel.policies import INLINE_POLICY_LIMIT, exact_policy_estimate

Path = tuple[str | int, ...]
Ref = Callable[[str], str]


def _same(name: str) -> str:
    return name


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (an argument path such as ``("tables", 1, "table")``) and
    what, in words. A warning is something a user could mean; it does not stop a run."""

    path: Path
    rule: str
    warning: bool = False

    def argument(self, name: Ref = _same) -> str:
        """The path as text, ``tables[1].table``; ``name`` spells each argument name."""
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += f"{'.' if text else ''}{name(part)}"
        return text

    def line(self, name: Ref = _same) -> str:
        return f"{self.argument(name)}: {self.rule}"


def _folded(name: str) -> str:
    """A key without case and separators: ``export_type`` and ``exportType`` fold alike."""
    return name.replace("_", "").replace("-", "").lower()


def _likeness(key: str, known: str) -> float:
    """How alike two keys are, 0-1: the better of the whole keys and, for a typo early in
    a longer key (``scheduel`` for ``scheduleExpression``), its start."""
    typed, candidate = _folded(key), _folded(known)
    whole = difflib.SequenceMatcher(None, typed, candidate).ratio()
    start = (
        difflib.SequenceMatcher(None, typed, candidate[: len(typed)]).ratio()
        if len(typed) >= 4 and len(candidate) > len(typed)
        else 0.0
    )
    return max(whole, 0.9 * start)  # a whole key that is alike ranks first


SUGGESTION_CUTOFF = 0.75
"""How alike (``_likeness``) a known key must be to be suggested."""


def close_keys(
    key: str, known: Iterable[str], fits: Callable[[str], bool] | None = None
) -> list[str]:
    """The known keys ``key`` may be a misspelling of, best first, at most three: the same
    key in another case style first, then keys whose rule accepts the value given
    (``fits``), then the most alike."""
    scored = [(name, _likeness(key, name)) for name in known]
    close = [(name, score) for name, score in scored if score >= SUGGESTION_CUTOFF]
    close.sort(
        key=lambda item: (
            _folded(item[0]) != _folded(key),
            not (fits and fits(item[0])),
            -item[1],
        )
    )
    return [name for name, _ in close[:3]]


def unknown_key(
    key: str, known: Iterable[str], what: str = "key", fits: Callable[[str], bool] | None = None
) -> str:
    """The rule for a key nobody declared, with the closest known keys as a hint
    (``close_keys``; ``fits`` tells whether a known key would take the value given)."""
    known = sorted(known)
    close = close_keys(key, known, fits)
    if close and _folded(close[0]) == _folded(key):
        style = "snake_case" if "_" in close[0] else "camelCase"
        hint = f"did you mean {close[0]}? ({what}s are {style}) "
    else:
        listed = f"{', '.join(close[:-1])} or {close[-1]}" if len(close) > 1 else "".join(close)
        hint = f"did you mean {listed}? " if close else ""
    return f"unknown {what}; {hint}known {what}s: {', '.join(known)}"


def fits_argument(name: str, value: Any) -> bool:
    """Whether a component argument's own rules accept ``value`` (to rank suggestions):
    its type, and for text its check."""
    arg = config.ARGUMENT[name]
    if arg.kind not in config.KIND_ORDER[:4]:  # lists and mappings: any would do
        return True
    if not arg.kind.accepts(value, arg):
        return False
    if arg.kind is config.TEXT and arg.check is not None:
        return isinstance(value, str) and not _apply(arg.check, value, (name,))
    return True


MAX_TABLES = 1000
TABLE_KEYS = tuple(config.ENTRY_KEY)


def _is_output(value: Any) -> bool:
    return isinstance(value, pulumi.Output)


def _apply(check: Callable[[Any], Any], value: Any, path: Path) -> list[Problem]:
    try:
        check(value)
    except ValueError as err:
        return [Problem(path, str(err))]
    return []


_ENTRY_TEXTS = tuple(arg.name for arg in config.TABLE_ENTRY if arg.kind is config.TEXT)
_ENTRY_FLAGS = tuple(arg.name for arg in config.TABLE_ENTRY if arg.kind is config.FLAG)


def _table_type_problems(
    index: int, table: Any, history_default: Any
) -> tuple[list[Problem], dict[str, Any] | None]:
    """One table entry's type problems, and the entry without its ill-typed keys (None
    when it is not an entry at all)."""
    problems = [
        Problem(("tables", index, key), unknown_key(str(key), TABLE_KEYS))
        for key in (table if isinstance(table, Mapping) else ())
        if key not in TABLE_KEYS
    ]
    if not isinstance(table, Mapping) or table.get("table") is None:
        problems.append(
            Problem(("tables", index), f"must be a mapping with a 'table', got {shown(table)}")
        )
        return problems, None
    entry = {key: value for key, value in table.items() if key in TABLE_KEYS}

    def bad(key: str, rule: str) -> None:
        problems.append(Problem(("tables", index, key), rule))
        entry.pop(key, None)

    for key in _ENTRY_TEXTS:
        value = entry.get(key)
        if value is not None and not isinstance(value, str) and not _is_output(value):
            bad(key, f"must be text, got {shown(value)}")
    kind = entry.get("export_type")
    if kind is not None and kind not in config.EXPORT_TYPES:
        bad(
            "export_type",
            f"must be one of {config.EXPORT_TYPES} (a plain value), got {shown(kind)}",
        )
    for flag in _ENTRY_FLAGS:
        value = entry.get(flag)
        if value is not None and not isinstance(value, bool):
            bad(flag, f"must be true or false (a plain value), got {shown(value)}")
    columns = entry.get("columns")
    if columns is not None and not isinstance(columns, Mapping):
        bad("columns", f"must be a mapping, got {shown(columns)}")
    if "table" not in entry:
        return problems, None
    on = entry.get("change_history", history_default) is True
    if on and not isinstance(entry["table"], str):
        problems.append(
            Problem(("tables", index, "table"), "must be plain text when change history is "
                    "on: it names the history's S3 folder and Glue table at preview")
        )  # fmt: skip
    has_stream, has_keys = "stream_arn" in entry, "key_attributes" in entry
    if (has_stream or has_keys) and not on:
        problems.append(
            Problem(("tables", index, "stream_arn" if has_stream else "key_attributes"),
                    "is for change history, which is off for this table")
        )  # fmt: skip
    elif has_stream != has_keys:
        given, missing = ("stream_arn", "key_attributes")[:: 1 if has_stream else -1]
        problems.append(
            Problem(("tables", index, missing), f"is required with {given}: together they "
                    "replace the look-up of the table at preview")
        )  # fmt: skip
    return problems, entry


def _type_problems(values: Mapping[str, Any]) -> tuple[list[Problem], dict[str, Any]]:
    """Every type problem, and the values without the ill-typed ones (their kind's
    fallback instead), so the other rules can still judge everything else."""
    problems: list[Problem] = []
    typed = dict(values)
    for arg in config.by_kind():
        value = values.get(arg.name)
        rule = None if value is None else arg.kind.problem(arg, value)
        if rule:
            problems.append(Problem((arg.name,), rule))
            typed[arg.name] = arg.kind.fallback
    tables = values.get("tables")
    if tables is None:
        return problems, typed
    rule = config.TABLES.problem(config.ARGUMENT["tables"], tables)
    if rule:
        problems.append(Problem(("tables",), rule))
        typed["tables"] = None
        return problems, typed
    entries = []
    for index, table in enumerate(tables):
        table_problems, entry = _table_type_problems(index, table, typed.get("change_history"))
        problems.extend(table_problems)
        entries.append(entry)
    typed["tables"] = entries
    return problems, typed


def _value_problems(values: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for arg in config.by_kind((config.WHOLE, config.TEXT)):
        value = values.get(arg.name)
        if arg.check is not None and isinstance(value, int | str) and not _is_output(value):
            problems.extend(_apply(arg.check, value, (arg.name,)))
    for index, email in enumerate(values.get("alarm_emails") or ()):
        if not isinstance(email, str):
            problems.append(Problem(("alarm_emails", index), f"must be text, got {shown(email)}"))
        else:
            problems.extend(_apply(check_email, email, ("alarm_emails", index)))
    problems.extend(_apply(check_tags, values.get("tags") or {}, ("tags",)))
    for index, table in enumerate(values.get("tables") or ()):
        if table is None:
            continue
        path: Path = ("tables", index)
        if isinstance(table["table"], str):
            problems.extend(_apply(check_table_ref, table["table"], (*path, "table")))
        if isinstance(table.get("prefix"), str):
            problems.extend(_apply(check_prefix, table["prefix"], (*path, "prefix")))
        problems.extend(_apply(check_columns, table.get("columns") or {}, (*path, "columns")))
        if isinstance(table.get("stream_arn"), str):
            of = table["table"] if isinstance(table["table"], str) else None
            problems.extend(
                _apply(partial(check_stream_arn, table=of), table["stream_arn"],
                       (*path, "stream_arn"))
            )  # fmt: skip
        if "key_attributes" in table:
            problems.extend(
                _apply(check_key_attributes, table["key_attributes"], (*path, "key_attributes"))
            )
    return problems


def _in_region(arn: str, region: str, what: str, why: str) -> str | None:
    parsed = parse_arn(arn)
    if parsed is None:
        return None
    partition = partition_of(region)
    if parsed.region == region and parsed.partition == partition:
        return None
    return (
        f"{what} {arn!r} is in {parsed.region} ({parsed.partition}), not in the exporter's "
        f"region {region} ({partition}): {why}"
    )


def _same_name_reason(name: str, prefixes: Sequence[str], catalog: bool) -> str:
    """Why two tables of one name (in two accounts) cannot share an exporter."""
    shared = []
    if len(set(prefixes)) == 1:
        shared.append(f"both would be exported to the S3 folder {prefixes[0]}/{name}/")
    if catalog:
        glue = glue_table_name(name)
        shared.append(
            f"both would be catalogued as the Glue tables {glue}_latest and {glue}_latest_raw"
        )
    if not shared:
        shared.append(
            "the exporter names a table's S3 folder (<prefix>/<table>/) and Glue tables after "
            "the table's name alone and does not support two tables of one name"
        )
    return "; ".join(shared) + "; export them with one exporter per account"


def table_list_problems(
    tables: Sequence[Mapping[str, Any]], default_prefix: str, *, catalog: bool, ref: Ref = _same
) -> list[Problem]:
    """Rules over the list of tables: how many, none twice, names kept apart."""
    problems: list[Problem] = []
    if not 1 <= len(tables) <= MAX_TABLES:
        problems.append(Problem(("tables",), f"must list 1-{MAX_TABLES} tables, got {len(tables)}"))
    plain = [
        (index, t["table"], t.get("prefix") or default_prefix)
        for index, t in enumerate(tables)
        if t is not None and isinstance(t["table"], str)
    ]
    first: dict[str, tuple[int, str, str]] = {}
    for index, table, prefix in plain:
        name = table_name_of(table)
        if name not in first:
            first[name] = (index, table, prefix)
            continue
        earlier, other, other_prefix = first[name]
        arns = [parse_arn(t) for t in (other, table)]
        if table == other or None in arns:
            problems.append(
                Problem(
                    ("tables",),
                    f"table {name!r} is listed twice (tables[{earlier}] and tables[{index}]); "
                    "a name and an ARN of the same table count as the same",
                )
            )
        else:
            where = " and ".join(f"{a.account} {a.region}" for a in arns if a)
            problems.append(
                Problem(
                    ("tables",),
                    f"tables[{earlier}] and tables[{index}] are two tables named {name!r} "
                    f"({where}); " + _same_name_reason(name, [other_prefix, prefix], catalog),
                )
            )
    if catalog:
        glue: dict[str, tuple[int, str]] = {}
        for index, table, _ in plain:
            name = table_name_of(table)
            key = glue_table_name(name, LATEST_RAW_SUFFIX)
            earlier, other = glue.setdefault(key, (index, name))
            if other != name:
                problems.append(
                    Problem(
                        ("tables",),
                        f"tables[{earlier}] {other!r} and tables[{index}] {name!r} would share "
                        f"the Glue tables {glue_table_name(name)}_latest and _latest_raw (Glue "
                        "names are lowercase, with '_' for every other character); set "
                        f"{ref('catalog_enabled')} to false or export one of them with "
                        "another exporter",
                    )
                )
    return problems


def first_current_table(values: Mapping[str, Any]) -> Path | None:
    """Where the first table that keeps a current table says so, or None."""
    default = values.get("current_table") is True
    for index, table in enumerate(values.get("tables") or ()):
        if table is not None and table.get("current_table", default) is True:
            return ("tables", index, "current_table") if "current_table" in table else (
                "current_table",
            )
    return None


def cross_field_problems(
    values: Mapping[str, Any],
    *,
    given: Iterable[str] = (),
    region: str | None = None,
    ref: Ref = _same,
) -> list[Problem]:
    """Rules that involve several arguments, or the exporter's region (when known).

    ``values``: the arguments with defaults applied; ``given``: the arguments the caller
    set explicitly; ``ref`` spells another argument's name inside a rule.
    """
    explicit = set(given)
    problems: list[Problem] = []

    def short(name: str) -> str:  # the name alone, without a config namespace
        return ref(name).rpartition(":")[2]

    def problem(name: str | Path, rule: str, warning: bool = False) -> None:
        problems.append(Problem((name,) if isinstance(name, str) else name, rule, warning))

    bucket, key = values.get("bucket_name"), values.get("kms_key_arn")
    if values.get("bucket_owner") is not None and bucket is None:
        problem(
            "bucket_owner",
            f"{short('bucket_owner')} requires {short('bucket_name')}: it names the account "
            "that owns an existing bucket",
        )
    if bucket is not None:
        lifecycle = ["expiration_days"] if values.get("expiration_days") is not None else []
        if "noncurrent_version_expiration_days" in explicit:
            lifecycle.append("noncurrent_version_expiration_days")
        for name in lifecycle:
            problem(
                name,
                f"applies only to a bucket the exporter creates; not with {ref('bucket_name')}",
            )
    if values.get("sse_algorithm") == "KMS" and key is None:
        problem("kms_key_arn", f"is required when {short('sse_algorithm')} is KMS")
    if values.get("sse_algorithm") == "AES256" and key is not None:
        problem(
            "kms_key_arn",
            f"must not be set when {short('sse_algorithm')} is AES256 (S3-managed keys)",
        )
    topic, emails = values.get("alarm_topic_arn"), list(values.get("alarm_emails") or ())
    if emails and topic is not None:
        problem(
            "alarm_emails",
            f"cannot be combined with {ref('alarm_topic_arn')}: emails are subscribed only to "
            "the topic the exporter creates",
        )
    elif emails and values.get("alarms_enabled") is False:
        problem(
            "alarm_emails",
            f"are not subscribed while {ref('alarms_enabled')} is false: there is no alarm "
            "topic then",
            warning=True,
        )
    seen: dict[str, int] = {}
    for index, email in enumerate(emails):
        if not isinstance(email, str):
            continue
        earlier = seen.setdefault(email.lower(), index)
        if earlier != index:
            problem(
                ("alarm_emails", index),
                f"{email!r} is {ref('alarm_emails')}[{earlier}] again (addresses are compared "
                "ignoring case); list each address once",
            )
    if region is not None:
        for name, arn in (("kms_key_arn", key), ("alarm_topic_arn", topic)):
            if isinstance(arn, str):
                rule = _in_region(arn, region, *_IN_REGION[name])
                if rule:
                    problem(name, rule)
        for index, table in enumerate(values.get("tables") or ()):
            if table is None:
                continue
            if isinstance(table["table"], str) and table["table"].startswith("arn:"):
                rule = _in_region(table["table"], region, *_IN_REGION["table"])
                if rule:
                    problem(("tables", index, "table"), rule)
    run, export = values.get("run_timeout_hours"), values.get("export_timeout_hours")
    if run is not None and export is not None and run < export:
        problem(
            "run_timeout_hours",
            f"must be at least {ref('export_timeout_hours')} ({export}), got {run}",
        )
    low, high = values.get("poll_min_seconds"), values.get("poll_max_seconds")
    if low is not None and high is not None and low > high:
        problem(
            "poll_min_seconds",
            f"must be at most {ref('poll_max_seconds')} ({high}), got {low}",
        )
    current = first_current_table(values)
    if current is not None and values.get("catalog_enabled") is False:
        problem(
            current,
            f"needs {ref('catalog_enabled')}: <table>_current lives in the exporter's Glue "
            "database and is written through its Athena workgroup",
        )
    if values.get("catalog_enabled") and values.get("export_format") == "ION":
        problem(
            "export_format",
            f"ION exports cannot be catalogued for Athena; use DYNAMODB_JSON or set "
            f"{ref('catalog_enabled')} to false",
        )
    if values.get("tables") is None:  # missing or not a list: reported on its own
        return problems
    tables = list(values["tables"])
    default_prefix = str(values.get("prefix") or "")
    problems.extend(
        table_list_problems(
            tables, default_prefix, catalog=bool(values.get("catalog_enabled")), ref=ref
        )
    )
    plain = [t["table"] for t in tables if t is not None and isinstance(t["table"], str)]
    if values.get("table_access") == "exact" and plain and len(plain) == len(tables):
        prefixes = [str(t.get("prefix") or default_prefix) for t in tables]
        estimate = exact_policy_estimate(plain, prefixes)
        if estimate > INLINE_POLICY_LIMIT:
            problem(
                "table_access",
                f"'exact' cannot name {len(plain)} tables one by one: that needs about "
                f"{estimate} characters of IAM policy, over IAM's {INLINE_POLICY_LIMIT}-character "
                "limit; use 'prefix' (also grants tables sharing a name prefix) or 'all' "
                "(every table in the account and region)",
            )
    return problems


def argument_problems(
    values: Mapping[str, Any], *, given: Iterable[str] = (), region: str | None = None
) -> list[Problem]:
    """Every rule over the component's arguments (defaults applied), errors and warnings.

    Values that are Outputs are not known yet and are not checked (the flags that shape
    the resource graph are refused as Outputs by the caller). An ill-typed value is
    reported for its type, and the other rules judge everything else without it.
    """
    problems, values = _type_problems(values)
    region = region if region is not None else _plain(values.get("region"))
    if region is not None and not _REGION.fullmatch(region):
        region = None  # reported as a bad value; nothing to compare with
    return (
        problems
        + _value_problems(values)
        + cross_field_problems(values, given=given, region=region)
    )


def is_region(region: Any) -> bool:
    return isinstance(region, str) and bool(_REGION.fullmatch(region))


_IN_REGION = {
    "kms_key_arn": (
        "KMS key",
        "exports are encrypted in the exporter's region and a KMS key serves only its own "
        "region; use a key (or a multi-Region replica) there",
    ),
    "alarm_topic_arn": ("topic", "CloudWatch alarms notify topics of their own region only"),
    "table": (
        "table",
        "DynamoDB exports a table from its own region, where the exporter's state machines "
        "must call it",
    ),
}


def resolved_problems(path: Path, value: Any, region: str | None = None) -> list[Problem]:
    """The rules of one argument (``("bucket_name",)``) or table entry key
    (``("tables", 0, "table")``) over its value once an Output has resolved it, with the
    exporter's ``region`` when it is known by then."""
    name = str(path[-1])
    if value is None and name not in ("table", "stream_arn"):
        return []
    if not isinstance(value, str):
        return [Problem(path, f"must be text, got {shown(value)}")]
    arg = config.ENTRY_KEY[name] if path[0] == "tables" else config.ARGUMENT[name]
    assert arg.check is not None  # an argument that may be an Output has a check
    problems = _apply(arg.check, value, path)
    if not problems and region is not None and name in _IN_REGION:
        what, why = _IN_REGION[name]
        rule = _in_region(value, region, what, why)
        if rule:
            problems.append(Problem(path, rule))
    return problems


def _plain(value: Any) -> str | None:
    return value if isinstance(value, str) else None
