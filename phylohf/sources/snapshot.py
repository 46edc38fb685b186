"""Snapshot files: Parquet listings and JSONL API records, as batches of raw rows.

Parquet column mapping (first present name wins, see :data:`phylohf.records.ALIASES`):
``id``/``modelId``/``model_id``, ``author``, ``createdAt``/``created_at``,
``lastModified``/``last_modified``, ``downloads``, ``likes``, ``library_name``,
``pipeline_tag``, ``tags`` (list of strings), ``cardData``/``card_data`` (JSON text,
YAML text or a struct), ``config`` (JSON text or struct), ``card``/``card_text`` (model
card body), ``baseModels``/``base_models`` (JSON text or struct). Other columns are kept
only in the raw provenance record.

Each generator yields ``(raw_table, problems, rows_read)``; ``problems`` lists
``(row, message)`` for input that could not become a raw row at all.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..records import ALIASES, RAW_SCHEMA, MalformedRecord, _json_object, raw_table, to_raw

Batch = tuple[pa.Table, list[tuple[int, str]], int]
BATCH_ROWS = 250_000


def _column_expr(field: pa.Field | None, target: str) -> str:
    """SQL that turns one snapshot column into the raw column ``target``."""
    if field is None:
        return f"NULL::{'VARCHAR[]' if target == 'tags' else 'VARCHAR'} AS {target}"
    name = 's."' + field.name.replace('"', '""') + '"'
    t = field.type
    if target in ("card_data", "config", "base_models") and not pa.types.is_string(t) and not pa.types.is_large_string(t):
        return f"to_json({name})::VARCHAR AS {target}"
    if target in ("downloads", "likes"):
        return f"TRY_CAST({name} AS BIGINT) AS {target}"
    if target == "tags":
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return f"{name}::VARCHAR[] AS tags"
        return f"TRY_CAST({name} AS VARCHAR[]) AS tags"
    if target in ("created_at", "last_modified"):
        return f"{name} AS {target}"
    return f"{name}::VARCHAR AS {target}"


def _mapping_sql(schema: pa.Schema, keep_raw: bool) -> str:
    names = set(schema.names)
    exprs = []
    for target, aliases in ALIASES.items():
        src = next((a for a in aliases if a in names), None)
        exprs.append(_column_expr(schema.field(src) if src else None, target))
    if not keep_raw:
        return (f"SELECT ({{offset}} + row_number() OVER ()) AS \"row\", {', '.join(exprs)}, "
                "NULL::VARCHAR[] AS fixes, NULL::VARCHAR AS raw FROM _snapshot s")
    card = next((a for a in ALIASES["card"] if a in names), None)
    provenance = f'SELECT * EXCLUDE ("{card}") FROM _snapshot' if card else "SELECT * FROM _snapshot"
    return (f"SELECT ({{offset}} + row_number() OVER ()) AS \"row\", {', '.join(exprs)}, "
            f"NULL::VARCHAR[] AS fixes, to_json(p)::VARCHAR AS raw FROM _snapshot s POSITIONAL JOIN ({provenance}) p")


def _yaml_card_data(table: pa.Table) -> pa.Table:
    """Card data that is not JSON (YAML text) goes through the per-record parser."""
    col = table.column("card_data")
    bad = pc.and_(pc.is_valid(col), pc.invert(pc.starts_with(pc.utf8_trim_whitespace(col), "{")))
    if not pc.any(bad).as_py():
        return table
    values = col.to_pylist()
    for i in pc.indices_nonzero(bad).to_pylist():
        values[i] = _json_object(values[i])
    return table.set_column(table.schema.get_field_index("card_data"), "card_data",
                            pa.array(values, pa.string()))


def read_parquet(path: str | Path, batch_rows: int = BATCH_ROWS, keep_raw: bool = False) -> Iterator[Batch]:
    """Batches of raw rows from a Parquet listing; row numbers start at 1.

    The file and row number identify each input row; ``keep_raw`` also stores the row
    itself as JSON (the card text aside), at a cost of about 8 s and 1 GB per 2M rows.
    """
    pf = pq.ParquetFile(path)
    sql = _mapping_sql(pf.schema_arrow, keep_raw)
    con = duckdb.connect()
    done = 0
    for batch in pf.iter_batches(batch_size=batch_rows):
        con.register("_snapshot", pa.Table.from_batches([batch]))
        table = con.sql(sql.format(offset=int(done))).to_arrow_table()
        con.unregister("_snapshot")
        table = _yaml_card_data(table).select(RAW_SCHEMA.names)
        done += batch.num_rows
        yield table, [], done
    con.close()


def read_jsonl(path: str | Path, batch_rows: int = 50_000) -> Iterator[Batch]:
    """Batches of raw rows from a file of one JSON record per line; rows are line numbers."""
    rows: list[dict] = []
    problems: list[tuple[int, str]] = []
    line_no = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(to_raw(json.loads(line), line_no))
            except MalformedRecord as e:
                problems.append((line_no, str(e)))
            except ValueError as e:
                problems.append((line_no, f"not valid JSON ({e})"))
            if len(rows) >= batch_rows:
                yield raw_table(rows), problems, line_no
                rows, problems = [], []
    yield raw_table(rows), problems, line_no


def read_records(records: list[dict], start_row: int = 1) -> Batch:
    """In-memory API records (e.g. from the Hub client) as one batch of raw rows."""
    rows, problems = [], []
    for i, record in enumerate(records, start_row):
        try:
            rows.append(to_raw(record, i))
        except MalformedRecord as e:
            problems.append((i, str(e)))
    return raw_table(rows), problems, len(records)
