"""GET /healthz: the web process can reach Redis and the database."""

from __future__ import annotations

import redis
from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from plugin.services import get_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 with each check's state when all pass, 503 naming the failing one otherwise."""
    services = get_services()
    checks = {}
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        checks["redis"] = f"unavailable ({type(exc).__name__})"
    try:
        with services.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unavailable ({type(exc).__name__})"
    healthy = all(state == "ok" for state in checks.values())
    return {"status": "ok" if healthy else "unavailable", "checks": checks}, 200 if healthy else 503
