// Reading an evidence package (evidence-package/v1, a ZIP) in the browser — the portal twin
// of the consistency half of verifier/package.py. The package must agree with itself:
// manifest.json is exactly the proof's canonical manifest and hashes to the entry's digests;
// each files/<name> has its manifest size, SHA-256 and SM3; none is missing or extra.
// The log key and chain facts it carries are returned for display only, never trusted.

import { FormatError, bytesEqual, bytesToHex, decodeUtf8 } from "./bytes.js";
import { CAPTURE_WACZ as WACZ, isCapture, loadBundle } from "./bundle.js";
import { sha256, sm3Hex } from "./hashes.js";
import { canonicalJson, isObject, parseJson } from "./json.js";
import { parseVerifierKey } from "./note.js";
import { digestChunks } from "./verify.js";
import { LIMITS, PackageError, SMALL_MEMBERS, memberChunks, memberDataStart, openZip, readSmall, show } from "./zip.js";

export const PACKAGE_FORMAT_V1 = "evidence-package/v1";
const REQUIRED = ["package.json", "manifest.json", "proof.json"];

const fail = (kind, message) => {
  throw new PackageError(kind, message);
};

function jsonMember(name, data) {
  let obj;
  try {
    obj = parseJson(data, { maxBytes: SMALL_MEMBERS[name], what: name });
  } catch (exc) {
    if (exc instanceof FormatError) fail("PackageLayoutError", exc.message);
    throw exc;
  }
  if (!isObject(obj)) fail("PackageLayoutError", `${name} must be a JSON object`);
  return obj;
}

function checkIndex(data) {
  const index = jsonMember("package.json", data);
  const fmt = index.format;
  if (fmt !== PACKAGE_FORMAT_V1) {
    if (typeof fmt === "string" && fmt.startsWith("evidence-package/")) {
      fail("PackageLayoutError", `unknown package format ${show(fmt.slice(0, 40))}; this verifier reads ${PACKAGE_FORMAT_V1}`);
    }
    fail("PackageLayoutError", `package.json: format must be '${PACKAGE_FORMAT_V1}'`);
  }
  if (!Array.isArray(index.files) || !index.files.every((f) => typeof f === "string")) {
    fail("PackageLayoutError", "package.json: files must be a list of names");
  }
  if (typeof index.evidence_id !== "string") fail("PackageLayoutError", "package.json: evidence_id must be a string");
  return index;
}

function loadProof(data) {
  let bundle;
  try {
    bundle = loadBundle(data);
  } catch (exc) {
    if (exc instanceof FormatError) fail("PackageLayoutError", `proof.json: ${exc.message}`);
    throw exc;
  }
  if (bundle.entry.kind !== "evidence") {
    fail("PackageLayoutError", `proof.json is for a '${bundle.entry.kind}' entry, not an evidence package`);
  }
  if (bundle.manifest === null) fail("PackageLayoutError", "proof.json carries no manifest");
  return bundle;
}

async function checkManifest(bundle, data) {
  const expected = canonicalJson(bundle.manifest.raw);
  const got = bytesToHex(await sha256(data));
  if (!bytesEqual(data, expected)) {
    fail(
      "PackageMismatchError",
      `manifest.json (SHA-256 ${got}) is not the canonical manifest in proof.json (SHA-256 ${bytesToHex(await sha256(expected))})`,
    );
  }
  const body = bundle.entry.body;
  for (const [label, have, want] of [
    ["SHA-256", got, body.manifest_sha256],
    ["SM3", sm3Hex(data), body.manifest_sm3],
  ]) {
    if (have !== want) {
      fail("PackageMismatchError", `manifest.json ${label} ${have} is not the entry's manifest ${label} ${want}`);
    }
  }
  if (bundle.manifest.evidence_id !== bundle.entry.id) {
    fail("PackageMismatchError", `manifest.json is for ${bundle.manifest.evidence_id}, the entry for ${bundle.entry.id}`);
  }
}

function checkIndexAgrees(index, bundle) {
  if (index.evidence_id !== bundle.entry.id) {
    fail("PackageMismatchError", `package.json names ${show(index.evidence_id)}, proof.json ${bundle.entry.id}`);
  }
  const names = bundle.manifest.files.map((f) => f.name).sort();
  const listed = [...index.files].sort();
  if (names.length !== listed.length || names.some((n, i) => n !== listed[i])) {
    fail("PackageMismatchError", "package.json lists other files than the manifest");
  }
}

async function parseKey(data) {
  try {
    const text = decodeUtf8(data, "log-key.vkey");
    await parseVerifierKey(text);
    return text.trim();
  } catch (exc) {
    if (exc instanceof FormatError) fail("PackageLayoutError", `log-key.vkey is not a verifier key: ${exc.message}`);
    throw exc;
  }
}

function parseChain(data, bundle) {
  const obj = jsonMember("chain.json", data);
  const keys = Object.keys(obj).sort();
  const { chain_id: chainId, contract, log_id: logId } = obj;
  if (
    keys.join() !== "chain_id,contract,log_id" ||
    typeof chainId !== "bigint" ||
    chainId < 1n ||
    chainId > 2n ** 53n - 1n ||
    typeof contract !== "string" ||
    !/^0x[0-9a-fA-F]{40}$/.test(contract) ||
    typeof logId !== "string" ||
    !/^0x[0-9a-f]{64}$/.test(logId)
  ) {
    fail("PackageLayoutError", "chain.json must be exactly {chain_id: 1..2^53-1, contract: 0x+40 hex, log_id: 0x+64 hex}");
  }
  const a = bundle.anchor;
  if (a !== null && (a.chain_id !== chainId || a.contract.toLowerCase() !== contract.toLowerCase() || a.log_id !== logId)) {
    fail(
      "PackageMismatchError",
      `chain.json (chain ${chainId}, contract ${contract}) differs from the anchor in proof.json (chain ${a.chain_id}, contract ${a.contract})`,
    );
  }
  return { chain_id: Number(chainId), contract, log_id: logId };
}

function checkFileSet(members, bundle) {
  const listed = new Set(bundle.manifest.files.map((f) => `files/${f.name}`));
  const present = new Set([...members.keys()].filter((n) => n.startsWith("files/")));
  const missing = [...listed].filter((n) => !present.has(n)).sort();
  if (missing.length) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : "";
    fail("PackageMismatchError", `${show(missing[0])} is in the manifest but missing from the package${more}`);
  }
  const extra = [...present].filter((n) => !listed.has(n)).sort();
  if (extra.length) {
    const more = extra.length > 1 ? ` (and ${extra.length - 1} more)` : "";
    fail("PackageMismatchError", `${show(extra[0])} is in the package but not in the manifest${more}`);
  }
}

/**
 * Read and check a package ZIP (a Blob). Returns {bundle, files (digests, manifest order),
 * logKeyText, chain, source, wacz}; throws PackageError (a FormatError) with a one-line reason.
 * For a server capture (bundle.js isCapture), `wacz` is archive.wacz as a Blob and its file
 * digest carries `wacz`: wacz.js checkWacz's result, or the WaczError that refused it (tier 1 reads
 * it); otherwise `wacz` is null.
 * `onProgress(done, total)` follows the hashing of the evidence files.
 */
export async function readPackage(blob, { limits = LIMITS, onProgress = () => {} } = {}) {
  const zip = await openZip(blob, limits);
  const members = zip.members;
  const missing = REQUIRED.filter((n) => !members.has(n));
  if (missing.length) fail("PackageLayoutError", `the package has no ${missing[0]}`);
  const index = checkIndex(await readSmall(zip, members.get("package.json")));
  const bundle = loadProof(await readSmall(zip, members.get("proof.json")));
  await checkManifest(bundle, await readSmall(zip, members.get("manifest.json")));
  checkIndexAgrees(index, bundle);
  let logKeyText = null;
  let chain = null;
  if (members.has("log-key.vkey")) logKeyText = await parseKey(await readSmall(zip, members.get("log-key.vkey")));
  if (members.has("chain.json")) chain = parseChain(await readSmall(zip, members.get("chain.json")), bundle);
  if (members.has("README.txt")) {
    try {
      decodeUtf8(await readSmall(zip, members.get("README.txt")), "README.txt");
    } catch (exc) {
      if (exc instanceof PackageError) throw exc;
      fail("PackageLayoutError", "README.txt is not UTF-8 text");
    }
  }
  checkFileSet(members, bundle);
  const total = bundle.manifest.files.reduce((n, f) => n + Number(f.size), 0);
  const capture = isCapture(bundle.manifest);
  let before = 0;
  const files = [];
  let wacz = null;
  for (const listed of bundle.manifest.files) {
    const m = members.get(`files/${listed.name}`);
    const want = Number(listed.size);
    if (m.size !== want) {
      fail("PackageMismatchError", `${show(m.name)} declares ${m.size} bytes, the manifest ${want}`);
    }
    // A capture's WACZ is kept (as a Blob) for its own check and for the replay: a stored
    // member is a slice of the package itself, a deflated one the chunks as they inflate.
    const keep = capture && listed.name === WACZ ? [] : null;
    const got = await digestChunks(
      listed.name,
      want,
      keep === null ? memberChunks(zip, m) : collect(memberChunks(zip, m), m.method === 0 ? null : keep),
      (done) => onProgress(before + done, total),
      { preallocate: false },
    );
    for (const [label, have, wanted] of [
      ["SHA-256", got.sha256, listed.sha256],
      ["SM3", got.sm3, listed.sm3],
    ]) {
      if (have !== wanted) fail("PackageMismatchError", `${show(m.name)} ${label} ${have} differs from the manifest's ${wanted}`);
    }
    before += want;
    if (keep !== null) {
      const start = m.method === 0 ? await memberDataStart(zip, m) : 0;
      wacz = m.method === 0 ? blob.slice(start, start + want, "application/wacz") : new Blob(keep, { type: "application/wacz" });
      const { waczVerdict } = await import("./wacz.js");
      got.wacz = await waczVerdict(wacz, limits);
    }
    files.push(got);
  }
  return { bundle, files, logKeyText, chain, source: "zip", wacz };
}

/** The chunks of `chunks`, each also pushed onto `into` (unless it is null). */
async function* collect(chunks, into) {
  for await (const chunk of chunks) {
    if (into !== null) into.push(chunk);
    yield chunk;
  }
}

/** True if the first bytes start a ZIP archive (a package is told apart by content). */
export function looksLikeZip(head) {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

export { PackageError } from "./zip.js";
