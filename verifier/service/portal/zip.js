// A minimal, bounded ZIP reader for evidence packages — the portal twin of the ZIP half of
// verifier/package.py, with the same refusals: the member count is bounded from the end
// records before the central directory is parsed; names must be plain relative paths; links,
// devices, encryption and methods other than stored/deflate are refused; members may not
// overlap (the non-recursive zip bomb); sizes and the inflation ratio are counted on the
// bytes actually produced; CRC-32 is checked. Input is a Blob (a dropped File): nothing is
// read whole into memory, members stream through DecompressionStream('deflate-raw').

import { FormatError, decodeUtf8 } from "./bytes.js";

export const LIMITS = Object.freeze({
  maxEntries: 1100,
  maxTotalBytes: 8 * 2 ** 30,
  maxMemberBytes: 4 * 2 ** 30,
  maxRatio: 200,
  ratioGraceBytes: 1 << 20,
});
export const MAX_NAME_CHARS = 512;
const CD_BYTES_PER_ENTRY = 2048;
const EOCD = 22;
const EOCD64 = 56;
const LOCATOR64 = 20;
const LOCAL_HEADER = 30;
const FILES_DIR = "files";
export const SMALL_MEMBERS = {
  "package.json": 1 << 20,
  "README.txt": 1 << 20,
  "manifest.json": 1 << 20,
  "proof.json": 1 << 20,
  "log-key.vkey": 4096,
  "chain.json": 4096,
};

/** A hostile or inconsistent package (verifier.errors.PackageError); `kind` names the class. */
export class PackageError extends FormatError {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const fail = (kind, message) => {
  throw new PackageError(kind, message);
};
const unreadable = (why) => fail("TruncatedPackageError", `not a readable ZIP: ${why}`);

/** A member name for a one-line message, as Python's repr(). */
export function show(name) {
  return `'${name.replace(/[\\']/g, (c) => "\\" + c).replace(/[\x00-\x1f\x7f]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"))}'`;
}

export function checkMemberName(name) {
  let reason = null;
  if (!name) reason = "is empty";
  else if (name.includes("\x00")) reason = "contains a NUL byte";
  else if (/[\x00-\x1f\x7f]/.test(name)) reason = "contains a control character";
  else if (name.includes("\\")) reason = "contains a backslash";
  else if (name.startsWith("/")) reason = "is an absolute path";
  else if (/^[A-Za-z]:/.test(name)) reason = "starts with a drive letter";
  else if ([...name].length > MAX_NAME_CHARS) reason = `is longer than ${MAX_NAME_CHARS} characters`;
  else {
    const parts = (name.endsWith("/") ? name.slice(0, -1) : name).split("/");
    if (parts.includes("..")) reason = "climbs out of the package with '..'";
    else if (parts.some((p) => p === "" || p === ".")) reason = "has an empty or '.' path component";
  }
  if (reason !== null) fail("UnsafePathError", `unsafe member name ${show(name)}: it ${reason}`);
}

export function checkLayout(name) {
  if (Object.hasOwn(SMALL_MEMBERS, name) || name === `${FILES_DIR}/`) return;
  const parts = name.split("/");
  if (parts.length === 2 && parts[0] === FILES_DIR && parts[1]) return;
  fail(
    "PackageLayoutError",
    `unknown member ${show(name)}: a package holds only ${Object.keys(SMALL_MEMBERS).join(", ")} and ${FILES_DIR}/<name>`,
  );
}

async function readRange(blob, start, length) {
  if (start < 0 || start + length > blob.size) unreadable("a record lies outside the archive");
  return new DataView(await blob.slice(start, start + length).arrayBuffer());
}

const u64 = (view, at) => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;

// Code page 437 (ZIP names without the UTF-8 flag), upper half.
const CP437 =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function decodeName(bytes, utf8Flag) {
  if (utf8Flag) {
    try {
      return decodeUtf8(bytes, "member name");
    } catch {
      return unreadable("a member name is not valid UTF-8");
    }
  }
  let out = "";
  for (const b of bytes) out += b < 0x80 ? String.fromCharCode(b) : CP437[b - 0x80];
  return out;
}

/**
 * True if `tail` (a file's last 65 557 bytes, or all of it) ends with a ZIP end record:
 * `PK\x05\x06`, 18 bytes, then exactly the comment length it declares. This is what makes
 * a file a ZIP (package-format §3; verifier.package.has_zip_end_record): data before the
 * first local header, such as a self-extractor stub, changes nothing.
 */
export function hasZipEndRecord(tail) {
  for (let at = tail.length - EOCD; at >= 0; at--) {
    if (tail[at] === 0x50 && tail[at + 1] === 0x4b && tail[at + 2] === 5 && tail[at + 3] === 6) {
      const comment = tail[at + 20] | (tail[at + 21] << 8);
      if (at + EOCD + comment === tail.length) return true;
    }
  }
  return false;
}

/** True if the Blob is a ZIP: it starts with a local header or an end record, or ends with one. */
export async function isZipBlob(blob) {
  const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
  if (head.length === 4 && head[0] === 0x50 && head[1] === 0x4b) {
    if ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6)) return true;
  }
  const tailLen = Math.min(blob.size, EOCD + 0xffff);
  return hasZipEndRecord(new Uint8Array(await blob.slice(blob.size - tailLen).arrayBuffer()));
}

/** (entries, central directory size and start, offset shift) from the end records. */
async function endRecords(blob) {
  const tailLen = Math.min(blob.size, EOCD + 0xffff);
  const tail = new Uint8Array(await blob.slice(blob.size - tailLen).arrayBuffer());
  let at = -1;
  for (let i = tail.length - 4; i >= 0; i--) {
    if (tail[i] === 0x50 && tail[i + 1] === 0x4b && tail[i + 2] === 5 && tail[i + 3] === 6) {
      at = i;
      break;
    }
  }
  if (at < 0 || tail.length - at < EOCD) {
    unreadable("no end-of-central-directory record (truncated, or not a ZIP)");
  }
  const v = new DataView(tail.buffer, tail.byteOffset);
  let disk = v.getUint16(at + 4, true);
  let cdDisk = v.getUint16(at + 6, true);
  let entries = v.getUint16(at + 10, true);
  let cdSize = v.getUint32(at + 12, true);
  let cdOffset = v.getUint32(at + 16, true);
  const eocdPos = blob.size - tailLen + at;
  let recordsStart = eocdPos;
  const loc = at - LOCATOR64;
  if (loc >= 0 && v.getUint32(loc, true) === 0x07064b50) {
    const rec = loc - EOCD64;
    if (rec < 0 || v.getUint32(rec, true) !== 0x06064b50) unreadable("the ZIP64 end record is damaged");
    // As zipfile does: a ZIP64 locator right before the end record wins.
    disk = v.getUint32(rec + 16, true);
    cdDisk = v.getUint32(rec + 20, true);
    entries = u64(v, rec + 32);
    cdSize = u64(v, rec + 40);
    cdOffset = u64(v, rec + 48);
    recordsStart = eocdPos - LOCATOR64 - EOCD64;
  } else if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    unreadable("the ZIP64 end records are missing");
  }
  if (disk !== 0 || cdDisk !== 0) unreadable("multi-disk archives are not supported");
  const cdStart = recordsStart - cdSize;
  const shift = cdStart - cdOffset; // bytes prepended to the archive (as zipfile allows)
  if (cdStart < 0 || shift < 0) unreadable("bad central directory size or offset");
  return { entries, cdSize, cdStart, shift };
}

function zip64Extra(view, at, len, m) {
  const end = at + len;
  while (at + 4 <= end) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (id === 1) {
      let p = at + 4;
      const take = () => {
        if (p + 8 > at + 4 + size) unreadable("corrupt ZIP64 extra field");
        const x = u64(view, p);
        p += 8;
        return x;
      };
      if (m.size === 0xffffffff) m.size = take();
      if (m.compressedSize === 0xffffffff) m.compressedSize = take();
      if (m.offset === 0xffffffff) m.offset = take();
    }
    at += 4 + size;
  }
}

function checkMember(m, limits, seen, checkName) {
  checkMemberName(m.name);
  const mode = m.externalAttr >>> 16;
  const kind = mode & 0o170000;
  if (kind === 0o120000) fail("LinkError", `member ${show(m.name)} is a symbolic link; links are refused`);
  if (kind && kind !== 0o100000 && kind !== 0o040000) {
    fail("PackageLayoutError", `member ${show(m.name)} is not a regular file`);
  }
  if (seen.has(m.name)) fail("UnsafePathError", `member ${show(m.name)} appears twice`);
  if (checkName) checkName(m.name);
  if (m.flags & 1) fail("TruncatedPackageError", `member ${show(m.name)} is encrypted`);
  if (m.method !== 0 && m.method !== 8) {
    fail(
      "TruncatedPackageError",
      `member ${show(m.name)} uses compression method ${m.method}; only stored (0) and deflate (8) are allowed`,
    );
  }
  if (m.name.endsWith("/") && m.size !== 0) {
    fail("PackageLayoutError", `directory entry ${show(m.name)} holds data`);
  }
  if (m.size > limits.maxMemberBytes) {
    fail("ZipBombError", `member ${show(m.name)} declares ${m.size} bytes, limit ${limits.maxMemberBytes}`);
  }
}

/**
 * Open a ZIP Blob: checks every refusal that needs no inflating. `checkName` refuses (by
 * throwing) a safe, unique name the caller has no place for (verifier.zipread.ZipSource's
 * check_name): an evidence package's layout by default, null for none (a WACZ).
 */
export async function openZip(blob, limits = LIMITS, { checkName = checkLayout } = {}) {
  const { entries, cdSize, cdStart, shift } = await endRecords(blob);
  if (entries > limits.maxEntries) {
    fail("TooManyEntriesError", `the ZIP holds ${entries} entries, limit ${limits.maxEntries}`);
  }
  if (cdSize > (limits.maxEntries + 1) * CD_BYTES_PER_ENTRY) {
    fail(
      "TooManyEntriesError",
      `the ZIP's central directory is ${cdSize} bytes, more than ${limits.maxEntries} entries can need`,
    );
  }
  const cd = await readRange(blob, cdStart, cdSize);
  const members = [];
  let p = 0;
  while (p < cdSize) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== 0x02014b50) {
      unreadable("bad magic number for central directory");
    }
    if (members.length >= limits.maxEntries) {
      fail("TooManyEntriesError", `the ZIP holds more than ${limits.maxEntries} entries, limit ${limits.maxEntries}`);
    }
    const nameLen = cd.getUint16(p + 28, true);
    const extraLen = cd.getUint16(p + 30, true);
    const commentLen = cd.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) unreadable("truncated central directory");
    const flags = cd.getUint16(p + 8, true);
    const m = {
      flags,
      method: cd.getUint16(p + 10, true),
      crc: cd.getUint32(p + 16, true),
      compressedSize: cd.getUint32(p + 20, true),
      size: cd.getUint32(p + 24, true),
      externalAttr: cd.getUint32(p + 38, true),
      offset: cd.getUint32(p + 42, true),
      rawName: new Uint8Array(cd.buffer, cd.byteOffset + p + 46, nameLen),
    };
    m.name = decodeName(m.rawName, flags & 0x800);
    zip64Extra(cd, p + 46 + nameLen, extraLen, m);
    m.offset += shift;
    members.push(m);
    p += 46 + nameLen + extraLen + commentLen;
  }
  const byName = new Map();
  for (const m of members) {
    checkMember(m, limits, byName, checkName);
    byName.set(m.name, m);
  }
  // Each member must end before the next begins (one deflate stream counted many times
  // is the non-recursive zip bomb), and lie inside the archive.
  const ordered = [...members].sort((a, b) => a.offset - b.offset);
  ordered.forEach((m, i) => {
    const limit = i + 1 < ordered.length ? ordered[i + 1].offset : cdStart;
    if (!(m.offset >= 0 && m.offset <= cdStart - LOCAL_HEADER)) {
      unreadable(`member ${show(m.name)} lies outside the archive (damaged or truncated)`);
    }
    if (m.offset + LOCAL_HEADER + m.compressedSize > limit) {
      fail("ZipBombError", `member ${show(m.name)} overlaps the next member or the central directory`);
    }
  });
  const declared = members.reduce((n, m) => n + m.size, 0);
  if (declared > limits.maxTotalBytes) {
    fail("ZipBombError", `the ZIP declares ${declared} bytes in all, limit ${limits.maxTotalBytes}`);
  }
  const files = new Map();
  for (const m of members) {
    if (!m.name.endsWith("/")) {
      m.storedSize = Math.min(m.compressedSize, blob.size);
      files.set(m.name, m);
    }
  }
  return { blob, members: files, budget: { totalIn: 0, totalOut: 0 }, limits };
}

let CRC_TABLE = null;

function crc32(crc, bytes) {
  if (CRC_TABLE === null) {
    CRC_TABLE = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c;
    }
  }
  let c = ~crc;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * The bytes of member `m`, chunk by chunk, counted against every limit as they are
 * produced; the CRC-32 and the declared size are checked at the end.
 */
export async function* memberChunks(zip, m) {
  const { blob, limits, budget } = zip;
  const start = await memberDataStart(zip, m);
  const raw = blob.slice(start, start + m.compressedSize);
  const allowed = Math.max(limits.maxRatio * m.storedSize, limits.ratioGraceBytes);
  budget.totalIn += m.storedSize;
  let stream = raw.stream();
  if (m.method === 8) stream = stream.pipeThrough(new DecompressionStream("deflate-raw"));
  const reader = stream.getReader();
  let produced = 0;
  let crc = 0;
  // On a refusal the reader is simply dropped, not cancelled: cancelling an inflating
  // stream mid-chunk crashes Node 20's DecompressionStream adapter, and a dropped pipe
  // stops at its (small) high-water mark anyway.
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch (exc) {
      unreadable(`${show(m.name)}: ${exc && exc.message ? exc.message : "damaged deflate data"}`);
    }
    if (step.done) break;
    const chunk = step.value;
    produced += chunk.length;
    budget.totalOut += chunk.length;
    if (produced > limits.maxMemberBytes) {
      fail("ZipBombError", `member ${show(m.name)} inflates beyond ${limits.maxMemberBytes} bytes`);
    }
    if (produced > allowed) {
      fail(
        "ZipBombError",
        `member ${show(m.name)} inflates beyond ${limits.maxRatio}:1 (${produced} bytes from ${m.storedSize}): a zip bomb`,
      );
    }
    if (budget.totalOut > limits.maxTotalBytes) {
      fail("ZipBombError", `the package inflates beyond ${limits.maxTotalBytes} bytes`);
    }
    if (budget.totalOut > limits.maxRatio * budget.totalIn + limits.ratioGraceBytes) {
      fail("ZipBombError", `the package inflates beyond ${limits.maxRatio}:1 overall: a zip bomb`);
    }
    if (produced > m.size) unreadable(`member ${show(m.name)} inflates beyond its declared size`);
    crc = crc32(crc, chunk);
    yield chunk;
  }
  if (produced !== m.size) unreadable(`member ${show(m.name)} ended before its declared size`);
  if (crc !== m.crc) unreadable(`Bad CRC-32 for file ${show(m.name)}`);
}

/**
 * Where member `m`'s stored bytes begin in the archive (after its local header), once the
 * local header is checked against the central directory. A stored (method 0) member is then
 * `zip.blob.slice(start, start + m.size)`: no copy.
 */
export async function memberDataStart(zip, m) {
  const head = await readRange(zip.blob, m.offset, LOCAL_HEADER);
  if (head.getUint32(0, true) !== 0x04034b50) unreadable(`bad magic number for the header of ${show(m.name)}`);
  const nameLen = head.getUint16(26, true);
  const extraLen = head.getUint16(28, true);
  const local = new Uint8Array((await readRange(zip.blob, m.offset + LOCAL_HEADER, nameLen)).buffer);
  if (local.length !== m.rawName.length || local.some((b, i) => b !== m.rawName[i])) {
    unreadable(`file name in directory ${show(m.name)} and header differ`);
  }
  const start = m.offset + LOCAL_HEADER + nameLen + extraLen;
  if (start + m.compressedSize > zip.blob.size) unreadable(`member ${show(m.name)} is truncated`);
  return start;
}

/** A small member whole, within its size limit. */
export async function readSmall(zip, m) {
  const limit = SMALL_MEMBERS[m.name];
  if (m.size > limit) fail("PackageLayoutError", `${m.name} is ${m.size} bytes, limit ${limit}`);
  const out = new Uint8Array(m.size);
  let o = 0;
  for await (const chunk of memberChunks(zip, m)) {
    out.set(chunk, o);
    o += chunk.length;
  }
  return out;
}
