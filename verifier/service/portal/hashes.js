// SHA-256 and SM3 (GB/T 32905-2016) for the portal.
//
// SHA-256 of a whole buffer comes from WebCrypto (native, fast). WebCrypto has no
// incremental interface and no SM3, so both are also implemented here as small
// incremental hashers: SM3 always, SHA-256 for files too large to hold in memory.
// Both are checked against Python's hashlib on shared vectors (tests/js).

import { bytesToHex } from "./bytes.js";

const BLOCK = 64;

/** Merkle–Damgård framing shared by SHA-256 and SM3: 64-byte blocks, big-endian bit length. */
class BlockHash {
  constructor() {
    this.buffer = new Uint8Array(BLOCK);
    this.buffered = 0;
    this.length = 0; // bytes hashed so far (a Number: exact up to 2^53)
    this.w = new Int32Array(68);
  }

  update(data) {
    let i = 0;
    const n = data.length;
    this.length += n;
    if (this.buffered > 0) {
      const take = Math.min(BLOCK - this.buffered, n);
      this.buffer.set(data.subarray(0, take), this.buffered);
      this.buffered += take;
      i = take;
      if (this.buffered < BLOCK) return this;
      this.block(this.buffer, 0);
      this.buffered = 0;
    }
    for (; i + BLOCK <= n; i += BLOCK) this.block(data, i);
    if (i < n) {
      this.buffer.set(data.subarray(i), 0);
      this.buffered = n - i;
    }
    return this;
  }

  digest() {
    const bits = this.length * 8;
    const tail = new Uint8Array(this.buffered < 56 ? 64 : 128);
    tail.set(this.buffer.subarray(0, this.buffered));
    tail[this.buffered] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(tail.length - 4, bits >>> 0);
    for (let i = 0; i < tail.length; i += BLOCK) this.block(tail, i);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let k = 0; k < 8; k++) outView.setUint32(k * 4, this.state[k]);
    return out;
  }

  hexdigest() {
    return bytesToHex(this.digest());
  }
}

const rotl = (x, n) => (x << n) | (x >>> (32 - n));

const SM3_T = Int32Array.from({ length: 64 }, (_, j) =>
  rotl(j < 16 ? 0x79cc4519 : 0x7a879d8a, j % 32),
);

/** SM3, GB/T 32905-2016 (the Chinese national standard hash; OpenSSL's `sm3`). */
export class Sm3 extends BlockHash {
  constructor() {
    super();
    this.state = Int32Array.from([
      0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d,
      0xb0fb0e4e,
    ]);
    this.w2 = new Int32Array(64);
  }

  block(p, o) {
    const w = this.w;
    const w2 = this.w2;
    for (let j = 0; j < 16; j++) {
      const k = o + j * 4;
      w[j] = (p[k] << 24) | (p[k + 1] << 16) | (p[k + 2] << 8) | p[k + 3];
    }
    for (let j = 16; j < 68; j++) {
      const x = w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15);
      w[j] = x ^ rotl(x, 15) ^ rotl(x, 23) ^ rotl(w[j - 13], 7) ^ w[j - 6];
    }
    for (let j = 0; j < 64; j++) w2[j] = w[j] ^ w[j + 4];
    const s = this.state;
    let a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (let j = 0; j < 64; j++) {
      const a12 = rotl(a, 12);
      const ss1 = rotl((a12 + e + SM3_T[j]) | 0, 7);
      const ss2 = ss1 ^ a12;
      const ff = j < 16 ? a ^ b ^ c : (a & b) | (a & c) | (b & c);
      const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
      const tt1 = (ff + d + ss2 + w2[j]) | 0;
      const tt2 = (gg + h + ss1 + w[j]) | 0;
      d = c;
      c = rotl(b, 9);
      b = a;
      a = tt1;
      h = g;
      g = rotl(f, 19);
      f = e;
      e = tt2 ^ rotl(tt2, 9) ^ rotl(tt2, 17);
    }
    s[0] ^= a; s[1] ^= b; s[2] ^= c; s[3] ^= d; s[4] ^= e; s[5] ^= f; s[6] ^= g; s[7] ^= h;
  }
}

const K256 = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
  0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
  0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
  0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
  0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
  0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
  0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/** Incremental SHA-256 (FIPS 180-4), for inputs WebCrypto would need whole in memory. */
export class Sha256 extends BlockHash {
  constructor() {
    super();
    this.state = Int32Array.from([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
      0x5be0cd19,
    ]);
  }

  block(p, o) {
    const w = this.w;
    for (let j = 0; j < 16; j++) {
      const k = o + j * 4;
      w[j] = (p[k] << 24) | (p[k + 1] << 16) | (p[k + 2] << 8) | p[k + 3];
    }
    for (let j = 16; j < 64; j++) {
      const x = w[j - 15];
      const y = w[j - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[j] = (w[j - 16] + s0 + w[j - 7] + s1) | 0;
    }
    const s = this.state;
    let a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (let j = 0; j < 64; j++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K256[j] + w[j]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
  }
}

function subtle() {
  const api = globalThis.crypto && globalThis.crypto.subtle;
  if (!api) {
    throw new Error(
      "WebCrypto is unavailable: open the portal over HTTPS (or on localhost) in a current browser",
    );
  }
  return api;
}

/** SHA-256 of a whole buffer with WebCrypto. */
export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

export function sm3Hex(bytes) {
  return new Sm3().update(bytes).hexdigest();
}

export { subtle };
