// Package onnx writes and reads ONNX model files (opset 13) and exports E-ABS models:
// the encoder, the K decoders batched in one graph, the discriminator, and a latent-step
// graph whose vector-Jacobian products are written as ONNX ops, so ONNX Runtime alone
// can run the whole E-ABS inference.
package onnx
