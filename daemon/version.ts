// The version reported by `GET /v1/system` and `pidvisor --version`; a test keeps it equal
// to package.json's.
export const VERSION = '0.1.0';
