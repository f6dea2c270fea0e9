"""Every console and admin page, as each staff role: no server error, and no link to a page the role cannot open.

A breadth-first crawl from /admin/ (and every registered model's list, add page, and its objects' change and
history pages) follows each same-site link under /admin/ and /account/, GET only, on a populated console (the
restricted-canary world and tests.support.world). It is driven by the links, so pages added later are crawled
too. A link counts as one the role cannot open when following it answers 403 or 404, or redirects to the login
page or back to the admin's index (how the admin turns away a missing object or a refused download).
"""
import html
import re
import time
from collections import deque
from urllib.parse import parse_qsl, urldefrag, urljoin, urlsplit

import pytest
from django.contrib import admin
from django.db.models import Model
from django.urls import NoReverseMatch, reverse

from tests.console.test_restricted_canary import world  # noqa: F401  (the fixture)
from tests.support.world import populate

ROLES = {"intake": ("intake",), "reviewer": ("reviewer",), "legal": ("legal",), "admin": ("admin",),
         # restricted is added to another role (apps.core.roles): alone it opens nothing.
         "restricted": ("reviewer", "restricted"), "superuser": None}
# Where staff pages live; anything else (the public pages, static files) is not crawled.
CRAWLED = ("/admin/", "/account/")
# Links not followed: they end the session, or are not pages.
SKIP = re.compile(r"^/admin/logout/|/jsi18n/|[?&]_popup=")
OBJECTS_PER_MODEL = 2  # change and history pages seeded per model (besides the world's notable objects)
# Concrete URLs opened per link shape (the path with ids as <n>, and whether a filter is applied): the same page
# for another object, or filtered otherwise, rarely differs in its links; a role's crawl stays near 10 s.
VARIANTS = 3
MAX_PAGES = 400


@pytest.fixture
def console(world, release, operator):  # noqa: F811  (world is the canary fixture imported above)
    return {**world, **populate(release=release, operator=operator)}


def _object_pages(obj) -> list[str]:
    info = f"admin:{obj._meta.app_label}_{obj._meta.model_name}"
    try:
        return [reverse(f"{info}_{view}", args=[obj.pk]) for view in ("change", "history")]
    except NoReverseMatch:
        return []


def _seeds(notable) -> list[str]:
    urls = ["/admin/"]
    for obj in notable:
        urls += _object_pages(obj)
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls += [reverse(f"{info}_changelist"), reverse(f"{info}_add")]
        for obj in model._default_manager.order_by("-pk")[:OBJECTS_PER_MODEL]:
            urls += _object_pages(obj)
    return list(dict.fromkeys(urls))


# Query parameters that change how a list is shown, not what it holds.
_PRESENTATION = {"o", "_facets", "p", "_changelist_filters"}


def _shape(url: str) -> tuple:
    parts = urlsplit(url)
    names = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)} - _PRESENTATION
    # Filters combine without end: a list filtered by any of them is one shape.
    return re.sub(r"/\d+/", "/<n>/", parts.path), bool(names)


def _links(page_url: str, body: str) -> set[str]:
    found = set()
    for href in re.findall(r"<a\s[^>]*?href=\"([^\"]*)\"", body):
        url = urldefrag(urljoin(page_url, html.unescape(href)))[0]
        parts = urlsplit(url)
        if parts.netloc not in ("", "testserver"):
            continue
        url = parts.path + (f"?{parts.query}" if parts.query else "")
        if url.startswith(CRAWLED) and not SKIP.search(url):
            found.add(url)
    return found


def _refused(url: str, response) -> str:
    """Why a response turns the role away ('' when it does not)."""
    if response.status_code in (403, 404):
        return str(response.status_code)
    if response.status_code in (301, 302):
        target = urlsplit(response["Location"]).path
        if target.startswith("/admin/login/"):
            return "redirect to login"
        if target == "/admin/" and urlsplit(url).path != "/admin/":
            return "redirect to the index"
    return ""


def crawl(client, notable) -> dict:
    """{url: (status, refused, links)} for every page opened: the seeds, then breadth-first every link of a shape
    not yet opened VARIANTS times."""
    pages: dict[str, tuple[int, str, set[str]]] = {}
    seeds = _seeds(notable)
    queue, queued, shapes = deque(seeds), set(seeds), {}
    for url in seeds:
        shapes[_shape(url)] = shapes.get(_shape(url), 0) + 1
    while queue and len(pages) < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        links = set()
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            links = _links(url, response.content.decode(errors="replace"))
        elif response.status_code in (301, 302) and not _refused(url, response):
            links = _links(url, f'<a href="{response["Location"]}">')
        pages[url] = (response.status_code, _refused(url, response), links)
        for link in sorted(links - queued):
            if shapes.get(_shape(link), 0) < VARIANTS:
                shapes[_shape(link)] = shapes.get(_shape(link), 0) + 1
                queued.add(link)
                queue.append(link)
    return pages


def test_every_page_opens_for_each_role_and_links_only_to_pages_it_can_open(client, console, staff_with,
                                                                           django_user_model):
    notable = [v for v in console.values() if isinstance(v, Model)]
    offenders, crawled = [], []
    for role, held in ROLES.items():
        user = (django_user_model.objects.create_superuser("crawl-superuser", "su@host.example", "unused")
                if held is None else staff_with(f"crawl-{role}", *held))
        client.force_login(user)
        started = time.monotonic()
        pages = crawl(client, notable)
        crawled.append(f"{role}: {len(pages)} pages in {time.monotonic() - started:.1f} s")
        offenders += [f"as {role}: {status} {url}" for url, (status, _, _) in pages.items() if status >= 500]
        offenders += [f"as {role}: {url} links to {link} ({pages[link][1]})" for url, (_, _, links) in pages.items()
                      for link in sorted(links) if link in pages and pages[link][1]]
        client.logout()

    assert not offenders, "\n".join([*offenders, "", *crawled])
    assert all(int(line.split(": ")[1].split()[0]) > 100 for line in crawled), crawled  # it reached the console
