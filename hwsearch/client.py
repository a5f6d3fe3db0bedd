"""A small Python client for the hwsearch service (``hwsearch serve``), over its JSON API.

It imports nothing of hwsearch: a laptop that only submits jobs and downloads exports
needs httpx, not torch. Every failure is a ``ClientError`` carrying the service's own
one-line message (``{"message": ...}``) and the HTTP status, or saying the server could
not be reached.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

API_PREFIX = "/api/v1"
SERVER_ENV = "HWSEARCH_SERVER"
KEY_ENV = "HWSEARCH_API_KEY"


class ClientError(Exception):
    """A request the service refused (``status`` is its HTTP status) or could not get (``status`` is None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _refusal(response: httpx.Response) -> ClientError:
    """The service answers every error with JSON ``{"message": ...}``; a proxy may not."""
    try:
        message = response.json()["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text.strip()[:200] or response.reason_phrase
    return ClientError(f"{message} (HTTP {response.status_code})", response.status_code)


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) of each server-sent event; comments (keep-alive pings) are skipped."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)


class Client:
    """The service's routes as methods returning its JSON; use as a context manager to close the connection."""

    def __init__(self, server: str | None = None, key: str | None = None, timeout: float = 300.0) -> None:
        """``server`` (e.g. http://127.0.0.1:8000) and ``key`` default to $HWSEARCH_SERVER and $HWSEARCH_API_KEY.

        The timeout is generous because an upload's check and a model export run on the server while we wait.
        """
        server = server or os.environ.get(SERVER_ENV)
        key = key or os.environ.get(KEY_ENV)
        if not server:
            raise ClientError(f"no server: pass --server URL or set {SERVER_ENV} (e.g. http://127.0.0.1:8000)")
        if not server.startswith(("http://", "https://")):
            raise ClientError(f"server: expected a URL like http://127.0.0.1:8000, got {server!r}")
        if not key:
            raise ClientError(f"no API key: pass --key KEY or set {KEY_ENV} (`hwsearch keys create` on the server makes one)")
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server + API_PREFIX, headers={"Authorization": f"Bearer {key}"}, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _unreachable(self, exc: httpx.HTTPError) -> ClientError:
        if isinstance(exc, httpx.ConnectError):
            return ClientError(f"cannot reach the hwsearch service at {self.server}: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return ClientError(f"the hwsearch service at {self.server} did not answer in time ({type(exc).__name__})")
        return ClientError(f"request to {self.server} failed: {exc}")

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.is_error:
            raise _refusal(response)
        return response

    def _upload(self, route: str, path: str | Path, form: dict[str, str | None]) -> dict:
        path = Path(path)
        with path.open("rb") as file:
            data = {k: v for k, v in form.items() if v is not None}
            return self._request("POST", route, files={"file": (path.name, file)}, data=data).json()

    def upload_model(self, path: str | Path, name: str | None = None) -> dict:
        """Upload an ONNX model; the answer's ``ref`` (upload:ID) names it in a job, its ``report`` lists the layers."""
        return self._upload("/models", path, {"name": name})

    def upload_dataset(self, path: str | Path, name: str | None = None, model: str | None = None) -> dict:
        """Upload an .npz data set; with ``model`` the server also checks image shape and labels against it."""
        return self._upload("/datasets", path, {"name": name, "model": model})

    def models(self) -> list[dict]:
        """Built-in models and this key's uploads."""
        return self._request("GET", "/models").json()

    def datasets(self) -> list[dict]:
        """This key's uploaded data sets."""
        return self._request("GET", "/datasets").json()

    def submit(self, spec: dict) -> dict:
        """Queue a search job; the service validates the spec first (a 422 names the field)."""
        return self._request("POST", "/jobs", json=spec).json()

    def job(self, job_id: int) -> dict:
        """A job with its progress, per-episode history and ``best_policy_id``."""
        return self._request("GET", f"/jobs/{job_id}").json()

    def jobs(self, **filters: Any) -> list[dict]:
        """This key's jobs, newest first (filters: state, limit, offset)."""
        return self._request("GET", "/jobs", params=filters).json()["items"]

    def cancel(self, job_id: int) -> dict:
        """Ask a job to stop; a running one stops within one episode and keeps its best policy."""
        return self._request("POST", f"/jobs/{job_id}/cancel").json()

    def events(self, job_id: int) -> Iterator[dict]:
        """The job's server-sent events as ``{"event": "progress" | "done", "data": {...}}``, up to ``done``.

        Streaming, unlike polling, sees every change as soon as the server does.
        """
        try:
            with self._http.stream("GET", f"/jobs/{job_id}/events") as response:
                if response.is_error:
                    response.read()
                    raise _refusal(response)
                for event, data in _sse(response.iter_lines()):
                    yield {"event": event, "data": json.loads(data)}
                    if event == "done":
                        return
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        raise ClientError(f"the event stream of job {job_id} ended before the job did")

    def wait(self, job_id: int, on_progress: Callable[[dict], None] | None = None) -> dict:
        """Follow the job until it ends, passing each event's data to ``on_progress``; returns the job."""
        for event in self.events(job_id):
            if on_progress is not None:
                on_progress(event["data"])
        return self.job(job_id)

    def policy(self, policy_id: int) -> dict:
        """A stored policy layer by layer, with totals and the full policy document."""
        return self._request("GET", f"/policies/{policy_id}").json()

    def policies(self, **filters: Any) -> list[dict]:
        """This key's policies (filters as GET /policies: model, target, job, kind, sort, limit, ...)."""
        return self._request("GET", "/policies", params=filters).json()["items"]

    def verify(self, policy_id: int, queue: str | None = None, warmup: int = 5, repeats: int = 30) -> dict:
        """Queue a timing of the policy's exported model against its table, on the machine of
        ``queue`` (None: the service's workers); returns the job. Its figures then appear as
        ``verification`` in ``policy(policy_id)``."""
        body = {"queue": queue, "warmup": warmup, "repeats": repeats}
        return self._request("POST", f"/policies/{policy_id}/verify", json=body).json()

    def export(self, policy_id: int, fmt: str, out_path: str | Path) -> Path:
        """Download a policy's export (policy, onnx, encodings, weights or csv) to ``out_path``."""
        response = self._request("GET", f"/policies/{policy_id}/export", params={"format": fmt})
        out = Path(out_path)
        out.write_bytes(response.content)
        return out
