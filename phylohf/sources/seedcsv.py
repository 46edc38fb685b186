"""The CSV format of the paper's data release, as batches of raw rows.

Columns: ``model_id``; ``metadata`` (JSON of a ``huggingface_hub.ModelInfo`` dump,
snake_case, ``card_data`` as a YAML string); ``depth``; ``children`` (a Python list
literal of ``https://huggingface.co/<id>`` URLs, read with :func:`ast.literal_eval`,
which evaluates literals only); ``children_count``. The children list is kept in the
provenance record; lineage comes from each model's own declared parents.
"""
from __future__ import annotations

import ast
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from ..records import MalformedRecord, raw_table, to_raw
from .snapshot import Batch

REQUIRED = ("model_id", "metadata")


def _row_record(row: dict) -> dict:
    try:
        meta = json.loads(row["metadata"] or "{}")
    except ValueError as e:
        raise MalformedRecord(f"metadata is not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise MalformedRecord("metadata is not a JSON object")
    children = row.get("children") or "[]"
    try:
        children = ast.literal_eval(children)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise MalformedRecord("children is not a Python list literal") from None
    if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
        raise MalformedRecord("children is not a list of strings")
    meta.setdefault("id", row["model_id"])
    meta["children"] = children
    return meta


def read_seed_csv(path: str | Path, batch_rows: int = 50_000) -> Iterator[Batch]:
    """Batches of raw rows; a row's number is the CSV line on which it starts (header: line 1)."""
    csv.field_size_limit(sys.maxsize)
    rows: list[dict] = []
    problems: list[tuple[int, str]] = []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a seed CSV (missing columns {', '.join(missing)}; "
                             f"expected model_id, metadata, depth, children, children_count)")
        line, count = 1, 0
        try:
            for count, record in enumerate(reader, 1):
                try:
                    rows.append(to_raw(_row_record(record), line + 1))
                except MalformedRecord as e:
                    problems.append((line + 1, str(e)))
                line = reader.line_num
                if len(rows) >= batch_rows:
                    yield raw_table(rows), problems, count
                    rows, problems = [], []
        except csv.Error as e:
            problems.append((reader.line_num, f"unreadable CSV from here on ({e})"))
    yield raw_table(rows), problems, count
