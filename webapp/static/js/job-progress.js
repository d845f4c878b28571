// Admin console: a background job's progress bar (a CSV import or export). No inline scripts
// (the CSP forbids them): the page renders data-job-progress with the status JSON's URL. When
// the job is no longer pending the page is reloaded to show the result. Without JavaScript
// the page refreshes itself (a <noscript> meta refresh) and has a Refresh link.
(function () {
  "use strict";
  var box = document.querySelector("[data-job-progress]");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-job-progress");
  var bar = box.querySelector("[data-job-bar]");
  var done = box.querySelector("[data-job-done]");
  var total = box.querySelector("[data-job-total]");

  function show(status) {
    bar.max = Math.max(status.total, 1);
    bar.value = status.done;
    done.textContent = String(status.done);
    total.textContent = String(status.total);
    if (status.status !== "pending") {
      window.location.reload();
      return;
    }
    window.setTimeout(poll, 1000);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(show)
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 1000);
})();
