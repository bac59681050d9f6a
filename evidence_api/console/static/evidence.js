// The upload and new-capture forms: they post to the API (POST /v1/evidence as
// multipart with upload progress, POST /v1/captures as JSON) with the session cookie and
// the X-CSRF-Token header, and show the API's reason (problem+json detail) next to the
// field it names. No inline script: the page's CSP admits only files of this origin.
(function () {
  "use strict";

  function csrf() {
    return typeof window.consoleCsrf === "function" ? window.consoleCsrf() : "";
  }

  // Before a new submit: the errors a previous one showed, next to fields and above them.
  function clearErrors(form, general) {
    form.querySelectorAll(".field.invalid").forEach(function (el) { el.classList.remove("invalid"); });
    form.querySelectorAll("p.error[data-js]").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    general.textContent = "";
    general.className = "";
  }

  // "metadata.capture_environment.os" -> "capture_environment"; "steps[2].selector" -> "steps"
  function fieldName(path) {
    var name = String(path || "").replace(/^metadata\./, "").replace(/^body\./, "");
    return name.split(/[.[]/)[0];
  }

  function showError(form, general, field, message) {
    var input = field ? form.querySelector("#f-" + CSS.escape(field)) : null;
    if (!input) {
      general.textContent = message;
      general.className = "alert";
      return;
    }
    var box = input.closest(".field") || input.parentNode;
    box.classList.add("invalid");
    var p = document.createElement("p");
    p.className = "error";
    p.id = "e-" + field;
    p.setAttribute("role", "alert");
    p.setAttribute("data-js", "1");
    p.textContent = message;
    box.appendChild(p);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", p.id);
    input.focus();
  }

  function problemOf(status, text) {
    try {
      var body = JSON.parse(text);
      return { field: body.field || null, detail: body.detail || body.title || ("HTTP " + status) };
    } catch (e) {
      return { field: null, detail: "HTTP " + status };
    }
  }

  function value(form, name) {
    var el = form.elements.namedItem(name);
    return el && typeof el.value === "string" ? el.value.trim() : "";
  }

  // The optional fields the API takes only when given: each filled one into ``into``.
  function copyFilled(form, names, into) {
    names.forEach(function (name) {
      var v = value(form, name);
      if (v) into[name] = v;
    });
  }

  // A datetime-local value ("2026-11-26T10:00" or with seconds) as RFC 3339 with this
  // computer's offset: "2026-11-26T10:00:00+08:00".
  function withOffset(local) {
    var date = new Date(local);
    if (isNaN(date.getTime())) return local;
    var pad = function (n) { return String(Math.abs(n)).padStart(2, "0"); };
    var minutes = -date.getTimezoneOffset();
    var sign = minutes >= 0 ? "+" : "-";
    var base = local.length === 16 ? local + ":00" : local.slice(0, 19);
    return base + sign + pad(Math.trunc(minutes / 60)) + ":" + pad(minutes % 60);
  }

  // --- upload -----------------------------------------------------------------------------

  function setupUpload(form) {
    var bar = document.getElementById("upload-progress");
    var state = document.getElementById("upload-state");
    var general = document.getElementById("upload-error");
    var button = document.getElementById("upload-submit");
    var receipt = document.getElementById("upload-receipt");
    button.disabled = false;

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form, general);
      var files = form.elements.namedItem("files").files;
      if (!files || files.length === 0) {
        showError(form, general, "files", form.dataset.msgNofile);
        return;
      }
      var environment = {};
      var lines = value(form, "capture_environment").split(/\r?\n/);
      for (var i = 0; i < lines.length; i++) {
        var line = lines[i].trim();
        if (!line) continue;
        var at = line.indexOf("=");
        if (at < 1) {
          showError(form, general, "capture_environment", form.dataset.msgEnv + ": " + line);
          return;
        }
        environment[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      var metadata = {
        source_url: value(form, "source_url"),
        platform: value(form, "platform"),
        captured_at: withOffset(value(form, "captured_at")),
        capture_tool: value(form, "capture_tool"),
        capture_environment: environment
      };
      copyFilled(form, ["entity", "case_ref", "notes"], metadata);
      var body = new FormData();
      body.append("metadata", JSON.stringify(metadata));
      for (var j = 0; j < files.length; j++) body.append("files", files[j], files[j].name);

      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.endpoint);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.withCredentials = true;
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var pct = Math.round((e.loaded / e.total) * 100);
        bar.value = pct;
        bar.textContent = pct + "%";
        state.textContent = form.dataset.msgSending + " " + pct + "%";
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        state.textContent = form.dataset.msgProcessing;
      });
      xhr.addEventListener("load", function () {
        button.disabled = false;
        if (xhr.status === 201) {
          var created = JSON.parse(xhr.responseText);
          state.textContent = "";
          document.getElementById("receipt-id").textContent = created.evidence_id;
          document.getElementById("receipt-received").textContent = created.received_at;
          document.getElementById("receipt-manifest").textContent = created.manifest.sha256;
          document.getElementById("receipt-leaf").textContent = created.leaf_hash;
          document.getElementById("receipt-note").textContent = created.receipt;
          document.getElementById("receipt-link").href = form.dataset.detail + created.evidence_id;
          receipt.hidden = false;
          receipt.focus();
          return;
        }
        var problem = problemOf(xhr.status, xhr.responseText);
        state.textContent = "";
        bar.value = 0;
        showError(form, general, fieldName(problem.field), form.dataset.msgFailed + " " + problem.detail);
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        state.textContent = "";
        showError(form, general, null, form.dataset.msgNetwork);
      });
      button.disabled = true;
      receipt.hidden = true;
      bar.value = 0;
      state.textContent = form.dataset.msgSending;
      xhr.send(body);
    });
  }

  // --- capture ----------------------------------------------------------------------------

  function setupCapture(form) {
    var state = document.getElementById("capture-state");
    var general = document.getElementById("capture-error");
    var button = document.getElementById("capture-submit");
    button.disabled = false;

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form, general);
      var mode = (form.querySelector('input[name="mode"]:checked') || { value: "page" }).value;
      var request = {
        url: value(form, "url"),
        mode: mode,
        device: value(form, "device") || "desktop",
        full_page: form.elements.namedItem("full_page").checked
      };
      copyFilled(form, ["case_id", "platform", "entity", "notes"], request);
      var steps = value(form, "steps");
      if (steps) {
        try {
          request.steps = JSON.parse(steps);
        } catch (e) {
          showError(form, general, "steps", form.dataset.msgSteps + ": " + e.message);
          return;
        }
        if (!Array.isArray(request.steps)) {
          showError(form, general, "steps", form.dataset.msgSteps);
          return;
        }
      }
      button.disabled = true;
      state.textContent = form.dataset.msgSending;
      window.consoleFetch(form.dataset.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(request)
      }).then(function (response) {
        return response.text().then(function (text) {
          if (response.status === 202) {
            var accepted = JSON.parse(text);
            window.location.assign(form.dataset.page + accepted.capture_id);
            return;
          }
          button.disabled = false;
          state.textContent = "";
          var problem = problemOf(response.status, text);
          showError(form, general, fieldName(problem.field), form.dataset.msgFailed + " " + problem.detail);
        });
      }).catch(function () {
        button.disabled = false;
        state.textContent = "";
        showError(form, general, null, form.dataset.msgNetwork);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var upload = document.getElementById("upload-form");
    if (upload) setupUpload(upload);
    var capture = document.getElementById("capture-form");
    if (capture) setupCapture(capture);
  });
})();
