// C2SP signed notes with Ed25519 keys, checkpoints and receipts — the portal twin of
// verifier/note.py, verifier/checkpoint.py and verifier/receipt.py (same grammar, same
// limits, same key-ID rule). Signatures are checked with WebCrypto's Ed25519.
//
// A signed note is UTF-8 text ending in a newline, a blank line, then signature lines
// "— <key name> <base64(key ID || signature)>". The key ID is the first four bytes of
// SHA-256(name || 0x0A || 0x01 || public key).

import {
  FormatError,
  SignatureError,
  b64decodeStrict,
  bytesEqual,
  bytesToHex,
  codePoints,
  pyRepr,
  concatBytes,
  decodeUtf8,
  utf8,
} from "./bytes.js";
import { sha256, subtle } from "./hashes.js";
import { HASH_SIZE, MAX_TREE_SIZE } from "./merkle.js";

export const ALG_ED25519 = 0x01;
export const SIG_PREFIX = "\u2014 ";
export const MAX_SIGNATURES = 100;
export const MAX_NOTE_BYTES = 64 * 1024;
export const MAX_NAME_CHARS = 256;
export const MAX_EXTENSIONS = 16;
export const MAX_ORIGIN_CHARS = 256;
export const RECEIPT_HEADER = "evidence-anchor/receipt/v1";
export const MAX_MERGE_DELAY = 7 * 24 * 3600;

const CONTROL = /[\x00-\x09\x0b-\x1f]/;
// Python's str.isspace(), which verifier/note.py uses (JS's \s differs at U+0085 and U+FEFF).
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const NAME_BAD = new RegExp(`[+${PY_SPACE}\\x00-\\x1f]`);
const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");

export function checkKeyName(name) {
  const n = codePoints(name);
  if (!name || n > MAX_NAME_CHARS) {
    throw new FormatError(`key name must be 1..${MAX_NAME_CHARS} characters`);
  }
  if (NAME_BAD.test(name)) {
    throw new FormatError(`key name ${pyRepr(name)} contains whitespace or '+'`);
  }
}

export async function keyId(name, publicKey) {
  const data = concatBytes(utf8(name), Uint8Array.of(0x0a, ALG_ED25519), publicKey);
  return (await sha256(data)).subarray(0, 4);
}

/**
 * Parse a `vkey` (`<name>+<hex key ID>+<base64(0x01 || public key)>`); the embedded key ID
 * must match the name and key, so a key cannot be relabelled for another log.
 */
export async function parseVerifierKey(text) {
  const t = text.replace(STRIP, "");
  const a = t.indexOf("+");
  const b = a < 0 ? -1 : t.indexOf("+", a + 1);
  if (b < 0) throw new FormatError("verifier key must be <name>+<hex key id>+<base64 key>");
  const name = t.slice(0, a);
  const hexId = t.slice(a + 1, b);
  checkKeyName(name);
  if (hexId.length !== 8) throw new FormatError("verifier key ID must be 8 hex digits");
  const raw = b64decodeStrict(t.slice(b + 1), "verifier key");
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) {
    throw new FormatError("verifier key is not an Ed25519 (type 0x01) key");
  }
  const publicKey = raw.subarray(1);
  const id = await keyId(name, publicKey);
  if (bytesToHex(id) !== hexId.toLowerCase()) {
    throw new FormatError("verifier key ID does not match its name and key");
  }
  return { name, publicKey, keyId: id, text: t, cryptoKey: null };
}

async function ed25519Verify(vk, message, signature) {
  if (signature.length !== 64) return false;
  if (vk.cryptoKey === null) {
    try {
      vk.cryptoKey = await subtle().importKey("raw", vk.publicKey, { name: "Ed25519" }, false, [
        "verify",
      ]);
    } catch {
      vk.cryptoKey = false; // not a valid curve point: no signature can verify
    }
  }
  if (vk.cryptoKey === false) return false;
  try {
    return await subtle().verify({ name: "Ed25519" }, vk.cryptoKey, signature, message);
  } catch {
    return false;
  }
}

/** Note text: ends in a newline, no blank line, no control characters other than newline. */
export function checkNoteText(text) {
  if (!text.endsWith("\n")) throw new FormatError("note text must end with a newline");
  if (text.includes("\n\n") || text.startsWith("\n")) {
    throw new FormatError("note text must not contain a blank line");
  }
  if (CONTROL.test(text)) throw new FormatError("note text contains a control character");
}

/** Split a signed note into its text and signature lines; checks syntax only. */
export function parseNote(note) {
  const raw = typeof note === "string" ? utf8(note) : note;
  if (raw.length > MAX_NOTE_BYTES) {
    throw new FormatError(`signed note is ${raw.length} bytes, limit ${MAX_NOTE_BYTES}`);
  }
  const decoded = typeof note === "string" ? note : decodeUtf8(raw, "signed note");
  const split = decoded.lastIndexOf("\n\n");
  if (split < 0) throw new FormatError("signed note has no blank line before its signatures");
  const text = decoded.slice(0, split + 1);
  const block = decoded.slice(split + 2);
  checkNoteText(text);
  if (!block.endsWith("\n")) throw new FormatError("signature block must end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) {
    throw new FormatError(`signed note has more than ${MAX_SIGNATURES} signatures`);
  }
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIG_PREFIX)) {
      throw new FormatError("signature line must start with an em dash and a space");
    }
    const fields = line.slice(SIG_PREFIX.length).split(" ");
    if (fields.length !== 2) throw new FormatError("signature line must be '— <name> <base64>'");
    const [name, blob] = fields;
    checkKeyName(name);
    const sig = b64decodeStrict(blob, "signature");
    if (sig.length < 5) throw new FormatError("signature is too short to hold a key ID");
    return { name, keyId: sig.subarray(0, 4), signature: sig.subarray(4) };
  });
  return { text, signatures };
}

/**
 * Verify `note` against the trusted keys, as Go's note.Open: every line from a trusted
 * (name, key ID) is checked, the first per key counts, one bad signature from a trusted
 * key rejects the note, lines from unknown keys are ignored. Returns [note, key].
 */
export async function openNote(note, verifiers) {
  const parsed = parseNote(note);
  const message = utf8(parsed.text);
  const seen = new Set();
  let first = null;
  for (const sig of parsed.signatures) {
    const id = `${sig.name}\n${bytesToHex(sig.keyId)}`;
    const vk = verifiers.find((k) => k.name === sig.name && bytesEqual(k.keyId, sig.keyId));
    if (!vk || seen.has(id)) continue;
    seen.add(id);
    if (!(await ed25519Verify(vk, message, sig.signature))) {
      throw new SignatureError(
        `signature by ${sig.name} (key ${bytesToHex(sig.keyId)}) does not verify`,
      );
    }
    first = first || vk;
  }
  if (first) return [parsed, first];
  const names = [...new Set(parsed.signatures.map((s) => s.name))].sort().join(", ");
  throw new SignatureError(`note is not signed by a trusted key (signed by: ${names})`);
}

/** A checkpoint body: origin, decimal size, base64 root, optional extension lines. */
export function parseCheckpointText(text) {
  checkNoteText(text);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new FormatError("checkpoint needs origin, size and root lines");
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!/^[0-9]+$/.test(sizeText)) {
    throw new FormatError(`checkpoint size ${pyRepr(sizeText)} is not a decimal number`);
  }
  if (sizeText.length > 1 && sizeText.startsWith("0")) {
    throw new FormatError("checkpoint size has leading zeros");
  }
  if (sizeText.length > 20) throw new FormatError("checkpoint size is too large");
  const root = b64decodeStrict(rootText, "checkpoint root");
  const size = BigInt(sizeText);
  if (!origin || codePoints(origin) > MAX_ORIGIN_CHARS) {
    throw new FormatError(`checkpoint origin must be one line of 1..${MAX_ORIGIN_CHARS}`);
  }
  if (size > MAX_TREE_SIZE) throw new FormatError(`checkpoint size ${size} is outside 0..2^64-1`);
  if (root.length !== HASH_SIZE) {
    throw new FormatError(`checkpoint root is ${root.length} bytes, want 32`);
  }
  if (extensions.length > MAX_EXTENSIONS) {
    throw new FormatError(`checkpoint has more than ${MAX_EXTENSIONS} extension lines`);
  }
  if (extensions.some((e) => !e)) {
    throw new FormatError("checkpoint extension lines must be non-empty single lines");
  }
  return { origin, size, root, extensions };
}

/** Parse a signed checkpoint's body without checking any signature. */
export function parseSignedCheckpoint(note) {
  return parseCheckpointText(parseNote(note).text);
}

/** Verify a signed checkpoint; the verifying key's name must be the checkpoint's origin. */
export async function openCheckpoint(note, verifiers) {
  const [parsed, vk] = await openNote(note, verifiers);
  const cp = parseCheckpointText(parsed.text);
  if (vk.name !== cp.origin) {
    throw new SignatureError(
      `checkpoint origin ${pyRepr(cp.origin)} is not the signer's name ${pyRepr(vk.name)}`,
    );
  }
  return cp;
}

const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$/;

/** A receipt: the log's signed promise to include a leaf within the maximum merge delay. */
export function parseReceiptText(text) {
  checkNoteText(text);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length !== 5 || lines[0] !== RECEIPT_HEADER) {
    throw new FormatError(`receipt must be 5 lines starting '${RECEIPT_HEADER}'`);
  }
  const [, origin, leafHex, receivedAt, delay] = lines;
  if (!/^[0-9a-f]{64}$/.test(leafHex)) {
    throw new FormatError("receipt leaf hash must be 64 lowercase hex digits");
  }
  if (!/^[1-9][0-9]{0,8}$/.test(delay)) {
    throw new FormatError("receipt merge delay must be a decimal number of seconds");
  }
  if (!TIME.test(receivedAt)) throw new FormatError("receipt time must be RFC 3339 UTC ending in Z");
  if (Number(delay) > MAX_MERGE_DELAY) {
    throw new FormatError(`receipt merge delay must be 1..${MAX_MERGE_DELAY} s`);
  }
  return { origin, leafHash: leafHex, receivedAt, maxMergeDelay: Number(delay) };
}

export async function openReceipt(note, verifiers) {
  const [parsed, vk] = await openNote(note, verifiers);
  const receipt = parseReceiptText(parsed.text);
  if (vk.name !== receipt.origin) {
    throw new SignatureError(
      `receipt origin ${pyRepr(receipt.origin)} is not the signer ${pyRepr(vk.name)}`,
    );
  }
  return receipt;
}
