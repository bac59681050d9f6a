// 协查回复: post the reply form as multipart (metadata {"text"} and the files) to the
// API's reply route with the session's CSRF token (X-CSRF-Token), then show the page
// again; a refusal shows the API's reason (problem+json detail).
(function () {
  "use strict";
  function start() {
    var form = document.getElementById("reply-form");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var state = document.getElementById("reply-state");
      var error = document.getElementById("reply-error");
      var body = new FormData();
      body.append("metadata", JSON.stringify({ text: form.elements.text.value }));
      var files = form.elements.files.files;
      for (var i = 0; i < files.length; i++) body.append("files", files[i], files[i].name);
      error.textContent = "";
      state.textContent = form.dataset.msgSending;
      fetch(form.dataset.endpoint, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": window.consoleCsrf ? window.consoleCsrf() : "" },
      })
        .then(function (response) {
          if (response.ok) {
            window.location.reload();
            return null;
          }
          return response.json().then(function (problem) {
            state.textContent = "";
            error.textContent = form.dataset.msgFailed + (problem.detail || response.status);
          });
        })
        .catch(function (exc) {
          state.textContent = "";
          error.textContent = form.dataset.msgFailed + exc;
        });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
