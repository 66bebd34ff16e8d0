import torch
import nn_pytorch as npt

data = npt.load_letters()
model = npt.ConvNet()
