"""Train chapter 2's tiny in-context learners on fresh random tasks, on one CPU thread.

Run ``python -m solutions.train_icl``. With fixed seeds it trains the two models the chapter
compares (about 50 s and 70 s of CPU time for one and two layers on the 2-core x86 machine
the chapter was built on) and writes their float16 state dicts to ``solutions/data/icl/``:

- ``icl_2layer.pt``: two layers, the model the chapter measures (``ICL_CONFIG``);
- ``icl_1layer.pt``: the same model with one layer, for the comparison of depths.

Every training sequence holds ``(context_length - 1) / 2`` examples and a query, with a mapping
from symbols to labels drawn afresh, so nothing about a particular mapping can be memorised: the
loss falls only as the model learns to read the labels off its context.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from solutions.data import DATA_DIR
from solutions.icl_model import ICLConfig, ICLTransformer, sample_tasks

ICL_DIR = DATA_DIR / "icl"
ICL_CONFIG = ICLConfig()
MODEL_FILES = {2: "icl_2layer.pt", 1: "icl_1layer.pt"}  # n_layers -> file


@dataclass
class TrainConfig:
    """Optimisation settings; one step sees ``batch`` sequences of ``context_length`` tokens."""

    seed: int = 0
    n_threads: int = 1  # one thread: small matrices gain nothing from more, and results stay reproducible
    batch: int = 128
    max_steps: int = 1500
    learning_rate: float = 3e-3
    weight_decay: float = 0.01


def label_loss(model: ICLTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) of the label after every input of ``tokens`` ``(B, 2k + 2)``.

    Input ``i`` sits at position ``2i`` and its label at ``2i + 1``; the prediction at input ``i``
    has ``i`` examples before it, so one sequence trains every number of shots at once.
    """
    n_symbols = model.config.n_symbols
    logits = model(tokens[:, :-1])[:, 0::2, n_symbols:]  # (B, k + 1, n_labels): label logits at inputs
    targets = tokens[:, 1::2] - n_symbols  # (B, k + 1)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def train(config: ICLConfig, train_config: TrainConfig = TrainConfig()) -> ICLTransformer:
    """A freshly trained model of ``config`` (eval mode), seeded by ``train_config.seed``."""
    torch.set_num_threads(train_config.n_threads)
    torch.manual_seed(train_config.seed)
    generator = torch.Generator().manual_seed(train_config.seed)
    model = ICLTransformer(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.learning_rate,
                                  weight_decay=train_config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, train_config.learning_rate,
                                                   total_steps=train_config.max_steps, pct_start=0.1)
    n_examples = (config.context_length + 1) // 2  # the last one's label is the final target
    progress = tqdm(range(train_config.max_steps), desc=f"{config.n_layers}-layer", unit="step")
    for step in progress:
        tokens, labels = sample_tasks(config, train_config.batch, n_examples - 1, generator)
        tokens = torch.cat((tokens, labels[:, None] + config.n_symbols), dim=1)  # (batch, 2k + 2)
        loss = label_loss(model, tokens)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 50 == 0:
            progress.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def load(n_layers: int = 2, data_dir=ICL_DIR) -> ICLTransformer:
    """The committed model with ``n_layers`` layers, in float32 and eval mode."""
    model = ICLTransformer(replace(ICL_CONFIG, n_layers=n_layers))
    state = torch.load(Path(data_dir) / MODEL_FILES[n_layers], map_location="cpu", weights_only=True)
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    return model.eval()


def main(out_dir=ICL_DIR, train_config: TrainConfig = TrainConfig()) -> None:
    """Train both models and write their float16 weights to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for n_layers, name in MODEL_FILES.items():
        model = train(replace(ICL_CONFIG, n_layers=n_layers), train_config)
        torch.save({k: v.half() for k, v in model.state_dict().items()}, out_dir / name)


if __name__ == "__main__":
    main()
    print(f"wrote {', '.join(MODEL_FILES.values())} to {ICL_DIR}")
