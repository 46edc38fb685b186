"""Model-card text: cleaning (no front matter, no ids), TF-IDF and Levenshtein similarity by
hand, cards read from a store, text kinship on a simulated ecosystem."""
import numpy as np
import pytest

from phylohf.genealogy.cards import clean, levenshtein_similarity, load, similarity, tfidf_vectors
from phylohf.store.ingest import ingest_file
from phylohf.genealogy.lineage import Lineage
from phylohf.analyses.relatives import kinship
from phylohf.sources.simulate import simulate, write_listing
from phylohf.store.database import Store

CARD = """---
license: apache-2.0
base_model: meta-llama/Llama-2-7b-hf
tags:
- generated_from_trainer
---

# my-llama-chat

This model is a fine-tuned version of [meta-llama/Llama-2-7b-hf](https://huggingface.co/meta-llama/Llama-2-7b-hf)
on a chat dataset. See www.example.org/details for more.
"""


def test_clean_strips_front_matter_urls_and_ids():
    text = clean(CARD, "someone/my-llama-chat")
    assert text == "# This model is a fine-tuned version of [ ]( ) on a chat dataset. See for more."
    assert "apache" not in text and "Llama-2" not in text and "my-llama-chat" not in text


def test_clean_keeps_a_card_without_front_matter():
    assert clean("No  YAML here ---\nstill prose") == "No YAML here --- still prose"
    assert clean("---\nlicense: mit\n---") == ""


def test_levenshtein_by_hand():
    texts = np.array(["kitten", "sitting", "", "abc"], object)
    got = levenshtein_similarity(texts, np.array([0, 3, 2]), np.array([1, 3, 2]))
    assert got.tolist() == pytest.approx([1 - 3 / 7, 1.0, 1.0])


def test_tfidf_cosine_by_hand():
    texts = np.array(["red green", "red green", "blue yellow", "red blue", ""], object)
    V = tfidf_vectors(texts)
    assert V.shape[0] == 5 and V[4].nnz == 0
    sim = similarity(texts, "tfidf")
    got = sim(np.array([0, 0, 0]), np.array([1, 2, 3]))
    assert got[0] == pytest.approx(1.0) and got[1] == pytest.approx(0.0)
    # "red green" vs "red blue": unigrams only share "red"; bigrams differ
    row = lambda i: V[i].toarray().ravel()                               # noqa: E731
    assert got[2] == pytest.approx(row(0) @ row(3)) and 0 < got[2] < 1


@pytest.fixture(scope="module")
def eco(tmp_path_factory):
    d = tmp_path_factory.mktemp("cards")
    sim = simulate(6000, seed=5)
    write_listing(sim, d / "hub.parquet")
    with Store(d / "hub.duckdb") as store:
        ingest_file(store, d / "hub.parquet")
        lin = Lineage.from_store(store)
        texts, has = load(store, lin)
        n_cards = store.con.execute("SELECT count(*) FROM models WHERE card IS NOT NULL").fetchone()[0]
        yield store, lin, texts, has, n_cards, sim.listing


def test_cards_from_the_store_are_cleaned(eco):
    store, lin, texts, has, n_cards, listing = eco
    assert has.sum() == n_cards > 0 and not has[~lin.observed].any()
    for i in np.flatnonzero(has)[:300].tolist():
        assert lin.ids[i] not in texts[i] and "huggingface.co" not in texts[i]
    # a trainer card names its parent: gone after cleaning
    cards = listing.column("card").to_pylist()
    trainer = [i for i, c in enumerate(cards) if c and "fine-tuned version of" in c]
    assert trainer
    ids = listing.column("id").to_pylist()
    index = lin.index()
    for i in trainer[:50]:
        assert "/" not in texts[index[ids[i]]].replace("</", "")


def test_quantized_siblings_share_their_template(eco):
    """The simulator writes quantizations' cards from one template: after cleaning, two
    quantizations of one parent read alike, unlike a quantization and its parent."""
    store, lin, *_ = eco
    for metric in ("tfidf", "levenshtein"):
        r = kinship(lin, store=store, metric=metric, relations=["quantized"], bootstrap=50, null=10,
                    seed=2, max_pairs=3000)
        g = r["groups"]["card"]
        assert g["null"] is None and r["null_replicates"] == 0
        cls = g["classes"]
        assert cls["siblings"]["n"] >= 20
        assert cls["siblings"]["mean"] > max(cls["parent_child"]["mean"], cls["other_family"]["mean"]) + 0.1
        assert g["sib_minus_pc"]["ci"][0] > 0


def test_text_metric_needs_the_store():
    with pytest.raises(ValueError, match="needs the store"):
        kinship(Lineage.from_edges(np.array(["a"], object), [True], [0], [], [], [], []), metric="tfidf")
