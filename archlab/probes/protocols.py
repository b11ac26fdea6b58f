"""Published protocols: what each paper trains on, scores and reports, and how much of it archlab
follows.

A suite's ``protocol:`` names an entry here (an unknown name lists the valid ones). A suite may
name a protocol only when it follows it: its probes are among the protocol's ``tasks`` (archlab's
paper-exact variants, :mod:`archlab.probes.published`) and its train and test lengths are the
protocol's (``tests/probes/test_protocols.py`` checks every shipped suite). A protocol whose
split construction or metric archlab cannot yet reproduce has no suite, and ``missing`` says
what is not there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from archlab.errors import UnknownNameError


@dataclass(frozen=True)
class Protocol:
    name: str
    paper: str
    #: what was read, and what could not be
    citation: str
    #: archlab's probes that implement the paper's tasks (names as in ``archlab probe list``)
    tasks: tuple[str, ...]
    scored: str
    train_lengths: tuple[int, int] | None
    test_lengths: tuple[int, int] | None
    splits: str
    metric: str
    aggregation: str
    #: the shipped suite (in probes/) that follows it, or None
    suite: str | None = None
    #: suite fields the protocol fixes (e.g. ``forbid_test_in_train``), checked on load
    settings: dict[str, Any] = field(default_factory=dict)
    #: probe parameters the protocol fixes, per task ("*": every task), for training and testing
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: probe parameters of the test split only, per task ("*": every task)
    test_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: what archlab does not (yet) reproduce; empty when the suite follows the protocol fully
    missing: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fixed_params(self, task: str, split: str) -> dict[str, Any]:
        """The probe parameters this protocol fixes for ``task`` in ``split`` ("train"/"test")."""
        out = {**self.params.get("*", {}), **self.params.get(task, {})}
        if split == "test":
            out.update({**self.test_params.get("*", {}), **self.test_params.get(task, {})})
        return out


DM_TASKS = (
    "dm_even_pairs", "dm_modular_arithmetic", "dm_parity_check", "dm_cycle_navigation",
    "dm_stack_manipulation", "dm_reverse_string", "dm_modular_arithmetic_brackets",
    "dm_solve_equation", "dm_duplicate_string", "dm_missing_duplicate_string", "dm_odds_first",
    "dm_binary_addition", "dm_binary_multiplication", "dm_compute_sqrt", "dm_bucket_sort",
)  # fmt: skip

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="deletang2023",
            paper="Delétang et al., Neural Networks and the Chomsky Hierarchy, ICLR 2023 (arXiv 2207.02098)",
            citation="task codings and scoring from google-deepmind/neural_networks_chomsky_hierarchy "
            "@2b8eb4b (tasks/, experiments/constants.py, utils.py, range_evaluation.py); lengths from "
            "the paper's Sec. 4 (train 1–40, test 41–500); checked on 15 peer fixture files",
            tasks=DM_TASKS,
            scored="the output segment after the input: the final answer, or every output position "
            "up to and including the termination token (never the padding)",
            train_lengths=(1, 40),
            test_lengths=(41, 500),
            splits="fresh random examples every step from the task generators; test lengths are unseen",
            metric="accuracy over scored positions per test length, averaged over lengths 41–500",
            aggregation="the paper reports, per task and architecture, the best of its runs (10 seeds × "
            "3 learning rates; Sec. 4, not re-read here); archlab reports mean ± sd and best-of-k over seeds",
            suite="deletang2023",
        ),
        Protocol(
            name="illusion2024",
            paper="Merrill, Petty & Sabharwal, The Illusion of State in State-Space Models, ICML 2024 "
            "(arXiv 2404.08819)",
            citation="jopetty/word-problem @8f910f9 (README.md 'Training Transformer Models', "
            "src/main.py train_trns: train_size=0.8, lengths 2 ≤ m < k all in training; "
            "src/generate_data.py); checked on 24 peer fixture files with word_problem(apply_first=token)",
            tasks=("word_problem",),
            scored="every position (token tagging of prefix products), after a BOS token",
            train_lengths=(2, 64),
            test_lengths=(2, 128),
            splits="every length 2 ≤ m < k in training; at k, 80 % of the sequences for training and the "
            "held-out 20 % (never seen) for testing; longer lengths only at test",
            metric="token / sequence accuracy per test length (from the external sfirah.metrics "
            "package, not read); archlab reports token_acc and seq_acc",
            aggregation="per group and depth: the smallest depth that reaches the accuracy threshold",
            suite="illusion2024",
            settings={"forbid_test_in_train": True, "reserve_fraction": 0.2},
            params={"word_problem": {"apply_first": "token", "bos": True}},
            missing=(
                "the held-out 20 % at length k is a hash-defined 20 % of all length-k sequences, not a "
                "random 20 % of a sampled file: never seen in training either way",
                "training draws fresh sequences (with replacement) rather than epochs over their files "
                "(all sequences, or up to 5 M per length)",
                "the BOS position is unscored here (their loss covers it; it is trivial)",
            ),
        ),
        Protocol(
            name="grazzi2025",
            paper="Grazzi et al., Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues, "
            "ICLR 2025 (arXiv 2411.12537)",
            citation="the paper's formal-language setup (xLSTM's): train 3–40, test 40–256, scaled "
            "accuracy, best of 3 seeds (Sec. 5 and App.; read through search)",
            tasks=("parity", "modular_sum", "word_problem"),  # groups S3, S5, A5, … are word_problem
            scored="every position",
            train_lengths=(3, 40),
            test_lengths=(40, 256),
            splits="fresh random sequences",
            metric="scaled accuracy (accuracy rescaled so chance is 0 and perfect is 1) beyond training",
            aggregation="best of 3 seeds",
            missing=("no shipped suite yet; archlab reproduce rows use a CPU-sized version",),
        ),
        Protocol(
            name="zoology_mqar",
            paper="Arora et al., Zoology: Measuring and Improving Recall in Efficient Language Models, "
            "ICLR 2024 (arXiv 2312.04927)",
            citation="HazyResearch/zoology @d88d6f5 (zoology/data/multiquery_ar.py, train.py "
            "compute_metrics); checked on 18 peer fixture files",
            tasks=("zoology_mqar", "zoology_forgetting_mqar", "zoology_compositional_mqar"),
            scored="the query positions only",
            train_lengths=None,
            test_lengths=None,
            splits="train and test at the same (vocab 8192, length, pairs) setting, disjoint examples",
            metric="accuracy over the query positions, averaged over examples",
            aggregation="per (length, pairs) setting; the paper plots the best over learning rates",
            suite="zoology_mqar",
        ),
        Protocol(
            name="mad2024",
            paper="Poli et al., Mechanistic Design and Scaling of Hybrid Architectures, ICML 2024 "
            "(arXiv 2403.17844)",
            citation="athms/mad-lab @0f49a45 (mad/data/instances.py, mad/metrics.py, mad/configs.py "
            "MADConfig defaults, configs/tasks/*.yml baselines); checked on 18 peer fixture files",
            tasks=(
                "mad_in_context_recall",
                "mad_noisy_in_context_recall",
                "mad_fuzzy_in_context_recall",
                "mad_selective_copying",
                "mad_memorization",
                "mad_compression",
            ),
            scored="training: the next token everywhere (LM loss) for the recall tasks; test: the "
            "recalled values only (suite test_params scoring: recall)",
            train_lengths=None,
            test_lengths=None,
            splits="a fixed training set per setting (num_train_examples 12 800; memorization 256), "
            "a fresh test set (1 280) from the same generator",
            metric="torchmetrics MulticlassAccuracy(average='macro'): per-class accuracy averaged over "
            "classes (archlab's macro_acc in every range row)",
            aggregation="per task and setting; the MAD score averages over the difficulty settings "
            "(configs/tasks/*.yml changes: vocab 32–128, longer sequences, smaller training sets)",
            suite="mad2024",
            params={
                "mad_in_context_recall": {"scoring": "lm"},
                "mad_noisy_in_context_recall": {"scoring": "lm"},
                "mad_fuzzy_in_context_recall": {"scoring": "lm"},
            },
            test_params={
                "mad_in_context_recall": {"scoring": "recall"},
                "mad_noisy_in_context_recall": {"scoring": "recall"},
                "mad_fuzzy_in_context_recall": {"scoring": "recall"},
            },
            missing=(
                "the shipped suite holds the baseline settings only; the difficulty sweep is one "
                "--set per setting",
                "training samples its fixed set with replacement, not in shuffled epochs",
            ),
        ),
        Protocol(
            name="bhattamishra2020",
            paper="Bhattamishra, Ahuja & Goyal, On the Ability and Limitations of Transformers to "
            "Recognize Formal Languages, EMNLP 2020 (arXiv 2009.11264)",
            citation="satwik77/Transformer-Formal-Languages @48eea2e (src/dataloader.py, src/model.py); "
            "checked on 38 peer fixture files",
            tasks=("formal_language",),
            scored="every position of the string: the next-allowed-character vector (one class)",
            train_lengths=(2, 50),
            test_lengths=(51, 150),
            splits="training strings of lengths 2–50, test bins 51–100 and 101–150",
            metric="string accuracy: a string counts only if every position is right (seq_acc)",
            aggregation="per language and bin: the mean of seq_acc over the bin's lengths",
            suite="bhattamishra2020",
            params={"formal_language": {"exact_length": True}},
            missing=(
                "strings come from archlab's sampler (uniform over the allowed continuations that can "
                "still finish), not their generators' distributions; labels agree on their strings",
                "fresh strings every step instead of their fixed training corpus",
            ),
        ),
        Protocol(
            name="sarrof2024",
            paper="Sarrof, Veitsman & Hahn, The Expressive Capacity of State Space Models: A Formal "
            "Language Perspective, NeurIPS 2024 (arXiv 2405.17394)",
            citation="uses Bhattamishra et al.'s languages and targets (Sec. 5); not re-read in detail",
            tasks=("formal_language",),
            scored="every position: the next-allowed-character vector",
            train_lengths=(1, 50),
            test_lengths=(51, 100),
            splits="as Bhattamishra et al.",
            metric="string accuracy",
            aggregation="per language",
            missing=("no shipped suite: same gaps as bhattamishra2020",),
        ),
        Protocol(
            name="movahedi2025",
            paper="Movahedi et al., Fixed-Point RNNs (FP-RNN), 2025",
            citation="A5/S5 train at 16, test 2–50; copy with vocab 29, train 5–50, evaluate to 100 "
            "(from the issue's summary of the paper; not re-read here)",
            tasks=("word_problem", "copy"),  # A5 and S5 are word_problem
            scored="every position (word problems); the output segment (copy)",
            train_lengths=(16, 16),
            test_lengths=(2, 50),
            splits="fresh random sequences",
            metric="accuracy per test length",
            aggregation="not read",
            missing=("no shipped suite; copy alphabets stop at 26 in archlab's copy probe",),
        ),
    )
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UnknownNameError("protocol", name, list(PROTOCOLS), "see `archlab probe protocols`")
    return PROTOCOLS[name]
