"""DNA tasks: synthetic motif-grammar levels from JASPAR motifs, real labelled sets, baselines.

- :mod:`.data`: the array types every part shares (codes A=0 C=1 G=2 T=3 N=4, splits, datasets);
- :mod:`.motifs`: JASPAR 2024 motifs (pyjaspar, offline), PWM sampling, log-odds scanning;
- :mod:`.grammar`: the levels D0–D7 (registry ``DNA_TASKS``) and their backgrounds;
- :mod:`.confounds`: the checks that no shortcut (GC, k-mers, duplicates) solves a level;
- :mod:`.io`, :mod:`.leakage`: loaders for HDF5/FASTA/TSV/split folders, duplicate and leak checks;
- :mod:`.linear`, :mod:`.cnn`, :mod:`.baselines`: GC-only, k-mer and one-hot CNN baselines;
- :mod:`.train`, :mod:`.metrics`: training any architecture on a dataset, AUROC/AUPR/Pearson/Spearman;
- :mod:`.tasks`, :mod:`.transfer`: tasks in study specs; synthetic→real rank correlation.

``archlab dna …`` is the command line.
"""

from archlab.dna.data import DataError, DnaDataset, Split, decode, encode, one_hot, revcomp

__all__ = ["DataError", "DnaDataset", "Split", "decode", "encode", "one_hot", "revcomp"]
