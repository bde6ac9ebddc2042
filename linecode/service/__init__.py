"""The gRPC service: servicers (proto <-> store), the call guard, the error table, the server.

With the clients (``sim/``, ``client/``), the only code that imports grpc and the generated stubs.
See ``docs/service.md``.
"""
