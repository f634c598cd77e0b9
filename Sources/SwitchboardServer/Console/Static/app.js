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
            // A list with ticked boxes is being picked from: it stays as it is until the pick is used.
            if (shown && shown.querySelector("[data-pick]:checked")) return;
            if (fresh && shown) shown.innerHTML = fresh.innerHTML;
          });
        })
        .catch(function () {});
    }
    function later() { if (!pending) pending = setTimeout(refresh, delay); }
    var events = new EventSource(element.getAttribute(attribute));
    function heard(type) {
      return function (event) {
        later();
        document.dispatchEvent(new CustomEvent("switchboard-event", { detail: { type: type, data: event.data } }));
      };
    }
    events.addEventListener("assignment", heard("assignment"));
    events.addEventListener("conversation", heard("conversation"));
    // A page kept for the back button must not hold its stream open: browsers allow six connections per site.
    window.addEventListener("pagehide", function () { events.close(); });
    window.addEventListener("pageshow", function (event) { if (event.persisted) window.location.reload(); });
  }
  live("data-live", ["#senders tbody", ".conversations", "#needs-reply-ages"], 200);
  live("data-queue-live", [".filters", "[data-queue-live]", ".request"], 150);
  live("data-requests-live", ["#requests"], 200);
})();

// Browser notifications on the texter's Assigned to Me, after they opt in with a click (never asked on load): a
// conversation assigned to them, a contact's reply, a request denied; only while the tab is not in front.
(function () {
  "use strict";
  var button = document.querySelector("[data-notify]");
  var state = document.querySelector("[data-notify-state]");
  if (!button || !window.Notification || !document.querySelector("[data-queue-live]")) return;
  function show() {
    button.hidden = Notification.permission !== "default";
    state.textContent = Notification.permission === "granted" ? "Notifications are on while this page is open."
      : Notification.permission === "denied" ? "Notifications are blocked for this site in your browser." : "";
  }
  show();
  button.addEventListener("click", function () {
    var asked = Notification.requestPermission(show);
    if (asked && asked.then) asked.then(show);
  });
  document.addEventListener("switchboard-event", function (event) {
    if (Notification.permission !== "granted" || (document.visibilityState === "visible" && document.hasFocus())) return;
    var data = {};
    try { data = JSON.parse(event.detail.data); } catch (e) { return; }
    var text = null;
    if (event.detail.type === "assignment" && data.received > 0) {
      text = data.received === 1 ? "A conversation was assigned to you." : data.received + " conversations were assigned to you.";
    } else if (data.kind === "reply") {
      text = "A contact replied.";
    } else if (data.kind === "request_denied") {
      text = "Your request for conversations was denied.";
    }
    if (text) new Notification("Switchboard", { body: text, tag: "switchboard-" + (data.batch_id || data.conversation_id || data.kind) });
  });
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

// Picking conversations on the overview's list: Shift+Click ticks a range, "Select all N matching" reaches past
// the page, and the forms above (Reassign All, Reassign Some, Unassign All) then act on what is picked and say so.
// Without this script the list's own form acts on the ticked boxes, and the forms above on the filter bar.
(function () {
  "use strict";
  var form = document.querySelector("[data-pick-form]");
  if (!form) return;
  var last = null;
  var all = form.querySelector("[data-all-matching]");
  var status = form.querySelector("[data-selection-status]");
  var selectAll = form.querySelector("[data-select-all]");
  var matching = selectAll ? parseInt(selectAll.getAttribute("data-select-all"), 10) : 0;
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll("[data-pick]")); }
  function picked() { return boxes().filter(function (box) { return box.checked; }); }
  function update() {
    var ids = picked().map(function (box) { return box.value; });
    var everything = all.value === "1";
    var text = everything ? "All " + matching + " matching conversations are selected."
      : ids.length === 0 ? "Tick conversations to act on some of them (Shift+Click ticks a range)."
      : ids.length + (ids.length === 1 ? " conversation" : " conversations") + " selected.";
    status.textContent = text;
    if (selectAll) selectAll.hidden = everything || matching <= boxes().length && ids.length === boxes().length;
    document.querySelectorAll("form [data-picked]").forEach(function (holder) {
      holder.innerHTML = "";
      var scope = holder.parentNode.querySelector("[data-scope]");
      if (!everything) {
        ids.forEach(function (id) {
          var input = document.createElement("input");
          input.type = "hidden"; input.name = "conversation_ids"; input.value = id;
          holder.appendChild(input);
        });
      }
      if (scope && (ids.length > 0 || everything)) {
        if (!scope.hasAttribute("data-original")) scope.setAttribute("data-original", scope.textContent);
        scope.textContent = everything ? "Acts on all " + matching + " matching." : "Acts on " + ids.length + " selected.";
        scope.hidden = false;
      } else if (scope && scope.hasAttribute("data-original")) {
        scope.textContent = scope.getAttribute("data-original");
        scope.hidden = scope.textContent === "";
      }
    });
  }
  document.addEventListener("click", function (event) {
    var box = event.target;
    if (!box.hasAttribute || !box.hasAttribute("data-pick")) return;
    all.value = "";
    if (event.shiftKey && last && last !== box) {
      var list = boxes(), from = list.indexOf(last), to = list.indexOf(box);
      var low = Math.min(from, to), high = Math.max(from, to);
      for (var i = low; i <= high; i++) list[i].checked = box.checked;
    }
    last = box;
    update();
  });
  if (selectAll) {
    selectAll.hidden = false;
    selectAll.addEventListener("click", function () {
      boxes().forEach(function (box) { box.checked = true; });
      all.value = "1";
      update();
    });
  }
  update();
})();
