"""The service's own errors: one base, so callers (and the server's error mapping) can tell a
misconfiguration or a refused operation of ours from a library's bug.

Every error the service raises on purpose derives from `ServiceError`; where a stdlib base changes
how the server answers (a `ValueError` message is shown to the client, a `PermissionError` is a
refusal), the error keeps that base as well. The concern-specific errors live beside their code
(`sandboxes.provider.SandboxError`, `tenancy.identity.IdentityError`, ...); this module holds the
base and the errors every package may raise.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the service raises on purpose; its message says what to do."""


class ConfigurationError(ServiceError, RuntimeError):
    """A setting is missing or invalid; the message names the variable and the fix."""
