"""The verifier core alone: ``evidence-verifier`` built by packaging/verifier/build.py,
installed in a fresh venv (no system site packages) with only its hash-pinned
dependencies, runs ``evidence-verify`` through tiers 1-5 on the worked example of
docs/proof-format.md and on a package exported by a real service.

The worked example is sealed, not anchored: its checkpoint (size 5) is anchored
here on a fresh anvil, and the bundle completed with that anchor record. The
package comes from the embedded service on its own anvil (as in
test_api_package.py). The test process (web3, the service) only prepares the
inputs; every verification runs in the fresh venv.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evidence_api.core.config import Settings
from tests.support.anvil import ANVIL, DEV_KEY
from tests.support.anvil import anvil as start_anvil
from tests.support.api import running_stack, submit, wait_for_bundle
from verifier.bundle import Bundle
from verifier.chain.abi import log_id_for
from verifier.checkpoint import parse_signed_checkpoint

pytestmark = [pytest.mark.chain, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "example"
BUILD = ROOT / "packaging" / "verifier" / "build.py"
#: What a court's install must not pull in.
FORBIDDEN = {
    "web3",
    "sqlalchemy",
    "fastapi",
    "celery",
    "starlette",
    "reportlab",
    "uvicorn",
    "alembic",
    "evidence-anchor",
}
PURPOSE = "司法鉴定 judicial appraisal"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _env() -> dict[str, str]:
    """The environment without anything that would lead Python to the source tree."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(command: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


@dataclass(frozen=True)
class Standalone:
    folder: Path
    dist: Path
    python: Path
    verify: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``evidence-verify ARGS --json`` from the venv, in a folder outside the repo."""
        done = subprocess.run(
            [str(self.verify), *args, "--json"],
            cwd=self.folder,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Standalone:
    folder = tmp_path_factory.mktemp("standalone")
    dist = folder / "dist"
    _run([sys.executable, str(BUILD), str(dist)], folder)
    wheels = sorted(dist.glob("evidence_verifier-*-py3-none-any.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    venv = folder / "venv"
    # From the base interpreter (not this venv's packages), without system site packages,
    # with its own pip: what the README tells a court to do.
    _run([sys.executable, "-m", "venv", str(venv)], folder)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    _run(
        [
            *pip,
            "install",
            "-q",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(dist / "requirements.lock"),
        ],
        folder,
    )
    _run([*pip, "install", "-q", "--no-deps", str(wheels[0])], folder)
    return Standalone(folder, dist, python, venv / "bin" / "evidence-verify")


def test_the_venv_holds_the_core_and_its_dependencies_only(standalone: Standalone) -> None:
    listed = json.loads(
        _run(
            [str(standalone.python), "-m", "pip", "list", "--format=json"],
            standalone.folder,
        ).stdout
    )
    installed = {_norm(p["name"]) for p in listed}
    assert not installed & FORBIDDEN, installed & FORBIDDEN
    locked = {
        _norm(m.group(1))
        for m in re.finditer(
            r"^([A-Za-z0-9._-]+)==", (standalone.dist / "requirements.lock").read_text(), re.M
        )
    }
    assert locked == {
        "annotated-types",
        # tier 4's trusted time (RFC 3161) and OpenSSL's Ed25519 and X.509
        "asn1crypto",
        "cffi",
        "cryptography",
        "pycparser",
        "rfc3161-client",
        "pycryptodome",
        "pydantic",
        "pydantic-core",
        "rfc8785",
        "typing-extensions",
        "typing-inspection",
    }
    assert installed - {"pip", "setuptools"} == locked | {"evidence-verifier"}
    # The venv's own verifier, without the service or its packages.
    probe = _run(
        [
            str(standalone.python),
            "-c",
            "import importlib.util as u, verifier.cli; print(verifier.cli.__file__); "
            "print(*(u.find_spec(m) for m in ('verifier.service', 'web3', 'sqlalchemy')))",
        ],
        standalone.folder,
    ).stdout.splitlines()
    assert Path(probe[0]).is_relative_to(standalone.python.parents[1]), probe
    assert probe[1] == "None None None", probe


# --- the worked example ----------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    url: str
    chain_id: int
    contract: str

    def args(self) -> list[str]:
        return ["--rpc", self.url, "--contract", self.contract, "--chain-id", str(self.chain_id)]


def anchor_example(url: str, bundle: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Deploy EvidenceLog on ``url`` and anchor the example's checkpoint; the anchor record."""
    # Imported here: web3 (py-evm) raises the interpreter's recursion limit for the session.
    from web3 import HTTPProvider, Web3  # noqa: PLC0415

    from anchoring.chain import ChainClient, deploy  # noqa: PLC0415

    checkpoint = parse_signed_checkpoint(bundle["checkpoint"])
    w3 = Web3(HTTPProvider(url))
    contract = deploy(w3, DEV_KEY)
    client = ChainClient(w3, contract, DEV_KEY)
    log_id = log_id_for(checkpoint.origin)
    client.set_submitter(log_id, client.sender)
    tx = client.prepare_anchor(log_id, checkpoint.size, checkpoint.root, [])
    client.broadcast(tx)
    receipt = client.wait(tx.tx_hash)
    assert receipt.status == 1
    record = {
        "chain_id": client.chain_id(),
        "contract": contract,
        "log_id": "0x" + log_id.hex(),
        "tx_hash": receipt.tx_hash,
        "block_number": receipt.block_number,
        "block_hash": receipt.block_hash,
        "block_timestamp": client.block_timestamp(receipt.block_number),
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
    }
    return contract, record


@pytest.fixture(scope="module")
def example(standalone: Standalone) -> Iterator[tuple[Path, Chain]]:
    """The worked example in a folder of its own, its bundle anchored on a fresh anvil."""
    if not ANVIL.is_file():
        pytest.skip(f"anvil not found at {ANVIL}: run `npm ci --prefix contracts`")
    folder = standalone.folder / "example"
    (folder / "files").mkdir(parents=True)
    shutil.copy2(EXAMPLE / "files" / "listing.html", folder / "files" / "listing.html")
    shutil.copy2(EXAMPLE / "log.vkey", folder / "log.vkey")
    shutil.copy2(EXAMPLE / "bundle.json", folder / "bundle.json")
    sealed = json.loads((EXAMPLE / "bundle.json").read_text(encoding="utf-8"))
    assert sealed["status"] == "sealed" and sealed["anchor"] is None
    with start_anvil() as node:
        contract, record = anchor_example(node.url, sealed)
        anchored = {**sealed, "status": "anchored", "anchor": record}
        Bundle.model_validate(anchored)  # the issuer's own check
        (folder / "anchored.json").write_text(json.dumps(anchored, ensure_ascii=False, indent=2))
        yield folder, Chain(node.url, node.chain_id, contract)


def _tiers(done: subprocess.CompletedProcess[str]) -> list[str]:
    report = json.loads(done.stdout)
    return [t["status"] for t in report["tiers"]]


def test_worked_example_through_tier_4(standalone: Standalone, example: tuple[Path, Chain]) -> None:
    folder, _ = example
    files = ["--file", str(folder / "files" / "listing.html")]
    key = ["--log-key", str(folder / "log.vkey")]
    done = standalone.run(str(folder / "bundle.json"), *files, *key, "--through", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _tiers(done) == ["verified"] * 4 + ["skipped"]
    assert json.loads(done.stdout)["outcome"] == "verified"
    # As committed (sealed), tier 5 cannot be checked: incomplete, exit 2.
    done = standalone.run(str(folder / "bundle.json"), *files, *key)
    assert done.returncode == 2, done.stdout + done.stderr
    assert _tiers(done) == ["verified"] * 4 + ["not_checked"]


def test_worked_example_anchored_through_tier_5(
    standalone: Standalone, example: tuple[Path, Chain]
) -> None:
    folder, chain = example
    done = standalone.run(
        str(folder / "anchored.json"),
        "--file",
        str(folder / "files" / "listing.html"),
        "--log-key",
        str(folder / "log.vkey"),
        *chain.args(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _tiers(done) == ["verified"] * 5
    # Another contract is not this anchor's: tier 5 fails, exit 1.
    wrong = [*chain.args()[:3], "0x" + "11" * 20, *chain.args()[4:]]
    done = standalone.run(
        str(folder / "anchored.json"),
        "--file",
        str(folder / "files" / "listing.html"),
        "--log-key",
        str(folder / "log.vkey"),
        *wrong,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert _tiers(done)[4] == "failed"


# --- a package exported by the service -----------------------------------------------------


def test_exported_package_through_tier_5(standalone: Standalone, tmp_path: Path) -> None:
    if not ANVIL.is_file():
        pytest.skip(f"anvil not found at {ANVIL}: run `npm ci --prefix contracts`")
    settings = Settings(
        data_dir=tmp_path / "data", chain="anvil", seal_interval=0.1, anchor_interval=0.2
    )
    files = {"商品页面.html": "<p>假冒商品 ¥99</p>".encode(), "empty.txt": b""}
    with running_stack(settings) as stack:
        chain = stack.runtime.chain
        assert chain is not None and chain.node is not None, "the embedded stack runs anvil"
        evidence_id = submit(stack, files).json()["evidence_id"]
        wait_for_bundle(
            stack.client, evidence_id, stack.auth("officer"), status="anchored", timeout=60
        )
        response = stack.client.get(
            f"/v1/evidence/{evidence_id}/package",
            params={"purpose": PURPOSE},
            headers=stack.auth("appraiser"),
        )
        assert response.status_code == 200, response.text
        package = standalone.folder / f"{evidence_id}.zip"
        package.write_bytes(response.content)
        key = standalone.folder / "service.vkey"
        key.write_text(stack.client.get("/v1/log/key").text)
        trusted = [
            "--rpc",
            chain.node.url,
            "--contract",
            chain.client.address,
            "--chain-id",
            str(chain.client.chain_id()),
        ]
        done = standalone.run(str(package), "--log-key", str(key), *trusted)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert [t["status"] for t in report["tiers"]] == ["verified"] * 5
        assert report["outcome"] == "verified"
        assert report["package"]["trusted"] is False
