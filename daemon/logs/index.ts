// Per-service log capture: pipes in, CRI-format rotating files and an in-memory tail out.
export { ServiceLogs, readLogFile, listLogFiles, logFilePath } from './service-logs.js';
export type { ServiceLogsOptions, LogStats, LogStatus, LogRecord, LogStream, FileRecord, DecodedLog } from './service-logs.js';
export { decodeRecords, decodeLine, recordHeader, formatTimestamp } from './cri-format.js';
