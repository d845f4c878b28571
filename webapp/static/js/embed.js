/* yuebao's subscribe form for the firm's own site.
 *
 *   <script src="BASE_URL/embed.js" data-lang="zh-CN" async></script>
 *
 * Draws the form inside a shadow root attached to a <div> of its own, placed right after the
 * script tag, so the host page's CSS cannot reach it. Everything it shows (topics, consent
 * text, labels, messages, colours) comes from BASE_URL/api/v1/public/form in the chosen
 * language; it posts JSON to BASE_URL/api/v1/public/subscriptions. No cookies: every request
 * is made with credentials omitted. The reader then confirms from the email (double opt-in).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) {
    var found = document.querySelectorAll('script[src*="embed.js"]:not([data-yuebao-done])');
    script = found[found.length - 1];
  }
  if (!script || script.getAttribute("data-yuebao-done")) { return; }
  script.setAttribute("data-yuebao-done", "1");

  var base = script.src.replace(/embed\.js(\?.*)?$/, "");
  var lang = script.getAttribute("data-lang") === "en" ? "en" : "zh-CN";
  // Only when the server cannot be reached, so none of its translated words can be had.
  var OFFLINE = { "zh-CN": "前往订阅页面", "en": "Subscribe on our site" };

  var host = document.createElement("div");
  host.className = "yuebao-subscribe";
  host.setAttribute("lang", lang);
  script.parentNode.insertBefore(host, script.nextSibling);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function colour(value, fallback) {
    return /^#[0-9a-fA-F]{3,8}$/.test(value || "") ? value : fallback;
  }

  function style(colours) {
    var primary = colour(colours && colours.primary, "#1f2d44");
    var accent = colour(colours && colours.accent, "#9a3b26");
    return [
      ":host { all: initial; display: block; }",
      ".yb { font: 16px/1.5 system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif;",
      "  color: #1b1b1b; background: #fff; border: 1px solid #d0d4da; border-top: 4px solid " + primary + ";",
      "  border-radius: 6px; padding: 1rem 1.25rem; max-width: 36rem; box-sizing: border-box; }",
      "h2 { font-size: 1.2rem; margin: 0 0 .75rem; color: " + primary + "; }",
      "label { display: block; margin: .5rem 0 .2rem; font-weight: 600; }",
      "input[type=email], input[type=text], select { font: inherit; width: 100%; box-sizing: border-box;",
      "  padding: .4rem .5rem; border: 1px solid #8a9099; border-radius: 4px; }",
      "fieldset { border: 0; padding: 0; margin: .75rem 0; }",
      "legend { font-weight: 600; padding: 0; }",
      ".topic { display: flex; gap: .5rem; align-items: flex-start; margin: .35rem 0; font-weight: 400; }",
      ".topic small { display: block; color: #4a4f57; }",
      ".consent { display: flex; gap: .5rem; align-items: flex-start; font-weight: 400; font-size: .9rem; }",
      ".hp { position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }",
      "button { font: inherit; font-weight: 600; color: #fff; background: " + primary + "; border: 0;",
      "  border-radius: 4px; padding: .5rem 1.25rem; margin-top: .75rem; cursor: pointer; }",
      "button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid " + accent + "; outline-offset: 2px; }",
      "button[disabled] { opacity: .7; cursor: wait; }",
      ".msg { margin: .75rem 0 0; }",
      ".msg.error { color: #a4161a; font-weight: 600; }",
      ".msg.ok { color: " + primary + "; font-weight: 600; }",
      "a { color: " + primary + "; }"
    ].join("\n");
  }

  function offline() {
    root.appendChild(el("style", {}, style(null)));
    var box = el("div", { "class": "yb" });
    box.appendChild(el("a", { href: base + "?lang=" + encodeURIComponent(lang) }, OFFLINE[lang]));
    root.appendChild(box);
  }

  function render(form) {
    root.appendChild(el("style", {}, style(form.colours)));
    var box = el("div", { "class": "yb" });
    var f = el("form", { novalidate: "" });
    var uid = "yb" + Math.random().toString(36).slice(2, 8);
    box.appendChild(el("h2", {}, form.labels.title));

    f.appendChild(el("label", { "for": uid + "-email" }, form.labels.email));
    var email = el("input", { type: "email", id: uid + "-email", name: "email", required: "",
                              autocomplete: "email", maxlength: "254" });
    f.appendChild(email);
    f.appendChild(el("label", { "for": uid + "-name" }, form.labels.name));
    var name = el("input", { type: "text", id: uid + "-name", name: "name",
                             autocomplete: "name", maxlength: "200" });
    f.appendChild(name);

    var topics = el("fieldset");
    topics.appendChild(el("legend", {}, form.labels.topics));
    form.topics.forEach(function (topic) {
      var row = el("label", { "class": "topic" });
      row.appendChild(el("input", { type: "checkbox", name: "topics", value: topic.slug }));
      var words = el("span", {}, topic.name);
      if (topic.description) { words.appendChild(el("small", {}, topic.description)); }
      row.appendChild(words);
      topics.appendChild(row);
    });
    f.appendChild(topics);

    f.appendChild(el("label", { "for": uid + "-language" }, form.labels.language));
    var language = el("select", { id: uid + "-language", name: "language" });
    form.languages.forEach(function (choice) {
      var option = el("option", { value: choice.code, lang: choice.code }, choice.label);
      if (choice.code === form.lang) { option.selected = true; }
      language.appendChild(option);
    });
    f.appendChild(language);

    var honeypot = el("div", { "class": "hp", "aria-hidden": "true" });
    honeypot.appendChild(el("label", { "for": uid + "-website" }, form.labels.honeypot));
    var website = el("input", { type: "text", id: uid + "-website", name: "website",
                                tabindex: "-1", autocomplete: "off" });
    honeypot.appendChild(website);
    f.appendChild(honeypot);

    var consentRow = el("label", { "class": "consent" });
    var consent = el("input", { type: "checkbox", name: "consent", required: "" });
    consentRow.appendChild(consent);
    consentRow.appendChild(el("span", {}, form.consent.text));
    f.appendChild(consentRow);

    var submit = el("button", { type: "submit" }, form.labels.submit);
    f.appendChild(submit);
    var message = el("p", { "class": "msg", role: "status", "aria-live": "polite" });
    f.appendChild(message);
    box.appendChild(f);
    root.appendChild(box);

    function say(code, ok) {
      message.textContent = form.messages[code] || form.messages.error;
      message.className = "msg " + (ok ? "ok" : "error");
    }

    f.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = Array.prototype.map.call(
        f.querySelectorAll("input[name=topics]:checked"), function (box) { return box.value; });
      if (!email.value.trim() || !email.checkValidity()) { say("invalid_email"); email.focus(); return; }
      if (!chosen.length) { say("no_topics"); return; }
      if (!consent.checked) { say("no_consent"); consent.focus(); return; }
      submit.disabled = true;
      message.className = "msg";
      message.textContent = form.labels.sending;
      fetch(base + "api/v1/public/subscriptions", {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          email: email.value.trim(),
          name: name.value.trim() || null,
          topics: chosen,
          language: language.value,
          consent_version: form.consent.version,
          website: website.value
        })
      }).then(function (response) {
        if (response.status === 202) {
          say("accepted", true);
          f.querySelectorAll("input, select, button").forEach(function (n) { n.disabled = true; });
          return;
        }
        submit.disabled = false;
        return response.json().then(function (body) {
          var error = (body && body.error) || {};
          var fields = (error.details && error.details.fields) || {};
          if (fields.email) { say("invalid_email"); }
          else if (fields.topics) { say("no_topics"); }
          else { say(error.code || "error"); }
        }, function () { say("error"); });
      }, function () {
        submit.disabled = false;
        say("error");
      });
    });
  }

  fetch(base + "api/v1/public/form?lang=" + encodeURIComponent(lang), { credentials: "omit" })
    .then(function (response) {
      if (!response.ok) { throw new Error("form " + response.status); }
      return response.json();
    })
    .then(render, offline);
})();
