"""`cost/estimate` from Modal's published sandbox prices: billed per second for
the CPU (physical cores) and memory a sandbox asks for.

Source: modal.com/pricing (the Sandboxes rate), as transcribed by third parties
— not readable from this machine, read through copies on 2026-12-06:
$0.00003942 per core-second and $0.00000672 per GiB-second (one copy says
$0.00000667; to confirm). An operator sets its own (`usd_per_core_second`,
`usd_per_gib_second`). Region and non-preemptible multipliers, and plans'
base prices and credits, are left out.
"""

from decimal import Decimal, InvalidOperation

from sandboxer_ext import invalid_argument

SOURCE = "Modal pricing (modal.com/pricing, Sandboxes) via third-party copies read 2026-12-06; to confirm"
# Modal's defaults when a sandbox asks for nothing.
DEFAULT_CORES = Decimal("0.125")
DEFAULT_MEMORY_MIB = 128


def price(options, name, default):
    value = options.get(name)
    if value is None:
        return Decimal(default)
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        parsed = Decimal(-1)
    if not parsed.is_finite() or parsed < 0:
        raise invalid_argument(f"options.{name}", f"option {name} must be a price of zero or more")
    return parsed


class Prices:
    def __init__(self, options):
        self.per_core_second = price(options, "usd_per_core_second", "0.00003942")
        self.per_gib_second = price(options, "usd_per_gib_second", "0.00000672")
        custom = any(options.get(n) is not None for n in ("usd_per_core_second", "usd_per_gib_second"))
        self.source = "options" if custom else SOURCE

    def estimate(self, cores, memory_mib, seconds):
        cores = Decimal(str(cores)) if cores is not None else DEFAULT_CORES
        gib = Decimal(memory_mib if memory_mib is not None else DEFAULT_MEMORY_MIB) / 1024
        per_second = cores * self.per_core_second + gib * self.per_gib_second
        amount = (per_second * seconds).normalize()
        return {"currency": "USD", "amount": float(amount), "amount_exact": str(amount),
                "breakdown": {"cores": float(cores), "memory_gib": float(gib),
                              "rate_per_hour": float(per_second * 3600), "seconds": seconds}}
