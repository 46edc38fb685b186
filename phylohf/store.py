"""The DuckDB store: normalised models (lists as list columns) plus raw records, upserted by id.

One file, embedded and ACID. Every batch is normalised and upserted in one transaction,
so a killed ingest loses nothing already committed. Analyses read columns out as
Arrow/numpy; rows are numbered by sorted model id (:meth:`Store.nodes`), the index
that lineage and genome arrays share.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from . import normalize
from .records import NO_DATE

DEFAULT_STORE = "phylohf.duckdb"

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id VARCHAR NOT NULL, author VARCHAR, created_at TIMESTAMP, last_modified TIMESTAMP,
    downloads BIGINT, likes BIGINT, license VARCHAR, license_name VARCHAR,
    languages VARCHAR[], multilingual BOOLEAN, pipeline_tag VARCHAR, library VARCHAR,
    architecture VARCHAR, datasets VARCHAR[], tags VARCHAR[],
    parents STRUCT(id VARCHAR, relation VARCHAR)[], card VARCHAR, fixes VARCHAR[],
    raw JSON, source VARCHAR, "row" BIGINT, ingested_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS problems (
    source VARCHAR, "row" BIGINT, id VARCHAR, problem VARCHAR, noted_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS ingests (
    source VARCHAR, started TIMESTAMP, finished TIMESTAMP, rows_read BIGINT,
    rows_stored BIGINT, rows_skipped BIGINT);
"""

COLUMNS = ("id, author, created_at, last_modified, downloads, likes, license, license_name, "
           "languages, multilingual, pipeline_tag, library, architecture, datasets, tags, "
           "parents, card, fixes")


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says what to do."""


def default_path() -> str:
    return os.environ.get("PHYLOHF_STORE") or DEFAULT_STORE


class Store:
    """A phylohf DuckDB file. Use as a context manager; ``read_only`` for analyses."""

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool = False):
        self.path = Path(path or default_path())
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path}: create one with `phylohf ingest FILE "
                             f"--store {self.path}` (or `phylohf demo`)")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as e:
            held = re.search(r"PID (\d+)", str(e))
            who = f"process {held.group(1)}" if held else "another process"
            if "lock" in str(e).lower():
                raise StoreError(f"store {self.path} is open for writing by {who}; wait for it "
                                 f"to finish, or use another --store") from None
            raise StoreError(f"cannot open store {self.path}: {e}") from None
        if not read_only:
            self.con.execute(SCHEMA)
        elif not self._has_table("models"):
            raise StoreError(f"{self.path} is not a phylohf store (no models table)")
        normalize.prepare(self.con)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _has_table(self, name: str) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[0][0])

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, raw: pa.Table, source: str) -> tuple[int, list[tuple[int, str]]]:
        """Normalise raw rows and upsert them by id in one transaction.

        Returns (rows stored, [(row, problem)] for rows skipped: no usable id).
        """
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            normalize.normalize_into(con, raw, "_batch")
            con.register("_incoming", raw)
            skipped = con.execute(
                "SELECT \"row\", 'no model id (fields id / modelId / model_id)' FROM _incoming "
                "WHERE clean_id(id) IS NULL ORDER BY \"row\"").fetchall()
            con.execute("DELETE FROM models WHERE id IN (SELECT id FROM _batch)")
            con.execute(f"INSERT INTO models SELECT {COLUMNS}, i.raw, ?, \"row\", now() "
                        "FROM _batch b JOIN (SELECT \"row\", raw FROM _incoming) i USING (\"row\")", [source])
            stored = con.execute("SELECT count(*) FROM _batch").fetchall()[0][0]
            con.unregister("_incoming")
            con.execute("DROP TABLE _batch")
            self.add_problems(source, skipped)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return stored, skipped

    def add_problems(self, source: str, problems: list[tuple[int, str]]) -> None:
        if problems:
            self.con.executemany("INSERT INTO problems VALUES (?, ?, NULL, ?, now())",
                                 [(source, row, what) for row, what in problems])

    def log_ingest(self, source: str, started, rows_read: int, stored: int, skipped: int) -> None:
        self.con.execute("INSERT INTO ingests VALUES (?, ?, now(), ?, ?, ?)",
                         [source, started, rows_read, stored, skipped])

    # -- reading ---------------------------------------------------------------------------
    def count(self) -> int:
        return self.con.execute("SELECT count(*) FROM models").fetchall()[0][0]

    def nodes(self) -> None:
        """Create ``_nodes(id, idx)``: models by sorted id, then absent parents (placeholders)."""
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE _nodes AS
            WITH m AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS idx FROM models),
                 p AS (SELECT DISTINCT unnest(parents).id AS id FROM models)
            SELECT id, idx, true AS observed FROM m
            UNION ALL
            SELECT id, (SELECT count(*) FROM m) + row_number() OVER (ORDER BY id) - 1, false
            FROM (SELECT id FROM p ANTI JOIN m USING (id))""")

    def lineage_columns(self) -> dict[str, np.ndarray]:
        """Node ids, creation times and declared parent edges as numpy arrays."""
        self.nodes()
        con = self.con
        nodes = con.sql(f"""SELECT n.id, n.observed, coalesce(epoch(m.created_at)::BIGINT, {NO_DATE}) AS created
                           FROM _nodes n LEFT JOIN models m USING (id) ORDER BY n.idx""").fetchnumpy()
        edges = con.sql("""
            SELECT c.idx AS child, p.idx AS parent, e.pos, e.relation FROM (
                SELECT id, unnest(parents).id AS pid, unnest(parents).relation AS relation,
                       unnest(range(1, len(parents) + 1)) AS pos FROM models) e
            JOIN _nodes c ON c.id = e.id JOIN _nodes p ON p.id = e.pid
            ORDER BY child, pos""").fetchnumpy()
        return {"ids": nodes["id"], "observed": np.asarray(nodes["observed"], bool),
                "created": nodes["created"], **{k: np.asarray(v) for k, v in edges.items()}}

    def fix_counts(self) -> dict[str, int]:
        """How many models needed each repair while normalising."""
        return dict(self.con.execute(
            "SELECT f, count(*) FROM (SELECT unnest(fixes) AS f FROM models) GROUP BY f ORDER BY f").fetchall())

    def problem_counts(self) -> dict[str, int]:
        return dict(self.con.execute(
            "SELECT split_part(problem, ' (', 1) AS p, count(*) FROM problems GROUP BY p ORDER BY 2 DESC"
        ).fetchall())
