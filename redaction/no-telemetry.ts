/**
 * ONNX Runtime 1.30's Linux build carries Microsoft's telemetry client: unless told otherwise it
 * keeps a device id and an event store under ~/.cache/Microsoft/DeveloperTools/.onnxruntime,
 * writes /tmp/mat-debug-<pid>.log and uploads over HTTPS. A box that records people sends
 * nothing anywhere it was not configured to, so it is switched off before the runtime loads:
 * this module has no imports, and ort.ts imports it ahead of onnxruntime-node.
 */
process.env.ORT_DISABLE_TELEMETRY = '1';
