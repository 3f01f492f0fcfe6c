"""target-duckdb-lossless: a Singer target for an embedded DuckDB file that loses no row."""
