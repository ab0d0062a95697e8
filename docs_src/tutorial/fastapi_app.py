"""Tutorial step 5: a FastAPI app whose routes run in the request's transaction.

Run it with ``MONGODB_URL=embedded:// uvicorn docs_src.tutorial.fastapi_app:app``.
"""

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, PositiveInt

from odmantic_fastapi import EngineDep, Field, Model, SyncEngineDep, TransactionDep, install


class Account(Model):
    owner: str = Field(unique=True)
    balance: int = Field(default=0, ge=0)


class Movement(Model):
    owner: str
    amount: int


class TransferIn(BaseModel):
    source: str
    target: str
    amount: PositiveInt


app = FastAPI()
# Reads MONGODB_URL and MONGODB_DATABASE; creates the models' indexes at startup.
install(app, models=[Account, Movement])


@app.post("/accounts/{owner}", status_code=201)
async def open_account(owner: str, tx: TransactionDep) -> Account:
    return await tx.save(Account(owner=owner))


@app.post("/accounts/{owner}/deposit")
async def deposit(owner: str, amount: int, tx: TransactionDep) -> Account:
    account = await tx.find_one(Account, Account.owner == owner)
    if account is None:
        raise HTTPException(404, "no such account")
    account.model_update(balance=account.balance + amount)
    await tx.save(Movement(owner=owner, amount=amount))
    return await tx.save(account)


@app.post("/transfers")
async def transfer(body: TransferIn, tx: TransactionDep) -> list[Account]:
    source = await tx.find_one(Account, Account.owner == body.source)
    target = await tx.find_one(Account, Account.owner == body.target)
    if source is None or target is None:
        raise HTTPException(404, "no such account")
    target.model_update(balance=target.balance + body.amount)
    await tx.save(target)  # written in the transaction, not yet committed
    await tx.save(Movement(owner=target.owner, amount=body.amount))
    if source.balance < body.amount:
        # 409 aborts the transaction: the credit and the movement above disappear.
        raise HTTPException(409, "insufficient funds")
    source.model_update(balance=source.balance - body.amount)
    await tx.save(source)
    await tx.save(Movement(owner=source.owner, amount=-body.amount))
    return [source, target]  # 200 commits all four writes


@app.get("/accounts/{owner}")
async def read_account(owner: str, engine: EngineDep) -> Account:
    account = await engine.find_one(Account, Account.owner == owner)
    if account is None:
        raise HTTPException(404, "no such account")
    return account


@app.get("/accounts/{owner}/movements")
def movements(owner: str, engine: SyncEngineDep) -> list[int]:
    # A def route runs in a worker thread: it gets the synchronous engine.
    return [m.amount for m in engine.find(Movement, Movement.owner == owner, sort=Movement.id)]
