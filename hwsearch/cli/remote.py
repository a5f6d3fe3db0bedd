"""``hwsearch remote ...``: upload, submit, follow and download through a running service (``hwsearch.client``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hwsearch.cli.errors import err, fail
from hwsearch.client import Client, ClientError

app = typer.Typer(help="Use a running hwsearch service: uploads, jobs, policies.", no_args_is_help=True)
console = Console(markup=False)  # names and file names are the user's: '[x]' in one is text, not style


@app.callback()
def connect(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option(help="Service URL, e.g. http://127.0.0.1:8000 (default: $HWSEARCH_SERVER).")] = None,
    key: Annotated[str | None, typer.Option(help="API key (default: $HWSEARCH_API_KEY).", show_default=False)] = None,
) -> None:
    """Connect lazily: a sub-command's --help needs no server."""
    ctx.obj = (server, key)


@contextmanager
def _client(ctx: typer.Context) -> Iterator[Client]:
    """A client whose every failure (refusal, unreachable server, unreadable file) is one line."""
    try:
        with Client(*ctx.obj) as client:
            yield client
    except (ClientError, OSError) as exc:
        fail(str(exc))


def _table(*columns: str) -> Table:
    """Compact, and folding rather than cutting long names: a ref must stay readable in 80 columns."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command("upload-model")
def upload_model(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An .onnx file.")],
    name: Annotated[str | None, typer.Option(help="A label (default: the file's name).")] = None,
) -> None:
    """Upload an ONNX model; the service checks it and answers with its quantizable layers."""
    with _client(ctx) as client:
        model = client.upload_model(path, name)
    report = model["report"]
    console.print(f"uploaded {model['filename']} as {model['ref']}: {len(report['layers'])} quantizable layers "
                  f"({_pct(report['quantized_share'])} of the weights), input {'x'.join(map(str, report['input_shape']))}", soft_wrap=True)
    for layer in report["layers"]:
        console.print(f"  {layer['name']}  {layer['op']}")
    for weights in report["unquantized"]:
        err.print(f"[yellow]warning:[/yellow] {weights['kind']} weights stay float ({_pct(weights['share'])} of the model)", soft_wrap=True)


@app.command("upload-data")
def upload_data(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An .npz with x/y or x_calib/y_calib, x_val/y_val, x_test/y_test.")],
    name: Annotated[str | None, typer.Option(help="A label (default: the file's name).")] = None,
    model: Annotated[str | None, typer.Option(help="Check shapes and labels against this model (a name or upload:ID).")] = None,
) -> None:
    """Upload an .npz data set; the service checks its arrays (and their fit to --model)."""
    with _client(ctx) as client:
        data = client.upload_dataset(path, name, model)
    counts = ", ".join(f"{split} {n}" for split, n in data["counts"].items())
    console.print(f"uploaded {data['filename']} as {data['ref']}: {counts} images of "
                  f"{'x'.join(map(str, data['image_shape']))} {data['dtype']}, {data['num_classes']} classes", soft_wrap=True)
    for warning in data["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)


def _follow(client: Client, job_id: int) -> None:
    """A progress bar fed by the job's event stream, then its outcome; a failed job is an error."""
    total = client.job(job_id)["spec"]["episodes"]
    progress = Progress(
        TextColumn("[bold]job {task.fields[job]} {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}  lat {task.fields[lat]} ms"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("queued", total=total, job=job_id, best="-", lat="-")

        def update(data: dict) -> None:
            p = data["progress"] or {}
            progress.update(task, description=data["state"], completed=p.get("episode", 0),
                            best=_pct(p.get("best_accuracy")), lat=_num(p.get("best_latency_ms")))

        try:
            job = client.wait(job_id, on_progress=update)
        except KeyboardInterrupt:
            fail(f"stopped following; job {job_id} goes on (hwsearch remote wait {job_id})")
        if job["state"] == "succeeded":
            progress.update(task, completed=total)
    if job["state"] == "failed":
        fail(f"job {job_id} failed: {job['error']}")
    best = job["best_policy_id"]
    console.print(f"job {job_id} {job['state']}: " + (f"best policy {best}" if best is not None else "no policy"))


@app.command("submit")
def submit(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="A built-in model or upload:ID.")],
    target: Annotated[str, typer.Option(help="A hardware target (GET /hardware) or upload:ID.")],
    budget: Annotated[float, typer.Option(help="Cost budget relative to uniform 8-bit, e.g. 0.5.")],
    data: Annotated[str | None, typer.Option(help="A built-in data set or upload:ID (default: the model's).")] = None,
    objective: Annotated[str | None, typer.Option(help="latency or energy (default: the service's).")] = None,
    agent: Annotated[str | None, typer.Option(help="ddpg, td3, sac, ppo, random, ... (default: the service's).")] = None,
    episodes: Annotated[int | None, typer.Option(help="Episodes (default: the service's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job's progress until it ends.")] = False,
) -> None:
    """Submit a search job; the service validates it before queuing."""
    options = {"data": data, "objective": objective, "agent": agent, "episodes": episodes, "seed": seed}
    spec = {"model": model, "target": target, "budget": {"relative": budget}} | {k: v for k, v in options.items() if v is not None}
    with _client(ctx) as client:
        job = client.submit(spec)
        console.print(f"submitted job {job['id']} ({job['state']})")
        if wait:
            _follow(client, job["id"])


def _jobs_table(jobs: list[dict]) -> Table:
    table = _table("job", "state", "model", "target", "episodes", "best acc", "lat ms", "policy")
    for job in jobs:
        p, spec = job["progress"] or {}, job["spec"]
        kind = spec.get("kind")  # measurements and timings are jobs too, without episodes
        what = {"measure": f"measured on {job['queue']}", "verify": f"timing of policy {spec.get('policy_id')}"}.get(kind)
        table.add_row(
            str(job["id"]), job["state"], spec.get("model", "-"), what or spec.get("target", "-"),
            "-" if kind else f"{p.get('episode', 0)}/{spec.get('episodes', '?')}", _pct(p.get("best_accuracy")),
            _num(p.get("best_latency_ms")), str(job["best_policy_id"] or "-"),
        )
    return table


@app.command("jobs")
def jobs(ctx: typer.Context) -> None:
    """List your jobs, newest first."""
    with _client(ctx) as client:
        console.print(_jobs_table(client.jobs()))


@app.command("job")
def job(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Show one job (and why it failed)."""
    with _client(ctx) as client:
        found = client.job(job_id)
    console.print(_jobs_table([found]))
    if found["error"]:
        console.print(f"error: {found['error']}", soft_wrap=True)


@app.command("wait")
def wait(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Follow a job's progress until it ends."""
    with _client(ctx) as client:
        _follow(client, job_id)


@app.command("cancel")
def cancel(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Cancel a job; a running one stops within one episode and keeps its best policy."""
    with _client(ctx) as client:
        found = client.cancel(job_id)
    console.print(f"job {job_id}: {found['state']}" + (", stopping within one episode" if found["state"] == "running" else ""))


@app.command("download")
def download(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="File to write.")],
    policy_id: Annotated[int | None, typer.Argument(help="Policy id (or give --best-of-job).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="policy, onnx, encodings, weights or csv.")] = "policy",
    best_of_job: Annotated[int | None, typer.Option(help="Download this job's best policy instead of POLICY_ID.")] = None,
) -> None:
    """Download a policy's export (see docs/exports.md)."""
    if (policy_id is None) == (best_of_job is None):
        fail("give exactly one of POLICY_ID or --best-of-job JOB_ID")
    with _client(ctx) as client:
        if best_of_job is not None:
            found = client.job(best_of_job)
            policy_id = found["best_policy_id"]
            if policy_id is None:
                fail(f"job {best_of_job} has no best policy ({found['state']})")
        written = client.export(policy_id, fmt, out)
    console.print(f"policy {policy_id} ({fmt}) written to {written}")


@app.command("verify")
def verify(
    ctx: typer.Context,
    policy_id: Annotated[int, typer.Argument(help="Policy id.")],
    queue: Annotated[str | None, typer.Option(help="The measure queue of the machine to time on (default: the service's workers).")] = None,
    repeats: Annotated[int, typer.Option(help="Timed runs of each model.")] = 30,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 5,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the timing and print it.")] = False,
) -> None:
    """Time a policy's exported model against its table on a worker (predicted against measured)."""
    with _client(ctx) as client:
        job = client.verify(policy_id, queue, warmup, repeats)
        console.print(f"queued job {job['id']} ({'queue ' + queue if queue else 'the service' + chr(39) + 's workers'})")
        if not wait:
            return
        done = client.wait(job["id"])
        if done["state"] != "succeeded":
            fail(f"job {job['id']} {done['state']}: {done['error'] or 'no timing'}")
        figures = client.policy(policy_id)["verification"]
    table = _table("model", "predicted", "measured (median ms)", "measured / predicted", "runtime-aware", "measured / runtime-aware")
    ratio = lambda value: "-" if value is None else f"{value:.2f}"  # noqa: E731
    for m in figures["models"]:
        table.add_row(m["name"], _num(m["predicted_ms"]), _num(m["median_ms"]), ratio(m["ratio"]),
                      _num(m.get("runtime_predicted_ms")), ratio(m.get("runtime_ratio")))  # absent: timed before they existed
    console.print(table)
    console.print(f"measured on {figures['measured_on']}")


@app.command("models")
def models(ctx: typer.Context) -> None:
    """List built-in models and your uploads."""
    with _client(ctx) as client:
        found = client.models()
    table = _table("ref", "name", "input", "description")
    for model in found:
        table.add_row(model["ref"], model["name"], "x".join(map(str, model["input_shape"])), model["description"])
    console.print(table)


@app.command("datasets")
def datasets(ctx: typer.Context) -> None:
    """List your uploaded data sets."""
    with _client(ctx) as client:
        found = client.datasets()
    table = _table("ref", "name", "images", "shape", "classes")
    for data in found:
        counts = ", ".join(f"{split} {n}" for split, n in data["counts"].items())
        table.add_row(data["ref"], data["name"], counts, "x".join(map(str, data["image_shape"])), str(data["num_classes"]))
    console.print(table)
