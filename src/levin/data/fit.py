"""Does the model take this data? Checked on two samples before any long work, so a mismatch is
one line naming both shapes instead of a traceback from deep inside torch."""

from __future__ import annotations

import numpy as np

from levin.errors import LevinError
from levin.train.data import Dataset


def check_model_takes(module, name: str, model_shape, data: Dataset, labels: bool = True, output: int = 0,
                      trains: bool = False) -> None:
    """Raise LevinError when `module` cannot take `data`'s inputs, or (`labels`: class labels)
    its scored output (`output`, of a model that returns several) has fewer values than `data`
    has classes (a label the model cannot predict), or (`trains`) returns several outputs."""
    import torch
    from torch import nn

    shape = "x".join(map(str, data.input_shape))
    if model_shape is not None and tuple(model_shape) != data.input_shape:
        raise LevinError(f"model {name} takes {'x'.join(map(str, model_shape))} inputs, "
                         f"dataset {data.name} has {shape}")
    was_training = module.training
    try:
        with torch.no_grad():
            out = module.eval()(torch.from_numpy(np.ascontiguousarray(data.x_train[:2])))
    except Exception as exc:  # any failure of the forward pass is a mismatch of model and data
        first = next((m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))), None)
        wants = ""
        if isinstance(first, (nn.Conv1d, nn.Conv2d)):
            wants = f"; its first layer ({type(first).__name__}) takes {first.in_channels} channel(s)"
        elif isinstance(first, nn.Linear):
            wants = f"; its first layer (Linear) takes {first.in_features} features"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LevinError(f"model {name} does not take {shape} inputs of dataset {data.name}{wants} "
                         f"({detail[:160]})") from None
    finally:
        module.train(was_training)
    if trains and isinstance(out, (tuple, list)):
        raise LevinError(f"model {name} returns {len(out)} outputs; levin trains and fine-tunes "
                         f"models with one (the data has one target): quantize it (`levin quantize "
                         f"--score-output K` scores output K) or convert it, all outputs kept")
    from levin.metrics import output_of

    outputs = int(np.prod(output_of(out, output).shape[1:]))
    given = [y for y in (data.y_train, data.y_val, data.y_test) if y is not None and len(y)]
    if not labels or not given:
        return
    top = max(int(y.max()) for y in given)
    if top >= outputs:
        raise LevinError(f"labels go up to {top} ({top + 1} classes) but model {name} has {outputs} "
                         f"outputs; relabel the data 0..{outputs - 1} or give the model {top + 1} outputs")
