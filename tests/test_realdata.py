"""Real seed-CSV crawls (``tests/data/realdata``, see its README) through the real ingest path.

The expected outcomes are read from the files themselves (the rows, the Hub's relation
tags, the crawl's lists), not from phylohf.
"""
import csv
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from phylohf.cli import main
from phylohf.store.ingest import ingest_file
from phylohf.genealogy.lineage import Lineage
from phylohf.sources.seedcsv import read_seed_csv
from phylohf.store.database import Store

csv.field_size_limit(sys.maxsize)
DATA = Path(__file__).parent / "data" / "realdata"
FILES = sorted(DATA.glob("*.csv"), key=lambda p: re.search(r"\d{8}(_\d{6})?", p.name).group())  # crawl order
RELATION_TAG = re.compile(r"base_model:(?:finetune|adapter|quantized|merge):(.+)")


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def bare(ref: str) -> str:
    return re.sub(r"^https://huggingface\.co/", "", ref.strip())


def metadata(row: dict) -> dict | None:
    return None if row["metadata"] == "N/A" else json.loads(row["metadata"])


def latest() -> dict[str, tuple[dict, dict | None]]:
    """Every model of the fixtures: (its last row with metadata, else its last row; metadata)."""
    out: dict[str, tuple[dict, dict | None]] = {}
    for path in FILES:
        for row in rows(path):
            mid = bare(row["model_id"])
            if metadata(row) is not None or mid not in out:
                out[mid] = (row, metadata(row))
    return out


def write_csv(path: Path, header: list[str], records: list[dict], bom: bool = False) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        w.writerows(records)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("real") / "real.duckdb"
    assert main(["-q", "ingest", *map(str, FILES), "--store", str(path), "--strict"]) == 0   # nothing skipped
    with Store(path, read_only=True) as s:
        yield s


@pytest.fixture(scope="module")
def lineage(store):
    lin = Lineage.from_store(store)
    return lin, {m: i for i, m in enumerate(lin.ids)}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_row_of_every_variant_lands(tmp_path, path):
    with Store(tmp_path / "s.duckdb") as s:
        report = ingest_file(s, path, progress=False)
        assert report.skipped == 0, report.problems
        assert report.stored == s.count() == len({bare(r["model_id"]) for r in rows(path)})


def test_roots_are_real_models(lineage):
    lin, index = lineage
    named = {m.lower() for m in latest()}
    placeholders = {str(m) for m in lin.ids[~lin.observed]}
    assert not {p.lower() for p in placeholders} & named
    # the only placeholders are the parents of the crawls' roots, which no row names
    assert placeholders == {"mistralai/Mistral-Small-24B-Base-2501", "yl4579/StyleTTS2-LJSpeech"}
    for root_row in (r for p in FILES for r in rows(p) if r["depth"] == "0"):
        assert lin.observed[index[bare(root_row["model_id"])]]
    roots = {str(lin.ids[r]) for r in lin.root}
    assert roots == {"mistralai/Mistral-Small-24B-Base-2501", "yl4579/StyleTTS2-LJSpeech",
                     "deepseek-ai/DeepSeek-R1", "EvolutionaryScale/esm3-sm-open-v1"}


def test_primary_parents_follow_the_relation_tags(lineage):
    lin, index = lineage
    checked = several = 0
    for mid, (_, meta) in latest().items():
        tagged = [m.group(1) for t in (meta or {}).get("tags", []) if (m := RELATION_TAG.fullmatch(t))]
        if not tagged:
            continue
        card = yaml.safe_load(meta.get("card_data") or "{}") or {}
        listed = card.get("base_model")
        several += isinstance(listed, list) and len(set(listed)) > 1
        assert str(lin.ids[lin.parent[index[mid]]]) in tagged, mid
        checked += 1
    assert checked == 17 and several == 3           # Dyna-1, VQ1, Vesna list several card parents
    assert len(lin.extra_child) == 0                # none of them is a merge: the Hub links one parent
    # the crawl of April 10 has kenu's card, which lists a parent the Hub does not link first
    kenu = next(metadata(r) for r in rows(DATA / "deepseek_r1_20250410_list.csv") if r["model_id"] == "r4isy/kenu")
    assert yaml.safe_load(kenu["card_data"])["base_model"][0] == "openai-community/gpt2"
    assert "openai-community/gpt2" not in index


def test_cards_are_stored(store):
    expected = {mid: row["card"] for mid, (row, _) in latest().items() if row.get("card") not in (None, "", "N/A")}
    stored = dict(store.con.execute("SELECT id, card FROM models WHERE card IS NOT NULL").fetchall())
    assert stored == expected and len(stored) == 9


def test_rows_without_metadata_keep_their_node(tmp_path):
    path = DATA / "kokoro_v2_20250422_201036.csv"
    root = next(r for r in rows(path) if r["depth"] == "0")
    children = {bare(c) for c in root["children"].split(",")}
    na = [bare(r["model_id"]) for r in rows(path) if r["metadata"] == "N/A"]
    assert len(na) == 3 and set(na) <= children
    with Store(tmp_path / "s.duckdb") as s:
        assert ingest_file(s, path, progress=False).skipped == 0
        got = s.con.execute("SELECT id, license, languages, created_at, card, parents, fixes FROM models "
                            "WHERE list_contains(fixes, 'no_metadata') ORDER BY id").fetchall()
        lin = Lineage.from_store(s)
    assert [g[0] for g in got] == sorted(na)
    for _, license, languages, created, card, parents, fixes in got:
        assert (license, languages, created, card) == (None, [], None, None)
        assert parents == [{"id": "hexgrad/Kokoro-82M", "relation": "finetune"}]   # from the root's children
        assert "no_metadata" in fixes
    index = {m: i for i, m in enumerate(lin.ids)}
    assert all(lin.observed[index[m]] and lin.ids[lin.parent[index[m]]] == "hexgrad/Kokoro-82M" for m in na)


@pytest.mark.parametrize("order", ["by-date", "reversed", "one-file"])
def test_overlapping_crawls_keep_the_metadata(tmp_path, order):
    # umersattar/girl: N/A at 20:10, with metadata at 22:00; the N/A row never wins
    files = [DATA / "kokoro_v2_20250422_201036.csv", DATA / "kokoro_v2_20250422_220003.csv"]
    later = next(r for r in rows(files[1]) if r["model_id"] == "umersattar/girl")
    assert metadata(later) is not None
    if order == "reversed":
        files = files[::-1]
    elif order == "one-file":                          # both rows in one batch, the N/A one last
        write_csv(tmp_path / "both.csv", list(later), [later, *rows(files[0])])
        files = [tmp_path / "both.csv"]
    with Store(tmp_path / "s.duckdb") as s:
        for f in files:
            ingest_file(s, f, progress=False)
        created, fixes = s.con.execute("SELECT strftime(created_at, '%Y-%m-%d %H:%M:%S'), fixes FROM models "
                                       "WHERE id = 'umersattar/girl'").fetchall()[0]
    assert created == metadata(later)["created_at"][:19] and fixes == []


def test_one_family_at_two_dates(tmp_path):
    march, april = DATA / "deephermes_20250325_comma.csv", DATA / "deephermes_20250404_list.csv"
    ids = {bare(r["model_id"]) for p in (march, april) for r in rows(p)}
    root = next(metadata(r) for r in rows(april) if r["depth"] == "0")
    with Store(tmp_path / "s.duckdb") as s:
        for f in (march, april):
            ingest_file(s, f, progress=False)
        assert s.count() == len(ids) == 6
        downloads = s.con.execute("SELECT downloads FROM models WHERE id = ?", [root["id"]]).fetchall()[0][0]
        lin = Lineage.from_store(s)
    assert downloads == root["downloads"]            # the later crawl's numbers
    deep = next(bare(r["model_id"]) for r in rows(april) if r["depth"] == "2")
    assert lin.depth[list(lin.ids).index(deep)] == 3    # below the root, which is below its absent base


def test_declarations_that_say_nothing(store):
    records = latest()
    got = dict(store.con.execute("SELECT id, {'license': license, 'languages': languages, 'fixes': fixes} "
                                 "FROM models").fetchall())
    pickers = 0
    for mid, (_, meta) in records.items():
        card = yaml.safe_load(meta.get("card_data") or "{}") or {} if meta else {}
        declared = set(card.get("language") or []) | set((meta or {}).get("tags", []))
        if "ae" in declared and declared & {"aa", "ab"}:
            pickers += 1
            assert got[mid]["languages"] == [] and "language_picker" in got[mid]["fixes"], mid
        else:
            assert "language_picker" not in got[mid]["fixes"], mid
    assert pickers == 4
    assert got["ThornoDen/Sonya"]["languages"] == ["ab"]             # one picker code alone is kept
    assert got["Dimaswa/openrail"]["languages"] == ["aa", "ab"]      # Afar and Abkhazian, no Avestan
    assert "license:unknown" in records["Lotusaihk/lotusaihk"][1]["tags"]
    assert got["Lotusaihk/lotusaihk"]["license"] is None and "unknown_license" in got["Lotusaihk/lotusaihk"]["fixes"]


def test_parents_spelled_in_another_case(tmp_path):
    # none of the real crawls has one: Dyna-1's real row with its parent's id re-spelled
    path = DATA / "esm3_20250407_list.csv"
    base, dyna = rows(path)
    meta = metadata(dyna)
    meta["tags"] = [t.replace("EvolutionaryScale/", "evolutionaryscale/") for t in meta["tags"]]
    meta["tags"].append("base_model:finetune:EVOLUTIONARYSCALE/ESM3-SM-OPEN-V1")
    header = list(base)
    write_csv(tmp_path / "child.csv", header, [{**dyna, "metadata": json.dumps(meta)}])
    write_csv(tmp_path / "base.csv", header, [base])
    with Store(tmp_path / "s.duckdb") as s:
        for f in ("child.csv", "base.csv"):                  # the child first: resolved once both are in
            assert ingest_file(s, tmp_path / f, progress=False).skipped == 0
        lin = Lineage.from_store(s)
        fixes = s.fix_counts()
    assert lin.ids.tolist() == ["EvolutionaryScale/esm3-sm-open-v1", "gelnesr/Dyna-1"]   # no placeholder
    assert lin.parent.tolist() == [-1, 0] and len(lin.extra_child) == 0                  # no self "merge"
    assert fixes["case_parent"] == 1 and fixes["case_duplicate_parent"] == 1


def test_hostile_rows_cost_only_themselves(tmp_path):
    path = DATA / "esm3_20250407_list.csv"
    base, dyna = rows(path)
    canary = tmp_path / "canary"
    hostile = [
        {**base, "": "2", "model_id": "deep/nesting", "metadata": "[" * 100_000},
        {**base, "": "3", "model_id": "not/object", "metadata": json.dumps(["a", "list"])},
        {**dyna, "": "4", "model_id": "bad/children", "metadata": json.dumps({**metadata(dyna), "id": "bad/children"}),
         "children": f"__import__('os').system('touch {canary}')"},
        {**dyna, "": "5", "model_id": "bad/children2", "metadata": json.dumps({**metadata(dyna), "id": "bad/children2"}),
         "children": "[1, 2]"},
    ]
    write_csv(tmp_path / "plain.csv", list(base), [base, dyna])
    write_csv(tmp_path / "bom.csv", list(base), [base, dyna] + hostile, bom=True)
    assert (tmp_path / "bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with Store(tmp_path / "s.duckdb") as s:
        report = ingest_file(s, tmp_path / "bom.csv", progress=False)
        stored = s.con.execute("SELECT id, parents, fixes FROM models ORDER BY id").fetchall()
    with Store(tmp_path / "plain.duckdb") as s:
        ingest_file(s, tmp_path / "plain.csv", progress=False)
        plain = s.con.execute("SELECT id, parents, fixes FROM models ORDER BY id").fetchall()
    assert not canary.exists()
    lines = [row for row, _ in report.problems]
    assert len(lines) == 2 and lines[0] < lines[1]
    assert "nested too deeply" in report.problems[0][1] and "not a JSON object" in report.problems[1][1]
    assert [r[0] for r in stored] == ["EvolutionaryScale/esm3-sm-open-v1", "bad/children", "bad/children2",
                                      "gelnesr/Dyna-1"]
    assert [r for r in stored if "bad" not in r[0]] == plain                 # the BOM changes nothing
    for _, parents, fixes in stored[1:3]:                                    # the edge list is lost, not the model
        assert parents == [{"id": "EvolutionaryScale/esm3-sm-open-v1", "relation": "finetune"}]
        assert "bad_seed_list" in fixes


def test_rows_without_metadata_wait_for_every_list_of_the_file():
    path = DATA / "kokoro_v2_20250422_201036.csv"
    batches = list(read_seed_csv(path, batch_rows=1))
    ids = [r for table, _, _ in batches for r in table.column("id").to_pylist()]
    assert sorted(ids) == sorted(r["model_id"] for r in rows(path))
    last = batches[-1][0].to_pylist()
    assert [bare(r["id"]) for r in last] == [bare(r["model_id"]) for r in rows(path) if r["metadata"] == "N/A"]
    assert {json.loads(r["base_models"])["models"][0]["id"] for r in last} == {"hexgrad/Kokoro-82M"}
