"""The portal's pages: sign-in, holdings with the split-transfer form, sign-out.

Every read and write goes through the REST API in process (``MemberApi``); this module
only authenticates people, checks CSRF tokens and roles, and renders.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Protocol

import anyio.to_thread
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp

from api.errors import status_of
from api.portal import audit, i18n, maker_checker, users
from api.portal import sessions as portal_sessions
from api.portal.member_api import ApiRefusal, MemberApi
from api.portal.sessions import SignedIn
from api.portal.settings import PortalSettings
from api.portal.users import SignInRefused, check_sign_in, normalized_email
from api.readmodel.models import PortalPendingActionRow
from api.schemas.portal_users import Role
from api.services.documents import DocumentVault
from api.services.rate_limit import RateLimited, TokenBucketLimiter

PREFIX = "/portal"
STATIC = f"{PREFIX}/static"
_HERE = Path(__file__).parent
PRE_SESSION_COOKIE = "scf_portal_pre"  # the sign-in form's CSRF token (double submit)
_templates = Jinja2Templates(directory=_HERE / "templates")


@dataclass(frozen=True)
class Acted:
    """What became of a money-moving action: the API's answer, or, under maker-checker,
    the pending action that waits for an approver."""

    answer: Any = None
    prepared: PortalPendingActionRow | None = None


class Page(Protocol):
    """A page builder bound to its request and user: the page with an action's outcome."""

    async def __call__(self, status: int = 200, **outcome: Any) -> HTMLResponse: ...


@dataclass(frozen=True)
class MemberView:
    """What every member page reads first: the member itself and the consortium's members
    (for names and choices)."""

    api: MemberApi
    me: dict[str, Any]
    members: list[dict[str, Any]]

    @property
    def names(self) -> dict[int, str]:
        return {m["id"]: m["name"] for m in self.members}

    def active(self, role: str | None = None, *, others: bool = False) -> list[dict[str, Any]]:
        """Active members (with ``role``; without the member itself where ``others``)."""
        return [
            m
            for m in self.members
            if m["status"] == "active"
            and (role is None or role in m["roles"])
            and not (others and m["id"] == self.me["id"])
        ]


@dataclass
class Portal:
    """What the pages need: the node's API (to call in process), the read model's
    sessions (portal users and sessions), settings, the sign-in limiter (the app's
    ``ApiServices.portal_sign_in_limiter``) and a clock."""

    api: ASGIApp
    sessions: sessionmaker[Session]
    settings: PortalSettings
    limiter: TokenBucketLimiter
    vault: DocumentVault | None = None  # the node's data key: it opens TOTP secrets
    clock: Callable[[], float] = time.time

    def now(self) -> int:
        return int(self.clock())

    def member_api(self, user: SignedIn) -> MemberApi:
        return MemberApi(self.api, self.sessions, user.user.member_id)

    async def act(
        self, user: SignedIn, kind: str, path: str, body: dict[str, Any], idempotency_key: str
    ) -> Acted:
        """``POST path body`` for the user's member under ``idempotency_key``, or, if the
        member has maker-checker on, the same call stored for an approver to confirm."""

        def prepare_if_checked() -> PortalPendingActionRow | None:
            with self.sessions.begin() as session:
                if not maker_checker.is_on(session, user.user.member_id):
                    return None
                row = maker_checker.prepare(
                    session,
                    user.user,
                    kind=kind,
                    path=path,
                    body=body,
                    idempotency_key=idempotency_key,
                    now=self.now(),
                )
                session.flush()
                session.expunge(row)
                return row

        prepared = await anyio.to_thread.run_sync(prepare_if_checked)
        if prepared is not None:
            return Acted(prepared=prepared)
        answer = await self.member_api(user).post(path, body, idempotency_key=idempotency_key)
        return Acted(answer=answer)

    async def view(self, user: SignedIn) -> MemberView:
        api = self.member_api(user)
        me = await api.get("/v1/members/me")
        members = (await api.get("/v1/members", limit=500))["items"]
        return MemberView(api, me, members)

    async def render_member_page(
        self,
        request: Request,
        user: SignedIn,
        view: MemberView,
        template: str,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """A signed-in member's page: who is signed in, the forms' CSRF token and a fresh
        idempotency key, whether the user may act and whether maker-checker holds it."""
        common: dict[str, Any] = {
            "user": user.user,
            "csrf_token": user.csrf_token,
            "me": view.me,
            "names": view.names,
            "may_act": Role(user.user.role).may_act,
            "idempotency_key": str(uuid.uuid4()),
        }
        if "checked" not in context:
            common["checked"] = await self.maker_checker_on(user)
        return render(request, template, status, **common, **context)

    async def finish(
        self,
        request: Request,
        user: SignedIn,
        action: str,
        details: dict[str, Any],
        attempt: Callable[[], Awaitable[Acted]],
        page: Page,
        shown_as: str,
        noted: Callable[[Any], dict[str, Any]] | None = None,
    ) -> Response:
        """Run a form's action for a user who may act and answer with ``page``: the
        refusal in words, the action prepared for an approver, or the API's answer (as
        ``shown_as``); each audited as ``action`` with ``details`` (and what ``noted``
        takes from the answer)."""
        client = client_address(request)

        async def audited(outcome: str) -> None:
            await anyio.to_thread.run_sync(self.audit, user, action, outcome, client, details)

        try:
            if not Role(user.user.role).may_act:
                raise ApiRefusal(403, "viewer_may_not_act", "a viewer may only read")
            acted = await attempt()
        except ApiRefusal as refusal:
            await audited(refusal.revert or refusal.code)
            text = _words(request).refusal(refusal)
            return await page(refusal.status, refusal=refusal, refusal_text=text)
        if acted.prepared is not None:
            details["pending_action_id"] = acted.prepared.id
            await audited("prepared")
            return await page(prepared=acted.prepared)
        if noted is not None:
            details.update(noted(acted.answer))
        await audited("ok")
        return await page(**{shown_as: acted.answer})

    async def maker_checker_on(self, user: SignedIn) -> bool:
        def read() -> bool:
            with self.sessions() as session:
                return maker_checker.is_on(session, user.user.member_id)

        return await anyio.to_thread.run_sync(read)

    def audit(
        self,
        user: SignedIn | None,
        action: str,
        outcome: str,
        client: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record an action (blocking: writes the read model)."""
        with self.sessions.begin() as session:
            audit.record(
                session,
                member_id=user.user.member_id if user else 0,
                user_id=user.user.id if user else None,
                action=action,
                outcome=outcome,
                client=client,
                details=details,
            )


class CsrfRefused(Exception):
    pass


class NotSignedIn(Exception):
    pass


def the_portal() -> Portal:
    raise NotImplementedError("build_portal_app names the portal")  # it overrides this


PortalDep = Annotated[Portal, Depends(the_portal)]


def _words(request: Request) -> i18n.Words:
    chosen = request.cookies.get(i18n.COOKIE)
    return i18n.Words(i18n.negotiate(chosen, request.headers.get("accept-language")))


WordsDep = Annotated[i18n.Words, Depends(_words)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    words = _words(request)
    context = {"t": words, "lang": words.language, "static": STATIC, **context}
    return _templates.TemplateResponse(request, template, context, status_code=status)


async def _signed_in(request: Request, portal: PortalDep) -> SignedIn:
    token = request.cookies.get(portal_sessions.COOKIE)

    def look_up() -> SignedIn | None:
        with portal.sessions.begin() as session:
            found = portal_sessions.signed_in(session, token, portal.now(), portal.settings)
            if found is not None:
                session.expunge(found.user)  # read after the session closes
            return found

    found = await anyio.to_thread.run_sync(look_up)
    if found is None:
        raise NotSignedIn
    return found


SignedInDep = Annotated[SignedIn, Depends(_signed_in)]


async def _posted(request: Request, user: SignedInDep, portal: PortalDep) -> SignedIn:
    """The signed-in user of a POST whose form carries the session's CSRF token."""
    sent = (await request.form()).get("csrf_token")
    if not portal_sessions.csrf_matches(user.csrf_token, sent if isinstance(sent, str) else None):
        await anyio.to_thread.run_sync(
            portal.audit, user, request.url.path, "csrf_refused", client_address(request)
        )
        raise CsrfRefused
    return user


PostedDep = Annotated[SignedIn, Depends(_posted)]

router = APIRouter()


@router.get("/")
async def read_home() -> Response:
    return RedirectResponse(f"{PREFIX}/holdings", status_code=303)


@router.get("/language")
async def choose_language(portal: PortalDep, to: str, back: str = "/") -> Response:
    # back to a page of the portal only: never a redirect elsewhere
    target = back if back.startswith(PREFIX + "/") and "//" not in back else f"{PREFIX}/"
    response = RedirectResponse(target, status_code=303)
    if to in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            to,
            max_age=365 * 86400,
            path=PREFIX,
            samesite="strict",
            secure=portal.settings.secure_cookie,
            httponly=True,
        )
    return response


def _pre_session_page(
    request: Request, portal: Portal, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A form for someone not signed in, with its CSRF token in a cookie (double submit)."""
    pre = secrets.token_urlsafe(24)
    response = render(request, template, status, pre_token=pre, **context)
    response.set_cookie(
        PRE_SESSION_COOKIE,
        pre,
        path=PREFIX,
        samesite="strict",
        httponly=True,
        secure=portal.settings.secure_cookie,
    )
    return response


def _sign_in_page(
    request: Request, portal: Portal, status: int = 200, error: str = "", notice: str = ""
) -> HTMLResponse:
    return _pre_session_page(request, portal, "sign_in.html", status, error=error, notice=notice)


def _pre_session_form_ok(request: Request, sent: str) -> bool:
    pre = request.cookies.get(PRE_SESSION_COOKIE)
    return pre is not None and portal_sessions.csrf_matches(pre, sent)


def _take_client_attempt(portal: Portal, client: str) -> None:
    """Spend one of the address's attempts (sign-in and invitations alike)."""
    settings = portal.settings
    portal.limiter.take(
        f"client:{client}",
        burst=settings.sign_in_burst_per_client,
        per_second=1 / settings.sign_in_refill_seconds_per_client,
    )


@router.get("/sign-in")
async def read_sign_in(request: Request, portal: PortalDep, words: WordsDep) -> Response:
    notice = words("welcome.done") if request.query_params.get("welcome") else ""
    return _sign_in_page(request, portal, notice=notice)


@router.get("/welcome")
async def read_welcome(request: Request, portal: PortalDep) -> Response:
    return _pre_session_page(request, portal, "welcome.html")


@router.post("/welcome")
async def accept_invitation(
    request: Request,
    portal: PortalDep,
    words: WordsDep,
    email: Annotated[str, Form(max_length=254)],
    invitation_code: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    password_again: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)],
) -> Response:
    """A new user sets its password with the invitation code its member gave it."""
    if not _pre_session_form_ok(request, csrf_token):
        return render(request, "error.html", 403, message=words("refusal.csrf_refused"))
    client = client_address(request)

    def refused(status: int, code: str, message: str = "", **details: Any) -> HTMLResponse:
        text = words.refusal(ApiRefusal(status, code, message, details))
        return _pre_session_page(request, portal, "welcome.html", status, error=text)

    try:
        _take_client_attempt(portal, client)
    except RateLimited as exc:
        page = refused(429, exc.code, exc.message, **exc.details)
        page.headers.update(exc.headers)
        return page
    if password != password_again:
        return refused(422, "passwords_differ")

    def accept() -> None:
        with portal.sessions.begin() as session:
            user = users.accept_invitation(session, email, invitation_code, password, portal.now())
            audit.record(
                session,
                member_id=user.member_id,
                user_id=user.id,
                action="accept_invitation",
                client=client,
            )

    try:
        await anyio.to_thread.run_sync(accept)
    except (users.InvitationRefused, users.WeakPassword) as exc:
        details = {"email": normalized_email(email)}
        await anyio.to_thread.run_sync(
            portal.audit, None, "accept_invitation", exc.code, client, details
        )
        return refused(status_of(exc), exc.code, exc.message, **exc.details)
    return RedirectResponse(f"{PREFIX}/sign-in?welcome=1", status_code=303)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    portal: PortalDep,
    words: WordsDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)],
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Sign in: the form's token must match its cookie (no sign-in from another site),
    attempts are rate-limited per address, failures per account; then a session starts."""
    if not _pre_session_form_ok(request, csrf_token):
        return render(request, "error.html", 403, message=words("refusal.csrf_refused"))
    client, settings = client_address(request), portal.settings
    account = f"account:{normalized_email(email)}"
    account_burst = settings.sign_in_burst_per_account
    account_refill = 1 / settings.sign_in_refill_seconds_per_account
    try:
        _take_client_attempt(portal, client)
        portal.limiter.check(
            account, burst=account_burst, per_second=account_refill
        )  # only failures spend (below)
    except RateLimited as exc:
        refusal = ApiRefusal(429, exc.code, exc.message, exc.details)
        details = {"email": normalized_email(email)}
        await anyio.to_thread.run_sync(portal.audit, None, "sign_in", exc.code, client, details)
        page = _sign_in_page(request, portal, 429, words.refusal(refusal))
        page.headers.update(exc.headers)
        return page

    def start() -> str:
        with portal.sessions.begin() as session:
            user = check_sign_in(session, email, password, code, portal.vault)
            audit.record(
                session, member_id=user.member_id, user_id=user.id, action="sign_in", client=client
            )
            return portal_sessions.start_session(session, user, portal.now())

    try:
        token = await anyio.to_thread.run_sync(start)
    except SignInRefused as exc:
        with contextlib.suppress(RateLimited):  # refused already; the next one is limited
            portal.limiter.take(account, burst=account_burst, per_second=account_refill)
        # refusals are logged by address: the e-mail may be no user's
        details = {"email": normalized_email(email)}
        await anyio.to_thread.run_sync(portal.audit, None, "sign_in", exc.code, client, details)
        refusal = ApiRefusal(401, exc.code, exc.message)
        return _sign_in_page(request, portal, 401, words.refusal(refusal))
    response = RedirectResponse(f"{PREFIX}/holdings", status_code=303)
    response.set_cookie(
        portal_sessions.COOKIE,
        token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookie,
    )
    response.delete_cookie(PRE_SESSION_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, user: PostedDep, portal: PortalDep) -> Response:
    token = request.cookies.get(portal_sessions.COOKIE)

    def end() -> None:
        with portal.sessions.begin() as session:
            portal_sessions.end_session(session, token, portal.now())

    await anyio.to_thread.run_sync(end)
    await anyio.to_thread.run_sync(portal.audit, user, "sign_out", "ok", client_address(request))
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(portal_sessions.COOKIE, path=PREFIX)
    return response


async def _recipients(view: MemberView, q: str | None) -> list[dict[str, Any]]:
    """Active members other than the user's own; with ``q``, those the API's member search
    finds by name or credit code."""
    if not q or not q.strip():
        return view.active(others=True)
    found = (await view.api.get("/v1/members", q=q.strip()[:64], limit=50))["items"]
    return [m for m in found if m["status"] == "active" and m["id"] != view.me["id"]]


async def _holdings_page(
    request: Request,
    portal: Portal,
    user: SignedIn,
    status: int = 200,
    q: str | None = None,
    **outcome: Any,
) -> HTMLResponse:
    view = await portal.view(user)
    held = await view.api.get("/v1/certificates", holder_id=view.me["id"], limit=500)
    certificates = [c for c in held["items"] if Decimal(c["value"]) > 0]
    # the aging report says which are matured (day 0 on) and of a repaid root: redeemable
    aged = (await view.api.get("/v1/risk/overdue", limit=500))["items"]
    redeemable = {a["certificate_id"] for a in aged if a["repaid"] and a["days_past_maturity"] >= 0}
    return await portal.render_member_page(
        request,
        user,
        view,
        "holdings.html",
        status,
        certificates=certificates,
        redeemable=redeemable,
        total=sum((Decimal(c["value"]) for c in certificates), Decimal(0)),
        recipients=await _recipients(view, q),
        q=q or "",
        **outcome,
    )


def _holdings(request: Request, portal: Portal, user: SignedIn) -> Page:
    return functools.partial(_holdings_page, request, portal, user)


@router.get("/holdings")
async def read_holdings(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The holdings; with ``q``, the transfer form offers the members it finds."""
    return await _holdings_page(request, portal, user, q=q)


@router.get("/recipients")
async def search_recipients(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The transfer form's recipient choices for ``q`` (htmx swaps them in as it is typed)."""
    view = await portal.view(user)
    found = await _recipients(view, q)
    return render(request, "recipients.html", recipients=found, q=q or "")


@router.post("/transfers")
async def transfer_certificate(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    certificate_id: Annotated[int, Form(ge=1)],
    to_member_id: Annotated[int, Form(ge=1)],
    amount: Annotated[str, Form(max_length=32)],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """``POST /v1/certificates/{id}/transfers`` for the user's member; the form's key makes
    a second submission of the same form (a reload, a double click) the same transfer."""
    details = {"certificate_id": certificate_id, "to_member_id": to_member_id, "amount": amount}

    async def transfer() -> Acted:
        return await portal.act(
            user,
            "split_transfer",
            f"/v1/certificates/{certificate_id}/transfers",
            {"to_member_id": to_member_id, "amount": amount.strip()},
            f"portal-{user.user.id}-{idempotency_key}",
        )

    def noted(child: dict[str, Any]) -> dict[str, Any]:
        return {"child_id": child["id"]}

    page = _holdings(request, portal, user)
    return await portal.finish(
        request, user, "split_transfer", details, transfer, page, "done", noted
    )


@router.post("/redemptions")
async def redeem_certificate(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    certificate_id: Annotated[int, Form(ge=1)],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """``POST /v1/certificates/{id}/redeem``: the holder is paid a matured certificate of a
    repaid root (money comes in, so maker-checker does not hold it)."""

    async def redeem() -> Acted:
        answer = await portal.member_api(user).post(
            f"/v1/certificates/{certificate_id}/redeem",
            None,
            idempotency_key=f"portal-{user.user.id}-{idempotency_key}-redeem-{certificate_id}",
        )
        return Acted(answer=answer)

    details: dict[str, Any] = {"certificate_id": certificate_id}
    page = _holdings(request, portal, user)
    return await portal.finish(request, user, "redeem", details, redeem, page, "redeemed")


async def to_sign_in(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    message = _words(request)("refusal.session_ended")
    return render(request, "error.html", 401, message=message)


async def form_invalid(request: Request, exc: Exception) -> Response:
    """A form the browser should not have sent (a field missing or malformed): a page in
    words, not the API's JSON."""
    return render(request, "error.html", 422, message=_words(request)("refusal.validation_error"))


async def api_refused(request: Request, exc: Exception) -> Response:
    """A page's read refused by the API (its member suspended since sign-in, say): the
    refusal in words, with the API's status."""
    assert isinstance(exc, ApiRefusal)
    message = _words(request).refusal(exc)
    return render(request, "error.html", exc.status, message=message)


async def csrf_refused(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", 403, message=_words(request)("refusal.csrf_refused"))
