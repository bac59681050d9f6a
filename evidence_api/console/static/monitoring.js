// Alerts list, live: an EventSource on /v1/alerts/stream (the session cookie
// authenticates it; a GET needs no CSRF token). A new alert (event alert.open) is
// prepended to the table when it matches the page's rule/status filters (its 所属单位 from
// the event's unit_name, the top's label when it has none); a dismissed or converted one
// has its status updated in place. Text goes in through textContent only.
(function () {
  "use strict";
  var live = document.getElementById("alerts-live");
  var body = document.getElementById("alerts-body");
  if (!live || !body || live.getAttribute("data-live") !== "1" || !window.EventSource) {
    return;
  }
  var wantRule = live.getAttribute("data-rule") || "";
  var wantStatus = live.getAttribute("data-status") || "";

  function cell(row, text) {
    var td = document.createElement("td");
    if (text !== undefined && text !== null) {
      td.textContent = String(text);
    }
    row.appendChild(td);
    return td;
  }

  function link(parent, href, text, mono) {
    var a = document.createElement("a");
    a.setAttribute("href", href);
    a.textContent = text;
    if (mono) {
      a.className = "mono";
    }
    parent.appendChild(a);
    return a;
  }

  function badge(status, text) {
    var span = document.createElement("span");
    span.className = "badge status-" + String(status).replace(/[^a-z_]/g, "");
    span.textContent = text;
    return span;
  }

  function label(status) {
    return live.getAttribute("data-label-" + String(status).replace(/[^a-z_]/g, "")) || String(status);
  }

  function opened(data) {
    if (wantRule && data.rule !== wantRule) return;
    if (wantStatus && wantStatus !== "open") return;
    if (document.querySelector('tr[data-alert-id="' + CSS.escape(data.alert_id) + '"]')) return;
    var row = document.createElement("tr");
    row.setAttribute("data-testid", "alert-row");
    row.setAttribute("data-alert-id", data.alert_id);
    var first = cell(row);
    link(first, "/console/alerts/" + encodeURIComponent(data.alert_id), data.at || data.alert_id);
    cell(row, data.rule_label);
    cell(row, data.reason);
    var status = cell(row);
    status.setAttribute("data-role", "status");
    status.appendChild(badge("open", label("open")));
    cell(row);
    cell(row, data.unit_name || live.getAttribute("data-unit-top") || "").setAttribute(
      "data-testid",
      "unit"
    );
    var ev = cell(row);
    if (data.evidence_id) {
      link(ev, "/console/evidence/" + encodeURIComponent(data.evidence_id), data.evidence_id, true);
    }
    body.insertBefore(row, body.firstChild);
    var empty = document.getElementById("alerts-empty");
    if (empty) empty.hidden = true;
    live.textContent = (live.getAttribute("data-new-text") || "") + ": " + (data.rule_label || "");
  }

  function changed(data) {
    var row = document.querySelector('tr[data-alert-id="' + CSS.escape(data.alert_id) + '"]');
    if (!row) return;
    var status = row.querySelector('[data-role="status"]');
    if (!status) return;
    status.textContent = "";
    status.appendChild(badge(data.status, label(data.status)));
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (e) {
      return null;
    }
  }

  // Resume after the newest event when the page was read (the browser's own reconnects
  // send Last-Event-ID, which the stream prefers).
  var after = live.getAttribute("data-after") || "";
  var url = "/v1/alerts/stream" + (/^[0-9]+$/.test(after) ? "?after=" + after : "");
  var source = new EventSource(url, { withCredentials: true });
  source.addEventListener("alert.open", function (event) {
    var data = parse(event);
    if (data && data.alert_id) opened(data);
  });
  ["alert.dismissed", "alert.converted"].forEach(function (name) {
    source.addEventListener(name, function (event) {
      var data = parse(event);
      if (data && data.alert_id) changed(data);
    });
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
