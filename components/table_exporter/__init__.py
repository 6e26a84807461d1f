"""Scheduled, Lambda-free exports of DynamoDB tables to S3, as a Pulumi component."""

from .args import TableArgs, TableExporterArgs, TableExporterArgsError
from .component import TYPE_TOKEN, TableExporter
from .importer import (
    ImporterSpec,
    KeyAttribute,
    KeyAttributeArgs,
    PollPolicyArgs,
    TableImporter,
    TableImporterArgs,
    TableImporterArgsError,
)

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
