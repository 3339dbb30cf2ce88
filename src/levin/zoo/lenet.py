"""The two MNIST networks of Deep Compression's Table 1 (Han et al., ICLR 2016)."""

from torch import nn


class LeNet300100(nn.Module):
    """LeNet-300-100: fully connected 784-300-100-10 with ReLU; 266,610 parameters."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(784, 300)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(300, 100)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x):
        x = self.relu1(self.fc1(self.flatten(x)))
        return self.fc3(self.relu2(self.fc2(x)))


class LeNet5(nn.Module):
    """LeNet-5 as in Caffe's MNIST example: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, fc 10.

    431,080 parameters. Caffe's prototxt has a ReLU only after ip1; this one also puts one after
    each conv. It adds no parameters, trains slightly better, and gives int8 activations a
    one-sided range (all of the 256 levels used).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))
