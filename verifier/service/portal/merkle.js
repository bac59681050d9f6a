// RFC 9162 §2.1 Merkle tree hashing and inclusion proof verification — the portal twin
// of verifier/merkle.py, with the same checks in the same order: the proof length that
// (index, size) require is checked *before* any hashing, so a malformed proof is refused
// with a precise reason. Indices and sizes are BigInt (trees hold up to 2^64 - 1 leaves).

import { MerkleError, bytesEqual, bytesToHex, concatBytes } from "./bytes.js";
import { sha256 } from "./hashes.js";

export const HASH_SIZE = 32;
export const MAX_PROOF_HASHES = 64;
export const MAX_TREE_SIZE = 2n ** 64n - 1n;

/** MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(data) {
  return sha256(concatBytes(Uint8Array.of(0), data));
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left, right) {
  return sha256(concatBytes(Uint8Array.of(1), left, right));
}

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

function bitCount(n) {
  let c = 0;
  for (const b of n.toString(2)) if (b === "1") c++;
  return c;
}

function checkHash(what, value) {
  if (value.length !== HASH_SIZE) {
    throw new MerkleError(`${what} is ${value.length} bytes, want 32 (SHA-256)`);
  }
}

/** Number of hashes in the inclusion proof of `index` in a tree of `size`. */
export function inclusionProofLength(index, size) {
  index = BigInt(index);
  size = BigInt(size);
  if (size < 0n || size > MAX_TREE_SIZE) {
    throw new MerkleError(`tree size ${size} is outside 0..2^64-1`);
  }
  if (index < 0n || index >= size) {
    throw new MerkleError(`leaf index ${index} is out of range for tree size ${size}`);
  }
  const inner = bitLength(index ^ (size - 1n));
  const border = bitCount(index >> BigInt(inner));
  return inner + border;
}

/** The root `proof` leads to from `leaf` at `index` (RFC 9162 §2.1.3.2). */
export async function rootFromInclusionProof(leaf, index, size, proof) {
  checkHash("leaf hash", leaf);
  const want = inclusionProofLength(index, size);
  if (proof.length !== want) throw new MerkleError(`wrong proof size ${proof.length}, want ${want}`);
  proof.forEach((h, i) => checkHash(`proof[${i}]`, h));
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      if (!(fn & 1n)) {
        while (fn && !(fn & 1n)) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return r;
}

/** Throws a MerkleError unless `leaf` is the leaf at `index` of the tree (`size`, `root`). */
export async function verifyInclusion(leaf, index, size, proof, root) {
  checkHash("root", root);
  const calculated = await rootFromInclusionProof(leaf, index, size, proof);
  if (!bytesEqual(calculated, root)) {
    throw new MerkleError(
      `root mismatch: expected ${bytesToHex(root)}, calculated ${bytesToHex(calculated)}`,
    );
  }
}
