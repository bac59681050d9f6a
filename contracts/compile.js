#!/usr/bin/env node
// Compile EvidenceLog.sol with the pinned solc (WebAssembly, from node_modules) through the
// standard-JSON interface, and write the committed artifact build/EvidenceLog.json.
//
//   node contracts/compile.js [OUTPUT_PATH]
//
// Runs offline once `npm ci --prefix contracts` has installed node_modules. Every setting that
// changes the bytecode is explicit here and recorded in the artifact, so a rebuild is byte for
// byte identical (tests/integration/test_contract.py checks this). `solcjs --standard-json` is
// not used because it prints a banner before the JSON.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const CONTRACT = 'EvidenceLog';
// The source unit name is recorded in the metadata (and so in the bytecode's metadata hash):
// keep it independent of where the repository is checked out.
const SOURCE_NAME = 'contracts/EvidenceLog.sol';
const SOURCE_PATH = path.join(__dirname, 'EvidenceLog.sol');
const DEFAULT_OUTPUT = path.join(__dirname, 'build', `${CONTRACT}.json`);

const SETTINGS = {
  evmVersion: 'cancun',
  // runs is the expected number of calls per deployed byte: anchors happen for years, so
  // favour cheap calls over cheap deployment.
  optimizer: { enabled: true, runs: 1000000 },
  // The IR pipeline: measured to save ~500-650 gas per anchor over the legacy one with the
  // same optimizer settings (`python -m bench.gas`), and it has no "stack too deep" limit.
  viaIR: true,
  metadata: { bytecodeHash: 'ipfs', appendCBOR: true },
  outputSelection: {
    [SOURCE_NAME]: {
      [CONTRACT]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'metadata'],
    },
  },
};

function compile() {
  const input = {
    language: 'Solidity',
    sources: { [SOURCE_NAME]: { content: fs.readFileSync(SOURCE_PATH, 'utf8') } },
    settings: SETTINGS,
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (name) => ({ error: `imports are not allowed (${name})` }),
    }),
  );
  const diagnostics = output.errors || [];
  for (const d of diagnostics) process.stderr.write(`${d.formattedMessage || d.message}\n`);
  if (diagnostics.some((d) => d.severity === 'error')) {
    throw new Error(`solc ${solc.version()} reported errors; no artifact written`);
  }
  const contract = ((output.contracts || {})[SOURCE_NAME] || {})[CONTRACT];
  if (!contract || !contract.evm.bytecode.object || !contract.evm.deployedBytecode.object) {
    throw new Error(`solc output has no bytecode for ${SOURCE_NAME}:${CONTRACT}`);
  }
  return {
    contractName: CONTRACT,
    compiler: { version: solc.version(), settings: SETTINGS },
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    metadata: contract.metadata,
  };
}

function main(argv) {
  if (argv.length > 1) throw new Error('usage: node contracts/compile.js [OUTPUT_PATH]');
  const out = path.resolve(argv[0] || DEFAULT_OUTPUT);
  const artifact = compile();
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // Write then rename, so a failed run never leaves a half-written artifact behind.
  const tmp = `${out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(artifact, null, 2)}\n`);
  fs.renameSync(tmp, out);
  process.stderr.write(`wrote ${path.relative(process.cwd(), out) || out}\n`);
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`compile.js: ${err.message}\n`);
  process.exit(1);
}
