// Witness cosignatures on checkpoints (C2SP tlog-cosignature, Ed25519, "cosignature/v1") —
// the portal twin of verifier/cosignature.py: the same key-ID rule, signed message, limits
// and verdicts. Pure: no DOM, no network; signatures are checked with WebCrypto's Ed25519.
//
// A cosignature line is "— <witness name> base64(key ID || u64 time, big-endian || signature)",
// key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4]; the signature covers
// "cosignature/v1\ntime <time>\n" followed by the checkpoint's note body.
// The policy (keys, quorum) comes from the user or the service's configuration, never from
// the bundle: lines by unknown keys are ignored; a trusted witness's line that does not
// verify is a forgery (the check fails).

import { FormatError, b64decodeStrict, bytesEqual, bytesToHex, concatBytes, utf8 } from "./bytes.js";
import { sha256, subtle } from "./hashes.js";
import { checkKeyName, parseNote } from "./note.js";

export const ALG_COSIGNATURE = 0x04;
export const COSIGNATURE_HEADER = "cosignature/v1";
/** time (8) + Ed25519 signature (64), after the 4-byte key ID. */
export const COSIGNATURE_BYTES = 8 + 64;
export const MAX_TIMESTAMP = 2n ** 63n - 1n;
export const MAX_WITNESSES = 32;

const STRIP = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

export async function cosignatureKeyId(name, publicKey) {
  const data = concatBytes(utf8(name), Uint8Array.of(0x0a, ALG_COSIGNATURE), publicKey);
  return (await sha256(data)).subarray(0, 4);
}

/** Parse a witness vkey `<name>+<hex key ID>+<base64(0x04 || key)>` (verifier.cosignature.WitnessKey). */
export async function parseWitnessKey(text) {
  const parts = text.replace(STRIP, "").split("+");
  if (parts.length < 3) throw new FormatError("witness key must be <name>+<hex key id>+<base64 key>");
  const [name, hexId] = parts;
  const blob = parts.slice(2).join("+");
  checkKeyName(name);
  if (hexId.length !== 8) throw new FormatError("witness key ID must be 8 hex digits");
  const raw = b64decodeStrict(blob, "witness key");
  if (raw.length !== 33 || raw[0] !== ALG_COSIGNATURE) {
    throw new FormatError("witness key is not an Ed25519 cosignature (type 0x04) key");
  }
  const publicKey = raw.subarray(1);
  const keyId = await cosignatureKeyId(name, publicKey);
  if (bytesToHex(keyId) !== hexId.toLowerCase()) {
    throw new FormatError("witness key ID does not match its name and key");
  }
  return { name, publicKey, keyId, text: `${name}+${bytesToHex(keyId)}+${blob}`, cryptoKey: null };
}

/** {keys, quorum}: quorum defaults to every key given (verifier.cosignature.WitnessPolicy.of). */
export function witnessPolicy(keys, quorum = null) {
  const q = quorum === null ? keys.length : quorum;
  if (keys.length > MAX_WITNESSES) throw new FormatError(`more than ${MAX_WITNESSES} witness keys`);
  const ids = new Set(keys.map((k) => `${k.name}\n${bytesToHex(k.keyId)}`));
  if (ids.size !== keys.length) throw new FormatError("a witness key is given twice");
  if (!Number.isInteger(q) || q < 1 || q > Math.max(1, keys.length)) {
    throw new FormatError(`witness quorum ${q} must be 1..${keys.length} (the keys given)`);
  }
  return { keys, quorum: q };
}

async function verifyEd25519(key, message, signature) {
  if (key.cryptoKey === null) {
    try {
      key.cryptoKey = await subtle().importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch {
      key.cryptoKey = false;
    }
  }
  if (key.cryptoKey === false) return false;
  try {
    return await subtle().verify({ name: "Ed25519" }, key.cryptoKey, signature, message);
  } catch {
    return false;
  }
}

/** The bytes a cosignature/v1 signs. */
export function cosignedMessage(text, time) {
  return utf8(`${COSIGNATURE_HEADER}\ntime ${time}\n${text}`);
}

/** Signature lines shaped like cosignatures (72 bytes after the key ID). */
export function cosignatureLines(note) {
  return parseNote(note).signatures.filter((s) => s.signature.length === COSIGNATURE_BYTES).length;
}

/**
 * Check a signed checkpoint's cosignatures against `policy` (verifier.cosignature.check_witnesses).
 * Returns {quorum, cosigned: [[name, time (BigInt)]], missing: [names], forged: name|null, met}.
 */
export async function checkWitnesses(note, policy) {
  const parsed = parseNote(note);
  const cosigned = [];
  const seen = new Set();
  const verdict = (forged, missing = []) => ({
    quorum: policy.quorum,
    cosigned,
    missing,
    forged,
    met: forged === null && cosigned.length >= policy.quorum,
  });
  for (const sig of parsed.signatures) {
    const key = policy.keys.find((k) => k.name === sig.name && bytesEqual(k.keyId, sig.keyId));
    const id = `${sig.name}\n${bytesToHex(sig.keyId)}`;
    if (!key || seen.has(id)) continue;
    seen.add(id);
    if (sig.signature.length !== COSIGNATURE_BYTES) return verdict(sig.name);
    const view = new DataView(sig.signature.buffer, sig.signature.byteOffset, 8);
    const time = view.getBigUint64(0);
    if (time > MAX_TIMESTAMP) return verdict(sig.name);
    const ok = await verifyEd25519(key, cosignedMessage(parsed.text, time), sig.signature.subarray(8));
    if (!ok) return verdict(sig.name);
    cosigned.push([sig.name, time]);
  }
  const missing = policy.keys.filter((k) => !seen.has(`${k.name}\n${bytesToHex(k.keyId)}`)).map((k) => k.name);
  return verdict(null, missing);
}

/** POSIX seconds (BigInt or number) as 2026-12-03T10:00:00Z. */
export function isoUtc(seconds) {
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
