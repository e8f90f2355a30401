"""An example model plugin: `[model] name = "models/mlp_lags.py:MLPLags"` (see docs/models.md)."""

import flax.linen as nn
import jax


class MLPLags(nn.Module):
    """One hidden ReLU layer on the last `lags` scaled inputs."""

    lags: int = 5  # [model] lags = ...
    hidden: int = 16  # [model] hidden = ...
    n_outputs: int = 1  # set by wfbt: [model] horizon (x 2 with loss = "gaussian_nll")

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True, dropout_seed=None) -> jax.Array:
        h = nn.relu(nn.Dense(self.hidden)(x[:, -self.lags:]))  # x: (B, lookback), oldest first
        out = nn.Dense(self.n_outputs)(h)
        return out[:, 0] if self.n_outputs == 1 else out  # (B,): one forecast per row; else (B, n_outputs)
