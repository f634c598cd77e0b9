// Switchboard console: enhancement only; every action works without it.
// Live pages: an open Conversations Overview listens to its campaign's events, Assigned to Me to its owner's (a
// conversation given, taken, or changed by a message); on one, the page is fetched again and the listed parts
// are swapped in place.
(function () {
  "use strict";
  function live(attribute, selectors, delay) {
    var element = document.querySelector("[" + attribute + "]");
    if (!element || !window.EventSource) return;
    var pending = null;
    function refresh() {
      pending = null;
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          var page = new DOMParser().parseFromString(html, "text/html");
          selectors.forEach(function (selector) {
            var fresh = page.querySelector(selector), shown = document.querySelector(selector);
            if (fresh && shown) shown.innerHTML = fresh.innerHTML;
          });
        })
        .catch(function () {});
    }
    function later() { if (!pending) pending = setTimeout(refresh, delay); }
    var events = new EventSource(element.getAttribute(attribute));
    events.addEventListener("assignment", later);
    events.addEventListener("conversation", later);
    // A page kept for the back button must not hold its stream open: browsers allow six connections per site.
    window.addEventListener("pagehide", function () { events.close(); });
    window.addEventListener("pageshow", function (event) { if (event.persisted) window.location.reload(); });
  }
  live("data-live", ["#senders tbody", ".conversations"], 200);
  live("data-queue-live", [".filters", "[data-queue-live]", ".request"], 150);
})();

// Forms that must go once (Request Conversations, Release, Reply): a second submit while the first is on its
// way is dropped. The server's form key makes a repeat harmless anyway.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-once")) return;
    if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
    form.setAttribute("data-sent", "1");
  });
  document.querySelectorAll("[data-select]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();

// Contacts upload with progress: the file goes as the request body; while the server imports, the page polls how
// many rows it has read. Without this script the form posts as multipart and the page waits.
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload]");
  if (!form || !window.XMLHttpRequest) return;
  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[type=file]");
    if (!input.files || !input.files[0]) return;
    event.preventDefault();
    var file = input.files[0];
    var key = form.querySelector("[name=upload_key]").value;
    var bar = form.querySelector("progress"), status = form.querySelector(".upload-status");
    var button = form.querySelector("button");
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "Uploading " + file.name + "…";
    var poll = null;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("data-upload"));
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.setRequestHeader("X-CSRF-Token", form.querySelector("[name=csrf]").value);
    xhr.setRequestHeader("X-Upload-Key", key);
    xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round(50 * e.loaded / e.total);
    };
    xhr.upload.onload = function () {
      status.textContent = "Importing…";
      bar.removeAttribute("value");
      poll = setInterval(function () {
        fetch(form.getAttribute("data-upload") + "/progress?key=" + encodeURIComponent(key), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (p) { if (p && p.rows) status.textContent = "Importing… " + p.rows.toLocaleString() + " rows read"; })
          .catch(function () {});
      }, 300);
    };
    function finish(html) {
      if (poll) clearInterval(poll);
      var page = html && new DOMParser().parseFromString(html, "text/html");
      var main = page && page.querySelector("main");
      if (main) { document.querySelector("main").innerHTML = main.innerHTML; return; }
      button.disabled = false;
      bar.hidden = true;
      status.textContent = "The upload failed; nothing was imported. Try again.";
    }
    xhr.onload = function () { finish(xhr.responseText); };
    xhr.onerror = function () { finish(null); };
    xhr.send(file);
  });
})();
