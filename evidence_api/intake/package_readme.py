"""README.txt of an evidence package: how to verify it by hand and with ``evidence-verify``.

Chinese first, then English. Every step names the exact member to read and the
exact value to compare, filled in from the package itself; the commands need
only ``sha256sum``, ``openssl`` (1.1.1 or later: SM3 and Ed25519) and
``python3`` (standard library), so an appraiser can check each step without
trusting our software. The steps mirror the verifier's tiers (docs/proof-format.md
§11) and the package checks (docs/package-format.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.bundle import Bundle
from verifier.checkpoint import parse_signed_checkpoint
from verifier.note import VerifierKey, parse_note

#: RFC 8410 DER prefix of an Ed25519 public key (SubjectPublicKeyInfo).
ED25519_DER_PREFIX = "302a300506032b6570032100"
#: Keccak-256("checkpointOf(bytes32,bytes32)")[0:4]: the contract look-up (proof-format §10.4).
CHECKPOINT_OF_SELECTOR = "3988385a"


@dataclass(frozen=True)
class ChainFacts:
    chain_id: int
    contract: str
    log_id: str
    #: the JSON-RPC endpoint the exporting service anchors through (informational: a
    #: verifier asks a node it trusts; a loopback URL only works on the service's host)
    rpc_url: str | None = None


# Folds an RFC 9162 §2.1.3.2 inclusion proof; prints the leaf hash and the root it leads to.
INCLUSION_SCRIPT = """\
python3 - <<'PY'
import base64, hashlib, json
b = json.load(open("proof.json", encoding="utf-8"))
# RFC 8785 canonical JSON; equal to this json.dumps for an entry (strings, integers).
entry = json.dumps(b["entry"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
h = hashlib.sha256(b"\\x00" + entry.encode("utf-8")).digest()
print("leaf hash   ", h.hex(), "(proof.json leaf_hash:", b["leaf_hash"] + ")")
fn, sn = b["inclusion"]["index"], b["inclusion"]["tree_size"] - 1
for p in map(bytes.fromhex, b["inclusion"]["hashes"]):
    assert sn > 0, "proof too long"
    if fn % 2 == 1 or fn == sn:
        h = hashlib.sha256(b"\\x01" + p + h).digest()
        while fn % 2 == 0 and fn != 0:
            fn, sn = fn >> 1, sn >> 1
    else:
        h = hashlib.sha256(b"\\x01" + h + p).digest()
    fn, sn = fn >> 1, sn >> 1
assert sn == 0, "proof too short"
root = base64.b64decode(b["checkpoint"].split("\\n")[2])
print("computed root", h.hex())
print("checkpoint   ", root.hex(), "MATCH" if h == root else "MISMATCH")
PY"""

# Writes the checkpoint's signed text and its signature for openssl.
SIGNATURE_SCRIPT = """\
python3 - <<'PY'
import base64, json
b = json.load(open("proof.json", encoding="utf-8"))
note = b["checkpoint"]
text, sigs = note[: note.rfind("\\n\\n") + 1], note[note.rfind("\\n\\n") + 2 :]
open("checkpoint.txt", "w", encoding="utf-8", newline="").write(text)
key = open("log-key.vkey", encoding="utf-8").read().strip()
name, key_id, blob = key.split("+", 2)
open("log-pub.der", "wb").write(
    bytes.fromhex("302a300506032b6570032100") + base64.b64decode(blob)[1:])
for line in sigs.splitlines():
    signer, sig = line[2:].split(" ")
    raw = base64.b64decode(sig)
    if signer == name and raw[:4].hex() == key_id:
        open("checkpoint.sig", "wb").write(raw[4:])
PY"""


def _files_table(bundle: Bundle) -> str:
    assert bundle.manifest is not None
    rows = []
    for f in bundle.manifest.files:
        rows.append(
            f"  files/{f.name}\n    size {f.size}\n    SHA-256 {f.sha256}\n    SM3     {f.sm3}"
        )
    return "\n".join(rows)


def _facts(
    bundle: Bundle, vkey: str, chain: ChainFacts | None, exported_at: str, submitter: str | None
) -> str:
    body = bundle.entry.body
    lines = [
        f"evidence id 证据编号      : {bundle.entry.id}",
        f"exported at 导出时间      : {exported_at}",
        f"status 状态               : {bundle.status}",
        f"manifest SHA-256 清单哈希 : {body['manifest_sha256']}",
        f"manifest SM3              : {body['manifest_sm3']}",
        f"leaf hash 叶子哈希        : {bundle.leaf_hash}",
    ]
    if bundle.inclusion is not None and bundle.checkpoint is not None:
        checkpoint = parse_signed_checkpoint(bundle.checkpoint)
        lines += [
            f"leaf index 叶子序号       : {bundle.inclusion.index}",
            f"tree size 树大小          : {checkpoint.size}",
            f"root 根哈希               : {checkpoint.root.hex()}",
        ]
    if submitter is not None and bundle.manifest is not None:
        # The person behind the manifest's pseudonym, as the exporter's records name them:
        # informational, like this whole file (the log and the digests carry no names).
        lines.append(
            f"submitter 提交人          : {submitter} = {bundle.manifest.submitter} "
            "(exporter's records, not covered by the log 导出方记录，不在日志覆盖范围内)"
        )
    key = VerifierKey.from_text(vkey)
    lines.append(f"log key 日志公钥          : {vkey}")
    lines.append(f"  key id 公钥标识        : {key.key_id.hex()}")
    if chain is not None:
        lines += [
            f"chain id 链标识           : {chain.chain_id}",
            f"contract 合约地址         : {chain.contract}",
            f"log id 日志标识           : {chain.log_id}",
        ]
        if chain.rpc_url:
            lines.append(
                f"RPC URL 节点地址          : {chain.rpc_url} (exporter's node 导出方节点)"
            )
    if bundle.anchor is not None:
        a = bundle.anchor
        lines += [
            f"anchor tx 锚定交易        : {a.tx_hash}",
            f"anchor block 区块         : {a.block_number} ({a.block_hash})",
            f"block time 区块时间       : {a.block_timestamp} (Unix seconds)",
        ]
    return "\n".join(lines)


def _call_data(bundle: Bundle, chain: ChainFacts | None) -> str | None:
    if chain is None or bundle.checkpoint is None:
        return None
    root = parse_signed_checkpoint(bundle.checkpoint).root
    return f"0x{CHECKPOINT_OF_SELECTOR}{chain.log_id.removeprefix('0x')}{root.hex()}"


def _signer_name(bundle: Bundle) -> str:
    if bundle.checkpoint is None:
        return bundle.log_origin
    return parse_note(bundle.checkpoint).signatures[0].name


def render_readme(
    bundle: Bundle,
    vkey: str,
    chain: ChainFacts | None,
    exported_at: str,
    submitter: str | None = None,
) -> str:
    """The README.txt text for a package of ``bundle``; ``vkey`` is the log's key text;
    ``submitter`` the display name and unit behind the manifest's pseudonym, if known."""
    call = _call_data(bundle, chain)
    contract = chain.contract if chain is not None else "<合约地址 contract>"
    chain_id = str(chain.chain_id) if chain is not None else "<链标识 chain id>"
    eth_call = (
        "curl -s -H 'Content-Type: application/json' <RPC-URL> -d "
        f"""'{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{{"to":"{contract}","""
        f""""data":"{call}"}},"latest"]}}'"""
        if call
        else "(not yet sealed: no checkpoint to look up / 尚未封存，无检查点可查询)"
    )
    command = (
        f"evidence-verify {bundle.entry.id}.zip --log-key log-key.vkey "
        f"--rpc <RPC-URL> --contract {contract} --chain-id {chain_id}"
    )
    return TEMPLATE.format(
        facts=_facts(bundle, vkey, chain, exported_at, submitter),
        files=_files_table(bundle),
        inclusion_script=INCLUSION_SCRIPT,
        signature_script=SIGNATURE_SCRIPT,
        eth_call=eth_call,
        command=command,
        signer=_signer_name(bundle),
    )


TEMPLATE = """\
电子证据包 核验说明 / Evidence package: how to verify it
==========================================================

{facts}

本包中的文件 / Files in this package
  README.txt     本说明 / this text
  package.json   索引（仅供参考）/ index (informational)
  manifest.json  证据清单的规范化字节（RFC 8785）/ the manifest's canonical bytes (RFC 8785)
  proof.json     证明包 evidence-proof/v1 / the proof bundle
  log-key.vkey   日志公钥（仅供参考，须与运营方公布的公钥核对）/ the log's key (informational:
                 compare it with the key the operator publishes)
  chain.json     区块链信息（仅供参考）/ chain facts (informational), when the log is anchored
  files/         证据文件 / the evidence files

{files}

======================================================================
中文
======================================================================

重要：包内的 log-key.vkey 与 chain.json 仅供参考，不能作为信任依据。请先将其与日志
运营方通过其他渠道（官方网站、公函等）公布的公钥、合约地址和链标识进行核对，再使用。

一、使用核验工具（推荐）
  在解压或未解压的状态下均可核验（evidence-verify 直接读取 ZIP，不解压到磁盘）：

    {command}

  退出码：0 核验通过；1 核验失败；2 核验未完成（例如未提供 --rpc，第 5 级未核验）；
  3 输入不可用（例如证据包被篡改、路径不安全、压缩炸弹）。加 --report 核验报告.pdf 可生成
  核验报告（PDF）。

二、手工逐步核验（解压后在本目录中执行）

  第 1 步 文件哈希：计算每个证据文件的 SHA-256 与 SM3，应与上表及 manifest.json 中
  files[].sha256 / files[].sm3 一致：
    sha256sum files/*
    openssl dgst -sm3 files/*

  第 2 步 清单与条目：manifest.json 是清单的 RFC 8785 规范化字节（不含换行符），其哈希
  应等于 proof.json 中 entry.body.manifest_sha256 与 manifest_sm3（见上方“清单哈希”）：
    sha256sum manifest.json
    openssl dgst -sm3 manifest.json

  第 3 步 默克尔包含证明（RFC 9162 §2.1.3.2）：叶子哈希 = SHA-256(0x00 ‖ 条目的规范化
  JSON)；按证明逐层计算 SHA-256(0x01 ‖ 左 ‖ 右)，结果应等于检查点中的根哈希。下面的脚本
  只用 Python 标准库，输出 MATCH 即通过：
{inclusion_script}

  第 4 步 检查点签名（C2SP 签名注记，Ed25519）：检查点正文由日志私钥签名，签名者为
  {signer}。先确认 log-key.vkey 与运营方公布的公钥一致，然后：
{signature_script}
    openssl pkeyutl -verify -pubin -keyform DER -inkey log-pub.der -rawin \\
        -in checkpoint.txt -sigfile checkpoint.sig
  输出 “Signature Verified Successfully” 即通过。
  proof.json 的检查点若带有见证方联署行（C2SP tlog-cosignature）或 timestamps（RFC 3161
  时间戳），请用您自己信任的见证方公钥与时间戳机构证书核验：在上面的命令后加
  --witness <见证方公钥> [--witness-quorum K] 与 --tsa-cert <机构证书.pem>。

  第 5 步 区块链锚定：向您信任的区块链节点查询 EvidenceLog 合约
  checkpointOf(日志标识, 根哈希)，返回的第一个 32 字节（整数）应等于上方树大小，其后依次为
  区块时间与区块号（proof.json 中 anchor 记录的交易与区块）；全为零表示未锚定：
    {eth_call}
  若有 Foundry：cast call <合约地址> "checkpointOf(bytes32,bytes32)(uint64,uint64,uint64)"
  <日志标识> 0x<根哈希> --rpc-url <RPC-URL>

======================================================================
English
======================================================================

Important: log-key.vkey and chain.json in this package are informational and must not
be trusted as they are. Compare them first with the key, contract address and chain id
that the log's operator publishes through another channel (its website, an official
letter), then pass them to the verifier yourself.

1. With the verifier (recommended)
   The ZIP is read as it is, never unpacked to disk:

    {command}

   Exit codes: 0 verified; 1 failed; 2 incomplete (e.g. tier 5 not checked without
   --rpc); 3 unusable input (a tampered package, unsafe paths, a zip bomb). Add
   --report report.pdf for the appraisal report (PDF).

2. By hand, step by step (unpack the ZIP and run these in its folder)

   Step 1, files: each file's SHA-256 and SM3 must equal the table above and
   files[].sha256 / files[].sm3 in manifest.json:
    sha256sum files/*
    openssl dgst -sm3 files/*

   Step 2, manifest to entry: manifest.json holds the manifest's RFC 8785 canonical
   bytes (no final newline); its digests must equal entry.body.manifest_sha256 and
   manifest_sm3 in proof.json ("manifest SHA-256" above):
    sha256sum manifest.json
    openssl dgst -sm3 manifest.json

   Step 3, inclusion (RFC 9162 section 2.1.3.2): leaf hash = SHA-256(0x00 || the
   entry's canonical JSON); fold the proof with SHA-256(0x01 || left || right); the
   result must equal the checkpoint's root. The script (Python standard library only)
   prints MATCH when it does (see 第 3 步 above for the script).

   Step 4, checkpoint signature (a C2SP signed note, Ed25519), signed by {signer}.
   Confirm that log-key.vkey is the key the operator publishes, then run the script
   of 第 4 步 above and:
    openssl pkeyutl -verify -pubin -keyform DER -inkey log-pub.der -rawin \\
        -in checkpoint.txt -sigfile checkpoint.sig
   "Signature Verified Successfully" means it holds.
   If proof.json's checkpoint carries witness cosignature lines (C2SP
   tlog-cosignature) or timestamps (RFC 3161), check them against the witness keys
   and authority certificates you trust: add --witness <vkey> [--witness-quorum K]
   and --tsa-cert <authority.pem> to the command in 1.

   Step 5, the anchor on chain: ask a chain node you trust for the EvidenceLog
   contract's checkpointOf(log id, root). The first 32-byte word of the answer, an
   integer, must equal the tree size above; then come the block time and block number
   (the transaction and block in proof.json's anchor record); all zero: not anchored:
    {eth_call}
   With Foundry: cast call <contract> "checkpointOf(bytes32,bytes32)(uint64,uint64,uint64)"
   <log id> 0x<root> --rpc-url <RPC-URL>

The package format is specified in docs/package-format.md and the proof format in
docs/proof-format.md of the Evidence Anchor source.
"""
