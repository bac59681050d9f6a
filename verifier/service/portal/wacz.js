// A server capture's web archive (archive.wacz, WACZ 1.1.1) checked in the browser — the portal
// twin of verifier/capture.py's check_wacz, with the same rules in the same order and the same
// messages, so the portal and evidence-verify fail the same WACZ for the same reason:
//
//   the WACZ opens under the package's ZIP bounds (names, links, bombs, overlaps, CRC-32);
//   datapackage-digest.json holds the SHA-256 of datapackage.json ({"path", "hash"});
//   every resource datapackage.json lists ({path, hash "sha256:<hex>", bytes}) is a member
//   with exactly those bytes and that SHA-256; no member is missing or undeclared.
//
// The WACZ's own bytes are covered by the manifest like any file (tier 1); this adds that what
// it says about itself is true, so a replay that trusts datapackage.json replays the bytes
// that were anchored. Pure: no DOM, no network; input is a Blob. Loaded (import()) only when a
// capture is met, so verifying other evidence asks the service for nothing more.

import { FormatError, bytesToHex, concatBytes, pyRepr } from "./bytes.js";
import { Sha256, sha256 } from "./hashes.js";
import { JsonFloat, isObject, parseJson } from "./json.js";
import { LIMITS, PackageError, checkMemberName, memberChunks, openZip, show } from "./zip.js";

export { CAPTURE_WACZ as WACZ, isCapture } from "./bundle.js";
export const DATAPACKAGE = "datapackage.json";
export const DATAPACKAGE_DIGEST = "datapackage-digest.json";
export const MAX_DATAPACKAGE_BYTES = 4 << 20;
export const MAX_DIGEST_BYTES = 64 << 10;
export const HASH_PREFIX = "sha256:";
export const PAGES = "pages/pages.jsonl";
const MAX_PAGES_BYTES = 1 << 20;
const MAX_PAGES = 50;
/** Resources up to this size are hashed by WebCrypto in one piece; larger ones in JS. */
const WEBCRYPTO_MAX_BYTES = 512 * 2 ** 20;

/**
 * archive.wacz contradicts itself (verifier.capture.WaczError). `kind` names the Python class
 * (WaczUnreadableError, WaczLayoutError, WaczMismatchError); `member` the WACZ member at
 * fault, when one is.
 */
export class WaczError extends FormatError {
  constructor(kind, message, member = null) {
    super(message);
    this.kind = kind;
    this.member = member;
  }
}

const layout = (message, member) => {
  throw new WaczError("WaczLayoutError", message, member);
};
const mismatch = (message, member) => {
  throw new WaczError("WaczMismatchError", message, member);
};

/** A JSON value as Python's repr() shows the parsed value (for one-line messages). */
function reprValue(v) {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "bigint") return v.toString();
  if (v instanceof JsonFloat) return Number.isInteger(v.value) ? `${v.value}.0` : String(v.value);
  if (typeof v === "string") return pyRepr(v);
  if (Array.isArray(v)) return `[${v.map(reprValue).join(", ")}]`;
  if (isObject(v)) return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${reprValue(x)}`).join(", ")}}`;
  return String(v);
}

async function readSmall(zip, m, limit) {
  if (m.size > limit) layout(`${m.name} declares ${m.size} bytes, limit ${limit}`, m.name);
  const parts = [];
  let n = 0;
  for await (const chunk of memberChunks(zip, m)) {
    n += chunk.length;
    if (n > limit) layout(`${m.name} is larger than ${limit} bytes`, m.name);
    parts.push(chunk);
  }
  return concatBytes(...parts);
}

function jsonObject(name, data) {
  let obj;
  try {
    obj = parseJson(data, { maxBytes: MAX_DATAPACKAGE_BYTES, what: name });
  } catch (exc) {
    if (exc instanceof FormatError) layout(exc.message, name);
    throw exc;
  }
  if (!isObject(obj)) layout(`${name} must be a JSON object`, name);
  return obj;
}

/** The hex digest of a "sha256:<64 hex>" field; anything else is refused. */
function sha256Of(value, where, member) {
  if (typeof value !== "string" || !value.startsWith(HASH_PREFIX)) {
    layout(`${where}: hash ${reprValue(value).slice(0, 40)} is not 'sha256:<hex>'`, member);
  }
  const digest = value.slice(HASH_PREFIX.length).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(digest)) layout(`${where}: hash is not 64 hex digits`, member);
  return digest;
}

function checkDigestRecord(data, packageSha256) {
  const record = jsonObject(DATAPACKAGE_DIGEST, data);
  if (record.path !== DATAPACKAGE) {
    layout(`${DATAPACKAGE_DIGEST}: path must be '${DATAPACKAGE}'`, DATAPACKAGE_DIGEST);
  }
  const want = sha256Of(record.hash, DATAPACKAGE_DIGEST, DATAPACKAGE_DIGEST);
  if (want !== packageSha256) {
    mismatch(`${DATAPACKAGE} SHA-256 ${packageSha256} differs from ${DATAPACKAGE_DIGEST}'s ${want}`, DATAPACKAGE);
  }
}

function resources(pkg, limits) {
  const listed = pkg.resources;
  if (!Array.isArray(listed)) layout(`${DATAPACKAGE}: resources must be a list`, DATAPACKAGE);
  if (listed.length > limits.maxEntries) {
    layout(`${DATAPACKAGE} lists ${listed.length} resources, limit ${limits.maxEntries}`, DATAPACKAGE);
  }
  const out = [];
  const seen = new Set();
  listed.forEach((item, i) => {
    const where = `${DATAPACKAGE} resource ${i + 1}`;
    const path = isObject(item) ? item.path : undefined;
    if (typeof path !== "string") layout(`${where}: path must be a string`, DATAPACKAGE);
    try {
      checkMemberName(path);
    } catch (exc) {
      if (exc instanceof PackageError) layout(`${where}: ${exc.message}`, DATAPACKAGE);
      throw exc;
    }
    if (seen.has(path) || path === DATAPACKAGE || path === DATAPACKAGE_DIGEST) {
      layout(`${where}: ${show(path)} is listed twice or reserved`, path);
    }
    seen.add(path);
    const size = item.bytes;
    if (typeof size !== "bigint" || size < 0n || size > BigInt(limits.maxMemberBytes)) {
      layout(`${where} (${show(path)}): bytes must be an integer in 0..${limits.maxMemberBytes}`, path);
    }
    out.push({ path, size: Number(size), sha256: sha256Of(item.hash, where, path) });
  });
  return out;
}

/** [SHA-256 hex, the bytes when at most `keep` long (else null)] of member `m`. */
async function resourceSha256(zip, m, size, keep = 0) {
  const inMemory = size <= WEBCRYPTO_MAX_BYTES;
  const parts = [];
  const js = inMemory ? null : new Sha256();
  for await (const chunk of memberChunks(zip, m)) {
    if (inMemory) parts.push(chunk);
    else js.update(chunk);
  }
  if (!inMemory) return [js.hexdigest(), null];
  const whole = concatBytes(...parts);
  return [bytesToHex(await sha256(whole)), whole.length <= keep ? whole : null];
}

/**
 * The pages pages/pages.jsonl lists (WACZ 1.1.1: a header line, then one JSON object per
 * page), for the replay to offer: [{url, ts (14 digits or ""), title}], at most MAX_PAGES,
 * http(s) URLs only. Not part of the check: a page list that does not parse is just empty.
 */
function parsePages(bytes) {
  const out = [];
  if (bytes === null) return out;
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    if (out.length >= MAX_PAGES) break;
    if (!line.trim()) continue;
    let page;
    try {
      page = JSON.parse(line);
    } catch {
      continue;
    }
    if (!page || typeof page !== "object" || typeof page.url !== "string") continue;
    if (!/^https?:\/\//.test(page.url) || page.url.length > 2048) continue;
    const digits = typeof page.ts === "string" ? page.ts.replace(/\D/g, "").slice(0, 14) : "";
    const title = typeof page.title === "string" ? page.title.slice(0, 200) : "";
    out.push({ url: page.url, ts: digits.length === 14 ? digits : "", title });
  }
  return out;
}

async function check(zip) {
  const members = zip.members;
  for (const name of [DATAPACKAGE, DATAPACKAGE_DIGEST]) {
    if (!members.has(name)) layout(`the WACZ has no ${name}`, name);
  }
  const packageBytes = await readSmall(zip, members.get(DATAPACKAGE), MAX_DATAPACKAGE_BYTES);
  const digestBytes = await readSmall(zip, members.get(DATAPACKAGE_DIGEST), MAX_DIGEST_BYTES);
  const packageSha256 = bytesToHex(await sha256(packageBytes));
  checkDigestRecord(digestBytes, packageSha256);
  const pkg = jsonObject(DATAPACKAGE, packageBytes);
  const declared = resources(pkg, zip.limits);
  const paths = new Set(declared.map((r) => r.path));
  for (const r of declared) {
    if (!members.has(r.path)) mismatch(`resource ${show(r.path)} is in ${DATAPACKAGE} but not in the archive`, r.path);
  }
  const extra = [...members.keys()].filter((n) => !paths.has(n) && n !== DATAPACKAGE && n !== DATAPACKAGE_DIGEST).sort();
  if (extra.length) {
    const more = extra.length > 1 ? ` (and ${extra.length - 1} more)` : "";
    mismatch(`member ${show(extra[0])} is in the archive but not declared in ${DATAPACKAGE}${more}`, extra[0]);
  }
  let pages = null;
  for (const r of declared) {
    const m = members.get(r.path);
    const shown = show(r.path);
    if (m.size !== r.size) mismatch(`resource ${shown} is ${m.size} bytes in the archive, ${r.size} in ${DATAPACKAGE}`, r.path);
    const [got, kept] = await resourceSha256(zip, m, r.size, r.path === PAGES ? MAX_PAGES_BYTES : 0);
    if (got !== r.sha256) mismatch(`resource ${shown} SHA-256 ${got} differs from ${DATAPACKAGE}'s ${r.sha256}`, r.path);
    if (r.path === PAGES) pages = kept;
  }
  const version = pkg.wacz_version;
  return {
    datapackage_sha256: packageSha256,
    resources: declared,
    wacz_version: typeof version === "string" && version.length <= 32 ? version : null,
    pages: parsePages(pages),
  };
}

/**
 * Check a WACZ (a Blob) against its own datapackage.json. Returns {datapackage_sha256,
 * resources: [{path, size, sha256}], wacz_version, pages: [{url, ts, title}]}; throws
 * WaczError naming what is wrong.
 */
export async function checkWacz(blob, limits = LIMITS) {
  try {
    return await check(await openZip(blob, limits, { checkName: null }));
  } catch (exc) {
    if (exc instanceof PackageError) throw new WaczError("WaczUnreadableError", `not a safe, readable ZIP: ${exc.message}`);
    throw exc;
  }
}

/** checkWacz's verdict as a value: the check, or the WaczError that refused the WACZ. */
export async function waczVerdict(blob, limits = LIMITS) {
  try {
    return await checkWacz(blob, limits);
  } catch (exc) {
    if (exc instanceof WaczError) return exc;
    throw exc;
  }
}
