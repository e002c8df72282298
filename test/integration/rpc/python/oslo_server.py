#!/usr/bin/python3
"""A real oslo.messaging RPC server for the interop tests.

Usage: oslo_server.py TRANSPORT_URL TOPIC SERVER  (or env NC_TRANSPORT_URL, NC_TOPIC, NC_SERVER)

Prints one JSON object per line on stdout: {"event": "ready"} once consuming, then
{"event": "called", "method", "args", "context"} for every request the endpoint receives
(calls and casts alike; a fanout cast arrives the same way).
"""
import json
import os
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging as messaging
from nova import exception

_lock = threading.Lock()


class PrivateError(Exception):
    """Lives in __main__, which no caller allows: arrives as RemoteError."""


def emit(obj):
    with _lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class TestEndpoint(object):
    target = messaging.Target(version='6.1')

    def _record(self, method, ctxt, kwargs):
        emit({"event": "called", "method": method, "args": kwargs, "context": ctxt})

    def echo(self, ctxt, **kwargs):
        self._record("echo", ctxt, kwargs)
        return {"echo": kwargs, "request_id": ctxt.get("request_id")}

    def record(self, ctxt, **kwargs):
        self._record("record", ctxt, kwargs)

    def raise_not_found(self, ctxt, instance_id):
        self._record("raise_not_found", ctxt, {"instance_id": instance_id})
        raise exception.InstanceNotFound(instance_id=instance_id)

    def raise_invalid_state(self, ctxt, instance_uuid):
        self._record("raise_invalid_state", ctxt, {"instance_uuid": instance_uuid})
        raise exception.InstanceInvalidState(attr='vm_state', instance_uuid=instance_uuid,
                                             state='stopped', method='reboot')

    def raise_value_error(self, ctxt, text):
        self._record("raise_value_error", ctxt, {"text": text})
        raise ValueError(text)

    def raise_private(self, ctxt):
        self._record("raise_private", ctxt, {})
        raise PrivateError("not in allowed_remote_exmods")

    def sleep(self, ctxt, seconds):
        self._record("sleep", ctxt, {"seconds": seconds})
        time.sleep(seconds)
        return "slept %s" % seconds


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ["NC_TRANSPORT_URL"]
    topic = sys.argv[2] if len(sys.argv) > 2 else os.environ["NC_TOPIC"]
    server = sys.argv[3] if len(sys.argv) > 3 else os.environ["NC_SERVER"]
    conf = cfg.CONF
    conf([], project="nova-container-test")
    transport = messaging.get_rpc_transport(conf, url=url)
    target = messaging.Target(topic=topic, server=server, exchange="nova")
    srv = messaging.get_rpc_server(transport, target, [TestEndpoint()], executor="threading")
    srv.start()
    emit({"event": "ready"})
    try:
        for line in sys.stdin:  # runs until the test closes stdin
            pass
    finally:
        srv.stop()
        srv.wait()
        os._exit(0)


if __name__ == "__main__":
    main()
