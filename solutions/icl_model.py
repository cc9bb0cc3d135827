"""Chapter 2, In-context learning: a tiny decoder-only transformer and the task it learns in context.

The task: a sequence lays out ``k`` examples ``x1 y1 x2 y2 ... xk yk`` and a query ``xq``. Each
input ``x`` is one of ``n_symbols`` symbols drawn uniformly at random; each symbol's label ``y``
(one of ``n_labels``) is drawn afresh for every sequence. The mapping changes from sequence to
sequence, so a query's label can only come from the examples before it in the same sequence.

The model: token embeddings, then pre-LayerNorm blocks of causal multi-head attention with rotary
positions (RoPE) and a GELU MLP, then a linear head. There is no learned position table: RoPE
makes each attention score depend on the offset between the attention query's position and the
key's ("query" alone means the task's query ``xq``). Shapes use ``B``
for batch, ``T`` for sequence length and ``d_model`` for the width (``C`` is kept for the
number of labels, as on the book's pages).
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from solutions.transformers import rope


@dataclass
class ICLConfig:
    """Sizes of the task and of the model; ``context_length`` is in tokens (``2 * k + 1`` for ``k`` shots)."""

    n_symbols: int = 8
    n_labels: int = 4
    context_length: int = 17
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2

    @property
    def vocab_size(self) -> int:
        """Symbols take ids ``0 .. n_symbols - 1``, labels the next ``n_labels`` ids."""
        return self.n_symbols + self.n_labels


def sample_tasks(config: ICLConfig, n_tasks: int, k: int, generator: torch.Generator):
    """``n_tasks`` fresh tasks of ``k`` examples and one query each.

    Returns ``(tokens, query_labels)``: ``tokens`` ``(n_tasks, 2k + 1)`` int64 holding
    ``x1 y1 ... xk yk xq`` and ``query_labels`` ``(n_tasks,)``, the query's label as a label index
    in ``0 .. n_labels - 1`` (its token id minus ``n_symbols``).
    """
    mapping = torch.randint(config.n_labels, (n_tasks, config.n_symbols), generator=generator)  # (n_tasks, S)
    inputs = torch.randint(config.n_symbols, (n_tasks, k + 1), generator=generator)  # (n_tasks, k + 1)
    labels = mapping.gather(1, inputs)  # (n_tasks, k + 1)
    pairs = torch.stack((inputs, labels + config.n_symbols), dim=-1)  # (n_tasks, k + 1, 2)
    tokens = pairs.reshape(n_tasks, 2 * (k + 1))[:, :-1]  # (n_tasks, 2k + 1): drop the query's label
    return tokens, labels[:, -1]


class Attention(nn.Module):
    """Causal multi-head self-attention with RoPE; keeps its last attention weights on request."""

    def __init__(self, config: ICLConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.keep_weights = False
        self.weights = None  # (B, n_heads, T, T) after a forward pass with keep_weights

    def forward(self, x):
        B, T, d_model = x.shape
        q, k, v = self.qkv(x).split(d_model, dim=-1)  # 3 x (B, T, d_model)
        head_shape = (B, T, self.n_heads, d_model // self.n_heads)
        q, k, v = (t.view(head_shape).transpose(1, 2) for t in (q, k, v))  # (B, n_heads, T, head_size)
        positions = torch.arange(T, device=x.device)  # (T,)
        q, k = rope(q, positions), rope(k, positions)  # (B, n_heads, T, head_size)
        if self.keep_weights:
            scores = q @ k.transpose(-2, -1) / (d_model // self.n_heads) ** 0.5  # (B, n_heads, T, T)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            self.weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = self.weights @ v  # (B, n_heads, T, head_size)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, n_heads, T, head_size)
        return self.proj(y.transpose(1, 2).reshape(B, T, d_model))  # (B, T, d_model)


class Block(nn.Module):
    """Pre-LayerNorm block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, config: ICLConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = Attention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, 2 * config.d_model), nn.GELU(),
                                 nn.Linear(2 * config.d_model, config.d_model))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # (B, T, d_model)
        return x + self.mlp(self.ln_2(x))  # (B, T, d_model)


class ICLTransformer(nn.Module):
    """The tiny in-context learner: next-token logits ``(B, T, vocab_size)`` for tokens ``(B, T)``."""

    def __init__(self, config: ICLConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def forward(self, tokens):
        if tokens.shape[1] > self.config.context_length:
            raise ValueError(f"{tokens.shape[1]} tokens exceed context_length={self.config.context_length}; "
                             "drop the oldest examples first")
        x = self.embedding(tokens)  # (B, T, d_model)
        for block in self.blocks:
            x = block(x)  # (B, T, d_model)
        return self.head(self.ln_f(x))  # (B, T, vocab_size)

    def attention_weights(self, tokens):
        """Attention weights of every layer for ``tokens`` ``(B, T)``: a list of ``(B, n_heads, T, T)``."""
        for block in self.blocks:
            block.attn.keep_weights = True
        try:
            with torch.no_grad():
                self(tokens)
            return [block.attn.weights for block in self.blocks]
        finally:
            for block in self.blocks:
                block.attn.keep_weights = False
                block.attn.weights = None
