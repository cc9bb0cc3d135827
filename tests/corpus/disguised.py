"""Answers that reach a forbidden torch built-in through a name made at run time, and independent
correct answers that must keep every point.

Each disguise replaces one answer cell of an otherwise right submission (the source exercise's
answers) with a function that calls the built-in the part asks the student to write: through
``getattr`` on a name assembled from pieces, ``vars`` of a module, an alias made at run time, or a
method looked up by ``getattr``, a tensor layout whose kernels torch does not hand out (MkldnnCPU),
the watches' kernels removed, or with torch's dispatch switched off around the call (a guard
reached by a built name or a search of the subclasses, a dispatch key excluded, the
recording's modes popped off their stacks and pushed back). None of them names the built-in in its source, so the static scan
cannot see them (``tests/test_runtime_integrity.py`` checks that too); only the recording of what
the function runs can. Each entry states the parts that must earn nothing: the disguised part,
and a part whose own answer calls the disguised function when that part forbids the same
built-in (multi-head attention forbids torch's attention, which the disguised attention runs) or
when the disguise hides its work from the recording altogether (a thread).

``INDEPENDENT`` holds correct answers written apart from ``solutions/`` and from the checks'
references (every part of chapter 1; the parts of chapters 2 and 4 that forbid operators), with
the operators an honest answer uses (``exp``, ``max``, ``einsum``, ``erf``, ``sort``, ``lerp``,
...): with the source's answers for the other parts, they must earn every point.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Disguise:
    """One answer cell (``cell``) replaced by ``source``; the parts ``zero`` must earn nothing, and a
    flag must name the cell's function and ``flag`` (the operator that ran, or how it escaped)."""

    assignment: str
    cell: str
    zero: tuple
    source: str
    flag: str


SOFTMAX = ("01-transformers", "softmax", ("test_softmax",))
# one mistake costs one part: parts whose answers call the disguised one are judged with the
# reference's answer in its place (grading.run), so only the disguised part earns nothing
TOP_K = ("02-in-context-learning", "top_k_filter", ("test_top_k_filter",))
# an answer that removes the watches' kernels (in the visible tests, before any hidden check) leaves
# every later recorded part without them: each such part is flagged and earns nothing
WATCHES_GONE = ("test_softmax", "test_scaled_dot_product_attention", "test_multi_head_self_attention",
                "test_transformer_block")
ADAMW = ("04-gpu-memory", "adamw_step", ("test_adamw_step",))
ADAMW_BY_TORCH = """import torch


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    p = torch.nn.Parameter(param.clone())
    p.grad = grad.clone()
    optimizer = {optimizer}([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    if step > 1:
        optimizer.state[p] = dict(step=torch.tensor(float(step - 1)), exp_avg=exp_avg.clone(),
                                  exp_avg_sq=exp_avg_sq.clone())
    optimizer.step()
    return p.detach(), optimizer.state[p]["exp_avg"], optimizer.state[p]["exp_avg_sq"]
"""
ROUND = ("05-quantization", "round_to_format", ("test_round_to_format",))  # float_bits, which calls it, keeps its points
FAKE_QUANTIZE = ("05-quantization", "fake_quantize", ("test_fake_quantize",))
# round_to_format by torch's own conversion, the dtype named at run time, the tensor made by ``make``
ROUND_BY_TORCH = """import torch


def round_to_format(x, fmt):
    names = {{'fp16': 'float' + '16', 'bf16': 'bfloat' + '16', 'fp8_e4m3': 'float8_e4m3' + 'fn',
             'fp8_e5m2': 'float8_e5' + 'm2'}}
    low = getattr(torch, names[fmt])
{make}    return out.to(x.dtype)
"""
PARAMETER_COUNTS = ("03-scale", "parameter_counts", ("test_parameter_counts",))
PARAMETER_COUNTS_BY_TORCH = """import torch


def parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    nn = torch.nn
    block_type, norm_type = getattr(nn, "Transform" + "erEncoderLayer"), getattr(nn, "Layer" + "Norm")
    table_type, line_type = getattr(nn, "Embed" + "ding"), getattr(nn, "Lin" + "ear")
    size = lambda t: getattr(t, "num" + "el")()
    d_ff = 4 * d_model if d_ff is None else d_ff
    with torch.device("meta"):
        block = block_type(d_model, nhead=1, dim_feedforward=d_ff, bias=bias, norm_first=True)
        final_norm = norm_type(d_model, bias=bias)
        token = table_type(vocab_size, d_model)
        head = line_type(d_model, vocab_size, bias=False)
        position = size(table_type(context_length, d_model).weight) if context_length else 0
    groups = {"attention": 0, "mlp": 0, "layer_norms": 0}
    for name, p in block.named_parameters():
        group = "attention" if name.startswith("self_attn") else "mlp" if name.startswith("linear") else "layer_norms"
        groups[group] += size(p)
    return {
        "token_embedding": size(token.weight),
        "position_embedding": position,
        "attention": n_layers * groups["attention"],
        "mlp": n_layers * groups["mlp"],
        "layer_norms": n_layers * groups["layer_norms"] + sum(size(p) for _, p in final_norm.named_parameters()),
        "output_head": 0 if tied_embeddings else size(head.weight),
    }
"""
# a thread hides everything from the recording; the parts whose answers call softmax keep their points
SOFTMAX_CALLED = ("01-transformers", "softmax", ("test_softmax",))
ATTENTION = ("01-transformers", "scaled_dot_product_attention", ("test_scaled_dot_product_attention",))

DISGUISES = {
    "softmax_mkldnn": Disguise(*SOFTMAX, (
        "import torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    dense = x.float().contiguous()\n"
        "    return getattr(dense.to_mkldnn(), 'soft' + 'max')(dim).to_dense().to(x.dtype)\n"), "aten::_softmax"),
    "softmax_library_destroyed": Disguise(*SOFTMAX[:2], WATCHES_GONE, (
        "import sys\n"
        "import torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    runner = type(sys.meta_path[0]).find_spec.__globals__  # the runner's module, by its import guard\n"
        "    for library in runner['KERNEL_LIBRARIES'].values():\n"
        "        library._destroy()\n"
        "    return getattr(torch, 'soft' + 'max')(x, dim)\n"), "removed or disabled"),
    # the runner decodes a call's arguments with torch.from_numpy: patched at cell time, it computes
    # the built-in's answers for every dim as the arguments arrive, before the function is called
    "softmax_patched_from_numpy": Disguise(*SOFTMAX, (
        "import torch\n"
        "_answers, _from_numpy = {}, torch.from_numpy\n\n"
        "def _answering(array):\n"
        "    t = _from_numpy(array)\n"
        "    if t.is_floating_point() and t.dim():\n"
        "        for d in range(t.dim()):\n"
        "            _answers[t.shape, t.nan_to_num().sum().item(), d] = getattr(torch, 'soft' + 'max')(t, d)\n"
        "    return t\n\n"
        "torch.from_numpy = _answering\n\n"
        "def softmax(x, dim=-1):\n"
        "    found = _answers.get((x.shape, x.nan_to_num().sum().item(), dim % x.dim()))\n"
        "    if found is not None:\n"
        "        return found.clone()\n"
        "    exps = (x - x.amax(dim, keepdim=True)).exp()\n"
        "    return exps / exps.sum(dim, keepdim=True)\n"), "aten::_softmax"),
    "softmax_getattr": Disguise(*SOFTMAX, (
        "def softmax(x, dim=-1):\n"
        "    return getattr(__import__('torch'), 'soft' + 'max')(x, dim)\n"), "aten::_softmax"),
    "softmax_vars": Disguise(*SOFTMAX, (
        "import torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    return vars(torch.nn.functional)['max'.join(['soft', ''])](x, dim=dim)\n"), "aten::_softmax"),
    "softmax_alias": Disguise(*SOFTMAX, (
        "import torch\n"
        "_normalise = getattr(torch.special, ''.join(['so', 'ft', 'max']))\n\n"
        "def softmax(x, dim=-1):\n"
        "    return _normalise(x, dim)\n"), "aten::_softmax"),
    "softmax_method": Disguise(*SOFTMAX, (
        "def softmax(x, dim=-1):\n"
        "    return getattr(x, 'tfos'[::-1] + 'max')(dim)\n"), "aten::_softmax"),
    "softmax_through_log": Disguise(*SOFTMAX, (
        "def softmax(x, dim=-1):\n"
        "    return getattr(x, 'log_' + 'soft' + 'max')(dim).exp()\n"), "aten::_log_softmax"),
    "softmax_thread": Disguise(*SOFTMAX_CALLED, (
        "import concurrent.futures\n"
        "import torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    with concurrent.futures.ThreadPoolExecutor(1) as pool:\n"
        "        return pool.submit(getattr(torch, 'soft' + 'max'), x, dim).result()\n"), "a thread started"),
    "attention_getattr": Disguise(*ATTENTION, (
        "import torch\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    name = '_'.join(['scaled', 'dot', 'product', 'attention'])\n"
        "    return getattr(torch.nn.functional, name)(q, k, v, attn_mask=mask)\n"),
        "torch.nn.functional.scaled_dot_product_attention"),
    "attention_vars": Disguise(*ATTENTION, (
        "import torch\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    found = [f for n, f in vars(torch.nn.functional).items() if n.startswith('scaled_dot')]\n"
        "    return found[0](q, k, v, attn_mask=mask)\n"),
        "torch.nn.functional.scaled_dot_product_attention"),
    "attention_alias": Disguise(*ATTENTION, (
        "import torch\n"
        "attend = getattr(torch.ops.aten, 'scaled_dot_product_' + 'attention')\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    return attend(q, k, v, attn_mask=mask)\n"), "aten::_safe_softmax"),
    # torch's dispatch switched off around the built-in, each switch reached by a name built at run time
    "softmax_dispatch_off": Disguise(*SOFTMAX, (
        "import torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    off, off_api = getattr(torch._C, '_Disable' + 'TorchDispatch'), getattr(torch._C, 'Disable' + 'TorchFunction')\n"
        "    with off(), off_api():\n"
        "        return getattr(torch, 'soft' + 'max')(x, dim)\n"), "dispatch switched off"),
    "attention_dispatch_off": Disguise(*ATTENTION, (
        "import torch\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    off, off_api = vars(torch._C)['_Disable' + 'TorchDispatch'], vars(torch._C)['Disable' + 'TorchFunction']\n"
        "    with off(), off_api():\n"
        "        return getattr(torch.nn.functional, 'scaled_dot_' + 'product_attention')(q, k, v, attn_mask=mask)\n"),
        "dispatch switched off"),
    "softmax_key_excluded": Disguise(*SOFTMAX, (
        "import torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    keys = torch._C.DispatchKeySet(torch._C.DispatchKey.Python) | torch._C.DispatchKeySet(\n"
        "        torch._C.DispatchKey.PythonTLSSnapshot)\n"
        "    with getattr(torch._C, '_Exclude' + 'DispatchKeyGuard')(keys):\n"
        "        return getattr(torch, 'soft' + 'max')(x, dim)\n"), "dispatch switched off"),
    "softmax_tls_excluded": Disguise(*SOFTMAX, (
        "import torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    exclude = getattr(torch._C, '_dispatch_tls_set_dispatch_key_' + 'excluded')\n"
        "    exclude(torch._C.DispatchKey.Python, True)\n"
        "    try:\n"
        "        return getattr(torch, 'soft' + 'max')(x, dim)\n"
        "    finally:\n"
        "        exclude(torch._C.DispatchKey.Python, False)\n"), "dispatch switched off"),
    # the recording's modes popped off their stacks around the built-in and pushed back after it
    "softmax_modes_popped": Disguise(*SOFTMAX, (
        "import importlib\nimport torch\n\n"
        "def softmax(x, dim=-1):\n"
        "    helpers = importlib.import_module('torch.utils._python_' + 'dispatch'), importlib.import_module('torch.' + 'overrides')\n"
        "    with getattr(helpers[0], '_pop_mode_' + 'temporarily')(), getattr(helpers[1], '_pop_mode_' + 'temporarily')():\n"
        "        return getattr(torch, 'soft' + 'max')(x, dim)\n"), "dispatch switched off"),
    "attention_stacks_popped": Disguise(*ATTENTION, (
        "import sys\nimport torch\n\n"
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    C = sys.modules['torch.' + '_C']\n"
        "    modes = getattr(C, '_pop_torch_' + 'dispatch_stack')(None), getattr(C, '_pop_torch_' + 'function_stack')()\n"
        "    try:\n"
        "        return getattr(torch.nn.functional, 'scaled_dot_' + 'product_attention')(q, k, v, attn_mask=mask)\n"
        "    finally:\n"
        "        getattr(C, '_push_on_torch_' + 'function_stack')(modes[1])\n"
        "        getattr(C, '_push_on_torch_' + 'dispatch_stack')(modes[0])\n"), "dispatch switched off"),
    "softmax_switch_found_by_subclasses": Disguise(*SOFTMAX, (
        "import torch\n\n"
        "def _classes(cls):\n"
        "    for sub in type.__subclasses__(cls):\n"
        "        yield sub\n"
        "        yield from _classes(sub)\n\n"
        "OFF = next(c for c in _classes(object) if c.__name__ == '_Disable' + 'TorchDispatch')\n\n"
        "def softmax(x, dim=-1):\n"
        "    with OFF():\n"
        "        return getattr(torch, 'soft' + 'max')(x, dim)\n"), "dispatch switched off"),
    "top_k_getattr": Disguise(*TOP_K, (
        "import torch\n\n"
        "def top_k_filter(logits, k):\n"
        "    k = min(k, logits.shape[-1])\n"
        "    kth = getattr(torch, 'to' + 'pk')(logits, k, dim=-1).values[..., -1:]\n"
        "    return torch.where(logits >= kth, logits, torch.full_like(logits, -torch.inf))\n"), "aten::topk"),
    "top_k_method": Disguise(*TOP_K, (
        "import torch\n\n"
        "def top_k_filter(logits, k):\n"
        "    k = min(k, logits.shape[-1])\n"
        "    kth = getattr(-logits, 'kth' + 'value')(k, dim=-1, keepdim=True).values\n"
        "    return torch.where(logits >= -kth, logits, torch.full_like(logits, -torch.inf))\n"), "aten::kthvalue"),
    "adamw_getattr": Disguise(*ADAMW, ADAMW_BY_TORCH.format(optimizer="getattr(torch.optim, 'Ada' + 'mW')"),
                              "torch.optim.adamw.AdamW"),
    # no "optim" in the source: the runner did not make an optimizer ahead of this one
    "adamw_name_built": Disguise(*ADAMW, "_o = 'op' + 'tim'\n" + ADAMW_BY_TORCH.format(
        optimizer="getattr(getattr(torch, _o), 'Ada' + 'mW')").replace("optimizer", "stepper"), "torch.optim.adamw.AdamW"),
    "adamw_subclass": Disguise(*ADAMW, "import torch\n\nclass Mine(vars(torch.optim)['Ada' + 'mW']):\n    pass\n\n"
                               + ADAMW_BY_TORCH.format(optimizer="Mine"), "torch.optim.adamw.AdamW"),
    "round_getattr": Disguise(*ROUND, (
        "import torch\n\n"
        "def round_to_format(x, fmt):\n"
        "    names = {'fp16': 'float' + '16', 'bf16': 'bfloat' + '16', 'fp8_e4m3': 'float8_e4m3' + 'fn',\n"
        "             'fp8_e5m2': 'float8_e5' + 'm2'}\n"
        "    return getattr(x, 'to')(getattr(torch, names[fmt])).to(x.dtype)\n"), "dtype torch."),
    "round_numpy_half": Disguise(*ROUND, (
        "import numpy\n"
        "import torch\n\n"
        "def round_to_format(x, fmt):\n"
        "    half = getattr(numpy, 'float' + '16')\n"
        "    rounded = torch.from_numpy(x.detach().double().numpy().astype(half))\n"
        "    return rounded.to(x.dtype)\n"), "dtype torch.float16"),
    # the routes past the dtype watch's kernels: a factory it does not see at its key, memory torch did
    # not allocate, and code run below the autograd keys (a guard, inference mode, a kernel called by
    # key, a dispatch mode, a tensor subclass, the answer's own kernel)
    "round_empty_strided": Disguise(*ROUND, ROUND_BY_TORCH.format(make=(
        "    out = torch.empty_strided(tuple(x.shape), tuple(x.stride()), dtype=low)\n"
        "    out.copy_(x)\n")), "dtype torch."),
    "round_frombuffer": Disguise(*ROUND, ROUND_BY_TORCH.format(make=(
        "    size = torch.tensor([], dtype=low).element_size()\n"
        "    out = getattr(torch, 'from' + 'buffer')(bytearray(size * x.numel()), dtype=low).reshape(x.shape)\n"
        "    out[...] = x\n")), "dtype torch."),
    "round_inference_mode": Disguise(*ROUND, ROUND_BY_TORCH.format(make=(
        "    with torch.inference_mode():\n"
        "        out = x.to(low)\n")), "dtype torch."),
    "round_below_autograd": Disguise(*ROUND, ROUND_BY_TORCH.format(make=(
        "    with getattr(torch._C, '_AutoDispatch' + 'BelowAutograd')():\n"
        "        out = x.to(low)\n")), "_AutoDispatchBelowAutograd"),
    "round_kernel_called": Disguise(*ROUND, ROUND_BY_TORCH.format(make=(
        "    cpu = torch._C.DispatchKeySet(torch._C.DispatchKey.CPU)\n"
        "    out = torch.library.get_kernel('aten::_to_copy', 'CPU').call_boxed(cpu, x, dtype=low)\n")),
        "call_boxed"),
    "round_dispatch_mode": Disguise(*ROUND, ROUND_BY_TORCH.format(make=(
        "    from torch.utils._python_dispatch import TorchDispatchMode\n\n"
        "    class Low(TorchDispatchMode):\n"
        "        def __torch_dispatch__(self, func, types, args=(), kwargs=None):\n"
        "            return torch.ops.aten._to_copy.default(args[0], dtype=low)\n\n"
        "    with Low():\n"
        "        out = x.clone()\n")), "_push_on_torch_dispatch_stack"),
    "round_subclass": Disguise(*ROUND, ("import torch\n\n\n"
        "class Low(torch.Tensor):\n"
        "    @staticmethod\n"
        "    def __new__(cls, inner):\n"
        "        wrapper = torch.Tensor._make_wrapper_subclass(cls, inner.shape, dtype=inner.dtype)\n"
        "        wrapper.inner = inner\n"
        "        return wrapper\n\n"
        "    @classmethod\n"
        "    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):\n"
        "        inner = args[0].inner\n"
        "        return torch.ops.aten._to_copy.default(inner, dtype=cls.low).to(inner.dtype)\n\n\n"
        + ROUND_BY_TORCH.format(make=(
            "    Low.low = low\n"
            "    out = Low(x).clone()\n")).removeprefix("import torch\n\n")),
        "tensor subclass"),
    # tensors of the format kept from cell time, used in the call by operators that take no dtype: a
    # kept buffer written by ``out=``, and a kept tensor that rounds a number by type promotion
    "round_kept_buffer": Disguise(*ROUND, ("import torch\n\n"
        "NAMES = {'fp16': 'float' + '16', 'bf16': 'bfloat' + '16', 'fp8_e4m3': 'float8_e4m3' + 'fn',\n"
        "         'fp8_e5m2': 'float8_e5' + 'm2'}\n"
        "BUFFERS = {fmt: torch.empty(0, dtype=getattr(torch, name)) for fmt, name in NAMES.items()}\n\n\n"
        "def round_to_format(x, fmt):\n"
        "    buffer = BUFFERS[fmt]\n"
        "    torch.cat([x.reshape(-1)], out=buffer)\n"
        "    return torch.tensor(buffer.tolist(), dtype=x.dtype).reshape(x.shape)\n"), "dtype torch."),
    "round_kept_promotion": Disguise(*ROUND, ("import torch\n\n"
        "NAMES = {'fp16': 'float' + '16', 'bf16': 'bfloat' + '16', 'fp8_e4m3': 'float8_e4m3' + 'fn',\n"
        "         'fp8_e5m2': 'float8_e5' + 'm2'}\n"
        "ZEROS = {fmt: torch.zeros(1, dtype=getattr(torch, name)) for fmt, name in NAMES.items()}\n\n\n"
        "def round_to_format(x, fmt):\n"
        "    values = [(ZEROS[fmt] + v).item() for v in x.reshape(-1).tolist()]\n"
        "    return torch.tensor(values, dtype=x.dtype).reshape(x.shape)\n"), "dtype torch."),
    # reading bits through a view as another dtype, the name built at run time (only a reshape may be
    # written ``.view``)
    "round_bits_view": Disguise(*ROUND, ("import torch\n\n"
        "def round_to_format(x, fmt):\n"
        "    bits = getattr(x.float(), 'vi' + 'ew')(torch.int32)\n"
        "    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & -65536\n"
        "    return getattr(rounded, 'vi' + 'ew')(torch.float32).to(x.dtype)\n"), "dtype view"),
    # a tensor of the format that no factory makes (numpy's 2-byte float through DLPack), written by out=
    "round_dlpack": Disguise(*ROUND, ("import numpy\n"
        "import torch\n\n"
        "BUFFER = torch.from_dlpack(numpy.zeros(1 << 12, dtype=numpy.dtype('e')))\n\n\n"
        "def round_to_format(x, fmt):\n"
        "    flat = x.reshape(-1)\n"
        "    buffer = BUFFER[:flat.numel()]\n"
        "    torch.cat([flat], out=buffer)\n"
        "    return torch.tensor(buffer.tolist(), dtype=x.dtype).reshape(x.shape)\n"), "dtype torch.float16"),
    # a value that rounds itself only when the grader reads it, after the call returned
    "round_lazy_value": Disguise(*ROUND, ("import torch\n\n"
        "NAMES = {'fp16': 'float' + '16', 'bf16': 'bfloat' + '16', 'fp8_e4m3': 'float8_e4m3' + 'fn',\n"
        "         'fp8_e5m2': 'float8_e5' + 'm2'}\n\n\n"
        "class Lazy(torch.Tensor):\n"
        "    pending = {}\n\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        if args and isinstance(args[0], Lazy) and id(args[0]) in Lazy.pending:\n"
        "            source, low = Lazy.pending.pop(id(args[0]))\n"
        "            with torch._C.DisableTorchFunctionSubclass():\n"
        "                args[0].copy_(source.to(low).to(source.dtype))\n"
        "        with torch._C.DisableTorchFunctionSubclass():\n"
        "            return func(*args, **(kwargs or {}))\n\n\n"
        "def round_to_format(x, fmt):\n"
        "    out = torch.Tensor._make_subclass(Lazy, x.detach().clone())\n"
        "    Lazy.pending[id(out)] = (x.detach().clone(), getattr(torch, NAMES[fmt]))\n"
        "    return out\n"), "dtype torch."),
    "round_own_kernel": Disguise(*ROUND, ("import torch\n\n"
        "LOW = {}\n\n\n"
        "def negated(x):\n"
        "    low = LOW.pop('dtype', None)\n"
        "    return (x if low is None else torch.ops.aten._to_copy.default(x, dtype=low).to(x.dtype)).mul(-1)\n\n\n"
        "library = torch.library.Library('aten', 'IMPL')\n"
        "library.impl('neg', negated, 'CPU')\n\n"
        + ROUND_BY_TORCH.format(make=(
            "    LOW['dtype'] = low\n"
            "    out = -(-x)\n")).removeprefix("import torch\n\n")), "its own kernel"),
    "fake_quantize_getattr": Disguise(*FAKE_QUANTIZE, (
        "import torch\n\n"
        "def fake_quantize(x, scale, zero_point, qmin, qmax):\n"
        "    return getattr(torch, 'fake_quantize_per_' + 'tensor_affine')(x, scale, zero_point, qmin, qmax)\n"),
        "torch.fake_quantize_per_tensor_affine"),
    "parameter_counts_modules": Disguise(*PARAMETER_COUNTS, PARAMETER_COUNTS_BY_TORCH, "aten::uniform_"),
}

INDEPENDENT = {
    "01-transformers": {
        "softmax": (
            "import torch\n\n"
            "def softmax(x, dim=-1):\n"
            "    exps = torch.exp(x - x.max(dim=dim, keepdim=True).values)\n"
            "    return exps * exps.sum(dim=dim, keepdim=True).reciprocal()\n"),
        "causal_mask": (
            "import torch\n\n"
            "def causal_mask(seq_len):\n"
            "    i = torch.arange(seq_len)\n"
            "    return i.unsqueeze(1) - i.unsqueeze(0) >= 0\n"),
        "scaled_dot_product_attention": (
            "import torch\n\n"
            "def scaled_dot_product_attention(q, k, v, mask=None):\n"
            "    scores = torch.einsum('...ld,...sd->...ls', q, k) * q.shape[-1] ** -0.5\n"
            "    if mask is not None:\n"
            "        scores = torch.where(mask, scores, torch.full_like(scores, -torch.inf))\n"
            "    return torch.einsum('...ls,...sd->...ld', softmax(scores, dim=-1), v)\n"),
        "multi_head_self_attention": (
            "import torch\n\n"
            "def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):\n"
            "    seq_len, d_model = x.shape[-2:]\n"
            "    heads = []\n"
            "    for w_q_h, w_k_h, w_v_h in zip(w_q.chunk(n_heads), w_k.chunk(n_heads), w_v.chunk(n_heads)):\n"
            "        mask = causal_mask(seq_len) if causal else None\n"
            "        heads.append(scaled_dot_product_attention(x @ w_q_h.T, x @ w_k_h.T, x @ w_v_h.T, mask))\n"
            "    return torch.cat(heads, dim=-1) @ w_o.T\n"),
        "sinusoidal_positions": (
            "import math\n"
            "import torch\n\n"
            "def sinusoidal_positions(seq_len, d_model):\n"
            "    rows = []\n"
            "    for pos in range(seq_len):\n"
            "        row = []\n"
            "        for i in range(d_model):\n"
            "            angle = pos * math.exp(-math.log(10000.0) * (i - i % 2) / d_model)\n"
            "            row.append(math.sin(angle) if i % 2 == 0 else math.cos(angle))\n"
            "        rows.append(row)\n"
            "    return torch.tensor(rows, dtype=torch.float32).reshape(seq_len, d_model)\n"),
        "rope": (
            "import torch\n\n"
            "def rope(x, positions, theta=10000.0):\n"
            "    d_k = x.shape[-1]\n"
            "    inv = torch.exp(-torch.arange(0, d_k, 2, dtype=torch.float64) / d_k * torch.log(torch.tensor(theta, dtype=torch.float64)))\n"
            "    angle = (positions.double().unsqueeze(-1) * inv).float()\n"
            "    c, s = angle.cos().repeat_interleave(2, -1), angle.sin().repeat_interleave(2, -1)\n"
            "    swapped = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)\n"
            "    return x * c + swapped * s\n"),
        "transformer_block": (
            "import torch\n\n"
            "def _norm(x, weight, bias):\n"
            "    centred = x - x.mean(-1, keepdim=True)\n"
            "    return centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + 1e-5) * weight + bias\n\n"
            "def transformer_block(x, params, n_heads):\n"
            "    p = params\n"
            "    h = _norm(x, p['ln1_weight'], p['ln1_bias'])\n"
            "    x = x + multi_head_self_attention(h, p['w_q'], p['w_k'], p['w_v'], p['w_o'], n_heads)\n"
            "    up = _norm(x, p['ln2_weight'], p['ln2_bias']) @ p['w_up'].T\n"
            "    return x + (0.5 * up * (1 + torch.erf(up / 2 ** 0.5))) @ p['w_down'].T\n"),
    },
    "02-in-context-learning": {
        "top_k_filter": (
            "import torch\n\n"
            "def top_k_filter(logits, k):\n"
            "    ranked = logits.sort(dim=-1, descending=True).values\n"
            "    kth = ranked[..., min(k, logits.shape[-1]) - 1].unsqueeze(-1)\n"
            "    return logits.masked_fill(logits < kth, float('-inf'))\n"),
    },
    "04-gpu-memory": {
        "adamw_step": (
            "import math\n\n"
            "def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):\n"
            "    m = exp_avg.lerp(grad, 1 - beta1)\n"
            "    v = exp_avg_sq * beta2 + grad.square() * (1 - beta2)\n"
            "    denominator = v.sqrt() / math.sqrt(1 - beta2 ** step) + eps\n"
            "    decayed = param * (1 - lr * weight_decay)\n"
            "    return decayed - lr / (1 - beta1 ** step) * m / denominator, m, v\n"),
    },
}

# round_to_format by a helper process forked at cell time, the call talking to it through pipes: the
# runner stops every process a cell or call leaves running, so the call finds no helper and fails
HELPER_PROCESS = (
    "import os\n"
    "import torch\n\n"
    "NAMES = {'fp16': 'float' + '16', 'bf16': 'bfloat' + '16', 'fp8_e4m3': 'float8_e4m3' + 'fn',\n"
    "         'fp8_e5m2': 'float8_e5' + 'm2'}\n"
    "asks, answers = os.pipe(), os.pipe()\n"
    "if os.fork() == 0:\n"
    "    os.close(asks[1])\n"
    "    os.close(answers[0])\n"
    "    requests, replies = os.fdopen(asks[0]), os.fdopen(answers[1], 'w', buffering=1)\n"
    "    for line in requests:\n"
    "        fmt, value = line.split()\n"
    "        low = torch.tensor([float(value)], dtype=torch.float64).to(getattr(torch, NAMES[fmt]))\n"
    "        replies.write(repr(low.double().item()) + '\\n')\n"
    "    os._exit(0)\n"
    "os.close(asks[0])\n"
    "os.close(answers[1])\n"
    "REQUESTS, REPLIES = os.fdopen(asks[1], 'w', buffering=1), os.fdopen(answers[0])\n\n\n"
    "def round_to_format(x, fmt):\n"
    "    values = []\n"
    "    for value in x.reshape(-1).tolist():\n"
    "        REQUESTS.write(f'{fmt} {value!r}\\n')\n"
    "        values.append(float(REPLIES.readline()))\n"
    "    return torch.tensor(values, dtype=x.dtype).reshape(x.shape)\n")
