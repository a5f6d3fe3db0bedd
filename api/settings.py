"""Service configuration, from environment variables (``HWSEARCH_*``) or arguments.

The default needs nothing else running: a SQLite file under the data directory and
local worker processes. Set ``HWSEARCH_DATABASE_URL`` (PostgreSQL) and
``HWSEARCH_BROKER_URL`` (Redis) to spread workers over machines with Celery.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "hwsearch"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HWSEARCH_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Database file (SQLite) and job checkpoints.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/hwsearch.db.")
    broker_url: str | None = Field(None, description="Celery broker (e.g. redis://127.0.0.1:6379/0); None = local workers.")
    workers: int = Field(1, ge=0, description="Local worker processes started by `hwsearch serve`.")
    request_threads: int = Field(
        40, ge=1, description="Threads that run the API's routes; the database pool keeps a connection for each."
    )
    lease_seconds: float = Field(30.0, gt=0, description="A running job whose worker is silent this long is re-queued.")
    max_body_bytes: int = Field(1_000_000, description="Largest JSON request body accepted.")
    max_upload_bytes: int = Field(5_000_000, description="Largest hardware table upload accepted.")
    max_episodes: int = Field(5_000, description="Most episodes one job may ask for.")
    max_model_bytes: int = Field(200_000_000, ge=1, description="Largest ONNX model upload accepted.")
    max_dataset_bytes: int = Field(200_000_000, ge=1, description="Largest .npz data set upload accepted.")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hwsearch.db'}"

    @property
    def checkpoint_root(self) -> Path:
        return self.data_dir / "checkpoints"
