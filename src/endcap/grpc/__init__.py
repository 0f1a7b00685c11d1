"""gRPC: the recommendations and events APIs over protobuf (proto/endcap/v1)."""
