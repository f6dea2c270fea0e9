from apps.core.commands import TakedownCommand
from apps.events import registry
from apps.events.selectors import background_health


class Command(TakedownCommand):
    help = ("List the events the stages record and the handlers subscribed to each (as a Markdown table with "
            "--markdown), or the state of background work with --status.")

    def add_arguments(self, parser):
        parser.add_argument("--markdown", action="store_true", help="a table for docs/architecture.md")
        parser.add_argument("--status", action="store_true", help="runs waiting, retrying, dead; workers seen")

    def handle(self, *args, markdown, status, **options):
        if status:
            health = background_health()
            self.stdout.write(f"waiting {health.pending}, retrying {health.retrying}, running {health.running}, "
                              f"dead {health.dead}; workers alive {health.workers_alive}")
            for problem in health.problems:
                self.stdout.write(f"problem: {problem}")
            return
        rows = [(e.name, e.producer, ", ".join(h.name for h in registry.handlers_for(e.name)) or "-", e.description)
                for e in registry.event_types() if e.producer != "tests"]
        if markdown:
            self.stdout.write("| event | recorded by | handled by | what happened |")
            self.stdout.write("|---|---|---|---|")
            for row in rows:
                self.stdout.write("| " + " | ".join(f"`{row[0]}`" if i == 0 else row[i] for i in range(4)) + " |")
            return
        for name, producer, handlers, description in rows:
            self.stdout.write(f"{name} ({producer}) -> {handlers}\n    {description}")
