// fieldkit page script: quick exit, live skip logic, saving with a timeout and retry.
// Everything also works without it; the server re-checks every answer.
(function () {
  "use strict";
  // Skip logic runs here, so the no-script "answer only if" cues are hidden (kit.css: .js .cue).
  document.documentElement.classList.add("js");
  var exitLink = function () { return document.getElementById("quick-exit"); };

  // Local first: the screen and this history entry are cleared before the kit hears of
  // it, so a dead link changes nothing; the kit is told as soon as it answers.
  function quickExit(event) {
    var link = exitLink();
    if (!link) { return; }
    if (event) { event.preventDefault(); }
    if (saving && saving.stop) { saving.stop.abort(); }
    saving = null;  // a page still being saved is not shown after this
    clearTimeout(retry);
    document.body.hidden = true;
    document.title = "";
    history.replaceState(null, "", link.href);
    (function tell() { send(link.href).then(show, function () { setTimeout(tell, 3000); }); }());
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
    var blocks = form.querySelectorAll("[data-when]"), i, b, show, inputs, j;
    for (i = 0; i < blocks.length; i++) {
      b = blocks[i];
      try { show = ev(JSON.parse(b.getAttribute("data-when")), form) === true; } catch (e) { show = true; }
      // A drop-down's choice that a choice_filter leaves out can be neither picked nor sent, so it is
      // disabled and let go (on a question's div or a choice's label both words change nothing).
      b.hidden = b.disabled = !show;
      if (!show) { b.selected = false; }
      inputs = b.querySelectorAll("input, textarea, select");
      for (j = 0; j < inputs.length; j++) { inputs[j].disabled = !show; }
    }
  }
  document.addEventListener("change", applySkipLogic);
  document.addEventListener("input", applySkipLogic);

  // -- saving: each try sends the page as it is now, gives up after 8 s; inputs stay editable --
  function send(url, body, stop) {
    stop = stop || new AbortController();
    var timer = setTimeout(function () { stop.abort(); }, 8000);
    return fetch(url, { method: body ? "POST" : "GET", body: body, headers: { "Fk-Save": "1" }, signal: stop.signal })
      .then(function (response) {
        // The kit answers with the next page itself and names it: one round trip per Next.
        var where = response.headers.get("Fk-Url") || (response.redirected && response.url);
        return response.text().then(function (html) { return { html: html, where: where }; });
      }).finally(function () { clearTimeout(timer); });
  }

  function show(page) {
    var doc = new DOMParser().parseFromString(page.html, "text/html"), root = document.documentElement;
    if (page.where) { history.replaceState(null, "", page.where); }
    document.title = doc.title;
    root.lang = doc.documentElement.lang || "en";
    root.dir = doc.documentElement.dir || "ltr";
    document.body.replaceWith(document.adoptNode(doc.body));
    scrollTo(0, 0);
    ready();
  }

  var saving = null, retry = 0;
  function attempt() {
    var job = saving, n, edits, status, body, again;
    if (!job) { return; }
    n = ++job.n;  // only the latest try of the latest tap may show its answer
    edits = job.edits;
    status = document.getElementById("save-status");
    body = new FormData(job.form);
    body.append("action", job.action);
    clearTimeout(retry);
    // An older try still under way is dropped, so that it cannot reach the kit after this one.
    if (job.stop) { job.stop.abort(); }
    job.stop = new AbortController();
    if (n === 1) { status.textContent = status.getAttribute("data-saving"); }
    send(job.url, body, job.stop).then(function (page) {
      if (saving !== job || job.n !== n) { return; }
      // Changed while this try was on its way: send the page again, as it is now.
      if (job.edits !== edits) { attempt(); return; }
      saving = null;
      show(page);
    }, function () {
      if (saving !== job || job.n !== n) { return; }
      if (!status.querySelector("button")) {
        status.textContent = status.getAttribute("data-retrying") + " ";
        again = status.appendChild(document.createElement("button"));
        again.type = "button";
        again.className = "secondary";
        again.textContent = status.getAttribute("data-try");
        again.onclick = attempt;
      }
      retry = setTimeout(attempt, job.delay);
      job.delay = Math.min(job.delay * 2, 8000);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-save") || !window.fetch || !window.AbortController) { return; }
    event.preventDefault();
    // Another tap, or the other button, tries again at once with what the page holds now.
    if (saving && saving.stop) { saving.stop.abort(); }
    saving = { form: form, url: location.href, action: (event.submitter && event.submitter.value) || "next",
      delay: 1000, n: 0, edits: 0 };
    attempt();
  });
  document.addEventListener("input", function (event) {
    if (saving && saving.form.contains(event.target)) { saving.edits++; }
  });

  // -- the centre picker's search, by the kit's rule (fieldkit/kit/web/centres.py search_key):
  // NFKC, no invisible formatting characters, white space collapsed, case folded.
  var cf;
  try { cf = new RegExp("\\p{Cf}", "gu"); } catch (e) { cf = /[\u200b-\u200f\u2060\ufeff]/g; }
  function key(t) { return t.normalize("NFKC").replace(cf, "").trim().split(/\s+/).join(" ").toLowerCase(); }
  function filterCentres(box) {
    var w = key(box.value), shown = 0, none = document.getElementById("no-match");
    document.querySelectorAll("#centre-list [data-region]").forEach(function (g) {
      var n = 0;
      g.querySelectorAll("[data-match]").forEach(function (c) {
        var hit = c.getAttribute("data-match").indexOf(w) >= 0;
        c.hidden = !hit;
        if (hit) { n++; } else { c.firstChild.checked = false; }  // nothing hidden is sent
      });
      g.hidden = !n;
      shown += n;
    });
    if (none) { none.hidden = shown > 0; }
  }
  document.addEventListener("input", function (e) { if (e.target.id === "centre-q") { filterCentres(e.target); } });
  document.addEventListener("submit", function (e) {
    // The page holds the whole list unless the kit filtered it (#centre-count): then the kit searches.
    if (e.target.hasAttribute("data-centre-search") && !document.getElementById("centre-count")) {
      e.preventDefault();
      filterCentres(document.getElementById("centre-q"));
    }
  });
  function ready() {
    applySkipLogic();
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("DOMContentLoaded", ready);
}());
