"""Small architectures for the built-in benchmarks (digits 8x8, Fashion-MNIST 28x28).

Sized to train in a minute or two on two CPU cores while leaving the search something
to find: layers differ a lot in size and in sensitivity to low bits.
"""

from __future__ import annotations

from torch import nn

from hwsearch.zoo.layers import InvertedResidual, Normalize, conv_bn_relu


def plain_cnn(
    in_ch: int,
    in_hw: int,
    num_classes: int,
    convs: tuple[tuple[int, bool], ...],
    hidden: int,
    mean: float,
    std: float,
) -> nn.Sequential:
    """3x3 conv blocks ``(out_channels, pool_after)``, then two linear layers.

    The first linear layer sees the whole flattened feature map, so it holds most of
    the parameters (memory bound on most hardware), unlike the compute-bound convs.
    """
    layers: list[nn.Module] = [Normalize([mean], [std])]
    ch, hw = in_ch, in_hw
    for width, pool in convs:
        layers.append(conv_bn_relu(ch, width))
        ch = width
        if pool:
            layers.append(nn.MaxPool2d(2))
            hw //= 2
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(ch * hw * hw, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(0.2),
        nn.Linear(hidden, num_classes),
    )


class SmallMobileNet(nn.Module):
    """MobileNetV2-style: stem conv, inverted residual blocks (depthwise, skips), 1x1 head."""

    def __init__(
        self,
        in_ch: int,
        num_classes: int,
        blocks: tuple[tuple[int, int, int, int], ...],
        stem: int,
        head: int,
        mean: float,
        std: float,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [Normalize([mean], [std]), conv_bn_relu(in_ch, stem, 3, stem_stride, relu6=True)]
        ch = stem
        for expand, out_ch, repeats, stride in blocks:
            for i in range(repeats):
                layers.append(InvertedResidual(ch, out_ch, stride if i == 0 else 1, expand))
                ch = out_ch
        layers.append(conv_bn_relu(ch, head, 1, relu6=True))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))
