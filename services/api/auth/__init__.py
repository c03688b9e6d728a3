"""Authentication and authorisation: who is calling, and the one table of who may call what."""

from services.api.auth.dependencies import CSRF_HEADER, SESSION_COOKIE, CurrentPrincipal, authorize
from services.api.auth.permissions import ROLES, ROUTES, SUBMITS, Role, Rule
from services.api.auth.principal import Principal

__all__ = ["CSRF_HEADER", "ROLES", "ROUTES", "SESSION_COOKIE", "SUBMITS", "CurrentPrincipal",
           "Principal", "Role", "Rule", "authorize"]
