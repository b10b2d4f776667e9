"""A corpus of malformed inputs for every format pipesim reads and every command's flags.

Each case is one command line plus the files it reads. ``must_fail`` cases are inputs that no
correct program accepts (a time of ``inf``, a negative size, a deadlocked CSV, a name that
escapes the output folder): accepting one is "accepted but wrong". The other cases are odd
but legitimate (a one-device pipeline, a unicode name) and may pass or fail, but only with
pipesim's own one-line error. ``tests/test_fuzz_corpus.py`` runs the corpus; the corpus is
written by hand from the file formats' documentation, not generated from pipesim's output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

Content = str | bytes | Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # "{d}" stands for the case's own folder
    files: tuple[tuple[str, Content], ...] = ()
    must_fail: bool = True
    # Tiny runs go through ``cli.main`` in the test process; a few also run as a subprocess
    # under a memory limit (the sample, marked here).
    subprocess: bool = False
    notes: str = field(default="", compare=False)


# A scenario that simulates in milliseconds, so that a value wrongly accepted costs nothing.
TINY: dict[str, Any] = {
    "name": "tiny",
    "costs": {"F": "1 ms", "B": "2 ms", "message_bytes": "1 MiB", "activation_bytes": "1 MiB"},
    "topology": {"kind": "single_node", "gpus": 2, "fabric": "nvswitch", "link": "nvlink4"},
    "parallel": {"pp": 2, "microbatches": 2},
    "schedule": {"name": "1f1b"},
    "outputs": {"gantt": False, "trace": False},
}

TINY_MODEL: dict[str, Any] = {
    "name": "tinymodel",
    "model": {"layers": 2, "hidden": 64, "heads": 2, "seq_len": 32, "vocab": 128},
    "hardware": {"gpu": "A100"},
    "topology": {"kind": "single_node", "gpus": 2},
    "parallel": {"pp": 2, "microbatches": 2},
    "schedule": "1f1b",
    "outputs": {"gantt": False},
}

FLOWS: dict[str, Any] = {
    "topology": {"kind": "graph", "devices": ["a", "b", "c"],
                 "links": [{"a": "a", "b": "b", "bandwidth": "1 GB/s", "latency": "0 s"},
                           {"a": "b", "b": "c", "bandwidth": "2 GB/s", "latency": "0 s"}]},
    "policy": "fair",
    "chunk_bytes": None,
    "flows": [{"name": "A", "src": "a", "dst": "b", "bytes": "1 GB"},
              {"name": "B", "src": "a", "dst": "c", "bytes": "1 GB"}],
}

SWEEP: dict[str, Any] = {"base": TINY, "level": "table", "grid": {"parallel.microbatches": [2, 4]}}

# YAML tokens, written raw into a document: PyYAML reads ``1e400`` as a string (no dot), which
# pipesim's quantity parser must still refuse as infinite.
RAW = "@@RAW@@"

BAD_QUANTITIES = (".inf", "-.inf", ".nan", "1e400", "'inf'", "'NaN'", "-1", "-1 ms", "'1 GB/s'", "abc",
                  "[1, 2, 3]", "{a: 1}", "true", "''", "'1 parsecs'", "1e-400x", "'0x10 B'", "'" + " " * 300 + "1'")
# Infinite bandwidth (a link that is never a bottleneck, the "free" preset) and infinite
# chunks (whole messages stored and forwarded) are documented values, not errors.
INF_OK = {("topology.links.0.bandwidth", i) for i in (0, 3, 4)} | {("chunk_bytes", i) for i in (0, 3, 4)} \
    | {("network.chunk_bytes", i) for i in (0, 3, 4)}
BAD_WHOLES = ("0", "-1", "1.5", "1e9", "10000000000000000000000", ".inf", ".nan", "'two'", "[2]", "true", "null",
              "{x: 1}")


def _dump(doc: dict[str, Any], raw: dict[str, str] | None = None) -> str:
    text = yaml.safe_dump(doc, sort_keys=False)
    for token, value in (raw or {}).items():
        text = text.replace(f"'{token}'", value).replace(token, value)
    return text


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``doc`` with ``path`` (dots; ``-`` deletes) set to ``value``."""
    out = json.loads(json.dumps(doc))
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(leaf)] = value
    elif value == "-":
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return out


def _scenario(cid: str, doc: dict[str, Any], raw: str | None = None, *, must_fail: bool = True,
              extra: tuple[str, ...] = (), sub: bool = False) -> Case:
    text = _dump(doc, {RAW: raw} if raw is not None else None)
    return Case(cid, ("run", "{d}/s.yaml", "--out", "{d}/out", *extra), (("s.yaml", text),), must_fail, sub)


def scenario_cases() -> Iterator[Case]:
    quantity_keys = ("costs.F", "costs.B", "costs.I", "costs.message_bytes", "costs.activation_bytes",
                     "costs.param_bytes", "network.overhead", "network.chunk_bytes")
    for key in quantity_keys:
        for i, tok in enumerate(BAD_QUANTITIES):
            if key == "network.chunk_bytes" and tok in ("-1", "-1 ms"):
                continue
            yield _scenario(f"scenario-{key}-{i}", _with(TINY, key, RAW), tok, must_fail=(key, i) not in INF_OK)
    for key in ("parallel.pp", "parallel.microbatches", "parallel.dp", "topology.gpus"):
        for i, tok in enumerate(BAD_WHOLES):
            if tok == "null" and key in ("parallel.pp", "parallel.microbatches"):
                continue  # optional: taken from elsewhere, so null is a legitimate spelling
            yield _scenario(f"scenario-{key}-{i}", _with(TINY, key, RAW), tok)
    for key in ("model.hidden", "model.layers", "model.heads", "model.seq_len", "model.vocab",
                "model.microbatch_size"):
        for i, tok in enumerate(("0", "-3", "1e9", "1000000000", "2.5", ".inf", "'x'", "[1]")):
            yield _scenario(f"model-{key}-{i}", _with(TINY_MODEL, key, RAW), tok)
    for key, tok in (("costs.weight_keep", "1.5"), ("costs.weight_keep", "-0.1"), ("costs.overlap", "0"),
                     ("costs.overlap", "2"), ("costs.per", "gpu"), ("costs.F", "[1 ms]"),
                     ("costs.F", "[1 ms, 2 ms, 3 ms]"), ("costs.F", "[1 ms, .inf]"), ("costs.foo", "1"),
                     ("network.policy", "lifo"), ("network.policy", "1"), ("network.blocking_send", "'maybe'"),
                     ("network.grad_sync", "sometimes"), ("topology.kind", "torus"), ("topology.kind", "[single_node]"), ("topology.link", "warp"),
                     ("topology.fabric", "'[p, m]'"), ("topology.gpus", "1"), ("topology", "[1, 2]"),
                     ("parallel.placement", "[0, 0]"), ("parallel.placement", "[0, 5]"),
                     ("parallel.placement", "[-1, 0]"), ("parallel.placement", "'0,1'"),
                     ("parallel.placement", "[a, b]"), ("schedule.name", "zbv2"), ("schedule.name", "''"),
                     ("schedule.name", "[1f1b]"), ("schedule.options", "{waves: 0}"),
                     ("schedule.options", "[1, 2]"), ("schedule.options", "{nosuch: 1}"),
                     ("schedule.csv", "nosuch.csv"), ("schedule.csv", "'/'"),
                     ("outputs.formats", "[bmp]"), ("outputs.formats", "[png, exe]"), ("outputs.gantt", "'yes please'"),
                     ("outputs.dir", "[1]"), ("iterations", "0"), ("iterations", "1e9"), ("iterations", ".inf"),
                     ("hardware", "{gpu: B9000}"), ("hardware", "{gpu: H100, efficiency: 0}"),
                     ("hardware", "{gpu: H100, efficiency: 1.5}"), ("hardware", "{gpu: H100, memory: -1 GB}"),
                     ("hardware", "{gpu: H100, memory: .inf}"), ("hardware", "{gpu: H100, peak_flops: .inf}"),
                     ("hardware", "{gpu: H100, peak_flops: '" + " " * 2000 + "a'}"),
                     ("hardware", "{gpu: H100, peak_flops: -5 TFLOP/s}"), ("compression", "{bits: 3}"),
                     ("compression", "{ratio: 0.5}"), ("compression", "{rank: 0}"), ("nosuchsection", "{}"),
                     ("name", "../a/escaped"), ("name", "a/b"), ("name", "'..'"), ("name", "''"), ("name", "[1]"),
                     ("name", "'/etc/passwd'"), ("name", "'a\\0b'"), ("description", "[1, {a: [2]}]")):
        yield _scenario(f"scenario-{key}={tok[:40].strip()}", _with(TINY, key, RAW), tok)
    # Whole-document shapes.
    for i, text in enumerate(("", "[]", "42", "'just a string'", "{", "name: [", "a: b: c", "\t\tname: x",
                              "name: x\nname: y\n", "!!python/object:os.system {}", "? [a, b]\n: 1\n",
                              "costs: &c {F: *c}", "\xff\xfe binary", "---\nname: a\n---\nname: b\n")):
        yield Case(f"scenario-doc-{i}", ("run", "{d}/s.yaml", "--no-files"), (("s.yaml", text),))
    deep = "name: deep\ndescription: " + "[" * 5000 + "]" * 5000
    yield Case("scenario-deep", ("run", "{d}/s.yaml", "--no-files"), (("s.yaml", deep),), subprocess=True)
    bomb = ["name: bomb", "costs: {F: 1 ms}", "description:", "  - &a [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"  - &{n} [{', '.join(['*' + p] * 10)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    yield Case("scenario-alias-bomb", ("run", "{d}/s.yaml", "--no-files"), (("s.yaml", "\n".join(bomb)),),
               subprocess=True)
    yield _scenario("scenario-5000-digits", _with(TINY, "parallel.microbatches", RAW), "9" * 5000)
    yield Case("scenario-binary", ("run", "{d}/s.yaml", "--no-files"), (("s.yaml", bytes(range(256)) * 4),))
    yield Case("scenario-missing-file", ("run", "{d}/nope.yaml"))
    yield Case("scenario-is-a-folder", ("run", "{d}"))
    # Legitimate edge values: may run, or fail with a one-line error.
    for key, tok in (("parallel.microbatches", "1"), ("name", "'éè ü'"), ("name", "'[p, m] [bold]x[/bold]'"),
                     ("costs.message_bytes", "0"), ("network.chunk_bytes", "auto"), ("network.overhead", "0")):
        yield _scenario(f"scenario-ok-{key}={tok}", _with(TINY, key, RAW), tok, must_fail=False)


def set_flag_cases() -> Iterator[Case]:
    base = _dump(TINY)
    for i, item in enumerate(("costs.F=inf", "costs.F=1e400", "costs.F=nan", "costs.F", "=1", "costs..F=1",
                              "parallel.microbatches=1e9", "parallel.microbatches=-2", "parallel.pp=[1,2",
                              "nosuch.key=1", "costs.F.x=1", "topology.gpus=1e6", "name=../up",
                              "parallel.placement=[0,0]", "costs=7", "schedule.name=nosuch",
                              "outputs.formats=[png,png,exe]", "costs.F=" + "9" * 5000)):
        yield Case(f"set-{i}", ("run", "{d}/s.yaml", "--no-files", "--set", item), (("s.yaml", base),))
    for i, item in enumerate(("costs.F=inf", "parallel.microbatches=0", "bogus")):
        yield Case(f"levels-set-{i}", ("levels", "{d}/s.yaml", "--set", item), (("s.yaml", base),))


def flows_cases() -> Iterator[Case]:
    def flows(cid: str, doc: dict[str, Any], raw: str | None = None, must_fail: bool = True) -> Case:
        text = _dump(doc, {RAW: raw} if raw is not None else None)
        return Case(f"flows-{cid}", ("net", "{d}/f.yaml", "--json"), (("f.yaml", text),), must_fail)

    for key in ("flows.0.bytes", "topology.links.0.bandwidth", "topology.links.0.latency", "chunk_bytes"):
        for i, tok in enumerate(BAD_QUANTITIES):
            if key == "chunk_bytes" and tok == "-1":
                continue
            must = (key, i) not in INF_OK and not (key == "topology.links.0.bandwidth" and i == 8)
            yield flows(f"{key}-{i}", _with(FLOWS, key, RAW), tok, must_fail=must)
    for key, tok in (("flows.0.src", "z"), ("flows.0.dst", "a"), ("flows.0.src", "[a]"), ("flows.0", "7"),
                     ("flows", "[]"), ("flows", "{}"), ("flows", "null"), ("policy", "lifo"),
                     ("flows.0.start", "-1 s"), ("flows.0.start", ".inf"), ("flows.0.start", "'1 GB'"),
                     ("flows.0.name", "B"), ("flows.0.bogus", "1"), ("topology.links.0.a", "q"),
                     ("topology.links", "[]"), ("topology.devices", "[a, a, b, c]"),
                     ("topology.kind", "mesh"), ("topology.kind", "[graph]"), ("topology.kind", "{a: 1}"), ("topology", "null"), ("chunk_bytes", "'1 B'"),
                     ("chunk_bytes", "1"), ("topology.links.0.preset", "warp")):
        yield flows(f"{key}={tok}", _with(FLOWS, key, RAW), tok)
    dup = _with(FLOWS, "topology.links.1.name", "L")
    dup = _with(dup, "topology.links.0.name", "L")
    yield flows("duplicate-link-names", dup)
    many = _with(FLOWS, "flows", [{"src": "a", "dst": "c", "bytes": "1 MB"}] * 3)
    yield flows("unnamed-flows", many, must_fail=False)
    yield flows("named-link", _with(FLOWS, "topology.links.1.name", "x"), must_fail=False)
    yield Case("flows-missing", ("net", "{d}/none.yaml"))
    yield Case("flows-policy-flag", ("net", "{d}/f.yaml", "--policy", "lifo"), (("f.yaml", _dump(FLOWS)),))


def sweep_cases() -> Iterator[Case]:
    def sweep(cid: str, doc: dict[str, Any], raw: str | None = None, must_fail: bool = True,
              extra: tuple[str, ...] = ()) -> Case:
        text = _dump(doc, {RAW: raw} if raw is not None else None)
        return Case(f"sweep-{cid}", ("sweep", "{d}/w.yaml", "--out", "{d}/out", "--executor", "serial",
                                     "--no-progress", *extra), (("w.yaml", text),), must_fail)

    for key, tok in (("level", "gpu"), ("grid", "[1]"), ("grid", "{parallel.microbatches: 3}"),
                     ("grid", "{parallel.microbatches: []}"), ("grid", "{parallel.microbatches: [2, 2]}"),
                     ("grid", "{nosuch.key: [1, 2]}"), ("grid", "{costs.F: [.inf, 1 ms]}"),
                     ("grid", "{parallel.microbatches: [0, -1]}"),
                     ("grid", "{" + ", ".join(f"costs.k{i}: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" for i in range(9)) + "}"),
                     ("grid", "{" + ", ".join(f"{k}: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" for k in (
                         "parallel.microbatches", "costs.message_bytes", "costs.activation_bytes", "costs.param_bytes",
                         "costs.optimizer_bytes", "network.overhead", "iterations", "costs.F", "costs.B")) + "}"),
                     ("grid", "{parallel.microbatches: [" + ", ".join(str(i) for i in range(2, 20002)) + ", 7]}"),
                     ("max_runs", "0"), ("max_runs", "1"),
                     ("zip", "{parallel.microbatches: [2, 4], costs.F: [1 ms]}"), ("zip", "7"),
                     ("metrics", "[nosuch]"), ("metrics", "[makespan, makespan]"), ("metrics", "[busiest_link_utilisation]"),
                     ("base", "nosuch.yaml"), ("base", "7"), ("base", "null"), ("base", "'/'"),
                     ("base_dir", "[1]"), ("bogus", "1"), ("base.name", "../escape"),
                     ("base.costs.F", ".inf")):
        yield sweep(f"{key}={tok[:30]}", _with(SWEEP, key, RAW), tok)
    for i, extra in enumerate((("--jobs", "0"), ("--jobs", "-3"), ("--executor", "bogus"))):
        yield sweep(f"flags-{i}", SWEEP, extra=extra)
    yield sweep("all-points-fail", _with(SWEEP, "grid", {"schedule.name": ["nosuch", "alsonot"]}))
    yield sweep("one-point", SWEEP, must_fail=False)
    yield Case("sweep-empty", ("sweep", "{d}/w.yaml", "--executor", "serial"), (("w.yaml", ""),))


GOOD_CSV = "0F0,0F1,0B0,0B1\n1F0,1B0,1F1,1B1\n"


def csv_cases() -> Iterator[Case]:
    bad = {
        "empty": "", "blank-lines": "\n\n\n", "one-cell": "0F0\n", "garbage": "hello,world\n",
        "bad-kind": "0X0,0B0\n1F0,1B0\n", "negative-mb": "0F-1,0B-1\n1F-1,1B-1\n",
        "huge-mb": "0F1000000000,0B1000000000\n1F1000000000,1B1000000000\n",
        "huge-stage": "99999999F0,0B0\n1F0,1B0\n", "missing-backward": "0F0\n1F0,1B0\n",
        "duplicate": "0F0,0F0,0B0\n1F0,1B0\n", "wrong-device": "1F0,0B0\n0F0,1B0\n",
        "local-order": "0B0,0F0\n1F0,1B0\n",
        "cross-deadlock": "0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n",
        "cycle-deadlock": "0F0,0B0,0F1,0B1\n1F0,1F1,1B1,1B0\n2F1,2B1,2F0,2B0\n",
        "ragged-missing-mb": "0F0,0F1,0B0,0B1\n1F0,1B0\n",
        "only-w": "0W0\n1W0\n", "i-without-w": "0F0,0I0\n1F0,1I0\n",
        "binary": "\x00\x01\x02,\xff\n", "quotes": '"0F0,0B0"\n"1F0,1B0"\n', "spaces": " 0 F 0 , 0B0\n1F0,1B0\n",
        "send-recv-mismatch": "0F0,0SEND_F1,0B0\n1RECV_F0,1F0,1B0\n",
        "unshard-only": "0UNSHARD\n1UNSHARD\n", "float-mb": "0F0.5,0B0.5\n1F0.5,1B0.5\n",
        "long-cell": "0F" + "9" * 5000 + "\n", "many-columns": ",".join(["0F0"] * 100000) + "\n",
    }
    for cid, text in bad.items():
        for cmd in ("validate", "table"):
            yield Case(f"csv-{cid}-{cmd}", (cmd, "--from-csv", "{d}/s.csv"), (("s.csv", text),))
    scen = _with(TINY, "schedule", {"csv": "s.csv"})
    for cid in ("cross-deadlock", "huge-mb", "garbage", "empty"):
        yield Case(f"csv-{cid}-run", ("run", "{d}/s.yaml", "--no-files"),
                   (("s.yaml", _dump(scen)), ("s.csv", bad[cid])))
    yield Case("csv-scenario-disagrees", ("run", "{d}/s.yaml", "--no-files"),
               (("s.yaml", _dump(_with(scen, "parallel.pp", 3))), ("s.csv", GOOD_CSV)))
    yield Case("csv-ok-unshard", ("validate", "--from-csv", "{d}/s.csv"),
               (("s.csv", "0UNSHARD,0F0,0F1,0B0,0B1,0RESHARD\n1UNSHARD,1F0,1B0,1F1,1B1,1RESHARD\n"),),
               must_fail=False)


def _trace_mutation(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], str]:
    def make(valid: dict[str, Any]) -> str:
        doc = json.loads(json.dumps(valid))
        fn(doc)  # mutates in place; what it returns is ignored
        return json.dumps(doc, allow_nan=True)
    return make


def _first(doc: dict[str, Any], ph: str) -> dict[str, Any]:
    return next(e for e in doc["traceEvents"] if e.get("ph") == ph)


def trace_cases() -> Iterator[Case]:
    literal = {"empty": "", "not-json": "{nope", "list": "[]", "number": "7", "string": '"x"',
               "no-events": "{}", "events-not-list": '{"traceEvents": 7}', "events-not-objects": '{"traceEvents": [1, 2]}',
               "nan-literal": '{"traceEvents": [NaN]}', "binary": "\x00\xff", "deep": "[" * 100000 + "]" * 100000}
    muts: dict[str, Callable[[dict[str, Any]], Any]] = {
        "args-list": lambda d: [e.__setitem__("args", [1]) for e in d["traceEvents"]] and None,
        "ts-string": lambda d: _first(d, "X").__setitem__("ts", "soon"),
        "ts-nan": lambda d: _first(d, "X").__setitem__("ts", float("nan")),
        "ts-inf": lambda d: _first(d, "X").__setitem__("ts", float("inf")),
        "dur-negative": lambda d: _first(d, "X").__setitem__("dur", -5),
        "dur-huge": lambda d: _first(d, "X").__setitem__("dur", 1e300),
        "pid-string": lambda d: _first(d, "X").__setitem__("pid", "zero"),
        "tid-huge": lambda d: _first(d, "X").__setitem__("tid", 10**12),
        "tid-float": lambda d: _first(d, "X").__setitem__("tid", 0.5),
        "no-pipesim-meta": lambda d: d.pop("otherData"),
        "meta-not-dict": lambda d: d["otherData"].__setitem__("pipesim", [1]),
        "devices-not-list": lambda d: d["otherData"]["pipesim"].__setitem__("devices", 7),
        "devices-huge": lambda d: d["otherData"]["pipesim"].__setitem__("devices", ["d"] * 10**6),
        "messages-bad": lambda d: d["otherData"]["pipesim"].__setitem__("messages", [[1, 2]]),
        "messages-not-list": lambda d: d["otherData"]["pipesim"].__setitem__("messages", "x"),
        "scale-zero": lambda d: d["otherData"]["pipesim"].__setitem__("time_scale_us", 0),
        "scale-string": lambda d: d["otherData"]["pipesim"].__setitem__("time_scale_us", "fast"),
        "scale-nan": lambda d: d["otherData"]["pipesim"].__setitem__("time_scale_us", float("nan")),
        "format-future": lambda d: d["otherData"]["pipesim"].__setitem__("format", 99),
        "name-missing": lambda d: _first(d, "X").pop("name"),
        "ph-unknown": lambda d: _first(d, "X").__setitem__("ph", "Q"),
        "args-stage-string": lambda d: _first(d, "X")["args"].__setitem__("stage", "x"),
        "args-mb-negative": lambda d: _first(d, "X")["args"].__setitem__("microbatch", -2),
        "no-spans": lambda d: d.__setitem__("traceEvents", [e for e in d["traceEvents"] if e.get("ph") != "X"]),
        "events-null": lambda d: d.__setitem__("traceEvents", None),
    }
    for cid, text in literal.items():
        yield Case(f"trace-{cid}", ("gantt", "{d}/t.json", "-o", "{d}/g.png"), (("t.json", text),))
    for cid, fn in muts.items():
        yield Case(f"trace-{cid}", ("gantt", "{d}/t.json", "-o", "{d}/g.png"), (("t.json", _trace_mutation(fn)),),
                   # A Chrome trace from another tool (no pipesim metadata, events without a name)
                   # is read best-effort by design.
                   must_fail=cid not in ("dur-huge", "tid-huge", "ph-unknown", "no-spans", "no-pipesim-meta",
                                         "name-missing"))
    good = _trace_mutation(lambda d: None)
    for i, extra in enumerate((("--range", "5:1"), ("--range", "x:y"), ("--range", "inf:inf"), ("--range", "1"),
                               ("--range", "nan:1"), ("--max-links", "-1"), ("--max-links", "0"),
                               ("-o", "{d}/g.bmp"), ("-o", "{d}/no/such/dir/g.png"))):
        yield Case(f"trace-flags-{i}", ("gantt", "{d}/t.json", "-o", "{d}/g.png", *extra), (("t.json", good),),
                   must_fail=extra not in (("--max-links", "0"), ("-o", "{d}/no/such/dir/g.png")))
    yield Case("trace-title-markup", ("gantt", "{d}/t.json", "-o", "{d}/g.png", "--title", "[p, m] $x_"),
               (("t.json", good),), must_fail=False)


def flag_cases() -> Iterator[Case]:
    table: list[tuple[str, ...]] = [
        ("-p", "0"), ("-p", "-1"), ("-p", "1000000"), ("-m", "0"), ("-m", "-4"), ("-m", "1000000000"),
        ("-p", "x"), ("-v", "0"), ("-v", "-2"), ("-v", "100000"), ("-o", "novalue"), ("-o", "waves=x"),
        ("-o", "=3"), ("--costs", "F=inf"), ("--costs", "F=-1"), ("--costs", "F=nan"), ("--costs", "X=1"),
        ("--costs", "F"), ("--costs", "F=1e400"), ("--costs", "B=" + " " * 3000 + "a"), ("--delay", "nan"),
        ("--delay", "-1"), ("--delay", "1e400"), ("--per", "gpu"), ("--format", "xml"),
        ("--plot", "{d}/x.bmp"), ("--split-backward", "I=1"),
    ]
    for i, extra in enumerate(table):
        yield Case(f"table-flags-{i}", ("table", "1f1b", *extra))
    for name in ("zbv2", "", "1F1 B", "../x", "[p, m]"):
        yield Case(f"table-name-{name}", ("table", name))
    for i, extra in enumerate((("interleaved", "-v", "1", "-p", "4", "-m", "3"), ("gpipe", "-o", "nosuch=1"),
                               ("dualpipe", "-m", "3"), ("chimera", "-p", "3"), ("zb-v", "-v", "2"),
                               ("hanayo", "-o", "waves=0"), ("pipedream", "-o", "iterations=1000000000"))):
        yield Case(f"validate-flags-{i}", ("validate", *extra))
    for i, extra in enumerate((("--gpu", "B9000"), ("--gpu", "h100", "-b", "0"), ("--gpu", "h100", "-b", "-1"),
                               ("--gpu", "h100", "-b", "1000000000"), ("--gpu", "h100", "--seq-len", "0"),
                               ("--gpu", "h100", "-p", "0"), ("--gpu", "h100", "--profile", "{d}/none.json"),
                               ("--gpu", "h100", "--profile", "{d}/bad.json"), ("--gpu", "h100", "nosuchmodel"))):
        yield Case(f"workload-flags-{i}", ("workload", "gpt3-1.3b", *extra) if "nosuchmodel" not in extra
                   else ("workload", *extra), (("bad.json", "{\"layers\": 7}"),))
    for i, extra in enumerate((("--target", "nan"), ("--target", "inf"), ("--seeds", "0"), ("--seeds", "-1"),
                               ("--iterations", "0"), ("--iterations", "1000000000000"), ("--lr", "inf"),
                               ("--lr", "-1"), ("--momentum", "2"), ("--schedules", "nosuch"),
                               ("-P", "x"), ("--optimizer", "sgdx"), ("--stream", "0"), ("--microbatch-size", "0"))):
        base = ("converge", "{d}/s.yaml", "--problem", "quadratic", "--target", "0.5", "--level", "table")
        yield Case(f"converge-flags-{i}", (*base, *extra), (("s.yaml", _dump(TINY)),),
                   must_fail=extra != ("--stream", "0"))  # 0 = keep the scenario's iterations (documented)
    yield Case("converge-problem", ("converge", "{d}/s.yaml", "--problem", "nosuch", "--target", "1"),
               (("s.yaml", _dump(TINY)),))
    scen = _dump(TINY)
    for i, extra in enumerate((("--microbatches", "0"), ("--microbatches", "-1"), ("--microbatches", "1.5"),
                               ("--schedules", "nosuch"), ("--schedules", ""), ("--problem", "nosuch", "--target", "1"),
                               ("--target", "1"), ("--seeds", "0", "--problem", "quadratic", "--target", "1"),
                               ("--csv", "{d}/s.yaml/x.csv"), ("--plot", "{d}/s.yaml/x.png"))):
        yield Case(f"compare-flags-{i}", ("compare", "{d}/s.yaml", "--table-only", *extra), (("s.yaml", scen),))
    for i, argv in enumerate((("run",), ("run", "{d}/s.yaml", "--level", "gpu"), ("nosuchcommand",),
                              ("profile", "-o", "{d}/p.json", "--from-trace", "{d}/none.json", "--gpu", "x"),
                              ("profile", "-o", "{d}/p.json", "--from-trace", "{d}/s.yaml", "--gpu", "h100"),
                              ("run", "{d}/s.yaml", "--out", "{d}/s.yaml"))):
        yield Case(f"cli-{i}", argv, (("s.yaml", scen),), subprocess=i == 0)


def all_cases() -> list[Case]:
    cases = [*scenario_cases(), *set_flag_cases(), *flows_cases(), *sweep_cases(), *csv_cases(), *trace_cases(),
             *flag_cases()]
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise RuntimeError(f"duplicate case ids: {dup[:5]}")
    return cases
