"""People, groups, households and their roles."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from bulkbuy.domain import labels
from bulkbuy.extensions import db
from bulkbuy.models.types import UTCDateTime, utcnow

ROLES = ("member", "organiser", "worker")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased; unique.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    is_site_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Part of every session's user id (see get_id): raising it ends every session
    #: signed in before, copies of the cookie included.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Two-step sign-in (TOTP): the base32 secret, set when the person starts setting it
    #: up; it is in use once `totp_enabled_at` is set. `totp_last_step` is the time step
    #: of the last code accepted, so a code cannot be used twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: When the person's name and e-mail were erased (UK GDPR); the row stays for the books.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The language this person chose for their pages (bulkbuy.i18n); None: the browser's.
    locale: Mapped[str | None] = mapped_column(String(8))

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session: "<user id>.<session generation>"."""
        return f"{self.id}.{self.session_generation or 0}"


class Group(db.Model):
    """An estate's buying group."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: IANA zone name; times are stored in UTC and shown in this zone.
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    #: Code residents use to join (case-insensitive, unique).
    invite_code: Mapped[str] = mapped_column(String(32), unique=True)
    #: When true, rounds that residents open wait for an organiser's approval.
    require_round_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When true, the group's organisers and workers must use two-step sign-in.
    require_two_step: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=false())
    #: Bumped by the database (triggers, migration 0008): on any change to this row, and
    #: when a household of the group is added, removed, renamed or moved. Kept pages are
    #: keyed by them (bulkbuy/fragment_cache.py).
    settings_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    households_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="group")


class Household(db.Model):
    """A home that pledges and pays as one. Assisted households have no user account."""

    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("group_id", "label"),
        Index("uq_households_group_id_label_key", "group_id", "label_key", unique=True),
        CheckConstraint("pin_failed_attempts >= 0", name="pin_attempts_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    #: What the household chose to be called on lists ("Flat 12"); nothing more.
    label: Mapped[str] = mapped_column(String(60))
    #: domain.labels.label_key(label), set whenever label is (see _keep_label_key):
    #: unique per group, so names that only look different cannot both exist.
    #: Nullable in the schema only because making it NOT NULL would rebuild the
    #: table on SQLite and drop the cache-version triggers of migration 0008.
    label_key: Mapped[str | None] = mapped_column(String(120))
    #: Block or street, for grouping tiles on the tablet.
    block: Mapped[str | None] = mapped_column(String(60))
    #: True for a household a worker set up: no e-mail, no card, a PIN only.
    is_assisted: Mapped[bool] = mapped_column(Boolean, default=False)
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    pin_failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    pin_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When staff removed the household (its history stays for the books).
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The household it was merged into (it is removed too).
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    #: When its name and other personal details were erased (UK GDPR).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The language of the household's e-mails and printed slips (bulkbuy.i18n); None: English.
    locale: Mapped[str | None] = mapped_column(String(8))
    #: Whether its news goes on a printed slip too (households without e-mail always get one).
    paper_slips: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    group: Mapped[Group] = relationship(foreign_keys=[group_id])

    @validates("label")
    def _keep_label_key(self, _key: str, label: str) -> str:
        self.label_key = labels.label_key(label)
        return label


class Membership(db.Model):
    """A user's role in a group, and the household they belong to there."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "group_id"),
        CheckConstraint("role IN ('member', 'organiser', 'worker')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    #: None for staff who do not buy (an organiser or worker without a home in the group).
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    group: Mapped[Group] = relationship(back_populates="memberships")
    household: Mapped[Household | None] = relationship()

    @property
    def is_organiser(self) -> bool:
        return self.role == "organiser"


class PendingJoin(db.Model):
    """Someone asked to join a group with a new account; it is made when they follow
    the link we e-mailed to the address (so the join page never says whether an
    address already has an account). Only a hash of the link's token is kept."""

    __tablename__ = "pending_joins"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(100))
    household_label: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the link was followed (a link works once).
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group: Mapped[Group] = relationship()
