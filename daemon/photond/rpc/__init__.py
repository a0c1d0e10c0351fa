"""The RPC layer: the gRPC server, its services, request validation and status mapping.

Everything a client sends is checked here, and every answer is built here; the layers below
(`jobs`, `loop`, `planning`, `model`) never see a request or raise a gRPC status.
"""
