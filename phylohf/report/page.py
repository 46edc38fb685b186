"""The full report as one self-contained HTML page: the sections of
:class:`phylohf.report.full.Report` as they are in the text report (their tables kept as
preformatted text), the figures of :func:`phylohf.report.figures.write_figures` inlined as base64
PNG under the sections they illustrate, and the explorer of the largest family
(:mod:`phylohf.export.explorer`) embedded in an ``<iframe srcdoc>``. Nothing is recomputed."""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

from ..export.explorer import family_data, page

# figure file (figures.write_figures) -> report section (full.SECTIONS) it sits under
FIGURE_SECTION = {"family.png": "anatomy", "kinship.png": "kinship", "transitions.png": "transitions",
                  "drift.png": "drift"}
_STYLE = """body { font: 14px system-ui, sans-serif; max-width: 1200px; margin: 0 auto; padding: 10px 20px; color: #222; }
pre { font: 12px ui-monospace, monospace; background: #f7f7f7; padding: 8px; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #ddd; }
iframe { width: 100%; height: 800px; border: 1px solid #ccc; }
nav li { margin: 2px 0; }"""


def _figures(report, lineage, genome, fams) -> dict[str, list[tuple[str, str]]]:
    """Section key -> [(figure name, base64 PNG)]."""
    from .figures import write_figures
    out: dict[str, list[tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="phylohf-figures-") as tmp:
        for path in write_figures(report, lineage, genome, fams, tmp):
            out.setdefault(FIGURE_SECTION[path.name], []).append(
                (path.stem, base64.b64encode(Path(path).read_bytes()).decode("ascii")))
    return out


def report_page(report, lineage, genome, fams, store=None, explorer: dict | None = None) -> str:
    """The page's HTML; ``explorer``: options of :func:`phylohf.export.explorer.family_data` for the
    largest family (whose explorer is left out when the store has no family of 2+ nodes)."""
    figures = _figures(report, lineage, genome, fams)
    keys = list(report.data)
    esc = html.escape
    parts = [f"<h1>phylohf report</h1>\n<p>{esc(report.header)}</p>\n<nav><ol>"]
    parts += [f'<li><a href="#{k}">{esc(t)}</a></li>' for k, (t, _) in zip(keys, report.sections)]
    family = len(fams) and fams.size[0] > 1
    if family:
        parts.append('<li><a href="#explorer">The largest family, interactive</a></li>')
    parts.append("</ol></nav>")
    for i, (key, (title, text)) in enumerate(zip(keys, report.sections), 1):
        parts.append(f'<section id="{key}"><h2>{i}. {esc(title)}</h2>\n<pre>{esc(text)}</pre>')
        parts += [f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{b64}"></figure>'
                  for name, b64 in figures.get(key, [])]
        parts.append("</section>")
    if family:
        data = family_data(lineage, genome, int(fams.root[0]), store, **(explorer or {}))
        parts.append(f'<section id="explorer"><h2>The largest family: {esc(data["root"])}</h2>\n'
                     f'<p>Hover or click a model for its metadata, click a triangle to expand it; the same page '
                     f'stands alone with <code>phylohf html --family</code>.</p>\n'
                     f'<iframe title="family explorer" srcdoc="{esc(page(data), quote=True)}"></iframe></section>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<link rel=\"icon\" href=\"data:,\">\n"
            f"<title>phylohf report</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def write_report_page(report, lineage, genome, fams, out, store=None, explorer: dict | None = None) -> int:
    """Write :func:`report_page` to ``out``; the bytes written."""
    text = report_page(report, lineage, genome, fams, store, explorer)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    return len(text.encode())
