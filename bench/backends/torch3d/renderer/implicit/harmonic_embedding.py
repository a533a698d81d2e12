"""NeRF's positional encoding: sines and cosines of the input at octave frequencies."""

from __future__ import annotations

import math

import torch


class HarmonicEmbedding(torch.nn.Module):
    """Map x (..., dim) to [sin(f x), cos(f x), x] with f = omega_0 * 2^k (or linear spacing).

    Layout of the last axis, as PyTorch3D: all sines (dim-major, frequency-minor), then all
    cosines, then x itself when ``append_input``. ``diag_cov`` gives MIP-NeRF's integrated
    encoding (each term damped by exp(-f^2 var / 2)).
    """

    def __init__(
        self,
        n_harmonic_functions: int = 6,
        omega_0: float = 1.0,
        logspace: bool = True,
        append_input: bool = True,
    ) -> None:
        super().__init__()
        if int(n_harmonic_functions) < 0:
            raise ValueError(f"n_harmonic_functions must be >= 0; got {n_harmonic_functions}")
        n = int(n_harmonic_functions)
        if logspace:
            freqs = 2.0 ** torch.arange(n, dtype=torch.float32)
        else:
            freqs = torch.linspace(1.0, 2.0 ** (n - 1), n, dtype=torch.float32)
        self.register_buffer("_frequencies", freqs * omega_0, persistent=False)
        self.append_input = append_input

    def forward(self, x: torch.Tensor, diag_cov: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """x: (..., dim) -> (..., dim * (2 * n_harmonic_functions + append_input))."""
        freqs = self._frequencies.to(x.dtype)
        arg = x[..., :, None] * freqs  # (..., dim, F)
        # cos(a) = sin(a + pi/2): one sin call on a stacked (2, dim, F) block.
        shift = x.new_tensor([0.0, 0.5 * math.pi]).view(2, 1, 1)
        embed = torch.sin(arg[..., None, :, :] + shift)  # (..., 2, dim, F)
        if diag_cov is not None:
            embed = embed * torch.exp(-0.5 * diag_cov[..., None] * freqs**2)[..., None, :, :]
        embed = embed.reshape(*x.shape[:-1], -1)
        return torch.cat([embed, x], dim=-1) if self.append_input else embed

    @staticmethod
    def get_output_dim_static(input_dims: int, n_harmonic_functions: int, append_input: bool) -> int:
        """Length of the output's last axis for an input of ``input_dims``."""
        return input_dims * (2 * n_harmonic_functions + int(append_input))

    def get_output_dim(self, input_dims: int = 3) -> int:
        """Length of this embedding's output for an input of ``input_dims``."""
        return self.get_output_dim_static(input_dims, len(self._frequencies), self.append_input)
