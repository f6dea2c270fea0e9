import json

from apps.core.commands import TakedownCommand
from apps.mirrors.selectors import mirror_status


class Command(TakedownCommand):
    help = "List each mirror with the blocklist versions it has acknowledged."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="machine-readable output")

    def handle(self, *args, as_json: bool, **options):
        rows = mirror_status()
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No mirrors yet (python manage.py create_mirror NAME --subscribe DATASET)")
        for row in rows:
            state = "active" if row["active"] else "disabled"
            self.stdout.write(f"{row['name']} ({state}; last seen {row['last_seen_at'] or 'never'})")
            for rel in row["releases"]:
                applied = f"v{rel['latest_applied']}" if rel["latest_applied"] else "nothing"
                self.stdout.write(f"  {rel['dataset']}/{rel['release']}: published v{rel['latest_published'] or '-'}, "
                                  f"applied {applied}, lag {rel['lag']}")
