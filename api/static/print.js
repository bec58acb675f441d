// The printable report: its Print button (the page itself has no other script).
"use strict";
document.getElementById("print").addEventListener("click", () => window.print());
