"""Scheduled, Lambda-free exports of DynamoDB tables to S3, as a Pulumi component."""

from table_exporter.args import TableArgs, TableExporterArgs, TableExporterArgsError
from table_exporter.exporter import TYPE_TOKEN, TableExporter
from table_exporter.importer.args import (
    ImporterSpec,
    KeyAttribute,
    KeyAttributeArgs,
    PollPolicyArgs,
    TableImporterArgs,
    TableImporterArgsError,
)
from table_exporter.importer.component import TableImporter

__all__ = [
    "TYPE_TOKEN",
    "ImporterSpec",
    "KeyAttribute",
    "KeyAttributeArgs",
    "PollPolicyArgs",
    "TableArgs",
    "TableExporter",
    "TableExporterArgs",
    "TableExporterArgsError",
    "TableImporter",
    "TableImporterArgs",
    "TableImporterArgsError",
]
