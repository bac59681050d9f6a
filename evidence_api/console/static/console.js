// The console's own script: every htmx request and every fetch() a page makes through
// consoleFetch() carries the session's CSRF token (X-CSRF-Token), read from the page.
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });
  window.consoleCsrf = csrfToken;
  window.consoleFetch = function (url, options) {
    options = options || {};
    options.headers = Object.assign({}, options.headers || {}, { "X-CSRF-Token": csrfToken() });
    options.credentials = "same-origin";
    return fetch(url, options);
  };
})();
