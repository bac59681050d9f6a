"""统一社会信用代码 (unified social credit code), GB 32100-2015: parse and check (no I/O).

The layout, the mod-31 check character, the authority table, and why the GB 11714 check of
positions 9-17 is reported but not enforced: docs/design.md §11.7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18
#: ``3**i mod 31`` for positions 1..17, as tabulated in the standard.
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}

#: 登记管理部门代码 -> (label, {机构类别代码: label}).
AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": (
        "机构编制",
        {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
    ),
    "2": ("外交", {"1": "外国常住新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {
            "1": "外国旅游部门常驻代表机构",
            "2": "港澳台地区旅游部门常驻内地（大陆）代表机构",
            "9": "其他",
        },
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商（市场监管）", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": (
        "农业",
        {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    ),
    "Y": ("其他", {"1": "其他"}),
}

Defect = Literal[
    "length", "charset", "authority", "organisation_type", "division", "check_character"
]

#: GB 11714 weights of the eight body characters of an organisation code.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


class UsccError(ValueError):
    """A code that is not a valid 统一社会信用代码; ``defect`` names the rule it breaks.

    ``position`` is 1-based (as printed on a licence) when one character is to blame.
    """

    def __init__(self, defect: Defect, reason: str, *, position: int | None = None) -> None:
        super().__init__(reason)
        self.defect: Defect = defect
        self.reason = reason
        self.position = position


class CheckCharacterError(UsccError):
    """Positions 1-17 are well formed but position 18 is not their check character."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            "check_character",
            f"check character should be {expected!r}, got {got!r}",
            position=LENGTH,
        )
        self.expected = expected
        self.got = got


@dataclass(frozen=True)
class Uscc:
    """A checked code and what its parts mean."""

    code: str
    authority: str
    authority_label: str
    organisation_type: str
    organisation_type_label: str
    division: str
    organization_code: str
    #: Whether positions 9-17 pass the GB 11714 check (informational, see module doc).
    organization_code_ok: bool


def check_character(first17: str) -> str:
    """The GB 32100 check character of 17 characters of :data:`ALPHABET`."""
    if len(first17) != LENGTH - 1:
        raise ValueError(f"need {LENGTH - 1} characters, got {len(first17)}")
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def organization_code_check(body: str) -> str:
    """The GB 11714 check character of an organisation code's eight body characters.

    Digits count 0-9 and letters A-Z 10-35; ``X`` stands for 10, ``0`` for 11.
    """
    if len(body) != len(_ORG_WEIGHTS):
        raise ValueError(f"need {len(_ORG_WEIGHTS)} characters, got {len(body)}")
    total = 0
    for ch, w in zip(body, _ORG_WEIGHTS, strict=True):
        if not (ch.isascii() and ch.isalnum()):
            raise ValueError(f"organisation code character {ch!r} is not 0-9 or A-Z")
        total += int(ch, 36) * w
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def parse_uscc(code: str) -> Uscc:
    """Check ``code`` exactly as given (no trimming or case folding) and describe it.

    Raises :class:`UsccError` (or :class:`CheckCharacterError`) naming the first
    rule broken, in reading order: length, charset, authority, type, division, check.
    """
    if len(code) != LENGTH:
        raise UsccError("length", f"must be {LENGTH} characters, got {len(code)}")
    for position, ch in enumerate(code, start=1):
        if ch not in _VALUE:
            why = (
                "the letters I, O, Z, S and V are not used"
                if ch in "IOZSV"
                else "only digits 0-9 and capital letters A-Z (without I, O, Z, S, V) are used"
            )
            raise UsccError("charset", f"character {position} is {ch!r}: {why}", position=position)
    entry = AUTHORITIES.get(code[0])
    if entry is None:
        raise UsccError(
            "authority",
            f"registration authority code (character 1) {code[0]!r} is not one of "
            f"{' '.join(AUTHORITIES)}",
            position=1,
        )
    authority_label, types = entry
    if code[1] not in types:
        raise UsccError(
            "organisation_type",
            f"organisation type (character 2) {code[1]!r} is not allowed for authority "
            f"{code[0]} ({authority_label}); allowed: {' '.join(types)}",
            position=2,
        )
    division = code[2:8]
    if not division.isdigit():
        bad = next(i for i, ch in enumerate(division, start=3) if not ch.isdigit())
        raise UsccError(
            "division",
            f"administrative division code (characters 3-8) must be six digits, "
            f"character {bad} is {code[bad - 1]!r}",
            position=bad,
        )
    expected = check_character(code[:17])
    if code[17] != expected:
        raise CheckCharacterError(expected, code[17])
    org = code[8:17]
    return Uscc(
        code=code,
        authority=code[0],
        authority_label=authority_label,
        organisation_type=code[1],
        organisation_type_label=types[code[1]],
        division=division,
        organization_code=org,
        organization_code_ok=organization_code_check(org[:8]) == org[8],
    )
