"""Who may call what: the one table of the API's permissions (DESIGN.md, users and permissions).

Every route under /v1 is a row of `ROUTES`; the API refuses to start with a route missing from
it, and `authorize` (services/api/auth/dependencies.py) enforces it on every request. What a row
allows is then narrowed inside the route, by ownership and area, as its `narrowed` says. The
authorisation test iterates this table: every route x every role, and anonymous callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["clinical", "forensic", "intelligence", "public_health", "admin"]

CLINICAL: Role = "clinical"
FORENSIC: Role = "forensic"
INTELLIGENCE: Role = "intelligence"
PUBLIC_HEALTH: Role = "public_health"
ADMIN: Role = "admin"
ROLES: tuple[Role, ...] = (CLINICAL, FORENSIC, INTELLIGENCE, PUBLIC_HEALTH, ADMIN)

ROLE_TITLES: dict[Role, str] = {
    CLINICAL: "NPS clinical network (clinicians, toxicologists)",
    FORENSIC: "forensic provider (FEWS lab, drug-checking service)",
    INTELLIGENCE: "police and prison intelligence",
    PUBLIC_HEALTH: "public-health lead",
    ADMIN: "administrator",
}

# Which inputs each role submits. The submitter of a record is the signed-in account (for a
# forensic result, with its lab_id, which must be one of the account's labs).
SUBMITS: dict[Role, frozenset[str]] = {
    CLINICAL: frozenset({"ridr", "death"}),
    FORENSIC: frozenset({"forensic", "market"}),
}

# Alert statuses each role may read at all (public-health leads: any status within their
# areas, published elsewhere; see services/api/alerts/access.py).
ALERT_STATUSES_VISIBLE: dict[Role, frozenset[str] | None] = {
    CLINICAL: None,  # every status
    INTELLIGENCE: frozenset({"confirmed", "published"}),
    FORENSIC: frozenset({"published"}),
    PUBLIC_HEALTH: frozenset({"published"}),  # outside their areas; everything within them
}

ALL = frozenset(ROLES)
READERS = frozenset({CLINICAL, FORENSIC, INTELLIGENCE, PUBLIC_HEALTH})


@dataclass(frozen=True)
class Rule:
    """Who may call one route.

    Args:
        roles: the roles allowed; any other signed-in account gets 403.
        open: allowed without any account while no account exists at all (the embedded
            default's first run); once one account exists, every route needs one.
        narrowed: what the route narrows further, by ownership, area or status.
    """

    roles: frozenset[str]
    open: bool = False
    narrowed: str = ""


ROUTES: dict[tuple[str, str], Rule] = {
    # Who am I; reference data.
    ("GET", "/v1/me"): Rule(ALL, open=True),
    ("GET", "/v1/areas"): Rule(ALL, open=True),
    ("GET", "/v1/areas/geometry"): Rule(ALL, open=True,
                                        narrowed="public boundaries (OGL): the dashboard's maps"),
    ("GET", "/v1/schemas/{source}"): Rule(ALL, open=True),
    # Submitting reports.
    ("POST", "/v1/reports/{source}"): Rule(
        frozenset({CLINICAL, FORENSIC}), open=True,
        narrowed="clinical: ridr, death; forensic: forensic, market, for its own labs only"),
    ("POST", "/v1/reports/{source}/files"): Rule(
        frozenset({CLINICAL, FORENSIC}), open=True,
        narrowed="as above; rows naming another lab are dead-lettered"),
    ("GET", "/v1/deadletter"): Rule(frozenset({ADMIN}), open=True,
                                    narrowed="every submitter's: operations only"),
    ("POST", "/v1/deadletter/replay"): Rule(frozenset({ADMIN}), open=True,
                                            narrowed="every submitter's, each checked as its account now is"),
    # The processing state of one's own submissions.
    ("GET", "/v1/submissions"): Rule(frozenset({CLINICAL, FORENSIC}), narrowed="own only"),
    ("GET", "/v1/submissions/deadletters"): Rule(frozenset({CLINICAL, FORENSIC}),
                                                 narrowed="own only"),
    ("GET", "/v1/submissions/{submission_id}"): Rule(frozenset({CLINICAL, FORENSIC}),
                                                     narrowed="own only (404 otherwise)"),
    # Alerts.
    ("GET", "/v1/alerts"): Rule(
        READERS, open=True,
        narrowed="clinical: all; intelligence: confirmed/published; forensic: published; "
                 "public health: all within their areas, published elsewhere"),
    ("GET", "/v1/alerts/{alert_id}"): Rule(
        READERS, open=True,
        narrowed="as the search; case-level evidence, comments and reviewers' reasons only for "
                 "clinical, and for public health within their areas (404 when not visible)"),
    ("GET", "/v1/alerts/{alert_id}/series"): Rule(
        frozenset({CLINICAL, PUBLIC_HEALTH}), open=True,
        narrowed="only where the caller sees the alert in full (clinical; public health within "
                 "their areas; 404 otherwise): weekly counts of one area include counts of 1-4, "
                 "which intelligence users see only as <5 at /v1/trends"),
    ("GET", "/v1/alerts/{alert_id}/structure.svg"): Rule(
        READERS, open=True,
        narrowed="as the alert (404 when not visible, or a class alert with no one structure)"),
    ("GET", "/v1/signals"): Rule(frozenset({CLINICAL}), open=True,
                                 narrowed="detector hits carry report keys: clinical only"),
    # Review (the clinical network).
    ("GET", "/v1/review/queue"): Rule(frozenset({CLINICAL})),
    ("POST", "/v1/alerts/{alert_id}/status"): Rule(frozenset({CLINICAL})),
    ("POST", "/v1/alerts/{alert_id}/severity"): Rule(frozenset({CLINICAL})),
    ("POST", "/v1/alerts/{alert_id}/assignment"): Rule(frozenset({CLINICAL})),
    ("POST", "/v1/alerts/{alert_id}/comments"): Rule(frozenset({CLINICAL})),
    # Trends (counts only, perturbed; small ones shown as <5).
    ("GET", "/v1/trends"): Rule(frozenset({INTELLIGENCE, CLINICAL, PUBLIC_HEALTH})),
    ("GET", "/v1/trends.csv"): Rule(frozenset({INTELLIGENCE, CLINICAL, PUBLIC_HEALTH})),
    # Subscriptions and what was sent.
    ("GET", "/v1/subscriptions"): Rule(frozenset({PUBLIC_HEALTH}), narrowed="own only"),
    ("POST", "/v1/subscriptions"): Rule(frozenset({PUBLIC_HEALTH}),
                                        narrowed="areas within the account's areas"),
    ("DELETE", "/v1/subscriptions/{subscription_id}"): Rule(frozenset({PUBLIC_HEALTH}),
                                                            narrowed="own only (404 otherwise)"),
    ("GET", "/v1/notifications"): Rule(frozenset({PUBLIC_HEALTH, ADMIN}),
                                       narrowed="public health: own; admin: all"),
    ("POST", "/v1/notifications/digest"): Rule(frozenset({ADMIN})),
    ("GET", "/v1/outbox"): Rule(frozenset({PUBLIC_HEALTH, ADMIN}),
                                narrowed="public health: messages to them; admin: all"),
    ("GET", "/v1/outbox/{name}"): Rule(frozenset({PUBLIC_HEALTH, ADMIN}),
                                       narrowed="as the list (404 otherwise)"),
    # Accounts and tokens.
    ("GET", "/v1/users"): Rule(frozenset({ADMIN})),
    ("POST", "/v1/users"): Rule(frozenset({ADMIN})),
    ("PATCH", "/v1/users/{username}"): Rule(frozenset({ADMIN})),
    ("GET", "/v1/users/{username}/tokens"): Rule(frozenset({ADMIN})),
    ("POST", "/v1/users/{username}/tokens"): Rule(frozenset({ADMIN})),
    ("DELETE", "/v1/tokens/{token_id}"): Rule(frozenset({ADMIN})),
}

# Outside /v1: open to everyone (the sign-in page must be reachable before signing in).
PUBLIC_PATHS: frozenset[str] = frozenset({"/healthz", "/readyz", "/metrics", "/signin", "/web/{name}", "/docs",
                                         "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
# The dashboard's pages (services/api/pages.py): the roles of the API each one reads. Nobody
# signed in: the sign-in form; a role not listed: 403 (open mode: every page).
PAGES: dict[str, frozenset[str]] = {
    "/": ALL,  # the alert list (an administrator sees only the navigation)
    "/alerts/{alert_id}": ROUTES[("GET", "/v1/alerts/{alert_id}")].roles,
    "/trends": ROUTES[("GET", "/v1/trends")].roles,
    "/submissions": ROUTES[("GET", "/v1/submissions")].roles,
}
# Outside /v1 but for a signed-in browser only (and CSRF-checked).
SESSION_PATHS: frozenset[str] = frozenset({"/signout"})


def rule_for(method: str, path: str) -> Rule | None:
    return ROUTES.get((method.upper(), path))
