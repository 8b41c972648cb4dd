export { ModelSession, type SessionOptions } from './model-session.ts';
export { Batcher, type BatchOptions } from './batcher.ts';
export { startInferenceServer, type InferenceServerOptions, type ServedModel } from './server.ts';
export { inputTensor, outputJson, type Tensor } from './tensors.ts';
export { argmaxRow, CutFormatError, decodeCut, encodeCut, ExitThreshold, fitTemperature, MAX_CUT_VALUES, meanNll, normalizedEntropy, temperatureScale, type ThresholdGoal } from './early-exit.ts';
