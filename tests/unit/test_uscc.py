"""统一社会信用代码 (GB 32100-2015): real codes pass, every defect is named.

The expected check characters are computed by a second, table-driven
implementation written here from the standard's description (the alphabet is
derived by deleting I O Z S V from 0-9A-Z, the weights are recomputed as
``pow(3, i, 31)``), not by :mod:`evidence_api.registry.uscc`. Detection of every
single-character substitution and adjacent transposition is checked
exhaustively for a real code and by property for generated ones.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_api.registry.uscc import (
    ALPHABET,
    AUTHORITIES,
    WEIGHTS,
    CheckCharacterError,
    UsccError,
    check_character,
    organization_code_check,
    parse_uscc,
)

# Codes as printed on public filings (business licences reproduced in annual reports
# and prospectuses). Attribution is given for the reader; the test only relies on the
# codes being real, which a mis-remembered one would fail with probability 30/31.
PUBLISHED = {
    "91330100716105852F": "阿里巴巴（中国）有限公司",
    "9144030071526726XG": "腾讯科技（深圳）有限公司",
    "914403001922038216": "华为技术有限公司",
    "91110108551385082Q": "小米科技有限责任公司",
    "91520000214434146R": "贵州茅台酒股份有限公司",
    "91440300100012316L": "中国平安保险（集团）股份有限公司",
}

# --- an independent reference -------------------------------------------------------

REF_ALPHABET = "".join(c for c in string.digits + string.ascii_uppercase if c not in "IOZSV")
REF_WEIGHTS = [pow(3, i, 31) for i in range(17)]
REF_TABLE = {ch: index for index, ch in enumerate(REF_ALPHABET)}


def reference_check(first17: str) -> str:
    """Table-driven: accumulate weight*value, then pick the character closing the sum to 0."""
    total = 0
    for position in range(17):
        total = (total + REF_TABLE[first17[position]] * REF_WEIGHTS[position]) % 31
    for candidate in REF_ALPHABET:  # the one character c with total + value(c) = 0 (mod 31)
        if (total + REF_TABLE[candidate]) % 31 == 0:
            return candidate
    raise AssertionError("unreachable: 31 is prime")


def test_constants_match_the_standard() -> None:
    assert ALPHABET == REF_ALPHABET
    assert len(ALPHABET) == 31
    assert list(WEIGHTS) == REF_WEIGHTS
    assert set(AUTHORITIES) == set("123456789ANY")


@pytest.mark.parametrize("code", sorted(PUBLISHED))
def test_published_codes_are_valid(code: str) -> None:
    info = parse_uscc(code)
    assert info.code == code
    assert reference_check(code[:17]) == code[17]
    assert info.authority == "9"
    assert (info.authority_label, info.organisation_type_label) == ("工商（市场监管）", "企业")
    assert info.division == code[2:8]
    assert info.organization_code == code[8:17]
    # Their GB 11714 inner check digits hold too (informational, not enforced).
    assert info.organization_code_ok


def test_organization_code_check_known_answers() -> None:
    # From the published codes above: 71610585-2, 71526726-X, 19220382-1.
    assert organization_code_check("71610585") == "2"
    assert organization_code_check("71526726") == "X"
    assert organization_code_check("19220382") == "1"
    # 11 - 0 = 11 -> '0'; a digit that differs breaks it.
    assert organization_code_check("00000000") == "0"
    assert organization_code_check("71610586") != "2"


def test_inner_check_failure_is_reported_not_refused() -> None:
    first17 = "91330100" + "71610585" + "3"  # inner check should be 2
    code = first17 + reference_check(first17)
    info = parse_uscc(code)
    assert not info.organization_code_ok


# --- bad codes, each named after its defect ------------------------------------------

GOOD = "91330100716105852F"


@pytest.mark.parametrize(
    ("name", "code", "defect", "position", "reason"),
    [
        ("empty", "", "length", None, "must be 18 characters, got 0"),
        ("one-short", GOOD[:17], "length", None, "must be 18 characters, got 17"),
        ("one-long", GOOD + "0", "length", None, "must be 18 characters, got 19"),
        (
            "letter-I",
            "91330100I16105852F",
            "charset",
            9,
            "character 9 is 'I': the letters I, O, Z, S and V are not used",
        ),
        ("letter-O", GOOD[:17] + "O", "charset", 18, None),
        ("letter-Z", "9Z330100716105852F", "charset", 2, None),
        ("letter-S", GOOD[:10] + "S" + GOOD[11:], "charset", 11, None),
        ("letter-V", GOOD[:12] + "V" + GOOD[13:], "charset", 13, None),
        ("lowercase", GOOD[:17] + "f", "charset", 18, None),
        ("space", " " + GOOD[1:], "charset", 1, None),
        ("fullwidth-digit", "９" + GOOD[1:], "charset", 1, None),
        (
            "authority-B",
            "B1330100716105852F",
            "authority",
            1,
            "registration authority code (character 1) 'B' is not one of 1 2 3 4 5 6 7 8 9 A N Y",
        ),
        ("authority-0", "01330100716105852F", "authority", 1, None),
        (
            "type-4-for-工商",
            "94330100716105852F",
            "organisation_type",
            2,
            "organisation type (character 2) '4' is not allowed for authority 9 "
            "(工商（市场监管）); allowed: 1 2 3",
        ),
        ("type-2-for-其他", "Y2330100716105852F", "organisation_type", 2, None),
        (
            "division-letter",
            "9133A100716105852F",
            "division",
            5,
            "administrative division code (characters 3-8) must be six digits, character 5 is 'A'",
        ),
        (
            "check-character",
            GOOD[:17] + "G",
            "check_character",
            18,
            "check character should be 'F', got 'G'",
        ),
    ],
)
def test_bad_codes_name_their_defect(
    name: str, code: str, defect: str, position: int | None, reason: str | None
) -> None:
    with pytest.raises(UsccError) as caught:
        parse_uscc(code)
    assert caught.value.defect == defect, name
    assert caught.value.position == position, name
    if reason is not None:
        assert str(caught.value) == reason, name


def test_check_character_error_carries_expected_and_got() -> None:
    with pytest.raises(CheckCharacterError) as caught:
        parse_uscc(GOOD[:17] + "0")
    assert (caught.value.expected, caught.value.got) == ("F", "0")


def test_check_character_needs_17_characters() -> None:
    with pytest.raises(ValueError, match="need 17 characters, got 16"):
        check_character(GOOD[:16])


# --- error detection ----------------------------------------------------------------


def substitutions(code: str) -> list[str]:
    return [
        code[:i] + c + code[i + 1 :] for i in range(len(code)) for c in ALPHABET if c != code[i]
    ]


def transpositions(code: str) -> list[str]:
    return [
        code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        for i in range(len(code) - 1)
        if code[i] != code[i + 1]
    ]


def rejected(code: str) -> bool:
    try:
        parse_uscc(code)
    except UsccError:
        return True
    return False


@pytest.mark.parametrize("code", sorted(PUBLISHED))
def test_every_substitution_and_adjacent_transposition_of_a_real_code_is_caught(
    code: str,
) -> None:
    variants = substitutions(code) + transpositions(code)
    assert len(variants) >= 18 * 30
    assert [v for v in variants if not rejected(v)] == []


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from(sorted(AUTHORITIES)))
    kind = draw(st.sampled_from(sorted(AUTHORITIES[authority][1])))
    division = draw(st.text(alphabet=string.digits, min_size=6, max_size=6))
    org = draw(st.text(alphabet=REF_ALPHABET, min_size=9, max_size=9))
    first17 = authority + kind + division + org
    return first17 + reference_check(first17)


#: The unit tier's example count per property; tests/integration/test_uscc_full.py runs the
#: same properties on 1,000 generated codes each.
UNIT = settings(max_examples=60, deadline=None)


@UNIT
@given(valid_codes())
def test_generated_codes_are_accepted(code: str) -> None:
    check_accepted(code)


def check_accepted(code: str) -> None:
    assert parse_uscc(code).code == code


@UNIT
@given(valid_codes(), st.data())
def test_any_single_substitution_is_caught(code: str, data: st.DataObject) -> None:
    check_substitution_caught(code, data)


def check_substitution_caught(code: str, data: st.DataObject) -> None:
    variant = data.draw(st.sampled_from(substitutions(code)))
    assert rejected(variant)


@UNIT
@given(valid_codes())
def test_every_adjacent_transposition_is_caught(code: str) -> None:
    check_transpositions_caught(code)


def check_transpositions_caught(code: str) -> None:
    assert all(rejected(v) for v in transpositions(code))


@UNIT
@given(valid_codes(), st.sampled_from(REF_ALPHABET))
def test_a_wrong_check_character_names_the_right_one(code: str, wrong: str) -> None:
    check_wrong_check_character(code, wrong)


def check_wrong_check_character(code: str, wrong: str) -> None:
    if wrong == code[17]:
        return
    with pytest.raises(CheckCharacterError) as caught:
        parse_uscc(code[:17] + wrong)
    assert caught.value.expected == code[17]
    assert str(caught.value) == f"check character should be {code[17]!r}, got {wrong!r}"
