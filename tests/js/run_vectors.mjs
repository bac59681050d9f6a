// Node entry point:
//   node tests/js/run_vectors.mjs [VECTORS] [verifier/service/portal/verify.js]
// VECTORS is the folder of the committed vectors (default testdata/vectors: one JSON file per
// group, packages as ZIP files; docs/proof-format.md §14), or one JSON file holding every group
// ({"bundles": [...], "canonical": [...], "hashes": [...], "keys": [...], "packages": [...]}).
// package.js is taken from the same folder as verify.js.
// Prints the portal verifier's results as JSON on stdout (see vector_runner.mjs).
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

import { runPackageVectors, runVectors } from "./vector_runner.mjs";

const GROUPS = ["bundles", "canonical", "hashes", "keys", "packages"];

function loadFolder(folder) {
  const vectors = {};
  for (const group of GROUPS) {
    const doc = JSON.parse(readFileSync(join(folder, `${group}.json`), "utf8"));
    if (doc.format !== "evidence-anchor-vectors/v1" || doc.group !== group) {
      throw new Error(`${folder}/${group}.json is not an evidence-anchor-vectors/v1 ${group} file`);
    }
    vectors[group] = doc.vectors;
  }
  vectors.packages = vectors.packages.map((vec) => ({
    ...vec,
    zip_b64: readFileSync(join(folder, vec.zip)).toString("base64"),
  }));
  return vectors;
}

const [vectorsPath = "testdata/vectors", modulePath = "verifier/service/portal/verify.js"] =
  process.argv.slice(2);
const verify = await import(pathToFileURL(resolve(modulePath)).href);
const pkg = await import(pathToFileURL(resolve(modulePath, "..", "package.js")).href);
const vectors = statSync(vectorsPath).isDirectory()
  ? loadFolder(vectorsPath)
  : JSON.parse(readFileSync(vectorsPath, "utf8"));
const result = await runVectors(verify, vectors);
result.packages = await runPackageVectors(pkg, vectors.packages || []);
process.stdout.write(JSON.stringify(result));
