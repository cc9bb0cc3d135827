"""The shared cases of the site's two calculators (tests/data/calculator_cases.json) are right, and
the Python package agrees with them; tests/test_book.py checks the calculators' JavaScript against
the same cases in Chromium.

Where the expected values come from: the GPU-memory cases are closed forms worked by hand (each
case's ``why``), and the package must reproduce them. The number-format cases are torch's own
casts, read back as bits with ``.view``, for every input that float32 holds exactly; torch casts a
float64 to the narrow formats through float32, so for the other inputs (0.1, pi, ...) the reference
is the nearest of all the format's codes, decoded by torch and compared exactly with fractions. The
INT8 cases are torch's float32 division, ``torch.round`` and ``torch.clamp``.
"""

import bisect
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from solutions.memory import (activation_bytes, gpt_activation_bytes, korthikanti_outside_layers_bytes, training_bytes,
                              zero_bytes_per_gpu)
from solutions.quantization import absmax_quantize, fake_quantize, float_bits, format_info, round_to_format

CASES = json.loads((Path(__file__).parent / "data" / "calculator_cases.json").read_text())
# format -> (torch dtype, the integer dtype that views its bits, bits, exponent bits)
DTYPES = {"fp32": (torch.float32, torch.int32, 32, 8), "fp16": (torch.float16, torch.int16, 16, 5),
          "bf16": (torch.bfloat16, torch.int16, 16, 8), "fp8_e4m3": (torch.float8_e4m3fn, torch.uint8, 8, 4),
          "fp8_e5m2": (torch.float8_e5m2, torch.uint8, 8, 5)}
FORMAT_CASES = [(case["x"], fmt, expected) for case in CASES["number_formats"] for fmt, expected in case["formats"].items()]


def as_float(text):
    """A value of the table: a decimal, or JavaScript's "NaN", "Infinity", "-Infinity"."""
    return float(text)


def same(a, b):
    """Equal as floats, -0.0 told from 0.0 and NaN equal to NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def bit_string(code, fmt):
    """``"sign|exponent|mantissa"`` of an integer code."""
    _, _, n_bits, exponent_bits = DTYPES[fmt]
    text = format(code & (2**n_bits - 1), f"0{n_bits}b")
    return f"{text[0]}|{text[1:1 + exponent_bits]}|{text[1 + exponent_bits:]}"


def torch_cast(x, fmt):
    """(bits, value) of torch's cast of the float64 ``x`` to ``fmt``."""
    dtype, int_view, _, _ = DTYPES[fmt]
    stored = torch.tensor([x], dtype=torch.float64).to(dtype)
    return bit_string(stored.view(int_view).item(), fmt), stored.double().item()


def fp32_holds(x):
    return not math.isfinite(x) or torch.tensor(x, dtype=torch.float32).item() == x


def codes(fmt):
    """Every finite value of a format of at most 16 bits with its code, sorted; torch decodes them."""
    dtype, int_view, n_bits, _ = DTYPES[fmt]
    values = torch.arange(2**n_bits, dtype=torch.int64).to(int_view).view(dtype).double().tolist()
    return sorted((v, c) for c, v in enumerate(values) if math.isfinite(v) and not (v == 0 and c))


def nearest_code(x, fmt):
    """The value of ``fmt`` nearest to the finite ``x`` (exact distances, ties to the even code). Past
    the largest value: infinity from the halfway point on, except E4M3, which has none and saturates."""
    table = codes(fmt)
    largest, second = table[-1][0], table[-2][0]
    if abs(x) > largest:
        beyond = largest + (largest - second)  # where the next binade would start
        overflows = fmt != "fp8_e4m3" and Fraction(abs(x)) - Fraction(largest) >= Fraction(beyond) - Fraction(abs(x))
        return math.copysign(math.inf if overflows else largest, x)
    i = bisect.bisect_left([v for v, _ in table], abs(x))
    value, _ = min((table[j] for j in (i - 1, i) if 0 <= j < len(table)),
                   key=lambda vc: (abs(Fraction(vc[0]) - Fraction(abs(x))), vc[1] & 1))
    return math.copysign(value, x)


@pytest.mark.parametrize("x, fmt, expected", FORMAT_CASES)
def test_format_case_is_what_torch_stores(x, fmt, expected):
    x = as_float(x)
    if fmt == "fp32" or fp32_holds(x):
        bits, value = torch_cast(x, fmt)
    else:
        value = nearest_code(x, fmt)
        bits, _ = torch_cast(value, fmt)  # value is exact in fmt: its bits, without a second rounding
    assert expected["bits"] == bits
    assert same(as_float(expected["value"]), value)


@pytest.mark.parametrize("fmt", ["fp16", "bf16", "fp8_e4m3", "fp8_e5m2"])
def test_the_nearest_code_reference_agrees_with_torch_where_both_apply(fmt):
    """The reference used for inputs float32 cannot hold, checked on those it can, ties and overflows included."""
    finite = [as_float(case["x"]) for case in CASES["number_formats"] if math.isfinite(as_float(case["x"]))]
    checked = [x for x in finite if fp32_holds(x)]
    assert len(checked) > 30
    for x in checked:
        assert same(nearest_code(x, fmt), torch_cast(x, fmt)[1]), x


@pytest.mark.parametrize("fmt, halfway, once", [("fp16", 1 + 2**-11, 1 + 2**-10), ("bf16", 1 + 2**-8, 1 + 2**-7),
                                                ("fp8_e4m3", 1 + 2**-4, 1 + 2**-3), ("fp8_e5m2", 1 + 2**-3, 1 + 2**-2)])
def test_torch_rounds_through_float32_which_the_calculator_does_not(fmt, halfway, once):
    """halfway + 2^-30 lies just above the format's halfway point between 1 and ``once``: rounded once it is
    ``once``, but torch first rounds it to the float32 ``halfway``, a tie that goes to the even 1."""
    x = halfway + 2**-30
    case = next(c for c in CASES["number_formats"] if as_float(c["x"]) == x)
    assert as_float(case["formats"][fmt]["value"]) == once
    assert torch_cast(x, fmt)[1] == 1.0
    assert round_to_format(torch.tensor(x, dtype=torch.float64), fmt).item() == once


@pytest.mark.parametrize("x, fmt, expected", FORMAT_CASES)
def test_format_case_rounding_error(x, fmt, expected):
    x, value = as_float(x), as_float(expected["value"])
    if math.isfinite(x) and math.isfinite(value):
        absolute = float(abs(Fraction(value) - Fraction(x)))  # exact, then rounded once
    else:
        absolute = abs(value - x)
    assert same(as_float(expected["abs_error"]), absolute)
    assert same(as_float(expected["rel_error"]), absolute / abs(x) if x else math.nan)


@pytest.mark.parametrize("x, fmt, expected", [(x, f, e) for x, f, e in FORMAT_CASES
                                              if math.isfinite(as_float(x)) and abs(as_float(x)) <= format_info(f)["max"]])
def test_solutions_quantization_agrees_in_range(x, fmt, expected):
    """round_to_format and float_bits take finite inputs up to the format's largest value."""
    x = as_float(x)
    assert same(round_to_format(torch.tensor(x, dtype=torch.float64), fmt).item(), as_float(expected["value"]))
    sign, exponent, mantissa = float_bits(x, fmt)
    _, _, n_bits, exponent_bits = DTYPES[fmt]
    code = (sign << (n_bits - 1)) | (exponent << (n_bits - 1 - exponent_bits)) | mantissa
    assert bit_string(code, fmt) == expected["bits"]


def test_format_cases_cover_the_edges():
    xs = {as_float(case["x"]) for case in CASES["number_formats"] if not math.isnan(as_float(case["x"]))}
    wanted = [0.0, 1 / 3, 65504.0, 65520.0, 448.0, 464.0, 57344.0, 61440.0, math.inf, -math.inf, 2.0**-24, 2.0**-25,
              2.0**-149, 2.0**-150, 1e-8, 1 + 2**-11, format_info("fp32")["max"]]
    assert not [x for x in wanted if x not in xs]
    assert any(case["x"] == "-0" for case in CASES["number_formats"]), "-0"
    assert any(math.isnan(as_float(case["x"])) for case in CASES["number_formats"]), "NaN"
    subnormal = {fmt for _, fmt, e in FORMAT_CASES if "1" not in e["bits"].split("|")[1] and "1" in e["bits"].split("|")[2]}
    assert subnormal == set(DTYPES), "a subnormal result in every format"


@pytest.mark.parametrize("case", CASES["int8"], ids=lambda c: f"{c['x']}/{c.get('absmax', c['scale'])}")
def test_int8_case(case):
    x = torch.tensor(as_float(case["x"]), dtype=torch.float32)
    if "absmax" in case:  # absmax_quantize's scale, max|x| / 127 in float32
        scale = torch.tensor(as_float(case["absmax"]), dtype=torch.float32) / 127
        q, package_scale = absmax_quantize(torch.stack([x, torch.tensor(as_float(case["absmax"]))]))
        assert q[0].item() == case["q"] and package_scale.item() == scale.item()
    else:
        scale = torch.tensor(as_float(case["scale"]), dtype=torch.float32)
    assert scale.item() == as_float(case["scale"])
    q = torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8)  # torch.round: ties to even
    assert q.item() == case["q"]
    assert same((q.float() * scale).item(), as_float(case["dequantized"]))  # an integer 0 has no sign: +0.0
    assert same(fake_quantize(x, scale, 0, -127, 127).item(), as_float(case["dequantized"]))


def test_int8_cases_cover_ties_clamping_and_zero():
    ratios = [as_float(c["x"]) / as_float(c["scale"]) for c in CASES["int8"]]
    assert any(abs(r) % 1 == 0.5 for r in ratios), "a tie"
    assert any(r > 127.5 for r in ratios) and any(r < -127.5 for r in ratios), "clamping on both sides"
    assert any(c["x"] == "-0" for c in CASES["int8"]) and any("absmax" in c for c in CASES["int8"])


def package_bytes_per_gpu(inputs):
    """The calculator's numbers from solutions.memory: training_bytes's model states sharded at the
    ZeRO stage (zero_bytes_per_gpu's rule), and the chosen activation formula."""
    n, n_gpus, stage = inputs["n_params"], inputs["n_gpus"], inputs["zero_stage"]
    states = training_bytes(n, inputs["precision"], inputs["optimizer"])
    per_gpu = {"weights": states["weights"] / (n_gpus if stage >= 3 else 1),
               "gradients": states["gradients"] / (n_gpus if stage >= 2 else 1),
               "optimizer": states["optimizer"] / (n_gpus if stage >= 1 else 1)}
    if inputs["precision"] == "mixed" and n:
        k = states["optimizer"] / n  # bytes of optimizer state per parameter: 4 (master) + 4 per state
        assert sum(per_gpu.values()) == zero_bytes_per_gpu(n, n_gpus, stage, k=k)
    shape = {key: inputs[key] for key in ("batch", "seq_len", "d_model", "n_heads", "n_layers")}
    formula = inputs["activations"]
    if formula == "none":
        per_gpu["activations"] = 0
    elif formula == "korthikanti":
        per_gpu["activations"] = activation_bytes(**shape)
    elif formula == "korthikanti_full":
        per_gpu["activations"] = activation_bytes(**shape) + korthikanti_outside_layers_bytes(
            inputs["seq_len"], inputs["batch"], inputs["d_model"], inputs["vocab_size"])
    else:
        per_gpu["activations"] = gpt_activation_bytes(**shape, vocab_size=inputs["vocab_size"],
                                                      attention={"gpt_flash": "flash", "gpt_math": "math"}[formula])
    per_gpu["total"] = sum(per_gpu.values())
    return per_gpu


@pytest.mark.parametrize("case", CASES["gpu_memory"], ids=lambda c: c["name"])
def test_gpu_memory_case_agrees_with_solutions_memory(case):
    expected = case["expected"]
    assert expected["total"] == sum(expected[k] for k in ("weights", "gradients", "optimizer", "activations"))
    assert package_bytes_per_gpu(case["inputs"]) == {k: v for k, v in expected.items() if k != "fits"}
    assert expected["fits"] == (expected["total"] <= case["inputs"]["gpu_bytes"])



# the parameter counts a reader types into the GPU-memory calculator (parseCount): Python's reading
SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def read_count(text):
    """A count as Python reads it, or None: Python's own number syntax (``float``, which takes
    underscores between digits) with commas only between groups of three digits, then one optional
    suffix, and never an exponent and a suffix together."""
    body = text.strip()
    suffix = body[-1].lower() if body and body[-1].lower() in SUFFIXES else ""
    number = body[:len(body) - len(suffix)].strip()
    whole, _, decimals = number.lower().split("e")[0].partition(".")
    if any(len(group) != 3 for group in whole.split(",")[1:]) or "," in decimals:
        return None  # a comma anywhere but between groups of three digits
    if suffix and "e" in number.lower() or number.endswith(".") or not number[:1].isdigit():
        return None
    try:
        return float(number.replace(",", "")) * SUFFIXES[suffix]
    except ValueError:
        return None


@pytest.mark.parametrize("case", CASES["parse_count"], ids=lambda c: repr(c["text"]))
def test_parse_count_case_agrees_with_python(case):
    assert read_count(case["text"]) == case["count"], case["why"]


def test_parse_count_cases_hold_the_reported_misreadings():
    """'7,5B' was read as 75e9 and '7e9B' as 7e18; both must now be refused, and 7.5B read."""
    by_text = {c["text"]: c["count"] for c in CASES["parse_count"]}
    assert by_text["7,5B"] is None and by_text["7e9B"] is None and by_text["7.5B"] == 7.5e9

def test_gpu_memory_cases_cover_every_choice():
    inputs = [c["inputs"] for c in CASES["gpu_memory"]]
    assert {i["zero_stage"] for i in inputs if i["n_gpus"] > 1} == {0, 1, 2, 3}
    assert {i["optimizer"] for i in inputs} == {"sgd", "sgd_momentum", "adamw"}
    assert {i["precision"] for i in inputs} == {"fp32", "mixed"}
    assert {i["activations"] for i in inputs} == {"none", "gpt_flash", "gpt_math", "korthikanti", "korthikanti_full"}
    exact = [c for c in CASES["gpu_memory"] if c["expected"]["total"] == c["inputs"]["gpu_bytes"]]
    assert exact and all(c["expected"]["fits"] for c in exact), "a case that just fits"
    assert any(not c["expected"]["fits"] and c["expected"]["total"] - c["inputs"]["gpu_bytes"] <= 132
               for c in CASES["gpu_memory"]), "a case that misses by a few bytes"
