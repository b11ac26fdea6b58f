"""Experiment tracking: training curves to TensorBoard (torch's ``SummaryWriter``).

``archlab train --tensorboard DIR`` writes one TensorBoard run per training run (``DIR/RUN_ID``,
the run directory's name): every metric the trainer reports through its progress hook (``loss``,
``lr``, and ``val_seq_acc`` at each evaluation) as a scalar against the training step. From
Python, :func:`tensorboard_hook` gives the same hook for :func:`archlab.train.train_run`'s
``progress`` argument. TensorBoard is optional (``pip install "archlab[tracking]"``); without it
the option is refused before any training, with that instruction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from archlab.errors import ConfigError

ProgressHook = Callable[[int, int, dict[str, float]], None]


def check_tensorboard() -> None:
    """Raise a :class:`ConfigError` saying how to install TensorBoard when it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "--tensorboard",
            f"TensorBoard is not installed ({exc})",
            'pip install "archlab[tracking]" (or pip install tensorboard)',
        ) from None


@contextlib.contextmanager
def tensorboard_hook(log_dir: str | Path, then: ProgressHook | None = None) -> Iterator[ProgressHook]:
    """A progress hook writing every reported metric to TensorBoard under ``log_dir`` (then
    calling ``then``, e.g. a progress bar's hook); the writer is closed on exit."""
    check_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))

    def hook(step: int, total: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            writer.add_scalar(key, float(value), step)
        if then is not None:
            then(step, total, metrics)

    try:
        yield hook
    finally:
        writer.close()
