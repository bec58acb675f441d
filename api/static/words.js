// What the lane records as codes and values, said in the page's language: an alert from its facts
// (the stage, the device and its fault, the plate, minutes...), an audit line's before -> after with
// stages, devices and outcomes as words. The alert's English message is only a fallback for alerts
// raised before facts were kept.
"use strict";

const Words = (() => {
  const { t, plate, stageWord, stationWord } = Lajur;
  const DATA = (() => { const e = document.getElementById("page-data"); return e ? JSON.parse(e.textContent) : {}; })();
  const W = DATA.words || {};
  const BEFORE_ENTRY = new Set(["queued"]);

  const word = (table, code) => (code === null || code === undefined ? "—" : ((W[table] || {})[code] || String(code)));
  // "card-printer-2" -> "Printer kartu 2"; an unknown device stays as it is
  function deviceWord(name) {
    if (!name) return "—";
    const devices = W.devices || {};
    if (devices[name]) return devices[name];
    const screen = /^display-(.+)$/.exec(name);  // a driver display: "Layar Loket 1"
    if (screen) return (devices.display || "Display") + " " + stationWord(screen[1]);
    const m = /^(.+?)-(\d+)$/.exec(name);
    return m && devices[m[1]] ? devices[m[1]] + " " + m[2] : name;
  }
  // a device's fault code in words; a watchdog's says after how long
  const faultWord = (code, seconds) => word("faults", code) + (seconds ? ` (${seconds} s)` : "");
  const minutes = (m) => (m === null || m === undefined ? "?" : String(Math.round(m * 10) / 10).replace(".", Lajur.lang === "id" ? "," : "."));

  // The alert in the page's language, from its kind and facts.
  function alertText(a) {
    const f = a.facts;
    if (!f) return a.message;
    const v = { visit: a.visit_id || "", plate: f.plate ? plate(f.plate) : t("no plate yet"), minutes: minutes(f.minutes),
      device: deviceWord(f.device), fault: faultWord(f.fault, f.seconds), read: f.read ? plate(f.read) : t("nothing"),
      stage: stageWord(f.stage), count: f.count, reason: word("refusals", f.reason), outcome: word("outcomes", f.outcome),
      step: word("steps", f.step), missing: (f.missing || []).map((m) => word("card_data", m)).join(", ") };
    switch (a.kind) {
      case "stage_over_budget":
        return BEFORE_ENTRY.has(f.stage) ? t("Visit %(visit)s (%(plate)s): waiting before the entry over %(minutes)s minutes", v)
          : t("Visit %(visit)s (%(plate)s) over its time at %(stage)s (%(minutes)s minutes)", v);
      case "visit_over_budget": return t("Visit %(visit)s (%(plate)s) over %(minutes)s minutes since the entry", v);
      case "device_fault": case "watchdog": return t("%(device)s: %(fault)s (visit %(visit)s)", v);
      case "plate_unconfirmed": return t("Plate read %(read)s with low confidence: confirm or type it", v);
      case "exit_plate_mismatch": return t("Exit camera read %(read)s, expected %(plate)s", v);
      case "payment_failed": return t("Payment %(outcome)s for %(plate)s", v);
      case "card_data_missing": return t("Visit %(visit)s: no card printed without its %(missing)s; abort the visit", v);
      case "reprint_approval": return t("Visit %(visit)s: a reprint waits for a supervisor's approval", v);
      case "decision_needed": return t("Visit %(visit)s: decide by hand (the decision form), then a supervisor approves", v);
      case "internal_error": return f.step === "held" ? t("Visit %(visit)s held on an internal error: retry, take over or abort", v)
        : t("Visit %(visit)s stopped on an internal error", v);
      case "record_refused": return f.step === "held" ? t("Visit %(visit)s held: the database refuses its record; retry, take over or abort", v)
        : t("Visit %(visit)s ended but the database refuses its record", v);
      case "database_unavailable": return t("Database unreachable: visit %(visit)s waits before %(step)s", v);
      case "gate_close_failed": return t("%(device)s did not close: %(fault)s", v);
      case "message_refused": return t("%(device)s: a message refused (%(reason)s), %(count)s so far for this reason", v);
      default: return a.message;
    }
  }

  // An alert's cause (a stage, a device, "device: reason") in words.
  function causeWord(a) {
    if (!a.cause) return "";
    if (a.kind === "stage_over_budget") return stageWord(a.cause);
    if (a.kind === "message_refused") {
      const [device, reason] = a.cause.split(": ");
      return deviceWord(device) + (reason ? ": " + word("refusals", reason) : "");
    }
    return deviceWord(a.cause);
  }

  // One value of an audit line's before/after in words: stages, stations, devices, outcomes, plates.
  const KEY_WORDS = { stage: t("Stage"), station: t("Station"), outcome: t("Outcome"), plate: t("Plate"), held: t("held"),
    proposal: t("Decision form"), cards: t("Cards"), card_serial: t("Card serial"), spoiled: t("Spoiled"),
    approval: t("Approval"), reprint: t("Reprint"), asked_by: t("Asked by"), confirmation: t("Applicant's answer"),
    by: t("By"), eligible: t("Eligible"), refusal: t("Refusal"), sim_class: t("SIM class"), proposed_by: t("Proposed by") };
  const VALUE_WORDS = { waiting: t("waiting"), approved: t("approved"), officer: t("officer"), confirmed: t("confirmed"),
    declined: t("declined") };
  function value(key, x) {
    if (x === null || x === undefined) return "—";
    if (key === "stage") return stageWord(x);
    if (key === "station") return stationWord(x);
    if (key === "outcome") return t(x);
    if (key === "plate") return plate(x);
    if (key === "held") return heldWord(x);
    if (typeof x === "boolean") return x ? t("yes") : t("no");
    if (typeof x === "object") return JSON.stringify(x);
    return VALUE_WORDS[x] || String(x);
  }
  // A visit's hold ("entry-camera: plate mismatch", "payment: failed", "plate_unconfirmed"): its device in words
  function heldWord(held) {
    if ((W.held || {})[held]) return W.held[held];
    const missing = /^card data missing: (.*)$/.exec(held);
    if (missing) return t("card data missing: %(missing)s", { missing: missing[1].split(", ").map((m) => word("card_data", m)).join(", ") });
    const m = /^([a-z0-9-]+): (.*)$/.exec(held);
    if (m) return deviceWord(m[1]) + ": " + faultWord(m[2]);
    return t(held);
  }
  const keyWord = (k) => KEY_WORDS[k] || k;

  // "Tahap Pembayaran → Keluar": what a command changed, from the audit line's before and after
  function change(detail) {
    if (!detail || !detail.before || !detail.after) return [];
    const keys = Object.keys(detail.after).filter((k) => JSON.stringify(detail.before[k]) !== JSON.stringify(detail.after[k]));
    return keys.map((k) => `${keyWord(k)} ${value(k, detail.before[k])} → ${value(k, detail.after[k])}`);
  }

  // A visit's reason: the lane's own codes (a refusal, the applicant's no, "vehicle left: ...") in words;
  // an officer's reason as typed
  function reasonWord(reason) {
    if (!reason) return "";
    if ((W.visit_reasons || {})[reason]) return W.visit_reasons[reason];
    const left = /^vehicle left: (.*)$/.exec(reason);
    return left ? t("vehicle_left") + ": " + left[1] : reason;
  }

  // A device's counter or status field and its value, for the technician ("palang terbuka", "loop pengaman ya")
  function fieldValue(key, x) {
    if (key === "position") return word("positions", x);
    if (key === "faults" && Array.isArray(x)) return x.length ? x.map((f) => faultWord(f)).join(", ") : t("none");
    if (typeof x === "boolean") return x ? t("occupied") : t("empty");
    return typeof x === "object" ? JSON.stringify(x) : String(x);
  }
  const fieldWord = (key) => word("device_fields", key);

  // A stage note from its message id and values (lane/notes.py), values worded by their name; a note
  // kept as text only (before note facts) as it was written
  const NOTE_VALUES = { plate: (x) => plate(x), read: (x) => (x ? plate(x) : t("nothing")), old_plate: (x) => plate(x),
    device: deviceWord, fault: (x) => faultWord(x), held: (x) => heldWord(x), reason: (x) => reasonWord(x),
    outcome: (x) => word("outcomes", x), action: (x) => t(x), answer: (x) => t(x), error: (x) => x,
    missing: (x) => String(x).split(", ").map((m) => word("card_data", m)).join(", ") };
  function noteText(note, facts) {
    if (!facts || !facts.id) return note || "";
    const vars = {};
    for (const [k, x] of Object.entries(facts)) if (k !== "id") vars[k] = NOTE_VALUES[k] ? NOTE_VALUES[k](x) : x;
    return t(facts.id, vars);
  }

  return { alertText, causeWord, noteText, change, deviceWord, faultWord, fieldValue, fieldWord, heldWord, reasonWord, word };
})();
