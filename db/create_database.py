"""Create the configured database if it does not exist (`python -m db.create_database`);
drop or recreate a database by name (the tests' and benchmarks' fresh states)."""

import asyncio
import sys

import asyncpg

from config.settings import Settings, get_settings


async def connect(settings: Settings, database: str = "postgres") -> asyncpg.Connection:
    """A plain connection to the configured server (by default its maintenance database),
    to PostgreSQL itself even where the task database is reached through a pooler."""
    host, port = settings.direct_database_address
    return await asyncpg.connect(
        host=host,
        port=port,
        user=settings.db_user,
        password=settings.db_pass.get_secret_value() or None,
        database=database,
    )


async def create_database(settings: Settings) -> bool:
    """Create DB_NAME on the server unless it exists; True if it was created."""
    connection = await connect(settings)
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", settings.db_name
        )
        if exists:
            return False
        await connection.execute(f'CREATE DATABASE "{_quoted(settings.db_name)}"')
        return True
    finally:
        await connection.close()


async def drop_database(settings: Settings, name: str) -> None:
    """Drop the database `name` if it exists, disconnecting whoever uses it."""
    connection = await connect(settings)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{_quoted(name)}" WITH (FORCE)')
    finally:
        await connection.close()


async def recreate_database(settings: Settings, name: str) -> None:
    """Drop the database `name` if it exists, and create it empty."""
    await drop_database(settings, name)
    connection = await connect(settings)
    try:
        await connection.execute(f'CREATE DATABASE "{_quoted(name)}"')
    finally:
        await connection.close()


def _quoted(name: str) -> str:
    return name.replace('"', '""')


def main() -> None:
    settings = get_settings()
    try:
        created = asyncio.run(create_database(settings))
    except (OSError, asyncpg.PostgresError) as error:
        sys.exit(f"cannot create the database: {error}")
    print(f"database {settings.db_name!r} {'created' if created else 'exists'}")


if __name__ == "__main__":
    main()
