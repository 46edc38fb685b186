"""Hostile and careless input: one bad record costs at most itself, alias bombs are refused
in bounded memory, silent changes are recorded, and problems are recorded once."""
import codecs
import csv
import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phylohf.cli import main
from phylohf.store.ingest import ingest_batches, ingest_file, ingest_source
from phylohf.sources.normalize import normalize
from phylohf.sources.records import MAX_PARENTS, MalformedRecord, json_body, to_raw
from phylohf.sources.snapshot import read_jsonl, read_parquet, read_records
from phylohf.store.database import Store
from hubserver import HubServer
from test_hub import fast

# "Billion laughs": 9 levels of 9 aliases, 9**9 strings once expanded (~400M nodes).
BOMB = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
DEEP_JSON = "[" * 100_000
DEEP_YAML = "a: " + "[" * 100_000
SELF_ALIAS = "a: &a [*a]"


def write_lines(path, lines, mode="w"):
    with open(path, mode) as f:
        f.write(lines)


def jsonl(path, lines: list[str]):
    write_lines(path, "".join(line + "\n" for line in lines))


def rows(path, sql="SELECT id FROM models ORDER BY id"):
    with Store(path, read_only=True) as s:
        return s.con.execute(sql).fetchall()


def problems(path):
    return rows(path, 'SELECT "row", problem FROM problems ORDER BY "row", problem')


def ok(i):
    return json.dumps({"id": f"ok/m{i}", "cardData": {"base_model": "ok/base"}})


# -- part 1: one bad record never costs more than itself -----------------------------------

def test_an_overlong_jsonl_line_is_a_problem_read_in_bounded_memory(tmp_path, monkeypatch):
    """A line longer than the limit costs only itself and is never held whole: reading a line
    40x the limit allocates about the limit (the bytes of one ``readline``), not the line."""
    import tracemalloc
    from phylohf.sources import snapshot
    monkeypatch.setattr(snapshot, "MAX_LINE_BYTES", 1 << 20)
    long = json.dumps({"id": "x/long", "card": "a" * (40 << 20)})
    just = json.dumps({"id": "x/just", "card": "b" * ((1 << 20) - 40)})
    just = just[:-1] + " " * ((1 << 20) - len(just)) + "}"       # as long as the limit, its newline aside
    write_lines(tmp_path / "l.jsonl", "\n".join([ok(1), long, ok(2), just, long]))   # the last line unended
    tracemalloc.start()
    try:
        batches = list(read_jsonl(tmp_path / "l.jsonl"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    got = [(r["row"], r["id"]) for table, _, _ in batches for r in table.select(["row", "id"]).to_pylist()]
    assert got == [(1, "ok/m1"), (3, "ok/m2"), (4, "x/just")]
    assert [p for _, problems, _ in batches for p in problems] == [
        (2, "line longer than 1,048,576 bytes (not read)"), (5, "line longer than 1,048,576 bytes (not read)")]
    assert batches[-1][2] == 5


def test_jsonl_batches_are_bounded_in_bytes_as_in_rows(tmp_path, monkeypatch):
    """Long records make short batches: a batch ends at ``batch_rows`` lines or once its lines
    reach BATCH_BYTES, so memory does not grow with the records' length."""
    from phylohf.sources import snapshot
    monkeypatch.setattr(snapshot, "BATCH_BYTES", 1000)
    lines = [json.dumps({"id": f"x/m{i}", "card": "c" * (290 if i < 10 else 10)}) for i in range(16)]
    jsonl(tmp_path / "b.jsonl", lines)
    got = [(table.num_rows, n) for table, _, n in read_jsonl(tmp_path / "b.jsonl", batch_rows=5)]
    assert got == [(4, 4), (4, 8), (5, 13), (3, 16)]       # 4 long lines (320 bytes) reach 1,000 bytes


def test_jsonl_hostile_lines_cost_only_their_row(tmp_path, capsys):
    jsonl(tmp_path / "h.jsonl", [
        ok(1),
        '{"id": "x/inf", "likes": Infinity, "downloads": -Infinity}',
        '{"id": "x/big", "likes": 1e400, "downloads": NaN}',
        '{"id": "x/surrogate", "author": "\\ud800"}',
        '{"id": "x/deep", "extra": ' + DEEP_JSON + '}',
        json.dumps({"id": "x/deepyaml", "cardData": DEEP_YAML}),
        json.dumps({"id": "x/alias", "cardData": SELF_ALIAS}),
        json.dumps({"id": "x/bomb", "cardData": BOMB}),
        ok(2)])
    store = tmp_path / "s.duckdb"
    assert main(["ingest", str(tmp_path / "h.jsonl"), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "9 rows read, 4 models stored, 5 skipped" in out
    assert rows(store) == [("ok/m1",), ("ok/m2",), ("x/big",), ("x/inf",)]
    # a count that is not a finite integer is unknown, and the repair is counted (with
    # nothing else readable, the record is known by its id only)
    assert rows(store, "SELECT likes, downloads, fixes FROM models WHERE id LIKE 'x/%'") == [
        (None, None, ["no_metadata", "bad_number"])] * 2
    got = problems(store)
    assert [r for r, _ in got] == [4, 5, 6, 7, 8]
    assert got[0][1] == "text is not valid Unicode (field 'author': lone surrogate '\\ud800')"
    assert got[1][1] == "not valid JSON (nested too deeply to read)"
    assert got[2][1] == "card data is nested too deeply to read"
    assert got[3][1] == "card data refused: a YAML alias refers to itself"
    assert got[4][1].startswith("card data refused: YAML aliases expand too far (beyond 1,000,")
    with Store(store, read_only=True) as s:
        assert s.problem_counts()["card data refused: YAML aliases expand too far"] == 1
    assert main(["ingest", str(tmp_path / "h.jsonl"), "--store", str(store), "--strict"]) == 3


def parquet(path, columns: dict, **kw):
    pq.write_table(pa.table(columns), path, **kw)


def test_parquet_hostile_card_data_costs_only_its_row(tmp_path):
    ids = ["ok/json", "x/alias", "x/deep", "x/bomb", "ok/yaml", "ok/none"]
    cards = [json.dumps({"license": "mit"}), SELF_ALIAS, DEEP_YAML, BOMB, "license: mit\nbase_model: ok/json", None]
    parquet(tmp_path / "h.parquet", {"id": ids, "cardData": cards,
                                     "likes": [1.0, 2.0, 3.0, 4.0, float("inf"), float("nan")]})
    with Store(tmp_path / "s.duckdb") as s:
        report = ingest_file(s, tmp_path / "h.parquet", progress=False)
    assert (report.rows_read, report.stored, report.skipped) == (6, 3, 3)
    assert [(r, what.split(":")[0].split(" is")[0]) for r, what in report.problems] == [
        (2, "card data refused"), (3, "card data"), (4, "card data refused")]
    assert rows(tmp_path / "s.duckdb", "SELECT id, license, likes, fixes, parents FROM models ORDER BY id") == [
        ("ok/json", "mit", 1, [], []), ("ok/none", None, None, ["no_metadata", "bad_number"], []),
        ("ok/yaml", "mit", None, ["bad_number"], [{"id": "ok/json", "relation": "finetune"}])]


def test_parquet_front_matter_alias_bomb_costs_only_its_row(tmp_path):
    cards = ["---\nlicense: mit\n---\nhello", f"---\n{BOMB}---\nboom", f"---\n{SELF_ALIAS}\n---\n"]
    parquet(tmp_path / "dump.parquet", {"modelId": ["ok/a", "x/bomb", "x/self"], "card": cards})
    with Store(tmp_path / "s.duckdb") as s:
        report = ingest_file(s, tmp_path / "dump.parquet", progress=False)
    assert (report.stored, [r for r, _ in report.problems]) == (1, [2, 3])
    assert rows(tmp_path / "s.duckdb", "SELECT id, license FROM models") == [("ok/a", "mit")]


def test_seed_csv_card_data_bomb_costs_only_its_row(tmp_path):
    """The seed-CSV reader calls to_raw, which refuses the card data."""
    with open(tmp_path / "seed.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model_id", "metadata", "depth", "children", "children_count"])
        for mid, card in [("ok/a", "license: mit\n"), ("x/bomb", BOMB), ("x/self", SELF_ALIAS), ("ok/b", "")]:
            w.writerow([mid, json.dumps({"id": mid, "card_data": card}), 0, "[]", 0])
    with Store(tmp_path / "s.duckdb") as s:
        report = ingest_file(s, tmp_path / "seed.csv", progress=False)
    assert report.stored == 2 and [r for r, _ in report.problems] == [3, 4]


def corrupt_zstd_parquet(path, rows_per_group=1000, groups=3):
    """Three ZSTD row groups; the second one's first page garbled."""
    table = pa.table({"id": [f"org/m{i}" for i in range(rows_per_group * groups)],
                      "card": [f"card text {i} " * 20 for i in range(rows_per_group * groups)]})
    pq.write_table(table, path, compression="zstd", row_group_size=rows_per_group)
    column = pq.ParquetFile(path).metadata.row_group(1).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + 30:start + 46] = b"\xa5" * 16
    path.write_bytes(bytes(data))


def test_a_damaged_parquet_page_is_a_file_level_message_naming_the_file(tmp_path, capsys):
    jsonl(tmp_path / "first.jsonl", [ok(1)])
    broken = tmp_path / "broken.parquet"
    corrupt_zstd_parquet(broken)
    store = tmp_path / "s.duckdb"
    rc = main(["ingest", str(tmp_path / "first.jsonl"), str(broken), "--store", str(store)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"phylohf ingest: error: cannot read {broken}: the file is damaged (ZSTD decompression")
    assert rows(store) == [("ok/m1",)]
    # batch by batch, the rows before the damaged page are stored
    with Store(store) as s, pytest.raises(ValueError, match="after row 1,000 \\(the rows before are stored\\)"):
        ingest_batches(s, read_parquet(broken, batch_rows=1000), str(broken), progress=False)
    assert rows(store, "SELECT count(*) FROM models")[0][0] == 1 + 1000


def test_a_file_that_is_not_parquet_is_named(tmp_path, capsys):
    write_lines(tmp_path / "fake.parquet", "id\nnot/parquet\n")
    assert main(["ingest", str(tmp_path / "fake.parquet"), "--store", str(tmp_path / "s.duckdb")]) == 1
    assert f"cannot read {tmp_path / 'fake.parquet'}: not a readable Parquet file" in capsys.readouterr().err


def test_a_listing_page_with_a_deeply_nested_record_costs_that_record():
    """json_body parses a Hub listing page; a record too deep for the parser becomes a problem
    of its row, and the rest of the page (and its cursor) survives."""
    deep = '{"id": "x/deep", "cardData": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    page = "[" + ",".join([json.dumps({"id": "a/1", "tags": ["x,]["]}), deep, json.dumps({"id": "a/2"})]) + "]"
    with pytest.raises(RecursionError):
        json.loads(page)
    raw, bad, n = read_records(json_body(page), start_row=11)
    assert n == 3 and raw.column("id").to_pylist() == ["a/1", "a/2"] and raw.column("tags")[0].as_py() == ["x,]["]
    assert bad == [(12, "record nested too deeply to read")]
    with pytest.raises(ValueError, match="nested too deeply"):
        json_body('{"id": ' + "[" * 100_000)


# -- part 2: no alias bombs ----------------------------------------------------------------

def test_alias_bombs_are_refused_in_bounded_memory_and_time(tmp_path):
    """Every path (JSONL cardData string, Parquet cardData and card front matter, seed CSV
    card_data) meets the bomb in a fresh process: peak memory and time stay small."""
    script = textwrap.dedent(f"""
        import csv, json, resource, sys, time
        import pyarrow as pa, pyarrow.parquet as pq
        from phylohf.store.ingest import ingest_file
        from phylohf.store.database import Store
        sys.path.insert(0, {str(tmp_path)!r})
        bomb = {BOMB!r}
        d = {str(tmp_path)!r}
        open(d + "/b.jsonl", "w").write(json.dumps({{"id": "x/b", "cardData": bomb}}) + "\\n")
        pq.write_table(pa.table({{"id": ["x/b"], "cardData": [bomb]}}), d + "/b.parquet")
        pq.write_table(pa.table({{"id": ["x/b"], "card": ["---\\n" + bomb + "---\\n"]}}), d + "/f.parquet")
        with open(d + "/b.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["model_id", "metadata"])
            w.writerow(["x/b", json.dumps({{"id": "x/b", "card_data": bomb}})])
        with Store(d + "/warm.duckdb") as s:
            ingest_file(s, d + "/b.jsonl", progress=False)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        skipped = []
        for name in ("b.jsonl", "b.parquet", "f.parquet", "b.csv"):
            with Store(d + "/" + name + ".duckdb") as s:
                skipped.append(ingest_file(s, d + "/" + name, progress=False).skipped)
        print(json.dumps({{"skipped": skipped, "seconds": time.perf_counter() - t0,
                          "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          "growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    print(f"alias bomb: {got}")
    assert got["skipped"] == [1, 1, 1, 1]
    assert got["growth_mb"] < 50 and got["seconds"] < 10


def test_alias_expansion_is_bounded_but_ordinary_aliases_work():
    shared = "defaults: &d {license: mit}\nlicense: mit\nbase_model: [a/x, a/y]\nmore: *d\n"
    assert normalize({"id": "o/m", "cardData": shared}).license == "mit"
    assert to_raw({"id": "o/m", "cardData": "x: " + "[" * 200 + "]" * 200})["card_data"].count("[") == 200
    for hostile in (BOMB, SELF_ALIAS, "a: &a {b: *a}", DEEP_YAML, "x: " + "[" * 1000 + "]" * 1000):
        with pytest.raises(MalformedRecord):
            to_raw({"id": "o/m", "cardData": hostile})


# -- part 4: silent changes are recorded ---------------------------------------------------

def fixes_of(path):
    return dict(rows(path, "SELECT id, fixes FROM models"))


def test_repairs_are_deliberate_and_counted(tmp_path):
    many = [f"org/p{i}" for i in range(10_000)]
    records = [
        {"id": "r/tags", "tags": "llama, text-generation,,license:mit"},
        {"id": "r/tagsbad", "tags": ["ok", 7, None]},
        {"id": "r/numbers", "downloads": "1234", "likes": " 5 "},
        {"id": "r/badnum", "downloads": "lots", "likes": True},
        {"id": "r/bm", "cardData": {"base_model": 42}},
        {"id": "r/many", "cardData": {"base_model": many, "base_model_relation": "merge"}},
        {"id": "r/manytags", "tags": [f"base_model:merge:{p}" for p in many]},
        {"id": "r/clean", "tags": ["a"], "downloads": 3}]
    jsonl(tmp_path / "r.jsonl", [json.dumps(r) for r in records])
    store = tmp_path / "s.duckdb"
    with Store(store) as s:
        report = ingest_file(s, tmp_path / "r.jsonl", progress=False)
        counts = s.fix_counts()
    assert report.skipped == 0 and report.stored == len(records)
    assert fixes_of(store) == {
        "r/tags": ["tags_text"], "r/tagsbad": ["bad_tags"], "r/numbers": ["number_text"],
        "r/badnum": ["no_metadata", "bad_number"], "r/bm": ["bad_parent"], "r/many": ["many_parents"],
        "r/manytags": ["many_parents"], "r/clean": []}
    assert counts == {"bad_number": 1, "bad_parent": 1, "bad_tags": 1, "many_parents": 2, "no_metadata": 1, "number_text": 1,
                      "tags_text": 1}
    got = dict(rows(store, "SELECT id, [tags, [downloads::VARCHAR, likes::VARCHAR], "
                           "list_transform(parents, lambda p: p.id)] FROM models"))
    assert got["r/tags"][0] == ["llama", "text-generation"] and got["r/numbers"][1] == ["1234", "5"]
    assert got["r/many"][2] == many[:MAX_PARENTS] and got["r/manytags"][2] == many[:MAX_PARENTS]
    # repairs are not skipped rows: --strict still succeeds
    assert main(["ingest", str(tmp_path / "r.jsonl"), "--store", str(store), "--strict"]) == 0


def test_parquet_repairs_match_the_json_path(tmp_path):
    many = json.dumps({"base_model": [f"org/p{i}" for i in range(10_000)], "base_model_relation": "merge"})
    parquet(tmp_path / "p.parquet", {
        "id": ["r/a", "r/b", "r/c", "r/d"],
        "tags": ["llama, en", None, "x", "y"],
        "downloads": ["12", "lots", None, " 7 "],
        "likes": [1.5, float("inf"), 3.0, None],
        "cardData": [None, json.dumps({"base_model": {"id": "a/b"}}), many, json.dumps({"base_model": ["a/b"]})]})
    store = tmp_path / "s.duckdb"
    with Store(store) as s:
        ingest_file(s, tmp_path / "p.parquet", progress=False)
    assert fixes_of(store) == {"r/a": ["bad_number", "number_text", "tags_text"], "r/b": ["bad_number", "bad_parent"],
                               "r/c": ["many_parents", "tags_text"], "r/d": ["number_text", "tags_text"]}
    assert rows(store, "SELECT len(parents), downloads, likes FROM models ORDER BY id") == [
        (0, 12, None), (0, None, None), (MAX_PARENTS, None, 3), (1, 7, None)]
    # the same records through the JSON path get the same repairs
    jsonl(tmp_path / "p.jsonl", [json.dumps({k: v for k, v in r.items() if v is not None})
                                 for r in pq.read_table(tmp_path / "p.parquet").to_pylist()])
    with Store(tmp_path / "j.duckdb") as s:
        ingest_file(s, tmp_path / "p.jsonl", progress=False)
    assert fixes_of(tmp_path / "j.duckdb") == fixes_of(store)


def test_invalid_utf8_ids_are_rejected_not_merged(tmp_path):
    """Two ids that differ only in invalid bytes would both become 'x/m\ufffd'."""
    lines = [b'{"id": "x/m\xff"}', b'{"id": "x/m\xfe"}', b'{"id": "x/ok"}']
    write_lines(tmp_path / "u.jsonl", b"\n".join(lines) + b"\n", "wb")
    good = pa.array([b"x/ok", b"x/m\xff", b"x/m\xfe"], pa.binary())
    ids = pa.Array.from_buffers(pa.string(), 3, good.buffers())
    pq.write_table(pa.table({"id": ids, "likes": [1, 2, 3]}), tmp_path / "u.parquet")
    for name, where in (("u.jsonl", [1, 2]), ("u.parquet", [2, 3])):
        store = tmp_path / f"{name}.duckdb"
        with Store(store) as s:
            report = ingest_file(s, tmp_path / name, progress=False)
        assert rows(store) == [("x/ok",)]
        assert [r for r, _ in report.problems] == where and "not valid UTF-8" in report.problems[0][1]


def test_a_byte_order_mark_does_not_cost_the_first_row(tmp_path):
    write_lines(tmp_path / "bom.jsonl", codecs.BOM_UTF8 + (ok(1) + "\n" + ok(2) + "\n").encode(), "wb")
    (table, bad, n), = read_jsonl(tmp_path / "bom.jsonl")
    assert table.column("id").to_pylist() == ["ok/m1", "ok/m2"] and bad == [] and n == 2


def test_a_file_without_ids_is_one_error(tmp_path, capsys):
    parquet(tmp_path / "noid.parquet", {"name": [f"m{i}" for i in range(10_000)], "likes": list(range(10_000))})
    jsonl(tmp_path / "noid.jsonl", [json.dumps({"name": f"m{i}"}) for i in range(10_000)])
    for name in ("noid.parquet", "noid.jsonl"):
        assert main(["ingest", str(tmp_path / name), "--store", str(tmp_path / "s.duckdb")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "model id" in err[0] and str(tmp_path / name) in err[0], err
    # a file where only some records lack an id keeps the per-row problems
    jsonl(tmp_path / "some.jsonl", [ok(1), json.dumps({"name": "m"})])
    with Store(tmp_path / "t.duckdb") as s:
        assert ingest_file(s, tmp_path / "some.jsonl", progress=False).problems == [
            (2, "record has no model id (fields id / modelId / model_id)")]


# -- part 5: the problems table is idempotent ----------------------------------------------

def bad_file(path):
    jsonl(path, [ok(i) if i % 3 else "{not json" for i in range(30)])      # 10 bad lines


def test_reruns_and_resumes_record_each_problem_once(tmp_path):
    bad_file(tmp_path / "b.jsonl")
    store = tmp_path / "s.duckdb"
    with Store(store) as s:
        ingest_file(s, tmp_path / "b.jsonl", progress=False)
    once = problems(store)
    assert len(once) == 10

    def killed():
        batches = read_jsonl(tmp_path / "b.jsonl", batch_rows=5)
        yield next(batches)
        yield next(batches)
        raise KeyboardInterrupt

    with Store(store) as s:
        for _ in range(3):
            with pytest.raises(KeyboardInterrupt):
                ingest_batches(s, killed(), str(tmp_path / "b.jsonl"), progress=False)
            ingest_file(s, tmp_path / "b.jsonl", progress=False)
        s.add_problems(str(tmp_path / "b.jsonl"), [once[0]] * 2)     # the same problem twice, again
    assert problems(store) == once
    # the file changed: its problems are those of the new reading
    jsonl(tmp_path / "b.jsonl", [ok(1), "{not json"])
    with Store(store) as s:
        ingest_file(s, tmp_path / "b.jsonl", progress=False)
    assert [r for r, _ in problems(store)] == [2]


def test_a_recrawl_records_each_problem_once(tmp_path):
    records = [{"id": f"org/m{i}", "tags": [], "cardData": BOMB if i % 4 == 0 else {"license": "mit"}}
               for i in range(12)]
    store = tmp_path / "s.duckdb"
    with HubServer(records) as hub:
        for _ in range(3):
            with Store(store) as s:
                report = ingest_source(s, "hub:all", fast(hub, page_size=5), progress=False)
            assert report.stored == 9 and report.skipped == 3
    got = rows(store, "SELECT source, problem FROM problems")
    assert len(got) == 3 and all(src == "hub:all" and "alias bomb" in p for src, p in got)
