// phylohf family explorer: draws the family of the page's JSON with d3 (SVG, zoomable).
// Ids are data: they reach the document only through textContent and attribute values.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("phylohf-data").textContent);
  const n = D.ids.length, parent = Int32Array.from(D.parent);
  const DASH = {solid: null, dashed: "6,3", dotted: "1.5,3"};
  const GEN = 240, ROW = 15, RING = 60;                 // px per generation, per leaf row, radial offset
  const LABELS = 2500;                                   // visible nodes up to which every node is labelled
  const MIN_SCALE = 0.6;                                 // a taller tree opens at its top, at this zoom

  // subtree sizes and depths (pre-order: parents come before their children)
  const size = new Int32Array(n).fill(1), depth = new Int32Array(n), nkids = new Int32Array(n);
  for (let i = 1; i < n; i++) { depth[i] = depth[parent[i]] + 1; nkids[parent[i]]++; }
  for (let i = n - 1; i > 0; i--) size[parent[i]] += size[i];
  const lower = D.ids.map(s => s.toLowerCase());
  const merges = new Map(D.merges);
  const collapsed = new Uint8Array(n);                  // clades drawn as a triangle
  const folded = new Uint8Array(n);                     // parents whose leaves (and triangles) of one colour form a group
  const state = {colorBy: D.color_by, layout: "rectangular", hit: -1};     // hit: the model found or clicked

  function resetCollapse() {
    collapsed.fill(0); folded.fill(0);
    for (const i of D.collapsed) collapsed[i] = 1;
    for (const i of D.folded) folded[i] = 1;
  }
  resetCollapse();

  function grouped(i) { return L.members[i] > 1; }                  // stands for siblings of its colour
  function triangle(i) { return collapsed[i] || grouped(i); }
  function weight(i) { return grouped(i) ? L.mass[i] : size[i]; }  // models a triangle stands for
  function colorOf(i) { const a = D.attributes[state.colorBy]; return a.color[a.code[i]]; }
  function valueOf(name, i) { const a = D.attributes[name]; return a.values[a.code[i]]; }
  function relation(i) { return parent[i] < 0 ? null : valueOf("relation", i); }

  // -- layout of the visible tree: x generation, y leaf row (internal: middle of its children)
  function layout() {
    const shown = new Uint8Array(n), y = new Float64Array(n), lo = new Float64Array(n), hi = new Float64Array(n);
    const vis = [], members = new Int32Array(n), mass = new Int32Array(n), first = new Map();
    shown[0] = 1;
    for (let i = 0; i < n; i++) {
      const p = parent[i];
      if (i > 0) shown[i] = shown[p] && !collapsed[p] ? 1 : 0;
      if (shown[i] && p >= 0 && folded[p] && (nkids[i] === 0 || collapsed[i])) {   // a loose sibling
        const key = p + "|" + colorOf(i), r = first.get(key), m = collapsed[i] ? size[i] : 1;
        if (r === undefined) { first.set(key, i); members[i] = 1; mass[i] = m; }
        else { shown[i] = 0; members[r]++; mass[r] += m; }                            // the first stands for it
      }
      if (shown[i]) vis.push(i);
    }
    let rows = 0;
    const leaf = new Uint8Array(n);
    for (const i of vis) { if (collapsed[i] || nkids[i] === 0) { leaf[i] = 1; y[i] = rows++; } lo[i] = Infinity; hi[i] = -Infinity; }
    for (let k = vis.length - 1; k >= 0; k--) {
      const i = vis[k];
      if (!leaf[i]) y[i] = (lo[i] + hi[i]) / 2;
      const p = parent[i];
      if (p >= 0) { lo[p] = Math.min(lo[p], y[i]); hi[p] = Math.max(hi[p], y[i]); }
    }
    let deepest = 1;
    for (const i of vis) deepest = Math.max(deepest, depth[i]);
    rows = Math.max(rows, 1);                         // radial: rings far enough apart for the rows to fit
    return {vis, y, rows, members, mass, ring: Math.max(GEN * 0.6, rows * ROW / (2 * Math.PI * deepest))};
  }

  function point(L, i) {
    if (state.layout === "rectangular") return [depth[i] * GEN, L.y[i] * ROW];
    const a = 2 * Math.PI * L.y[i] / L.rows, r = depth[i] * L.ring + (i === 0 ? 0 : RING);
    return [r * Math.cos(a), r * Math.sin(a)];
  }

  function branchPath(L, i) {
    const p = parent[i], [cx, cy] = point(L, i), [px, py] = point(L, p);
    if (state.layout === "rectangular") return `M${px},${py}V${cy}H${cx}`;
    const rp = Math.hypot(px, py), a = 2 * Math.PI * L.y[i] / L.rows;
    if (rp === 0) return `M0,0L${cx},${cy}`;
    const pa = Math.atan2(py, px), sx = rp * Math.cos(a), sy = rp * Math.sin(a);
    let da = a - pa; while (da > Math.PI) da -= 2 * Math.PI; while (da < -Math.PI) da += 2 * Math.PI;
    return `M${px},${py}A${rp},${rp} 0 0 ${da > 0 ? 1 : 0} ${sx},${sy}L${cx},${cy}`;
  }

  function marker(i) {
    if (triangle(i)) { const w = 10 + 6 * Math.log10(weight(i)), h = 4 + 2 * Math.log10(weight(i)); return `M0,0L${w},${-h}L${w},${h}Z`; }
    return d3.symbol(relation(i) === "merge" ? d3.symbolSquare : d3.symbolCircle, relation(i) === "merge" ? 50 : 40)();
  }

  const svg = d3.select("#tree"), gB = d3.select("#branches"), gN = d3.select("#nodes"), gL = d3.select("#labels");
  const zoom = d3.zoom().scaleExtent([0.005, 40]).on("zoom", e => d3.select("#viewport").attr("transform", e.transform));
  svg.call(zoom).on("dblclick.zoom", null);
  let L = null;

  function render(fit) {
    L = layout();
    const groups = new Map();                          // one path per colour and line style
    for (const i of L.vis) {
      if (i === 0) continue;
      const k = colorOf(i) + "|" + (D.relation_line[relation(i)] || "solid");
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(branchPath(L, i));
    }
    gB.selectAll("path").data([...groups], d => d[0]).join("path").attr("class", "branch")
      .attr("stroke", d => d[0].split("|")[0]).attr("stroke-dasharray", d => DASH[d[0].split("|")[1]])
      .attr("d", d => d[1].join(""));
    gN.selectAll("path").data(L.vis, i => i).join("path")
      .attr("class", i => "node" + (D.observed[i] ? "" : " placeholder") + (grouped(i) ? " group" : collapsed[i] ? " collapsed" : "")
                          + (relation(i) === "merge" ? " merge" : "") + (i === state.hit ? " hit" : ""))
      .attr("data-i", i => i).attr("d", marker).attr("transform", i => `translate(${point(L, i)})`)
      .attr("fill", colorOf).attr("stroke", i => D.observed[i] ? null : colorOf(i));
    const few = L.vis.length <= LABELS, radial = state.layout === "radial";   // radial: inner nodes on hover only
    const labelled = L.vis.filter(i => i === state.hit || triangle(i) || few && !(radial && inner(i)));
    gL.selectAll("text").data(labelled, i => i).join("text")
      .attr("class", i => "label" + (i === state.hit ? " hit" : ""))
      .attr("transform", labelTransform).attr("text-anchor", i => labelFlip(i) || (state.layout === "rectangular" && inner(i)) ? "end" : "start")
      .attr("dy", "0.32em").text(labelText);
    d3.select("#legend").call(drawLegend);
    if (fit) fitView();
    document.body.dataset.drawn = String(L.vis.length);
  }

  function shorten(t) {                              // as phylohf.draw.shorten: cut in the middle
    const w = D.label_width, head = Math.floor((w - 1) / 2);
    return t.length <= w ? t : t.slice(0, head) + "…" + t.slice(t.length - (w - 1 - head));
  }
  function labelText(i) {
    let t = state.layout === "rectangular" && inner(i) ? shorten(D.ids[i]) : D.ids[i];   // inner: the branch's length
    if (grouped(i)) t += ` and ${L.members[i] - 1} more of its colour [${models(weight(i))}]`;
    else if (collapsed[i]) t += ` [${models(size[i])}]`;
    if (merges.has(i)) t += "  + merge of " + merges.get(i).join(", ");
    return t;
  }
  function inner(i) { return nkids[i] > 0 && !triangle(i); }       // labelled above its branch, ending at it
  function labelFlip(i) { if (state.layout === "rectangular") return false; const a = (360 * L.y[i] / L.rows) % 360; return a > 90 && a < 270; }
  function labelTransform(i) {
    const [x, y] = point(L, i), off = triangle(i) ? 14 + 6 * Math.log10(weight(i)) : 6;
    if (state.layout === "rectangular") return inner(i) ? `translate(${x - 5},${y - 7})` : `translate(${x + off},${y})`;
    const deg = 360 * L.y[i] / L.rows, f = labelFlip(i);
    return `rotate(${deg}) translate(${Math.hypot(x, y) + off},0)` + (f ? " rotate(180)" : "");
  }

  function fitView() {                               // the whole tree, unless its rows would be unreadable:
    const box = document.getElementById("viewport").getBBox(), W = svg.node().clientWidth, H = svg.node().clientHeight;
    const fitW = W / (box.width + 40), fitH = H / (box.height + 40);
    const s = Math.min(fitW, state.layout === "rectangular" ? Math.max(fitH, MIN_SCALE) : fitH, 2);
    const top = s * (box.height + 40) > H;             // then the top of the tree, full width
    svg.call(zoom.transform, d3.zoomIdentity.translate(W / 2 - s * (box.x + box.width / 2),
      top ? 20 - s * box.y : H / 2 - s * (box.y + box.height / 2)).scale(s));
  }

  function centreOn(i) {                             // only when it is out of view
    const [x, y] = point(L, i), W = svg.node().clientWidth, H = svg.node().clientHeight, t = d3.zoomTransform(svg.node());
    const [sx, sy] = t.apply([x, y]);
    if (sx > 40 && sx < W - 200 && sy > 40 && sy < H - 40) return;
    const s = Math.max(t.k, 1);
    svg.call(zoom.transform, d3.zoomIdentity.translate(W / 2 - s * x, H / 2 - s * y).scale(s));
  }

  // -- legend and metadata (text nodes only)
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function lineSample(dash) {
    const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("width", "28"); s.setAttribute("height", "10");
    const l = document.createElementNS("http://www.w3.org/2000/svg", "line");
    for (const [k, v] of [["x1", 0], ["y1", 5], ["x2", 28], ["y2", 5], ["stroke", "#333"], ["stroke-width", 2]]) l.setAttribute(k, v);
    if (dash) l.setAttribute("stroke-dasharray", dash);
    s.appendChild(l);
    return s;
  }

  function drawLegend(sel) {
    const box = sel.node();
    box.replaceChildren(el("h2", {}, `${state.colorBy} (models)`));
    for (const [value, color, count] of D.attributes[state.colorBy].legend) {
      const row = el("div", {class: "row"});
      const sw = el("span", {class: "swatch"}); sw.style.background = color;
      row.append(sw, el("span", {}, `${value} (${count.toLocaleString("en")})`));
      box.appendChild(row);
    }
    box.appendChild(el("h2", {}, "relations and markers"));
    for (const r of ["finetune", "adapter", "quantized"]) {
      const row = el("div", {class: "row"}); row.append(lineSample(DASH[D.relation_line[r]]), el("span", {}, r)); box.appendChild(row);
    }
    for (const t of ["merge: square node, labelled with its further parents", "placeholder (absent parent): hollow",
                     "collapsed clade: triangle [models]; click to expand",
                     "siblings of one colour: triangle [models]; click to show them"]) box.appendChild(el("div", {class: "row"}, t));
  }

  function hubLink(id) { return D.hub + id.split("/").map(encodeURIComponent).join("/"); }

  function models(k) { return `${k.toLocaleString("en")} model${k === 1 ? "" : "s"}`; }
  function fields(i) {
    const day = D.created[i];
    const rows = [["license", valueOf("license", i)], ["languages", valueOf("languages", i)], ["task", valueOf("task", i)],
                  ["library", valueOf("library", i)], ["relation", relation(i) || "(root)"],
                  ["created", day === null ? "?" : new Date(day * 86400000).toISOString().slice(0, 10)],
                  ["downloads", D.downloads[i] === null ? "?" : D.downloads[i].toLocaleString("en")],
                  ["subtree", models(size[i])]];
    if (parent[i] >= 0) rows.push(["parent", D.ids[parent[i]]]);
    if (merges.has(i)) rows.push(["merge of", merges.get(i).join(", ")]);
    if (!D.observed[i]) rows.push(["placeholder", "absent parent: no metadata"]);
    if (grouped(i)) rows.push(["group", `with ${L.members[i] - 1} more siblings of its colour (${models(weight(i))}); click to show them`]);
    return rows;
  }

  function stateColors() {                             // a state's colour in the trait's legend, if it has one
    const A = D.asr, legend = new Map(((D.attributes[A.trait] || {}).legend || []).map(([v, c]) => [v, c]));
    return A.states.map((s, j) => legend.get(s) || D.palette[j % D.palette.length]);
  }

  function asrBar(i) {
    const A = D.asr, k = A.states.length, box = el("div", {class: "asr"}), colors = stateColors();
    box.appendChild(el("h2", {}, `${A.trait}: posterior (${A.known[i] ? "declared" : "reconstructed"})`));
    const bar = el("div", {class: "bar", title: A.model});
    const probs = A.states.map((s, j) => [s, A.posterior[i * k + j] / 1000, j]);
    for (const [s, p, j] of probs) {
      const sp = el("span", {title: `${s}: ${(100 * p).toFixed(1)}%`});
      sp.style.width = `${100 * p}%`; sp.style.background = colors[j]; bar.appendChild(sp);
    }
    box.appendChild(bar);
    const list = el("div", {class: "probs"});
    for (const [s, p, j] of probs.filter(([, p]) => p >= 0.005).sort((a, b) => b[1] - a[1])) {
      const row = el("div", {class: "row"}), sw = el("span", {class: "swatch"});
      sw.style.background = colors[j];
      row.append(sw, el("span", {}, `${s} ${(100 * p).toFixed(1)}%`)); list.appendChild(row);
    }
    box.append(list, el("p", {class: "hint"}, A.model));
    return box;
  }

  function showInfo(box, i, full) {
    const items = [el("div", {class: "id"}, D.ids[i])];
    const dl = el("dl");
    for (const [k, v] of fields(i)) dl.append(el("dt", {}, k), el("dd", {}, v));
    items.push(dl);
    if (D.asr) items.push(asrBar(i));
    if (full) {
      if (D.observed[i]) { const a = el("a", {href: hubLink(D.ids[i]), target: "_blank", rel: "noopener noreferrer", id: "hub-link"}, "open on the Hugging Face Hub"); items.push(el("p"), a); }
      if (nkids[i]) { const b = el("button", {type: "button", id: "toggle"}, collapsed[i] ? "expand" : "collapse"); b.onclick = () => { toggle(i); showInfo(box, i, true); }; items.push(el("p"), b); }
    }
    box.replaceChildren(...items);
  }

  function toggle(i) {
    if (collapsed[i]) {
      collapsed[i] = 0;
      if (size[i] > D.max_nodes) {                    // one level at a time: its clades closed, its leaves grouped
        folded[i] = 1;
        for (let c = i + 1; c < i + size[i]; c++) if (parent[c] === i && nkids[c]) collapsed[c] = 1;
      }
    } else collapsed[i] = 1;
    render(false);
  }

  const tip = document.getElementById("tooltip");
  gN.on("mouseover", e => { const i = +e.target.getAttribute("data-i"); if (isNaN(i)) return; showInfo(tip, i, false); tip.hidden = false; })
    .on("mousemove", e => { tip.style.left = `${e.clientX + 14}px`; tip.style.top = `${e.clientY + 10}px`; })
    .on("mouseout", () => { tip.hidden = true; })
    .on("click", e => {
      const i = +e.target.getAttribute("data-i"); if (isNaN(i)) return;
      state.hit = i;
      if (grouped(i)) { folded[parent[i]] = 0; render(false); }
      else if (collapsed[i]) toggle(i); else render(false);
      showInfo(document.getElementById("info"), i, true);
    });

  function find(query) {
    const q = query.trim().toLowerCase(), status = document.getElementById("status");
    if (!q) return;
    let i = lower.indexOf(q);
    if (i < 0) i = lower.findIndex(s => s.includes(q));
    if (i < 0) { status.textContent = `no model matches “${query.trim()}”`; return; }
    status.textContent = "";
    for (let a = parent[i]; a >= 0; a = parent[a]) { collapsed[a] = 0; folded[a] = 0; }
    state.hit = i;
    render(false);
    centreOn(i);
    showInfo(document.getElementById("info"), i, true);
  }

  const sel = document.getElementById("color-by");
  for (const name of Object.keys(D.attributes)) sel.appendChild(el("option", {value: name}, name));
  sel.value = state.colorBy;
  sel.onchange = () => { state.colorBy = sel.value; render(false); };
  const lay = document.getElementById("layout");
  lay.onchange = () => { state.layout = lay.value; render(true); };
  const search = document.getElementById("search");
  search.onkeydown = e => { if (e.key === "Enter") find(search.value); };
  document.getElementById("find").onclick = () => find(search.value);
  document.getElementById("expand-all").onclick = () => { collapsed.fill(0); folded.fill(0); render(true); };
  document.getElementById("reset").onclick = () => { resetCollapse(); state.hit = -1; render(true); };
  document.getElementById("title").textContent =
    `${D.root}: ${n.toLocaleString("en")} models` + (D.collapsed.length ? `, ${D.collapsed.length.toLocaleString("en")} clades collapsed` : "")
    + (D.folded.length ? `, the leaves of ${D.folded.length.toLocaleString("en")} parents grouped by colour` : "");
  render(true);
  document.body.dataset.ready = String(performance.now());
})();
