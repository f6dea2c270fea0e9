import json

from apps.advisories.selectors import advisories_list, model_get
from apps.core.commands import TakedownCommand


class Command(TakedownCommand):
    help = "List the advisories of registered models (newest first): what removals took from their training data."

    def add_arguments(self, parser):
        parser.add_argument("--model", default="", metavar="NAME", help="only this model's advisories")
        parser.add_argument("--json", action="store_true", help="one JSON array instead of a table")

    def handle(self, *args, model, **options):
        advisories = advisories_list(model=model_get(name=model) if model else None)
        rows = [{
            "advisory": a.advisory_id, "model": a.model.name, "release": str(a.release), "version": a.blocklist.version,
            "removed": a.removed_count, "categories": a.categories, "status": a.status,
            "deadline": a.deadline.strftime("%Y-%m-%dT%H:%M:%SZ"), "document_version": a.document_version,
        } for a in advisories]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No advisories" + (f" for model {model}." if model else "."))
            return
        header = ("model", "release", "version", "removed", "categories", "status", "deadline")
        table = [header] + [(r["model"], r["release"], f"v{r['version']}", str(r["removed"]),
                             ", ".join(f"{k} {v}" for k, v in r["categories"].items()) or "-", r["status"],
                             r["deadline"]) for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        for line in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())

