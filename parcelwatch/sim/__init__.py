"""The network simulator: realistic scan and GPS streams with injected faults and the
ground truth of what parcelwatch must detect (`parcelwatch simulate`)."""
