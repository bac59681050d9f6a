"""Every fixed text of the appraisal report, in Chinese and in English, in one table.

Wording only. What each tier proves and what its result means comes from
:mod:`verifier.explain` (shared with the verification service and the portal);
this module holds the report's own labels, the legal basis and the notes.

The legal basis is summarised, not quoted: each line says what an article
provides for, and the reader is referred to the official text.
"""

from __future__ import annotations

from typing import Final, Literal

from verifier.verify import Outcome, Status

Lang = Literal["zh", "en"]

#: key -> (Chinese, English)
LABELS: Final[dict[str, tuple[str, str]]] = {
    "title": ("电子证据核验报告", "Electronic Evidence Verification Report"),
    "subtitle": (
        "Electronic Evidence Verification Report",
        "电子证据核验报告",
    ),
    "report_no": ("报告编号", "Report number"),
    "generated": ("生成时间", "Generated"),
    "utc": ("协调世界时 UTC", "UTC"),
    "beijing": ("北京时间 UTC+08:00", "Beijing time (UTC+08:00)"),
    "conclusion": ("核验结论", "Conclusion"),
    "failed_at": ("未通过的层级", "Failed tier"),
    "open_at": ("未完成的层级", "Tiers not checked"),
    "scan": ("扫码在线核验", "Scan to verify online"),
    "generated_beijing": ("生成时间（北京时间）", "Generated (Beijing time)"),
    "generated_utc": ("生成时间（UTC）", "Generated (UTC)"),
    "sec_evidence": ("证据概况", "Evidence summary"),
    "evidence_id": ("证据编号", "Evidence id"),
    "kind": ("条目类型", "Entry kind"),
    "source_url": ("来源网址", "Source URL"),
    "platform": ("平台", "Platform"),
    "entity": ("经营主体", "Entity"),
    "captured_at": ("取证时间（北京时间）", "Captured at"),
    "capture_tool": ("取证工具", "Capture tool"),
    "capture_env": ("取证环境", "Capture environment"),
    "submitter": ("提交人", "Submitter"),
    "case": ("案件", "Case"),
    "notes": ("备注", "Notes"),
    "no_manifest": (
        "证明中未附证据清单，以下文件信息无法列出。",
        "The proof carries no manifest; its files cannot be listed.",
    ),
    "sec_files": ("文件及其哈希值", "Files and their digests"),
    "file_no": ("序号", "No."),
    "file_name": ("文件名", "File name"),
    "file_size": ("大小（字节）", "Size (bytes)"),
    "file_match": ("核对结果", "Check"),
    "match": ("一致", "matches"),
    "mismatch": ("不一致", "DIFFERS"),
    "not_given": ("未提供文件", "file not given"),
    "not_listed": ("不在清单中", "not in the manifest"),
    "hashed": ("实测", "hashed"),
    "stamp_digest": ("存证哈希值（SHA-256）", "Stamped digest (SHA-256)"),
    "no_files": ("本条目不含文件。", "This entry has no files."),
    "sec_log": ("日志条目与检查点", "Log entry and checkpoint"),
    "entry_at": ("记录时间（北京时间）", "Recorded at"),
    "leaf_index": ("叶子序号", "Leaf index"),
    "leaf_hash": ("叶子哈希", "Leaf hash"),
    "tree_size": ("树大小", "Tree size"),
    "manifest_sha256": ("清单 SHA-256", "Manifest SHA-256"),
    "manifest_sm3": ("清单 SM3", "Manifest SM3"),
    "cp_origin": ("日志标识", "Log origin"),
    "cp_root": ("树根", "Root hash"),
    "cp_signer": ("签名密钥", "Signing key"),
    "key_hash": ("密钥哈希", "key hash"),
    "not_sealed": ("尚未封存（无检查点）", "not yet sealed (no checkpoint)"),
    "sec_anchor": ("区块链锚定", "Blockchain anchor"),
    "chain_id": ("链标识", "Chain id"),
    "contract": ("合约地址", "Contract"),
    "log_id": ("日志 ID", "Log id"),
    "tx_hash": ("交易哈希", "Transaction"),
    "block_number": ("区块高度", "Block number"),
    "block_hash": ("区块哈希", "Block hash"),
    "block_time": ("区块时间", "Block time"),
    "tsa_time": ("可信时间戳时间（第二时钟）", "Trusted timestamp time (second clock)"),
    "witnesses": ("见证方联署", "Witness cosignatures"),
    "witness_quorum": ("要求至少", "quorum"),
    "witness_missing": ("未联署", "not cosigned"),
    "witness_forged": ("联署签名无效", "cosignature does not verify"),
    "unchecked_cosignatures": (
        "检查点带有 {n} 个见证联署，本次未指定见证方公钥，未核对。",
        "The checkpoint carries {n} witness cosignatures, not checked (no witness key given).",
    ),
    "timestamps": ("可信时间戳", "Trusted timestamps"),
    "unchecked_timestamps": (
        "检查点带有 {n} 个 RFC 3161 时间戳，本次未指定可信时间戳机构证书，未核对。",
        "The checkpoint carries {n} RFC 3161 timestamps, not checked (no TSA certificate given).",
    ),
    "tsa_ok": ("有效", "valid"),
    "tsa_failed": ("无效", "INVALID"),
    "certificate": ("存证证书", "Evidence certificate"),
    "certificate_ok": (
        "签名有效，所载摘要与证明一致",
        "signature valid, its digests are the proof's",
    ),
    "certificate_failed": ("核验失败", "FAILED"),
    "confirmations": ("确认数", "Confirmations"),
    "confirmations_need": ("要求至少", "required at least"),
    "not_queried": ("未查询（离线）", "not queried (offline)"),
    "not_anchored": ("尚未锚定到区块链。", "Not yet anchored on a blockchain."),
    "sec_tiers": ("逐层核验结果", "Result of each tier"),
    "tier": ("层级", "Tier"),
    "tier_name": ("核验项目", "Check"),
    "result": ("结果", "Result"),
    "detail": ("详情", "Detail"),
    "proves": ("证明内容", "What it proves"),
    "meaning": ("结果含义", "What this result means"),
    "sec_trust": ("核验所依据的信任配置", "Trust configuration used"),
    "trusted_keys": ("受信任的日志公钥", "Trusted log keys"),
    "rpc_endpoints": ("区块链节点", "Chain endpoints"),
    "none": ("无", "none"),
    "trust_note": (
        "以上公钥与合约由核验人自行提供并与运营方公开发布的信息核对；"
        "证据包中附带的公钥与链信息仅供参考，核验时不予信任。",
        "The keys and contract above were supplied by the appraiser and compared with what the "
        "operator publishes; the key and chain facts inside an evidence package are shown for "
        "reference only and are never trusted.",
    ),
    "sec_law": ("法律依据", "Legal basis"),
    "law_note": (
        "以上为条文要旨的概括，具体以官方公布的条文为准。",
        "Summaries of what each article provides for (unofficial); the official Chinese text "
        "prevails.",
    ),
    "sec_sign": ("鉴定人签名", "Appraiser"),
    "appraiser": ("鉴定人签名", "Appraiser's signature"),
    "date": ("日期", "Date"),
    "repeat": (
        "本报告由独立核验程序 evidence-verify 生成；任何人可使用同一证据包与公开的日志公钥、"
        "合约地址重复全部核验步骤。",
        "This report was produced by the independent verifier evidence-verify; anyone can "
        "repeat every step with the same evidence package, the log's published key and the "
        "contract address.",
    ),
    "font_note": ("字体", "Font"),
    "capture_method": ("取证方式", "How it was captured"),
    "method_server": (
        "服务器取证：由本系统在全新的浏览器环境中自动取证，取证环境由系统自动记录（见“取证过程”）",
        "Server capture: captured by this system in a fresh browser; the environment was "
        'recorded by the system (see "Capture process")',
    ),
    "method_officer": (
        "由提交人提供：文件由提交人在其他环境中取得，取证工具与环境为其自行填写",
        "Officer-supplied: the files were captured elsewhere by the submitter; the capture "
        "tool and environment are as the submitter typed them",
    ),
    "sec_capture": ("取证过程", "Capture process"),
    "cap_intro": (
        "以下内容由取证系统在取证时自动写入证据文件（environment.json、main-document.json、"
        "tls-*.pem、screenshot.png），按记录原样列出；这些文件的字节已由第 1 层核对。",
        "What the capturing system wrote into the evidence's own files at capture time "
        "(environment.json, main-document.json, tls-*.pem, screenshot.png), shown as recorded; "
        "tier 1 checked those files' bytes.",
    ),
    "not_recorded": ("未记录", "not recorded"),
    "cap_id": ("取证任务编号", "Capture id"),
    "cap_mode": ("取证类型", "Mode"),
    "cap_requested": ("请求网址", "URL requested"),
    "cap_final": ("最终网址", "Final URL"),
    "cap_started": ("取证开始时间", "Capture started"),
    "cap_ended": ("取证结束时间", "Capture ended"),
    "cap_hosts": ("hosts 文件", "Hosts file"),
    "cap_egress": ("出口 IP", "Egress IP"),
    "cap_host": ("取证主机", "Capture host"),
    "cap_os": ("操作系统", "Operating system"),
    "cap_browser": ("浏览器", "Browser (Chromium)"),
    "cap_steps": ("操作步骤及时间", "Steps and their times"),
    "cap_action": ("操作", "Step"),
    "cap_start": ("开始时间", "Started"),
    "cap_end": ("结束时间", "Ended"),
    "cap_redirects": ("主文档重定向链", "Redirect chain of the main document"),
    "cap_status": ("状态码", "Status"),
    "cap_url": ("网址", "URL"),
    "cap_tls": ("各 HTTPS 源站的服务器证书（叶证书）", "Each HTTPS origin's leaf certificate"),
    "cap_no_tls": (
        "未记录 TLS 证书（无 HTTPS 源站）。",
        "No TLS certificate recorded (no HTTPS origin).",
    ),
    "cap_origin": ("源站", "Origin"),
    "cap_subject": ("使用者", "Subject"),
    "cap_issuer": ("颁发者", "Issuer"),
    "cap_validity": ("有效期（UTC）", "Valid (UTC)"),
    "cap_names": ("域名（SAN）", "DNS names (SAN)"),
    "cap_fingerprint": ("证书 SHA-256 指纹", "SHA-256 fingerprint"),
    "cap_chain": ("证书链长度（文件）", "Chain length (file)"),
    "cap_cert_unreadable": ("无法读取", "Unreadable"),
    "cap_environment": ("取证环境", "Capture environment"),
    "cap_dns_system": ("域名解析（系统解析器）", "DNS answers (system resolver)"),
    "cap_dns_second": ("域名解析（第二解析器）", "DNS answers (second resolver)"),
    "cap_dns_agree": ("两次解析是否一致", "Resolvers agree"),
    "cap_clock_before": ("取证前时钟偏差", "Clock offset before"),
    "cap_clock_after": ("取证后时钟偏差", "Clock offset after"),
    "cap_self_check": ("取证前自检", "Pre-capture self-check"),
    "cap_proxy": ("代理设置", "Proxy"),
    "cap_tls_session": ("TLS 连接", "TLS"),
    "cap_limits": ("触发的限制", "Limits hit"),
    "cap_warnings": ("警告", "Warnings"),
    "cap_screenshot": ("页面截图（缩略图）", "Screenshot (thumbnail)"),
    "cap_no_screenshot": ("未提供截图文件。", "The screenshot file was not given."),
    "cap_no_thumbnail": ("未生成缩略图", "No thumbnail"),
    "cap_thumbnail_note": (
        "缩略图按比例缩小，仅供辨认；原图为证据文件 screenshot.png。",
        "Scaled down for recognition only; the original is the evidence file screenshot.png.",
    ),
    "cap_missing": ("未提供或无法读取的取证记录", "Records not given or unreadable"),
    "page": ("第 {n} 页 共 {m} 页", "Page {n} of {m}"),
}

STATUS_LABELS: Final[dict[Status, tuple[str, str]]] = {
    Status.VERIFIED: ("通过", "verified"),
    Status.FAILED: ("未通过", "FAILED"),
    Status.NOT_CHECKED: ("未核验", "not checked"),
    Status.NOT_APPLICABLE: ("不适用", "not applicable"),
    Status.SKIPPED: ("跳过", "skipped"),
}

OUTCOME_LABELS: Final[dict[Outcome, tuple[str, str]]] = {
    Outcome.VERIFIED: ("核验通过", "VERIFIED"),
    Outcome.FAILED: ("核验失败", "FAILED"),
    Outcome.INCOMPLETE: ("核验未完成", "INCOMPLETE"),
}

TIER_TITLES: Final[dict[int, tuple[str, str]]] = {
    1: ("文件哈希", "File digests"),
    2: ("清单与条目", "Manifest and entry"),
    3: ("默克尔包含证明", "Merkle inclusion"),
    4: ("检查点签名、见证与时间戳", "Checkpoint signature, witnesses and timestamps"),
    5: ("区块链锚定", "Blockchain anchor"),
}

#: (law, [(article, Chinese summary, English summary)])
LEGAL_BASIS: Final[tuple[tuple[tuple[str, str], tuple[tuple[str, str, str], ...]], ...]] = (
    (
        ("《人民法院在线诉讼规则》", "Online Litigation Rules of the People's Courts"),
        (
            (
                "第十六条",
                "规定通过区块链技术存储并经技术核验一致的电子数据，可以认定其上链后未经篡改"
                "（有相反证据足以推翻的除外）。",
                "Art. 16 provides that electronic data stored by blockchain technology and "
                "found consistent on technical verification may be held not to have been "
                "tampered with after it was put on chain, unless rebutted.",
            ),
            (
                "第十七条",
                "规定对区块链存储的电子数据上链后真实性的审查，包括存证平台、技术与过程等因素。",
                "Art. 17 provides for the review of the authenticity of blockchain-stored data "
                "after it was put on chain, considering the storage platform, its technology "
                "and its process.",
            ),
            (
                "第十八条",
                "规定对电子数据上链存储前真实性的审查。",
                "Art. 18 provides for the review of the authenticity of the data before it was "
                "put on chain.",
            ),
            (
                "第十九条",
                "规定就区块链存储电子数据的技术问题听取有专门知识的人的意见、委托鉴定或调取其他"
                "证据核对的审查方式。",
                "Art. 19 provides for expert opinion, judicial appraisal, or cross-checking "
                "against other evidence on the technical questions of blockchain-stored data.",
            ),
        ),
    ),
    (
        (
            "《最高人民法院关于互联网法院审理案件若干问题的规定》",
            "Provisions of the Supreme People's Court on Several Issues Concerning the Trial "
            "of Cases by Internet Courts",
        ),
        (
            (
                "第十一条",
                "规定对电子数据生成、收集、存储、传输过程真实性的审查；通过电子签名、可信时间戳、"
                "哈希值校验、区块链等技术手段收集、固定和防篡改，能够证明其真实性的，应当确认。",
                "Art. 11 provides for the review of the authenticity of electronic data's "
                "generation, collection, storage and transmission; data collected, fixed and "
                "protected against tampering by electronic signature, trusted timestamp, hash "
                "verification, blockchain and similar means, where this proves authenticity, "
                "shall be confirmed.",
            ),
        ),
    ),
)


#: The report's sections in order; each is numbered by its place among those present.
SECTIONS: Final[tuple[str, ...]] = (
    "sec_evidence",
    "sec_capture",
    "sec_files",
    "sec_log",
    "sec_anchor",
    "sec_tiers",
    "sec_trust",
    "sec_law",
    "sec_sign",
)
_ZH_NUMBERS = "一二三四五六七八九十"


def section_title(key: str, lang: Lang, present: tuple[str, ...] = SECTIONS) -> str:
    """``三、文件及其哈希值`` / ``3. Files and their digests``: the title of section ``key``
    numbered by its place among the sections ``present`` (a non-capture has no
    "capture process", and its sections keep their numbers one to eight)."""
    number = present.index(key) + 1
    title = label(key, lang)
    return f"{_ZH_NUMBERS[number - 1]}、{title}" if lang == "zh" else f"{number}. {title}"


def label(key: str, lang: Lang) -> str:
    """The text of ``key`` in ``lang``."""
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "zh" else pair[1]


def both(pair: tuple[str, str], lang: Lang) -> str:
    """``中文 English`` with the report's language first (names courts read in both)."""
    first, second = (pair[0], pair[1]) if lang == "zh" else (pair[1], pair[0])
    return f"{first} {second}"
