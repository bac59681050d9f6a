"""Publish what the verification service trusts, for ``docker compose up`` in one step.

The verifier needs the log's verifier key and the chain binding (chain id,
EvidenceLog contract) before it can check tier 5; in a fresh deployment the
contract only exists once the API has deployed it. This one-shot command, run
after the API is healthy (docker-compose.yml service ``trust-roots``), waits
until both are known — the vkey from the API's public ``GET /v1/log/key``, the
binding from the database — and writes them as a shell file of ``VERIFIER_*``
variables that the verifier's entrypoint sources::

    python -m evidence_api.trust.publish /srv/trust/verifier.env --api http://api:8000

Each line keeps a value already set in the verifier's environment
(``${VERIFIER_CONTRACT:-…}``), so an operator can still pin a trust root by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from evidence_api.core.config import get_settings
from evidence_api.core.db import make_engine
from evidence_api.trust.roots import bound_chain
from verifier.errors import VerifierError
from verifier.note import VerifierKey

#: A value written into the shell file: nothing a shell would expand or split.
_SAFE = re.compile(r"[A-Za-z0-9+/=._:\-]{1,1024}")


class NotYetError(Exception):
    """A trust root is not known yet (the API is starting, the contract not deployed)."""


def verifier_env(vkey: str, chain_id: int, contract: str) -> str:
    """The shell file's text; refuses a value that is not plainly safe to source."""
    values = {
        "VERIFIER_LOG_KEYS": vkey,
        "VERIFIER_CHAIN_ID": str(chain_id),
        "VERIFIER_CONTRACT": contract,
    }
    for name, value in values.items():
        if not _SAFE.fullmatch(value):
            raise ValueError(f"{name}: {value[:80]!r} is not a plain token")
    lines = ["# written by python -m evidence_api.trust.publish; a value set already wins"]
    lines += [f"{name}=${{{name}:-{value}}}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def fetch_vkey(api: str, timeout: float = 5.0) -> str:
    """The log's verifier key from the API's public endpoint, checked to parse."""
    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/v1/log/key", timeout=timeout) as answer:  # noqa: S310 - a URL the operator gives
            text = bytes(answer.read(4096)).decode("utf-8").strip()
    except (OSError, urllib.error.URLError, UnicodeDecodeError) as exc:
        raise NotYetError(f"{api}/v1/log/key: {exc}") from exc
    try:
        VerifierKey.from_text(text)
    except VerifierError as exc:
        raise NotYetError(f"{api}/v1/log/key is not a verifier key: {exc}") from exc
    return text


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evidence_api.trust.publish")
    parser.add_argument("out", type=Path, help="the VERIFIER_* shell file to write")
    parser.add_argument("--api", default="http://api:8000", help="the API's base URL")
    parser.add_argument("--wait", type=float, default=600.0, help="seconds to wait at most")
    args = parser.parse_args(argv)
    engine = make_engine(get_settings().resolved_database_url)
    deadline = time.monotonic() + args.wait
    pause = 0.5
    try:
        while True:
            try:
                vkey = fetch_vkey(args.api)
                bound = bound_chain(engine)
                if bound is None:
                    raise NotYetError("the log is not bound to a chain yet")
                chain_id, contract, _ = bound
                break
            except (NotYetError, SQLAlchemyError) as exc:  # the database may be starting too
                if time.monotonic() + pause > deadline:
                    sys.stderr.write(f"error: trust roots not published: {exc}\n")
                    return 1
                time.sleep(pause)  # a deployment starting up: poll with backoff
                pause = min(pause * 2, 5.0)
    finally:
        engine.dispose()
    write_atomically(args.out, verifier_env(vkey, chain_id, contract))
    sys.stdout.write(
        f"published chain {chain_id} contract {contract} and the log key to {args.out}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
