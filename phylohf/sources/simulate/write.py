"""Writing a simulation: the listing as Parquet or JSON lines, the truth as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..duck import connect
from .params import Simulation


def write_listing(sim: Simulation, out: str | Path) -> None:
    """Write the listing as Parquet (zstd) or JSON lines (API records), chosen by the suffix."""
    out = Path(out)
    if out.suffix == ".parquet":
        pq.write_table(sim.listing, out, compression="zstd")
    elif out.suffix == ".jsonl":
        _write_jsonl(sim.listing, out)
    else:
        raise ValueError(f"unsupported listing format {out.suffix!r}: use .parquet or .jsonl")


def _write_jsonl(table: pa.Table, out: Path) -> None:
    """One API record per line: cardData and config as objects, dates as ISO-8601 with 'Z'."""
    for name in ("createdAt", "lastModified"):
        iso = pc.strftime(pc.cast(table[name], pa.timestamp("ms")), format="%Y-%m-%dT%H:%M:%SZ")
        table = table.set_column(table.schema.get_field_index(name), name, iso)
    columns = ", ".join(f"json({c}) AS {c}" if c in ("cardData", "config") else f'"{c}"' for c in table.column_names)
    with connect(memory_limit="1GB") as con:  # bounds the writer's buffers
        con.register("listing", table)
        target = str(out).replace("'", "''")
        con.execute(f"COPY (SELECT {columns} FROM listing) TO '{target}' (FORMAT JSON)")


def write_truth(sim: Simulation, path: str | Path) -> None:
    """Write the ground truth as JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(sim.truth, f, separators=(",", ":"))
