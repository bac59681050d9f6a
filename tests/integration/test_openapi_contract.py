"""The whole OpenAPI document against a real ``evidence serve``, by schemathesis.

Every check schemathesis has (``--checks all``: no 5xx, status codes, content
types, headers and bodies as documented, schema-violating input refused,
schema-valid input accepted, auth enforced, ``Allow`` on 405s, …), with an
officer token and with an admin token, at least 5,000 requests each, from a
fixed seed so that a failure reproduces. The one tuned check is explained in
``tests/support/schemathesis.toml``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evidence_api.core.config import Settings
from tests.support.api import provision_tokens, serve_subprocess

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).resolve().parents[1] / "support" / "schemathesis.toml"
SEED = 20261202
#: Test cases per operation; gives more than MIN_REQUESTS requests per token.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "75"))
MIN_REQUESTS = 5000

pytestmark = pytest.mark.slow


def run_schemathesis(base_url: str, token: str, har: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            "--report",
            "har",
            "--report-har-path",
            str(har),
            "--request-timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_every_check_of_the_whole_api_passes_for_officer_and_admin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tokens = provision_tokens(Settings(data_dir=data))
    env = {
        "EVIDENCE_DATA_DIR": str(data),
        # schemathesis' ignored_auth check sends many bad tokens on purpose
        "EVIDENCE_AUTH_FAILURE_LIMIT": "100000",
        "EVIDENCE_MAX_REQUEST_BYTES": str(8 << 20),
    }
    with serve_subprocess(env, tmp_path / "serve.log") as server:
        runs = {
            role: run_schemathesis(server.base_url, tokens[role], tmp_path / f"{role}.har")
            for role in ("officer", "admin")
        }
        outputs = {role: run.communicate(timeout=1500)[0] for role, run in runs.items()}
        assert server.process.poll() is None, "the service died under schemathesis"
    for role, run in runs.items():
        (tmp_path / f"{role}.out").write_text(outputs[role])
        summary = outputs[role][outputs[role].find("SUMMARY") :]
        failures = outputs[role][outputs[role].find("FAILURES") :][:8000]
        assert run.returncode == 0, f"{role}:\n{failures}"
        entries = json.loads((tmp_path / f"{role}.har").read_text())["log"]["entries"]
        assert len(entries) >= MIN_REQUESTS, f"{role}: {len(entries)} requests\n{summary}"
        server_errors = [e for e in entries if e["response"]["status"] >= 500]
        assert server_errors == [], server_errors[:3]
