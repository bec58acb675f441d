// Technician page: device availability and counters (live), test commands, simulator faults.
"use strict";
(async () => {
  const { api, toast, el, t } = Lajur;
  const me = await Lajur.header("/technician");
  const canTest = me.permissions.includes("device_test");
  const canFault = me.fault_injection && me.permissions.includes("fault_inject");
  if (!canFault) document.getElementById("fault-head").textContent = me.fault_injection ? t("Simulator fault (technician)") : "";
  const FAULTS = {
    "entry-gate": ["stuck", "slow", "loop_stuck", "offline", "noise"], "exit-gate": ["stuck", "slow", "loop_stuck", "offline", "noise"],
    "card-printer": ["ribbon_out", "card_jam", "cover_open", "hopper_empty", "offline"],
    "receipt-printer": ["paper_out", "paper_near_end", "cover_open", "offline"],
    "payment": ["declined", "timeout", "offline"], "biometric": ["fail", "timeout", "offline"],
    "card-reader": ["unreadable", "timeout", "offline"], "entry-camera": ["blurred", "blank", "no_plate", "down"],
    "exit-camera": ["blurred", "blank", "no_plate", "down"] };
  const rows = {};
  const COMMAND = { open: t("Open gate"), close: t("Close gate"), status: t("Status") };

  // A reason, in a form of the page's own (never the browser's prompt).
  function askReason(title) {
    const dlg = document.getElementById("test-dialog"), input = document.getElementById("test-reason");
    const ok = document.getElementById("test-ok"), cancel = document.getElementById("test-cancel");
    document.getElementById("test-title").textContent = title;
    return new Promise((resolve) => {
      const done = (v) => { ok.onclick = cancel.onclick = null; dlg.close(); resolve(v); };
      cancel.onclick = () => done(null);
      ok.onclick = (ev) => {
        ev.preventDefault();
        if (input.value.trim().length < 3) { toast(t("Please give a reason (at least 3 characters).")); return; }
        done(input.value.trim());
      };
      dlg.showModal();
      input.select();
    });
  }

  async function test(d, command) {
    const name = Words.deviceWord(d.name);
    const reason = await askReason(t("%(command)s %(device)s on %(lane)s (audited)", { command: COMMAND[command], device: name, lane: d.lane }));
    if (!reason) return;
    try { const r = await api("POST", `/api/v1/lanes/${d.lane}/devices/${d.name}/test`, { command, reason });
      toast(`${name} ${COMMAND[command]}: ` + t("ok") + (r.device.status ? " · " + status(r.device.status).join(" · ") : ""), true); loadEvents(); }
    catch (e) { toast(`${name} ${COMMAND[command]}: ${e.message}`); }
  }
  async function fault(d, select, active) {
    try { await api("POST", `/api/v1/lanes/${d.lane}/devices/${d.name}/faults`, { fault: select.value, active, reason: t("technician page") });
      toast(`${Words.deviceWord(d.name)}: ${Words.faultWord(select.value)} ` + (active ? t("injected") : t("cleared")), true); }
    catch (e) { toast(e.message); }
  }
  // a gate's status in words: "palang terbuka · loop deteksi kosong ..."
  function status(st) {
    if (!st || typeof st !== "object") return [];
    return ["position", "presence_loop", "safety_loop", "faults"].filter((k) => k in st).map((k) => (k === "position" ? "" : Words.fieldWord(k) + " ") + Words.fieldValue(k, st[k]));
  }
  function counters(d) {
    const parts = Object.entries(d.counters || {}).map(([k, v]) => `${Words.fieldWord(k)} ${v}`);
    parts.push(...status(d.status));
    if (d.state) {
      const { v, ts, ...rest } = d.state;
      if (ts) parts.push(t("last message %(at)s", { at: Lajur.clockSeconds(ts) }));
      const brief = Object.entries(rest).filter(([, x]) => typeof x !== "object").map(([k, x]) => `${k} ${x}`).join(", ");
      if (brief) parts.push(brief.slice(0, 90));
    }
    return parts.join(" · ") || "—";
  }
  function render(devices) {
    const tbody = document.querySelector("#devices tbody");
    for (const d of devices) {
      const key = d.lane + "/" + d.name;
      let r = rows[key];
      if (!r) {
        const testCell = el("td", {}), faultCell = el("td", {});
        if (canTest) {
          const cmds = d.name.endsWith("-gate") ? ["open", "close", "status"] : ["status"];
          testCell.appendChild(el("div", { class: "actions" }, cmds.map((c) => el("button", { class: "small", onclick: () => test(d, c), "data-command": c }, COMMAND[c]))));
        }
        if (canFault && FAULTS[d.name]) {
          const sel = el("select", {}, FAULTS[d.name].map((f) => el("option", { value: f }, Words.faultWord(f))));
          faultCell.appendChild(el("div", { class: "actions" }, sel,
            el("button", { class: "small danger", onclick: () => fault(d, sel, true) }, t("inject")),
            el("button", { class: "small", onclick: () => fault(d, sel, false) }, t("clear"))));
        }
        r = rows[key] = { tr: el("tr", { "data-device": key }, el("td", {}, d.lane),
          el("td", { title: d.driver }, Words.deviceWord(d.name), " ", el("span", { class: "muted" }, d.name)), el("td", {}), el("td", {}), el("td", {}), testCell, faultCell) };
        tbody.appendChild(r.tr);
      }
      const c = r.tr.children;
      c[2].textContent = d.transport + (d.address ? " · " + d.address : "");
      c[3].replaceChildren(el("span", { class: "chip " + (d.online ? "on" : "off") }, d.online ? t("online") : t("OFFLINE")));
      c[4].textContent = counters(d);
    }
  }
  // an event's detail: the refusal reason and count in words, the visit; the device's own error text as it is
  function eventDetail(detail) {
    const d = detail || {};
    const parts = [];
    if (d.reason) parts.push(Words.word("refusals", d.reason) + (d.count ? " ×" + d.count : ""));
    if (d.visit) parts.push(t("visit %(visit)s", { visit: d.visit }));
    if (d.error) parts.push(el("span", { class: "muted" }, String(d.error).slice(0, 140)));
    return parts.flatMap((p, i) => (i ? [" · ", p] : [p]));
  }
  async function loadEvents() {
    try { const evs = await api("GET", "/api/v1/devices/events?limit=30");
      document.getElementById("events").replaceChildren(...evs.map((e) => el("div", {}, Lajur.clockSeconds(e.at), " ",
        el("b", {}, e.lane + " · " + Words.deviceWord(e.device)), " " + Words.word("device_events", e.kind) + " ", eventDetail(e.detail))));
    } catch (e) { /* shown next time */ }
  }
  render(await api("GET", "/api/v1/devices"));
  loadEvents();
  Lajur.live("/ws/live?devices=1", (msg) => {
    if (msg.type === "snapshot" && msg.device_details) render(msg.device_details);
    if (msg.type === "alert" && msg.data.kind === "device_fault") loadEvents();
  });
})();
