"""Search quality: every agent and baseline on the built-in Fashion-MNIST models.

For each model x target x budget (fraction of uniform 8-bit latency) x agent x seed, run
one search and keep its result (JSON, one file per run, so an interrupted benchmark
resumes by skipping finished runs). Then write a table (accuracy mean and spread over
seeds, latency, energy, evaluations, wall time) and a Pareto plot.

Full grid (the issue's): ``python benchmarks/search_quality.py``. Smaller, e.g.
``--models fashion-cnn --targets bismo-edge --seeds 0 --episodes 100``; ``--workers 2`` runs
two searches at once (one torch thread each). Budgets a target
cannot meet are reported as refused (with the lowest reachable fraction), not run.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents import AGENT_NAMES, agent_class  # noqa: E402
from latency_tables import get_target  # noqa: E402
from hwsearch.search import SpecError, build_costing, run_search, spec_from_dict, validate_spec  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "search_quality"


class HeldOutScorer:
    """Each run's best policy scored once on the model's test split (10,000 images for
    the Fashion models), which no search saw.

    A search reports the best accuracy it measured on its own validation subset: the
    maximum of hundreds of noisy measurements, so it is biased upwards, the more so the
    more distinct policies a search tried (the winner's curse). The held-out figure is
    the fair one to rank searches by. Scores are only added to a run made with the same
    weights: the model's float accuracy on the run's validation subset must match the
    one the run recorded (runs made before the weights were shipped used others).
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], tuple] = {}

    def _model(self, name: str, eval_samples: int):
        key = (name, eval_samples)  # the float check is on the run's own validation subset
        if key not in self._models:
            from hwsearch.evaluate import accuracy
            from hwsearch.quant import QuantizedModel
            from hwsearch.zoo import build_model, model_dataset

            model, data = build_model(name), model_dataset(name)
            float_val = accuracy(model, data.val.head(eval_samples))
            self._models[key] = (QuantizedModel(model, data.calib.x), data.test, float_val)
        return self._models[key]

    def score(self, data: dict) -> float | None:
        """Test accuracy of ``data``'s best policy, or None if the weights differ from the run's."""
        from hwsearch.evaluate import accuracy
        from hwsearch.core.policy import Policy

        qmodel, test, float_val = self._model(data["spec"]["model"], data["spec"]["eval_samples"])
        if abs(float_val - data["float_accuracy"]) > 1e-12:
            return None
        qmodel.set_policy(Policy.from_dict(data["best"]["policy"]))
        return accuracy(qmodel, test)


def add_test_accuracy(rows: list[dict]) -> None:
    """Score every finished run's best policy on the test split once (kept in its run file)."""
    scorer = HeldOutScorer()
    for r in rows:
        d = r.get("data")
        if d is None or "test_accuracy" in d:
            continue
        value = scorer.score(d)
        if value is None:
            print(f"{r['path'].stem}: made with other weights (float accuracy differs); no test score", flush=True)
            continue
        d["test_accuracy"] = value
        r["path"].write_text(json.dumps(d))


def add_confirmation(rows: list[dict]) -> None:
    """Confirm runs stored before searches confirmed their best (``hwsearch.search.confirm``).

    Confirmation reads only a search's episodes, so applying the search's own function
    (``confirm_history``) to a stored history gives what ``run_search`` gives today; the
    run file is marked ``confirmation_added`` and its test score, if the best changed, redone.
    """
    from hwsearch.search import EvaluatedPolicy, SearchProblem, build_problem
    from hwsearch.search.confirm import confirm_history

    problems: dict[tuple, SearchProblem] = {}
    for r in rows:
        d = r.get("data")
        if d is None or "confirmation" in d:
            continue
        spec = spec_from_dict(d["spec"])
        key = (spec.model, spec.target, json.dumps(spec.budget.model_dump()), spec.eval_samples, spec.confirm_top)
        if key not in problems:
            problems[key] = build_problem(spec)
        done = confirm_history(problems[key], [EvaluatedPolicy.from_dict(h) for h in d["history"]])
        d["spec"] = spec.model_dump(mode="json")
        d["confirmation"], d["confirmation_added"] = None, True
        if done is not None:
            best, d["confirmation"] = done
            if best.policy.to_dict() != d["best"]["policy"]:
                d.pop("test_accuracy", None)
            d["best"] = best.to_dict()
            d["evaluations"] += len(d["confirmation"]["candidates"])
        r["path"].write_text(json.dumps(d))
        print(f"{r['path'].stem}: confirmed", flush=True)


def _run_one(body: dict, path: Path, threads: int | None = None, probes: Path | None = None) -> dict:
    """One search, its result written to ``path`` (the grid resumes by skipping such files).

    ``threads``: torch threads for this process; None keeps the caller's (OMP_NUM_THREADS).
    ``probes``: a ``ProbeStore`` file; a probing agent (``ilp``, ``greedy``) is given the
    probes stored there and adds the ones it measured.
    """
    import torch

    from probe_store import PROBING_AGENTS, Preload, ProbeStore

    if threads is not None:
        torch.set_num_threads(threads)
    store = ProbeStore(probes) if probes is not None and body["agent"] in PROBING_AGENTS else None
    entries, sources = store.load() if store else ([], {})
    preload = Preload(entries)
    start = time.perf_counter()
    result = run_search(body, callbacks=[preload])
    data = result.to_dict()
    data["bench_wall_s"] = time.perf_counter() - start
    data["evaluations_measured"] = preload.problem.scorer.stats.evaluations  # not taken from the store
    if store:
        data["probes_preloaded"], data["probes_from"] = len(entries), sources
        store.add(preload.problem, path.stem, data["bench_wall_s"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    print(f"{path.stem}: acc {100 * result.best.accuracy:.2f} lat {result.best.latency_ms:.4g} "
          f"evals {result.evaluations} {data['bench_wall_s']:.0f}s", flush=True)
    return data


def run_grid(args) -> list[dict]:
    """Every cell's rows; runs not yet on disk are searched, ``args.workers`` at a time.

    Several one-thread processes beat one process with every core here: a small model's
    evaluation batches are too small to keep two threads busy (fashion-mobilenet: 1.0 s
    per evaluation on one thread, 0.93 s on two).
    """
    from agent_variants import resolve
    from probe_store import probe_path

    rows, pending = [], []
    share = getattr(args, "share_probes", False)
    for model in args.models:
        for target in args.targets:
            for objective, budget in [(o, b) for o in getattr(args, "objectives", ["latency"])
                                      for b in args.budgets + args.extra_budgets.get(target, [])]:
                if "energy" in objective and get_target(target).units.get("energy") == "n/a":
                    continue  # a latency-only table
                for agent in args.agents:  # an agent's name or a label of agent_variants (haq-ddpg)
                    base, options = resolve(agent)
                    # an agent without randomness gives the same search for every seed: run it once
                    for seed in args.seeds if agent_class(base).seeded else args.seeds[:1]:
                        body = {
                            "model": model, "target": target, "objective": objective, "budget": {"relative": budget},
                            "agent": base, "episodes": args.episodes, "seed": seed, "eval_samples": args.eval_samples,
                        }
                        if options:
                            body["agent_options"] = options
                        cell = budget if objective == "latency" else f"{objective}-{budget}"  # older run files: latency only
                        key = f"{model}__{target}__{cell}__{agent}__{seed}__{args.episodes}__{args.eval_samples}"
                        path = args.out / "runs" / f"{key}.json"
                        row = {"model": model, "target": target, "objective": objective, "budget": budget, "agent": agent,
                               "seed": seed, "path": path}
                        probes = probe_path(args.out, model, args.eval_samples) if share else None
                        rows.append(row)
                        try:
                            validate_spec(spec_from_dict(body))
                        except SpecError as exc:
                            lowest = build_costing(spec_from_dict({**body, "budget": {"relative": 1.0}}))
                            row["refused"] = f"{exc.message.split(':')[0]} (lowest reachable {lowest.min_objective / lowest.int8_objective:.2f} x int8)"
                            continue
                        if path.exists():
                            row["data"] = json.loads(path.read_text())
                        else:
                            pending.append((row, body, path, probes))
    if args.report_only:
        pending = []
    elif args.workers == 1:
        for row, body, path, probes in pending:
            row["data"] = _run_one(body, path, probes=probes)
    else:
        # more torch threads than cores make OpenMP spin: measured 2-3x slower evaluations
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        # spawn: a fresh interpreter per worker, no forked torch thread pool
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            # runs in flight together do not see each other's probes: each measures what the store lacked when it started
            futures = {pool.submit(_run_one, body, path, threads, probes): row for row, body, path, probes in pending}
            for future in as_completed(futures):
                futures[future]["data"] = future.result()
    return rows


def _verdict(by_agent: dict[str, list[dict]], key: str, what: str, default: str = "ddpg") -> str:
    """The issue's two targets for one cell, on one accuracy (``key`` of a run): the default
    agent's mean against the best uniform policy and against the best mean on the table."""
    mean = {a: statistics.mean(100 * _acc(d, key) for d in runs) for a, runs in by_agent.items()
            if all(_acc(d, key) is not None for d in runs)}
    if default not in mean:
        return ""
    best = max(mean, key=mean.get)
    text = f"\n{what}: {default} {mean[default]:.2f}%; best on the table: {best} {mean[best]:.2f}% (gap {mean[best] - mean[default]:.2f} points, target <= 0.5)"
    if "uniform" in mean:
        text += f"; best uniform {mean['uniform']:.2f}% ({mean[default] - mean['uniform']:+.2f} points)"
    return text + "."


def _acc(data: dict, key: str) -> float | None:
    """A run's validation accuracy (``"val"``: the search's own estimate of its answer, on all
    the validation images it measured it on, confirmation included) or held-out one (``"test"``)."""
    if key == "test":
        return data.get("test_accuracy")
    confirmed = data["best"].get("confirmed_accuracy")
    return data["best"]["accuracy"] if confirmed is None else confirmed


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.2f}"


def summarise(rows: list[dict], episodes: int) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["target"], r["budget"]), []).append(r)
    lines = []
    for (model, target, budget), items in groups.items():
        lines.append(f"\n### {model} on {target}, latency budget {budget:g} x int8\n")
        refused = [r for r in items if "refused" in r]
        if refused:
            lines.append(f"Refused: {refused[0]['refused']}.\n")
            continue
        done = [r for r in items if "data" in r]
        missing = sorted({(r["agent"], r["seed"]) for r in items if "data" not in r})
        if not done:
            lines.append("Not run yet.\n")
            continue
        first = done[0]["data"]
        lines.append(
            f"Float accuracy {100 * first['float_accuracy']:.2f}%, int8 {100 * first['baseline_int8']['accuracy']:.2f}% "
            f"at {first['baseline_int8']['latency_ms']:.4g} ms; budget {first['budget']:.4g} ms; "
            f"{first['spec']['eval_samples']} validation images; at most {episodes} episodes.\n"
        )
        conf = next((r["data"]["confirmation"] for r in done if r["data"].get("confirmation")), None)
        if conf:
            lines.append(
                f"val: each best's accuracy on the {conf['search_samples']} search images and the {conf['samples']} "
                f"confirmation images together (the best of the top {len(conf['candidates'])}, confirmed).\n"
            )
        lines.append(
            "| agent | seeds | val accuracy % (mean ± sd) | test accuracy % (mean ± sd) | latency ms | energy mJ | episodes | evaluations | wall s (median) |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        by_agent: dict[str, list[dict]] = {}
        for r in done:
            by_agent.setdefault(r["agent"], []).append(r["data"])
        for agent, runs in by_agent.items():
            accs = [100 * _acc(d, "val") for d in runs]
            tests = [100 * d["test_accuracy"] for d in runs if "test_accuracy" in d]
            test = _mean_sd(tests) if len(tests) == len(runs) else "-"
            lat = statistics.mean(d["best"]["latency_ms"] for d in runs)
            en = statistics.mean(d["best"]["energy_mj"] or math.nan for d in runs)
            ev = statistics.mean(d["evaluations"] for d in runs)
            # fewer than asked: the agent ran out of candidates (uniform; DDPG's climb at a local optimum)
            eps = statistics.mean(len(d["history"]) for d in runs)
            wall = statistics.median(d["bench_wall_s"] for d in runs)  # a median: one run slowed by other work on the machine does not move it
            lines.append(
                f"| {agent} | {len(runs)} | {_mean_sd(accs)} | {test} | {lat:.4g} | {en:.4g} | {eps:.0f} | {ev:.0f} | {wall:.0f} |"
            )
        if missing:
            agents = {a: [str(s) for b, s in missing if b == a] for a, _ in missing}
            lines.append("Not run: " + "; ".join(f"{a} seed {', '.join(seeds)}" for a, seeds in agents.items()) + ".")
        lines.append(_verdict(by_agent, "val", "validation (selection) accuracy") + _verdict(by_agent, "test", "test (held-out) accuracy") + "\n")
    return "\n".join(lines) + "\n"


def latency_front(points: list[dict]) -> list[dict]:
    """The accuracy-latency front of a run's points, by latency. A run's stored front is over
    accuracy, latency *and* energy, so drawn against latency alone it zigzags."""
    front: list[dict] = []
    for p in sorted(points, key=lambda p: (p["latency_ms"], -p["accuracy"])):
        if not front or p["accuracy"] > front[-1]["accuracy"]:
            front.append(p)
    return front


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if "data" in r:
            groups.setdefault((r["model"], r["target"]), []).append(r)
    if not groups:
        return
    colour = {agent: f"C{i}" for i, agent in enumerate(AGENT_NAMES)}  # one colour per agent in every panel
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, ((model, target), items) in zip(axes[0], groups.items()):
        seen = set()
        for r in items:
            d = r["data"]
            if r["seed"] == items[0]["seed"] and r["agent"] == "ddpg":
                front = latency_front(d["pareto"])
                ax.plot([p["latency_ms"] for p in front], [100 * p["accuracy"] for p in front], "-", color="grey",
                        alpha=0.5, drawstyle="steps-post", label="ddpg Pareto front" if "front" not in seen else None)
                seen.add("front")
            label = r["agent"] if r["agent"] not in seen else None
            seen.add(r["agent"])
            ax.scatter(d["best"]["latency_ms"], 100 * d["best"]["accuracy"], label=label, color=colour[r["agent"]],
                       marker="*" if r["agent"] == "ddpg" else "o", s=80 if r["agent"] == "ddpg" else 30)
        for b in sorted({r["budget"] for r in items}):
            ax.axvline(items[0]["data"]["baseline_int8"]["latency_ms"] * b, ls=":", color="k", lw=0.8)
        widest = max(r["budget"] for r in items) * items[0]["data"]["baseline_int8"]["latency_ms"]
        ax.set_xlim(None, 1.5 * widest)  # the budgets' region, not the front's tail up to int8
        lowest = min(100 * r["data"]["best"]["accuracy"] for r in items)
        ax.set_ylim(lowest - 1.5, None)  # the agents' answers, not the front's low-accuracy tail
        ax.set_title(f"{model} on {target}")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["fashion-cnn", "fashion-mobilenet"])
    p.add_argument("--targets", nargs="+", default=["bitfusion", "bismo-edge"])
    p.add_argument("--budgets", nargs="+", type=float, default=[0.25, 0.4])
    p.add_argument(
        "--extra-budgets", nargs="*", default=[], metavar="TARGET=B1,B2",
        help="more budgets for one target, e.g. bitfusion=0.55,0.7 where the common ones are infeasible",
    )
    p.add_argument("--agents", nargs="+", default=list(AGENT_NAMES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--eval-samples", type=int, default=2000)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--report-only", action="store_true", help="write the table and plot from the runs on disk; run nothing")
    p.add_argument(
        "--workers", type=int, default=1,
        help="searches run at once, each in its own process on cores / workers torch threads (2 on a 2-core machine)",
    )
    args = p.parse_args()
    try:
        args.extra_budgets = {t: [float(b) for b in bs.split(",")] for t, _, bs in (e.partition("=") for e in args.extra_budgets)}
    except ValueError:
        p.error("--extra-budgets: use TARGET=B1,B2, e.g. bitfusion=0.55,0.7")
    if args.workers < 1:
        p.error("--workers: give 1 or more")
    rows = run_grid(args)
    add_confirmation(rows)
    add_test_accuracy(rows)
    table = summarise(rows, args.episodes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table)
    plot(rows, args.out / "pareto.png")
    print(table)


if __name__ == "__main__":
    main()
