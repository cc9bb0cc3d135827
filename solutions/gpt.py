"""Chapter 1, Transformers: a small decoder-only GPT, in the style of GPT-2 and nanoGPT.

Token and learned position embeddings feed ``n_layers`` pre-LayerNorm blocks, each a causal
multi-head self-attention followed by a 4x GELU MLP, both added to the residual stream; a
final LayerNorm and a language-model head that shares the token embedding's weights turn
each position into next-token logits. Shapes use ``B`` for batch, ``T`` for sequence length,
``C`` for ``d_model`` and ``V`` for ``vocab_size``.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    """Sizes of a GPT; ``context_length`` is the most tokens the model attends over at once."""

    vocab_size: int
    context_length: int
    d_model: int
    n_heads: int
    n_layers: int
    dropout: float = 0.0
    bias: bool = False  # biases in the Linear and LayerNorm layers (GPT-2 has them)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each position sees only itself and earlier positions."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.d_model % config.n_heads:
            raise ValueError(f"d_model={config.d_model} is not divisible by n_heads={config.n_heads}")
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)  # 3 x (B, T, C)
        head_shape = (B, T, self.n_heads, C // self.n_heads)
        q, k, v = (t.view(head_shape).transpose(1, 2) for t in (q, k, v))  # (B, n_heads, T, head_size)
        dropout_p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, n_heads, T, head_size) -> (B, T, C)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.up = nn.Linear(config.d_model, 4 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(4 * config.d_model, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.proj(F.gelu(self.up(x))))  # (B, T, C)


class Block(nn.Module):
    """One pre-LayerNorm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    """Decoder-only transformer language model with a weight-tied output head."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.context_length, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model, bias=config.bias)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # weight tying (Press & Wolf, 2017)

        # GPT-2 initialisation: N(0, 0.02), with the projections that write into the residual
        # stream scaled down by sqrt(2 * n_layers) so its variance does not grow with depth.
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):
        """Next-token logits ``(B, T, V)`` for token ids ``idx`` ``(B, T)``.

        With ``targets`` ``(B, T)`` (the ids shifted one to the left), also return the mean
        cross-entropy loss in nats per token.
        """
        B, T = idx.shape
        if T > self.config.context_length:
            raise ValueError(
                f"sequence of {T} tokens exceeds context_length={self.config.context_length}; "
                "crop the input to its last context_length tokens"
            )
        positions = torch.arange(T, device=idx.device)  # (T,)
        x = self.dropout(self.token_embedding(idx) + self.position_embedding(positions))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
        return logits, loss


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None):
    """Extend ``idx`` ``(B, T)`` by ``max_new_tokens`` tokens; returns ``(B, T + max_new_tokens)``.

    Each step feeds at most the last ``context_length`` tokens, divides the last position's
    logits by ``temperature`` and samples from their softmax, restricted to the ``top_k`` most
    likely tokens when given. ``temperature=0`` picks the most likely token (greedy decoding).
    Call ``model.eval()`` first if the model has dropout. Sampling uses torch's global random
    generator: seed it with ``torch.manual_seed`` for reproducible samples.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    for _ in range(max_new_tokens):
        context = idx[:, -model.config.context_length :]  # (B, <= context_length)
        logits = model(context)[:, -1, :]  # (B, V)
        if temperature == 0:
            next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth_largest = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]  # (B, 1)
                logits = logits.masked_fill(logits < kth_largest, float("-inf"))
            next_id = torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)  # (B, 1)
        idx = torch.cat((idx, next_id), dim=1)  # (B, T + 1)
    return idx
