"""Analysis of archlab results: the figures that go into papers (:mod:`.plots`)."""

from archlab.analysis.plots import (
    OKABE_ITO,
    PlotInputError,
    StudyPlots,
    capacity,
    dna_baselines,
    expressivity_matrix,
    length_generalisation,
    recurrence_depth,
    save_figure,
    study_plots,
    transfer_correlations,
)

__all__ = [
    "OKABE_ITO",
    "PlotInputError",
    "StudyPlots",
    "capacity",
    "dna_baselines",
    "expressivity_matrix",
    "length_generalisation",
    "recurrence_depth",
    "save_figure",
    "study_plots",
    "transfer_correlations",
]
