// Shared by the console pages: the page's language (its catalogue), times and rupiah as the site writes
// them, API calls with the CSRF header, the header bar, a toast, a live socket.
"use strict";

const Lajur = (() => {
  // ---------------------------------------------------------------- language and formats
  const DATA = (() => { const e = document.getElementById("page-data"); return e ? JSON.parse(e.textContent) : {}; })();
  const TZ = DATA.timezone || "Asia/Jakarta";

  // A text in the page's language: the catalogue's translation of the English message id, with
  // %(name)s filled in from ``vars``.
  function t(message, vars) {
    let s = (DATA.messages || {})[message] || message;
    if (vars) s = s.replace(/%\((\w+)\)s/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
    return s;
  }
  const stageWord = (stage) => (DATA.stages || {})[stage] || stage;
  const stationWord = (st) => (DATA.stations || {})[st] || st;
  const CLOCK = new Intl.DateTimeFormat("id-ID", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const CLOCK_S = new Intl.DateTimeFormat("id-ID", { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const DAY = new Intl.DateTimeFormat("id-ID", { timeZone: TZ, day: "2-digit", month: "2-digit", year: "numeric" });
  // 24-hour times and dd/mm/yyyy dates in the site's time zone, whatever the browser's own settings
  const clock = (iso) => CLOCK.format(new Date(iso)).replace(/\./g, ":");
  const clockSeconds = (iso) => CLOCK_S.format(new Date(iso)).replace(/\./g, ":");
  const day = (iso) => DAY.format(new Date(iso));
  const rupiah = (n) => "Rp" + Math.round(Number(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(method, url, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = cookie("lajur_csrf");
    const res = await fetch(url, { method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("log in"); }
    const type = res.headers.get("content-type") || "";
    const data = type.includes("json") ? await res.json() : await res.text();
    if (!res.ok) {
      const msg = (data && data.detail) ? data.detail : ("HTTP " + res.status);
      const err = new Error(typeof msg === "string" ? msg : JSON.stringify(msg));
      err.reason = data && data.reason;  // the refusal's code: pages say it in their language
      throw err;
    }
    return data;
  }

  function toast(text, ok) {
    let t = document.getElementById("toast");
    if (!t) { t = document.createElement("div"); t.id = "toast"; document.body.appendChild(t); }
    // ok: true (green, done), "info" (amber: accepted, not finished), false (red: refused or failed)
    t.textContent = text; t.className = ok === true ? "ok" : (ok || ""); t.style.display = "block";
    clearTimeout(toast._h); toast._h = setTimeout(() => { t.style.display = "none"; }, ok === true ? 2500 : 6000);
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v;  // CSSOM: allowed by the page's style-src 'self'
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false)
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    return e;
  }

  function fmt(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    const s = Math.max(0, Math.round(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function plate(p) { return p ? p.replace(/^([A-Z]{1,2})(\d{1,4})([A-Z]{0,3})$/, (m, a, b, c) => [a, b, c].filter(Boolean).join(" ")) : "—"; }

  async function header(here) {
    const me = await api("GET", "/api/v1/auth/me");
    const links = [["/", t("Console")], ["/reports", t("Reports")], ["/technician", t("Technician")],
      ...(me.permissions.includes("user_admin") ? [["/admin", t("Accounts")]] : []), ["/docs", "API"]];
    const other = Object.keys(DATA.languages || {}).find((code) => code !== (DATA.lang || "id")) || "en";
    const bar = el("header", { class: "top" },
      el("h1", {}, "Lajur ", el("span", {}, "SIM Drive-Thru")),
      el("nav", {}, links.map(([href, label]) => el("a", { href, class: href === here ? "here" : "" }, label))),
      el("div", { class: "me" }, el("span", { class: "conn", id: "conn", title: t("live connection") }),
        el("span", { id: "who" }, me.username + " · " + t(me.role)),
        // one click to the other language, kept with the account
        el("button", { class: "small", id: "language", lang: other, onclick: async () => {
          try { await api("PUT", "/api/v1/auth/me/language", { language: other }); location.reload(); }
          catch (e) { toast(e.message); } } }, (DATA.languages || {})[other] || other),
        el("button", { class: "small", id: "logout", onclick: async () => {
          try { await api("POST", "/api/v1/auth/logout"); } finally { location.href = "/login"; } } }, t("Log out"))));
    document.body.prepend(bar);
    return me;
  }

  // A live feed over WebSocket; reconnects with back-off (no polling loops).
  function live(path, onMessage) {
    let delay = 500;
    function connect() {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
      ws.onopen = () => { delay = 500; const c = document.getElementById("conn"); if (c) c.classList.add("on"); };
      ws.onmessage = (m) => onMessage(JSON.parse(m.data));
      ws.onclose = (ev) => {
        const c = document.getElementById("conn"); if (c) c.classList.remove("on");
        if (ev.code === 4401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
        setTimeout(connect, delay); delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
  }

  return { api, toast, el, fmt, plate, header, live, cookie, t, stageWord, stationWord, clock, clockSeconds, day,
    rupiah, lang: DATA.lang || "id" };
})();
