"""Self-supervised losses as pure functions of tensors, with thin skorch criteria.

- InfoNCE over a similarity matrix, COLA's clip loss (:mod:`._infonce`);
- COLA's criterion, with the frame-level term of multi-strategy COLA (:mod:`._cola`);
- relative-pitch regression: multi-strategy COLA's pitch term and the
  pitch-equivariance term any two-view criterion can take (:mod:`._pitch`);
- NT-Xent, SimCLR's loss (:mod:`._nt_xent`), and the semi-supervised term of the
  two-view criteria (:mod:`._supervised`);
- non-contrastive two-view objectives: BYOL, Barlow Twins, VICReg, with their
  criteria (:mod:`._non_contrastive`);
- CPC's InfoNCE over future steps (:mod:`._cpc`);
- the token transformer's reconstruction and next-token losses (:mod:`._tokens`).

A criterion reads what its model returns; those output types live with the models
(:mod:`skaudio.models`), and the similarity functions with :mod:`skaudio.similarity`;
both are re-exported here, where they were first published. Criteria that compare
rows across the batch take ``gather_distributed``: in a distributed run they compute
their loss over the batches of all processes.
"""

from ..models import (  # re-exported from their first home, out of __all__
    BYOLOutput,  # noqa: F401
    COLAOutput,  # noqa: F401
    CPCOutput,  # noqa: F401
    NextTokenOutput,  # noqa: F401
    PitchEquivarianceOutput,  # noqa: F401
    byol_momentum,  # noqa: F401
)
from ..similarity import bilinear_logits, cosine_logits  # noqa: F401
from ._cola import COLACriterion, frame_contrastive_accuracy, frame_contrastive_loss
from ._cpc import CPCCriterion, cpc_infonce, cpc_step_weights
from ._infonce import (
    ContrastiveCrossEntropy,
    cola_loss,
    contrastive_accuracy,
    contrastive_cross_entropy,
)
from ._non_contrastive import (
    BarlowTwinsCriterion,
    BYOLCriterion,
    VICRegCriterion,
    barlow_twins_loss,
    byol_loss,
    cross_correlation,
    vicreg_loss,
)
from ._nt_xent import NTXentCriterion, nt_xent_accuracy, nt_xent_loss
from ._pitch import PitchEquivarianceCriterion, pitch_shift_loss
from ._tokens import (
    NextTokenCriterion,
    ReconstructionCriterion,
    next_token_accuracy,
    next_token_loss,
)

__all__ = [
    "BYOLCriterion",
    "BarlowTwinsCriterion",
    "COLACriterion",
    "CPCCriterion",
    "ContrastiveCrossEntropy",
    "NTXentCriterion",
    "NextTokenCriterion",
    "PitchEquivarianceCriterion",
    "ReconstructionCriterion",
    "VICRegCriterion",
    "barlow_twins_loss",
    "byol_loss",
    "cola_loss",
    "contrastive_accuracy",
    "contrastive_cross_entropy",
    "cpc_infonce",
    "cpc_step_weights",
    "cross_correlation",
    "frame_contrastive_accuracy",
    "frame_contrastive_loss",
    "next_token_accuracy",
    "next_token_loss",
    "nt_xent_accuracy",
    "nt_xent_loss",
    "pitch_shift_loss",
    "vicreg_loss",
]
