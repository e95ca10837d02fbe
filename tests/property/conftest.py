"""Shared settings of the property tests (issue 20).

EML_PROP_CASES   generated cases per property (100 in make test, 1000 in
                 make soak)
EML_PROP_SEED    the seed (fixed in make test; "random" draws a fresh one,
                 printed so a failure replays exactly with
                 EML_PROP_SEED=<it>)
EML_PROP_NOSHRINK=1  report the first failing case without shrinking it
                 (make prove-properties, where failure is expected)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, seed, settings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CASES = int(os.environ.get("EML_PROP_CASES", "100"))
_seed = os.environ.get("EML_PROP_SEED", "20020")
if _seed == "random":
    SEED = int.from_bytes(os.urandom(4), "big")
    os.environ["EML_PROP_SEED"] = str(SEED)
else:
    SEED = int(_seed)

_phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
if not os.environ.get("EML_PROP_NOSHRINK"):
    _phases.append(Phase.shrink)


def prop(number: int, cases: int = 0):
    """Hypothesis settings and seed for property NUMBER: CASES examples
    (or cases, when a property needs more), seed SEED + NUMBER, no example
    database (nothing written into the tree), no deadline (the machine is
    shared; timing is not what is tested)."""
    n = cases or CASES

    def wrap(fn):
        fn = settings(max_examples=n, deadline=None, database=None, derandomize=False,
                      phases=_phases, print_blob=True,
                      suppress_health_check=list(HealthCheck))(fn)
        fn = seed(SEED + number)(fn)
        fn._eml_property = number
        return fn
    return wrap


class Counter:
    """Counts the cases a test really ran (a test must show >= CASES)."""

    def __init__(self) -> None:
        self.n = 0
        self.kinds: dict = {}

    def __call__(self, kind: str = "case") -> None:
        self.n += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def report(self, name: str) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        return f"{name}: {self.n} cases ({parts}), seed {SEED}"


def pytest_report_header(config):
    return [f"eml property tests: {CASES} cases per property, EML_PROP_SEED={SEED}",
            f"fault injection: EML_FAULT={os.environ.get('EML_FAULT', '')!r}"]


@pytest.fixture
def counter(request):
    c = Counter()
    yield c
    line = c.report(request.node.name)
    sys.stderr.write("\n" + line + "\n")
    out = os.environ.get("EML_PROP_REPORT")
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")
    assert c.n >= CASES, f"only {c.n} cases ran, want >= {CASES}"
