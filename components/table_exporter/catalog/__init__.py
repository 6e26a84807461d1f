"""The Glue tables an export is published as, and the one column mapping Athena and DuckDB share."""
