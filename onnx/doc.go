// Package onnx writes and reads ONNX model files (opset 13, IR version 7) and exports
// E-ABS models: the encoder, the K decoders batched in one graph, the discriminator,
// and a latent-step graph whose vector-Jacobian products are written as ONNX
// operators, so that ONNX Runtime alone can run the whole E-ABS inference.
//
// # Protobuf types
//
// The ONNX file format is a protobuf message. onnx-go, which other parts of eabs
// import, keeps its generated types internal and registers them under the protobuf
// names "onnx.ModelProto" and so on; the protobuf runtime panics at init when a binary
// registers a full name twice, so this package cannot use another copy of the same
// generated code (such as gonnx's). Package onnx/internal/onnxpb is therefore
// generated from the official onnx.proto3 with only the protobuf package renamed to
// "eabs.onnxpb" (gen.sh records the command). The package name is not part of the
// wire format: the files are ordinary ONNX files.
//
// # Building graphs
//
// Graph is a small builder: Input and Output declare typed tensors with symbolic or
// fixed dimensions, Initializer and InitializerInt64 add constants, Node and Op append
// operators and return generated, unique output names. Model adds the model-level
// fields and metadata, and WriteFile writes atomically. ReadFile and Decode return a
// ModelInfo (metadata, opset, inputs, outputs, initializers) and a *FormatError for
// anything that is not a well-formed ONNX model.
//
// # E-ABS export
//
// Export writes one file per role (Roles): encoder.onnx (or cnn.onnx for the CNN
// kind), decoders.onnx, discriminator.onnx when the model has one, and
// latent_step.onnx. Every file carries the eabs.* metadata (MetaFormat and the other
// Meta* keys), which CheckCompatible verifies before a file is used: files from other
// tools, other roles or other format versions are refused. WeightsSHA256 fingerprints
// the weights, so files exported from the same weights can be matched (SameWeights).
//
// The forward graphs follow package models exactly and agree with the float64 oracle
// in internal/naive to about 2e-7 (relative) in ONNX Runtime; the latent step's
// gradients agree with central differences of the oracle's loss to about 1e-6 of the
// gradient's scale. Eval-mode BatchNorm uses the BatchNormalization operator; its
// Jacobian is the per-channel scale gamma/sqrt(var+eps). The input-gradient of a
// transposed convolution is the convolution with the same weights, strides, pads and
// groups; ReLU and LeakyReLU gradients are masks of the pre-activation's sign
// (derivative 0, respectively the slope, at exactly 0).
//
// # Decoder layout
//
// The K decoders run as one grouped network by default (Grouped): a batched MatMul
// for the fully connected layers, then ConvTranspose with group = K whose weights are
// the K decoders' [in, out, k, k] weights concatenated along the first axis (ONNX
// ConvTranspose weights are [C, M/group, k, k]), and BatchNorm over K*channels. The
// alternative, K parallel branches (Branches), computes the same values; both are
// tested. See DecoderLayout for the measured speeds.
package onnx
