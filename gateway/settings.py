"""Configuration from `WECONN_*` environment variables (pydantic-settings)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each field is read from `WECONN_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="WECONN_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".weconn")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    base_path: str = "/api/v1"
    secret_key: str | None = None
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    max_body_bytes: int = 512 * 1024
    import_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1)  # the contact import's body limit
    default_page_size: int = 20
    max_page_size: int = 100
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 2000
    api_key_touch_interval_seconds: int = 60
    # A verified key is trusted this long in each process; revoking through this process (or any
    # process, after this many seconds) takes effect. 0 checks the database on every request.
    api_key_cache_seconds: float = 2.0
    bootstrap_demo: bool = True
    log_level: str = "info"
    cors_origins: str = ""  # comma-separated origins allowed to call from a browser, or "*"
    redis_url: str | None = None  # set: Redis broker and `weconn worker` processes (scaled out)
    embedded_worker_threads: int = Field(default=8, ge=1)
    send_max_attempts: int = Field(default=5, ge=1)
    send_retry_base_ms: int = Field(default=1000, ge=1)  # backoff doubles from here, with jitter
    send_lease_seconds: int = Field(default=60, ge=1)  # a claimed send is someone's for this long
    sweep_interval_seconds: float = 15.0
    sweep_stale_seconds: int = 30  # queued or lease-expired sending this long: re-enqueued
    # `sent` this long with no receipt: the provider is asked for the status (receipts can be lost).
    receipt_timeout_seconds: int = 600
    # A receipt that overtook the commit of its message's `sent` is retried this many times
    # (backoff doubling from 0.2 s: about 50 s in all with 8).
    receipt_ahead_retries: int = 8
    # The sandbox's voice calls move a step (ringing, answered, completed) this often.
    sandbox_call_step_ms: int = Field(default=500, ge=0)
    scheduler_interval_seconds: float = Field(default=1.0, gt=0)  # due campaigns are claimed this often
    campaign_stall_seconds: int = Field(default=30, ge=1)  # a fan-out silent this long is resumed
    campaign_chunk_size: int = Field(default=1000, ge=1, le=5000)  # contacts per fan-out transaction
    idempotency_ttl_seconds: int = 24 * 3600
    platform_sms_provider: str = "sandbox"  # the provider of `sms_routing: "platform"`
    platform_sms_sender: str = "WeConn"
    sandbox_delivery_delay_ms: int = 200  # the sandbox reports `delivered` this long after sending
    # Each sandbox send takes this long, as a provider's API round trip would (load and chaos tests).
    sandbox_send_latency_ms: int = Field(default=0, ge=0)
    db_pool_size: int = Field(default=20, ge=1)
    # Where providers reach this service from outside, e.g. "https://gw.example.com": Twilio's
    # StatusCallback is built from it, and signatures are checked against it (behind a proxy the
    # URL a request arrives on differs from the one the provider called). Unset: no StatusCallback.
    public_base_url: str | None = None
    provider_timeout_seconds: float = Field(default=15.0, gt=0)  # per provider API call (or config `timeout`)
    twilio_api_base_url: str = "https://api.twilio.com"  # overridden by tests to reach a local stub
    # The platform's own Twilio account, used by `sms_routing: "platform"` when
    # WECONN_PLATFORM_SMS_PROVIDER=twilio (integrations carry their own credentials).
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    graph_api_base_url: str = "https://graph.facebook.com"  # Meta Graph API (WhatsApp Cloud); tests: a stub
    graph_api_version: str = "v23.0"  # default Graph API version; a channel config's `api_version` wins
    # WhatsApp webhook: the token Meta echoes when subscribing, and the app secret that signs deliveries.
    # Unset: the subscription challenge and every delivery are refused (403).
    whatsapp_verify_token: str | None = None
    whatsapp_app_secret: str | None = None
    # Outgoing webhooks. Seconds before each attempt of a delivery (the first: right away), with jitter.
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)  # a 2xx must come back within this
    webhook_disable_after_seconds: int = Field(default=5 * 24 * 3600, ge=0)  # failing this long: disabled
    webhook_secret_overlap_seconds: int = Field(default=24 * 3600, ge=0)  # a rotated-out secret keeps signing
    webhook_dispatch_interval_seconds: float = Field(default=0.25, gt=0)  # how often new events are read
    webhook_lease_seconds: int = Field(default=60, ge=1)  # a claimed delivery or stream is held this long
    # An event id still missing this long after later ones were written belongs to a rolled-back
    # transaction (PostgreSQL hands out ids before commit): the dispatcher stops waiting for it.
    webhook_gap_seconds: float = Field(default=5.0, ge=0)
    # Lifts the SSRF guard (loopback, private and link-local targets): development and tests only.
    webhook_allow_private: bool = False

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_is_seconds(cls, value: str) -> str:
        try:
            delays = [float(part) for part in value.split(",")]
        except ValueError:
            raise ValueError("comma-separated seconds, e.g. 0,5,300") from None
        if not delays or any(delay < 0 for delay in delays):
            raise ValueError("at least one delay, none negative")
        return value

    @model_validator(mode="after")
    def _no_private_webhooks_in_production(self) -> Settings:
        if self.is_production and self.webhook_allow_private:
            raise ValueError(
                "WECONN_WEBHOOK_ALLOW_PRIVATE is for development and tests; production refuses it"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def webhook_retry_delays(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule.split(",")]

    @property
    def allowed_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'weconn.db').resolve()}"

    def signing_key(self) -> str:
        """The token signing key: configured, or generated once and kept in the data directory."""
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise RuntimeError("WECONN_SECRET_KEY must be at least 32 characters")
            return self.secret_key
        if self.is_production:
            raise RuntimeError("WECONN_SECRET_KEY must be set in production mode")
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        self.secret_key = key_file.read_text().strip()
        return self.secret_key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
