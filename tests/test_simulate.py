"""Tests of the ecosystem simulator: API, determinism, scenarios, lineage dates, dirt, writers, calibration."""

import collections
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from phylohf.genealogy.licensing import classify
from phylohf.sources import simulate as sim_mod
from phylohf.sources.simulate import SCENARIOS, SimParams, Simulation, simulate, write_listing, write_truth

N_CALIBRATION = 100_000
SEED = 7
LANG_CODES = sorted({c for codes, _ in sim_mod.LANGUAGE_SETS for c in codes})
LICENSE_CLASS = {name: cls for name, cls, _ in sim_mod.LICENSES}


def _per_row(tags: pa.ChunkedArray, pattern: str) -> tuple[np.ndarray, pa.Array]:
    """(row, tag) for every tag matching the regex ``pattern``, in row order."""
    tags = tags.combine_chunks()
    flat = pc.list_flatten(tags)
    hit = pc.match_substring_regex(flat, pattern)
    return pc.list_parent_indices(tags).filter(hit).to_numpy(), flat.filter(hit)


def _codes(values, vocabulary) -> np.ndarray:
    """Index of each value in ``vocabulary``, -1 for nulls and unknown values."""
    return pc.fill_null(pc.index_in(values, value_set=pa.array(vocabulary)), -1).to_numpy()


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each int64 (np.bitwise_count needs numpy 2)."""
    return np.unpackbits(x.astype("<i8").view(np.uint8).reshape(-1, 8), axis=1).sum(1)


def listing_stats(t: pa.Table) -> dict:
    """The calibration statistics of a listing, computed from its tags as a user would."""
    n = t.num_rows
    # edges: base_model:<relation>:<id>; the first one of a row names its primary parent
    erow, etags = _per_row(t["tags"], r"^base_model:(finetune|adapter|quantized|merge):")
    parts = pc.split_pattern(etags, ":", max_splits=2)
    relation = pc.list_element(parts, 1).to_numpy(zero_copy_only=False)
    child, first = np.unique(erow, return_index=True)
    parent = _codes(pc.list_element(parts, 2).take(pa.array(first)), t["id"].combine_chunks())
    child, parent = child[(parent >= 0) & (parent != child)], parent[(parent >= 0) & (parent != child)]
    # traits per row: -1 (or an empty language set) when undeclared
    licenses = [name for name, _, _ in sim_mod.LICENSES]
    license_ = np.full(n, -1)
    lrow, ltags = _per_row(t["tags"], "^license:")
    license_[lrow] = _codes(pc.utf8_slice_codeunits(ltags, 8), licenses)
    lang = np.zeros(n, np.int64)
    grow, gtags = _per_row(t["tags"], "^(" + "|".join(LANG_CODES) + ")$")
    np.bitwise_or.at(lang, grow, np.left_shift(1, _codes(gtags, LANG_CODES)))
    task = _codes(t["pipeline_tag"], sim_mod.TASKS)
    n_lang = _popcount(lang)

    def jaccard(a, b):
        both = (lang[a] > 0) & (lang[b] > 0)
        inter, union = _popcount(lang[a] & lang[b])[both], _popcount(lang[a] | lang[b])[both]
        return float(np.mean(1 - inter / union))

    def differs(x, a, b):
        both = (x[a] >= 0) & (x[b] >= 0)
        return float(np.mean(x[a][both] != x[b][both]))

    klass = np.array([LICENSE_CLASS[name] for name in licenses] + ["none"])[license_]
    # consecutive siblings: children of the same listed primary parent
    order = np.lexsort((child, parent))
    same = parent[order][:-1] == parent[order][1:]
    sib_a, sib_b = child[order][:-1][same], child[order][1:][same]
    counts = {d["values"]: d["counts"] for d in pc.value_counts(ltags).to_pylist()}
    return {
        "edges_per_model": erow.size / n,
        "finetune_share": float(np.mean(relation == "finetune")),
        "language_none": float(np.mean(n_lang == 0)), "language_one": float(np.mean(n_lang == 1)),
        "language_two": float(np.mean(n_lang == 2)),
        "apache": counts.get("license:apache-2.0", 0) / n, "mit": counts.get("license:mit", 0) / n,
        "other": counts.get("license:other", 0) / n,
        "jaccard_language": jaccard(child, parent), "jaccard_license": differs(license_, child, parent),
        "jaccard_task": differs(task, child, parent),
        "sibling_language": jaccard(sib_a, sib_b), "sibling_license": differs(license_, sib_a, sib_b),
        "sibling_task": differs(task, sib_a, sib_b),
        "restrictive_to_permissive": int(np.sum((klass[parent] == "restrictive") & (klass[child] == "permissive"))),
        "permissive_to_restrictive": int(np.sum((klass[parent] == "permissive") & (klass[child] == "restrictive"))),
        **{f"{c}_parents": int(np.sum((klass[parent] == c) & (klass[child] != "none"))) for c in ("restrictive", "permissive")},
        "max_out_degree": int(np.bincount(parent).max()),
    }


# Hub snapshot of the paper (1,860,411 models); the defaults must land within 15%.
HUB = {"edges_per_model": 573_653 / 1_860_411, "finetune_share": 189_391 / 573_653,
       "language_none": 0.861, "language_one": 0.123, "language_two": 0.0099,
       "apache": 0.160, "mit": 0.059, "other": 0.044,
       "jaccard_language": 0.128, "jaccard_license": 0.150, "jaccard_task": 0.231}


@pytest.fixture(scope="module")
def directional() -> Simulation:
    return simulate(N_CALIBRATION, seed=SEED)


@pytest.fixture(scope="module")
def neutral() -> Simulation:
    return simulate(N_CALIBRATION, seed=SEED, scenario="neutral")


@pytest.fixture(scope="module")
def stats(directional, neutral) -> dict:
    return {"directional": listing_stats(directional.listing), "neutral": listing_stats(neutral.listing)}


@pytest.fixture(scope="module")
def small() -> Simulation:
    return simulate(20_000, seed=3)


def test_calibration_matches_hub_snapshot(stats):
    # The Jaccard means are dominated by a few large families, so they vary between seeds:
    # at 100k language 0.09-0.29, license 0.13-0.20, task 0.20-0.27 over 12 seeds (seed 7 is
    # typical); at 2M the six seeds tried give 0.10-0.15, 0.14-0.16 and 0.22-0.24.
    got = stats["directional"]
    off = {k: round(got[k] / v - 1, 3) for k, v in HUB.items() if abs(got[k] / v - 1) > 0.15}
    assert not off, f"relative deviations from the Hub snapshot: {off}"


def test_bad_arguments_raise():
    for bad in (0, -5, 2.5, True, "10"):
        with pytest.raises(ValueError, match="n_models"):
            simulate(bad)
    with pytest.raises(ValueError, match="scenario"):
        simulate(10, scenario="adaptive")
    with pytest.raises(ValueError, match="SimParams"):
        simulate(10, params={"root_rate": 0.5})
    with pytest.raises(ValueError, match="relation_probs"):
        SimParams(relation_probs=(0.5, 0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="root_rate"):
        SimParams(root_rate=1.5)
    with pytest.raises(ValueError, match="task"):
        simulate(10, params=SimParams(task=sim_mod.TraitRates(5.0)))
    with pytest.raises(ValueError, match="relation_rate_scale"):
        SimParams(relation_rate_scale=(1.0, -0.5, 0.05, 3.0))
    with pytest.raises(ValueError, match="editor_rate"):
        SimParams(editor_rate=1.5)


def test_listing_schema(small):
    stamp = pa.timestamp("ms", tz="UTC")
    expected = pa.schema([
        ("id", pa.string()), ("modelId", pa.string()), ("author", pa.string()), ("createdAt", stamp),
        ("lastModified", stamp), ("downloads", pa.int64()), ("likes", pa.int64()),
        ("library_name", pa.string()), ("pipeline_tag", pa.string()), ("tags", pa.list_(pa.string())),
        ("private", pa.bool_()), ("gated", pa.bool_()), ("cardData", pa.string()), ("config", pa.string()),
        ("card", pa.string())])
    assert small.listing.schema.equals(expected)
    t = small.listing
    assert t.num_rows == 20_000 and pc.count_distinct(t["id"]).as_py() == t.num_rows
    assert t["id"].equals(t["modelId"])
    assert all(m.startswith(a + "/") for m, a in zip(t["id"].to_pylist(), t["author"].to_pylist()))
    assert not pc.any(t["private"]).as_py()
    downloads = t["downloads"].to_numpy()
    assert downloads.min() >= 0 and np.median(downloads) < downloads.mean() / 10  # heavy tail
    assert np.corrcoef(np.log1p(t["downloads"].to_numpy()), np.log1p(t["likes"].to_numpy()))[0, 1] > 0.5
    assert 0.25 < t["card"].is_valid().to_numpy(zero_copy_only=False).mean() < 0.35


def test_tiny_ecosystems():
    for n in (1, 2, 3, 10):
        for scenario in SCENARIOS:
            sim = simulate(n, seed=n, scenario=scenario)
            assert sim.listing.num_rows == n
            json.dumps(sim.truth)


def test_deterministic_per_seed():
    a, b, c = simulate(5_000, seed=11), simulate(5_000, seed=11), simulate(5_000, seed=12)
    assert a.listing.equals(b.listing) and a.truth == b.truth
    assert not a.listing.equals(c.listing)
    assert a.truth["parents"] != c.truth["parents"]


def _edge_times(sim: Simulation) -> list:
    """Listed parent -> child edges as (child createdAt, parent createdAt): names depend on traits, dates do not."""
    created = dict(zip(sim.listing["id"].to_pylist(), sim.listing["createdAt"].cast(pa.int64()).to_pylist()))
    return sorted((created[c], created[p]) for c, ps in sim.truth["parents"].items() if c in created
                  for p, _ in ps if p in created)


def test_scenarios_share_trees_and_differ_in_direction(directional, neutral, stats):
    assert directional.listing["createdAt"].equals(neutral.listing["createdAt"])
    assert _edge_times(directional) == _edge_times(neutral)
    d, n = stats["directional"], stats["neutral"]
    assert d["restrictive_to_permissive"] > 3 * d["permissive_to_restrictive"]
    # symmetric mutation over all licenses: each edge leaves its class for each state of the other at one
    # rate, so the flows stand as (parents of the class) x (states of the other): 8 permissive, 11 restrictive
    expected = n["restrictive_parents"] * 8 / (n["permissive_parents"] * 11)
    assert 0.7 < n["restrictive_to_permissive"] / n["permissive_to_restrictive"] / expected < 1.4
    assert set(directional.truth["mutation"]["license"]) == {"states", "P", "P_individual", "P_shared"}
    assert set(neutral.truth["mutation"]["license"]) == {"states", "P", "declared"}
    assert neutral.truth["sibling_shared_rate"] == 0 < directional.truth["sibling_shared_rate"]


def test_siblings_closer_than_parent_and_child_only_when_directional(stats):
    for group in ("language", "license", "task"):
        assert stats["directional"][f"sibling_{group}"] < stats["directional"][f"jaccard_{group}"]
        assert stats["neutral"][f"sibling_{group}"] > stats["neutral"][f"jaccard_{group}"]


def test_transition_matrices_are_stochastic_and_directional(directional):
    mutation = directional.truth["mutation"]
    for group in ("architecture", "task", "license", "language", "dataset"):
        for key in ("P", "P_individual", "P_shared"):
            p = np.array(mutation[group][key])
            assert p.shape == (len(mutation[group]["states"]),) * 2
            assert np.allclose(p.sum(1), 1) and (p >= 0).all()
    states = mutation["license"]["states"]
    p = np.array(mutation["license"]["P"])
    llama, apache = states.index("llama3"), states.index("apache-2.0")
    assert p[llama, apache] > 2 * p[apache, llama]
    langs = [tuple(s) for s in mutation["language"]["states"]]
    p = np.array(mutation["language"]["P"])
    multi, en = langs.index(("en", "fr", "de")), langs.index(("en",))
    assert p[multi, en] > 2 * p[en, multi]


def test_dates_increase_down_lineages(directional):
    t = directional.listing
    pairs = _edge_times(directional)
    assert len(pairs) > 0.25 * N_CALIBRATION
    assert all(c > p for c, p in pairs)
    assert pc.all(pc.greater_equal(t["lastModified"], t["createdAt"])).as_py()


def test_truth_references_real_models(directional):
    t, truth = directional.listing, directional.truth
    listed = set(t["id"].to_pylist())
    deleted = set(truth["deleted"])
    assert truth["n_models"] == t.num_rows == N_CALIBRATION and not listed & deleted
    assert len(deleted) == round(SimParams().deleted_rate * N_CALIBRATION)
    relations = {r for ps in truth["parents"].values() for _, r in ps}
    assert relations == set(sim_mod.RELATIONS)
    for child, parents in truth["parents"].items():
        assert child in listed or child in deleted
        assert all((p in listed or p in deleted) and p != child for p, _ in parents)
        assert len({r for _, r in parents}) == 1 and (len(parents) >= 2) == (parents[0][1] == "merge")
    dangling = [c for c, ps in truth["parents"].items() if c in listed and any(p in deleted for p, _ in ps)]
    assert dangling
    json.dumps(truth)


def test_dirt_is_injected_and_hidden_fields_are_recorded(directional):
    t, truth = directional.listing, directional.truth
    rows = {m: i for i, m in enumerate(t["id"].to_pylist())}
    tags = t["tags"].to_pylist()
    cards = t["cardData"].to_pylist()
    for model, fields in truth["hidden"].items():
        i = rows[model]
        card = json.loads(cards[i]) if cards[i] else {}
        if "license" in fields:
            assert fields["license"] and "license" not in card
            assert not any(x.startswith("license:") for x in tags[i])
        if "languages" in fields:
            assert fields["languages"] and "language" not in card
            assert not set(fields["languages"]) & set(tags[i])
        if "pipeline_tag" in fields:
            assert t["pipeline_tag"][i].as_py() is None and fields["pipeline_tag"] not in tags[i]
    declared = [(m, json.loads(c).get("base_model")) for m, c in zip(rows, cards) if c and "base_model" in c]
    spelled = [(m, b) for m, bm in declared for b in ([bm] if isinstance(bm, str) else bm)]
    assert any(b.startswith("https://huggingface.co/") for _, b in spelled)
    assert any(b != b.strip() for _, b in spelled)
    assert any(b.strip() == m for m, b in spelled)  # self references
    truth_parents = truth["parents"]
    cycles = [(m, b) for m, b in spelled if m in truth_parents.get(b, [[None]])[0]]
    assert cycles  # a model declaring its child as parent


def test_card_data_agrees_with_tags(small):
    t = small.listing
    for tags, card, config in zip(t["tags"].to_pylist(), t["cardData"].to_pylist(), t["config"].to_pylist()):
        card = json.loads(card) if card else {}
        licenses = [x[len("license:"):] for x in tags if x.startswith("license:")]
        assert licenses == ([card["license"]] if "license" in card else [])
        if card.get("license") == "other":             # a name phylohf leaves unclassified, as the truth
            assert card["license_name"] and card["license_link"] and classify(f"other:{card['license_name']}") == "other"
        languages = card.get("language", [])
        assert [x for x in tags if x in LANG_CODES] == ([languages] if isinstance(languages, str) else languages)
        base = card.get("base_model", [])
        base = [base] if isinstance(base, str) else base
        declared = [b.strip().removeprefix("https://huggingface.co/") for b in base]
        assert [x.split(":", 2)[2] for x in tags if x.count(":") >= 2 and x.startswith("base_model:")] == declared
        assert [x[len("base_model:"):] for x in tags if x.startswith("base_model:") and x.count(":") == 1] == declared
        assert set(card.get("tags", [])) <= set(tags) and len(set(tags)) == len(tags) and "region:us" in tags
        if config:
            assert json.loads(config)["model_type"] in tags


def test_free_tags_have_a_long_tailed_inherited_vocabulary(small):
    # about one distinct free tag per five models, Zipf-like: a few popular, most rare
    free = lambda tags: {t for t in tags if re.fullmatch(r"([a-z][aeiou]){3,}", t)}     # noqa: E731
    sets = [free(t) for t in small.listing["tags"].to_pylist()]
    counts = collections.Counter(t for s in sets for t in s)
    n = small.listing.num_rows
    assert 0.17 * n <= len(counts) <= 0.21 * n
    ranked = np.sort(np.array(list(counts.values())))[::-1]
    assert ranked[0] > 0.02 * n and np.mean(ranked == 1) > 0.5          # a head and a long tail
    slope = np.polyfit(np.log(np.arange(1, 101)), np.log(ranked[:100]), 1)[0]
    assert -1.5 < slope < -0.6                                             # rank-frequency ~ r^-1.1
    # children keep their parent's tags: parent / child pairs share far more than random pairs
    index = {m: i for i, m in enumerate(small.listing["id"].to_pylist())}
    truth = small.truth["parents"]
    edges = [(index[p[0][0]], index[c]) for c, p in truth.items() if p and p[0] and p[0][0] in index and c in index]
    share = lambda pairs: np.mean([len(sets[a] & sets[b]) > 0 for a, b in pairs])      # noqa: E731
    rng = np.random.default_rng(0)
    assert share(edges) > 0.2 > 5 * share(rng.integers(0, n, (len(edges), 2)))


def test_children_cards_are_shorter_and_more_templated(small):
    t = small.listing
    card = t["card"].to_pylist()
    is_child = [any(x.startswith("base_model:") for x in tags) for tags in t["tags"].to_pylist()]
    roots = [c for c, k in zip(card, is_child) if c and not k]
    kids = [c for c, k in zip(card, is_child) if c and k]
    templated = ("More Information Needed", "More information needed", "automatically generated",
                 "This is a merge of", "quantized files of")
    share = lambda cards: np.mean([any(p in c for p in templated) for c in cards])  # noqa: E731
    assert np.mean([len(c) for c in kids]) < 0.8 * np.mean([len(c) for c in roots])
    assert share(kids) > share(roots) + 0.2
    assert any("This model is a fine-tuned version of [" in c for c in kids)


# ----------------------------------------------------------------------------- neutral scenarios

NEUTRAL = SCENARIOS[1:]
INHERITED = ["family_resemblance:language", "family_resemblance:license", "family_resemblance:task"]


@pytest.fixture(scope="module")
def scenarios() -> dict:
    return {s: simulate(20_000, seed=SEED, scenario=s) for s in NEUTRAL}


def _declared(sim: Simulation) -> tuple[list, dict, list, list, list]:
    """Ids, row of each id, and license, language set and task of every listed model (hidden values
    restored from the truth; None or () when undeclared)."""
    ids, tags = sim.listing["id"].to_pylist(), sim.listing["tags"].to_pylist()
    lic = [next((x[len("license:"):] for x in t if x.startswith("license:")), None) for t in tags]
    lang = [tuple(x for x in t if x in LANG_CODES) for t in tags]
    task = sim.listing["pipeline_tag"].to_pylist()
    row = {m: i for i, m in enumerate(ids)}
    for model, h in sim.truth["hidden"].items():
        i = row[model]
        lic[i], task[i] = h.get("license", lic[i]), h.get("pipeline_tag", task[i])
        lang[i] = tuple(h.get("languages", lang[i]))
    return ids, row, lic, lang, task


def _primary_edges(sim: Simulation, row: dict) -> list[tuple[int, int, str]]:
    """(child row, parent row, relation) of every listed child whose primary parent is listed."""
    return [(row[c], row[ps[0][0]], ps[0][1]) for c, ps in sim.truth["parents"].items()
            if c in row and ps[0][0] in row]


def test_neutral_scenarios_mutate_symmetrically_and_name_what_they_plant(directional, scenarios):
    assert directional.truth["planted"] == sorted(
        INHERITED + [f"{c}:{g}" for c in ("shared_change", "sibling_excess") for g in ("language", "license", "task")]
        + ["card_drift:dropped", "card_drift:shorter", "language_drift:fewer_languages",
           "language_drift:multilingual_to_english", "license_drift:restrictive_to_open", "license_ordering",
           "license_class_ordering", "ard_vs_gtr:license"])
    descriptions = {directional.truth["scenario_description"]}
    for scenario, sim in scenarios.items():
        assert sim.truth["planted"] == sorted(INHERITED + ["family_resemblance:card"])   # cards inherited too
        assert sim.truth["sibling_shared_rate"] == 0
        descriptions.add(sim.truth["scenario_description"])
        for group, m in sim.truth["mutation"].items():
            for p in (m["P_by"].values() if "P_by" in m else [m["P"]]):
                p = np.array(p)
                assert np.allclose(p, p.T) and np.allclose(p.sum(1), 1) and (p >= 0).all(), (scenario, group)
    assert len(descriptions) == len(SCENARIOS)
    # closed form: every license pair exchanges at c = r (1 - sum pi^2) / 24, the old F81 chain's mean
    # change at the base distribution pi spread over the 24 other licenses (r its marginal rate)
    pi = np.array([w for _, _, w in sim_mod.LICENSES])
    pi /= pi.sum()
    r = 0.85 * 0.155 + 0.15 * 0.04
    p = np.array(scenarios["neutral"].truth["mutation"]["license"]["P"])
    off = p[1:, 1:][~np.eye(pi.size, dtype=bool)]
    assert np.allclose(off, r * (1 - pi @ pi) / 24)
    assert p[0, 0] == 1 and not p[0, 1:].any()          # undeclared is no state of the value chain
    scaled = scenarios["relations"].truth["mutation"]["license"]["P_by"]
    assert np.isclose(np.array(scaled["any/quantized"])[1, 2], 0.05 * np.array(scaled["any/finetune"])[1, 2])


def test_neutral_missingness_does_not_depend_on_the_value(neutral):
    ids, row, lic, _, _ = _declared(neutral)
    edges = _primary_edges(neutral, row)
    # a declared parent's child stops declaring at one rate (0.1 a generation) whatever the license
    drop = {}
    for c, p, _ in edges:
        if lic[p] is not None and LICENSE_CLASS[lic[p]] in ("restrictive", "permissive"):
            drop.setdefault(LICENSE_CLASS[lic[p]], []).append(lic[c] is None)
    (a, na), (b, nb) = [(np.mean(x), len(x)) for x in drop.values()]
    assert abs(a - b) < 4 * np.sqrt(0.1 * 0.9 * (1 / na + 1 / nb)) and 0.07 < a < 0.13
    # a child re-declaring below an undeclared parent shows the value evolved from its grandparent's:
    # the same about (1 - 0.11)^2 of the time, where a fresh draw would match sum pi^2 ~ 0.15 of the time
    # (deep trees and frequent switches, so that such children are many)
    deep = simulate(20_000, seed=SEED, scenario="neutral",
                    params=SimParams(root_rate=0.3, license=sim_mod.TraitRates(0.04, 0.155, 0.5)))
    ids, row, lic, _, _ = _declared(deep)
    edges = _primary_edges(deep, row)
    up = {c: p for c, p, _ in edges}
    same = [lic[c] == lic[up[p]] for c, p, _ in edges if lic[p] is None and p in up and lic[c] and lic[up[p]]]
    assert len(same) > 300 and 0.65 < np.mean(same) < 0.9


def test_neutral_cards_are_symmetric_chains_blind_to_relation(neutral):
    # presence flips with p = card_flip = 0.1 each way on every edge, whatever its relation; the
    # Hub template likewise; no relation-specific template
    card = dict(zip(neutral.listing["id"].to_pylist(), neutral.listing["card"].to_pylist()))
    flips = collections.defaultdict(lambda: np.zeros((2, 2)))
    for child, ps in neutral.truth["parents"].items():
        parent, rel = ps[0]
        if child in card and parent in card:
            flips[rel][int(card[parent] is not None), int(card[child] is not None)] += 1
    assert set(flips) == set(sim_mod.RELATIONS)
    for rel, f in flips.items():
        for had in (0, 1):
            n = f[had].sum()
            assert abs(f[had, 1 - had] / n - 0.1) < 4 * np.sqrt(0.09 / n), (rel, had)
    present = [c for c in card.values() if c is not None]
    assert not any(x in c for c in present for x in ("fine-tuned version of", "quantized files", "a merge of"))
    assert 0.1 < np.mean(["More Information Needed" in c for c in present]) < 0.9


def test_founder_roots_are_restrictive_and_multilingual_and_raw_flows_run_to_open(scenarios):
    for scenario in ("founder", "hard-neutral"):
        sim = scenarios[scenario]
        ids, _, lic, lang, _ = _declared(sim)
        roots = [i for i, m in enumerate(ids) if m not in sim.truth["parents"]]
        assert len(roots) > 0.6 * len(ids)
        assert all(LICENSE_CLASS[lic[i]] == "restrictive" for i in roots)
        assert all(len(lang[i]) > 1 or "multilingual" in lang[i] for i in roots)
    # the hard case: symmetric mutation from restrictive founders, yet the raw flows run one way
    flows = listing_stats(scenarios["founder"].listing)
    assert flows["restrictive_to_permissive"] > 10 * max(flows["permissive_to_restrictive"], 1)


def _changed(sim: Simulation, key) -> dict:
    """Share of listed children whose task differs from the primary parent's, per ``key(parent id, relation)``."""
    ids, row, _, _, task = _declared(sim)
    out = collections.defaultdict(list)
    for c, p, rel in _primary_edges(sim, row):
        out[key(ids[p], rel)].append(task[c] != task[p])
    return {k: (float(np.mean(v)), len(v)) for k, v in out.items()}


def test_copiers_children_change_far_less_than_editors(scenarios):
    for scenario in ("heterogeneous", "hard-neutral"):
        sim = scenarios[scenario]
        editors = set(sim.truth["editors"])
        parents = {ps[0][0] for ps in sim.truth["parents"].values()}
        assert editors <= parents and abs(len(editors) / len(parents) - 0.4) < 0.05
        got = _changed(sim, lambda p, rel: p in editors)
        (copier, n_c), (editor, n_e) = got[False], got[True]
        assert n_c > 500 and n_e > 500 and copier < 0.04 and editor > max(0.2, 8 * copier), got


def test_quantized_edges_change_far_less_than_merges(scenarios):
    got = _changed(scenarios["relations"], lambda p, rel: rel)
    assert got["quantized"][0] < 0.03 < 0.1 < got["finetune"][0] < got["merge"][0], got
    assert got["merge"][0] > 10 * got["quantized"][0] and got["merge"][1] > 200


def test_write_listing_round_trips(small, tmp_path):
    t = small.listing
    write_listing(small, tmp_path / "listing.parquet")
    assert pq.read_table(tmp_path / "listing.parquet").equals(t)
    head = Simulation(t.slice(0, 500), small.truth)
    write_listing(head, tmp_path / "listing.jsonl")
    lines = (tmp_path / "listing.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 500
    for line, row in zip(lines, head.listing.to_pylist()):
        record = json.loads(line)
        assert list(record) == t.column_names
        assert record["cardData"] == (json.loads(row["cardData"]) if row["cardData"] else None)
        assert record["config"] == (json.loads(row["config"]) if row["config"] else None)
        assert record["createdAt"] == row["createdAt"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        assert {k: record[k] for k in ("id", "tags", "downloads", "gated", "card")} == \
               {k: row[k] for k in ("id", "tags", "downloads", "gated", "card")}
    with pytest.raises(ValueError, match="suffix|format"):
        write_listing(small, tmp_path / "listing.csv")
    write_truth(small, tmp_path / "truth.json")
    assert json.loads((tmp_path / "truth.json").read_text()) == json.loads(json.dumps(small.truth))
