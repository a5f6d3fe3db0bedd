"""Scoring a policy by re-running only the layers after the first one whose bits changed.

A search proposes policies that differ from earlier ones in a few layers (a climb moves
one width; an agent's noise touches a few decisions). The part of the network before the
first changed layer computes exactly what it computed for the earlier policy, so its
output can be kept and the rest run from there.

Where that is possible comes from the model's graph (``torch.fx``): a *cut* is the input
of a quantizable layer that everything after it depends on only through it (in a
residual network, a block's input and output, not the inside of a block). For a few
policies the caller chose (the scorer: each new most accurate one) the tensor at every cut
is kept, for each evaluation batch; a new policy starts from the deepest cut that one of
them shares with it, through a graph compiled
for the rest of the network from that cut. Results are identical to a full forward
pass: the same operations run on the same tensors, batch by batch.

Models fx cannot trace, or whose graph has no cut, are scored by full forward passes.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import fx, nn

from hwsearch.core.policy import Policy
from hwsearch.quant.model import QuantizedModel, QuantLayer

#: Memory the kept tensors may take (all batches of all kept policies), in bytes.
DEFAULT_MEMORY = 512 * 2**20
#: Policies kept at once (fewer if they do not fit): a climb's incumbent and a few recent ones.
KEPT_POLICIES = 4


class _LeafQuantTracer(fx.Tracer):
    """Keeps each quantized layer one node (its forward branches on the current bits)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QuantLayer) or super().is_leaf_module(m, qualname)


def _graph_module(model: nn.Module) -> fx.GraphModule | None:
    if isinstance(model, fx.GraphModule):
        return model
    try:
        return fx.GraphModule(model, _LeafQuantTracer().trace(model))
    except Exception:  # noqa: BLE001 - fx raises many types on dynamic control flow
        return None


def _mutates(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether ``node`` may write into its inputs (an in-place op): such a user spoils a cut."""
    if node.op == "call_module":
        return bool(getattr(modules.get(node.target), "inplace", False))
    if node.op == "call_method":
        return str(node.target).endswith("_") and not str(node.target).startswith("__")
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        in_place_operator = node.target in (operator.iadd, operator.isub, operator.imul, operator.itruediv)
        return bool(node.kwargs.get("inplace")) or in_place_operator or (name.endswith("_") and not name.startswith("__"))
    return False


@dataclass(frozen=True)
class Cut:
    """A node every later node reaches only through it, with the layers computed before it."""

    node: fx.Node
    layers_before: int  # how many quantizable layers (in graph order) come before it


def find_cuts(gm: fx.GraphModule, layer_targets: set[str]) -> tuple[list[Cut], list[str]]:
    """The cuts of ``gm`` in graph order, and its quantizable layers (call targets) in graph order."""
    nodes = [n for n in gm.graph.nodes if n.op not in ("get_attr", "output")]
    position = {n: i for i, n in enumerate(nodes)}
    modules = dict(gm.named_modules())
    layers = [n for n in nodes if n.op == "call_module" and n.target in layer_targets]
    if len({n.target for n in layers}) != len(layers):  # a layer called twice: bits are per module
        return [], []
    # last_use[i]: the latest position that uses any node at a position <= i
    last_use, furthest = [], -1
    for node in nodes:
        furthest = max([furthest, position[node], *(position[u] for u in node.users if u in position)])
        last_use.append(furthest)
    layer_position = [position[n] for n in layers]
    cuts = []
    for layer in layers:
        source = layer.args[0] if layer.args else None
        if not isinstance(source, fx.Node) or source not in position or source.op == "placeholder":
            continue
        p = position[source]
        before = sum(lp <= p for lp in layer_position)  # the source may be a layer itself
        # nothing before the source is used after it, and no user writes into it
        if (p == 0 or last_use[p - 1] <= p) and not any(_mutates(u, modules) for u in source.users):
            if not cuts or cuts[-1].node is not source:
                cuts.append(Cut(source, before))
    return cuts, [str(n.target) for n in layers]


def _affordable(gm: fx.GraphModule, cuts: list[Cut], batches: list[torch.Tensor], budget: int) -> list[Cut]:
    """The cuts whose tensors for all ``batches`` fit in ``budget`` bytes, deepest first
    (they save the most computation, and are the smallest in a network that downsamples)."""
    with torch.inference_mode():
        _, *values = _tail(gm, None, [c.node for c in cuts])(batches[0][:1])  # sizes per image
    images = sum(len(b) for b in batches)
    chosen, used = [], 0
    for cut, value in reversed(list(zip(cuts, values))):
        size = value.numel() * value.element_size() * images if isinstance(value, torch.Tensor) else None
        if size is not None and used + size <= budget:
            chosen.append(cut)
            used += size
    return chosen[::-1]


def _tail(gm: fx.GraphModule, start: fx.Node | None, keep: list[fx.Node]) -> fx.GraphModule:
    """A module computing, from ``start``'s value (None: the model's input), the model's
    output and the values of ``keep`` (the cuts after ``start``)."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    started = start is None
    output = None
    for node in gm.graph.nodes:
        if node.op == "output":
            output = node
            break
        if node.op == "get_attr":
            env[node] = graph.node_copy(node, lambda n: env[n])
            continue
        if not started:
            if node is start:
                env[node] = graph.placeholder("cut")
                started = True
            continue
        env[node] = graph.node_copy(node, lambda n: env[n])
    result = fx.node.map_arg(output.args[0], lambda n: env[n])
    graph.output((result, *(env[k] for k in keep)))
    tail = fx.GraphModule(gm, graph)
    tail.graph.eliminate_dead_code()  # get_attr nodes the tail does not use
    tail.recompile()
    return tail


class PrefixReuse:
    """Logits of policies on fixed batches, re-using the computation shared with recent ones."""

    def __init__(self, gm: fx.GraphModule, cuts: list[Cut], layers: list[str], batches: list[torch.Tensor],
                 memory: int = DEFAULT_MEMORY) -> None:
        self.gm, self.cuts, self.layers, self.batches = gm, cuts, layers, batches
        self.memory = memory
        self._tails: dict[int, fx.GraphModule] = {}
        # bits key -> (logits per batch, cut tensors per cut per batch)
        self._kept: OrderedDict[tuple, tuple[list[torch.Tensor], list[list[torch.Tensor]]]] = OrderedDict()
        self._capacity: int | None = None
        self._last: tuple | None = None  # the last scored policy's tensors, until keep_last or the next
        self.layers_skipped = 0  # layer runs saved (for benchmarks)

    @classmethod
    def build(cls, qmodel: QuantizedModel, batches: list[torch.Tensor], memory: int = DEFAULT_MEMORY) -> PrefixReuse | None:
        """A reuse plan for ``qmodel`` on these input batches, or None (no graph or no cut)."""
        gm = _graph_module(qmodel.model)
        if gm is None:
            return None
        cuts, layers = find_cuts(gm, set(qmodel.layers))
        if not cuts or set(layers) != set(qmodel.layers):
            return None
        cuts = _affordable(gm, cuts, batches, memory // KEPT_POLICIES)
        return cls(gm, cuts, layers, batches, memory) if cuts else None

    def _tail_from(self, k: int) -> fx.GraphModule:
        """The rest of the network from cut ``k`` (-1: from the input)."""
        if k not in self._tails:
            start = None if k < 0 else self.cuts[k].node
            self._tails[k] = _tail(self.gm, start, [c.node for c in self.cuts[k + 1 :]])
        return self._tails[k]

    def _deepest_shared(self, key: tuple) -> tuple[tuple | None, int]:
        """The kept policy sharing the deepest cut with ``key``, and that cut (-1: none)."""
        best, best_cut = None, -1
        for other in self._kept:
            first_change = next((i for i, (a, b) in enumerate(zip(key, other)) if a != b), len(key))
            k = max((i for i, c in enumerate(self.cuts) if c.layers_before <= first_change), default=-1)
            if k > best_cut:
                best, best_cut = other, k
        return best, best_cut

    def logits(self, policy: Policy) -> list[torch.Tensor]:
        """The model's output for each batch under ``policy``, which must be the quantized
        model's current policy (``QuantizedModel.set_policy``)."""
        key = tuple(policy[name] for name in self.layers)
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key][0]
        base, k = self._deepest_shared(key)
        tail = self._tail_from(k)
        logits, cuts = [], [[] for _ in self.cuts]
        with torch.inference_mode():
            for b, x in enumerate(self.batches):
                out, *later = tail(x if k < 0 else self._kept[base][1][k][b])
                logits.append(out)
                for i in range(k + 1):  # shared with the base policy: the same tensors, no copy
                    cuts[i].append(self._kept[base][1][i][b])
                for i, value in enumerate(later, start=k + 1):
                    cuts[i].append(value)
        if k >= 0:
            self._kept.move_to_end(base)
            self.layers_skipped += self.cuts[k].layers_before
        self._last = (key, logits, cuts)
        return logits

    def keep_last(self) -> None:
        """Keep the tensors of the policy scored last, for later policies to start from.

        The caller decides (the scorer: a new most accurate policy, which a climb then
        varies): keeping every policy's tensors costs more in allocation than it saves
        while an agent still explores (measured: 0.84x on DDPG's first 40 episodes)."""
        if self._last is not None:
            self._keep(*self._last)
            self._last = None

    def _keep(self, key: tuple, logits: list[torch.Tensor], cuts: list[list[torch.Tensor]]) -> None:
        if self._capacity is None:
            size = sum(t.numel() * t.element_size() for per_cut in cuts for t in per_cut)
            self._capacity = max(1, min(2 * KEPT_POLICIES, self.memory // max(size, 1)))
        self._kept[key] = (logits, cuts)
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)
