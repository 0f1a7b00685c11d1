"""Choose the embedding provider from settings."""

from __future__ import annotations

from endcap.semantic import local
from endcap.semantic.provider import EmbeddingProvider, SemanticUnavailable
from endcap.settings import ServeSettings


def make_provider(settings: ServeSettings) -> EmbeddingProvider:
    """The provider ``settings.embeddings`` names; raises :class:`SemanticUnavailable`
    with what to install or set when it cannot run here."""
    mode = settings.embeddings
    if mode == "off":
        raise SemanticUnavailable("semantic features are switched off (ENDCAP_EMBEDDINGS=off)")
    if mode == "remote" or (mode == "auto" and settings.embeddings_url
                            and not local.available()):
        if not settings.embeddings_url:
            raise SemanticUnavailable("ENDCAP_EMBEDDINGS=remote needs ENDCAP_EMBEDDINGS_URL")
        from endcap.semantic.remote import RemoteProvider

        return RemoteProvider(settings.embeddings_url, model=settings.embeddings_model,
                              api_key=settings.embeddings_api_key,
                              timeout=settings.embeddings_timeout_seconds,
                              retries=settings.embeddings_retries,
                              batch_size=settings.embeddings_batch_size)
    if not local.available():
        raise SemanticUnavailable(local.INSTALL_HINT)
    return local.LocalProvider(batch_size=settings.embeddings_batch_size)
