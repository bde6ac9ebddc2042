"""The gRPC service: servicers (proto <-> store), the call guard, the error table, the server.

The only package that imports grpc and the generated stubs. See ``docs/service.md``.
"""
