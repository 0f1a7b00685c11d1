"""Storage: small protocols, one per way of using state, and their back-ends."""
