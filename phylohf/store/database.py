"""The DuckDB store: normalised models (lists as list columns) plus raw records, upserted by id.

One file, embedded and ACID. Every batch is normalised and upserted in one transaction,
so a killed ingest loses nothing already committed. Analyses read columns out as
Arrow/numpy; nodes are numbered by sorted model id (:meth:`Store.index_lineage`), the
index that lineage and genome arrays share. Card text and raw records are compressed with
zstd: DuckDB's default for strings (FSST) writes them about 6x slower, into a store 2-2.6x larger.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..sources.records import NO_DATE, RELATIONS

if TYPE_CHECKING:                  # DuckDB is imported when a store is opened, pyarrow when written
    import duckdb
    import pyarrow as pa

DEFAULT_STORE = "phylohf.duckdb"

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id VARCHAR NOT NULL, author VARCHAR, created_at TIMESTAMP, last_modified TIMESTAMP,
    downloads BIGINT, likes BIGINT, license VARCHAR, license_name VARCHAR,
    languages VARCHAR[], multilingual BOOLEAN, pipeline_tag VARCHAR, library VARCHAR,
    architecture VARCHAR, datasets VARCHAR[], tags VARCHAR[],
    parents STRUCT(id VARCHAR, relation VARCHAR)[], fixes VARCHAR[], card VARCHAR USING COMPRESSION zstd,
    raw JSON USING COMPRESSION zstd, source VARCHAR, "row" BIGINT, ingested_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS problems (
    source VARCHAR, "row" BIGINT, id VARCHAR, problem VARCHAR, noted_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS ingests (
    source VARCHAR, started TIMESTAMP, finished TIMESTAMP, rows_read BIGINT,
    rows_stored BIGINT, rows_skipped BIGINT);
CREATE TABLE IF NOT EXISTS crawls (
    crawl VARCHAR, root VARCHAR, cursor VARCHAR, fetched BIGINT, started TIMESTAMP, finished TIMESTAMP);
CREATE TABLE IF NOT EXISTS crawl_frontier (crawl VARCHAR, id VARCHAR, depth INTEGER, done BOOLEAN);
ALTER TABLE models ADD COLUMN IF NOT EXISTS downloads_all_time BIGINT;
ALTER TABLE models ADD COLUMN IF NOT EXISTS parameters BIGINT;
ALTER TABLE models ADD COLUMN IF NOT EXISTS quantization VARCHAR[];
"""

COLUMNS = ("id, author, created_at, last_modified, downloads, likes, license, license_name, "
           "languages, multilingual, pipeline_tag, library, architecture, datasets, tags, "
           "parents, fixes")


ADDED = "downloads_all_time, parameters, quantization"     # columns added later, at the end of the table


def problem_statement(source: str, rows: list | None, ids: list | None, problems: list[str]
                      ) -> tuple[str, list]:
    """(SQL, parameters) recording problems of ``source`` by row and/or model id; a problem
    already recorded (same source, row, id and text) is not added again, so reruns and
    resumed ingests leave the table as one run does."""
    n = len(problems)
    return ("""INSERT INTO problems SELECT DISTINCT $1, r, i, p, now() FROM (
                   SELECT unnest($2::BIGINT[]) AS r, unnest($3::VARCHAR[]) AS i, unnest($4::VARCHAR[]) AS p) n
               WHERE NOT EXISTS (SELECT 1 FROM problems o WHERE o.source = $1 AND o."row" IS NOT DISTINCT FROM n.r
                                 AND o.id IS NOT DISTINCT FROM n.i AND o.problem = n.p)""",
            [source, rows or [None] * n, ids or [None] * n, problems])


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says what to do."""


def default_path() -> str:
    return os.environ.get("PHYLOHF_STORE") or DEFAULT_STORE


# DuckDB would otherwise try to download an extension to read a foreign file (e.g. SQLite).
# A new store is written in the newest storage format, the first whose strings can be
# compressed with zstd (DuckDB 1.x writes an old one by default, and stores zstd columns
# uncompressed in it).
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
           "storage_compatibility_version": "latest"}


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to ``path``, or a StoreError that says who holds it or what is wrong with it."""
    import duckdb

    from ..sources.duck import connect
    try:
        return connect(str(path), read_only=read_only, **_CONFIG)
    except duckdb.Error as e:
        message = str(e)
        problem = message.splitlines()[0]
    if "lock" in problem.lower():
        held = re.search(r"PID (\d+)", problem)
        who = f"process {held.group(1)}" if held else "another process"
        if read_only or not _shared(path):
            raise StoreError(f"store {path} is open for writing by {who}; wait for it to finish, "
                             f"or use another --store") from None
        raise StoreError(f"store {path} is being read by {who}, and writing needs it alone; wait for "
                         f"the reader to finish, or write into another --store") from None
    if "newer version of DuckDB" in message:
        raise StoreError(f"store {path} was written by a newer DuckDB than this one ({duckdb.__version__}): "
                         f"upgrade it (pip install --upgrade duckdb), or ingest again into a new --store") from None
    if not path.is_file():
        raise StoreError(f"cannot create store {path} ({problem}): check that its folder exists "
                         f"and is writable") from None
    with open(path, "rb") as f:
        header = f.read(12)
    if header[8:12] != b"DUCK":
        raise StoreError(f"{path} is not a DuckDB file (it starts {header[:8]!r}): give a phylohf "
                         f"store, or a new file name to create one") from None
    raise StoreError(f"store {path} is damaged or truncated ({problem}); restore it from a copy, "
                     f"or ingest again into a new --store") from None


def _shared(path: Path) -> bool:
    """Whether ``path`` opens read-only now: the process holding it only reads."""
    import duckdb
    try:
        duckdb.connect(str(path), read_only=True, config=_CONFIG).close()
    except duckdb.Error:
        return False
    return True


class Store:
    """A phylohf DuckDB file. Use as a context manager; ``read_only`` for analyses."""

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool = False):
        self.path = Path(path or default_path())
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path}: create one with `phylohf ingest FILE "
                             f"--store {self.path}` (or `phylohf demo`)")
        self.con = _connect(self.path, read_only)
        if not read_only:
            if not self._has_table("models") and self.con.execute(
                    "SELECT count(*) FROM information_schema.tables").fetchall()[0][0]:
                self.con.close()
                raise StoreError(f"{self.path} is a DuckDB database but not a phylohf store (no models "
                                 f"table): give another --store")
            self.con.execute(SCHEMA)
        elif not self._has_table("models"):
            self.con.close()
            raise StoreError(f"{self.path} is not a phylohf store (no models table): give another --store")
        self.read_only = read_only
        self._prepared = False

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _has_table(self, name: str) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[0][0])

    def _has_column(self, table: str, column: str) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
            [table, column]).fetchall()[0][0])

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, raw: pa.Table, source: str, also: Sequence[tuple[str, list]] = ()
               ) -> tuple[int, list[tuple[int, str]]]:
        """Normalise raw rows and upsert them by id in one transaction, with the statements
        ``also`` (SQL, parameters), e.g. a crawl's progress.

        Returns (rows stored, [(row, problem)] for rows skipped: no usable id).
        """
        from ..sources import normalize
        con = self.con
        if not self._prepared:
            normalize.prepare(con)
            self._prepared = True
        with self._atomic():
            normalize.normalize_into(con, raw, "_batch")
            con.register("_incoming", raw)
            skipped = con.execute(
                "SELECT \"row\", 'no model id (fields id / modelId / model_id)' FROM _incoming "
                "WHERE clean_id(id) IS NULL ORDER BY \"row\"").fetchall()
            con.execute("DROP TABLE IF EXISTS lineage_nodes; DROP TABLE IF EXISTS lineage_edges")
            con.execute("DELETE FROM _batch WHERE list_contains(fixes, 'no_metadata') "
                        "AND id IN (SELECT id FROM models)")     # never replaces a stored record
            con.execute("DELETE FROM models WHERE id IN (SELECT id FROM _batch)")
            con.execute(f"INSERT INTO models SELECT {COLUMNS}, i.card, i.raw, ?, \"row\", now(), {ADDED} "
                        "FROM _batch b JOIN (SELECT \"row\", card, raw FROM _incoming) i USING (\"row\")", [source])
            stored = con.execute("SELECT count(*) FROM _batch").fetchall()[0][0]
            con.unregister("_incoming")
            con.execute("DROP TABLE _batch")
            self.add_problems(source, skipped)
            for sql, params in also:
                con.execute(sql, params)
        return stored, skipped

    def add_problems(self, source: str, problems: list[tuple[int, str]]) -> None:
        """Record (row, problem) pairs of ``source`` (see :func:`problem_statement`)."""
        if problems:
            self.con.execute(*problem_statement(source, [r for r, _ in problems], None,
                                                [what for _, what in problems]))

    def clear_problems(self, source: str) -> None:
        """Forget the problems of ``source``: it is read again from the start."""
        self.con.execute("DELETE FROM problems WHERE source = ?", [source])

    @contextmanager
    def _atomic(self):
        """One transaction: committed when the block ends, rolled back if it raises."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def transaction(self, statements: Sequence[tuple[str, list]]) -> None:
        """Run (SQL, parameters) statements in one transaction."""
        with self._atomic():
            for sql, params in statements:
                self.con.execute(sql, params)

    # -- crawls ----------------------------------------------------------------------------
    def crawl(self, key: str) -> dict:
        """The progress of crawl ``key`` (root, cursor, fetched), started afresh when it is
        new or finished; an unfinished one is resumed. The frontier is ``crawl_frontier``."""
        row = self.con.execute("SELECT root, cursor, fetched, finished FROM crawls WHERE crawl = ?",
                               [key]).fetchall()
        if not row or row[0][3] is not None:
            self.transaction([("DELETE FROM crawls WHERE crawl = ?", [key]),
                              ("DELETE FROM problems WHERE source = ?", [key]),
                              ("DELETE FROM crawl_frontier WHERE crawl = ?", [key]),
                              ("INSERT INTO crawls VALUES (?, NULL, NULL, 0, now(), NULL)", [key])])
            return {"root": None, "cursor": None, "fetched": 0}
        return dict(zip(("root", "cursor", "fetched"), row[0][:3]))

    def log_ingest(self, source: str, started, rows_read: int, stored: int, skipped: int) -> None:
        self.con.execute("INSERT INTO ingests VALUES (?, ?, now(), ?, ?, ?)",
                         [source, started, rows_read, stored, skipped])

    # -- reading ---------------------------------------------------------------------------
    def count(self) -> int:
        return self.con.execute("SELECT count(*) FROM models").fetchall()[0][0]

    def index_lineage(self, temporary: bool = False) -> None:
        """(Re)build ``lineage_nodes`` and ``lineage_edges``, the integer index of the lineage.

        Nodes are the models by sorted id, then absent parents (placeholders) by id. Ids are
        case-insensitive on the Hub: a parent reference resolves to the model of that id,
        else to the model whose id matches without regard to case (its own spelling kept;
        the edge is marked ``by_case``), else to a placeholder shared by every spelling of
        it (the smallest). Edges that then repeat a parent or point at the model itself are
        dropped, and positions renumbered (1 is the primary parent). A writer stores the
        index (ingest rebuilds it; every upsert drops it); a reader of a store without one
        builds it as temporary tables.
        """
        kind = "TEMP TABLE" if temporary else "TABLE"
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _lineage_refs AS
            WITH missing AS (SELECT ref FROM (SELECT DISTINCT unnest(parents).id AS ref FROM models) r
                             ANTI JOIN models m ON m.id = r.ref),
                 folded AS (SELECT lower(id) AS key, min(id) AS id FROM models
                            WHERE lower(id) IN (SELECT lower(ref) FROM missing) GROUP BY key)
            SELECT ref, coalesce(f.id, min(ref) OVER (PARTITION BY lower(ref))) AS id
            FROM missing LEFT JOIN folded f ON f.key = lower(ref);
            CREATE OR REPLACE {kind} lineage_nodes AS
            WITH m AS (SELECT id, created_at, row_number() OVER (ORDER BY id) - 1 AS idx FROM models)
            SELECT idx, id, true AS observed, created_at FROM m
            UNION ALL
            SELECT (SELECT count(*) FROM m) + row_number() OVER (ORDER BY id) - 1, id, false, NULL
            FROM (SELECT DISTINCT id FROM _lineage_refs ANTI JOIN m USING (id));
            CREATE OR REPLACE {kind} lineage_edges AS
            SELECT child, parent, row_number() OVER (PARTITION BY child ORDER BY pos) AS pos, relation, by_case
            FROM (
                SELECT c.idx AS child, p.idx AS parent, e.pos, coalesce(r.id <> e.ref, false) AS by_case,
                       (list_position({list(RELATIONS)}, e.relation) - 1)::TINYINT AS relation
                FROM (SELECT id, unnest(parents).id AS ref, unnest(parents).relation AS relation,
                             unnest(range(1, len(parents) + 1)) AS pos FROM models) e
                LEFT JOIN _lineage_refs r USING (ref)
                JOIN lineage_nodes c ON c.id = e.id JOIN lineage_nodes p ON p.id = coalesce(r.id, e.ref)
                WHERE p.id <> e.id
                QUALIFY row_number() OVER (PARTITION BY c.idx, p.idx ORDER BY e.pos) = 1)
            ORDER BY child, pos;
            DROP TABLE _lineage_refs""")

    def nodes(self) -> None:
        """Make sure the lineage index exists, in its current form (see :meth:`index_lineage`)."""
        if not self._has_column("lineage_edges", "by_case"):
            self.index_lineage(temporary=self.read_only)

    def lineage_columns(self) -> dict[str, np.ndarray]:
        """Node ids, creation times and declared parent edges (relation as an index into
        RELATIONS) as numpy arrays."""
        self.nodes()
        nodes = self.con.sql(f"SELECT id, observed, coalesce(epoch(created_at)::BIGINT, {NO_DATE}) AS created "
                             "FROM lineage_nodes ORDER BY idx").fetchnumpy()
        edges = self.con.sql("SELECT child, parent, pos, relation FROM lineage_edges").fetchnumpy()
        columns = {k: np.asarray(v) for k, v in (nodes | edges).items()}
        columns["ids"] = columns.pop("id")
        return columns

    def fix_counts(self) -> dict[str, int]:
        """How many models needed each repair while normalising, and (``case_parent``) how
        many name a parent in another case than its own id (see :meth:`index_lineage`)."""
        self.nodes()
        return dict(self.con.execute(
            "SELECT f, count(*) FROM (SELECT unnest(fixes) AS f FROM models UNION ALL SELECT 'case_parent' "
            "FROM (SELECT DISTINCT child FROM lineage_edges WHERE by_case)) GROUP BY f ORDER BY f").fetchall())

    def problem_counts(self) -> dict[str, int]:
        return dict(self.con.execute(
            "SELECT split_part(problem, ' (', 1) AS p, count(*) FROM problems GROUP BY p ORDER BY 2 DESC"
        ).fetchall())
