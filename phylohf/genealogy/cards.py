"""Model-card text: cleaning and pairwise similarity.

Cards are compared on their prose only: the YAML front matter (``---`` ... ``---``), URLs,
every ``org/name`` model id and the model's own id and name are removed first, since
they name the parent and would leak the very relation being measured. Similarities:
TF-IDF cosine (scikit-learn; word unigrams and bigrams, sublinear tf) and normalised
Levenshtein similarity (rapidfuzz) on the first ``LEVENSHTEIN_CHARS`` characters.
Card *features* (presence, length class, Hub-template and auto-generated markers) are
genome traits: see the ``card`` group of :mod:`phylohf.genealogy.genome`.
"""
from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

FRONT_MATTER = re.compile(r"\A\ufeff?\s*---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
URL = re.compile(r"(?:https?://|www\.)[^\s)\]>\"']+")
MODEL_ID = re.compile(r"(?<![\w.-])[\w.-]+/[\w.-]+")
SPACE = re.compile(r"\s+")
LEVENSHTEIN_CHARS = 2000


def clean(text: str, model_id: str = "") -> str:
    """The card's prose: no front matter, URLs, model ids or the model's own name."""
    text = FRONT_MATTER.sub("", text)
    text = URL.sub(" ", text)
    text = MODEL_ID.sub(" ", text)
    name = model_id.rsplit("/", 1)[-1]
    if name:
        text = re.sub(re.escape(name), " ", text, flags=re.I)
    return SPACE.sub(" ", text).strip()


def load(store, lineage) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned card text per lineage node, "" where none; mask of nodes with a card)."""
    store.nodes()
    rows = store.con.sql("SELECT n.idx, m.card FROM models m JOIN lineage_nodes n USING (id) "
                         "WHERE m.card IS NOT NULL").fetchnumpy()
    texts = np.full(lineage.n, "", object)
    idx = np.asarray(rows["idx"], np.int64)
    texts[idx] = [clean(str(t), m) for t, m in zip(rows["card"].tolist(), lineage.ids[idx].tolist())]
    return texts, texts != ""


def tfidf_vectors(texts: np.ndarray):
    """L2-normalised TF-IDF rows of every node (empty rows where there is no card)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    has = np.flatnonzero(texts != "")
    V = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts[has].tolist()).tocsr()
    row = np.full(len(texts), len(has))                       # the extra empty row
    row[has] = np.arange(len(has))
    return sp.vstack([V, sp.csr_matrix((1, V.shape[1]))]).tocsr()[row]


def levenshtein_similarity(texts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - Levenshtein distance / length of the longer text, per pair (rapidfuzz, vectorised)."""
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import cpdist
    cut = lambda i: [t[:LEVENSHTEIN_CHARS] for t in texts[i].tolist()]    # noqa: E731
    return np.asarray(cpdist(cut(a), cut(b), scorer=Levenshtein.normalized_similarity), float)


def similarity(texts: np.ndarray, metric: str):
    """A function (a, b) -> similarity of the cards of node pairs: ``tfidf`` or ``levenshtein``."""
    if metric == "tfidf":
        V = tfidf_vectors(texts)
        return lambda a, b: np.asarray(V[a].multiply(V[b]).sum(axis=1)).ravel()
    if metric == "levenshtein":
        return lambda a, b: levenshtein_similarity(texts, a, b)
    raise ValueError(f"unknown text metric {metric!r}: choose tfidf or levenshtein")
