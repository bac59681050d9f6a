"""Settings from ``EVIDENCE_*`` environment variables (pydantic-settings).

Embedded mode (the default) needs nothing configured: SQLite and a local
folder under ``data_dir``, a log key generated there. Production mode refuses
to start with development defaults (see :func:`check_production`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
GiB = 1024 * MiB


class WitnessEndpoint(BaseModel):
    """One witness the sealer submits checkpoints to (C2SP ``tlog-witness``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the witness's base URL; ``<url>/add-checkpoint`` is posted to
    url: str = Field(pattern=r"^https?://\S+$", max_length=2048)
    #: its cosignature verifier key (``<name>+<hex id>+<base64(0x04 || key)>``)
    vkey: str = Field(min_length=1, max_length=1024)

    @field_validator("vkey")
    @classmethod
    def _vkey(cls, value: str) -> str:
        from verifier.cosignature import WitnessKey  # noqa: PLC0415
        from verifier.errors import VerifierError  # noqa: PLC0415

        try:
            WitnessKey.from_text(value)
        except VerifierError as exc:
            raise ValueError(str(exc)) from exc
        return value.strip()


class TimestampAuthority(BaseModel):
    """One RFC 3161 time-stamping authority."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a short name, stored with each token and shown in bundles and reports
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    #: where time-stamp queries are posted (``application/timestamp-query``)
    url: str = Field(pattern=r"^https?://\S+$", max_length=2048)
    #: PEM file of the certificates that verify its tokens (the TSA's root CA, or its
    #: signing certificate); a token that does not verify against it is not stored
    cert_file: Path


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVIDENCE_", extra="ignore")

    mode: Literal["embedded", "production"] = Field(
        "embedded", description="embedded: everything local; production: refuses dev defaults"
    )
    data_dir: Path = Field(Path("data"), description="data folder (SQLite, objects, dev keys)")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/evidence.db"
    )
    host: str = Field("127.0.0.1", description="address `evidence serve` listens on")
    port: int = Field(8000, description="port `evidence serve` listens on")
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="server processes `evidence serve` runs on its port, sharing the "
        "database; default 1 with the in-process chain (anvil, tester), "
        "else the number of cores up to 4",
    )
    verifier_mount: str = Field(
        "/verifier",
        max_length=200,
        description="path prefix where `evidence serve` also serves the verification portal "
        "and API (trusting this log's key and chain); empty: not served",
    )
    portal_url: str | None = Field(
        None,
        max_length=1024,
        pattern=r"^https?://\S+$",
        description="the verification portal as the public reaches it, put in the QR code of "
        "every report (and printed under it); default: the portal `evidence serve` mounts",
    )
    log_format: Literal["json", "text"] | None = Field(
        None, description="json: one JSON object per line; text; default json in production"
    )
    log_level: str = Field(
        "INFO", pattern=r"(?i)^(debug|info|warning|error|critical)$", description="log level"
    )
    metrics_token: SecretStr | None = Field(
        None, description="bearer token /metrics requires; unset: /metrics is open"
    )

    storage: Literal["local", "s3"] = Field("local", description="object store kind")
    storage_dir: Path | None = Field(
        None, description="local store folder; default <data_dir>/objects"
    )
    s3_endpoint: str = Field("127.0.0.1:9000", description="S3 endpoint host:port")
    s3_access_key: str = Field("", description="S3 access key")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key")
    s3_bucket: str = Field("evidence", description="bucket (created with Object Lock)")
    s3_secure: bool = Field(False, description="use HTTPS to reach S3")
    s3_region: str | None = Field(None, description="S3 region")
    retention_days: int = Field(
        3650, ge=1, le=36500, description="COMPLIANCE retention of every stored object"
    )

    log_origin: str = Field("evidence.local/log", description="log origin = signing key name")
    log_key: SecretStr | None = Field(None, description="log signing key, PRIVATE+KEY+... text")
    log_key_file: Path | None = Field(None, description="file holding the log signing key")
    seal_interval: float = Field(1.0, gt=0, le=3600, description="seconds between seals")
    max_batch: int = Field(1000, ge=1, le=100_000, description="entries that trigger a seal")
    max_merge_delay: int = Field(
        60, ge=1, le=86400, description="seconds within which a receipt promises inclusion"
    )
    run_sealer: bool = Field(True, description="seal in-process on a timer (embedded mode)")

    chain: Literal["anvil", "rpc", "tester", "none"] = Field(
        "anvil",
        description="anvil: managed local node; rpc: EVIDENCE_CHAIN_RPC_URL; "
        "tester: in-process chain (anchors vanish at exit); none: no anchoring",
    )
    chain_rpc_url: str | None = Field(None, description="JSON-RPC URL (chain=rpc)")
    chain_key: SecretStr | None = Field(None, description="anchoring account's private key (hex)")
    chain_key_file: Path | None = Field(None, description="file holding the anchoring key")
    contract_address: str | None = Field(
        None, description="EvidenceLog address; deployed and recorded when unset (dev chains)"
    )
    confirmations: int = Field(1, ge=1, le=1000, description="blocks before an anchor is final")
    anchor_interval: float = Field(1.0, gt=0, le=3600, description="seconds between anchor runs")
    run_anchorer: bool = Field(True, description="anchor in-process on a timer (embedded mode)")
    anchor_drop_after: float = Field(
        30.0, gt=0, le=86400, description="seconds before a tx the node forgot is re-sent"
    )
    anvil_port: int = Field(
        8545,
        ge=0,
        le=65535,
        description="port of the managed anvil (its RPC URL is printed at start); 0: any free port",
    )
    anvil_block_time: float | None = Field(
        None, description="managed anvil block time in s; default: mine each transaction"
    )
    broker_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker (worker/beat)")
    result_backend: str = Field(
        "redis://127.0.0.1:6379/1", description="Celery result backend (worker/beat)"
    )

    run_supervisor: bool = Field(
        True, description="scan for overdue takedowns and send webhooks in-process (embedded)"
    )
    overdue_interval: float = Field(
        10.0, gt=0, le=3600, description="seconds between scans for overdue takedown orders"
    )
    clue_deadline_interval: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="seconds between scans for overdue clue transfers and 协查 requests",
    )
    spotcheck_seed_delay: int = Field(
        3,
        ge=1,
        le=10_000,
        description="blocks between a spot-check plan's commitment and the block seeding its draw",
    )
    credit_regrade_interval: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="seconds between regrades of the entities whose grade decay changes",
    )
    odr_deadline_interval: float = Field(
        60.0, gt=0, le=3600, description="seconds between scans for ODR mediations past deadline"
    )
    odr_default_days: int = Field(
        15, ge=1, le=90, description="days an ODR mediation has before it fails by deadline"
    )
    public_max_attachments: int = Field(
        5, ge=0, le=20, description="attachments one public complaint or repair may carry"
    )
    public_max_attachment_bytes: int = Field(
        10 * 2**20,
        ge=1024,
        le=100 * 2**20,
        description="bytes one attachment of a public complaint or repair may have",
    )
    public_rate_limit: int = Field(
        5,
        ge=1,
        le=10_000,
        description="public complaints and repair applications one client may send per window",
    )
    public_rate_window: float = Field(
        3600.0, gt=0, le=86_400 * 7, description="seconds of the public intake's rate window"
    )
    webhook_interval: float = Field(
        2.0, gt=0, le=3600, description="seconds between webhook dispatch runs"
    )
    webhook_timeout: float = Field(
        10.0, gt=0, le=120, description="seconds a webhook receiver has to answer"
    )
    webhook_deadline: float = Field(
        30.0,
        gt=0,
        le=600,
        description="seconds one webhook delivery may take in all (connect, send, answer); "
        "a receiver still dripping its answer then is cut off and retried later",
    )
    webhook_max_attempts: int = Field(
        8, ge=1, le=50, description="attempts per webhook delivery before it is marked failed"
    )
    webhook_backoff: float = Field(
        5.0, gt=0, le=3600, description="seconds before the first retry; doubled per attempt"
    )
    webhook_allow_hosts: str = Field(
        "",
        description="comma-separated hosts or IPs webhooks may reach even when private, "
        "loopback or link-local (e.g. 127.0.0.1)",
    )
    secrets_key: SecretStr | None = Field(
        None,
        description="32-byte key (64 hex digits or base64) sealing webhook secrets at rest "
        "(AES-256-GCM); embedded default: generated into <data_dir>/secrets-dev.key",
    )
    secrets_key_file: Path | None = Field(None, description="file holding EVIDENCE_SECRETS_KEY")

    capture_chromium: Path = Field(
        Path("/usr/bin/chromium"),
        description="the browser server-side captures run (Debian's chromium; never "
        "`playwright install`)",
    )
    capture_concurrency: int = Field(
        1, ge=1, le=16, description="captures one process (or Celery worker) runs at once"
    )
    run_captures: bool = Field(
        True,
        description="run captures in this process on capture_concurrency threads (embedded "
        "mode); false: send them to the Celery queue `capture` (`evidence worker --queues "
        "capture` on hosts with Chromium)",
    )
    capture_sweep_interval: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="seconds between sweeps that send again captures left queued (a lost "
        "message) and recover those a dead process left running",
    )
    capture_allow: str = Field(
        "",
        max_length=4096,
        description="comma-separated hosts, IPs or CIDR blocks captures may reach even when "
        "loopback, private or link-local (e.g. 127.0.0.1); empty: global addresses only",
    )
    capture_upstream_ca: Path | None = Field(
        None,
        description="PEM file of extra CA certificates the capture's recording proxy trusts "
        "for HTTPS origins, beside the system's",
    )
    capture_second_resolver: str | None = Field(
        None,
        max_length=64,
        description="IP of a second DNS resolver asked for the target's addresses (a "
        "disagreement with the system resolver is a recorded warning); empty: not asked",
    )
    capture_ntp_servers: str = Field(
        "",
        max_length=1024,
        description="comma-separated NTP servers the clock offset is measured against "
        "before and after each capture; empty: not measured",
    )
    capture_echo_url: str | None = Field(
        None,
        max_length=1024,
        pattern=r"^https?://\S+$",
        description="a URL answering the egress IP as plain text, recorded per capture",
    )
    capture_total_seconds: float = Field(
        120.0, gt=0, le=3600, description="longest capture, browser start to last file"
    )
    capture_max_bytes: int = Field(
        100 * MiB, ge=1024, description="response bytes one capture may download in all"
    )
    capture_max_resources: int = Field(
        2000, ge=1, le=100_000, description="requests one capture may make"
    )
    run_monitors: bool = Field(
        True,
        description="schedule and run monitors (and takedown re-captures) in this process on "
        "monitor_concurrency threads (embedded mode); false: beat's `evidence.monitor_tick` "
        "queues them and workers of the Celery queue `capture` run them",
    )
    monitor_tick_interval: float = Field(
        5.0, gt=0, le=3600, description="seconds between the monitor scheduler's ticks"
    )
    monitor_concurrency: int = Field(
        2, ge=1, le=16, description="monitor runs one process runs at once (embedded mode)"
    )
    monitor_min_interval: int = Field(
        300,
        ge=1,
        le=86400 * 31,
        description="least seconds between two runs of one monitor (a shorter interval or "
        "a cron firing more often is refused with 422)",
    )
    monitor_jitter: float = Field(
        0.1,
        ge=0,
        le=0.5,
        description="spread of each run's time as a fraction of its interval (fixed per "
        "monitor), so monitors created together do not run together",
    )
    monitor_host_concurrency: int = Field(
        2, ge=1, le=64, description="monitor runs and re-captures toward one host at once"
    )
    monitor_host_spacing: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="least seconds between the starts of two runs toward one host",
    )
    monitor_wordlists: Path | None = Field(
        None,
        description="folder of word lists (*.json, docs/monitoring.md) used instead of the "
        "shipped ones of evidence_api/monitoring/wordlists",
    )
    takedown_verify_delays: str = Field(
        "3600,86400,604800",
        max_length=256,
        pattern=r"^(\s*\d+(\s*,\s*\d+)*\s*)?$",
        description="seconds after a platform completes a takedown order at which each "
        "listed URL is captured again (removal_verified or reappeared); empty: never",
    )
    alert_webhook_url: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^https?://\S+$",
        description="a department system's URL every alert event is POSTed to, signed "
        "with alert_webhook_secret (HMAC-SHA256, as the platforms' webhooks); empty: none",
    )
    alert_webhook_secret: SecretStr | None = Field(
        None, description="the secret signing alert webhooks (at least 32 characters)"
    )
    max_file_bytes: int = Field(2 * GiB, ge=1, description="largest accepted evidence file")
    max_request_bytes: int = Field(
        8 * GiB, ge=1024, description="largest upload body, counted as it streams (chunked too)"
    )
    max_json_bytes: int = Field(
        1 * MiB,
        ge=1024,
        le=64 * MiB,
        description="largest body of a JSON route (and of any route that takes no upload), "
        "counted while it streams",
    )
    max_json_depth: int = Field(
        32, ge=4, le=512, description="deepest bracket nesting of a JSON body"
    )
    auth_failure_limit: int = Field(
        30, ge=1, le=100_000, description="invalid tokens one client may present per window"
    )
    auth_failure_window: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="seconds over which invalid tokens are counted; "
        "past the limit the client gets 429 with Retry-After",
    )
    session_lifetime: float = Field(
        43200.0, ge=60, le=2_592_000, description="seconds a console login lasts at most"
    )
    session_idle_timeout: float = Field(
        3600.0,
        ge=60,
        le=2_592_000,
        description="seconds without a request after which a console session ends",
    )
    login_failure_limit: int = Field(
        5, ge=1, le=1000, description="wrong passwords (or codes) in a row before a user is locked"
    )
    password_profile: Literal["rfc9106-low-memory", "owasp-minimum"] = Field(
        "rfc9106-low-memory",
        description="Argon2id cost of new password hashes: rfc9106-low-memory (64 MiB, 3 "
        "passes, 4 lanes) or owasp-minimum (19 MiB, 2 passes, 1 lane; about an eighth of the "
        "CPU per login). A stored hash keeps its own parameters and is redone at its next login",
    )
    login_lockout: float = Field(
        900.0, ge=1, le=86400 * 30, description="seconds a locked user must wait to log in again"
    )
    session_cookie_secure: bool = Field(
        False,
        description="always mark the session cookie Secure (it is anyway when the request "
        "came over https, e.g. through a TLS proxy that sets X-Forwarded-Proto)",
    )
    header_timeout: float = Field(
        10.0, gt=0, le=600, description="seconds a client has to send a request's headers"
    )
    keepalive_timeout: float = Field(
        5.0, gt=0, le=600, description="seconds an idle keep-alive connection is kept"
    )
    max_connections_per_client: int = Field(
        100, ge=1, le=100_000, description="concurrent connections from one client address"
    )
    max_connections: int = Field(
        2048, ge=1, le=1_000_000, description="concurrent connections; beyond: 503"
    )
    max_files: int = Field(50, ge=1, le=1000, description="files per submission")
    max_metadata_bytes: int = Field(64 * 1024, ge=1024, description="metadata part limit")
    max_stamps: int = Field(1000, ge=1, le=10_000, description="digests per /v1/stamps request")
    spool_dir: Path | None = Field(
        None, description="temp folder for uploads; default <data_dir>/spool"
    )
    spool_stale_after: float = Field(
        3600.0,
        ge=60,
        le=7 * 86400,
        description="seconds after which an upload-* spool file no process has touched "
        "is a crash's leftover, removed at start",
    )
    run_integrity: bool = Field(
        True, description="check the store against the log at start and on a timer"
    )
    integrity_interval: float = Field(
        3600.0, gt=0, le=7 * 86400, description="seconds between integrity passes"
    )
    integrity_recent: int = Field(
        100, ge=0, le=100_000, description="newest evidence items and leaves each pass checks"
    )
    integrity_sample: int = Field(
        50, ge=0, le=100_000, description="random older evidence items and leaves per pass"
    )

    # -- trust beyond the operator (docs/design.md §11.10) ---------------------------------
    witnesses: list[WitnessEndpoint] = Field(
        default_factory=list,
        description="witnesses cosigning each new checkpoint, as JSON: "
        '[{"url": "http://…", "vkey": "<name>+<id>+<key>"}]',
    )
    witness_interval: float = Field(
        2.0, gt=0, le=3600, description="seconds between submissions of the newest checkpoint"
    )
    witness_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds a witness has to answer one submission"
    )
    tsas: list[TimestampAuthority] = Field(
        default_factory=list,
        description="RFC 3161 authorities timestamping anchored checkpoints, as JSON: "
        '[{"name": "ntsc", "url": "http://…", "cert_file": "/path/tsa-ca.pem"}]',
    )
    timestamp_every: int = Field(
        1, ge=1, le=1_000_000, description="timestamp every Nth anchored checkpoint"
    )
    timestamp_interval: float = Field(
        5.0, gt=0, le=3600, description="seconds between looks for anchored checkpoints to stamp"
    )
    tsa_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds an authority has to answer one query"
    )
    certificate_cert_file: Path | None = Field(
        None,
        description="PEM certificate (and chain) signing 存证证书 and reports; embedded "
        "default: a generated development CA under <data_dir>/certificates",
    )
    certificate_key_file: Path | None = Field(
        None, description="PEM private key of certificate_cert_file"
    )
    run_certificates: bool = Field(
        True, description="issue each evidence item's 存证证书 in the background after intake"
    )
    certificate_interval: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="seconds between looks for evidence without a 存证证书 (a look that "
        "finds a backlog draws it batch after batch, for up to 10 s)",
    )
    certificate_process: bool = Field(
        True,
        description="render and sign 存证证书 in a helper process (started at the first one), "
        "so the processes receiving evidence never load reportlab, pyHanko and the CJK font "
        "(~80 MiB) nor share their GIL with a certificate; false: in the issuing process",
    )
    certificate_niceness: int = Field(
        10,
        ge=0,
        le=19,
        description="how far the certificate helper process steps back for the CPU (added "
        "to its nice value when it starts): 存证证书 are drawn in the background, so on a "
        "busy machine intake and reads go first and certificates catch up when it is less "
        "busy; 0: the same priority as the service",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'evidence.db'}"

    @property
    def resolved_workers(self) -> int:
        """:attr:`workers`, or its default: one process with a chain that lives in one
        process, else one per core up to 4. On SQLite too: its one writer is taken in turn
        through a lock file (:func:`evidence_api.core.db.writer_lock`), and the rest of a
        request (HTTP, validation, hashing, signing) runs in every process at once: 1 KB
        evidence went from 137/s to 215/s at 32 clients on 2 cores."""
        if self.workers is not None:
            return self.workers
        if self.chain in ("anvil", "tester"):
            return 1
        return min(os.cpu_count() or 1, 4)

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "objects"

    @property
    def resolved_spool_dir(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    @property
    def dev_key_path(self) -> Path:
        return self.data_dir / "log-dev.key"


class ConfigurationError(Exception):
    """Settings that must not be used (e.g. development defaults in production)."""


def check_production(settings: Settings) -> None:
    """Refuse development defaults in production mode."""
    if settings.mode != "production":
        return
    problems = []
    if settings.log_key is None and settings.log_key_file is None:
        problems.append("no log signing key configured (EVIDENCE_LOG_KEY or EVIDENCE_LOG_KEY_FILE)")
    if settings.log_key_file is not None and settings.log_key_file.resolve() == (
        settings.dev_key_path.resolve()
    ):
        problems.append("the log key is the generated development key")
    if settings.secrets_key is None and settings.secrets_key_file is None:
        problems.append(
            "no key sealing webhook secrets at rest (EVIDENCE_SECRETS_KEY or _FILE; "
            "e.g. `openssl rand -hex 32`)"
        )
    if settings.chain == "tester":
        problems.append("the in-process tester chain keeps no anchors; use chain=rpc")
    if (
        settings.chain in ("anvil", "rpc")
        and settings.chain_key is None
        and (settings.chain_key_file is None)
    ):
        problems.append("no anchoring key configured (EVIDENCE_CHAIN_KEY or _FILE)")
    if settings.storage == "s3" and not settings.s3_secret_key.get_secret_value():
        problems.append("S3 secret key is empty")
    if problems:
        raise ConfigurationError("refusing to start in production mode: " + "; ".join(problems))


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment; a bad value is a :class:`ConfigurationError`
    naming the variable (one line for the CLI, not a traceback)."""
    from pydantic import ValidationError  # noqa: PLC0415

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"EVIDENCE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid setting: {problems}") from None
