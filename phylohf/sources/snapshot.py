"""Snapshot files: Parquet listings and JSONL API records, as batches of raw rows.

Parquet column mapping (first present name wins, see :data:`phylohf.sources.records.ALIASES`):
``id``/``modelId``/``model_id``, ``author``, ``createdAt``/``created_at``,
``lastModified``/``last_modified``, ``downloads``, ``likes``, ``library_name``,
``pipeline_tag``, ``tags`` (list of strings), ``cardData``/``card_data`` (JSON text,
YAML text or a struct), ``config`` (JSON text or struct), ``card``/``card_text`` (model
card body), ``baseModels``/``base_models`` (JSON text or struct), and from the hub-stats
snapshot ``downloadsAllTime``, ``safetensors`` and ``gguf`` (JSON text or struct) and
``siblings`` (its ``.gguf`` file names). Other columns are kept only in the raw
provenance record.

Each generator yields ``(raw_table, problems, rows_read)``; ``problems`` lists
``(row, message)`` for input that could not become a raw row at all (not valid UTF-8,
card data refused by :mod:`phylohf.sources.records`, ...), so one bad row costs only itself. The
repairs of the per-record path are made here for Parquet columns too, vectorised: counts
as text, tags as one string, non-string card parents (raw column ``fixes``); YAML card
data and long parent lists go through the per-record parsers.
"""
from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .duck import connect
from .records import (ALIASES, MAX_PARENTS, NO_ID, RAW_SCHEMA, MalformedRecord, card_data, raw_table, tag_list,
                       to_raw)

Batch = tuple[pa.Table, list[tuple[int, str]], int]
# Two of DuckDB's row groups (122,880 rows): a batch of whole row groups is stored as written,
# while one that leaves the last row group part-filled makes the next batch's be written
# again (2M rows: a store of 284 MB instead of 194 MB, and 2.5 s more to ingest).
BATCH_ROWS = 2 * 122_880
_ROW = "__phylohf_row"      # the input row number, carried through the mapping query
# A JSONL record longer than this is refused unread, so memory stays bounded (the longest
# record of the 25 real crawls, card text aside, is 0.85 MB).
MAX_LINE_BYTES = 64 << 20
BATCH_BYTES = 64 << 20       # and a batch of JSONL lines about this long at most


def _column_expr(field: pa.Field | None, target: str) -> tuple[str, str | None]:
    """SQL that turns one snapshot column into the raw column ``target``, and SQL naming the
    repair it needed (a :data:`~phylohf.sources.records.READ_FIXES` code, or NULL)."""
    if field is None:
        return f"NULL::{'VARCHAR[]' if target in ('tags', 'gguf_files') else 'VARCHAR'} AS {target}", None
    name = 's."' + field.name.replace('"', '""') + '"'
    t = field.type
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if target in ("card_data", "config", "base_models", "safetensors", "gguf") and not text:
        return f"to_json({name})::VARCHAR AS {target}", None
    if target == "gguf_files":      # siblings: a list of {rfilename} structs, or JSON text of one
        names = (f"list_transform({name}, lambda x: x.rfilename)" if pa.types.is_list(t) or pa.types.is_large_list(t)
                 else f"json_extract_string(TRY_CAST({name} AS JSON), '$[*].rfilename')")
        return f"list_filter({names}, lambda f: lower(f) LIKE '%.gguf') AS gguf_files", None
    if target in ("downloads", "likes", "downloads_all_time"):       # the rule of records._int
        if text:
            value = f"CASE WHEN regexp_full_match({name}, '\\s*[+-]?\\d{{1,19}}\\s*') THEN TRY_CAST({name} AS BIGINT) END"
        elif pa.types.is_floating(t):
            value = f"CASE WHEN isfinite({name}) AND {name} = trunc({name}) THEN TRY_CAST({name} AS BIGINT) END"
        elif pa.types.is_integer(t):
            value = f"TRY_CAST({name} AS BIGINT)"
        else:
            value = "NULL::BIGINT"
        fix = f"CASE WHEN {name} IS NOT NULL AND {value} IS NULL THEN 'bad_number' END"
        return f"{value} AS {target}", fix + (f", CASE WHEN {value} IS NOT NULL THEN 'number_text' END" if text else "")
    if target == "tags":
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return f"{name}::VARCHAR[] AS tags", None
        if text:
            return (f"list_filter(list_transform(string_split({name}, ','), lambda x: trim(x)), lambda x: x <> '') "
                    "AS tags", f"CASE WHEN {name} IS NOT NULL THEN 'tags_text' END")
        return (f"TRY_CAST({name} AS VARCHAR[]) AS tags",
                f"CASE WHEN {name} IS NOT NULL AND TRY_CAST({name} AS VARCHAR[]) IS NULL THEN 'bad_tags' END")
    if target in ("created_at", "last_modified"):
        return f"{name} AS {target}", None
    return f"{name}::VARCHAR AS {target}", None


# Card data that must go through the per-record parser (YAML, long parent lists), and
# card parents that are not strings (see records._card_parents).
_CHECKS = f"""
SELECT * EXCLUDE (_bm, _fix),
    nullif(list_sort(list_distinct(_fix || [CASE WHEN json_type(_bm) NOT IN ('VARCHAR', 'ARRAY', 'NULL')
        OR coalesce(list_bool_or(list_transform(json_extract(_bm, '$[*]'), lambda e: json_type(e) <> 'VARCHAR'
            AND NOT (json_type(e) = 'ARRAY' AND coalesce(list_bool_and(list_transform(json_extract(e, '$[*]'),
                lambda f: json_type(f) = 'VARCHAR')), true)))), false)
        THEN 'bad_parent' END])), []) AS fixes,
    NOT starts_with(ltrim(card_data), '{{') OR json_array_length(_bm) > {MAX_PARENTS}
        OR len(list_filter(tags, lambda t: starts_with(t, 'base_model:'))) > {MAX_PARENTS} AS _slow
FROM (SELECT *, CASE WHEN starts_with(ltrim(card_data), '{{') THEN try(json_extract(card_data, '$.base_model')) END
      AS _bm FROM ({{mapping}}))"""


def _mapping_sql(schema: pa.Schema, keep_raw: bool, path: str | Path) -> str:
    names = set(schema.names)
    if not any(a in names for a in ALIASES["id"]):
        raise ValueError(f"{path}: no model id column (expected {' / '.join(ALIASES['id'])}; "
                         f"found {', '.join(schema.names[:12])}{', ...' if len(names) > 12 else ''})")
    exprs, fixes = [], []
    for target, aliases in ALIASES.items():
        src = next((a for a in aliases if a in names), None)
        expr, fix = _column_expr(schema.field(src) if src else None, target)
        exprs.append(expr)
        fixes += [fix] if fix else []
    cols = f"s.{_ROW} AS \"row\", {', '.join(exprs)}, [{', '.join(fixes)}]::VARCHAR[] AS _fix"
    if not keep_raw:
        mapping = f"SELECT {cols}, NULL::VARCHAR AS raw FROM _snapshot s"
    else:
        card = next((a for a in ALIASES["card"] if a in names), None)
        drop = ", ".join(f'"{c}"' for c in (_ROW, card) if c)
        mapping = (f"SELECT {cols}, to_json(p)::VARCHAR AS raw FROM _snapshot s "
                   f"POSITIONAL JOIN (SELECT * EXCLUDE ({drop}) FROM _snapshot) p")
    return _CHECKS.replace("{mapping}", mapping)


def per_record(table: pa.Table, slow: pa.ChunkedArray) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The rows of raw ``table`` marked ``slow`` (card data given as YAML, long parent lists)
    through the per-record parsers (:func:`~phylohf.sources.records.card_data`); those that cannot be
    read are dropped and returned as problems."""
    slow = _array(slow).fill_null(False)
    if not pc.any(slow).as_py():
        return table, []
    picked = table.filter(slow)
    cards, tags, fixes, ok, problems = [], [], [], [], []
    for row, card, tag, fix in zip(*(picked.column(c).to_pylist() for c in ("row", "card_data", "tags", "fixes"))):
        fix = list(fix or [])
        try:
            cards.append(card_data(card, fix))
            tags.append(tag_list(tag, fix))
            ok.append(True)
        except MalformedRecord as e:
            problems.append((row, str(e)))
            cards.append(None)
            tags.append(None)
            ok.append(False)
        fixes.append(sorted(set(fix)) or None)
    at = np.arange(len(table))
    at[pc.indices_nonzero(slow).to_numpy()] = len(table) + np.arange(len(cards))
    for name, values in (("card_data", cards), ("tags", tags), ("fixes", fixes)):
        i = table.schema.get_field_index(name)
        new = pa.array(values, table.schema.field(i).type)
        table = table.set_column(i, name, pa.concat_arrays([_array(table.column(i)), new]).take(at))
    if problems:
        table = table.filter(pa.concat_arrays([pa.array(np.ones(len(table), bool)), pa.array(ok)]).take(at))
    return table, problems


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _valid_utf8(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[tuple[int, str]]]:
    """The batch less the rows holding text that is not valid UTF-8 (each a problem: distinct
    ids must not collide as U+FFFD)."""
    try:
        batch.validate(full=True)
        return batch, []
    except pa.ArrowInvalid:
        pass
    problems, keep = [], []
    for i in range(batch.num_rows):
        bad = next((f.name for f, col in zip(batch.schema, batch.columns) if not _valid(col.slice(i, 1))), None)
        keep.append(bad is None)
        if bad:
            problems.append((batch.column(_ROW)[i].as_py(), f"not valid UTF-8 (column {bad!r})"))
    return batch.filter(pa.array(keep)), problems


def _valid(array: pa.Array) -> bool:
    try:
        array.validate(full=True)
        return True
    except pa.ArrowInvalid:
        return False


def open_parquet(path: str | Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"cannot read {path}: not a readable Parquet file ({e})") from None


def read_parquet(path: str | Path, batch_rows: int = BATCH_ROWS, keep_raw: bool = False) -> Iterator[Batch]:
    """Batches of raw rows from a Parquet listing; row numbers start at 1.

    The file and row number identify each input row; ``keep_raw`` also stores the row
    itself as JSON (the card text aside), at a cost of about 5 s and 180 MB per 2M rows. A
    file that cannot be read (not Parquet, a damaged page) stops with a message naming it
    and the rows already stored.
    """
    pf = open_parquet(path)
    sql = _mapping_sql(pf.schema_arrow, keep_raw, path)
    con = connect()
    done = 0
    batches = pf.iter_batches(batch_size=batch_rows)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, pa.ArrowException) as e:
            where = f" after row {done:,} (the rows before are stored)" if done else ""
            raise ValueError(f"cannot read {path}{where}: the file is damaged ({str(e).strip()}); "
                             f"fetch it again") from None
        if batch is None:
            break
        rows = batch.num_rows
        batch, problems = _valid_utf8(batch.append_column(_ROW, pa.array(range(done + 1, done + 1 + rows),
                                                                         pa.int64())))
        con.register("_snapshot", pa.Table.from_batches([batch]))
        table = con.sql(sql).to_arrow_table()
        con.unregister("_snapshot")
        table, bad = per_record(table.drop_columns("_slow"), table.column("_slow"))
        done += rows
        yield table.select(RAW_SCHEMA.names), sorted(problems + bad), done
    con.close()


def _lines(f) -> Iterator[bytes | None]:
    """The lines of binary file ``f``; one longer than :data:`MAX_LINE_BYTES` is None, its
    rest read past in bounded memory."""
    while line := f.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield line


def _blocks(f, batch_rows: int) -> Iterator[list[tuple[int, bytes | None]]]:
    """(line number, line) of binary file ``f`` in blocks of ``batch_rows`` lines or
    :data:`BATCH_BYTES`, whichever comes first; the last block may be empty."""
    block, size = [], 0
    for line_no, line in enumerate(_lines(f), 1):
        block.append((line_no, line))
        size += len(line) if line else 0
        if len(block) >= batch_rows or size >= BATCH_BYTES:
            yield block
            block, size = [], 0
    yield block


def _parse(block: list[tuple[int, bytes | None]], rows_read: int) -> Batch:
    """One block of JSONL lines as a batch of raw rows (``rows_read``: lines before it)."""
    rows: list[dict] = []
    problems: list[tuple[int, str]] = []
    for line_no, line in block:
        if line is None:
            problems.append((line_no, f"line longer than {MAX_LINE_BYTES:,} bytes (not read)"))
            continue
        if line_no == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if not line.strip():
            continue
        try:
            rows.append(to_raw(json.loads(line.decode("utf-8")), line_no))
        except UnicodeDecodeError as e:
            problems.append((line_no, f"not valid UTF-8 (byte {line[e.start]:#04x} at column {e.start + 1})"))
        except MalformedRecord as e:
            problems.append((line_no, str(e)))
        except RecursionError:
            problems.append((line_no, "not valid JSON (nested too deeply to read)"))
        except ValueError as e:
            problems.append((line_no, f"not valid JSON ({e})"))
    return raw_table(rows), problems, block[-1][0] if block else rows_read


def read_jsonl(path: str | Path, batch_rows: int = 50_000) -> Iterator[Batch]:
    """Batches of raw rows from a file of one JSON record per line (UTF-8, a leading byte
    order mark skipped); rows are line numbers. A line longer than :data:`MAX_LINE_BYTES`
    is a problem, never read whole. A file none of whose records has an id is one error,
    not a problem per line."""
    with open(path, "rb") as f:
        blocks = _blocks(f, batch_rows)
        batch, alone = _parse(next(blocks), 0), True
        for block in blocks:
            yield batch
            batch, alone = _parse(block, batch[2]), False
    table, problems, _ = batch
    if alone and not table.num_rows and problems and all(what == NO_ID for _, what in problems):
        raise ValueError(f"{path}: no record has a model id (fields {' / '.join(ALIASES['id'])}); "
                         f"expected Hub model records, one JSON object per line")
    yield batch


def read_records(records: list, start_row: int = 1) -> Batch:
    """In-memory API records (e.g. from the Hub client) as one batch of raw rows."""
    rows, problems = [], []
    for i, record in enumerate(records, start_row):
        try:
            rows.append(to_raw(record, i))
        except MalformedRecord as e:
            problems.append((i, str(e)))
    return raw_table(rows), problems, len(records)
