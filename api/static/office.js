/* Office pages: keep the open-conflicts badge current without a reload (polls a JSON endpoint). */
(function () {
  "use strict";
  var badge = document.getElementById("conflict-badge");
  if (!badge) { return; }
  function refresh() {
    fetch("/office/conflicts/count.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var n = String(data.open);
        if (badge.textContent !== n) {
          badge.textContent = n;
          badge.setAttribute("aria-label", n + " open conflicts");
          badge.classList.toggle("is-zero", data.open === 0);
        }
      })
      .catch(function () { /* offline: keep the last count */ });
  }
  window.setInterval(refresh, 3000);
})();
