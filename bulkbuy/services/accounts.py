"""Users, groups, memberships and households."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from bulkbuy import i18n, validation
from bulkbuy.domain import labels
from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, Membership, User
from bulkbuy.services import ServiceError, audit, hashing, writes
from bulkbuy.validation import MAX_ID

MIN_PASSWORD_LENGTH = 8
_INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_secret(secret: str) -> str:
    """Hash a password or PIN with today's method (services.hashing: Argon2id)."""
    return hashing.make(secret)


def check_secret(secret_hash: str, secret: str) -> bool:
    """True when `secret` matches a hash made by `hash_secret`, with whatever method and
    parameters it was made."""
    return hashing.verify(secret_hash, secret)


def needs_rehash(secret_hash: str) -> bool:
    """True when the hash was made otherwise than today's method would (then it is made
    again when its secret is next given right)."""
    return hashing.outdated(secret_hash)


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(email: str, password: str) -> User | None:
    """The user with this e-mail and password, or None (taking the same time either way,
    unless the account's hash was made with an older method).

    A right password whose hash has outdated parameters is hashed again with today's
    (the request commits it), so a change of PASSWORD_HASH_METHOD (or the move from
    scrypt to Argon2id) reaches every account that signs in.
    """
    user = find_user(email)
    if user is None:
        check_secret(hashing.dummy(), password)
        return None
    if not check_secret(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    return user


def check_new_password(password: str) -> None:
    """Refuse a password too short to keep an account safe."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            _l("Use a password of at least %(n)s characters.", n=MIN_PASSWORD_LENGTH),
            field="password",
        )


def one_email_address(email: str) -> str:
    """The address as stored (validation.email_address), or ServiceError (field email)."""
    try:
        return validation.email_address(email)
    except ValueError as error:
        raise ServiceError(str(error), field="email") from None


def create_user(email: str, name: str, password: str, *, is_site_admin: bool = False) -> User:
    """Add a user. Refuses an e-mail already in use and a short password."""
    check_new_password(password)
    return add_user(one_email_address(email), name, hash_secret(password),
                    is_site_admin=is_site_admin)


def add_user(email: str, name: str, password_hash: str, *,
             is_site_admin: bool = False) -> User:
    """Add a user with a checked address and a hashed password; refuses an address
    already in use (also when it was taken at the same moment)."""
    taken = _l("There is already an account with that e-mail address.")
    if find_user(email) is not None:
        raise ServiceError(taken, field="email")
    user = User(email=email, name=name, password_hash=password_hash,
                is_site_admin=is_site_admin)
    writes.add_or_refuse(user, taken, field="email")
    return user


def new_invite_code() -> str:
    """A fresh random code of 8 easy-to-read characters."""
    return "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(8))


def create_group(name: str, timezone: str, organiser: User, *, actor: User | None) -> Group:
    """Add a group with `organiser` as its first organiser."""
    taken = _l("There is already a group with that name.")
    if db.session.scalar(select(Group).where(func.lower(Group.name) == name.lower())):
        raise ServiceError(taken)
    group = Group(name=name, timezone=timezone, invite_code=new_invite_code())
    writes.add_or_refuse(group, taken)
    db.session.add(Membership(user_id=organiser.id, group_id=group.id, role="organiser"))
    audit.record(
        "group.created", actor=actor, group_id=group.id, subject=group, organiser=organiser.email
    )
    db.session.flush()
    return group


def create_group_without_organiser(name: str, timezone: str, *, actor: User) -> Group:
    """Add a group with no organiser yet (a site admin then invites its first one:
    services.staff.create_group_with_invite)."""
    taken = _l("There is already a group with that name.")
    if db.session.scalar(select(Group).where(func.lower(Group.name) == name.lower())):
        raise ServiceError(taken, field="name")
    group = Group(name=name, timezone=timezone, invite_code=new_invite_code())
    writes.add_or_refuse(group, taken, field="name")
    audit.record("group.created", actor=actor, group_id=group.id, subject=group)
    return group


def create_group_with_organiser(name: str, timezone: str, organiser_email: str,
                                organiser_name: str | None, organiser_password: str | None,
                                *, actor: User) -> Group:
    """A site admin's new group and its first organiser: the user with that e-mail, or a
    new account made with the name and password given (the name is then required)."""
    organiser = find_user(organiser_email)
    if organiser is None:
        if not organiser_name:
            raise ServiceError(_l("Enter the organiser's name"), field="organiser_name")
        organiser = create_user(organiser_email, organiser_name, organiser_password or "")
    return create_group(name, timezone, organiser, actor=actor)


def all_groups() -> list[Group]:
    """Every group on the site, by name (for the site admin)."""
    return list(db.session.scalars(select(Group).order_by(Group.name)))


def join_with_household(group: Group, user: User, household_label: str) -> User:
    """Join `group` as `user` (signed in) with a new household `household_label`.
    (Someone without an account asks to join with `joining.ask_to_join`.)"""
    join_group(group, user, household_label)
    return user


def group_for_invite(code: str) -> Group | None:
    """The group whose invite code this is (ignoring case and spaces), or None."""
    cleaned = "".join(code.split()).upper()
    if not cleaned or len(cleaned) > 32:
        return None
    return db.session.scalar(select(Group).where(Group.invite_code == cleaned))


def find_household(group: Group, label: str) -> Household | None:
    """The group's household whose name is `label` or only looks different from it
    (case, spaces, invisible characters, look-alike letters: domain.labels)."""
    return db.session.scalar(
        select(Household).where(
            Household.group_id == group.id, Household.label_key == labels.label_key(label)
        )
    )


def clean_household_label(text: str, *, field: str) -> str:
    """A household's name as it will be kept (domain.labels.clean_label); refuses an
    empty name and one too long once cleaned."""
    label = labels.clean_label(text)
    if not label:
        raise ServiceError(_l("Enter the name of the flat or house."), field=field)
    if len(label) > 60:
        raise ServiceError(_l("The name must be 60 characters or fewer."), field=field)
    return label


def refuse_mixed_alphabets(label: str, *, field: str) -> None:
    """Refuse a name with a word mixing alphabets, as a disguised name would have
    (checked after the look-alike comparison, which gives the plainer answer)."""
    if labels.mixed_alphabet_word(label) is not None:
        raise ServiceError(_l("Write each word of the name in one alphabet, like Flat 12."),
                           field=field)


def join_group(group: Group, user: User, household_label: str) -> Membership:
    """Make `user` a member of `group` with a new household called `household_label`
    (a staff member of the group without a household gets it, keeping their role).

    A label already used in the group is refused: joining someone else's
    household needs an organiser, so nobody can see another home's orders.
    """
    existing = db.session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.group_id == group.id)
    )
    if existing is not None and existing.household_id is not None:
        return existing
    household_label = clean_household_label(household_label, field="household")
    taken = _l("That name is already on the list. Add your name, like 'Flat 12 (Amina)', "
               "or ask an organiser to add you to it.")
    if find_household(group, household_label) is not None:
        raise ServiceError(taken, field="household")
    refuse_mixed_alphabets(household_label, field="household")
    household = Household(group_id=group.id, label=household_label)
    writes.add_or_refuse(household, taken, field="household")
    if existing is not None:  # staff without a home in the group add their own
        added = db.session.execute(
            update(Membership).where(Membership.id == existing.id,
                                     Membership.household_id.is_(None))
            .values(household_id=household.id)
            .execution_options(synchronize_session=False)).rowcount
        if added != 1:  # sent twice at the same moment
            raise ServiceError(_l("You already order for a household in this group."),
                               field="household")
        db.session.refresh(existing)
        audit.record("group.household_added", actor=user, group_id=group.id,
                     household_id=household.id, role=existing.role)
        return existing
    membership = Membership(
        user_id=user.id, group_id=group.id, role="member", household_id=household.id
    )
    writes.add_or_refuse(membership, _l("You are already in this group."))
    audit.record("group.joined", actor=user, group_id=group.id, household_id=household.id)
    db.session.flush()
    return membership


def regenerate_invite_code(group: Group, *, actor: User) -> str:
    """Replace the group's invite code; the old one stops working at once."""
    group.invite_code = new_invite_code()
    audit.record("group.invite_reset", actor=actor, group_id=group.id, subject=group)
    return group.invite_code


def user_for_session(user_id: int, generation: int) -> User | None:
    """The user whose session this is, or None once that session was ended (see
    `end_sessions`): its generation is no longer the account's."""
    user = user_by_id(user_id) if user_id <= MAX_ID else None
    if user is None or user.session_generation != generation:
        return None
    return user


def end_sessions(user: User, *, reason: str) -> None:
    """End every session of this account, on every device, copies of the cookie
    included (signing out; later also a password change and a role removed)."""
    db.session.execute(
        update(User).where(User.id == user.id)
        .values(session_generation=User.session_generation + 1))
    db.session.refresh(user, ["session_generation"])
    audit.record("account.sessions_ended", actor=user, group_id=None, subject=user,
                 reason=reason)


def user_by_id(user_id: int) -> User | None:
    """The user with this id, or None (the session's copy when it has one: no query)."""
    return db.session.get(User, user_id)


def organises_any_group(user_id: int) -> bool:
    """Whether the user is an organiser of at least one group (one small query)."""
    return db.session.scalar(
        select(Membership.id).where(
            Membership.user_id == user_id, Membership.role == "organiser"
        ).limit(1)
    ) is not None


def make_site_admin(email: str, name: str, password: str) -> User:
    """The user with this e-mail made a site admin, or a new site admin account (the name
    and password are then used). Refuses what create_user refuses."""
    user = find_user(email)
    if user is None:
        return create_user(email, name, password, is_site_admin=True)
    user.is_site_admin = True
    return user


def set_language(user: User, code: object) -> str:
    """The language the person's pages and their own e-mails are in (users.locale),
    chosen by them; an unknown or malformed code is English, never an error."""
    user.locale = i18n.or_default(code)
    return user.locale


def set_household_language(user: User, household_id: int, code: object,
                           paper_slips: bool) -> Household:
    """The language of a household's e-mails and slips (households.locale) and whether it
    wants its news on paper too (households.paper_slips), set by one of its members.
    Refuses anyone who is not a member of that household."""
    household = db.session.scalar(
        select(Household).join(Membership, Membership.household_id == Household.id)
        .where(Household.id == household_id, Membership.user_id == user.id)
    ) if household_id <= MAX_ID else None
    if household is None:
        raise ServiceError(_l("You can only change your own household."))
    household.locale = i18n.or_default(code)
    household.paper_slips = bool(paper_slips)
    audit.record("household.language_set", actor=user, group_id=household.group_id,
                 subject=household, locale=household.locale, paper_slips=household.paper_slips)
    return household


def own_households(user: User) -> list[tuple[Household, str]]:
    """The households the person belongs to (not removed), with their group's name."""
    return [(household, group_name) for household, group_name in db.session.execute(
        select(Household, Group.name)
        .join(Membership, Membership.household_id == Household.id)
        .join(Group, Group.id == Household.group_id)
        .where(Membership.user_id == user.id, Household.removed_at.is_(None))
        .order_by(Group.name, Household.id)
    )]
