"""A real S3 server with Object Lock for tests: SeaweedFS ``weed mini`` on loopback.

Every port it opens is chosen free and passed explicitly (master, volume,
filer, S3, admin and their gRPC ports); WebDAV, the Iceberg and Lance
catalogs and telemetry are switched off. Data, logs and unix sockets live in
one temp dir, removed afterwards. Buckets are never auto-created on upload,
so a test cannot silently write into a bucket without Object Lock.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from minio import Minio

from tests.support.process import stop_process, tail

WEED = Path(sys.executable).parent / "weed"
ACCESS_KEY = "evidence-test"
SECRET_KEY = "evidence-test-secret-0123456789"  # a throwaway test server's key

#: SeaweedFS's plugin worker dials the admin server at its HTTP port + 10 000,
#: whatever ``-admin.port.grpc`` says; so we give it exactly that port.
_GRPC_OFFSET = 10_000


@dataclass
class SeaweedS3:
    """One ``weed mini`` on loopback: its S3 endpoint and keys, and the means to stop and
    start it again on the same ports and data dir (an outage drill)."""

    endpoint: str
    access_key: str
    secret_key: str
    root: Path
    #: Seconds from spawning ``weed`` to the first successful S3 request (the last start).
    startup_seconds: float = 0.0
    #: The command line, built once: every start runs exactly the same server.
    command: list[str] = field(default_factory=list, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        """The running ``weed`` process's id (``None`` before the first start)."""
        return self.process.pid if self.process is not None else None

    def client(self) -> Minio:
        """A plain SDK client (short timeouts) for checks the adapter does not offer."""
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=_quick_http(),
        )

    def start(self, timeout: float = 120.0) -> None:
        """Spawn ``weed mini`` and return once S3 answers (``startup_seconds`` is set)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        with open(self.root / "weed.out", "ab") as output:
            started = time.monotonic()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.root,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready(self, self.process, started, timeout)
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 3 s); its data dir stays for a start."""
        if self.process is not None:
            stop_process(self.process, grace=3.0)


def _quick_http() -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=2, read=10), retries=urllib3.Retry(total=0)
    )


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reserve_ports(count: int) -> tuple[list[int], int]:
    """``count`` distinct free ports, plus an admin port whose +10 000 twin is free too."""
    with ExitStack() as stack:
        ports: list[int] = []

        def grab(port: int = 0) -> int | None:
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return None
            return int(sock.getsockname()[1])

        while len(ports) < count:
            port = grab()
            assert port is not None
            ports.append(port)
        for _ in range(100):
            admin = grab()
            assert admin is not None
            if admin + _GRPC_OFFSET < 65536 and grab(admin + _GRPC_OFFSET) is not None:
                return ports, admin
        raise RuntimeError("no free admin port pair (P, P+10000) on 127.0.0.1")


def _identity_config(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "evidence-test",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )


def _command(root: Path, ports: list[int], admin: int) -> list[str]:
    """``weed mini`` with every port given (``ports``: S3, master, volume and filer, each
    followed by its gRPC port) and its state under ``root``."""
    s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = ports
    return [
        str(WEED),
        f"-logdir={root / 'logs'}",
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.config={root / 's3.json'}",
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={root / 's3.sock'}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.preStopSeconds=0",  # nothing to drain: stop at once
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin + _GRPC_OFFSET}",
        "-admin.ui=false",
        "-webdav=false",
    ]


@contextmanager
def seaweed_s3(timeout: float = 120.0) -> Iterator[SeaweedS3]:
    """Start ``weed mini``, wait until S3 answers, yield it (endpoint, keys, and
    ``stop()``/``start()`` for a restart), stop it and remove its data."""
    if not WEED.is_file():
        raise FileNotFoundError(f"SeaweedFS binary not found at {WEED}")
    root = Path(tempfile.mkdtemp(prefix="evidence-seaweed-"))
    try:
        (root / "data").mkdir()
        (root / "logs").mkdir()
        _identity_config(root / "s3.json")
        ports, admin = _reserve_ports(8)
        server = SeaweedS3(
            f"127.0.0.1:{ports[0]}",
            ACCESS_KEY,
            SECRET_KEY,
            root,
            command=_command(root, ports, admin),
        )
        try:
            server.start(timeout)
            yield server
        finally:
            server.stop()
            # weed also opens a unix socket per gRPC port in /tmp (not configurable)
            # and removes it on a clean stop; ports were ours, so are the names.
            grpc = {"master": ports[3], "volume": ports[5], "filer": ports[7]}
            grpc |= {"s3": ports[1], "admin": admin + _GRPC_OFFSET}
            for service, port in grpc.items():
                Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock").unlink(missing_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(
    server: SeaweedS3, process: subprocess.Popen[bytes], started: float, timeout: float
) -> None:
    client = server.client()
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"weed mini exited with {process.returncode}:\n{tail(server.root / 'weed.out')}"
            )
        try:
            client.list_buckets()
            return
        except Exception as exc:  # not up yet: refused, reset, 503 …
            if time.monotonic() - started > timeout:
                raise RuntimeError(
                    f"SeaweedFS S3 at {server.endpoint} not ready after {timeout} s ({exc}):\n"
                    f"{tail(server.root / 'weed.out')}"
                ) from exc
        time.sleep(0.05)
