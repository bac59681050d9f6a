"""The appraisal report of a checkpoint anchored on a real anvil chain.

Tier 5 is checked live over JSON-RPC by verifier.chain; the report must print
the confirmation count the chain gives (head - anchor block + 1), the block
and the transaction, as read back from the PDF.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from tests.integration.test_tier5_anvil import anchor_checkpoint
from tests.support.anvil import Anvil, rpc
from tests.support.factories import sealed_evidence
from verifier.bundle import Bundle
from verifier.chain.anchor import make_anchor_check
from verifier.chain.rpc import endpoint_name
from verifier.digests import digest_stream
from verifier.report import ReportInput, render_pdf
from verifier.report.style import unix_times
from verifier.verify import Status, verify_bundle

pytestmark = pytest.mark.chain

EXTRA_BLOCKS = 4


def head(url: str) -> int:
    return int(str(rpc(url, "eth_blockNumber")), 16)


def test_the_report_prints_the_chains_confirmations(anvil: Anvil) -> None:
    sealed = sealed_evidence({"页面.html": b"<html>anvil</html>", "shot.png": b"\x89PNG anvil"})
    contract, record = anchor_checkpoint(anvil.url, sealed)
    rpc(anvil.url, "anvil_mine", [hex(EXTRA_BLOCKS)])
    data: dict[str, Any] = {
        **sealed.bundle.model_dump(mode="json"),
        "status": "anchored",
        "anchor": record,
    }
    bundle = Bundle.model_validate(data)
    files = [digest_stream(n, io.BytesIO(b)) for n, b in sealed.files.items()]
    check = make_anchor_check(
        [anvil.url], contract=contract, chain_id=anvil.chain_id, min_confirmations=2
    )
    report = verify_bundle(
        bundle, files=files, log_keys=[sealed.signer.verifier()], anchor_check=check
    )
    expected = head(anvil.url) - record["block_number"] + 1
    assert expected >= EXTRA_BLOCKS + 1
    tier5 = report.tiers[4]
    assert tier5.status is Status.VERIFIED, tier5.detail
    assert tier5.facts["confirmations"] == expected
    assert tier5.facts["block_number"] == record["block_number"]
    tiers = json.loads(json.dumps(report.to_dict()))["tiers"]
    assert tiers[4]["facts"]["endpoints"] == endpoint_name(anvil.url)

    pdf = render_pdf(
        ReportInput(
            report=report,
            bundle=bundle,
            files=files,
            generated_at=datetime.now(UTC),
            portal_url=f"https://verify.example.invalid/verify?leaf={report.leaf_hash}",
            trusted_keys=[sealed.signer.verifier().to_text()],
            rpc_endpoints=[endpoint_name(anvil.url)],
        )
    )
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    squeezed = "".join(text.split())
    assert "核验通过 VERIFIED" in text
    assert f"{expected} (要求至少 2)" in text
    assert record["tx_hash"] in squeezed
    assert record["block_hash"] in squeezed
    assert record["contract"] in squeezed
    utc, beijing = unix_times(record["block_timestamp"])
    assert utc in text
    assert beijing in text
    assert endpoint_name(anvil.url) in text
