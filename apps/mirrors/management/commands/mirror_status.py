import json

from apps.core.commands import TakedownCommand
from apps.mirrors.deadlines import duration_text
from apps.mirrors.selectors import mirror_status


class Command(TakedownCommand):
    help = ("List each mirror with, per release it holds, the versions published and applied, how far behind it is, "
            "how long it took to acknowledge, and whether it is past its acknowledgement deadline.")

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
            state = "active" if row["active"] else f"disabled: {row['disabled_reason']}"
            self.stdout.write(f"{row['name']} ({state}; last seen {row['last_seen_at'] or 'never'})")
            if not row["releases_recorded"]:
                self.stdout.write(f"  releases held: not recorded, so every release of "
                                  f"{', '.join(row['datasets']) or 'its datasets'} is counted (record them in the "
                                  "admin: Mirrors > the mirror > Releases held)")
            for rel in row["releases"]:
                applied = f"v{rel['latest_applied']}" if rel["latest_applied"] else "nothing"
                line = (f"  {rel['dataset']}/{rel['release']}: published v{rel['latest_published'] or '-'}, "
                        f"applied {applied}, lag {rel['lag']} ({duration_text(rel['lag_seconds'])}), "
                        f"acknowledged in {duration_text(rel['time_to_acknowledge_seconds'])}")
                if rel["overdue"]:
                    line += (f", {'ESCALATED ' if rel['escalated'] else ''}OVERDUE: v{rel['overdue_version']} "
                             f"was due {rel['deadline'][:16]} UTC")
                self.stdout.write(line)
