#!/usr/bin/python3
"""A real oslo.messaging RPC client for the interop tests: runs one operation, prints the outcome.

Usage: oslo_client.py TRANSPORT_URL TOPIC SERVER OPERATION_JSON
  (or env NC_TRANSPORT_URL, NC_TOPIC, NC_SERVER, NC_OPERATION)

OPERATION: {"kind": "call"|"cast", "method": str, "args": {}, "version": "6.0",
            "namespace": null, "timeout": 10, "call_monitor_timeout": null, "fanout": false,
            "server": true, "exmods": ["nova.exception"]}
Prints one JSON line: {"ok": true, "result": ...} or
{"ok": false, "class": ..., "module": ..., "mro": [...], "kwargs": {...}, "str": ...,
 "exc_type": ... (RemoteError), "elapsed": seconds}.
"""
import json
import os
import sys
import time

from oslo_config import cfg
import oslo_messaging as messaging


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ["NC_TRANSPORT_URL"]
    topic = sys.argv[2] if len(sys.argv) > 2 else os.environ["NC_TOPIC"]
    server = sys.argv[3] if len(sys.argv) > 3 else os.environ["NC_SERVER"]
    op = json.loads(sys.argv[4] if len(sys.argv) > 4 else os.environ["NC_OPERATION"])
    conf = cfg.CONF
    conf([], project="nova-container-test")
    exmods = op.get("exmods", ["nova.exception"])
    transport = messaging.get_rpc_transport(conf, url=url, allowed_remote_exmods=exmods)
    target = messaging.Target(topic=topic, server=server if op.get("server", True) else None,
                              exchange="nova", version=op.get("version", "6.0"),
                              namespace=op.get("namespace"), fanout=op.get("fanout", False))
    client = messaging.get_rpc_client(transport, target, timeout=op.get("timeout", 10),
                                      call_monitor_timeout=op.get("call_monitor_timeout"))
    ctxt = op.get("context", {"request_id": "req-00000000-1111-2222-3333-444444444444",
                              "is_admin": True, "auth_token": "secret-token-never-logged",
                              "roles": ["admin"]})
    started = time.time()
    try:
        if op["kind"] == "call":
            result = client.call(ctxt, op["method"], **op.get("args", {}))
        else:
            client.cast(ctxt, op["method"], **op.get("args", {}))
            result = None
        out = {"ok": True, "result": result}
    except Exception as e:  # report what the caller would see
        cls = type(e)
        out = {"ok": False, "class": cls.__name__, "module": cls.__module__,
               "mro": ["%s.%s" % (c.__module__, c.__name__) for c in cls.__mro__],
               "kwargs": getattr(e, "kwargs", None), "str": str(e),
               "exc_type": getattr(e, "exc_type", None)}
    out["elapsed"] = time.time() - started
    sys.stdout.write(json.dumps(out, default=repr) + "\n")
    sys.stdout.flush()
    os._exit(0)  # transport.cleanup() waits seconds for the reply poller; nothing left to flush


if __name__ == "__main__":
    main()
