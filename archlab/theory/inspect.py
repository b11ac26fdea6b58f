"""Spectral and mechanistic checks of a trained model ("theory inspect").

Theory (``shared/docs/THEORY.md`` R1–R10) says *which transitions* a linear recurrence needs for a
task: a sign flip (an eigenvalue near −1) for parity, a rotation by ``2πk/m`` for counting mod m,
orthogonal products for group word problems. This module reads those transitions out of a trained
:class:`~archlab.models.model.SequenceModel` on real inputs from the probe's **test** seed stream
(the stream and the per-length sub-streams :func:`archlab.train.evaluate_lengths` uses), puts
them next to the model's sequence accuracy at the same lengths, and says per layer whether the
mechanism theory expects is there.

What is measured, per layer (the layer's input is captured with a forward pre-hook):

* ``diag_rnn``: the per-token diagonal values ``a_t`` (after the write gate when ``prune``) are
  the eigenvalues of the transition (complex for ``eig_range: complex``).
* ``householder``: per token and head the explicit ``d × d`` product
  ``(I − β_{n_h} k kᵀ) ⋯ (I − β_1 k kᵀ)`` (first factor applied first, unit ``k``) and its
  eigenvalues, on at most :data:`MAX_MATRIX_TOKENS` sampled tokens; also how many factors have
  ``β > 1`` (eigenvalue ``1 − β < 0``: reflection-like).
* ``dense_rnn``: the eigenvalues of the scaled ``Â(x_t)``.
* fixed point around ``diag_rnn`` (``fp_shift: false``): the transition of the fixed point,
  ``A_t = (I − S_t (I − Q_t))⁻¹ D_t`` with ``D_t`` the diagonal transition (2 × 2 rotation blocks
  per channel in the real ``[re; im]`` layout for complex channels), ``S_t = diag(1 − |a_t|)`` the
  input scale (the write gate folded in) and ``Q_t`` the channel mixer as an explicit matrix; the
  input term is ``(I − S_t(I − Q_t))⁻¹ S_t Q_t u₀_t`` (:class:`FixedPointLinear`). For
  ``eig_range: unit`` ``S = I − D``, which is the textbook form ``(I − (I − D)(I − Q))⁻¹ D``.
  How far ``A_t`` is from diagonal: ``‖offdiag A‖_F / ‖A‖_F`` (off the channel blocks), and the
  same for the truncated Neumann series ``Σ_{k<ℓ} (S(I − Q))^k D`` at ``ℓ = 1, 2, 4`` and the
  evaluation cap — a description of what ℓ iterations can build, not the iterate exactly. Also
  ``ρ(S(I − Q))`` (below 1: the iteration and the series converge). With ``fp_shift: true`` the
  fixed point is a nonlinear RNN: only iterations are reported.
* every fixed-point layer: iterations to converge vs length (``last_iters_per_position`` after
  a forward pass at each length: mean over sequences of the iterations the whole sequence needed,
  the differentiable one included, and the maximum).
* other mixers (lstm, gru, elman, attention, conv): "no linear transition to inspect"; the
  published blocks (mamba, mamba2, mlstm, gated_delta*): linear, but not extracted (said so).

Spectrum summaries (:func:`spectrum_summary`; a "token" below is one token, or one (token, head)
pair for Householder products):

* ``min_real``, ``max_real``, ``spectral_radius`` (max ``|λ|``), ``frac_abs_gt_095`` (``|λ| > 0.95``);
* ``frac_sign_flip``: essentially real (``|Im λ| <`` :data:`REAL_TOL`) with ``Re λ <``
  :data:`SIGN_FLIP_REAL` (−0.5) — the flips a parity solver uses (Grazzi et al. 2025, §4);
* ``frac_near_minus_one`` / ``tokens_near_minus_one``: ``|λ + 1| <`` :data:`NEAR_MINUS_ONE` (0.1),
  per eigenvalue / share of tokens with at least one;
* ``angle_hist``: histogram of ``arg λ`` over :data:`ANGLE_BINS` bins of ``[−π, π]`` for ``|λ| ≥ 0.5``;
* with a modulus ``m`` (the probe's ``modulus`` fact, else the group's exponent — every element
  order divides it, so rotation angles lie on its grid; it equals the order for cyclic groups):
  ``target_angles`` ±2πk/m, the tolerance ``angle_tol = min(0.15, π/(2m))`` rad, and
  ``tokens_target_rotation``: share of tokens with an eigenvalue of ``|λ| ≥`` :data:`ROTATION_MODULUS`
  (0.9) within the tolerance of a non-zero target angle; per target the nearest observed angle;
* ``tokens_nontrivial_unit``: share of tokens with an eigenvalue on the unit circle
  (``||λ| − 1| <`` :data:`UNIT_CIRCLE_TOL`) that is not 1 (``|λ − 1| >`` :data:`NONTRIVIAL`): the token
  acts orthogonally, as a group element's representation does.

``found`` (per layer, :func:`expectation_for`): a mechanism theory expects is *found* when its
criterion reaches its threshold — ``tokens_near_minus_one ≥ 0.05`` (parity), ``tokens_target_rotation
≥ 0.05`` (Z_m, m ≥ 3), ``tokens_nontrivial_unit ≥ 0.5`` (non-abelian word problems); for a
parametrisation theory says *cannot* have the mechanism (unit eigenvalue range, real eigenvalues
for m ≥ 3, one Householder factor for m ≥ 3) ``found`` is True when the signature is indeed absent
(criterion below 0.05): a check of the theory's premise, not of the model. ``None``: theory
predicts no spectral signature here (non-linear mixers, probes without a group structure,
diagonal transitions on non-abelian groups, ``fp_shift``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.atomic import atomic_write, json_default
from archlab.config import ModelConfig, validate
from archlab.errors import ArchlabError
from archlab.models.base import Mixer
from archlab.models.fixed_point import FixedPoint
from archlab.models.model import SequenceModel, build_model
from archlab.models.recurrent import DenseRNN, DiagRNN, Householder
from archlab.probes import make_probe
from archlab.probes.base import Probe
from archlab.train import DEFAULT_TEST_LENGTHS, DEFAULT_TRAIN_LENGTHS, DataSource

__all__ = [
    "TABLE_COLUMNS",
    "THRESHOLDS",
    "Expectation",
    "FixedPointLinear",
    "InspectReport",
    "LayerReport",
    "LengthAccuracy",
    "RunFilesMissingError",
    "expectation_for",
    "fixed_point_linear_form",
    "format_accuracy",
    "format_table",
    "householder_factors",
    "householder_products",
    "inspect_model",
    "inspect_run",
    "load_run",
    "plot_report",
    "spectrum_summary",
]

# --------------------------------------------------------------------------------------------
# thresholds (see the module docstring)
# --------------------------------------------------------------------------------------------

#: ``|λ + 1|`` below this: an eigenvalue "near −1" (a sign flip / reflection)
NEAR_MINUS_ONE = 0.1
#: ``Re λ`` below this (λ essentially real): a "sign flip"
SIGN_FLIP_REAL = -0.5
#: ``|Im λ|`` below this: λ counts as real (eigvals of non-symmetric matrices carry round-off)
REAL_TOL = 0.05
#: ``|λ|`` above this: a long memory
LARGE_MODULUS = 0.95
#: ``|λ|`` at least this for an eigenvalue to count as a rotation / flip (a decaying one forgets)
ROTATION_MODULUS = 0.9
#: angular tolerance (rad) around ±2πk/m; capped at π/(2m) so neighbouring targets stay apart
ANGLE_TOL = 0.15
#: ``||λ| − 1|`` below this: on the unit circle
UNIT_CIRCLE_TOL = 0.05
#: ``|λ − 1|`` above this: the eigenvalue acts (is not the identity's)
NONTRIVIAL = 0.1
#: share of tokens that must show a counting mechanism (parity: ~half the tokens flip in a solver)
TOKEN_FRACTION = 0.05
#: share of tokens that must act orthogonally and non-trivially for a group word problem
GROUP_TOKEN_FRACTION = 0.5
#: tokens sampled per layer for diagonal spectra / for explicit matrices (eigendecompositions)
MAX_DIAG_TOKENS = 4096
MAX_MATRIX_TOKENS = 256
#: eigenvalues kept per layer in the report (for the plot and the JSON)
MAX_PLOT_POINTS = 3000
#: angle histogram bins over [−π, π]
ANGLE_BINS = 24
#: Neumann truncations reported for fixed points (plus the evaluation cap)
NEUMANN_TERMS = (1, 2, 4)
#: target angles listed per layer (the smallest k first)
MAX_TARGETS = 12
#: the sub-stream offset of range evaluation (``archlab.train.evaluate_lengths``)
TEST_SUBSTREAM = 1_000_000

THRESHOLDS: dict[str, float] = {
    "near_minus_one": NEAR_MINUS_ONE,
    "sign_flip_real": SIGN_FLIP_REAL,
    "real_tol": REAL_TOL,
    "large_modulus": LARGE_MODULUS,
    "rotation_modulus": ROTATION_MODULUS,
    "angle_tol": ANGLE_TOL,
    "unit_circle_tol": UNIT_CIRCLE_TOL,
    "nontrivial": NONTRIVIAL,
    "token_fraction": TOKEN_FRACTION,
    "group_token_fraction": GROUP_TOKEN_FRACTION,
}

TABLE_COLUMNS = ("layer", "mixer", "summary", "expectation", "found")

# Okabe–Ito (colour-blind safe)
_BLUE, _ORANGE, _GREEN, _VERMILION, _GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#999999"


class RunFilesMissingError(ArchlabError, FileNotFoundError):
    """A run folder lacks ``result.json`` or ``checkpoint.pt``."""


# --------------------------------------------------------------------------------------------
# report types
# --------------------------------------------------------------------------------------------


@dataclass
class LengthAccuracy:
    """The model's accuracy on the inspected inputs of one length."""

    length: int
    seq_acc: float
    token_acc: float
    n_sequences: int


@dataclass
class LayerReport:
    """What was read from one mixer (one block, one hierarchy level)."""

    #: module path inside the model, e.g. ``blocks.0.mixer``
    name: str
    block: int
    #: registry name, with the wrappers, e.g. ``diag_rnn`` or ``fixed_point(diag_rnn)``
    mixer: str
    #: transition class (``diagonal_real`` … ``nonlinear``, as :meth:`Mixer.transition`); for
    #: fixed points ``fixed_point`` (around diag_rnn), ``fixed_point_shift`` (``fp_shift``: only
    #: iterations) or ``fixed_point_other`` (around another mixer: only iterations)
    transition: str
    #: what matrix the eigenvalues belong to ("" when none was read)
    measured: str
    expectation: str
    #: THEORY.md rules the expectation comes from
    rule: str
    found: bool | None
    found_reason: str
    summary: dict[str, Any] = field(default_factory=dict)
    #: a sample of eigenvalues as ``[re, im]`` (at most MAX_PLOT_POINTS)
    eigenvalues: list[list[float]] = field(default_factory=list)
    #: fixed-point layers: per length ``{"length", "mean_iters", "max_iters", "per_position"}``
    iterations: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class InspectReport:
    """Mechanism (per layer) next to performance (per length); JSON via :meth:`to_dict`."""

    probe: str
    theory: dict[str, Any]
    model: dict[str, Any]
    lengths: list[int]
    batch: int
    seed: int
    accuracy: list[LengthAccuracy]
    layers: list[LayerReport]
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))
    notes: list[str] = field(default_factory=list)
    run_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (``json.dumps`` works on it as is)."""
        out: dict[str, Any] = json.loads(json.dumps(asdict(self), default=json_default))
        return out


# --------------------------------------------------------------------------------------------
# loading a run
# --------------------------------------------------------------------------------------------


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], SequenceModel, Probe]:
    """``(record, model, probe)`` of a training run folder (``result.json`` + ``checkpoint.pt``).

    The model is rebuilt on the CPU from the checkpoint's config, loaded and put in eval mode."""
    run = Path(run_dir)
    result = run / "result.json"
    ckpt = run / "checkpoint.pt"
    if not result.is_file():
        raise RunFilesMissingError(f"{result}: no such file (is {run} a training run folder?)")
    if not ckpt.is_file():
        raise RunFilesMissingError(
            f"{ckpt}: no such file; the run saved no weights — train with --set train.checkpoint=true"
        )
    try:
        record: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArchlabError(f"{result}: not a readable JSON result record ({exc})") from None
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, … for a bad file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ArchlabError(f"{ckpt}: not a readable checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise ArchlabError(f"{ckpt}: not an archlab checkpoint (no 'model' weights)")
    cfg = validate(ModelConfig, state.get("model_config") or record["model"], source=str(ckpt))
    probe = make_probe(record["probe_name"], **record.get("probe_params", {}))
    model = build_model(cfg, probe.vocab_size, probe.n_classes, device="cpu")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ArchlabError(f"{ckpt}: weights do not fit the model of its config: {exc}") from None
    model.eval()
    return record, model, probe


def inspect_run(
    run_dir: str | Path,
    lengths: Sequence[int] | None = None,
    batch: int = 64,
    seed: int | None = None,
) -> InspectReport:
    """:func:`load_run` + :func:`inspect_model` at the run's test lengths plus its longest
    training length, on the run's test stream (``seed`` defaults to the run's seed)."""
    record, model, probe = load_run(run_dir)
    if lengths is None:
        lengths = sorted({*record.get("test_lengths", []), max(record.get("train_lengths", [1]))})
    report = inspect_model(
        model, probe, lengths=lengths, batch=batch, seed=int(record.get("seed", 0) if seed is None else seed)
    )
    report.run_dir = str(run_dir)
    if record.get("suite"):
        report.notes.append(
            f"suite run ({record['suite']}): inputs come from the probe's own test stream, not the "
            "suite's (which may filter sequences)"
        )
    return report


# --------------------------------------------------------------------------------------------
# spectra
# --------------------------------------------------------------------------------------------


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def target_angles(m: int) -> list[float]:
    """The non-zero rotation angles of Z_m in (−π, π]: ±2πk/m (π itself once when m is even)."""
    out: list[float] = []
    for k in range(1, m // 2 + 1):
        a = 2 * math.pi * k / m
        out += [a] if math.isclose(a, math.pi) else [a, -a]
    return out


def angle_tolerance(m: int) -> float:
    return min(ANGLE_TOL, math.pi / (2 * m))


def spectrum_summary(eigs: np.ndarray, modulus: int | None = None) -> dict[str, Any]:
    """Summaries of eigenvalues ``eigs`` (complex, ``[tokens, per token]``); see the module docstring."""
    lam = np.asarray(eigs, dtype=np.complex128)
    if lam.ndim == 1:
        lam = lam[:, None]
    n_tok = lam.shape[0]
    if lam.size == 0:
        return {"n_tokens": 0, "eigs_per_token": int(lam.shape[1]) if lam.ndim == 2 else 0}
    mod, re_, im = np.abs(lam), lam.real, lam.imag
    real = np.abs(im) < REAL_TOL
    near = np.abs(lam + 1) < NEAR_MINUS_ONE
    unit = (np.abs(mod - 1) < UNIT_CIRCLE_TOL) & (np.abs(lam - 1) > NONTRIVIAL)
    ang = np.angle(lam)
    big = mod >= 0.5
    hist, _ = np.histogram(ang[big], bins=ANGLE_BINS, range=(-np.pi, np.pi))
    out: dict[str, Any] = {
        "n_tokens": int(n_tok),
        "eigs_per_token": int(lam.shape[1]),
        "min_real": float(re_.min()),
        "max_real": float(re_.max()),
        "max_abs_imag": float(np.abs(im).max()),
        "spectral_radius": float(mod.max()),
        "mean_abs": float(mod.mean()),
        "frac_abs_gt_095": float((mod > LARGE_MODULUS).mean()),
        "frac_negative_real": float((real & (re_ < 0)).mean()),
        "frac_sign_flip": float((real & (re_ < SIGN_FLIP_REAL)).mean()),
        "frac_near_minus_one": float(near.mean()),
        "tokens_near_minus_one": float(near.any(axis=1).mean()),
        "frac_unit_circle": float((np.abs(mod - 1) < UNIT_CIRCLE_TOL).mean()),
        "tokens_nontrivial_unit": float(unit.any(axis=1).mean()),
        "angle_hist": [int(c) for c in hist],
        "angle_hist_range": [-math.pi, math.pi],
    }
    if modulus is not None and modulus >= 2:
        tol = angle_tolerance(modulus)
        targets = target_angles(modulus)
        rot = mod >= ROTATION_MODULUS
        hit = np.zeros(lam.shape, dtype=bool)
        per_target = []
        for i, t in enumerate(targets):
            dist = np.abs(_wrap(ang - t))
            within = rot & (dist < tol)
            hit |= within
            if i < MAX_TARGETS:
                nearest = float(ang[rot][np.argmin(dist[rot])]) if rot.any() else None
                per_target.append({"target": t, "nearest": nearest, "frac_within_tol": float(within.mean())})
        out.update(
            modulus=int(modulus),
            angle_tol=tol,
            target_angles=targets[:MAX_TARGETS],
            nearest_angles=per_target,
            frac_target_rotation=float(hit.mean()),
            tokens_target_rotation=float(hit.any(axis=1).mean()),
        )
    return out


def _sample_points(eigs: np.ndarray, rng: np.random.Generator) -> list[list[float]]:
    flat = np.asarray(eigs, dtype=np.complex128).ravel()
    if flat.size > MAX_PLOT_POINTS:
        flat = flat[rng.choice(flat.size, MAX_PLOT_POINTS, replace=False)]
    return [[round(float(z.real), 5), round(float(z.imag), 5)] for z in flat]


# --------------------------------------------------------------------------------------------
# transitions of each mixer, from the tokens' inputs x [K, width]
# --------------------------------------------------------------------------------------------


def diag_values(mixer: DiagRNN, x: Tensor) -> Tensor:
    """The diagonal transitions ``a_t`` ``[K, n]`` (complex for complex channels), write gate applied."""
    _, (a, _, w, _) = mixer.fp_in(x.unsqueeze(0))
    if w is not None:
        a = w * a + (1 - w)
    return a[0]


def householder_factors(mixer: Householder, x: Tensor) -> tuple[Tensor, Tensor]:
    """Unit keys ``k [K, H, n_h, d]`` and ``β [K, H, n_h]`` (write gate applied) for inputs ``x [K, width]``,
    laid out as :meth:`Householder.forward` does."""
    n, h, d, n_h = x.shape[0], mixer.heads, mixer.d, mixer.n_h
    k = F.normalize(mixer.k(x).view(n, n_h, h, d), dim=-1).transpose(1, 2)
    z = mixer.beta(x).view(n, n_h, h).transpose(1, 2)
    beta = 2 * torch.sigmoid(z) if mixer.signed else torch.sigmoid(z)
    if mixer.write is not None:
        beta = beta * mixer.write(x).view(n, 1, 1)
    return k, beta


def householder_products(k: Tensor, beta: Tensor) -> Tensor:
    """``(I − β_{n_h} k kᵀ) ⋯ (I − β_1 k kᵀ)`` per leading index: ``k [..., n_h, d]``, ``β [..., n_h]``."""
    d = k.shape[-1]
    p = torch.eye(d, dtype=k.dtype, device=k.device).expand(*k.shape[:-2], d, d)
    for j in range(k.shape[-2]):
        kj = k[..., j, :]
        # (I − β k kᵀ) P = P − β k (kᵀ P)
        p = p - beta[..., j, None, None] * kj[..., :, None] * (kj[..., None, :] @ p)
    return p


@dataclass
class FixedPointLinear:
    """The fixed point of ``FixedPoint(DiagRNN)`` (no ``fp_shift``) as a dense linear RNN.

    Real ``[re; im]`` layout of size ``N`` (``n``, or ``2n`` for complex channels), per token:
    ``D`` the diagonal transition, ``S`` the input scale, ``Q`` the channel mixer, ``u0`` the input.
    One iteration computes ``h^ℓ_t = D_t h^ℓ_{t−1} + S_t (Q_t u₀_t + (I − Q_t) h^{ℓ−1}_t)``; at the
    fixed point ``h_t = A_t h_{t−1} + c_t`` with ``A = (I − M)⁻¹ D``, ``c = (I − M)⁻¹ S Q u₀`` and
    ``M = S (I − Q)``; the initial state is ``h0`` (the mixer's learned ``h_0``, real layout).
    """

    D: Tensor  # [..., N, N]
    S: Tensor  # [..., N]
    Q: Tensor  # [..., N, N]
    u0: Tensor  # [..., N]
    h0: Tensor  # [N]
    #: channel of each coordinate (re and im of one complex channel share it)
    channel: Tensor  # [N]

    @property
    def M(self) -> Tensor:
        eye = torch.eye(self.Q.shape[-1], dtype=self.Q.dtype, device=self.Q.device)
        return self.S[..., :, None] * (eye - self.Q)

    def _solve(self, rhs: Tensor) -> Tensor:
        eye = torch.eye(self.Q.shape[-1], dtype=self.Q.dtype, device=self.Q.device)
        return torch.linalg.solve(eye - self.M, rhs)

    def transition(self) -> Tensor:
        """``A_t = (I − S(I − Q))⁻¹ D`` ``[..., N, N]``."""
        return self._solve(self.D)

    def input_term(self) -> Tensor:
        """``c_t = (I − S(I − Q))⁻¹ S Q u₀`` ``[..., N]``."""
        qu = (self.Q @ self.u0.unsqueeze(-1)).squeeze(-1)
        return self._solve((self.S * qu).unsqueeze(-1)).squeeze(-1)

    def truncated(self, terms: int) -> Tensor:
        """``Σ_{k<terms} M^k D`` (the Neumann series of ``A`` cut after ``terms`` terms)."""
        m = self.M
        term, total = self.D, self.D
        for _ in range(terms - 1):
            term = m @ term
            total = total + term
        return total

    def offdiag_fraction(self, a: Tensor) -> Tensor:
        """``‖A off the channel blocks‖_F / ‖A‖_F`` per token ``[...]``."""
        off = (self.channel[:, None] != self.channel[None, :]).to(a.dtype)
        num = (a * off).square().sum((-1, -2)).sqrt()
        return num / a.square().sum((-1, -2)).sqrt().clamp(min=1e-30)


def _q_matrix(fp: FixedPoint, q: Any, lead: tuple[int, ...], n: int, dtype: torch.dtype) -> Tensor:
    """``Q_t`` as explicit matrices ``[*lead, n, n]``: ``apply_q`` on the identity's columns."""
    count = math.prod(lead)
    qs = tuple(t.reshape(count, 1, *t.shape[len(lead) :]).expand(count, n, *t.shape[len(lead) :]) for t in q)
    eye = torch.eye(n, dtype=dtype, device=qs[0].device).expand(count, n, n)
    cols = fp.apply_q(qs, eye)  # [count, j, :] = Q e_j
    return cols.transpose(1, 2).reshape(*lead, n, n)


def fixed_point_linear_form(fp: FixedPoint, x: Tensor) -> FixedPointLinear:
    """:class:`FixedPointLinear` of a ``FixedPoint(DiagRNN)`` without ``fp_shift`` at inputs
    ``x [B, T, width]`` (position-wise, so any ``[1, K, width]`` of sampled tokens works too).

    Everything is float64 (the matrices are inverted)."""
    mixer = fp.mixer
    if not isinstance(mixer, DiagRNN):
        raise TypeError(
            f"the fixed-point transition is derived for diag_rnn only, not {type(mixer).__name__}"
        )
    if fp.shift is not None:
        raise ValueError("with fp_shift the fixed point is a nonlinear RNN: no transition matrix")
    u0, (a, scale, w, _), q = fp.inputs(x, None)
    if w is not None:
        a, scale = w * a + (1 - w), scale * w
    lead = tuple(u0.shape[:-1])
    nn_ = int(u0.shape[-1])
    n = mixer.n
    a = a.to(torch.complex128) if mixer.complex else a.double()
    scale = scale.double()
    if mixer.complex:
        ar, ai = a.real, a.imag
        d = torch.zeros(*lead, nn_, nn_, dtype=torch.float64, device=u0.device)
        idx = torch.arange(n, device=u0.device)
        d[..., idx, idx] = ar
        d[..., idx + n, idx + n] = ar
        d[..., idx, idx + n] = -ai
        d[..., idx + n, idx] = ai
        s = torch.cat([scale, scale], dim=-1)
        channel = torch.cat([idx, idx])
    else:
        d = torch.diag_embed(a)
        s = scale
        channel = torch.arange(n, device=u0.device)
    qd = tuple(t.double() for t in q)
    qm = _q_matrix(fp, qd, lead, nn_, torch.float64)
    return FixedPointLinear(d, s, qm, u0.double(), mixer.h0.detach().double(), channel)


# --------------------------------------------------------------------------------------------
# what theory expects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What theory expects of one layer, and the explicit check behind ``found``.

    ``mode``: ``mechanism`` (found when ``summary[criterion] ≥ threshold``), ``absent`` (theory
    says the parametrisation cannot have it: found when ``summary[criterion] < threshold``) or
    ``none`` (no spectral signature predicted: found is None)."""

    text: str
    rule: str
    mode: Literal["mechanism", "absent", "none"] = "none"
    criterion: str = ""
    threshold: float = 0.0

    def judge(self, summary: Mapping[str, Any]) -> tuple[bool | None, str]:
        if self.mode == "none" or self.criterion not in summary:
            return None, "no check"
        v = float(summary[self.criterion])
        if self.mode == "mechanism":
            ok = v >= self.threshold
            return ok, f"{self.criterion} = {v:.3g} {'≥' if ok else '<'} {self.threshold:g}"
        ok = v < self.threshold
        return (
            ok,
            f"{self.criterion} = {v:.3g} {'<' if ok else '≥'} {self.threshold:g} (absent as theory says)",
        )


def probe_modulus(facts: Mapping[str, Any]) -> int | None:
    """The modulus whose rotations a counting solution uses: the ``modulus`` fact, else the exponent
    of an abelian group (its order when cyclic); None for non-abelian groups and other probes."""
    if "modulus" in facts:
        return int(facts["modulus"])
    if "order" in facts and facts.get("abelian"):
        return int(facts.get("exponent", facts["order"]))
    return None


def expectation_for(
    facts: Mapping[str, Any], transition: str, eig_range: str | None = None, n_factors: int | None = None
) -> Expectation:
    """What theory expects of a layer with ``transition`` (as :meth:`Mixer.transition` names it, or
    ``fixed_point`` for an unshifted fixed point around a diagonal RNN) on a probe with ``facts``."""
    m = probe_modulus(facts)
    group = facts.get("group")
    nonabelian = "order" in facts and not facts.get("abelian", True)
    if transition in ("nonlinear", "attention", "convolution"):
        text = {
            "nonlinear": "no linear transition to inspect (a nonlinear RNN expresses every regular language)",
            "attention": "no linear transition to inspect (fixed-depth attention: poor length-gen on "
            "regular tasks R16, no A5/S5 R7)",
            "convolution": "no linear transition to inspect (finite receptive field)",
        }[transition]
        return Expectation(text, "R9/R16/R7" if transition != "convolution" else "")
    if transition == "fixed_point_shift":
        return Expectation("state-dependent (nonlinear) transition: only iterations are inspected", "R10")
    if transition == "fixed_point_other":
        return Expectation(
            "fixed point around a non-diagonal mixer: its transition is not derived here (R10: a dense "
            "RNN in the limit of many iterations); only iterations are inspected",
            "R10",
        )
    if m is None and not nonabelian:
        return Expectation("no spectral signature predicted for this probe", "")
    dense_like = transition in ("dense", "fixed_point")
    rule_dense = "R9" if transition == "dense" else "R10 (behaves as a dense RNN)"
    if nonabelian:
        name = group or "this group"
        if transition in ("diagonal_real", "diagonal_complex"):
            return Expectation(
                f"commuting (diagonal) transitions cannot represent non-abelian {name} in one layer; "
                "length-gen expected to fail (R7/R8)",
                "R7/R8",
            )
        crit, thr = "tokens_nontrivial_unit", GROUP_TOKEN_FRACTION
        if transition == "householder_product" and eig_range == "unit":
            return Expectation(
                "β ∈ (0,1): eigenvalues in [0,1], no orthogonal action (R6)",
                "R6",
                "absent",
                crit,
                TOKEN_FRACTION,
            )
        if transition == "householder_product":
            return Expectation(
                f"orthogonal products: eigenvalues on the unit circle, non-trivial for non-identity "
                f"tokens ({n_factors} factors; R5: 2 for A4/S4/A5, 4 for S5)",
                "R5",
                "mechanism",
                crit,
                thr,
            )
        if dense_like:
            return Expectation(
                f"a representation of {name}: eigenvalues on the unit circle, non-trivial for "
                "non-identity tokens",
                rule_dense,
                "mechanism",
                crit,
                thr,
            )
        return Expectation("no spectral signature predicted", "")
    assert m is not None
    flip = m == 2
    crit = "tokens_near_minus_one" if flip else "tokens_target_rotation"
    rot = "eigenvalues near −1 on the flipping token" if flip else f"rotations by ±2πk/{m} (|λ| ≈ 1)"
    if transition == "diagonal_real":
        if eig_range == "unit":
            return Expectation(
                f"eigenvalues in (0,1): no sign flip or rotation possible, mod-{m} counting fails at "
                f"length (R1/R3)",
                "R1" if flip else "R3",
                "absent",
                crit,
                TOKEN_FRACTION,
            )
        if flip:
            return Expectation(
                "eigenvalues near −1 on the flipping token (Grazzi et al. §4)",
                "R2",
                "mechanism",
                crit,
                TOKEN_FRACTION,
            )
        return Expectation(
            f"real eigenvalues cannot rotate: mod-{m} counting fails at length (R3)",
            "R3",
            "absent",
            crit,
            TOKEN_FRACTION,
        )
    if transition == "diagonal_complex":
        return Expectation(
            rot + (" (a rotation by π)" if flip else ""), "R4", "mechanism", crit, TOKEN_FRACTION
        )
    if transition == "householder_product":
        if eig_range == "unit":
            return Expectation(
                "β ∈ (0,1): eigenvalues in [0,1], no flip or rotation (R6)",
                "R6",
                "absent",
                crit,
                TOKEN_FRACTION,
            )
        if flip:
            return Expectation(
                "a reflection (β ≈ 2, eigenvalue ≈ −1) on the flipping token", "R2", "mechanism", crit,
                TOKEN_FRACTION,
            )  # fmt: skip
        if (n_factors or 1) < 2:
            return Expectation(
                f"one factor per token has real eigenvalues only: rotations by 2π/{m} need ≥ 2 (R4)",
                "R4",
                "absent",
                crit,
                TOKEN_FRACTION,
            )
        return Expectation(
            f"rotations by ±2πk/{m}: products of two reflections (R4)",
            "R4",
            "mechanism",
            crit,
            TOKEN_FRACTION,
        )
    if dense_like:
        return Expectation(f"{rot}", rule_dense, "mechanism", crit, TOKEN_FRACTION)
    return Expectation("no spectral signature predicted", "")


# --------------------------------------------------------------------------------------------
# running the model
# --------------------------------------------------------------------------------------------


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Mixers to inspect: fixed-point wrappers and mixers not inside one, in module order."""
    named = list(model.named_modules())
    fps = [name for name, m in named if isinstance(m, FixedPoint)]
    out: list[tuple[str, nn.Module]] = []
    for name, m in named:
        if isinstance(m, FixedPoint) or (
            isinstance(m, Mixer) and not any(name.startswith(f + ".") for f in fps)
        ):
            out.append((name, m))
    return out


def _block_of(name: str) -> int:
    hit = re.match(r"blocks\.(\d+)", name)
    return int(hit.group(1)) if hit else -1


def _subsample(x: Tensor, limit: int, gen: torch.Generator) -> Tensor:
    if x.shape[0] <= limit:
        return x
    return x[torch.randperm(x.shape[0], generator=gen)[:limit].to(x.device)]


def _pool(xs: list[Tensor], limit: int, gen: torch.Generator) -> Tensor:
    return _subsample(torch.cat(xs), limit, gen)


def _mixer_name(m: nn.Module) -> str:
    if isinstance(m, FixedPoint):
        return f"fixed_point({_mixer_name(m.mixer)})"
    return type(m).name if isinstance(m, Mixer) and type(m).name else type(m).__name__


def _eigs(matrices: Tensor) -> np.ndarray:
    if matrices.shape[0] == 0:
        return np.zeros((0, matrices.shape[-1]), dtype=np.complex128)
    return torch.linalg.eigvals(matrices.detach().double().cpu()).numpy()


def _inspect_layer(
    name: str,
    module: nn.Module,
    xs: list[Tensor],
    facts: Mapping[str, Any],
    gen: torch.Generator,
    rng: np.random.Generator,
) -> LayerReport:
    m = probe_modulus(facts)
    inner = module.mixer if isinstance(module, FixedPoint) else module
    cfg = inner.cfg if isinstance(inner, Mixer) else None
    transition = type(inner).transition(cfg) if isinstance(inner, Mixer) and cfg is not None else "nonlinear"
    eig_range = type(inner).eig_range(cfg) if isinstance(inner, Mixer) and cfg is not None else None
    n_h = inner.n_h if isinstance(inner, Householder) else None
    summary: dict[str, Any] = {}
    eigs: np.ndarray | None = None
    measured, note = "", ""
    with torch.no_grad():
        if not xs:
            note = "not called during the forward passes"
        elif isinstance(module, FixedPoint):
            if module.shift is not None:
                transition = "fixed_point_shift"
                note = "fp_shift: the fixed point's transition depends on the state (a nonlinear RNN)"
            elif isinstance(inner, DiagRNN):
                transition = "fixed_point"
                x = _pool(xs, MAX_MATRIX_TOKENS, gen)
                form = fixed_point_linear_form(module, x.unsqueeze(0))
                a_fp = form.transition()[0]
                eigs = _eigs(a_fp)
                measured = "fixed-point transition A_t = (I − S(I−Q))⁻¹ D"
                summary.update(
                    offdiag_fraction=float(form.offdiag_fraction(a_fp).mean()),
                    offdiag_fraction_truncated={
                        str(ell): float(form.offdiag_fraction(form.truncated(ell)[0]).mean())
                        for ell in sorted({*NEUMANN_TERMS, module.eval_iters})
                    },
                    contraction_radius_max=float(np.abs(_eigs(form.M[0])).max(initial=0.0)),
                )
            else:
                transition = "fixed_point_other"
                note = "transition derived for fixed points around diag_rnn only; iterations reported"
        elif isinstance(module, DiagRNN):
            x = _pool(xs, MAX_DIAG_TOKENS, gen)
            eigs = diag_values(module, x).cpu().numpy()
            measured = "diagonal transition values a_t"
        elif isinstance(module, Householder):
            x = _pool(xs, MAX_MATRIX_TOKENS, gen)
            k, beta = householder_factors(module, x)
            prods = householder_products(k.double(), beta.double())
            eigs = _eigs(prods.reshape(-1, module.d, module.d))
            measured = f"product of {module.n_h} Householder factors per token and head"
            b = beta.cpu().numpy()
            summary.update(
                n_factors=module.n_h,
                heads=module.heads,
                frac_beta_gt_1=float((b > 1).mean()) if b.size else 0.0,
                tokens_with_beta_gt_1=float((b > 1).any(-1).mean()) if b.size else 0.0,
                beta_max=float(b.max()) if b.size else 0.0,
            )
        elif isinstance(module, DenseRNN):
            x = _pool(xs, MAX_MATRIX_TOKENS, gen)
            a, _ = module.transitions(x.unsqueeze(0))
            eigs = _eigs(a[0])
            measured = "scaled dense transition Â(x_t)"
        elif transition in ("nonlinear", "attention", "convolution", "pairwise", "undeclared"):
            note = "no linear transition to inspect"
        else:  # a linear recurrence whose transitions are not read out here (mamba, mlstm, …)
            note = (
                f"{transition} transition not extracted for {_mixer_name(module)} (inspect reads "
                "diag_rnn, householder and dense_rnn; the published blocks' gates also depend on a "
                "short convolution over neighbouring inputs)"
            )
    if eigs is not None:
        summary = {**spectrum_summary(eigs, m), **summary}
    expect = expectation_for(facts, transition, eig_range, n_h)
    found, reason = expect.judge(summary) if eigs is not None or expect.mode == "none" else (None, "no check")
    return LayerReport(
        name=name,
        block=_block_of(name),
        mixer=_mixer_name(module),
        transition=transition,
        measured=measured,
        expectation=expect.text,
        rule=expect.rule,
        found=found,
        found_reason=reason,
        summary=summary,
        eigenvalues=_sample_points(eigs, rng) if eigs is not None else [],
        note=note,
    )


def inspect_model(
    model: SequenceModel,
    probe: Probe,
    lengths: Sequence[int] | None = None,
    batch: int = 64,
    seed: int = 0,
) -> InspectReport:
    """Read every layer's transitions on ``batch`` test-stream sequences per length, beside the
    model's accuracy on them. ``lengths`` default: the trainer's default test lengths plus its
    longest training length (:func:`inspect_run` uses the run's own)."""
    if lengths is None:
        lengths = [*DEFAULT_TEST_LENGTHS, max(DEFAULT_TRAIN_LENGTHS)]
    lengths = sorted({int(n) for n in lengths if n >= probe.min_length})
    if not lengths:
        raise ArchlabError(f"no length at or above the minimum {probe.min_length} of probe {probe.name!r}")
    if model.vocab_size < probe.vocab_size or model.n_outputs < probe.n_classes:
        raise ArchlabError(
            f"the model ({model.vocab_size} tokens, {model.n_outputs} outputs) does not fit probe "
            f"{probe.spec()!r} ({probe.vocab_size} tokens, {probe.n_classes} classes)"
        )
    device = next(model.parameters()).device
    facts = probe.theory.to_dict()
    source = DataSource.from_probe(probe, lengths, lengths)
    layers = _layers(model)
    captured: dict[str, list[Tensor]] = {name: [] for name, _ in layers}
    gen = torch.Generator().manual_seed(seed)
    iterations: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in layers}
    accuracy: list[LengthAccuracy] = []

    def hook(name: str) -> Any:
        def grab(_: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0].detach()
            captured[name].append(_subsample(x.reshape(-1, x.shape[-1]), MAX_DIAG_TOKENS, gen))

        return grab

    was_training = model.training
    model.eval()
    handles = [m.register_forward_pre_hook(hook(name)) for name, m in layers]
    try:
        with torch.no_grad():
            for length in lengths:
                b = source.batch("test", source.rng("test", seed, TEST_SUBSTREAM + length), batch, length)
                tokens = torch.from_numpy(b.tokens).to(device)
                targets = torch.from_numpy(b.targets).to(device)
                mask = torch.from_numpy(b.mask).to(device)
                pred = model(tokens).argmax(-1)
                right = (pred == targets) | ~mask
                has = mask.any(dim=1)
                accuracy.append(
                    LengthAccuracy(
                        length=length,
                        seq_acc=float((right.all(1) & has).sum()) / max(int(has.sum()), 1),
                        token_acc=float(((pred == targets) & mask).sum()) / max(int(mask.sum()), 1),
                        n_sequences=int(tokens.shape[0]),
                    )
                )
                for name, m in layers:
                    if isinstance(m, FixedPoint) and m.last_iters_per_position is not None:
                        per_pos = m.last_iters_per_position.detach().cpu()
                        iterations[name].append(
                            {
                                "length": length,
                                "mean_iters": float(per_pos[-1]),
                                "max_iters": int(m.last_iters),
                                "cap": int(m.eval_iters),
                                "per_position": [round(float(v), 4) for v in per_pos],
                            }
                        )
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    rng = np.random.default_rng(seed)
    reports = []
    for name, m in layers:
        rep = _inspect_layer(name, m, captured[name], facts, gen, rng)
        rep.iterations = iterations[name]
        reports.append(rep)
    cfg = getattr(model, "cfg", None)
    return InspectReport(
        probe=probe.spec(),
        theory=facts,
        model=cfg.model_dump(exclude_defaults=True) if isinstance(cfg, ModelConfig) else {},
        lengths=list(lengths),
        batch=batch,
        seed=seed,
        accuracy=accuracy,
        layers=reports,
    )


# --------------------------------------------------------------------------------------------
# output: table and plot
# --------------------------------------------------------------------------------------------


def _pct(v: Any) -> str:
    return f"{100 * float(v):.0f}%"


def _layer_summary(layer: LayerReport) -> str:
    s = layer.summary
    parts: list[str] = []
    if "spectral_radius" in s:
        parts.append(f"ρ={s['spectral_radius']:.3f} Re∈[{s['min_real']:.2f}, {s['max_real']:.2f}]")
        parts.append(f"|λ|>.95 {_pct(s['frac_abs_gt_095'])}, sign flips {_pct(s['frac_sign_flip'])}")
        parts.append(f"tokens near −1 {_pct(s['tokens_near_minus_one'])}")
        if "tokens_target_rotation" in s and s["modulus"] > 2:
            parts.append(f"tokens rotating by 2πk/{s['modulus']} {_pct(s['tokens_target_rotation'])}")
        if "modulus" not in s:
            parts.append(f"tokens acting on the unit circle {_pct(s['tokens_nontrivial_unit'])}")
    if "frac_beta_gt_1" in s:
        parts.append(f"β>1 in {_pct(s['frac_beta_gt_1'])} of {s['n_factors']} factors")
    if "offdiag_fraction" in s:
        trunc = ", ".join(f"ℓ={k}: {v:.2f}" for k, v in s["offdiag_fraction_truncated"].items())
        parts.append(
            f"offdiag A {s['offdiag_fraction']:.2f} ({trunc}); ρ(S(I−Q)) {s['contraction_radius_max']:.2f}"
        )
    if layer.iterations:
        its = ", ".join(f"L{r['length']}: {r['mean_iters']:.1f}" for r in layer.iterations)
        parts.append(f"iterations {its}")
    if layer.note:
        parts.append(layer.note)
    return "; ".join(parts) if parts else "no linear transition to inspect"


def format_table(report: InspectReport) -> list[list[str]]:
    """One row per layer, columns :data:`TABLE_COLUMNS` (layer, mixer, summary, expectation, found)."""
    rows = []
    for layer in report.layers:
        found = "—" if layer.found is None else ("yes" if layer.found else "no")
        if layer.found is not None:
            found += f" ({layer.found_reason})"
        exp = layer.expectation + (f" [{layer.rule}]" if layer.rule else "")
        rows.append([layer.name, layer.mixer, _layer_summary(layer), exp, found])
    return rows


def format_accuracy(report: InspectReport) -> str:
    """One line: sequence (token) accuracy per inspected length."""
    return "accuracy on the inspected inputs — " + ", ".join(
        f"L{a.length}: seq {a.seq_acc:.2f} (tok {a.token_acc:.2f})" for a in report.accuracy
    )


def plot_report(report: InspectReport, path: str | Path) -> list[Path]:
    """Eigenvalues in the complex plane per layer, iterations vs length for fixed points and the
    accuracy per length; writes a PNG (and an SVG when ``path`` ends in ``.svg``) atomically and
    returns the files written. Uses a bare :class:`matplotlib.figure.Figure` (no pyplot, no
    global backend change)."""
    from matplotlib.figure import Figure

    path = Path(path)
    eig_layers = [lay for lay in report.layers if lay.eigenvalues]
    fp_layers = [lay for lay in report.layers if lay.iterations]
    panels = len(eig_layers) + (1 if fp_layers else 0) + 1
    ncols = min(3, panels)
    nrows = math.ceil(panels / ncols)
    fig = Figure(figsize=(4.6 * ncols, 4.3 * nrows), layout="constrained")
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(panels)]
    circle = np.linspace(0, 2 * np.pi, 361)
    for ax, lay in zip(axes, eig_layers, strict=False):
        pts = np.asarray(lay.eigenvalues, dtype=float)
        ax.plot(np.cos(circle), np.sin(circle), color=_GREY, lw=0.8, label="unit circle")
        for t in lay.summary.get("target_angles", []):
            ax.plot([0, math.cos(t)], [0, math.sin(t)], color=_ORANGE, lw=0.8, ls="--")
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.15, color=_BLUE, edgecolors="none", label="eigenvalues")
        lim = max(1.15, 1.05 * float(np.abs(pts).max(initial=0.0)))
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axhline(0, color=_GREY, lw=0.4)
        ax.axvline(0, color=_GREY, lw=0.4)
        found = "—" if lay.found is None else ("found" if lay.found else "not found")
        ax.set_title(f"{lay.name} ({lay.mixer})\n{lay.measured}\nexpected: {found}", fontsize=8)
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
    i = len(eig_layers)
    if fp_layers:
        ax = axes[i]
        i += 1
        for j, lay in enumerate(fp_layers):
            colour = (_BLUE, _VERMILION, _GREEN, _ORANGE)[j % 4]
            ls = [r["length"] for r in lay.iterations]
            ax.plot(
                ls, [r["mean_iters"] for r in lay.iterations], "o-", color=colour, label=f"{lay.name} mean"
            )
            ax.plot(ls, [r["max_iters"] for r in lay.iterations], "s--", color=colour, alpha=0.6, label="max")
        ax.set_title(
            "fixed-point iterations to converge vs length\n(whole sequence, test stream)", fontsize=8
        )
        ax.set_xlabel("sequence length")
        ax.set_ylabel("iterations")
        ax.legend(fontsize=7)
    ax = axes[i]
    ax.plot([a.length for a in report.accuracy], [a.seq_acc for a in report.accuracy], "o-", color=_GREEN)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"sequence accuracy on the inspected inputs\n{report.probe}", fontsize=8)
    ax.set_xlabel("sequence length")
    ax.set_ylabel("sequence accuracy")

    def save(fmt: str) -> Any:
        def write(f: IO[Any]) -> None:
            fig.savefig(f, format=fmt, dpi=110)

        return write

    written = []
    png = path.with_suffix(".png") if path.suffix.lower() == ".svg" else path
    atomic_write(png, save("png"), mode="wb")
    written.append(png)
    if path.suffix.lower() == ".svg":
        atomic_write(path, save("svg"), mode="wb")
        written.append(path)
    return written
