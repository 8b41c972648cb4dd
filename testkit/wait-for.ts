export { waitFor } from '../core/wait-for.ts';
