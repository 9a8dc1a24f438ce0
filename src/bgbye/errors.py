"""One error family for every front end.

Each error carries a stable machine code and the HTTP status the server answers with, so the
CLI, the server and the batch executors report the same failure the same way.
"""

from __future__ import annotations


class BgbyeError(Exception):
    """Base class: ``code`` is stable for clients, ``message`` is for a person."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidImageError(BgbyeError):
    """The bytes are not an image we can decode (corrupt, truncated, empty, wrong type)."""

    code = "invalid_image"
    http_status = 415


class EmptyInputError(BgbyeError):
    code = "empty_input"
    http_status = 400


class ImageTooLargeError(BgbyeError):
    """Byte or pixel limits exceeded; raised before the full decode."""

    code = "image_too_large"
    http_status = 413


class InvalidOptionError(BgbyeError):
    code = "invalid_option"
    http_status = 422


class UnknownModelError(BgbyeError):
    code = "unknown_model"
    http_status = 404


class ModelNotAvailableError(BgbyeError):
    """The model is known but its weights are not on disk (run ``bgbye models fetch``)."""

    code = "model_not_available"
    http_status = 503


class FetchError(BgbyeError):
    code = "fetch_failed"
    http_status = 502


class ChecksumMismatchError(FetchError):
    code = "checksum_mismatch"


class InvalidSpecError(BgbyeError):
    """A ModelSpec that is malformed or does not fit its ONNX graph."""

    code = "invalid_spec"
    http_status = 422


class LicenseNotAcceptedError(BgbyeError):
    """A non-commercial model was asked for without ``--accept-license`` / the env variable."""

    code = "license_not_accepted"
    http_status = 403


class ProviderError(BgbyeError):
    """An online provider refused or failed; ``message`` says what the user can do."""

    code = "provider_error"
    http_status = 502


class OutputError(BgbyeError):
    """The output could not be written (permissions, full disk)."""

    code = "output_error"
    http_status = 500
