// Tiered verification of a proof bundle in the browser — the portal twin of
// verifier/verify.py. Pure: no DOM, no network. File digests are computed here from bytes
// the caller reads locally (the files never leave the machine); the chain check (tier 5)
// is a function the caller supplies (the portal asks the verification service).
//
// Every tier is reported, never just "OK":
//   1 files       each file's bytes hash to the manifest's SHA-256 and SM3 (and a server
//                 capture's archive.wacz agrees with its own datapackage.json: wacz.js);
//   2 manifest    the manifest's digests are the entry's;
//   3 inclusion   the entry's leaf is in the checkpoint's tree (RFC 9162);
//   4 checkpoint  signed by the trusted log key (C2SP signed note, Ed25519); cosigned by a
//                 quorum of the witnesses given (cosignature.js); RFC 3161 timestamps are
//                 not checked in the browser (CMS is out of scope) and say so;
//   5 anchor      the chain records that (size, root).
// Statuses: verified, failed, not_checked, not_applicable, skipped (as in Python).

import { VerifyError, bytesToHex, concatBytes, hexToBytes, pyRepr } from "./bytes.js";
import { Sha256, Sm3, sha256 } from "./hashes.js";
import { canonicalJson } from "./json.js";
import { leafHash, verifyInclusion } from "./merkle.js";
import { openCheckpoint, openReceipt, parseSignedCheckpoint } from "./note.js";
import { CAPTURE_WACZ as WACZ, isCapture } from "./bundle.js";
import { checkWitnesses, cosignatureLines, isoUtc } from "./cosignature.js";

export * from "./bytes.js";
export { Sha256, Sm3, sha256, sm3Hex } from "./hashes.js";
export { JsonFloat, canonicalJson, parseJson, toJsonText } from "./json.js";
export { inclusionProofLength, leafHash, nodeHash, rootFromInclusionProof, verifyInclusion } from "./merkle.js";
export { openCheckpoint, parseNote, parseSignedCheckpoint, parseVerifierKey } from "./note.js";
export { CAPTURE_WACZ, FORMAT_V1, MAX_BUNDLE_BYTES, bundleFromObj, isCapture, loadBundle } from "./bundle.js";
export { PackageError } from "./zip.js";
export { checkWitnesses, parseWitnessKey, witnessPolicy } from "./cosignature.js";

export const VERIFIED = "verified";
export const FAILED = "failed";
export const NOT_CHECKED = "not_checked";
export const NOT_APPLICABLE = "not_applicable";
export const SKIPPED = "skipped";

export const TIER_NAMES = {
  1: ["files", "文件哈希"],
  2: ["manifest", "清单与条目"],
  3: ["inclusion", "默克尔包含证明"],
  4: ["checkpoint", "检查点签名、见证与时间戳"],
  5: ["anchor", "区块链锚定"],
};

function tier(n, status, detail, facts) {
  const out = { tier: n, name: TIER_NAMES[n][0], status, detail };
  if (facts && Object.keys(facts).length) out.facts = facts;
  return out;
}

/** Outcome of a report: failed if any tier failed, incomplete if any was not checked. */
export function outcome(tiers) {
  const statuses = new Set(tiers.map((t) => t.status));
  if (statuses.has(FAILED)) return "failed";
  if (statuses.has(NOT_CHECKED)) return "incomplete";
  return "verified";
}

// --- file digests ------------------------------------------------------------------------

/** Files up to this size are hashed with WebCrypto (whole in memory); larger ones in JS. */
export const WEBCRYPTO_MAX_BYTES = 512 * 1024 * 1024;
export const CHUNK_BYTES = 4 * 1024 * 1024;

/** SHA-256 and SM3 of bytes in memory: {name, size, sha256, sm3}. */
export async function digestBytes(name, bytes) {
  const sm = new Sm3();
  for (let o = 0; o < bytes.length; o += CHUNK_BYTES) sm.update(bytes.subarray(o, o + CHUNK_BYTES));
  return { name, size: bytes.length, sha256: bytesToHex(await sha256(bytes)), sm3: sm.hexdigest() };
}

/**
 * SHA-256 and SM3 of a stream of chunks of known total `size`, in one pass.
 * Up to WEBCRYPTO_MAX_BYTES the chunks are gathered for WebCrypto's native SHA-256;
 * beyond it SHA-256 runs incrementally in JS, so memory stays bounded.
 * `onProgress(done, size)` is called after every chunk.
 */
export async function digestChunks(name, size, chunks, onProgress = () => {}, { preallocate = true } = {}) {
  // A local file's size is real, so its buffer is allocated at once; a ZIP member's size is
  // only declared (a bomb can declare anything), so its chunks are kept as they arrive.
  const inMemory = size <= WEBCRYPTO_MAX_BYTES;
  const whole = inMemory && preallocate ? new Uint8Array(size) : null;
  const parts = inMemory && !preallocate ? [] : null;
  const js = inMemory ? null : new Sha256();
  const sm = new Sm3();
  let done = 0;
  let painted = Date.now();
  for await (const chunk of chunks) {
    if (done + chunk.length > size) throw new VerifyError(`${name}: longer than its ${size} bytes`);
    if (whole) whole.set(chunk, done);
    else if (parts) parts.push(chunk);
    else js.update(chunk);
    sm.update(chunk);
    done += chunk.length;
    if (Date.now() - painted > 100) {
      onProgress(done, size);
      await new Promise((r) => setTimeout(r, 0)); // let the page repaint the progress bar
      painted = Date.now();
    }
  }
  onProgress(done, size);
  if (done !== size) throw new VerifyError(`${name}: ${done} bytes read, expected ${size}`);
  const sha = js ? js.hexdigest() : bytesToHex(await sha256(whole || concatBytes(...parts)));
  return { name, size, sha256: sha, sm3: sm.hexdigest() };
}

/** Chunks of a Blob (a dropped File), read a few megabytes at a time. */
export async function* blobChunks(blob, chunkBytes = CHUNK_BYTES) {
  for (let o = 0; o < blob.size; o += chunkBytes) {
    yield new Uint8Array(await blob.slice(o, o + chunkBytes).arrayBuffer());
  }
}

/** Digest a Blob/File locally: nothing is sent anywhere. */
export function digestBlob(name, blob, onProgress) {
  return digestChunks(name, blob.size, blobChunks(blob), onProgress);
}

// --- tiers -------------------------------------------------------------------------------

function tierFiles(bundle, files) {
  const entry = bundle.entry;
  if (entry.kind === "stamp") {
    if (!files || !files.length) return tier(1, NOT_CHECKED, "no file given (pass --file)");
    const want = entry.body.sha256;
    const bad = files.filter((f) => f.sha256 !== want).map((f) => f.name);
    if (bad.length) return tier(1, FAILED, `${bad[0]}: SHA-256 differs from the stamp ${want}`);
    return tier(1, VERIFIED, `SHA-256 ${want} matches the stamped digest`);
  }
  if (entry.kind !== "evidence") return tier(1, NOT_APPLICABLE, `a ${entry.kind} entry has no files`);
  if (bundle.manifest === null) return tier(1, NOT_CHECKED, "bundle carries no manifest");
  const listedFiles = bundle.manifest.files;
  if (!files || !files.length) {
    return tier(1, NOT_CHECKED, `no files given (${listedFiles.length} in the manifest)`);
  }
  const byName = new Map(listedFiles.map((f) => [f.name, f]));
  const matched = new Set();
  let waczGiven = null; // the file given for a capture's archive.wacz
  for (const given of files) {
    // By name first; a renamed copy is matched by content among unmatched files.
    const listed =
      byName.get(given.name) ||
      listedFiles.find((f) => f.sha256 === given.sha256 && !matched.has(f.name));
    if (!listed) return tier(1, FAILED, `${given.name}: not in the manifest`);
    for (const [label, got, want] of [
      ["size", String(given.size), String(listed.size)],
      ["SHA-256", given.sha256, listed.sha256],
      ["SM3", given.sm3, listed.sm3],
    ]) {
      if (got !== want) {
        return tier(
          1,
          FAILED,
          `${given.name}: ${label} ${got} differs from the manifest's ${want} for ${listed.name}`,
        );
      }
    }
    matched.add(listed.name);
    if (listed.name === WACZ) waczGiven = given;
  }
  // A server capture's WACZ must also agree with its own datapackage.json (wacz.js); as in
  // verifier/verify.py, facts.wacz says how that went and the detail ends with a note.
  let facts = {};
  let note = "";
  if (isCapture(bundle.manifest) && waczGiven !== null) {
    const verdict = waczGiven.wacz ?? null;
    if (verdict instanceof Error) return tier(1, FAILED, `${WACZ}: ${verdict.message}`, { wacz: "failed" });
    if (verdict === null) {
      facts = { wacz: "not_checked" };
      note = `; ${WACZ}: its datapackage.json digests not checked`;
    } else {
      facts = { wacz: "verified", wacz_resources: verdict.resources.length };
      note = `; ${WACZ}: all ${verdict.resources.length} resources match its datapackage.json`;
    }
  }
  const missing = [...byName.keys()].filter((n) => !matched.has(n)).sort();
  if (missing.length) {
    return tier(
      1,
      NOT_CHECKED,
      `${matched.size} of ${byName.size} files match; not given: ${missing.slice(0, 5).join(", ")}${note}`,
      facts,
    );
  }
  return tier(1, VERIFIED, `all ${matched.size} files match SHA-256 and SM3${note}`, facts);
}

async function tierManifest(bundle) {
  const entry = bundle.entry;
  if (entry.kind !== "evidence") return tier(2, NOT_APPLICABLE, `a ${entry.kind} entry has no manifest`);
  if (bundle.manifest === null) return tier(2, NOT_CHECKED, "bundle carries no manifest");
  const data = canonicalJson(bundle.manifest.raw);
  const sha = bytesToHex(await sha256(data));
  const sm = new Sm3().update(data).hexdigest();
  if (sha !== entry.body.manifest_sha256) {
    return tier(2, FAILED, `manifest SHA-256 ${sha} is not the entry's ${entry.body.manifest_sha256}`);
  }
  if (sm !== entry.body.manifest_sm3) {
    return tier(2, FAILED, `manifest SM3 ${sm} is not the entry's ${entry.body.manifest_sm3}`);
  }
  if (bundle.manifest.evidence_id !== entry.id) {
    return tier(2, FAILED, `manifest is for ${bundle.manifest.evidence_id}, entry for ${entry.id}`);
  }
  return tier(2, VERIFIED, `manifest SHA-256 ${sha} and SM3 are in the entry`);
}

async function tierInclusion(bundle, leaf) {
  if (bytesToHex(leaf) !== bundle.leaf_hash) {
    return [tier(3, FAILED, `leaf_hash ${bundle.leaf_hash} is not the entry's ${bytesToHex(leaf)}`), null];
  }
  if (bundle.inclusion === null || bundle.checkpoint === null) {
    return [tier(3, NOT_CHECKED, "pending: not yet sealed; fetch the bundle again"), null];
  }
  let cp;
  try {
    cp = parseSignedCheckpoint(bundle.checkpoint);
  } catch (exc) {
    if (exc instanceof VerifyError) return [tier(3, FAILED, `checkpoint: ${exc.message}`), null];
    throw exc;
  }
  const proof = bundle.inclusion;
  if (proof.tree_size !== cp.size) {
    return [tier(3, FAILED, `proof is for size ${proof.tree_size}, checkpoint is ${cp.size}`), cp];
  }
  try {
    const hashes = proof.hashes.map((h) => hexToBytes(h));
    await verifyInclusion(leaf, proof.index, proof.tree_size, hashes, cp.root);
  } catch (exc) {
    if (exc instanceof VerifyError) return [tier(3, FAILED, exc.message), cp];
    throw exc;
  }
  return [tier(3, VERIFIED, `leaf ${proof.index} is in the tree of size ${cp.size}`), cp];
}

async function tierSignature(bundle, leaf, logKeys) {
  if (!logKeys.length) return tier(4, NOT_CHECKED, "no trusted log key given (pass --log-key)");
  let cp;
  try {
    if (bundle.receipt !== null) {
      const receipt = await openReceipt(bundle.receipt, logKeys);
      if (receipt.leafHash !== bytesToHex(leaf)) return tier(4, FAILED, "receipt is for another leaf");
      if (receipt.origin !== bundle.log_origin) {
        return tier(
          4,
          FAILED,
          `receipt is from ${pyRepr(receipt.origin)}, not ${pyRepr(bundle.log_origin)}`,
        );
      }
    }
    if (bundle.checkpoint === null) {
      return tier(4, NOT_CHECKED, "receipt signature valid; no checkpoint yet");
    }
    cp = await openCheckpoint(bundle.checkpoint, logKeys);
  } catch (exc) {
    if (exc instanceof VerifyError) return tier(4, FAILED, exc.message);
    throw exc;
  }
  if (cp.origin !== bundle.log_origin) {
    return tier(
      4,
      FAILED,
      `checkpoint origin ${pyRepr(cp.origin)} is not ${pyRepr(bundle.log_origin)}`,
    );
  }
  return tier(4, VERIFIED, `signed by ${cp.origin}`);
}

function plural(n, word) {
  return n === 1 ? `${n} ${word}` : `${n} ${word}s`;
}

async function witnessPart(note, policy) {
  if (policy === null) {
    const lines = cosignatureLines(note);
    if (!lines) return [null, null];
    return [{ status: VERIFIED, detail: `${plural(lines, "cosignature")} not checked (no witness key given)` }, null];
  }
  const verdict = await checkWitnesses(note, policy);
  if (verdict.forged !== null) {
    return [{ status: FAILED, detail: `cosignature by witness ${verdict.forged} does not verify` }, verdict];
  }
  const detail = `${verdict.cosigned.length} of ${policy.keys.length} witnesses cosigned (quorum ${policy.quorum})`;
  const facts = { witnesses_cosigned: verdict.cosigned.length, witness_quorum: policy.quorum };
  if (verdict.cosigned.length) {
    facts.witnesses = verdict.cosigned.map(([n, t]) => `${n} ${isoUtc(t)}`).join(", ");
  }
  return [{ status: verdict.met ? VERIFIED : NOT_CHECKED, detail, facts }, verdict];
}

/**
 * Tier 4: the log's signature, then the witnesses, then the timestamps (as verifier/verify.py
 * _tier_checkpoint; the browser has no TSA check, so tokens are "not checked").
 */
async function tierCheckpoint(bundle, leaf, logKeys, witnesses) {
  const signature = await tierSignature(bundle, leaf, logKeys);
  const note = bundle.checkpoint;
  if (signature.status === FAILED || note === null) return [signature, null];
  let witness;
  let verdict;
  try {
    [witness, verdict] = await witnessPart(note, witnesses);
  } catch (exc) {
    if (exc instanceof VerifyError) return [tier(4, FAILED, exc.message), null];
    throw exc;
  }
  const tokens = bundle.timestamps || [];
  const stamp = tokens.length
    ? { status: VERIFIED, detail: `${plural(tokens.length, "timestamp")} not checked (no TSA certificate given)` }
    : null;
  const parts = [{ status: signature.status, detail: signature.detail, facts: signature.facts }];
  for (const p of [witness, stamp]) if (p !== null) parts.push(p);
  const failed = parts.find((p) => p.status === FAILED);
  if (failed) return [tier(4, FAILED, failed.detail, failed.facts), verdict];
  const facts = Object.assign({}, ...parts.map((p) => p.facts || {}));
  const statuses = parts.map((p) => p.status);
  const status = statuses.includes(NOT_CHECKED) ? NOT_CHECKED : VERIFIED;
  return [tier(4, status, parts.map((p) => p.detail).join("; "), facts), verdict];
}

/**
 * Run every tier on a loaded bundle (see loadBundle). Options:
 *   files        digests from digestBytes/digestBlob (may be empty); a capture's
 *                archive.wacz digest carries `wacz`, waczVerdict's result;
 *   logKeys      trusted keys from parseVerifierKey (the service's /v1/config);
 *   anchorCheck  async (bundle) => {status, detail, facts?}, or null (tier 5 not checked);
 *   through      tiers above it are reported as skipped (default 5);
 *   witnesses    a witnessPolicy({keys from parseWitnessKey}, quorum), or null (cosignatures
 *                are then named as not checked).
 * Returns {outcome, evidence_id, kind, leaf_hash, tree_size, tiers: [{tier, name, status, detail}]}.
 */
export async function verifyBundle(
  bundle,
  { files = [], logKeys = [], anchorCheck = null, through = 5, witnesses = null } = {},
) {
  const leaf = await leafHash(bundle.entry.leafData);
  const [tier3, cp] = await tierInclusion(bundle, leaf);
  let tiers = [tierFiles(bundle, files), await tierManifest(bundle), tier3];
  const [tier4, witnessVerdict] = await tierCheckpoint(bundle, leaf, logKeys, witnesses);
  tiers.push(tier4);
  if (bundle.anchor === null) {
    tiers.push(tier(5, NOT_CHECKED, `${bundle.status}: not yet anchored`));
  } else if (anchorCheck === null) {
    tiers.push(tier(5, NOT_CHECKED, "chain not checked (offline)"));
  } else if (through < 5) {
    tiers.push(tier(5, SKIPPED, `skipped (--through ${through})`));
  } else {
    const answer = await anchorCheck(bundle);
    tiers.push(tier(5, answer.status, answer.detail, answer.facts));
  }
  tiers = tiers.map((t) => (t.tier <= through ? t : tier(t.tier, SKIPPED, `skipped (--through ${through})`)));
  return {
    outcome: outcome(tiers),
    evidence_id: bundle.entry.id,
    kind: bundle.entry.kind,
    leaf_hash: bytesToHex(leaf),
    tree_size: cp === null ? null : cp.size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(cp.size) : cp.size.toString(),
    tiers,
    ...(witnessVerdict !== null && through >= 4
      ? {
          witnesses: {
            met: witnessVerdict.met,
            quorum: witnessVerdict.quorum,
            cosigned: witnessVerdict.cosigned.map(([name, t]) => ({ name, time: isoUtc(t) })),
            missing: witnessVerdict.missing,
            forged: witnessVerdict.forged,
          },
        }
      : {}),
    // RFC 3161 tokens: carried, not checked in the browser (the portal says so)
    timestamps_unchecked: bundle.timestamps ? bundle.timestamps.map((t) => t.tsa) : [],
  };
}
