"""The actor's catalogue head in the policy loss, fused: log pi(a_i|s_i) and the entropy
H(pi(.|s_i)) of l = c * tanh((h W^T + b) / c) over all I items, forward and backward, without
the [B, I] tensors autograd would keep (docs/ilrec.md#critic-and-policy-losses: L_RL and L_imit
read only these two per row).

For a row with logits l (clamped), lse = log sum_j exp(l_j), p_j = exp(l_j - lse):

    log pi(a) = l_a - lse            H = lse - sum_j p_j l_j

and for upstream gradients g_a (of log pi(a)) and g_H (of H):

    dL/dl_j = [j = a] g_a - p_j (g_a + g_H (H - lse + l_j))
    dL/dx_j = dL/dl_j * (1 - (l_j / c)^2)                      (the clamp; 1 without)

`head_log_pi_entropy` computes both in row blocks of `chunk` (one block's logits stay in the
cache and are recomputed in the backward pass rather than stored), in buffers kept for the
call: on the 13,864-item head at batch 128 the forward and backward passes take about half the
time of log_softmax, exp, gather and autograd over the full [B, I] tensors. The values are the
same up to float rounding; tests compare them and their gradients with the plain formula.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["head_log_pi_entropy"]

CHUNK = 32  # rows per block: 32 x 13,864 float32 logits are 1.8 MB


def head_log_pi_entropy(
    h: torch.Tensor,
    head: nn.Linear,
    clamp: float | None,
    actions: torch.Tensor,
    chunk: int = CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log pi(actions_i | s_i) [B], H(pi(.|s_i)) [B]) of the policy softmax(clamp(head(h)))
    for state vectors h [B, d]; differentiable in h and the head's weight and bias."""
    return _LogPiEntropy.apply(h, head.weight, head.bias, actions, clamp, chunk)


def _logits(
    out: torch.Tensor,
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    clamp: float | None,
) -> torch.Tensor:
    """c * tanh((h W^T + b) / c) written into `out` (nets.clamp_logits, in place)."""
    torch.addmm(bias, h, weight.T, out=out)
    if clamp is not None:
        if clamp != 1:
            out.div_(clamp)
        out.tanh_()
        if clamp != 1:
            out.mul_(clamp)
    return out


class _LogPiEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, actions, clamp, chunk):
        n, n_items = h.shape[0], weight.shape[0]
        log_pi, entropy, lse = h.new_empty(n), h.new_empty(n), h.new_empty(n)
        logits = h.new_empty(min(chunk, n), n_items)
        exp = torch.empty_like(logits)
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            size = rows.stop - start
            x, e = _logits(logits[:size], h[rows], weight, bias, clamp), exp[:size]
            # |x| <= c with the clamp: exp cannot overflow; without it, shift by the max
            shift = None if clamp is not None else x.amax(1, keepdim=True)
            torch.exp(x if shift is None else x - shift, out=e)
            total = e.sum(1)
            weighted = e.mul_(x).sum(1)  # sum_j exp(l_j - shift) l_j
            z = total.log() if shift is None else total.log() + shift[:, 0]
            lse[rows] = z
            entropy[rows] = z - weighted / total
            log_pi[rows] = x.gather(1, actions[rows, None]).squeeze(1) - z
        ctx.save_for_backward(h, weight, bias, actions, lse, entropy)
        ctx.clamp, ctx.chunk = clamp, chunk
        return log_pi, entropy

    @staticmethod
    def backward(ctx, g_log_pi, g_entropy):
        h, weight, bias, actions, lse, entropy = ctx.saved_tensors
        clamp, chunk = ctx.clamp, ctx.chunk
        n = h.shape[0]
        g_a = h.new_zeros(n) if g_log_pi is None else g_log_pi.contiguous()
        g_h = h.new_zeros(n) if g_entropy is None else g_entropy.contiguous()
        # dL/dl_j = [j = a] g_a + p_j (alpha + beta l_j)
        alpha, beta = -(g_a + g_h * (entropy - lse)), -g_h
        grad_h = torch.empty_like(h)
        grad_w, grad_b = torch.zeros_like(weight), torch.zeros_like(bias)
        logits = h.new_empty(min(chunk, n), weight.shape[0])
        probs, grad_l = torch.empty_like(logits), torch.empty_like(logits)
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            size = rows.stop - start
            x = _logits(logits[:size], h[rows], weight, bias, clamp)
            p, d = probs[:size], grad_l[:size]
            torch.sub(x, lse[rows, None], out=p).exp_()
            torch.mul(x, beta[rows, None], out=d).add_(alpha[rows, None]).mul_(p)
            d.scatter_add_(1, actions[rows, None], g_a[rows, None])
            if clamp is not None:  # d(c tanh(x / c))/dx = 1 - (l / c)^2
                torch.mul(x, x, out=p)
                if clamp != 1:
                    p.mul_(1.0 / clamp**2)
                d.sub_(p.mul_(d))
            grad_w.addmm_(d.T, h[rows])
            grad_b.add_(d.sum(0))
            torch.mm(d, weight, out=grad_h[rows])
        return grad_h, grad_w, grad_b, None, None, None
