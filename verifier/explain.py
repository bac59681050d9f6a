"""Plain explanations of each verification tier, in Chinese and English.

An appraiser or judge who has never heard of Merkle trees reads a tier's
result here: what the tier proves (``purpose``) and what this particular
result means for the evidence (``explanation``). One table, shared by the
verification service, the portal's server answers and the appraisal report,
so that every surface tells a reader the same thing.

Wording only: nothing here decides a result (that is :mod:`verifier.verify`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from verifier.verify import TIER_NAMES, Status, TierResult


@dataclass(frozen=True)
class Explanation:
    """What a tier proves and what one result of it means, in both languages."""

    tier: int
    name: str
    name_zh: str
    purpose_zh: str
    purpose_en: str
    explanation_zh: str
    explanation_en: str

    def fields(self) -> dict[str, str]:
        """The keys the service adds to each tier of a report."""
        return {
            "name_zh": self.name_zh,
            "purpose_zh": self.purpose_zh,
            "purpose_en": self.purpose_en,
            "explanation_zh": self.explanation_zh,
            "explanation_en": self.explanation_en,
        }


#: What each tier proves when it is verified (independent of the result).
PURPOSE: Final[dict[int, tuple[str, str]]] = {
    1: (
        "核对文件本身：逐字节计算文件的 SHA-256 与 SM3 哈希值，与证据清单中固定的值比对。",
        "Checks the files themselves: their SHA-256 and SM3 digests, computed byte by byte, "
        "are compared with the values fixed in the evidence manifest.",
    ),
    2: (
        "核对证据清单：清单（文件列表、来源、取证时间等）的哈希值必须与写入日志的条目一致。",
        "Checks the evidence manifest: the digests of the manifest (file list, source, "
        "capture time) must be the ones written into the log entry.",
    ),
    3: (
        "核对日志收录：用默克尔包含证明（RFC 9162）计算，证明该条目确实在日志的这棵树中。",
        "Checks that the log holds the entry: a Merkle inclusion proof (RFC 9162) shows the "
        "entry is in the log's tree.",
    ),
    4: (
        "核对日志签名：树根（检查点）由受信任的日志公钥签名，证明它出自该日志且未被改写。"
        "如指定了见证方，还核对足够数量的独立见证方（如法院、公证处）已对同一检查点联署，"
        "证明运营方没有向不同的人出示不同的历史；如指定了可信时间戳机构证书，还核对其"
        "RFC 3161 时间戳，作为区块时间之外的第二个时钟。",
        "Checks the log's signature: the tree head (checkpoint) is signed by the trusted log "
        "key, so it comes from that log and was not rewritten. With witnesses given, it also "
        "checks that enough independent witnesses (a court, a notary office) cosigned the same "
        "checkpoint, so the operator did not show different histories to different people; "
        "with trusted time-stamping authority certificates given, it checks their RFC 3161 "
        "timestamps, a second clock beside the block time.",
    ),
    5: (
        "核对区块链锚定：受信任区块链上的合约记录了同一树根及其区块时间，此后任何人（包括运营方）"
        "都无法改写历史。",
        "Checks the blockchain anchor: the contract on the trusted chain recorded the same "
        "tree head at a block time; from then on nobody, not even the operator, can rewrite "
        "that history.",
    ),
}

#: What a result means, per tier and status (skipped and not applicable are shared below).
MEANING: Final[dict[tuple[int, Status], tuple[str, str]]] = {
    (1, Status.VERIFIED): (
        "文件与清单记录的哈希值完全一致：自取证固定以来，文件没有被改动过一个字节。",
        "The files match the digests in the manifest exactly: not one byte has changed since "
        "the evidence was fixed.",
    ),
    (1, Status.FAILED): (
        "文件的哈希值与清单记录不一致：该文件已被改动，或并非本证据中的文件。",
        "A file's digest differs from the manifest: the file was changed, or it is not a file "
        "of this evidence.",
    ),
    (1, Status.NOT_CHECKED): (
        "未提供全部文件（或证明中没有清单），因此没有核对文件内容；其余各层只证明日志中的记录。",
        "Not all files were given (or the proof carries no manifest), so the file contents were "
        "not checked; the other tiers only prove what the log recorded.",
    ),
    (2, Status.VERIFIED): (
        "证据清单的 SHA-256 与 SM3 哈希值与日志条目一致：清单在存证后未被改动。",
        "The manifest's SHA-256 and SM3 digests are the log entry's: the manifest has not "
        "changed since it was recorded.",
    ),
    (2, Status.FAILED): (
        "证据清单与日志条目不一致：清单被改动过，或不属于这条记录。",
        "The manifest does not match the log entry: it was changed, or it belongs to another "
        "record.",
    ),
    (2, Status.NOT_CHECKED): (
        "证明中没有附带证据清单（清单含非公开信息），因此未核对；证据包中包含清单。",
        "The proof carries no manifest (it holds non-public details), so this was not checked; "
        "the evidence package contains it.",
    ),
    (3, Status.VERIFIED): (
        "包含证明成立：该条目确实是日志这棵默克尔树中的一片叶子。",
        "The inclusion proof holds: the entry is a leaf of the log's Merkle tree.",
    ),
    (3, Status.FAILED): (
        "包含证明不成立：由证明计算出的树根与检查点不符，该条目不在所称的日志中，或证明被篡改。",
        "The inclusion proof does not hold: the root it leads to is not the checkpoint's; the "
        "entry is not in that log, or the proof was altered.",
    ),
    (3, Status.NOT_CHECKED): (
        "该条目尚未封存进日志树（待处理）；稍后重新获取证明即可完成核验。",
        "The entry is not yet sealed into the log's tree (pending); fetch the proof again "
        "later to complete this check.",
    ),
    (4, Status.VERIFIED): (
        "检查点由受信任的日志公钥签名，签名有效；所要求的见证方联署与时间戳（如有指定）均有效。",
        "The checkpoint is signed by the trusted log key, and the signature is valid; the "
        "witness cosignatures and timestamps asked for (if any) are valid too.",
    ),
    (4, Status.FAILED): (
        "签名无效，或并非受信任的日志公钥所签，或受信任见证方的联署、时间戳不成立："
        "该检查点不能视为出自该日志。",
        "The signature is invalid or not by the trusted log key, or a trusted witness's "
        "cosignature or a timestamp does not hold: the checkpoint cannot be taken as coming "
        "from that log.",
    ),
    (4, Status.NOT_CHECKED): (
        "未配置受信任的日志公钥，或联署的见证方少于要求的数量，或检查点没有时间戳，"
        "因此未能完成核对；请向运营方获取并核对公开的公钥。",
        "No trusted log key is configured, fewer witnesses cosigned than required, or the "
        "checkpoint carries no timestamp, so this was not fully checked; obtain the log's "
        "published key from the operator and compare it.",
    ),
    (5, Status.VERIFIED): (
        "区块链上的合约记录了同一树根，已有足够的区块确认：该记录在所示区块时间已经存在，且不可改写。",
        "The contract on the chain records the same tree head, with enough confirmations: the "
        "record existed at the block time shown and cannot be rewritten.",
    ),
    (5, Status.FAILED): (
        "区块链上的记录与证明不符（链、合约、树根或交易不一致）：锚定不成立。",
        "The chain does not record what the proof claims (chain, contract, root or transaction "
        "differ): the anchor does not hold.",
    ),
    (5, Status.NOT_CHECKED): (
        "尚未锚定到区块链，或此次未能查询区块链（离线、节点不可达或确认数不足）。",
        "Not yet anchored on the chain, or the chain could not be queried this time (offline, "
        "unreachable node, or too few confirmations).",
    ),
}

_NOT_APPLICABLE = (
    "该类条目不涉及此项核对。",
    "This check does not apply to this kind of entry.",
)
_SKIPPED = (
    "按要求跳过此项核对。",
    "This check was skipped on request.",
)


def explain(tier: int, status: Status | str) -> Explanation:
    """The explanation of ``status`` for ``tier`` (1–5); raises ``KeyError`` for others."""
    state = Status(status)
    name, name_zh = TIER_NAMES[tier]
    purpose_zh, purpose_en = PURPOSE[tier]
    if state is Status.NOT_APPLICABLE:
        zh, en = _NOT_APPLICABLE
    elif state is Status.SKIPPED:
        zh, en = _SKIPPED
    else:
        zh, en = MEANING[(tier, state)]
    return Explanation(tier, name, name_zh, purpose_zh, purpose_en, zh, en)


#: Tier 1 of a server capture also checks its WACZ against its own ``datapackage.json``
#: (:mod:`verifier.capture`); the tier's ``facts["wacz"]`` says how that went. A failed WACZ
#: replaces the general meaning; the other outcomes add a sentence to it.
_WACZ_MEANING: Final[dict[str, tuple[str, str]]] = {
    "failed": (
        "网页取证的归档文件（archive.wacz）与其自身索引 datapackage.json 记载的摘要不一致："
        "归档在封装后被改动，或封装有误；不应据此回放网页。",
        "The capture's web archive (archive.wacz) contradicts the digests in its own index "
        "(datapackage.json): the archive was changed after it was packaged, or was packaged "
        "wrongly; do not replay the page from it.",
    ),
    "verified": (
        "网页取证的归档文件（archive.wacz）中每个资源的大小与 SHA-256 均与其索引 "
        "datapackage.json 一致，回放工具读取的正是存证时的字节。",
        "Every resource in the capture's web archive (archive.wacz) has the size and SHA-256 "
        "its index (datapackage.json) states: a replay tool reads the very bytes fixed.",
    ),
    "not_checked": (
        "仅提供了归档文件（archive.wacz）的摘要而非文件本身，其内部索引未核对；"
        "用证据包核验可一并核对。",
        "Only the digest of the web archive (archive.wacz) was given, not its bytes, so its "
        "internal index was not checked; verifying the evidence package checks it too.",
    ),
}


def explain_result(result: TierResult) -> Explanation:
    """:func:`explain`, with what tier 1 found in a capture's WACZ (``facts["wacz"]``)."""
    base = explain(result.tier, result.status)
    wacz = result.facts.get("wacz") if result.tier == 1 else None
    if not isinstance(wacz, str) or wacz not in _WACZ_MEANING:
        return base
    zh, en = _WACZ_MEANING[wacz]
    if wacz == "failed":
        return replace(base, explanation_zh=zh, explanation_en=en)
    return replace(
        base,
        explanation_zh=f"{base.explanation_zh}{zh}",
        explanation_en=f"{base.explanation_en} {en}",
    )


#: A tier's ``detail`` (English, from :mod:`verifier.verify` and :mod:`verifier.chain`) in
#: Chinese, for the Chinese report: (pattern, template) tried in order; the template's
#: ``{name}`` fields are the pattern's groups (digests, names and numbers kept as they are).
_DETAILS_ZH: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern, re.DOTALL), template)
    for pattern, template in (
        (r"no file given \(pass --file\)", "未提供文件（请用 --file 提供）"),
        (r"no files given \((?P<n>\d+) in the manifest\)", "未提供文件（清单列有 {n} 个）"),
        (r"all (?P<n>\d+) files match SHA-256 and SM3", "全部 {n} 个文件的 SHA-256 与 SM3 均一致"),
        (
            r"(?P<m>\d+) of (?P<n>\d+) files match; not given: (?P<names>.*)",
            "{n} 个文件中 {m} 个一致；未提供：{names}",
        ),
        (r"(?P<name>.+): not in the manifest", "{name}：不在证据清单中"),
        (
            r"(?P<name>.+): (?P<what>size|SHA-256|SM3) (?P<got>\S+) differs from the "
            r"manifest's (?P<want>\S+)",
            "{name}：{what} 实测为 {got}，与清单记载的 {want} 不一致",
        ),
        (r"SHA-256 (?P<d>\S+) matches the stamped digest", "SHA-256 {d} 与存证哈希值一致"),
        (
            r"(?P<name>.+): SHA-256 differs from the stamp (?P<d>\S+)",
            "{name}：SHA-256 与存证哈希值 {d} 不一致",
        ),
        (r"a (?P<kind>\S+) entry has no files", "{kind} 类条目不含文件"),
        (r"a (?P<kind>\S+) entry has no manifest", "{kind} 类条目不含证据清单"),
        (r"bundle carries no manifest", "证明中未附证据清单"),
        (
            r"manifest SHA-256 (?P<d>\S+) and SM3 are in the entry",
            "证据清单的 SHA-256（{d}）与 SM3 均记载于日志条目中",
        ),
        (
            r"manifest (?P<alg>SHA-256|SM3) (?P<got>\S+) is not the entry's (?P<want>\S+)",
            "证据清单的 {alg} 为 {got}，不是日志条目记载的 {want}",
        ),
        (
            r"manifest is for (?P<a>\S+), entry for (?P<b>\S+)",
            "证据清单属于 {a}，日志条目属于 {b}",
        ),
        (
            r"leaf_hash (?P<a>\S+) is not the entry's (?P<b>\S+)",
            "叶子哈希 {a} 不是该条目的叶子哈希 {b}",
        ),
        (
            r"pending: not yet sealed; fetch the bundle again",
            "待处理：尚未封存入日志树，请稍后重新获取证明",
        ),
        (
            r"leaf (?P<i>\d+) is in the tree of size (?P<n>\d+)",
            "第 {i} 号叶子在规模为 {n} 的日志树中",
        ),
        (
            r"proof is for size (?P<a>\d+), checkpoint is (?P<b>\d+)",
            "包含证明针对规模 {a}，检查点规模为 {b}",
        ),
        (
            r"no trusted log key given \(pass --log-key\)",
            "未提供可信日志公钥（请用 --log-key 提供）",
        ),
        (r"receipt is for another leaf", "回执属于另一个叶子"),
        (r"receipt signature valid; no checkpoint yet", "回执签名有效；尚无检查点"),
        (r"signed by (?P<o>\S+)", "由 {o} 签名"),
        (
            r"(?P<n>\d+) cosignatures? not checked \(no witness key given\)",
            "{n} 个见证联署未核对（未指定见证方公钥）",
        ),
        (
            r"cosignature by witness (?P<w>\S+) does not verify",
            "见证方 {w} 的联署签名无效",
        ),
        (
            r"(?P<k>\d+) of (?P<n>\d+) witnesses cosigned \(quorum (?P<q>\d+)\)",
            "{n} 个受信任见证方中 {k} 个已联署（要求至少 {q} 个）",
        ),
        (
            r"(?P<n>\d+) timestamps? not checked \(no TSA certificate given\)",
            "{n} 个时间戳未核对（未指定可信时间戳机构证书）",
        ),
        (r"no timestamp on this checkpoint", "该检查点没有时间戳"),
        (
            r"timestamped by (?P<tsa>\S+) at (?P<at>\S+)(?P<more> \(\+\d+ more\))?",
            "时间戳机构 {tsa} 的时间为 {at}（UTC）{more}",
        ),
        (
            r"timestamp by (?P<tsa>\S+): (?P<why>.*)",
            "时间戳机构 {tsa} 的时间戳不成立（原文：{why}）",
        ),
        (r"(?P<s>\S+): not yet anchored", "{s}：尚未上链锚定"),
        (r"chain not checked \(offline\)", "未查询区块链（离线核验）"),
        (r"skipped \(--through (?P<n>\d+)\)", "已跳过（--through {n}）"),
        (
            r"the bundle's chain id (?P<a>\S+) is not the trusted (?P<b>\S+)",
            "证明中的链 ID {a} 不是可信的 {b}",
        ),
        (
            r"the bundle's contract (?P<a>\S+) is not the trusted (?P<b>\S+)",
            "证明中的合约 {a} 不是可信的 {b}",
        ),
        (r"endpoints disagree(?P<rest>.*)", "各节点结果不一致（原文：endpoints disagree{rest}）"),
        (
            r"size (?P<size>\d+) recorded in block (?P<block>\d+) at (?P<at>.+?) \(UTC\) by tx "
            r"(?P<tx>\S+); (?P<n>\d+) confirmations? \(need (?P<need>\d+)\); "
            r"endpoints: (?P<names>.*)",
            "规模 {size} 的日志树根于 {at}（UTC）记录在第 {block} 号区块（交易 {tx}）；"
            "已有 {n} 个确认（要求至少 {need} 个）；查询节点：{names}",
        ),
        (
            r"not yet final: (?P<n>\d+) of (?P<need>\d+) confirmations; size (?P<size>\d+) "
            r"recorded in block (?P<block>\d+) at (?P<at>.+?) \(UTC\) by tx (?P<tx>\S+); "
            r"endpoints: (?P<names>.*)",
            "尚未达到最终确认：{n} 个确认（要求至少 {need} 个）；规模 {size} 的日志树根于 "
            "{at}（UTC）记录在第 {block} 号区块（交易 {tx}）；查询节点：{names}",
        ),
        (r"not yet final: (?P<rest>.*)", "尚未达到最终确认（原文：{rest}）"),
    )
)


#: What tier 1 says of a capture's WACZ (``archive.wacz: ...``; :mod:`verifier.capture`),
#: as a whole detail (failed) or after "; " (verified, not checked).
_WACZ_ZH: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern, re.DOTALL), template)
    for pattern, template in (
        (
            r"all (?P<n>\d+) resources match its datapackage\.json",
            "其 datapackage.json 所列全部 {n} 个资源的大小与 SHA-256 均一致",
        ),
        (
            r"its datapackage\.json digests not checked",
            "未核对其 datapackage.json 内部摘要（仅提供了文件摘要）",
        ),
        (r"not a safe, readable ZIP: (?P<why>.*)", "不是安全可读的 ZIP 归档（原文：{why}）"),
        (r"the WACZ has no (?P<name>\S+)", "归档中缺少 {name}"),
        (
            r"datapackage\.json SHA-256 (?P<got>\S+) differs from datapackage-digest\.json's "
            r"(?P<want>\S+)",
            "datapackage.json 的 SHA-256 实测为 {got}，与 datapackage-digest.json 记载的 "
            "{want} 不一致",
        ),
        (
            r"resource (?P<name>.+) SHA-256 (?P<got>\S+) differs from datapackage\.json's "
            r"(?P<want>\S+)",
            "资源 {name} 的 SHA-256 实测为 {got}，与 datapackage.json 记载的 {want} 不一致",
        ),
        (
            r"resource (?P<name>.+) is (?P<got>\d+) bytes in the archive, (?P<want>\d+) in "
            r"datapackage\.json",
            "资源 {name} 在归档中为 {got} 字节，datapackage.json 记载为 {want} 字节",
        ),
        (
            r"resource (?P<name>.+) holds (?P<got>(?:more than )?\d+) bytes, datapackage\.json "
            r"says (?P<want>\d+)",
            "资源 {name} 实有 {got} 字节，datapackage.json 记载为 {want} 字节",
        ),
        (
            r"resource (?P<name>.+) is in datapackage\.json but not in the archive",
            "资源 {name} 列于 datapackage.json，但归档中没有",
        ),
        (
            r"member (?P<name>.+) is in the archive but not declared in datapackage\.json"
            r"(?P<more> \(and \d+ more\))?",
            "归档成员 {name} 未在 datapackage.json 中声明{more}",
        ),
        (r"(?P<rest>.*)", "内部不一致（原文：{rest}）"),
    )
)
_WACZ_LEAD = "archive.wacz: "


def _wacz_zh(text: str) -> str:
    for pattern, template in _WACZ_ZH:
        found = pattern.fullmatch(text)
        if found is not None:
            groups = {k: v or "" for k, v in found.groupdict().items()}
            if groups.get("more"):
                groups["more"] = f"（另有 {groups['more'].split()[1]} 个）"
            return template.format(**groups)
    return text  # pragma: no cover - the last pattern matches everything


def detail_zh(result: TierResult) -> str:
    """``result.detail`` in Chinese (the Chinese report's wording). A detail with no
    translation keeps its English text after a Chinese lead naming the result, so a
    Chinese reader never sees a bare English sentence."""
    detail, note = result.detail, ""
    wacz = result.facts.get("wacz") if result.tier == 1 else None
    if wacz == "failed" and detail.startswith(_WACZ_LEAD):
        return f"archive.wacz：{_wacz_zh(detail.removeprefix(_WACZ_LEAD))}"
    head, sep, tail = detail.rpartition(f"; {_WACZ_LEAD}")
    if wacz is not None and sep:
        detail, note = head, f"；archive.wacz：{_wacz_zh(tail)}"
    if result.tier == 4 and "; " in detail:  # log signature; witnesses; timestamps
        parts = [_one_zh(part) for part in detail.split("; ")]
        if all(p is not None for p in parts):
            return "；".join(p for p in parts if p is not None)
    translated = _one_zh(detail)
    if translated is not None:
        return translated + note
    lead = _STATUS_ZH.get(result.status, "结果")
    return f"{lead}（原文：{detail}）{note}"


def _one_zh(detail: str) -> str | None:
    for pattern, template in _DETAILS_ZH:
        found = pattern.fullmatch(detail)
        if found is not None:
            groups = {k: v or "" for k, v in found.groupdict().items()}
            if groups.get("more"):  # " (+N more)": the other authorities' tokens
                groups["more"] = f"（另有 {groups['more'].strip(' ()+').split()[0]} 个）"
            return template.format(**groups)
    return None


_STATUS_ZH: Final[dict[Status, str]] = {
    Status.VERIFIED: "通过",
    Status.FAILED: "未通过",
    Status.NOT_CHECKED: "未核验",
    Status.NOT_APPLICABLE: "不适用",
    Status.SKIPPED: "已跳过",
}
