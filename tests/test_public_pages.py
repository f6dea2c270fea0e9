"""The public side: a landing page at / that names the operator and leads to every public page, and back."""
import pytest

pytestmark = pytest.mark.django_db

PUBLIC_PAGES = ["/", "/report/", "/report/?category=copyright", "/report/status/", "/transparency/",
                "/advisories/"]


@pytest.fixture
def named_operator(settings):
    settings.OPERATOR_NAME = "Open Images Collective"
    settings.OPERATOR_URL = "https://collective.example.org/"
    settings.OPERATOR_CONTACT = "takedown@collective.example.org"


def test_it_names_the_operator_says_what_this_is_and_leads_to_every_public_page(client, named_operator):
    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Removal requests for the datasets of Open Images Collective" in page
    assert "<title>Removal requests · Open Images Collective</title>" in page
    assert '<a href="https://collective.example.org/">Open Images Collective</a>' in page
    assert "ask for samples to be removed from those datasets" in page
    assert '<a href="mailto:takedown@collective.example.org">takedown@collective.example.org</a>' in page
    for href in ('href="/report/"', 'href="/report/status/"', 'href="/transparency/"'):
        assert href in page
    assert '<a href="/admin/" rel="nofollow">Staff sign-in</a>' in page


def test_with_no_operator_settings_it_names_a_generic_publisher_and_no_contact(client):
    page = client.get("/").content.decode()

    assert "Removal requests for the datasets of The dataset publisher" in page
    assert "mailto:" not in page and "Contact:" not in page


def test_a_contact_web_address_is_linked_as_is(client, settings):
    settings.OPERATOR_CONTACT = "https://collective.example.org/contact"

    page = client.get("/").content.decode()

    assert '<a href="https://collective.example.org/contact">https://collective.example.org/contact</a>' in page


def test_it_no_longer_sends_visitors_to_the_admin_login(client):
    response = client.get("/")

    assert response.status_code == 200
    assert "/admin/login" not in response.get("Location", "")


def test_it_accepts_no_post(client):
    assert client.post("/").status_code == 405


@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_every_public_page_names_the_operator_and_links_home(client, named_operator, url):
    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<a class="brand" href="/">Open Images Collective</a>' in page
    assert 'This service is run by <a href="https://collective.example.org/">Open Images Collective</a>' in page
    for href in ('href="/report/"', 'href="/report/status/"', 'href="/transparency/"'):
        assert href in page
