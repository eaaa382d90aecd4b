// fieldkit page script: quick exit, live skip logic, saving with a timeout and retry.
// Everything also works without it; the server re-checks every answer.
(function () {
  "use strict";
  var exitLink = function () { return document.getElementById("quick-exit"); };

  // Local first: the screen and this history entry are cleared before the kit hears of
  // it, so a dead link changes nothing; the kit is told as soon as it answers.
  function quickExit(event) {
    var link = exitLink();
    if (!link) { return; }
    if (event) { event.preventDefault(); }
    saving = null;  // a page still being saved is not shown after this
    window.clearTimeout(retry);
    document.body.hidden = true;
    document.title = "";
    history.replaceState(null, "", link.href);
    (function tell() {
      send(link.href, null).then(show, function () { window.setTimeout(tell, 3000); });
    }());
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { quickExit(event); }
  });
  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "quick-exit") { quickExit(event); }
  });

  // -- skip logic: evaluates the JSON conditions written by fieldkit/web/conditions.py --
  function answer(form, name) {
    var fields = form.querySelectorAll("[name='" + name + "']");
    var picked = [], i, f;
    for (i = 0; i < fields.length; i++) {
      f = fields[i];
      if (f.disabled) { continue; }
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked) { picked.push(f.value); }
      } else if (f.value.trim() !== "") { picked.push(f.value.trim()); }
    }
    picked = picked.filter(function (v) { return v !== "prefer_not" && v !== "dont_know"; });
    if (fields.length && fields[0].type === "checkbox" && fields[0].value !== "prefer_not" && fields[0].value !== "dont_know") {
      return picked.length ? picked : null;
    }
    if (!picked.length) { return null; }
    var v = picked[0];
    if (/^-?\d+(\.\d+)?$/.test(v)) { return Number(v); }
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) { return new Date(v + "T00:00:00Z"); }
    return v;
  }

  function today() { var d = new Date(); return new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate())); }
  function num(v) { return v instanceof Date ? v.getTime() / 864e5 : v; }

  function ev(n, form) {
    var a, b;
    switch (n[0]) {
      case "lit": return n[1];
      case "date": return new Date(n[1] + "T00:00:00Z");
      case "list": return n[1];
      case "ref": return answer(form, n[1]);
      case "today": return today();
      case "not": return !(ev(n[1], form) === true);
      case "and": return n[1].every(function (x) { return ev(x, form) === true; });
      case "or": return n[1].some(function (x) { return ev(x, form) === true; });
      case "neg": a = ev(n[1], form); return a === null ? null : -a;
      case "sel": a = ev(n[1], form); return Array.isArray(a) && a.indexOf(n[2]) >= 0;
      case "count": a = ev(n[1], form); return Array.isArray(a) ? a.length : 0;
      case "in":
        a = ev(n[1], form);
        if (a === null) { return false; }
        return (ev(n[2], form).indexOf(a) >= 0) !== n[3];
      case "cmp":
        a = ev(n[2], form); b = ev(n[3], form);
        if (a === null || b === null) { return false; }
        a = num(a); b = num(b);
        switch (n[1]) {
          case "==": return a === b; case "!=": return a !== b;
          case "<": return a < b; case "<=": return a <= b;
          case ">": return a > b; default: return a >= b;
        }
      case "math":
        a = ev(n[2], form); b = ev(n[3], form);
        if (a === null || b === null) { return null; }
        a = num(a); b = num(b);
        if (n[1] === "+") { return a + b; }
        if (n[1] === "-") { return a - b; }
        if (n[1] === "*") { return a * b; }
        return b === 0 ? null : a / b;
    }
    return null;
  }

  function applySkipLogic() {
    var form = document.querySelector("form[data-save]");
    if (!form) { return; }
    var blocks = form.querySelectorAll("[data-when]"), i, show, inputs, j;
    for (i = 0; i < blocks.length; i++) {
      try { show = ev(JSON.parse(blocks[i].getAttribute("data-when")), form) === true; } catch (e) { show = true; }
      blocks[i].hidden = !show;
      inputs = blocks[i].querySelectorAll("input, textarea, select");
      for (j = 0; j < inputs.length; j++) { inputs[j].disabled = !show; }
    }
  }
  document.addEventListener("change", applySkipLogic);
  document.addEventListener("input", applySkipLogic);

  // -- saving: every attempt sends the page as it is now; the inputs stay editable --
  function send(url, body) {
    var stop = new AbortController(), timer = window.setTimeout(function () { stop.abort(); }, 8000);
    return fetch(url, { method: body ? "POST" : "GET", body: body, credentials: "same-origin",
      headers: { "Fk-Save": "1" }, signal: stop.signal }).then(function (response) {
      window.clearTimeout(timer);
      var where = response.headers.get("Fk-Url") || (response.redirected && response.url);
      return response.text().then(function (html) { if (where) { history.replaceState(null, "", where); } return html; });
    }, function (error) { window.clearTimeout(timer); throw error; });
  }

  function show(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    document.title = doc.title;
    document.documentElement.setAttribute("lang", doc.documentElement.getAttribute("lang") || "en");
    document.documentElement.setAttribute("dir", doc.documentElement.getAttribute("dir") || "ltr");
    document.body.replaceWith(document.adoptNode(doc.body));
    window.scrollTo(0, 0);  // a new page starts at its top, as a loaded one does
    ready();
  }

  var saving = null, retry = 0;
  function attempt() {
    if (!saving) { return; }
    var job = saving, n = ++job.n, status = document.getElementById("save-status"), body = new FormData(job.form);
    var mine = function () { return saving === job && job.n === n; };  // the latest attempt only
    window.clearTimeout(retry);
    body.append("action", job.action);
    if (n === 1) { status.textContent = status.getAttribute("data-saving"); }
    send(window.location.href, body).then(function (html) {
      if (mine()) { saving = null; show(html); }
    }, function () {
      if (!mine()) { return; }
      if (!status.querySelector("button")) {  // stays until the page is saved
        var again = document.createElement("button");
        status.textContent = status.getAttribute("data-retrying") + " ";
        again.type = "button";
        again.className = "secondary";
        again.textContent = status.getAttribute("data-try");
        again.onclick = attempt;
        status.appendChild(again);
      }
      retry = window.setTimeout(attempt, job.delay);
      job.delay = Math.min(job.delay * 2, 8000);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-save") || !window.fetch || !window.AbortController) { return; }
    event.preventDefault();
    // A second tap, or the other button, starts again at once with what the page holds now.
    saving = { form: form, action: (event.submitter && event.submitter.value) || "next", delay: 1000, n: 0 };
    attempt();
  });

  function ready() {
    applySkipLogic();
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("DOMContentLoaded", ready);
}());
