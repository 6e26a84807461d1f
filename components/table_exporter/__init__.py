"""Scheduled, Lambda-free exports of DynamoDB tables to S3, as a Pulumi component."""

from .args import TableArgs, TableExporterArgs, TableExporterArgsError
from .component import TYPE_TOKEN, TableExporter

__all__ = [
    "TYPE_TOKEN",
    "TableArgs",
    "TableExporter",
    "TableExporterArgs",
    "TableExporterArgsError",
]
