#!/usr/bin/env python3
"""A stand-in for the MI-GAN inpainting model, with the same signature, for tests.

Writes a tiny ONNX graph with the contract that remove-object's `method=model` path uses
(see plugins/classic/src/inpaint/migan.rs):

    inputs   image  float32 [1, 3, 512, 512]  RGB in 0..1, hole pixels zeroed
             mask   float32 [1, 1, 512, 512]  1 = keep, 0 = hole
    output   result float32 [1, 3, 512, 512]  = image * mask + (1 - mask) * 0.5

so a filled hole comes back mid grey and everything else unchanged. The model is generated at
test time and never committed.

    migan_stub.py OUT.onnx              write the model
    migan_stub.py OUT.onnx --run DIR    also run it with onnxruntime on DIR/image.f32 and
                                        DIR/mask.f32 (raw little-endian float32, NCHW) and
                                        write DIR/result.f32
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

SIZE = 512


def build(path: Path) -> None:
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, SIZE, SIZE])
    result = helper.make_tensor_value_info("result", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    nodes = [
        helper.make_node("Mul", ["image", "mask"], ["kept"]),
        helper.make_node("Sub", ["one", "mask"], ["hole"]),
        helper.make_node("Mul", ["hole", "half"], ["grey"]),
        helper.make_node("Add", ["kept", "grey"], ["result"]),
    ]
    graph = helper.make_graph(nodes, "migan_stub", [image, mask], [result], initializer=[one, half])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="easel-tests")
    model.ir_version = 8  # readable by any recent ONNX Runtime
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def run(path: Path, folder: Path) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = sorted(i.name for i in sess.get_inputs())
    assert names == ["image", "mask"], names
    image = np.fromfile(folder / "image.f32", dtype="<f4").reshape(1, 3, SIZE, SIZE)
    mask = np.fromfile(folder / "mask.f32", dtype="<f4").reshape(1, 1, SIZE, SIZE)
    (out,) = sess.run(["result"], {"image": image, "mask": mask})
    out.astype("<f4").tofile(folder / "result.f32")


def main() -> int:
    args = sys.argv[1:]
    if not args or (len(args) == 3 and args[1] != "--run") or len(args) not in (1, 3):
        print(__doc__, file=sys.stderr)
        return 2
    model = Path(args[0])
    build(model)
    if len(args) == 3:
        run(model, Path(args[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
