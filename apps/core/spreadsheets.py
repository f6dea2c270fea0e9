"""CSV for people who open it in a spreadsheet program."""


def csv_cell(value: object) -> str:
    """A cell as text, with a leading quote when a spreadsheet would otherwise run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
