"""Graph convolution over mesh edges (PyTorch3D's ``ops.GraphConv``)."""

from __future__ import annotations

import torch
from torch import nn


def gather_scatter(input: torch.Tensor, edges: torch.Tensor, directed: bool = False) -> torch.Tensor:
    """(V, D) sums of neighbour features: out[i] = sum of input[j] over edges (i, j) (and (j, i) if undirected)."""
    if input.ndim != 2:
        raise ValueError(f"gather_scatter: input must be (V, D), got {tuple(input.shape)}")
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"gather_scatter: edges must be (E, 2), got {tuple(edges.shape)}")
    out = torch.zeros_like(input).index_add(0, edges[:, 0], input[edges[:, 1]])
    if not directed:
        out = out.index_add(0, edges[:, 1], input[edges[:, 0]])
    return out


class GraphConv(nn.Module):
    """out_i = W0 x_i + sum over neighbours j of W1 x_j."""

    def __init__(self, input_dim: int, output_dim: int, init: str = "normal", directed: bool = False) -> None:
        super().__init__()
        self.input_dim, self.output_dim, self.directed = input_dim, output_dim, directed
        self.w0 = nn.Linear(input_dim, output_dim)
        self.w1 = nn.Linear(input_dim, output_dim)
        if init == "normal":
            for lin in (self.w0, self.w1):
                nn.init.normal_(lin.weight, mean=0.0, std=0.01)
                nn.init.zeros_(lin.bias)
        elif init == "zero":
            for lin in (self.w0, self.w1):
                nn.init.zeros_(lin.weight)
        else:
            raise ValueError(f"GraphConv: init must be 'normal' or 'zero', got {init!r}")

    def forward(self, verts: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """verts (V, input_dim) features, edges (E, 2) -> (V, output_dim)."""
        if verts.is_cuda != edges.is_cuda:
            raise ValueError("GraphConv: verts and edges must be on the same device")
        if verts.shape[0] == 0:
            return verts.new_zeros((0, self.output_dim)) * verts.sum()
        return self.w0(verts) + gather_scatter(self.w1(verts), edges, self.directed)

    def __repr__(self) -> str:
        return f"GraphConv({self.input_dim} -> {self.output_dim}, directed={self.directed!r})"
