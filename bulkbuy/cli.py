"""Flask commands: create-admin, seed-demo, close-due, send-mail, charge-cards,
reconcile-payments, scheduler, dev-server."""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask, current_app

from bulkbuy import sweeps
from bulkbuy.domain.money import format_pence
from bulkbuy.models import utcnow
from bulkbuy.services import ServiceError, accounts
from bulkbuy.transactions import unit_of_work


def init_app(app: Flask) -> None:
    for command in (create_admin, seed_demo, close_due, send_mail, charge_cards,
                    reconcile_payments, scheduler, dev_server, impact_backfill):
        app.cli.add_command(command)


def _parse_now(value: str | None) -> datetime:
    if not value:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use an ISO time like 2026-03-14T18:00:00+00:00") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone, like 2026-03-14T18:00:00+00:00")
    return parsed


@click.command("close-due")
@click.option("--now", "now_text", help="Pretend it is this time (ISO 8601 with zone).")
def close_due(now_text: str | None) -> None:
    """Run one round sweep: open scheduled rounds and close those past their deadline."""
    result = sweeps.sweep_rounds(_parse_now(now_text))
    click.echo(f"opened {result.opened} round(s), closed {len(result.closed)} round(s)")
    for closed in result.closed:
        click.echo(
            f"  round {closed.round_id}: {closed.status}, goods "
            f"{format_pence(closed.goods_total_pence)}, {closed.households} household(s)"
        )


@click.command("impact-backfill")
@click.option("--group", "group_id", type=int, help="Only this group's rounds.")
def impact_backfill(group_id: int | None) -> None:
    """Write the impact report's totals of rounds that closed before they were kept."""
    from bulkbuy.services import impact

    with unit_of_work():
        written = impact.backfill(utcnow(), group_id)
    click.echo(f"wrote the impact totals of {written} round(s)")


@click.command("send-mail")
@click.option("--now", "now_text", help="Pretend it is this time (ISO 8601 with zone).")
def send_mail(now_text: str | None) -> None:
    """Queue due reminders and send what is waiting in the outbox."""
    sent = sweeps.sweep_notifications(_parse_now(now_text))
    click.echo(f"sent {sent} message(s)")


@click.command("charge-cards")
@click.option("--now", "now_text", help="Pretend it is this time (ISO 8601 with zone).")
def charge_cards(now_text: str | None) -> None:
    """Run one payment sweep: charge saved cards, settle lost answers, send refunds."""
    from bulkbuy.adapters import stripe_gateway

    if not stripe_gateway.is_configured(current_app.config):
        click.echo("Stripe is not set up (no STRIPE_SECRET_KEY): cash only, nothing to do.")
        return
    result = sweeps.sweep_payments(_parse_now(now_text))
    click.echo(f"charged {result.charged}, needs action {result.needs_action}, "
               f"no answer yet {result.unknown}, looked up {result.looked_up}, "
               f"refunds sent {result.refunded}")


@click.command("reconcile-payments")
def reconcile_payments() -> None:
    """List every difference between our card payment records and Stripe's.

    Exits with status 1 when there is any difference, 2 when Stripe cannot be asked.
    """
    from bulkbuy.adapters import stripe_gateway
    from bulkbuy.services.payments import reconcile

    if not stripe_gateway.is_configured(current_app.config):
        click.echo("Stripe is not set up (no STRIPE_SECRET_KEY): nothing to compare.", err=True)
        raise SystemExit(2)
    try:
        compared, differences = reconcile.reconcile(current_app.config)
    except stripe_gateway.GatewayError as exc:
        click.echo(f"could not ask Stripe: {exc}", err=True)
        raise SystemExit(2) from None
    click.echo(f"compared {compared} PaymentIntent(s) with our records")
    for difference in differences:
        click.echo(f"  {difference.payment_intent_id or '-'}: {difference.what}")
    click.echo(f"{len(differences)} difference(s)")
    if differences:
        raise SystemExit(1)


@click.command("scheduler")
def scheduler() -> None:
    """Run the sweeps forever in this process (production: exactly one such process)."""
    from bulkbuy.adapters import scheduler as scheduling

    click.echo("scheduler running; Ctrl-C stops it")
    try:
        app = current_app._get_current_object()
        scheduling.blocking(app, sweeps.scheduled_jobs(app.config)).start()
    except (KeyboardInterrupt, SystemExit):
        pass


@click.command("dev-server")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def dev_server(host: str, port: int) -> None:
    """Serve for development with the scheduler inside this one process (no reloader)."""
    from werkzeug.serving import run_simple

    from bulkbuy.adapters import scheduler as scheduling

    app = current_app._get_current_object()
    background = scheduling.background(app, sweeps.scheduled_jobs(app.config))
    background.start()
    click.echo(f"serving on http://{host}:{port} with the scheduler inside; Ctrl-C stops both")
    try:
        # Flask's app.run() refuses to start from a `flask` command; Werkzeug's server
        # is what it would run. No reloader: it would start a second scheduler.
        run_simple(host, port, app, use_reloader=False, threaded=True)
    finally:
        background.shutdown(wait=False)


@click.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.password_option()
def create_admin(email: str, name: str, password: str) -> None:
    """Create a site admin, who can create groups and name their organisers."""
    try:
        with unit_of_work():
            user = accounts.make_site_admin(email, name, password)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{user.email} is a site admin.")


@click.command("seed-demo")
def seed_demo() -> None:
    """Load demo data once (a group, its people, a supplier, an open round) and print logins."""
    from bulkbuy.demo import seed_demo as seed

    with unit_of_work():
        created, logins = seed(utcnow())
    click.echo("Demo data created." if created else "Demo data already there; nothing added.")
    for who, login in logins:
        click.echo(f"  {who}: {login}")
