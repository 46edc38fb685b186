"""Regenerate ``trees/examples/``: one family's exports and its renders by ete3 and FigTree.

    python scripts/examples.py [--out trees/examples]

The family is the largest with a placeholder (an absent parent) in the demo ecosystem
(``phylohf demo``: 20,000 simulated models, seed 7). Writes its NHX and NEXUS exports,
``ete3.png`` (``phylohf draw``, coloured by license), ``ete3-snippet.png`` (the README's
five-line ete3 snippet on the NHX file) and ``figtree.png`` (the NEXUS file rendered by
FigTree itself, headless: needs ``figtree`` and ``xvfb-run``, e.g. ``apt-get install figtree
xvfb``).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from phylohf.api import load
from phylohf.export.draw import draw_family, headless
from phylohf.export.trees import export_trees
from phylohf.store.ingest import ingest_file
from phylohf.sources.simulate import simulate, write_listing
from phylohf.store.database import Store


def snippet(nhx: Path, png: Path) -> None:
    """The README's "Open a family in ete3" snippet, verbatim but for the file names."""
    from ete3 import NodeStyle, Tree
    t = Tree(open(nhx, newline="").read(), format=1, quoted_node_names=True)
    colour = {"apache-2.0": "#1f77b4", "mit": "#ff7f0e", "unknown": "#2ca02c"}
    for n in t.traverse(): c = colour.get(getattr(n, "license", ""), "#aaaaaa"); n.set_style(NodeStyle(fgcolor=c, hz_line_color=c, vt_line_color=c, size=6))  # noqa: E501, E702
    t.render(str(png), w=1000)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "trees" / "examples")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_listing(simulate(20_000, seed=7), Path(tmp) / "hub.parquet")
        with Store(Path(tmp) / "eco.duckdb") as store:
            ingest_file(store, Path(tmp) / "hub.parquet", progress=False)
            lineage, fams, genome = load(store, with_genome=True)
    root = int(fams.root[(fams.observed < fams.size).argmax()])
    family = str(lineage.ids[root])
    export_trees(lineage, fams, genome, args.out, formats=("nhx", "nexus"), family=family)
    d, engine = draw_family(lineage, genome, root, args.out / "ete3.png", engine="ete3")
    print(f"{family}: {d.family_size} models; exports and {engine} render in {args.out}/")
    headless()
    snippet(next(args.out.glob("*.nhx")), args.out / "ete3-snippet.png")
    nexus = next(args.out.glob("*.nex"))
    if shutil.which("figtree") and shutil.which("xvfb-run"):
        subprocess.run(["xvfb-run", "-a", "figtree", "-graphic", "PNG", "-width", "1000", "-height", "1400",
                        str(nexus), str(args.out / "figtree.png")], check=True, timeout=300)
        print(f"FigTree render: {args.out / 'figtree.png'}")
    else:
        print("figtree or xvfb-run not found: FigTree render skipped")


if __name__ == "__main__":
    main()
