// Strict JSON in, RFC 8785 canonical JSON out — the portal twin of verifier/canonical.py.
//
// Consensus-critical: entries and manifests are hashed as their RFC 8785 bytes. The parser
// is as strict as Python's parse_json (duplicate keys, NaN/Infinity, invalid UTF-8, a BOM,
// nesting beyond 64 and oversized input are refused) and keeps what JSON.parse would lose:
// integers are BigInt (exact to any size, as Python's int) and numbers written with a
// fraction or exponent are JsonFloat (Python's float), so `1.0` is not taken for `1` where
// the bundle format requires an integer. Objects have no prototype (`__proto__` is a key).

import { FormatError, decodeUtf8, utf8 } from "./bytes.js";

export const MAX_JSON_DEPTH = 64;
const SAFE_INT = 2n ** 53n - 1n;

/** A JSON number written with a fraction or an exponent (Python parses it as a float). */
export class JsonFloat {
  constructor(value) {
    this.value = value;
  }
}

export function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof JsonFloat);
}

const WS = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
/** Python refuses integer literals longer than sys.get_int_max_str_digits() (4300). */
const MAX_INT_DIGITS = 4300;

class Parser {
  constructor(text, what) {
    this.s = text;
    this.i = 0;
    this.what = what;
    this.depth = 0;
  }

  fail(msg) {
    throw new FormatError(`${this.what} is not valid JSON: ${msg} at offset ${this.i}`);
  }

  ws() {
    while (this.i < this.s.length && WS.has(this.s[this.i])) this.i++;
  }

  value() {
    this.ws();
    const c = this.s[this.i];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return this.string();
    if (c === "t" && this.s.startsWith("true", this.i)) return (this.i += 4), true;
    if (c === "f" && this.s.startsWith("false", this.i)) return (this.i += 5), false;
    if (c === "n" && this.s.startsWith("null", this.i)) return (this.i += 4), null;
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const name of ["NaN", "Infinity", "-Infinity"]) {
      if (this.s.startsWith(name, this.i)) {
        throw new FormatError(`${this.what}: ${name} is not valid JSON`);
      }
    }
    return this.fail(c === undefined ? "unexpected end" : "expecting value");
  }

  enter() {
    if (++this.depth > MAX_JSON_DEPTH) {
      throw new FormatError(`${this.what} nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    this.i++;
  }

  object() {
    this.enter();
    const out = Object.create(null);
    this.ws();
    if (this.s[this.i] === "}") return this.i++, this.depth--, out;
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail("expecting property name");
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ":") this.fail("expecting ':'");
      this.i++;
      const v = this.value();
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        throw new FormatError(`duplicate key ${JSON.stringify(key)}`);
      }
      out[key] = v;
      this.ws();
      const c = this.s[this.i++];
      if (c === "}") return this.depth--, out;
      if (c !== ",") this.i--, this.fail("expecting ',' or '}'");
    }
  }

  array() {
    this.enter();
    const out = [];
    this.ws();
    if (this.s[this.i] === "]") return this.i++, this.depth--, out;
    for (;;) {
      out.push(this.value());
      this.ws();
      const c = this.s[this.i++];
      if (c === "]") return this.depth--, out;
      if (c !== ",") this.i--, this.fail("expecting ',' or ']'");
    }
  }

  string() {
    this.i++;
    let out = "";
    let start = this.i;
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) this.fail("unterminated string");
      if (c === '"') {
        out += this.s.slice(start, this.i++);
        return out;
      }
      if (c < " ") this.fail("invalid control character in string");
      if (c === "\\") {
        out += this.s.slice(start, this.i);
        const e = this.s[this.i + 1];
        if (e === "u") {
          const hex = this.s.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("invalid \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 6;
        } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
          out += ESCAPES[e];
          this.i += 2;
        } else {
          this.fail("invalid escape");
        }
        start = this.i;
        continue;
      }
      this.i++;
    }
  }

  number() {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m) this.fail("invalid number");
    this.i += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      if (m[0].replace("-", "").length > MAX_INT_DIGITS) {
        throw new FormatError(`${this.what} holds a number that is too long`);
      }
      return BigInt(m[0]);
    }
    const value = Number(m[0]);
    if (!Number.isFinite(value)) {
      throw new FormatError(`number ${m[0].slice(0, 40)} is out of range`);
    }
    return new JsonFloat(value);
  }
}

/** Parse bytes or text as strict, bounded JSON (verifier.canonical.parse_json). */
export function parseJson(data, { maxBytes, what = "JSON" }) {
  const raw = typeof data === "string" ? utf8(data) : data;
  if (raw.length > maxBytes) throw new FormatError(`${what} is ${raw.length} bytes, limit ${maxBytes}`);
  const text = typeof data === "string" ? data : decodeUtf8(raw, what);
  const p = new Parser(text, what);
  const v = p.value();
  p.ws();
  if (p.i !== text.length) p.fail("extra data");
  return v;
}

function hasLoneSurrogate(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
      return true;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

function canonicalString(s) {
  if (hasLoneSurrogate(s)) throw new FormatError("cannot canonicalise: a lone surrogate in a string");
  // JSON.stringify escapes exactly as RFC 8785 §3.2.2.2 for well-formed strings.
  return JSON.stringify(s);
}

function canonicalText(v) {
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "string") return canonicalString(v);
  if (typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v))) {
    const n = BigInt(v);
    if (n > SAFE_INT || n < -SAFE_INT) {
      throw new FormatError(`cannot canonicalise: integer ${n} is outside ±(2^53 - 1)`);
    }
    return n.toString();
  }
  if (v instanceof JsonFloat || typeof v === "number") {
    const x = v instanceof JsonFloat ? v.value : v;
    if (!Number.isFinite(x)) throw new FormatError("cannot canonicalise: a non-finite number");
    return String(x); // ECMAScript Number-to-String is RFC 8785's number form (-0 gives "0")
  }
  if (Array.isArray(v)) return `[${v.map(canonicalText).join(",")}]`;
  if (typeof v === "object") {
    // Default JS string order compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${canonicalString(k)}:${canonicalText(v[k])}`).join(",")}}`;
  }
  throw new FormatError(`cannot canonicalise a ${typeof v}`);
}

/** RFC 8785 canonical UTF-8 bytes of a parsed JSON value. */
export function canonicalJson(value) {
  return utf8(canonicalText(value));
}

/** Back to plain JSON text (BigInt integers written exactly), e.g. to send a bundle on. */
export function toJsonText(v) {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof JsonFloat) return JSON.stringify(v.value);
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(toJsonText).join(",")}]`;
  return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${toJsonText(v[k])}`).join(",")}}`;
}
