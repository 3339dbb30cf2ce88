# Temporary during the op-registry move: levin.quant.intmath moves here.
from levin.quant.intmath import *  # noqa: F401,F403
from levin.quant.intmath import _ints, _out, _wrap32  # noqa: F401
