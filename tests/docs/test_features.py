"""The examples of docs/features.md (docs_src/features), run against a real server."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docs_src.features import aggregation, inheritance, projections, references, revisions, updates
from docs_src.features.models import Account, Owner
from odmantic_fastapi import AIOEngine, RevisionConflictError


@pytest.fixture
async def engine(mongodb_url: str, mongodb_database_name: str) -> AsyncIterator[AIOEngine]:
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        yield AIOEngine(client, database=mongodb_database_name)


@pytest.fixture
async def owners(engine: AIOEngine) -> tuple[Owner, Owner]:
    ann = Owner(name="Ann", email="ann@example.com")
    bob = Owner(name="Bob", email="bob@example.com")
    await engine.save_all([ann, bob])
    return ann, bob


async def test_projection_into_a_lighter_model(
    engine: AIOEngine, owners: tuple[Owner, Owner]
) -> None:
    names, one = await projections.owner_names(engine)
    assert sorted(n.name for n in names) == ["Ann", "Bob"]
    assert one == projections.OwnerName(name="Ann")


async def test_projection_by_fields_gives_dicts(
    engine: AIOEngine, owners: tuple[Owner, Owner]
) -> None:
    docs = await projections.owner_documents(engine)
    assert sorted((d["name"], d["email"]) for d in docs) == [
        ("Ann", "ann@example.com"),
        ("Bob", "bob@example.com"),
    ]
    assert all(set(d) <= {"_id", "name", "email"} for d in docs)


async def test_aggregation_into_typed_results(
    engine: AIOEngine, owners: tuple[Owner, Owner]
) -> None:
    ann, bob = owners
    await engine.save_all(
        [
            Account(owner=ann, currency="EUR", balance=10),
            Account(owner=bob, currency="EUR", balance=5),
            Account(owner=bob, currency="USD", balance=7),
            Account(owner=ann, currency="USD", balance=0),
        ]
    )
    totals = await aggregation.totals_by_currency(engine)
    assert sorted((t.currency, t.total) for t in totals) == [("EUR", 15), ("USD", 7)]


async def test_update_by_query(engine: AIOEngine, owners: tuple[Owner, Owner]) -> None:
    ann, bob = owners
    await engine.save_all(
        [Account(owner=ann, currency="EUR"), Account(owner=bob, currency="USD", balance=1)]
    )
    assert await updates.promote_euro_accounts(engine) == 1
    euro = await engine.find_one(Account, Account.currency == "EUR")
    usd = await engine.find_one(Account, Account.currency == "USD")
    assert (euro.balance, euro.tags) == (5, ["promo"])
    assert (usd.balance, usd.tags) == (1, [])


async def test_revision_conflict_refuses_a_stale_save(engine: AIOEngine) -> None:
    wallet = await engine.save(revisions.Wallet(balance=100))
    stale = await engine.find_one(revisions.Wallet, revisions.Wallet.id == wallet.id)
    assert stale is not None
    assert await revisions.withdraw(engine, wallet.id, 30) is True
    stale.balance -= 50
    with pytest.raises(RevisionConflictError):
        await engine.save(stale)
    stored = await engine.find_one(revisions.Wallet, revisions.Wallet.id == wallet.id)
    assert (stored.balance, stored.revision) == (70, 2)


async def test_optional_and_list_references(engine: AIOEngine, owners: tuple[Owner, Owner]) -> None:
    ann, bob = owners
    await engine.save(references.Team(name="core", lead=None, members=[bob, ann]))
    team = await engine.find_one(references.Team)
    assert team.lead is None
    assert [m.name for m in team.members] == ["Bob", "Ann"]


async def test_lazy_references_are_fetched_on_demand(
    engine: AIOEngine, owners: tuple[Owner, Owner]
) -> None:
    ann, bob = owners
    author, reviewers = await references.author_and_reviewers(engine, ann, bob)
    assert author == ann
    assert reviewers == [bob]


async def test_a_hierarchy_reads_back_each_class(engine: AIOEngine) -> None:
    animals, dogs = await inheritance.read_back(engine)
    assert sorted(type(a).__name__ for a in animals) == ["Cat", "Dog"]
    assert [d.name for d in dogs] == ["Rex"]
    raw = await engine.get_collection(inheritance.Animal).find_one({"name": "Tom"})
    assert raw["_cls"] == "cat"
