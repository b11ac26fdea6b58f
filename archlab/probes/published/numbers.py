"""Numbers the papers publish, to be set beside archlab's, each with where it was read.

Grazzi et al. 2025 (ICLR, arXiv 2411.12537), Table 3: read in the paper's Sec. 5.1 (the version
that cites Gated DeltaNet; an earlier version has other values in the with-brackets column).
Scaled accuracy, best of 3 runs; rows are archlab's paper-exact probes for the paper's tasks.

Sarrof, Veitsman & Hahn 2024 (NeurIPS, arXiv 2405.17394): the authors' own results file,
lacoco-lab/ssm_expressivity @5b87520 ``visualisation/main_expt_results.xlsx`` (sheets Counter,
Regular1, Regular2), the data behind their figures; the figures themselves were not read. Values
are accuracy in % (a string counts when every position is right) per length bin: bin 1 = the
training window (held-out strings), bin 2 (and 3) = the longer windows of
:data:`SARROF_WINDOWS`. Model labels as in the file ("Mamba1/2/3" are three Mamba rows whose
meaning the file does not state; the plotting notebook uses Mamba3).
"""

from __future__ import annotations

#: probe → model → scaled accuracy (Grazzi et al. 2025, Table 3)
GRAZZI_TABLE3: dict[str, dict[str, float]] = {
    "dm_parity_check": {
        "Transformer": 0.022, "mLSTM": 0.087, "sLSTM": 1.000, "Mamba [0,1]": 0.000,
        "Mamba [-1,1]": 1.000, "DeltaNet [0,1]": 0.017, "DeltaNet [-1,1]": 1.000,
    },
    "dm_modular_arithmetic": {
        "Transformer": 0.031, "mLSTM": 0.040, "sLSTM": 0.787, "Mamba [0,1]": 0.095,
        "Mamba [-1,1]": 0.241, "DeltaNet [0,1]": 0.314, "DeltaNet [-1,1]": 0.971,
    },
    "dm_modular_arithmetic_brackets": {
        "Transformer": 0.067, "mLSTM": 0.114, "sLSTM": 0.178, "Mamba [0,1]": 0.123,
        "Mamba [-1,1]": 0.116, "DeltaNet [0,1]": 0.194, "DeltaNet [-1,1]": 0.260,
    },
}  # fmt: skip

#: language → (lower, upper, step, bins, family) of their configs/dataset/*.yaml: training on
#: string lengths lower–upper; test bins as their src/dataloader_utils.py builds them
SARROF_WINDOWS: dict[str, tuple[int, int, int, int, str]] = {
    "tomita1": (1, 100, 50, 2, "tomita"), "tomita2": (1, 100, 50, 2, "tomita"),
    "tomita3": (1, 100, 50, 2, "tomita"), "tomita4": (1, 100, 50, 2, "tomita"),
    "tomita5": (1, 100, 50, 2, "tomita"), "tomita6": (1, 100, 50, 2, "tomita"),
    "tomita7": (1, 100, 50, 2, "tomita"),
    "parity": (2, 50, 50, 2, "parity"),
    "aa_star": (2, 500, 100, 2, "non-star-free"), "aaaa_star": (4, 500, 100, 2, "non-star-free"),
    "abab_star": (4, 500, 100, 2, "non-star-free"),
    "D_2": (2, 100, 100, 2, "star-free"), "D_3": (2, 100, 100, 2, "star-free"),
    "D_4": (2, 100, 100, 2, "star-free"), "D_12": (2, 100, 100, 2, "star-free"),
    "aa_star_bb_star_cc_star_dd_star_ee_star": (5, 200, 100, 2, "star-free"),
    "ab_star_d_bc_star": (2, 50, 50, 2, "star-free"), "012_star_0_2_star": (2, 50, 50, 2, "star-free"),
    "dyck1": (2, 50, 50, 3, "dyck"),
    "shuffle2": (2, 50, 50, 3, "shuffle"), "shuffle4": (2, 100, 50, 3, "shuffle"),
    "shuffle6": (2, 100, 50, 3, "shuffle"),
    "boolean3": (2, 50, 50, 3, "boolean"), "boolean5": (2, 50, 50, 3, "boolean"),
    "anbn": (2, 100, 100, 3, "counter"), "anbncn": (3, 150, 150, 3, "counter"),
    "anbncndn": (4, 200, 200, 3, "counter"),
}  # fmt: skip


def sarrof_test_window(language: str) -> tuple[int, int]:
    """The string lengths of their test bins beyond bin 1: from just past the training window
    (Dyck and Shuffle: two past, their strings being even) to the last bin's end; the star-free
    family keeps the training window's lower end in bin 2."""
    lower, upper, step, bins, family = SARROF_WINDOWS[language]
    start = {"star-free": lower, "dyck": upper + 2, "shuffle": upper + 2}.get(family, upper + 1)
    return start, upper + (bins - 1) * step


#: language → model → accuracy % per bin (bin 1, bin 2[, bin 3]); see the module docstring
SARROF_RESULTS: dict[str, dict[str, tuple[float, ...]]] = {
    'dyck1': {
        'Transformers': (100, 100, 100),
        'Mamba1': (100, 62.6, 13.91),
        'Mamba2': (100, 49.1, 9.5),
        'Mamba3': (100, 53.95, 10),
    },
    'shuffle2': {
        'Transformers': (100, 100, 93),
        'Mamba1': (100, 49.5, 2.3),
        'Mamba2': (100, 61.5, 8.2),
        'Mamba3': (100, 65.5, 9.7),
    },
    'shuffle4': {
        'Transformers': (100, 100, 98.8),
        'Mamba1': (100, 44.4, 4.3),
        'Mamba2': (100, 63.8, 7.2),
        'Mamba3': (100, 56.2, 7.8),
    },
    'shuffle6': {
        'Transformers': (100, 99.9, 94),
        'Mamba1': (100, 39.4, 3.4),
        'Mamba2': (100, 61.2, 6.75),
        'Mamba3': (100, 59.6, 9.85),
    },
    'boolean3': {
        'Transformers': (100, 100, 99.8),
        'Mamba1': (99.75, 65.7, 7.05),
        'Mamba2': (99.95, 47.25, 2.3),
        'Mamba3': (100, 73.45, 8.6),
    },
    'boolean5': {
        'Transformers': (100, 99.8, 99),
        'Mamba1': (99.9, 30.05, 7.6),
        'Mamba2': (100, 80.2, 14.9),
        'Mamba3': (99.25, 60.7, 6.25),
    },
    'anbn': {
        'Transformers': (100, 100, 100),
        'Mamba1': (100, 4.1, 0),
        'Mamba2': (100, 9.4, 0),
        'Mamba3': (100, 21.3, 0),
    },
    'anbncn': {
        'Transformers': (100, 100, 100),
        'Mamba1': (100, 0, 0),
        'Mamba2': (100, 7.6, 0),
        'Mamba3': (100, 5.1, 0),
    },
    'anbncndn': {
        'Transformers': (100, 100, 99.4),
        'Mamba1': (100, 4.76, 0),
        'Mamba2': (100, 0, 0),
        'Mamba3': (100, 0, 0),
    },
    'tomita1': {
        'Transformer(pos mask)': (100, 100),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'tomita4': {
        'Transformer(pos enc)': (100, 92.4),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'tomita7': {
        'Transformer(pos mask)': (100, 100),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'tomita2': {
        'Transformer': (100, 100),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'aa_star_bb_star_cc_star_dd_star_ee_star': {
        'Transformer(pos mask)': (100, 100),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'ab_star_d_bc_star': {
        'Transformer(pos mask)': (100, 100),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    '012_star_0_2_star': {
        'Transformer': (100, 68.7),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'D_2': {
        'Transformer(pos mask)': (74.6, 3.1),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'D_3': {
        'Transformer(pos mask)': (80.9, 8.5),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'D_4': {
        'Transformer(pos mask)': (90.2, 3.3),
        'Mamba1': (100, 100),
        'Mamba2': (100, 100),
        'Mamba3': (100, 100),
    },
    'D_12': {
        'Transformer(pos mask)': (95.18, 1.5),
        'Mamba1': (93.65, 93.35),
        'Mamba2': (99.9, 95.55),
        'Mamba3': (99.99, 99.85),
    },
    'parity': {
        'Transformer(pos mask)': (68.7, 0),
        'Mamba1': (26.95, 0),
        'Mamba2': (80.05, 4.15),
        'Mamba3': (91.15, 16.7),
    },
    'aa_star': {
        'Transformer(pos mask)': (100, 0),
        'Mamba1': (2.1, 0),
        'Mamba2': (2.1, 0),
        'Mamba3': (4.2, 0),
    },
    'aaaa_star': {
        'Transformer(pos mask)': (100, 0),
        'Mamba1': (0, 0),
        'Mamba2': (0, 0),
        'Mamba3': (4, 0),
    },
    'abab_star': {
        'Transformer(pos mask)': (100, 2.5),
        'Mamba1': (0, 0),
        'Mamba2': (0, 0),
        'Mamba3': (0, 0),
    },
    'tomita3': {
        'Transformer(pos mask)': (75.4, 10.8),
        'Mamba1': (25.99, 12.49),
        'Mamba2': (36.88, 17.05),
        'Mamba3': (60.85, 29.37),
    },
    'tomita5': {
        'Transformer(pos mask)': (29.3, 0),
        'Mamba1': (15.94, 0),
        'Mamba2': (34.5, 0),
        'Mamba3': (38.4, 0),
    },
    'tomita6': {
        'Transformer(pos enc)': (88.8, 0),
        'Mamba1': (7.2, 0),
        'Mamba2': (37.8, 0),
        'Mamba3': (54.56, 0.04),
    },
}  # fmt: skip

#: Delétang et al. 2023 (ICLR, arXiv 2207.02098), Table 2 as quoted second-hand — NOT read in the
#: paper: a bachelor thesis' Table 4.1, which says it extends Delétang et al.'s table
#: (ToasterTornado/Mamba-in-the-Chomsky-Hierarchy @30d74ed, Mamba_in_the_Chomsky_Hierarchy.pdf).
#: Accuracy in %, averaged over test lengths 41–500, the best of the paper's runs. A second
#: document disagrees with this quote's Tape-RNN row (not kept here), so check the paper before
#: citing any of it.
DELETANG_TABLE2_SECONDHAND: dict[str, dict[str, float]] = {
    "dm_even_pairs": {"RNN": 100.0, "LSTM": 100.0, "Transformer": 67.7},
    "dm_parity_check": {"RNN": 95.5, "LSTM": 100.0, "Transformer": 50.4},
    "dm_cycle_navigation": {"RNN": 100.0, "LSTM": 90.0, "Transformer": 33.9},
    "dm_modular_arithmetic": {"RNN": 100.0, "LSTM": 100.0, "Transformer": 23.1},
    "dm_modular_arithmetic_brackets": {"RNN": 34.6, "LSTM": 53.1, "Transformer": 28.2},
    "dm_stack_manipulation": {"RNN": 54.5, "LSTM": 58.1, "Transformer": 51.1},
    "dm_reverse_string": {"RNN": 60.6, "LSTM": 59.5, "Transformer": 56.1},
    "dm_solve_equation": {"RNN": 31.3, "LSTM": 37.1, "Transformer": 23.5},
    "dm_duplicate_string": {"RNN": 50.2, "LSTM": 56.5, "Transformer": 52.8},
    "dm_missing_duplicate_string": {"RNN": 51.7, "LSTM": 53.1, "Transformer": 53.8},
    "dm_odds_first": {"RNN": 50.4, "LSTM": 54.6, "Transformer": 52.7},
    "dm_binary_addition": {"RNN": 49.5, "LSTM": 54.8, "Transformer": 51.7},
    "dm_binary_multiplication": {"RNN": 49.6, "LSTM": 52.9, "Transformer": 50.4},
    "dm_compute_sqrt": {"RNN": 53.9, "LSTM": 57.3, "Transformer": 51.5},
    "dm_bucket_sort": {"RNN": 22.5, "LSTM": 79.4, "Transformer": 35.7},
}  # fmt: skip
