"""``agentscope-faas``: talk to an agent, look after its sessions and sandboxes, run it here.

Every command takes --url, --token and --user (before or after the command's name), with
defaults from the environment. Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from .http import Api, CliError

LOCAL_URL = "http://127.0.0.1:8090"

EPILOG = """\
environment:
  AGENTSCOPE_URL          the query function (default http://127.0.0.1:8090, the emulator)
  AGENTSCOPE_STATE_URL    the state function for `sessions` (default: AGENTSCOPE_URL; the
                          emulator relays /v1/users/... from the query port)
  AGENTSCOPE_SANDBOX_URL  the sandbox function for `sandbox` (default: AGENTSCOPE_URL, relayed
                          likewise)
  AGENTSCOPE_TOKEN        a bearer JWT, for functions run with AUTH_MODE=jwt
  AGENTSCOPE_USER         the user to act for (default: the token's, else the functions')

exit status: 0 done; 1 the request or the turn failed; 2 a usage error; 130 interrupted.

`agentscope-faas COMMAND --help` explains each command."""


def _common(suppress: bool) -> argparse.ArgumentParser:
    """--url/--token/--user; on subcommands they default to "not given" so that values put
    before the command's name are kept."""
    parser = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=default,
        help="the function this command calls: query for chat/invoke (AGENTSCOPE_URL), state "
        "for sessions (AGENTSCOPE_STATE_URL), sandbox for sandbox (AGENTSCOPE_SANDBOX_URL); "
        "the query function for playground",
    )
    group.add_argument(
        "--token",
        default=default,
        help="bearer JWT for AUTH_MODE=jwt (AGENTSCOPE_TOKEN; `agentscope-faas token` makes a "
        "development one)",
    )
    group.add_argument(
        "--user",
        default=default,
        help="the user to act for (AGENTSCOPE_USER): the token's own unless it is an admin's; "
        "for `token`, the token's subject",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _common(suppress=True)
    parser = argparse.ArgumentParser(
        prog="agentscope-faas",
        description="Talk to an agent, look after its sessions and sandboxes, run it here.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(suppress=False)],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, description: str = "") -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=description or help,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    chat = command(
        "chat",
        "chat with the agent in the terminal",
        "An interactive chat: each line you type is a message (a ``` fence keeps reading until "
        "it is closed); the answer streams as it comes, tool calls and their output on lines "
        "of their own. The session is remembered per URL and user "
        "($XDG_STATE_HOME/agentscope-faas/sessions.json), so the next `chat` continues it. "
        "Ctrl-C during an answer stops the turn; /new starts a new session; Ctrl-D leaves. "
        "Reads standard input when it is not a terminal.",
    )
    chat.add_argument("--session", help="continue this session (default: the last one)")
    chat.add_argument("--new", action="store_true", help="start a new session")

    invoke = command(
        "invoke",
        "send one message and print the events",
        "One request to POST /process: prints each event of the stream as a JSON line (the "
        "seed's event stream), the final response with --json, or the answer as text with "
        "--text. Exits 1 when the turn does not complete.",
    )
    invoke.add_argument("text", nargs="?", help="the message (default, or '-': standard input)")
    invoke.add_argument("--session", help="the session to continue (default: a new one)")
    output = invoke.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="one non-streamed request; print its response"
    )
    output.add_argument(
        "--text", dest="as_text", action="store_true", help="print the answer as text"
    )

    sessions = command("sessions", "list, show or delete sessions (the state function)")
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help in (
        ("list", "the user's sessions, latest first"),
        ("show", "one session's messages"),
        ("delete", "delete a session's history and state"),
    ):
        action = actions.add_parser(name, help=help, description=help, parents=[common])
        if name != "list":
            action.add_argument("session_id")
        if name != "delete":
            action.add_argument("--json", action="store_true", help="print the JSON answer")

    sandbox = command("sandbox", "create, list, use and remove sandboxes (the sandbox function)")
    actions = sandbox.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="a new sandbox (prints its id)", parents=[common])
    create.add_argument("--type", default="base", help="base, filesystem, ... (default base)")
    create.add_argument("--session", help="the session's sandbox of this type (made if absent)")
    create.add_argument("--ttl", type=float, help="idle lifetime in seconds")
    create.add_argument("--json", action="store_true", help="print the JSON answer")
    ls = actions.add_parser("ls", help="the user's live sandboxes", parents=[common])
    ls.add_argument("--json", action="store_true", help="print the JSON answer")
    exec_ = actions.add_parser(
        "exec",
        help="run Python (run_ipython_cell) or, with --shell, a command in a sandbox",
        parents=[common],
    )
    exec_.add_argument("sandbox_id")
    exec_.add_argument("code", help="the code or command ('-': standard input)")
    exec_.add_argument("--shell", action="store_true", help="a shell command")
    exec_.add_argument("--timeout", type=float, help="seconds the call may take")
    exec_.add_argument("--json", action="store_true", help="print the tool's JSON result")
    tools = actions.add_parser("tools", help="the tools a sandbox offers", parents=[common])
    tools.add_argument("sandbox_id")
    tools.add_argument("--json", action="store_true", help="print the JSON answer")
    rm = actions.add_parser("rm", help="remove sandboxes", parents=[common])
    rm.add_argument("sandbox_ids", nargs="+", metavar="sandbox_id")

    local = command(
        "local",
        "run every function here (what `make local` runs)",
        "Builds the sandbox images (step lines; skipped with --no-images), then serves the "
        "query (with the playground at /), state and sandbox functions and the offline model "
        "on 127.0.0.1, as `python -m local_emulator` does. With --artifacts it builds the zips "
        "for this machine first and runs those.",
    )
    local.add_argument("--store", choices=("file", "s3", "oss"), default="file")
    local.add_argument(
        "--sandbox-backend",
        choices=("docker", "fc", "agentrun"),
        help="where sandboxes run (default: SANDBOX_BACKEND, else docker)",
    )
    local.add_argument("--artifacts", action="store_true", help="run the packaged zips")
    local.add_argument("--platform", choices=("aws", "fc"), default="aws", help="with --artifacts")
    local.add_argument("--host", help="bind address (default 127.0.0.1)")
    local.add_argument("--no-images", action="store_true", help="do not build sandbox images")

    server = command(
        "sandbox-server",
        "serve the sandbox function alone, configured from an env file",
        "As AgentScope Runtime's `runtime-sandbox-server --config fc.env`: the sandbox function "
        "on 127.0.0.1, its settings from the environment and the file (the environment wins). "
        "The seed's names are read too: CONTAINER_DEPLOYMENT=docker|fc|agentrun (our "
        "SANDBOX_BACKEND), FC_ACCESS_KEY_ID/SECRET, AGENT_RUN_ACCESS_KEY_ID/SECRET, "
        "FC_REGION_ID, AGENT_RUN_REGION_ID, AGENT_RUN_ACCOUNT_ID and, from the file only, "
        "HOST, PORT, POOL_SIZE, DEFAULT_SANDBOX_TYPE, HEARTBEAT_TIMEOUT.",
    )
    server.add_argument("--config", metavar="FILE.env", help="KEY=value lines")
    server.add_argument("--port", type=int, help="default: PORT in the file, else SANDBOX_PORT")
    server.add_argument("--host", help="bind address (default 127.0.0.1)")

    page = command(
        "playground",
        "serve the playground page alone, for a deployment",
        "Serves the chat page on 127.0.0.1 and points it at --url (the query function) and "
        "the state and sandbox functions. The page calls them from this origin, so the "
        "deployment must list it in CORS_ALLOW_ORIGINS. (`local` serves the page too, at "
        "http://127.0.0.1:8090/.)",
    )
    page.add_argument("--state-url", default=os.environ.get("AGENTSCOPE_STATE_URL"))
    page.add_argument("--sandbox-url", default=os.environ.get("AGENTSCOPE_SANDBOX_URL"))
    page.add_argument("--port", type=int, default=8095, help="default 8095")
    page.add_argument(
        "--auth",
        choices=("jwt", "none"),
        default=os.environ.get("AUTH_MODE", "jwt"),
        help="whether the functions want a token (default: AUTH_MODE, else jwt)",
    )

    for name, script in (("images", "sandbox_images/build.py"), ("package", "packaging/build.py")):
        help = "build the sandbox images" if name == "images" else "build the function zips"
        sub = command(
            name, help, f"{help}: runs {script} with the arguments given (--help: its own)."
        )
        sub.add_argument("rest", nargs=argparse.REMAINDER, help=f"arguments for {script}")

    token = command(
        "token",
        "print a development JWT (AUTH_MODE=jwt with AUTH_JWT_SECRET)",
        "A token for --user signed with AUTH_JWT_SECRET (and AUTH_ISSUER / AUTH_AUDIENCE when "
        "set), as `python -m local_emulator token` makes. Never for production.",
    )
    token.add_argument("--admin", action="store_true", help="may act for any user")
    token.add_argument("--ttl", type=float, default=3600, help="lifetime in seconds (3600)")
    return parser


def _env_url(*names: str) -> str:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return LOCAL_URL


def _user_of(token: str | None) -> str | None:
    """The user a token names (its AUTH_USER_CLAIM), read without verifying it: only to
    build paths; the function verifies the token itself."""
    if not token:
        return None
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    value = claims.get(os.environ.get("AUTH_USER_CLAIM", "sub"))
    return value if isinstance(value, str) else None


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("AGENTSCOPE_TOKEN") or None
    args.user = args.user or os.environ.get("AGENTSCOPE_USER") or None
    command = args.command
    if command == "token":
        return _token(args)
    if command in ("local", "sandbox-server", "playground", "images", "package"):
        from . import servers

        if command == "playground":
            args.url = args.url or _env_url("AGENTSCOPE_URL")
        handler: Callable[[argparse.Namespace], int] = {
            "local": servers.local,
            "sandbox-server": servers.sandbox_server,
            "playground": servers.playground,
            "images": servers.images,
            "package": servers.package,
        }[command]
        return handler(args)
    if command in ("chat", "invoke"):
        from . import turns

        url = args.url or _env_url("AGENTSCOPE_URL")
        with Api(url, token, "query") as api:
            if command == "invoke":
                return turns.invoke(args, api)
            return turns.chat(args, api, lambda: Api(url, token, "query"))
    from . import resources

    if command == "sessions":
        url = args.url or _env_url("AGENTSCOPE_STATE_URL", "AGENTSCOPE_URL")
        user = args.user or _user_of(token) or "default"
        with Api(url, token, "state") as api:
            return resources.sessions(args, api, user)
    url = args.url or _env_url("AGENTSCOPE_SANDBOX_URL", "AGENTSCOPE_URL")
    with Api(url, token, "sandbox") as api:
        return resources.sandbox(args, api)


def _token(args: argparse.Namespace) -> int:
    from local_emulator.tokens import dev_token

    if not args.user:
        raise CliError("token: say whose token with --user (or AGENTSCOPE_USER)", 2)
    try:
        print(dev_token(args.user, admin=args.admin, ttl_s=args.ttl))
    except ValueError as exc:
        raise CliError(f"token: {exc}", 2) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("url", "token", "user"):  # given neither before nor after the command
        if not hasattr(args, name):
            setattr(args, name, None)
    try:
        code = run(args)
    except CliError as exc:
        print(f"agentscope-faas: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left
        return 0
    except ModuleNotFoundError as exc:  # installed without what this command runs
        print(
            f"agentscope-faas: {args.command} needs the package {exc.name!r}: install the "
            "project with its extras (make install, or pip install -e '.[dev]')",
            file=sys.stderr,
        )
        return 1
    return code


def entry() -> None:
    """The console script."""
    sys.exit(main())
