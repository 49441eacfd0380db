// The metered-call seam: begin a metered call, then end it exactly once (see meter.ts).
export { Meter, type MeteredCall } from './meter';
export { failedCallCharge, type CallFailure, type FailedCallCharge } from './failure';
