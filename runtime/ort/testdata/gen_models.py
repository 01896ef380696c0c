# gen_models.py writes the tiny ONNX models used by the runtime/ort tests.
#
# Regenerate (Debian python3-onnx 1.12, no other dependencies) from runtime/ort:
#
#   /usr/bin/python3 testdata/gen_models.py testdata
#
# Every model uses opset 13 and a symbolic batch dimension "N", so the tests can run
# batch 1 and batch 7 through the same session. The Go tests recompute the expected
# outputs from the formulas below; keep the two in step.
#
#   add_mul.onnx  x, y float32 [N,F]  ->  sum = x + y, prod = x * y
#                 (F is symbolic too, so the leak test can use large tensors)
#                 metadata_props: eabs.kind=test, eabs.model=add_mul
#   conv.onnx     x float32 [N,1,4,4] ->  features = Conv(x, W1, B1; 3x3, pad 1) [N,2,4,4]
#                                         recon = ConvTranspose(features, W2, B2;
#                                                 2x2, stride 2)           [N,1,8,8]
#                 W1[o,0,kh,kw] = 0.1*(o+1)*(3*kh+kw-4), B1 = [0.5, -0.25]
#                 W2[c,0,i,j]   = 0.25*(c+1)*(2*i+j+1)*(-1)^c, B2 = [0.125]
#   typed.onnx    x float32 [N,3], idx int64 [N] ->
#                                         picked = GatherElements(x, idx[:,None], axis 1) [N,1]
#                                         argmax = ArgMax(x, axis 1, keepdims 0) int64  [N]
import os
import sys

import onnx
from onnx import TensorProto, helper

OPSET = [helper.make_opsetid("", 13)]
PRODUCER = "eabs runtime/ort testdata/gen_models.py"


def save(model, outdir, name, metadata):
    model.producer_name = PRODUCER
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(outdir, name)
    onnx.save(model, path)
    print("wrote", path)


def add_mul(outdir):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "F"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "F"])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", "F"])
    p = helper.make_tensor_value_info("prod", TensorProto.FLOAT, ["N", "F"])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["sum"]),
         helper.make_node("Mul", ["x", "y"], ["prod"])],
        "add_mul", [x, y], [s, p])
    model = helper.make_model(graph, opset_imports=OPSET)
    save(model, outdir, "add_mul.onnx", {"eabs.kind": "test", "eabs.model": "add_mul"})


def conv(outdir):
    w1 = [0.1 * (o + 1) * (3 * kh + kw - 4)
          for o in range(2) for kh in range(3) for kw in range(3)]
    w2 = [0.25 * (c + 1) * (2 * i + j + 1) * (-1) ** c
          for c in range(2) for i in range(2) for j in range(2)]
    inits = [
        helper.make_tensor("W1", TensorProto.FLOAT, [2, 1, 3, 3], w1),
        helper.make_tensor("B1", TensorProto.FLOAT, [2], [0.5, -0.25]),
        helper.make_tensor("W2", TensorProto.FLOAT, [2, 1, 2, 2], w2),
        helper.make_tensor("B2", TensorProto.FLOAT, [1], [0.125]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])
    f = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 2, 4, 4])
    r = helper.make_tensor_value_info("recon", TensorProto.FLOAT, ["N", 1, 8, 8])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "W1", "B1"], ["features"],
                          kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("ConvTranspose", ["features", "W2", "B2"], ["recon"],
                          kernel_shape=[2, 2], strides=[2, 2])],
        "conv", [x], [f, r], initializer=inits)
    model = helper.make_model(graph, opset_imports=OPSET)
    save(model, outdir, "conv.onnx", {"eabs.kind": "test", "eabs.model": "conv"})


def typed(outdir):
    inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    idx = helper.make_tensor_value_info("idx", TensorProto.INT64, ["N"])
    picked = helper.make_tensor_value_info("picked", TensorProto.FLOAT, ["N", 1])
    argmax = helper.make_tensor_value_info("argmax", TensorProto.INT64, ["N"])
    graph = helper.make_graph(
        [helper.make_node("Unsqueeze", ["idx", "axes"], ["idx2"]),
         helper.make_node("GatherElements", ["x", "idx2"], ["picked"], axis=1),
         helper.make_node("ArgMax", ["x"], ["argmax"], axis=1, keepdims=0)],
        "typed", [x, idx], [picked, argmax], initializer=inits)
    model = helper.make_model(graph, opset_imports=OPSET)
    save(model, outdir, "typed.onnx", {"eabs.kind": "test", "eabs.model": "typed"})


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    add_mul(outdir)
    conv(outdir)
    typed(outdir)


if __name__ == "__main__":
    main()
