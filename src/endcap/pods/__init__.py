"""Pods: placements on the storefront, their strategies, filters and rules."""
