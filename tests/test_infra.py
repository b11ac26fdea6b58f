"""The test infrastructure itself: PostgreSQL from .ci/run (later used by distributed searches)."""

from __future__ import annotations

import pytest


@pytest.mark.postgres
def test_postgres_is_reachable(db_url: str) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg2")
    engine = sqlalchemy.create_engine(db_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
            host = conn.execute(sqlalchemy.text("SELECT inet_server_addr()")).scalar()
            assert str(host) == "127.0.0.1"  # loopback only
    finally:
        engine.dispose()


def test_pytest_markers_are_registered(pytestconfig: pytest.Config) -> None:
    markers = "\n".join(pytestconfig.getini("markers"))
    for name in ("slow", "postgres", "gpu"):
        assert f"{name}:" in markers
