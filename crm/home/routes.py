"""Each user's home page and its JSON twin."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from crm.core.db import SessionDep
from crm.core.i18n import request_zone
from crm.core.templating import render
from crm.home import guide
from crm.home import search as search_service
from crm.home import service as home_service
from crm.home.models import Home, SearchResults
from crm.users.deps import AdminUser, CurrentUser

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["home"])


@router.get("/", response_class=HTMLResponse)
def home_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    found = home_service.home(session, user=user, time_zone=request_zone(request))
    return render(request, "home/page.html", {"home": found})


@router.post("/home/checklist/dismiss")
def dismiss_checklist(session: SessionDep, user: AdminUser) -> RedirectResponse:
    home_service.dismiss_checklist(session, user=user)
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=200)] = "",
    purpose: Annotated[str, Query(alias="for", pattern="^(|log)$")] = "",
) -> HTMLResponse:
    """Results grouped by kind; as you type, htmx asks for the results block alone. For
    "log", a contact's result opens its page at the quick log."""
    found = search_service.search(session, q=q)
    return render(request, "home/search.html", {"results": found, "for_log": purpose == "log"})


@router.get("/search/pick", response_class=HTMLResponse)
def pick_results(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    kind: Annotated[str, Query(pattern="^(contacts|companies)$")],
    field: Annotated[str, Query(pattern="^[a-z_]{1,40}$")],
    find: Annotated[str, Query(max_length=200)] = "",
    required: bool = False,
) -> HTMLResponse:
    """A form's finder: the contacts or companies matching ``find``, as radio buttons
    named ``field``, so that the form sends the chosen one's id."""
    found = search_service.search(session, q=find, kinds=frozenset({kind}))
    hits = found.contacts if kind == "contacts" else found.companies
    return render(
        request,
        "home/pick.html",
        {"results": found, "hits": hits, "field": field, "required": required},
    )


@router.get("/help", response_class=HTMLResponse)
def help_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, "home/help.html")


@router.get("/help/guide/{language}", response_class=HTMLResponse)
def guide_page(request: Request, user: CurrentUser, language: str) -> HTMLResponse:
    return render(
        request,
        "home/guide.html",
        {"guide": guide.guide_html(language), "guide_language": language},
    )


@api_router.get("/search", response_model=SearchResults)
def api_search(
    session: SessionDep, user: CurrentUser, q: Annotated[str, Query(max_length=200)]
) -> SearchResults:
    """Contacts (by name, e-mail, phone or company), companies and deals matching ``q``,
    five of each; fewer than two characters find nothing."""
    return search_service.search(session, q=q)


@api_router.get("/home", response_model=Home)
def api_home(request: Request, session: SessionDep, user: CurrentUser) -> Home:
    """What the user works on today: one section per role they hold (sales, account,
    privacy, admin, in that order), and the first-run checklist for administrators."""
    return home_service.home(session, user=user, time_zone=request_zone(request))


@api_router.post("/home/checklist/dismiss", status_code=status.HTTP_204_NO_CONTENT)
def api_dismiss_checklist(session: SessionDep, user: AdminUser) -> None:
    home_service.dismiss_checklist(session, user=user)
