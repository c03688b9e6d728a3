"""`ews users ...`: accounts and tokens from the command line (opens the store only, so it runs
beside a running `ews up`)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from services.api.users import service
from services.geography import load_geography
from services.settings import Settings
from services.store import Store

CLI_ACTOR = "cli"


def users_command(settings: Settings, action: str, *, name: str | None = None,
                  role: str | None = None, areas: list[str] | None = None,
                  labs: list[str] | None = None, email: str | None = None,
                  password_stdin: bool = False, label: str | None = None,
                  token_id: str | None = None, out: TextIO = sys.stdout,
                  stdin: TextIO = sys.stdin) -> int:
    """Run one `ews users` action; 0 on success, 1 with a message naming what to fix."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # an operator's command: no chatter
    store = Store(settings.store_url())
    try:
        match action:
            case "add":
                assert name is not None and role is not None
                password = None
                if password_stdin:
                    password = stdin.readline().rstrip("\r\n")
                account = service.create_account(
                    store, username=name, role=role, created_by=CLI_ACTOR, areas=areas or [],
                    labs=labs or [], email=email, password=password, geography=load_geography(),
                    reserved=[settings.default_submitter])
                print(f"added {account['username']} ({account['role']})"
                      + (f" areas {', '.join(account['areas'])}" if account["areas"] else "")
                      + (f" labs {', '.join(account['labs'])}" if account["labs"] else "")
                      + ("" if account["has_password"] else
                         "; no password: it signs in with tokens only (ews users token NAME)"),
                      file=out)
            case "list":
                for account in service.list_accounts(store):
                    tokens = [t for t in service.list_tokens(store, account["username"])
                              if t["revoked_at"] is None]
                    print("\t".join([
                        account["username"], account["role"],
                        "disabled" if account["disabled"] else "enabled",
                        ",".join(account["areas"]) or "-", ",".join(account["labs"]) or "-",
                        account["email"] or "-", f"{len(tokens)} token(s): "
                        + (",".join(t["token_id"] for t in tokens) or "-")]), file=out)
            case "token":
                assert name is not None
                made = service.create_token(store, name, created_by=CLI_ACTOR, label=label)
                print(f"token {made['token_id']} for {name} (shown once, keep it safe):", file=out)
                print(made["token"], file=out)
            case "revoke-token":
                assert token_id is not None
                if not service.revoke_token(store, token_id):
                    print(f"no token {token_id!r} (ews users list shows them)", file=out)
                    return 1
                print(f"revoked token {token_id}", file=out)
            case "disable":
                assert name is not None
                service.disable_account(store, name)
                print(f"disabled {name}: its sessions ended, its tokens no longer work", file=out)
            case _:
                raise AssertionError(action)
    except service.UserError as exc:
        print(f"ews users {action}: {exc}", file=out)
        return 1
    finally:
        store.close()
    return 0
