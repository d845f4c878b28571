"""Console users: create, list, authenticate."""

from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.audit import record_audit
from webapp.models import Role, User, utcnow

MIN_PASSWORD_LENGTH = 12


# Verified against when the address is unknown, so a wrong address costs as long as a wrong
# password and response times do not reveal which accounts exist. A fixed scrypt hash (with
# werkzeug's default parameters) of a random password nobody kept, rather than one made at
# import: that cost every process, the worker's and each CLI call's, a hash for nothing, and
# one made on first use would make the first unknown address slower than the rest.
_DUMMY_HASH = (
    "scrypt:32768:8:1$JqQjrm2in6ADdvXK$02fb8b28a02c4c2fc5c4e66674b83d253871c8f2e3b7da2d75145890"
    "be9f54721b069a0c2b7f5e88935a89eb1b320f0777425f9979a9544408ed98ec6ba2aab3"
)


class UserError(ValueError):
    """A user operation that cannot be done; each subclass is one reason, `field` the form
    field it belongs to. `str()` is the English sentence the CLI prints."""

    field = "email"


class UserAddressInvalid(UserError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"not a valid email address: {detail}")
        self.detail = detail


class PasswordTooShort(UserError):
    field = "password"

    def __init__(self, minimum: int) -> None:
        super().__init__(f"the password must have at least {minimum} characters")
        self.minimum = minimum


class UserExists(UserError):
    def __init__(self, address: str) -> None:
        super().__init__(f"a user with the address {address} already exists")
        self.address = address


def hash_password(password: str) -> str:
    # Werkzeug's default is scrypt, a memory-hard KDF.
    return generate_password_hash(password)


def normalize_user_email(address: str) -> str:
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise UserAddressInvalid(str(error)) from None
    return result.normalized.lower()


def create_user(
    session: Session, email: str, role: Role, password: str, *, actor: User | str = "cli"
) -> User:
    """Add a console user; the caller commits."""
    address = normalize_user_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(MIN_PASSWORD_LENGTH)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise UserExists(address)
    user = User(email=address, role=role, password_hash=hash_password(password), active=True)
    session.add(user)
    session.flush()
    record_audit(session, "user.create", actor=actor, target=address, detail={"role": role.value})
    return user


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.email)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same cost either way)."""
    address = email.strip().lower()
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    user.last_login_at = utcnow()
    return user
