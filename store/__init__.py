"""Persistence: SQLModel tables, engine and queries; Alembic migrations. SQLite and PostgreSQL."""
