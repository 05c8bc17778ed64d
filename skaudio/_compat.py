"""The private APIs of skaudio's dependencies, in one place.

skaudio uses a few names its dependencies do not publish:

- scikit-learn: the parameter constraints of ``sklearn.utils._param_validation``
  (:class:`Interval`, :class:`StrOptions`, :func:`make_constraint`,
  :class:`InvalidParameterError`) and ``sklearn.base._fit_context``, the decorator that
  validates an estimator's parameters on ``fit``;
- torch: the batch norm base class ``torch.nn.modules.batchnorm._BatchNorm`` (which
  :class:`skaudio.layers.GlobalBatchNorm` extends) and its input check
  (:func:`batch_norm_input_check`), and the fused ``torch._foreach_*`` ops
  (:func:`momentum_update_`, BYOL's moving average);
- skorch: the ``AccelerateMixin`` methods that
  :class:`skaudio.distributed.DistributedSelfSupervisedNet` overrides or calls
  (:data:`SKORCH_ACCELERATE_HOOKS`), and the members of ``NeuralNet`` the nets use
  (:data:`SKORCH_NET_INTERNALS`).

Every module of skaudio imports them from here, never from the dependency itself (a
test greps for it): when a release moves or removes one, this module is the one place
to adapt. Where a fallback computes the same thing from public API it is used, and
otherwise the error names what is missing and the versions that have it. soundfile,
librosa and accelerate are used through their public API only. The model is
imbalanced-learn's ``imblearn/utils/_sklearn_compat.py``.
"""

from __future__ import annotations

import functools
import re

import sklearn
import skorch
import torch
from skorch.hf import AccelerateMixin as _SkorchAccelerateMixin
from torch import nn

__all__ = [
    "SKLEARN_VERSION",
    "SKORCH_ACCELERATE_HOOKS",
    "SKORCH_NET_INTERNALS",
    "SKORCH_VERSION",
    "TORCH_VERSION",
    "AccelerateMixin",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_BatchNorm",
    "_fit_context",
    "batch_norm_input_check",
    "checked_accelerate_mixin",
    "make_constraint",
    "momentum_update_",
    "parse_version",
]


def parse_version(version: str) -> tuple[int, ...]:
    """The leading release numbers of a version string, to compare versions.

    Parameters
    ----------
    version : str
        E.g. ``"1.9.1"``, ``"2.13.0+cpu"``, ``"1.10.dev0"``.

    Returns
    -------
    release : tuple of int
        ``(1, 9, 1)``, ``(2, 13, 0)``, ``(1, 10)``.

    Examples
    --------
    >>> from skaudio._compat import parse_version
    >>> parse_version("2.13.0+cpu"), parse_version("1.10.dev0") > parse_version("1.9.1")
    ((2, 13, 0), True)
    """
    match = re.match(r"\d+(\.\d+)*", version)
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part) for part in match.group(0).split("."))


SKLEARN_VERSION = parse_version(sklearn.__version__)
SKORCH_VERSION = parse_version(skorch.__version__)
TORCH_VERSION = parse_version(torch.__version__)


def _removed(dependency: str, version: str, what: str, works_with: str) -> str:
    return (
        f"skaudio uses {what}, which {dependency} {version} no longer has: install "
        f"{dependency} {works_with}, or a skaudio release that supports {dependency} {version}"
    )


# --- scikit-learn -------------------------------------------------------------------

try:  # there since scikit-learn 1.2; skaudio needs >= 1.6
    from sklearn.utils._param_validation import (
        Interval,
        InvalidParameterError,
        StrOptions,
        make_constraint,
        validate_parameter_constraints,
    )
except ImportError as exc:  # pragma: no cover - only with a future scikit-learn
    raise ImportError(
        _removed(
            "scikit-learn",
            sklearn.__version__,
            "sklearn.utils._param_validation (Interval, StrOptions, make_constraint, "
            "InvalidParameterError, validate_parameter_constraints)",
            ">=1.6,<1.10",
        )
    ) from exc


def _fit_context_fallback(*, prefer_skip_nested_validation: bool):
    """What ``sklearn.base._fit_context`` does for skaudio: validate, then fit.

    Checks the estimator's parameters against its ``_parameter_constraints`` (raising
    :class:`InvalidParameterError`) before each call of the decorated ``fit`` /
    ``partial_fit``. scikit-learn's own decorator also skips the validation of nested
    estimators and honours ``config_context(skip_parameter_validation=True)``; skaudio
    nests none, so it makes no difference here.

    Parameters
    ----------
    prefer_skip_nested_validation : bool
        Accepted for the signature of scikit-learn's decorator; ignored.

    Returns
    -------
    decorator : callable
    """

    def decorator(fit_method):
        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            validate_parameter_constraints(
                estimator._parameter_constraints,
                estimator.get_params(deep=False),
                caller_name=type(estimator).__name__,
            )
            return fit_method(estimator, *args, **kwargs)

        return wrapper

    return decorator


try:  # sklearn.base._fit_context: scikit-learn >= 1.3
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover - only with a future scikit-learn
    _fit_context = _fit_context_fallback


# --- torch --------------------------------------------------------------------------


def _batch_norm_base() -> type:
    """The class torch's ``BatchNorm1d``, ``BatchNorm2d`` and ``BatchNorm3d`` share.

    Found through their method resolution order, for a torch that moves or renames
    ``torch.nn.modules.batchnorm._BatchNorm``.

    Raises
    ------
    ImportError
        If they share no base class below ``torch.nn.Module``.
    """
    shared = [
        cls
        for cls in nn.BatchNorm1d.__mro__[1:]
        if issubclass(nn.BatchNorm2d, cls) and issubclass(nn.BatchNorm3d, cls)
    ]
    base = shared[0]
    if base is nn.Module or not issubclass(base, nn.Module):
        raise ImportError(
            _removed("torch", torch.__version__, "a base class of BatchNorm1d/2d/3d", ">=2.1")
        )
    return base


try:
    from torch.nn.modules.batchnorm import _BatchNorm
except ImportError:  # pragma: no cover - only with a future torch
    _BatchNorm = _batch_norm_base()

#: the input dimensions torch's batch norms accept (what their ``_check_input_dim`` checks)
_BATCH_NORM_DIMS = {nn.BatchNorm1d: (2, 3), nn.BatchNorm2d: (4,), nn.BatchNorm3d: (5,)}


def batch_norm_input_check(batch_norm: type):
    """The input-dimension check of one of torch's batch norms, as a method.

    ``batch_norm._check_input_dim`` (the private hook torch's batch norm ``forward``
    calls), or, for a torch without it, a method raising the same ``ValueError`` for an
    input whose number of dimensions ``batch_norm`` does not accept.

    Parameters
    ----------
    batch_norm : {torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d}

    Returns
    -------
    check : callable
        ``check(module, input)``, returning None or raising ``ValueError``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skaudio._compat import batch_norm_input_check
    >>> check = batch_norm_input_check(nn.BatchNorm2d)
    >>> check(nn.BatchNorm2d(3), torch.zeros(2, 3, 4, 4)) is None
    True
    """
    check = getattr(batch_norm, "_check_input_dim", None)
    if callable(check):
        return check
    dims = _BATCH_NORM_DIMS[batch_norm]  # pragma: no cover - only with a future torch

    def _check_input_dim(module, input):  # pragma: no cover
        if input.dim() not in dims:
            expected = " or ".join(f"{dim}D" for dim in dims)
            raise ValueError(f"expected {expected} input (got {input.dim()}D input)")

    return _check_input_dim  # pragma: no cover


_HAS_FOREACH = all(hasattr(torch, op) for op in ("_foreach_mul_", "_foreach_add_", "_foreach_mul"))


def momentum_update_(
    target: list[torch.Tensor], online: list[torch.Tensor], tau: torch.Tensor | float
) -> None:
    """Move every ``target`` tensor towards its ``online`` one, in place.

    ``target <- tau * target + (1 - tau) * online`` (BYOL's exponential moving
    average), through torch's fused ``_foreach`` ops (one kernel per op for the whole
    list), or tensor by tensor, with the same result, where torch has none.

    Parameters
    ----------
    target : list of Tensor
        Updated in place.
    online : list of Tensor
        Same shapes as ``target``.
    tau : Tensor of shape () or float
        The momentum; a tensor stays on the device (no host read).

    Examples
    --------
    >>> import torch
    >>> from skaudio._compat import momentum_update_
    >>> target, online = [torch.zeros(2)], [torch.ones(2)]
    >>> momentum_update_(target, online, torch.tensor(0.75))
    >>> target[0]
    tensor([0.2500, 0.2500])
    """
    if _HAS_FOREACH:
        torch._foreach_mul_(target, tau)
        torch._foreach_add_(target, torch._foreach_mul(online, 1.0 - tau))
        return
    for t, o in zip(target, online, strict=True):  # a torch without the foreach ops
        t.mul_(tau).add_(o * (1.0 - tau))


# --- skorch -------------------------------------------------------------------------

#: the private methods of skorch's ``AccelerateMixin`` that
#: :class:`skaudio.distributed.DistributedSelfSupervisedNet` overrides
#: (``_initialize_accelerator``) or calls (``_unwrap_accelerator``, through
#: :func:`skaudio.distributed.to_plain_net`'s advice); both read the instance attribute
#: ``_wrapped_with_accelerator`` and the net's ``_criteria`` (skorch 1.0 to 1.4)
SKORCH_ACCELERATE_HOOKS = ("_initialize_accelerator", "_unwrap_accelerator")

#: the members of an initialised skorch ``NeuralNet`` that
#: :class:`skaudio.training.SelfSupervisedNet` (``_set_training``, ``_optimizers``:
#: its training step) and :class:`skaudio.distributed.DistributedSelfSupervisedNet`
#: (``_criteria``) use: private to skorch, stable from 0.12 to 1.4; a test checks them
SKORCH_NET_INTERNALS = ("_set_training", "_optimizers", "_criteria")


def checked_accelerate_mixin(mixin: type) -> type:
    """``mixin`` if it has every method of :data:`SKORCH_ACCELERATE_HOOKS`.

    Otherwise a subclass of it whose construction raises an ``ImportError`` naming the
    missing methods and the skorch versions that have them: importing
    :mod:`skaudio.distributed` (which every estimator does) keeps working, and only a
    distributed run fails, with a message that says why.

    Parameters
    ----------
    mixin : type
        skorch's ``AccelerateMixin`` (or a stand-in, in tests).

    Returns
    -------
    mixin : type

    Examples
    --------
    >>> from skorch.hf import AccelerateMixin as skorch_mixin
    >>> from skaudio._compat import checked_accelerate_mixin
    >>> checked_accelerate_mixin(skorch_mixin) is skorch_mixin
    True
    """
    missing = [name for name in SKORCH_ACCELERATE_HOOKS if not callable(getattr(mixin, name, None))]
    if not missing:
        return mixin
    message = _removed(
        "skorch",
        skorch.__version__,
        "AccelerateMixin." + ", AccelerateMixin.".join(missing) + " (for distributed pretraining)",
        ">=1.0,<1.5",
    )

    def __init__(self, *args, **kwargs):
        raise ImportError(message)

    return type(mixin.__name__, (mixin,), {"__init__": __init__, "__doc__": message})


#: skorch's ``AccelerateMixin``, checked for the private methods skaudio relies on
AccelerateMixin = checked_accelerate_mixin(_SkorchAccelerateMixin)
