"""An independent computation of contract section 7, for checking `govops cost --jsonl`.

Written from the contract's text, not from the Rust code: prices are read from the table's JSON
text as Python Decimals (never floats), and every rule is applied as section 7 states it.

Usage: python3 cost_oracle.py TABLE.json REQUESTS.jsonl  -> one line per request:
the exact cost as a plain decimal, "unpriced", or "error".
"""

import json
import re
import sys
from decimal import Decimal, getcontext

getcontext().prec = 200

SERVICE_SUFFIX = {"standard": None, "batch": "_batches", "flex": "_flex", "priority": "_priority"}


def find(table, model, provider):
    if model in table:
        return table[model]
    if provider and f"{provider}/{model}" in table:
        return table[f"{provider}/{model}"]
    if "/" in model:
        bare = model.split("/", 1)[1]
        if bare in table:
            return table[bare]
    return None


def number(value):
    return value if isinstance(value, Decimal) else None


def rate(entry, key, input_tokens, tier):
    """The rate of `key`: the highest long-context tier passed, then the service tier's own rate."""
    chosen = None
    pattern = re.compile(re.escape(key) + r"_above_(\d+)k_tokens")
    for field, value in entry.items():
        match = pattern.fullmatch(field)
        if match and number(value) is not None and input_tokens > int(match.group(1)) * 1000:
            n = int(match.group(1))
            if chosen is None or n > chosen[0]:
                chosen = (n, field)
    base = chosen[1] if chosen is not None else key
    suffix = SERVICE_SUFFIX[tier]
    # The service tier's own rate where the table has it, else the rate the tier step chose.
    if suffix and number(entry.get(base + suffix)) is not None:
        return entry[base + suffix]
    return number(entry.get(base))


def first(*rates):
    for r in rates:
        if r is not None:
            return r
    return None


def cost(table, request):
    model = request["model"]
    provider = request.get("provider")
    i = request["input_tokens"]
    o = request.get("output_tokens", 0)
    cr = request.get("cache_read_tokens", 0)
    cc = request.get("cache_creation_tokens", 0)
    cc1 = request.get("cache_creation_1h_tokens", 0)
    r = request.get("reasoning_tokens", 0)
    tier = request.get("service_tier") or "standard"
    if cr + cc + cc1 > i or r > o:
        return "error"
    entry = find(table, model, provider)
    if entry is None or number(entry.get("input_cost_per_token")) is None:
        return "unpriced"
    input_rate = rate(entry, "input_cost_per_token", i, tier)
    read_rate = first(
        rate(entry, "cache_read_input_token_cost", i, tier),
        rate(entry, "input_cost_per_token_cache_hit", i, tier),
        input_rate,
    )
    write_rate = first(rate(entry, "cache_creation_input_token_cost", i, tier), input_rate)
    write_1h_rate = first(rate(entry, "cache_creation_input_token_cost_above_1hr", i, tier), write_rate)
    output_rate = rate(entry, "output_cost_per_token", i, tier)
    if output_rate is None:
        if o > 0:
            return "unpriced"
        output_rate = Decimal(0)
    reasoning_rate = first(rate(entry, "output_cost_per_reasoning_token", i, tier), output_rate)
    total = (
        (i - cr - cc - cc1) * input_rate
        + cr * read_rate
        + cc * write_rate
        + cc1 * write_1h_rate
        + (o - r) * output_rate
        + r * reasoning_rate
    )
    return format(total.normalize(), "f")


def main():
    with open(sys.argv[1]) as f:
        table = json.load(f, parse_float=Decimal, parse_int=Decimal)
    with open(sys.argv[2]) as f:
        for line in f:
            print(cost(table, json.loads(line)))


main()
