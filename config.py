"""Settings, read from the environment.

`create_app()` loads `Config` (or `TestConfig` in tests), then the optional
`instance/config.py`. Anything secret comes from the environment or from
`instance/`, never from this file.
"""

import os


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def database_url(raw: str | None) -> str | None:
    """Return a SQLAlchemy URL that uses psycopg 3 for plain PostgreSQL URLs."""
    if not raw:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


class Config:
    #: "development" relaxes the Secure cookie flag for http://127.0.0.1.
    BULKBUY_ENV = os.environ.get("BULKBUY_ENV", "production")
    SECRET_KEY = os.environ.get("SECRET_KEY")
    #: None means SQLite in instance/bulkbuy.sqlite (set by create_app).
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    #: Recycle pooled connections hourly rather than pinging before every request
    #: (a ping is one more round trip on every page).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_recycle": 3600}

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", BULKBUY_ENV != "development")
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    #: How many reverse proxies in front of the app to trust for X-Forwarded-* (0: none).
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    WTF_CSRF_TIME_LIMIT = None  # a resident may take their time over a form

    #: Flask-Limiter storage; use redis://127.0.0.1:6379 when several workers serve.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    #: Prefix of the rate limits' keys in the store (several deployments on one Redis).
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "bulkbuy")
    #: Sign-in tries per account (the e-mail typed, whatever the address), and per network
    #: address (higher: residents on a shared wifi share one address).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")
    LOGIN_ADDRESS_RATE_LIMIT = os.environ.get("LOGIN_ADDRESS_RATE_LIMIT",
                                              "60 per minute;300 per hour")
    #: Two-step sign-in codes typed per account (a 6-digit code is easier to guess than a
    #: password; 10 wrong in a row also sends the person back to the password).
    TWO_STEP_RATE_LIMIT = os.environ.get("TWO_STEP_RATE_LIMIT", "6 per minute;30 per hour")
    #: Join forms sent per network address (each join form counted on its own): a whole
    #: estate may join from one hall's wifi in an evening.
    JOIN_RATE_LIMIT = os.environ.get("JOIN_RATE_LIMIT", "30 per minute;300 per hour")
    #: "Forgot password" forms per e-mail address typed (each may send an e-mail; also
    #: e-mail change forms per account), and per network address (higher: shared wifi).
    RESET_RATE_LIMIT = os.environ.get("RESET_RATE_LIMIT", "5 per hour;20 per day")
    RESET_ADDRESS_RATE_LIMIT = os.environ.get("RESET_ADDRESS_RATE_LIMIT",
                                              "30 per hour;200 per day")
    #: PINs sent per tablet session at the drop-in (also limited per network address by
    #: LOGIN_ADDRESS_RATE_LIMIT): each PIN checked costs one password hash.
    PIN_RATE_LIMIT = os.environ.get("PIN_RATE_LIMIT", "30 per minute")
    #: The method for new password and PIN hashes (bulkbuy/services/hashing.py):
    #: Argon2id at OWASP's minimum, 19 MiB, 2 passes, 1 lane (about 30 ms here), or a
    #: Werkzeug method ("scrypt:32768:8:1"). Hashes made otherwise still verify and are
    #: made again at the next right sign-in. docs/performance.md, "Password and PIN
    #: hashing", has the figures and why.
    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "argon2id:19456:2:1")

    #: Events of this level and above go to standard error, one line each.
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    BABEL_DEFAULT_LOCALE = "en"
    DEFAULT_TIMEZONE = "Europe/London"

    #: Seconds between round sweeps; rounds close within this (plus the close) of the deadline.
    SWEEP_SECONDS = int(os.environ.get("SWEEP_SECONDS", "20"))
    #: Where links in e-mails point.
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
    #: SMTP; with no MAIL_SERVER, messages are written to the log instead of sent.
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_FROM = os.environ.get("MAIL_FROM", "bulkbuy <no-reply@bulkbuy.invalid>")
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "10"))

    #: Stripe; with no secret key the app takes cash only (and says so).
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET")
    #: None: real Stripe. localstripe's address in development and tests.
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE")
    STRIPE_JS_URL = os.environ.get("STRIPE_JS_URL", "https://js.stripe.com/v3/")
    STRIPE_TIMEOUT = float(os.environ.get("STRIPE_TIMEOUT", "30"))
    #: The charge and refund sweeps never ask Stripe more often than this (Stripe's
    #: own limit is higher); on HTTP 429 they slow down further.
    STRIPE_REQUESTS_PER_SECOND = float(os.environ.get("STRIPE_REQUESTS_PER_SECOND", "10"))
    #: Charges the sweep has in flight at once (Stripe answers a charge in a few hundred
    #: ms, so one at a time could not reach the rate above); 1 sends them one by one.
    STRIPE_CONCURRENT_CHARGES = int(os.environ.get("STRIPE_CONCURRENT_CHARGES", "4"))
    #: Seconds between payment sweeps (charges, look-ups, refunds).
    PAYMENT_SWEEP_SECONDS = int(os.environ.get("PAYMENT_SWEEP_SECONDS", "30"))

    #: Shared tablet: a resident's turn ends after this many idle seconds, with a
    #: "Still there?" warning this many seconds in (WCAG 2.2.1: 20 s or more to answer).
    TABLET_IDLE_SECONDS = int(os.environ.get("TABLET_IDLE_SECONDS", "120"))
    TABLET_WARN_SECONDS = int(os.environ.get("TABLET_WARN_SECONDS", "90"))

    #: Upper bounds for what a person may type, so absurd input gets a clear message.
    MAX_UNITS_PER_PLEDGE = 999
    #: The largest gift to the solidarity pot one household may add to one bill (pence).
    POT_GIFT_MAX_PENCE = int(os.environ.get("POT_GIFT_MAX_PENCE", "2000"))

    #: Keep rendered pages (the round page, the tablet's list and pledge screen) and each
    #: round's products and totals in the worker's memory, keyed by the database's version
    #: numbers (bulkbuy/fragment_cache.py). False renders everything on every request.
    FRAGMENT_CACHE = _bool("FRAGMENT_CACHE", True)
    MAX_CSV_BYTES = 1_000_000
    #: gzip level for pages, stylesheets and scripts sent to browsers that take it
    #: (bulkbuy/compression.py); 0 when a proxy in front compresses already.
    COMPRESS_LEVEL = int(os.environ.get("COMPRESS_LEVEL", "5"))
    MAX_CONTENT_LENGTH = 2_000_000
    #: Audit log entries older than this many days are deleted by a daily sweep (the
    #: money records themselves are kept; see the privacy page).
    AUDIT_RETENTION_DAYS = int(os.environ.get("AUDIT_RETENTION_DAYS", "730"))


class TestConfig(Config):
    TESTING = True
    BULKBUY_ENV = "test"
    SECRET_KEY = "test-only-secret-key"  # noqa: S105 - tests only
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    RATELIMIT_STORAGE_URI = "memory://"
    MAIL_SERVER = None
    LOG_LEVEL = "WARNING"
    STRIPE_SECRET_KEY = None  # a key in the environment never reaches app tests
    STRIPE_PUBLISHABLE_KEY = None
    STRIPE_WEBHOOK_SECRET = None
    STRIPE_API_BASE = None
    LOGIN_RATE_LIMIT = "1000 per minute"
    LOGIN_ADDRESS_RATE_LIMIT = "1000 per minute"
    TWO_STEP_RATE_LIMIT = "1000 per minute"
    JOIN_RATE_LIMIT = "1000 per minute"
    RESET_RATE_LIMIT = "1000 per minute"
    RESET_ADDRESS_RATE_LIMIT = "1000 per minute"
    #: The production default, not a high one: tests/integration/test_tablet.py checks that
    #: the 31st PIN from one tablet in a minute is refused; no test sends more otherwise.
    PIN_RATE_LIMIT = "30 per minute"
    #: Most tests post forms directly; tests/integration/test_security.py turns this on.
    WTF_CSRF_ENABLED = False
