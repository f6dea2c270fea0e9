"""The edge of every request: a URL holding a control character or a lone surrogate, or longer than
validation.MAX_URL_CHARS, goes no further.

Such a URL names nothing (PostgreSQL cannot even compare with a NUL), so it is
answered before any view or the database sees it, the same on every database:
404 for the path, 400 naming the query parameter. Both in the API's JSON shape
under /api/ (apps.core.api.exceptions), Django's pages elsewhere.
"""
from django.http import Http404, HttpResponse, JsonResponse

from apps.core import validation
from apps.core.api.exceptions import API_PREFIX, bad_request


class BadQuery(ValueError):
    """A query parameter the edge refuses; the message names it."""


class EdgeInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = len(request.get_full_path())
        if length > validation.MAX_URL_CHARS:
            detail = f"the URL is {length:,} characters long; at most {validation.MAX_URL_CHARS:,} are accepted"
            if request.path.startswith(API_PREFIX):
                return JsonResponse({"detail": detail}, status=414)
            return HttpResponse(detail, status=414, content_type="text/plain; charset=utf-8")
        problem = validation.text_problem(request.path)
        if problem:
            raise Http404(f"the URL path {problem}: no such resource")
        for name, values in request.GET.lists():
            problem = validation.text_problem(name)
            if problem:
                return bad_request(request, BadQuery(f"a query parameter name {problem}"))
            for value in values:
                problem = validation.text_problem(value, free_text=True)
                if problem:
                    return bad_request(request, BadQuery(f"query parameter {name}: {problem}"))
        return self.get_response(request)
