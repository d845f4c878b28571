"""Alembic environment: the models' metadata, batch mode so SQLite and PostgreSQL migrate alike."""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext

from webapp.db import make_engine
from webapp.models import Base
from webapp.models.base import UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write our column types as plain SQLAlchemy ones, so migrations never import model code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


# APScheduler's job table is made by our migrations but belongs to APScheduler, not to our
# models: `alembic check` must not report it as drift.
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})
# A delivery's edition and reader are foreign keys in the models (and on SQLite); on PostgreSQL
# statement-level triggers keep the same guarantees (migration 0027): not drift.
TRIGGER_KEPT_KEYS = frozenset(
    {"fk_deliveries_edition_id_editions", "fk_deliveries_subscriber_id_subscribers"}
)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table" and name in FOREIGN_TABLES:
        return False
    if type_ == "foreign_key_constraint" and name in TRIGGER_KEPT_KEYS:
        return False
    table = getattr(obj, "table", None)
    return not (table is not None and getattr(table, "name", None) in FOREIGN_TABLES)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by webapp.migrate.alembic_config"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
            render_item=render_item,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
