"""Current-state Iceberg tables: ``<table>_current``, one row per item of a
table as of its last completed export, kept by Athena statements the table export machine runs (``sql``
builds their text; ``states`` the states that run them)."""

from __future__ import annotations

from table_exporter.current.sql import (
    CurrentTable,
    Window,
    create_sql,
    merge_window_sql,
    replace_from_baseline_sql,
    statements,
)

__all__ = [
    "CurrentTable",
    "Window",
    "create_sql",
    "merge_window_sql",
    "replace_from_baseline_sql",
    "statements",
]
