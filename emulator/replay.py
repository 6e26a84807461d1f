"""Rebuilds a table's items from its exports in S3, the way a consumer of the exports
would: a full export, then each incremental export after it, in order.

An export is found from its location, ``s3://<bucket>/<prefix>/AWSDynamoDB/<id>/`` (what
the exporter reports), the folder of its manifests. Its data files are found *only*
through its manifests ("DynamoDB table export output format"): ``manifest-summary.json``
names ``manifest-files.json`` (``manifestFilesS3Key``), whose JSON lines name each data
file (``dataFileS3Key``). Listing a folder would be wrong: a full export keeps its data
under ``<id>/data/``, but incremental exports write theirs into the folder every
incremental export to the same prefix shares, ``<prefix>/AWSDynamoDB/data/``, so only
the manifest tells which files are this export's. ``data_files`` gives those keys;
``local_query`` downloads them the same way.

A full export's lines are ``{"Item": ...}`` and replace everything known so far; an
incremental export's records put their ``NewImage`` or, without one, delete their
``Keys``. A summary without ``exportType`` is a full export's (the page shows the field
on incremental summaries only). Only ``DYNAMODB_JSON`` exports are read.

Items are typed DynamoDB JSON keyed by ``change_log.canonical_key`` of their key, the
shape ``scan_table`` gives a live table in (binary values as base64 text, as in the
export files), so the two compare with ``==``.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Sequence
from typing import Any

from .change_log import canonical_key

Items = dict[str, dict[str, Any]]


def split_location(location: str) -> tuple[str, str]:
    """``(bucket, key prefix ending in '/')`` of an ``s3://`` export location."""
    if not location.startswith("s3://"):
        raise ValueError(f"not an s3:// location: {location!r}")
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _read(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def manifest_folder(location: str) -> tuple[str, str]:
    """``(bucket, key prefix of the manifests)`` of an export location. A full export's
    ``<id>/data/`` folder is taken to mean its ``<id>/`` manifest folder; the shared
    ``AWSDynamoDB/data/`` folder of incremental exports names no export and is refused."""
    bucket, prefix = split_location(location)
    if prefix.endswith("data/"):
        parent = prefix.removesuffix("data/")
        if parent.endswith("AWSDynamoDB/") or not parent:
            raise ValueError(
                f"{location}: the data folder incremental exports share names no export;"
                " give the export's own s3://.../AWSDynamoDB/<ExportId>/ folder"
            )
        prefix = parent
    return bucket, prefix


def read_summary(s3: Any, location: str) -> dict[str, Any]:
    """The export's ``manifest-summary.json``."""
    bucket, prefix = manifest_folder(location)
    return dict(json.loads(_read(s3, bucket, prefix + "manifest-summary.json")))


def read_files_manifest(
    s3: Any, location: str, summary: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The lines of the export's ``manifest-files.json`` (``itemCount``,
    ``md5Checksum``, ``etag``, ``dataFileS3Key``)."""
    bucket, prefix = manifest_folder(location)
    summary = read_summary(s3, location) if summary is None else summary
    files_key = summary.get("manifestFilesS3Key") or prefix + "manifest-files.json"
    return _json_lines(_read(s3, bucket, files_key).decode("utf-8"))


def data_files(s3: Any, location: str) -> list[str]:
    """The S3 keys of the export's data files, as its ``manifest-files.json`` lists them
    (in the export's bucket): never found by listing a folder."""
    return [str(entry["dataFileS3Key"]) for entry in read_files_manifest(s3, location)]


def read_export(s3: Any, location: str) -> tuple[str, list[dict[str, Any]]]:
    """``(export type, every line of every data file)`` of one export."""
    bucket, _ = manifest_folder(location)
    summary = read_summary(s3, location)
    if summary.get("outputFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise ValueError(f"{location}: only DYNAMODB_JSON exports can be replayed")
    lines: list[dict[str, Any]] = []
    for entry in read_files_manifest(s3, location, summary):
        data = _read(s3, bucket, entry["dataFileS3Key"])
        lines.extend(_json_lines(gzip.decompress(data).decode("utf-8")))
    return str(summary.get("exportType") or "FULL_EXPORT"), lines


def _key(item: dict[str, Any], key_names: Sequence[str]) -> str:
    return canonical_key({name: item[name] for name in key_names})


def apply_records(items: Items, records: Iterable[dict[str, Any]]) -> None:
    """Apply incremental export records to ``items`` in place."""
    for record in records:
        key = canonical_key(record["Keys"])
        if "NewImage" in record:
            items[key] = record["NewImage"]
        else:
            items.pop(key, None)


def replay_exports(
    s3: Any, locations: Sequence[str], key_names: Sequence[str] | None = None
) -> Items:
    """The items the exports at ``locations`` (oldest first) add up to.

    ``key_names`` are the table's key attributes, needed to key a full export's items;
    without them they are taken from the incremental records' ``Keys``."""
    exports = [read_export(s3, location) for location in locations]
    if key_names is None:
        key_names = next(
            (
                sorted(line["Keys"])
                for kind, lines in exports
                if kind == "INCREMENTAL_EXPORT"
                for line in lines
            ),
            None,
        )
    items: Items = {}
    for (kind, lines), location in zip(exports, locations, strict=True):
        if kind == "FULL_EXPORT":
            if key_names is None and lines:
                raise ValueError(f"{location}: pass key_names to key a full export's items")
            items = {_key(line["Item"], key_names or ()): line["Item"] for line in lines}
        else:
            apply_records(items, lines)
    return items


def _as_exported(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _as_exported(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_exported(v) for v in value]
    return value


def key_names_of(ddb: Any, table: str) -> list[str]:
    """The table's key attribute names (hash, then range)."""
    schema = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
    return [k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH")]


def scan_table(ddb: Any, table: str) -> Items:
    """Every item of a live table, in ``replay_exports``'s shape."""
    names = key_names_of(ddb, table)
    items: Items = {}
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        for item in page.get("Items", []):
            item = _as_exported(item)
            items[_key(item, names)] = item
        if not page.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
