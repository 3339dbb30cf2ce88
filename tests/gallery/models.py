"""A gallery of small versions of the model families people deploy on microcontrollers, written
from scratch (no downloads): plain torch modules with seeded initialisation, every BatchNorm given
randomized running statistics so that folding is exercised.

- `mobilenetv2_035`: MobileNetV2 with width multiplier 0.35 at 96x96, 2 classes (visual wake
  words): the real channel widths and the full depth of torchvision's MobileNetV2 (17 inverted
  residual blocks, 1280-channel head), ReLU6, depthwise convs, `x.mean([2, 3])` head;
- `mcunet_se`: MCUNet-style inverted residual blocks with squeeze-and-excitation (global pool ->
  1x1 conv -> ReLU -> 1x1 conv -> Hardsigmoid -> multiply) and Hardswish, AdaptiveAvgPool head;
- `efficientnet_lite`: EfficientNet-lite-style MBConv blocks with SiLU (lite: no SE);
- `har_cnn1d`: a 1-D CNN for accelerometer activity recognition on (3, 128): Conv1d,
  BatchNorm1d, max and average pooling, linear head, 6 classes;
- `leaky_elu_cnn`: a CNN with LeakyReLU, ELU and a permute/transpose before a linear head.

`GALLERY` maps each name to (factory, input shape without batch).
"""

from __future__ import annotations

import torch
from torch import nn


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def randomize_batchnorm(model: nn.Module, seed: int = 1) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so folding has something to do."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_((torch.rand(n, generator=g) - 0.5) * 0.4)
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.75 + 0.5 * torch.rand(n, generator=g))
                m.bias.copy_((torch.rand(n, generator=g) - 0.5) * 0.2)
    return model


def conv_bn(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU6):
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# -- MobileNetV2-0.35 ------------------------------------------------------------------------------
class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, act=nn.ReLU6, se=False, k=3):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn(cin, hidden, 1, act=act)]
        layers.append(conv_bn(hidden, hidden, k, stride, groups=hidden, act=act))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(conv_bn(hidden, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class MobileNetV2(nn.Module):
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]   # (expand t, channels c, repeats n, stride s)

    def __init__(self, width: float = 0.35, classes: int = 2, last: int = 1280):
        super().__init__()
        cin = _make_divisible(32 * width)
        layers = [conv_bn(3, cin, 3, 2)]
        for t, c, n, s in self.SETTINGS:
            cout = _make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers.append(conv_bn(cin, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean([2, 3]))


# -- MCUNet-style with squeeze-and-excitation ------------------------------------------------------
class SqueezeExcite(nn.Module):
    def __init__(self, c, reduce=4):
        super().__init__()
        mid = _make_divisible(c / reduce)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, mid, 1)
        self.fc2 = nn.Conv2d(mid, c, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        s = self.gate(self.fc2(torch.relu(self.fc1(self.pool(x)))))
        return x * s


class MCUNetSE(nn.Module):
    # (expand, channels, stride, kernel, SE)
    BLOCKS = [(1, 16, 1, 3, False), (4, 24, 2, 3, False), (3, 24, 1, 5, True), (4, 40, 2, 5, True),
              (3, 40, 1, 3, True), (4, 48, 2, 3, True), (3, 48, 1, 5, True)]

    def __init__(self, classes: int = 10):
        super().__init__()
        layers, cin = [conv_bn(3, 16, 3, 2, act=nn.Hardswish)], 16
        for t, c, s, k, se in self.BLOCKS:
            layers.append(InvertedResidual(cin, c, s, t, act=nn.Hardswish, se=se, k=k))
            cin = c
        layers.append(conv_bn(cin, 160, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(160, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


# -- EfficientNet-lite-style (MBConv, SiLU) --------------------------------------------------------
class EfficientNetLite(nn.Module):
    # (expand, channels, repeats, stride, kernel)
    BLOCKS = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 56, 2, 2, 3), (6, 80, 1, 1, 5)]

    def __init__(self, classes: int = 10):
        super().__init__()
        layers, cin = [conv_bn(3, 24, 3, 2, act=nn.SiLU)], 24
        for t, c, n, s, k in self.BLOCKS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t, act=nn.SiLU, k=k))
                cin = c
        layers.append(conv_bn(cin, 256, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(256, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean([2, 3]))


# -- 1-D CNN for accelerometer activity recognition ------------------------------------------------
class HARCNN1d(nn.Module):
    def __init__(self, classes: int = 6):
        super().__init__()
        def block(cin, cout, k):
            return [nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]
        self.features = nn.Sequential(*block(3, 16, 7), nn.MaxPool1d(2),
                                      *block(16, 32, 5), nn.MaxPool1d(2),
                                      *block(32, 64, 3), nn.AvgPool1d(2),
                                      *block(64, 64, 3), nn.AdaptiveAvgPool1d(1))
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, classes)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.flatten(self.features(x), 1))))


# -- LeakyReLU, ELU, reflect padding and a permute ------------------------------------------------------------------
class LeakyEluCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.LeakyReLU(0.1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, padding_mode="reflect")    # MIRROR_PAD in TFLite
        self.act2 = nn.ELU()
        self.conv3 = nn.Conv2d(16, 16, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 4 * 4, classes)

    def forward(self, x):
        h = self.pool(self.act1(self.bn1(self.conv1(x))))
        h = self.pool(self.act2(self.conv2(h))).transpose(2, 3)   # a real Transpose (H <-> W)
        h = nn.functional.leaky_relu(self.bn3(self.conv3(h)), 0.2)
        h = h.permute(0, 2, 3, 1)                # channels last before the classifier
        return self.fc(h.flatten(1))


# -- a conv autoencoder with ConvTranspose2d, and a small UNet ----------------------------------------
class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(conv_bn(1, 8, stride=2, act=nn.ReLU), conv_bn(8, 16, stride=2, act=nn.ReLU))
        self.dec = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, bias=False),
                                 nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))

    def forward(self, x):
        return self.dec(self.enc(x))


class TinyUNet(nn.Module):
    def __init__(self, classes: int = 3):
        super().__init__()
        self.down1 = conv_bn(3, 8, act=nn.ReLU)
        self.down2 = conv_bn(8, 16, stride=2, act=nn.ReLU)
        self.bottom = conv_bn(16, 16, stride=2, act=nn.ReLU)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.mid = conv_bn(32, 16, act=nn.ReLU)
        self.out = nn.Conv2d(24, classes, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        h = self.mid(torch.cat([self.up(self.bottom(d2)), d2], 1))
        h = nn.functional.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.out(torch.cat([h, d1], 1))


GALLERY = {
    "mobilenetv2_035": (lambda: MobileNetV2(0.35, 2), (3, 96, 96)),
    "mcunet_se": (MCUNetSE, (3, 64, 64)),
    "efficientnet_lite": (EfficientNetLite, (3, 64, 64)),
    "har_cnn1d": (HARCNN1d, (3, 128)),
    "leaky_elu_cnn": (LeakyEluCNN, (1, 32, 32)),
    "conv_autoencoder": (ConvAutoencoder, (1, 32, 32)),
    "tiny_unet": (TinyUNet, (3, 32, 32)),
}


def build(name: str, seed: int = 0) -> nn.Module:
    """The gallery model `name`, seeded, BatchNorm statistics randomized, in eval mode."""
    factory, _ = GALLERY[name]
    torch.manual_seed(seed)
    return randomize_batchnorm(factory(), seed + 1).eval()


def inputs(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """`n` seeded synthetic inputs for `name` (standard normal, batch first)."""
    g = torch.Generator().manual_seed(1000 + seed)
    return torch.randn((n,) + GALLERY[name][1], generator=g)


def quantized(name: str, n_calib: int = 32, n_test: int = 3, seed: int = 0):
    """(torch model, float Graph, int8 Graph, test input codes (n_test, input size), float test
    inputs): captured, PTQ int8 calibrated on `n_calib` seeded synthetic inputs; the test inputs
    are other seeded inputs, as int8 codes in the IR's NHWC order, one row per input."""
    from levin import reference
    from levin.ir.capture import capture
    from levin.quant import ptq

    model = build(name, seed)
    x = inputs(name, n_calib + n_test, seed)
    graph = capture(model, x[:1])
    igraph = ptq.quantize_graph(graph, x[:n_calib].numpy())
    test = x[n_calib:]
    codes = reference.quantize_batch(igraph, test.numpy())
    return model, graph, igraph, codes.reshape(n_test, -1), test
