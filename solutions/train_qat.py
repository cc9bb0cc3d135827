"""Post-training quantization and quantization-aware training of chapter 1's GPT, on CPU.

Run ``python -m solutions.train_qat``. With fixed seeds it writes
``solutions/data/quantization_results.json``:

- ``ptq``: validation loss (nats/token) and stored bytes of the committed model with its linear
  weights quantized after training, for 8, 4 and 2 bits, per tensor and per channel, and of the
  float32 model; ``val_loss`` with absmax scales, ``mse_val_loss`` with each scale's clipping range
  chosen for the smallest squared weight error (``mse_scale``);
- ``qat``: for each low-bit setting, three models fine-tuned for the same steps on the same
  batches from the committed weights: post-training quantization of the committed model (no
  fine-tuning), float fine-tuning followed by post-training quantization (the control: it gets
  the same extra training), and quantization-aware training with fake-quantized weights and
  learned scales (LSQ, Esser et al. 2020), evaluated with its weights actually quantized; and
  QAT with the absmax scales frozen (``qat_frozen_scale_val_loss``), which separates what training
  the weights gains from what learning the scales gains;
- ``qat_seeds``: the control and QAT of the first QAT setting again, with the batches drawn from
  other seeds, to show how much the comparison moves with the order of the batches.

The runs use one thread by default (``n_threads``); the losses depend slightly on the thread count.
"""

import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from solutions.data import DATA_DIR
from solutions.quantization import (
    absmax_quantize, fake_quantize, model_size_bytes, quantize_model,
)
from solutions.train_gpt import MODEL_CONFIG, encode_splits, get_batch, load_trained, validation_loss

RESULTS_FILE = "quantization_results.json"
PTQ_SETTINGS = [(8, False), (8, True), (4, False), (4, True), (2, False), (2, True)]  # (bits, per_channel)
QAT_SETTINGS = [(4, False), (2, True)]
SEED, STEPS, BATCH, LEARNING_RATE = 0, 80, 16, 3e-4
SPREAD_SEEDS = (1, 2, 3)  # extra batch seeds for the first QAT setting


class FakeQuantLinear(nn.Module):
    """A bias-free linear layer that trains through fake-quantized weights with a learned scale.

    The scale starts at the absmax scale, one per output row or one per tensor, and is learned
    with LSQ's gradient, scaled by ``1 / sqrt(n_weights_per_scale * q_max)`` as the paper advises;
    with ``learn_scale=False`` it stays at the absmax scale and only the weights train.
    """

    def __init__(self, linear, bits, per_channel, learn_scale=True):
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.q_min, self.q_max = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1  # symmetric range
        _, scale = absmax_quantize(self.weight.detach(), bits, dim=1 if per_channel else None)
        if learn_scale:
            self.scale = nn.Parameter(scale)
        else:  # the control: the absmax scale stays fixed and only the weights train
            self.register_buffer("scale", scale)
        n_per_scale = self.weight.numel() // scale.numel()
        self.grad_factor = 1.0 / (n_per_scale * self.q_max) ** 0.5

    def quantized_weight(self):
        """The weight as it would be stored: fake-quantized with the current scale, ``(out, in)``."""
        scale = self.scale * self.grad_factor + (self.scale - self.scale * self.grad_factor).detach()
        return fake_quantize(self.weight, scale, 0, self.q_min, self.q_max)

    def forward(self, x):
        return F.linear(x, self.quantized_weight())


def with_fake_quant(model, bits, per_channel, learn_scale=True):
    """Replace ``model``'s untied bias-free linear layers by :class:`FakeQuantLinear`, in place."""
    tied = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and child.bias is None and id(child.weight) not in tied:
                setattr(parent, name, FakeQuantLinear(child, bits, per_channel, learn_scale))
    return model


def fine_tune(model, train_ids, desc, seed=SEED):
    """``STEPS`` AdamW steps on the batches drawn from ``seed`` (the same for every model given the
    same seed); returns ``model`` in eval mode."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.95), weight_decay=0.0)
    model.train()
    for _ in tqdm(range(STEPS), desc=desc, unit="step"):
        x, y = get_batch(train_ids, BATCH, MODEL_CONFIG.context_length, generator)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()


def seed_spread(train_ids, val_ids, bits, per_channel, seeds=SPREAD_SEEDS):
    """For each seed: validation losses of float fine-tuning, of it followed by PTQ, and of QAT."""
    rows = []
    for seed in seeds:
        tuned = fine_tune(load_trained()[0], train_ids, f"float fine-tuning, seed {seed}", seed)
        qat = fine_tune(with_fake_quant(load_trained()[0], bits, per_channel), train_ids,
                        f"QAT {bits}-bit, seed {seed}", seed)
        rows.append({"seed": seed, "float_tuned_val_loss": validation_loss(tuned, val_ids),
                     "tuned_then_ptq_val_loss": validation_loss(quantize_model(tuned, bits, per_channel), val_ids),
                     "qat_val_loss": validation_loss(qat, val_ids)})
    return rows


def main(out_dir=DATA_DIR, n_threads=1):
    """Run every experiment and write the results; returns them as a dict."""
    torch.set_num_threads(n_threads)
    base, tokenizer = load_trained()
    train_ids, val_ids = encode_splits(tokenizer)
    results = {"steps": STEPS, "batch": BATCH, "learning_rate": LEARNING_RATE,
               "fp32": {"bytes": model_size_bytes(base), "val_loss": validation_loss(base, val_ids)},
               "ptq": [], "qat": []}
    for bits, per_channel in PTQ_SETTINGS:
        quantized = quantize_model(base, bits, per_channel)
        results["ptq"].append({"bits": bits, "per_channel": per_channel, "bytes": model_size_bytes(quantized),
                               "val_loss": validation_loss(quantized, val_ids),
                               "mse_val_loss": validation_loss(quantize_model(base, bits, per_channel, "mse"), val_ids)})

    float_tuned = fine_tune(load_trained()[0], train_ids, "float fine-tuning")
    results["float_tuned_val_loss"] = validation_loss(float_tuned, val_ids)
    for bits, per_channel in QAT_SETTINGS:
        qat = fine_tune(with_fake_quant(load_trained()[0], bits, per_channel), train_ids, f"QAT {bits}-bit")
        frozen = fine_tune(with_fake_quant(load_trained()[0], bits, per_channel, learn_scale=False), train_ids,
                           f"QAT {bits}-bit, frozen absmax scales")
        results["qat"].append({
            "bits": bits, "per_channel": per_channel,
            "ptq_val_loss": validation_loss(quantize_model(base, bits, per_channel), val_ids),
            "tuned_then_ptq_val_loss": validation_loss(quantize_model(float_tuned, bits, per_channel), val_ids),
            "qat_val_loss": validation_loss(qat, val_ids),
            "qat_frozen_scale_val_loss": validation_loss(frozen, val_ids),
        })
    bits, per_channel = QAT_SETTINGS[0]
    results["qat_seeds"] = {"bits": bits, "per_channel": per_channel,
                            "runs": seed_spread(train_ids, val_ids, bits, per_channel)}
    with open(out_dir / RESULTS_FILE, "w") as f:
        json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    for key, value in main().items():
        print(key, value)
