#!/bin/sh
# Regenerates onnx.pb.go from onnx.proto (the official onnx/onnx.proto3, IR version 7,
# with the protobuf package renamed to eabs.onnxpb; see the header of onnx.proto).
#
# Tools: Debian protobuf-compiler (libprotoc 3.21.12) and
#   GOFLAGS= go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#
# Run from this directory (go generate does): the proto path is the module root, so the
# descriptor is registered as "onnx/internal/onnxpb/onnx.proto", a path no other ONNX
# package uses.
set -eu
cd "$(dirname "$0")/../../.."
PATH="$(go env GOPATH)/bin:$PATH" protoc \
	--proto_path=. \
	--go_out=. --go_opt=module=github.com/eabs/eabs \
	onnx/internal/onnxpb/onnx.proto
