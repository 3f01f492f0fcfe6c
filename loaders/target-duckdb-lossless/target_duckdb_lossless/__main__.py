"""`python -m target_duckdb_lossless`."""

from target_duckdb_lossless.target import TargetDuckDBLossless

TargetDuckDBLossless.cli()
