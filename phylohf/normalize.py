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
  ISO 639-3 three-letter codes of living languages except :data:`NOT_LANGUAGE_TAGS`, and
  never the model's library or architecture), all mapped to the
  two-letter code where one exists; a sorted set. ``multilingual`` is a flag, not a code.
* **datasets**: card ``datasets`` and ``dataset:`` tags, a sorted set.
* **tags**: the remaining free tags (not license/dataset/base_model/region tags, not
  language codes, not the library, task or architecture), a sorted set.
* **architecture**: ``config.model_type``.
* **downloads_all_time**: ``downloadsAllTime``; **parameters**: ``safetensors.total``, else
  ``gguf.total``; **quantization**: the GGUF quantization types (:data:`QUANT_TYPE`, e.g.
  ``Q4_K_M``) named by the repository's ``.gguf`` files (``siblings``) or, for a GGUF
  model, by its id, a sorted set.
* **fixes**: the data problems repaired on the way (URL-form or padded parent ids,
  self references, card data that is not a JSON/YAML object, unreadable dates), after
  those the reader made (raw column ``fixes``, :data:`phylohf.records.READ_FIXES`).
* Several rows with one id in a batch: the last one wins.
"""
from __future__ import annotations

import functools

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from .records import ModelRecord, raw_table, to_raw

# ISO 639-3 codes that are also English words or ML jargon on Hub tags ("opt", "trl",
# "moe", "rag", "vit", ...): as *tags* they are not read as languages (in a card's
# language field they are). Three-letter tags must also name a living language.
NOT_LANGUAGE_TAGS = frozenset("""
    ant api app ars art asr aya bar bio bit bot byt cat cot cpu dit fin gan git her hop hub
    jax kto law lcm led llm mae map med mit mix mlx moe mpt mrc ner nli one opt orm pal pix pos
    ppo prm rag ray run sac sam sat sts tag tpu trl tts two vae vit wav web""".split())

_URL_PREFIX = r"'^(https?://)?(www\.)?(huggingface\.co|hf\.co)/(models/)?'"
_NEEDS_CLEANING = r"^\s|\s$|/$|\.co/"      # ids that clean_id would change

MACROS = f"""
CREATE OR REPLACE TEMP MACRO strip(s) AS trim(s, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13));
CREATE OR REPLACE TEMP MACRO clean_id(s) AS CASE WHEN regexp_matches(s, '{_NEEDS_CLEANING}')
    THEN nullif(rtrim(regexp_replace(strip(s), {_URL_PREFIX}, ''), '/'), '') ELSE nullif(s, '') END;
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
CREATE OR REPLACE TEMP MACRO text_of(s) AS nullif(lower(trim(s)), '');
"""

# The card-data fields read, in one JSON parse per record.
CARD_FIELDS = ("license", "license_name", "language", "datasets", "base_model",
               "base_model_relation", "pipeline_tag", "library_name")

# A GGUF quantization type (llama.cpp's names) in a file name or model id, between separators.
QUANT_TYPE = (r"(?i)(?:^|[^a-z0-9])"
              r"(IQ[1-4]_(?:XXS|XS|NL|S|M)|TQ[12]_0|Q[2-8]_K(?:_[SML])?|Q[4-8]_[01]|MXFP4|BF16|F16|F32)"
              r"(?:[^a-z0-9]|$)")

NORMALIZE = """
WITH _r AS MATERIALIZED (
SELECT row, id, id_fixed, author, created_at, bad_date, last_modified, downloads, likes,
       coalesce(library_name, text_of(c[8] ->> '$')) AS library,
       coalesce(pipeline_tag, text_of(c[7] ->> '$')) AS pipeline_tag,
       tags, list_filter(tags, lambda t: contains(t, ':')) AS ptags,
       list_filter(tags, lambda t: NOT contains(t, ':')) AS ftags, bad_card, model_type,
       c[1] AS c_license, nullif(strip(c[2] ->> '$'), '') AS c_license_name, c[3] AS c_language,
       c[4] AS c_datasets, c[5] AS c_base_model, text_of(c[6] ->> '$') AS c_relation,
       downloads_all_time, gguf_files,
       coalesce(TRY_CAST(json_extract_string(json_object_or_null(safetensors), '$.total') AS BIGINT),
                TRY_CAST(json_extract_string(json_object_or_null(gguf), '$.total') AS BIGINT)) AS parameters
FROM (
    SELECT *, CASE WHEN NOT bad_card THEN json_extract(card_data, {paths}) END AS c
    FROM (
        SELECT row, cid AS id, strip(id) <> cid AS id_fixed, author,
               TRY_CAST(created_at AS TIMESTAMPTZ)::TIMESTAMP AS created_at,
               created_at IS NOT NULL AND TRY_CAST(created_at AS TIMESTAMPTZ) IS NULL AS bad_date,
               TRY_CAST(last_modified AS TIMESTAMPTZ)::TIMESTAMP AS last_modified,
               downloads, likes, text_of(library_name) AS library_name, text_of(pipeline_tag) AS pipeline_tag,
               coalesce(tags, []) AS tags, card_data,
               card_data IS NOT NULL AND json_object_or_null(card_data) IS NULL AS bad_card,
               text_of(json_extract_string(json_object_or_null(config), '$.model_type')) AS model_type,
               downloads_all_time, safetensors, gguf, gguf_files
        FROM (SELECT *, clean_id(id) AS cid FROM __ROWS__) WHERE cid IS NOT NULL
    )
)),

_lang AS MATERIALIZED (
SELECT t.row, set_of(list(c.canon)) AS languages, list(DISTINCT t.tok) FILTER (t.src = 'tag') AS lang_tags
FROM (
    SELECT row, 'tag' AS src, unnest(list_filter(ftags, lambda x: length(x) BETWEEN 2 AND 3
        AND x IS DISTINCT FROM library AND x IS DISTINCT FROM model_type)) AS tok FROM _r
    UNION ALL
    SELECT row, 'card' AS src, split_part(split_part(lower(strip(unnest(json_strings(c_language)))), '-', 1), '_', 1)
    FROM _r WHERE c_language IS NOT NULL
) t JOIN lang_codes c ON c.code = t.tok AND (t.src = 'card' OR c.in_tags)
GROUP BY t.row),

_p AS MATERIALIZED (
SELECT row, tag_pairs, list_filter(ids, lambda x, i: x IS NOT NULL AND x <> id AND list_position(ids, x) = i) AS ids,
       list_filter([
           CASE WHEN list_bool_or(list_transform(raw_parents, lambda s: regexp_matches(strip(s),
               '^(https?://|www\\.|huggingface\\.co/|hf\\.co/)'))) THEN 'url_parent' END,
           CASE WHEN list_bool_or(list_transform(raw_parents, lambda s: s <> strip(s))) THEN 'padded_parent' END,
           CASE WHEN list_contains(ids, id) THEN 'self_parent' END], lambda x: x IS NOT NULL) AS parent_fixes
FROM (
    SELECT row, id, tag_pairs, raw_parents,
           list_transform(card_parents, lambda s: clean_id(s)) || list_transform(tag_pairs, lambda q: q.id) AS ids
    FROM (
        SELECT row, id, card_parents, card_parents || tag_parents AS raw_parents,
               list_transform(tag_parents, lambda s: CASE
                   WHEN contains(s, ':') AND split_part(s, ':', 1) IN ('finetune', 'adapter', 'quantized', 'merge')
                   THEN {{'id': clean_id(substr(s, strpos(s, ':') + 1)), 'rel': split_part(s, ':', 1)}}
                   ELSE {{'id': clean_id(s), 'rel': NULL}} END) AS tag_pairs
        FROM (
            SELECT row, id, json_strings(c_base_model) AS card_parents,
                   list_transform(list_filter(ptags, lambda t: starts_with(t, 'base_model:')),
                                  lambda t: substr(t, 12)) AS tag_parents
            FROM _r WHERE c_base_model IS NOT NULL OR len(ptags) > 0
        )
        WHERE len(card_parents) + len(tag_parents) > 0
    )
))

SELECT r.row, r.id,
       coalesce(nullif(strip(r.author), ''), CASE WHEN contains(r.id, '/') THEN split_part(r.id, '/', 1) END) AS author,
       r.created_at, r.last_modified, r.downloads, r.likes,
       coalesce(text_of(json_strings(r.c_license)[1]),
                text_of(substr(list_filter(r.ptags, lambda t: starts_with(t, 'license:'))[1], 9))) AS license,
       r.c_license_name AS license_name,
       coalesce(l.languages, []) AS languages,
       list_contains(r.ftags, 'multilingual')
         OR list_contains(list_transform(json_strings(r.c_language), lambda x: text_of(x)), 'multilingual') AS multilingual,
       r.pipeline_tag, r.library, r.model_type AS architecture,
       set_of(list_transform(json_strings(r.c_datasets), lambda x: strip(x))
              || list_transform(list_filter(r.ptags, lambda t: starts_with(t, 'dataset:')), lambda t: strip(substr(t, 9))))
         AS datasets,
       set_of(list_filter(CASE WHEN l.lang_tags IS NULL THEN r.ftags
                               ELSE list_filter(r.ftags, lambda t: NOT list_contains(l.lang_tags, t)) END,
                          lambda t: t <> 'multilingual' AND t IS DISTINCT FROM r.library
                              AND t IS DISTINCT FROM r.pipeline_tag AND t IS DISTINCT FROM r.model_type)
              || list_filter(r.ptags, lambda t: split_part(t, ':', 1) NOT IN ('license', 'dataset', 'base_model', 'region')))
         AS tags,
       coalesce(list_transform(p.ids, lambda x: {{'id': x, 'relation': coalesce(
           list_filter(p.tag_pairs, lambda q: q.id = x AND q.rel IS NOT NULL)[1].rel,
           CASE WHEN r.c_relation IN ('finetune', 'adapter', 'quantized', 'merge') THEN r.c_relation END,
           CASE WHEN len(p.ids) > 1 THEN 'merge'
                WHEN r.library IN ('peft', 'adapter-transformers') THEN 'adapter'
                WHEN r.library = 'gguf' OR list_has_any(r.ftags, ['gguf', 'gptq', 'awq', 'exl2']) THEN 'quantized'
                ELSE 'finetune' END)}}), []) AS parents,
       CASE WHEN r.id_fixed OR r.bad_card OR r.bad_date OR len(p.parent_fixes) > 0 THEN
           list_filter([CASE WHEN r.id_fixed THEN 'url_id' END], lambda x: x IS NOT NULL)
           || coalesce(p.parent_fixes, [])
           || list_filter([CASE WHEN r.bad_card THEN 'bad_card_data' END,
                           CASE WHEN r.bad_date THEN 'bad_date' END], lambda x: x IS NOT NULL)
       ELSE [] END AS fixes,
       r.downloads_all_time, r.parameters,
       set_of(list_transform(coalesce(r.gguf_files, [])
                                 || CASE WHEN r.library = 'gguf' OR list_contains(r.ftags, 'gguf') THEN [r.id] ELSE [] END,
                             lambda f: nullif(upper(regexp_extract(f, '{quant}', 1)), ''))) AS quantization
FROM _r r LEFT JOIN _lang l USING (row) LEFT JOIN _p p USING (row)
""".format(paths="[" + ", ".join(f"'$.{f}'" for f in CARD_FIELDS) + "]", quant=QUANT_TYPE)


_LAST_OF_EACH_ID = """(SELECT * FROM raw WHERE row IN (
    SELECT max(row) FROM raw WHERE clean_id(id) IS NOT NULL GROUP BY clean_id(id)))"""


@functools.lru_cache(maxsize=1)
def language_codes() -> pa.Table:
    """Every ISO 639 code -> its canonical form (two-letter where it exists)."""
    rows: dict[str, tuple[str, bool]] = {}
    for lang in pycountry.languages:
        canon = getattr(lang, "alpha_2", None) or lang.alpha_3
        for attr in ("alpha_3", "bibliographic", "alpha_2"):
            code = getattr(lang, attr, None)
            if code:
                in_tags = len(code) == 2 or (attr == "alpha_3" and getattr(lang, "type", "") == "L"
                                             and code not in NOT_LANGUAGE_TAGS)
                rows[code] = (canon, in_tags or rows.get(code, ("", False))[1])
    return pa.table({"code": list(rows), "canon": [v[0] for v in rows.values()],
                     "in_tags": [v[1] for v in rows.values()]})


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Install the macros and the language-code table on a connection (idempotent)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute(MACROS)
    codes = language_codes()
    con.execute("CREATE OR REPLACE TEMP TABLE lang_codes AS SELECT * FROM codes")


def _has_duplicate_ids(raw: pa.Table) -> bool:
    """Whether two rows could share a (cleaned) id: repeated ids, or ids that need cleaning."""
    ids = raw.column("id")
    return (pc.count_distinct(ids).as_py() < len(ids) - ids.null_count
            or pc.any(pc.match_substring_regex(ids, _NEEDS_CLEANING)).as_py() or False)


def normalize_into(con: duckdb.DuckDBPyConnection, raw: pa.Table, table: str) -> None:
    """Normalise a batch of raw rows into the temporary table ``table`` (one SQL query)."""
    rows = _LAST_OF_EACH_ID if _has_duplicate_ids(raw) else "raw"
    con.register("raw", raw)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {NORMALIZE.replace('__ROWS__', rows)}")
        if raw.column("fixes").null_count < len(raw):      # repairs made while reading
            con.execute(f"UPDATE {table} t SET fixes = t.fixes || r.fixes FROM raw r "
                        "WHERE r.row = t.row AND r.fixes IS NOT NULL")
    finally:
        con.unregister("raw")


def normalize_batch(con: duckdb.DuckDBPyConnection, raw: pa.Table) -> pa.Table:
    """Normalise a batch of raw rows to an Arrow table."""
    normalize_into(con, raw, "_normalized")
    try:
        con.register("raw", raw)
        return con.sql("SELECT n.*, r.card FROM _normalized n JOIN raw r USING (row)").to_arrow_table()
    finally:
        con.unregister("raw")
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
            downloads=r["downloads"], likes=r["likes"], card=r["card"], fixes=tuple(r["fixes"]),
            downloads_all_time=r["downloads_all_time"], parameters=r["parameters"],
            quantization=tuple(r["quantization"])))
    return out


def normalize(record: dict) -> ModelRecord:
    """One Hub API / ``ModelInfo`` dict -> one :class:`ModelRecord`, by the batch path."""
    return records_from(normalize_batch(_scratch(), raw_table([to_raw(record)])))[0]
