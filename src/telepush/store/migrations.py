"""Schema migrations: numbered SQL files, applied once each, in order, recorded by name.

The runner knows no SQL dialect. A backend loads its files (``load_migrations``), reads the
names already recorded in its ``schema_migrations`` table, and hands both to ``run`` with a
callable that executes one migration and records it. The backend wraps the whole
check-and-apply in whatever lock makes it atomic across processes (``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on PostgreSQL), so two processes migrating at once apply each file
exactly once.

Files are named ``NNNN_description.sql`` (``0001_initial.sql``); the migration's name is the
file name without ``.sql``. Other files in the directory (``schema.sql``) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from telepush.errors import MigrationError

_FILE_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    name: str  # e.g. "0001_initial"
    sql: str


def sql_directory(dialect: str) -> Traversable:
    """The packaged directory of SQL files for ``dialect`` (``sqlite``, ``postgres``)."""
    return files("telepush.store").joinpath("sql", dialect)


def load_migrations(directory: Traversable) -> list[Migration]:
    """The numbered ``.sql`` files of ``directory``, in order of their numbers."""
    numbered: dict[str, Migration] = {}
    for entry in directory.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        number = match.group(1)
        if number in numbered:
            raise MigrationError(
                f"two migrations share number {number}: {numbered[number].name} and {entry.name}"
            )
        numbered[number] = Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8"))
    return [numbered[number] for number in sorted(numbered)]


def pending(migrations: Sequence[Migration], applied: Iterable[str]) -> list[Migration]:
    """The migrations not yet applied, in order.

    Raises ``MigrationError`` when the database records a migration this version does not
    know: it was migrated by a newer telepush, and this one must not touch it."""
    applied_names = set(applied)
    unknown = sorted(applied_names - {m.name for m in migrations})
    if unknown:
        raise MigrationError(
            f"the database has migrations this version of telepush does not know "
            f"({', '.join(unknown)}); it was migrated by a newer telepush: upgrade telepush"
        )
    return [m for m in migrations if m.name not in applied_names]


def run(
    migrations: Sequence[Migration],
    applied: Iterable[str],
    apply: Callable[[Migration], None],
) -> list[str]:
    """Apply every pending migration with ``apply`` (which also records it); return their names.

    Call it while holding the backend's migration lock, with ``applied`` read under that lock.
    """
    todo = pending(migrations, applied)
    for migration in todo:
        apply(migration)
    return [m.name for m in todo]


def require_current(migrations: Sequence[Migration], applied: Iterable[str]) -> None:
    """Raise ``MigrationError`` saying to run ``telepush migrate`` when any migration is missing."""
    todo = pending(migrations, applied)
    if todo:
        names = ", ".join(m.name for m in todo)
        raise MigrationError(
            f"the database schema is not up to date ({len(todo)} migration(s) missing: {names}); "
            "run `telepush migrate`"
        )
