"""Plain-text overview of a store: models, edges, families and the data problems handled."""
from __future__ import annotations

import numpy as np

from ..genealogy.families import Families, families_table
from ..genealogy.genome import GROUPS, Genome
from ..genealogy.lineage import Lineage
from ..sources.records import READ_FIXES, RELATIONS

FIX_NAMES = {
    "url_parent": "parent ids given as URLs (prefix removed)",
    "padded_parent": "parent ids with surrounding whitespace (trimmed)",
    "self_parent": "models naming themselves as parent (reference dropped)",
    "url_id": "model ids given as URLs (prefix removed)",
    "bad_card_data": "card data that is neither a JSON nor a YAML object (ignored)",
    "bad_date": "unreadable creation dates (treated as unknown)",
    **READ_FIXES,
    "case_parent": "parents named in another case than their id (resolved to the model)",
    "case_duplicate_parent": "parents listed twice in different case (kept once)",
    "unlinked_card_parent": "models whose card lists base models the Hub does not link (not lineage)",
    "unknown_license": "license 'unknown' (treated as undeclared)",
    "language_picker": "language lists copied from the Hub's picker (no languages declared)",
    "no_metadata": "models known by id only (kept, traits unknown)",
    "bad_seed_list": "seed-CSV crawl lists that cannot be read (list dropped, model kept)",
}


def overview(lineage: Lineage, fams: Families, genome: Genome | None,
             fixes: dict[str, int], problems: dict[str, int], top: int = 10) -> str:
    n_obs, n = lineage.n_observed, lineage.n
    edges = lineage.edge_count()
    sizes = fams.size
    lines = ["== Ecosystem overview ==", "",
             f"models:          {n_obs:,} observed, {n - n_obs:,} placeholders (absent parents)",
             f"parent edges:    {sum(edges.values()):,} ("
             + ", ".join(f"{r} {edges[r]:,}" for r in RELATIONS) + ")",
             f"with a parent:   {int((lineage.parent[:n_obs] >= 0).sum()):,} models "
             f"({(lineage.parent[:n_obs] >= 0).mean():.1%}); merges with several parents: "
             f"{len(np.unique(lineage.extra_child)):,}",
             f"families:        {len(fams):,} ({int((sizes == 1).sum()):,} singletons, "
             f"{int((sizes >= 10).sum()):,} with 10+ nodes, largest {int(sizes.max(initial=0)):,}); "
             f"deepest lineage {int(lineage.depth.max(initial=0))} generations", ""]
    if genome is not None:
        decl = genome.declared[:n_obs].mean(axis=0)
        lines += [f"genomes:         {genome.matrix.shape[1]:,} traits, "
                  f"{genome.matrix.nnz / max(n_obs, 1):.1f} per model; declared: "
                  + ", ".join(f"{g} {d:.0%}" for g, d in zip(GROUPS, decl)), ""]
    lines += [f"Largest families (top {min(top, len(fams))}):", *families_table(lineage, fams, top), ""]
    lines.append("Data problems found and how they were handled:")
    handled = [f"{c:,} {FIX_NAMES.get(k, k)}" for k, c in fixes.items()]
    handled.append(f"{n - n_obs:,} parents referenced but absent (kept as placeholder nodes)")
    handled.append(f"{len(lineage.cut):,} cycle(s) among parent links (each broken at its earliest-created "
                   "member, which becomes a root)")
    handled += [f"{c:,} input rows skipped: {k}" for k, c in problems.items()]
    lines += [f"  - {h}" for h in handled]
    return "\n".join(lines)
