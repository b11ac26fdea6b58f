"""Merrill, Petty & Sabharwal, "The Illusion of State in State-Space Models" (ICML 2024): the
group word problems of their code (jopetty/word-problem at 8f910f9, with jopetty/abstract_algebra
at 94226a0; read for facts, nothing copied).

Their task is archlab's ``word_problem`` with two options: ``apply_first=token`` (their
composition order, target[t] = x_0 ∘ x_1 ∘ … ∘ x_t with x_t applied first) and ``bos=true``
(their tokenizer prepends [BOS] to input and target). Their element indices are not archlab's:
the map goes through each element's permutation (its 0-based array form, given per index in
the fixture's vocabulary file), looked up in archlab's tabulated group. Group names map
``A4_x_Z5`` → ``A4xZ5``; the others are the same.
"""

from __future__ import annotations

import numpy as np

from archlab.probes.groups import WordProblem

PEER = "jopetty/word-problem"

#: their group names → archlab's
GROUP_NAMES = {"A4_x_Z5": "A4xZ5"}


def element_map(probe: WordProblem, vocabulary: dict[str, dict]) -> np.ndarray:
    """their index → archlab's element id, from the array forms in their vocabulary file."""
    from archlab.probes.fixtures import NotCheckable

    ids = np.empty(len(vocabulary), dtype=np.int64)
    for key, entry in vocabulary.items():
        try:
            ids[int(key)] = probe.group.id_of(entry["array_form"])
        except KeyError as e:
            raise NotCheckable(f"element {key} of theirs: {e}") from None
    if len(set(ids.tolist())) != probe.group.order or len(ids) != probe.group.order:
        raise NotCheckable(f"their {len(ids)} elements do not map onto {probe.group.name}")
    return ids


def check_fixture_rows(task: str, rows: list[dict], vocab: dict) -> list[str | None]:
    from archlab.errors import ArchlabError
    from archlab.probes.fixtures import NotCheckable, compare

    group = str(rows[0]["params"]["group"])
    try:
        probe = WordProblem(group=GROUP_NAMES.get(group, group), apply_first="token")
    except ArchlabError as e:
        raise NotCheckable(f"group {group!r}: {e}") from None
    ours = element_map(probe, vocab["vocabulary"])
    theirs = np.argsort(ours)  # archlab id → their index
    results: list[str | None] = []
    for row in rows:
        batch = probe.label(ours[np.array([row["input"]])])
        got = theirs[batch.targets[0]].tolist()
        results.append(compare(got, [int(v) for v in row["target"]], "target"))
    return results
