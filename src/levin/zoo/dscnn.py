"""DS-CNN in the MLPerf Tiny keyword-spotting layout (49x10 MFCC input, 12 classes).

Mirrors the Keras reference (mlcommons/tiny, benchmark/training/keyword_spotting): a 10x4
stride-2 conv of 64 filters with TensorFlow 'same' padding, four depthwise-separable blocks
(3x3 depthwise + 1x1 pointwise, 64 channels, each followed by BN and ReLU), dropout, average
pool over the whole 25x5 map, dense 12. Convs carry biases as in Keras.
"""

from torch import nn


class DSBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.pointwise = nn.Conv2d(channels, channels, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        x = self.relu1(self.bn1(self.depthwise(x)))
        return self.relu2(self.bn2(self.pointwise(x)))


class DSCNN(nn.Module):
    def __init__(self, num_classes: int = 12, channels: int = 64):
        super().__init__()
        # 'same' for a 49x10 input, 10x4 kernel, stride 2: pad rows 4 above / 5 below, cols 1 / 1.
        self.pad = nn.ZeroPad2d((1, 1, 4, 5))
        self.conv = nn.Conv2d(1, channels, (10, 4), stride=2)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.dropout1 = nn.Dropout(0.2)
        self.blocks = nn.Sequential(*(DSBlock(channels) for _ in range(4)))
        self.dropout2 = nn.Dropout(0.4)
        self.pool = nn.AvgPool2d((25, 5))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.dropout1(self.relu(self.bn(self.conv(self.pad(x)))))
        x = self.dropout2(self.blocks(x))
        return self.fc(self.flatten(self.pool(x)))
