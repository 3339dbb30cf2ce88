"""ResNet-8 in the MLPerf Tiny image-classification layout (CIFAR-10, 32x32x3 input).

Mirrors the Keras reference (mlcommons/tiny, benchmark/training/image_classification):
conv-BN-ReLU stem of 16 channels, three residual stacks of 16, 32 and 64 channels (the last two
downsample by 2 with a 1x1 conv shortcut), 8x8 average pool, dense 10. Convs carry biases as in
Keras. Strided convs pad like TensorFlow's 'same' (extra row/column at the bottom/right, none at
the top/left), so weights can be moved between this model and the reference one to one.
78,666 values in Keras' count (78,186 trainable + 480 BatchNorm running statistics).
"""

from torch import nn


def same_conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Sequential:
    """Conv2d with TensorFlow 'same' padding for odd `kernel` and even input sizes."""
    total = kernel - stride if kernel > stride else 0
    before, after = total // 2, total - total // 2
    layers = [] if before == after else [nn.ZeroPad2d((before, after, before, after))]
    layers.append(nn.Conv2d(cin, cout, kernel, stride, padding=before if before == after else 0))
    return nn.Sequential(*layers)


class ResidualStack(nn.Module):
    """conv-BN-ReLU, conv-BN, plus the (possibly 1x1-projected) input, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = same_conv(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = same_conv(cout, cout, 3, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + self.shortcut(x))


class ResNet8(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = same_conv(3, 16, 3, 1)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.stack1 = ResidualStack(16, 16, 1)
        self.stack2 = ResidualStack(16, 32, 2)
        self.stack3 = ResidualStack(32, 64, 2)
        self.pool = nn.AvgPool2d(8)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.relu(self.bn(self.stem(x)))
        x = self.stack3(self.stack2(self.stack1(x)))
        return self.fc(self.flatten(self.pool(x)))
