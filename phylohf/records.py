"""Model records: the typed result of normalisation, and the raw row every source emits.

Every source (Hub listing, Parquet/JSONL snapshot, seed CSV, simulator) first turns its
input into *raw rows* with the columns of :data:`RAW_SCHEMA`; one vectorised SQL path
(:mod:`phylohf.normalize`) then turns batches of raw rows into normalised columns.
:func:`to_raw` is the per-record part for dict inputs: it maps key spellings
(camelCase API listings, snake_case ``ModelInfo`` dumps) and parses the odd fields
(card data given as a YAML string) that SQL cannot.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import yaml

_FENCE = re.compile(r"^\s*---\s*$", re.MULTILINE)

RELATIONS = ("finetune", "adapter", "quantized", "merge")
NO_DATE = -(2**63)     # a creation time (seconds since epoch) that is unknown

RAW_SCHEMA = pa.schema([
    ("row", pa.int64()),            # line / row number in the source, for error messages
    ("id", pa.string()),
    ("author", pa.string()),
    ("created_at", pa.string()),    # ISO-8601 text; SQL casts it
    ("last_modified", pa.string()),
    ("downloads", pa.int64()),
    ("likes", pa.int64()),
    ("library_name", pa.string()),
    ("pipeline_tag", pa.string()),
    ("tags", pa.list_(pa.string())),
    ("card_data", pa.string()),     # JSON object text
    ("config", pa.string()),        # JSON object text
    ("card", pa.string()),          # model-card body text, when fetched
    ("base_models", pa.string()),   # the Hub's own parents (``baseModels``: models, relation), JSON text
    ("fixes", pa.list_(pa.string())),  # repairs the reader already made (added to the model's fixes)
    ("raw", pa.string()),           # the record as received (JSON) less the card text, for provenance
])

# Accepted spellings of each raw field, first match wins (listing, ModelInfo, snapshots).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "modelId", "model_id"),
    "author": ("author",),
    "created_at": ("createdAt", "created_at"),
    "last_modified": ("lastModified", "last_modified"),
    "downloads": ("downloads",),
    "likes": ("likes",),
    "library_name": ("library_name", "libraryName"),
    "pipeline_tag": ("pipeline_tag", "pipelineTag"),
    "tags": ("tags",),
    "card_data": ("cardData", "card_data"),
    "config": ("config",),
    "card": ("card", "card_text", "cardText"),
    "base_models": ("baseModels", "base_models"),
}


class MalformedRecord(ValueError):
    """A record that cannot be normalised at all (not an object, no usable id)."""


@dataclass(frozen=True)
class ModelRecord:
    """One normalised model. ``parents`` are ``(parent_id, relation)`` pairs, primary first."""

    id: str
    author: str | None = None
    created_at: dt.datetime | None = None
    license: str | None = None
    license_name: str | None = None
    languages: tuple[str, ...] = ()
    multilingual: bool = False
    pipeline_tag: str | None = None
    library: str | None = None
    architecture: str | None = None
    datasets: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    parents: tuple[tuple[str, str], ...] = ()
    downloads: int | None = None
    likes: int | None = None
    card: str | None = None
    fixes: tuple[str, ...] = ()     # data problems repaired while normalising


def _first(d: dict, names: tuple[str, ...]) -> Any:
    for name in names:
        if d.get(name) is not None:
            return d[name]
    return None


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    return v if isinstance(v, str) else str(v)


def _int(v: Any) -> int | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _json_object(v: Any) -> str | None:
    """Card data / config as JSON text. A string may hold JSON or YAML (safe_load, front
    matter fences allowed); text that is neither is passed on for SQL to flag."""
    if v is None or v == "":
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            try:
                v = yaml.safe_load(_FENCE.sub("", v))
            except yaml.YAMLError:
                return v
    if hasattr(v, "to_dict"):           # huggingface_hub CardData
        v = v.to_dict()
    return json.dumps(v, default=str, ensure_ascii=False)


def to_raw(record: Any, row: int = 0) -> dict:
    """One API/ModelInfo dict -> one raw row (see :data:`RAW_SCHEMA`).

    Raises :class:`MalformedRecord` when the record is not an object or has no id.
    """
    if not isinstance(record, dict):
        raise MalformedRecord(f"expected a JSON object, got {type(record).__name__}")
    ident = _first(record, ALIASES["id"])
    if not isinstance(ident, str) or not ident.strip():
        raise MalformedRecord("record has no model id (fields id / modelId / model_id)")
    tags = record.get("tags")
    out = {
        "row": row,
        "id": ident,
        "author": _text(_first(record, ALIASES["author"])),
        "created_at": _text(_first(record, ALIASES["created_at"])),
        "last_modified": _text(_first(record, ALIASES["last_modified"])),
        "downloads": _int(_first(record, ALIASES["downloads"])),
        "likes": _int(_first(record, ALIASES["likes"])),
        "library_name": _text(_first(record, ALIASES["library_name"])),
        "pipeline_tag": _text(_first(record, ALIASES["pipeline_tag"])),
        "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        "card_data": _json_object(_first(record, ALIASES["card_data"])),
        "config": _json_object(_first(record, ALIASES["config"])),
        "card": _text(_first(record, ALIASES["card"])),
        "base_models": _json_object(_first(record, ALIASES["base_models"])),
        "raw": json.dumps({k: v for k, v in record.items() if k not in ALIASES["card"]},
                          default=str, ensure_ascii=False),
    }
    return out


def raw_table(rows: list[dict]) -> pa.Table:
    """Raw rows (from :func:`to_raw`) as an Arrow table of :data:`RAW_SCHEMA`."""
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
