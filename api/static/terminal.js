/* floorledger work-centre terminal.
 *
 * Every action is posted to the JSON API with the terminal session cookie and the page's
 * CSRF token. Each action is first written to localStorage with its Idempotency-Key and the
 * time it happened (`at`), then sent in order; when the server cannot be reached the actions
 * wait there (a badge counts them) and are sent, in order, once it answers again. The server
 * records a retried key once, so nothing is recorded twice.
 */
(function () {
  "use strict";

  var STORE = "floorledger.pending";
  var RECEIPT = "floorledger.receipt";
  var FLASH = "floorledger.flash";
  var RETRY_MS = 2000;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  // the operator signed on (none on the sign-on page): only their kept actions are sent
  var operator = (document.querySelector('meta[name="operator"]') || {}).content || "";
  var panel = document.getElementById("panel");
  var flushing = false;
  var offline = false;
  var sentSomething = false;
  var lastPosition = 0;

  // ------------------------------------------------------------------ the waiting actions

  function load() {
    try { return JSON.parse(localStorage.getItem(STORE) || "[]"); } catch (e) { return []; }
  }
  function save(items) { localStorage.setItem(STORE, JSON.stringify(items)); showPending(); }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function showPending() {
    var items = load();
    var badge = document.getElementById("pending");
    if (badge) {
      badge.hidden = items.length === 0;
      badge.textContent = items.length + (items.length === 1 ? " action waiting" : " actions waiting");
    }
    var list = document.getElementById("waiting");
    var head = document.getElementById("waiting-h");
    if (list) {
      list.textContent = "";
      items.forEach(function (it) {
        var li = document.createElement("li");
        var t = document.createElement("time");
        t.dateTime = it.at;
        t.textContent = new Date(it.at).toLocaleTimeString();
        li.appendChild(t);
        li.appendChild(document.createTextNode(" " + it.label));
        list.appendChild(li);
      });
      if (head) { head.hidden = items.length === 0; }
    }
  }

  function setOnline(up) {
    offline = !up;
    var net = document.getElementById("net");
    if (net) {
      net.textContent = up ? "Online" : "Offline";
      net.classList.toggle("is-offline", !up);
    }
  }

  // messages survive the reload that follows a sent action (sessionStorage)
  function flash(text, kind, keep) {
    if (keep !== false) {
      var kept = JSON.parse(sessionStorage.getItem(FLASH) || "[]");
      kept.push([text, kind]);
      sessionStorage.setItem(FLASH, JSON.stringify(kept.slice(-4)));
    }
    var box = document.getElementById("flash");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = "alert alert-" + (kind || "info");
    p.textContent = text;
    box.appendChild(p);
    while (box.children.length > 4) { box.removeChild(box.firstChild); }
  }

  function enqueue(action) {
    action.key = action.key || newKey();
    action.operator = operator;
    action.at = action.at || new Date().toISOString();
    var items = load();
    items.push(action);
    save(items);
    flush();
  }

  function problemText(body, status) {
    if (body && (body.detail || body.title)) { return body.detail || body.title; }
    return "refused (" + status + ")";
  }

  function send(it) {
    return fetch(it.path, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrf,
        "X-Floorledger-Operator": it.operator,
        "Idempotency-Key": it.key
      },
      body: JSON.stringify(it.body || {})
    });
  }

  function flush() {
    if (flushing) { return; }
    var items = load();
    if (items.length === 0 || !operator) { return; }
    var it = items[0];
    if (it.operator !== operator) {
      flash(items.length + " kept action(s) by " + it.operator + " wait until " + it.operator +
            " signs on here again.", "warning", false);
      return;
    }
    flushing = true;
    send(it).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (body) {
        return { status: resp.status, body: body };
      });
    }).then(function (r) {
      flushing = false;
      if (r.status === 502 || r.status === 503 || r.status === 504) { return retryLater(); }
      setOnline(true);
      var rest = load().filter(function (x) { return x.key !== it.key; });
      if (r.status === 401) {  // signed off meanwhile: keep the actions for their operator
        flash(problemText(r.body, r.status), "error", false);
        return;
      }
      save(rest);
      if (r.status >= 200 && r.status < 300) {
        sentSomething = true;
        if (r.body && r.body.position) { lastPosition = Math.max(lastPosition, r.body.position); }
        (r.body && r.body.warnings || []).forEach(function (w) {
          flash(it.label + ": recorded with a warning (" + w.replace(/_/g, " ") + ")", "warning");
        });
        if (it.receipt) { noteReceipt(it, r.body); }
      } else {
        flash(it.label + ": " + problemText(r.body, r.status), "error");
      }
      if (rest.length > 0) { flush(); } else { settled(); }
    }).catch(function () {
      flushing = false;
      retryLater();
    });
  }

  function retryLater() {
    setOnline(false);
    window.setTimeout(flush, RETRY_MS);
  }

  function settled() {
    // everything sent: show the server's view (after the views include our last write)
    if (!sentSomething) { return; }
    var url = new URL(window.location.href);
    if (lastPosition) { url.searchParams.set("wait", String(lastPosition)); }
    window.location.replace(url.toString());
  }

  // ------------------------------------------------------------------ the operation panel

  function state() { return panel ? panel.dataset.state : ""; }

  function setState(s) {
    if (!panel) { return; }
    panel.dataset.state = s;
    var label = document.getElementById("op-state");
    if (label) { label.textContent = s.replace("_", " "); label.className = "state state-" + s; }
    document.querySelectorAll("[data-show]").forEach(function (b) {
      b.hidden = b.dataset.show.split(" ").indexOf(s) < 0;
    });
    if (s === "running" && !panel.dataset.runningSince) {
      panel.dataset.runningSince = new Date().toISOString();
    }
    if (s !== "running" && panel.dataset.runningSince) {
      panel.dataset.runSeconds = String(runSeconds());
      panel.dataset.runningSince = "";
    }
  }

  function runSeconds() {
    var base = parseFloat(panel.dataset.runSeconds || "0");
    var since = panel.dataset.runningSince;
    if (state() === "running" && since) {
      base += Math.max(0, (Date.now() - Date.parse(since)) / 1000);
    }
    return base;
  }

  function tick() {
    var out = document.getElementById("timer");
    if (out && panel) {
      var s = Math.floor(runSeconds());
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      out.textContent = h + ":" + (m < 10 ? "0" : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
    }
    var idle = document.getElementById("idle");
    if (idle && idle.dataset.idleDeadline) {
      var left = Math.round((Date.parse(idle.dataset.idleDeadline) - Date.now()) / 1000);
      if (left <= 0 && !offline && load().length === 0) {
        window.location.reload();
        return;
      }
      var mm = Math.max(0, Math.floor(left / 60)), ss = Math.max(0, left % 60);
      idle.textContent = "Signs off in " + mm + ":" + (ss < 10 ? "0" : "") + ss;
    }
  }

  function path(verb) { return panel.dataset.base + "/" + verb + panel.dataset.query; }
  function what(label) { return label + " — " + panel.dataset.order + " op " + panel.dataset.op; }

  function bump(id, qty) {
    var el = document.getElementById(id);
    if (el) { el.textContent = String(Math.round((parseFloat(el.textContent) + qty) * 1000) / 1000); }
  }

  function quantity() {
    var input = document.getElementById("qty");
    var v = (input.value || "").trim().replace(",", ".");
    if (!/^\d+(\.\d+)?$/.test(v) || parseFloat(v) <= 0) {
      flash("Type a quantity above 0 first (number pad).", "error");
      input.focus();
      return null;
    }
    input.value = "";
    return v;
  }

  function openDialog(id) {
    var d = document.getElementById(id);
    if (d && d.showModal) { d.showModal(); }
    return d;
  }

  function act(kind) {
    var at = new Date().toISOString();
    if (kind === "start" || kind === "resume" || kind === "complete") {
      enqueue({ path: path(kind), body: { at: at }, at: at,
                label: what(kind.charAt(0).toUpperCase() + kind.slice(1)) });
      setState(kind === "complete" ? "completed" : "running");
    } else if (kind === "pause") {
      pick("pause-dialog", function (code, label) {
        var t = new Date().toISOString();
        enqueue({ path: path("pause"), body: { at: t, reason_code: code }, at: t,
                  label: what("Pause (" + label + ")") });
        setState("paused");
      });
    } else if (kind === "good" || kind === "rework") {
      var q = quantity();
      if (q === null) { return; }
      var body = { at: at };
      body[kind] = q;
      enqueue({ path: path("quantities"), body: body, at: at,
                label: what((kind === "good" ? "Good " : "Rework ") + q) });
      bump(kind, parseFloat(q));
    } else if (kind === "scrap") {
      var sq = quantity();
      if (sq === null) { return; }
      pick("scrap-dialog", function (code, label) {
        var t = new Date().toISOString();
        enqueue({ path: path("quantities"), body: { at: t, scrap: sq, scrap_reason: code }, at: t,
                  label: what("Scrap " + sq + " (" + label + ")") });
        bump("scrap", parseFloat(sq));
      });
    } else if (kind === "report") {
      openReport();
    }
  }

  function pick(dialogId, done) {
    var d = openDialog(dialogId);
    if (!d) { return; }
    d.onpick = function (code, label) { d.close(); done(code, label); };
  }

  function localValue(iso) {
    if (!iso) { return ""; }
    var t = new Date(iso);
    var off = t.getTimezoneOffset() * 60000;
    return new Date(t.getTime() - off).toISOString().slice(0, 19);
  }

  function openReport() {
    var d = document.getElementById("report-dialog");
    if (!d) { return; }
    d.querySelectorAll("input[data-iso]").forEach(function (i) {
      if (!i.value) { i.value = localValue(i.dataset.iso || new Date().toISOString()); }
    });
    var end = document.getElementById("rep-end");
    if (end) { end.value = localValue(new Date().toISOString()); }
    d.showModal();
  }

  function submitReport(form) {
    var start = form.elements.started_at.value, end = form.elements.ended_at.value;
    if (!start || !end) { flash("Give the report's start and end.", "error"); return; }
    var scrap = {};
    form.querySelectorAll("[data-scrap-code]").forEach(function (i) {
      var v = (i.value || "0").trim().replace(",", ".");
      if (parseFloat(v) > 0) { scrap[i.dataset.scrapCode] = v; }
    });
    var reportId = "r-" + newKey().replace(/-/g, "").slice(0, 16);
    var at = new Date().toISOString();
    var body = {
      started_at: new Date(start).toISOString(),
      ended_at: new Date(end).toISOString(),
      good: (form.elements.good.value || "0").replace(",", "."),
      rework: (form.elements.rework.value || "0").replace(",", "."),
      scrap: scrap,
      note: form.elements.note.value || "",
      report_id: reportId
    };
    document.getElementById("report-dialog").close();
    enqueue({ path: path("reports"), body: body, at: at, label: what("Report " + reportId) });
    if (panel.dataset.mode === "E") {
      var trigger = "/writeback/orders/" + encodeURIComponent(panel.dataset.order) + "/reports/" +
        encodeURIComponent(reportId) + "/trigger" + panel.dataset.query;
      enqueue({ path: trigger, body: {}, at: at, label: what("Send report to ERP"),
                receipt: { integration: panel.dataset.integration, order: panel.dataset.order } });
    }
  }

  // a sent report trigger: remember its position, then watch the destinations for it
  function noteReceipt(it, body) {
    if (body && body.position) {
      sessionStorage.setItem(RECEIPT, JSON.stringify({
        position: body.position, integration: it.receipt.integration, order: it.receipt.order }));
    }
  }

  function watchReceipt() {
    var raw = sessionStorage.getItem(RECEIPT);
    var box = document.getElementById("receipt");
    if (!raw || !box) { return; }
    var want = JSON.parse(raw);
    box.textContent = "Report for " + want.order + " sent; waiting for the ERP to receive it…";
    fetch("/writeback/destinations", { credentials: "same-origin",
                                       headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (dests) {
        var got = dests.filter(function (d) {
          return d.integration === want.integration && d.position >= want.position && d.sends;
        });
        if (got.length > 0) {
          var when = got[0].last_success_at ? new Date(got[0].last_success_at).toLocaleTimeString() : "";
          box.textContent = "ERP received the report for " + want.order + " at " + when +
            " (" + got.map(function (d) { return d.destination; }).join(", ") + ")";
          box.classList.add("is-received");
          sessionStorage.removeItem(RECEIPT);
        } else {
          window.setTimeout(watchReceipt, 1000);
        }
      })
      .catch(function () { window.setTimeout(watchReceipt, RETRY_MS); });
  }

  // ------------------------------------------------------------------ number pads, scanner

  function pad(container) {
    var target = document.getElementById(container.dataset.pad);
    container.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-key]");
      if (!b || !target) { return; }
      var k = b.dataset.key;
      if (k === "⌫") { target.value = target.value.slice(0, -1); }
      else if (k === "C") { target.value = ""; }
      else if (k === "." && target.value.indexOf(".") >= 0) { return; }
      else { target.value += k; }
    });
  }

  // A keyboard-wedge scanner types fast and ends with Enter; outside a field, such a burst
  // goes to the serial / batch field.
  var burst = "", lastKey = 0;
  function scanner(ev) {
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT")) {
      return;
    }
    if (document.querySelector("dialog[open]")) { return; }
    var now = Date.now();
    if (now - lastKey > 100) { burst = ""; }
    lastKey = now;
    if (ev.key === "Enter" && burst.length >= 3) {
      var input = document.getElementById("serial");
      if (input) {
        input.value = burst;
        ev.preventDefault();
        recordSerial(document.getElementById("serial-form"));
      }
      burst = "";
    } else if (ev.key.length === 1) {
      burst += ev.key;
    }
  }

  function recordSerial(form) {
    var value = (form.elements.serial.value || "").trim();
    if (!value) { return; }
    var kind = form.elements.kind.value === "batch" ? "batch" : "serial";
    var body = { at: new Date().toISOString() };
    body[kind] = value;
    enqueue({ path: path("results"), body: body, at: body.at,
              label: what((kind === "batch" ? "Batch " : "Serial ") + value) });
    form.elements.serial.value = "";
  }

  function recordResult(form) {
    var body = { at: new Date().toISOString(), passed: form.elements.passed.value === "true" };
    var ch = form.elements.characteristic.value.trim();
    var mv = form.elements.measured_value.value.trim().replace(",", ".");
    var unit = form.elements.unit.value.trim();
    if (ch) { body.characteristic = ch; }
    if (mv) { body.measured_value = mv; }
    if (unit) { body.unit = unit; }
    enqueue({ path: path("results"), body: body, at: body.at,
              label: what((body.passed ? "Pass" : "Fail") + (ch ? " " + ch : "") +
                          (mv ? " " + mv + (unit ? " " + unit : "") : "")) });
    form.reset();
  }

  // ------------------------------------------------------------------ wiring

  function wire() {
    document.querySelectorAll("[data-pad]").forEach(pad);
    document.querySelectorAll("[data-act]").forEach(function (b) {
      b.addEventListener("click", function () { act(b.dataset.act); });
    });
    document.querySelectorAll("dialog").forEach(function (d) {
      d.addEventListener("click", function (ev) {
        var b = ev.target.closest("button");
        if (!b) { return; }
        if (b.hasAttribute("data-close")) { d.close(); return; }
        if (b.dataset.reason && d.onpick) { d.onpick(b.dataset.reason, b.textContent.trim()); }
        if (b.dataset.reasonFrom && d.onpick) {
          var v = document.getElementById(b.dataset.reasonFrom).value.trim();
          if (v) { d.onpick(v, v); }
        }
      });
    });
    var serial = document.getElementById("serial-form");
    if (serial) {
      serial.addEventListener("submit", function (ev) { ev.preventDefault(); recordSerial(serial); });
    }
    var result = document.getElementById("result-form");
    if (result) {
      result.addEventListener("submit", function (ev) { ev.preventDefault(); recordResult(result); });
    }
    var report = document.getElementById("report-form");
    if (report) {
      report.addEventListener("submit", function (ev) { ev.preventDefault(); submitReport(report); });
    }
    var kept = JSON.parse(sessionStorage.getItem(FLASH) || "[]");
    sessionStorage.removeItem(FLASH);
    kept.forEach(function (m) { flash(m[0], m[1], false); });
    document.addEventListener("keydown", scanner);
    window.addEventListener("online", flush);
    if (panel) { setState(panel.dataset.state); }
    showPending();
    tick();
    window.setInterval(tick, 1000);
    watchReceipt();
    flush();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
}());
