/** ONNX Runtime, loaded only after its telemetry is switched off (see no-telemetry.ts). */
import './no-telemetry.js';
import ort from 'onnxruntime-node';

export default ort;
