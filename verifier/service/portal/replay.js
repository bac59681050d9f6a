// The replay frame (replay.html, framed by the portal, same origin): ReplayWeb.page's
// <replay-web-page> element replays the WACZ the portal hands over as a blob: URL in this
// page's fragment: #source=<blob: URL>&url=<page>&ts=<14 digits>&lang=zh|en.
//
// Why a frame of its own: ReplayWeb.page's ui.js registers its service worker only after
// the window's load event, so it must be a script of a page's <head>; loading it into the
// portal itself would run it for every visitor. Here it runs only when a verified capture
// is replayed. Its service worker (scope <prefix>/verify/replay/, served by this service
// with a CSP of connect-src 'self' blob:) reads the WACZ from the blob: URL and answers the
// replayed page's requests from the archive alone: nothing is fetched from the live web.
//
// The replayed page's own scripts run (that is what makes a JavaScript-rendered listing show
// its price) at this service's origin, inside ReplayWeb.page's frames. ReplayWeb.page's
// wombat rewriting points the page's window.top and parent at the replay, but that is not a
// security boundary: a hostile archived page could script the portal page around it. The
// portal therefore shows the verdict before it offers the replay, and the archive is one the
// service itself recorded; a deployment replaying untrusted archives should serve /verify/
// replay/ from an origin of its own (ReplayWeb.page's requireSubdomainIframe).

const REPLAY_BASE = "../replay/";
const WORKER = `${REPLAY_BASE}sw.js?serveIndex=1`;
const ACTIVATION_MS = 120_000;

const TEXT = {
  starting: { zh: "正在启动回放组件…", en: "Starting the replay…" },
  unsupported: {
    zh: "此浏览器在本页不能使用 Service Worker（需 HTTPS 或 localhost），无法回放。",
    en: "This browser cannot use a service worker here (HTTPS or localhost is needed), so the archive cannot be replayed.",
  },
  missing: {
    zh: "核验服务未安装回放组件（ReplayWeb.page）：{reason}",
    en: "The verification service has no replay component (ReplayWeb.page) installed: {reason}",
  },
  bad_request: { zh: "回放参数无效。", en: "Invalid replay parameters." },
};

function say(key, lang, reason = "") {
  document.getElementById("replay-status").textContent = key ? TEXT[key][lang].replace("{reason}", reason) : "";
}

/** The parameters from the fragment; null when they are not what the portal sends. */
function params() {
  const p = new URLSearchParams(location.hash.slice(1));
  const source = p.get("source") || "";
  const url = p.get("url") || "";
  const ts = p.get("ts") || "";
  const lang = p.get("lang") === "en" ? "en" : "zh";
  const ok =
    source.startsWith(`blob:${location.origin}/`) &&
    source.length <= 200 &&
    /^https?:\/\//.test(url) &&
    url.length <= 2048 &&
    /^\d{0,14}$/.test(ts);
  return ok ? { source, url, ts, lang } : { lang, bad: true };
}

/** Resolves once `registration` has an activated worker (the replay's first request must
 * be answered by it, not by the network). */
function activated(registration) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the replay's service worker did not start")), ACTIVATION_MS);
    const check = () => {
      const worker = registration.active;
      if (worker && worker.state === "activated") {
        clearTimeout(timer);
        resolve();
        return true;
      }
      return false;
    };
    if (check()) return;
    for (const worker of [registration.installing, registration.waiting, registration.active]) {
      if (worker) worker.addEventListener("statechange", check);
    }
    registration.addEventListener("updatefound", () => registration.installing.addEventListener("statechange", check));
  });
}

async function main() {
  const p = params();
  document.documentElement.lang = p.lang === "zh" ? "zh-CN" : "en";
  if (p.bad) return say("bad_request", p.lang);
  if (!customElements.get("replay-web-page")) return say("missing", p.lang, "ui.js");
  if (!("serviceWorker" in navigator)) return say("unsupported", p.lang);
  say("starting", p.lang);
  try {
    await activated(await navigator.serviceWorker.register(WORKER, { scope: REPLAY_BASE }));
  } catch (exc) {
    return say("missing", p.lang, exc.message);
  }
  const view = document.createElement("replay-web-page");
  view.setAttribute("replaybase", REPLAY_BASE);
  view.setAttribute("source", p.source);
  view.setAttribute("url", p.url);
  if (p.ts) view.setAttribute("ts", p.ts);
  view.setAttribute("embed", "replayonly");
  // Links that would open a new window stay on this service (the default is replayweb.page).
  view.setAttribute("newwindowbase", new URL(REPLAY_BASE, location.href).href);
  say("", p.lang);
  document.body.append(view);
}

main();
