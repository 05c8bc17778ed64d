"""The parameters every embedder shares: one constraint, one default, one docstring each.

Every public embedder keeps an explicit ``__init__`` (scikit-learn reads its signature);
the docstring block of the shared parameters is built here from that signature, as
skorch builds ``NeuralNetClassifier.__doc__`` from a template: an estimator's docstring
holds the line ``{shared_parameters}`` at the end of its Parameters section, which
:func:`document_shared_parameters` replaces with one numpydoc entry per shared
parameter (type, the signature's default, the shared text, then the estimator's own
note from its ``_parameter_notes``, if any).
"""

from __future__ import annotations

import inspect
import os
import textwrap
from numbers import Integral, Real

from .._compat import Interval, StrOptions
from .._torch_utils import PRECISIONS
from ..features import FRONTENDS

__all__: list[str] = []

#: the marker line of a docstring that the shared block replaces
MARKER = "{shared_parameters}"

#: parameter -> (constraints, numpydoc type, default or REQUIRED, shared description);
#: in the order of every embedder's signature
_REQUIRED = object()  # each estimator sets its own default (the text does not depend on it)

SHARED: dict[str, tuple[list, str, object, str]] = {
    "frequency_scale": (
        [StrOptions(set(FRONTENDS))],
        '{"mel", "log"}',
        "mel",
        "Spacing of the frontend's ``n_mels`` bands "
        '(:func:`skaudio.features.make_frontend`): ``"mel"``, log-mel over 25 ms '
        'windows; ``"log"``, bands evenly spaced in log-frequency from 32.7 Hz (C1) to '
        "``sample_rate / 2`` over 64 ms windows "
        "(:class:`skaudio.features.LogFrequencySpectrogram`), where a pitch shift is a "
        "translation along frequency: for pitch (see :ref:`pitch-frontend`).",
    ),
    "batch_size": (
        [Interval(Integral, 1, None, closed="left")],
        "int",
        _REQUIRED,
        "Training examples per optimiser step (in distributed training the global "
        "batch, split between the processes).",
    ),
    "max_epochs": (
        [Interval(Integral, 0, None, closed="left")],
        "int",
        _REQUIRED,
        "Pretraining epochs. ``0`` keeps the randomly initialised model: the baseline "
        "that pretraining must beat.",
    ),
    "lr": (
        [Interval(Real, 0, None, closed="neither")],
        "float",
        _REQUIRED,
        "AdamW learning rate.",
    ),
    "lr_schedule": (
        [StrOptions({"constant", "cosine"})],
        '{"constant", "cosine"}',
        "constant",
        "Learning rate of each optimiser step (one per batch) after the warmup: "
        '``"constant"`` keeps ``lr``; ``"cosine"`` decays it from ``lr`` along a half '
        "cosine over the steps of ``max_epochs``, to 0 one step after the last (see "
        ":class:`skaudio.training.LearningRateSchedule`). Continued training "
        "(:meth:`partial_fit`, ``warm_start``) restarts the schedule over the epochs of "
        "that call at ``lr``, without a new warmup (a warm restart, as in SGDR: the "
        "weights and the optimiser's moment estimates are trained already); no step "
        'trains at 0. With ``"cosine"``, a checkpoint resumes only under the same '
        "``max_epochs``. ``history_`` records the rate of every batch and epoch as "
        "``lr``.",
    ),
    "warmup_epochs": (
        [Interval(Real, 0, None, closed="left")],
        "float",
        0.0,
        "Epochs over which the rate rises linearly, step by step, from ``lr / W`` to "
        "``lr`` at the start of pretraining (``W`` steps: ``warmup_epochs`` times the "
        "batches per epoch, rounded up; the global batches, as many in every process "
        "of distributed training), before either schedule; 0 for none. A fit shorter "
        "than its warmup ends below ``lr``.",
    ),
    "weight_decay": (
        [Interval(Real, 0, None, closed="left")],
        "float",
        0.0,
        "AdamW weight decay.",
    ),
    "device": (
        [str],
        '{"auto", "cpu", "cuda", "cuda:N"}',
        "auto",
        '``"auto"`` picks ``"cuda"`` when available, else ``"cpu"``; ``"cuda:N"`` names '
        "a visible GPU.",
    ),
    "precision": (
        [StrOptions(set(PRECISIONS))],
        '{"auto", "fp32", "bf16", "fp16"}',
        "auto",
        'Arithmetic of pretraining\'s forward pass. ``"bf16"`` and ``"fp16"`` run the '
        "encoder and heads under ``torch.autocast`` (matmuls and convolutions in half "
        "precision); the weights, the optimiser, the log-mel frontend, the "
        'similarities and the losses stay float32. ``"fp16"`` adds loss scaling '
        '(:class:`skaudio.training.GradScaling`, saved in checkpoints). ``"auto"`` is '
        '``"bf16"`` on a CUDA GPU with native bf16 (Ampere and later) and ``"fp32"`` '
        "elsewhere, CPU included (CPU results are unchanged). bf16 is the CUDA default "
        "because it has float32's exponent range: nothing overflows and no loss "
        "scaling is needed, tensor cores run it at several times the float32 rate, and "
        "its 8-bit mantissa is kept away from the parts that need precision. On CUDA, "
        "``fit`` also turns on TF32 matmuls and convolutions and cuDNN autotuning (set "
        "back afterwards) and uses the fused AdamW. :meth:`transform` always embeds in "
        "float32. Run-only: a checkpoint resumes under another precision; continued "
        "training (:meth:`partial_fit`, ``warm_start``) keeps the first fit's "
        "``precision_``. On the CPU training is deterministic in every precision; on "
        "CUDA, only with ``deterministic=True``.",
    ),
    "compile": (
        ["boolean"],
        "bool",
        False,
        "Compile the encoder with ``torch.compile`` for pretraining and embedding, in "
        "place (``nn.Module.compile`` on the encoder's submodules): state-dict keys, "
        "checkpoints and pickles are unchanged; an unpickled embedder compiles again "
        "on first use (set ``compile=False`` to embed where no C++ compiler is "
        "installed). The first batches are slow while it compiles, and a batch of a "
        "new shape (the last, smaller one) compiles again; later batches run fused "
        "kernels, worth it on a GPU for long runs. Compiled kernels may round "
        "differently: embeddings agree with ``compile=False`` to float32 tolerance, "
        "not bit for bit. Run-only.",
    ),
    "deterministic": (
        ["boolean"],
        "bool",
        False,
        "Pretrain with torch's deterministic algorithms "
        "(``torch.use_deterministic_algorithms(True)``, cuDNN autotuning off and, "
        "unless the environment sets it, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``), all "
        "restored after the call: on CUDA, fits with the same int ``random_state`` "
        "on the same GPU, torch and CUDA versions then repeat, at some cost in speed; "
        "an operation that has no deterministic CUDA implementation raises a "
        "``RuntimeError`` that names it. The CPU needs none of it: results and resumed "
        "checkpoints repeat exactly either way, and it changes no result there. "
        "Run-only.",
    ),
    "num_workers": (
        [Interval(Integral, 0, None, closed="left")],
        "int",
        0,
        "Data-loader processes that read, resample and crop the audio while the model "
        "trains (and read files for :meth:`transform`); 0 reads in the main process. "
        "Files given as paths are always read on demand, never all at once.",
    ),
    "checkpoint_dir": (
        [str, os.PathLike, None],
        "str, path or None",
        None,
        "Folder where pretraining saves a checkpoint after every epoch (weights, "
        "optimiser, history, random states). Fitting again with the same folder, the "
        "same parameters and the same data resumes from the last complete epoch, e.g. "
        "after the process was killed, and ends at ``max_epochs`` in all, exactly as "
        "an uninterrupted run; a corrupt checkpoint or one from another configuration "
        "or other data raises a ``ValueError``.",
    ),
    "warm_start": (
        ["boolean"],
        "bool",
        False,
        "When True and already fitted, :meth:`fit` continues pretraining the same "
        "network for ``max_epochs`` more epochs on the new data instead of starting "
        "over (:meth:`partial_fit` continues by one epoch).",
    ),
    "distributed": (
        ["boolean"],
        "bool",
        False,
        "Pretrain as one process of a multi-process run (PyTorch DDP through "
        "accelerate; start the script with ``accelerate launch`` or ``torchrun``): "
        "``batch_size`` is the global batch, split between the processes; contrastive "
        "negatives and batch-norm statistics come from the global batch. Needs the "
        "``distributed`` extra; a lone process trains as usual.",
    ),
    "random_state": (
        ["random_state"],
        "int, RandomState instance or None",
        None,
        "Seeds every draw of pretraining: weight initialisation, training crops, batch "
        "order and the method's own draws. An int gives identical results across "
        "calls (on the same device).",
    ),
    "verbose": (
        ["verbose"],
        "int",
        0,
        "``1`` or more shows a progress bar and the loss per epoch.",
    ),
}

#: the constraints of the shared parameters (scikit-learn's ``_parameter_constraints``)
SHARED_CONSTRAINTS: dict[str, list] = {name: spec[0] for name, spec in SHARED.items()}

#: the defaults every embedder has in common (the others are each estimator's own)
SHARED_DEFAULTS: dict[str, object] = {
    name: spec[2] for name, spec in SHARED.items() if spec[2] is not _REQUIRED
}

#: parameters that do not change what is learnt: a checkpoint written under other
#: values of these can be resumed
RUN_ONLY_PARAMS = frozenset(
    {
        "max_epochs",
        "device",
        "precision",
        "compile",
        "deterministic",
        "num_workers",
        "checkpoint_dir",
        "warm_start",
        "distributed",
        "verbose",
    }
)


def format_default(value: object) -> str:
    """A default as numpydoc writes it: ``"auto"``, ``None``, ``0.0``, ``1e-3``."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value and abs(value) < 1e-2:
        short = f"{value:.0e}".replace("e-0", "e-")
        if float(short) == value:
            return short
    return repr(value)


def shared_parameters_doc(cls: type, indent: str = "    ") -> str:
    """The numpydoc entries of the shared parameters of ``cls``, defaults from its signature.

    Each entry is the shared description, then the estimator's own note
    (``cls._parameter_notes[name]``) when it has one.
    """
    signature = inspect.signature(cls.__init__).parameters
    notes = getattr(cls, "_parameter_notes", {})
    width = 88 - len(indent) - 4
    entries = []
    for name, (_, kind, _, text) in SHARED.items():
        default = format_default(signature[name].default)
        body = " ".join(part for part in (text, notes.get(name, "")) if part)
        lines = textwrap.wrap(body, width, break_on_hyphens=False, break_long_words=False)
        entries.append(f"{indent}{name} : {kind}, default={default}")
        entries.extend(f"{indent}    {line}" for line in lines)
    return "\n".join(entries)


def document_shared_parameters(cls: type) -> type:
    """Replace the ``{shared_parameters}`` line of ``cls.__doc__`` by the shared block."""
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return cls
    lines = [line for line in doc.splitlines() if line.strip() == MARKER]
    if not lines:
        return cls
    line = lines[0]
    indent = line[: len(line) - len(line.lstrip())]
    cls.__doc__ = doc.replace(line, shared_parameters_doc(cls, indent), 1)
    return cls
