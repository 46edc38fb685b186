"""Ingest a snapshot file into the store: pick the reader by suffix, upsert batch by batch."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .sources.seedcsv import read_seed_csv
from .sources.snapshot import Batch, read_jsonl, read_parquet
from .store import Store

READERS = {".parquet": read_parquet, ".jsonl": read_jsonl, ".ndjson": read_jsonl, ".csv": read_seed_csv}


@dataclass
class IngestReport:
    source: str
    rows_read: int = 0
    stored: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def summary(self, show: int = 10) -> str:
        lines = [f"{self.source}: {self.rows_read:,} rows read, {self.stored:,} models stored, "
                 f"{self.skipped:,} skipped"]
        for row, what in self.problems[:show]:
            lines.append(f"  row {row}: {what}")
        if self.skipped > show:
            lines.append(f"  ... and {self.skipped - show:,} more (table `problems` in the store)")
        return "\n".join(lines)


def reader_for(path: Path, keep_raw: bool = False) -> Iterator[Batch]:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"cannot ingest {path}: expected one of {', '.join(READERS)} "
                         f"(Parquet listing, JSONL API records, seed CSV)")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    return read_parquet(path, keep_raw=keep_raw) if reader is read_parquet else reader(path)


def _total_rows(path: Path) -> int | None:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    return None


def ingest_batches(store: Store, batches: Iterator[Batch], source: str,
                   total: int | None = None, progress: bool = True) -> IngestReport:
    """Upsert every batch (each its own transaction) and log the ingest in the store."""
    report = IngestReport(source)
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with tqdm(total=total, unit=" rows", unit_scale=True, disable=not progress,
              desc=f"ingest {Path(source).name}", leave=False) as bar:
        for table, problems, rows_read in batches:
            store.add_problems(source, problems)
            report.problems += problems
            if table.num_rows:
                stored, skipped = store.upsert(table, source)
                report.stored += stored
                report.problems += skipped
            bar.update(rows_read - report.rows_read)
            report.rows_read = rows_read
    report.problems.sort()
    store.index_lineage()
    store.log_ingest(source, started, report.rows_read, report.stored, report.skipped)
    return report


def ingest_file(store: Store, path: str | Path, progress: bool = True, keep_raw: bool = False) -> IngestReport:
    """Ingest one ``.parquet``, ``.jsonl`` or seed-format ``.csv`` file.

    JSON records (JSONL, seed CSV) are always kept raw in the store; Parquet rows only
    with ``keep_raw`` (the file and row number are recorded either way).
    """
    path = Path(path)
    return ingest_batches(store, reader_for(path, keep_raw), str(path), _total_rows(path), progress)
