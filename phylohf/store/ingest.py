"""Ingest into the store: snapshot files (reader picked by suffix, upserted batch by batch)
and the Hub (``hub:MODEL_ID``, ``hub:all``, ``hf-dataset:OWNER/NAME:FILE[@REV]``, see
:mod:`phylohf.sources.hub`)."""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
from tqdm import tqdm

from ..sources.prefetch import ahead
from ..sources.seedcsv import read_seed_csv
from ..sources.snapshot import Batch, open_parquet, per_record, read_jsonl, read_parquet, read_records
from .database import Store, problem_statement

COMMIT_ROWS, COMMIT_SECONDS = 5000, 1.0    # Hub listing: a transaction per this many models or seconds
READERS = {".parquet": read_parquet, ".jsonl": read_jsonl, ".ndjson": read_jsonl, ".csv": read_seed_csv}


@dataclass
class IngestReport:
    source: str
    rows_read: int = 0
    stored: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    stopped: str | None = None      # why a crawl stopped early (it resumes from the store)
    cards_missing: int = 0          # models stored without a card (ids in table `problems`)
    requests: dict[str, int] = field(default_factory=dict)   # Hub requests of this run: api, resolve
    resumed_at: int = 0             # rows read by earlier runs of a resumed crawl

    @property
    def requests_per_model(self) -> float | None:
        """API requests of this run per model it fetched."""
        fetched = self.rows_read - self.resumed_at
        return self.requests.get("api", 0) / fetched if fetched else None

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def summary(self, show: int = 10) -> str:
        cards = f", {self.cards_missing:,} without a card" if self.cards_missing else ""
        lines = [f"{self.source}: {self.rows_read:,} rows read, {self.stored:,} models stored, "
                 f"{self.skipped:,} skipped{cards}"]
        if self.requests:
            per = self.requests_per_model
            lines.append(f"  {self.requests.get('api', 0):,} API requests"
                         + (f" ({per:.3f} per model fetched)" if per is not None else "")
                         + (f", {self.requests['resolve']:,} card downloads" if self.requests.get("resolve") else ""))
        for row, what in self.problems[:show]:
            lines.append(f"  row {row}: {what}" if row else f"  {what}")
        if self.skipped > show:
            lines.append(f"  ... and {self.skipped - show:,} more (table `problems` in the store)")
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}")
        return "\n".join(lines)


# A card's YAML front matter, for snapshots whose card data is only in the card text.
_FRONT_MATTER = r"^\s*---[ \t]*\r?\n(?P<meta>(?s:.*?))\r?\n---[ \t]*(?:\r?\n|$)"


def card_front_matter(batches: Iterator[Batch]) -> Iterator[Batch]:
    """Card data read from the card's front matter where a row has a card but no card data
    (model-card dumps such as ``modelId, author, ..., tags, createdAt, card``)."""
    for table, problems, rows in batches:
        meta = pc.struct_field(pc.extract_regex(table.column("card"), _FRONT_MATTER), "meta")
        todo = pc.and_(pc.is_null(table.column("card_data")), pc.is_valid(meta))
        if pc.any(todo).as_py():
            i = table.schema.get_field_index("card_data")
            table = table.set_column(i, "card_data", pc.if_else(todo, meta, table.column(i)))
            table, bad = per_record(table, todo)
            problems = sorted(problems + bad)
        yield table, problems, rows


def reader_for(path: Path, keep_raw: bool = False) -> Iterator[Batch]:
    """The batches of a snapshot file, each read (decoded, mapped) while the one before
    is stored."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"cannot ingest {path}: expected one of {', '.join(READERS)} "
                         f"(Parquet listing, JSONL API records, seed CSV)")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    batches = card_front_matter(read_parquet(path, keep_raw=keep_raw)) if reader is read_parquet else reader(path)
    return ahead(batches, 1)


def _total_rows(path: Path) -> int | None:
    if path.suffix.lower() == ".parquet":
        return open_parquet(path).metadata.num_rows
    return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _finish(store: Store, report: IngestReport, started: dt.datetime) -> IngestReport:
    store.index_lineage()
    store.log_ingest(report.source, started, report.rows_read, report.stored, report.skipped)
    return report


def ingest_batches(store: Store, batches: Iterator[Batch], source: str,
                   total: int | None = None, progress: bool = True) -> IngestReport:
    """Upsert every batch (each its own transaction) and log the ingest in the store; the
    problems of ``source`` are those of this reading (an earlier one's are replaced)."""
    report = IngestReport(source)
    started = _now()
    store.clear_problems(source)
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
    return _finish(store, report, started)


def ingest_file(store: Store, path: str | Path, progress: bool = True, keep_raw: bool = False) -> IngestReport:
    """Ingest one ``.parquet``, ``.jsonl`` or seed-format ``.csv`` file.

    JSON records (JSONL, seed CSV) are always kept raw in the store; Parquet rows only
    with ``keep_raw`` (the file and row number are recorded either way).
    """
    path = Path(path)
    return ingest_batches(store, reader_for(path, keep_raw), str(path), _total_rows(path), progress)


def _commit(store: Store, report: IngestReport, records: list[dict], problems: list, statements: list,
            no_card: list = ()) -> None:
    """Store fetched records with the crawl's progress (``statements``), its problems
    (model id or None, what) and the models without a card, in one transaction."""
    key = report.source
    raw, bad, _ = read_records(records, report.rows_read + 1)
    noted = [*problems, *no_card]
    also = [*statements, ("UPDATE crawls SET fetched = fetched + ? WHERE crawl = ?", [len(records), key])]
    if noted:
        also.append(problem_statement(key, None, [i for i, _ in noted], [what for _, what in noted]))
    if bad:
        also.append(problem_statement(key, [row for row, _ in bad], None, [what for _, what in bad]))
    if raw.num_rows:
        stored, skipped = store.upsert(raw, key, also)
    else:
        store.transaction(also)
        stored, skipped = 0, []
    report.rows_read += len(records)
    report.stored += stored
    report.cards_missing += len(no_card)
    report.problems += bad + skipped + [(0, f"{i}: {what}" if i else what) for i, what in problems]


def crawl_family(store: Store, model_id: str, settings=None, progress: bool = True) -> IngestReport:
    """The family of ``model_id`` from the Hub (up to its root, then breadth-first down),
    committed a batch of ``4 * workers`` listed models at a time; resumes an unfinished
    crawl of the same model. Models the Hub lists with no children enter the frontier
    done: they cost no request."""
    from ..sources.hub import RESUME, HubClient, HubUnavailable, has_no_children
    client, started = HubClient(settings), _now()
    key = f"hub:{model_id}"
    state = store.crawl(key)
    report = IngestReport(key, rows_read=state["fetched"], resumed_at=state["fetched"], requests=client.requests)
    workers = client.s.workers
    pool, cards = ThreadPoolExecutor(workers), ThreadPoolExecutor(workers)
    try:
        with tqdm(initial=report.rows_read, unit=" models", disable=not progress, desc=key, leave=False) as bar:
            if state["root"] is None:
                root, record, problems = client.find_root(model_id)
                records = [record] if record else []
                _commit(store, report, records, problems, [
                    ("UPDATE crawls SET root = ? WHERE crawl = ?", [root, key]),
                    ("INSERT INTO crawl_frontier VALUES (?, ?, 0, ?)", [key, root, has_no_children(record)])],
                    client.with_cards(records, cards))
                bar.update(len(records))
            while pending := store.con.execute(
                    "SELECT id, depth FROM crawl_frontier WHERE crawl = ? AND NOT done ORDER BY depth, id LIMIT ?",
                    [key, 4 * workers]).fetchall():
                records, problems, depth = [], [], {}
                for node, d, future in [(n, d, pool.submit(client.children, n)) for n, d in pending]:
                    got, bad = future.result()
                    records += got
                    problems += bad
                    for r in got:
                        if isinstance(r, dict) and isinstance(r.get("id"), str):
                            depth.setdefault(r["id"], d + 1)
                records = _unseen(store, key, records)          # the batch's children, committed together
                listed = [r for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)]
                _commit(store, report, records, problems, [
                    ("INSERT INTO crawl_frontier SELECT ?, unnest(?::VARCHAR[]), unnest(?::INTEGER[]), "
                     "unnest(?::BOOLEAN[])", [key, [r["id"] for r in listed], [depth[r["id"]] for r in listed],
                                              [has_no_children(r) for r in listed]]),
                    ("UPDATE crawl_frontier SET done = true WHERE crawl = ? AND list_contains(?::VARCHAR[], id)",
                     [key, [n for n, _ in pending]])],
                    client.with_cards(records, cards))
                bar.update(len(records))
            store.transaction([("UPDATE crawls SET finished = now() WHERE crawl = ?", [key])])
    except HubUnavailable as e:
        report.stopped = f"{e}; {RESUME}"
    finally:
        pool.shutdown(cancel_futures=True)
        cards.shutdown(cancel_futures=True)
    return _finish(store, report, started)


def _unseen(store: Store, key: str, records: list) -> list:
    """Records of models not yet in the crawl's frontier, once each (malformed ones kept
    for the reader to report)."""
    ids = [r.get("id") if isinstance(r, dict) else None for r in records]
    seen = {i for (i,) in store.con.execute(
        "SELECT id FROM crawl_frontier WHERE crawl = ? AND list_contains(?::VARCHAR[], id)",
        [key, [i for i in ids if isinstance(i, str)]]).fetchall()}
    out = []
    for record, i in zip(records, ids):
        if not isinstance(i, str):
            out.append(record)
        elif i not in seen:
            seen.add(i)
            out.append(record)
    return out


def crawl_listing(store: Store, settings=None, limit: int | None = None, progress: bool = True) -> IngestReport:
    """The whole Hub listing (the first ``limit`` models), page by page, committed with the
    cursor of the next page every ``COMMIT_ROWS`` models or ``COMMIT_SECONDS``; resumes an
    unfinished listing crawl."""
    from ..sources.hub import RESUME, HubClient, HubUnavailable
    client, started = HubClient(settings), _now()
    key = "hub:all"
    state = store.crawl(key)
    report = IngestReport(key, rows_read=state["fetched"], resumed_at=state["fetched"], requests=client.requests)
    url, params = ((state["cursor"], None) if state["cursor"] else
                   (f"{client.endpoint}/api/models", client.listing_params(limit=limit)))
    cards = ThreadPoolExecutor(client.s.workers)
    batch, problems, nxt, last = [], [], url, time.monotonic()

    def commit() -> None:
        _commit(store, report, batch, problems, [
            ("UPDATE crawls SET cursor = ?, finished = CASE WHEN ? THEN now() END WHERE crawl = ?",
             [nxt, nxt is None, key])], client.with_cards(batch, cards))

    try:
        with tqdm(total=limit, initial=report.rows_read, unit=" models", unit_scale=True, disable=not progress,
                  desc=key, leave=False) as bar:
            for records, nxt, bad in ahead(_first(client.pages(url, params), limit, report.rows_read)):
                batch += records
                problems += bad
                if len(batch) >= COMMIT_ROWS or nxt is None or time.monotonic() - last >= COMMIT_SECONDS:
                    commit()
                    bar.update(len(batch))
                    batch, problems, last = [], [], time.monotonic()
    except HubUnavailable as e:
        report.stopped = f"{e}; {RESUME}"
        if batch or problems:
            commit()
    finally:
        cards.shutdown(cancel_futures=True)
    return _finish(store, report, started)


def _first(pages: Iterator, limit: int | None, done: int) -> Iterator:
    """Pages up to the one holding the ``limit``-th model (cut there, no next page)."""
    for records, nxt, problems in pages:
        if limit is not None and done + len(records) >= limit:
            yield records[:limit - done], None, problems
            return
        done += len(records)
        yield records, nxt, problems


def ingest_dataset(store: Store, spec: str, settings=None, progress: bool = True,
                   keep_raw: bool = False) -> IngestReport:
    """A snapshot file in a Hub dataset repository (``hf-dataset:OWNER/NAME:FILE[@REV]``),
    downloaded with ``hf_hub_download`` (cached) and ingested like a local file."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    from ..sources.hub import HubSettings, parse_dataset
    settings = settings or HubSettings()
    repo, filename, revision = parse_dataset(spec)
    try:
        path = Path(hf_hub_download(repo, filename, repo_type="dataset", revision=revision,
                                    endpoint=settings.endpoint, token=settings.token))
    except HfHubHTTPError as e:
        raise ValueError(f"cannot download {spec}: HTTP {e.response.status_code} ({type(e).__name__}); check "
                         f"the dataset, file and revision, and your token for a gated or private dataset") from None
    return ingest_batches(store, reader_for(path, keep_raw), spec, _total_rows(path), progress)


def ingest_source(store: Store, source: str, settings=None, limit: int | None = None, progress: bool = True,
                  keep_raw: bool = False) -> IngestReport:
    """One source: a file, ``hub:all``, ``hub:MODEL_ID`` or ``hf-dataset:OWNER/NAME:FILE[@REV]``."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number of models, got {limit}")
    if source == "hub:all":
        return crawl_listing(store, settings, limit, progress)
    if source.startswith("hub:"):
        from ..sources.hub import invalid_id
        model_id = source[4:].strip()
        if invalid_id(model_id):
            raise ValueError(f"cannot read {source!r}: write hub:OWNER/NAME (or hub:all), a Hub model id")
        return crawl_family(store, model_id, settings, progress)
    if source.startswith("hf-dataset:"):
        return ingest_dataset(store, source, settings, progress, keep_raw)
    return ingest_file(store, source, progress, keep_raw)
