"""Model records: the typed result of normalisation, and the raw row every source emits.

Every source (Hub listing, Parquet/JSONL snapshot, seed CSV, simulator) first turns its
input into *raw rows* with the columns of :data:`RAW_SCHEMA`; one vectorised SQL path
(:mod:`phylohf.sources.normalize`) then turns batches of raw rows into normalised columns.
:func:`to_raw` is the per-record part for dict inputs: it maps key spellings
(camelCase API listings, snake_case ``ModelInfo`` dumps) and parses the odd fields
(card data given as a YAML string) that SQL cannot, and records what it repaired.

Hostile input costs at most its own record: what cannot be read safely (card data whose
YAML aliases expand beyond :data:`MAX_YAML_EXPANSION` or refer to themselves, nesting
deeper than the parsers recurse, text that is not valid Unicode) raises
:class:`MalformedRecord` with the reason, and the readers skip that row. Repairs are
listed in the raw column ``fixes`` (see :data:`READ_FIXES`).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:                  # both imported where records are read, not by readers of a store
    import pyarrow as pa
    import yaml

_FENCE = re.compile(r"^\s*---\s*$", re.MULTILINE)

RELATIONS = ("finetune", "adapter", "quantized", "merge")
NO_DATE = -(2**63)     # a creation time (seconds since epoch) that is unknown

MAX_PARENTS = 100           # declared parents kept per model (card list; base_model tags); real merges list < 10
MAX_YAML_CHARS = 1_000_000  # YAML card data longer than this is refused (real cards: < 60,000)
MAX_YAML_EXPANSION = 1_000_000  # YAML nodes + characters an alias-expanded document may add to its text
MAX_YAML_DEPTH = 200        # YAML card data nested deeper in brackets is refused

# Repairs made while reading a record (raw column ``fixes``; normalisation adds its own).
READ_FIXES = {
    "number_text": "downloads / likes given as text (parsed)",
    "bad_number": "downloads / likes that are not a finite integer (treated as unknown)",
    "tags_text": "tags given as one string (split on commas)",
    "bad_tags": "tags that are not strings (dropped)",
    "bad_parent": "base_model entries that are not strings (dropped)",
    "many_parents": f"more than {MAX_PARENTS} declared parents (the first {MAX_PARENTS} kept)",
}


@functools.cache
def _raw_schema() -> pa.Schema:
    import pyarrow as pa
    return pa.schema([
        ("row", pa.int64()),            # line / row number in the source, for error messages
        ("fixes", pa.list_(pa.string())),  # repairs made while reading (READ_FIXES)
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
        ("raw", pa.string()),           # the record as received (JSON) less the card text, for provenance
        ("downloads_all_time", pa.int64()),
        ("safetensors", pa.string()),   # JSON object text: {"parameters": {dtype: count}, "total": count}
        ("gguf", pa.string()),          # JSON object text: {"total", "architecture", "context_length", ...}
        ("gguf_files", pa.list_(pa.string())),  # the repository's .gguf file names (from ``siblings``)
    ])


def __getattr__(name: str):
    """:data:`RAW_SCHEMA`, built on first use: readers of a store never import pyarrow."""
    if name == "RAW_SCHEMA":
        return _raw_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
    "downloads_all_time": ("downloadsAllTime", "downloads_all_time"),
    "safetensors": ("safetensors",),
    "gguf": ("gguf",),
    "gguf_files": ("siblings",),
}


NO_ID = "record has no model id (fields id / modelId / model_id)"


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
    downloads_all_time: int | None = None
    parameters: int | None = None   # safetensors.total, else gguf.total
    quantization: tuple[str, ...] = ()  # GGUF quantization types (Q4_K_M, ...)


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


_INT64 = 2**63
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d{1,19}\s*")


def _int(v: Any, fixes: list[str]) -> int | None:
    """A count (downloads, likes): an integer, an integral float or integer text (fix
    ``number_text``); anything else, infinities and values beyond 64 bits included, is
    unknown (fix ``bad_number``)."""
    if v is None:
        return None
    if isinstance(v, str) and _INTEGER_TEXT.fullmatch(v):
        fixes.append("number_text")
        v = int(v)
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool) and -_INT64 <= v < _INT64:
        return v
    fixes.append("bad_number")
    return None


def tag_list(v: Any, fixes: list[str]) -> list[str]:
    """Tags: a list of strings (others dropped, fix ``bad_tags``), or one string split on
    commas (fix ``tags_text``); ``base_model`` tags of at most :data:`MAX_PARENTS` parents."""
    if v is None:
        return []
    if isinstance(v, str):
        fixes.append("tags_text")
        v = [t.strip() for t in v.split(",") if t.strip()]
    if not isinstance(v, list):
        fixes.append("bad_tags")
        return []
    tags = [t for t in v if isinstance(t, str)]
    if len(tags) < len(v):
        fixes.append("bad_tags")
    if sum(t.startswith("base_model:") for t in tags) > MAX_PARENTS:
        tags = _first_parents(tags)
        fixes.append("many_parents")
    return tags


def _first_parents(tags: list[str]) -> list[str]:
    """Tags with the ``base_model`` tags of parents after the first :data:`MAX_PARENTS` dropped."""
    kept: set[str] = set()
    out = []
    for t in tags:
        if t.startswith("base_model:"):
            relation, _, pid = t[11:].partition(":")
            pid = pid if relation in RELATIONS else t[11:]
            if pid not in kept and len(kept) >= MAX_PARENTS:
                continue
            kept.add(pid)
        out.append(t)
    return out


def _card_parents(card: Any, fixes: list[str]) -> Any:
    """Card data with a ``base_model`` list cut to :data:`MAX_PARENTS` (fix ``many_parents``);
    entries that are not strings (or lists of strings) noted as ``bad_parent``."""
    if not isinstance(card, dict) or card.get("base_model") is None:
        return card
    bm = card["base_model"]
    if isinstance(bm, str):
        return card
    if not isinstance(bm, list) or not all(
            isinstance(b, str) or isinstance(b, list) and all(isinstance(c, str) for c in b) for b in bm):
        fixes.append("bad_parent")
    if isinstance(bm, list) and len(bm) > MAX_PARENTS:
        fixes.append("many_parents")
        card = {**card, "base_model": bm[:MAX_PARENTS]}
    return card


def _expanded_size(root: yaml.Node, limit: int, what: str) -> None:
    """Raise unless the composed YAML document, every alias expanded, stays within ``limit``
    nodes plus scalar characters (computed once per node, without expanding anything)."""
    import yaml
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            kids = []
        elif isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        else:
            kids = node.value
        if closing:
            open_.discard(key)
            size[key] = 1 + (len(node.value) if not kids and isinstance(node.value, str)
                             else sum(size[id(k)] for k in kids))
            if size[key] > limit:
                raise MalformedRecord(f"{what} refused: YAML aliases expand too far (beyond {limit:,} "
                                      f"nodes and characters: an alias bomb)")
        elif key not in size:
            if key in open_:
                raise MalformedRecord(f"{what} refused: a YAML alias refers to itself")
            open_.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)


def _bracket_depth(text: str) -> int:
    """The deepest nesting of ``[ {`` brackets in ``text`` (quoted ones counted too: an upper bound)."""
    if text.count("[") + text.count("{") <= MAX_YAML_DEPTH:
        return 0
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    step = np.isin(codes, (91, 123)).astype(np.int32) - np.isin(codes, (93, 125))
    return int(np.cumsum(step).max())


def _yaml(text: str, what: str) -> Any:
    """``yaml.safe_load`` with aliases expanded at most :data:`MAX_YAML_EXPANSION` beyond the
    text and the text at most :data:`MAX_YAML_CHARS`; raises :class:`MalformedRecord` for
    what would exhaust memory or the stack, :class:`yaml.YAMLError` for text that is not YAML."""
    if len(text) > MAX_YAML_CHARS:
        raise MalformedRecord(f"{what} refused: YAML too long ({len(text):,} characters, at most {MAX_YAML_CHARS:,})")
    if _bracket_depth(text) > MAX_YAML_DEPTH:         # the parser would take seconds to find out
        raise MalformedRecord(f"{what} is nested too deeply to read")
    import yaml
    loader = yaml.SafeLoader(_FENCE.sub("", text))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, len(text) + MAX_YAML_EXPANSION, what)
        return loader.construct_document(node)
    except RecursionError:
        raise MalformedRecord(f"{what} is nested too deeply to read") from None
    finally:
        loader.dispose()


def _parsed(v: Any, what: str) -> Any:
    """Card data / config given as text: JSON, else YAML (front matter fences allowed);
    text that is neither is returned as it is, for SQL to flag."""
    if not isinstance(v, str):
        return v.to_dict() if hasattr(v, "to_dict") else v      # huggingface_hub CardData
    try:
        return json.loads(v)
    except RecursionError:
        raise MalformedRecord(f"{what} is nested too deeply to read") from None
    except ValueError:
        pass
    import yaml
    try:
        return _yaml(v, what)
    except MalformedRecord:
        raise
    except (yaml.YAMLError, ValueError, TypeError):     # not YAML, or values the constructor rejects
        return v


def _dumps(v: Any, what: str) -> str:
    try:
        return json.dumps(v, default=str, ensure_ascii=False)
    except RecursionError:
        raise MalformedRecord(f"{what} is nested too deeply to read") from None
    except ValueError as e:         # circular references of in-memory records
        raise MalformedRecord(f"{what} cannot be written as JSON ({e})") from None


def _json_object(v: Any, what: str = "config") -> str | None:
    """Card data / config as JSON text (see :func:`_parsed`)."""
    return None if v is None or v == "" else _dumps(_parsed(v, what), what)


def card_data(v: Any, fixes: list[str]) -> str | None:
    """Card data as JSON text, its parents checked (see :func:`_card_parents`)."""
    if v is None or v == "":
        return None
    return _dumps(_card_parents(_parsed(v, "card data"), fixes), "card data")


def _unicode_error(record: dict) -> str | None:
    """The field of ``record`` holding text that is not valid Unicode (a lone surrogate), if any."""
    for key, value in record.items():
        try:
            json.dumps({key: value}, default=str, ensure_ascii=False).encode()
        except UnicodeEncodeError as e:
            return f"text is not valid Unicode (field {key!r}: lone surrogate {e.object[e.start]!r})"
    return None


class Unreadable:
    """An element of a JSON list that could not be parsed; :func:`to_raw` rejects it with ``reason``."""

    def __init__(self, reason: str):
        self.reason = reason


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def json_body(text: str) -> Any:
    """A JSON document (e.g. a Hub listing page). A list whose elements are nested too deeply
    for the parser is split, element by element, without recursion: those elements become
    :class:`Unreadable` (one bad record costs itself, not the page). Raises ``ValueError``
    for text that is not JSON, or a single object nested too deeply."""
    try:
        return json.loads(text)
    except RecursionError:
        if not text.lstrip().startswith("["):
            raise ValueError("JSON nested too deeply to read") from None
    items, depth, start = [], 0, None
    for token in _JSON_TOKEN.finditer(text):
        t = token.group()
        if t in "[{":
            depth += 1
            if depth == 1:
                start = token.end()
        elif t in "]}":
            depth -= 1
        if depth == 1 and t == "," or depth == 0 and t == "]":
            items.append(text[start:token.start()])
            start = token.end()
    if depth or start is None:
        raise ValueError("a JSON list nested too deeply, and not well formed")
    out = []
    for item in items:
        try:
            out.append(json.loads(item))
        except RecursionError:
            out.append(Unreadable("record nested too deeply to read"))
        except ValueError as e:
            out.append(Unreadable(f"not valid JSON ({e})"))
    return out


def _gguf_files(siblings: Any) -> list[str]:
    """The ``.gguf`` file names of a ``siblings`` list (``[{"rfilename": ...}]``)."""
    if not isinstance(siblings, list):
        return []
    names = (s.get("rfilename") if isinstance(s, dict) else getattr(s, "rfilename", None) for s in siblings)
    return [n for n in names if isinstance(n, str) and n.lower().endswith(".gguf")]


def to_raw(record: Any, row: int = 0) -> dict:
    """One API/ModelInfo dict -> one raw row (see :data:`RAW_SCHEMA`), its repairs in ``fixes``.

    Raises :class:`MalformedRecord` when the record is not an object, has no id or cannot
    be read safely (see the module docstring).
    """
    if isinstance(record, Unreadable):
        raise MalformedRecord(record.reason)
    if not isinstance(record, dict):
        raise MalformedRecord(f"expected a JSON object, got {type(record).__name__}")
    ident = _first(record, ALIASES["id"])
    if not isinstance(ident, str) or not ident.strip():
        raise MalformedRecord(NO_ID)
    fixes: list[str] = []
    out = {
        "row": row,
        "id": ident,
        "author": _text(_first(record, ALIASES["author"])),
        "created_at": _text(_first(record, ALIASES["created_at"])),
        "last_modified": _text(_first(record, ALIASES["last_modified"])),
        "downloads": _int(_first(record, ALIASES["downloads"]), fixes),
        "likes": _int(_first(record, ALIASES["likes"]), fixes),
        "library_name": _text(_first(record, ALIASES["library_name"])),
        "pipeline_tag": _text(_first(record, ALIASES["pipeline_tag"])),
        "tags": tag_list(record.get("tags"), fixes),
        "card_data": card_data(_first(record, ALIASES["card_data"]), fixes),
        "config": _json_object(_first(record, ALIASES["config"])),
        "card": _text(_first(record, ALIASES["card"])),
        "base_models": _json_object(_first(record, ALIASES["base_models"]), "baseModels"),
        "raw": _dumps({k: v for k, v in record.items() if k not in ALIASES["card"]}, "record"),
        "downloads_all_time": _int(_first(record, ALIASES["downloads_all_time"]), fixes),
        "safetensors": _json_object(record.get("safetensors"), "safetensors"),
        "gguf": _json_object(record.get("gguf"), "gguf"),
        "gguf_files": _gguf_files(record.get("siblings")),
    }
    out["fixes"] = sorted(set(fixes)) or None
    try:
        out["raw"].encode()
        out["card"] and out["card"].encode()
    except UnicodeEncodeError:
        raise MalformedRecord(_unicode_error(record) or "text is not valid Unicode") from None
    return out


def raw_table(rows: list[dict]) -> pa.Table:
    """Raw rows (from :func:`to_raw`) as an Arrow table of :data:`RAW_SCHEMA`."""
    import pyarrow as pa
    return pa.Table.from_pylist(rows, schema=_raw_schema())
