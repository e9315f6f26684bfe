"""F -> 64 -> 32 -> 1 MLP with feature standardisation baked into the graph (raw features in, score out)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class LightMLP(nn.Module):
    mean: torch.Tensor  # buffers: the feature standardisation, exported inside the graph
    inv_std: torch.Tensor

    def __init__(self, n_features: int, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("inv_std", torch.ones(n_features))
        layers: list[nn.Module] = []
        d = n_features
        for h in hidden:
            layers += [nn.Linear(d, h), nn.GELU(), nn.Dropout(dropout)]
            d = h
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def set_normalisation(self, x: np.ndarray) -> None:
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        std[std < 1e-6] = 1.0
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.inv_std.copy_(torch.as_tensor(1.0 / std, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.mean) * self.inv_std
        return self.net(z).squeeze(-1)
