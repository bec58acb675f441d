"use strict";
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = document.getElementById("login-error");
  err.textContent = "";
  const body = { username: document.getElementById("username").value.trim(),
                 password: document.getElementById("password").value };
  const res = await fetch("/api/v1/auth/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.ok) {
    const next = new URLSearchParams(location.search).get("next") || "/";
    location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/";
    return;
  }
  let msg = "HTTP " + res.status;
  try { msg = (await res.json()).detail || msg; } catch (e) { /* not JSON */ }
  err.textContent = msg;
});
