"""Service configuration, from environment variables (``HWSEARCH_*``) or arguments.

The default needs nothing else running: a SQLite file under the data directory and
local worker processes. Set ``HWSEARCH_DATABASE_URL`` (PostgreSQL) and
``HWSEARCH_BROKER_URL`` (Redis) to spread workers over machines with Celery.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# SearchSpec's (hwsearch.core.spec.DEVICE_PATTERN), written out: settings load without torch;
# tests/test_device.py checks the two agree
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]{1,2})?)$"


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "hwsearch"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HWSEARCH_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Database file (SQLite) and uploaded files.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/hwsearch.db.")
    broker_url: str | None = Field(None, description="Celery broker (e.g. redis://127.0.0.1:6379/0); None = local workers.")
    workers: int = Field(1, ge=0, description="Local worker processes started by `hwsearch serve`.")
    api_processes: int = Field(
        1, ge=1, le=64, description="API processes `hwsearch serve` runs on its port (uvicorn workers); each has its own request threads."
    )
    request_threads: int = Field(
        2,
        ge=1,
        description=(
            "Threads per API process that run the quick routes (reads, cancels); the database pool keeps a connection "
            "for each. Few threads keep latency even: more fight over the GIL."
        ),
    )
    slow_threads: int = Field(
        2,
        ge=1,
        le=64,
        description=(
            "Threads per API process for routes that take seconds (uploads, exports, job submits): they never hold "
            "the request threads. More uploads or exports at once wait for one of these."
        ),
    )
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description="Where this worker runs jobs whose spec says device 'auto': auto (a GPU if there is one), cpu, cuda or "
        "cuda:N (one worker per GPU on a machine with several).",
    )
    lease_seconds: float = Field(30.0, gt=0, description="A running job whose worker is silent this long is re-queued.")
    dispatch_interval_seconds: float = Field(1.0, gt=0, le=60, description="Celery mode: how often the server sends queued jobs and re-queues expired ones.")
    worker_stale_seconds: float = Field(
        15.0, gt=0, le=3600, description="A worker whose heartbeat is older than this is not alive (/healthz); workers beat every third of it."
    )
    max_attempts: int = Field(3, ge=1, le=100, description="Runs a job gets whose worker dies mid-run before it is failed.")
    max_body_bytes: int = Field(1_000_000, description="Largest JSON request body accepted.")
    max_upload_bytes: int = Field(5_000_000, description="Largest hardware table upload accepted.")
    max_episodes: int = Field(5_000, ge=1, description="Most episodes one job may ask for.")
    max_finetune_steps: int = Field(10_000, ge=0, description="Most fine-tune steps one job may ask for (finetune_steps).")
    max_robust_samples: int = Field(5_000, ge=1, description="Most images one job may attack (robust.samples).")
    max_robust_steps: int = Field(100, ge=1, description="Most attack iterations one job may ask for (robust.steps).")
    max_model_bytes: int = Field(200_000_000, ge=1, description="Largest ONNX model upload accepted.")
    max_dataset_bytes: int = Field(200_000_000, ge=1, description="Largest .npz data set upload accepted.")
    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests a minute each API key may make (bursts up to that many); 0 = no limit. With several API processes each enforces its share."
    )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hwsearch.db'}"
