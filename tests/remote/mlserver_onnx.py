"""An MLServer runtime that runs an ONNX file with ONNX Runtime (for Easel's remote tests)."""
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class OnnxModel(MLModel):
    async def load(self) -> bool:
        path = await get_model_uri(self._settings)
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.types = {i.name: i.type for i in self.session.get_inputs()}
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {}
        for i in payload.inputs:
            array = NumpyCodec.decode_input(i)
            feeds[i.name] = array.astype(np.float16 if "float16" in self.types[i.name]
                                         else np.float32)
        names = [o.name for o in payload.outputs or []] or \
            [o.name for o in self.session.get_outputs()]
        outs = self.session.run(names, feeds)
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(n, np.asarray(o, dtype=np.float32))
                     for n, o in zip(names, outs)])
