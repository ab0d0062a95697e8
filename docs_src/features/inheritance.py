"""Features: a model hierarchy stored in one collection."""

from odmantic_fastapi import AIOEngine, Model


class Animal(Model):
    name: str
    model_config = {"collection": "animals", "discriminator_key": "_cls"}


class Dog(Animal):
    barks: bool = True


class Cat(Animal):
    model_config = {"discriminator_value": "cat"}
    lives: int = 9


async def read_back(engine: AIOEngine) -> tuple[list[Animal], list[Dog]]:
    await engine.save_all([Dog(name="Rex"), Cat(name="Tom")])
    animals = await engine.find(Animal)  # a Dog and a Cat
    dogs = await engine.find(Dog)  # the filter {"_cls": "Dog"} is added for you
    return animals, dogs
