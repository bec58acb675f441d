// A driver's status page: the server renders it, this keeps it live over a WebSocket (reconnecting).
"use strict";
(() => {
  const token = location.pathname.split("/").pop();
  const lang = document.body.dataset.lang;
  const $ = (id) => document.getElementById(id);
  function show(s) {
    if (!s) return;
    $("plate").textContent = s.plate || "";
    $("stage").textContent = s.stage_text; $("note").textContent = s.note;
    $("row-position").hidden = s.queue_position === null; $("position").textContent = s.queue_position ?? "";
    $("row-ahead").hidden = s.cars_ahead === null; $("ahead").textContent = s.cars_ahead ?? "";
    $("row-card").hidden = s.expected_card_at === null; $("card-at").textContent = s.expected_card_at ?? "";
    $("updated").textContent = s.updated_at;
    let past = true;
    for (const li of document.querySelectorAll("#steps li")) {
      const here = li.dataset.stage === s.stage || (s.finished && li.dataset.stage === "done");
      li.className = here ? "here" : (past ? "done" : "");
      if (here) past = false;
    }
    document.body.dataset.stage = s.stage;
  }
  let delay = 1000;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      "/ws/status/" + encodeURIComponent(token) + "?lang=" + encodeURIComponent(lang));
    ws.onopen = () => { delay = 1000; $("live").classList.add("on"); };
    ws.onmessage = (m) => { const msg = JSON.parse(m.data); if (msg.type === "status") show(msg.data); };
    ws.onclose = (ev) => {
      $("live").classList.remove("on");
      if (ev.code === 1000 || ev.code === 4404) return;  // the visit ended, or the link expired
      setTimeout(connect, delay); delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
