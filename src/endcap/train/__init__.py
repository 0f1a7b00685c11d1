"""The train role: fit the models the strategies serve from, and publish them."""
