"""What can go wrong with an online provider, one class per thing a person can act on.

Every class is a :class:`bgbye.errors.ProviderError`, so front ends that only know the base family
still report the right code and status. ``http_status`` is what *our* server answers: a client's
image the provider refused is the client's problem (422), an exhausted account or a bad key is
the operator's (402, 502), a rate limit is passed on with its wait (429 + ``retry_after``).
"""

from __future__ import annotations

from bgbye.errors import ProviderError


class ProviderCallError(ProviderError):
    """Base for errors raised by a provider client; knows the provider and its HTTP status."""

    def __init__(self, message: str, *, provider: str, upstream_status: int | None = None):
        super().__init__(message)
        self.provider = provider
        self.upstream_status = upstream_status


class ProviderAuthError(ProviderCallError):
    """401/403: the key is missing, wrong or revoked. The operator must fix the key."""

    code = "provider_auth_failed"
    http_status = 502


class ProviderCreditsError(ProviderCallError):
    """402: the provider account has no credits left."""

    code = "provider_out_of_credits"
    http_status = 402


class ProviderRateLimitError(ProviderCallError):
    """429 that outlasted our retries, or asked for a longer wait than we are willing to block."""

    code = "provider_rate_limited"
    http_status = 429

    def __init__(
        self, message: str, *, provider: str, upstream_status: int | None = 429,
        retry_after: float | None = None,
    ):
        super().__init__(message, provider=provider, upstream_status=upstream_status)
        self.retry_after = retry_after  # seconds; a server can send it on as Retry-After


class ProviderRejectedImageError(ProviderCallError):
    """400/413/415: the provider refused this image (no foreground, too large, bad type...)."""

    code = "provider_rejected_image"
    http_status = 422


class ProviderUnavailableError(ProviderCallError):
    """5xx or network failure that outlasted our retries."""

    code = "provider_unavailable"
    http_status = 502


class ProviderTimeoutError(ProviderUnavailableError):
    code = "provider_timeout"
    http_status = 504


class ProviderBadResponseError(ProviderCallError):
    """A 200 whose body is not a usable image, or a status we do not understand."""

    code = "provider_bad_response"
    http_status = 502


class ProviderNotConfiguredError(ProviderCallError):
    """Raised inside fallback lists when a provider has no key (alone it is mocked instead)."""

    code = "provider_not_configured"
    http_status = 503
