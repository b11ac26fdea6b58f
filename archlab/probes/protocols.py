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
from archlab.probes.published.numbers import DELETANG_TABLE2_SECONDHAND, GRAZZI_TABLE3, SARROF_RESULTS


@dataclass(frozen=True)
class Published:
    """One number a paper reports for a task and model, to be set beside archlab's."""

    task: str  # archlab's probe for the paper's task
    model: str  # the paper's model, as it names it
    value: float
    metric: str
    source: str  # the table or file it was read from
    #: False: read second-hand (another document quoting the paper), not in the paper itself
    verified: bool = True
    #: the probe parameters that pick the paper's task (e.g. the language), if any
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, probe_name: str, probe_params: dict[str, Any]) -> bool:
        """Whether a run of ``probe_name`` with ``probe_params`` is this number's task."""
        return probe_name == self.task and all(probe_params.get(k) == v for k, v in self.params.items())

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.task}({args})" if args else self.task


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
    #: the paper's own numbers under this protocol, for comparison
    published: tuple[Published, ...] = ()
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

GRAZZI_TASKS = ("dm_parity_check", "dm_modular_arithmetic", "dm_modular_arithmetic_brackets")

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
            published=tuple(
                Published(
                    task,
                    model,
                    value,
                    "accuracy % averaged over lengths 41–500, best of runs",
                    "Table 2 quoted in a thesis (Table 4.1); not read in the paper",
                    verified=False,
                )
                for task, row in DELETANG_TABLE2_SECONDHAND.items()
                for model, value in row.items()
            ),
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
            citation="the paper's Sec. 5.1 and Table 3 (read); automl/unlocking_state_tracking @df8f840 "
            "(xlstm/experiments/*.yaml: 2 layers, d 128, batch 256, lr 1e-3, 20 000 steps; "
            "xlstm/experiments/data/formal_language/tasks/; eval-chomsky.py: chance 0.5 for parity, "
            "0.2 for arithmetic mod 5)",
            tasks=GRAZZI_TASKS,
            scored="the final answer only (xLSTM's prediction_mask)",
            train_lengths=(3, 40),
            test_lengths=(40, 256),
            splits="fresh random sequences; train lengths 3–40, test 40–256 (unseen beyond 40)",
            metric="scaled accuracy (acc − c) / (1 − c) with c = 1 / (number of answers): 0.5 parity, "
            "0.2 arithmetic mod 5 (archlab's scaled_acc_uniform), averaged over the test lengths",
            aggregation="best of 3 seeds (Table 3; Table 5 of the appendix gives the median)",
            suite="grazzi2025",
            missing=(
                "DeepMind's layout (the expression, then one output position) where xLSTM's code "
                "predicts the answer at the position after '=': the same function of the same input",
                "their lengths count the answer token: their 3–40 and 40–256 are one longer than "
                "archlab's input lengths",
                "archlab's mamba, mlstm and slstm follow the paper's blocks (their official code); the "
                "table's DeltaNet is ungated: archlab's householder with one factor is it, gated_deltanet "
                "adds Yang et al.'s gate",
            ),
            published=tuple(
                Published(task, model, value, "scaled accuracy, best of 3", "Grazzi et al. 2025, Table 3")
                for task, row in GRAZZI_TABLE3.items()
                for model, value in row.items()
            ),
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
            citation="lacoco-lab/ssm_expressivity @5b87520 (configs/dataset/*.yaml windows and "
            "families, src/dataloader_utils.py bins, src/generators/*, visualisation/"
            "main_expt_results.xlsx); the paper's figures not read",
            tasks=("formal_language",),
            scored="every position: the next-allowed-character vector (their output chunks as classes)",
            train_lengths=(1, 500),
            test_lengths=(2, 600),
            splits="per language, training strings in its window (e.g. 2–50; Tomita 1–100; (aa)* "
            "2–500) and test bins beyond it (bin 2; bin 3 for the counter languages), as "
            "archlab.probes.published.numbers.SARROF_WINDOWS lists",
            metric="string accuracy in % (seq_acc), per bin: the mean over the bin's lengths",
            aggregation="per language and bin; their sweep (layers 1–3, d 16/64, lr 1e-4/1e-3, 50 "
            "epochs, AdamW) reports the best configuration",
            suite="sarrof2024",
            params={"formal_language": {"exact_length": True}},
            missing=(
                "strings from archlab's sampler, not their generators' length and shape distributions",
                "fresh strings instead of their 10 000-string training corpora (1 000 for Tomita 1/2 "
                "and the counter languages, 125–250 for (aa)*, (aaaa)*, (abab)*)",
                "their bounded Dyck with 8 bracket types and depth ≤ 10 (from Yao et al.) and "
                "flip-flop are not in this suite (flip_flop is archlab's own probe)",
            ),
            published=tuple(
                Published(
                    "formal_language",
                    f"{model} bin {i + 1}",
                    value,
                    "string accuracy %",
                    "lacoco-lab/ssm_expressivity main_expt_results.xlsx",
                    params={"language": lang},
                )
                for lang, models in SARROF_RESULTS.items()
                for model, bins in models.items()
                if model == "Mamba3" or model.startswith("Transformer")
                for i, value in enumerate(bins)
            ),
        ),
        Protocol(
            name="movahedi2025",
            paper="Movahedi et al., Fixed-Point RNNs (arXiv 2503.10799)",
            citation="dr-faustus/fp-rnn @4c28602 (word_problem_exp/main.py: groups S5, Z60, A4, A5, "
            "data from jopetty/word-problem, evaluation lengths 2–50; copy_exp: 26 letters + $ | . "
            "as Jelassi et al.'s '$<string>|<string>.'); arXiv v2/v3 Fig. 1 caption (A5, training "
            "length 16); the copy lengths (train 5–50, evaluate to 100) from the issue, not read",
            tasks=("word_problem", "copy"),  # A5 and S5 are word_problem
            scored="every position (word problems); the copied letters and the end token (copy)",
            train_lengths=(5, 50),
            test_lengths=(2, 100),
            splits="word problems: train at length 16, test 2–50; copy: train 5–50, test to 100",
            metric="accuracy per test length (token_acc; seq_acc for whole strings)",
            aggregation="not read",
            suite="movahedi2025",
            params={"word_problem": {"apply_first": "token"}, "copy": {"alphabet": 26}},
            missing=(
                "their word-problem tokens (with or without BOS) were not read: archlab uses the "
                "word-problem repository's composition order without BOS",
                "no published numbers were readable: nothing to set beside a run",
            ),
        ),
    )
}


def published_for(protocol: str, probe_name: str, probe_params: dict[str, Any]) -> list[Published]:
    """The paper's numbers for a run of ``probe_name`` under ``protocol`` (empty if none)."""
    return [r for r in get_protocol(protocol).published if r.matches(probe_name, probe_params)]


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UnknownNameError("protocol", name, list(PROTOCOLS), "see `archlab probe protocols`")
    return PROTOCOLS[name]
