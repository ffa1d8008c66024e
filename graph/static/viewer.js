/* Resurface graph viewer: a small SVG viewer inlined into the exported HTML page.
 * No network, no libraries. Positions are computed by the exporter; this script draws them,
 * pans (drag), zooms (wheel, buttons), shows hover details and, on click, every attribute of a
 * node and its relations; it draws a legend, finds communities by name, handle or URL, and counts
 * what is shown against what the export holds. All data goes into the page through textContent,
 * never innerHTML: community titles and URLs come from the communities themselves and must not
 * become markup. */
(function () {
  "use strict";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var WORLD = 500;
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var svg = document.getElementById("canvas");
  var tooltip = document.getElementById("tooltip");
  var details = document.getElementById("details");
  var counts = document.getElementById("counts");
  var shown = document.getElementById("shown");

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function html(name, text, parent) {
    var node = document.createElement(name);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  var byId = {};
  data.nodes.forEach(function (n) { byId[n.id] = n; });
  var relations = {};
  data.nodes.forEach(function (n) { relations[n.id] = []; });
  data.edges.forEach(function (e, i) {
    if (relations[e.s]) { relations[e.s].push(i); }
    if (e.t !== e.s && relations[e.t]) { relations[e.t].push(i); }
  });

  var defs = el("defs", {}, svg);
  data.edgeTypes.forEach(function (t) {
    var marker = el("marker", { id: "arrow-" + t.name, viewBox: "0 0 10 10", refX: "10", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse", markerUnits: "strokeWidth" }, defs);
    el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: t.colour }, marker);
  });
  var viewport = el("g", { id: "viewport" }, svg);
  var edgeLayer = el("g", { id: "edges" }, viewport);
  var nodeLayer = el("g", { id: "nodes" }, viewport);
  var labelLayer = el("g", { id: "labels" }, viewport);
  var colourOf = {};
  data.edgeTypes.forEach(function (t) { colourOf[t.name] = t.colour; });

  function px(n) { return n.x * WORLD; }
  function py(n) { return -n.y * WORLD; }

  var edgeEls = [];
  data.edges.forEach(function (e, i) {
    var a = byId[e.s], b = byId[e.t];
    if (!a || !b) { edgeEls.push(null); return; }
    var x1 = px(a), y1 = py(a), x2 = px(b), y2 = py(b), d;
    if (e.s === e.t) {
      // A rename: a small loop over the node (its details list the old and new names).
      var r = a.r;
      d = "M" + (x1 - r * 0.6).toFixed(1) + " " + (y1 - r * 0.8).toFixed(1) + " C" +
        (x1 - r * 2.6).toFixed(1) + " " + (y1 - r * 3.6).toFixed(1) + " " + (x1 + r * 2.6).toFixed(1) + " " +
        (y1 - r * 3.6).toFixed(1) + " " + (x1 + r * 0.6).toFixed(1) + " " + (y1 - r * 0.8).toFixed(1);
    } else {
      var dx = x2 - x1, dy = y2 - y1, len = Math.sqrt(dx * dx + dy * dy) || 1;
      // Stop arrows at the target's rim; bend directed relations slightly so parallel edges separate.
      var ex = x2 - dx / len * (b.r + 1), ey = y2 - dy / len * (b.r + 1);
      var bend = e.directed ? 0.12 : 0;
      var cx = (x1 + ex) / 2 - dy * bend, cy = (y1 + ey) / 2 + dx * bend;
      d = "M" + x1.toFixed(1) + " " + y1.toFixed(1) + " Q" + cx.toFixed(1) + " " + cy.toFixed(1) + " " +
        ex.toFixed(1) + " " + ey.toFixed(1);
    }
    var path = el("path", { d: d, "class": "edge " + e.type + (e.s === e.t ? " loop" : ""),
      stroke: colourOf[e.type] || "#999", "stroke-width": e.type === "migration" ? 2.5 : 1.2,
      "data-index": String(i) }, edgeLayer);
    if (e.type === "migration") { path.setAttribute("marker-end", "url(#arrow-" + e.type + ")"); }
    edgeEls.push(path);
  });

  function shownLabel(n) {
    return n.gone && n.attrs.status ? n.label + " [" + n.attrs.status + "]" : n.label;
  }
  var nodeEls = {};
  var labelEls = {};
  data.nodes.forEach(function (n) {
    var c = el("circle", { cx: px(n).toFixed(1), cy: py(n).toFixed(1), r: n.r, fill: n.c,
      "class": n.gone ? "node gone" : "node", "data-id": n.id }, nodeLayer);
    c.addEventListener("mouseenter", function (ev) { showTooltip(n, ev); });
    c.addEventListener("mousemove", function (ev) { moveTooltip(ev); });
    c.addEventListener("mouseleave", function () { tooltip.style.display = "none"; });
    c.addEventListener("click", function (ev) { ev.stopPropagation(); select(n.id); });
    nodeEls[n.id] = c;
    // Every node gets a label; only the best-connected show theirs until a search matches them.
    var t = el("text", { x: (px(n) + n.r + 3).toFixed(1), y: (py(n) + 4).toFixed(1),
      "class": "node-label" + (n.gone ? " gone" : "") + (n.showLabel ? "" : " hidden"), "data-id": n.id },
      labelLayer);
    t.textContent = shownLabel(n);
    labelEls[n.id] = t;
  });

  function showTooltip(n, ev) {
    tooltip.textContent = "";
    html("strong", shownLabel(n), tooltip);
    var a = n.attrs;
    var bits = [a.platform, a.status, a.member_count !== undefined ? a.member_count + " members" : null,
      a.degree !== undefined ? a.degree + " relations" : null].filter(function (x) { return x; });
    html("div", bits.join(" · "), tooltip);
    tooltip.style.display = "block";
    moveTooltip(ev);
  }
  function moveTooltip(ev) {
    tooltip.style.left = (ev.clientX + 14) + "px";
    tooltip.style.top = (ev.clientY + 10) + "px";
  }

  var selected = null;
  function select(id) {
    if (selected && nodeEls[selected]) { nodeEls[selected].classList.remove("selected"); }
    selected = id;
    var n = byId[id];
    nodeEls[id].classList.add("selected");
    details.textContent = "";
    html("h2", n.label, details).id = "details-title";
    var table = html("table", null, details);
    Object.keys(n.attrs).forEach(function (k) {
      var tr = html("tr", null, table);
      html("td", k, tr);
      html("td", n.attrs[k], tr);
    });
    html("h3", "Relations", details);
    var list = html("ul", null, details);
    list.id = "details-relations";
    relations[id].forEach(function (i) {
      var e = data.edges[i];
      var text;
      if (e.s === e.t) {
        text = "rename: " + (e.attrs.old_title || e.attrs.old_handle || "?") + " → " +
          (e.attrs.new_title || e.attrs.new_handle || "?") + (e.attrs.start ? " (" + e.attrs.start + ")" : "");
      } else {
        var other = e.s === id ? byId[e.t] : byId[e.s];
        var arrow = e.s === id ? " → " : " ← ";
        text = e.type + arrow + (other ? other.label : "?") + " (weight " + e.w + ")";
      }
      html("li", text, list).className = "rel-" + e.type;
    });
  }

  // --- edge type filter ---
  var filters = document.getElementById("filters");
  var hidden = {};
  data.edgeTypes.forEach(function (t) {
    if (!t.count) { return; }
    var label = html("label", null, filters);
    var box = html("input", null, label);
    box.type = "checkbox";
    box.checked = true;
    box.value = t.name;
    box.id = "filter-" + t.name;
    var swatch = html("span", null, label);
    swatch.className = "swatch";
    swatch.style.background = t.colour;
    label.appendChild(document.createTextNode(t.name + " (" + t.count + ")"));
    box.addEventListener("change", function () {
      hidden[t.name] = !box.checked;
      edgeEls.forEach(function (p, i) {
        if (p && data.edges[i].type === t.name) { p.classList.toggle("hidden", !box.checked); }
      });
      updateCounts();
    });
  });
  // The header's first numbers are the export's (as printed by the command and audited); the
  // second say how much of it is on screen now (drawing caps, edge types switched off).
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  counts.textContent = plural(data.total.nodes, "node") + ", " + plural(data.total.edges, "edge") + " exported";
  function updateCounts() {
    var visible = 0;
    edgeEls.forEach(function (p, i) { if (p && !hidden[data.edges[i].type]) { visible += 1; } });
    shown.textContent = "shown: " + plural(data.nodes.length, "node") + ", " + plural(visible, "edge");
  }
  updateCounts();

  // --- legend ---
  var legend = document.getElementById("legend");
  html("h3", "Legend", legend);
  var legendList = html("ul", null, legend);
  function swatch(li, draw) {
    var box = el("svg", { width: "18", height: "14", viewBox: "0 0 18 14", "class": "swatch-svg" });
    draw(box);
    li.insertBefore(box, li.firstChild);
  }
  data.legend.forEach(function (item) {
    var li = html("li", item.name, legendList);
    li.className = "legend-" + item.kind;
    swatch(li, function (box) { el("circle", { cx: "9", cy: "7", r: "5", fill: item.colour, "class": "swatch-node" }, box); });
  });
  if (data.nodes.some(function (n) { return n.attrs.node_type === "community"; })) {
    var goneItem = html("li", data.gone.note, legendList);
    goneItem.className = "legend-gone";
    swatch(goneItem, function (box) {
      el("circle", { cx: "9", cy: "7", r: "5", fill: "#bbbbbb", "class": "swatch-node gone" }, box);
    });
  }
  data.edgeTypes.forEach(function (t) {
    if (!t.count) { return; }
    var li = html("li", t.name + (t.name === "migration" ? " (old → successor)" : ""), legendList);
    li.className = "legend-edge";
    swatch(li, function (box) {
      el("line", { x1: "1", y1: "7", x2: "17", y2: "7", stroke: t.colour, "stroke-width": "3" }, box);
    });
  });

  // --- pan and zoom ---
  var view = { k: 1, x: 0, y: 0 };
  function apply() {
    viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")");
  }
  function fit() {
    var w = svg.clientWidth || 800, h = svg.clientHeight || 600;
    var span = 2 * WORLD + 80;
    view.k = Math.min(w, h) / span;
    view.x = w / 2;
    view.y = h / 2;
    apply();
  }
  function zoomAt(factor, cx, cy) {
    var k = Math.max(0.05, Math.min(40, view.k * factor));
    view.x = cx - (cx - view.x) * (k / view.k);
    view.y = cy - (cy - view.y) * (k / view.k);
    view.k = k;
    apply();
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var box = svg.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - box.left, ev.clientY - box.top);
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.target.classList && ev.target.classList.contains("node")) { return; }
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y };
    svg.classList.add("panning");
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    view.x = drag.vx + ev.clientX - drag.x;
    view.y = drag.vy + ev.clientY - drag.y;
    apply();
  });
  window.addEventListener("pointerup", function () { drag = null; svg.classList.remove("panning"); });
  function centre() { return [(svg.clientWidth || 800) / 2, (svg.clientHeight || 600) / 2]; }
  document.getElementById("zoom-in").addEventListener("click", function () {
    var c = centre(); zoomAt(1.3, c[0], c[1]);
  });
  document.getElementById("zoom-out").addEventListener("click", function () {
    var c = centre(); zoomAt(1 / 1.3, c[0], c[1]);
  });
  document.getElementById("zoom-reset").addEventListener("click", fit);
  window.addEventListener("resize", fit);
  fit();

  // --- search: name, handle, title or URL, case-insensitive ---
  var search = document.getElementById("search");
  var searchResult = document.getElementById("search-result");
  var haystack = {};
  data.nodes.forEach(function (n) {
    var a = n.attrs;
    haystack[n.id] = [n.label, a.name, a.handle, a.title, a.url, n.id].filter(function (x) { return x; })
      .join("\n").toLowerCase();
  });
  var matches = [];
  function centreOn(n) {
    var c = centre();
    view.x = c[0] - px(n) * view.k;
    view.y = c[1] - py(n) * view.k;
    apply();
  }
  function runSearch() {
    var q = search.value.trim().toLowerCase();
    matches = q ? data.nodes.filter(function (n) { return haystack[n.id].indexOf(q) >= 0; }) : [];
    var isMatch = {};
    matches.forEach(function (n) { isMatch[n.id] = true; });
    data.nodes.forEach(function (n) {
      nodeEls[n.id].classList.toggle("match", !!isMatch[n.id]);
      nodeEls[n.id].classList.toggle("dim", !!q && !isMatch[n.id]);
      // While searching, the matches are labelled; otherwise the best-connected communities.
      labelEls[n.id].classList.toggle("hidden", q ? !isMatch[n.id] : !n.showLabel);
    });
    searchResult.textContent = !q ? "" : matches.length === 1 ? "1 match" : matches.length + " matches";
  }
  search.addEventListener("input", runSearch);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && matches.length) {
      select(matches[0].id);
      centreOn(byId[matches[0].id]);
    }
  });
  document.body.setAttribute("data-ready", "true");
})();
