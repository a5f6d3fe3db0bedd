"""ImageNet architectures at 224x224, for hardware cost studies (no trained weights).

Written here because torchvision is not a dependency; layer shapes follow the papers:
MobileNetV1 (Howard et al. 2017, Table 1), MobileNetV2 (Sandler et al. 2018, Table 2),
ResNet-50 (He et al. 2016, Table 1, stride on the 3x3 conv as in torchvision's v1.5).
"""

from __future__ import annotations

import torch
from torch import nn

from hwsearch.zoo.layers import InvertedResidual, Normalize, conv_bn_relu

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def mobilenet_v1(num_classes: int = 1000) -> nn.Module:
    """MobileNetV1 1.0: a 3x3 stem then 13 depthwise-separable blocks."""
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers: list[nn.Module] = [Normalize(IMAGENET_MEAN, IMAGENET_STD), conv_bn_relu(3, 32, 3, 2)]
    ch = 32
    for out_ch, stride in cfg:
        layers += [conv_bn_relu(ch, ch, 3, stride, groups=ch), conv_bn_relu(ch, out_ch, 1)]
        ch = out_ch
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, num_classes))


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0 (52 convs + 1 FC = 53 quantizable layers, as in HAQ's table).

    ``in_channels``, ``stem_stride``, ``stage_strides`` and the normalisation adapt the same
    53 layers to small images (the built-in ``fashion-mobilenetv2``), so that layer i
    still matches row i of HAQ's table.
    """

    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem_stride: int = 2,
        stage_strides: tuple[int, ...] | None = None,
        mean: list[float] = IMAGENET_MEAN,
        std: list[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        strides = stage_strides or tuple(s for *_, s in self.SETTINGS)
        if len(strides) != len(self.SETTINGS):
            raise ValueError(f"stage_strides needs {len(self.SETTINGS)} strides, got {len(strides)}")
        layers: list[nn.Module] = [Normalize(mean, std), conv_bn_relu(in_channels, 32, 3, stem_stride, relu6=True)]
        ch = 32
        for (expand, out_ch, repeats, _), stride in zip(self.SETTINGS, strides):
            for i in range(repeats):
                layers.append(InvertedResidual(ch, out_ch, stride if i == 0 else 1, expand))
                ch = out_ch
        layers.append(conv_bn_relu(ch, 1280, 1, relu6=True))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


class Bottleneck(nn.Module):
    """ResNet-50 bottleneck: 1x1 reduce, 3x3 (strided), 1x1 expand x4, projection skip."""

    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        out_ch = width * 4
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet50(nn.Module):
    """ResNet-50: 7x7 stem, 3-4-6-3 bottlenecks, FC (53 conv + 1 FC layers)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages = []
        ch = 64
        for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            stage = []
            for i in range(blocks):
                stage.append(Bottleneck(ch, width, stride if i == 0 else 1))
                ch = width * 4
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.normalize(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))
