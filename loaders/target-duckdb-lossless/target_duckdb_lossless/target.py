"""The target: settings and the one sink class.

Why this exists instead of PyPI's `target-duckdb` 0.8.0: that release loads each batch
through a header-less CSV file with DuckDB's `COPY ... FROM`, whose header auto-detection
takes the first row of a batch for a header whenever every column of it looks like text
(Atlassian ids are strings), so one record per stream per batch silently disappears
(jwills/target-duckdb PR #58 fixes it, unreleased). This target writes each batch as
newline-delimited JSON read with explicit column types (nothing is sniffed), checks that
the staged row count equals the batch's distinct keys, and upserts on the key properties.
"""

from __future__ import annotations

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader

from target_duckdb_lossless.sink import DuckDBSink


class TargetDuckDBLossless(Target):
    """Singer target for an embedded DuckDB database file."""

    name = "target-duckdb-lossless"
    default_sink_class = DuckDBSink
    # msgspec decodes Singer lines about twice as fast as the standard library's json
    message_reader_class = MsgSpecReader
    config_jsonschema = th.PropertiesList(
        th.Property(
            "path",
            th.StringType,
            required=True,
            description="The DuckDB database file (created when missing).",
        ),
        th.Property(
            "schema",
            th.StringType,
            default="main",
            description="The database schema the tables are created in.",
        ),
        th.Property(
            "load_method",
            th.StringType(allowed_values=["upsert", "append-only", "overwrite"]),
            default="upsert",
            description=(
                "upsert (default): a record replaces the row with its key; append-only: "
                "every record is a new row; overwrite: the first batch of a run empties the table."
            ),
        ),
    ).to_dict()


if __name__ == "__main__":
    TargetDuckDBLossless.cli()
