"""Request bodies as clients send them."""
import csv
import io


def kind_value_csv(rows) -> str:
    """A `kind,value` CSV (header first) of (kind, value) rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "value"])
    writer.writerows(rows)
    return out.getvalue()
