"""The dialect-free migration runner and the SQLite statement splitter."""

from __future__ import annotations

from pathlib import Path

import pytest

from telepush.errors import MigrationError
from telepush.store.migrations import (
    Migration,
    load_migrations,
    pending,
    require_current,
    run,
    sql_directory,
)
from telepush.store.sqlite_schema import split_statements

M1, M2, M3 = Migration("0001_a", "A"), Migration("0002_b", "B"), Migration("0003_c", "C")


def test_run_applies_only_missing_migrations_in_order() -> None:
    """Already applied migrations are skipped; the rest are applied in order and named."""
    applied: list[str] = []
    names = run([M1, M2, M3], ["0001_a"], lambda m: applied.append(m.sql))
    assert (names, applied) == (["0002_b", "0003_c"], ["B", "C"])


def test_run_with_everything_applied_does_nothing() -> None:
    """Running again after all are applied calls nothing."""
    assert run([M1, M2], ["0001_a", "0002_b"], lambda m: pytest.fail("applied again")) == []


def test_unknown_applied_migration_is_refused() -> None:
    """A database migrated by a newer version is not touched."""
    with pytest.raises(MigrationError, match="upgrade telepush"):
        pending([M1], ["0001_a", "0009_future"])


def test_require_current_names_the_command_to_run() -> None:
    """A missing migration raises MigrationError telling to run ``telepush migrate``."""
    require_current([M1], ["0001_a"])
    with pytest.raises(MigrationError, match=r"0002_b.*run `telepush migrate`"):
        require_current([M1, M2], ["0001_a"])


def test_load_migrations_orders_numbered_files_and_skips_others(tmp_path: Path) -> None:
    """Only NNNN_name.sql files are migrations, sorted by number."""
    for name in ("0002_second.sql", "0001_first.sql", "schema.sql", "notes.txt"):
        (tmp_path / name).write_text(f"-- {name}")
    loaded = load_migrations(tmp_path)
    assert [(m.name, m.sql) for m in loaded] == [
        ("0001_first", "-- 0001_first.sql"),
        ("0002_second", "-- 0002_second.sql"),
    ]


def test_load_migrations_refuses_a_reused_number(tmp_path: Path) -> None:
    """Two files with one number are an error naming both."""
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(MigrationError, match="0001"):
        load_migrations(tmp_path)


def test_packaged_sqlite_migrations_start_with_the_initial_schema() -> None:
    """The SQLite migrations ship with the package, beginning with 0001_initial."""
    names = [m.name for m in load_migrations(sql_directory("sqlite"))]
    assert names[0] == "0001_initial"


def test_split_statements_keeps_each_statement_whole() -> None:
    """Semicolons inside strings or triggers do not split; trailing comments are dropped."""
    script = """
    -- a comment
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 'c;d';
    END;
    -- the end
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[0].endswith("DEFAULT 'a;b');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_split_statements_refuses_an_unfinished_statement() -> None:
    """A script ending mid-statement is an error, not silently cut."""
    with pytest.raises(MigrationError, match="incomplete"):
        split_statements("CREATE TABLE t (x TEXT);\nCREATE TABLE u (y")
