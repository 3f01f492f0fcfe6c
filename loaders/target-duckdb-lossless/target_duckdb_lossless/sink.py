"""One table per stream; each batch is staged from JSON lines and merged on the key."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import re
import tempfile
import typing as t

import duckdb
import msgspec
from singer_sdk.sinks import BatchSink

if t.TYPE_CHECKING:
    from singer_sdk import Target


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def table_name(stream_name: str) -> str:
    """A plain table name for a stream (`jira_issues` stays `jira_issues`)."""
    return re.sub(r"[^0-9A-Za-z_]", "_", stream_name).lower()


def column_type(prop: dict) -> str:
    """The DuckDB type of one top-level JSON-schema property.

    Nested objects and arrays (and anything ambiguous) are kept whole as `JSON`.
    """
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        return column_type(options[0]) if len(options) == 1 else "JSON"
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    types = [x for x in types if x != "null"]
    if len(types) != 1:
        return "VARCHAR" if "string" in types and not {"object", "array"} & set(types) else "JSON"
    kind = types[0]
    if kind == "string":
        return {"date-time": "TIMESTAMPTZ", "date": "DATE"}.get(prop.get("format", ""), "VARCHAR")
    return {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}.get(kind, "JSON")


def _jsonable(value: t.Any) -> t.Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    msg = f"cannot serialise {type(value).__name__}"
    raise TypeError(msg)


_encoder = msgspec.json.Encoder(enc_hook=_jsonable, decimal_format="number")


class RowCountMismatchError(RuntimeError):
    """The database saw a different number of rows than the batch held."""


class DuckDBSink(BatchSink):
    """Loads a stream's batches into one DuckDB table."""

    def __init__(self, target: Target, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)
        self._db: duckdb.DuckDBPyConnection | None = None
        self._overwritten = False

    @property
    def db(self) -> duckdb.DuckDBPyConnection:
        if self._db is None:
            self._db = duckdb.connect(self.config["path"])
        return self._db

    @property
    def table(self) -> str:
        return f"{quote(self.config.get('schema') or 'main')}.{quote(table_name(self.stream_name))}"

    @property
    def columns(self) -> dict[str, str]:
        return {name: column_type(prop) for name, prop in self.schema.get("properties", {}).items()}

    def setup(self) -> None:
        """Create the schema and table, and add columns a newer schema brings."""
        super().setup()
        schema = quote(self.config.get("schema") or "main")
        self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cols = ", ".join(f"{quote(c)} {ty}" for c, ty in self.columns.items())
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ({cols})")
        for col, ty in self.columns.items():
            self.db.execute(f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS {quote(col)} {ty}")

    def _distinct(self, records: list[dict]) -> list[dict]:
        """Last record wins per key, as an upsert would leave them."""
        if not self.key_properties or self.config.get("load_method") == "append-only":
            return records
        latest = {_encoder.encode([r.get(k) for k in self.key_properties]): r for r in records}
        self.tally_duplicate_merged(len(records) - len(latest))
        return list(latest.values())

    def process_batch(self, context: dict) -> None:
        """Stage the batch, verify its size, then delete-and-insert on the key in one transaction."""
        records = self._distinct(context.get("records", []))
        if not records:
            return
        columns = self.columns
        fd, path = tempfile.mkstemp(prefix="target-duckdb-", suffix=".jsonl")
        try:
            with os.fdopen(fd, "wb") as out:
                for record in records:
                    out.write(_encoder.encode({c: record.get(c) for c in columns}))
                    out.write(b"\n")
            self._merge(path, columns, len(records))
        finally:
            os.unlink(path)

    def _merge(self, path: str, columns: dict[str, str], expected: int) -> None:
        col_list = ", ".join(quote(c) for c in columns)
        spec = "{" + ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': '{ty}'" for c, ty in columns.items()) + "}"
        db = self.db
        db.execute("BEGIN TRANSACTION")
        try:
            db.execute(
                "CREATE OR REPLACE TEMP TABLE _batch AS SELECT * FROM read_json(?, "
                f"format = 'newline_delimited', columns = {spec}, maximum_object_size = 134217728)",
                [path],
            )
            (staged,) = db.execute("SELECT count(*) FROM _batch").fetchone()
            if staged != expected:
                msg = f"{self.stream_name}: staged {staged} rows of a batch of {expected}"
                raise RowCountMismatchError(msg)
            method = self.config.get("load_method") or "upsert"
            if method == "overwrite" and not self._overwritten:
                db.execute(f"DELETE FROM {self.table}")
                self._overwritten = True
            elif method == "upsert" and self.key_properties:
                keys = ", ".join(quote(k) for k in self.key_properties)
                db.execute(f"DELETE FROM {self.table} WHERE ({keys}) IN (SELECT ({keys}) FROM _batch)")
            db.execute(f"INSERT INTO {self.table} ({col_list}) SELECT {col_list} FROM _batch")
            db.execute("DROP TABLE _batch")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.logger.info("Loaded %d rows into %s", expected, self.table)

    def clean_up(self) -> None:
        """Close the database (DuckDB checkpoints on close)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        super().clean_up()
