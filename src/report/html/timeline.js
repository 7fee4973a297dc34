// The per-process op timeline of report.html: one row per process, one bar
// per op from its invoke to its completion, drawn on a canvas from the
// compact data the page embeds (see timeline.rs): a JSON header (#tl-meta)
// and a base64 stream of varints (#tl-data), seven per op. Only the ops in
// view are drawn, and bars that would cover pixels already painted in the
// same colour are skipped, so a million ops stay usable.
(function () {
  "use strict";
  var metaEl = document.getElementById("tl-meta");
  var dataEl = document.getElementById("tl-data");
  var cv = document.getElementById("tl-canvas");
  if (!metaEl || !dataEl || !cv) return;
  var meta = JSON.parse(metaEl.textContent);
  var raw = atob(dataEl.textContent.replace(/\s+/g, ""));
  if (!meta.deflate) {
    main(raw, function (s, i) { return s.charCodeAt(i); });
  } else if (typeof DecompressionStream === "undefined") {
    var st0 = document.getElementById("tl-status");
    if (st0) st0.textContent = "This browser cannot inflate the timeline's data (no DecompressionStream).";
  } else {
    var packed = new Uint8Array(raw.length);
    for (var q = 0; q < raw.length; q++) packed[q] = raw.charCodeAt(q);
    raw = null;
    new Response(new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate-raw")))
      .arrayBuffer()
      .then(function (buf) { main(new Uint8Array(buf), function (b, i) { return b[i]; }); })
      .catch(function (e) {
        var st1 = document.getElementById("tl-status");
        if (st1) st1.textContent = "The timeline's data could not be inflated: " + e;
      });
  }

  // Everything below runs once the op stream is decoded: `bin` is the
  // varint bytes, `at(bin, i)` the byte at i.
  function main(bin, at) {
  var tip = document.getElementById("tl-tip");
  var status = document.getElementById("tl-status");
  var n = meta.n;
  var KINDS = ["ok", "fail", "info", "pending"];
  var COLORS = ["#2e7d32", "#c62828", "#ef6c00", "#9e9e9e"];
  var GUT = 64, AX = 24;

  // Decode: row, zigzag start delta, duration, kind | f << 2, zigzag index
  // delta, node, generation (process = row + generation * threads).
  var row = new Int32Array(n), st = new Float64Array(n), en = new Float64Array(n);
  var kind = new Uint8Array(n), fid = new Uint32Array(n), idx = new Float64Array(n);
  var node = new Uint32Array(n), gen = new Float64Array(n);
  var p = 0;
  function rd() {
    var v = 0, m = 1, b;
    do { b = at(bin, p++); v += (b & 127) * m; m *= 128; } while (b & 128);
    return v;
  }
  var t = 0, ix = 0, z, kf;
  for (var i = 0; i < n; i++) {
    row[i] = rd();
    z = rd();
    t += (z % 2 === 1) ? -(z + 1) / 2 : z / 2;
    st[i] = t;
    en[i] = t + rd();
    kf = rd();
    kind[i] = kf % 4;
    fid[i] = Math.floor(kf / 4);
    z = rd();
    ix += (z % 2 === 1) ? -(z + 1) / 2 : z / 2;
    idx[i] = ix;
    node[i] = rd();
    gen[i] = rd();
  }
  bin = null;
  var nrows = meta.rows.length;
  var tmax = Math.max(meta.tmax, 1);

  // Ops of each row, in start order.
  var rowStart = new Int32Array(nrows + 1);
  for (i = 0; i < n; i++) rowStart[row[i] + 1]++;
  for (i = 0; i < nrows; i++) rowStart[i + 1] += rowStart[i];
  var fill = rowStart.slice(0, nrows);
  var byRow = new Int32Array(n);
  for (i = 0; i < n; i++) byRow[fill[row[i]]++] = i;

  // Long ops are always considered; the others are found by binary search
  // on the start times (sorted), within LONG of the view.
  var LONG = tmax / 200, longs = [];
  for (i = 0; i < n; i++) if (en[i] - st[i] > LONG) longs.push(i);

  // As tall as the rows need (at 18 px each), at most the stylesheet's.
  var maxH = cv.clientHeight || 560;
  cv.style.height = Math.max(120, Math.min(maxH, AX + nrows * 18 + 8)) + "px";
  var ctx = cv.getContext("2d");
  var view = { x0: 0, x1: tmax, rowTop: 0, rowH: 0 };
  function fitRows() {
    var h = cv.clientHeight - AX;
    view.rowH = Math.max(2, Math.min(18, h / Math.max(nrows, 1)));
  }
  fitRows();
  view.x0 = -tmax * 0.01;
  view.x1 = tmax * 1.01;

  var queued = false;
  function redraw() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; draw(); });
  }

  function lowerBound(x) {
    var lo = 0, hi = n;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (st[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function secs(x) { return (meta.t0 + x * meta.scale) / 1e9; }
  function fmtX(x) {
    if (meta.axis === "index") return "#" + Math.round(x);
    var s = secs(x);
    return s.toFixed(Math.abs(s) < 10 ? 3 : 2) + " s";
  }

  function niceStep(range, px) {
    var raw = range / Math.max(1, px / 110);
    var e = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / e;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * e;
  }

  function draw() {
    var dpr = window.devicePixelRatio || 1;
    var W = cv.clientWidth, H = cv.clientHeight;
    if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) {
      cv.width = Math.round(W * dpr);
      cv.height = Math.round(H * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    var plotW = W - GUT, plotH = H - AX;
    var k = plotW / (view.x1 - view.x0);
    var X = function (x) { return GUT + (x - view.x0) * k; };
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    // Phases and fault intervals behind the bars.
    var j, a, b;
    for (j = 0; j < meta.faults.length; j++) {
      var fl = meta.faults[j];
      a = Math.max(GUT, X(fl[0])); b = Math.min(W, X(fl[1]));
      if (b <= a) continue;
      ctx.fillStyle = "rgba(198,40,40,0.08)";
      ctx.fillRect(a, AX, b - a, plotH);
      ctx.fillStyle = "#c62828";
      if (b - a > 40) ctx.fillText(fl[2], a + 3, AX + 8, b - a - 6);
    }
    ctx.strokeStyle = "#6e7781";
    for (j = 0; j < meta.phases.length; j++) {
      var ph = meta.phases[j];
      a = X(ph[0]);
      if (a < GUT || a > W) continue;
      ctx.beginPath(); ctx.setLineDash([4, 3]); ctx.moveTo(a, AX); ctx.lineTo(a, H); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#57606a";
      ctx.fillText(ph[2], a + 3, AX + 20);
    }

    // Bars.
    var rh = view.rowH;
    var r0 = Math.max(0, Math.floor(view.rowTop));
    var r1 = Math.min(nrows, Math.ceil(view.rowTop + plotH / rh));
    var paths = [new Path2D(), new Path2D(), new Path2D(), new Path2D()];
    var lastEnd = new Float64Array(nrows).fill(-1), lastKind = new Int8Array(nrows).fill(-1);
    var gap = rh > 5 ? 1 : 0, shown = 0, labels = [];
    function add(i) {
      var r = row[i];
      if (r < r0 || r >= r1) return;
      var xa = X(st[i]), xb = X(en[i]);
      if (xb < GUT || xa > W) return;
      xa = Math.max(xa, GUT - 1); xb = Math.min(xb, W + 1);
      var kd = kind[i];
      if (kd === lastKind[r] && xb <= lastEnd[r]) return;
      var w = Math.max(1, xb - xa);
      paths[kd].rect(xa, AX + (r - view.rowTop) * rh + gap, w, Math.max(1, rh - 2 * gap));
      lastKind[r] = kd;
      lastEnd[r] = Math.max(lastEnd[r], Math.ceil(xa + w));
      shown++;
      if (rh >= 12 && w > 36 && labels.length < 3000) labels.push(i, xa, w);
    }
    var lo = lowerBound(view.x0 - LONG);
    for (i = lo; i < n && st[i] <= view.x1; i++) if (en[i] - st[i] <= LONG) add(i);
    for (j = 0; j < longs.length; j++) add(longs[j]);
    ctx.save();
    ctx.beginPath(); ctx.rect(GUT, AX, plotW, plotH); ctx.clip();
    for (j = 0; j < 4; j++) { ctx.fillStyle = COLORS[j]; ctx.fill(paths[j]); }
    ctx.fillStyle = "#fff";
    for (j = 0; j < labels.length; j += 3) {
      i = labels[j];
      var txt = meta.fs[fid[i]] + (i < meta.vals.length && meta.vals[i] !== "" ? " " + meta.vals[i] : "");
      ctx.fillText(txt, Math.max(labels[j + 1], GUT) + 3, AX + (row[i] - view.rowTop + 0.5) * rh, labels[j + 2] - 6);
    }
    ctx.restore();

    // Row labels and the time axis.
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, GUT, H); ctx.fillRect(0, 0, W, AX);
    ctx.fillStyle = "#57606a";
    if (rh >= 9) {
      for (var r = r0; r < r1; r++) ctx.fillText(meta.rows[r], 4, AX + (r - view.rowTop + 0.5) * rh, GUT - 8);
    } else {
      ctx.fillText(r0 + "–" + (r1 - 1), 4, AX + 8, GUT - 8);
    }
    var step = niceStep(view.x1 - view.x0, plotW);
    ctx.strokeStyle = "#d0d7de";
    for (var x = Math.ceil(view.x0 / step) * step; x <= view.x1; x += step) {
      a = X(x);
      ctx.beginPath(); ctx.moveTo(a, AX - 5); ctx.lineTo(a, AX); ctx.stroke();
      ctx.fillText(fmtX(x), a + 2, 9);
    }
    if (status) {
      status.textContent = n.toLocaleString() + " ops, " + nrows.toLocaleString() + (meta.threads ? " workers; " : " processes; ") +
        shown.toLocaleString() + " bars drawn; view " + fmtX(view.x0) + " – " + fmtX(view.x1) +
        (meta.threads ? ", workers " : ", processes ") + (nrows ? meta.rows[r0] + "–" + meta.rows[Math.max(r0, r1 - 1)] : "none");
    }
  }

  function clampView() {
    var span = view.x1 - view.x0, maxSpan = tmax * 1.2, minSpan = meta.axis === "index" ? 4 : 1;
    if (span > maxSpan) { var c = (view.x0 + view.x1) / 2; view.x0 = c - maxSpan / 2; view.x1 = c + maxSpan / 2; }
    if (span < minSpan) { var m = (view.x0 + view.x1) / 2; view.x0 = m - minSpan / 2; view.x1 = m + minSpan / 2; }
    var visRows = (cv.clientHeight - AX) / view.rowH;
    view.rowTop = Math.max(0, Math.min(view.rowTop, Math.max(0, nrows - visRows)));
  }

  function zoom(factor, px) {
    var plotW = cv.clientWidth - GUT;
    var at = view.x0 + (px - GUT) / plotW * (view.x1 - view.x0);
    view.x0 = at - (at - view.x0) * factor;
    view.x1 = at + (view.x1 - at) * factor;
    clampView(); redraw();
  }

  cv.addEventListener("wheel", function (e) {
    e.preventDefault();
    var rect = cv.getBoundingClientRect();
    if (e.shiftKey) { view.rowTop += e.deltaY / view.rowH / 4; clampView(); redraw(); }
    else if (e.altKey) { view.rowH = Math.max(2, Math.min(40, view.rowH * Math.exp(-e.deltaY * 0.002))); clampView(); redraw(); }
    else zoom(Math.exp(e.deltaY * 0.0015), e.clientX - rect.left);
  }, { passive: false });

  var drag = null, pinned = false;
  cv.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY, x0: view.x0, x1: view.x1, rowTop: view.rowTop, moved: false };
    cv.setPointerCapture(e.pointerId);
    cv.classList.add("dragging");
  });
  cv.addEventListener("pointermove", function (e) {
    if (drag) {
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      var k = (cv.clientWidth - GUT) / (drag.x1 - drag.x0);
      view.x0 = drag.x0 - dx / k; view.x1 = drag.x1 - dx / k;
      view.rowTop = drag.rowTop - dy / view.rowH;
      clampView(); redraw();
      return;
    }
    if (!pinned) hover(e);
  });
  cv.addEventListener("pointerup", function (e) {
    var click = drag && !drag.moved;
    drag = null;
    cv.classList.remove("dragging");
    if (click) {
      var i = hover(e);
      pinned = i >= 0;
    }
  });
  cv.addEventListener("pointerleave", function () { if (!pinned && tip) tip.style.display = "none"; });
  window.addEventListener("resize", redraw);

  function opAt(px, py) {
    var r = Math.floor(view.rowTop + (py - AX) / view.rowH);
    if (r < 0 || r >= nrows || px < GUT) return -1;
    var k = (cv.clientWidth - GUT) / (view.x1 - view.x0);
    var x = view.x0 + (px - GUT) / k, tol = 3 / k;
    var best = -1, lo = rowStart[r], hi = rowStart[r + 1];
    // Ops of a row do not overlap: the last one starting before x + tol.
    var a = lo, b = hi;
    while (a < b) { var mid = (a + b) >> 1; if (st[byRow[mid]] <= x + tol) a = mid + 1; else b = mid; }
    for (var q = a - 1; q >= lo && q >= a - 4; q--) {
      var i = byRow[q];
      if (en[i] + tol >= x) { best = i; break; }
    }
    return best;
  }

  function processOf(i) {
    return meta.threads ? String(Number(meta.rows[row[i]]) + gen[i] * meta.threads) : meta.rows[row[i]];
  }

  function describe(i) {
    var lines = [];
    lines.push("op " + idx[i] + " · process " + processOf(i) + (meta.threads ? " (worker " + meta.rows[row[i]] + ")" : "") +
      " · " + meta.fs[fid[i]] + " · " + KINDS[kind[i]]);
    if (i < meta.vals.length) lines.push("value: " + (meta.vals[i] === "" ? "null" : meta.vals[i]));
    else lines.push("value: not stored (values are kept for the first " + meta.vals.length.toLocaleString() + " ops)");
    var err = meta.errs[String(i)];
    if (err !== undefined) lines.push("error: " + err);
    if (node[i] > 0) lines.push("node: " + meta.nodes[node[i] - 1]);
    if (meta.axis === "index") lines.push("no times recorded: the axis is the op index");
    else {
      var dur = (en[i] - st[i]) * meta.scale / 1e6;
      lines.push("invoke " + fmtX(st[i]) + (kind[i] === 3 ? ", never completed" : ", completed " + fmtX(en[i]) + " (" + dur.toFixed(3) + " ms)"));
    }
    return lines.join("\n");
  }

  function hover(e) {
    var rect = cv.getBoundingClientRect();
    var px = e.clientX - rect.left, py = e.clientY - rect.top;
    var i = opAt(px, py);
    if (!tip) return i;
    if (i < 0) { tip.style.display = "none"; return i; }
    tip.textContent = describe(i);
    tip.style.display = "block";
    var left = px + 14, top = py + 14;
    if (left + tip.offsetWidth > cv.clientWidth) left = Math.max(0, px - tip.offsetWidth - 10);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
    return i;
  }

  function button(id, f) {
    var el = document.getElementById(id);
    if (el) el.addEventListener("click", function () { f(); clampView(); redraw(); });
  }
  button("tl-in", function () { zoom(0.5, GUT + (cv.clientWidth - GUT) / 2); });
  button("tl-out", function () { zoom(2, GUT + (cv.clientWidth - GUT) / 2); });
  button("tl-left", function () { var s = (view.x1 - view.x0) * 0.4; view.x0 -= s; view.x1 -= s; });
  button("tl-right", function () { var s = (view.x1 - view.x0) * 0.4; view.x0 += s; view.x1 += s; });
  button("tl-taller", function () { view.rowH = Math.min(40, view.rowH * 1.5); });
  button("tl-shorter", function () { view.rowH = Math.max(2, view.rowH / 1.5); });
  button("tl-reset", function () { fitRows(); view.x0 = -tmax * 0.01; view.x1 = tmax * 1.01; view.rowTop = 0; pinned = false; if (tip) tip.style.display = "none"; });
  // The decoded columns, for a debugger (and for checking the encoding).
  cv.faultlineOps = { row: row, start: st, end: en, kind: kind, f: fid, index: idx, node: node, generation: gen };
  draw();
  }
})();
