"""Small lineages and simulated stores for the tests."""
import json
from pathlib import Path

import numpy as np

from phylohf.genealogy.lineage import Lineage


def forest(parent) -> Lineage:
    """A lineage from a parent list (-1 for roots), primary edges only."""
    parent = np.asarray(parent, np.int64)
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    return Lineage.from_edges(np.array([f"m{i:06d}" for i in range(n)], object), np.ones(n, bool),
                              np.zeros(n, np.int64), child, parent[child],
                              np.ones(len(child), np.int64), np.zeros(len(child), np.int8))


def random_tree(n, rng) -> np.ndarray:
    """Parent list of a random recursive tree: node i attaches to a uniform earlier node."""
    return np.r_[-1, rng.integers(0, np.arange(1, n))].astype(np.int64)


def simulated_case(n: int = 3000, seed: int = 42):
    """A random tree with a 3-state ARD character simulated on it, 30% of the states hidden:
    (parent, Q, lengths, truth, hidden mask, visible states)."""
    from phylohf.phylo.mk import q_matrix, simulate_states, stationary
    rng = np.random.default_rng(seed)
    parent = random_tree(n, rng)
    Q = q_matrix("ARD", [0.4, 0.1, 0.2, 0.3, 0.05, 0.25], 3)
    lengths = np.where(parent >= 0, rng.exponential(1.0, n), np.nan)
    truth = simulate_states(forest(parent), Q, lengths, stationary(Q), rng)
    hidden = rng.random(n) < 0.3
    return parent, Q, lengths, truth, hidden, np.where(hidden, -1, truth)


def simulated_store(directory: Path, n: int, seed: int, scenario: str = "directional") -> Path:
    """Simulate ``n`` models and ingest them into ``directory/<scenario>.duckdb``; its path."""
    from phylohf.store.ingest import ingest_file
    from phylohf.sources.simulate import simulate, write_listing
    from phylohf.store.database import Store
    listing, store = directory / f"{scenario}.parquet", directory / f"{scenario}.duckdb"
    write_listing(simulate(n, seed=seed, scenario=scenario), listing)
    with Store(store) as s:
        ingest_file(s, listing, progress=False)
    return store


def hub_record(id_, license_, parent=None, relation="finetune", languages=("en",), created="2024-01-01"):
    """A Hub listing record (camelCase) with a license, languages and an optional parent."""
    card = {"license": license_, "language": list(languages)}
    tags = [f"license:{license_}", *languages]
    if parent:
        card.update(base_model=parent, base_model_relation=relation)
        tags.append(f"base_model:{relation}:{parent}")
    return {"id": id_, "author": id_.split("/")[0], "createdAt": f"{created}T00:00:00.000Z",
            "pipeline_tag": "text-generation", "tags": tags, "cardData": card}


def store_of(directory: Path, records) -> Path:
    """Write ``records`` as JSONL and ingest them into ``directory/s.duckdb``; its path."""
    from phylohf.store.ingest import ingest_file
    from phylohf.store.database import Store
    path = directory / "src.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with Store(directory / "s.duckdb") as store:
        ingest_file(store, path, progress=False)
    return directory / "s.duckdb"


def mk_data(Q, n: int, hide: float, rng, root=None):
    """A random n-node tree (unit lengths) with a character simulated under Q (root drawn
    uniformly unless ``root`` says otherwise), a fraction ``hide`` hidden: (lineage, states,
    lengths)."""
    from phylohf.phylo.mk import simulate_states
    lin = forest(random_tree(n, rng))
    lengths = np.r_[np.nan, np.ones(n - 1)]
    root = np.full(len(Q), 1 / len(Q)) if root is None else root
    states = simulate_states(lin, Q, np.nan_to_num(lengths), root, rng)
    states[rng.random(n) < hide] = -1
    return lin, states, lengths
