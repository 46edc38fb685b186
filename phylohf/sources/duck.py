"""DuckDB connections that draw no progress bar: DuckDB draws one on stdout, into a
command's output (``phylohf report --json - | jq``), for any query over 2 s."""
from __future__ import annotations

import duckdb


def connect(database: str = ":memory:", read_only: bool = False, **config) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` (in memory by default; ``config``: DuckDB settings), the bar off."""
    con = duckdb.connect(database, read_only=read_only, config=config)
    con.execute("SET enable_progress_bar = false")
    return con
