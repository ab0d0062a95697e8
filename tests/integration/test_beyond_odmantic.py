"""What the engines do beyond ODMantic: projections, aggregation, bulk writes, update by query,
revisions, optional/list/lazy references and model hierarchies, async and sync, over the wire."""

from typing import Any, TypeVar

import bson
import pytest
from pydantic import BaseModel
from pymongo import AsyncMongoClient

from odmantic_fastapi import (
    AIOEngine,
    DocumentParsingError,
    DuplicateKeyError,
    EmbeddedModel,
    Field,
    LazyReference,
    Model,
    Reference,
    RevisionConflictError,
    SyncEngine,
)
from odmantic_fastapi.query import desc
from odmantic_fastapi.update import add_to_set, inc, pull, push, set_, unset


class Address(EmbeddedModel):
    city: str
    zip_code: str = Field(key_name="zip")


class Owner(Model):
    name: str
    email: str = Field(unique=True)
    address: Address | None = None


class Account(Model):
    owner: Owner = Reference()
    currency: str
    balance: int = 0
    tags: list[str] = []


class Wallet(Model):
    """Revision-checked: concurrent read-modify-write cannot lose an update."""

    balance: int
    revision: int = 0
    model_config = {"revision_field": "revision"}


class Team(Model):
    name: str
    lead: Owner | None = Reference()
    members: list[Owner] = Reference()


class Post(Model):
    title: str
    author: LazyReference[Owner]
    reviewers: list[LazyReference[Owner]] = []


class Animal(Model):
    name: str
    model_config = {"collection": "animals", "discriminator_key": "_cls"}


class Dog(Animal):
    barks: bool = True


class Puppy(Dog):
    model_config = {"discriminator_value": "puppy"}
    age_weeks: int


class Cat(Animal):
    lives: int = 9


class OwnerName(BaseModel):
    name: str


class OwnerCard(EmbeddedModel):
    name: str
    address: Address | None = None


class CurrencyTotal(BaseModel):
    currency: str = Field(alias="_id")
    total: int


M = TypeVar("M", bound=Model)


async def stored(engine: AIOEngine, model: type[M], *queries: Any) -> M:
    found = await engine.find_one(model, *queries)
    assert found is not None
    return found


def owner(name: str) -> Owner:
    return Owner(
        name=name, email=f"{name}@example.com", address=Address(city="Lyon", zip_code="69001")
    )


# -- projections -------------------------------------------------------------


async def test_find_with_a_lighter_model_reads_only_its_fields(aio_engine: AIOEngine) -> None:
    await aio_engine.save_all([owner("ann"), owner("bob")])
    names = await aio_engine.find(Owner, sort=Owner.name, projection=OwnerName)
    assert names == [OwnerName(name="ann"), OwnerName(name="bob")]
    card = await aio_engine.find_one(Owner, Owner.name == "bob", projection=OwnerCard)
    assert card == OwnerCard(name="bob", address=Address(city="Lyon", zip_code="69001"))
    raw = await aio_engine.get_collection(Owner).find_one({"name": "bob"}, {"email": 1, "_id": 0})
    assert raw == {"email": "bob@example.com"}  # the projection really left the rest on the server


async def test_find_with_selected_fields_returns_documents(aio_engine: AIOEngine) -> None:
    await aio_engine.save(owner("ann"))
    docs = await aio_engine.find(Owner, projection=[Owner.name, Owner.address.zip_code])
    assert [{k: v for k, v in d.items() if k != "_id"} for d in docs] == [
        {"name": "ann", "address": {"zip": "69001"}}
    ]


async def test_a_projection_naming_an_unknown_field_is_refused(aio_engine: AIOEngine) -> None:
    class Stranger(BaseModel):
        nickname: str

    with pytest.raises(ValueError, match="nickname"):
        aio_engine.find(Owner, projection=Stranger)


# -- aggregation ---------------------------------------------------------------


async def test_aggregate_takes_query_expressions_as_match_stages(aio_engine: AIOEngine) -> None:
    ann = owner("ann")
    await aio_engine.save_all(
        [
            Account(owner=ann, currency="EUR", balance=10),
            Account(owner=ann, currency="EUR", balance=5),
            Account(owner=ann, currency="USD", balance=7),
            Account(owner=ann, currency="GBP", balance=0),
        ]
    )
    pipeline = [
        Account.balance > 0,
        {"$group": {"_id": "$currency", "total": {"$sum": "$balance"}}},
        {"$sort": {"_id": 1}},
    ]
    totals = await aio_engine.aggregate(Account, pipeline, output=CurrencyTotal)
    assert totals == [CurrencyTotal(_id="EUR", total=15), CurrencyTotal(_id="USD", total=7)]
    as_dicts = await aio_engine.aggregate(Account, pipeline)
    assert as_dicts == [{"_id": "EUR", "total": 15}, {"_id": "USD", "total": 7}]


async def test_aggregate_into_the_model_itself_reads_documents(aio_engine: AIOEngine) -> None:
    await aio_engine.save_all([owner("ann"), owner("bob")])
    found = await aio_engine.aggregate(Owner, [{"$sort": {"name": -1}}], output=Owner)
    assert [o.name for o in found] == ["bob", "ann"]


async def test_aggregate_sees_the_transactions_own_writes(aio_engine: AIOEngine) -> None:
    async with aio_engine.transaction() as txn:
        await txn.save(owner("ann"))
        inside = await txn.aggregate(Owner, [{"$count": "n"}])
        outside = await aio_engine.aggregate(Owner, [{"$count": "n"}])
        assert inside == [{"n": 1}]
        assert outside == []


# -- bulk saves and update by query ------------------------------------------------


async def test_save_all_writes_a_collection_in_one_bulk_write(aio_engine: AIOEngine) -> None:
    ann = owner("ann")
    accounts = [Account(owner=ann, currency="EUR", balance=i) for i in range(50)]
    await aio_engine.save_all(accounts)
    assert await aio_engine.count(Account) == 50
    assert await aio_engine.count(Owner) == 1  # the referenced owner, written once
    for account in accounts:
        assert account.__fields_modified__ == set()
    accounts[3].balance = 1000
    await aio_engine.save_all(accounts)  # only the changed instance is written
    assert (await aio_engine.find_one(Account, Account.id == accounts[3].id)).balance == 1000


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_duplicate_in_a_bulk_save_names_the_instance(
    aio_engine: AIOEngine, ordered: bool
) -> None:
    await aio_engine.configure_database([Owner])
    first, clash, last = owner("ann"), Owner(name="x", email="ann@example.com"), owner("cid")
    with pytest.raises(DuplicateKeyError) as caught:
        await aio_engine.save_all([first, clash, last], ordered=ordered)
    assert caught.value.instance is clash
    stored = {o.name for o in await aio_engine.find(Owner)}
    # Ordered writes stop at the failure; unordered ones write the rest too.
    assert stored == ({"ann"} if ordered else {"ann", "cid"})
    assert first.__fields_modified__ == set()
    assert clash.__fields_modified__ != set()
    assert (last.__fields_modified__ == set()) is (not ordered)


def with_id_of(stored: Owner, name: str) -> Owner:
    """A new instance given the id of ``stored``: saving it must overwrite, as ODMantic's upsert."""
    return Owner(id=stored.id, name=name, email=f"{name}@example.com")


@pytest.mark.parametrize("ordered", [True, False])
async def test_saving_new_instances_with_taken_ids_overwrites_the_stored_documents(
    aio_engine: AIOEngine, ordered: bool
) -> None:
    ann, bob = owner("ann"), owner("bob")
    await aio_engine.save_all([ann, bob])
    collection = aio_engine.get_collection(Owner)
    await collection.update_one({"_id": bob.id}, {"$set": {"note": "kept"}})
    batch = [owner("cid"), with_id_of(ann, "anna"), owner("dan"), with_id_of(bob, "bobby")]
    await aio_engine.save_all(batch, ordered=ordered)
    stored = {doc["_id"]: doc for doc in await collection.find({}).to_list()}
    assert sorted(doc["name"] for doc in stored.values()) == ["anna", "bobby", "cid", "dan"]
    assert stored[bob.id]["note"] == "kept"  # a $set by id, as ODMantic writes, not a replacement
    assert all(instance.__fields_modified__ == set() for instance in batch)


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_unique_clash_after_a_taken_id_fails_as_the_upserts_would(
    aio_engine: AIOEngine, ordered: bool
) -> None:
    await aio_engine.configure_database([Owner])
    ann = owner("ann")
    await aio_engine.save(ann)
    renamed, clash = (
        with_id_of(ann, "anna"),
        Owner(id=bson.ObjectId(), name="x", email="anna@example.com"),
    )
    first, last = Owner(id=bson.ObjectId(), name="cid", email="c@example.com"), owner("dan")
    with pytest.raises(DuplicateKeyError) as caught:
        await aio_engine.save_all([first, renamed, clash, last], ordered=ordered)
    assert caught.value.instance is clash
    stored = {o.name for o in await aio_engine.find(Owner)}
    assert stored == ({"cid", "anna"} if ordered else {"cid", "anna", "dan"})
    assert clash.__fields_modified__ != set()
    assert (last.__fields_modified__ == set()) is (not ordered)


def owners_with_given_ids(count: int) -> list[Owner]:
    """New owners n0, n1... whose ids were given, so that save_all only guesses they are free."""
    return [
        Owner(id=bson.ObjectId(), name=f"n{i}", email=f"n{i}@example.com") for i in range(count)
    ]


@pytest.mark.parametrize("taken_at", [10, 150])
@pytest.mark.parametrize("ordered", [True, False])
async def test_a_large_batch_overwrites_a_taken_id_wherever_it_sits(
    aio_engine: AIOEngine, taken_at: int, ordered: bool
) -> None:
    """Large batches try their first inserts on their own; the id may be taken before or after."""
    stored = owner("stored")
    await aio_engine.save(stored)
    batch = owners_with_given_ids(200)
    batch[taken_at] = with_id_of(stored, "renamed")
    batch[100] = owner("automatic")  # an insert of its own: sent twice, it would fail
    await aio_engine.save_all(batch, ordered=ordered)
    names = {o.name for o in await aio_engine.find(Owner)}
    assert names == {instance.name for instance in batch}
    assert all(instance.__fields_modified__ == set() for instance in batch)


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_unique_clash_late_in_a_large_batch_fails_as_the_upserts_would(
    aio_engine: AIOEngine, ordered: bool
) -> None:
    await aio_engine.configure_database([Owner])
    taken = owner("taken")
    await aio_engine.save(taken)
    batch = owners_with_given_ids(200)
    batch[150] = Owner(id=bson.ObjectId(), name="clash", email=taken.email)
    batch[100] = Owner(name="n100", email="n100@example.com")  # an automatic id: a plain insert
    with pytest.raises(DuplicateKeyError) as caught:
        await aio_engine.save_all(batch, ordered=ordered)
    assert caught.value.instance is batch[150]
    written = {o.name for o in await aio_engine.find(Owner)} - {"taken"}
    before, after = {f"n{i}" for i in range(150)}, {f"n{i}" for i in range(151, 200)}
    assert written == (before if ordered else before | after)
    assert all(instance.__fields_modified__ == set() for instance in batch[:150])
    assert all((instance.__fields_modified__ == set()) is (not ordered) for instance in batch[151:])


async def test_a_transaction_saving_taken_ids_upserts_and_commits(aio_engine: AIOEngine) -> None:
    """Inside a transaction a failed insert would abort it: there the upserts go at once."""
    ann, bob = owner("ann"), owner("bob")
    await aio_engine.save_all([ann, bob])
    async with aio_engine.transaction() as txn:
        await txn.save_all([with_id_of(ann, "anna"), with_id_of(bob, "bobby"), owner("cid")])
        await txn.save(owner("dan"))
    assert sorted(o.name for o in await aio_engine.find(Owner)) == ["anna", "bobby", "cid", "dan"]


def test_the_sync_engine_overwrites_taken_ids_too(sync_engine: SyncEngine) -> None:
    ann = owner("ann")
    sync_engine.save(ann)
    sync_engine.save_all([with_id_of(ann, "anna"), owner("bob")])
    assert sorted(o.name for o in sync_engine.find(Owner)) == ["anna", "bob"]


async def test_update_by_query_with_field_expressions(aio_engine: AIOEngine) -> None:
    ann = owner("ann")
    await aio_engine.save_all(
        [Account(owner=ann, currency="EUR", balance=b, tags=["x"]) for b in (1, 2, 3)]
    )
    changed = await aio_engine.update(
        Account,
        Account.balance >= 2,
        update=inc(Account.balance, 10) & push(Account.tags, "rich"),
    )
    assert changed == 2
    assert (
        await aio_engine.update(Account, Account.balance > 10, update=pull(Account.tags, "x")) == 2
    )
    found = await aio_engine.find(Account, sort=Account.balance)
    assert [(a.balance, a.tags) for a in found] == [(1, ["x"]), (12, ["rich"]), (13, ["rich"])]
    assert (
        await aio_engine.update(
            Account, Account.balance == 1, update=[set_(Account.currency, "USD")], just_one=True
        )
        == 1
    )
    assert await aio_engine.update(Account, update=add_to_set(Account.tags, "rich")) == 1
    assert await aio_engine.count(Account, Account.currency == "USD") == 1


async def test_an_update_writing_one_field_twice_is_refused_before_sending(
    aio_engine: AIOEngine,
) -> None:
    with pytest.raises(ValueError, match="twice"):
        await aio_engine.update(Account, update=set_(Account.balance, 1) & inc(Account.balance, 1))
    with pytest.raises(ValueError, match="twice"):
        set_(Owner.address, None) & set_(Owner.address.city, "Paris")
    with pytest.raises(ValueError, match="at least one"):
        await aio_engine.update(Account, update=[])


async def test_update_unset_makes_the_default_come_back(aio_engine: AIOEngine) -> None:
    ann = owner("ann")
    await aio_engine.save(ann)
    await aio_engine.update(Owner, Owner.id == ann.id, update=unset(Owner.address))
    assert (await aio_engine.find_one(Owner, Owner.id == ann.id)).address is None


# -- optimistic concurrency ------------------------------------------------------


async def test_a_stale_save_is_refused_and_the_newer_one_kept(aio_engine: AIOEngine) -> None:
    wallet = Wallet(balance=100)
    await aio_engine.save(wallet)
    assert wallet.revision == 1
    mine = await stored(aio_engine, Wallet, Wallet.id == wallet.id)
    theirs = await stored(aio_engine, Wallet, Wallet.id == wallet.id)
    theirs.balance += 50
    await aio_engine.save(theirs)
    mine.balance -= 30
    with pytest.raises(RevisionConflictError, match="revision 1"):
        await aio_engine.save(mine)
    latest = await stored(aio_engine, Wallet, Wallet.id == wallet.id)
    assert (latest.balance, latest.revision) == (150, 2)
    latest.balance -= 30
    await aio_engine.save(latest)
    assert (await aio_engine.find_one(Wallet, Wallet.id == wallet.id)).balance == 120


async def test_a_new_instance_cannot_overwrite_a_stored_one(aio_engine: AIOEngine) -> None:
    wallet = Wallet(balance=1)
    await aio_engine.save(wallet)
    impostor = Wallet(id=wallet.id, balance=999)
    with pytest.raises(RevisionConflictError):
        await aio_engine.save(impostor)
    assert (await aio_engine.find_one(Wallet, Wallet.id == wallet.id)).balance == 1


async def test_a_revision_conflict_aborts_the_transaction(aio_engine: AIOEngine) -> None:
    wallet = Wallet(balance=10)
    await aio_engine.save(wallet)
    stale = await stored(aio_engine, Wallet, Wallet.id == wallet.id)
    fresh = await stored(aio_engine, Wallet, Wallet.id == wallet.id)
    fresh.balance = 11
    await aio_engine.save(fresh)
    other = Wallet(balance=5)
    with pytest.raises(RevisionConflictError):
        async with aio_engine.transaction() as txn:
            await txn.save(other)
            stale.balance = 0
            await txn.save(stale)
    assert not txn.is_started
    assert await aio_engine.find_one(Wallet, Wallet.id == other.id) is None
    assert other.revision == 0 and "balance" in other.__fields_modified__
    assert (await aio_engine.find_one(Wallet, Wallet.id == wallet.id)).balance == 11


async def test_stale_deletes_are_refused_and_updates_count_revisions(aio_engine: AIOEngine) -> None:
    wallet = Wallet(balance=10)
    await aio_engine.save(wallet)
    await aio_engine.update(Wallet, Wallet.id == wallet.id, update=inc(Wallet.balance, 1))
    with pytest.raises(RevisionConflictError):
        await aio_engine.delete(wallet)
    fresh = await stored(aio_engine, Wallet, Wallet.id == wallet.id)
    assert (fresh.balance, fresh.revision) == (11, 2)
    with pytest.raises(ValueError, match="revision"):
        await aio_engine.update(Wallet, update=set_(Wallet.revision, 0))
    await aio_engine.delete(fresh)
    assert await aio_engine.count(Wallet) == 0


async def test_concurrent_read_modify_write_loses_no_update(aio_engine: AIOEngine) -> None:
    """Twenty tasks each add 1 with retries on conflict: the total is exactly 20."""
    import asyncio

    wallet = Wallet(balance=0)
    await aio_engine.save(wallet)
    conflicts = 0

    async def add_one() -> None:
        nonlocal conflicts
        while True:
            current = await stored(aio_engine, Wallet, Wallet.id == wallet.id)
            current.balance += 1
            await asyncio.sleep(0)
            try:
                await aio_engine.save(current)
                return
            except RevisionConflictError:
                conflicts += 1

    await asyncio.gather(*(add_one() for _ in range(20)))
    final = await aio_engine.find_one(Wallet, Wallet.id == wallet.id)
    assert (final.balance, final.revision) == (20, 21)
    assert conflicts > 0  # the race really happened


# -- references ----------------------------------------------------------------------


async def test_optional_and_list_references_round_trip_in_order(aio_engine: AIOEngine) -> None:
    ann, bob, cid = owner("ann"), owner("bob"), owner("cid")
    team = Team(name="core", lead=None, members=[cid, ann, bob])
    await aio_engine.save(team)
    assert await aio_engine.count(Owner) == 3  # members were saved first
    raw = await aio_engine.get_collection(Team).find_one({"_id": team.id})
    assert raw["members"] == [cid.id, ann.id, bob.id] and raw["lead"] is None
    loaded = await stored(aio_engine, Team, Team.name == "core")
    assert [m.name for m in loaded.members] == ["cid", "ann", "bob"]
    assert loaded.lead is None
    loaded.lead = bob
    await aio_engine.save(loaded)
    again = await aio_engine.find_one(Team, Team.id == team.id)
    assert again.lead == bob


async def test_a_list_reference_to_a_deleted_document_is_reported(aio_engine: AIOEngine) -> None:
    ann, bob = owner("ann"), owner("bob")
    await aio_engine.save(Team(name="t", members=[ann, bob]))
    await aio_engine.delete(bob)
    with pytest.raises(DocumentParsingError, match="Referenced document not found"):
        await aio_engine.find_one(Team)


async def test_lazy_references_fetch_on_demand(aio_engine: AIOEngine) -> None:
    ann, bob = owner("ann"), owner("bob")
    await aio_engine.save_all([ann, bob])
    post = Post(title="hi", author=LazyReference.of(ann), reviewers=[LazyReference.of(bob)])
    post.reviewers.append(LazyReference(Owner, ann.id))
    await aio_engine.save(post)
    raw = await aio_engine.get_collection(Post).find_one({"_id": post.id})
    assert raw["author"] == ann.id and raw["reviewers"] == [bob.id, ann.id]
    loaded = await aio_engine.find_one(Post, Post.author == ann.id)
    assert loaded.author == LazyReference(Owner, ann.id)
    assert not loaded.author.is_fetched
    fetched = await aio_engine.fetch(loaded.author)
    assert fetched == ann and loaded.author.instance is fetched
    reviewers = await aio_engine.fetch_all(loaded.reviewers)
    assert [r.name for r in reviewers] == ["bob", "ann"]
    await aio_engine.delete(bob)
    assert await aio_engine.fetch(LazyReference(Owner, bob.id)) is None
    assert loaded.model_dump(mode="json")["author"] == str(ann.id)


def test_lazy_references_refuse_other_models() -> None:
    with pytest.raises(ValueError, match="a Dog is not a Owner"):
        Post.model_validate({"title": "x", "author": Dog(name="rex")})
    assert Post.model_validate({"title": "x", "author": owner("ann")}).author.is_fetched
    by_key = Post.model_validate({"title": "x", "author": str(Owner(name="a", email="e").id)})
    assert isinstance(by_key.author.id, bson.ObjectId) and not by_key.author.is_fetched
    with pytest.raises(ValueError, match="ObjectId"):
        Post.model_validate({"title": "x", "author": "not-an-id"})


# -- hierarchies ---------------------------------------------------------------------------


async def test_a_hierarchy_shares_a_collection_and_reads_back_each_class(
    aio_engine: AIOEngine,
) -> None:
    await aio_engine.save_all(
        [Dog(name="rex"), Cat(name="tom"), Puppy(name="bit", age_weeks=8), Animal(name="generic")]
    )
    raw = await aio_engine.get_collection(Animal).find({}, {"_id": 0, "_cls": 1}).to_list()
    assert sorted(d["_cls"] for d in raw) == ["Animal", "Cat", "Dog", "puppy"]
    animals = {a.name: type(a) for a in await aio_engine.find(Animal)}
    assert animals == {"rex": Dog, "tom": Cat, "bit": Puppy, "generic": Animal}
    assert sorted(d.name for d in await aio_engine.find(Dog)) == ["bit", "rex"]
    assert await aio_engine.count(Puppy) == 1
    assert await aio_engine.update(Dog, update=set_(Dog.barks, False)) == 2
    assert await aio_engine.remove(Cat) == 1
    assert await aio_engine.count(Animal) == 3
    counts = await aio_engine.aggregate(Dog, [{"$count": "n"}])
    assert counts == [{"n": 2}]


async def test_a_document_of_an_unknown_class_is_a_parsing_error(aio_engine: AIOEngine) -> None:
    await aio_engine.get_collection(Animal).insert_one({"name": "x", "_cls": "Unicorn"})
    with pytest.raises(DocumentParsingError, match="Unicorn"):
        await aio_engine.find(Animal)


def test_a_subclass_cannot_name_another_collection() -> None:
    with pytest.raises(TypeError, match="cannot name another collection"):

        class Bird(Animal):
            model_config = {"collection": "birds"}


def test_two_classes_cannot_share_a_discriminator_value() -> None:
    with pytest.raises(TypeError, match="same discriminator_value"):

        class Kitten(Cat):
            model_config = {"discriminator_value": "puppy"}


# -- the same on SyncEngine -------------------------------------------------------------


def test_sync_engine_has_every_addition(sync_engine: SyncEngine) -> None:
    ann, bob = owner("ann"), owner("bob")
    sync_engine.save_all([ann, bob, Dog(name="rex"), Cat(name="tom")])
    assert [
        o.name for o in sync_engine.find(Owner, sort=desc(Owner.name), projection=OwnerName)
    ] == [
        "bob",
        "ann",
    ]
    assert sync_engine.find_one(Owner, Owner.name == "ann", projection=[Owner.email])["email"] == (
        "ann@example.com"
    )
    assert list(sync_engine.aggregate(Animal, [{"$count": "n"}])) == [{"n": 2}]
    assert [type(a).__name__ for a in sync_engine.find(Animal, sort=Animal.name)] == ["Dog", "Cat"]
    assert sync_engine.update(Owner, Owner.name == "bob", update=set_(Owner.name, "rob")) == 1
    post = Post(title="p", author=LazyReference.of(ann))
    sync_engine.save(post)
    loaded = sync_engine.find_one(Post)
    assert sync_engine.fetch(loaded.author) == ann
    wallet = Wallet(balance=1)
    sync_engine.save(wallet)
    stale = sync_engine.find_one(Wallet)
    assert stale is not None
    wallet.balance = 2
    sync_engine.save(wallet)
    stale.balance = 3
    with sync_engine.session() as session, pytest.raises(RevisionConflictError):
        session.save(stale)
    with pytest.raises(RevisionConflictError), sync_engine.transaction() as txn:
        sync_engine.save(stale, session=txn)
    assert not txn.is_started
    team = Team(name="t", members=[bob, ann])
    sync_engine.save(team)
    assert [m.name for m in sync_engine.find_one(Team).members] == ["rob", "ann"]


async def test_every_addition_joins_a_session(mongodb_url: str, mongodb_database_name: str) -> None:
    """Session-level spellings pass the session on (checked by reading inside a transaction)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    engine = AIOEngine(client, mongodb_database_name)
    try:
        ann = owner("ann")
        async with engine.transaction() as txn:
            await txn.save_all([ann, Dog(name="rex")], ordered=False)
            assert await txn.update(Owner, update=set_(Owner.name, "anna")) == 1
            assert [o.name for o in await txn.find(Owner)] == ["anna"]
            post = Post(title="p", author=LazyReference(Owner, ann.id))
            await txn.save(post)
            assert (await txn.fetch(LazyReference(Owner, ann.id))).name == "anna"
            assert [o.name for o in await txn.fetch_all([LazyReference(Owner, ann.id)])] == ["anna"]
            assert await engine.count(Owner) == 0  # nothing visible outside before commit
        assert await engine.count(Owner) == 1
    finally:
        await client.close()


def test_only_untouched_new_instances_are_inserted() -> None:
    """An insert equals ODMantic's upsert only while no stored document has the id."""
    from odmantic_fastapi._save_plan import plan_saves

    def sent(instance: Model) -> str:
        return type(plan_saves([instance])[0].writes[0].operation()).__name__

    assert sent(owner("ann")) == "InsertOne"
    given_id = Owner(id=owner("x").id, name="b", email="b@example.com")
    (write,) = plan_saves([given_id])[0].writes
    assert write.guess  # an insert that only guesses the id is free; upserted in transactions
    assert write.upsert_parts() == (
        {"_id": given_id.id},
        {"$set": {"name": "b", "email": "b@example.com", "address": None}},
    )
    copied = owner("cid").model_copy()
    assert sent(copied) == "UpdateOne"
    changed = owner("dan")
    changed.name = "daniel"
    assert sent(changed) == "UpdateOne"


async def test_saving_a_copy_of_a_stored_instance_overwrites_it(aio_engine: AIOEngine) -> None:
    ann = owner("ann")
    await aio_engine.save(ann)
    copy = ann.model_copy(update={"name": "anna"})
    await aio_engine.save(copy)
    assert [o.name for o in await aio_engine.find(Owner)] == ["anna"]
