"""The order aggregate: lines, delivery, totals, payment, and the rules that guard them."""
