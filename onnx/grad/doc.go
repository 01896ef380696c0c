// Package grad differentiates ONNX inference graphs: from a classifier exported by
// PyTorch, TensorFlow or eabs, Build writes a second ONNX graph that returns the
// model's outputs, a per-sample loss (cross-entropy, margin, logit difference, or a
// vector-Jacobian product with a given cotangent) and the loss's gradient with
// respect to the input, so ONNX Runtime alone runs gradient attacks on any model. It
// generalises what the E-ABS latent-step export (package onnx) does by hand.
//
// # How
//
// The model's nodes run through one builder in order. A node whose inputs are known
// before the graph runs is computed at build time (Evaluate's kernels): constants,
// weight transformations, and the shape arithmetic exporters emit for a dynamic
// batch (Shape, Gather, Unsqueeze, Concat, ConstantOfShape, Slice, Cast feeding a
// Reshape or a Pad). Shapes are tracked as products of the input's symbolic
// dimensions, so a reshape target computed from the batch folds to constants in
// which the batch is Reshape's 0 (copy) or -1 (infer). The other nodes are written
// unchanged, with their types and shapes inferred. The backward pass then visits the
// nodes between the input and the loss in reverse and writes each one's
// vector-Jacobian product as ONNX operators, folded in the same way (transposed or
// flipped weights become initializers):
//
//   - Conv: a ConvTranspose with the same weights, strides, pads, dilations and
//     groups, or, for a same-padded stride-1 layer of 8 channels or more with
//     constant weights, a Conv with the weights flipped and transposed per group
//     (faster in ONNX Runtime there, slower on narrow or valid-padded layers, as
//     BenchmarkGradient measured). ConvTranspose: the Conv with its attributes.
//   - MaxPool: the first maximum of each window gets the gradient (PyTorch's and
//     ONNX Runtime's choice among ties). Windows that tile the input (stride equal
//     to the kernel) become an axis of their own, where ArgMax finds the maximum
//     and ScatterElements puts the gradient; other windows use the indices the
//     forward MaxPool is then written to return: a scatter when windows do not
//     overlap, masks per window position added up by a grouped one-hot
//     ConvTranspose when they do.
//   - AveragePool: the gradient divided by each window's count (ONNX Runtime's rule
//     for count_include_pad and ceil_mode), spread by a grouped ConvTranspose of
//     ones. GlobalAveragePool, ReduceMean, ReduceSum: a broadcast multiplication.
//   - Softmax: y*(dy - sum(dy*y)); LogSoftmax: dy - softmax*sum(dy), over the axes
//     of the opset (before 13 the input is seen as 2-D).
//   - Gemm and MatMul: products with the transposed other operand; Add, Sub, Mul,
//     Div, Pow, Sum, Where, Expand: the gradient summed over broadcast axes.
//   - Relu, LeakyRelu, Elu, PRelu, Clip: masks of the input's sign or range
//     (derivative 0, respectively the slope, at exactly 0, as PyTorch; Clip's is 1
//     on its closed range, as torch.clamp), HardSigmoid, HardSwish (PyTorch's
//     derivatives at the ramps' ends); Sigmoid, Tanh, Exp, Log, Sqrt, Abs, Erf,
//     Reciprocal, Softplus: their derivatives from the input or output.
//   - BatchNormalization (inference): the per-channel scale/sqrt(var+eps).
//   - Flatten, Reshape, Squeeze, Unsqueeze: a Reshape back; Transpose: the inverse
//     permutation; Concat and Split: Slice and Concat; Slice (step 1) and Pad
//     (constant mode): each other; Identity, Dropout (inference), Cast: pass-through.
//
// The cross-entropy of a Softmax (or LogSoftmax) output is differentiated from the
// logits feeding it, and its gradient's label entry is written as minus the sum of
// the other probabilities: 1 - p[label] computed directly has no correct digit once
// p[label] rounds to 1 in float32, which is every confident sample.
//
// # Scope
//
// Opsets 11 to 17, with the forms each took: attributes or inputs for Pad, Clip,
// ReduceSum, Squeeze, Unsqueeze and Split, Softmax's 2-D meaning before 13, Shape's
// start and end (15), BatchNormalization's training_mode (14). Float and double
// models. Convolutions and pooling in 2-D. Supported lists every operator accepted;
// Differentiable says which have gradients (the rest, such as Shape or Gather, only
// compute shapes and constants). Check, and Build before anything else, refuse a
// model with an unsupported operator by an *UnsupportedError naming every such node.
package grad
