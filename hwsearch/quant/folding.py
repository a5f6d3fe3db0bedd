"""BatchNorm folded into the convolution before it, as deployment quantizers do.

A Conv2d followed only by a BatchNorm2d (in eval mode: running statistics) computes the
same as one Conv2d with rescaled weights and a bias. Quantizing that folded conv, rather
than the conv with BatchNorm after it, is what runtimes can execute as one integer kernel:
onnxruntime turns a QDQ Conv into QLinearConv only when no float op sits between the conv
and the next quantized tensor, and a BatchNorm there keeps the conv in float. So the
simulation folds before it quantizes, and every export starts from the same folded model.

Folding needs the model's graph (``torch.fx``); a model fx cannot trace, or a conv called
from more than one place, keeps its BatchNorm (simulation and export then agree on that too).
"""

from __future__ import annotations

import copy
from collections import Counter

from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: Key in a folded model's ``meta`` (which fx keeps through deepcopy): {conv name: BatchNorm name}.
FOLDS_KEY = "hwsearch.batchnorm_folds"


def batchnorm_folds(model: nn.Module) -> dict[str, str]:
    """The folds made in ``model`` (empty for a model ``fold_batchnorm`` did not change)."""
    return dict(model.meta.get(FOLDS_KEY, {})) if isinstance(model, fx.GraphModule) else {}


def _foldable(node: fx.Node, modules: dict[str, nn.Module], calls: Counter) -> bool:
    if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
        return False
    source = node.args[0] if node.args else None
    if not (isinstance(source, fx.Node) and source.op == "call_module" and isinstance(modules.get(source.target), nn.Conv2d)):
        return False
    bn = modules[node.target]
    return (
        len(source.users) == 1
        and calls[source.target] == 1
        and calls[node.target] == 1
        and bn.track_running_stats
        and bn.running_mean is not None
    )


def _replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each Conv2d -> BatchNorm2d pair folded into the conv.

    Layer names stay the model's own. A model with nothing to fold comes back as a plain
    copy (same class); a folded one is an ``fx.GraphModule`` recording its folds.
    """
    model = copy.deepcopy(model).eval()
    try:
        traced = fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - fx raises many types on dynamic control flow
        return model
    modules = dict(traced.named_modules())
    calls = Counter(n.target for n in traced.graph.nodes if n.op == "call_module")
    folds = batchnorm_folds(model)
    new = 0
    for node in list(traced.graph.nodes):
        if not _foldable(node, modules, calls):
            continue
        source = node.args[0]
        _replace(traced, source.target, fuse_conv_bn_eval(modules[source.target], modules[node.target]))
        node.replace_all_uses_with(source)
        traced.graph.erase_node(node)
        folds[source.target] = node.target
        new += 1
    if not new:
        return model
    traced.graph.lint()
    traced.recompile()
    traced.delete_all_unused_submodules()
    traced.meta[FOLDS_KEY] = folds
    return traced.eval()
