"""Wraps keijiro's BlazeFace ONNX in the output layouts other detectors use, for the tests of the
configurable detector (redaction/onnx-detector.ts). The network is unchanged; only ONNX ops that
decode its anchors are appended, so a generic decoder reading these outputs must find exactly
the faces the built-in decoder finds. Outputs:
  rows    [1, 896, 5]  cx cy w h (input pixels), score (probability)        SSD/YOLOv5-like
  rows_t  [1, 5, 896]  the same, transposed                                 YOLOv8-like
  classes [1, 6, 896]  cx cy w h, P(face), P(not face), transposed          YOLOv8 with classes
  ssd     [1, 896, 5]  logit, x1 y1 x2 y2 (0..1 of the input)               normalized, score first
usage: python3 blazeface-boxes.py IN.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
g = m.graph
size = 256
# The anchor layout: a 16x16 grid with 2 anchors per cell, then an 8x8 grid with 6 (896 in all).
anchors = []
for cells, per in ((16, 2), (8, 6)):
    for cell in range(cells * cells):
        for _ in range(per):
            anchors.append([((cell % cells) + 0.5) / cells * size, ((cell // cells) + 0.5) / cells * size, 0, 0])
anchors = np.array(anchors, dtype=np.float32)[None]

def const(name, value):
    g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return name

def node(op, inputs, out, **attrs):
    g.node.append(helper.make_node(op, inputs, [out], **attrs))
    return out

const('anchors', anchors)
const('s0', np.array([0], np.int64)); const('s2', np.array([2], np.int64)); const('s4', np.array([4], np.int64))
const('ax2', np.array([2], np.int64))
const('half', np.array(0.5, np.float32)); const('one', np.array(1.0, np.float32)); const('inv', np.array(1 / size, np.float32))

logit = node('Concat', ['Identity:0', 'Identity_1:0'], 'logit', axis=1)
regs = node('Concat', ['Identity_2:0', 'Identity_3:0'], 'regs', axis=1)
reg4 = node('Slice', [regs, 's0', 's4', 'ax2'], 'reg4')
cxcywh = node('Add', [reg4, 'anchors'], 'cxcywh')
prob = node('Sigmoid', [logit], 'prob')
node('Concat', [cxcywh, prob], 'rows', axis=2)
node('Transpose', ['rows'], 'rows_t', perm=[0, 2, 1])
notface = node('Sub', ['one', prob], 'notface')
node('Transpose', [node('Concat', [cxcywh, prob, notface], 'classes_nt', axis=2)], 'classes', perm=[0, 2, 1])
cxy = node('Slice', [cxcywh, 's0', 's2', 'ax2'], 'cxy')
wh = node('Slice', [cxcywh, 's2', 's4', 'ax2'], 'wh')
hw = node('Mul', [wh, 'half'], 'hw')
xyxy = node('Concat', [node('Sub', [cxy, hw], 'xy1'), node('Add', [cxy, hw], 'xy2')], 'xyxy', axis=2)
node('Concat', [logit, node('Mul', [xyxy, 'inv'], 'xyxy_n')], 'ssd', axis=2)

del g.output[:]
for name, shape in (('rows', [1, 896, 5]), ('rows_t', [1, 5, 896]), ('classes', [1, 6, 896]), ('ssd', [1, 896, 5])):
    g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
onnx.checker.check_model(m)
onnx.save(m, dst)
