from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from webapp import db
from webapp.accounts.users import (
    UserError,
    count_users,
    create_user,
    generate_password,
    list_users,
)
from webapp.config import current_settings
from webapp.models import Role


@click.group("users", cls=AppGroup, help="Console users (editors and admins).")
def users_group() -> None:
    pass


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(email: str, role: str, password_stdin: bool) -> None:
    """Create a console user; without --password-stdin a password is generated and printed."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else generate_password()
    session = db.session()
    try:
        user = create_user(session, email, Role(role), password)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    session.commit()
    click.echo(f"created {user.role.value} {user.email}")
    if not password_stdin:
        click.echo(f"password: {password}")


@users_group.command("list")
def list_() -> None:
    """List console users."""
    for user in list_users(db.session()):
        state = "active" if user.active else "disabled"
        click.echo(f"{user.email}\t{user.role.value}\t{state}")


@users_group.command("ensure-admin")
def ensure_admin() -> None:
    """On an empty user table, create an admin with a generated password and print it."""
    session = db.session()
    if count_users(session):
        return
    password = generate_password()
    user = create_user(session, "admin@example.com", Role.ADMIN, password)
    session.commit()
    base_url = current_settings().base_url
    click.echo(f"created admin {user.email} with password {password}")
    click.echo(f"sign in at {base_url}/login")
