"""The public pages on a phone: nothing wider than a 390-px screen, in a real browser."""
import pytest
from django.core.cache import cache

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("path", ["/", "/report/", "/report/?category=copyright", "/report/status/",
                                  "/transparency/", "/transparency/?period=2025-Q1"])
def test_it_fits_a_390_px_screen(page, live_server, settings, path):
    settings.OPERATOR_NAME = "Open Images Collective for Responsible Research"
    page.set_viewport_size(PHONE)

    page.goto(f"{live_server.url}{path}")

    widest = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(el => el.getBoundingClientRect().right > 390.5)
        .filter(el => !el.closest('.scroll'))
        .map(el => el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : ''))
        .slice(0, 5)""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, widest


def test_the_transparency_report_s_wide_tables_scroll_inside_their_own_box(page, live_server):
    page.set_viewport_size(PHONE)

    page.goto(f"{live_server.url}/transparency/")

    box = page.get_by_role("region", name="Outcomes by category")
    sizes = box.evaluate("el => [el.scrollWidth, el.clientWidth, el.getBoundingClientRect().right]")
    assert sizes[0] > sizes[1] and sizes[2] <= 390  # wider than the screen, scrolled within the box
    box.evaluate("el => el.scrollLeft = el.scrollWidth")
    assert box.evaluate("el => el.scrollLeft") > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
