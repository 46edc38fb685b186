"""The store: every source lands the same record, upserts, resumes, malformed rows, locks, genomes."""
import csv
import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from phylohf.genealogy.genome import GROUPS, build
from phylohf.store.ingest import ingest_batches, ingest_file
from phylohf.genealogy.lineage import Lineage
from phylohf.sources.normalize import normalize
from phylohf.sources.snapshot import read_jsonl
from phylohf.store.database import Store, StoreError

RECORDS = [
    {"id": "meta/base", "author": "meta", "createdAt": "2023-01-01T00:00:00.000Z", "downloads": 10,
     "likes": 2, "pipeline_tag": "text-generation", "library_name": "transformers",
     "tags": ["llama", "en", "de", "license:llama2", "text-generation"],
     "cardData": {"license": "llama2", "language": ["en", "de"]}, "config": {"model_type": "llama"}},
    {"id": "a/ft", "author": "a", "createdAt": "2023-02-01T00:00:00.000Z", "downloads": 3, "likes": 0,
     "tags": ["en", "license:apache-2.0", "dataset:squad", "base_model:finetune:meta/base"],
     "cardData": {"license": "apache-2.0", "language": "en", "base_model": "https://huggingface.co/meta/base",
                  "datasets": ["squad"]}},
    {"id": "b/merge", "author": "b", "createdAt": "2023-03-01T00:00:00.000Z",
     "tags": ["mergekit", "base_model:merge:a/ft", "base_model:merge:gone/deleted"],
     "cardData": {"base_model": ["a/ft", "gone/deleted"]}},
]
COMPARED = ["id", "author", "created_at", "license", "languages", "multilingual", "pipeline_tag",
            "library", "architecture", "datasets", "tags", "parents", "downloads", "likes", "fixes"]


def write_jsonl(path, records, extra_lines=()):
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
        for line in extra_lines:
            f.write(line + "\n")


def write_parquet(path, records):
    rows = [{**r, "cardData": json.dumps(r.get("cardData")), "config": json.dumps(r.get("config"))}
            for r in records]
    pq.write_table(pa.Table.from_pylist(rows), path)


def write_seed_csv(path, records, extra_rows=()):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model_id", "metadata", "depth", "children", "children_count"])
        for r in records:
            meta = {"id": r["id"], "author": r.get("author"), "created_at": r.get("createdAt"),
                    "downloads": r.get("downloads"), "likes": r.get("likes"),
                    "pipeline_tag": r.get("pipeline_tag"), "library_name": r.get("library_name"),
                    "tags": r["tags"], "card_data": yaml.safe_dump(r["cardData"]), "config": r.get("config")}
            w.writerow([r["id"], json.dumps(meta), 0, "['https://huggingface.co/x/y']", 1])
        for row in extra_rows:
            w.writerow(row)


def stored(path):
    with Store(path, read_only=True) as s:
        return s.con.sql(f"SELECT {', '.join(COMPARED)} FROM models ORDER BY id").fetchall()


def test_every_source_lands_the_same_records(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", RECORDS)
    write_parquet(tmp_path / "a.parquet", RECORDS)
    write_seed_csv(tmp_path / "a.csv", RECORDS)
    results = {}
    for name in ("a.jsonl", "a.parquet", "a.csv"):
        with Store(tmp_path / f"{name}.duckdb") as s:
            report = ingest_file(s, tmp_path / name, progress=False)
        assert (report.rows_read, report.stored, report.skipped) == (3, 3, 0)
        results[name] = stored(tmp_path / f"{name}.duckdb")
    assert results["a.jsonl"] == results["a.parquet"] == results["a.csv"]
    # ... and equal to the one-record path
    one = normalize(RECORDS[1])
    row = dict(zip(COMPARED, results["a.jsonl"][0]))      # a/ft sorts first
    assert row["id"] == one.id and tuple(row["languages"]) == one.languages
    assert tuple((p["id"], p["relation"]) for p in row["parents"]) == one.parents == (("meta/base", "finetune"),)
    assert tuple(row["fixes"]) == one.fixes == ("url_parent",)


def test_upsert_updates_instead_of_duplicating(tmp_path):
    path = tmp_path / "s.duckdb"
    write_jsonl(tmp_path / "a.jsonl", RECORDS)
    changed = [{**RECORDS[1], "tags": RECORDS[1]["tags"] + ["new-tag"], "downloads": 99}]
    write_jsonl(tmp_path / "b.jsonl", changed + [{"id": "c/new"}])
    with Store(path) as s:
        ingest_file(s, tmp_path / "a.jsonl", progress=False)
        ingest_file(s, tmp_path / "a.jsonl", progress=False)
        assert s.count() == 3
        ingest_file(s, tmp_path / "b.jsonl", progress=False)
        assert s.count() == 4
        tags, downloads = s.con.execute("SELECT tags, downloads FROM models WHERE id = 'a/ft'").fetchall()[0]
        assert "new-tag" in tags and downloads == 99
        assert s.con.execute("SELECT count(*) FROM ingests").fetchall()[0][0] == 3


def test_killed_ingest_keeps_committed_batches_and_resumes(tmp_path):
    many = [{"id": f"org/m{i:04d}", "tags": [f"base_model:org/m{i - 1:04d}"] if i else []} for i in range(1000)]
    write_jsonl(tmp_path / "many.jsonl", many)

    def dying(batches, after):
        for k, b in enumerate(batches):
            if k == after:
                raise KeyboardInterrupt
            yield b

    path = tmp_path / "s.duckdb"
    with Store(path) as s:
        with pytest.raises(KeyboardInterrupt):
            ingest_batches(s, dying(read_jsonl(tmp_path / "many.jsonl", batch_rows=300), 2), "many", progress=False)
        assert s.count() == 600                          # two committed batches survive
    with Store(path) as s:                               # the same command again completes it
        ingest_file(s, tmp_path / "many.jsonl", progress=False)
    with Store(tmp_path / "clean.duckdb") as s:
        ingest_file(s, tmp_path / "many.jsonl", progress=False)
    assert stored(path) == stored(tmp_path / "clean.duckdb")
    with Store(path, read_only=True) as s:
        assert Lineage.from_store(s).depth.max() == 999


def test_malformed_rows_are_skipped_counted_and_located(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", RECORDS, ['{"id": "broken', "[1, 2]", '{"modelId": ""}'])
    write_seed_csv(tmp_path / "a.csv", RECORDS, [["bad/json", "{not json", 0, "[]", 0]])
    rows = [{"id": r["id"], "tags": r["tags"]} for r in RECORDS] + [{"id": None, "tags": []}, {"id": "  ", "tags": []}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    expected = {"a.jsonl": [4, 5, 6], "a.csv": [5], "a.parquet": [4, 5]}
    for name, bad_rows in expected.items():
        with Store(tmp_path / f"{name}.duckdb") as s:
            report = ingest_file(s, tmp_path / name, progress=False)
            assert [row for row, _ in report.problems] == bad_rows, report.problems
            assert report.stored == 3 and s.count() == 3
            assert s.con.execute("SELECT count(*) FROM problems").fetchall()[0][0] == len(bad_rows)
            assert f"{len(bad_rows)} skipped" in report.summary()


def test_unknown_file_type_and_missing_file(tmp_path):
    with Store(tmp_path / "s.duckdb") as s:
        with pytest.raises(ValueError, match="expected one of"):
            ingest_file(s, tmp_path / "x.txt")
        with pytest.raises(FileNotFoundError):
            ingest_file(s, tmp_path / "nope.parquet")


def test_a_store_held_by_a_writer_says_so(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print('ready', flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="open for writing by process"):
            Store(path)
    finally:
        holder.communicate("\n")


def test_missing_store_for_reading(tmp_path):
    with pytest.raises(StoreError, match="phylohf ingest"):
        Store(tmp_path / "absent.duckdb", read_only=True)


def test_lineage_and_genomes_from_the_store(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", RECORDS + [{"id": "c/card", "card": "# x\nMore Information Needed\n" * 20}])
    with Store(tmp_path / "s.duckdb") as s:
        ingest_file(s, tmp_path / "a.jsonl", progress=False)
        lin = Lineage.from_store(s)
        g = build(s, lin.n)
    assert list(lin.ids) == ["a/ft", "b/merge", "c/card", "meta/base", "gone/deleted"]
    assert lin.observed.tolist() == [True, True, True, True, False]
    assert lin.parent.tolist() == [3, 0, -1, -1, -1]
    assert lin.extra_child.tolist() == [1] and lin.extra_parent.tolist() == [4]
    names = g.names
    assert g.matrix.shape == (5, len(names))
    row = lambda i: {names[j] for j in g.matrix[i].indices}
    assert row(3) == {"license:llama2", "language:en", "language:de", "task:text-generation",
                      "library:transformers", "architecture:llama"}
    assert row(0) == {"license:apache-2.0", "language:en", "dataset:squad"}
    assert row(2) == {"card:present", "card:length<=1024", "card:template:more-information-needed"}
    assert row(4) == set()
    assert g.declared[4].sum() == 0
    assert g.is_declared("license").tolist() == [True, False, False, True, False]
    assert g.declared[2].tolist() == [g == "card" for g in GROUPS]
    assert g.counts[g.columns("language")].tolist() == [2, 1]     # en (2 models), de (1)
    pruned = build(Store(tmp_path / "s.duckdb", read_only=True), lin.n, min_count=2)
    assert [n for n in pruned.names] == ["language:en"]


def test_the_last_of_several_rows_with_one_id_wins(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"id": "a/b", "likes": 1}, {"id": "c/d"},
                                       {"id": "https://huggingface.co/a/b", "likes": 2}])
    with Store(tmp_path / "s.duckdb") as s:
        report = ingest_file(s, tmp_path / "a.jsonl", progress=False)
        assert s.con.execute("SELECT id, likes, fixes FROM models ORDER BY id").fetchall() == [
            ("a/b", 2, ["url_id"]), ("c/d", None, ["no_metadata"])]
    assert report.stored == 2


def test_raw_records_kept_for_json_sources_and_on_request_for_parquet(tmp_path):
    records = [{**RECORDS[0], "card": "# Card\nsome text"}, RECORDS[1]]
    write_jsonl(tmp_path / "a.jsonl", records)
    write_parquet(tmp_path / "a.parquet", [{**r, "card": r.get("card")} for r in records])
    for name, keep_raw, kept in [("a.jsonl", False, True), ("a.parquet", False, False), ("a.parquet", True, True)]:
        path = tmp_path / f"{name}-{keep_raw}.duckdb"
        with Store(path) as s:
            ingest_file(s, tmp_path / name, progress=False, keep_raw=keep_raw)
            raw, card, source, row = s.con.execute(
                "SELECT raw, card, source, \"row\" FROM models WHERE id = 'meta/base'").fetchall()[0]
        assert card == "# Card\nsome text" and source.endswith(name) and row == 1
        if not kept:
            assert raw is None
            continue
        raw = json.loads(raw)
        assert raw["id"] == "meta/base" and raw["tags"] == RECORDS[0]["tags"] and "card" not in raw


def test_duckdb_draws_no_progress_bar_into_the_output(tmp_path):
    """With stdout a pipe (``phylohf report --json - | jq``) DuckDB draws a progress bar on
    it for a query over 2 s, by default; a store's connections and the readers' in-memory
    ones turn it off."""
    code = textwrap.dedent(f"""
        import duckdb
        from phylohf.sources.duck import connect
        from phylohf.store.database import Store
        on = lambda con: con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]
        with Store({str(tmp_path / "s.duckdb")!r}) as store:
            writer = on(store.con)
        with Store({str(tmp_path / "s.duckdb")!r}, read_only=True) as store:
            reader = on(store.con)
        print(on(duckdb.connect()), writer, reader, on(connect()))""")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False", "False"]


def test_card_text_and_raw_records_are_stored_zstd_compressed(tmp_path):
    """Card text and raw records are zstd columns (DuckDB's default for strings writes them
    several times slower); DuckDB 1.x keeps such a column uncompressed unless the store is in
    the newest storage format, which a new store is."""
    cards = [f"# Model {i}\n\nFine-tuned on {i % 7} datasets. " + "More Information Needed. " * (i % 5)
             for i in range(3000)]
    write_jsonl(tmp_path / "a.jsonl", [{"id": f"a/m{i}", "likes": i, "card": card} for i, card in enumerate(cards)])
    with Store(tmp_path / "s.duckdb") as s:
        ingest_file(s, tmp_path / "a.jsonl", progress=False)
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        used = s.con.execute("SELECT column_name, list(DISTINCT compression ORDER BY compression) "
                             "FROM pragma_storage_info('models') WHERE column_name IN ('card', 'raw') "
                             "AND segment_type <> 'VALIDITY' GROUP BY ALL ORDER BY 1").fetchall()
        assert s.con.execute("SELECT card FROM models ORDER BY likes").fetchall() == [(c,) for c in cards]
    assert used == [("card", ["ZSTD"]), ("raw", ["ZSTD"])]
