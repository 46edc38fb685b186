"""Figures of the full report (matplotlib, in the ``[view]`` extra): the largest family
coloured by license, similarity by relationship class with CIs, the license transition
matrix, and the drift flows with CIs. Each reads its numbers from the report's JSON."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    from ..export.draw import require_matplotlib
    require_matplotlib("the report's figures")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def kinship_figure(kin: dict, path: Path) -> None:
    """Mean similarity per relationship class and trait group, with 95% CIs."""
    from ..analyses.relatives import LABELS
    plt = _pyplot()
    groups = list(kin["groups"])
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 4.2), sharey=True, squeeze=False)
    for ax, group in zip(axes[0], groups):
        classes = kin["groups"][group]["classes"]
        names = [c for c in classes if classes[c]["mean"] is not None]
        mean = np.array([classes[c]["mean"] for c in names])
        ci = np.array([classes[c]["ci"] or [m, m] for c, m in zip(names, mean)]).reshape(-1, 2)
        y = np.arange(len(names))
        colour = ["#d62728" if c in ("parent_child", "siblings") else "#1f77b4" for c in names]
        ax.errorbar(mean, y, xerr=np.abs(ci.T - mean), fmt="none", ecolor="#555555", capsize=3)
        ax.scatter(mean, y, c=colour, zorder=3)
        ax.set_yticks(y, [LABELS[c] for c in names])
        ax.invert_yaxis()
        ax.set_title(group)
        ax.set_xlabel(kin["metric"])
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Similarity of relatives by class (mean, 95% family-bootstrap CI)")
    _save(fig, path)


def transitions_figure(tr: dict, path: Path) -> None:
    """Heatmap of the per-generation license matrix (EM), with the edge counts written in."""
    plt = _pyplot()
    P, counts, names = np.array(tr.get("P_em", tr["P"])), np.array(tr["counts"]), tr["states"]
    fig, ax = plt.subplots(figsize=(1.0 * len(names) + 3, 0.8 * len(names) + 2))
    im = ax.imshow(np.log10(np.maximum(P, 1e-4)), cmap="viridis", vmin=-4, vmax=0)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{P[i, j]:.2f}\n({counts[i, j]:,})", ha="center", va="center", fontsize=7,
                    color="white" if P[i, j] < 0.3 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("child license")
    ax.set_ylabel("parent license")
    fig.colorbar(im, ax=ax, label="log10 P (per generation, EM)")
    ax.set_title("License transitions: P (edge counts)")
    _save(fig, path)


def drift_figure(drift: dict, path: Path) -> None:
    """Every drift flow as a log ratio A->B over B->A with its 95% CI (right of 0: A->B wins)."""
    plt = _pyplot()
    flows = [f for part in ("license", "language", "cards") for f in drift.get(part, {}).get("flows", [])]
    if not flows:
        return
    y = np.arange(len(flows))
    lr = np.array([f["log_ratio"] for f in flows])
    ci = np.array([f["ci"] for f in flows])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(flows) + 1.5))
    ax.axvline(0, color="#888888", lw=1)
    ax.errorbar(lr, y, xerr=np.abs(ci.T - lr), fmt="none", ecolor="#555555", capsize=3)
    ax.scatter(lr, y, color="#1f77b4", zorder=3)
    ax.set_yticks(y, [f"{f['name']} ({f['forward']:,} vs {f['backward']:,})" for f in flows])
    ax.invert_yaxis()
    ax.set_xlabel("log((A->B + 1/2) / (B->A + 1/2)) with 95% family-bootstrap CI\n"
                  "(descriptive: the claims of drift are the report's null-engine tests)")
    ax.set_title("Drift along parent -> child edges")
    _save(fig, path)


def family_figure(lineage, genome, root: int, path: Path) -> str:
    """A family coloured by license, uniform clades collapsed, at most 300 nodes drawn (ete3,
    else matplotlib); returns the engine used."""
    from ..export.draw import draw_family
    return draw_family(lineage, genome, root, path, collapse_by="license", max_nodes=300)[1]


def write_figures(report, lineage, genome, fams, out: str | Path) -> list[Path]:
    """All figures of ``report`` into the directory ``out``; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = report.data
    written = []
    if len(fams) and fams.size[0] > 1:
        family_figure(lineage, genome, int(fams.root[0]), out / "family.png")
        written.append(out / "family.png")
    for name, make, key in (("kinship.png", kinship_figure, "kinship"),
                            ("transitions.png", transitions_figure, "transitions"),
                            ("drift.png", drift_figure, "drift")):
        if key in data:
            make(data[key], out / name)
            written.append(out / name)
    return [p for p in written if p.exists()]
