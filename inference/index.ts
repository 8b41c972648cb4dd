export { ModelSession, type SessionOptions } from './model-session.ts';
export { Batcher, type BatchOptions } from './batcher.ts';
export { startInferenceServer, type InferenceServerOptions, type ServedModel } from './server.ts';
export { inputTensor, outputJson, type Tensor } from './tensors.ts';
