// Every visible string of the portal, in Chinese (the default) and English.
//
// The tier explanations (what a tier proves; what one result means) are the same words as
// verifier/explain.py, which the service and the appraisal report use, so every surface
// tells a reader the same thing; a unit test (tests/unit/test_js_vectors.py) holds them equal.

export const LANGS = ["zh", "en"];
export const DEFAULT_LANG = "zh";

/** What each tier proves when it is verified (verifier.explain.PURPOSE). */
export const PURPOSE = {
  "1": {
    "zh": "核对文件本身：逐字节计算文件的 SHA-256 与 SM3 哈希值，与证据清单中固定的值比对。",
    "en": "Checks the files themselves: their SHA-256 and SM3 digests, computed byte by byte, are compared with the values fixed in the evidence manifest."
  },
  "2": {
    "zh": "核对证据清单：清单（文件列表、来源、取证时间等）的哈希值必须与写入日志的条目一致。",
    "en": "Checks the evidence manifest: the digests of the manifest (file list, source, capture time) must be the ones written into the log entry."
  },
  "3": {
    "zh": "核对日志收录：用默克尔包含证明（RFC 9162）计算，证明该条目确实在日志的这棵树中。",
    "en": "Checks that the log holds the entry: a Merkle inclusion proof (RFC 9162) shows the entry is in the log's tree."
  },
  "4": {
    "zh": "核对日志签名：树根（检查点）由受信任的日志公钥签名，证明它出自该日志且未被改写。如指定了见证方，还核对足够数量的独立见证方（如法院、公证处）已对同一检查点联署，证明运营方没有向不同的人出示不同的历史；如指定了可信时间戳机构证书，还核对其RFC 3161 时间戳，作为区块时间之外的第二个时钟。",
    "en": "Checks the log's signature: the tree head (checkpoint) is signed by the trusted log key, so it comes from that log and was not rewritten. With witnesses given, it also checks that enough independent witnesses (a court, a notary office) cosigned the same checkpoint, so the operator did not show different histories to different people; with trusted time-stamping authority certificates given, it checks their RFC 3161 timestamps, a second clock beside the block time."
  },
  "5": {
    "zh": "核对区块链锚定：受信任区块链上的合约记录了同一树根及其区块时间，此后任何人（包括运营方）都无法改写历史。",
    "en": "Checks the blockchain anchor: the contract on the trusted chain recorded the same tree head at a block time; from then on nobody, not even the operator, can rewrite that history."
  }
};

/** What a result means, per tier and status (verifier.explain.MEANING). */
export const MEANING = {
  "1": {
    "verified": {
      "zh": "文件与清单记录的哈希值完全一致：自取证固定以来，文件没有被改动过一个字节。",
      "en": "The files match the digests in the manifest exactly: not one byte has changed since the evidence was fixed."
    },
    "failed": {
      "zh": "文件的哈希值与清单记录不一致：该文件已被改动，或并非本证据中的文件。",
      "en": "A file's digest differs from the manifest: the file was changed, or it is not a file of this evidence."
    },
    "not_checked": {
      "zh": "未提供全部文件（或证明中没有清单），因此没有核对文件内容；其余各层只证明日志中的记录。",
      "en": "Not all files were given (or the proof carries no manifest), so the file contents were not checked; the other tiers only prove what the log recorded."
    }
  },
  "2": {
    "verified": {
      "zh": "证据清单的 SHA-256 与 SM3 哈希值与日志条目一致：清单在存证后未被改动。",
      "en": "The manifest's SHA-256 and SM3 digests are the log entry's: the manifest has not changed since it was recorded."
    },
    "failed": {
      "zh": "证据清单与日志条目不一致：清单被改动过，或不属于这条记录。",
      "en": "The manifest does not match the log entry: it was changed, or it belongs to another record."
    },
    "not_checked": {
      "zh": "证明中没有附带证据清单（清单含非公开信息），因此未核对；证据包中包含清单。",
      "en": "The proof carries no manifest (it holds non-public details), so this was not checked; the evidence package contains it."
    }
  },
  "3": {
    "verified": {
      "zh": "包含证明成立：该条目确实是日志这棵默克尔树中的一片叶子。",
      "en": "The inclusion proof holds: the entry is a leaf of the log's Merkle tree."
    },
    "failed": {
      "zh": "包含证明不成立：由证明计算出的树根与检查点不符，该条目不在所称的日志中，或证明被篡改。",
      "en": "The inclusion proof does not hold: the root it leads to is not the checkpoint's; the entry is not in that log, or the proof was altered."
    },
    "not_checked": {
      "zh": "该条目尚未封存进日志树（待处理）；稍后重新获取证明即可完成核验。",
      "en": "The entry is not yet sealed into the log's tree (pending); fetch the proof again later to complete this check."
    }
  },
  "4": {
    "verified": {
      "zh": "检查点由受信任的日志公钥签名，签名有效；所要求的见证方联署与时间戳（如有指定）均有效。",
      "en": "The checkpoint is signed by the trusted log key, and the signature is valid; the witness cosignatures and timestamps asked for (if any) are valid too."
    },
    "failed": {
      "zh": "签名无效，或并非受信任的日志公钥所签，或受信任见证方的联署、时间戳不成立：该检查点不能视为出自该日志。",
      "en": "The signature is invalid or not by the trusted log key, or a trusted witness's cosignature or a timestamp does not hold: the checkpoint cannot be taken as coming from that log."
    },
    "not_checked": {
      "zh": "未配置受信任的日志公钥，或联署的见证方少于要求的数量，或检查点没有时间戳，因此未能完成核对；请向运营方获取并核对公开的公钥。",
      "en": "No trusted log key is configured, fewer witnesses cosigned than required, or the checkpoint carries no timestamp, so this was not fully checked; obtain the log's published key from the operator and compare it."
    }
  },
  "5": {
    "verified": {
      "zh": "区块链上的合约记录了同一树根，已有足够的区块确认：该记录在所示区块时间已经存在，且不可改写。",
      "en": "The contract on the chain records the same tree head, with enough confirmations: the record existed at the block time shown and cannot be rewritten."
    },
    "failed": {
      "zh": "区块链上的记录与证明不符（链、合约、树根或交易不一致）：锚定不成立。",
      "en": "The chain does not record what the proof claims (chain, contract, root or transaction differ): the anchor does not hold."
    },
    "not_checked": {
      "zh": "尚未锚定到区块链，或此次未能查询区块链（离线、节点不可达或确认数不足）。",
      "en": "Not yet anchored on the chain, or the chain could not be queried this time (offline, unreachable node, or too few confirmations)."
    }
  }
};

/**
 * Tier 1 of a server capture also checks its WACZ against its own datapackage.json; the tier's
 * facts.wacz says how that went (verifier.explain._WACZ_MEANING, the same words). A failed WACZ
 * replaces the general meaning; the other outcomes add a sentence to it.
 */
export const WACZ_MEANING = {
  "failed": {
    "zh": "网页取证的归档文件（archive.wacz）与其自身索引 datapackage.json 记载的摘要不一致：归档在封装后被改动，或封装有误；不应据此回放网页。",
    "en": "The capture's web archive (archive.wacz) contradicts the digests in its own index (datapackage.json): the archive was changed after it was packaged, or was packaged wrongly; do not replay the page from it."
  },
  "verified": {
    "zh": "网页取证的归档文件（archive.wacz）中每个资源的大小与 SHA-256 均与其索引 datapackage.json 一致，回放工具读取的正是存证时的字节。",
    "en": "Every resource in the capture's web archive (archive.wacz) has the size and SHA-256 its index (datapackage.json) states: a replay tool reads the very bytes fixed."
  },
  "not_checked": {
    "zh": "仅提供了归档文件（archive.wacz）的摘要而非文件本身，其内部索引未核对；用证据包核验可一并核对。",
    "en": "Only the digest of the web archive (archive.wacz) was given, not its bytes, so its internal index was not checked; verifying the evidence package checks it too."
  }
};

/**
 * A capture's failed-WACZ detail ("archive.wacz: ...", English, from wacz.js) in Chinese:
 * [pattern, template] tried in order, each pattern matching the whole text (Python's
 * verifier.explain._WACZ_ZH, the same patterns with (?<name>) groups and the same templates).
 */
export const WACZ_DETAILS_ZH = [
  [
    "all (?<n>\\d+) resources match its datapackage\\.json",
    "其 datapackage.json 所列全部 {n} 个资源的大小与 SHA-256 均一致"
  ],
  [
    "its datapackage\\.json digests not checked",
    "未核对其 datapackage.json 内部摘要（仅提供了文件摘要）"
  ],
  [
    "not a safe, readable ZIP: (?<why>.*)",
    "不是安全可读的 ZIP 归档（原文：{why}）"
  ],
  [
    "the WACZ has no (?<name>\\S+)",
    "归档中缺少 {name}"
  ],
  [
    "datapackage\\.json SHA-256 (?<got>\\S+) differs from datapackage-digest\\.json's (?<want>\\S+)",
    "datapackage.json 的 SHA-256 实测为 {got}，与 datapackage-digest.json 记载的 {want} 不一致"
  ],
  [
    "resource (?<name>.+) SHA-256 (?<got>\\S+) differs from datapackage\\.json's (?<want>\\S+)",
    "资源 {name} 的 SHA-256 实测为 {got}，与 datapackage.json 记载的 {want} 不一致"
  ],
  [
    "resource (?<name>.+) is (?<got>\\d+) bytes in the archive, (?<want>\\d+) in datapackage\\.json",
    "资源 {name} 在归档中为 {got} 字节，datapackage.json 记载为 {want} 字节"
  ],
  [
    "resource (?<name>.+) holds (?<got>(?:more than )?\\d+) bytes, datapackage\\.json says (?<want>\\d+)",
    "资源 {name} 实有 {got} 字节，datapackage.json 记载为 {want} 字节"
  ],
  [
    "resource (?<name>.+) is in datapackage\\.json but not in the archive",
    "资源 {name} 列于 datapackage.json，但归档中没有"
  ],
  [
    "member (?<name>.+) is in the archive but not declared in datapackage\\.json(?<more> \\(and \\d+ more\\))?",
    "归档成员 {name} 未在 datapackage.json 中声明{more}"
  ],
  [
    "(?<rest>.*)",
    "内部不一致（原文：{rest}）"
  ]
];

/** tier 1's failed-WACZ detail in Chinese (verifier.explain.detail_zh for that case). */
export function waczDetailZh(detail) {
  const lead = "archive.wacz: ";
  if (!detail.startsWith(lead)) return null;
  const text = detail.slice(lead.length);
  for (const [pattern, template] of WACZ_DETAILS_ZH) {
    const found = new RegExp(`^(?:${pattern})$`, "s").exec(text);
    if (found === null) continue;
    const groups = { ...(found.groups || {}) };
    for (const k of Object.keys(groups)) groups[k] = groups[k] ?? "";
    if (groups.more) groups.more = `（另有 ${groups.more.trim().split(/\s+/)[1]} 个）`;
    return `archive.wacz：${template.replace(/\{(\w+)\}/g, (_, k) => groups[k] ?? "")}`;
  }
  return null;
}

export const NOT_APPLICABLE = {"zh": "该类条目不涉及此项核对。", "en": "This check does not apply to this kind of entry."};
export const SKIPPED = {"zh": "按要求跳过此项核对。", "en": "This check was skipped on request."};

export const TIER_TITLES = {
  1: { zh: "文件哈希", en: "File digests" },
  2: { zh: "清单与条目", en: "Manifest and entry" },
  3: { zh: "默克尔包含证明", en: "Merkle inclusion" },
  4: { zh: "检查点签名、见证与时间戳", en: "Checkpoint signature, witnesses and timestamps" },
  5: { zh: "区块链锚定", en: "Blockchain anchor" },
};

export const STATUS_LABELS = {
  verified: { zh: "通过", en: "verified" },
  failed: { zh: "未通过", en: "FAILED" },
  not_checked: { zh: "未核验", en: "not checked" },
  not_applicable: { zh: "不适用", en: "not applicable" },
  skipped: { zh: "跳过", en: "skipped" },
};

export const OUTCOME_LABELS = {
  verified: { zh: "核验通过", en: "VERIFIED" },
  failed: { zh: "核验失败", en: "FAILED" },
  incomplete: { zh: "核验未完成", en: "INCOMPLETE" },
};

/** Interface strings; `{name}` placeholders are filled by t(). */
export const STRINGS = {
  title: { zh: "电子证据核验", en: "Evidence verification" },
  subtitle: {
    zh: "核对一份电子证据自存证以来是否被改动，以及它是否确实记录在日志和区块链上。",
    en: "Check that a piece of electronic evidence has not changed since it was recorded, and that the log and the blockchain really hold it.",
  },
  lang_toggle: { zh: "English", en: "中文" },
  lang_toggle_label: { zh: "切换到英文界面", en: "Switch to Chinese" },
  privacy_title: { zh: "文件不会离开您的电脑", en: "Your files never leave this computer" },
  privacy_text: {
    zh: "证据文件只在本浏览器中计算 SHA-256 与 SM3 哈希值，从不上传。包含证明与检查点签名也在本地核对；只有证明（proof.json，不含文件）会发送给核验服务，用于查询区块链锚定。",
    en: "Evidence files are hashed (SHA-256 and SM3) in this browser only and are never uploaded. The inclusion proof and the checkpoint signature are checked here too; only the proof (proof.json, without the files) is sent to the verification service, to query the blockchain anchor.",
  },
  drop_title: { zh: "选择或拖入文件", en: "Choose or drop files" },
  drop_hint: {
    zh: "证据包（package.zip），或证据文件加其证明（proof.json）。可一次选择多个文件。",
    en: "An evidence package (package.zip), or the evidence files with their proof (proof.json). Several files may be chosen at once.",
  },
  input_label: { zh: "证据文件、证明或证据包", en: "Evidence files, proof or package" },
  trust_title: { zh: "本服务信任的根", en: "Trust roots of this service" },
  trust_keys: { zh: "日志公钥", en: "Log keys" },
  trust_chain: { zh: "区块链", en: "Blockchain" },
  trust_none: { zh: "未配置", en: "not configured" },
  trust_unavailable: {
    zh: "无法读取核验服务的配置：第 4 层（签名）和第 5 层（锚定）将无法核验。",
    en: "The verification service's configuration could not be read: tiers 4 (signature) and 5 (anchor) cannot be checked.",
  },
  chain_value: { zh: "链 ID {chain_id}，合约 {contract}", en: "chain id {chain_id}, contract {contract}" },
  trust_witnesses: { zh: "见证方公钥", en: "Witnesses" },
  trust_tsa: { zh: "可信时间戳机构证书", en: "Time-stamping authorities" },
  witness_quorum_value: { zh: "至少 {quorum} 个见证方须联署", en: "at least {quorum} must cosign" },
  witness_title: { zh: "见证方（可选）", en: "Witnesses (optional)" },
  witness_keys_label: { zh: "您信任的见证方公钥（每行一个）", en: "Witness keys you trust (one per line)" },
  witness_hint: {
    zh: "如法院、公证处公布的见证方公钥（类型 0x04）。填写后以您的公钥为准，替代本服务配置的见证方；检查点须有足够数量的联署。",
    en: "Witness keys (type 0x04) published by, say, a court or a notary office. When given, yours replace the service's witnesses; enough of them must have cosigned the checkpoint.",
  },
  witness_quorum_label: { zh: "至少须联署的见证方数量（默认全部）", en: "How many must have cosigned (default: all)" },
  error_witness: { zh: "见证方公钥无法使用：{reason}", en: "Unusable witness key: {reason}" },
  timestamps_browser: {
    zh: "该检查点带有 RFC 3161 可信时间戳；浏览器中不核对时间戳（需要 CMS 签名核验），请用 evidence-verify --tsa-cert 或下载核验报告核对。",
    en: "This checkpoint carries RFC 3161 trusted timestamps; they are not checked in the browser (that needs CMS signature checks): use evidence-verify --tsa-cert, or download the report.",
  },
  checkpoint_facts_title: { zh: "见证与时间戳", en: "Witnesses and timestamps" },
  progress_label: { zh: "本地计算哈希进度", en: "Local hashing progress" },
  hashing: { zh: "正在本地计算 {name} 的哈希值…", en: "Hashing {name} locally…" },
  reading_package: { zh: "正在读取证据包…", en: "Reading the evidence package…" },
  checking: { zh: "正在核验…", en: "Verifying…" },
  asking_chain: { zh: "正在向核验服务查询区块链锚定…", en: "Asking the verification service about the blockchain anchor…" },
  done: { zh: "核验完成。", en: "Verification finished." },
  results_title: { zh: "核验结果", en: "Result" },
  outcome_label: { zh: "结论", en: "Outcome" },
  evidence_id: { zh: "证据编号", en: "Evidence id" },
  leaf_hash: { zh: "叶子哈希", en: "Leaf hash" },
  tree_size: { zh: "日志树大小", en: "Log tree size" },
  tier_label: { zh: "第 {n} 层", en: "Tier {n}" },
  what_it_proves: { zh: "此层证明什么", en: "What this tier proves" },
  what_it_means: { zh: "本次结果的含义", en: "What this result means" },
  technical_detail: { zh: "技术细节", en: "Technical detail" },
  files_title: { zh: "本地计算的文件哈希", en: "File digests computed here" },
  file_name: { zh: "文件名", en: "File name" },
  file_size: { zh: "大小（字节）", en: "Size (bytes)" },
  package_title: { zh: "证据包自带的信息（仅供比对，不作为信任依据）", en: "What the package says about itself (for comparison only, never trusted)" },
  package_key: { zh: "包内日志公钥", en: "Log key in the package" },
  package_key_same: { zh: "与本服务信任的公钥一致", en: "same as a key this service trusts" },
  package_key_differs: { zh: "与本服务信任的公钥不一致", en: "differs from the keys this service trusts" },
  package_chain: { zh: "包内区块链信息", en: "Chain facts in the package" },
  report_button: { zh: "下载核验报告（PDF）", en: "Download the appraisal report (PDF)" },
  report_note: {
    zh: "报告由核验服务生成：发送的是证明和本地计算的哈希值，不是文件本身。",
    en: "The report is made by the verification service from the proof and the digests computed here, not from the files themselves.",
  },
  report_working: { zh: "正在生成报告…", en: "Making the report…" },
  report_failed: { zh: "报告生成失败：{reason}", en: "The report could not be made: {reason}" },
  error_title: { zh: "无法核验", en: "Cannot verify" },
  error_no_proof: {
    zh: "没有找到证明（proof.json）或证据包（.zip）。请同时选择证据文件及其证明，或选择证据包。",
    en: "No proof (proof.json) or evidence package (.zip) was found. Choose the evidence files together with their proof, or the package.",
  },
  error_two_proofs: { zh: "一次只能核验一份证明。", en: "Only one proof can be verified at a time." },
  error_package_and_files: {
    zh: "证据包已包含文件，请单独选择证据包。",
    en: "A package already holds its files: choose the package on its own.",
  },
  error_unusable: { zh: "输入无法使用：{reason}", en: "Unusable input: {reason}" },
  error_package: { zh: "证据包被拒绝：{reason}", en: "Package refused: {reason}" },
  error_webcrypto: {
    zh: "此浏览器不支持所需的 WebCrypto 功能（Ed25519）。请使用新版浏览器，并通过 HTTPS 访问。",
    en: "This browser lacks the WebCrypto features needed (Ed25519). Use a current browser, over HTTPS.",
  },
  anchor_unreachable: { zh: "核验服务不可达：{reason}", en: "verification service unreachable: {reason}" },
  leaf_expected: { zh: "二维码指向的叶子哈希：{leaf}", en: "Leaf hash the QR code points to: {leaf}" },
  leaf_matches: { zh: "与所选证明一致。", en: "It matches the proof chosen." },
  leaf_differs: { zh: "与所选证明不一致！", en: "It does NOT match the proof chosen!" },
  facts_title: { zh: "链上事实", en: "Chain facts" },
  replay_title: { zh: "回放网页存档", en: "Replay the web archive" },
  replay_note: {
    zh: "在本浏览器中回放本次网页取证的归档文件（archive.wacz，已通过第 1 层核验）：回放组件由本核验服务提供，回放内容只来自该归档，不访问原网站，也不连接互联网。",
    en: "Replays this capture's web archive (archive.wacz, verified in tier 1) in this browser: the replay component is served by this verification service, and every byte shown comes from the archive; the original site and the internet are never contacted.",
  },
  replay_page: { zh: "回放页面", en: "Page to replay" },
  replay_button: { zh: "回放网页存档", en: "Replay the web archive" },
  replay_unavailable: {
    zh: "本核验服务未安装回放组件（ReplayWeb.page），无法在线回放；可下载证据包后用 ReplayWeb.page 打开 archive.wacz。",
    en: "This verification service has no replay component (ReplayWeb.page) installed; open archive.wacz from the package with ReplayWeb.page instead.",
  },
  replay_frame_title: { zh: "网页存档回放：{url}", en: "Replay of the web archive: {url}" },
  footer: {
    zh: "核验方法公开：也可以用 sha256sum、openssl 或开源命令行工具 evidence-verify 独立核验。",
    en: "The method is public: the same checks can be done independently with sha256sum, openssl or the open-source evidence-verify command.",
  },
};

/** The string `key` in `lang`, with `{name}` placeholders filled from `vars`. */
export function t(key, lang, vars = {}) {
  const entry = STRINGS[key];
  if (!entry) throw new Error(`no string ${key}`);
  return entry[lang].replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/**
 * {purpose, meaning} of a tier result in `lang`, with what tier 1 found in a capture's WACZ
 * (verifier.explain.explain_result).
 */
export function explainResult(tier, lang) {
  const base = explain(tier.tier, tier.status, lang);
  const wacz = tier.tier === 1 && tier.facts ? tier.facts.wacz : undefined;
  if (typeof wacz !== "string" || !Object.hasOwn(WACZ_MEANING, wacz)) return base;
  const extra = WACZ_MEANING[wacz][lang];
  if (wacz === "failed") return { ...base, meaning: extra };
  return { ...base, meaning: lang === "zh" ? `${base.meaning}${extra}` : `${base.meaning} ${extra}` };
}

/** {purpose, meaning} of a tier's result in `lang` (verifier.explain.explain). */
export function explain(tier, status, lang) {
  let meaning;
  if (status === "not_applicable") meaning = NOT_APPLICABLE;
  else if (status === "skipped") meaning = SKIPPED;
  else meaning = MEANING[String(tier)][status];
  return { purpose: PURPOSE[String(tier)][lang], meaning: meaning[lang] };
}
