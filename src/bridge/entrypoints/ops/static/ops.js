// Live refresh: an element with data-refresh="URL" is reloaded from that HTML fragment every
// data-every milliseconds, while the tab is visible. Nothing else runs here.
"use strict";
(function () {
  function refresh(element) {
    if (document.hidden) return;
    // Not while someone types in a form inside it (a pause reason): it would be wiped.
    var typing = document.activeElement;
    if (typing && typing.tagName === "INPUT" && element.contains(typing)) return;
    fetch(element.dataset.refresh, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 303) {
          window.location.reload();  // the session ended: show the sign-in page
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) element.innerHTML = html; })
      .catch(function () { element.classList.add("stale"); });
  }
  document.querySelectorAll("[data-refresh]").forEach(function (element) {
    var every = parseInt(element.dataset.every || "5000", 10);
    window.setInterval(function () { refresh(element); }, every);
  });
})();
