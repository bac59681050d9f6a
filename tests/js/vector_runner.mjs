// Runs the shared verification vectors (testdata/vectors, made by tests/support/vectors.py)
// through the portal's verify.js and returns what it concluded, for the Python test to compare with Python's.
// No imports: the caller passes the verify.js module, so the same code runs under Node
// (tests/js/run_vectors.mjs) and inside Chromium (loaded from a blob: URL).

function fromB64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function attempt(v, fn) {
  try {
    return await fn();
  } catch (exc) {
    if (exc instanceof v.FormatError) return { error: "format", message: exc.message };
    return { error: "crash", message: `${exc && exc.name}: ${exc && exc.message}` };
  }
}

async function runBundle(v, vec) {
  return attempt(v, async () => {
    const bundle = v.loadBundle(fromB64(vec.bundle_b64));
    const files = [];
    for (const [name, b64] of Object.entries(vec.files)) {
      files.push(await v.digestBytes(name, fromB64(b64)));
    }
    const logKeys = [];
    for (const text of vec.log_keys) logKeys.push(await v.parseVerifierKey(text));
    let witnesses = null;
    if (vec.witness_keys && vec.witness_keys.length) {
      const keys = [];
      for (const text of vec.witness_keys) keys.push(await v.parseWitnessKey(text));
      witnesses = v.witnessPolicy(keys, vec.witness_quorum ?? null);
    }
    return v.verifyBundle(bundle, { files, logKeys, through: vec.through, witnesses });
  });
}

export async function runVectors(v, vectors) {
  const bundles = [];
  for (const vec of vectors.bundles) bundles.push({ name: vec.name, result: await runBundle(v, vec) });
  const canonical = [];
  for (const vec of vectors.canonical) {
    canonical.push(
      await attempt(v, async () => {
        const value = v.parseJson(vec.input, { maxBytes: 1 << 20 });
        return { canonical_b64: btoa(String.fromCharCode(...v.canonicalJson(value))) };
      }),
    );
  }
  const hashes = [];
  for (const vec of vectors.hashes) {
    const data = fromB64(vec.input_b64);
    const split = Math.floor(data.length / 3); // incremental hashers fed in uneven pieces
    const js = new v.Sha256().update(data.subarray(0, split)).update(data.subarray(split));
    const sm = new v.Sm3().update(data.subarray(0, split)).update(data.subarray(split));
    hashes.push({
      sha256_webcrypto: v.bytesToHex(await v.sha256(data)),
      sha256_js: js.hexdigest(),
      sm3: sm.hexdigest(),
      digest: await v.digestBytes("x", data),
    });
  }
  const keys = [];
  for (const vec of vectors.keys) {
    keys.push(
      await attempt(v, async () => {
        await (vec.type === "witness" ? v.parseWitnessKey(vec.input) : v.parseVerifierKey(vec.input));
        return { ok: true };
      }),
    );
  }
  return { bundles, canonical, hashes, keys };
}

/** Evidence packages: `pkg` is the portal's package.js module. */
export async function runPackageVectors(pkg, vectors) {
  const out = [];
  for (const vec of vectors) {
    let result;
    try {
      const read = await pkg.readPackage(new Blob([fromB64(vec.zip_b64)]));
      result = {
        ok: true,
        evidence_id: read.bundle.entry.id,
        files: read.files,
        log_key_text: read.logKeyText,
      };
    } catch (exc) {
      result =
        exc instanceof pkg.PackageError
          ? { error: exc.kind, message: exc.message }
          : { error: "crash", message: `${exc && exc.name}: ${exc && exc.message}` };
    }
    out.push({ name: vec.name, result });
  }
  return out;
}
