#!/usr/bin/python3
"""
INT8 detector models, made by the project from the pinned float ones (python3-onnx and numpy only:
Debian has no onnxruntime for Python, and onnxruntime-node cannot quantize).

  quantize-models.py prepare FLOAT.onnx OUT.onnx
      The float model with its constants as initializers, opset 14, and the exact folds
      (a Conv's or ConvTranspose's following constant Add, Mul and BatchNormalization go into
      its weights and bias; PaddlePaddle's exported hard-swish, Add 3 / Clip 0..6 / Mul / Div 6,
      becomes one HardSwish). Same arithmetic, fewer passes over memory.
  quantize-models.py augment PREPARED.onnx OUT.onnx
      PREPARED with every tensor that gets a quantization range as an extra output, for the
      calibration run (scripts/calibrate-models.ts, in onnxruntime-node).
  quantize-models.py quantize PREPARED.onnx RANGES.json OUT.onnx
      QDQ INT8: Conv weights int8 per output channel (symmetric), biases int32, activations
      uint8 per tensor from the calibrated ranges (RANGES.json, committed); the first Conv (it
      sees the image) and ConvTranspose (the DB head, onnxruntime has no int8 kernel for it) stay
      float. Deterministic: the same float model and ranges give the same bytes, so the result
      is pinned in redaction/models.sha256.
"""
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 14


def load_prepared(src):
    m = onnx.load(src)
    g = m.graph
    keep = []
    for n in g.node:
        if n.op_type == 'Constant' and len(n.attribute) == 1 and n.attribute[0].name == 'value':
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            g.initializer.append(t)
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    for o in m.opset_import:
        if o.domain in ('', 'ai.onnx'):
            o.version = OPSET
    return m


class Graph:
    def __init__(self, m):
        self.m, self.g = m, m.graph
        self.inits = {t.name: t for t in self.g.initializer}
        self.outputs = {o.name for o in self.g.output}

    def arr(self, name):
        return numpy_helper.to_array(self.inits[name])

    def put(self, name, a):
        t = numpy_helper.from_array(a, name)
        if name in self.inits:
            self.inits[name].CopyFrom(t)
        else:
            self.g.initializer.append(t)
            self.inits[name] = self.g.initializer[-1]

    def conv_inputs(self, x, base, W, b, suffix=''):
        """A Conv's inputs on x: weights W and bias b stored (float32) as initializers named after base."""
        self.put(base + '/W' + suffix, W.astype(np.float32))
        self.put(base + '/B' + suffix, b.astype(np.float32))
        return [x, base + '/W' + suffix, base + '/B' + suffix]

    def consumers(self):
        c = {}
        for n in self.g.node:
            for i in n.input:
                c.setdefault(i, []).append(n)
        return c

    def scalar(self, name):
        if name not in self.inits:
            return None
        a = self.arr(name)
        return float(a.reshape(-1)[0]) if a.size == 1 else None

    def prune(self):
        used = {i for n in self.g.node for i in n.input}
        keep = [t for t in self.g.initializer if t.name in used]
        del self.g.initializer[:]
        self.g.initializer.extend(keep)
        self.inits = {t.name: t for t in self.g.initializer}


def out_channels(G, n):
    W = G.arr(n.input[1])
    if n.op_type == 'Conv':
        return W.shape[0]
    groups = next((a.i for a in n.attribute if a.name == 'group'), 1)
    return W.shape[1] * groups


def scale_out(G, n, W, s):
    """W scaled per output channel (axis 0 for Conv, the per-group axis 1 for ConvTranspose)."""
    if n.op_type == 'Conv':
        return W * s.reshape(-1, *[1] * (W.ndim - 1))
    groups = next((a.i for a in n.attribute if a.name == 'group'), 1)
    Wr = W.reshape(groups, W.shape[0] // groups, W.shape[1], *W.shape[2:])
    return (Wr * s.reshape(groups, 1, W.shape[1], *[1] * (W.ndim - 2))).reshape(W.shape)


def per_channel(G, name, C):
    """A constant that broadcasts over a [N, C, H, W] tensor as one value per channel, or None."""
    if name not in G.inits:
        return None
    v = G.arr(name).astype(np.float32)
    if v.size == 1:
        return np.full(C, v.reshape(-1)[0], np.float32)
    if v.size == C and v.ndim >= 3 and v.shape[-3] == C:
        return v.reshape(C)
    return None


def fold(G):
    """Constant Add / Mul / BatchNormalization after a Conv or ConvTranspose, into its weights and bias."""
    folds = 0
    changed = True
    while changed:
        changed = False
        cons = G.consumers()
        for n in G.g.node:
            if n.op_type not in ('Conv', 'ConvTranspose') or n.input[1] not in G.inits:
                continue
            y = n.output[0]
            if y in G.outputs or len(cons.get(y, [])) != 1:
                continue
            nx = cons[y][0]
            C = out_channels(G, n)
            W = G.arr(n.input[1]).astype(np.float32)
            b = G.arr(n.input[2]).astype(np.float32) if len(n.input) > 2 and n.input[2] else np.zeros(C, np.float32)
            if nx.op_type in ('Add', 'Mul'):
                v = per_channel(G, nx.input[1] if nx.input[0] == y else nx.input[0], C)
                if v is None:
                    continue
                W, b = (W, b + v) if nx.op_type == 'Add' else (scale_out(G, n, W, v), b * v)
            elif nx.op_type == 'BatchNormalization':
                sc, bi, mu, var = (G.arr(i).astype(np.float32) for i in nx.input[1:5])
                eps = next((a.f for a in nx.attribute if a.name == 'epsilon'), 1e-5)
                s = (sc / np.sqrt(var + np.float32(eps))).astype(np.float32)
                W, b = scale_out(G, n, W, s), (b - mu) * s + bi
            else:
                continue
            ins = G.conv_inputs(n.input[0], nx.output[0], W, b)
            del n.input[:]
            n.input.extend(ins)
            n.output[0] = nx.output[0]
            G.g.node.remove(nx)
            folds += 1
            changed = True
            break
    return folds


def fold_forward(G):
    """
    A constant Mul, then Add (one value per channel) whose only consumer is an unpadded 1x1 Conv
    (group 1), into that Conv: W[o, i] * a[i] and bias[o] + sum_i W[o, i] b[i]. Exact only
    without padding (a padded Conv would see b where it pads with 0), so only there.
    """
    folds = 0
    changed = True
    while changed:
        changed = False
        cons = G.consumers()
        producer = {o: n for n in G.g.node for o in n.output}
        for conv in G.g.node:
            if conv.op_type != 'Conv' or conv.input[1] not in G.inits:
                continue
            W = G.arr(conv.input[1]).astype(np.float32)
            attrs = {a.name: a for a in conv.attribute}
            if W.shape[2:] != (1, 1) or ('group' in attrs and attrs['group'].i != 1) or ('pads' in attrs and any(attrs['pads'].ints)):
                continue
            if 'auto_pad' in attrs and attrs['auto_pad'].s not in (b'', b'NOTSET', b'VALID'):
                continue
            add = producer.get(conv.input[0])
            if add is None or add.op_type != 'Add' or len(cons.get(add.output[0], [])) != 1 or add.output[0] in G.outputs:
                continue
            Ci = W.shape[1]
            mul_out = next((i for i in add.input if i not in G.inits), None)
            bv = per_channel(G, next((i for i in add.input if i in G.inits), ''), Ci)
            mul = producer.get(mul_out) if mul_out else None
            if bv is None or mul is None or mul.op_type != 'Mul' or len(cons.get(mul.output[0], [])) != 1:
                continue
            x = next((i for i in mul.input if i not in G.inits), None)
            av = per_channel(G, next((i for i in mul.input if i in G.inits), ''), Ci)
            if x is None or av is None:
                continue
            C = W.shape[0]
            b = G.arr(conv.input[2]).astype(np.float32) if len(conv.input) > 2 and conv.input[2] else np.zeros(C, np.float32)
            nb = b + (W.reshape(C, Ci) @ bv).astype(np.float32)
            nW = W * av.reshape(1, Ci, 1, 1)
            ins = G.conv_inputs(x, conv.output[0], nW, nb, 'f')
            del conv.input[:]
            conv.input.extend(ins)
            G.g.node.remove(add)
            G.g.node.remove(mul)
            folds += 1
            changed = True
            break
    return folds


def affine_as_conv(G):
    """
    The remaining constant Mul-then-Add (one value per channel) as a 1x1 depthwise Conv with that
    scale and shift: the same arithmetic in one pass, and onnxruntime keeps a Conv in its blocked
    layout (NCHWc), where a Mul and an Add each made it reorder the tensor out and back in.
    """
    inferred = onnx.shape_inference.infer_shapes(G.m)
    channels = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input):
        d = vi.type.tensor_type.shape.dim
        if len(d) == 4 and d[1].HasField('dim_value'):
            channels[vi.name] = d[1].dim_value
    done = 0
    cons = G.consumers()
    for mul in list(G.g.node):
        if mul.op_type != 'Mul':
            continue
        x = next((i for i in mul.input if i not in G.inits), None)
        if x is None or x not in channels or len(cons.get(mul.output[0], [])) != 1:
            continue
        C = channels[x]
        add = cons[mul.output[0]][0]
        a = per_channel(G, next((i for i in mul.input if i in G.inits), ''), C)
        b = per_channel(G, next((i for i in add.input if i in G.inits), ''), C) if add.op_type == 'Add' else None
        if a is None or b is None or mul.output[0] not in add.input:
            continue
        base = add.output[0]
        conv = helper.make_node('Conv', G.conv_inputs(x, base, a.reshape(C, 1, 1, 1), b, 'a'), [base], name=base + '/affine', group=C, kernel_shape=[1, 1])
        at = list(G.g.node).index(mul)
        G.g.node.remove(mul)
        G.g.node.remove(add)
        G.g.node.insert(at, conv)
        done += 1
    return done


def hardswish(G):
    """x * clip(x + 3, 0, 6) / 6 (as exported by paddle2onnx) to one HardSwish node."""
    cons = G.consumers()
    found = 0
    for add in list(G.g.node):
        if add.op_type != 'Add' or G.scalar(add.input[1]) != 3.0:
            continue
        x = add.input[0]
        clip = cons.get(add.output[0], [])
        if len(clip) != 1 or clip[0].op_type != 'Clip' or G.scalar(clip[0].input[1]) != 0.0 or G.scalar(clip[0].input[2]) != 6.0:
            continue
        mul = cons.get(clip[0].output[0], [])
        if len(mul) != 1 or mul[0].op_type != 'Mul' or set(mul[0].input) != {x, clip[0].output[0]}:
            continue
        div = cons.get(mul[0].output[0], [])
        if len(div) != 1 or div[0].op_type != 'Div' or G.scalar(div[0].input[1]) != 6.0:
            continue
        hs = helper.make_node('HardSwish', [x], [div[0].output[0]], name=div[0].output[0] + '/hardswish')
        at = list(G.g.node).index(add)
        for r in (add, clip[0], mul[0], div[0]):
            G.g.node.remove(r)
        G.g.node.insert(at, hs)
        found += 1
    return found


def prepare(src, dst):
    m = load_prepared(src)
    G = Graph(m)
    f = fold(G)
    h = hardswish(G)
    f2 = fold_forward(G)
    a = affine_as_conv(G)
    G.prune()
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    print(f'prepare: {src.split("/")[-1]}: {f} folds into the Conv before, {f2} into the Conv after, {h} hard-swish, {a} scale-and-shift as 1x1 Conv', file=sys.stderr)


def quantized_convs(G):
    """
    The Convs that run in INT8: all but the first (it sees the image itself) and the 1x1
    depthwise scale-and-shift ones (affine_as_conv: cheap in float, and in INT8 each would add a
    quantize and dequantize around it).
    """
    convs = [n for n in G.g.node if n.op_type == 'Conv' and n.input[1] in G.inits and not n.name.endswith('/affine')]
    graph_inputs = {i.name for i in G.g.input}
    return [n for n in convs if n.input[0] not in graph_inputs]


def ranged(G):
    """Every tensor that gets a quantization range: the inputs and outputs of the INT8 Convs."""
    names = []
    for n in quantized_convs(G):
        for t in (n.input[0], n.output[0]):
            if t not in names:
                names.append(t)
    return names


def augment(src, dst):
    m = onnx.load(src)
    G = Graph(m)
    names = ranged(G)
    m.graph.output.extend([onnx.ValueInfoProto(name=t) for t in names if t not in G.outputs])
    onnx.save(m, dst)
    print(json.dumps(names))


def qparams(lo, hi):
    """uint8 asymmetric: the range always holds 0 (zero padding must stay exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = np.float32(max(hi - lo, 1e-6) / 255.0)
    zp = np.uint8(min(255, max(0, int(round(-lo / float(scale))))))
    return scale, zp


def quantize(src, ranges_file, dst):
    m = onnx.load(src)
    G = Graph(m)
    with open(ranges_file) as f:
        ranges = json.load(f)['ranges']
    qdq = {}  # tensor -> (dequantized name, scale)
    new = []

    def q_dq(t):
        if t in qdq:
            return []
        if t not in ranges:
            raise SystemExit(f'quantize-models: {ranges_file} has no range for {t}; run scripts/quantize-models --calibrate')
        s, z = qparams(*ranges[t])
        G.put(t + '/scale', np.array(s, np.float32))
        G.put(t + '/zero', np.array(z, np.uint8))
        qdq[t] = (t + '/dq', float(s))
        return [helper.make_node('QuantizeLinear', [t, t + '/scale', t + '/zero'], [t + '/q'], name=t + '/Q'),
                helper.make_node('DequantizeLinear', [t + '/q', t + '/scale', t + '/zero'], [t + '/dq'], name=t + '/DQ')]

    graph_inputs = [i.name for i in G.g.input]
    targets = {n.output[0] for n in quantized_convs(G)}
    for n in list(G.g.node):
        if n.op_type != 'Conv' or n.output[0] not in targets:
            new.append(n)
            continue
        x = n.input[0]
        new.extend(q_dq(x))
        xd, xs = qdq[x]
        W = G.arr(n.input[1]).astype(np.float32)
        C = W.shape[0]
        ws = (np.maximum(np.abs(W.reshape(C, -1)).max(1), 1e-8) / np.float32(127)).astype(np.float32)
        wq = np.clip(np.round(W / ws.reshape(-1, *[1] * (W.ndim - 1))), -127, 127).astype(np.int8)
        w = n.input[1]
        G.put(w + '/q', wq)
        G.put(w + '/scale', ws)
        G.put(w + '/zero', np.zeros(C, np.int8))
        new.append(helper.make_node('DequantizeLinear', [w + '/q', w + '/scale', w + '/zero'], [w + '/dq'], name=w + '/DQ', axis=0))
        ins = [xd, w + '/dq']
        if len(n.input) > 2 and n.input[2]:
            bias = G.arr(n.input[2]).astype(np.float32)
            bs = (ws * np.float32(xs)).astype(np.float32)
            bq = np.clip(np.round(bias / bs), -2**31, 2**31 - 1).astype(np.int32)
            b = n.input[2]
            G.put(b + '/q', bq)
            G.put(b + '/scale', bs)
            G.put(b + '/zero', np.zeros(C, np.int32))
            new.append(helper.make_node('DequantizeLinear', [b + '/q', b + '/scale', b + '/zero'], [b + '/dq'], name=b + '/DQ', axis=0))
            ins.append(b + '/dq')
        y = n.output[0]
        del n.input[:]
        n.input.extend(ins)
        n.output[0] = y + '/float'
        new.append(n)
        # the output is quantized where the Conv writes it (QLinearConv), and dequantized for the float ops after it
        s, z = qparams(*ranges[y])
        G.put(y + '/scale', np.array(s, np.float32))
        G.put(y + '/zero', np.array(z, np.uint8))
        new.append(helper.make_node('QuantizeLinear', [y + '/float', y + '/scale', y + '/zero'], [y + '/q'], name=y + '/Q'))
        new.append(helper.make_node('DequantizeLinear', [y + '/q', y + '/scale', y + '/zero'], [y], name=y + '/DQ'))
        qdq[y] = (y, float(s))
    del G.g.node[:]
    G.g.node.extend(new)
    G.prune()
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    print(f'quantize: {dst.split("/")[-1]}: {len(targets)} Convs in INT8', file=sys.stderr)



if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    {'prepare': prepare, 'augment': augment, 'quantize': quantize}[cmd](*args)
