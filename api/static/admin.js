// Accounts (admins): add, change role, reset password, disable and enable; every form a dialog of the page.
"use strict";
(async () => {
  const { api, toast, el, t } = Lajur;
  const me = await Lajur.header("/admin");
  const $ = (id) => document.getElementById(id);
  const dlg = $("account-dialog");
  const FIELDS = ["username", "full_name", "role", "password"];

  // A password an officer can type from a slip: no look-alike characters.
  function generate() {
    const chars = "abcdefghjkmnpqrstuvwxyz23456789";
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => chars[b % chars.length]).join("");
  }

  // One dialog for every form: shows the fields asked for, sends, and stays open with the refusal.
  function form(title, what, fields, values, send) {
    $("account-title").textContent = title;
    $("account-what").textContent = what;
    for (const f of FIELDS) dlg.querySelector(`[data-field="${f}"]`).hidden = !fields.includes(f);
    $("f-username").value = values.username || ""; $("f-name").value = values.full_name || "";
    $("f-role").value = values.role || "officer"; $("f-password").value = values.password || "";
    $("f-error").textContent = "";
    const ok = $("f-ok");
    ok.textContent = values.ok || t("Save");
    ok.onclick = async (ev) => {
      ev.preventDefault();
      const v = { username: $("f-username").value.trim(), full_name: $("f-name").value.trim(),
        role: $("f-role").value, password: $("f-password").value };
      if (fields.includes("username") && !/^[a-z0-9][a-z0-9_.-]{1,63}$/.test(v.username)) {
        $("f-error").textContent = t("Username: 2–64 lower-case letters, digits, dot, dash or underscore."); return; }
      if (fields.includes("password") && v.password.length < 8) {
        $("f-error").textContent = t("The password needs at least 8 characters."); return; }
      ok.disabled = true;
      try { await send(v); dlg.close(); load(); }
      catch (e) {
        $("f-error").textContent = e.reason === "last_admin" ? t("The last active admin cannot be demoted or disabled.")
          : e.reason === "conflict" ? t("This username is taken.") : e.message;
      }
      finally { ok.disabled = false; }
    };
    $("f-cancel").onclick = () => dlg.close();
    dlg.showModal();
    const first = fields.map((f) => ({ username: "f-username", full_name: "f-name", role: "f-role", password: "f-password" })[f])[0];
    if (first) $(first).focus();
  }
  $("f-generate").addEventListener("click", () => { $("f-password").value = generate(); $("f-password").select(); });

  const patch = (a, body) => api("PATCH", "/api/v1/users/" + encodeURIComponent(a.username), body);

  function add() {
    form(t("Add account"), t("The new officer logs in with this username and password."), FIELDS,
      { password: generate(), ok: t("Add") }, async (v) => {
        await api("POST", "/api/v1/users", { username: v.username, role: v.role, password: v.password,
          full_name: v.full_name || null });
        toast(t("%(user)s added (%(role)s)", { user: v.username, role: t(v.role) }), true);
      });
  }

  function role(a) {
    form(t("Role of %(user)s", { user: a.username }), t("A new role ends the account's sessions: it logs in again."), ["role"], { role: a.role },
      async (v) => { await patch(a, { role: v.role }); toast(`${a.username}: ${t(v.role)}`, true); });
  }

  function password(a) {
    form(t("New password for %(user)s", { user: a.username }), t("Give it to the officer; their sessions end now."), ["password"],
      { password: generate(), ok: t("Set password") },
      async (v) => { await patch(a, { password: v.password }); toast(t("%(user)s: password set", { user: a.username }), true); });
  }

  function toggle(a) {
    const disable = !a.disabled;
    form(disable ? t("Disable %(user)s", { user: a.username }) : t("Enable %(user)s", { user: a.username }),
      disable ? t("The account can no longer log in; its sessions end now. Nothing it did is removed.") :
        t("The account can log in again with its password."), [], { ok: disable ? t("Disable") : t("Enable") },
      async () => {
        await patch(a, { disabled: disable });
        toast(disable ? t("%(user)s disabled", { user: a.username }) : t("%(user)s enabled", { user: a.username }), true);
      });
  }

  async function load() {
    let accounts;
    try { accounts = await api("GET", "/api/v1/users"); } catch (e) { toast(e.message); return; }
    $("accounts").querySelector("tbody").replaceChildren(...accounts.map((a) => el("tr", { "data-user": a.username },
      el("td", {}, a.username, a.username === me.username ? el("span", { class: "muted" }, " (" + t("you") + ")") : ""),
      el("td", {}, a.full_name || "—"),
      el("td", {}, el("span", { class: "stage", "data-role": a.role }, t(a.role))),
      el("td", {}, el("span", { class: "chip " + (a.disabled ? "off" : "on") }, a.disabled ? t("disabled") : t("active"))),
      el("td", { class: "num" }, Lajur.day(a.created_at)),
      el("td", {}, el("div", { class: "actions" },
        el("button", { class: "small", "data-act": "role", onclick: () => role(a) }, t("Role")),
        el("button", { class: "small", "data-act": "password", onclick: () => password(a) }, t("Reset password")),
        el("button", { class: "small" + (a.disabled ? "" : " danger"), "data-act": "toggle", onclick: () => toggle(a) },
          a.disabled ? t("Enable") : t("Disable")))))));
  }
  $("add-account").addEventListener("click", add);
  load();
})();
