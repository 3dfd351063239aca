"""SQLAlchemy models. Money columns are integer pence; times are UTC."""

from bulkbuy.models.accounts import ROLES, Group, Household, Membership, PendingJoin, User
from bulkbuy.models.audit import AuditEntry
from bulkbuy.models.cards import CardConsent, CardPayment, CardRefund, SavedCard, StripeEvent
from bulkbuy.models.catalogue import Product, Supplier
from bulkbuy.models.closing import (
    CashPayment,
    OutboxMessage,
    Statement,
    StatementLine,
    WriteOff,
)
from bulkbuy.models.collection import BagHandover
from bulkbuy.models.delivery import (
    CREDIT_REASONS,
    CashReturn,
    DeliveryNotice,
    HouseholdCredit,
    ItemReceipt,
    StatementAdjustment,
)
from bulkbuy.models.impact import RoundImpact
from bulkbuy.models.operations import SweepRun
from bulkbuy.models.outreach import DropInSession, LastCall
from bulkbuy.models.people import ErasureRequest, Invite, RecoveryCode
from bulkbuy.models.rounds import (
    ALLOCATION_MODES,
    FEE_SPLITS,
    ROUND_STATUSES,
    PledgeLine,
    Round,
    RoundItem,
)
from bulkbuy.models.solidarity import (
    POT_REASONS,
    SolidarityEntry,
    SolidaritySettings,
    SupportedHousehold,
)
from bulkbuy.models.spare import SPARE_KINDS, SpareDisposal
from bulkbuy.models.tablet import TabletSession, TabletVisit
from bulkbuy.models.time_credits import (
    TIME_CREDIT_REASONS,
    TimeCreditEntry,
    TimeCreditSettings,
)
from bulkbuy.models.types import utcnow

__all__ = [
    "RoundImpact",
    "PendingJoin",
    "ALLOCATION_MODES",
    "FEE_SPLITS",
    "ROLES",
    "ROUND_STATUSES",
    "AuditEntry",
    "ErasureRequest",
    "Invite",
    "RecoveryCode",
    "SweepRun",
    "DropInSession",
    "LastCall",
    "BagHandover",
    "CREDIT_REASONS",
    "CashReturn",
    "DeliveryNotice",
    "HouseholdCredit",
    "ItemReceipt",
    "StatementAdjustment",
    "CardConsent",
    "CardPayment",
    "CardRefund",
    "CashPayment",
    "Group",
    "Household",
    "Membership",
    "OutboxMessage",
    "PledgeLine",
    "Product",
    "Round",
    "RoundItem",
    "SavedCard",
    "Statement",
    "StatementLine",
    "StripeEvent",
    "POT_REASONS",
    "SolidarityEntry",
    "SolidaritySettings",
    "SupportedHousehold",
    "SPARE_KINDS",
    "SpareDisposal",
    "Supplier",
    "TabletSession",
    "TabletVisit",
    "TIME_CREDIT_REASONS",
    "TimeCreditEntry",
    "TimeCreditSettings",
    "User",
    "WriteOff",
    "utcnow",
]
