// Node entry point: node tests/js/run_vectors.mjs VECTORS.json [verifier/service/portal/verify.js]
// (package.js is taken from the same folder as verify.js).
// Prints the portal verifier's results as JSON on stdout (see vector_runner.mjs).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

import { runPackageVectors, runVectors } from "./vector_runner.mjs";

const [vectorsPath, modulePath = "verifier/service/portal/verify.js"] = process.argv.slice(2);
const verify = await import(pathToFileURL(resolve(modulePath)).href);
const pkg = await import(pathToFileURL(resolve(modulePath, "..", "package.js")).href);
const vectors = JSON.parse(readFileSync(vectorsPath, "utf8"));
const result = await runVectors(verify, vectors);
result.packages = await runPackageVectors(pkg, vectors.packages || []);
process.stdout.write(JSON.stringify(result));
