"""Hub crawls against a local Hub-like server (tests/hubserver.py), driven by the real huggingface_hub."""
import io
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import constants

from hubserver import HubServer, api_records
from phylohf.store.ingest import crawl_family, crawl_listing, ingest_batches, ingest_source
from phylohf.sources.records import RELATIONS
from phylohf.sources import hub as hub_module
from phylohf.sources.hub import HubSettings, Pacer, parse_dataset
from phylohf.sources.simulate import simulate
from phylohf.store.database import Store

N = 1500
TOKEN = "hf_testSECRETtoken0123456789"


@pytest.fixture(scope="module")
def sim():
    return simulate(N, seed=3)


@pytest.fixture(scope="module")
def fixture(sim):
    return api_records(sim.listing)


def fast(hub, **kw) -> HubSettings:
    """No pacing, short waits: the faults cost milliseconds."""
    return HubSettings(**{"endpoint": hub.url, "api_quota": 10**9, "backoff": 0.01, "timeout": 0.5,
                          "token": False, **kw})


def models(path) -> list[tuple]:
    with Store(path, read_only=True) as s:
        return s.con.execute('SELECT * EXCLUDE (ingested_at, "row") FROM models ORDER BY id').fetchall()


def family_of(records, root) -> set[str]:
    """Brute force: every model reachable from ``root`` down base_model:<relation>:<id> tags."""
    children = {}
    for r in records:
        for tag in r["tags"]:
            parts = tag.split(":", 2)
            if len(parts) == 3 and parts[0] == "base_model" and parts[1] in RELATIONS:
                children.setdefault(parts[2], []).append(r["id"])
    seen, todo = {root}, [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def deep_model(sim, records):
    """A model 3+ generations below its root, every ancestor a listed single-parent model:
    (model, true root)."""
    listed = {r["id"] for r in records}
    parents = sim.truth["parents"]
    for m in sorted(parents):
        chain = [m]
        while chain[-1] in parents and len(parents[chain[-1]]) == 1 and parents[chain[-1]][0][0] in listed:
            chain.append(parents[chain[-1]][0][0])
        if len(chain) >= 4 and chain[-1] not in parents and len(family_of(records, chain[-1])) >= 20:
            return m, chain[-1]
    raise AssertionError("no deep model in the fixture")


# -- the server, as huggingface_hub sees it --------------------------------------------------

def test_server_answers_huggingface_hub_like_the_hub(fixture):
    from huggingface_hub import HfApi
    records, cards = fixture
    with HubServer(records, cards, page_size=100) as hub:
        api = HfApi(endpoint=hub.url, token=False)
        author = records[0]["author"]                                     # fewer than 100 models: one page
        assert [m.id for m in api.list_models(author=author)] == [r["id"] for r in records if r["author"] == author]
        llama = [r["id"] for r in records if "llama" in r["id"].lower()]
        assert len(llama) > 150 and [m.id for m in api.list_models(search="LLaMA", limit=150)] == llama[:150]
        child = next(r for r in records if isinstance(r["cardData"], dict) and r["cardData"].get("base_model"))
        tag = next(t for t in child["tags"] if t.startswith("base_model:") and t.count(":") == 2)
        found = list(api.list_models(filter=[tag, "region:us"], full=True, cardData=True))
        assert child["id"] in [m.id for m in found] and all(tag in m.tags for m in found)
        one = next(m for m in found if m.id == child["id"])
        assert one.card_data.to_dict() == child["cardData"] and one.last_modified is not None
        info = api.model_info(child["id"], expand=["cardData", "createdAt"])
        assert info.card_data.to_dict() == child["cardData"] and info.tags is None
        assert hub.count("/api/models") == 1 + 2 + 1 + 1                  # author, search (2 pages), filter, info


# -- listing ---------------------------------------------------------------------------------

def test_listing_paginates_and_stores_every_model(fixture, tmp_path):
    records, cards = fixture
    with HubServer(records, cards, page_size=400) as hub, Store(tmp_path / "a.duckdb") as store:
        report = crawl_listing(store, fast(hub), progress=False)
        assert hub.count("/api/models") == 4                      # ceil(1500 / 400) pages, each once
        assert report.stored == N and not report.problems and report.stopped is None
        ids = [r[0] for r in store.con.execute('SELECT id FROM models ORDER BY "row"').fetchall()]
    assert ids == [r["id"] for r in records]                       # listing order, nothing lost


def test_listing_equals_ingesting_the_same_records(fixture, sim, tmp_path):
    """The crawl and the snapshot path normalise the same records identically."""
    from phylohf.sources.simulate import write_listing
    records, cards = fixture
    with HubServer(records, cards) as hub, Store(tmp_path / "a.duckdb") as store:
        crawl_listing(store, fast(hub), progress=False)
    write_listing(sim, tmp_path / "s.jsonl")
    with Store(tmp_path / "b.duckdb") as store:
        ingest_source(store, str(tmp_path / "s.jsonl"), progress=False)
        store.con.execute("UPDATE models SET card = NULL, source = 'hub:all'")
    cols = "id, author, created_at, license, languages, pipeline_tag, library, architecture, datasets, tags, parents"
    with Store(tmp_path / "a.duckdb", read_only=True) as a, Store(tmp_path / "b.duckdb", read_only=True) as b:
        assert (a.con.execute(f"SELECT {cols} FROM models ORDER BY id").fetchall()
                == b.con.execute(f"SELECT {cols} FROM models ORDER BY id").fetchall())


def test_limit_takes_the_first_models(fixture, tmp_path):
    records, cards = fixture
    with HubServer(records, cards, page_size=300) as hub, Store(tmp_path / "a.duckdb") as store:
        report = crawl_listing(store, fast(hub), limit=450, progress=False)
        assert report.stored == 450 and hub.count("/api/models") == 2
        assert {r[0] for r in store.con.execute("SELECT id FROM models").fetchall()} == {
            r["id"] for r in records[:450]}


# -- faults ----------------------------------------------------------------------------------

def test_transient_faults_are_retried(fixture, tmp_path):
    records, cards = fixture
    with HubServer(records, cards, page_size=300, slow_seconds=1.0) as hub, Store(tmp_path / "a.duckdb") as store:
        for kind, after in [("429", 0), ("ratelimit", 1), ("500", 1), ("slow", 2), ("drop", 3), ("truncated", 3),
                            ("cut", 3)]:
            hub.inject(kind, after=after)
        t = time.perf_counter()
        report = crawl_listing(store, fast(hub), progress=False)
        assert hub.pending() == 0                                   # every fault was served
        assert report.stored == N and not report.problems and store.count() == N
        assert time.perf_counter() - t >= 2.0                       # Retry-After: 0 and RateLimit t=0 wait 1 s each


def test_persistent_failure_stops_cleanly_and_resumes(fixture, tmp_path):
    records, cards = fixture
    with HubServer(records, cards, page_size=300) as hub:
        with Store(tmp_path / "ref.duckdb") as store:
            crawl_listing(store, fast(hub), progress=False)
        hub.requests.clear()
        hub.inject("500", times=3, after=2)                         # page 3 fails beyond 2 retries
        with Store(tmp_path / "a.duckdb") as store:
            report = crawl_listing(store, fast(hub, retries=2), progress=False)
            assert report.stopped and "HTTP 500" in report.stopped and "same command" in report.stopped
            assert store.count() == 600
            report = crawl_listing(store, fast(hub, retries=2), progress=False)
            assert report.stopped is None and report.stored == N - 600
        first = [p for _, p, _ in hub.requests if "cursor=" not in p]
        assert len(first) == 1                                      # the resumed crawl did not start over
    assert models(tmp_path / "a.duckdb") == models(tmp_path / "ref.duckdb")


def test_malformed_pages_and_records_are_recorded_and_skipped(fixture, tmp_path):
    records, cards = fixture
    broken = [*records[:200], {"modelId": None, "tags": []}, "not an object", *records[200:300]]
    with HubServer(broken, cards, page_size=100) as hub, Store(tmp_path / "a.duckdb") as store:
        hub.inject("truncated", times=3, after=1)                   # page 2 never parses (retries=2)
        report = crawl_listing(store, fast(hub, retries=2), progress=False)
        assert report.stopped is None
        assert store.count() == 200                                 # page 2 lost; page 3 has 2 malformed records
        counts = store.problem_counts()
    assert counts == {"listing page skipped": 1, "expected a JSON object, got str": 1,
                      "record has no model id": 1}


def test_an_answer_past_the_limit_is_refused_as_it_arrives(fixture, tmp_path, monkeypatch):
    """A page or a card longer than the limit (here 100 MiB against 1 MiB) is a problem; its
    reading stops at the limit, so memory stays bounded, and the crawl goes on."""
    monkeypatch.setattr(hub_module, "MAX_ANSWER_BYTES", 1 << 20)
    records, cards = fixture
    with HubServer(records[:300], cards, page_size=100) as hub, Store(tmp_path / "a.duckdb") as store:
        hub.inject("huge", after=1)                                 # page 2
        hub.inject("huge", path="/resolve/")                        # the first card
        report = crawl_listing(store, fast(hub, cards=True), progress=False)
        assert report.stopped is None and store.count() == 200      # pages 1 and 3
        assert hub.pending() == 0
        got = store.con.execute("SELECT problem FROM problems WHERE problem LIKE '%larger than%'").fetchall()
    assert sorted(p.split(" (")[0] for p, in got) == ["listing page skipped", "no model card"]
    assert all("larger than 1,048,576 bytes, not read" in p for p, in got)


def test_a_deeply_nested_record_costs_itself_not_its_page(fixture, tmp_path):
    records, cards = fixture
    with HubServer(records[:300], cards, page_size=100) as hub, Store(tmp_path / "a.duckdb") as store:
        hub.inject("deep", times=1, after=1)                        # page 2 carries the record
        report = crawl_listing(store, fast(hub), progress=False)
        assert report.stopped is None and store.count() == 300      # every real record of page 2 kept
        assert store.problem_counts() == {"record nested too deeply to read": 1}


# -- family ----------------------------------------------------------------------------------

def test_family_crawl_finds_the_root_and_the_whole_family(fixture, sim, tmp_path):
    records, cards = fixture
    model, root = deep_model(sim, records)
    expected = family_of(records, root)
    with HubServer(records, cards, page_size=50) as hub, Store(tmp_path / "f.duckdb") as store:
        report = crawl_family(store, model, fast(hub), progress=False)
        ids = [r[0] for r in store.con.execute("SELECT id FROM models").fetchall()]
        assert store.con.execute("SELECT root FROM crawls").fetchall() == [(root,)]
        listed = [p.rsplit("filter=", 1)[1] for _, p, _ in hub.requests if "filter=" in p]
    assert report.stopped is None and not report.problems
    assert len(ids) == len(set(ids)) and set(ids) == expected      # all of it, each model once
    parents = {f"base_model:{m}" for m in expected if any(f"base_model:{m}" in r["tags"] for r in records)}
    assert sorted(listed) == sorted(parents) and len(parents) < len(expected)   # once per model with children


def test_family_crawl_records_denied_and_deleted_models(fixture, sim, tmp_path):
    records, cards = fixture
    model, root = deep_model(sim, records)
    parent = sim.truth["parents"][model][0][0]
    for status, expect in [(401, "HTTP 401"), (403, "HTTP 403")]:
        with HubServer(records, cards, denied={parent: status}) as hub, \
                Store(tmp_path / f"{status}.duckdb") as store:
            report = crawl_family(store, model, fast(hub), progress=False)
            assert store.con.execute("SELECT root FROM crawls").fetchall() == [(model,)]
            assert store.con.execute("SELECT id, problem FROM problems").fetchall() == [
                (parent, f"model skipped ({expect}, gated or private)")]
            assert report.stored == len(family_of(records, model))
    deleted = [r for r in records if r["id"] != parent]
    with HubServer(deleted, cards) as hub, Store(tmp_path / "404.duckdb") as store:
        crawl_family(store, model, fast(hub), progress=False)
        assert store.problem_counts() == {"model skipped": 1}


def test_family_crawl_stopped_resumes_to_the_same_store(fixture, sim, tmp_path):
    records, cards = fixture
    model, root = deep_model(sim, records)
    with HubServer(records, cards) as hub:
        with Store(tmp_path / "ref.duckdb") as store:
            crawl_family(store, model, fast(hub), progress=False)
        walk_up = hub.count("/api/models/")
        hub.requests.clear()
        hub.inject("drop", times=3, path=f"filter=base_model:{root}")  # fails beyond 2 retries
        with Store(tmp_path / "a.duckdb") as store:
            first = crawl_family(store, model, fast(hub, retries=2, workers=2), progress=False)
            assert first.stopped and "RemoteProtocolError" in first.stopped
            second = crawl_family(store, model, fast(hub, retries=2, workers=2), progress=False)
            assert second.stopped is None and first.stored + second.stored == len(family_of(records, root))
        assert hub.count("/api/models/") == walk_up >= 4            # the walk up was not repeated
    assert models(tmp_path / "a.duckdb") == models(tmp_path / "ref.duckdb")


def hub_shaped_family(n: int = 1000, seed: int = 5) -> tuple[list[dict], str]:
    """A family of ``n`` models as the Hub has them (a few hubs with many children, most
    models leaves, some merges; each child tagged ``base_model:<id>`` and
    ``base_model:<relation>:<id>``) among 300 unrelated models: (records, root)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    ids = ["org/root"] + [f"u{i % 97}/m{i}" for i in range(1, n)]
    weight = np.full(n, 0.3)
    weight[rng.choice(n // 4, 12, replace=False)] = 80.0        # the hubs
    records = [{"id": ids[0], "author": "org", "tags": ["license:apache-2.0"], "createdAt": "2024-01-01T00:00:00Z"}]
    for i in range(1, n):
        w = weight[:i] / weight[:i].sum()
        parents = rng.choice(i, 2 if i > 50 and rng.random() < 0.03 else 1, replace=False, p=w)
        relation = "merge" if len(parents) == 2 else str(rng.choice(["finetune", "adapter", "quantized"]))
        tags = [t for p in parents for t in (f"base_model:{ids[p]}", f"base_model:{relation}:{ids[p]}")]
        records.append({"id": ids[i], "author": ids[i].split("/")[0], "tags": tags, "createdAt": "2024-06-01T00:00:00Z",
                        "cardData": {"base_model": [ids[p] for p in parents] if len(parents) > 1 else ids[parents[0]]}})
    others = [{"id": f"x/other{i}", "tags": [f"base_model:x/other{i - 1}"] if i else []} for i in range(300)]
    return records + others, ids[0]


def test_family_crawl_costs_a_fraction_of_a_request_per_model(tmp_path):
    """One listing per model with children, none for leaves: under 0.4 requests per model,
    and the same models and edges as ingesting the whole family."""
    from phylohf.sources.snapshot import read_records
    records, root = hub_shaped_family()
    family = [r for r in records if not r["id"].startswith("x/")]
    with HubServer(records) as hub, Store(tmp_path / "f.duckdb") as store:
        report = crawl_family(store, family[-1]["id"], fast(hub), progress=False)
        assert store.con.execute("SELECT root FROM crawls").fetchall() == [(root,)]
    with_children = {t.split(":")[1] for r in family for t in r["tags"]
                     if t.startswith("base_model:") and t.count(":") == 1}
    depth = report.requests["api"] - len(with_children)                       # the walk up
    assert report.stopped is None and not report.problems and report.stored == 1000
    assert 1 <= depth <= 40 and report.requests_per_model < 0.4 and "per model fetched" in report.summary()
    assert len(with_children) < 300 and sum("base_model:merge:" in " ".join(r["tags"]) for r in family) >= 10
    with Store(tmp_path / "ref.duckdb") as store:
        ingest_batches(store, iter([read_records(family)]), "ref", progress=False)
    cols = "SELECT id, parents, license FROM models ORDER BY id"
    with Store(tmp_path / "f.duckdb", read_only=True) as a, Store(tmp_path / "ref.duckdb", read_only=True) as b:
        assert a.con.execute(cols).fetchall() == b.con.execute(cols).fetchall()
    assert family_of(family, root) == {r["id"] for r in family}


def test_ids_from_remote_data_never_become_url_paths(tmp_path, monkeypatch):
    """A hostile base_model (``../../../api/whoami-v2``), child id or next-page link is
    rejected and recorded; every request stays in the /api/models space (and card resolvers)."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    evil = "../../../api/whoami-v2"
    records = [
        {"id": "org/base.v1_x-2", "tags": [f"base_model:{evil}", f"base_model:finetune:{evil}"],
         "cardData": {"base_model": evil}},
        {"id": "org/start", "tags": ["base_model:org/base.v1_x-2", "base_model:adapter:org/base.v1_x-2"],
         "baseModels": {"models": [{"id": "org/base.v1_x-2"}], "relation": "adapter"}},
        {"id": "org/child", "tags": ["base_model:org/start", "base_model:finetune:org/start"]},
        {"id": "../../api/whoami-v2", "tags": ["base_model:org/start", "base_model:finetune:org/start"],
         "childrenModelCount": 3},
    ]
    with HubServer(records) as hub, Store(tmp_path / "e.duckdb") as store:
        hub.inject("offsite", path="filter=base_model:org/start")
        report = crawl_family(store, "org/start", fast(hub, cards=True), progress=False)
        assert hub.pending() == 0
        assert store.problem_counts()[f"listing stopped: next-page link outside {hub.url}/api/models"] == 1
        assert store.con.execute("SELECT root FROM crawls").fetchall() == [("org/base.v1_x-2",)]
        assert sorted(i for (i,) in store.con.execute("SELECT id FROM models").fetchall()) == [
            "org/base.v1_x-2", "org/child", "org/start"]
        rejected = store.con.execute("SELECT id FROM problems WHERE problem LIKE 'invalid model id%'").fetchall()
        dump = str(store.con.execute("SELECT * FROM models").fetchall())
        paths = [p for _, p, _ in hub.requests]
    assert sorted(i for (i,) in rejected) == sorted([evil, "../../api/whoami-v2"]) and report.stopped is None
    assert paths and all(p.startswith("/api/models") or p.split("?")[0].endswith("/resolve/main/README.md")
                         and ".." not in p for p in paths)
    assert "/api/models/org/base.v1_x-2?" in " ".join(paths) and not any("whoami" in p.split("?")[0] for p in paths)
    assert "someone@example.org" not in dump and "whoami-secret-id" not in dump
    with pytest.raises(ValueError, match="a Hub model id"):
        ingest_source(Store(tmp_path / "x.duckdb"), f"hub:{evil}", fast(hub), progress=False)


# -- cards, snapshots, pacing ----------------------------------------------------------------

def test_cards_are_stored_and_missing_ones_recorded(fixture, sim, tmp_path):
    records, cards = fixture
    model, root = deep_model(sim, records)
    with HubServer(records, cards) as hub, Store(tmp_path / "f.duckdb") as store:
        report = crawl_family(store, model, fast(hub, cards=True), progress=False)
        got = dict(store.con.execute("SELECT id, card FROM models").fetchall())
        missing = {i for (i,) in store.con.execute(
            "SELECT id FROM problems WHERE problem LIKE 'no model card%'").fetchall()}
    assert {i: c for i, c in got.items() if c is not None} == {i: cards[i] for i in got if i in cards}
    assert missing == {i for i in got if i not in cards} and report.cards_missing == len(missing) > 0
    assert report.skipped == 0


def test_dataset_snapshot_is_downloaded_at_its_revision(sim, tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    buf = io.BytesIO()
    pq.write_table(sim.listing, buf)
    with HubServer([], files={("org/snap", "data/models.parquet"): buf.getvalue()}) as hub, \
            Store(tmp_path / "d.duckdb") as store:
        report = ingest_source(store, "hf-dataset:org/snap:data/models.parquet@v1.0", fast(hub), progress=False)
        assert report.stored == N and report.source == "hf-dataset:org/snap:data/models.parquet@v1.0"
        assert any("/datasets/org/snap/resolve/v1.0/data/models.parquet" in p for _, p, _ in hub.requests)
        with pytest.raises(ValueError, match="HTTP 404"):
            ingest_source(store, "hf-dataset:org/snap:nothing.parquet", fast(hub), progress=False)


def hub_stats_table(rows: list[dict]) -> pa.Table:
    """Rows in the column types of ``cfahlgren1/hub-stats`` ``models.parquet`` as read by its
    users (the nested API objects as structs, dates as timestamps, lists of strings)."""
    params = pa.struct([("BF16", pa.int64()), ("F16", pa.int64()), ("F32", pa.int64())])
    schema = pa.schema([
        ("id", pa.string()), ("author", pa.string()), ("sha", pa.string()),
        ("createdAt", pa.timestamp("us", "UTC")), ("lastModified", pa.timestamp("us", "UTC")),
        ("private", pa.bool_()), ("gated", pa.string()), ("disabled", pa.bool_()),
        ("downloads", pa.int64()), ("downloadsAllTime", pa.int64()), ("likes", pa.int64()),
        ("trendingScore", pa.float64()), ("tags", pa.list_(pa.string())), ("pipeline_tag", pa.string()),
        ("library_name", pa.string()), ("cardData", pa.string()), ("modelId", pa.string()),
        ("baseModels", pa.struct([("models", pa.list_(pa.struct([("_id", pa.string()), ("id", pa.string())]))),
                                  ("relation", pa.string())])),
        ("safetensors", pa.struct([("parameters", params), ("total", pa.int64())])),
        ("gguf", pa.struct([("total", pa.int64()), ("architecture", pa.string()), ("context_length", pa.int64()),
                            ("chat_template", pa.string()), ("bos_token", pa.string()), ("eos_token", pa.string())])),
        ("config", pa.struct([("architectures", pa.list_(pa.string())), ("model_type", pa.string())])),
        ("siblings", pa.list_(pa.struct([("rfilename", pa.string())]))),
    ])
    import datetime as dt
    when = dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)
    full = [{"createdAt": when, "lastModified": when, "modelId": r["id"], "private": False, "downloads": 1,
             "likes": 0, "trendingScore": 0.0, **r} for r in rows]
    return pa.Table.from_pylist(full, schema=schema)


def test_hub_stats_snapshot_keeps_downloads_sizes_and_quantizations(tmp_path, monkeypatch):
    """``hf-dataset:cfahlgren1/hub-stats:models.parquet`` from the local server: lineage
    from the tags, downloadsAllTime, parameter counts and GGUF quantization types as model
    fields and as the ``size`` / ``quantization`` traits."""
    from phylohf.genealogy.genome import build
    from phylohf.genealogy.traits import character
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))

    def st(total):
        return {"parameters": {"BF16": total, "F16": None, "F32": None}, "total": total}
    rows = [
        {"id": "meta/base", "tags": ["license:llama3"], "downloadsAllTime": 9_000_000, "safetensors": st(8_030_261_248),
         "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}},
        {"id": "a/ft", "tags": ["base_model:meta/base", "base_model:finetune:meta/base"], "downloadsAllTime": 12,
         "safetensors": st(999_999_999), "cardData": json.dumps({"license": "mit", "base_model": "meta/base"}),
         "baseModels": {"models": [{"_id": "x", "id": "meta/base"}], "relation": "finetune"}},
        {"id": "b/base-GGUF", "tags": ["gguf", "base_model:meta/base", "base_model:quantized:meta/base"],
         "library_name": "gguf", "gguf": {"total": 8_030_261_248, "architecture": "llama", "context_length": 8192},
         "siblings": [{"rfilename": n} for n in ("README.md", "base.Q4_K_M.gguf", "base-IQ2_XS.gguf")]},
        {"id": "c/big", "tags": [], "safetensors": st(405_000_000_000), "downloadsAllTime": 0},
        {"id": "d/none", "tags": [], "siblings": [{"rfilename": "model.bin"}]},
        {"id": "e/one-Q8_0-GGUF", "tags": ["gguf", "base_model:a/ft", "base_model:quantized:a/ft"],
         "gguf": {"total": 3e9}},
        {"id": "f/mid", "tags": [], "safetensors": st(30_000_000_000)},
    ]
    buf = io.BytesIO()
    pq.write_table(hub_stats_table(rows), buf)
    with HubServer([], files={("cfahlgren1/hub-stats", "models.parquet"): buf.getvalue()}) as hub, \
            Store(tmp_path / "h.duckdb") as store:
        report = ingest_source(store, "hf-dataset:cfahlgren1/hub-stats:models.parquet", fast(hub), progress=False)
        assert report.stored == len(rows) and not report.problems
        got = store.con.execute("SELECT id, downloads_all_time, parameters, quantization, parents[1].id, license, "
                                "architecture FROM models ORDER BY id").fetchall()
        from phylohf.genealogy.lineage import Lineage
        genome = build(store, Lineage.from_store(store).n)
        ids = store.con.execute("SELECT id FROM lineage_nodes ORDER BY idx").fetchall()
    assert got == [
        ("a/ft", 12, 999_999_999, [], "meta/base", "mit", None),
        ("b/base-GGUF", None, 8_030_261_248, ["IQ2_XS", "Q4_K_M"], "meta/base", None, None),
        ("c/big", 0, 405_000_000_000, [], None, None, None),
        ("d/none", None, None, [], None, None, None),
        ("e/one-Q8_0-GGUF", None, 3_000_000_000, ["Q8_0"], "a/ft", None, None),
        ("f/mid", None, 30_000_000_000, [], None, None, None),
        ("meta/base", 9_000_000, 8_030_261_248, [], None, "llama3", "llama")]
    size, names = character(genome, "size")
    by_id = {i: (names[s] if s >= 0 else None) for (i,), s in zip(ids, size)}
    assert by_id == {"a/ft": "<1B", "b/base-GGUF": "3-10B", "c/big": ">100B", "d/none": None,
                     "e/one-Q8_0-GGUF": "3-10B", "f/mid": "30-100B", "meta/base": "3-10B"}
    quant, names = character(genome, "quantization:Q4_K_M")
    assert [i for (i,), q in zip(ids, quant) if q == 1] == ["b/base-GGUF"] and (quant == -1).sum() == 5


def test_model_card_dump_layout_reads_card_data_from_front_matter(sim, tmp_path, monkeypatch):
    """A dump with the card text but no card-data column (modelId, ..., card) keeps its
    lineage and license: they are read from the card's YAML front matter."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    listing = sim.listing.slice(0, 300)
    front = ["" if c is None else f"---\n{yaml.safe_dump(json.loads(c))}---\n" for c in listing["cardData"].to_pylist()]
    dump = pa.table({"modelId": listing["id"], "author": listing["author"], "last_modified": listing["lastModified"],
                     "tags": listing["tags"], "createdAt": listing["createdAt"],
                     "card": [f + (c or "") for f, c in zip(front, listing["card"].to_pylist())]})
    files = {}
    for name, table in [("dump.parquet", dump), ("listing.parquet", listing)]:
        buf = io.BytesIO()
        pq.write_table(table, buf)
        files[("org/snap", name)] = buf.getvalue()
    cols = "SELECT id, license, parents, languages, datasets FROM models ORDER BY id"
    with HubServer([], files=files) as hub:
        for name in ("dump", "listing"):
            with Store(tmp_path / f"{name}.duckdb") as store:
                ingest_source(store, f"hf-dataset:org/snap:{name}.parquet", fast(hub), progress=False)
    with Store(tmp_path / "dump.duckdb", read_only=True) as a, Store(tmp_path / "listing.duckdb", read_only=True) as b:
        got, want = a.con.execute(cols).fetchall(), b.con.execute(cols).fetchall()
    assert got == want and sum(bool(r[2]) for r in got) > 50


def test_parse_dataset():
    assert parse_dataset("hf-dataset:a/b:x/m.parquet@main") == ("a/b", "x/m.parquet", "main")
    assert parse_dataset("hf-dataset:a/b:m.parquet") == ("a/b", "m.parquet", None)
    with pytest.raises(ValueError, match="OWNER/NAME:FILE"):
        parse_dataset("hf-dataset:ab:m.parquet")


def test_pacer_spaces_requests_and_waits_out_a_spent_window():
    pacer = Pacer(quota=6000)                                       # 300 s / 6000 = 50 ms apart
    t = time.perf_counter()
    for _ in range(5):
        pacer.wait()
    assert 0.2 <= time.perf_counter() - t < 0.4
    pacer.observe({"RateLimit": '"api";r=0;t=1'})
    t = time.perf_counter()
    pacer.wait()
    assert time.perf_counter() - t >= 0.9


# -- the command: HF_ENDPOINT, tokens, kill -9 -----------------------------------------------

def cli(args, hub, home, **kw):
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "phylohf", "-q", "ingest", *args, "--rate-limit", "1000000"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_cli_honours_endpoint_and_never_stores_the_token(fixture, sim, tmp_path):
    records, cards = fixture
    buf = io.BytesIO()
    pq.write_table(sim.listing.slice(0, 100), buf)
    with HubServer(records[:300], cards, files={("org/snap", "m.parquet"): buf.getvalue()}, page_size=100) as hub:
        hub.inject("500")
        proc = cli(["hub:all", "hf-dataset:org/snap:m.parquet", "--cards", "--store", str(tmp_path / "s.duckdb")],
                   hub, tmp_path / "home")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        ours = [a for _, p, a in hub.requests if p.startswith(("/api/models", "/datasets/")) or "/resolve/" in p]
        assert len(ours) > 300 and set(ours) == {f"Bearer {TOKEN}"}         # sent with every request
    assert "300 models stored" in out and TOKEN not in out + err
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        for table, column in s.con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                           "WHERE data_type IN ('VARCHAR', 'JSON')").fetchall():
            assert not s.con.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}"::VARCHAR LIKE ?',
                                     [f"%{TOKEN[3:]}%"]).fetchall()[0][0], (table, column)
    assert all(TOKEN[3:].encode() not in p.read_bytes() for p in tmp_path.glob("s.duckdb*"))


def test_cli_crawl_killed_with_sigkill_resumes(fixture, tmp_path):
    records, cards = fixture
    with HubServer(records, cards, page_size=50) as hub:
        with Store(tmp_path / "ref.duckdb") as store:
            crawl_listing(store, fast(hub), progress=False)
        hub.requests.clear()
        hub.delay = 0.1                                     # 30 pages of 0.1 s; a commit each second
        store = str(tmp_path / "k.duckdb")
        proc = cli(["hub:all", "--store", store], hub, tmp_path / "home")
        while hub.count("/api/models") < 20 and proc.poll() is None:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = hub.count("/api/models")
        hub.delay = 0
        out, err = cli(["hub:all", "--store", store], hub, tmp_path / "home").communicate(timeout=60)
        assert "stored" in out, err
        pages = [p for _, p, _ in hub.requests if p.startswith("/api/models")]
        assert sum("cursor=" not in p for p in pages) == 1                  # resumed, not restarted
        assert len(pages) - N // 50 <= 13 and before < N // 50              # only uncommitted pages again
    assert models(store) == models(tmp_path / "ref.duckdb")


def test_cli_family_crawl_killed_with_sigkill_resumes(fixture, tmp_path):
    records, cards = fixture
    roots = [r["id"] for r in records if not any(t.startswith("base_model:") for t in r["tags"])]
    root = max(roots, key=lambda r: len(family_of(records, r)))
    with HubServer(records, cards) as hub:
        with Store(tmp_path / "ref.duckdb") as store:
            crawl_family(store, root, fast(hub), progress=False)
        listings = hub.count("/api/models?")
        hub.requests.clear()
        hub.delay = 0.02
        store = str(tmp_path / "k.duckdb")
        proc = cli([f"hub:{root}", "--store", store], hub, tmp_path / "home")
        while hub.count("/api/models?") < listings // 2 and proc.poll() is None:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        hub.delay = 0
        out, err = cli([f"hub:{root}", "--store", store], hub, tmp_path / "home").communicate(timeout=60)
        assert "stored" in out, err
        assert hub.count("/api/models/") == 1                               # the root was looked up once
        assert sum(p.endswith(f"filter=base_model:{root}") for _, p, _ in hub.requests) == 1
        assert listings < hub.count("/api/models?") <= listings + 16        # at most one batch again
    assert models(store) == models(tmp_path / "ref.duckdb")
