// Editor console: live send progress and confirmations. No inline scripts (the CSP forbids
// them); everything hooks onto data- attributes the templates render.
(function () {
  "use strict";

  // <form data-confirm="Question?"> asks before it submits.
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // The report's text box selects the line the importer could not read, ready to fix.
  var report = document.querySelector("textarea[data-error-line]");
  if (report) {
    var line = Number(report.getAttribute("data-error-line"));
    var lines = report.value.split("\n");
    if (line >= 1 && line <= lines.length) {
      var start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
      var end = start + lines[line - 1].length;
      // Scroll to the line as it wraps: measure the text up to it, then put the rest back.
      var full = report.value;
      report.value = full.substring(0, end);
      var bottom = report.scrollHeight; // the line's bottom edge, wrapping included
      report.value = full;
      report.scrollTop = Math.max(0, bottom - report.clientHeight / 2);
      report.setSelectionRange(start, end);
      report.focus({ preventScroll: true });
    }
  }

  // Email frames grow to the email's height; their viewport scrolls instead, so the email gets
  // its full 600 or 375 pixels (a frame's own scrollbar would take some). Same origin, so the
  // console can measure the framed document; the sandbox keeps scripts out of it.
  function fitFrame(frame) {
    try {
      var doc = frame.contentDocument;
      if (!doc || !doc.documentElement || doc.URL === "about:blank") {
        return;
      }
      doc.documentElement.style.overflow = "hidden"; // measure at the full width
      frame.style.height = doc.documentElement.scrollHeight + "px";
    } catch (error) {
      // not readable (another origin): keep the fixed height and the frame's own scrollbar
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("iframe[data-frame]"), function (frame) {
    frame.addEventListener("load", function () { fitFrame(frame); });
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") {
      fitFrame(frame);
    }
  });

  // The progress card polls DESIGN.md's progress JSON while the edition sends or is paused.
  var card = document.querySelector("[data-progress]");
  if (!card) {
    return;
  }
  var url = card.getAttribute("data-progress");
  var labels = JSON.parse(card.getAttribute("data-status-labels") || "{}");
  var POLL_MS = 1000;
  var FINAL = { sent: true, cancelled: true };

  function field(name) {
    return card.querySelector('[data-field="' + name + '"]');
  }

  function setText(name, value) {
    var el = field(name);
    if (el) {
      el.textContent = String(value);
    }
  }

  // The same rule as the edition_header macro: steps before the current one are done, except
  // "scheduled" for an edition that went out without a schedule.
  var ORDER = ["draft", "approved", "scheduled", "sending", "sent"];
  function drawSteps(status) {
    var steps = document.querySelector("[data-steps]");
    if (!steps) {
      return;
    }
    var here = status === "paused" ? 3 : ORDER.indexOf(status);
    var scheduled = steps.getAttribute("data-scheduled") === "yes";
    ORDER.forEach(function (step, index) {
      var li = steps.querySelector('[data-step="' + step + '"]');
      if (!li) {
        return;
      }
      li.className = index === here ? "current"
        : index > here || here < 0 ? ""
        : step === "scheduled" && !scheduled ? "skipped" : "done";
    });
    var stopped = steps.querySelector('[data-step="cancelled"]');
    if (stopped) {
      stopped.hidden = status !== "cancelled";
    }
  }

  // Seconds as m:ss or h:mm:ss, as the template's clock macro writes them; "—" for unknown.
  function clock(seconds) {
    if (seconds === null || seconds === undefined) {
      return "\u2014";
    }
    var s = Math.max(0, Math.round(seconds));
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    var hours = Math.floor(s / 3600);
    var minutes = Math.floor((s % 3600) / 60);
    return (hours ? hours + ":" + two(minutes) : String(minutes)) + ":" + two(s % 60);
  }

  function render(p) {
    var settled = p.sent + p.failed + p.skipped;
    var bar = field("bar");
    if (bar) {
      bar.max = Math.max(p.planned, 1);
      bar.value = settled;
    }
    setText("percent", p.planned ? Math.floor((100 * settled) / p.planned) : 0);
    ["sent", "planned", "rate_now_per_min"].forEach(function (name) { setText(name, p[name]); });
    // The six counts (and the planned total they add up to) of the counts list.
    Array.prototype.forEach.call(card.querySelectorAll("[data-count]"), function (el) {
      el.textContent = String(p[el.getAttribute("data-count")]);
    });
    setText("elapsed_s", clock(p.elapsed_s));
    setText("eta_s", clock(p.eta_s));
    var doubt = card.querySelector("[data-in-doubt]");
    if (doubt) {
      doubt.hidden = !(p.in_doubt > 0 && (p.status === "sending" || p.status === "paused"));
    }
    var badges = [field("status")].concat(
      Array.prototype.slice.call(document.querySelectorAll("[data-status-badge]"))
    );
    badges.forEach(function (badge) {
      if (badge) {
        badge.textContent = labels[p.status] || p.status;
        badge.className = "status status-" + p.status;
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-status-text]"), function (el) {
      el.textContent = labels[p.status] || p.status;
    });
    drawSteps(p.status);
    // Buttons and notes that belong to one state show only in that state.
    Array.prototype.forEach.call(document.querySelectorAll("[data-when]"), function (el) {
      el.hidden = el.getAttribute("data-when").split(" ").indexOf(p.status) < 0;
    });
    card.setAttribute("data-state", p.status);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (progress) {
        render(progress);
        if (!FINAL[progress.status]) {
          window.setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () {
        window.setTimeout(poll, POLL_MS * 5); // the server is busy or restarting: try later
      });
  }

  poll();
})();
