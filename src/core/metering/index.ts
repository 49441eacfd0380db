// The metered-call seam: every paid call is begun here and ended exactly once (see meter.ts).
export { Meter, type CallResult, type MeteredCall } from './meter';
export { failedCallCharge, type CallFailure, type FailedCallCharge } from './failure';
