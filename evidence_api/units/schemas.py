"""Bodies of the units API (``/v1/units``) and the unit fields other resources share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

#: What a unit code may be: 1..64 of ``[a-z0-9._-]``, starting with a letter or digit.
UNIT_CODE = r"^[a-z0-9][a-z0-9._-]{0,63}$"
Level = Literal["province", "city", "county", "station", "department"]
#: The levels' Chinese labels (省、市、县(市、区)、市场监管所、联席会议成员单位).
LEVELS: dict[str, str] = {
    "province": "省级",
    "city": "市级",
    "county": "县级（市、区）",
    "station": "市场监管所",
    "department": "联席会议成员单位",
}
UnitCode = Annotated[
    str,
    Field(
        pattern=UNIT_CODE,
        description="unit code: 1..64 of a-z 0-9 . _ -, e.g. fj.qz.fz",
        examples=["fj.qz.fz"],
    ),
]
UnitName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
RegionCode = Annotated[
    str, Field(pattern=r"^[0-9]{6}([0-9]{3}([0-9]{3})?)?$", description="行政区划代码 (GB/T 2260)")
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Owned(BaseModel):
    """The unit a resource belongs to (docs/supervision.md §1); null: the top."""

    unit: str | None = Field(None, description="code of the unit it belongs to (所属单位)")
    unit_name: str | None = Field(None, description="that unit's name")


#: A create body's optional unit: the code of a unit in the caller's jurisdiction.
OwnerField = Field(
    None,
    description="the unit it belongs to (所属单位), in the caller's jurisdiction; "
    "default: the caller's own unit",
)


class UnitCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "fj.qz.fz",
                    "name": "泉州市丰泽区市场监督管理局",
                    "level": "county",
                    "parent": "fj.qz",
                    "region_code": "350503",
                }
            ]
        }
    )

    code: UnitCode
    name: UnitName
    level: Level = Field(description="province ⊃ city ⊃ county ⊃ station; department anywhere")
    parent: UnitCode | None = Field(None, description="the parent unit's code; null: a root")
    region_code: RegionCode | None = None


class UnitUpdate(_Body):
    """Name, region code, and the parent (a move rewrites the subtree's paths)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "泉州市丰泽区市场监督管理局（知识产权局）"}]}
    )

    name: UnitName | None = None
    region_code: RegionCode | None = None
    parent: UnitCode | None = Field(None, description="move under this unit; null: to the root")


class UnitPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "fj.qz.fz",
                    "name": "泉州市丰泽区市场监督管理局",
                    "level": "county",
                    "level_label": "县级（市、区）",
                    "parent": "fj.qz",
                    "path": "/1/2/4/",
                    "depth": 3,
                    "region_code": "350503",
                    "created_at": "2026-12-03T08:00:00Z",
                }
            ]
        }
    )

    code: str
    name: str
    level: str
    level_label: str
    parent: str | None
    path: str = Field(description="ids from the root, e.g. /1/2/4/")
    depth: int = Field(description="1 for a root")
    region_code: str | None
    created_at: datetime


class UnitPage(BaseModel):
    items: list[UnitPublic] = Field(description="in tree order (a unit before its children)")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
