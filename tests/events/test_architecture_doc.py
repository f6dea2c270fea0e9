"""docs/architecture.md lists the events as the code declares them, and who handles each."""
from pathlib import Path


def test_the_architecture_page_lists_the_events_the_code_declares(run_command):
    out, _ = run_command("events", "--markdown")
    page = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    documented = page.split("<!-- events:start -->\n", 1)[1].split("<!-- events:end -->", 1)[0]
    assert documented.strip() == out.strip(), "run `manage.py events --markdown` and paste it into the page"


def test_the_events_command_names_each_events_producer_and_handlers(run_command):
    out, _ = run_command("events")
    assert "request.approved (removals) -> matching.match_request" in out
    assert "blocklist.published (blocklists) -> mirrors.announce" in out
