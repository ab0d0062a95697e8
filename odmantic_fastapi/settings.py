"""Connection settings read from the environment (MONGODB_URL, MONGODB_DATABASE, client options)."""

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .utils import check_database_name

__all__ = ["EMBEDDED_URL", "MongoSettings"]

# MONGODB_URL=embedded:// starts the embedded server (in memory, or in
# MONGODB_EMBEDDED_DATA_DIR when set) instead of connecting to a deployment.
EMBEDDED_URL = "embedded://"


class MongoSettings(BaseSettings):
    """Where the database is and how to talk to it.

    Every field reads the environment variable of the same name with the
    ``MONGODB_`` prefix, e.g. ``MONGODB_URL``, ``MONGODB_DATABASE``,
    ``MONGODB_MAX_POOL_SIZE``. ``mongodb+srv://`` URLs and TLS options work as
    pymongo documents them.
    """

    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    url: SecretStr = Field(
        description="mongodb:// or mongodb+srv:// connection string, or embedded://"
    )
    database: str = Field(default="app", min_length=1, max_length=63)
    client: Literal["pymongo", "motor"] = "pymongo"
    app_name: str | None = None
    max_pool_size: int | None = Field(default=None, ge=1)
    min_pool_size: int | None = Field(default=None, ge=0)
    server_selection_timeout_ms: int | None = Field(default=None, ge=1)
    connect_timeout_ms: int | None = Field(default=None, ge=1)
    tls: bool | None = None
    tls_ca_file: Path | None = None
    tls_certificate_key_file: Path | None = None
    embedded_data_dir: Path | None = None

    @field_validator("database")
    @classmethod
    def _valid_database_name(cls, value: str) -> str:
        check_database_name(value)
        return value

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw.startswith(("mongodb://", "mongodb+srv://", EMBEDDED_URL)):
            raise ValueError("must start with mongodb://, mongodb+srv:// or embedded://")
        return value

    @property
    def uses_embedded_server(self) -> bool:
        return self.url.get_secret_value().startswith(EMBEDDED_URL)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for MongoClient/AsyncMongoClient, only those that are set."""
        options: dict[str, Any] = {
            "appname": self.app_name,
            "maxPoolSize": self.max_pool_size,
            "minPoolSize": self.min_pool_size,
            "serverSelectionTimeoutMS": self.server_selection_timeout_ms,
            "connectTimeoutMS": self.connect_timeout_ms,
            "tls": self.tls,
            "tlsCAFile": str(self.tls_ca_file) if self.tls_ca_file else None,
            "tlsCertificateKeyFile": (
                str(self.tls_certificate_key_file) if self.tls_certificate_key_file else None
            ),
        }
        return {key: value for key, value in options.items() if value is not None}
