// The proof bundle, format evidence-proof/v1 — the portal twin of verifier/bundle.py and
// verifier/models.py. A bundle is validated in full when loaded, as strictly as the Python
// models (no coercion, no unknown fields, every field bounded), so that the portal refuses
// exactly what `evidence-verify` refuses, with a one-line reason.

import { FormatError, bytesToHex, codePoints, pyRepr } from "./bytes.js";
import { JsonFloat, canonicalJson, isObject, parseJson } from "./json.js";
import { MAX_PROOF_HASHES, MAX_TREE_SIZE } from "./merkle.js";
import { MAX_NOTE_BYTES, parseSignedCheckpoint } from "./note.js";

export const FORMAT_V1 = "evidence-proof/v1";
export const MAX_BUNDLE_BYTES = 1024 * 1024;
export const MAX_ENTRY_BYTES = 16 * 1024;
export const MAX_BODY_DEPTH = 8;
export const MAX_MANIFEST_FILES = 1000;
/** A server capture's web archive (verifier/capture.py WACZ). */
export const CAPTURE_WACZ = "archive.wacz";

/**
 * Whether a manifest describes a server capture (verifier.capture.is_capture): its
 * capture.environment says recorded_by = server and names a capture_id. Here, not in wacz.js,
 * so that the WACZ checker is loaded only when a capture is met.
 */
export function isCapture(manifest) {
  if (!manifest || !manifest.capture || !isObject(manifest.capture.environment)) return false;
  const env = manifest.capture.environment;
  return env.recorded_by === "server" && typeof env.capture_id === "string" && env.capture_id !== "";
}
const MAX_SAFE = 2n ** 53n - 1n;

const HEX32 = /^[0-9a-f]{64}$/;
const HEX0X32 = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const SALT = /^(?:[0-9a-f]{2}){16,32}$/;
const TIMESTAMP = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$/;
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const KIND = /^[a-z][a-z0-9_]{0,31}$/;
const BAD_NAME = /[/\\\x00-\x1f\x7f]/;

class Invalid extends Error {
  constructor(loc, msg) {
    super(msg);
    this.loc = loc;
  }
}

function typeName(v) {
  if (v === null) return "null";
  if (typeof v === "bigint") return "integer";
  if (v instanceof JsonFloat) return "float";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function str(v, loc, { pattern, min = 0, max = Infinity } = {}) {
  if (typeof v !== "string") throw new Invalid(loc, `must be a string, not ${typeName(v)}`);
  const n = codePoints(v);
  if (n < min) throw new Invalid(loc, `must have at least ${min} characters`);
  if (n > max) throw new Invalid(loc, `must have at most ${max} characters`);
  if (pattern && !pattern.test(v)) throw new Invalid(loc, `must match ${pattern.source}`);
  return v;
}

function int(v, loc, { min = 0n, max = MAX_SAFE } = {}) {
  if (typeof v !== "bigint") throw new Invalid(loc, `must be an integer, not ${typeName(v)}`);
  if (v < min) throw new Invalid(loc, `must be at least ${min}`);
  if (v > max) throw new Invalid(loc, `must be at most ${max}`);
  return v;
}

function obj(v, loc, fields) {
  if (!isObject(v)) throw new Invalid(loc, `must be an object, not ${typeName(v)}`);
  for (const key of Object.keys(v)) {
    if (!Object.hasOwn(fields, key)) throw new Invalid(`${loc}.${key}`, "extra field not permitted");
  }
  const out = {};
  for (const [key, check] of Object.entries(fields)) {
    const where = loc ? `${loc}.${key}` : key;
    if (!Object.hasOwn(v, key)) {
      if (check.optional) {
        out[key] = null;
        continue;
      }
      throw new Invalid(where, "field required");
    }
    out[key] = check.optional && v[key] === null ? null : check(v[key], where);
  }
  return out;
}

const optional = (check) => Object.assign((v, loc) => check(v, loc), { optional: true });
const nullable = (check) => (v, loc) => (v === null ? null : check(v, loc));
const s = (opts) => (v, loc) => str(v, loc, opts);
const i = (opts) => (v, loc) => int(v, loc, opts);

function version(v, loc) {
  if (v !== 1n) throw new Invalid(loc, "v must be the integer 1");
  return v;
}

/** True if containers nest more than `limit` levels (body itself is level 1). */
function tooDeep(value, limit) {
  const stack = [[value, 1]];
  while (stack.length) {
    const [item, depth] = stack.pop();
    if (Array.isArray(item) || isObject(item)) {
      if (depth > limit) return true;
      for (const child of Array.isArray(item) ? item : Object.values(item)) {
        stack.push([child, depth + 1]);
      }
    }
  }
  return false;
}

function requireHexKeys(body, keys, loc) {
  const have = Object.keys(body).sort();
  if (have.length !== keys.length || have.some((k, n) => k !== [...keys].sort()[n])) {
    throw new Invalid(loc, `body must have exactly the keys ${JSON.stringify([...keys].sort())}`);
  }
  for (const key of keys) {
    if (typeof body[key] !== "string" || !HEX32.test(body[key])) {
      throw new Invalid(loc, `body.${key} must be 64 lowercase hex digits`);
    }
  }
}

function entry(v, loc) {
  const e = obj(v, loc, {
    v: version,
    kind: s({ pattern: KIND }),
    id: s({ pattern: IDENTIFIER }),
    at: s({ pattern: TIMESTAMP, max: 40 }),
    body: (b, l) => {
      if (!isObject(b)) throw new Invalid(l, `must be an object, not ${typeName(b)}`);
      return b;
    },
    salt: s({ pattern: SALT }),
  });
  if (e.kind === "evidence") requireHexKeys(e.body, ["manifest_sha256", "manifest_sm3"], loc);
  else if (e.kind === "stamp") requireHexKeys(e.body, ["sha256"], loc);
  if (tooDeep(e.body, MAX_BODY_DEPTH)) {
    throw new Invalid(loc, `body nests deeper than ${MAX_BODY_DEPTH} levels`);
  }
  // The leaf data: the entry's canonical bytes (the raw object equals the validated one).
  e.leafData = canonicalJson(v);
  if (e.leafData.length > MAX_ENTRY_BYTES) {
    throw new Invalid(loc, `entry is ${e.leafData.length} canonical bytes, limit ${MAX_ENTRY_BYTES}`);
  }
  e.raw = v;
  return e;
}

function manifestFile(v, loc) {
  const f = obj(v, loc, {
    name: s({ min: 1, max: 255 }),
    media_type: s({ min: 1, max: 127 }),
    size: i({ min: 0n, max: MAX_SAFE }),
    sha256: s({ pattern: HEX32 }),
    sm3: s({ pattern: HEX32 }),
  });
  if (BAD_NAME.test(f.name) || f.name === "." || f.name === "..") {
    throw new Invalid(`${loc}.name`, "file name must not contain '/', '\\' or control characters");
  }
  return f;
}

function list(check, { min = 0, max = Infinity }) {
  return (v, loc) => {
    if (!Array.isArray(v)) throw new Invalid(loc, `must be an array, not ${typeName(v)}`);
    if (v.length < min) throw new Invalid(loc, `must have at least ${min} items`);
    if (v.length > max) throw new Invalid(loc, `must have at most ${max} items`);
    return v.map((item, n) => check(item, `${loc}.${n}`));
  };
}

const SHORT = s({ max: 256 });

function manifest(v, loc) {
  const m = obj(v, loc, {
    v: version,
    evidence_id: s({ pattern: IDENTIFIER }),
    files: list(manifestFile, { min: 1, max: MAX_MANIFEST_FILES }),
    source: (x, l) =>
      obj(x, l, { url: nullable(s({ max: 2048 })), platform: nullable(SHORT), entity: nullable(SHORT) }),
    captured_at: s({ pattern: TIMESTAMP, max: 40 }),
    capture: (x, l) =>
      obj(x, l, {
        tool: SHORT,
        environment: (env, el) => {
          if (!isObject(env)) throw new Invalid(el, `must be an object, not ${typeName(env)}`);
          const keys = Object.keys(env);
          if (keys.length > 64) throw new Invalid(el, "must have at most 64 items");
          for (const k of keys) {
            str(k, `${el}.${k}`, { max: 64 });
            SHORT(env[k], `${el}.${k}`);
          }
          return env;
        },
      }),
    submitter: SHORT,
    case: nullable(SHORT),
    notes: nullable(s({ max: 4096 })),
    salt: s({ pattern: SALT }),
  });
  const names = m.files.map((f) => f.name);
  if (new Set(names).size !== names.length) {
    throw new Invalid(loc, "file names in a manifest must be unique");
  }
  m.raw = v;
  return m;
}

function inclusion(v, loc) {
  const p = obj(v, loc, {
    index: i({ min: 0n, max: MAX_TREE_SIZE }),
    tree_size: i({ min: 1n, max: MAX_TREE_SIZE }),
    hashes: list(s({ pattern: HEX32 }), { max: MAX_PROOF_HASHES }),
  });
  if (p.index >= p.tree_size) {
    throw new Invalid(loc, `index ${p.index} is not below tree_size ${p.tree_size}`);
  }
  return p;
}

function anchor(v, loc) {
  return obj(v, loc, {
    chain_id: i({ min: 1n }),
    contract: s({ pattern: ADDRESS }),
    log_id: s({ pattern: HEX0X32 }),
    tx_hash: s({ pattern: HEX0X32 }),
    block_number: i({ min: 0n }),
    block_hash: s({ pattern: HEX0X32 }),
    block_timestamp: i({ min: 0n }),
    size: i({ min: 0n, max: MAX_TREE_SIZE }),
    root: s({ pattern: HEX32 }),
  });
}

const NOTE = s({ min: 1, max: MAX_NOTE_BYTES });

/** A DER time-stamp token is a few KB; 64 KiB of base64 is far beyond any real one. */
export const MAX_TOKEN_CHARS = 64 * 1024;
export const MAX_TIMESTAMPS = 8;
const TSA_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_B64 = /^[A-Za-z0-9+/]+=*$/;

/** An RFC 3161 token on the checkpoint (verifier.bundle.TimestampToken): {tsa, token}. */
function timestampToken(v, loc) {
  return obj(v, loc, {
    tsa: s({ pattern: TSA_NAME }),
    token: s({ min: 4, max: MAX_TOKEN_CHARS, pattern: TOKEN_B64 }),
  });
}

function literal(values) {
  return (v, loc) => {
    if (!values.includes(v)) {
      throw new Invalid(loc, `must be one of ${values.map((x) => JSON.stringify(x)).join(", ")}`);
    }
    return v;
  };
}

function checkStatus(b) {
  const sealed = b.inclusion !== null && b.checkpoint !== null;
  if (b.status === "pending") {
    if (b.receipt === null) throw new Invalid("", "a pending bundle needs its receipt");
    if (b.inclusion || b.checkpoint || b.anchor) {
      throw new Invalid("", "a pending bundle has no inclusion, checkpoint or anchor");
    }
  } else if (!sealed) {
    throw new Invalid("", `a ${b.status} bundle needs inclusion and checkpoint`);
  }
  if (b.timestamps !== null && b.checkpoint === null) {
    throw new Invalid("", "timestamps need the checkpoint they are on");
  }
  if (b.status === "sealed" && b.anchor !== null) {
    throw new Invalid("", "a sealed bundle has no anchor; its status would be 'anchored'");
  }
  if (b.status === "anchored" && b.anchor === null) {
    throw new Invalid("", "an anchored bundle needs its anchor record");
  }
  if (b.anchor !== null && b.checkpoint !== null) {
    // The anchor must record the very tree head the inclusion proof is against.
    const cp = parseSignedCheckpoint(b.checkpoint);
    if (b.anchor.size !== cp.size || b.anchor.root !== bytesToHex(cp.root)) {
      throw new Invalid("", "anchor (size, root) differs from the checkpoint's");
    }
  }
}

/** Validate a parsed bundle object; throws FormatError with a one-line reason. */
export function bundleFromObj(o) {
  if (!isObject(o)) throw new FormatError("bundle must be a JSON object");
  const fmt = o.format;
  if (fmt !== FORMAT_V1) {
    if (typeof fmt === "string" && fmt.startsWith("evidence-proof/")) {
      throw new FormatError(
        `unknown bundle format ${pyRepr(fmt.slice(0, 40))}; this verifier reads ${FORMAT_V1}`,
      );
    }
    throw new FormatError(`not an evidence proof bundle (format must be '${FORMAT_V1}')`);
  }
  try {
    const b = obj(o, "", {
      format: literal([FORMAT_V1]),
      status: literal(["pending", "sealed", "anchored"]),
      log_origin: s({ min: 1, max: 256 }),
      entry,
      leaf_hash: s({ pattern: HEX32 }),
      manifest: optional(manifest),
      receipt: optional(NOTE),
      inclusion: optional(inclusion),
      checkpoint: optional(NOTE),
      anchor: optional(anchor),
      timestamps: optional(list(timestampToken, { min: 1, max: MAX_TIMESTAMPS })),
    });
    checkStatus(b);
    b.raw = o;
    return b;
  } catch (exc) {
    if (exc instanceof Invalid) {
      const loc = exc.loc.replace(/^\./, "") || "bundle";
      throw new FormatError(`invalid bundle: ${loc}: ${exc.message}`);
    }
    throw exc;
  }
}

/** Parse and validate a bundle (bytes or text). */
export function loadBundle(data) {
  return bundleFromObj(parseJson(data, { maxBytes: MAX_BUNDLE_BYTES, what: "bundle" }));
}
