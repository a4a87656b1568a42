import pytest
from pydantic import ValidationError

from crm.core.settings import Settings


def test_embedded_default_generates_a_secret_once(tmp_path):
    first = Settings(environment="development", var_dir=tmp_path, secret_key="")
    second = Settings(environment="development", var_dir=tmp_path, secret_key="")
    assert len(first.secret_key) >= 48
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first.database_url == f"sqlite:///{tmp_path / 'crm.sqlite3'}"


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize("secret", ["", "changeme", "secret"])
def test_outside_development_placeholder_secrets_are_refused(tmp_path, environment, secret):
    with pytest.raises(ValidationError, match="CRM_SECRET_KEY"):
        Settings(environment=environment, var_dir=tmp_path, secret_key=secret)
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_a_short_secret(tmp_path):
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(environment="production", var_dir=tmp_path, secret_key="too-short-but-real")


def test_production_accepts_a_real_secret(tmp_path):
    settings = Settings(environment="production", var_dir=tmp_path, secret_key="k" * 40)
    assert settings.secret_key == "k" * 40
    assert not (tmp_path / "secret_key").exists()


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("CRM_TIME_ZONE", "America/New_York")
    monkeypatch.setenv("CRM_DEFAULT_LANGUAGE", "de")
    settings = Settings(var_dir=tmp_path)
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert (settings.time_zone, settings.default_language) == ("America/New_York", "de")
    assert not settings.is_sqlite


def test_unknown_time_zone_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(var_dir=tmp_path, time_zone="Mars/Olympus")


def test_threads_suit_the_database(tmp_path):
    assert Settings(var_dir=tmp_path).threads == 2
    pg = Settings(var_dir=tmp_path, database_url="postgresql+psycopg://u@h/db")
    assert pg.threads == 10
    assert Settings(var_dir=tmp_path, threads=1).threads == 1
    with pytest.raises(ValidationError):
        Settings(var_dir=tmp_path, threads=-1)
