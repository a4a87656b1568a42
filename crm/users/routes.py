"""Login, logout, user administration, the profile page, and their JSON API."""

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from crm.core.db import SessionDep
from crm.core.errors import N_, CRMError, TooManyRequests
from crm.core.forms import FormErrors
from crm.core.i18n import TIME_ZONES
from crm.core.security import renew_session, safe_next
from crm.core.templating import flash, render
from crm.users import service as user_service
from crm.users.deps import AdminUser, CurrentUser, UserDep
from crm.users.models import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    PasswordChange,
    PasswordReset,
    Preferences,
    Role,
    User,
    UserCreate,
    UserCreated,
    UserPublic,
    UsersPublic,
    UserUpdate,
)

router = APIRouter(tags=["pages"], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["users"])

Text = Annotated[str, Form()]
Roles = Annotated[list[str], Form()]


def _errors(request: Request) -> FormErrors:
    return FormErrors(request.state.language)


# --- login and logout -------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(
        request,
        "auth/login.html",
        {"email": "", "next": safe_next(next), "errors": _errors(request)},
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, session: SessionDep, email: Text = "", password: Text = "", next: Text = "/"
) -> Response:
    errors = _errors(request)
    client_ip = request.client.host if request.client else "unknown"
    try:
        user = user_service.authenticate(
            session,
            email=email,
            password=password,
            ip=client_ip,
            secret_key=request.app.state.settings.secret_key,
        )
    except TooManyRequests as exc:
        errors.add_crm_error(exc)
        return render(
            request,
            "auth/login.html",
            {"email": email, "next": safe_next(next), "errors": errors},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if user is None:
        errors.add("", user_service.WRONG_LOGIN)
        return render(
            request,
            "auth/login.html",
            {"email": email, "next": safe_next(next), "errors": errors},
            status_code=401,
        )
    renew_session(request, uid=user.id, ver=user.session_version)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    user_service.end_sessions(session, user=user)
    renew_session(request, **({"lang": user.language} if user.language else {}))
    flash(request, "info", N_("You have been logged out."))
    return RedirectResponse("/login", status_code=303)


# --- user administration ----------------------------------------------------------


def _user_form(
    request: Request,
    *,
    user: User | None,
    form: dict,
    errors: FormErrors,
    password: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "users/form.html",
        {
            "user": user,
            "form": form,
            "errors": errors,
            "roles": list(Role),
            "new_password": password,
        },
        status_code=status_code,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return render(request, "users/list.html", {"users": user_service.list_users(session)})


@router.get("/users/new", response_class=HTMLResponse)
def new_user_page(request: Request, admin: AdminUser) -> HTMLResponse:
    return _user_form(request, user=None, form=_form(), errors=_errors(request))


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    email: Text = "",
    name: Text = "",
    language: Text = "",
    password: Text = "",
    roles: Roles = (),
) -> HTMLResponse:
    form = _form(email, name, language, roles)
    errors = _errors(request)
    try:
        data = UserCreate(
            email=email,
            name=name,
            language=language or None,
            roles=set(roles),
            password=password or None,
        )
    except ValidationError as exc:
        errors.add_validation_error(exc)
        return _user_form(request, user=None, form=form, errors=errors, status_code=422)
    chosen = data.password or user_service.generate_password()
    try:
        user = user_service.create_user(session, data=data, password=chosen, actor_id=admin.id)
    except CRMError as exc:
        errors.add("email", exc.message, **exc.params)
        return _user_form(request, user=None, form=form, errors=errors, status_code=exc.status_code)
    flash(request, "success", N_("User %(name)s created."), name=user.name)
    return _user_form(
        request,
        user=user,
        form=_form_of(user),
        errors=errors,
        password=None if data.password else chosen,
        status_code=201,
    )


def _form(
    email: str = "",
    name: str = "",
    language: str = "",
    roles: Iterable[str] = (),
    *,
    is_active: bool = True,
) -> dict[str, Any]:
    """The user form's values, as typed or as stored."""
    return {
        "email": email,
        "name": name,
        "language": language,
        "roles": list(roles),
        "is_active": is_active,
    }


def _form_of(user: User) -> dict[str, Any]:
    return _form(
        user.email, user.name, user.language or "", sorted(user.roles), is_active=user.is_active
    )


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user: UserDep, admin: AdminUser) -> HTMLResponse:
    return _user_form(request, user=user, form=_form_of(user), errors=_errors(request))


@router.post("/users/{user_id}", response_class=HTMLResponse)
def update_user(
    request: Request,
    session: SessionDep,
    user: UserDep,
    admin: AdminUser,
    email: Text = "",
    name: Text = "",
    language: Text = "",
    roles: Roles = (),
    is_active: Annotated[bool, Form()] = False,
) -> Response:
    form = _form(email, name, language, roles, is_active=is_active)
    errors = _errors(request)
    try:
        data = UserUpdate(
            email=email, name=name, language=language or None, roles=set(roles), is_active=is_active
        )
        user_service.update_user(session, user=user, data=data, actor_id=admin.id)
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
    if errors:
        return _user_form(request, user=user, form=form, errors=errors, status_code=422)
    flash(request, "success", N_("Changes saved."))
    return RedirectResponse(f"/users/{user.id}", status_code=303)


@router.post("/users/{user_id}/password", response_class=HTMLResponse)
def reset_password(
    request: Request, session: SessionDep, user: UserDep, admin: AdminUser
) -> HTMLResponse:
    password = user_service.generate_password()
    user_service.set_password(session, user=user, password=password, actor_id=admin.id)
    flash(request, "success", N_("A new password was set; the user's sessions have ended."))
    return _user_form(
        request, user=user, form=_form_of(user), errors=_errors(request), password=password
    )


# --- the profile ------------------------------------------------------------------


def _profile(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    *,
    errors: FormErrors | None = None,
    new_token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "users/profile.html",
        {
            "user": user,
            "tokens": user_service.list_tokens(session, user=user),
            "errors": errors or _errors(request),
            "new_token": new_token,
            "time_zones": TIME_ZONES,
        },
        status_code=status_code,
    )


@router.get("/profile", response_class=HTMLResponse)
def profile_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return _profile(request, session, user)


@router.post("/profile/preferences", response_class=HTMLResponse)
def save_preferences(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    language: Text = "",
    time_zone: Text = "",
    signature: Text = "",
) -> Response:
    try:
        prefs = Preferences(language=language, time_zone=time_zone, signature=signature)
    except ValidationError as exc:
        errors = _errors(request)
        errors.add_validation_error(exc)
        return _profile(request, session, user, errors=errors, status_code=422)
    user_service.set_preferences(session, user=user, data=prefs)
    flash(request, "success", N_("Preferences saved."))
    return RedirectResponse("/profile", status_code=303)


@router.post("/profile/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    current_password: Text = "",
    new_password: Text = "",
) -> Response:
    errors = _errors(request)
    try:
        data = PasswordChange(current_password=current_password, new_password=new_password)
        user_service.change_own_password(
            session,
            user=user,
            current_password=data.current_password,
            new_password=data.new_password,
        )
    except (ValidationError, CRMError) as exc:
        errors.add_error(exc)
    if errors:
        return _profile(request, session, user, errors=errors, status_code=422)
    # This browser stays signed in; every other session of the user has ended.
    renew_session(request, uid=user.id, ver=user.session_version)
    flash(request, "success", N_("Password changed. Other sessions have been signed out."))
    return RedirectResponse("/profile", status_code=303)


@router.post("/profile/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, session: SessionDep, user: CurrentUser, name: Text = ""
) -> HTMLResponse:
    try:
        data = ApiTokenCreate(name=name.strip())
    except ValidationError as exc:
        errors = _errors(request)
        errors.add_validation_error(exc)
        return _profile(request, session, user, errors=errors, status_code=422)
    _, secret = user_service.create_token(session, user=user, name=data.name)
    return _profile(request, session, user, new_token=secret, status_code=201)


@router.post("/profile/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, session: SessionDep, user: CurrentUser, token_id: int
) -> Response:
    user_service.revoke_token(session, user=user, token_id=token_id)
    flash(request, "success", N_("The API token was revoked."))
    return RedirectResponse("/profile", status_code=303)


# --- JSON API ---------------------------------------------------------------------


@api_router.get("/me", response_model=UserPublic)
def api_me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)


@api_router.patch("/me", response_model=UserPublic)
def api_update_me(session: SessionDep, user: CurrentUser, data: Preferences) -> UserPublic:
    user_service.set_preferences(session, user=user, data=data)
    return UserPublic.of(user)


@api_router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def api_change_password(session: SessionDep, user: CurrentUser, data: PasswordChange) -> None:
    user_service.change_own_password(
        session, user=user, current_password=data.current_password, new_password=data.new_password
    )


@api_router.get("/me/tokens", response_model=list[ApiTokenPublic])
def api_tokens(session: SessionDep, user: CurrentUser) -> list[ApiTokenPublic]:
    return [ApiTokenPublic.model_validate(t) for t in user_service.list_tokens(session, user=user)]


@api_router.post("/me/tokens", response_model=ApiTokenCreated, status_code=201)
def api_create_token(
    session: SessionDep, user: CurrentUser, data: ApiTokenCreate
) -> ApiTokenCreated:
    token, secret = user_service.create_token(session, user=user, name=data.name)
    return ApiTokenCreated.model_validate(token, update={"token": secret})


@api_router.delete("/me/tokens/{token_id}", response_model=ApiTokenPublic)
def api_revoke_token(session: SessionDep, user: CurrentUser, token_id: int) -> ApiTokenPublic:
    return ApiTokenPublic.model_validate(
        user_service.revoke_token(session, user=user, token_id=token_id)
    )


@api_router.get("/users", response_model=UsersPublic)
def api_users(session: SessionDep, admin: AdminUser) -> UsersPublic:
    users = user_service.list_users(session)
    return UsersPublic(data=[UserPublic.of(u) for u in users], count=len(users))


@api_router.post("/users", response_model=UserCreated, status_code=201)
def api_create_user(session: SessionDep, admin: AdminUser, data: UserCreate) -> UserCreated:
    chosen = data.password or user_service.generate_password()
    user = user_service.create_user(session, data=data, password=chosen, actor_id=admin.id)
    return UserCreated.of(user, password=None if data.password else chosen)


@api_router.get("/users/{user_id}", response_model=UserPublic)
def api_user(user: UserDep, admin: AdminUser) -> UserPublic:
    return UserPublic.of(user)


@api_router.patch("/users/{user_id}", response_model=UserPublic)
def api_update_user(
    session: SessionDep, user: UserDep, admin: AdminUser, data: UserUpdate
) -> UserPublic:
    return UserPublic.of(user_service.update_user(session, user=user, data=data, actor_id=admin.id))


@api_router.post("/users/{user_id}/password", response_model=PasswordReset)
def api_reset_password(
    session: SessionDep, user: UserDep, admin: AdminUser, data: PasswordReset
) -> PasswordReset:
    chosen = data.password or user_service.generate_password()
    user_service.set_password(session, user=user, password=chosen, actor_id=admin.id)
    return PasswordReset(password=None if data.password else chosen)
