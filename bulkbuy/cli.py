"""Flask commands: `flask --app bulkbuy create-admin`, `seed-demo`."""

from __future__ import annotations

import click
from flask import Flask

from bulkbuy.extensions import db
from bulkbuy.models import utcnow
from bulkbuy.services import ServiceError, accounts


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)


@click.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.password_option()
def create_admin(email: str, name: str, password: str) -> None:
    """Create a site admin, who can create groups and name their organisers."""
    try:
        user = accounts.find_user(email)
        if user is None:
            user = accounts.create_user(email, name, password, is_site_admin=True)
        else:
            user.is_site_admin = True
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(f"{user.email} is a site admin.")


@click.command("seed-demo")
def seed_demo() -> None:
    """Load demo data once (a group, its people, a supplier, an open round) and print logins."""
    from bulkbuy.demo import seed_demo as seed

    created, logins = seed(utcnow())
    db.session.commit()
    click.echo("Demo data created." if created else "Demo data already there; nothing added.")
    for who, login in logins:
        click.echo(f"  {who}: {login}")
