"""SQLAlchemy 2 (with psycopg2 and with psycopg 3) against a running
Kimberlite: create_all(checkfirst) twice, inspect() reflection read from
our pg_catalog, ORM add/commit/query/relationship, and an Alembic-style
ALTER round trip through Alembic's own operations."""

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import (Column, ForeignKey, Index, Integer, String, create_engine,
                        inspect, select, text)
from sqlalchemy.orm import Session, declarative_base, relationship


def engine_for(server, driver):
    dsn = server["dsn"]
    url = dsn.replace("postgres://", f"postgresql+{driver}://", 1)
    return create_engine(url)


def models(prefix):
    base = declarative_base()

    class Author(base):
        __tablename__ = f"{prefix}_author"
        id = Column(Integer, primary_key=True)
        name = Column(String(50), nullable=False, unique=True)
        books = relationship("Book", back_populates="author")

    class Book(base):
        __tablename__ = f"{prefix}_book"
        id = Column(Integer, primary_key=True)
        title = Column(String(100), nullable=False)
        author_id = Column(Integer, ForeignKey(f"{prefix}_author.id"), nullable=False)
        author = relationship("Author", back_populates="books")
        __table_args__ = (Index(f"{prefix}_book_title_idx", "title"),)

    return base, Author, Book


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_create_all_reflection_orm_and_alembic(server, driver):
    prefix = f"sa_{driver}"
    engine = engine_for(server, driver)
    base, Author, Book = models(prefix)
    base.metadata.create_all(engine, checkfirst=True)
    base.metadata.create_all(engine, checkfirst=True)  # sees the tables: no-op

    insp = inspect(engine)
    assert {f"{prefix}_author", f"{prefix}_book"} <= set(insp.get_table_names())
    columns = {c["name"]: c for c in insp.get_columns(f"{prefix}_book")}
    assert list(columns) == ["id", "title", "author_id"]
    assert str(columns["title"]["type"]) == "VARCHAR(100)"
    assert columns["title"]["nullable"] is False
    assert columns["id"]["autoincrement"] is True
    assert "nextval" in columns["id"]["default"]
    assert insp.get_pk_constraint(f"{prefix}_book")["constrained_columns"] == ["id"]
    [fk] = insp.get_foreign_keys(f"{prefix}_book")
    assert (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]) == (
        ["author_id"], f"{prefix}_author", ["id"])
    [index] = insp.get_indexes(f"{prefix}_book")
    assert (index["name"], index["column_names"], index["unique"]) == (
        f"{prefix}_book_title_idx", ["title"], False)
    [unique] = insp.get_unique_constraints(f"{prefix}_author")
    assert unique["column_names"] == ["name"]

    with Session(engine) as session:
        author = Author(name="ann")
        author.books.append(Book(title="one"))
        author.books.append(Book(title="two"))
        session.add(author)
        session.commit()
        book = session.scalars(select(Book).where(Book.title == "two")).one()
        assert book.author.name == "ann"
        assert sorted(b.title for b in book.author.books) == ["one", "two"]

    # Alembic's operations, as a migration script runs them.
    with engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn))
        op.add_column(f"{prefix}_book", Column("pages", Integer, server_default="0"))
        op.alter_column(f"{prefix}_book", "pages", nullable=False)
        op.create_index(f"{prefix}_book_pages_idx", f"{prefix}_book", ["pages"])
    insp = inspect(engine)
    pages = {c["name"]: c for c in insp.get_columns(f"{prefix}_book")}["pages"]
    assert pages["nullable"] is False and pages["default"] == "0"
    assert f"{prefix}_book_pages_idx" in {i["name"] for i in insp.get_indexes(f"{prefix}_book")}
    with engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn))
        op.drop_index(f"{prefix}_book_pages_idx", table_name=f"{prefix}_book")
        op.drop_column(f"{prefix}_book", "pages")
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {prefix}_book")).scalar() == 2
    assert "pages" not in {c["name"] for c in inspect(engine).get_columns(f"{prefix}_book")}
    engine.dispose()
