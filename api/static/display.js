// Driver display: what the lane controller shows at this station, live. No personal data beyond the plate.
"use strict";
(() => {
  const [, , lane, station] = location.pathname.split("/").map(decodeURIComponent);
  // The station's name and the lane come rendered with the page, in both languages.
  const $ = (id) => document.getElementById(id);

  function rupiah(n) { return "Rp" + String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "."); }

  // The whole plate, always: as large as the screen allows (11vh at most), smaller for a long plate
  // on a narrow or portrait screen.
  function fitPlate() {
    const p = $("plate"), row = p.parentElement;
    if (p.hidden) return;
    let size = window.innerHeight * 0.11;
    p.style.fontSize = size + "px";
    while ((p.scrollWidth > p.clientWidth || p.offsetWidth > row.clientWidth) && size > 8) {
      size *= 0.92; p.style.fontSize = size + "px";
    }
  }
  window.addEventListener("resize", fitPlate);

  function show(m) {
    if (!m) return;
    $("text-id").textContent = m.text_id; $("text-en").textContent = m.text_en;
    $("signal").className = "light " + (m.signal || "");
    $("plate").hidden = !m.plate; $("plate").textContent = m.plate || "";
    fitPlate();
    const fee = m.step === "pay" && m.fee;
    $("fee").hidden = !fee; $("fee").textContent = fee ? rupiah(m.fee) : "";
    // The fee is shown big on its own; keep the sentence short.
    if (fee) { $("text-id").textContent = m.text_id.split(":")[0]; $("text-en").textContent = m.text_en.split(":")[0]; }
    document.body.dataset.step = m.step;
  }

  let delay = 500;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      "/ws/display/" + encodeURIComponent(lane) + "/" + encodeURIComponent(station));
    ws.onopen = () => { delay = 500; $("conn").classList.add("on"); };
    ws.onmessage = (ev) => { const msg = JSON.parse(ev.data); if (msg.type === "display") show(msg.data); };
    ws.onclose = () => { $("conn").classList.remove("on"); setTimeout(connect, delay); delay = Math.min(delay * 2, 10000); };
  }
  connect();
})();
