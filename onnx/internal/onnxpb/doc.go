// Package onnxpb holds the Go types of the ONNX protobuf schema (IR version 7),
// generated from onnx.proto.
//
// The schema is the official onnx.proto3 with its protobuf package renamed from "onnx"
// to "eabs.onnxpb". onnx-go registers its internal copy of the schema under the full
// names "onnx.ModelProto" and so on, and the protobuf runtime panics at init when a
// binary registers the same full name twice. The package name is not part of the wire
// format, so files written with these types are ordinary ONNX files.
package onnxpb

//go:generate ./gen.sh
