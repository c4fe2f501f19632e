// pidvisor/client: the typed client of the pidvisor HTTP API (README: Typed client).
//
//   import { PidvisorClient, isProblem } from 'pidvisor/client';
//   const client = new PidvisorClient(); // the local daemon's unix socket
//   const web = await client.launch({ name: 'web', command: ['node', 'server.js'] });
//   for await (const event of client.events({ after: 0 })) console.log(event);
export { PidvisorClient, type ClientOptions, type JsonResponse, type LaunchOptions, type LogQuery, type StreamOptions } from './client.js';
export type { ConnectionOptions } from './connection.js';
export { ApiError, ConnectionLostError, InsecureUrlError, UnreachableError, isProblem, type ErrorCode, type Problem } from './errors.js';
export { DEFAULT_RETRY, type RetryOptions } from './retry.js';
export type * from './types.js';
