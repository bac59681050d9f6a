// The external baseline of the bundle verification bench (bench/verify_bundle.py): the
// irreducible work of verifying a bundle's tiers 2-4, done by Node.js's crypto (OpenSSL)
// on the very same inputs, with none of our code: parse the bundle's JSON, hash the
// entry's leaf, hash the manifest's canonical bytes (SHA-256 and SM3) and compare them
// with the entry's, fold the RFC 9162 inclusion proof up to the root, verify every
// Ed25519 signature tier 4 checks (the receipt's and the checkpoint's). Every round must
// come out right: a wrong answer exits 1, so a baseline can never be fast by being wrong.
//
// usage: node bench/verify_baseline.mjs INPUT.json   (INPUT written by verify_bundle.py)
// prints {"ns": [wall-clock time per timed round, ns], "cpu_us": [the process's CPU time, us]}
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const hex = (s) => Buffer.from(s, "hex");
const leafData = hex(input.leaf_data);
const manifest = input.manifest === null ? null : hex(input.manifest);
const path = input.proof.map(hex);
const root = hex(input.root);
const leafHex = input.leaf_hash;
// Public keys are decoded once, as our verifier keeps its keys.
const signatures = input.signatures.map((s) => ({
  message: Buffer.from(s.message, "utf8"),
  signature: hex(s.signature),
  key: createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: hex(s.public_key).toString("base64url") },
    format: "jwk",
  }),
}));
const ZERO = Buffer.from([0]);
const ONE = Buffer.from([1]);

const sha256 = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

function inclusionRoot(leaf, index, size) {
  // RFC 9162 section 2.1.3.2
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(ONE, p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = sha256(ONE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

function once() {
  JSON.parse(input.bundle_json);
  const leaf = sha256(ZERO, leafData);
  if (leaf.toString("hex") !== leafHex) throw new Error("leaf hash differs");
  if (manifest !== null) {
    if (createHash("sha256").update(manifest).digest("hex") !== input.manifest_sha256)
      throw new Error("manifest SHA-256 differs");
    if (createHash("sm3").update(manifest).digest("hex") !== input.manifest_sm3)
      throw new Error("manifest SM3 differs");
  }
  const got = inclusionRoot(leaf, input.index, input.size);
  if (got === null || !got.equals(root)) throw new Error("inclusion proof does not verify");
  for (const s of signatures) {
    if (!verify(null, s.message, s.key, s.signature)) throw new Error("signature does not verify");
  }
}

for (let i = 0; i < input.warmup; i++) once();
const ns = [];
const cpuUs = [];
for (let i = 0; i < input.rounds; i++) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  once();
  ns.push(Number(process.hrtime.bigint() - start));
  const used = process.cpuUsage(cpu);
  cpuUs.push(used.user + used.system);
}
process.stdout.write(JSON.stringify({ ns, cpu_us: cpuUs }) + "\n");
