"""DNA tasks: synthetic motif-grammar levels from JASPAR motifs, real labelled sets, baselines.

:mod:`.data` holds the array types every part shares (codes A=0 C=1 G=2 T=3 N=4, splits,
datasets); ``archlab dna …`` is the command line.
"""

from archlab.dna.data import DataError, DnaDataset, Split, decode, encode, one_hot, revcomp

__all__ = ["DataError", "DnaDataset", "Split", "decode", "encode", "one_hot", "revcomp"]
