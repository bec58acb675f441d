"use strict";
// Where to go after logging in: a path of this site only. "/\\evil.example", "//evil", "https:..."
// and the like resolve to another origin (browsers read a backslash as a slash) and go to "/".
function localPath(next) {
  if (!next || next[0] !== "/") return "/";
  let url;
  try { url = new URL(next, location.origin); } catch (e) { return "/"; }
  if (url.origin !== location.origin || /[\\\u0000-\u001f]/.test(next) || next.startsWith("//")) return "/";
  return url.pathname + url.search + url.hash;
}
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = document.getElementById("login-error");
  err.textContent = "";
  const body = { username: document.getElementById("username").value.trim(),
                 password: document.getElementById("password").value };
  const res = await fetch("/api/v1/auth/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.ok) {
    location.href = localPath(new URLSearchParams(location.search).get("next"));
    return;
  }
  let data = {};
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  const t = Lajur.t;
  err.textContent = data.reason === "bad_credentials" ? t("Wrong username or password.")
    : data.reason === "rate_limited" ? t("Too many failed logins; try again in %(s)s s.", { s: res.headers.get("Retry-After") || "?" })
    : (data.detail || "HTTP " + res.status);
});
// The other language, keeping where to go after logging in.
(() => {
  const link = document.getElementById("lang"), next = new URLSearchParams(location.search).get("next");
  if (next) link.href += "&next=" + encodeURIComponent(next);
})();
