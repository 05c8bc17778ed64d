"""Self-supervised losses as pure functions of tensors, with thin skorch criteria.

- clip-level contrastive losses of COLA and SimCLR (:mod:`._contrastive`);
- the frame-level and pitch-shift losses of multi-strategy COLA (:mod:`._multi_strategy`);
- CPC's InfoNCE over future steps (:mod:`._cpc`);
- non-contrastive two-view objectives: BYOL, Barlow Twins, VICReg, with
  their criteria (:mod:`._non_contrastive`);
- the pitch-equivariance term any two-view criterion can take (:mod:`._pitch`);
- the token transformer's reconstruction and next-token losses (:mod:`._tokens`).
"""

from ._contrastive import (
    ContrastiveCrossEntropy,
    NTXentCriterion,
    bilinear_logits,
    cola_loss,
    contrastive_accuracy,
    contrastive_cross_entropy,
    cosine_logits,
    nt_xent_accuracy,
    nt_xent_loss,
)
from ._cpc import CPCCriterion, CPCOutput, cpc_infonce, cpc_step_weights
from ._multi_strategy import (
    COLACriterion,
    COLAOutput,
    frame_contrastive_accuracy,
    frame_contrastive_loss,
    pitch_shift_loss,
)
from ._non_contrastive import (
    BarlowTwinsCriterion,
    BYOLCriterion,
    BYOLOutput,
    VICRegCriterion,
    barlow_twins_loss,
    byol_loss,
    byol_momentum,
    cross_correlation,
    vicreg_loss,
)
from ._pitch import PitchEquivarianceCriterion, PitchEquivarianceOutput
from ._tokens import (
    NextTokenCriterion,
    NextTokenOutput,
    ReconstructionCriterion,
    next_token_accuracy,
    next_token_loss,
)

__all__ = [
    "BYOLCriterion",
    "BYOLOutput",
    "BarlowTwinsCriterion",
    "COLACriterion",
    "COLAOutput",
    "CPCCriterion",
    "CPCOutput",
    "ContrastiveCrossEntropy",
    "NTXentCriterion",
    "NextTokenCriterion",
    "NextTokenOutput",
    "PitchEquivarianceCriterion",
    "PitchEquivarianceOutput",
    "ReconstructionCriterion",
    "VICRegCriterion",
    "barlow_twins_loss",
    "bilinear_logits",
    "byol_loss",
    "byol_momentum",
    "cola_loss",
    "contrastive_accuracy",
    "contrastive_cross_entropy",
    "cosine_logits",
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
