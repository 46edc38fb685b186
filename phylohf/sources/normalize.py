"""The one normalisation path: raw rows (any source) -> normalised columns, in DuckDB SQL.

Rules (they change numbers, so they are written down here):

* **id**: stripped of white space; a ``https://huggingface.co/`` (or ``hf.co``) prefix is removed.
* **parents** follow the Hub's own rule, first source found:

  1. the Hub's resolution, ``baseModels`` (``{"models": [{"id": ...}], "relation": ...}``,
     from ``expand=baseModels`` or the hub-stats snapshot): its models, with its relation;
  2. the ``base_model:<relation>:<id>`` tags, in tag order, each with its relation;
  3. plain ``base_model:<id>`` tags (records without relation tags);
  4. the card's ``base_model`` (a string, or a list nested one level at most;
     non-strings dropped): every entry when ``base_model_relation: merge``, else only the
     first. Several card entries are a merge only when the card says so.

  When the Hub's resolution or its tags are present, the card's ``base_model`` list is not
  lineage: the Hub links the model to the parents it names and shows it under those only.
  Card entries they do not name are dropped (fix ``unlinked_card_parent``; the card data
  stays in the raw record). The first parent is the *primary* parent. Ids are cleaned like
  the model id (URL prefix, whitespace, trailing ``/``); self references and duplicates
  are dropped without regard to case (ids are case-insensitive on the Hub), the first
  spelling kept. The relation of a parent is, first found: its source's relation (the
  ``baseModels`` relation or the tag's); its ``base_model:<relation>:`` tag; the card's
  ``base_model_relation``; ``merge`` when there are several parents; ``adapter`` for
  PEFT models; ``quantized`` for GGUF, GPTQ, AWQ or EXL2 models; else ``finetune``.
  (References to other models are resolved without regard to case when the lineage
  is indexed, see :meth:`phylohf.store.database.Store.index_lineage`.)
* **license**: the card's ``license`` (first if a list), else the ``license:`` tag; lower
  case. The Hub's id ``unknown`` declares nothing: no license (fix ``unknown_license``).
* **languages**: card ``language`` (string or list; any ISO 639-1/2/3 code, region
  subtags such as ``en-US`` cut) and language tags (ISO 639-1 two-letter codes, and
  ISO 639-3 three-letter codes of living languages except :data:`NOT_LANGUAGE_TAGS`, and
  never the model's library or architecture), all mapped to the
  two-letter code where one exists; a sorted set. ``multilingual`` is a flag, not a code.
  **The language picker's list declares nothing**: the Hub's picker offers ISO 639-1
  codes alphabetically, beginning ``aa`` (Afar), ``ab`` (Abkhazian), ``ae`` (Avestan);
  cards that keep (part of) its list carry those first entries. Avestan is an extinct
  liturgical language that no model is trained for, and even the most multilingual
  speech models, which may list Afar and Abkhazian, leave it out: a model declaring
  ``ae`` together with ``aa`` or ``ab`` (:data:`PICKER_HEAD`) has no languages (fix
  ``language_picker``).
* **datasets**: card ``datasets`` and ``dataset:`` tags, a sorted set.
* **tags**: the remaining free tags (not license/dataset/base_model/region tags, not
  language codes, not the library, task or architecture), a sorted set.
* **architecture**: ``config.model_type``.
* **downloads_all_time**: ``downloadsAllTime``; **parameters**: ``safetensors.total``, else
  ``gguf.total``; **quantization**: the GGUF quantization types (:data:`QUANT_TYPE`, e.g.
  ``Q4_K_M``) named by the repository's ``.gguf`` files (``siblings``) or, for a GGUF
  model, by its id, a sorted set.
* **fixes**: the data problems repaired on the way (URL-form or padded parent ids,
  self references, parents listed twice in different case, card parents the Hub does
  not link, card data that is not a JSON/YAML object, unreadable dates, the ``unknown``
  license, the language picker's list, rows that carry no metadata at all but an id,
  ``no_metadata``), plus those the reader made (raw column ``fixes``, :data:`phylohf.sources.records.READ_FIXES`).
* Several rows with one id in a batch: the last one with metadata wins (the last one
  when none has any).
"""
from __future__ import annotations

import functools

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from .duck import connect
from .records import RELATIONS, ModelRecord, raw_table, to_raw

# ISO 639-3 codes that are also English words or ML jargon on Hub tags ("opt", "trl",
# "moe", "rag", "vit", ...): as *tags* they are not read as languages (in a card's
# language field they are). Three-letter tags must also name a living language.
NOT_LANGUAGE_TAGS = frozenset("""
    ant api app ars art asr aya bar bio bit bot byt cat cot cpu dit fin gan git her hop hub
    jax kto law lcm led llm mae map med mit mix mlx moe mpt mrc ner nli one opt orm pal pix pos
    ppo prm rag ray run sac sam sat sts tag tpu trl tts two vae vit wav web""".split())

# The first entries of the Hub's language picker (ISO 639-1, alphabetical): Avestan (ae)
# with either of the others marks a declaration copied from the picker.
PICKER_HEAD = ("aa", "ab", "ae")

_URL_PREFIX = r"'^(https?://)?(www\.)?(huggingface\.co|hf\.co)/(models/)?'"
_NEEDS_CLEANING = r"^\s|\s$|/$|\.co/"      # ids that clean_id would change
_RELATIONS_SQL = "(" + ", ".join(f"'{r}'" for r in RELATIONS) + ")"

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
CREATE OR REPLACE TEMP MACRO json_ids(j) AS coalesce(CASE json_type(j) WHEN 'ARRAY' THEN list_filter(
    list_transform(json_extract(j, '$[*]'), lambda e: CASE json_type(e)
        WHEN 'VARCHAR' THEN e ->> '$'
        WHEN 'OBJECT' THEN CASE WHEN json_type(e, '$.id') = 'VARCHAR' THEN e ->> '$.id' END END),
    lambda x: x IS NOT NULL) END, []);
CREATE OR REPLACE TEMP MACRO json_object_or_null(s) AS
    CASE WHEN json_valid(s) THEN CASE WHEN json_type(s) = 'OBJECT' THEN s::JSON END END;
CREATE OR REPLACE TEMP MACRO set_of(l) AS list_sort(list_distinct(list_filter(l, lambda x: x IS NOT NULL AND x <> '')));
CREATE OR REPLACE TEMP MACRO text_of(s) AS nullif(lower(trim(s)), '');
CREATE OR REPLACE TEMP MACRO parent_list(l, rel) AS list_filter(
    list_transform(l, lambda s: {{'id': clean_id(s), 'rel': rel::VARCHAR}}), lambda q: q.id IS NOT NULL);
"""

# A raw row that carries nothing but its id (and at most the Hub's parents): e.g. a seed-CSV
# row whose metadata is N/A. Such a row never replaces a row with metadata.
BARE = ("(created_at IS NULL AND last_modified IS NULL AND card_data IS NULL AND config IS NULL "
        "AND coalesce(len(tags), 0) = 0 AND library_name IS NULL AND pipeline_tag IS NULL "
        "AND downloads IS NULL AND likes IS NULL AND card IS NULL "
        "AND downloads_all_time IS NULL AND safetensors IS NULL AND gguf IS NULL)")

# The card-data fields read, in one JSON parse per record.
CARD_FIELDS = ("license", "license_name", "language", "datasets", "base_model",
               "base_model_relation", "pipeline_tag", "library_name")

# A GGUF quantization type (llama.cpp's names) in a file name or model id, between separators.
QUANT_TYPE = (r"(?i)(?:^|[^a-z0-9])"
              r"(IQ[1-4]_(?:XXS|XS|NL|S|M)|TQ[12]_0|Q[2-8]_K(?:_[SML])?|Q[4-8]_[01]|MXFP4|BF16|F16|F32)"
              r"(?:[^a-z0-9]|$)")

NORMALIZE = """
WITH _r AS MATERIALIZED (
SELECT * EXCLUDE (license0), CASE WHEN license0 IS DISTINCT FROM 'unknown' THEN license0 END AS license,
       license0 = 'unknown' AS unknown_license
FROM (
SELECT row, id, id_fixed, author, created_at, bad_date, last_modified, downloads, likes,
       coalesce(library_name, text_of(c[8] ->> '$')) AS library,
       coalesce(pipeline_tag, text_of(c[7] ->> '$')) AS pipeline_tag,
       tags, list_filter(tags, lambda t: contains(t, ':')) AS ptags,
       list_filter(tags, lambda t: NOT contains(t, ':')) AS ftags, bad_card, model_type,
       coalesce(text_of(json_strings(c[1])[1]),
                text_of(substr(list_filter(tags, lambda t: starts_with(t, 'license:'))[1], 9))) AS license0,
       nullif(strip(c[2] ->> '$'), '') AS c_license_name, c[3] AS c_language,
       c[4] AS c_datasets, c[5] AS c_base_model, text_of(c[6] ->> '$') AS c_relation, bm, pre_fixes, bare,
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
               CASE WHEN json_valid(base_models) THEN base_models::JSON END AS bm,
               coalesce(fixes, []) AS pre_fixes, {bare} AS bare,
               downloads_all_time, safetensors, gguf, gguf_files
        FROM (SELECT *, clean_id(id) AS cid FROM __ROWS__) WHERE cid IS NOT NULL
    )
))),

_lang AS MATERIALIZED (
SELECT t.row, set_of(list(c.canon)) AS languages, list(DISTINCT t.tok) FILTER (t.src = 'tag') AS lang_tags,
       bool_or(c.canon = 'ae') AND count(DISTINCT c.canon) FILTER (c.canon IN {picker}) >= 2 AS picker
FROM (
    SELECT row, 'tag' AS src, unnest(list_filter(ftags, lambda x: length(x) BETWEEN 2 AND 3
        AND x IS DISTINCT FROM library AND x IS DISTINCT FROM model_type)) AS tok FROM _r
    UNION ALL
    SELECT row, 'card' AS src, split_part(split_part(lower(strip(unnest(json_strings(c_language)))), '-', 1), '_', 1)
    FROM _r WHERE c_language IS NOT NULL
) t JOIN lang_codes c ON c.code = t.tok AND (t.src = 'card' OR c.in_tags)
GROUP BY t.row),

_p AS MATERIALIZED (
SELECT row, tag_list, parents, list_filter([
           CASE WHEN url THEN 'url_parent' END, CASE WHEN padded THEN 'padded_parent' END,
           CASE WHEN self THEN 'self_parent' END,
           CASE WHEN len(list_distinct(keys)) < len(list_distinct(list_transform(chosen, lambda q: q.id)))
                THEN 'case_duplicate_parent' END,
           CASE WHEN list_bool_or(list_transform(card_l, lambda q: NOT list_contains(keys, lower(q.id))))
                THEN 'unlinked_card_parent' END], lambda x: x IS NOT NULL) AS parent_fixes
FROM (
    SELECT *, list_filter(chosen, lambda q, i: list_position(keys, lower(q.id)) = i) AS parents
    FROM (
        SELECT *, list_transform(chosen, lambda q: lower(q.id)) AS keys
        FROM (
            SELECT row, tag_list, card_l, url, padded, self, CASE
                WHEN len(hub_l) > 0 THEN hub_l
                WHEN list_bool_or(list_transform(tag_l, lambda q: q.rel IS NOT NULL))
                    THEN list_filter(tag_l, lambda q: q.rel IS NOT NULL)
                WHEN len(tag_l) > 0 THEN tag_l
                WHEN c_relation = 'merge' THEN card_l
                ELSE card_l[1:1] END AS chosen
            FROM (
                SELECT row, tag_list, c_relation, url, padded,
                       list_bool_or(list_transform(hub_list || tag_list || card_list,
                                                   lambda q: lower(q.id) = lower(id))) AS self,
                       list_filter(hub_list, lambda q: lower(q.id) <> lower(id)) AS hub_l,
                       list_filter(tag_list, lambda q: lower(q.id) <> lower(id)) AS tag_l,
                       list_filter(card_list, lambda q: lower(q.id) <> lower(id)) AS card_l
                FROM (
                    SELECT row, id, c_relation,
                           parent_list(hub_parents, CASE WHEN hub_rel IN {relations} THEN hub_rel END) AS hub_list,
                           parent_list(card_parents, NULL) AS card_list,
                           list_filter(list_transform(tag_parents, lambda s: CASE
                               WHEN contains(s, ':') AND split_part(s, ':', 1) IN {relations}
                               THEN {{'id': clean_id(substr(s, strpos(s, ':') + 1)), 'rel': split_part(s, ':', 1)}}
                               ELSE {{'id': clean_id(s), 'rel': NULL}} END), lambda q: q.id IS NOT NULL) AS tag_list,
                           list_bool_or(list_transform(card_parents || tag_parents || hub_parents,
                               lambda s: regexp_matches(strip(s), '^(https?://|www\\.|huggingface\\.co/|hf\\.co/)')))
                               AS url,
                           list_bool_or(list_transform(card_parents || tag_parents || hub_parents,
                               lambda s: s <> strip(s))) AS padded
                    FROM (
                        SELECT row, id, c_relation, json_strings(c_base_model) AS card_parents,
                               list_transform(list_filter(ptags, lambda t: starts_with(t, 'base_model:')),
                                              lambda t: substr(t, 12)) AS tag_parents,
                               CASE json_type(bm) WHEN 'OBJECT' THEN json_ids(json_extract(bm, '$.models'))
                                   ELSE json_ids(bm) END AS hub_parents,
                               CASE WHEN json_type(bm) = 'OBJECT' THEN text_of(bm ->> '$.relation') END AS hub_rel
                        FROM _r WHERE c_base_model IS NOT NULL OR len(ptags) > 0 OR bm IS NOT NULL
                    )
                    WHERE len(card_parents) + len(tag_parents) + len(hub_parents) > 0
                )
            )
        )
    )
))

SELECT r.row, r.id,
       coalesce(nullif(strip(r.author), ''), CASE WHEN contains(r.id, '/') THEN split_part(r.id, '/', 1) END) AS author,
       r.created_at, r.last_modified, r.downloads, r.likes, r.license,
       r.c_license_name AS license_name,
       CASE WHEN l.picker THEN [] ELSE coalesce(l.languages, []) END AS languages,
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
       coalesce(list_transform(p.parents, lambda q: {{'id': q.id, 'relation': coalesce(
           q.rel,
           list_filter(p.tag_list, lambda t: lower(t.id) = lower(q.id) AND t.rel IS NOT NULL)[1].rel,
           CASE WHEN r.c_relation IN {relations} THEN r.c_relation END,
           CASE WHEN len(p.parents) > 1 THEN 'merge'
                WHEN r.library IN ('peft', 'adapter-transformers') THEN 'adapter'
                WHEN r.library = 'gguf' OR list_has_any(r.ftags, ['gguf', 'gptq', 'awq', 'exl2']) THEN 'quantized'
                ELSE 'finetune' END)}}), []) AS parents,
       CASE WHEN r.id_fixed OR r.bad_card OR r.bad_date OR r.unknown_license OR r.bare OR l.picker
                 OR len(p.parent_fixes) > 0 OR len(r.pre_fixes) > 0 THEN
           list_filter([CASE WHEN r.id_fixed THEN 'url_id' END], lambda x: x IS NOT NULL)
           || coalesce(p.parent_fixes, [])
           || list_filter([CASE WHEN r.bad_card THEN 'bad_card_data' END,
                           CASE WHEN r.bad_date THEN 'bad_date' END,
                           CASE WHEN r.unknown_license THEN 'unknown_license' END,
                           CASE WHEN l.picker THEN 'language_picker' END,
                           CASE WHEN r.bare THEN 'no_metadata' END], lambda x: x IS NOT NULL)
           || r.pre_fixes
       ELSE [] END AS fixes,
       r.downloads_all_time, r.parameters,
       set_of(list_transform(coalesce(r.gguf_files, [])
                                 || CASE WHEN r.library = 'gguf' OR list_contains(r.ftags, 'gguf') THEN [r.id] ELSE [] END,
                             lambda f: nullif(upper(regexp_extract(f, '{quant}', 1)), ''))) AS quantization
FROM _r r LEFT JOIN _lang l USING (row) LEFT JOIN _p p USING (row)
""".format(paths="[" + ", ".join(f"'$.{f}'" for f in CARD_FIELDS) + "]", bare=BARE,
           picker="(" + ", ".join(f"'{c}'" for c in PICKER_HEAD) + ")", relations=_RELATIONS_SQL, quant=QUANT_TYPE)


# One row per (cleaned) id: the last one with metadata, else the last one.
_LAST_OF_EACH_ID = f"""(SELECT * FROM raw WHERE clean_id(id) IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY clean_id(id) ORDER BY {BARE}, row DESC) = 1)"""


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
    con = connect()
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
