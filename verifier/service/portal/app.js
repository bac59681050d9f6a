// The portal's page: reads what the visitor chooses, hashes the files *locally*, runs the
// tiers with verify.js and shows each one with a plain explanation. The only requests it
// makes go to this verification service: GET /v1/config (its trust roots), POST
// /v1/anchor-check with the proof alone (tier 5), and POST /v1/verify/report with the
// proof and the digests computed here (the PDF). Evidence files are never sent anywhere.
// Every URL is relative to the page (served at <prefix>/verify), so the service works
// mounted under any prefix, e.g. /verifier inside `evidence serve`.
//
// A server capture whose tier 1 holds (its WACZ included) can be replayed: the portal hands
// the archive.wacz it already holds, as a blob: URL, to a same-origin frame (replay.html)
// running ReplayWeb.page from this service; the WACZ is never uploaded either.

import {
  DEFAULT_LANG,
  LANGS,
  OUTCOME_LABELS,
  STATUS_LABELS,
  TIER_TITLES,
  explainResult,
  t,
  waczDetailZh,
} from "./i18n.js";
import { PackageError, readPackage } from "./package.js";
import { LIMITS, isZipBlob, openZip } from "./zip.js";
import {
  CAPTURE_WACZ as WACZ,
  FormatError,
  MAX_BUNDLE_BYTES,
  digestBlob,
  isCapture,
  loadBundle,
  parseJson,
  parseVerifierKey,
  parseWitnessKey,
  toJsonText,
  verifyBundle,
  witnessPolicy,
} from "./verify.js";

const $ = (id) => document.getElementById(id);

/** A URL of this service: ``v1/config`` from ``<prefix>/verify`` is ``<prefix>/v1/config``. */
const api = (path) => new URL(path, document.baseURI);

const state = {
  lang: DEFAULT_LANG,
  config: null, // the service's /v1/config, or null when it could not be read
  keys: [], // trusted verifier keys parsed from the config
  witnesses: [], // the service's witness keys (type 0x04), parsed from the config
  last: null, // {report, bundleText, files, pkg, bundle, wacz}
  busy: false,
  replayUrl: null, // the blob: URL of the WACZ being replayed (revoked on the next input)
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "lang" || k === "role") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}

// --- language -----------------------------------------------------------------------------

function applyLang() {
  const lang = state.lang;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title", lang)} · ${t("title", lang === "zh" ? "en" : "zh")}`;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n, lang);
  for (const node of document.querySelectorAll("[data-i18n-aria-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel, lang));
  }
  $("lang-toggle").setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
  renderTrust();
  if (state.last) render(state.last);
}

function toggleLang() {
  state.lang = state.lang === "zh" ? "en" : "zh";
  const url = new URL(location.href);
  url.searchParams.set("lang", state.lang);
  history.replaceState(null, "", url);
  applyLang();
}

// --- the service's trust roots --------------------------------------------------------------

async function loadConfig() {
  try {
    const response = await fetch(api("v1/config"), { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const config = await response.json();
    const keys = [];
    for (const text of config.log_keys || []) keys.push(await parseVerifierKey(text));
    const witnesses = [];
    for (const text of config.witnesses || []) witnesses.push(await parseWitnessKey(text));
    state.config = config;
    state.keys = keys;
    state.witnesses = witnesses;
  } catch (exc) {
    state.config = null;
    state.keys = [];
    state.witnesses = [];
    console.warn("portal: /v1/config unavailable", exc);
  }
  renderTrust();
}

function renderTrust() {
  const lang = state.lang;
  const cfg = state.config;
  $("trust-keys").replaceChildren(
    ...(state.keys.length ? state.keys.map((k) => el("div", {}, k.text)) : [t("trust_none", lang)]),
  );
  $("trust-chain").textContent =
    cfg && cfg.chain ? t("chain_value", lang, { chain_id: cfg.chain.chain_id, contract: cfg.chain.contract }) : t("trust_none", lang);
  const quorum = cfg && cfg.witness_quorum ? cfg.witness_quorum : state.witnesses.length;
  $("trust-witnesses").replaceChildren(
    ...(state.witnesses.length
      ? [...state.witnesses.map((k) => el("div", {}, k.text)), el("div", {}, t("witness_quorum_value", lang, { quorum }))]
      : [t("trust_none", lang)]),
  );
  const tsa = (cfg && cfg.tsa_certificates) || [];
  $("trust-tsa").replaceChildren(...(tsa.length ? tsa.map((x) => el("div", {}, x)) : [t("trust_none", lang)]));
  const warning = $("trust-warning");
  warning.hidden = cfg !== null;
  warning.textContent = cfg === null ? t("trust_unavailable", lang) : "";
}

// --- reading the input ----------------------------------------------------------------------

/** Sort the chosen files into {packages, proofs: [{file, bytes}], evidence}: by content. */
async function classify(files) {
  const out = { packages: [], proofs: [], evidence: [] };
  for (const file of files) {
    if ((await isZipBlob(file)) && !(await isWaczBlob(file))) {
      // by its start or its end record: a stub before the first local header is still a ZIP
      out.packages.push(file);
      continue;
    }
    if (file.size <= MAX_BUNDLE_BYTES) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const start = bytes.findIndex((b) => ![0x20, 0x09, 0x0a, 0x0d].includes(b));
      if (start >= 0 && bytes[start] === 0x7b && isProof(bytes)) {
        out.proofs.push({ file, bytes });
        continue;
      }
    }
    out.evidence.push(file);
  }
  return out;
}

/**
 * True for a web archive (WACZ: a ZIP with datapackage.json and no package.json), an
 * evidence file of a capture, not a package. A ZIP whose directory cannot be read is left
 * to the package reader, which says why.
 */
async function isWaczBlob(blob) {
  try {
    const { members } = await openZip(blob, LIMITS, { checkName: null });
    return members.has("datapackage.json") && !members.has("package.json");
  } catch (exc) {
    if (exc instanceof PackageError) return false;
    throw exc;
  }
}

/** A JSON object whose format names an evidence proof (even one this verifier refuses). */
function isProof(bytes) {
  try {
    const obj = parseJson(bytes, { maxBytes: MAX_BUNDLE_BYTES, what: "proof" });
    return typeof obj.format === "string" && obj.format.startsWith("evidence-proof/");
  } catch {
    // Not strict JSON: a proof that does not parse is shown as an error if it says it is one.
    return new TextDecoder().decode(bytes.subarray(0, 4096)).includes('"evidence-proof/');
  }
}

function progress(done, total) {
  const bar = $("progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
}

function status(text) {
  $("status").textContent = text;
}

function showError(text) {
  $("error-text").textContent = text;
  $("error").hidden = false;
}

async function anchorCheck(bundleText) {
  try {
    const response = await fetch(api("v1/anchor-check"), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: `{"bundle":${bundleText}}`,
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    return { status: body.status, detail: body.detail, facts: body.facts || {} };
  } catch (exc) {
    return { status: "not_checked", detail: t("anchor_unreachable", "en", { reason: exc.message }) };
  }
}

/**
 * The witness policy: the keys the user pasted (with their quorum, default all) replace the
 * service's; otherwise the service's own (its quorum). Never the bundle's. Throws FormatError.
 */
async function chosenWitnesses() {
  const pasted = $("witness-keys").value.split("\n").map((line) => line.trim()).filter(Boolean);
  const quorumText = $("witness-quorum").value.trim();
  if (!/^[0-9]*$/.test(quorumText)) throw new FormatError(`quorum ${quorumText} is not a number`);
  const quorum = quorumText ? Number(quorumText) : null;
  if (pasted.length) {
    const keys = [];
    for (const text of pasted) keys.push(await parseWitnessKey(text));
    return witnessPolicy(keys, quorum);
  }
  if (!state.witnesses.length) {
    if (quorum !== null) throw new FormatError("a quorum needs witness keys");
    return null;
  }
  const configured = state.config && state.config.witness_quorum ? state.config.witness_quorum : null;
  return witnessPolicy(state.witnesses, quorum ?? configured);
}

async function verifyChosen(fileList) {
  const lang = state.lang;
  $("error").hidden = true;
  $("results").hidden = true;
  state.last = null;
  let witnesses;
  try {
    witnesses = await chosenWitnesses();
  } catch (exc) {
    if (exc instanceof FormatError) return showError(t("error_witness", lang, { reason: exc.message }));
    throw exc;
  }
  progress(0, 1);
  const chosen = await classify([...fileList]);
  let bundle;
  let bundleText;
  let files = [];
  let pkg = null;
  let wacz = null;
  forgetReplay();
  if (chosen.packages.length) {
    if (chosen.packages.length > 1 || chosen.proofs.length || chosen.evidence.length) {
      return showError(t("error_package_and_files", lang));
    }
    status(t("reading_package", lang));
    try {
      pkg = await readPackage(chosen.packages[0], { onProgress: progress });
    } catch (exc) {
      if (exc instanceof PackageError) return showError(t("error_package", lang, { reason: exc.message }));
      throw exc;
    }
    bundle = pkg.bundle;
    files = pkg.files;
    wacz = pkg.wacz;
    bundleText = toJsonText(bundle.raw);
  } else {
    if (!chosen.proofs.length) return showError(t("error_no_proof", lang));
    if (chosen.proofs.length > 1) return showError(t("error_two_proofs", lang));
    try {
      bundle = loadBundle(chosen.proofs[0].bytes);
    } catch (exc) {
      if (exc instanceof FormatError) return showError(t("error_unusable", lang, { reason: exc.message }));
      throw exc;
    }
    bundleText = new TextDecoder().decode(chosen.proofs[0].bytes);
    const total = chosen.evidence.reduce((n, f) => n + f.size, 0);
    let before = 0;
    for (const file of chosen.evidence) {
      status(t("hashing", state.lang, { name: file.name }));
      files.push(await digestBlob(file.name, file, (done) => progress(before + done, total)));
      before += file.size;
    }
    wacz = await checkChosenWacz(bundle, chosen.evidence, files);
  }
  progress(1, 1);
  status(t("checking", state.lang));
  const check =
    state.config === null
      ? null
      : async () => {
          status(t("asking_chain", state.lang));
          return anchorCheck(bundleText);
        };
  const report = await verifyBundle(bundle, { files, logKeys: state.keys, anchorCheck: check, witnesses });
  state.last = { report, bundleText, files, pkg, bundle, wacz };
  render(state.last);
  status(t("done", state.lang));
}

/**
 * For a server capture chosen as files: the chosen archive.wacz (by name, or by content as
 * tier 1 matches a renamed copy) is checked against its own datapackage.json; its digest
 * carries the verdict for tier 1. Returns the WACZ (a File) or null.
 */
async function checkChosenWacz(bundle, evidence, files) {
  if (!bundle.manifest || !isCapture(bundle.manifest)) return null;
  const listed = bundle.manifest.files.find((f) => f.name === WACZ);
  if (!listed) return null;
  let at = files.findIndex((f) => f.name === WACZ);
  if (at < 0) at = files.findIndex((f) => f.sha256 === listed.sha256);
  if (at < 0) return null;
  status(t("hashing", state.lang, { name: WACZ }));
  const { waczVerdict } = await import("./wacz.js");
  files[at].wacz = await waczVerdict(evidence[at]);
  return evidence[at];
}

// --- showing the result ---------------------------------------------------------------------

function tierCard(tier, lang, unchecked = []) {
  const { purpose, meaning } = explainResult(tier, lang);
  const title = `${t("tier_label", lang, { n: tier.tier })} · ${TIER_TITLES[tier.tier][lang]}`;
  // A capture's failed WACZ is also named in Chinese (as the Chinese report does).
  const zhDetail = lang === "zh" && tier.tier === 1 && tier.facts && tier.facts.wacz === "failed" ? waczDetailZh(tier.detail) : null;
  // Tier 1's facts (a capture's WACZ verdict) are told by its meaning and detail.
  // Tier 4's facts: the witnesses that cosigned (name, time); tier 5's: the chain's.
  const factsTitle = tier.tier === 4 ? "checkpoint_facts_title" : "facts_title";
  const facts = (tier.tier === 4 || tier.tier === 5) && tier.facts && Object.keys(tier.facts).length
    ? [el("dt", {}, t(factsTitle, lang)), el("dd", { class: "mono" }, Object.entries(tier.facts).map(([k, v]) => `${k}: ${v}`).join("; "))]
    : [];
  // RFC 3161 tokens are carried but not checked here (CMS in the browser is out of scope).
  const stamps = tier.tier === 4 && tier.status !== "skipped" && unchecked.length
    ? [el("dd", { class: "note timestamps-browser" }, t("timestamps_browser", lang))]
    : [];
  return el(
    "li",
    { class: "tier", "data-tier": String(tier.tier), "data-status": tier.status, "aria-label": title },
    el(
      "header",
      {},
      el("h3", {}, title),
      el("span", { class: "badge", "data-status": tier.status }, STATUS_LABELS[tier.status][lang]),
    ),
    el(
      "dl",
      {},
      el("dt", {}, t("what_it_means", lang)),
      el("dd", { class: "meaning" }, meaning),
      el("dt", {}, t("what_it_proves", lang)),
      el("dd", { class: "purpose" }, purpose),
      el("dt", {}, t("technical_detail", lang)),
      ...(zhDetail ? [el("dd", { class: "detail-zh" }, zhDetail)] : []),
      el("dd", { class: "detail", lang: "en" }, tier.detail),
      ...facts,
      ...stamps,
    ),
  );
}

function render({ report, files, pkg, bundle, wacz }) {
  const lang = state.lang;
  const summary = $("summary");
  summary.dataset.outcome = report.outcome;
  summary.replaceChildren(
    el("span", { class: "outcome" }, OUTCOME_LABELS[report.outcome][lang]),
    el("span", {}, `${t("evidence_id", lang)}: `, el("code", {}, report.evidence_id)),
    el("span", {}, `${t("tree_size", lang)}: ${report.tree_size ?? "—"}`),
    el("span", {}, `${t("leaf_hash", lang)}: `, el("code", {}, report.leaf_hash)),
  );
  const expected = new URL(location.href).searchParams.get("leaf");
  const leaf = $("leaf-check");
  leaf.hidden = !expected;
  if (expected) {
    const same = expected.toLowerCase() === report.leaf_hash;
    leaf.textContent = `${t("leaf_expected", lang, { leaf: expected })} ${t(same ? "leaf_matches" : "leaf_differs", lang)}`;
  }
  const unchecked = report.timestamps_unchecked || [];
  $("tiers").replaceChildren(...report.tiers.map((tier) => tierCard(tier, lang, unchecked)));
  $("digests").tBodies[0].replaceChildren(
    ...files.map((f) =>
      el("tr", {}, el("td", {}, f.name), el("td", {}, String(f.size)), el("td", { class: "mono" }, f.sha256), el("td", { class: "mono" }, f.sm3)),
    ),
  );
  const info = $("package-info");
  info.hidden = !pkg;
  if (pkg) {
    const trusted = pkg.logKeyText && state.keys.some((k) => k.text === pkg.logKeyText);
    const rows = [];
    if (pkg.logKeyText) {
      rows.push(el("dt", {}, t("package_key", lang)), el("dd", { class: "mono" }, pkg.logKeyText, " — ", t(trusted ? "package_key_same" : "package_key_differs", lang)));
    }
    if (pkg.chain) {
      rows.push(el("dt", {}, t("package_chain", lang)), el("dd", { class: "mono" }, t("chain_value", lang, pkg.chain)));
    }
    info.replaceChildren(el("h3", {}, t("package_title", lang)), el("dl", {}, ...rows));
  }
  renderReplay(report, bundle, files, wacz, lang);
  $("results").hidden = false;
}

// --- replaying a capture's web archive --------------------------------------------------------

/** The pages the replay offers: the WACZ's pages.jsonl, else the manifest's source URL. */
function replayPages(bundle, files) {
  const checked = files.find((f) => f.wacz && !(f.wacz instanceof Error));
  const pages = checked ? checked.wacz.pages || [] : [];
  if (pages.length) return pages;
  const url = bundle.manifest && bundle.manifest.source ? bundle.manifest.source.url : null;
  return typeof url === "string" && /^https?:\/\//.test(url) ? [{ url, ts: "", title: "" }] : [];
}

/** The replay section: only for a capture whose tier 1 holds, WACZ included. */
function renderReplay(report, bundle, files, wacz, lang) {
  const section = $("replay");
  const tier1 = report.tiers[0];
  const pages = wacz ? replayPages(bundle, files) : [];
  const offered =
    wacz !== null && bundle.manifest && isCapture(bundle.manifest) && tier1.status === "verified" &&
    tier1.facts && tier1.facts.wacz === "verified" && pages.length > 0;
  section.hidden = !offered;
  if (!offered) return;
  const available = state.config !== null && state.config.replay === true;
  $("replay-unavailable").hidden = available;
  $("replay-controls").hidden = !available;
  const select = $("replay-page");
  const chosen = select.value;
  select.replaceChildren(
    ...pages.map((p, i) => el("option", { value: String(i) }, p.title ? `${p.title} — ${p.url}` : p.url)),
  );
  if (chosen && Number(chosen) < pages.length) select.value = chosen;
  select.dataset.pages = JSON.stringify(pages);
  const frame = $("replay-view").querySelector("iframe");
  if (frame) frame.title = t("replay_frame_title", lang, { url: frame.dataset.url });
}

function forgetReplay() {
  $("replay-view").replaceChildren();
  $("replay").hidden = true;
  if (state.replayUrl) URL.revokeObjectURL(state.replayUrl);
  state.replayUrl = null;
}

function startReplay() {
  if (!state.last || !state.last.wacz) return;
  const pages = JSON.parse($("replay-page").dataset.pages || "[]");
  const page = pages[Number($("replay-page").value) || 0];
  if (!page) return;
  if (!state.replayUrl) state.replayUrl = URL.createObjectURL(state.last.wacz);
  const hash = new URLSearchParams({ source: state.replayUrl, url: page.url, ts: page.ts, lang: state.lang });
  const frame = el("iframe", {
    src: `verify/static/replay.html#${hash}`,
    title: t("replay_frame_title", state.lang, { url: page.url }),
    "data-url": page.url,
    class: "replay-frame",
  });
  $("replay-view").replaceChildren(frame);
}

// --- the PDF report -------------------------------------------------------------------------

async function downloadReport() {
  if (!state.last) return;
  const lang = state.lang;
  const button = $("report-button");
  const note = $("report-status");
  button.disabled = true;
  note.textContent = t("report_working", lang);
  try {
    const digests = state.last.files.map(({ name, size, sha256, sm3 }) => ({ name, size, sha256, sm3 }));
    const response = await fetch(api(`v1/verify/report?lang=${lang}`), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/pdf" },
      body: `{"bundle":${state.last.bundleText},"files":${JSON.stringify(digests)}}`,
    });
    if (!response.ok) {
      let reason = `HTTP ${response.status}`;
      try {
        reason = (await response.json()).detail || reason;
      } catch {
        // not a problem document
      }
      throw new Error(reason);
    }
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `report-${state.last.report.evidence_id}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    note.textContent = "";
  } catch (exc) {
    note.textContent = t("report_failed", lang, { reason: exc.message });
  } finally {
    button.disabled = false;
  }
}

// --- wiring ---------------------------------------------------------------------------------

async function run(fileList) {
  if (state.busy || !fileList || !fileList.length) return;
  state.busy = true;
  document.body.setAttribute("aria-busy", "true");
  try {
    await verifyChosen(fileList);
  } catch (exc) {
    showError(t("error_unusable", state.lang, { reason: exc.message }));
  } finally {
    state.busy = false;
    document.body.removeAttribute("aria-busy");
  }
}

function wire() {
  $("lang-toggle").addEventListener("click", toggleLang);
  $("files").addEventListener("change", (event) => run(event.target.files));
  $("report-button").addEventListener("click", downloadReport);
  $("replay-button").addEventListener("click", startReplay);
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    run(event.dataTransfer.files);
  });
}

async function main() {
  const wanted = new URL(location.href).searchParams.get("lang");
  state.lang = LANGS.includes(wanted) ? wanted : DEFAULT_LANG;
  wire();
  applyLang();
  if (!globalThis.crypto || !globalThis.crypto.subtle) showError(t("error_webcrypto", state.lang));
  await loadConfig();
  if (state.config && LANGS.includes(state.config.lang_default) && !wanted) {
    state.lang = state.config.lang_default;
    applyLang();
  }
  document.body.dataset.ready = "true";
}

main();
