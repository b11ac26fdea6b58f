"""Paper-exact task variants: the peers' tasks with their token codings, layouts and scoring.

One module per paper (or per peer repository); each registers its probes and holds the map from
the peer's vocabulary to archlab's that :mod:`archlab.probes.fixtures` uses to check it against
the peer's own data. archlab's own variants (:mod:`archlab.probes.regular` and the rest) stay as
they are.
"""

from archlab.probes.published import bhattamishra2020, deletang2023, mad2024, zoology  # noqa: F401
