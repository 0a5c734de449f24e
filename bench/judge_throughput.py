"""Judge throughput: how close `agenteval eval` gets to the concurrency bound of its judge endpoint.

With C requests in flight and an endpoint answering in L seconds, no client can do better than C/L
requests per second. This runs the real product path (``run_evaluation``: store, rules first, the
LLM judge through the real openai client, caching off) over copies of the bundled examples against
``agenteval.testing.FakeOpenAIServer`` with a fixed latency, counts the requests the server actually
received (steps the rules decide need none), and prints achieved/bound two ways: over the whole
``run_evaluation`` call (imports done beforehand) and over the judging window (first request
received to last answer). It also prints the judge's prompt size per step type, static (system,
cacheable) and variable parts, for the bundled rubrics on the example traces.

    python bench/judge_throughput.py --latency 0.1 --concurrency 16 --steps 300

The fake server runs in its own process (a real endpoint is not in the client's process, and would
otherwise compete with it for the GIL); ``--in-process`` keeps it in a thread instead.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "traces"


# -- the fake endpoint ------------------------------------------------------------------------------


class _Recorder:
    """Answers every request with a valid judgment scoring every rubric metric; notes arrival times."""

    def __init__(self, metrics: tuple[str, ...]) -> None:
        self.metrics = metrics
        self.arrivals: list[float] = []

    def __call__(self, request: dict) -> object:
        from agenteval.testing import Reply

        self.arrivals.append(time.time())
        return Reply.judgment(4, self.metrics)


def _tune(server_module) -> None:
    # The stdlib defaults of http.server are a listen backlog of 5 (16 clients connecting at once
    # wait out a 1 s SYN retransmit) and Nagle on (the body write waits for a delayed ACK, ~40 ms a
    # request). Real endpoints have neither, so the bench must not measure them.
    server_module._Server.request_queue_size = max(getattr(server_module._Server, "request_queue_size", 5), 128)
    server_module._Handler.disable_nagle_algorithm = True


def _serve(latency: float, metrics: tuple[str, ...], conn) -> None:
    """Child process: serve until told to stop, then send back what was received."""
    import agenteval.testing.server as server_module
    from agenteval.testing import FakeOpenAIServer

    _tune(server_module)
    recorder = _Recorder(metrics)
    with FakeOpenAIServer(responder=recorder, latency=latency) as server:
        conn.send(server.base_url)
        conn.recv()
        conn.send({"requests": server.request_count, "max_in_flight": server.max_in_flight,
                   "arrivals": recorder.arrivals})


class _Endpoint:
    """The fake server in a child process (default) or in a thread of this one."""

    def __init__(self, latency: float, metrics: tuple[str, ...], *, in_process: bool) -> None:
        self.latency, self.metrics, self.in_process = latency, metrics, in_process

    def __enter__(self) -> str:
        if self.in_process:
            import agenteval.testing.server as server_module
            from agenteval.testing import FakeOpenAIServer

            _tune(server_module)
            self.recorder = _Recorder(self.metrics)
            self.server = FakeOpenAIServer(responder=self.recorder, latency=self.latency).start()
            return self.server.base_url
        self.conn, child = mp.get_context("spawn").Pipe()
        self.process = mp.get_context("spawn").Process(target=_serve, args=(self.latency, self.metrics, child))
        self.process.start()
        return self.conn.recv()

    def stats(self) -> dict:
        if self.in_process:
            return {"requests": self.server.request_count, "max_in_flight": self.server.max_in_flight,
                    "arrivals": list(self.recorder.arrivals)}
        self.conn.send("stop")
        return self.conn.recv()

    def __exit__(self, *exc: object) -> None:
        if self.in_process:
            self.server.close()
        else:
            self.process.join(timeout=10)


# -- workload -------------------------------------------------------------------------------------


def _example_traces() -> list[dict]:
    traces = []
    for path in sorted(EXAMPLES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        traces += data if isinstance(data, list) else data.get("traces", [data])
    return traces


async def _model_steps_per_trace(settings) -> dict[str, int]:
    """Per example trace: its agent steps the rules do not decide, i.e. the judge requests it costs."""
    from agenteval.dag import StepDAG
    from agenteval.formats import read_file
    from agenteval.judges.base import StepContext
    from agenteval.judges.rules import build

    rules = build()
    counts = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        for trace in read_file(path, "auto").traces:
            dag = StepDAG.from_trace(trace)
            judged = [await rules.judge_step(StepContext(trace, dag, s)) for s in trace.steps if s.type.judged]
            counts[trace.id] = sum(not j.decisive for j in judged)
    return counts


def _write_workload(folder: Path, steps: int, per_trace: dict[str, int]) -> tuple[Path, int, int]:
    """Copies of the examples under new ids until about ``steps`` judge requests; (file, traces, requests)."""
    examples = _example_traces()
    per_copy = sum(per_trace[t["id"]] for t in examples)
    copies = max(1, math.ceil(steps / per_copy))
    traces = [{**t, "id": f"{t['id']}#{i}"} for i in range(copies) for t in examples]
    path = folder / "workload.json"
    path.write_text(json.dumps(traces), encoding="utf-8")
    return path, len(traces), copies * per_copy


# -- prompt size ----------------------------------------------------------------------------------


def prompt_sizes(mode: str = "holistic") -> dict[str, dict[str, float]]:
    """Estimated prompt tokens per step type over the example traces: static and variable parts.

    In checklist mode a step's figures add up its requests (batched questions; none when code
    decides every check), over the steps that send any.
    """
    from agenteval.dag import StepDAG
    from agenteval.formats import read_file
    from agenteval.judges.base import StepContext
    from agenteval.judges.prompt import build_messages, prompt_parts_tokens
    from agenteval.rubrics import load_rubrics
    from agenteval.taxonomy import load_taxonomy

    rubrics = load_rubrics()
    codes = [(c.code, c.name) for c in load_taxonomy().codes()]
    parts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for path in sorted(EXAMPLES.glob("*.json")):
        for trace in read_file(path, "auto").traces:
            dag = StepDAG.from_trace(trace)
            for step in trace.steps:
                if not step.type.judged:
                    continue
                ctx = StepContext(trace, dag, step)
                rubric = rubrics.for_type(step.type)
                if mode == "holistic":
                    parts[step.type.value].append(prompt_parts_tokens(build_messages(rubric, ctx, taxonomy_codes=codes)))
                    continue
                from agenteval.judges._prompt_data import Fence
                from agenteval.judges.checklist import _items, _requests

                requests = _requests(rubric, ctx, _items(rubric, ctx), Fence.new(), batch=True)
                if requests:
                    sizes = [prompt_parts_tokens(r.messages) for r in requests]
                    parts[step.type.value].append((sizes[0][0], sum(v for _, v in sizes)))
    table = {}
    for step_type, sizes in parts.items():
        static = [s for s, _ in sizes]
        variable = [v for _, v in sizes]
        table[step_type] = {"steps": len(sizes), "static": round(statistics.mean(static)),
                            "variable_mean": round(statistics.mean(variable)),
                            "variable_max": max(variable), "total_mean": round(statistics.mean(static) + statistics.mean(variable))}
    all_sizes = [p for sizes in parts.values() for p in sizes]
    table["all"] = {"steps": len(all_sizes), "static": round(statistics.mean(s for s, _ in all_sizes)),
                    "variable_mean": round(statistics.mean(v for _, v in all_sizes)),
                    "variable_max": max(v for _, v in all_sizes),
                    "total_mean": round(statistics.mean(s + v for s, v in all_sizes))}
    return table


def print_sizes(mode: str, sizes: dict[str, dict[str, float]]) -> None:
    print(f"{mode}: prompt tokens per judged step (estimate: 4 characters a token), bundled rubrics, example traces")
    print(f"{'type':>8} {'steps':>5} {'static':>6} {'variable mean':>13} {'variable max':>12} {'total mean':>10}")
    for step_type, row in sizes.items():
        print(f"{step_type:>8} {row['steps']:>5} {row['static']:>6} {row['variable_mean']:>13} "
              f"{row['variable_max']:>12} {row['total_mean']:>10}")


# -- one measured run -----------------------------------------------------------------------------


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_run(workload: Path, latency: float, concurrency: int, metrics: tuple[str, ...], *, in_process: bool) -> dict:
    """One run_evaluation over the workload against a fresh fake endpoint; its timings and counts."""
    from agenteval.config import load_settings
    from agenteval.evaluate import run_evaluation

    endpoint = _Endpoint(latency, metrics, in_process=in_process)
    with tempfile.TemporaryDirectory() as tmp:
        base_url = endpoint.__enter__()
        try:
            settings = load_settings(
                {"model": "gpt-4o-mini", "base_url": base_url, "db": str(Path(tmp) / "bench.duckdb"),
                 "cache": False, "concurrency": concurrency, "max_retries": 0, "timeout": 30},
                environ={},
            )
            cpu, started_wall, started = _cpu_s(), time.time(), time.perf_counter()
            run = run_evaluation([workload], settings)
            elapsed, cpu = time.perf_counter() - started, _cpu_s() - cpu
            stats = endpoint.stats()
        finally:
            endpoint.__exit__(None, None, None)
    requests, arrivals = stats["requests"], sorted(stats["arrivals"])
    bound = concurrency / latency
    window = arrivals[-1] - arrivals[0] + latency if arrivals else float("nan")
    verdicts = [v.verdict for r in run.results for v in r.verdicts]
    return {
        "requests": requests,
        "traces": len(run.results),
        "judge_errors": verdicts.count("judge_error"),
        "max_in_flight": stats["max_in_flight"],
        "wall_s": round(elapsed, 3),
        "to_first_request_s": round(arrivals[0] - started_wall, 3) if arrivals else None,
        "window_s": round(window, 3),
        "client_cpu_ms_per_request": round(cpu / requests * 1000, 2) if requests else None,
        "ratio_total": round(requests / elapsed / bound, 3),
        "ratio_window": round(requests / window / bound, 3),
    }


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the fake endpoint takes per request")
    parser.add_argument("--concurrency", type=int, default=16, help="judge requests in flight (--concurrency)")
    parser.add_argument("--steps", type=int, default=300, help="about how many judge requests to make")
    parser.add_argument("--runs", type=int, default=3, help="measured runs; the median is reported")
    parser.add_argument("--in-process", action="store_true", help="run the fake endpoint in a thread of this process")
    parser.add_argument("--prompt-sizes", action="store_true", help="only print prompt sizes, holistic and checklist")
    args = parser.parse_args()
    if args.prompt_sizes:
        for mode in ("holistic", "checklist"):
            print_sizes(mode, prompt_sizes(mode))
        return

    import asyncio

    # Imports first, so the measured runs time agenteval's work and not Python loading modules.
    import agenteval.evaluate  # noqa: F401
    import agenteval.judges.llm  # noqa: F401  (imports openai)
    import agenteval.judges.llm_judge  # noqa: F401
    import agenteval.store  # noqa: F401
    from agenteval.config import load_settings
    from agenteval.rubrics import load_rubrics

    metrics = tuple(dict.fromkeys(m for r in load_rubrics().rubrics.values() for m in r.metric_names))
    per_trace = asyncio.run(_model_steps_per_trace(load_settings(environ={})))
    with tempfile.TemporaryDirectory() as tmp:
        workload, n_traces, expected = _write_workload(Path(tmp), args.steps, per_trace)
        runs = [measure_run(workload, args.latency, args.concurrency, metrics, in_process=args.in_process)
                for _ in range(args.runs)]
    best = sorted(runs, key=lambda r: r["ratio_total"])[len(runs) // 2]  # the median run
    bound = args.concurrency / args.latency
    endpoint = "thread in this process" if args.in_process else "separate process"
    print(f"judge throughput: {n_traces} traces, {expected} judge requests expected (rules decide the rest), "
          f"C={args.concurrency}, L={args.latency * 1000:g} ms, bound C/L = {bound:g} req/s, endpoint: {endpoint}")
    print(f"{'run':>3} {'requests':>8} {'wall s':>7} {'1st req s':>9} {'window s':>8} {'req/s':>7} "
          f"{'ratio total':>11} {'ratio window':>12} {'cpu ms/req':>10} {'max in flight':>13}")
    for i, r in enumerate(runs, 1):
        print(f"{i:>3} {r['requests']:>8} {r['wall_s']:>7.2f} {r['to_first_request_s']:>9.2f} {r['window_s']:>8.2f} "
              f"{r['requests'] / r['wall_s']:>7.1f} {r['ratio_total']:>11.2f} {r['ratio_window']:>12.2f} "
              f"{r['client_cpu_ms_per_request']:>10.2f} {r['max_in_flight']:>13}")
    sizes = prompt_sizes()
    print_sizes("holistic", sizes)
    ok = best["requests"] == expected and best["judge_errors"] == 0
    print(json.dumps({
        "bench": "judge_throughput", "latency_s": args.latency, "concurrency": args.concurrency,
        "bound_rps": bound, "endpoint": endpoint, "traces": n_traces, "expected_requests": expected,
        "median_run": best, "runs": runs, "prompt_tokens": sizes, "target_ratio": 0.8,
        "meets_target_total": best["ratio_total"] >= 0.8, "meets_target_window": best["ratio_window"] >= 0.8,
        "consistent": ok,
    }))
    if not ok:
        sys.exit(f"unexpected: {best['requests']} requests (expected {expected}), {best['judge_errors']} judge errors")


if __name__ == "__main__":
    main()
