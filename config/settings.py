"""The one settings schema, with documented defaults.

Layering (lowest first): these defaults, then ``resurface.toml``, then environment variables of the
form ``RESURFACE__SECTION__KEY`` (e.g. ``RESURFACE__STORE__URL``), then command-line options.
Secrets (API hashes, client secrets, SMTP passwords) are never in this schema: they are read from
named environment variables at the point of use, see :mod:`config.secrets`.

Every section forbids unknown keys so that a typo in the file is an error, not a silently ignored
setting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from model.errors import ConfigError


def _strict_bool(value: Any) -> Any:
    """true/false only: TOML booleans, or the words "true"/"false" (environment overrides are text).
    pydantic's lax mode would read "yes", "on" or 1 as true, and a typo must not switch on, say,
    crawling private addresses."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("must be true or false")


#: A boolean setting that accepts nothing but true or false.
Flag = Annotated[bool, BeforeValidator(_strict_bool)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StoreSettings(Section):
    url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty means SQLite at <data_dir>/resurface.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    echo: Flag = Field(default=False, description="Log every SQL statement (debugging only).")


class PrivacySettings(Section):
    key_file: str = Field(
        default="resurface.key",
        description="File holding the pseudonymisation key, relative to the config file's folder. "
        "RESURFACE_PSEUDONYM_KEY overrides it. Never stored in the database.",
    )
    store_raw_member_ids: Flag = Field(
        default=False,
        description="Also keep raw member ids and handles. Off by default: members are pseudonymous.",
    )
    retention_days: int = Field(
        default=180, ge=1, description="Post texts older than this are purged; fingerprints are kept."
    )


class CrawlSettings(Section):
    allow_private_addresses: Flag = Field(
        default=False,
        description="Allow loopback, private and link-local targets. Only for tests and the demo.",
    )
    user_agent: str = Field(
        default="Resurface/0.1 (community-migration monitor; +https://example.org/resurface)",
        description="Descriptive User-Agent sent with every request.",
    )
    timeout_seconds: float = Field(default=20.0, gt=0)
    max_response_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Larger bodies are cut off.")
    max_image_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0, description="Decompression-bomb guard.")
    default_rate_limit: float = Field(default=1.0, gt=0, description="Requests per second per host.")
    rate_limits: dict[str, float] = Field(
        default_factory=lambda: {"t.me": 1.0},
        description="Requests per second by host name, overriding default_rate_limit.",
    )
    max_retries: int = Field(default=4, ge=0, description="Retries on 429/5xx and connection errors.")
    max_redirects: int = Field(default=5, ge=0)
    max_pages: int = Field(default=10, ge=1, description="Pages per source per crawl (history depth).")
    fetch_media: Flag = Field(default=True, description="Fingerprint images (bytes are never stored).")
    lead_depth: int = Field(default=1, ge=0, description="How far public leads are followed.")
    lead_platforms: list[str] = Field(
        default_factory=lambda: ["telegram", "reddit", "discourse", "phpbb", "xenforo"],
        description="Platforms whose public leads are watched automatically.",
    )
    lead_min_members: int = Field(default=0, ge=0, description="Leads smaller than this are not watched.")


class TelegramSettings(Section):
    web_base_url: str = Field(default="https://t.me", description="Base of the public web previews.")
    use_api: Flag = Field(
        default=False,
        description="Use the Telegram API (Telethon) with TELEGRAM_API_ID / TELEGRAM_API_HASH "
        "and a session created by `resurface telegram login`.",
    )
    session_file: str = Field(default="telegram.session", description="Relative to the data directory.")
    flood_wait_max_sleep: int = Field(
        default=60, ge=0, description="Sleep through shorter FloodWaits; reschedule the source on longer."
    )
    interval_minutes: int = Field(default=60, ge=1)


class RedditSettings(Section):
    oauth_url: str = Field(default="https://oauth.reddit.com")
    reddit_url: str = Field(default="https://www.reddit.com")
    interval_minutes: int = Field(default=120, ge=1)
    comments_per_post: int = Field(default=100, ge=0)


class ForumSettings(Section):
    interval_minutes: int = Field(default=240, ge=1)


class DetectSettings(Section):
    shutdown_confirmations: int = Field(
        default=3, ge=1, description="Consecutive failed observations before a shutdown is confirmed."
    )
    alert_level: Literal["possible", "likely", "strong"] = Field(
        default="likely", description="Candidates at or above this level raise an alert."
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "announcement": 0.35,
            "name": 0.15,
            "members": 0.25,
            "content": 0.2,
            "timing": 0.05,
        },
        description="Weight of each migration signal in the combined score.",
    )
    levels: dict[str, float] = Field(
        default_factory=lambda: {"possible": 0.25, "likely": 0.45, "strong": 0.65},
        description="Score thresholds of the levels.",
    )
    dismiss_margin: float = Field(
        default=0.15, ge=0, description="A dismissed pair alerts again only if its score rises this much."
    )
    surge_factor: float = Field(default=3.0, gt=1, description="Growth over the usual rate that is a surge.")
    min_text_length: int = Field(default=60, ge=1, description="Shorter texts get no MinHash signature.")
    timing_window_days: int = Field(default=14, ge=1)
    shutdown_hold_hours: int = Field(
        default=24, ge=0,
        description="A Telegram handle that says it does not exist may have moved: its shutdown stays 'likely' "
                    "while public Telegram links found since it was last read are unread, at most this long "
                    "(0: never held).",
    )
    full_every_hours: int = Field(
        default=24, ge=0,
        description="Detection works from what changed since its last cycle; a cycle rebuilds from the whole "
                    "store when the last full rebuild is this old (0: only the first cycle and --full).",
    )


def _alert_language(value: str) -> str:
    """A language code (``it``, ``pt_BR``). Whether the alert texts have a catalogue for it is checked by
    the alerts layer (:func:`alerts.channels.validate_audiences`, run before anything is delivered):
    the settings schema sits below it and does not load alert code."""
    if not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", value):
        raise ValueError(f"{value!r} is not a language code (e.g. en, it, pt_BR)")
    return value


class AudienceSettings(Section):
    urls: list[str] = Field(default_factory=list, description="apprise URLs; ${VAR} is read from the env.")
    detail: Literal["ngo", "investigator"] = "ngo"
    digest: Literal["off", "hourly", "daily"] = "off"
    min_level: Literal["possible", "likely", "strong"] = "likely"
    max_per_hour: int = Field(default=20, ge=1, description="Above this, alerts wait for a digest.")
    language: Annotated[str, AfterValidator(_alert_language)] = Field(
        default="en", description="Language of the summaries and next steps: en or it (catalogues in alerts/locale).")


class AlertSettings(Section):
    audiences: dict[str, AudienceSettings] = Field(default_factory=dict)
    max_attempts: int = Field(default=8, ge=1)


class SearchSettings(Section):
    backend: Literal["embedded", "elasticsearch"] = "embedded"
    embedded_path: str = Field(default="search.db", description="Relative to the data directory.")
    es_url: str = Field(default="", description="Elasticsearch URL; RESURFACE_ES_API_KEY or user/password.")
    es_username: str = ""
    es_verify_certs: Flag = True
    es_ca_certs: str = ""
    es_index_prefix: str = "resurface"
    batch_size: int = Field(default=500, ge=1)


class SchedulerSettings(Section):
    jitter_seconds: int = Field(default=120, ge=0)
    detect_interval_minutes: int = Field(default=30, ge=1)
    deliver_interval_minutes: int = Field(default=2, ge=1)
    index_interval_minutes: int = Field(default=5, ge=1)
    purge_interval_hours: int = Field(default=24, ge=1)


class WebSettings(Section):
    host: str = Field(default="127.0.0.1", description="Where `resurface web` listens (loopback by default).")
    port: int = Field(default=8350, ge=1, le=65535)
    session_minutes: int = Field(default=480, ge=1, description="A signed-in session ends after this long.")
    secure_cookies: Flag = Field(default=False, description="Mark cookies Secure (set behind HTTPS).")
    login_attempts_per_minute: int = Field(default=5, ge=1, description="Failed sign-ins per name and address.")
    oidc_issuer: str = Field(default="", description="OpenID Connect issuer URL; empty: no single sign-on.")
    oidc_client_id: str = ""
    oidc_client_secret_env: str = Field(default="RESURFACE_OIDC_SECRET",
                                        description="Environment variable holding the client secret.")


class ServiceSettings(Section):
    """How the service runs its work: in its own process (``local``) or on Celery workers (``celery``)."""

    executor: Literal["local", "celery"] = Field(
        default="local",
        description="local: `resurface run` crawls and detects itself. celery: it only enqueues due work and "
        "`resurface worker` processes run it (needs a PostgreSQL store.url).",
    )
    broker_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker (Redis or RabbitMQ).")
    rate_limit_url: str = Field(
        default="", description="Redis holding the per-host rate limits shared by all workers; empty: broker_url "
        "when it is a Redis URL.")
    queue_prefix: str = Field(default="resurface", description="Prefix of the queue and lock names in the broker.")
    visibility_timeout_seconds: int = Field(
        default=3600, ge=1, description="Redis broker: a task a dead worker held is redelivered after this long.")
    restore_interval_seconds: int = Field(
        default=10, ge=1, description="Redis broker: how often workers look for tasks of dead workers.")


class Settings(Section):
    data_dir: str = Field(default="data", description="Relative to the config file's folder.")
    store: StoreSettings = Field(default_factory=StoreSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    reddit: RedditSettings = Field(default_factory=RedditSettings)
    forums: ForumSettings = Field(default_factory=ForumSettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    # Where the settings came from; set by the loader, not by the file.
    base_dir: Path = Field(default=Path("."), exclude=True)
    source: str = Field(default="<defaults>", exclude=True)

    @property
    def data_path(self) -> Path:
        path = Path(self.data_dir).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_path / 'resurface.db'}"

    def check_executor(self) -> None:
        """``service.executor = "celery"`` needs a store every worker shares: PostgreSQL, never SQLite."""
        if self.service.executor == "celery" and self.store_url.startswith("sqlite"):
            raise ConfigError(
                f"{self.source}: service.executor = \"celery\" needs a PostgreSQL store, but store.url is "
                f"{self.store.url or '(empty: SQLite in data_dir)'!s}; set store.url = "
                "\"postgresql+psycopg://user@host/db\" or service.executor = \"local\"")

    @property
    def audit_key_path(self) -> Path:
        """The audit log's HMAC key: outside the database, like the pseudonym key."""
        return self.data_path / "audit.key"

    @property
    def audit_checkpoint_path(self) -> Path:
        """Signed checkpoints of the audit chain's head, outside the database."""
        return self.data_path / "audit-checkpoints.jsonl"

    @property
    def key_path(self) -> Path:
        path = Path(self.privacy.key_file).expanduser()
        return path if path.is_absolute() else self.base_dir / path
