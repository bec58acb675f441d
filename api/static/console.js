// The officer console: live lanes over a WebSocket, officer actions through the JSON API.
"use strict";
(async () => {
  const { api, toast, el, fmt, plate, t, stageWord, stationWord } = Lajur;
  const STATIONS = ["entry", "window-1", "window-2", "window-3", "exit"];
  const me = await Lajur.header("/");
  const canAct = me.permissions.includes("visit_action");
  const canGate = me.permissions.includes("gate_override");
  const canAck = me.permissions.includes("alert_ack");

  const state = { lanes: {}, displays: {}, alerts: [], speed: 1, selected: null };
  const laneViews = {};  // lane -> {root, stations: {st: {box, shown, signal, slot}}, tbody, rows: {id: row}, chips}

  // ---------------------------------------------------------------- timing colour
  function level(elapsed, budget) {
    if (!budget) return "";
    const r = elapsed / budget;
    return r >= 1 ? "bad" : r >= 0.75 ? "warn" : "";
  }
  function now(v) {
    // Elapsed times tick locally between events, at the lane clock's speed. The visit's own clock
    // (the ten-minute promise) starts at the entry; before it, the wait counts as queued.
    const dt = v.ended ? 0 : (performance.now() - v._t0) / 1000 * state.speed;
    const queued = v.stage === "queued";
    return { elapsed: v.elapsed + (queued ? 0 : dt), stage: v.stage_elapsed + dt,
      queued: (v.queued_seconds || 0) + (queued ? dt : 0) };
  }

  // ---------------------------------------------------------------- sound + flash for alerts
  let audio = null;
  document.addEventListener("click", () => { if (!audio && window.AudioContext) audio = new AudioContext(); }, { once: true });
  function cue(level) {
    document.body.classList.remove("flash"); void document.body.offsetWidth; document.body.classList.add("flash");
    if (!audio) return;
    const beeps = level === "critical" ? [0, 0.25, 0.5] : [0];
    for (const at of beeps) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = level === "critical" ? 880 : 660; g.gain.value = 0.15;
      o.connect(g); g.connect(audio.destination); o.start(audio.currentTime + at); o.stop(audio.currentTime + at + 0.15);
    }
  }

  // ---------------------------------------------------------------- action dialog
  const dlg = document.getElementById("act-dialog");
  function ask(title, what, { needPlate = false, plateValue = "", needReason = false, needAnswer = false } = {}) {
    return new Promise((resolve) => {
      document.getElementById("act-title").textContent = title;
      document.getElementById("act-what").textContent = what;
      document.getElementById("plate-row").style.display = needPlate ? "" : "none";
      document.getElementById("act-plate").value = plateValue || "";
      document.getElementById("answer-row").style.display = needAnswer ? "" : "none";
      document.getElementById("act-answer").value = "yes";
      document.getElementById("act-reason").value = "";
      document.getElementById("reason-need").textContent = needReason ? t("(required)") : t("(optional)");
      const ok = document.getElementById("act-ok"), cancel = document.getElementById("act-cancel");
      const done = (v) => { ok.onclick = cancel.onclick = null; dlg.close(); resolve(v); };
      cancel.onclick = () => done(null);
      ok.onclick = (ev) => {
        ev.preventDefault();
        const reason = document.getElementById("act-reason").value.trim();
        const p = document.getElementById("act-plate").value.trim();
        if (needReason && reason.length < 3) { toast(t("Please give a reason (at least 3 characters).")); return; }
        if (needPlate && !p) { toast(t("Please type the plate.")); return; }
        done({ reason: reason || null, plate: p || null, confirmed: document.getElementById("act-answer").value === "yes" });
      };
      dlg.showModal();
      (needPlate ? document.getElementById("act-plate") : document.getElementById("act-reason")).focus();
    });
  }

  // The visit commands the console offers. Whether one fits a visit now is the lane's own rule: the
  // live view lists them (v.commands); approvals are for supervisors, never the proposing officer.
  const canApprove = me.permissions.includes("decision_approve");
  const mine = (v) => v.decision && v.decision.proposed_by === me.username;
  const ACTIONS = [
    ["confirm_plate", t("Plate"), t("Confirm, type or correct the plate (until the car leaves window 1)"), { plate: true }],
    ["retry", t("Retry"), t("Try the held step again"), {}],
    ["take_over", t("Take over"), t("Do the held step by hand (the e-KTP reader or the registry: the decision form follows)"), { reason: true }],
    ["decide", t("Decide"), t("The decision form"), { form: true }],
    ["approve_decision", t("Approve"), t("Approve the officer's decision"), { approve: true }],
    ["reject_decision", t("Send back"), t("Send the decision back to the officer"), { reason: true, approve: true }],
    ["applicant_answer", t("Applicant's answer"), t("The applicant cannot use the terminal: pass on their OK (or their no) to the name, class and fee shown"), { answer: true }],
    ["reprint", t("Reprint"), t("The card came out spoiled: print it again on a new blank"), { reason: true }],
    ["approve_reprint", t("Approve reprint"), t("Approve the officer's reprint (a second card blank)"), { approve: true }],
    ["handed_over", t("Handed over"), t("The card was handed over"), {}],
    ["abort", t("Abort"), t("Stop this renewal; the vehicle leaves by the exit"), { reason: true }],
    ["vehicle_left", t("Vehicle left"), t("The vehicle is gone (or stuck for good): end the visit and free its stations"), { reason: true }],
  ];
  function offered(v, action, opts) {
    if (!(v.commands || []).includes(action)) return false;
    if (opts.approve) return canApprove && !mine(v);
    return true;
  }

  function report(label, res) {
    if (res.worked === false) toast(t("%(what)s: did not work", { what: label }) + " — " + (res.detail || ""));
    else if (res.worked === null) toast(label + ": " + (res.detail || t("still trying")), "info");
    else toast(t("%(what)s: done", { what: label }) + (res.detail ? " — " + res.detail : ""), true);
  }

  async function send(v, action, label, body) {
    try {
      const res = await api("POST", "/api/v1/visits/" + encodeURIComponent(v.id) + "/actions", { action, ...body });
      report(label, res);
      loadAudit();
      return res;
    } catch (e) { toast(t("%(what)s refused", { what: label }) + ": " + e.message); return null; }
  }

  async function visitAction(v, [action, label, what, opts]) {
    if (opts.form) return decide(v);
    const body = {};
    if (action === "approve_decision" || action === "reject_decision") {
      if (!v.decision) return;
      body.decision_id = v.decision.id;
      const d = v.decision;
      what += ` — ${d.proposed_by}: ${decisionText(d)}`;
    }
    const correction = action === "confirm_plate" && v.plate && v.held !== "plate_unconfirmed";
    const needReason = !!opts.reason || correction;
    if (opts.plate || needReason || opts.approve || opts.answer) {
      const ans = await ask(label + " — " + plate(v.plate), what + " (" + t("visit %(id)s", { id: v.id }) + ")",
        { needPlate: !!opts.plate, plateValue: v.plate, needReason, needAnswer: !!opts.answer });
      if (!ans) return;
      if (ans.reason) body.reason = ans.reason;
      if (opts.plate) body.plate = ans.plate;
      if (opts.answer) body.confirmed = ans.confirmed;
    }
    await send(v, action, label, body);
  }

  // ---------------------------------------------------------------- the decision form
  const ddlg = document.getElementById("decide-dialog");
  const field = (id) => document.getElementById(id);
  function decide(v) {
    field("decide-title").textContent = t("Decision by hand") + " — " + plate(v.plate);
    field("identity-rows").style.display = v.needs_identity ? "" : "none";
    for (const id of ["d-nik", "d-name", "d-expires", "d-sim", "d-health", "d-health-nik", "d-psych", "d-psych-nik", "d-reason"]) field(id).value = "";
    const done = () => { field("decide-ok").onclick = field("decide-cancel").onclick = null; ddlg.close(); };
    field("decide-cancel").onclick = done;
    field("decide-ok").onclick = async (ev) => {
      ev.preventDefault();
      const val = (id) => field(id).value.trim() || null;
      const body = { sim_class: field("d-class").value, sim_number: val("d-sim"), sim_expires: val("d-expires"),
        health_issued: val("d-health"), health_nik: val("d-health-nik"), psychology_issued: val("d-psych"),
        psychology_nik: val("d-psych-nik"), reason: val("d-reason") };
      if (v.needs_identity) { body.nik = val("d-nik"); body.holder_name = val("d-name"); }
      if (!body.sim_number || !body.sim_expires) { toast(t("Type the old SIM's number and expiry.")); return; }
      if (!body.reason || body.reason.length < 3) { toast(t("Please give a reason (at least 3 characters).")); return; }
      const res = await send(v, "decide", t("Decision"), body);
      if (res) {
        done();
        const d = res.decision || {};
        toast(t("Decision proposed: %(what)s — a supervisor approves it", { what: decisionText(d) }), "info");
      }
    };
    ddlg.showModal();
    field(v.needs_identity ? "d-nik" : "d-sim").focus();
  }

  // "eligible, SIM A, Rp80.000" or "refused (sim_expired)": a decision's outcome in words
  function decisionText(d) {
    return d.eligible ? t("eligible, SIM %(cls)s", { cls: d.sim_class }) + (d.fee ? ", " + Lajur.rupiah(d.fee) : "")
      : t("refused (%(why)s)", { why: d.refusal });
  }

  function gateLabel(gate, command) {
    const where = stationWord(gate.replace("-gate", ""));
    return command === "open" ? t("Open %(gate)s", { gate: where }) : t("Close %(gate)s", { gate: where });
  }

  async function gateAction(lane, gate, command) {
    const label = gateLabel(gate, command);
    const ans = await ask(label, lane + ": " + t("manual gate override (audited)"), { needReason: true });
    if (!ans) return;
    try {
      const res = await api("POST", `/api/v1/lanes/${lane}/gates/${gate}`, { command, reason: ans.reason });
      toast(t("%(what)s: done", { what: label }) + (res.detail ? " — " + res.detail : ""), true);
      loadAudit();
    } catch (e) { toast(t("%(what)s refused", { what: label }) + ": " + e.message); }
  }

  // ---------------------------------------------------------------- lane views
  function laneView(name) {
    if (laneViews[name]) return laneViews[name];
    document.getElementById("lanes-empty")?.remove();
    const chips = el("div", { class: "chips" });
    const gates = canGate ? el("div", { class: "actions" },
      ["entry-gate", "exit-gate"].flatMap((g) => ["open", "close"].map((c) =>
        el("button", { class: "small", "data-gate": g, "data-command": c, onclick: () => gateAction(name, g, c) },
          gateLabel(g, c))))) : null;
    const stations = {};
    const strip = el("div", { class: "stations" }, STATIONS.map((st) => {
      const signal = el("span", { class: "signal" }), shown = el("div", { class: "shown" }), slot = el("div", {});
      const box = el("div", { class: "station", "data-station": st }, el("div", { class: "name" }, stationWord(st), signal), slot, shown);
      stations[st] = { box, signal, shown, slot, key: null };
      return box;
    }));
    const tbody = el("tbody", {});
    const table = el("table", { class: "visits" }, el("thead", {}, el("tr", {},
      ["#", t("Plate"), t("Stage"), t("Stage time"), t("Visit time"), t("Actions")].map((h) => el("th", {}, h)))), tbody);
    const tableBox = el("div", { class: "scroll-x" }, table);
    const queue = el("span", { class: "queue", "data-queue": name }, "");
    const root = el("section", { class: "panel lane", "data-lane": name },
      el("div", { class: "lane-head" }, el("h2", {}, name), queue, chips, el("span", { class: "grow" }), gates), strip, tableBox);
    document.getElementById("lanes").appendChild(root);
    return (laneViews[name] = { root, stations, tbody, rows: {}, chips, chipKey: null, queue });
  }

  function renderQueue(name, q) {
    // The road queue before the entry: how many wait, and how long the first should still wait.
    const view = laneView(name);
    if (!q) { view.queue.textContent = ""; return; }
    view.queue.className = "queue" + (q.length ? " busy" : "");
    view.queue.textContent = q.length
      ? t("Queue %(n)s · wait about %(wait)s", { n: q.length, wait: fmt(q.expected_wait_seconds) }) : t("Queue empty");
    view.queue.title = t("headway %(t)s between admissions", { t: fmt(q.headway_seconds) });
  }

  function renderDevices(name, devices) {
    const view = laneView(name);
    const key = JSON.stringify(devices);
    if (view.chipKey === key) return;
    view.chipKey = key;
    view.chips.replaceChildren(...Object.entries(devices).map(([d, ok]) =>
      el("span", { class: "chip " + (ok ? "on" : "off"), title: d + " · " + (ok ? t("online") : t("OFFLINE")), "data-device": d }, Words.deviceWord(d))));
  }

  function carKey(v) { return v ? [v.id, v.plate, v.held].join("|") : ""; }

  function renderLane(name) {
    const lane = state.lanes[name];
    if (!lane) return;
    const view = laneView(name);
    renderDevices(name, lane.devices || {});
    renderQueue(name, lane.queue);
    const visits = Object.values(lane.visits).sort((a, b) => a.seq - b.seq);
    // stations
    for (const st of STATIONS) {
      const s = view.stations[st];
      // every car standing here (a refused car waiting to leave and the next one, both), where it
      // physically is; before the lane knows (a reload), where its stage happens
      const here = visits.filter((x) => (x.at || x.station) === st);
      const key = here.map(carKey).join(",");
      if (s.key !== key) {
        s.key = key;
        s.slot.replaceChildren(...(here.length ? here.map((v) => el("div", { class: "car", "data-visit": v.id, onclick: () => select(v.id) },
          el("div", { class: "plate" }, plate(v.plate)), el("div", { class: "t" }, ""),
          v.held ? el("div", { class: "held-tag" }, t("held") + ": " + Words.heldWord(v.held)) : null)) : [el("div", { class: "muted" }, "—")]));
      }
      here.forEach((v, i) => {
        const tm = now(v), car = s.slot.children[i], lv = level(tm.stage, v.stage_budget);
        car.className = "car " + lv + (v.held ? " held" : "") + (v.outcome ? " leaving" : "");
        car.querySelector(".t").textContent = stageWord(v.stage) + " " + fmt(tm.stage) + " / " + fmt(v.stage_budget);
      });
      const msg = (state.displays[name] || {})[st];
      s.shown.textContent = msg ? msg.text_id : "";
      s.signal.className = "signal " + (msg ? msg.signal : "");
    }
    // table rows, updated in place so buttons stay put while times tick
    for (const id of Object.keys(view.rows)) if (!lane.visits[id]) { view.rows[id].tr.remove(); delete view.rows[id]; }
    for (const v of visits) {
      let r = view.rows[v.id];
      if (!r) {
        const cells = { seq: el("td", { class: "num" }), plate: el("td", {}), stage: el("td", {}),
          stageT: el("td", { class: "num" }), visitT: el("td", { class: "num" }), acts: el("td", {}) };
        const buttons = {};
        const box = el("div", { class: "actions" });
        if (canAct) for (const a of ACTIONS) {
          const danger = a[0] === "abort" || a[0] === "vehicle_left";
          buttons[a[0]] = el("button", { class: "small" + (danger ? " danger" : ""), "data-action": a[0],
            onclick: (ev) => { ev.stopPropagation(); visitAction(state.lanes[name].visits[v.id] || v, a); } }, a[1]);
          box.appendChild(buttons[a[0]]);
        }
        cells.acts.appendChild(box);
        const tr = el("tr", { "data-visit": v.id, onclick: () => select(v.id) }, Object.values(cells));
        r = view.rows[v.id] = { tr, cells, buttons };
      }
      view.tbody.appendChild(r.tr);  // keeps queue order
      const tm = now(v);
      r.cells.seq.textContent = v.seq;
      const confLow = v.plate_confidence !== null && v.plate_confidence < 0.8;
      const plateKey = [v.plate, v.plate_confidence].join("|");
      if (r.plateKey !== plateKey) {
        r.plateKey = plateKey;
        const crop = el("img", { class: "plate-crop", alt: "", src: "/api/v1/visits/" + encodeURIComponent(v.id) + "/plate.jpg" });
        crop.onerror = () => crop.remove();  // no crop (typed plate, camera down)
        r.cells.plate.replaceChildren(el("span", { class: "plate-badge" }, plate(v.plate)), crop, " ",
          el("span", { class: "conf" + (confLow ? " low" : "") }, v.plate_confidence === null || v.plate_confidence === undefined ? "" : Math.round(v.plate_confidence * 100) + "%"));
      }
      r.cells.stage.replaceChildren(el("span", { class: "stage", "data-stage": v.stage }, stageWord(v.stage)),
        v.outcome ? " " + t(v.outcome) : "",
        v.held ? el("div", { class: "held-tag" }, t("held") + ": " + Words.heldWord(v.held)) : "",
        v.decision ? el("div", { class: "decision-tag", "data-decision": v.decision.id },
          t("decision by %(who)s", { who: v.decision.proposed_by }) + ": " + decisionText(v.decision)) : "");
      const ls = level(tm.stage, v.stage_budget), lv = level(tm.elapsed, v.visit_budget);
      r.cells.stageT.replaceChildren(el("span", { class: "time " + ls }, fmt(tm.stage) + " / " + fmt(v.stage_budget)), " ",
        el("span", { class: "bar " + ls }, el("i", { style: `width:${Math.min(100, 100 * tm.stage / (v.stage_budget || 1))}%` })));
      if (v.stage === "queued") {
        r.cells.visitT.replaceChildren(el("span", { class: "time muted" }, t("queued %(t)s", { t: fmt(tm.queued) })));
      } else {
        r.cells.visitT.replaceChildren(el("span", { class: "time " + lv }, fmt(tm.elapsed) + " / " + fmt(v.visit_budget)),
          tm.queued >= 1 ? el("div", { class: "muted small-note" }, "+ " + t("queued %(t)s", { t: fmt(tm.queued) })) : "");
      }
      for (const a of ACTIONS) if (r.buttons[a[0]]) {
        const on = offered(v, a[0], a[3]);
        r.buttons[a[0]].disabled = !on;
        r.buttons[a[0]].style.display = on || ["confirm_plate", "retry", "take_over", "abort"].includes(a[0]) ? "" : "none";
      }
      r.tr.classList.toggle("selected", state.selected === v.id);
    }
  }

  function renderAll() { for (const name of Object.keys(state.lanes)) renderLane(name); }

  // ---------------------------------------------------------------- alerts, audit, detail
  function renderAlerts() {
    const box = document.getElementById("alerts");
    const open = state.alerts.filter((a) => !a.acknowledged_by && !a.cleared_at).length;
    document.getElementById("alerts-count").textContent = open ? t("%(n)s open", { n: open }) : "";
    const ackAll = document.getElementById("ack-all");
    ackAll.hidden = !canAck || !state.alerts.some((a) => !a.acknowledged_by);
    if (!state.alerts.length) { box.replaceChildren(el("div", { class: "muted" }, t("No alerts."))); return; }
    box.replaceChildren(...state.alerts.slice(0, 30).map((a) => el("div", {
      class: "alert " + a.level + (a.acknowledged_by ? " acked" : "") + (a.cleared_at ? " cleared" : ""),
      "data-alert": a.id, "data-kind": a.kind, "data-cause": a.cause || "", "data-cleared": a.cleared_at ? "1" : "" },
      el("div", { class: "text", title: a.message }, Words.alertText(a)),
      el("div", { class: "meta" }, `${a.lane} · ${t(a.kind)}${a.cause ? " · " + Words.causeWord(a) : ""} · ${Lajur.clockSeconds(a.at)}`,
        a.cleared_at ? " · " + t("cleared") : "", a.acknowledged_by ? " · " + t("acknowledged by %(who)s", { who: a.acknowledged_by }) : "", " ",
        canAck && !a.acknowledged_by && a.id ? el("button", { class: "small", onclick: async () => {
          try { await api("POST", `/api/v1/alerts/${a.id}/ack`); a.acknowledged_by = me.username; renderAlerts(); loadAudit(); }
          catch (e) { toast(e.message); } } }, t("Acknowledge")) : ""))));
  }

  document.getElementById("ack-all").onclick = async () => {
    try {
      const r = await api("POST", "/api/v1/alerts/ack");
      for (const a of state.alerts) if (!a.acknowledged_by) a.acknowledged_by = r.acknowledged_by;
      toast(t("%(n)s alerts acknowledged", { n: r.acknowledged }), true); renderAlerts(); loadAudit();
    } catch (e) { toast(e.message); }
  };

  // "Tahap Perekaman → Keluar": what a command changed, from the audit line's before and after, in words
  function change(detail) {
    const parts = Words.change(detail);
    return parts.length ? el("span", { class: "change" }, " · " + parts.join(", ")) : "";
  }

  async function loadAudit() {
    try {
      const rows = await api("GET", "/api/v1/audit?limit=25");
      document.getElementById("audit").replaceChildren(...rows.map((a) => el("div", { "data-audit-action": a.action },
        Lajur.clockSeconds(a.at), " ", el("b", {}, a.actor), ` (${t(a.role)}) `, el("strong", {}, t(a.action)),
        a.lane ? " " + a.lane : "", a.visit_id ? " " + a.visit_id : "", a.detail && a.detail.gate ? " " + a.detail.gate : "", a.detail && a.detail.target ? " " + a.detail.target : "",
        a.detail && a.detail.device ? " " + Words.deviceWord(a.detail.device) + (a.detail.fault ? ": " + Words.faultWord(a.detail.fault) : "") : "",
        change(a.detail), a.reason ? " — " + a.reason : "")));
    } catch (e) { /* the next event retries */ }
  }

  async function select(id) {
    state.selected = id;
    renderAll();
    try {
      const v = await api("GET", "/api/v1/visits/" + encodeURIComponent(id));
      const rows = [["visit", t("Visit"), v.id],
        ["plate", t("Plate"), plate(v.plate) + (v.plate_confidence != null ? ` (${Math.round(v.plate_confidence * 100)}%)` : "")],
        ["stage", t("Stage"), stageWord(v.stage) + (v.outcome ? " · " + t(v.outcome) : "") + (v.reason ? " · " + Words.reasonWord(v.reason) : "")],
        ["nik", me.sees_personal_data ? "NIK" : t("NIK (masked)"), v.nik || "—"], ["name", t("Name"), v.holder_name || "—"],
        ["class", t("SIM class"), v.sim_class || "—"], ["fee", t("Fee"), v.fee ? Lajur.rupiah(v.fee) : "—"],
        ["paid", t("Paid"), v.paid ? t("yes") : t("no")],
        ["blanks", t("Card blanks"), (v.card_blanks || []).map((b) => b.serial + " · " + t(b.status) + (b.reason ? " (" + b.reason + (b.spoiled_by ? ", " + b.spoiled_by : "") + ")" : "")).join("; ") || "—"], ["started", t("Started"), v.started_at ? Lajur.day(v.started_at) + " " + Lajur.clock(v.started_at) : "—"]];
      document.getElementById("detail").replaceChildren(el("dl", {}, rows.flatMap(([k, label, val]) => [el("dt", {}, label), el("dd", { "data-field": k }, String(val))])),
        el("div", { class: "muted transitions" }, (v.transitions || []).slice(-6).map((x) => el("div", {}, `${stageWord(x.to)}${x.note ? " — " + Words.noteText(x.note, x.note_facts) : ""}`))));
    } catch (e) { toast(e.message); }
  }

  // ---------------------------------------------------------------- live feed
  function setVisit(laneName, v) {
    const lane = state.lanes[laneName] || (state.lanes[laneName] = { lane: laneName, visits: {}, devices: {} });
    v._t0 = performance.now();
    if (v.stage === "done") delete lane.visits[v.id]; else lane.visits[v.id] = v;
  }

  Lajur.live("/ws/live", (msg) => {
    if (msg.type === "snapshot") {
      state.speed = msg.speed || 1;
      for (const lane of msg.lanes) {
        state.lanes[lane.lane] = { lane: lane.lane, devices: lane.devices, queue: lane.queue, visits: {} };
        for (const v of lane.visits) setVisit(lane.lane, v);
      }
      state.displays = msg.displays || state.displays;
      if (msg.alerts) { state.alerts = msg.alerts; renderAlerts(); }
      renderAll();
    } else if (msg.type === "visit") {
      setVisit(msg.lane, msg.data); renderLane(msg.lane);
      if (state.selected === msg.data.id) select(msg.data.id);
    } else if (msg.type === "display") {
      (state.displays[msg.lane] = state.displays[msg.lane] || {})[msg.data.station] = msg.data; renderLane(msg.lane);
    } else if (msg.type === "alert") {
      state.alerts.unshift({ lane: msg.lane, ...msg.data }); renderAlerts(); cue(msg.data.level);
    } else if (msg.type === "alert_cleared") {
      for (const a of state.alerts) if (a.lane === msg.lane && (a.id === msg.data.id ||
        (a.visit_id === msg.data.visit_id && a.kind === msg.data.kind && (a.cause || null) === (msg.data.cause || null)))) a.cleared_at = a.cleared_at || msg.data.cleared_at;
      renderAlerts();
    } else if (msg.type === "alerts_acknowledged") {
      const ids = new Set(msg.data.ids);
      for (const a of state.alerts) if (ids.has(a.id) && !a.acknowledged_by) a.acknowledged_by = msg.data.acknowledged_by;
      renderAlerts();
    } else if (msg.type === "audit") {
      loadAudit();
    }
  });
  loadAudit();
  setInterval(renderAll, 500);  // local clock tick only; no network
})();
