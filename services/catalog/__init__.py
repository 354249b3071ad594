"""The catalogue: SKUs and prices."""
