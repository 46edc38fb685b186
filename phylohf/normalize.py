"""The one normalisation path: raw rows (any source) -> normalised columns, in DuckDB SQL.

Rules (they change numbers, so they are written down here):

* **id**: stripped of white space; a ``https://huggingface.co/`` (or ``hf.co``) prefix is removed.
* **parents**: card ``base_model`` (a string, or a list, nested one level at most;
  non-strings dropped) in card order, then ``base_model:<relation>:<id>`` and
  ``base_model:<id>`` tags; ids cleaned like the model id (URL prefix, whitespace,
  trailing ``/``), duplicates and self references dropped. The first parent is the
  *primary* parent. The relation of a parent is, first found: its
  ``base_model:<relation>:`` tag; the card's ``base_model_relation``; ``merge`` when
  there are several parents; ``adapter`` for PEFT models; ``quantized`` for GGUF,
  GPTQ, AWQ or EXL2 models; else ``finetune``.
* **license**: the card's ``license`` (first if a list), else the ``license:`` tag; lower case.
* **languages**: card ``language`` (string or list; any ISO 639-1/2/3 code, region
  subtags such as ``en-US`` cut) and language tags (ISO 639-1 two-letter codes, and
  ISO 639-3 three-letter codes except :data:`NOT_LANGUAGE_TAGS`), all mapped to the
  two-letter code where one exists; a sorted set. ``multilingual`` is a flag, not a code.
* **datasets**: card ``datasets`` and ``dataset:`` tags, a sorted set.
* **tags**: the remaining free tags (not license/dataset/base_model/region tags, not
  language codes, not the library, task or architecture), a sorted set.
* **architecture**: ``config.model_type``.
* **fixes**: the data problems repaired on the way (URL-form or padded parent ids,
  self references, card data that is not a JSON/YAML object, unreadable dates).
* Several rows with one id in a batch: the last one wins.
"""
from __future__ import annotations

import functools

import duckdb
import pyarrow as pa
import pycountry

from .records import ModelRecord, raw_table, to_raw

# ISO 639-3 codes that are common English words or ML jargon on Hub tags ("moe", "rag",
# "vit", "gan", ...): as *tags* they are not read as languages (a card's language field is).
NOT_LANGUAGE_TAGS = frozenset(
    "art bar bit bot cat dit gan law map med mit mix moe ner pal rag run sat tag vae vit web".split())

_CLEAN_ID = (r"nullif(regexp_replace(regexp_replace(strip({s}), "
             r"'^(https?://)?(www\.)?(huggingface\.co|hf\.co)/(models/)?', ''), '/+$', ''), '')")

MACROS = f"""
CREATE OR REPLACE TEMP MACRO strip(s) AS regexp_replace(s, '^\\s+|\\s+$', '', 'g');
CREATE OR REPLACE TEMP MACRO clean_id(s) AS {_CLEAN_ID.format(s='s')};
CREATE OR REPLACE TEMP MACRO json_strings(j) AS coalesce(CASE json_type(j)
    WHEN 'VARCHAR' THEN [j ->> '$']
    WHEN 'ARRAY' THEN flatten(list_transform(json_extract(j, '$[*]'), lambda e: CASE json_type(e)
        WHEN 'VARCHAR' THEN [e ->> '$']
        WHEN 'ARRAY' THEN list_transform(
            list_filter(json_extract(e, '$[*]'), lambda f: json_type(f) = 'VARCHAR'), lambda f: f ->> '$')
        ELSE [] END))
    END, []);
CREATE OR REPLACE TEMP MACRO json_object_or_null(s) AS
    CASE WHEN json_valid(s) THEN CASE WHEN json_type(s) = 'OBJECT' THEN s::JSON END END;
CREATE OR REPLACE TEMP MACRO set_of(l) AS list_sort(list_distinct(list_filter(l, lambda x: x IS NOT NULL AND x <> '')));
CREATE OR REPLACE TEMP MACRO text_of(s) AS nullif(lower(strip(s)), '');
"""

NORMALIZE = """
CREATE OR REPLACE TEMP TABLE _r AS
SELECT row, clean_id(id) AS id, strip(id) <> clean_id(id) AS id_fixed, author,
       TRY_CAST(created_at AS TIMESTAMPTZ)::TIMESTAMP AS created_at,
       created_at IS NOT NULL AND TRY_CAST(created_at AS TIMESTAMPTZ) IS NULL AS bad_date,
       TRY_CAST(last_modified AS TIMESTAMPTZ)::TIMESTAMP AS last_modified,
       downloads, likes, library_name, pipeline_tag, coalesce(tags, []) AS tags,
       json_object_or_null(card_data) AS cd,
       card_data IS NOT NULL AND json_object_or_null(card_data) IS NULL AS bad_card,
       json_object_or_null(config) AS cfg,
       card, raw
FROM raw
WHERE clean_id(id) IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY clean_id(id) ORDER BY row DESC) = 1;

CREATE OR REPLACE TEMP TABLE _lang AS
SELECT t.id, set_of(list(c.canon)) AS languages, list(DISTINCT t.tok) FILTER (t.src = 'tag') AS lang_tags
FROM (
    SELECT id, 'tag' AS src, unnest(list_filter(tags, lambda x: length(x) BETWEEN 2 AND 3)) AS tok FROM _r
    UNION ALL
    SELECT id, 'card' AS src, split_part(split_part(lower(strip(unnest(json_strings(cd -> 'language')))), '-', 1), '_', 1)
    FROM _r WHERE cd IS NOT NULL
) t JOIN lang_codes c ON c.code = t.tok AND (t.src = 'card' OR c.in_tags)
GROUP BY t.id;

CREATE OR REPLACE TEMP TABLE _p AS
SELECT id, tag_pairs, raw_parents, card_rel, list_filter(ids, lambda x, i: x IS NOT NULL AND list_position(ids, x) = i) AS ids
FROM (
    SELECT id, tag_pairs, raw_parents, card_rel,
           list_transform(card_parents, lambda s: clean_id(s)) || list_transform(tag_pairs, lambda q: q.id) AS ids
    FROM (
        SELECT id, card_parents, card_parents || tag_parents AS raw_parents,
               text_of(cd ->> 'base_model_relation') AS card_rel,
               list_transform(tag_parents, lambda s: CASE
                   WHEN regexp_matches(s, '^(finetune|adapter|quantized|merge):')
                   THEN {'id': clean_id(substr(s, strpos(s, ':') + 1)), 'rel': split_part(s, ':', 1)}
                   ELSE {'id': clean_id(s), 'rel': NULL} END) AS tag_pairs
        FROM (
            SELECT id, cd, json_strings(cd -> 'base_model') AS card_parents,
                   list_transform(list_filter(tags, lambda t: starts_with(t, 'base_model:')),
                                  lambda t: substr(t, 12)) AS tag_parents
            FROM _r
        )
    )
)
WHERE len(raw_parents) > 0;

SELECT r.row, r.id,
       coalesce(nullif(strip(r.author), ''), CASE WHEN contains(r.id, '/') THEN split_part(r.id, '/', 1) END) AS author,
       r.created_at, r.last_modified, r.downloads, r.likes,
       coalesce(text_of(json_strings(r.cd -> 'license')[1]),
                text_of(substr(list_filter(r.tags, lambda t: starts_with(t, 'license:'))[1], 9))) AS license,
       nullif(strip(r.cd ->> 'license_name'), '') AS license_name,
       coalesce(l.languages, []) AS languages,
       list_contains(r.tags, 'multilingual')
         OR list_contains(list_transform(json_strings(r.cd -> 'language'), lambda x: text_of(x)), 'multilingual') AS multilingual,
       coalesce(text_of(r.pipeline_tag), text_of(r.cd ->> 'pipeline_tag')) AS pipeline_tag,
       coalesce(text_of(r.library_name), text_of(r.cd ->> 'library_name')) AS library,
       text_of(r.cfg ->> 'model_type') AS architecture,
       set_of(list_transform(json_strings(r.cd -> 'datasets'), lambda x: strip(x))
              || list_transform(list_filter(r.tags, lambda t: starts_with(t, 'dataset:')), lambda t: strip(substr(t, 9))))
         AS datasets,
       set_of(list_filter(r.tags, lambda t: NOT regexp_matches(t, '^(license|dataset|base_model|region):')
              AND NOT list_contains(coalesce(l.lang_tags, []), t) AND t <> 'multilingual'
              AND t IS DISTINCT FROM text_of(r.library_name) AND t IS DISTINCT FROM text_of(r.pipeline_tag)
              AND t IS DISTINCT FROM text_of(r.cfg ->> 'model_type'))) AS tags,
       coalesce(list_transform(list_filter(p.ids, lambda x: x <> r.id), lambda x: {'id': x, 'relation': coalesce(
           list_filter(p.tag_pairs, lambda q: q.id = x AND q.rel IS NOT NULL)[1].rel,
           CASE WHEN p.card_rel IN ('finetune', 'adapter', 'quantized', 'merge') THEN p.card_rel END,
           CASE WHEN len(list_filter(p.ids, lambda y: y <> r.id)) > 1 THEN 'merge'
                WHEN text_of(r.library_name) IN ('peft', 'adapter-transformers') THEN 'adapter'
                WHEN text_of(r.library_name) = 'gguf' OR list_has_any(r.tags, ['gguf', 'gptq', 'awq', 'exl2']) THEN 'quantized'
                ELSE 'finetune' END)}), []) AS parents,
       r.card,
       list_filter([
           CASE WHEN r.id_fixed THEN 'url_id' END,
           CASE WHEN list_bool_or(list_transform(p.raw_parents, lambda s: regexp_matches(strip(s), '^(https?://|www\\.|huggingface\\.co/|hf\\.co/)'))) THEN 'url_parent' END,
           CASE WHEN list_bool_or(list_transform(p.raw_parents, lambda s: s <> strip(s))) THEN 'padded_parent' END,
           CASE WHEN list_contains(p.ids, r.id) THEN 'self_parent' END,
           CASE WHEN r.bad_card THEN 'bad_card_data' END,
           CASE WHEN r.bad_date THEN 'bad_date' END], lambda x: x IS NOT NULL) AS fixes,
       r.raw
FROM _r r LEFT JOIN _lang l USING (id) LEFT JOIN _p p USING (id)
ORDER BY r.row
"""


def _language_codes() -> pa.Table:
    """Every ISO 639 code -> its canonical form (two-letter where it exists)."""
    rows: dict[str, tuple[str, bool]] = {}
    for lang in pycountry.languages:
        canon = getattr(lang, "alpha_2", None) or lang.alpha_3
        for attr in ("alpha_3", "bibliographic", "alpha_2"):
            code = getattr(lang, attr, None)
            if code:
                in_tags = len(code) == 2 or (attr == "alpha_3" and code not in NOT_LANGUAGE_TAGS)
                rows[code] = (canon, in_tags or rows.get(code, ("", False))[1])
    return pa.table({"code": list(rows), "canon": [v[0] for v in rows.values()],
                     "in_tags": [v[1] for v in rows.values()]})


@functools.lru_cache(maxsize=1)
def language_codes() -> pa.Table:
    return _language_codes()


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Install the macros and the language-code table on a connection (idempotent)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute(MACROS)
    codes = language_codes()
    con.execute("CREATE OR REPLACE TEMP TABLE lang_codes AS SELECT * FROM codes")


def normalize_into(con: duckdb.DuckDBPyConnection, raw: pa.Table, table: str) -> None:
    """Normalise a batch of raw rows into the temporary table ``table``."""
    con.register("raw", raw)
    *setup, final = [s for s in NORMALIZE.split(";\n") if s.strip()]
    try:
        for statement in setup:
            con.execute(statement)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {final}")
    finally:
        con.execute("DROP TABLE IF EXISTS _r; DROP TABLE IF EXISTS _lang; DROP TABLE IF EXISTS _p")
        con.unregister("raw")


def normalize_batch(con: duckdb.DuckDBPyConnection, raw: pa.Table) -> pa.Table:
    """Normalise a batch of raw rows to an Arrow table."""
    normalize_into(con, raw, "_normalized")
    try:
        return con.sql("SELECT * FROM _normalized").to_arrow_table()
    finally:
        con.execute("DROP TABLE _normalized")


@functools.lru_cache(maxsize=1)
def _scratch() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    prepare(con)
    return con


def records_from(table: pa.Table) -> list[ModelRecord]:
    """Normalised Arrow rows -> :class:`ModelRecord` objects."""
    out = []
    for r in table.to_pylist():
        out.append(ModelRecord(
            id=r["id"], author=r["author"], created_at=r["created_at"], license=r["license"],
            license_name=r["license_name"], languages=tuple(r["languages"]),
            multilingual=bool(r["multilingual"]), pipeline_tag=r["pipeline_tag"],
            library=r["library"], architecture=r["architecture"], datasets=tuple(r["datasets"]),
            tags=tuple(r["tags"]), parents=tuple((p["id"], p["relation"]) for p in r["parents"]),
            downloads=r["downloads"], likes=r["likes"], card=r["card"], fixes=tuple(r["fixes"])))
    return out


def normalize(record: dict) -> ModelRecord:
    """One Hub API / ``ModelInfo`` dict -> one :class:`ModelRecord`, by the batch path."""
    con = _scratch().cursor()
    prepare(con)
    return records_from(normalize_batch(con, raw_table([to_raw(record)])))[0]
