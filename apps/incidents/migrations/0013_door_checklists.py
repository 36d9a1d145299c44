"""Default SOP checklists for door forced, tailgating and lost credential incidents; admins
edit them on the checklist pages. A kind that already has a checklist keeps it."""

from django.db import migrations

CHECKLISTS = {
    "door_forced": (
        "Door forced: check, secure, verify",
        [
            ("Look at the door camera's frame on this page", True),
            ("Send a guard to the door", True),
            ("Check whether anyone entered and who (camera, events after it)", True),
            ("Check the door is closed and locked again", True),
            ("Call the police if there was a break-in", False),
        ],
    ),
    "tailgating": (
        "Tailgating: identify, verify",
        [
            ("Look at the door camera's frame: how many people passed", True),
            ("Identify the person who was granted and who followed", True),
            ("Send a guard to check the person who followed", False),
            ("Remind the badge holder not to let others in", False),
        ],
    ),
    "credential_misuse": (
        "Lost, suspended or revoked credential used",
        [
            ("Look at the door camera's frame: who showed the credential", True),
            ("Send a guard to the door", True),
            ("Contact the credential's owner", True),
            ("Keep the credential blocked; issue a new one if the owner needs it", False),
        ],
    ),
}


def add(apps, schema_editor):
    Checklist = apps.get_model("incidents", "Checklist")
    ChecklistStep = apps.get_model("incidents", "ChecklistStep")
    for kind, (title, steps) in CHECKLISTS.items():
        checklist, created = Checklist.objects.get_or_create(kind=kind, defaults={"title": title})
        if not created:
            continue
        for position, (text, mandatory) in enumerate(steps):
            ChecklistStep.objects.create(
                checklist=checklist, position=position, text=text, mandatory=mandatory
            )


def remove(apps, schema_editor):
    Checklist = apps.get_model("incidents", "Checklist")
    for kind, (title, _) in CHECKLISTS.items():
        Checklist.objects.filter(kind=kind, title=title).delete()


class Migration(migrations.Migration):
    dependencies = [("incidents", "0012_door_incidents")]

    operations = [migrations.RunPython(add, remove)]
