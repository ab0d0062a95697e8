"""Features: optional, list and lazy references."""

from docs_src.features.models import Owner
from odmantic_fastapi import AIOEngine, LazyReference, Model, Reference


# --8<-- [start:eager]
class Team(Model):
    name: str
    lead: Owner | None = Reference()
    members: list[Owner] = Reference()


# --8<-- [end:eager]


# --8<-- [start:lazy]
class Post(Model):
    title: str
    author: LazyReference[Owner]
    reviewers: list[LazyReference[Owner]] = []


async def author_and_reviewers(
    engine: AIOEngine, ann: Owner, bob: Owner
) -> tuple[Owner | None, list[Owner]]:
    post = Post(title="Hello", author=LazyReference.of(ann), reviewers=[LazyReference.of(bob)])
    await engine.save(post)  # saves the post only: the owners must be saved already
    author = await engine.fetch(post.author)
    reviewers = await engine.fetch_all(post.reviewers)
    return author, reviewers


# --8<-- [end:lazy]
