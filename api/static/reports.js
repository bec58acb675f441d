// Reports: one day's visits, throughput per hour and stage times as inline SVG charts; CSV export.
"use strict";
(async () => {
  const { api, toast, el, fmt, t, stageWord } = Lajur;
  await Lajur.header("/reports");
  const SVG = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...kids) => { const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); kids.forEach((k) => e.appendChild(typeof k === "string" ? document.createTextNode(k) : k)); return e; };
  const dayInput = document.getElementById("day"), laneSel = document.getElementById("lane");
  try { for (const l of await api("GET", "/api/v1/lanes")) laneSel.appendChild(el("option", { value: l.lane }, l.lane)); } catch (e) { /* none */ }

  function pctClass(p) { return p === null ? "" : p >= 90 ? "goal-ok" : p >= 70 ? "goal-warn" : "goal-bad"; }
  function kpi(label, value, cls) { return el("div", { class: "kpi" }, el("div", { class: "v " + (cls || "") }, value), el("div", { class: "l" }, label)); }

  function hoursChart(rows) {
    const step = Math.max(1, Math.ceil(Math.max(...rows.map((r) => r.visits)) / 4)), max = step * 4;
    const W = 960, H = 200, pad = 28, bw = (W - pad * 2) / 24;
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": t("Visits finished per hour"), id: "hours-chart" });
    for (let i = 0; i <= 4; i++) { const y = H - pad - (H - pad * 2) * i / 4;
      g.appendChild(svg("line", { x1: pad, x2: W - pad, y1: y, y2: y, stroke: "#2c3d63" }));
      g.appendChild(svg("text", { x: 2, y: y + 4 }, String(step * i))); }
    rows.forEach((r, i) => { const h = (H - pad * 2) * r.visits / max, x = pad + i * bw;
      g.appendChild(svg("rect", { x: x + 2, y: H - pad - h, width: bw - 4, height: h, fill: "#38bdf8", rx: 2 }, svg("title", {}, `${String(r.hour).padStart(2, "0")}:00 — ` + t("%(n)s visits", { n: r.visits }))));
      g.appendChild(svg("text", { x: x + bw / 2 - 6, y: H - 8 }, String(r.hour).padStart(2, "0"))); });
    return g;
  }

  function stagesChart(stages) {
    const W = 960, rowH = 26, H = stages.length * rowH + 30, left = 120;
    const max = Math.max(1, ...stages.map((s) => Math.max(s.goal_seconds || 0, s.mean_seconds || 0))) * 1.1;
    const sx = (v) => left + (W - left - 20) * v / max;
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": t("Stage times against their goal"), id: "stages-chart" });
    stages.forEach((s, i) => { const y = 10 + i * rowH, m = s.mean_seconds || 0, over = s.goal_seconds && m > s.goal_seconds;
      g.appendChild(svg("text", { x: 4, y: y + 15 }, stageWord(s.stage)));
      g.appendChild(svg("rect", { x: left, y: y + 3, width: Math.max(0, sx(m) - left), height: rowH - 8, fill: over ? "#ef4444" : "#22c55e", rx: 3 },
        svg("title", {}, stageWord(s.stage) + ": " + t("average %(avg)s (goal %(goal)s)", { avg: fmt(s.mean_seconds), goal: fmt(s.goal_seconds) }))));
      if (s.goal_seconds) g.appendChild(svg("line", { x1: sx(s.goal_seconds), x2: sx(s.goal_seconds), y1: y, y2: y + rowH - 2, stroke: "#facc15", "stroke-width": 3 }));
      g.appendChild(svg("text", { x: sx(m) + 6, y: y + 15 }, s.mean_seconds === null ? t("no data") : fmt(m))); });
    g.appendChild(svg("text", { x: left, y: H - 4 }, t("bars: the day's average · yellow line: the goal (budget)")));
    return g;
  }

  async function load() {
    const q = new URLSearchParams();
    const asked = isoDay(dayInput.value);
    if (dayInput.value && !asked) { toast(t("Type the day as dd/mm/yyyy.")); return; }
    if (asked) q.set("day", asked);
    if (laneSel.value) q.set("lane", laneSel.value);
    let r;
    try { r = await api("GET", "/api/v1/reports/daily?" + q); } catch (e) { toast(e.message); return; }
    dayInput.value = shownDay(r.day);
    const which = new URLSearchParams({ day: r.day, ...(laneSel.value ? { lane: laneSel.value } : {}) });
    document.getElementById("csv").href = "/api/v1/reports/daily.csv?" + which;
    document.getElementById("summary-csv").href = "/api/v1/reports/daily-summary.csv?" + which;
    document.getElementById("print").href = "/reports/print?" + which;
    const rp = Lajur.rupiah;
    document.querySelector("#by-class tbody").replaceChildren(...Object.entries(r.by_class).map(([cls, c]) => el("tr", { "data-class": cls },
      el("td", {}, cls === "-" ? t("not known yet") : cls), ...["completed", "refused", "aborted", "open", "total"].map((k) => el("td", { class: "num" }, String(c[k] || 0))))));
    document.querySelector("#pnbp tbody").replaceChildren(...Object.entries(r.pnbp).map(([cls, p]) => el("tr", {},
      el("td", {}, cls), el("td", { class: "num" }, String(p.paid)), el("td", { class: "num" }, rp(p.rupiah)))),
      el("tr", { class: "total" }, el("td", {}, t("Total")), el("td", {}), el("td", { class: "num", id: "pnbp-total" }, rp(r.pnbp_total))));
    document.querySelector("#refusals tbody").replaceChildren(...(r.refusals.length ? r.refusals.map((x) => el("tr", {},
      el("td", {}, (Lajur.lang === "id" ? x.text_id : x.text_en) || x.reason), el("td", { class: "num" }, String(x.count)))) : [el("tr", {}, el("td", { class: "muted" }, t("No refusals.")))]));
    document.getElementById("tz").textContent = t("Times in") + " " + r.timezone;
    document.getElementById("hours-tz").textContent = "(" + r.timezone + ")";
    const o = r.outcomes || {};
    document.getElementById("kpis").replaceChildren(
      kpi(t("visits"), String(r.visits)), kpi(t("completed"), String(o.completed || 0)), kpi(t("refused"), String(o.refused || 0)),
      kpi(t("aborted"), String(o.aborted || 0)),
      kpi(t("within %(n)s minutes", { n: Math.round(r.visit_goal_seconds / 60) }) + " · " + t("from the entry") +
        (r.stuck ? " · " + t("%(n)s still in the lane count as not within", { n: r.stuck }) : ""),
        r.within_goal_pct === null ? "–" : r.within_goal_pct + "%", pctClass(r.within_goal_pct)),
      kpi(t("within %(n)s minutes", { n: Math.round(r.visit_goal_seconds / 60) }) + " · " + t("from joining the queue"),
        r.within_goal_door_to_door_pct == null ? "–" : r.within_goal_door_to_door_pct + "%", pctClass(r.within_goal_door_to_door_pct)),
      kpi(t("average visit"), fmt(r.mean_seconds)), kpi(t("p95 visit"), fmt(r.p95_seconds)),
      kpi(t("average queue wait"), fmt(r.mean_queued_seconds)), kpi(t("p95 from joining the queue"), fmt(r.p95_door_to_door_seconds)),
      kpi(t("PNBP collected"), Lajur.rupiah(r.pnbp_total)), kpi(t("peak per hour"), String(r.peak_per_hour)));
    document.getElementById("hours").replaceChildren(hoursChart(r.throughput_per_hour));
    document.getElementById("stages").replaceChildren(stagesChart(r.stages));
    const part = (p) => p.visits ? `${fmt(p.mean_seconds)} · ${p.goal_met_pct}%` : "–";
    document.querySelector("#stage-table tbody").replaceChildren(...r.stages.map((s) => el("tr", {},
      el("td", {}, stageWord(s.stage)), el("td", { class: "num" }, fmt(s.goal_seconds)), el("td", { class: "num" }, fmt(s.mean_seconds)),
      el("td", { class: "num " + pctClass(s.goal_met_pct) }, s.goal_met_pct === null ? "–" : s.goal_met_pct + "%"),
      el("td", { class: "num" }, part(s.by_part_of_day.morning)), el("td", { class: "num" }, part(s.by_part_of_day.midday)),
      el("td", { class: "num" }, part(s.by_part_of_day.afternoon)))));
  }
  // The day as people at the site write it (dd/mm/yyyy), whatever the browser's own language.
  function isoDay(text) {
    const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec((text || "").trim());
    return m ? `${m[3]}-${m[2].padStart(2, "0")}-${m[1].padStart(2, "0")}` : null;
  }
  function shownDay(iso) { const [y, m, d] = iso.split("-"); return `${d}/${m}/${y}`; }
  function step(days) {
    const base = isoDay(dayInput.value);
    if (!base) return;
    const d = new Date(base + "T12:00:00Z"); d.setUTCDate(d.getUTCDate() + days);
    dayInput.value = shownDay(d.toISOString().slice(0, 10)); load();
  }
  document.getElementById("prev-day").addEventListener("click", () => step(-1));
  document.getElementById("next-day").addEventListener("click", () => step(1));
  dayInput.addEventListener("change", load); laneSel.addEventListener("change", load);
  document.getElementById("today").addEventListener("click", () => { dayInput.value = ""; load(); });
  load();
})();
