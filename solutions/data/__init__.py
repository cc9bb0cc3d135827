"""The course's small data: a Shakespeare corpus and the artefacts trained on it.

Paths are resolved from this package's location, never from the current working
directory, so notebooks and scripts load the same files wherever they run.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
CORPUS_PATH = DATA_DIR / "corpus" / "shakespeare.txt"


def load_corpus() -> str:
    """The course corpus (seven Shakespeare plays, about 0.9 * 10^6 characters) as one string."""
    return CORPUS_PATH.read_text(encoding="utf-8")


def train_val_split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Split ``text`` into a training head and a validation tail, deterministically.

    The cut falls at the first line break after ``(1 - val_fraction) * len(text)`` characters, so
    no line is shared; the validation text is a contiguous passage the model never trains on.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    cut = text.find("\n", int(len(text) * (1.0 - val_fraction)))
    if cut == -1:
        raise ValueError("no line break after the cut point; pass a smaller val_fraction")
    return text[: cut + 1], text[cut + 1 :]


SCALE_DIR = DATA_DIR / "scale"


def load_scale_table(name: str) -> list[dict]:
    """Rows of ``scale/<name>.csv`` (chapter 3's published tables and measured runs) as dicts.

    Fields that parse as numbers come back as floats, the rest as strings; ``scale/README.md``
    gives each file's source. Names: ``model_sizes``, ``gpt3_table_2_1``, ``gpt3_table_d_1``,
    ``gpt3_few_shot``, ``chinchilla_table_3``, ``scaling_runs``.
    """
    import csv

    def parse(value):
        try:
            return float(value)
        except ValueError:
            return value

    with open(SCALE_DIR / f"{name}.csv", newline="", encoding="utf-8") as f:
        return [{key: parse(value) for key, value in row.items()} for row in csv.DictReader(f)]
