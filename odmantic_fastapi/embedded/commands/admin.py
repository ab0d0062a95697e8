"""Handshake, identity and server-wide commands: hello, buildInfo, serverStatus, parameters."""

import asyncio
import datetime
import os
import platform
from typing import Any

from bson import Int64, Timestamp

from ..auth import MECHANISM
from ..errors import CommandError
from ..wire import MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE
from ._base import COMMANDS, Context, command

__all__ = ["MAX_WIRE_VERSION", "SERVER_VERSION"]

# MongoDB 7.0 speaks wire version 21.
SERVER_VERSION = "7.0.14"
MAX_WIRE_VERSION = 21
MAX_WRITE_BATCH_SIZE = 100_000
REPLICA_SET_NAME = "rs0"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


async def _await_topology_change(ctx: Context) -> None:
    """Awaitable hello: a monitor that already knows our topology waits for a change.

    Drivers poll with ``topologyVersion`` and ``maxAwaitTimeMS``; answering at
    once would make every client's monitor spin, so we wait as mongod does. A
    single node's topology never changes, so the wait always runs its course.
    """
    known = ctx.cmd.get("topologyVersion")
    max_await = ctx.cmd.get("maxAwaitTimeMS")
    if (
        isinstance(known, dict)
        and known.get("processId") == ctx.server.process_id
        and isinstance(max_await, int | float)
        and not isinstance(max_await, bool)
        and max_await > 0
    ):
        await asyncio.sleep(min(float(max_await), 60_000.0) / 1000)


@command("hello", "isMaster", "ismaster")
async def hello(ctx: Context) -> dict[str, Any]:
    await _await_topology_change(ctx)
    server = ctx.server
    address = server.advertised_address
    now = _now()
    op_time = {
        "ts": Timestamp(int(now.timestamp()), max(server.store.clock, 1) % 2**31),
        "t": Int64(1),
    }
    reply: dict[str, Any] = {
        "topologyVersion": {"processId": server.process_id, "counter": Int64(0)},
        "hosts": [address],
        "setName": REPLICA_SET_NAME,
        "setVersion": 1,
        "isWritablePrimary": True,
        "secondary": False,
        "primary": address,
        "me": address,
        "electionId": server.election_id,
        "lastWrite": {
            "opTime": op_time,
            "lastWriteDate": now,
            "majorityOpTime": op_time,
            "majorityWriteDate": now,
        },
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
        "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
        "localTime": now,
        "logicalSessionTimeoutMinutes": server.sessions.session_timeout_seconds // 60,
        "connectionId": ctx.connection.connection_id,
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": False,
        "ok": 1.0,
    }
    if ctx.name != "hello":
        del reply["isWritablePrimary"]
        reply = {"ismaster": True, **reply}
    if ctx.cmd.get("helloOk"):
        reply["helloOk"] = True
    mechanisms_for = ctx.cmd.get("saslSupportedMechs")
    if isinstance(mechanisms_for, str) and server.users.enabled:
        user = mechanisms_for.partition(".")[2]
        if server.users.get(user) is not None:
            reply["saslSupportedMechs"] = [MECHANISM]
    client = ctx.cmd.get("client")
    if isinstance(client, dict) and ctx.connection.client_metadata is None:
        ctx.connection.client_metadata = client
    return reply


@command("ping")
async def ping(ctx: Context) -> dict[str, Any]:
    return {"ok": 1.0}


@command("buildInfo", "buildinfo")
async def build_info(ctx: Context) -> dict[str, Any]:
    return {
        "version": SERVER_VERSION,
        "gitVersion": "odmantic-fastapi-embedded",
        "versionArray": [int(p) for p in SERVER_VERSION.split(".")] + [0],
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["embedded"],
        "modules": [],
        "javascriptEngine": "none",
        "ok": 1.0,
    }


@command("serverStatus")
async def server_status(ctx: Context) -> dict[str, Any]:
    server = ctx.server
    uptime = (_now() - server.started_at).total_seconds()
    return {
        "host": server.advertised_address,
        "version": SERVER_VERSION,
        "process": "mongod",
        "pid": Int64(os.getpid()),
        "uptime": float(int(uptime)),
        "uptimeMillis": Int64(int(uptime * 1000)),
        "localTime": _now(),
        "connections": {
            "current": len(server.connections),
            "available": max(server.config.max_connections - len(server.connections), 0),
            "totalCreated": server.total_connections,
        },
        "metrics": {
            "cursor": {
                "open": {"total": Int64(len(server.cursors.cursors))},
                "timedOut": Int64(server.cursors.timed_out),
            }
        },
        "transactions": server.sessions.stats(),
        "logicalSessionRecordCache": {"activeSessionsCount": len(server.sessions.sessions)},
        "storageEngine": {"name": "embedded", "persistent": server.journal is not None},
        "ok": 1.0,
    }


@command("hostInfo")
async def host_info(ctx: Context) -> dict[str, Any]:
    return {
        "system": {
            "hostname": platform.node(),
            "cpuArch": platform.machine(),
            "numCores": os.cpu_count() or 1,
        },
        "os": {"type": platform.system(), "name": platform.platform()},
        "ok": 1.0,
    }


@command("whatsmyuri")
async def whats_my_uri(ctx: Context) -> dict[str, Any]:
    return {"you": ctx.connection.peer, "ok": 1.0}


@command("connectionStatus")
async def connection_status(ctx: Context) -> dict[str, Any]:
    return {"authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}, "ok": 1.0}


@command("getCmdLineOpts")
async def get_cmd_line_opts(ctx: Context) -> dict[str, Any]:
    config = ctx.server.config
    parsed: dict[str, Any] = {"net": {"bindIp": config.host, "port": ctx.server.port}}
    if config.data_dir is not None:
        parsed["storage"] = {"dbPath": str(config.data_dir)}
    return {"argv": ["odmantic-fastapi-embedded"], "parsed": parsed, "ok": 1.0}


@command("getLog")
async def get_log(ctx: Context) -> dict[str, Any]:
    if ctx.arg == "*":
        return {"names": ["startupWarnings"], "ok": 1.0}
    return {"totalLinesWritten": 0, "log": [], "ok": 1.0}


@command("listCommands")
async def list_commands(ctx: Context) -> dict[str, Any]:
    return {"commands": {name: {"help": ""} for name in sorted(COMMANDS)}, "ok": 1.0}


def _parameters(ctx: Context) -> dict[str, Any]:
    return {
        "transactionLifetimeLimitSeconds": ctx.server.sessions.transaction_lifetime_limit_seconds,
        "ttlMonitorSleepSecs": ctx.server.ttl_monitor_sleep_seconds,
        "featureCompatibilityVersion": {"version": ".".join(SERVER_VERSION.split(".")[:2])},
        "enableTestCommands": ctx.server.config.test_commands,
    }


@command("getParameter")
async def get_parameter(ctx: Context) -> dict[str, Any]:
    params = _parameters(ctx)
    if ctx.arg == "*" or (isinstance(ctx.arg, dict) and ctx.arg.get("allParameters")):
        return {**params, "ok": 1.0}
    wanted = {k: params[k] for k in ctx.cmd if k in params}
    if not wanted:
        raise CommandError(72, "no option found to get")
    return {**wanted, "ok": 1.0}


@command("setParameter")
async def set_parameter(ctx: Context) -> dict[str, Any]:
    if ctx.db != "admin":
        raise CommandError(13, "setParameter may only be run against the admin database.")
    changed: dict[str, Any] = {}
    for key, value in ctx.cmd.items():
        if key in ("setParameter", "$db", "lsid", "$clusterTime", "$readPreference", "comment"):
            continue
        if key not in ("transactionLifetimeLimitSeconds", "ttlMonitorSleepSecs"):
            raise CommandError(2, f"attempted to set unrecognized parameter [{key}], use help:true")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
            raise CommandError(2, f"Invalid value for parameter {key}: {value!r}; must be >= 1")
        previous = _parameters(ctx)[key]
        if key == "transactionLifetimeLimitSeconds":
            ctx.server.sessions.transaction_lifetime_limit_seconds = int(value)
        else:
            ctx.server.ttl_monitor_sleep_seconds = int(value)
        changed["was"] = previous
    if not changed:
        raise CommandError(2, "no option found to set, use help:true to see options")
    return {**changed, "ok": 1.0}


@command("replSetGetStatus")
async def repl_set_get_status(ctx: Context) -> dict[str, Any]:
    address = ctx.server.advertised_address
    return {
        "set": REPLICA_SET_NAME,
        "date": _now(),
        "myState": 1,
        "members": [
            {
                "_id": 0,
                "name": address,
                "health": 1.0,
                "state": 1,
                "stateStr": "PRIMARY",
                "self": True,
            }
        ],
        "ok": 1.0,
    }


@command("getFreeMonitoringStatus")
async def free_monitoring(ctx: Context) -> dict[str, Any]:
    return {"state": "disabled", "ok": 1.0}
