"""Per-layer cost of a network: FLOPs, parameters, memory, intensity.

``cost_table(net, (1, 1, 224, 224))`` runs one imperative forward pass
with forward hooks on every layer and returns one row per top-level
layer (the rows of the book's shape walk) and the totals;
``print_cost_table`` prints it. It answers the chapter's exercises on
what dominates a network's compute and memory (AlexNet: the dense layers
hold 94% of the parameters, the convolutions do 95% of the FLOPs).

How things are counted (all for the whole batch of ``shape``):

* ``flops``: convolutions and dense layers, 2 x multiply-adds
  (a multiply and an add per weight use; biases are not counted), the
  usual convention: ResNet-18 at 224 is 1.8 GMACs = 3.6 GFLOPs.
* ``other_flops``: one FLOP per output element for an activation
  (ReLU and sigmoid alike) and for an addition of two tensors; one per
  window element for pooling (``k*k`` per output, ``H*W`` per channel for
  global pooling); 2 per element for batch normalization at inference
  (a scale and a shift once the statistics are folded in). Dropout,
  flattening and concatenation cost none.
* ``out_bytes``: fp32 bytes of the layer's output, what inference must
  hold; ``train_bytes``: what backpropagation keeps, every op's fp32
  output (a convolution with ``activation='relu'`` keeps two tensors,
  dropout its output and mask, flattening is a view and keeps nothing).
* ``intensity``: FLOPs per byte moved, (flops + other_flops) /
  (weights + input + output bytes), each read or written once.

Layers are blocks without children, plus convolutions and dense layers
whose only children are their activations. Networks whose forward pass is
not a chain (``Inception``, ``Residual``, ``DenseBlock``) are walked the
same way; what their ``hybrid_forward`` adds itself (``F.concat``, the
shortcut's addition and ReLU) is read from the block's symbolic graph.
``python -m d2l_cnn.cost alexnet --resize 224 --leaves`` prints a table;
``--roofline [--png FILE]`` places each layer on the roofline of this
machine (``d2l_cnn.roofline``: measured roofs, timed layers).
"""
import io
import json
import os
import sys
import warnings

import mxnet as mx
from mxnet import nd
from mxnet.gluon import nn

from . import data, roofline
from .checkpoint import atomic_write
from .errors import (D2LError, OneLineParser, UsageError, int_range,
                     mxnet_hint, mxnet_summary, run_command)
from .registry import get_model, get_recipe, list_models
from .summary import count_params, human, initialize_if_needed

BYTES = 4  # fp32

# Ops that a non-chain block's own forward may add, FLOPs per output
# element; ops not listed (concat, reshape, slice) count zero FLOPs.
ELEMENTWISE_FLOPS = {
    'relu': 1, 'sigmoid': 1, 'tanh': 1, 'Activation': 1, 'LeakyReLU': 1,
    'softrelu': 1, 'elemwise_add': 1, 'elemwise_sub': 1, 'elemwise_mul': 1,
    'elemwise_div': 1, '_plus': 1, '_Plus': 1, '_minus': 1, '_Minus': 1,
    '_mul': 1, '_Mul': 1, '_div': 1, '_Div': 1, 'broadcast_add': 1,
    'broadcast_sub': 1, 'broadcast_mul': 1, 'broadcast_div': 1,
    '_plus_scalar': 1, '_mul_scalar': 1, 'add_n': 1, 'ElementWiseSum': 1,
}
VIEW_OPS = ('Reshape', 'reshape', 'Flatten', 'flatten', 'expand_dims',
            'squeeze', 'identity', '_copy', 'BlockGrad', 'stop_gradient')
CHAINS = (nn.Sequential, nn.HybridSequential)


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _children(block):
    return list(block._children.values())


def _is_layer(block):
    """No children, or only activation children (Conv2D(activation=))."""
    return all(isinstance(c, nn.Activation) for c in _children(block))


def _param_size(block):
    """Scalars in all of ``block``'s parameters (moving stats too)."""
    return sum(_size(p.shape) for p in block.collect_params().values())


def _weight_shape(block):
    weight = getattr(block, 'weight', None)
    return None if weight is None else weight.shape


def layer_flops(block, in_shape, out_shape):
    """``(flops, other_flops)`` of one call of a layer (see module doc)."""
    out_size = _size(out_shape)
    in_size = _size(in_shape) if in_shape else 0
    flops, other = 0, 0
    kind = type(block).__name__
    weight = _weight_shape(block)
    op_name = getattr(block, '_op_name', None)
    if op_name == 'Convolution' and weight:
        # weight (out channels, in channels / groups, kh, kw): every
        # output element is one dot product over prod(weight[1:])
        flops = 2 * out_size * _size(weight[1:])
    elif op_name == 'Deconvolution' and weight:
        # transposed: every input element is scattered through the kernel
        flops = 2 * in_size * _size(weight[1:])
    elif isinstance(block, nn.Dense):
        flops = 2 * out_size * weight[1]  # weight (units, in_units)
    elif 'pool_type' in getattr(block, '_kwargs', {}):
        if block._kwargs.get('global_pool'):
            other = in_size
        else:
            other = out_size * _size(block._kwargs['kernel'])
    elif 'Norm' in kind:
        other = 2 * out_size
    elif isinstance(block, (nn.Activation, nn.LeakyReLU, nn.PReLU, nn.ELU,
                            nn.SELU, nn.Swish, nn.GELU)):
        other = out_size
    # a convolution's or dense layer's own activation
    other += out_size * sum(isinstance(c, nn.Activation)
                            for c in _children(block))
    return flops, other


def _train_tensors(block):
    """How many output-sized tensors backprop keeps for a layer."""
    if isinstance(block, (nn.Flatten,)):
        return 0
    if isinstance(block, nn.Dropout):
        return 2  # output and mask
    return 1 + len(_children(block))  # plus an activation's output


def _row(name, kind, in_shape, out_shape, params, param_size, flops, other,
         train_tensors):
    """One table row (a dict); byte counts are fp32."""
    in_bytes = BYTES * _size(in_shape) if in_shape else 0
    out_bytes = BYTES * _size(out_shape)
    return dict(name=name, kind=kind,
                in_shape=tuple(in_shape) if in_shape else None,
                out_shape=tuple(out_shape), params=params,
                param_bytes=BYTES * param_size, flops=flops,
                other_flops=other, in_bytes=in_bytes, out_bytes=out_bytes,
                train_bytes=train_tensors * out_bytes)


def _moved(row):
    """Bytes a layer reads and writes: weights, input, output."""
    return row['param_bytes'] + row['in_bytes'] + row['out_bytes']


def _intensity(flops, moved):
    return flops / moved if moved else 0.0


def _own_ops(block, inputs):
    """Rows for the ops that a non-chain HybridBlock's forward adds.

    Builds the block's symbolic graph for the recorded input shapes and
    keeps the ops that belong to no child layer (named after the block,
    e.g. ``residual0__plus0``), such as concatenations and additions.
    """
    if not isinstance(block, nn.HybridBlock):
        return []
    shapes = {'data%d' % i: x.shape for i, x in enumerate(inputs)
              if isinstance(x, nd.NDArray)}
    if not shapes:
        return []
    out = block(*[mx.sym.var(n) for n in sorted(shapes)])
    if isinstance(out, (list, tuple)):
        out = mx.sym.Group(list(out))
    internals = out.get_internals()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        _, out_shapes, _ = internals.infer_shape(**shapes)
    nodes = json.loads(internals.tojson())['nodes']
    ops = {n['name']: n['op'] for n in nodes}
    prefixes = [b.prefix for b in _descendants(block) if b.prefix]
    rows = []
    for name, shape in zip(internals.list_outputs(), out_shapes):
        node = name[:-len('_output')] if name.endswith('_output') else name
        op = ops.get(node, 'null')
        if op == 'null' or any(node.startswith(p) for p in prefixes):
            continue
        other = ELEMENTWISE_FLOPS.get(op, 0) * _size(shape)
        kept = 0 if op in VIEW_OPS else 1
        rows.append(_row(node, op, None, shape, 0, 0, 0, other, kept))
    return rows


def _descendants(block):
    for child in _children(block):
        yield child
        yield from _descendants(child)


def _blocks(block):
    """``block`` and all its descendants."""
    yield block
    yield from _descendants(block)


def _top_level(net):
    """The rows' blocks: a chain's children, else ``net`` itself."""
    if isinstance(net, CHAINS):
        return _children(net)
    return [net]


def _first_input(inputs):
    for x in inputs:
        if isinstance(x, nd.NDArray):
            return x.shape
    return None


def _leaf_records(net, X):
    """Run ``net(X)`` with hooks; per-layer rows tagged with their owner.

    Returns a list of ``(top-level block, row)`` in the order the layers
    ran, and the list of top-level blocks in the order they ran.
    """
    tops = _top_level(net)
    owner = {}
    for top in tops:
        for b in _blocks(top):
            owner.setdefault(id(b), top)
    layers, composites = set(), set()
    for top in tops:
        stack = [top]
        while stack:
            b = stack.pop()
            if _is_layer(b):
                layers.add(id(b))
            else:
                if not isinstance(b, CHAINS):
                    composites.add(id(b))
                stack.extend(_children(b))
    records, order, handles = [], [], []

    def hook(block, inputs, output):
        if isinstance(output, (list, tuple)):
            output = output[0]
        if not isinstance(output, nd.NDArray):
            return  # the symbolic pass of _own_ops
        top = owner[id(block)]
        if id(block) in layers:
            in_shape = _first_input(inputs)
            flops, other = layer_flops(block, in_shape, output.shape)
            records.append((top, _row(
                block.name, type(block).__name__, in_shape, output.shape,
                count_params(block), _param_size(block), flops, other,
                _train_tensors(block))))
        elif id(block) in composites:
            records.extend((top, r) for r in _own_ops(block, inputs))
        if block is top and top not in order:
            order.append(top)

    # Hybridized blocks would run one cached graph and skip the hooks.
    active = [(b, b._active) for b in _blocks(net)
              if isinstance(b, nn.HybridBlock)]
    try:
        for b, _ in active:
            b._active = False
        for b in _blocks(net):
            if id(b) in owner:
                handles.append(b.register_forward_hook(hook))
        with mx.autograd.predict_mode():
            out = net(X)
        if isinstance(out, (list, tuple)):
            out = out[0]
        out.wait_to_read()
    finally:
        for h in handles:
            h.detach()
        for b, flag in active:
            b._active = flag
    return records, order


def cost_table(net, shape, ctx=None):
    """Per-layer cost of ``net`` on an input of ``shape`` (N, C, H, W).

    Initialises the network (Xavier) if needed and runs it once. Returns
    ``{'rows': [...], 'layers': [...], 'totals': {...}, 'shape': shape}``:
    one row per top-level layer, one per layer inside them (``layers``,
    each with ``top`` naming its row) and the totals. Every row has
    ``name, kind, out_shape, params, flops, other_flops, out_bytes,
    train_bytes, param_bytes, intensity``; see the module docstring.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise UsageError('shape must be (batch, channels, ...) with '
                         'positive sizes, got %r' % (shape,))
    ctx = ctx or mx.cpu()
    try:
        X = nd.random.uniform(shape=shape, ctx=ctx)
        initialize_if_needed(net, X.context)
        records, order = _leaf_records(net, X)
    except (mx.base.MXNetError, ValueError) as e:
        raise D2LError('cannot run the network on input %s: %s'
                       % (shape, mxnet_hint(e) or mxnet_summary(e))
                       ) from None
    layers = []
    for top, row in records:
        row = dict(row, top=top.name)
        row['moved_bytes'] = _moved(row)
        row['intensity'] = _intensity(row['flops'] + row['other_flops'],
                                      row['moved_bytes'])
        layers.append(row)
    rows = []
    for top in order:
        mine = [r for r in layers if r['top'] == top.name]
        row = dict(
            name=top.name, kind=type(top).__name__,
            in_shape=mine[0]['in_shape'] if mine else None,
            out_shape=mine[-1]['out_shape'] if mine else None,
            params=count_params(top), param_bytes=BYTES * _param_size(top),
            layers=len(mine))
        for key in ('flops', 'other_flops', 'train_bytes', 'moved_bytes'):
            row[key] = sum(r[key] for r in mine)
        row['in_bytes'] = mine[0]['in_bytes'] if mine else 0
        row['out_bytes'] = BYTES * _size(row['out_shape'] or ())
        # each of its layers reads and writes its own tensors
        row['intensity'] = _intensity(row['flops'] + row['other_flops'],
                                      row['moved_bytes'])
        rows.append(row)
    totals = dict(
        params=count_params(net), param_bytes=BYTES * _param_size(net),
        flops=sum(r['flops'] for r in layers),
        other_flops=sum(r['other_flops'] for r in layers),
        train_bytes=sum(r['train_bytes'] for r in layers),
        out_bytes=sum(r['out_bytes'] for r in layers),
        input_bytes=BYTES * _size(shape),
        # inference: the largest input + output pair of any one layer
        peak_inference_bytes=max((r['in_bytes'] + r['out_bytes']
                                  for r in layers), default=0))
    totals['total_flops'] = totals['flops'] + totals['other_flops']
    # training: forward + backward (grad wrt inputs and wrt weights)
    totals['train_flops'] = 3 * totals['total_flops']
    totals['flops_per_example'] = totals['total_flops'] / shape[0]
    return dict(shape=shape, rows=rows, layers=layers, totals=totals)


def flops_per_example(net, shape, conv_dense_only=False):
    """Forward FLOPs per example of ``net`` on ``shape`` (see cost_table).

    ``conv_dense_only`` counts only convolutions and dense layers
    (2 x multiply-adds), the part that runs as matrix products.
    """
    totals = cost_table(net, shape)['totals']
    flops = totals['flops'] if conv_dense_only else totals['total_flops']
    return flops / shape[0]


def _mib(n):
    return '%.2f' % (n / 2 ** 20)


def print_cost_table(net, shape, leaves=False, file=None, ctx=None):
    """Print the cost table of ``net`` on ``shape``; return the table.

    Columns: output shape, parameters (and % of all), FLOPs of
    convolutions and dense layers (and % of all), other FLOPs, output
    MiB (inference), MiB kept for backprop, FLOPs per byte moved.
    ``leaves=True`` adds the layers inside each row, indented.
    """
    table = cost_table(net, shape, ctx=ctx)
    tot = table['totals']
    file = file or sys.stdout
    fmt = '%-22s %-20s %9s %5s %9s %5s %8s %8s %8s %7s'
    print(fmt % ('layer', 'output shape', 'params', '%', 'FLOPs', '%',
                 'other', 'out MiB', 'keep MiB', 'FLOP/B'), file=file)

    def line(r, indent=''):
        pct_p = 100.0 * r['params'] / tot['params'] if tot['params'] else 0
        pct_f = 100.0 * r['flops'] / tot['flops'] if tot['flops'] else 0
        print(fmt % ((indent + r['name'])[:22],
                     str(r['out_shape']).replace(' ', ''), human(
                         r['params']), '%.1f' % pct_p, human(r['flops']),
                     '%.1f' % pct_f, human(r['other_flops']),
                     _mib(r['out_bytes']), _mib(r['train_bytes']),
                     '%.1f' % r['intensity']), file=file)
    for r in table['rows']:
        line(r)
        if leaves and r['layers'] > 1:
            for leaf in table['layers']:
                if leaf['top'] == r['name']:
                    line(leaf, '  ')
    print('total (input %s): params %s (%.1f MiB), FLOPs %s + other %s '
          '(training ~3x: %s); activations kept for backprop %.1f MiB, '
          'inference peak %.2f MiB'
          % (str(table['shape']).replace(' ', ''), human(tot['params']),
             tot['param_bytes'] / 2 ** 20, human(tot['flops']),
             human(tot['other_flops']), human(tot['train_flops']),
             tot['train_bytes'] / 2 ** 20,
             tot['peak_inference_bytes'] / 2 ** 20), file=file)
    return table


# Bounds of the options: beyond them a tensor passes 2**31 elements
# (MXNet 1.9.1's pip build stops there) or the walk takes minutes.
LIMITS = {'resize': 2048, 'channels': 64, 'batch_size': 1024,
          'num_classes': 100000}


def _bounded(name):
    return int_range(1, LIMITS[name])


def build_parser():
    p = OneLineParser(
        prog='python -m d2l_cnn.cost',
        description='Per-layer FLOPs, parameters and memory of a network.')
    p.add_argument('model', help='one of: ' + ', '.join(list_models()))
    p.add_argument('--resize', type=_bounded('resize'), default=None,
                   help="input height and width (the book recipe's)")
    p.add_argument('--channels', type=_bounded('channels'), default=None,
                   help="input channels (the book recipe's data set's)")
    p.add_argument('--batch-size', type=_bounded('batch_size'), default=1)
    p.add_argument('--num-classes', type=_bounded('num_classes'),
                   default=10)
    p.add_argument('--leaves', action='store_true',
                   help='show the layers inside each row')
    p.add_argument('--roofline', action='store_true',
                   help='time each layer and place it on the roofline of '
                        'this machine (measured peak GFLOP/s and GB/s)')
    p.add_argument('--backward', action='store_true',
                   help='with --roofline: time forward and backward')
    p.add_argument('--measure', action='store_true',
                   help='with --roofline: measure the roofs again instead '
                        'of using the cached ones')
    p.add_argument('--png', default=None, metavar='FILE',
                   help='with --roofline: draw the roofline into FILE')
    p.add_argument('--force', action='store_true',
                   help='with --png: replace an existing FILE')
    return p


def roofline_table(net, shape, peak_gflops, bandwidth_gbs, backward=False,
                   repeats=5, ctx=None):
    """Each top-level layer of ``net`` placed on the roofline.

    ``cost_table``'s FLOPs and bytes, each layer timed on its own input
    (``roofline.layer_times``), joined by ``roofline.place``.
    """
    table = cost_table(net, shape, ctx=ctx)
    times = roofline.layer_times(net, shape, backward, repeats, ctx)
    return roofline.place(table, times, peak_gflops, bandwidth_gbs,
                          backward)


def _roofline(net, shape, args):
    if args.png:
        if not args.png.lower().endswith('.png'):
            raise UsageError('--png %s: name a file ending in .png'
                             % args.png)
        if os.path.lexists(args.png) and not args.force:
            raise UsageError('%s exists: pass --force to replace it'
                             % args.png)
    found = roofline.roofs(measure=args.measure)
    print('roofs of this machine (%s, %d threads): %s'
          % (found['cpu'], found['threads'], 'cached in ' + found['cached']
             if found['cached'] else 'measured now'))
    result = roofline_table(net, shape, found['peak_gflops'],
                            found['bandwidth_gbs'], backward=args.backward)
    print(roofline.format_roofline(result))
    if args.png:
        fig = roofline.roofline_figure(result, titles=[
            '%s, batch %d, %dx%d' % (args.model, shape[0], shape[2],
                                     shape[3])])
        buf = io.BytesIO()
        fig.savefig(buf, format='png', dpi=100)
        atomic_write(args.png, buf.getvalue())
        print('wrote %s' % args.png)


def main(argv=None):
    """``python -m d2l_cnn.cost MODEL [--resize N] [--leaves]``."""
    args = build_parser().parse_args(argv)

    def body():
        recipe = get_recipe(args.model)
        size = args.resize or recipe.resize
        channels = args.channels or data.dataset_info(recipe.data).shape[0]
        net = get_model(args.model, num_classes=args.num_classes)
        shape = (args.batch_size, channels, size, size)
        if args.roofline:
            return _roofline(net, shape, args)
        for option in ('backward', 'measure', 'png', 'force'):
            if getattr(args, option):
                raise UsageError('--%s goes with --roofline' % option)
        print_cost_table(net, shape, leaves=args.leaves)
    return run_command(body, args.debug)


if __name__ == '__main__':
    sys.exit(main())
