export { EdgeBroker, type BrokerStorage, type EdgeBrokerOptions } from './edge-broker.ts';
export { BrokerError, BrokerListenError, InvalidTopicError } from './errors.ts';
export { isValidFilter, isValidTopic, topicMatches } from './topics.ts';
export type * from './types.ts';
