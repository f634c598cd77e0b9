// Switchboard console: enhancement only; every action works without it.
// Live counts: an open Conversations Overview listens to its campaign's events and refreshes its Senders table.
(function () {
  "use strict";
  var overview = document.querySelector("[data-live]");
  if (!overview || !window.EventSource) return;
  var pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.querySelector("#senders tbody");
        var current = document.querySelector("#senders tbody");
        if (fresh && current) current.innerHTML = fresh.innerHTML;
        var list = page.querySelector(".conversations");
        var shown = document.querySelector(".conversations");
        if (list && shown) shown.innerHTML = list.innerHTML;
      })
      .catch(function () {});
  }
  var events = new EventSource(overview.getAttribute("data-live"));
  events.addEventListener("assignment", function () {
    if (!pending) pending = setTimeout(refresh, 200);
  });
  // A page kept for the back button must not hold its stream open: browsers allow six connections per site.
  window.addEventListener("pagehide", function () { events.close(); });
  window.addEventListener("pageshow", function (event) { if (event.persisted) window.location.reload(); });
})();
