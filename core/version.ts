/** gedge's version: what the center, agents and CLI report (package.json's). */
export const VERSION = '0.1.0';
