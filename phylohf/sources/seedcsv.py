"""The CSV format of the paper's data release (its family crawls), as batches of raw rows.

Columns: ``model_id``; ``metadata`` (JSON of a ``huggingface_hub.ModelInfo`` dump,
snake_case or the older camelCase, ``card_data`` as a YAML string; ``N/A`` when the
crawler could not fetch the model); ``depth``; ``children`` (the crawl's finetune
children: a Python list literal of ``https://huggingface.co/<id>`` URLs, read with
:func:`ast.literal_eval`, which evaluates literals only, or a comma-separated string of
URLs); ``children_count``. The ``v2_datasets`` files add ``card`` (the model card text,
stored as the model's card), ``adapters``, ``quantized``, ``merges`` (URL lists like
``children``) and ``spaces`` (space ids), each with a ``_count``. A UTF-8 byte-order mark
is allowed.

Lineage comes from each model's own declared parents; the crawl's lists and counts are
provenance, kept in the raw record under ``seed_csv``. A bad list costs that list, not the
row (fix ``bad_seed_list``). A row whose metadata is ``N/A`` (or empty) still names a model
that exists on the Hub: it is stored with unknown traits (fix ``no_metadata``; it never
replaces a stored record that has metadata), and its parent is the row whose list names
it, with the list's relation (``children`` finetune, ``adapters`` adapter, ``quantized``,
``merges`` merge), given as the Hub's own resolution (raw column ``base_models``): the
crawl found it in the Hub's listing of that parent's children. A row whose metadata cannot
be read (not JSON, not an object, nested too deep, too large) is skipped with its row
number and the reason; the rest of the file still lands.
"""
from __future__ import annotations

import ast
import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from .records import MalformedRecord, raw_table, to_raw
from .snapshot import Batch

REQUIRED = ("model_id", "metadata")
LISTS = {"children": "finetune", "adapters": "adapter", "quantized": "quantized", "merges": "merge"}
NO_METADATA = ("", "N/A")
_URL_ID = re.compile(r"^\s*(?:https?://)?(?:www\.)?(?:(?:huggingface\.co|hf\.co)/)?(?:models/)?(.*?)/?\s*$", re.S)
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?")


def _bare_id(ref: str) -> str:
    """A model reference (id or Hub URL) as a bare id."""
    return _URL_ID.match(ref).group(1)


def _id_list(text: str | None, models: bool) -> list[str]:
    """A list cell: a Python list literal of strings or comma-separated values (Hub model ids
    or URLs when ``models``); raises :class:`ValueError` for anything else."""
    text = (text or "").strip()
    if not text.startswith("["):
        items = [s.strip() for s in text.split(",") if s.strip()]
    else:
        try:
            items = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ValueError("not a list literal") from None
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ValueError("not a list of strings")
        items = [s.strip() for s in items if s.strip()]
    if models and not all(_REPO_ID.fullmatch(_bare_id(s)) for s in items):
        raise ValueError("not a list of Hub model URLs")
    return items


def _reason(e: BaseException) -> str:
    """Why a row could not be read, in one line."""
    if isinstance(e, MalformedRecord):
        return str(e)
    if isinstance(e, RecursionError):
        return "metadata is nested too deeply to read"
    if isinstance(e, MemoryError):
        return "metadata is too large to read"
    if isinstance(e, ValueError):
        return f"metadata is not JSON ({str(e)[:200]})"
    return f"unreadable row ({type(e).__name__}: {str(e)[:200]})"


def _row_record(row: dict, listed: dict[str, tuple[str, str]]) -> tuple[dict, list[str], bool]:
    """(record for :func:`to_raw`, reader fixes, whether the row has no metadata); notes in
    ``listed`` the models this row's lists name."""
    text = (row.get("metadata") or "").strip()
    bare = text in NO_METADATA
    meta = {} if bare else json.loads(text)
    if not isinstance(meta, dict):
        raise MalformedRecord("metadata is not a JSON object")
    meta.setdefault("id", row["model_id"])
    fixes, crawl, own = [], {}, _bare_id(row["model_id"] or "")
    for column in (*LISTS, "spaces"):
        if row.get(column) is None:
            continue
        try:
            crawl[column] = _id_list(row[column], column in LISTS)
        except ValueError as e:
            fixes.append("bad_seed_list")
            crawl[column] = f"unreadable: {e}"
            continue
        for ref in crawl[column] if column in LISTS and own else ():
            listed.setdefault(_bare_id(ref).lower(), (own, LISTS[column]))
    crawl.update({k: row[k] for k in row if k and (k == "depth" or k.endswith("_count"))})
    meta["seed_csv"] = crawl
    card = (row.get("card") or "").strip()
    if card and card != "N/A":
        meta["card"] = row["card"]
    return meta, sorted(set(fixes)), bare


def read_seed_csv(path: str | Path, batch_rows: int = 50_000) -> Iterator[Batch]:
    """Batches of raw rows; a row's number is the CSV line on which it starts (header: line 1).

    Rows without metadata come in the last batch, once every list of the file is read.
    """
    csv.field_size_limit(sys.maxsize)
    rows: list[dict] = []
    bare: list[dict] = []
    problems: list[tuple[int, str]] = []
    listed: dict[str, tuple[str, str]] = {}
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a seed CSV (missing columns {', '.join(missing)}; "
                             f"expected model_id, metadata, depth, children, children_count)")
        line, count = 1, 0
        try:
            for count, record in enumerate(reader, 1):
                try:
                    meta, fixes, no_meta = _row_record(record, listed)
                    raw = to_raw(meta, line + 1)
                    raw["fixes"] = sorted(set(raw["fixes"] or []) | set(fixes)) or None
                    (bare if no_meta else rows).append(raw)
                except Exception as e:          # one bad row costs only that row
                    problems.append((line + 1, _reason(e)))
                line = reader.line_num
                if len(rows) >= batch_rows:
                    yield raw_table(rows), problems, count
                    rows, problems = [], []
        except csv.Error as e:
            problems.append((reader.line_num, f"unreadable CSV from here on ({e})"))
    for raw in bare:
        parent = listed.get(_bare_id(raw["id"]).lower())
        if parent:
            raw["base_models"] = json.dumps({"models": [{"id": parent[0]}], "relation": parent[1]})
    yield raw_table(rows + bare), problems, count
