"""Kinship tests: are siblings more alike than parent and child?

Relationship classes over the primary-parent forest (optionally cut to some relation
types): parent/child, siblings (same primary parent), grandparent, great-grandparent,
aunt-or-uncle/niece-or-nephew, first cousins, any two models of one family, two models
of different families. Only models that declare the trait group are *eligible*, and
eligibility is decided before any pair is formed.

Every class has one shape: an eligible *focal* node ``v`` pairs with a contiguous run of
eligible candidates (sorted by a list key, then a block key) minus one excluded block
(``v`` itself, its parent, its siblings or its family). So the number of pairs per focal
node is known without listing them, exact enumeration and seeded uniform sampling
(cumulative sums + searchsorted) share one formula, and metrics that decompose over
traits (Hamming) get exact class totals by aggregating trait counts over the lists, with
no pair lists at all. Symmetric classes count each unordered pair from both ends.

Statistics: class means with 95% CIs from a cluster bootstrap over families (multinomial
resampling; beyond MAX_UNITS families the smaller ones are pooled into random blocks),
siblings minus parent/child with its CI and a two-sided bootstrap p, Cohen's d; and three
claims per group (:class:`phylohf.phylo.claims.Claim`, not yet adjusted):

* ``family_resemblance``: parent/child minus other-family mean similarity, one-sided p
  from the same cluster bootstrap, (1 + #{replicates <= 0}) / (1 + B);
* ``sibling_excess`` and ``shared_change`` against the null engine
  (:mod:`phylohf.phylo.null`): the group's trait set as one categorical character (its
  PATTERN_LIMIT most frequent sets; a model with a rarer set takes no part in these two
  tests, in the data and in every replicate), the ARD (or SYM) null fitted per relation
  type on the same edges as the pairs, with hidden rate classes of parents (so copying
  and editing parents alone do not pass for siblings changing together), one jump per
  generation (a fast class keeps the observed destinations), re-simulated
  down the same trees; the statistics (:func:`kin_statistics`) are computed by one
  function on the data and on the replicates. Shared change: among sibling pairs whose
  parent is known and who both left its state, the share that moved to one new state.
  The long-tailed groups of BINARY_GROUPS evolve trait by trait instead (independent
  binary characters, one rate for all parents: no rate heterogeneity), sibling excess only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from ..phylo.claims import Claim
from ..genealogy.genome import GROUPS, Genome
from ..genealogy.lineage import Lineage
from ..phylo.mk import MkData
from ..phylo.null import NullTest, dense_codes
from ..phylo.parallel import in_chunks, unit_counts
from ..sources.records import RELATIONS
from ..result import Result, frame

CLASSES = ("parent_child", "siblings", "grandparent", "great_grandparent", "aunt_niece", "cousins",
           "same_family", "other_family")
LABELS = {"parent_child": "parent / child", "siblings": "siblings", "grandparent": "grandparent",
          "great_grandparent": "great-grandparent", "aunt_niece": "aunt-uncle / niece-nephew",
          "cousins": "first cousins", "same_family": "random, same family",
          "other_family": "random, other family"}
SYMMETRIC = frozenset({"siblings", "cousins", "same_family", "other_family"})
METRICS = ("jaccard", "hamming", "tfidf", "levenshtein")
TEXT_METRICS = ("tfidf", "levenshtein")
HIGHER_IS_SIMILAR = {"jaccard": True, "hamming": False, "tfidf": True, "levenshtein": True}
GROUP_CHOICES = (*GROUPS, "all")
DEFAULT_GROUPS = ("license", "language", "task", "tag", "card", "all")
ALIASES = {"tags": "tag", "languages": "language", "datasets": "dataset"}
COUNT_CELLS = 1 << 25        # sibling counts by bincount up to this many (column, parent, state) cells
MAX_UNITS = 20_000           # bootstrap units at most: the largest families, the rest pooled in blocks
PATTERN_LIMIT = 256          # the null's categorical character: the most frequent trait sets, at most this many
BINARY_GROUPS = ("tag", "all")   # long-tailed vocabularies: the null evolves their traits one by one
NULL_MODELS = {"ARD": "ARD", "SYM": "SYM", "observed": "ARD", "symmetric": "SYM"}
STATEMENTS = {
    "family_resemblance": "parent and child are more alike in {group} than models of different families",
    "sibling_excess": "siblings are closer in {group}, relative to parent/child, than independent changes predict",
    "shared_change": "siblings that both changed {group} moved to the same new value more often than independent "
                     "changes predict"}


def _up(a: np.ndarray, parent: np.ndarray) -> np.ndarray:
    return np.where(a >= 0, parent[np.maximum(a, 0)], -1)


def _keys(cls: str, parent: np.ndarray, family: np.ndarray):
    """(list key, block key) of every candidate, the list key of every focal node and a
    member of its excluded block (-1: none); -1 list keys take no part."""
    n = len(parent)
    idx, zero, none = np.arange(n), np.zeros(n, np.int64), np.full(n, -1, np.int64)
    p1 = parent
    p2 = _up(p1, parent)
    return {"parent_child": (idx, zero, p1, none),
            "grandparent": (idx, zero, p2, none),
            "great_grandparent": (idx, zero, _up(p2, parent), none),
            "siblings": (p1, idx, p1, idx),
            "aunt_niece": (p1, idx, p2, p1),
            "cousins": (p2, p1, p2, idx),
            "same_family": (family, idx, family, idx),
            "other_family": (zero, family, zero, idx)}[cls]


def class_plan(cls: str, parent: np.ndarray, family: np.ndarray) -> tuple:
    """The keys of a class and its possible candidates sorted by (list key, block key):
    computed once, then filtered by any eligibility mask."""
    keys = _keys(cls, parent, family)
    lk, bk = keys[:2]
    if cls in ("parent_child", "grandparent", "great_grandparent"):
        return keys, np.arange(len(parent))
    nodes = np.flatnonzero(lk >= 0)
    return keys, nodes[np.lexsort((bk[nodes], lk[nodes]))]


class Pairs:
    """All pairs of one class among eligible nodes, held implicitly (see the module docstring)."""

    def __init__(self, cls: str, eligible: np.ndarray, parent: np.ndarray, family: np.ndarray,
                 plan: tuple | None = None):
        n = len(parent)
        (lk, bk, qk, member), order = plan or class_plan(cls, parent, family)
        self.cand = cand = order[eligible[order]]
        lkey, bkey = lk[cand], bk[cand]
        count = np.bincount(lkey, minlength=n)
        start = np.cumsum(count) - count
        new = np.r_[True, (lkey[1:] != lkey[:-1]) | (bkey[1:] != bkey[:-1])][:len(cand)]
        run = np.cumsum(new) - 1
        run_start = np.flatnonzero(new)
        run_end = np.r_[run_start[1:], len(cand)]
        pos = np.full(n, -1)
        pos[cand] = np.arange(len(cand))
        focal = np.flatnonzero(eligible & (qk >= 0))
        lo = start[qk[focal]]
        hi = lo + count[qk[focal]]
        m = np.where(member[focal] >= 0, pos[np.maximum(member[focal], 0)], -1)   # excluded block, if any
        xlo = np.where(m >= 0, run_start[run[np.maximum(m, 0)]] if len(cand) else lo, lo)
        xhi = np.where(m >= 0, run_end[run[np.maximum(m, 0)]] if len(cand) else lo, lo)
        weight = (hi - lo) - (xhi - xlo)
        keep = weight > 0
        self.cls, self.symmetric = cls, cls in SYMMETRIC
        self.focal, self.weight = focal[keep], weight[keep]
        self.lo, self.hi, self.xlo, self.xhi = lo[keep], hi[keep], xlo[keep], xhi[keep]
        self.cum = np.cumsum(self.weight)

    @property
    def ordered(self) -> int:
        return int(self.cum[-1]) if len(self.cum) else 0

    @property
    def n(self) -> int:
        """Number of (unordered) pairs in the class."""
        return self.ordered // 2 if self.symmetric else self.ordered

    def _partner(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        pos = self.lo[i] + j
        return self.cand[pos + np.where(pos >= self.xlo[i], self.xhi[i] - self.xlo[i], 0)]

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        """Every pair once: (a, b) node arrays."""
        i = np.repeat(np.arange(len(self.focal)), self.weight)
        j = np.arange(self.ordered) - np.repeat(self.cum - self.weight, self.weight)
        a, b = self.focal[i], self._partner(i, j)
        if self.symmetric:
            a, b = a[a < b], b[a < b]
        return a, b

    def sample(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``size`` pairs drawn uniformly (with replacement) from all pairs of the class."""
        i = np.searchsorted(self.cum, rng.integers(0, self.ordered, size), "right")
        j = np.minimum((rng.random(size) * self.weight[i]).astype(np.int64), self.weight[i] - 1)
        return self.focal[i], self._partner(i, j)

    def draw(self, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
        """All pairs when there are at most ``max_pairs``, else a uniform sample: (a, b, exact)."""
        if self.n <= max_pairs:
            return (*self.enumerate(), True)
        return (*self.sample(max_pairs, rng), False)

    def hamming_totals(self, X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Per focal node: (sum of Hamming distances, number of pairs), exactly, by
        aggregating trait counts over the candidate lists (halved for symmetric classes)."""
        X = X.astype(np.int64).tocsr()
        size = np.diff(X.indptr)
        prefix = np.concatenate([[0], np.cumsum(size[self.cand])])
        run = lambda a, b: prefix[b] - prefix[a]                       # noqa: E731
        dots = []
        for lo, hi in ((self.lo, self.hi), (self.xlo, self.xhi)):
            _, first, which = np.unique(lo * (len(self.cand) + 1) + hi, return_index=True, return_inverse=True)
            starts, ends = lo[first], hi[first]
            seg = np.repeat(np.arange(len(starts)), ends - starts)
            pos = _ranges(starts, ends)
            agg = sp.csr_matrix((np.ones(len(pos), np.int64), (seg, pos)),
                                shape=(len(starts), len(self.cand))) @ X[self.cand]
            dots.append(_rowdot(X, self.focal, agg.tocsr(), which))
        total = (self.weight * size[self.focal] + run(self.lo, self.hi) - run(self.xlo, self.xhi)
                 - 2 * (dots[0] - dots[1]))
        half = 0.5 if self.symmetric else 1.0
        return total * half, self.weight * half


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, e) for every (s, e)."""
    length = ends - starts
    return np.arange(length.sum()) - np.repeat(np.cumsum(length) - length - starts, length)


def _rowdot(X: sp.csr_matrix, rows: np.ndarray, C: sp.csr_matrix, crow: np.ndarray) -> np.ndarray:
    """X[rows[i]] . C[crow[i]] for every i, without materialising the repeated rows of C."""
    sub = X[rows]
    r = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
    C.sort_indices()
    k = C.shape[1]
    keys = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr)) * k + C.indices
    q = crow[r] * k + sub.indices
    if not len(keys):
        return np.zeros(len(rows))
    pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
    vals = np.where(keys[pos] == q, C.data[pos], 0)
    return np.bincount(r, weights=vals * sub.data, minlength=len(rows))


def set_similarity(X: sp.csr_matrix, a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Jaccard similarity (1 for two empty sets) or Hamming distance of the rows pairs (a, b)."""
    X = X.tocsr()
    size = np.diff(X.indptr)
    inter = np.asarray(X[a].multiply(X[b]).sum(axis=1)).ravel()
    if metric == "hamming":
        return (size[a] + size[b] - 2 * inter).astype(float)
    union = size[a] + size[b] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def clusters(family: np.ndarray, rng: np.random.Generator, max_units: int = MAX_UNITS) -> np.ndarray:
    """Bootstrap unit of every node: its family. Beyond ``max_units`` families, the largest
    half keep their own unit and the other families are pooled into random blocks (blocks of
    independent families are independent units), which bounds the bootstrap's cost."""
    n = len(family)
    size = np.bincount(family, minlength=n)
    roots = np.flatnonzero(size)
    if len(roots) <= max_units:
        return family.copy()
    big = roots[np.argsort(-size[roots], kind="stable")[:max_units // 2]]
    unit = np.full(n, -1)
    unit[roots] = n + rng.integers(0, max_units - len(big), len(roots))
    unit[big] = big
    return unit[family]


def cluster_bootstrap(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_units: int, replicates: int,
                      rng: np.random.Generator, chunk: int = 50, track=()) -> tuple[np.ndarray, ...]:
    """Totals of every part (unit ids in [0, n_units), sums, counts) and their cluster-bootstrap
    replicates: units resampled with replacement (multinomial counts), the same draws for
    every part. Returns (totals: sums and counts interleaved per part; replicates x that; the
    rows of the units in ``track`` (their sums and counts); their draws, replicates x track),
    so that a replicate without a tracked unit is the replicate minus its draws x its row.
    Chunks of replicates draw from streams spawned from ``rng``, on one thread per core."""
    u = n_units
    S = np.zeros((u, 2 * len(parts)))
    for k, (ids, sums, counts) in enumerate(parts):
        S[:, 2 * k] = np.bincount(ids, weights=sums, minlength=u)
        S[:, 2 * k + 1] = np.bincount(ids, weights=counts, minlength=u)
    track = np.asarray(track, np.int64)

    def replicates_of(b, chunk_rng):
        W = unit_counts(chunk_rng, b, u).astype(float)
        return W @ S, W[:, track]
    out = in_chunks(replicates_of, replicates, chunk, int(rng.integers(2 ** 63)))
    reps = np.vstack([r for r, _ in out]) if out else np.empty((0, S.shape[1]))
    drawn = np.vstack([d for _, d in out]) if out else np.empty((0, len(track)))
    return S.sum(axis=0), reps, S[track], drawn


# -- the null ------------------------------------------------------------------------------

def patterns(X: sp.csr_matrix, eligible: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each eligible node's trait set as a categorical state (-1 elsewhere) and one node
    carrying each state; with ``limit``, only the ``limit`` most frequent sets are states
    (nodes with a rarer set get -1). Sets are hashed (random 64-bit keys summed modulo 2^64)."""
    X = X.tocsr()
    key = np.random.default_rng(0).integers(-2 ** 62, 2 ** 62, X.shape[1])
    cs = np.concatenate([[0], np.cumsum(key[X.indices])])
    h = cs[X.indptr[1:]] - cs[X.indptr[:-1]]
    nodes = np.flatnonzero(eligible)
    _, first, inv, count = np.unique(h[nodes], return_index=True, return_inverse=True, return_counts=True)
    if limit is not None and len(first) > limit:
        top = np.sort(np.argsort(-count, kind="stable")[:limit])
        code = np.full(len(first), -1)
        code[top] = np.arange(limit)
        inv, first = code[inv.ravel()], first[top]
    state = np.full(X.shape[0], -1, np.int64)
    state[nodes] = inv.ravel()
    return state, nodes[first]


def _starts(a: np.ndarray) -> np.ndarray:
    """Where the runs of equal values of a sorted array start."""
    return np.flatnonzero(np.r_[True, a[1:] != a[:-1]][:len(a)])


def _sibling_sums(code: np.ndarray, R: int, G: int, k: int,
                  J: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per column (of R) the sum of J[state, state'] over the pairs of siblings taking part
    and the number of those pairs, exactly, from one code ``(column * G + parent) * k +
    state`` per child taking part (in (column, parent) order: the stable sort only merges
    short runs), via the counts per (column, parent, state), no pair lists. J None: the
    identity (the pairs of one state). Codes of a small range are counted (bincount), the
    others sorted."""
    if R * G * k <= min(4 * len(code), COUNT_CELLS):
        counts = np.bincount(code, minlength=R * G * k)
        distinct = np.flatnonzero(counts)
        cnt = counts[distinct]
    else:
        code = np.sort(code, kind="stable")
        first = _starts(code)
        distinct, cnt = code[first], np.diff(np.r_[first, len(code)])
    group, state = np.divmod(distinct, k)
    start = _starts(group)
    size = np.diff(np.r_[start, len(group)])
    gi = np.repeat(np.arange(len(start)), size)
    n_g = np.bincount(gi, cnt, len(start))
    pairs = np.bincount(group[start] // G, n_g * (n_g - 1) / 2, R)
    same = cnt * (cnt - 1) / 2                      # pairs within one (column, parent, state)
    if J is None:
        return np.bincount(group // G, same, R), pairs
    end = (start + size)[gi]
    e = np.flatnonzero(end - np.arange(len(group)) > 1)     # entries with a later state in their group
    ent = np.repeat(e, end[e] - e - 1)
    partner = _ranges(e + 1, end[e])                # each unordered pair of states of a group once
    mixed = np.bincount(group[ent] // G, cnt[ent] * cnt[partner] * J[state[ent], state[partner]], R)
    return np.bincount(group // G, same * J[state, state], R) + mixed, pairs


def kin_statistics(parent: np.ndarray, declared: np.ndarray, J: np.ndarray, sign: float = 1.0) -> dict:
    """The kinship null's statistics, each an (n, R) state array (-1 unknown, never outside
    ``declared``) -> (R,) values, over the primary edges of ``parent``:

    * ``sibling_excess``: ``sign`` x (mean J[state, state'] over the sibling pairs, both
      known, minus over the parent/child pairs, both known);
    * ``shared_change``: among the pairs of siblings whose parent is known and who both
      differ from its state, the share in one state (0 without such pairs).
    """
    n, k = len(parent), len(J)
    ch = np.flatnonzero((parent >= 0) & declared)
    pc = ch[declared[parent[ch]]]
    sib = ch[np.bincount(parent[ch], minlength=n)[parent[ch]] >= 2]      # parents of 2+ known children
    sib = sib[np.argsort(parent[sib], kind="stable")]
    pid = dense_codes(parent[sib])[1]
    G = int(pid.max()) + 1 if len(sib) else 0

    up_pc, up_sib = parent[pc], parent[sib]
    Jpad = np.zeros((k + 1, k + 1))                 # state -1 reads the last row and column: 0
    Jpad[:k, :k] = J

    def rows(S, nodes):                             # whole rows of S: np.take beats fancy indexing
        return np.take(S, nodes, axis=0)

    def sibling_excess(S):
        a, b = rows(S, up_pc), rows(S, pc)
        ok = (a >= 0) & (b >= 0)
        pc_mean = Jpad[a, b].sum(axis=0) / np.maximum(ok.sum(axis=0), 1)
        s = rows(S, sib).T
        code = (np.arange(len(s), dtype=np.int64)[:, None] * G + pid) * k + s
        sums, pairs = _sibling_sums(code[s >= 0], len(s), G, k, J)
        return sign * (sums / np.maximum(pairs, 1) - pc_mean)

    def shared_change(S):
        s, p = rows(S, sib).T, rows(S, up_sib).T
        r, i = np.nonzero((s >= 0) & (p >= 0) & (s != p))
        same, pairs = _sibling_sums((r * G + pid[i]) * k + s[r, i], len(s), G, k)
        return np.where(pairs > 0, same / np.maximum(pairs, 1), 0.0)

    return {"sibling_excess": sibling_excess, "shared_change": shared_change}


def pattern_null(lineage: Lineage, X: sp.csr_matrix, declared: np.ndarray, parent: np.ndarray, metric: str,
                 replicates: int, seed: int, kind: str = "ARD", limit: int = PATTERN_LIMIT) -> tuple[dict, int, int]:
    """The null engine's tests of one trait group: its trait sets (the ``limit`` most frequent;
    models with a rarer set leave the test, in the data and in every replicate) as one
    categorical character over the primary edges of ``parent``, the ``kind`` null fitted to
    it (per relation type, hidden rate classes of parents), the :func:`kin_statistics`
    computed on the data and on ``replicates`` replicates. Returns ({statistic: NullTest},
    states, models left out)."""
    from ..phylo.null import fit_null, null_test
    state, rep = patterns(X, declared, limit)
    k = len(rep)
    J = set_similarity(X, np.repeat(rep, k), np.tile(rep, k), metric).reshape(k, k)
    model = fit_null(lineage, state, k, kind, parent=parent, seed=seed)
    statistics = kin_statistics(parent, state >= 0, J, 1.0 if HIGHER_IS_SIMILAR[metric] else -1.0)
    tests = null_test(lineage, state, model, statistics, replicates, seed, parent=parent)
    return tests, k, int(declared.sum() - (state >= 0).sum())


def binary_rates(parent: np.ndarray, X: sp.csr_matrix, eligible: np.ndarray,
                 symmetric: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trait: (P(0 -> 1), P(1 -> 0), frequency) of the null for set-valued groups: each
    trait an independent binary character with the observed gain and loss rates per edge
    (gains and losses pooled and split evenly if ``symmetric``)."""
    c = np.flatnonzero(parent >= 0)
    c = c[eligible[c] & eligible[parent[c]]]
    Xi = X.astype(np.int64)
    child, par = Xi[c], Xi[parent[c]]
    both = np.asarray(child.multiply(par).sum(axis=0)).ravel()
    gain = np.asarray(child.sum(axis=0)).ravel() - both
    loss = np.asarray(par.sum(axis=0)).ravel() - both
    if symmetric:
        gain = loss = (gain + loss) / 2
    n1 = both + loss
    n0 = len(c) - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        up, down = np.nan_to_num(gain / n0), np.nan_to_num(loss / n1)
    freq = np.asarray(Xi[eligible].mean(axis=0)).ravel() if eligible.any() else np.zeros(X.shape[1])
    return np.clip(up, 0, 1), np.clip(down, 0, 1), freq


def bernoulli_ones(rng, rows: int, p: np.ndarray, block: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """The ones of a (rows, len(p)) array of independent Bernoulli cells, column j with
    probability p[j], as (row, column) arrays, drawn in time proportional to their number
    plus the columns: a column of p < 1/16 gets a binomial count of rows, a uniform subset of
    that size (rejecting repeats, rare at such p); denser columns are drawn cell by cell (in
    blocks of ``block`` cells), at most 16 cells per one."""
    sparse_ = np.flatnonzero((p > 0) & (p < 1 / 16)) if rows else np.zeros(0, np.int64)
    want = rng.binomial(rows, p[sparse_])
    keys = np.zeros(0, np.int64)                    # (position in sparse_) * rows + row
    while (short := want - np.bincount(keys // max(rows, 1), minlength=len(sparse_))).any():
        group = np.repeat(np.arange(len(sparse_)), short)
        keys = np.sort(np.r_[keys, group * rows + rng.integers(0, rows, len(group))], kind="stable")
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]            # (np.unique hashes: slow here)
    group, row = np.divmod(keys, max(rows, 1))
    out_row, out_col = [row], [sparse_[group]]
    dense = np.flatnonzero(p >= 1 / 16) if rows else np.zeros(0, np.int64)
    step = max(1, block // max(rows, 1))
    for cols in (dense[i:i + step] for i in range(0, len(dense), step)):
        col, row = np.divmod(np.flatnonzero(rng.random((len(cols), rows)) < p[cols, None]), rows)
        out_row.append(row)
        out_col.append(cols[col])
    return np.concatenate(out_row), np.concatenate(out_col)


def _level_rows(lineage: Lineage, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the nodes in ``keep`` (closed under parents) in level order, roots first:
    (where each level's rows start, and every node's row, -1 outside ``keep``)."""
    levels = [lv[keep[lv]] for lv in lineage.levels()]
    row = np.full(lineage.n, -1, np.int64)
    row[np.concatenate(levels)] = np.arange(int(keep.sum()))
    return np.cumsum([0] + [len(lv) for lv in levels]), row


def _simulate_sets(lineage: Lineage, X: sp.csr_matrix, eligible: np.ndarray, up, down, freq,
                   replicates: int, rng, keep: np.ndarray) -> np.ndarray:
    """The trait sets of the nodes in ``keep`` (closed under parents) in ``replicates`` runs
    of the null, as the sorted keys ``(row * replicates + replicate) * traits + trait`` of
    their ones (rows of :func:`_level_rows`): known root sets kept (unknown ones drawn from
    the trait frequencies), then every trait flips independently down the forest (a parent's
    trait lost with P(1 -> 0), an absent one gained with P(0 -> 1)). Work grows with the
    ones and the nodes x replicates, not with the traits."""
    cut, row = _level_rows(lineage, keep)
    order = np.argsort(np.where(keep, row, len(row)))[:cut[-1]]          # node of every row
    r, t = replicates, max(X.shape[1], 1)
    prow = row[lineage.parent[order]]
    roots = order[:cut[1]]
    known = np.flatnonzero(eligible[roots])
    sub = X[roots[known]].tocsr()
    cell = np.repeat(known, np.diff(sub.indptr)) * r
    known_keys = ((cell[:, None] + np.arange(r)) * t + sub.indices[:, None]).ravel()
    unknown = np.flatnonzero(~eligible[roots])
    i, j = bernoulli_ones(rng, len(unknown) * r, freq)                  # cell = root * r + replicate
    cur = np.sort(np.r_[known_keys, (unknown[i // r] * r + i % r) * t + j], kind="stable")
    i, j = bernoulli_ones(rng, (cut[-1] - cut[1]) * r, up)              # gains, one cell per child run
    gains = np.sort((cut[1] * r + i) * t + j)
    out = [cur]
    for first, lo, hi in zip(cut[:-2], cut[1:-1], cut[2:]):               # parents in [first, lo)
        # inherited: each parent's ones, every one kept with probability 1 - P(1 -> 0)
        count = np.bincount(cur // t - first * r, minlength=(lo - first) * r)
        start = np.r_[0, np.cumsum(count)]
        group = (prow[lo:hi, None] - first) * r + np.arange(r)              # child-major, then replicate
        take = _ranges(start[group.ravel()], start[group.ravel() + 1])
        size = count[group.ravel()]
        trait = cur[take] % t
        kept = rng.random(len(take)) >= down[trait]
        child = np.repeat((np.arange(lo, hi)[:, None] * r + np.arange(r)).ravel(), size)
        inherited = (child * t + trait)[kept]
        # gained where the parent lacks the trait
        g = gains[np.searchsorted(gains, lo * r * t):np.searchsorted(gains, hi * r * t)]
        cell, gt = np.divmod(g, t)
        probe = ((prow[cell // r] * r + cell % r) * t + gt)
        pos = np.minimum(np.searchsorted(cur, probe), max(len(cur) - 1, 0))
        has = cur[pos] == probe if len(cur) else np.zeros(len(probe), bool)
        cur = np.sort(np.r_[inherited, g[~has]], kind="stable")          # two sorted runs: a merge
        out.append(cur)
    return np.concatenate(out)


def _set_means(keys: np.ndarray, rows: int, t: int, replicates: int, a: np.ndarray, b: np.ndarray,
               metric: str) -> np.ndarray:
    """Per replicate, the mean Jaccard similarity (1 for two empty sets) or Hamming distance
    of the rows pairs (a, b), from the sorted keys of :func:`_simulate_sets`."""
    t = max(t, 1)
    S = sp.csr_matrix((np.ones(len(keys), np.int32), keys % t,
                       np.r_[0, np.cumsum(np.bincount(keys // t, minlength=replicates * rows))]),
                      shape=(replicates * rows, t))
    rep = np.arange(replicates)[:, None]
    return set_similarity(S, (a * replicates + rep).ravel(), (b * replicates + rep).ravel(),
                          metric).reshape(replicates, len(a)).mean(axis=1)


def binary_null(lineage: Lineage, X: sp.csr_matrix, declared: np.ndarray, parent: np.ndarray, pairs_pc, pairs_sib,
                metric: str, replicates: int, rng, symmetric: bool = False,
                chunk_cells: int = 8_000_000) -> tuple[float, np.ndarray]:
    """(observed, null replicates) of siblings minus parent/child mean similarity for the
    long-tailed groups (BINARY_GROUPS): every trait an independent binary character at the
    gain and loss rates observed on the edges of ``parent`` (:func:`binary_rates`; one rate
    for all parents: no rate heterogeneity), simulated as sparse sets (:func:`_simulate_sets`:
    the cost grows with the ones, not with traits x nodes) and compared on the given pairs
    (declared as observed): only the pairs' nodes and their ancestors are simulated, which
    leaves their joint distribution as it is."""
    keep = np.zeros(lineage.n, bool)
    keep[np.concatenate([*pairs_pc, *pairs_sib])] = True
    keep = MkData.informative(lineage, keep)
    node = np.flatnonzero(keep)
    row = _level_rows(lineage, keep)[1]
    (pa_, pb), (sa, sb) = [(row[a], row[b]) for a, b in (pairs_pc, pairs_sib)]
    observed = (set_similarity(X, *pairs_sib, metric).mean() - set_similarity(X, *pairs_pc, metric).mean())
    used = np.flatnonzero(np.diff(X.tocsc().indptr) > 0)
    X = X[:, used].tocsr()
    up, down, freq = binary_rates(parent, X, declared, symmetric)
    ones = X[node].nnz / max(len(node), 1) + freq.sum()        # a set's expected size, about
    per_replicate = (len(node) + len(sa) + len(pa_)) * (1 + ones)  # cells held per replicate
    chunk = max(1, int(chunk_cells // per_replicate))
    out = []
    for start in range(0, replicates, chunk):
        r = min(chunk, replicates - start)
        keys = _simulate_sets(lineage, X, declared, up, down, freq, r, rng, keep)
        out.append(_set_means(keys, len(node), X.shape[1], r, sa, sb, metric)
                   - _set_means(keys, len(node), X.shape[1], r, pa_, pb, metric))
    return float(observed), np.concatenate(out)


# -- the analysis ---------------------------------------------------------------------------

def authors(ids: np.ndarray) -> np.ndarray:
    """Author (namespace before '/') of every model id, as integer codes."""
    first = pc.list_element(pc.split_pattern(pa.array(ids.tolist(), pa.string()), "/", max_splits=1), 0)
    return np.asarray(pc.dictionary_encode(first).indices, np.int64)


def _ci(values: np.ndarray) -> list[float] | None:
    values = values[np.isfinite(values)]
    return np.percentile(values, [2.5, 97.5]).tolist() if len(values) else None


def _group_matrix(lineage: Lineage, genome: Genome, group: str):
    if group == "all":
        return genome.matrix.tocsr(), lineage.observed.copy()
    return genome.group(group).tocsr(), genome.is_declared(group).copy()


def _check(groups, relations, metric, classes, bootstrap, null, max_pairs, null_model):
    if null_model not in NULL_MODELS:
        raise ValueError(f"unknown null model {null_model!r}: choose ARD or SYM")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    bad = [g for g in groups if ALIASES.get(g, g) not in GROUP_CHOICES]
    if bad:
        raise ValueError(f"unknown trait group(s) {', '.join(bad)}: choose from {', '.join(GROUP_CHOICES)}")
    bad = [r for r in relations or () if r not in RELATIONS]
    if bad:
        raise ValueError(f"unknown relation(s) {', '.join(bad)}: choose from {', '.join(RELATIONS)}")
    bad = [c for c in classes if c not in CLASSES]
    if bad or not {"parent_child", "siblings"} <= set(classes):
        raise ValueError(f"classes must include parent_child and siblings and come from {', '.join(CLASSES)}")
    if bootstrap < 0 or null < 0 or max_pairs < 1:
        raise ValueError("bootstrap and null replicates must be non-negative and max_pairs positive")


def kinship(lineage: Lineage, genome: Genome | None = None, store=None, groups=DEFAULT_GROUPS,
            relations=None, family: str | None = None, metric: str = "jaccard", bootstrap: int = 1000,
            null: int = 200, seed: int = 1, max_pairs: int = 100_000, classes=CLASSES,
            null_pairs: int = 20_000, null_model: str = "ARD") -> dict:
    """Similarity of relatives per trait group and relationship class, with statistics.

    ``relations``: keep only primary edges of these types for the kin classes and for the
    null's rates (families stay whole). ``family``: only the family rooted at this model.
    Text metrics (tfidf, levenshtein) compare the cleaned model-card text from ``store``
    (group ``card``). The null (``null`` replicates of the null engine) is the ``null_model``
    kind, "ARD" (the default; also "observed": direction allowed, sharing not) or "SYM"
    (also "symmetric"), per relation type with hidden rate classes of parents; the groups
    of BINARY_GROUPS instead evolve trait by trait (no rate classes), compared on at most
    ``null_pairs`` pairs per class.
    Returns the ``--json`` layout: ``{"groups": {group: {"classes": {class: {"n", "mean",
    "median", "ci", ...}}, "sib_minus_pc": {"diff", "ci", "p", "cohen_d"}, "null": {"diff",
    "ci", "p", "observed", "shared_change", ...}}}, "claims": [Claim], ...}`` (``null`` is
    None for text metrics or ``null=0``); the claims are not yet adjusted
    (:func:`phylohf.phylo.claims.adjust`).
    """
    groups = [ALIASES.get(g, g) for g in groups or DEFAULT_GROUPS]
    _check(groups, relations, metric, classes, bootstrap, null, max_pairs, null_model)
    kind = NULL_MODELS[null_model]
    rng = np.random.default_rng(seed)
    text = metric in TEXT_METRICS
    if text:
        if store is None:
            raise ValueError(f"metric {metric} compares model-card text: it needs the store")
        from ..genealogy import cards
        texts, has_card = cards.load(store, lineage)
        text_similarity = cards.similarity(texts, metric)
        groups = ["card"]
    elif genome is None:
        raise ValueError(f"metric {metric} compares trait genomes: pass the genome")
    parent = lineage.parent
    if relations:
        parent = np.where(np.isin(lineage.relation, [RELATIONS.index(r) for r in relations]), parent, -1)
    scope = np.ones(lineage.n, bool) if family is None else lineage.root == lineage.family_root(family)
    units, unit = np.unique(clusters(lineage.root, rng), return_inverse=True)
    author = authors(lineage.ids)
    parts, out, keep, plans = [], {}, {}, {}
    for group in groups:
        if text:
            eligible, X = has_card & scope, None
            similarity = text_similarity
        else:
            X, eligible = _group_matrix(lineage, genome, group)
            eligible &= scope
            similarity = lambda a, b, X=X: set_similarity(X, a, b, metric)    # noqa: E731
        res = {}
        for cls in classes:
            if cls not in plans:
                plans[cls] = class_plan(cls, parent, lineage.root)
            pairs = Pairs(cls, eligible, parent, lineage.root, plans[cls])
            a, b, exact = pairs.draw(max_pairs, rng)
            values = similarity(a, b) if len(a) else np.zeros(0)
            if metric == "hamming":
                sums, counts = pairs.hamming_totals(X)
                parts.append((unit[pairs.focal], sums, counts))
            else:
                parts.append((unit[a], values, np.ones(len(a))))
            same = author[a] == author[b]
            res[cls] = {"n": pairs.n, "exact": exact, "pairs_used": len(a),
                        "median": float(np.median(values)) if len(a) else None,
                        "same_author": {"share": float(same.mean()) if len(a) else None,
                                        "mean": float(values[same].mean()) if same.any() else None},
                        "different_author": {"mean": float(values[~same].mean()) if (~same).any() else None}}
            keep[group, cls] = (a, b, values)
        out[group] = {"classes": res, "eligible": int(eligible.sum())}
    top = {g: _top_family(lineage, keep[g, "parent_child"][0]) for g in groups}
    totals, reps, top_rows, top_drawn = cluster_bootstrap(parts, len(units), bootstrap, rng,
                                                          track=[unit[top[g]] for g in groups])
    col = {key: k for k, key in enumerate((g, c) for g in groups for c in classes)}
    sign = 1.0 if HIGHER_IS_SIMILAR[metric] else -1.0
    null_parent = np.where(scope, parent, -1)
    claims = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for group in groups:
            res = out[group]["classes"]
            for cls in classes:
                k = col[group, cls]
                s, c = totals[2 * k], totals[2 * k + 1]
                res[cls]["mean"] = float(s / c) if c else None
                res[cls]["ci"] = _ci(reps[:, 2 * k] / reps[:, 2 * k + 1]) if c and bootstrap else None
            out[group]["sib_minus_pc"] = _difference(res, reps, col[group, "siblings"], col[group, "parent_child"],
                                                     keep[group, "siblings"][2], keep[group, "parent_child"][2])
            if bootstrap and "other_family" in classes and res["parent_child"]["mean"] is not None \
                    and res["other_family"]["mean"] is not None:
                t = groups.index(group)
                claims.append(_resemblance(lineage, group, totals, reps, top_rows[t], top_drawn[:, t], top[group],
                                           [col[group, "parent_child"], col[group, "other_family"]],
                                           keep[group, "parent_child"][0], sign))
            out[group]["null"] = None
            if text or not null or out[group]["sib_minus_pc"]["diff"] is None:
                continue
            X, declared = _group_matrix(lineage, genome, group)
            declared &= scope
            if group in BINARY_GROUPS:
                sub = [_subsample(keep[group, c][:2], null_pairs, rng) for c in ("parent_child", "siblings")]
                obs, diffs = binary_null(lineage, X, declared, parent, sub[0], sub[1], metric, null, rng,
                                         kind == "SYM")
                T, null_T = sign * obs, sign * diffs
                tests = {"sibling_excess": NullTest(
                    T, float((1 + np.sum(null_T >= T - 1e-12)) / (1 + null)), float(null_T.mean()),
                    tuple(np.quantile(null_T, [0.025, 0.975]).tolist()), null,
                    f"every trait an independent binary character at the observed {'symmetrised ' * (kind == 'SYM')}"
                    "gain and loss rates, one rate for all parents (no rate heterogeneity)", None, None)}
                states = left = None
            else:
                tests, states, left = pattern_null(lineage, X, declared, null_parent, metric, null,
                                                   int(rng.integers(2 ** 31)), kind)
            out[group]["null"] = _null_json(tests, sign, states, left)
            if group not in BINARY_GROUPS:     # a null blind to rate heterogeneity is descriptive, no claim
                claims += [Claim.from_test(f"{name}:{group}", "kinship", STATEMENTS[name].format(group=group), t)
                           for name, t in tests.items()]
    return {"metric": metric, "higher_is_similar": HIGHER_IS_SIMILAR[metric],
            "relations": list(relations or RELATIONS),
            "scope": "all families" if family is None else f"family {family}",
            "bootstrap": bootstrap, "null_replicates": 0 if text else null,
            "null_model": kind, "seed": seed, "pattern_limit": PATTERN_LIMIT,
            "max_pairs": max_pairs, "groups": out, "claims": claims}


@dataclass
class Kinship(Result):
    """``phylohf relatives``: the result of :func:`kinship`, its claims adjusted beforehand
    (:func:`phylohf.phylo.claims.adjust`)."""

    result: dict

    def to_dict(self) -> dict:
        """The result in plain types (its claims as dicts)."""
        return {**self.result, "claims": [c.to_json() for c in self.result["claims"]]}

    def to_frame(self):
        """One row per trait group and kin class: pairs, mean, median, 95% CI."""
        return frame([{"group": group, "class": cls, "pairs": c["n"], "mean": c["mean"], "median": c["median"],
                       "ci_low": c["ci"][0] if c["ci"] else None, "ci_high": c["ci"][1] if c["ci"] else None}
                      for group, g in self.result["groups"].items() for cls, c in g["classes"].items()])

    def text(self) -> str:
        """Per trait group, the classes and the verdict; then the claims."""
        from ..phylo.claims import meaning, table as claim_table
        from ..text import table
        result = self.result
        metric, similar = result["metric"], result["higher_is_similar"]
        fmt = lambda v: "-" if v is None else f"{v:.3f}"                      # noqa: E731
        reps = result["null_replicates"]
        lines = [f"== Kinship: {metric} {'similarity' if similar else 'distance'} of relatives "
                 f"({result['scope']}) ==", "",
                 "Conventions: relatives along primary parents (edges: " + ", ".join(result["relations"])
                 + "); only models declaring the group, decided before pairing; all pairs of a class up to "
                 f"{result['max_pairs']:,}, else a uniform sample of that many"
                 + (" (class means exact by aggregation)" if metric == "hamming" else "")
                 + f"; 95% CIs from a cluster bootstrap over families ({result['bootstrap']:,} replicates). "
                 f"Null ({reps:,} replicates): the group's trait set as one character (its {result['pattern_limit']} "
                 "most frequent sets; models with a rarer set take no part in the null's tests, in the data and in "
                 f"every replicate) re-simulated down the same trees ({result['null_model']} rates per relation type "
                 "from the same edges as the pairs, hidden rate classes of parents, founders and declared models as "
                 f"observed: children change independently); {', '.join(BINARY_GROUPS)}: every trait an independent "
                 "binary character, one rate for all parents (rate heterogeneity alone can pass as a sibling "
                 "excess there, so it is shown but claims nothing). Shared change: among sibling pairs that both "
                 "left their parent's state, the share "
                 "that moved to the same new one.", ""]
        for group, g in result["groups"].items():
            rows = []
            for cls, c in g["classes"].items():
                ci = "-" if not c["ci"] else f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]"
                share = c["same_author"]["share"]
                author = "-" if share is None else (f"{share:.0%}: {fmt(c['same_author']['mean'])} vs "
                                                    f"{fmt(c['different_author']['mean'])}")
                rows.append([LABELS[cls], f"{c['n']:,}" + ("" if c["exact"] else "*"), fmt(c["mean"]),
                             fmt(c["median"]), ci, author])
            lines += [f"-- {group} ({g['eligible']:,} models declare it) --",
                      *table(["class", "pairs", "mean", "median", "95% CI", "same author: share, mean vs other"],
                             rows, right={1, 2, 3})]
            d, null = g["sib_minus_pc"], g["null"]
            if d["diff"] is None:
                lines += ["verdict: no sibling or no parent/child pairs", ""]
                continue
            closer = (d["diff"] > 0) == similar
            verdict = (f"verdict: siblings {'more' if closer else 'less'} similar than parent/child: "
                       f"{d['diff']:+.3f}")
            if d["ci"]:
                verdict += f" [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}], {_pvalue(d['p'], result['bootstrap'])}"
            if d["cohen_d"] is not None:
                verdict += f", d = {d['cohen_d']:+.2f}"
            lines.append(verdict)
            if null:
                left = f"; {null['left_out']:,} models with a rarer set left out" if null["left_out"] else ""
                lines.append(f"null: {null['diff']:+.3f} [{null['ci'][0]:+.3f}, {null['ci'][1]:+.3f}] on the null's "
                             f"pairs (observed {null['observed']:+.3f}{left}); sibling excess over it: "
                             f"{_pvalue(null['p'], reps)}")
                lines.append(f"  null model: {null['model']}")
                sc = null["shared_change"]
                if sc:
                    lines.append(f"shared change: {sc['share']:.3f} of sibling pairs that both changed moved to the "
                                 f"same new state; null {sc['null']:.3f} [{sc['ci'][0]:.3f}, {sc['ci'][1]:.3f}]: "
                                 f"{_pvalue(sc['p'], reps)}")
            lines.append("")
        if any(not c["exact"] for g in result["groups"].values() for c in g["classes"].values()):
            lines.append("* sampled uniformly: median and author split from the sample"
                         + ("; means exact by aggregation" if metric == "hamming" else ", and the mean"))
        claims = result.get("claims") or []
        if claims:
            lines += ["", "Claims (family resemblance: one-sided cluster bootstrap; sibling excess and shared change: "
                      "the null above; q: Benjamini-Hochberg across the claims):", *claim_table(claims), "",
                      meaning(claims)]
        return "\n".join(lines)


def _pvalue(p: float, replicates: int) -> str:
    """A resampling p-value; at its floor 1 / (replicates + 1) it reads "p <= floor"."""
    return f"p <= {p:.2g}" if p <= 1 / (replicates + 1) + 1e-12 else f"p = {p:.2g}"


def _null_json(tests: dict, sign: float, states, left) -> dict:
    """The ``null`` entry of a group: the sibling excess in difference units, the shared change."""
    sib, sc = tests["sibling_excess"], tests.get("shared_change")
    return {"observed": sign * sib.statistic, "diff": sign * sib.null_mean,
            "ci": [float(v) for v in sorted(sign * np.asarray(sib.null_ci, float))], "p": sib.p, "model": sib.model,
            "states": states, "left_out": left,
            "shared_change": None if sc is None else {"share": sc.statistic, "null": sc.null_mean,
                                                      "ci": list(sc.null_ci), "p": sc.p}}


def _top_family(lineage: Lineage, nodes: np.ndarray) -> int:
    """The family (root) most of ``nodes`` belong to (0 if none)."""
    return int(np.argmax(np.bincount(lineage.root[nodes], minlength=lineage.n))) if len(nodes) else 0


def _resemblance(lineage, group, totals, reps, top_row, top_drawn, top, cols, pc_nodes, sign) -> Claim:
    """family_resemblance:<group>: parent/child minus other-family mean similarity (``sign``
    makes it positive for "more alike"), one-sided cluster-bootstrap p; also without the family
    ``top`` with most parent/child pairs (its unit's pairs and draws taken out of every
    replicate) and Kish's effective number of families over the parent/child pairs."""
    def diff(t):
        return sign * (t[..., 2 * cols[0]] / t[..., 2 * cols[0] + 1] - t[..., 2 * cols[1]] / t[..., 2 * cols[1] + 1])
    stat = float(diff(totals))
    w = np.bincount(lineage.root[pc_nodes], minlength=lineage.n).astype(float)
    loo = {"family": str(lineage.ids[top]), "statistic": float(diff(totals - top_row)),
           "p": _one_sided(diff(reps - top_drawn[:, None] * top_row))}
    return Claim(f"family_resemblance:{group}", "kinship", STATEMENTS["family_resemblance"].format(group=group),
                 stat, _one_sided(diff(reps)), "cluster bootstrap over families", len(reps), stat,
                 float(w.sum() ** 2 / (w ** 2).sum()) if w.any() else 0.0, loo)


def _one_sided(boot: np.ndarray) -> float:
    """(1 + #{replicates not > 0}) / (1 + replicates): the bootstrap p of a positive effect."""
    return float((1 + np.sum(~(boot > 0))) / (1 + len(boot)))


def _subsample(pair: tuple[np.ndarray, np.ndarray], size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    a, b = pair
    if len(a) <= size:
        return a, b
    pick = rng.choice(len(a), size, replace=False)
    return a[pick], b[pick]


def _difference(res: dict, reps: np.ndarray, ks: int, kp: int, sib: np.ndarray, pc_: np.ndarray) -> dict:
    """Siblings minus parent/child: difference, bootstrap CI, two-sided p, Cohen's d."""
    if res["siblings"]["mean"] is None or res["parent_child"]["mean"] is None:
        return {"diff": None, "ci": None, "p": None, "cohen_d": None}
    diff = res["siblings"]["mean"] - res["parent_child"]["mean"]
    out = {"diff": diff, "ci": None, "p": None, "cohen_d": None}
    if len(reps):
        boot = reps[:, 2 * ks] / reps[:, 2 * ks + 1] - reps[:, 2 * kp] / reps[:, 2 * kp + 1]
        boot = boot[np.isfinite(boot)]
        out["ci"] = _ci(boot)
        out["p"] = float((1 + (np.abs(boot - diff) >= abs(diff)).sum()) / (len(boot) + 1))
    pooled = np.sqrt(((len(sib) - 1) * sib.var(ddof=1) + (len(pc_) - 1) * pc_.var(ddof=1))
                     / max(len(sib) + len(pc_) - 2, 1)) if len(sib) > 1 and len(pc_) > 1 else 0.0
    out["cohen_d"] = float((sib.mean() - pc_.mean()) / pooled) if pooled > 0 else None
    return out
