"""Settings read from the environment (prefix ``CRM_``)."""

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    var_dir: Path = ROOT / "var"
    database_url: str = ""
    secret_key: str = ""
    time_zone: str = "Europe/Berlin"
    default_language: Literal["en", "de"] = "en"
    # Phone numbers typed without a country code are read as numbers of this region.
    phone_region: str = "DE"
    session_max_age_days: int = 14
    run_scheduler: bool = True
    # How often the scheduler evaluates the follow-up rules.
    followup_interval_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # Where e-mail goes out (double opt-in confirmations); none: no e-mail is sent.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "crm@localhost"
    # Log in to the mail server when a user is set; "starttls" or "ssl" encrypt the line.
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    # A mail read from a mailbox that is larger than this is kept as its headers and size.
    mail_max_mb: int = Field(default=10, ge=1, le=200)
    # The largest file an import accepts.
    import_max_mb: int = 25
    # Requests served at once by one process; 0 chooses: 2 on SQLite, where the database
    # runs inside the process and more threads only take turns at the interpreter lock
    # (each turn costs), 10 on PostgreSQL, where threads wait for the server.
    threads: int = Field(default=0, ge=0, le=200)
    # The addresses of reverse proxies whose X-Forwarded-For and -Proto are believed
    # (comma-separated IPs or networks, "*" for any); none by default, so that a client
    # cannot name its own address (and dodge the login lock per address).
    forwarded_allow_ips: str = ""
    # For the benchmark: answer each request with X-SQL-Statements, the statements it ran.
    count_statements: bool = False

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _defaults(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'crm.sqlite3'}"
        if not self.threads:
            self.threads = 2 if self.is_sqlite else 10
        if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            if self.environment != "development":
                raise ValueError(
                    "CRM_SECRET_KEY must be set to a long random value outside development"
                )
            self.secret_key = _local_secret(self.var_dir)
        elif self.environment == "production" and len(self.secret_key) < 32:
            raise ValueError("CRM_SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _local_secret(var_dir: Path) -> str:
    """The embedded default keeps a generated secret beside its database."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
