"""`taskgate keys create|list|revoke`: API keys, straight in the database (the first admin
key has to come from somewhere). Uses the same settings as the API (DB_*)."""

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table

from config.settings import get_settings
from db.models import Role
from db.session import Database
from services import keys
from services.errors import TaskgateError

app = typer.Typer(help="Make, list and revoke API keys.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against the configured database; one clear line and exit 1 on failure."""

    async def run() -> T:
        database = Database(get_settings())
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except TaskgateError as error:
        err.print(f"taskgate: {error}", markup=False, highlight=False)
    except OSError as error:
        err.print(f"taskgate: cannot reach the database: {error}", markup=False, highlight=False)
    raise typer.Exit(1)


@app.command()
def create(
    tenant: Annotated[str, typer.Option(help="The tenant whose tasks the key reaches.")],
    role: Annotated[Role, typer.Option(help="read, write or admin.")] = Role.READ,
    all_tenants: Annotated[
        bool, typer.Option("--all-tenants", help="An operator's key: sees every tenant.")
    ] = False,
    name: Annotated[str, typer.Option(help="A label, to tell keys apart.")] = "",
) -> None:
    """Make a key; its secret is printed once, alone on the last line."""

    async def work(database: Database) -> keys.NewKey:
        async with database.session() as session:
            return await keys.create_key(
                session=session, tenant=tenant, role=role, all_tenants=all_tenants, name=name
            )

    made = _run(work)
    scope = "every tenant" if all_tenants else f"tenant {tenant!r}"
    out.print(
        f"made key {made.record.id} ({role}, {scope}); its secret follows and is not shown again",
        markup=False,
        highlight=False,
    )
    print(made.key)


COLUMNS = ("id", "prefix", "tenant", "role", "all_tenants", "name", "created_at", "revoked_at")


@app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
) -> None:
    """The keys, newest first (never their secrets)."""

    async def work(database: Database) -> list[dict[str, Any]]:
        async with database.session() as session:
            found = await keys.list_keys(session=session, tenant=tenant)
        return [
            {
                "id": str(key.id),
                "prefix": key.prefix,
                "tenant": key.tenant,
                "role": key.role,
                "all_tenants": key.all_tenants,
                "name": key.name,
                "created_at": key.created_at.isoformat(timespec="seconds"),
                "revoked_at": key.revoked_at.isoformat(timespec="seconds")
                if key.revoked_at
                else None,
            }
            for key in found
        ]

    rows = _run(work)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(*(Column(name, overflow="fold") for name in COLUMNS))
    for row in rows:
        table.add_row(*("" if row[name] in (None, False) else str(row[name]) for name in COLUMNS))
    out.print(table)


@app.command()
def revoke(key_id: Annotated[uuid.UUID, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key: every API process refuses it at once."""

    async def work(database: Database) -> None:
        async with database.session() as session:
            await keys.revoke_key(session=session, key_id=key_id, tenant=None)

    _run(work)
    out.print(f"revoked key {key_id}", markup=False, highlight=False)
