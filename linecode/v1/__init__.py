"""Generated gRPC/protobuf code of the linecode.v1 contract (proto/generate); do not edit."""
