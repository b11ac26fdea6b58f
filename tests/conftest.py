"""Shared test fixtures: the list of every probe the registry-wide tests loop over."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from archlab.probes import PROBES, make_probe
from archlab.probes.base import Probe
from archlab.probes.groups import STANDARD_GROUPS
from archlab.probes.published.bhattamishra2020 import LANGUAGES

#: Extra configurations beyond each entry's defaults, so options are covered too.
VARIANTS: list[tuple[str, dict[str, object]]] = [
    ("parity", {"final_only": True}),
    ("modular_sum", {"m": 7}),
    ("S5", {"generators": "transpositions"}),
    ("A5", {"generators": "generators"}),
    ("D4", {"generators": "nonidentity", "final_only": True}),
    ("S3", {"apply_first": "token", "bos": True}),
    ("mad_in_context_recall", {"scoring": "lm"}),
    ("mad_fuzzy_in_context_recall", {"scoring": "lm"}),
    # every language but the default (tomita3) and tomita1, whose only strings are 1^n: every
    # label is the same, a degenerate task that the paper includes (its fixtures are checked)
    *(("formal_language", {"language": lang}) for lang in LANGUAGES if lang not in ("tomita3", "tomita1")),
]


def all_probe_specs() -> list[tuple[str, dict[str, object]]]:
    specs: list[tuple[str, dict[str, object]]] = [(name, {}) for name in PROBES.names()]
    specs += [(g, {}) for g in STANDARD_GROUPS]
    return specs + VARIANTS


def spec_id(spec: tuple[str, dict[str, object]]) -> str:
    name, params = spec
    return name + "".join(f"-{k}={v}" for k, v in params.items())


@pytest.fixture(params=all_probe_specs(), ids=spec_id)
def probe(request: pytest.FixtureRequest) -> Probe:
    name, params = request.param
    return make_probe(name, **params)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run the test with one torch thread (tests that train run beside other work)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def db_url() -> str:
    url = os.environ.get("ARCHLAB_TEST_DB_URL")
    if not url:
        pytest.skip("ARCHLAB_TEST_DB_URL is not set (.ci/run starts a PostgreSQL cluster and sets it)")
    return url
