"""Train and activate the chat's intent model from the seed set; optionally load the seed FAQ."""

from django.core.management.base import BaseCommand

from apps.qa.services import faq_seed_install, intents_install


class Command(BaseCommand):
    help = (
        "Train the chat's intent classifier (question, report, emergency, chit-chat) from "
        "apps/qa/data/intents_seed.csv on the configured embedder and make it active, unless "
        "one is active for that embedder. --faq also loads the bundled campus FAQ into an "
        "empty knowledge base."
    )

    def add_arguments(self, parser):
        parser.add_argument("--faq", action="store_true", help="load the seed FAQ if empty")
        parser.add_argument("--retrain", action="store_true", help="train a new version")

    def handle(self, *args, faq: bool, retrain: bool, **options):
        version = intents_install(retrain=retrain)
        self.stdout.write(f"intents: {version.label} (active)")
        if faq:
            self.stdout.write(f"FAQ entries loaded: {faq_seed_install()}")
