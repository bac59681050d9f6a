"""``evidence units``: the organisation tree from the command line. Light at import.

The commands work on the deployment of the current settings (``EVIDENCE_DATA_DIR``,
``EVIDENCE_DATABASE_URL``), whose database ``evidence serve`` or ``evidence admin
... --init`` has made (docs/supervision.md §1).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from evidence_api.units.schemas import UnitPublic

app = typer.Typer(
    help="The organisation tree (units) and who belongs to which unit.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
#: exit status of a refused command (bad argument, unknown unit, no deployment)
REFUSED = 2
#: The largest token id (api_token.id is a 32-bit integer); a larger one is refused before
#: it reaches the database, which would answer it with an overflow.
TOKEN_ID_MAX = 2**31 - 1


def _refuse(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(REFUSED)


def _checked(kind: Any, value: str, where: str) -> None:
    """Refuse ``value`` unless it is a valid ``kind`` (a pydantic type of the API's bodies),
    so that what the API would answer with a 422 (a code of the wrong alphabet, a name of
    100,000 characters, bytes that are not UTF-8) is one ``error:`` line here too."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415

    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        _refuse(f"{where}: {exc.errors()[0]['msg']}")


def _unit_code(value: str | None, where: str) -> None:
    from evidence_api.units.schemas import UnitCode  # noqa: PLC0415

    if value is not None:
        _checked(UnitCode, value, where)


@contextlib.contextmanager
def _session() -> Iterator[Session]:
    """One transaction on the configured database; an ApiError inside rolls it back and
    becomes one ``error:`` line and exit 2."""
    from sqlalchemy.orm import sessionmaker  # noqa: PLC0415

    from evidence_api.core.config import ConfigurationError, get_settings  # noqa: PLC0415
    from evidence_api.core.db import make_engine, upgrade  # noqa: PLC0415
    from evidence_api.core.errors import ApiError  # noqa: PLC0415

    settings = get_settings()
    configured = settings.log_key is not None or settings.log_key_file is not None
    if not configured and not settings.dev_key_path.exists():
        typer.echo(
            f"error: no deployment in {settings.data_dir.resolve()} (no log key there); run "
            "from the deployment's folder or set EVIDENCE_DATA_DIR",
            err=True,
        )
        raise typer.Exit(REFUSED)
    try:
        url = settings.resolved_database_url
        engine = make_engine(url)
    except (ConfigurationError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(REFUSED) from exc
    try:
        upgrade(url)  # one SELECT on a deployment already at the newest revision
        with sessionmaker(engine, expire_on_commit=False).begin() as session:
            yield session
    except ApiError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(REFUSED) from exc
    finally:
        engine.dispose()


def _row(unit: UnitPublic) -> str:
    return "\t".join(
        [unit.code, unit.level, unit.parent or "-", unit.path, unit.region_code or "-", unit.name]
    )


def _all(session: Session, under: str | None) -> list[UnitPublic]:
    from evidence_api.units import service  # noqa: PLC0415

    found: list[UnitPublic] = []
    cursor = None
    while True:
        page = service.list_units(session, under=under, limit=service.MAX_PAGE, cursor=cursor)
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


Under = Annotated[str | None, typer.Option(help="only this unit (a code) and the units below it")]


@app.command("add")
def add(
    code: Annotated[str, typer.Argument(help="the new unit's code: a-z 0-9 . _ -, e.g. fj.qz.fz")],
    name: Annotated[str, typer.Argument(help="its name, e.g. 泉州市丰泽区市场监督管理局")],
    level: Annotated[str, typer.Option(help="province | city | county | station | department")],
    parent: Annotated[
        str | None, typer.Option(help="the parent unit's code (none: a root)")
    ] = None,
    region_code: Annotated[
        str | None, typer.Option(help="行政区划代码 (GB/T 2260), e.g. 350503")
    ] = None,
) -> None:
    """Add a unit. Levels nest province > city > county > station, one step at a time; a
    department (商务、公安、网信 …) may sit under any unit or at the root."""
    from pydantic import ValidationError  # noqa: PLC0415

    from evidence_api.units import service  # noqa: PLC0415
    from evidence_api.units.schemas import UnitCreate  # noqa: PLC0415

    try:
        body = UnitCreate.model_validate(
            {
                "code": code,
                "name": name,
                "level": level,
                "parent": parent,
                "region_code": region_code,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        _refuse(f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}")
    with _session() as session:
        typer.echo(_row(service.create_unit(session, body)))


@app.command("list")
def list_units(under: Under = None) -> None:
    """Every unit in tree order, one a line: code, level, parent, path, region code, name
    (tab-separated)."""
    _unit_code(under, "--under")
    with _session() as session:
        for unit in _all(session, under):
            typer.echo(_row(unit))


@app.command("tree")
def tree(under: Under = None) -> None:
    """The tree, indented by depth: name, code and level."""
    from evidence_api.units.schemas import LEVELS  # noqa: PLC0415

    _unit_code(under, "--under")
    with _session() as session:
        units = _all(session, under)
    top = min((u.depth for u in units), default=1)
    for unit in units:
        indent = "  " * (unit.depth - top)
        typer.echo(f"{indent}{unit.name} ({unit.code}, {LEVELS[unit.level]})")


@app.command("assign")
def assign(
    code: Annotated[str, typer.Argument(help="the unit's code; '-' takes the unit away")],
    token: Annotated[
        int | None,
        typer.Option(help=f"an API token's id, 1..{TOKEN_ID_MAX} (evidence admin list-tokens)"),
    ] = None,
    user: Annotated[str | None, typer.Option(help="a console user's login name")] = None,
) -> None:
    """Put a token or a console user in a unit: they then see and act on what belongs to that
    unit and the units below it. A user and its identity token move together; the free-text
    unit label becomes the unit's name."""
    from evidence_api.accounts.schemas import Username  # noqa: PLC0415
    from evidence_api.units import service  # noqa: PLC0415

    if (token is None) == (user is None):
        _refuse("name exactly one of --token ID and --user NAME")
    if token is not None and not 1 <= token <= TOKEN_ID_MAX:
        _refuse(f"--token: {token} is not a token id (1..{TOKEN_ID_MAX})")
    if user is not None:
        _checked(Username, user, "--user")
    target = None if code == "-" else code
    _unit_code(target, "code")
    with _session() as session:
        if token is not None:
            service.assign_token(session, token, target)
            who = f"token {token}"
        else:
            service.assign_user(session, str(user), target)
            who = f"user {user!r}"
    typer.echo(f"{who}: unit {target or '(none: the whole tree)'}", err=True)


@app.command("seed-quanzhou")
def seed_quanzhou() -> None:
    """Load the 泉州 tree: 福建省市场监督管理局 → 泉州市市场监督管理局 → its eleven counties and
    districts → a few 市场监管所, and 泉州市商务局, 泉州市公安局, 泉州市委网信办. Units whose
    code is already there are left alone (running it twice adds nothing)."""
    from evidence_api.units import service  # noqa: PLC0415

    with _session() as session:
        added = service.seed(session, service.quanzhou())
    typer.echo(f"{len(added)} units added", err=True)
    for code in added:
        typer.echo(code)
