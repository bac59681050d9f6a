"""In-browser verification of a large file in Chromium, beside ``sha256sum`` of the same file.

The portal hashes evidence where it is, in the visitor's browser: SHA-256 with WebCrypto and
SM3 in JavaScript, one pass, then tiers 1-4 (manifest, RFC 9162 inclusion, Ed25519
checkpoint signature) in ``verify.js``. Here a real headless Chromium loads the portal from
the real verification service (uvicorn, loopback), is given a 100 MB file (10 MB with
``--quick``) through a file input — the browser reads it from disk, as it would a dropped
file — and times, each run:

* ``verify``: ``digestBlob`` (SHA-256 + SM3) then ``loadBundle`` + ``verifyBundle``;
* ``sha256``: WebCrypto SHA-256 of the same file alone (read + digest), the like-for-like
  line for ``sha256sum``.

Runs alternate with ``sha256sum FILE`` (coreutils, a subprocess, the file in the page cache
for both), so a noisy neighbour hits both lines alike. Every run must verify tiers 1-4 and
give ``sha256sum``'s digest, or the section reports a problem.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Progress, Row, percentile, support

MB = 10**6
CHUNK = 1 << 20
TIMED_JS = """
async ({bundleText, keyText}) => {
  const v = await import('/verify/static/verify.js');
  const file = document.getElementById('bench-file').files[0];
  const t0 = performance.now();
  const digest = await v.digestBlob(file.name, file);
  const t1 = performance.now();
  const bundle = v.loadBundle(bundleText);
  const report = await v.verifyBundle(bundle, {
    files: [digest], logKeys: [await v.parseVerifierKey(keyText)], through: 4,
  });
  const t2 = performance.now();
  const whole = await file.arrayBuffer();
  const sha = v.bytesToHex(await v.sha256(new Uint8Array(whole)));
  const t3 = performance.now();
  return {
    hash_ms: t1 - t0, tiers_ms: t2 - t1, sha256_ms: t3 - t2, sha256: sha,
    digest_sha256: digest.sha256, statuses: report.tiers.map((t) => t.status),
  };
}
"""


@dataclass(frozen=True)
class BrowserSettings:
    file_bytes: int
    runs: int

    @classmethod
    def make(cls, quick: bool) -> BrowserSettings:
        return cls(file_bytes=10 * MB if quick else 100 * MB, runs=3 if quick else 5)


@dataclass
class BrowserResult:
    settings: BrowserSettings
    #: per run, ms: hash (SHA-256 + SM3) and tiers 1-4; hashing alone; tiers alone
    verify_ms: list[float] = field(default_factory=list)
    hash_ms: list[float] = field(default_factory=list)
    tiers_ms: list[float] = field(default_factory=list)
    #: per run, ms: WebCrypto SHA-256 alone, and ``sha256sum`` of the same file
    sha256_ms: list[float] = field(default_factory=list)
    sha256sum_ms: list[float] = field(default_factory=list)
    chromium: str = ""
    problems: list[str] = field(default_factory=list)


def make_file(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes (incompressible, reproducible); return their SHA-256."""
    digest = hashlib.sha256()
    seed = hashlib.sha256(b"evidence-anchor browser bench").digest()
    with path.open("wb") as fh:
        written = 0
        counter = 0
        while written < size:
            block = hashlib.shake_256(seed + counter.to_bytes(8, "big")).digest(
                min(CHUNK, size - written)
            )
            fh.write(block)
            digest.update(block)
            written += len(block)
            counter += 1
    return digest.hexdigest()


def sha256sum(path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        ["sha256sum", str(path)], capture_output=True, text=True, check=True, timeout=300
    )
    return (time.perf_counter() - start) * 1e3, done.stdout.split()[0]


def _bundle_for(path: Path) -> tuple[str, str]:
    """A sealed bundle (leaf 1000 of 1024) for the file, and the log's key text, built by
    the issuing code; the file is hashed once here with hashlib."""
    from anchoring.entries import evidence_entry, sealed_bundle  # noqa: PLC0415
    from anchoring.log import MerkleLog  # noqa: PLC0415
    from anchoring.store import MemoryNodeStore  # noqa: PLC0415
    from verifier.checkpoint import Checkpoint  # noqa: PLC0415
    from verifier.digests import digest_stream  # noqa: PLC0415
    from verifier.models import Manifest  # noqa: PLC0415

    factories = support("factories")
    with path.open("rb") as fh:
        d = digest_stream(path.name, fh)
    manifest = factories.manifest_for({path.name: b""}).model_dump(mode="json")
    manifest["files"] = [
        {
            "name": d.name,
            "media_type": "application/octet-stream",
            "size": d.size,
            "sha256": d.sha256,
            "sm3": d.sm3,
        }
    ]
    model = Manifest.model_validate(manifest)
    key = factories.signer()
    entry = evidence_entry(model, at="2026-11-26T06:00:01.000Z", salt="22" * 16)
    log = MerkleLog(MemoryNodeStore())
    log.append(i.to_bytes(2, "big") for i in range(1000))
    index = log.append([entry.leaf_data()])
    log.append(i.to_bytes(3, "big") for i in range(23))
    note = Checkpoint(key.name, log.size, log.root()).sign(key)
    bundle = sealed_bundle(log, entry, index, note, log.size, origin=key.name, manifest=model)
    return bundle.to_json(), key.verifier().to_text()


def run(settings: BrowserSettings, progress: Progress) -> BrowserResult:
    browser_support = support("browser")
    from verifier.note import VerifierKey  # noqa: PLC0415
    from verifier.service.app import create_verifier_app  # noqa: PLC0415
    from verifier.service.config import ServiceConfig  # noqa: PLC0415

    result = BrowserResult(settings)
    missing = browser_support.chromium_missing()
    if missing:
        raise RuntimeError(f"browser section needs Chromium: {missing}")
    with tempfile.TemporaryDirectory(prefix="evidence-bench-browser-") as tmp:
        path = Path(tmp) / "evidence.bin"
        progress(f"browser: writing a {settings.file_bytes / MB:g} MB file")
        want = make_file(path, settings.file_bytes)
        bundle_text, key_text = _bundle_for(path)
        config = ServiceConfig(log_keys=(VerifierKey.from_text(key_text),))
        with (
            browser_support.live_server(create_verifier_app(config)) as server,
            browser_support.chromium() as browser,
        ):
            result.chromium = str(browser.version)
            page = browser.new_page()
            page.goto(f"{server.url}/verify")
            page.wait_for_selector("body[data-ready='true']", timeout=60_000)
            page.evaluate(
                "() => { const i = document.createElement('input'); i.type = 'file';"
                " i.id = 'bench-file'; document.body.append(i); }"
            )
            page.set_input_files("#bench-file", str(path))
            sha256sum(path)  # warm-up: the file in the page cache for both
            page.evaluate(TIMED_JS, {"bundleText": bundle_text, "keyText": key_text})
            for r in range(settings.runs):
                progress(f"browser: run {r + 1} of {settings.runs}")
                got = page.evaluate(TIMED_JS, {"bundleText": bundle_text, "keyText": key_text})
                ms, coreutils = sha256sum(path)
                result.sha256sum_ms.append(ms)
                result.hash_ms.append(got["hash_ms"])
                result.tiers_ms.append(got["tiers_ms"])
                result.verify_ms.append(got["hash_ms"] + got["tiers_ms"])
                result.sha256_ms.append(got["sha256_ms"])
                if got["statuses"][:4] != ["verified"] * 4:
                    result.problems.append(f"run {r + 1}: tiers 1-4 are {got['statuses'][:4]}")
                if not want == coreutils == got["sha256"] == got["digest_sha256"]:
                    result.problems.append(
                        f"run {r + 1}: digests differ: file {want}, sha256sum {coreutils}, "
                        f"WebCrypto {got['sha256']}, portal {got['digest_sha256']}"
                    )
    return result


def _p50(values: list[float]) -> float:
    return percentile(values, 50) if values else 0.0


def rows(result: BrowserResult) -> list[Row]:
    size = f"{result.settings.file_bytes / MB:g} MB"
    base = _p50(result.sha256sum_ms)
    return [
        Row(
            id="browser.verify.p50",
            figure=f"Chromium: verify a {size} file (SHA-256 + SM3, tiers 1-4), p50",
            unit="ms",
            ours=_p50(result.verify_ms),
            baseline=base,
            baseline_name="sha256sum of the same file",
            ratio_kind="share",
        ),
        Row(
            id="browser.sha256.p50",
            figure=f"Chromium: WebCrypto SHA-256 of the {size} file alone, p50",
            unit="ms",
            ours=_p50(result.sha256_ms),
            baseline=base,
            baseline_name="sha256sum of the same file",
            ratio_kind="share",
        ),
    ]


def legend(result: BrowserResult) -> str:
    s = result.settings
    hash_p50, tiers_p50 = _p50(result.hash_ms), _p50(result.tiers_ms)
    mb_s = s.file_bytes / MB / (hash_p50 / 1e3) if hash_p50 else 0.0
    lines = [
        f"ratio = ours / sha256sum (p50 of {s.runs} alternating runs). Chromium "
        f"{result.chromium} headless, the portal served by the real verification service; "
        "the file given through a file input (read from disk by the browser).",
        f"verify = hashing {hash_p50:,.0f} ms ({mb_s:,.0f} MB/s; WebCrypto SHA-256 and SM3 in "
        f"JavaScript, one pass) + tiers 1-4 {tiers_p50:.1f} ms; sha256sum p50 "
        f"{_p50(result.sha256sum_ms):,.0f} ms (a subprocess, coreutils).",
    ]
    lines += [f"  ! {p}" for p in result.problems]
    return "\n".join(lines)


def raw(result: BrowserResult) -> dict[str, Any]:
    return {
        "file_bytes": result.settings.file_bytes,
        "runs": result.settings.runs,
        "chromium": result.chromium,
        "verify_ms": result.verify_ms,
        "hash_ms": result.hash_ms,
        "tiers_ms": result.tiers_ms,
        "sha256_ms": result.sha256_ms,
        "sha256sum_ms": result.sha256sum_ms,
        "problems": result.problems,
    }


if __name__ == "__main__":  # python -m bench.browser [--quick]: this section alone
    import sys

    outcome = run(BrowserSettings.make("--quick" in sys.argv), Progress())
    print(json.dumps(raw(outcome), indent=2))
