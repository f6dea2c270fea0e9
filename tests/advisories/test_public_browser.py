"""The public index of models on a phone, in a real browser: reached from the landing page, nothing wider than a
390-px screen (a wide table scrolls inside its own box)."""
import pytest

from apps.advisories.services import model_register
from apps.datasets.selectors import release_samples
from tests.advisories.support import remove

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def listed(release, operator):
    keys = [s["key"] for s in release_samples(release=release, limit=10)]
    model_register(name="clip-vit-bigg-14-laion2b-39b-b160k-finetuned-on-product-photos-v3", trained_on=[release],
                   actor=operator, owner_org="Open Vision Research Laboratory of Somewhere Far Away",
                   hf_repo_id="open-vision-research/clip-vit-bigg-14-laion2b-39b-b160k-finetuned")
    model_register(name="hidden", trained_on=[release], actor=operator, public=False)
    remove(operator, release, keys[:3], category="csam")
    remove(operator, release, keys[3:5], category="privacy")


def test_the_index_is_linked_from_the_landing_page_and_fits_a_390_px_screen(page, live_server, settings, listed):
    settings.OPERATOR_NAME = "Open Images Collective for Responsible Research"
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/")

    page.get_by_role("link", name="Models trained on our datasets").click()

    page.wait_for_url(f"{live_server.url}/advisories/")
    assert page.get_by_role("heading", name="Models trained on our datasets").is_visible()
    table = page.get_by_role("region", name="Models trained on demo/2026-11")
    assert "legal 3, privacy 2" in table.inner_text()
    assert "1 model not listed" in page.inner_text("main")
    widest = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(el => el.getBoundingClientRect().right > 390.5)
        .filter(el => !el.closest('.scroll'))
        .map(el => el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : ''))
        .slice(0, 5)""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, widest
    assert table.evaluate("el => el.getBoundingClientRect().right") <= 390
