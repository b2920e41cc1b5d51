"""The member portal: server-rendered pages for a member's staff, at ``/portal``.

A layer over ``api``: it signs people in (``users``, ``sessions``), renders pages
(``pages``, ``templates``, ``i18n``) and acts only through the REST API, called in process
(``member_api``), so no business rule lives here twice. It may import ``api`` and
``chain.errors``; nothing in ``api`` imports it except the app factory's one call to
``mount_portal``. See docs/decisions/0015-member-portal-server-rendered.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.body_limits import BodyLimits, BodyRules
from api.portal import (
    approval_pages,
    audit_pages,
    certificate_pages,
    explorer_pages,
    financing_pages,
    governance_pages,
    inbox_pages,
    invoice_pages,
    issued_pages,
    live_pages,
    maker_checker_api,
    pages,
    risk_pages,
    settlement_pages,
    users_api,
)
from api.portal.credit_pages import router as credit_router
from api.portal.member_api import ApiRefusal
from api.portal.pages import PREFIX, STATIC, Portal
from api.portal.security import SecurityHeaders
from api.portal.settings import PortalSettings, get_portal_settings
from api.services.container import ApiServices
from api.settings import Settings

# the POSTs that answer an invitation code (and a TOTP secret): the idempotency layer
# keeps their answers sealed
PORTAL_SECRET_ANSWERS = (
    users_api.router.prefix,
    users_api.router.prefix + users_api.INVITATIONS,
)


class _PortalBodies(BodyRules):
    """The API's body limits for the portal's forms; the portal authenticates its own
    users (session cookie), so no body waits for API credentials."""

    def credentials_first(self, scope: Scope) -> bool:
        return False


class PortalDispatch:
    """Outermost layer: ``/portal`` goes to the portal, ``/`` to its sign-in, the rest to
    the API, whose member-write layers (credentials first, idempotency) the portal's forms
    do not pass through — its in-process API calls do, like any client's."""

    def __init__(self, app: ASGIApp, portal: ASGIApp) -> None:
        self.app = app
        self._portal = portal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path == "/" and scope["method"] in ("GET", "HEAD"):
            await RedirectResponse(f"{PREFIX}/", status_code=307)(scope, receive, send)
        elif scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            # the portal's routes are relative to its prefix (Starlette strips root_path)
            await self._portal({**scope, "root_path": PREFIX}, receive, send)
        else:
            await self.app(scope, receive, send)


def mount_portal(
    app: FastAPI,
    services: ApiServices,
    *,
    pages: bool = True,
    settings: PortalSettings | None = None,
) -> Portal | None:
    """Add the REST routes portal users are managed by and, with ``pages``, serve the
    portal from ``app`` (call last in the factory: its layer is outermost). The portal
    calls ``app`` itself for every read and write; its users and sessions are in the read
    model (``services.sessions``), its sign-in limiter is ``services``'."""
    app.include_router(users_api.router)
    app.include_router(maker_checker_api.router)
    if not pages:
        return None
    portal = Portal(
        api=app,
        sessions=services.sessions,
        settings=settings or get_portal_settings(),
        limiter=services.portal_sign_in_limiter,
        vault=services.document_vault,
    )
    app.add_middleware(PortalDispatch, portal=portal_asgi(portal))
    return portal


def build_portal_app(portal: Portal) -> FastAPI:
    """The portal's pages as an ASGI app of their own, served under ``/portal``."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.dependency_overrides[pages.the_portal] = lambda: portal
    app.mount("/static", StaticFiles(directory=Path(pages.__file__).parent / "static"))
    app.include_router(pages.router)
    app.include_router(credit_router)
    app.include_router(invoice_pages.router)
    app.include_router(financing_pages.router)
    app.include_router(approval_pages.router)
    app.include_router(issued_pages.router)
    app.include_router(inbox_pages.router)
    app.include_router(settlement_pages.router)
    app.include_router(live_pages.router)
    app.include_router(certificate_pages.router)
    # oversight: auditors, the risk dashboard, governors, the explorer
    for oversight in (audit_pages, risk_pages, governance_pages, explorer_pages):
        app.include_router(oversight.router)
    app.add_exception_handler(pages.NotSignedIn, pages.to_sign_in)
    app.add_exception_handler(pages.CsrfRefused, pages.csrf_refused)
    app.add_exception_handler(ApiRefusal, pages.api_refused)
    app.add_exception_handler(RequestValidationError, pages.form_invalid)
    return app


def portal_asgi(portal: Portal) -> ASGIApp:
    """The portal's pages behind their body limits and security headers."""
    pages = build_portal_app(portal)
    # an invoice's document, a financing agreement, a bank record: as large as
    # POST /v1/documents takes
    larger = {
        f"{PREFIX}/{page}": _document_body_max_bytes
        for page in ("invoices", "financing", "settlement")
    }
    rules = _PortalBodies.of(larger=larger)
    return SecurityHeaders(BodyLimits(pages, rules), static_prefix=STATIC)


def _document_body_max_bytes(settings: Settings) -> int:
    return settings.document_body_max_bytes


__all__ = [
    "PORTAL_SECRET_ANSWERS",
    "Portal",
    "PortalDispatch",
    "PortalSettings",
    "mount_portal",
    "portal_asgi",
]
