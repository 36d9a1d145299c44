"""Small builders for door-access tests: a controller with its key, a door with an in and an
out reader, a person with a badge, a rule."""

from apps.access.models import (
    AccessRule,
    Controller,
    Credential,
    Door,
    Person,
    PersonGroup,
    Reader,
    Site,
)
from apps.core.services import apikey_create


def controller_with_key(name: str = "Controller A") -> tuple[Controller, str]:
    """A controller and the plaintext of its key (send as `Authorization: Api-Key <key>`)."""
    key, plaintext = apikey_create(name=f"controller {name}")
    return Controller.objects.create(name=name, api_key=key), plaintext


def door_make(
    *, controller: Controller | None, name: str = "Lab door", zone: str = "north", **fields
) -> Door:
    """A door with two readers, coded `<name>-in` and `<name>-out`."""
    site, _ = Site.objects.get_or_create(name="Main campus")
    door = Door.objects.create(site=site, name=name, zone=zone, controller=controller, **fields)
    Reader.objects.create(door=door, code=f"{name}-in", direction="in")
    Reader.objects.create(door=door, code=f"{name}-out", direction="out")
    return door


def person_with_badge(
    number: str = "B100", *, groups=(), kind: str = "badge", credential_fields=None, **fields
) -> tuple[Person, Credential]:
    person = Person.objects.create(name=fields.pop("name", f"Person {number}"), **fields)
    if groups:
        person.groups.set(groups)
    credential = Credential.objects.create(
        person=person, kind=kind, number=number, **(credential_fields or {})
    )
    return person, credential


def group_make(name: str = "staff") -> PersonGroup:
    return PersonGroup.objects.get_or_create(name=name)[0]


def rule_make(*, groups, doors=(), zones=(), schedule=None, name: str = "", **fields) -> AccessRule:
    rule = AccessRule.objects.create(
        name=name or f"rule {AccessRule.objects.count() + 1}",
        zones=list(zones),
        schedule=schedule,
        **fields,
    )
    rule.groups.set(groups)
    if doors:
        rule.doors.set(doors)
    return rule
