"""Hidden checks of Chapter 1, Transformers, against torch's own implementations."""

import torch

from autograder.checks import Case, Check, register


def _softmax_cases(generator):
    """Random shapes and dims, plus rows of huge and tiny scores that overflow a naive softmax."""
    cases = []
    for _ in range(4):
        n_dims = int(torch.randint(1, 4, (1,), generator=generator))
        shape = tuple(int(s) for s in torch.randint(1, 7, (n_dims,), generator=generator))
        scale = float(torch.empty(1).uniform_(0.1, 20.0, generator=generator))
        x = torch.randn(shape, generator=generator) * scale
        dim = int(torch.randint(-n_dims, n_dims, (1,), generator=generator))
        cases.append(Case((x,), {"dim": dim}))
    extreme = torch.randn(3, 5, generator=generator, dtype=torch.float64) * 1e4
    cases.append(Case((extreme,), {"dim": -1}))
    cases.append(Case((torch.randn(4, 6, generator=generator) + 1000.0,), {"dim": 0}))
    cases.append(Case((torch.randn(2, 3, generator=generator) - 1000.0,), {}))
    return cases


register(
    Check(
        name="transformers.softmax",
        function="softmax",
        cases=_softmax_cases,
        reference=lambda x, dim=-1: torch.softmax(x, dim=dim),
        rtol=1e-5,
        atol=1e-6,
        forbid=("softmax", "log_softmax"),
        description="softmax matches torch.softmax on random shapes and dims, including scores of ±1e4",
    )
)
