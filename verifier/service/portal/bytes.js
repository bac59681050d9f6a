// Byte helpers shared by the portal's verifier modules: hex, strict base64, UTF-8.
// Pure functions, no DOM; the same code runs in Chromium and in Node (tests).

/** Every error the verifier raises; `message` is one line a person can act on. */
export class VerifyError extends Error {
  constructor(message) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** Input that cannot be used at all (CLI exit 3, HTTP 422): malformed, oversized, unknown. */
export class FormatError extends VerifyError {}

/** A Merkle proof that does not hold (RFC 9162). */
export class MerkleError extends VerifyError {}

/** A signed note that is not signed by a trusted key, or whose signature is invalid. */
export class SignatureError extends VerifyError {}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function bytesToHex(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

/** Lower- or upper-case hex of even length to bytes; anything else is a FormatError. */
export function hexToBytes(text, what = "hex") {
  if (typeof text !== "string" || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new FormatError(`${what} is not hex`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

export function b64encode(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63] + "==";
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + "=";
  }
  return out;
}

/**
 * Standard base64 with padding, in its one canonical spelling (as verifier/note.py's
 * b64decode_strict): a second spelling of the same bytes could hide a changed signature line.
 */
export function b64decodeStrict(text, what) {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new FormatError(`${what} is not valid base64`);
  }
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const c = [0, 1, 2, 3].map((k) => (text[i + k] === "=" ? 0 : B64_INDEX.get(text[i + k])));
    const n = (c[0] << 18) | (c[1] << 12) | (c[2] << 6) | c[3];
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  if (b64encode(out) !== text) throw new FormatError(`${what} is not canonical base64`);
  return out;
}

const encoder = new TextEncoder();

export function utf8(text) {
  return encoder.encode(text);
}

/** Strict UTF-8 decoding: invalid bytes are refused and a BOM is kept (so JSON refuses it). */
export function decodeUtf8(bytes, what) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new FormatError(`${what} is not valid UTF-8`);
  }
}

export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Length in Unicode code points (what Python's len() and pydantic's max_length count). */
export function codePoints(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Python's repr() of a str, as verifier/*.py put in messages with `!r` (so details agree). */
export function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (ch === "\\" || ch === quote) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else if (c >= 0x80 && c < 0xa0) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + quote;
}
