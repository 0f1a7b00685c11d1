"""Semantic discovery: item and query embeddings from a language model, an ANN index
over them, free-text intents and the content-based side of the strategies.

Everything here that needs the model is optional: without the ``semantic`` extra the
service runs, and the semantic strategies say they are unavailable.
"""
